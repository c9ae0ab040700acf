// Builds the Load Sharing page into static files under build/ui/, which every node serves at /.
// Relative asset paths (base './') so the page also works when mounted under a prefix later
// (e.g. inside OpenEVSE's own web UI).
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: './',
  plugins: [svelte()],
  logLevel: 'warn',
  // `npx vite --config ui/vite.config.ts` serves the page with live reload against a running
  // node (LOADSHARE_NODE, default the demo's first charger).
  server: {
    proxy: Object.fromEntries(['/status', '/config', '/loadsharing', '/sim', '/setup'].map((path) => [path, process.env.LOADSHARE_NODE ?? 'http://127.0.0.1:8001'])
      .concat([['/ws', { target: (process.env.LOADSHARE_NODE ?? 'http://127.0.0.1:8001').replace(/^http/, 'ws'), ws: true }]])),
  },
  build: {
    outDir: fileURLToPath(new URL('../build/ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2020',
    reportCompressedSize: false,
  },
});
