/**
 * End to end, in Debian's Chromium against a real Haven server with real sign-in, seeded with `haven seed --demo`:
 * 1. the launcher launches the clinician app for a demo patient (a real EHR launch), which shows their scores;
 * 2. the patient completes a PHQ-9 with item 9 positive in the patient app; the clinician app then shows the new
 *    score and the risk Task the bots raised.
 * Skipped when /usr/bin/chromium is missing unless HAVEN_E2E_REQUIRED=1 (CI installs it and sets that).
 * With HAVEN_E2E_SCREENSHOTS=DIR the pages are also saved as PNG there (docs/ holds the README's).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerHavenApps } from '../../server/src/http/app-clients.ts';
import { runCli } from '../../server/src/cli/cli.ts';
import { DEMO_PASSWORD } from '../../server/src/cli/demo-clinic.ts';
import { startTestServer, type TestServer } from '../../server/src/test-support/harness.ts';
import { ensureAppsBuilt } from '../build.ts';
import { haveChromium, openBrowser, signIn } from './browser.ts';

const required = process.env.HAVEN_E2E_REQUIRED === '1';
if (required && !haveChromium()) throw new Error('HAVEN_E2E_REQUIRED=1 but Chromium is missing: apt-get install -y chromium');
const shotsDir = process.env.HAVEN_E2E_SCREENSHOTS;

let ts: TestServer;
let base: string;

/** Waits until the element is shown (Playwright's own wait; vitest has no locator matchers). */
async function visible(locator: Locator): Promise<void> {
  await locator.first().waitFor({ state: 'visible', timeout: 20_000 });
}

async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  if (!shotsDir) return;
  mkdirSync(shotsDir, { recursive: true });
  await page.screenshot({ path: join(shotsDir, `${name}.png`), fullPage });
}

/** The launcher, signed in as dr.chen, launches the clinician app for `patient`; returns once it shows scores. */
async function launchClinicianApp(page: Page, patient: string): Promise<void> {
  await page.goto(`${base}/launcher`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await signIn(page, 'dr.chen', DEMO_PASSWORD);
  await page
    .getByRole('heading', { name: 'Launch the clinician app' })
    .waitFor()
    .catch(async (err: unknown) => {
      throw new Error(
        `launcher did not open at ${page.url()}: ${((await page.locator('body').textContent()) ?? '').slice(0, 500)} (${String(err)})`,
      );
    });
  await page.getByLabel(patient).check();
  await shot(page, 'launcher');
  await page.getByRole('button', { name: 'Launch', exact: true }).click();
  // The clinician app runs its own authorization (EHR launch: launch + iss), as any SMART app would.
  await signIn(page, 'dr.chen', DEMO_PASSWORD);
  await page.waitForURL(/\/apps\/clinician\/\?session=/);
  await page.getByRole('heading', { name: 'Scores' }).waitFor();
}

describe.skipIf(!haveChromium() && !required)('SMART apps in a browser', () => {
  beforeAll(async () => {
    await ensureAppsBuilt({ log: () => {} });
    ts = await startTestServer({ HAVEN_AUTH: 'on', HAVEN_QUESTIONNAIRES: 'on' });
    base = ts.server.url;
    // The server registered its apps for BASE_URL before the port was known; register them for the bound one.
    await registerHavenApps(ts.server.db, ts.config);
    const env = {
      DATA_DIR: ts.config.dataDir,
      BASE_URL: ts.config.baseUrl,
      ...(ts.config.databaseUrl ? { DATABASE_URL: ts.config.databaseUrl } : {}),
    };
    let err = '';
    const sink = { write: () => true, isTTY: false };
    const code = await runCli(['seed', '--demo'], env, {
      stdout: sink,
      stderr: {
        write: (x: string) => {
          err += x;
          return true;
        },
        isTTY: false,
      },
    });
    expect(code, err).toBe(0);
  }, 240_000);
  afterAll(async () => {
    await ts?.stop();
  });

  it('launcher → clinician app shows the demo patient’s scores', async () => {
    const browser = await openBrowser();
    try {
      const page = await browser.context.newPage();
      await launchClinicianApp(page, 'Alex Morgan');
      await visible(page.getByText(/PHQ-9: latest 8 \(mild\), down 11/));
      await visible(page.getByText(/GAD-7: latest 7 \(mild\)/));
      await visible(page.getByRole('img', { name: /PHQ-9: latest 8/ }));
      // Response marks from the outcomes (Alex dropped more than 50 % from 19).
      expect(await page.locator('.chart-mark-response').count()).toBeGreaterThan(0);
      expect(await page.locator('.banner-name').textContent()).toBe('Alex Morgan');
      await shot(page, 'clinician-app');
    } finally {
      await browser.close();
    }
  }, 120_000);

  it('patient completes a PHQ-9 with item 9 positive → the clinician app shows the score and the risk Task', async () => {
    const phone = await openBrowser({ width: 400, height: 860 });
    try {
      const page = await phone.context.newPage();
      await page.goto(`${base}/apps/patient/`);
      await visible(page.getByRole('link', { name: 'Call 988' }));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await signIn(page, 'alex', DEMO_PASSWORD);
      await page.waitForURL(/\/apps\/patient\/\?session=/);
      await shot(page, 'patient-app-home');
      await page.getByRole('button', { name: /Start.*PHQ-9/ }).click();
      const questions = page.locator('fieldset.question');
      await visible(questions.first());
      expect(await questions.count()).toBe(10);
      for (let i = 0; i < 9; i++) {
        const q = questions.nth(i);
        const item9 = ((await q.locator('legend').textContent()) ?? '').includes('better off dead');
        await q.getByLabel(item9 ? 'More than half the days' : 'Several days', { exact: true }).check();
      }
      // A positive item 9 brings the crisis resources under the question at once.
      await visible(page.getByText('Thank you for telling us.'));
      await shot(page, 'patient-app-phq9');
      await page.getByRole('button', { name: 'Send to my care team' }).click();
      await visible(page.getByText('Thank you. Your answers were sent to your care team.'));
      expect(await page.getByRole('button', { name: /Start.*PHQ-9/ }).count()).toBe(0);
    } finally {
      await phone.close();
    }

    const desk = await openBrowser();
    try {
      const page = await desk.context.newPage();
      await launchClinicianApp(page, 'Alex Morgan');
      // The bots score and escalate after the commit; the app shows what is there when it loads, so reload until then.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && (await page.getByText(/Suicide risk review/).count()) === 0) {
        await page.waitForTimeout(1000);
        await page.reload();
        await page.getByRole('heading', { name: 'Scores' }).waitFor();
      }
      await visible(page.getByText(/Suicide risk review, level moderate: PHQ-9 item 9/));
      await visible(page.getByText(/PHQ-9: latest 10 \(moderate\)/));
      expect(await page.locator('.flag').textContent()).toMatch(/Suicide risk/);
      await visible(page.getByRole('button', { name: 'Acknowledge' }));
      await shot(page, 'clinician-app-risk');
      // Work the checklist: acknowledge, then record the contact.
      await page.getByRole('button', { name: 'Acknowledge' }).click();
      await visible(page.getByText(/· acknowledged/));
      await page
        .getByLabel('How was the patient reached (or the attempts made)?')
        .fill('Phone call at 14:10; patient safe, at home with partner.');
      await page.getByRole('button', { name: 'Mark done' }).first().click();
      await visible(page.getByText('Phone call at 14:10; patient safe, at home with partner.'));
    } finally {
      await desk.close();
    }
  }, 180_000);
});
