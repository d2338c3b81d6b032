/**
 * The apps build for production (also when built from a test run, where NODE_ENV is "test") and stay within the
 * JavaScript budget of 350 kB gzipped per app (issue 15). Built into a temporary folder, so served builds and
 * other test files are untouched.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { APP_DIRS, ensureAppsBuilt, isStale, sourceHash } from './build.ts';

const out = mkdtempSync(join(tmpdir(), 'haven-apps-build-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const BUDGET_GZIP_BYTES = 350 * 1024;

describe('app builds', () => {
  it('are production builds within the JavaScript budget', async () => {
    expect(process.env.NODE_ENV).toBe('test');
    expect(await ensureAppsBuilt({ outRoot: out, log: () => {} })).toEqual([...APP_DIRS]);
    expect(process.env.NODE_ENV).toBe('test');
    for (const app of APP_DIRS) {
      const assets = join(out, app, 'assets');
      const js = readdirSync(assets).filter((f) => f.endsWith('.js'));
      const code = js.map((f) => readFileSync(join(assets, f), 'utf8')).join('\n');
      // React's development build (jsxDEV, double effects under StrictMode) must never be served.
      expect(code, app).not.toContain('jsxDEV');
      const gz = js.reduce((n, f) => n + gzipSync(readFileSync(join(assets, f)), { level: 9 }).length, 0);
      expect(gz, `${app}: ${gz} bytes of gzipped JavaScript`).toBeLessThanOrEqual(BUDGET_GZIP_BYTES);
      const html = readFileSync(join(out, app, 'index.html'), 'utf8');
      // No inline script: the pages' CSP allows scripts from the server only.
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    }
  }, 120_000);

  it('hash their inputs, so a change to any of them rebuilds', () => {
    for (const app of APP_DIRS) expect(sourceHash(app)).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof isStale('patient')).toBe('boolean');
  });
});
