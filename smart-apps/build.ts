/**
 * Builds Haven's apps with vite, each only when its sources changed since its last build (a SHA-256 of every
 * input file, kept in `dist/.build-stamp`). Runs before `npm start` (the root `prestart` script), so
 * `npm install && npm start` serves built apps with no third command, and a start with nothing changed costs a
 * few milliseconds of hashing. `node smart-apps/build.ts --force` rebuilds everything.
 *
 * Exported for tests: {@link ensureAppsBuilt} (the end-to-end tests build before they start a browser).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(fileURLToPath(import.meta.url));
const REPO = join(ROOT, '..');
/** Apps with a vite entry, in build order. */
export const APP_DIRS = ['patient', 'clinician', 'launcher'] as const;
const STAMP = '.build-stamp';

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (!/\.test\.tsx?$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Every input of one app: its folder, shared/, the registry, the crisis text, the lock file. */
function inputs(app: string): string[] {
  return [
    ...files(join(ROOT, app)),
    ...files(join(ROOT, 'shared', 'src')),
    join(ROOT, 'registry.ts'),
    join(ROOT, 'build.ts'),
    join(REPO, 'bots', 'config', 'defaults.json'),
    join(REPO, 'package-lock.json'),
  ]
    .filter((f) => existsSync(f) && statSync(f).isFile())
    .sort();
}

/** The hash of an app's inputs (paths and contents). */
export function sourceHash(app: string): string {
  const h = createHash('sha256');
  for (const f of inputs(app)) {
    h.update(relative(REPO, f));
    h.update('\0');
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex');
}

/** The built folder of an app. */
export function distDir(app: string): string {
  return join(ROOT, app, 'dist');
}

/** True when the app's build is missing or older than its sources. */
export function isStale(app: string): boolean {
  const stamp = join(distDir(app), STAMP);
  return !existsSync(join(distDir(app), 'index.html')) || !existsSync(stamp) || readFileSync(stamp, 'utf8') !== sourceHash(app);
}

/**
 * Builds the stale apps (or all with `force`); returns the apps built. `outRoot` builds into `{outRoot}/{app}`
 * instead of each app's dist (tests), and implies `force`.
 */
export async function ensureAppsBuilt(opts: { force?: boolean; outRoot?: string; log?: (line: string) => void } = {}): Promise<string[]> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const todo = APP_DIRS.filter((app) => existsSync(join(ROOT, app, 'index.html')) && (opts.force || opts.outRoot || isStale(app)));
  if (todo.length === 0) return [];
  const { build } = await import('vite');
  // Vite follows NODE_ENV when it is set (vitest sets it to "test"), and React then ships its development build
  // (several times larger, StrictMode effects run twice). Apps are always built for production.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    for (const app of todo) {
      const started = Date.now();
      const hash = sourceHash(app);
      const outDir = opts.outRoot ? join(opts.outRoot, app) : distDir(app);
      await build({
        root: join(ROOT, app),
        configFile: join(ROOT, app, 'vite.config.ts'),
        mode: 'production',
        logLevel: 'warn',
        build: { outDir, emptyOutDir: true },
      });
      writeFileSync(join(outDir, STAMP), hash);
      log(`smart-apps: built ${app} in ${Date.now() - started} ms`);
    }
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  return todo;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensureAppsBuilt({ force: process.argv.includes('--force') }).catch((err: unknown) => {
    process.stderr.write(`smart-apps: build failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
