import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // One migrated database per run, copied for every scratch storage (server/src/test-support/template-storage.ts).
    globalSetup: ['server/src/test-support/global-setup.ts'],
    include: ['server/src/**/*.test.ts', 'bots/**/*.test.ts', 'profiles/**/*.test.ts', 'smart-apps/**/*.test.{ts,tsx}'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: more workers only add contention for PGlite's WASM and PostgreSQL.
    maxWorkers: 2,
  },
});
