import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** Served by Haven at /apps/patient/ (server/src/http/apps.ts); built by smart-apps/build.ts. */
export default defineConfig({
  base: '/apps/patient/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022' },
});
