import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** Served by Haven at /launcher/ (server/src/http/apps.ts); built by smart-apps/build.ts. */
export default defineConfig({
  base: '/launcher/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022' },
});
