// Hot swap in the charger node: POST/GET /loadsharing/module, probation, and a module that
// fails in the field rolled back while the charger stays safe; and the CLI push to a real node.
import { describe, expect, test, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Charger } from '../host-node/node/charger.js';
import { build_app } from '../host-node/node/app.js';
import { generate_keys, load_private_key, load_public_key, pack, sha256_hex } from '../host-node/modules/package.js';
import { trap_after_module } from './fake-modules.js';
import { root, cli } from './helpers.js';
import { ensure_dist } from './helpers/dist.js';
import { start_node, stop_node, free_port, http, wait_until, type NodeProc } from './helpers/node-proc.js';
import { admin, admin_config, with_admin } from './helpers/admin.js';

const keys = generate_keys();
const private_key = load_private_key(keys.private_pem);
const public_key = load_public_key(keys.public_pem);
const priority_first = readFileSync(join(root, 'build/loadsharing-priority-first.wasm'));
const release = readFileSync(join(root, 'build/loadsharing.wasm'));

class ManualClock { constructor(public t_ms: number) {} now_ms(): number { return this.t_ms; } }

async function charger_app(options: { keys?: boolean; clock?: ManualClock } = {}): Promise<{ charger: Charger; app: FastifyInstance }> {
  const charger = await Charger.create({
    id: 'solo', host: '127.0.0.1', http_port: 1, data_dir: mkdtempSync(join(tmpdir(), 'lsh-node-mod-')),
    module_keys: options.keys === false ? [] : [public_key], clock: options.clock, config_overrides: admin_config,
  });
  return { charger, app: await build_app(charger) };
}

// With the admin's credentials unless `headers` has an authorization of its own ('' for none).
const post_package = (app: FastifyInstance, bytes: Uint8Array, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/loadsharing/module', headers: { 'content-type': 'application/octet-stream', ...with_admin('POST', headers) }, payload: Buffer.from(bytes) });

describe('/loadsharing/module', () => {
  test('GET shows the built-in module; a good package runs on probation and is published', async () => {
    const { charger, app } = await charger_app();
    const before = (await app.inject({ method: 'GET', url: '/loadsharing/module' })).json();
    expect(before).toMatchObject({ hot_swap: true, running: { ref: 'builtin', version: 'built-in' } });
    const r = await post_package(app, pack(priority_first, { counter: 2, version: '1.1-pf', policy: 'priority_first' }, private_key));
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ version: '1.1-pf', counter: 2, policy: 'priority_first', sha256: sha256_hex(priority_first) });
    charger.tick();
    expect(charger.engine.poll_status().module_hash).toBe(sha256_hex(priority_first));
    const after = (await app.inject({ method: 'GET', url: '/loadsharing/module' })).json();
    expect(after.pending).toMatchObject({ version: '1.1-pf' });
    expect(after.running).toMatchObject({ ref: 'a', version: '1.1-pf' });
    await app.close();
  }, 600000);

  test('a refused package is a 400 with its code, and nothing changes', async () => {
    const { charger, app } = await charger_app();
    const bytes = Buffer.from(pack(priority_first, { counter: 2, version: 'x', policy: 'p' }, private_key));
    bytes[bytes.length - 1] ^= 0xff;
    const r = await post_package(app, bytes);
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'hash' });
    expect(charger.module_status()?.running.ref).toBe('builtin');
    await app.close();
  });

  test('without a trusted key every package is refused', async () => {
    const { app } = await charger_app({ keys: false });
    const r = await post_package(app, pack(priority_first, { counter: 2, version: 'x', policy: 'p' }, private_key));
    expect(r.statusCode).toBe(400);
    expect(r.json().msg).toMatch(/no trusted module key/);
    await app.close();
  });

  test('the write needs the admin password; JSON is refused', async () => {
    const { charger, app } = await charger_app();
    const bytes = pack(priority_first, { counter: 2, version: 'x', policy: 'p' }, private_key);
    expect((await post_package(app, bytes, { authorization: '' })).statusCode).toBe(401);
    expect(charger.module_status()?.running.ref).toBe('builtin');
    expect((await post_package(app, bytes)).statusCode).toBe(200);
    const json = await app.inject({ method: 'POST', url: '/loadsharing/module', headers: { ...with_admin('POST'), 'content-type': 'application/json' }, payload: '{}' });
    expect(json.statusCode).toBe(415);
    await app.close();
  }, 600000);

  test('a module that fails in the field: failsafe at once, then rolled back to the built-in module', async () => {
    const clock = new ManualClock(1767225600000);
    const { charger, app } = await charger_app({ clock });
    charger.set_car({ connected: true });
    const trap_after_ms = 1767225600000 + 86400000 * 10; // after every self-test input
    const r = await post_package(app, pack(trap_after_module(release, trap_after_ms), { counter: 3, version: 'date-bug', policy: 'equal_share' }, private_key));
    expect(r.statusCode).toBe(200);
    charger.tick();
    expect(charger.engine.guard_trip_reason()).toBeNull();
    expect(charger.engine.poll_status().applied_current).toBe(32);
    clock.t_ms = trap_after_ms + 1000;
    charger.tick();
    expect(charger.engine.guard_trip_reason()).toMatch(/module trapped/);
    expect(charger.engine.poll_status().applied_current).toBeLessThanOrEqual(6);
    await wait_until(() => charger.module_status()?.running.ref === 'builtin', 5000, 'the rollback');
    expect(charger.module_status()?.last_failure).toMatchObject({ version: 'date-bug' });
    clock.t_ms += 1000;
    charger.tick();
    expect(charger.engine.guard_trip_reason()).toBeNull();
    await app.close();
  }, 600000);
});

describe('loadshare module push to a running node', () => {
  let node: NodeProc;
  const dir = mkdtempSync(join(tmpdir(), 'lsh-push-'));
  beforeAll(async () => {
    ensure_dist();
    writeFileSync(join(dir, 'pub.pem'), keys.public_pem);
    node = await start_node({ id: 'pushed', port: await free_port(), data_dir: join(dir, 'data'), extra_args: ['--no-mdns', '--module-key', join(dir, 'pub.pem')] });
  }, 600000);
  afterAll(async () => { await stop_node(node); });

  test('the CLI swaps a signed module in; the node publishes its hash; a bad one is exit 2', async () => {
    const file = join(dir, 'pf.lspk');
    writeFileSync(file, pack(priority_first, { counter: 5, version: 'pf-5', policy: 'priority_first' }, private_key));
    const pushed = cli(['module', 'push', file, '--to', `127.0.0.1:${node.port}`, '--user', admin.username, '--password', admin.password]);
    expect(pushed.stderr).toBe('');
    expect(pushed.code).toBe(0);
    expect(JSON.parse(pushed.stdout)).toMatchObject({ version: 'pf-5' });
    await wait_until(async () => (await http(node.base, 'GET', '/status')).json.loadsharing.module_hash === sha256_hex(priority_first), 10000, 'the new module hash in /status');
    const again = cli(['module', 'push', file, '--to', `127.0.0.1:${node.port}`, '--user', admin.username, '--password', admin.password]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/refused the package \(HTTP 400\).*downgrade/);
  }, 600000);
});
