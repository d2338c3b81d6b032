/**
 * `npm run bench:apps`: the SMART apps as a person meets them, in Debian's Chromium (issue 15, "Speed"):
 * - each app's JavaScript, gzipped: what its first screen loads (entry module and its preloads) and all of it;
 * - clinician app: from the EHR launch redirect (the launcher's Launch button) to the patient's PHQ-9 chart on screen,
 *   for a patient with a year of weekly PHQ-9 and GAD-7 totals; the time spent on Haven's sign-in page (a person
 *   typing) is measured separately and taken out;
 * - patient app: from navigation to the first screen usable (its heading and the crisis panel shown), signed in.
 * A server child process on scratch storage (embedded, or PostgreSQL with --storage postgres), real sign-in, the
 * demo clinic (`haven seed --demo`). A benchmark, not a test: it prints numbers and exits 0.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../server/src/cli/demo-clinic.ts';
import { APP_DIRS, distDir, ensureAppsBuilt } from '../smart-apps/build.ts';
import { haveChromium, openBrowser } from '../smart-apps/e2e/browser.ts';
import { createStorage, startServerProcess, type StorageKind } from './server-process.ts';
import { summarize, type Latency } from './stats.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = dirname(BENCH_DIR);
/** Issue 15's budgets. */
export const APP_TARGETS = { clinicianLaunchP95Ms: 1500, patientInteractiveP95Ms: 1000, firstScreenGzipBytes: 350 * 1024 } as const;

/** One app's JavaScript, gzipped (level 9, as a server would precompress static files). */
export interface AppJsSize {
  app: string;
  /** The entry module and the modules it preloads: what the first screen needs. */
  firstScreenGzipBytes: number;
  /** Every JavaScript file of the build. */
  totalGzipBytes: number;
  files: number;
}

const gz = (file: string): number => gzipSync(readFileSync(file), { level: 9 }).length;

/** Sizes of a built app from its dist/ folder (index.html names the entry and its preloads). */
export function appJsSize(app: string): AppJsSize {
  const dist = distDir(app);
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const firstScreen = new Set<string>();
  for (const m of html.matchAll(/<script[^>]+type="module"[^>]+src="([^"]+\.js)"|<link[^>]+rel="modulepreload"[^>]+href="([^"]+\.js)"/g)) {
    const url = m[1] ?? m[2];
    firstScreen.add(join(dist, url.replace(/^.*?\/assets\//, 'assets/')));
  }
  const assets = join(dist, 'assets');
  const all = existsSync(assets) ? readdirSync(assets).filter((f) => f.endsWith('.js')) : [];
  return {
    app,
    firstScreenGzipBytes: [...firstScreen].filter(existsSync).reduce((n, f) => n + gz(f), 0),
    totalGzipBytes: all.reduce((n, f) => n + gz(join(assets, f)), 0),
    files: all.length,
  };
}

/** A year of weekly PHQ-9 and GAD-7 totals for a demo patient, before the 26 weeks the demo clinic already has. */
function yearOfScores(patient: string, now: Date): string {
  const lines: string[] = [];
  const week = 7 * 24 * 3600 * 1000;
  for (let w = 27; w <= 52; w++) {
    const when = new Date(now.getTime() - w * week);
    for (const [code, value] of [
      ['44261-6', 14 + (w % 5)],
      ['70274-6', 10 + (w % 4)],
    ] as const) {
      lines.push(
        JSON.stringify({
          resourceType: 'Observation',
          id: `bench-${patient}-${code}-${w}`,
          status: 'final',
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
          code: { coding: [{ system: 'http://loinc.org', code }] },
          subject: { reference: `Patient/${patient}` },
          effectiveDateTime: when.toISOString(),
          valueInteger: value,
        }),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Fills Haven's sign-in form and consents; returns the milliseconds the page was on screen (a person's time). */
async function signInTimed(page: Page, username: string): Promise<number> {
  await page.waitForURL(/\/auth\/interaction\//);
  const shown = performance.now();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(DEMO_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState();
  const allow = page.getByRole('button', { name: /Allow/ });
  if (await allow.count()) await allow.click();
  return performance.now() - shown;
}

function haven(args: string[], env: NodeJS.ProcessEnv): void {
  execFileSync(process.execPath, ['server/src/cli/main.ts', ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      storage: { type: 'string', default: 'embedded' },
      runs: { type: 'string', default: '20' },
      'admin-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    },
  });
  const storageKind = values.storage as StorageKind;
  if (storageKind !== 'embedded' && storageKind !== 'postgres') throw new Error('--storage embedded|postgres');
  const runs = Math.max(3, Number(values.runs));
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const load = os.loadavg()[0];
  out(
    `Haven apps benchmark · ${os.cpus().length} cores (${os.cpus()[0]?.model}) · load average ${load.toFixed(2)} · ${storageKind} · ${runs} runs`,
  );

  await ensureAppsBuilt({ log: () => {} });
  const sizes = APP_DIRS.map(appJsSize);
  out('\nJavaScript, gzipped (first screen / all files):');
  for (const s of sizes) {
    const verdict = s.firstScreenGzipBytes <= APP_TARGETS.firstScreenGzipBytes ? 'PASS' : 'MISS';
    out(
      `  ${s.app.padEnd(10)} ${(s.firstScreenGzipBytes / 1024).toFixed(1)} kB / ${(s.totalGzipBytes / 1024).toFixed(1)} kB in ${s.files} files  ${verdict} (≤ 350 kB)`,
    );
  }

  if (!haveChromium()) {
    out('\nNo /usr/bin/chromium (apt-get install chromium): browser timings skipped.');
    return;
  }
  const tmp = mkdtempSync(join(os.tmpdir(), 'haven-bench-apps-'));
  const storage = await createStorage(storageKind, tmp, values['admin-url']);
  const server = await startServerProcess({ repoRoot: REPO_ROOT, storage, env: { HAVEN_AUTH: 'on' } });
  const browser = await openBrowser();
  try {
    const env = {
      ...process.env,
      DATA_DIR: storage.dataDir,
      BASE_URL: server.url,
      ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}),
    };
    if (!storage.databaseUrl) delete env.DATABASE_URL;
    haven(['seed', '--demo'], env);
    const scores = join(tmp, 'year.ndjson');
    writeFileSync(scores, yearOfScores('demo-alex', new Date()));
    haven(['import', scores], env);

    // Clinician app: launcher → Launch → (sign-in, taken out) → chart on screen.
    const page = await browser.context.newPage();
    await page.goto(`${server.url}/launcher`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await signInTimed(page, 'dr.chen');
    await page.getByRole('heading', { name: 'Launch the clinician app' }).waitFor();
    // The launcher is a SMART app too: its signed-in state lives under the session id in its URL.
    const launcherUrl = page.url();
    const launch: number[] = [];
    const signInShare: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      await page.goto(launcherUrl);
      await page.getByRole('heading', { name: 'Launch the clinician app' }).waitFor();
      await page.getByLabel(/Alex Morgan/).check();
      const clicked = performance.now();
      await page.getByRole('button', { name: 'Launch', exact: true }).click();
      let human = 0;
      const chart = page.getByRole('img', { name: /PHQ-9: latest/ });
      const first = await Promise.race([
        page.waitForURL(/\/auth\/interaction\//, { timeout: 30_000 }).then(() => 'sign-in' as const),
        chart.waitFor({ timeout: 30_000 }).then(() => 'chart' as const),
      ]);
      if (first === 'sign-in') {
        human = await signInTimed(page, 'dr.chen');
        await chart.waitFor({ timeout: 30_000 });
      }
      const total = performance.now() - clicked;
      if (i > 0) {
        // The first launch warms the server's caches and the browser's HTTP cache, as a clinic's first patient does.
        launch.push(total - human);
        signInShare.push(human);
      }
    }
    const clinician = summarize(launch);

    // Patient app: signed in once, then the first screen from navigation (a reload of its session URL).
    const phone = await browser.context.newPage();
    await phone.setViewportSize({ width: 400, height: 860 });
    await phone.goto(`${server.url}/apps/patient/`);
    await phone.getByRole('button', { name: 'Sign in' }).click();
    await signInTimed(phone, 'alex');
    await phone.waitForURL(/\/apps\/patient\/\?session=/);
    const sessionUrl = phone.url();
    const interactive: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const start = performance.now();
      await phone.goto(sessionUrl);
      await phone.getByRole('link', { name: 'Call 988' }).waitFor();
      await phone.locator('#view-title').waitFor();
      await phone.getByRole('button').first().waitFor();
      if (i > 0) interactive.push(performance.now() - start);
    }
    const patient = summarize(interactive);

    const line = (name: string, l: Latency, target: number) =>
      `  ${name.padEnd(44)} p50 ${l.p50.toFixed(0)} ms · p95 ${l.p95.toFixed(0)} ms · max ${l.max.toFixed(0)} ms  ${l.p95 <= target ? 'PASS' : 'MISS'} (p95 ≤ ${target} ms)`;
    out(`\nIn Chromium (${runs} runs after one warm-up, loopback, ${storageKind}):`);
    out(line('clinician app, launch → PHQ-9 chart', clinician, APP_TARGETS.clinicianLaunchP95Ms));
    out(`  ${''.padEnd(44)} (sign-in page time taken out: median ${summarize(signInShare).p50.toFixed(0)} ms when shown)`);
    out(line('patient app, navigation → first screen usable', patient, APP_TARGETS.patientInteractiveP95Ms));
    const resultsDir = join(BENCH_DIR, 'results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `apps-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      file,
      JSON.stringify({ storage: storageKind, loadAverage1m: load, sizes, clinician, patient, targets: APP_TARGETS }, null, 2),
    );
    out(`\nResults: ${file}`);
  } finally {
    await browser.close();
    await server.stop();
    await storage.drop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:apps failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
