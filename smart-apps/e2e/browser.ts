/**
 * Debian's Chromium driven by playwright-core for the end-to-end tests (no downloaded browsers): headless, no
 * sandbox (CI runs as root), no background networking (the machine has no network beyond loopback), a fresh
 * profile per run. And the person at the keyboard: Haven's sign-in and consent pages.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Where the browser is (Debian's package `chromium`). */
export const CHROMIUM = process.env.HAVEN_CHROMIUM ?? '/usr/bin/chromium';

/** True when the browser can be used. */
export function haveChromium(): boolean {
  return existsSync(CHROMIUM);
}

/** A browser with a fresh profile; `close` removes the profile. */
export async function openBrowser(viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'haven-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Signs in on Haven's pages (the page must be on, or about to reach, the sign-in form) and allows the scopes. */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.waitForURL(/\/auth\/interaction\//);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState();
  const allow = page.getByRole('button', { name: /Allow/ });
  if (await allow.count()) await allow.click();
}
