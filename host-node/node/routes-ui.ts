// The Load Sharing page at / : the static files Vite builds into build/ui/ (npm run build).
// Exact file routes only (no wildcard), so the page can never shadow an API route; when the
// page was not built, / says how to build it instead of a bare 404.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastify_static from '@fastify/static';

// build/ui relative to the package root, from host-node/node/ (tests run the TypeScript) or
// dist/host-node/node/ (the compiled CLI).
export function default_ui_dir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'build', 'ui');
    dir = dirname(dir);
  }
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'ui');
}

export function ui_routes(ui_dir: string = default_ui_dir()) {
  return async (app: FastifyInstance): Promise<void> => {
    if (!existsSync(join(ui_dir, 'index.html'))) {
      app.get('/', async (_request, reply) => reply.code(503).type('text/plain; charset=utf-8')
        .send('The Load Sharing page is not built: run `npm run build`.\n'));
      return;
    }
    await app.register(fastify_static, {
      root: ui_dir,
      prefix: '/',
      wildcard: false, // one route per built file, found at start
      index: ['index.html'],
      // Hashed asset names may be cached for long; index.html must be re-read to find new ones.
      setHeaders: (reply, path) => {
        reply.header('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    });
  };
}
