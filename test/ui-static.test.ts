// The page's static files through fastify inject: / is the page, assets have the right
// content types and cache rules, the API routes are not shadowed, a missing build says how
// to build it, and reads of the page need no password while writes still do.
import { describe, expect, test, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Core } from '../host-node/core.js';
import { Charger } from '../host-node/node/charger.js';
import { build_app } from '../host-node/node/app.js';

let core: Core;
let work: string;
const apps: FastifyInstance[] = [];
const chargers: Charger[] = [];

beforeAll(async () => {
  core = await Core.load();
  work = mkdtempSync(join(tmpdir(), 'loadshare-ui-static-'));
  // A small stand-in build (the real one is tested in the browser suite): same layout as Vite's.
  mkdirSync(join(work, 'ui', 'assets'), { recursive: true });
  writeFileSync(join(work, 'ui', 'index.html'), '<!doctype html><title>Load Sharing</title><script type="module" src="./assets/index-abc.js"></script>');
  writeFileSync(join(work, 'ui', 'assets', 'index-abc.js'), 'console.log(1);');
  writeFileSync(join(work, 'ui', 'assets', 'index-abc.css'), 'body{}');
});

afterAll(async () => {
  for (const c of chargers) await c.stop();
  for (const a of apps) await a.close();
  rmSync(work, { recursive: true, force: true });
});

async function make(ui_dir: string): Promise<{ app: FastifyInstance; charger: Charger }> {
  const clock = { t_ms: 1767225600000, now_ms() { return this.t_ms; } };
  const charger = await Charger.create({ id: 'a', host: '127.0.0.1', http_port: 8001, data_dir: null, core, mdns: false, clock });
  const app = await build_app(charger, { ui_dir });
  charger.tick();
  apps.push(app);
  chargers.push(charger);
  return { app, charger };
}

describe('the page at /', () => {
  test('/ and /index.html are the page; assets carry their content types', async () => {
    const { app } = await make(join(work, 'ui'));
    const root = await app.inject({ method: 'GET', url: '/' });
    expect(root.statusCode).toBe(200);
    expect(root.headers['content-type']).toMatch(/^text\/html/);
    expect(root.headers['cache-control']).toBe('no-cache');
    expect(root.body).toContain('<title>Load Sharing</title>');
    expect((await app.inject({ method: 'GET', url: '/index.html' })).statusCode).toBe(200);
    const js = await app.inject({ method: 'GET', url: '/assets/index-abc.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toMatch(/^(text|application)\/javascript/);
    expect(js.headers['cache-control']).toContain('immutable');
    const css = await app.inject({ method: 'GET', url: '/assets/index-abc.css' });
    expect(css.headers['content-type']).toMatch(/^text\/css/);
  });

  test('the API routes are not shadowed and unknown paths stay JSON 404s', async () => {
    const { app } = await make(join(work, 'ui'));
    const status = await app.inject({ method: 'GET', url: '/status' });
    expect(status.statusCode).toBe(200);
    expect(status.json().loadsharing.id).toBe('a');
    expect((await app.inject({ method: 'GET', url: '/config' })).json().loadsharing_group_max_current).toBe(32);
    expect((await app.inject({ method: 'GET', url: '/loadsharing/status' })).statusCode).toBe(200);
    const missing = await app.inject({ method: 'GET', url: '/assets/nothing.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ msg: 'Not found' });
    expect((await app.inject({ method: 'GET', url: '/../package.json' })).statusCode).toBe(404);
  });

  test('without a build, / says how to build the page', async () => {
    const { app } = await make(join(work, 'no-such-dir'));
    const root = await app.inject({ method: 'GET', url: '/' });
    expect(root.statusCode).toBe(503);
    expect(root.body).toContain('npm run build');
    expect((await app.inject({ method: 'GET', url: '/status' })).statusCode).toBe(200);
  });

  test('with a password, the page still loads and writes still need it', async () => {
    const { app, charger } = await make(join(work, 'ui'));
    charger.apply_config({ www_username: 'admin', www_password: 'secret password' });
    expect((await app.inject({ method: 'GET', url: '/' })).statusCode).toBe(200);
    const refused = await app.inject({ method: 'POST', url: '/config', payload: { loadsharing_priority: 1 } });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Basic realm="openevse", charset="UTF-8"');
  });
});
