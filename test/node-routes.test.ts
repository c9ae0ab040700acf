// Every route of the node's HTTP app through fastify inject: a success, each validation
// error, auth on and off, and that a refused write changes nothing.
import { describe, expect, test, beforeAll, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Core } from '../host-node/core.js';
import { Charger } from '../host-node/node/charger.js';
import { build_app } from '../host-node/node/app.js';
import { admin, admin_config, basic, with_admin } from './helpers/admin.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); });

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

// Set up with the test admin's password (test/helpers/admin.ts) unless `fresh`.
async function make(id = 'a', port = 8001, fresh = false): Promise<{ charger: Charger; app: FastifyInstance; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'loadshare-routes-'));
  // Virtual time: nothing here depends on how fast the machine is.
  const clock = { t_ms: 1767225600000, now_ms() { return this.t_ms; } };
  const charger = await Charger.create({ id, host: '127.0.0.1', http_port: port, data_dir: dir, core, mdns: false, clock, config_overrides: fresh ? undefined : admin_config });
  const app = await build_app(charger);
  cleanups.push(async () => { await charger.stop(); await app.close(); rmSync(dir, { recursive: true, force: true }); });
  charger.tick();
  return { charger, app, dir };
}

// Writes carry the admin's credentials unless `headers` has an authorization of its own ('' for none).
const json = (app: FastifyInstance, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown, given: Record<string, string> = {}) => {
  const headers = with_admin(method, given);
  return app.inject({ method, url, payload: payload === undefined ? undefined : JSON.stringify(payload), headers: payload === undefined ? headers : { 'content-type': 'application/json', ...headers } });
};

describe('GET/POST /status', () => {
  test('the status document speaks OpenEVSE units and carries the load-sharing block', async () => {
    const { app } = await make();
    const r = await json(app, 'GET', '/status');
    expect(r.statusCode).toBe(200);
    const doc = r.json();
    expect(Number.isInteger(doc.amp)).toBe(true);
    expect(doc.voltage).toBe(240);
    expect(doc.state).toBe(1);
    expect(doc.vehicle).toBe(0);
    expect(doc.loadsharing.id).toBe('a');
    expect(doc.loadsharing.seen).toEqual(['a']);
    expect(doc.loadsharing.config_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  test('POST /status sets voltage and shaper_live_pwr', async () => {
    const { app } = await make();
    expect((await json(app, 'POST', '/status', { voltage: 230, shaper_live_pwr: 1500 })).json()).toEqual({ msg: 'done' });
    const doc = (await json(app, 'GET', '/status')).json();
    expect(doc.voltage).toBe(230);
    expect(doc.shaper_live_pwr).toBe(1500);
  });

  test.each([
    [{ voltage: '230' }, 'voltage must be number'],
    [{ voltage: 10 }, 'voltage must be >= 50'],
    [{ shaper_live_pwr: true }, 'shaper_live_pwr must be number'],
    [{ solar: -5 }, 'solar must be >= 0'],
    [{ sun: 5 }, 'unknown key sun'],
    [{}, 'body must NOT have fewer than 1 properties'],
  ])('POST /status %j is refused: %s', async (body, msg) => {
    const { app } = await make();
    const r = await json(app, 'POST', '/status', body);
    expect(r.statusCode).toBe(400);
    expect(r.json().msg).toBe(msg);
    expect((await json(app, 'GET', '/status')).json().voltage).toBe(240);
  });
});

describe('GET/POST /config', () => {
  test('a group change bumps loadsharing_config_version, stamps updated_at and is stored', async () => {
    const { app, dir, charger } = await make();
    const before = (await json(app, 'GET', '/config')).json();
    expect(before.loadsharing_config_version).toBe(0);
    const r = await json(app, 'POST', '/config', { loadsharing_group_max_current: 40, loadsharing_heartbeat_timeout: 5 });
    expect(r.statusCode).toBe(200);
    expect(r.json().msg).toBe('done');
    expect(r.json().config_version).toBe(before.loadsharing_config_version + 2); // general counter starts at 1
    const after = (await json(app, 'GET', '/config')).json();
    expect(after.loadsharing_group_max_current).toBe(40);
    expect(after.loadsharing_config_version).toBe(1);
    expect(after.loadsharing_config_updated_at).toBeGreaterThan(1700000000);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).loadsharing_group_max_current).toBe(40);
    expect(charger.engine.current_config().group_max_current).toBe(40);
  });

  test('the same values again: "no change", nothing bumped; a local key does not bump the group version', async () => {
    const { app } = await make();
    await json(app, 'POST', '/config', { loadsharing_group_max_current: 40 });
    const again = await json(app, 'POST', '/config', { loadsharing_group_max_current: 40 });
    expect(again.json().msg).toBe('no change');
    const local = await json(app, 'POST', '/config', { loadsharing_priority: 3 });
    expect(local.json().msg).toBe('done');
    expect((await json(app, 'GET', '/config')).json().loadsharing_config_version).toBe(1);
  });

  test('every loadsharing key, hostname and wifi_serial are writable; version is the upstream API\'s, read-only', async () => {
    const { app } = await make();
    expect((await json(app, 'POST', '/config', { version: 'v5.1.2' })).json().msg).toBe('version is read-only');
    const write = {
      hostname: 'garage-1', wifi_serial: 'ABC123',
      loadsharing_enabled: false, loadsharing_group_id: 'main', loadsharing_group_max_current: 50,
      loadsharing_safety_factor: 0.8, loadsharing_heartbeat_timeout: 10, loadsharing_failsafe_mode: 'disable',
      loadsharing_failsafe_safe_current: 8, loadsharing_failsafe_peer_assumed_current: 10, loadsharing_priority: 2,
      loadsharing_rotation_interval: 600,
    };
    expect((await json(app, 'POST', '/config', write)).statusCode).toBe(200);
    const after = (await json(app, 'GET', '/config')).json();
    for (const [k, v] of Object.entries(write)) expect(after[k]).toEqual(v);
  });

  test.each([
    [{ loadsharing_heartbeat_timeout: 4 }, 'loadsharing_heartbeat_timeout must be >= 5'],
    [{ loadsharing_heartbeat_timeout: 5.5 }, 'loadsharing_heartbeat_timeout must be integer'],
    [{ loadsharing_group_max_current: '32' }, 'loadsharing_group_max_current must be number'],
    [{ loadsharing_group_max_current: 0 }, 'loadsharing_group_max_current must be > 0'],
    [{ loadsharing_safety_factor: 1.5 }, 'loadsharing_safety_factor must be <= 1'],
    [{ loadsharing_enabled: 'true' }, 'loadsharing_enabled must be boolean'],
    [{ loadsharing_failsafe_mode: 'off' }, 'loadsharing_failsafe_mode must be one of "disable", "safe_current"'],
    [{ loadsharing_priority: -1 }, 'loadsharing_priority must be >= 0'],
    [{ loadsharing_rotation_interval: null }, 'loadsharing_rotation_interval must be integer'],
    [{ hostname: 'bad host!' }, 'hostname must match pattern "^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$"'],
    [{ loadsharing_group_id: 'x'.repeat(65) }, 'loadsharing_group_id must NOT have more than 64 characters'],
    [{ colour: 3 }, 'unknown key colour'],
    [{ loadsharing_config_version: 9 }, 'loadsharing_config_version is read-only'],
    [{ loadsharing_config_updated_at: 9 }, 'loadsharing_config_updated_at is read-only'],
    [{ loadsharing_failsafe_peer_assumed_current: 4 }, 'loadsharing_failsafe_peer_assumed_current (4) must be at least loadsharing_failsafe_safe_current (6)'],
    [{ loadsharing_failsafe_safe_current: 40, loadsharing_failsafe_peer_assumed_current: 40 }, 'loadsharing_failsafe_safe_current (40) must not exceed loadsharing_group_max_current (32)'],
    [{ www_username: '' }, 'www_username and www_password must be set together (or both empty)'],
    [{ www_password: '' }, 'www_password must NOT have fewer than 8 characters'],
    [{ www_password: 'short' }, 'www_password must NOT have fewer than 8 characters'],
    [{ www_username: 'a:b' }, "www_username must not contain ':' or NUL characters"],
    [{ wifi_serial: 'a\u0000b' }, 'wifi_serial must not contain NUL characters'],
    [{ loadsharing_group_id: 'garage\u0000' }, 'loadsharing_group_id must not contain NUL characters'],
  ])('POST /config %j is refused: %s', async (body, msg) => {
    const { app, dir } = await make();
    const before = (await json(app, 'GET', '/config')).json();
    const file_before = readFileSync(join(dir, 'config.json'), 'utf8');
    // A valid key next to the invalid one: nothing at all may be applied.
    const r = await json(app, 'POST', '/config', { loadsharing_priority: 7, ...body });
    expect(r.statusCode).toBe(400);
    expect(r.json().msg).toBe(msg);
    expect((await json(app, 'GET', '/config')).json()).toEqual(before);
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe(file_before);
  });

  test('malformed JSON, a wrong content type, a body that is not an object, 1 MB: refused, state unchanged', async () => {
    const { app } = await make();
    const before = (await json(app, 'GET', '/config')).json();
    const bad_json = await app.inject({ method: 'POST', url: '/config', payload: '{"loadsharing_priority": 1,', headers: { 'content-type': 'application/json' } });
    expect(bad_json.statusCode).toBe(400);
    expect(bad_json.json().msg).toBe('Invalid JSON');
    const text = await app.inject({ method: 'POST', url: '/config', payload: '<priority>1</priority>', headers: { 'content-type': 'application/xml' } });
    expect(text.statusCode).toBe(415);
    const array = await json(app, 'POST', '/config', [1, 2]);
    expect(array.statusCode).toBe(400);
    const huge = await app.inject({ method: 'POST', url: '/config', payload: JSON.stringify({ wifi_serial: 'x'.repeat(1024 * 1024) }), headers: { 'content-type': 'application/json' } });
    expect(huge.statusCode).toBe(413);
    expect((await json(app, 'GET', '/config')).json()).toEqual(before);
  });

  test('the password is never returned; it can be changed, not removed', async () => {
    const { app } = await make();
    expect((await json(app, 'GET', '/config')).json().www_password).toBe('_DUMMY_PASSWORD');
    // The placeholder leaves it as it is.
    expect((await json(app, 'POST', '/config', { www_password: '_DUMMY_PASSWORD', loadsharing_priority: 2 })).statusCode).toBe(200);
    expect((await json(app, 'POST', '/config', { loadsharing_priority: 3 })).statusCode).toBe(200);
    expect((await json(app, 'POST', '/config', { www_username: '', www_password: '' })).json().msg).toBe('www_password must NOT have fewer than 8 characters');
    expect((await json(app, 'POST', '/config', { www_password: 'a new password' })).statusCode).toBe(200);
    expect((await json(app, 'POST', '/config', { loadsharing_priority: 4 })).statusCode).toBe(401);
    expect((await json(app, 'POST', '/config', { loadsharing_priority: 4 }, { authorization: basic(admin.username, 'a new password') })).statusCode).toBe(200);
  });
});

describe('auth', () => {
  const writes: Array<['POST' | 'DELETE', string, unknown]> = [
    ['POST', '/config', { loadsharing_priority: 1 }], ['POST', '/config', { loadsharing_group_max_current: 100 }], ['POST', '/status', { voltage: 230 }],
    ['POST', '/loadsharing/peers', { host: '127.0.0.1:9' }], ['DELETE', '/loadsharing/peers/127.0.0.1:9', undefined],
    ['POST', '/loadsharing/discover', undefined],
  ];

  test('a charger fresh from the box refuses every write (but the simulated car) until its first-run step; reads stay open', async () => {
    const { app, charger } = await make('a', 8001, true);
    const before = (await json(app, 'GET', '/config')).json();
    expect(before.loadsharing_enabled).toBe(false);
    for (const [method, url, body] of writes) {
      for (const headers of [{ authorization: '' }, { authorization: basic('admin', 'anything') }]) {
        const r = await json(app, method, url, body, headers);
        expect(r.statusCode, `${method} ${url}`).toBe(401);
        expect(r.json().msg).toMatch(/^No admin password is set on this charger yet/);
        // No Basic challenge: a browser must not ask for a password that does not exist.
        expect(r.headers['www-authenticate']).toBe('LoadshareSetup realm="openevse"');
      }
    }
    expect((await json(app, 'GET', '/config')).json()).toEqual(before);
    expect((await json(app, 'GET', '/loadsharing/peers')).json()).toEqual([]);
    expect(charger.engine.current_config().group_max_current).toBe(32);
    expect((await json(app, 'POST', '/sim/ev', { soc: 30 }, { authorization: '' })).statusCode).toBe(200);
    for (const url of ['/status', '/config', '/loadsharing/peers', '/loadsharing/status', '/setup']) expect((await json(app, 'GET', url)).statusCode).toBe(200);
  });

  test('set up: every write needs the credentials (the scheme in any case), reads stay open', async () => {
    const { app } = await make();
    for (const [method, url, body] of writes) {
      const none = await json(app, method, url, body, { authorization: '' });
      expect(none.statusCode, `${method} ${url}`).toBe(401);
      expect(none.headers['www-authenticate']).toContain('Basic');
      expect((await json(app, method, url, body, { authorization: basic(admin.username, 'wrong password') })).statusCode).toBe(401);
    }
    expect((await json(app, 'GET', '/config')).json().loadsharing_priority).toBe(0);
    expect((await json(app, 'GET', '/config')).json().loadsharing_group_max_current).toBe(32);
    expect((await json(app, 'GET', '/loadsharing/peers')).json()).toEqual([]);
    for (const url of ['/status', '/config', '/loadsharing/peers', '/loadsharing/status']) expect((await json(app, 'GET', url)).statusCode).toBe(200);
    const token = Buffer.from(`${admin.username}:${admin.password}`).toString('base64');
    for (const [priority, scheme] of [[1, 'Basic'], [2, 'basic'], [3, 'BASIC'], [4, 'bAsIc']] as const) {
      const ok = await json(app, 'POST', '/config', { loadsharing_priority: priority }, { authorization: `${scheme} ${token}` });
      expect(ok.statusCode, scheme).toBe(200);
    }
    expect((await json(app, 'GET', '/config')).json().loadsharing_priority).toBe(4);
    // Other schemes and broken tokens are not Basic.
    for (const authorization of [`Bearer ${token}`, `Basic${token}`, `Basic ${token}!`, 'Basic']) {
      expect((await json(app, 'POST', '/config', { loadsharing_priority: 5 }, { authorization })).statusCode, authorization).toBe(401);
    }
    // The simulated car is not an API of a real charger: no credentials.
    expect((await json(app, 'POST', '/sim/ev', { soc: 40 }, { authorization: '' })).statusCode).toBe(200);
  });
});

describe('/loadsharing/peers', () => {
  test('join, duplicate, list, leave, 404; stored in peers.json', async () => {
    const { app, dir, charger } = await make();
    expect((await json(app, 'GET', '/loadsharing/peers')).json()).toEqual([]);
    const add = await json(app, 'POST', '/loadsharing/peers', { host: '127.0.0.1:9', reciprocal: false });
    expect(add.statusCode).toBe(200);
    expect(add.json()).toEqual({ msg: 'done' });
    const again = await json(app, 'POST', '/loadsharing/peers', { host: '127.0.0.1:9', reciprocal: false });
    expect(again.json()).toEqual({ msg: 'already in group' });
    const list = (await json(app, 'GET', '/loadsharing/peers')).json();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ host: '127.0.0.1:9', joined: true, online: false });
    expect(JSON.parse(readFileSync(join(dir, 'peers.json'), 'utf8'))).toEqual({ peers: [{ host: '127.0.0.1:9', id: null }], alone_confirmed: false, leaving: [] });
    // Not yet heard: a member all the same, reserved at the assumed current.
    charger.tick();
    const d = charger.engine.last_decision()!;
    expect(d.allocations.map((a) => a.id)).toContain('?127.0.0.1:9');
    expect(d.reserved_current).toBe(6);
    const del = await json(app, 'DELETE', '/loadsharing/peers/127.0.0.1:9?reciprocal=false');
    expect(del.json()).toEqual({ msg: 'done' });
    expect((await json(app, 'DELETE', '/loadsharing/peers/127.0.0.1:9?reciprocal=false')).statusCode).toBe(404);
    expect((await json(app, 'DELETE', '/loadsharing/peers/127.0.0.1:9?reciprocal=false')).json()).toEqual({ msg: 'Peer not found' });
    expect(JSON.parse(readFileSync(join(dir, 'peers.json'), 'utf8'))).toEqual({ peers: [], alone_confirmed: false, leaving: [] }); // removed by a peer's call: not set up alone by a person
  });

  test.each([
    [{}, "Missing required 'host' parameter"],
    [{ host: '' }, 'Host cannot be empty'],
    [{ host: 'openevse' }, 'Invalid host format - must contain domain or IP'],
    [{ host: 'http://x.y/' }, 'Invalid host format - must contain domain or IP'],
    [{ host: '127.0.0.1:70000' }, 'Invalid host format - bad port'],
    [{ host: '127.0.0.1:8001' }, 'Cannot add local device as peer'],
    [{ host: 'a.local' }, 'Cannot add local device as peer'],
    [{ host: 5 }, 'host must be string'],
    [{ host: '1.2.3.4', reciprocal: 'no' }, 'reciprocal must be boolean'],
    [{ host: '1.2.3.4', extra: 1 }, 'unknown key extra'],
  ])('POST /loadsharing/peers %j is refused: %s', async (body, msg) => {
    const { app } = await make('a', 8001);
    const r = await json(app, 'POST', '/loadsharing/peers', body);
    expect(r.statusCode).toBe(400);
    expect(r.json().msg).toBe(msg);
    expect((await json(app, 'GET', '/loadsharing/peers')).json()).toEqual([]);
  });

  test('DELETE of self is 400; a bad reciprocal value is 400', async () => {
    const { app } = await make('a', 8001);
    const self = await json(app, 'DELETE', '/loadsharing/peers/127.0.0.1:8001');
    expect(self.statusCode).toBe(400);
    expect(self.json().msg).toBe('Cannot remove local device from group');
    const bad = await json(app, 'DELETE', '/loadsharing/peers/1.2.3.4?reciprocal=maybe');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().msg).toBe('reciprocal must be one of "true", "false"');
  });

  test('a group is full at 16 members', async () => {
    const { app } = await make();
    for (let i = 1; i <= 15; i++) expect((await json(app, 'POST', '/loadsharing/peers', { host: `10.0.0.${i}:80`, reciprocal: false })).statusCode).toBe(200);
    const r = await json(app, 'POST', '/loadsharing/peers', { host: '10.0.0.99:80', reciprocal: false });
    expect(r.statusCode).toBe(400);
    expect(r.json().msg).toMatch(/full/);
  });

  test('POST /loadsharing/discover with mDNS off says so; it takes no parameters', async () => {
    const { app } = await make();
    const r = await json(app, 'POST', '/loadsharing/discover');
    expect(r.statusCode).toBe(200);
    expect(r.json().msg).toMatch(/disabled/);
    expect((await json(app, 'POST', '/loadsharing/discover', {})).statusCode).toBe(200);
    const extra = await json(app, 'POST', '/loadsharing/discover', { scan: true });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().msg).toBe('unknown key scan');
  });
});

describe('GET /loadsharing/status', () => {
  test('upstream fields plus the protocol\'s', async () => {
    const { app, charger } = await make();
    await json(app, 'POST', '/sim/ev', { connected: true });
    charger.tick();
    const s = (await json(app, 'GET', '/loadsharing/status')).json();
    for (const key of ['enabled', 'group_id', 'computed_at', 'failsafe_active', 'online_count', 'offline_count', 'peers', 'allocations', 'config_consistent', 'config_issues', 'self']) {
      expect(s, key).toHaveProperty(key);
    }
    expect(s.allocations).toEqual([expect.objectContaining({ id: 'a', target_current: 32, online: true, degraded: false, applied: 32, committed: 32 })]);
    expect(s.self).toMatchObject({ id: 'a', own_view_current: 32, min_over_views_current: 32, applied_current: 32 });
    expect(s.config_consistent).toBe(true);
    expect(s.config_issues).toEqual([]);
  });
});

describe('POST /sim/ev', () => {
  test('plugs a car in; the pilot follows the allocation', async () => {
    const { app, charger } = await make();
    const r = await json(app, 'POST', '/sim/ev', { connected: true, soc: 50, max_current: 16, lag_ms: 0 });
    expect(r.json()).toEqual({ connected: true, soc: 50, max_current: 16, lag_ms: 0 });
    charger.tick();
    const doc = (await json(app, 'GET', '/status')).json();
    expect(doc.vehicle).toBe(1);
    expect(doc.pilot).toBe(32);
    expect(doc.amp).toBe(16000);
    expect(doc.state).toBe(3);
  });

  test.each([
    [{ lag_ms: 6000 }, 'lag_ms must be <= 5000'],
    [{ soc: '50' }, 'soc must be number'],
    [{ soc: 101 }, 'soc must be <= 100'],
    [{ connected: 1 }, 'connected must be boolean'],
    [{ wheels: 4 }, 'unknown key wheels'],
  ])('POST /sim/ev %j is refused: %s', async (body, msg) => {
    const { app, charger } = await make();
    const r = await json(app, 'POST', '/sim/ev', body);
    expect(r.statusCode).toBe(400);
    expect(r.json().msg).toBe(msg);
    expect(charger.evse.car_spec().connected).toBe(false);
    expect(charger.evse.car_spec().soc_pct).toBe(20);
  });
});

test('an unknown route is 404 with a message', async () => {
  const { app } = await make();
  const r = await json(app, 'GET', '/nope');
  expect(r.statusCode).toBe(404);
  expect(r.json()).toEqual({ msg: 'Not found' });
});

describe('the current shaper caps the pilot together with load sharing', () => {
  test('pilot = min(load-sharing limit, (max_pwr - live_pwr) / V + amps)', async () => {
    const { app, charger } = await make();
    await json(app, 'POST', '/config', { current_shaper_enabled: true, current_shaper_max_pwr: 5000 });
    await json(app, 'POST', '/sim/ev', { connected: true, lag_ms: 0 });
    // No live power yet: the shaper's data is stale and it pauses the charger.
    charger.tick();
    expect((await json(app, 'GET', '/status')).json().pilot).toBe(0);
    await json(app, 'POST', '/status', { shaper_live_pwr: 2600 }); // (5000 - 2600) / 240 + 0 A = 10 A
    charger.tick();
    let doc = (await json(app, 'GET', '/status')).json();
    expect(doc.loadsharing.applied_current).toBe(32);
    expect(doc.shaper_cur).toBe(10);
    expect(doc.pilot).toBe(10);
    expect(doc.amp).toBe(10000);
    // The house meter now includes the car's 2400 W: (5000 - 5000) / 240 + 10 A = 10 A, steady.
    await json(app, 'POST', '/status', { shaper_live_pwr: 5000 });
    charger.tick();
    doc = (await json(app, 'GET', '/status')).json();
    expect(doc.shaper_cur).toBe(10);
    expect(doc.pilot).toBe(10);
    // Load sharing below the shaper: the min wins.
    await json(app, 'POST', '/config', { loadsharing_group_max_current: 8, loadsharing_failsafe_safe_current: 6 });
    charger.tick();
    doc = (await json(app, 'GET', '/status')).json();
    expect(doc.loadsharing.applied_current).toBe(8);
    expect(doc.pilot).toBe(8);
  });
});

describe('pairing: peers are trusted with the group key, never with a person\'s credentials', () => {
  async function listening(id: string, credentials: boolean) {
    const { free_port } = await import('./helpers/node-proc.js');
    const port = await free_port();
    const dir = mkdtempSync(join(tmpdir(), 'loadshare-auth-'));
    const charger = await Charger.create({ id, host: '127.0.0.1', http_port: port, data_dir: dir, core, mdns: false });
    if (credentials) charger.apply_config({ www_username: 'admin', www_password: 'group-secret' });
    const app = await build_app(charger);
    await app.listen({ host: '127.0.0.1', port });
    cleanups.push(async () => { await charger.stop(); await app.close(); rmSync(dir, { recursive: true, force: true }); });
    return { charger, app, port };
  }
  const as_admin = { authorization: basic('admin', 'group-secret') };

  test('a plain join creates the group (a key) but cannot hand it over: the newcomer refuses the unsigned echo; pairing with its password does', async () => {
    const a = await listening('a', true);
    const b = await listening('b', true);
    expect(a.charger.raw_config().loadsharing_group_key).toBe('');
    // A refused pairing changes nothing here either: no key is kept, no member added.
    const refused = await a.app.inject({ method: 'POST', url: '/loadsharing/peers', payload: { host: `127.0.0.1:${b.port}`, password: 'not the password' }, headers: as_admin });
    expect(refused.statusCode).toBe(400);
    expect(a.charger.raw_config().loadsharing_group_key).toBe('');
    expect(a.charger.peer_records()).toEqual([]);
    const plain = await a.app.inject({ method: 'POST', url: '/loadsharing/peers', payload: { host: `127.0.0.1:${b.port}` }, headers: as_admin });
    expect(plain.json()).toEqual({ msg: 'done' });
    const key = a.charger.raw_config().loadsharing_group_key;
    expect(key.length).toBeGreaterThanOrEqual(32);
    // b never got a's password (peers send none) nor the key: it refused the echo.
    expect(b.charger.peer_records()).toEqual([]);
    expect(b.charger.raw_config().loadsharing_group_key).toBe('');
    // A wrong password: refused there, said here; nothing changes on b.
    const wrong = await a.app.inject({ method: 'POST', url: '/loadsharing/peers', payload: { host: `127.0.0.1:${b.port}`, password: 'not the password' }, headers: as_admin });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().msg).toMatch(/refused the admin password/);
    expect(b.charger.raw_config().loadsharing_group_key).toBe('');
    // Pairing: b takes the key and joins a; a learns b's id from the answer.
    const paired = await a.app.inject({ method: 'POST', url: '/loadsharing/peers', payload: { host: `127.0.0.1:${b.port}`, password: 'group-secret' }, headers: as_admin });
    expect(paired.json()).toEqual({ msg: 'paired' });
    expect(b.charger.raw_config().loadsharing_group_key).toBe(key);
    expect(b.charger.peer_records()).toMatchObject([{ host: `127.0.0.1:${a.port}`, id: 'a' }]);
    expect(a.charger.peer_records()).toMatchObject([{ host: `127.0.0.1:${b.port}`, id: 'b' }]);
    // The key is in no answer.
    expect(paired.body).not.toContain(key);
    // A reciprocal leave is signed with the key now: b takes it without anyone's password.
    await a.app.inject({ method: 'DELETE', url: `/loadsharing/peers/127.0.0.1:${b.port}`, headers: as_admin });
    expect(b.charger.peer_records()).toEqual([]);
  });

  test('POST /loadsharing/pair needs the admin password, refuses our own id or address, and a charger of another keyed group', async () => {
    const b = await listening('b', true);
    const key = 'a group key of sixteen+ chars';
    const pair = (body: Record<string, unknown>, headers: Record<string, string> = as_admin) => b.app.inject({ method: 'POST', url: '/loadsharing/pair', payload: body, headers });
    expect((await pair({ key, host: '127.0.0.1:9', id: 'a' }, {})).statusCode).toBe(401);
    expect((await pair({ key, host: '127.0.0.1:9', id: 'b' })).json().msg).toMatch(/claims this charger's own id/);
    expect((await pair({ key, host: `127.0.0.1:${b.port}`, id: 'a' })).json().msg).toBe('Cannot add local device as peer');
    expect((await pair({ key: 'short', host: '127.0.0.1:9', id: 'a' })).statusCode).toBe(400);
    expect(b.charger.raw_config().loadsharing_group_key).toBe('');
    expect((await pair({ key, host: '127.0.0.1:9', id: 'a' })).json()).toEqual({ msg: 'done', id: 'b' });
    expect(b.charger.raw_config().loadsharing_group_key).toBe(key);
    const other = await pair({ key: 'the key of some other group', host: '127.0.0.1:10', id: 'x' });
    expect(other.statusCode).toBe(409);
    expect(other.json().msg).toMatch(/in another group/);
    expect(b.charger.raw_config().loadsharing_group_key).toBe(key);
    expect(b.charger.peer_records().map((p) => p.id)).toEqual(['a']);
  });
});

describe('small parts', () => {
  test('the peer link backs off 1, 2, 4 s ... up to 60 s', async () => {
    const { PeerLink } = await import('../host-node/node/peer-link.js');
    expect([0, 1, 2, 3, 4, 5, 6, 7, 30].map((n) => PeerLink.backoff_ms(n))).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  });

  test('logs: one human line per event, or one JSON object per line', async () => {
    const { make_logger } = await import('../host-node/node/log.js');
    const lines: string[] = [];
    make_logger({ json: false, id: 'a', write: (l) => lines.push(l) }).warn('engine', 'peer b offline');
    make_logger({ json: true, id: 'a', write: (l) => lines.push(l) }).info('engine', 'peer b online', { peer: 'b' });
    expect(lines[0]).toMatch(/^\S+ a WARN \[engine\] peer b offline\n$/);
    expect(JSON.parse(lines[1])).toMatchObject({ level: 'info', node: 'a', topic: 'engine', msg: 'peer b online', peer: 'b' });
  });

  test('the ws delta carries changed keys only, and a changed loadsharing block whole (shallow-merging clients keep every field)', async () => {
    const { status_delta } = await import('../host-node/station/wire.js');
    const before = { amp: 1, pilot: 6, loadsharing: { id: 'a', seen: ['a'], reason: 'idle' } };
    const after = { amp: 2, pilot: 6, loadsharing: { id: 'a', seen: ['a', 'b'], reason: 'idle' } };
    expect(status_delta(before, after)).toEqual({ amp: 2, loadsharing: { id: 'a', seen: ['a', 'b'], reason: 'idle' } });
    expect(status_delta(after, { ...after, amp: 3 })).toEqual({ amp: 3 });
    // A client merging frames as python-openevse-http does ends with the whole block.
    const client: Record<string, unknown> = { ...before };
    Object.assign(client, status_delta(before, after));
    expect(client.loadsharing).toEqual(after.loadsharing);
  });
});

test('GET /openapi.json documents every route with its schemas', async () => {
  const { app } = await make();
  const r = await json(app, 'GET', '/openapi.json');
  expect(r.statusCode).toBe(200);
  const doc = r.json();
  expect(doc.openapi).toBe('3.1.0');
  const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, m]) => Object.keys(m).map((x) => `${x.toUpperCase()} ${p}`)).sort();
  expect(ops).toEqual([
    'DELETE /claims/{client}', 'DELETE /limit', 'DELETE /loadsharing/peers/{host}', 'DELETE /override',
    'GET /claims', 'GET /claims/target', 'GET /claims/{client}', 'GET /config', 'GET /limit', 'GET /loadsharing/module', 'GET /loadsharing/peers', 'GET /loadsharing/status', 'GET /openapi.json',
    'GET /override', 'GET /r', 'GET /rapi', 'GET /setup', 'GET /status', 'GET /ws', 'PATCH /override',
    'POST /claims/{client}', 'POST /config', 'POST /limit', 'POST /loadsharing/alone', 'POST /loadsharing/discover', 'POST /loadsharing/module', 'POST /loadsharing/pair', 'POST /loadsharing/peers', 'POST /override', 'POST /r', 'POST /rapi', 'POST /setup',
    'POST /sim/ev', 'POST /status',
  ]);
  expect(doc.paths['/config'].post.requestBody.content['application/json'].schema.properties.loadsharing_heartbeat_timeout).toMatchObject({ type: 'integer', minimum: 5 });
  expect(doc.paths['/loadsharing/peers/{host}'].delete.parameters.map((p: { name: string }) => p.name)).toEqual(['host', 'reciprocal', 'gone']);
});

test('--peer hosts join at start (bad ones and self are skipped with a log line) and are stored', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'loadshare-peers-'));
  const notes: string[] = [];
  const log = { info() {}, warn: (_t: string, m: string) => notes.push(m), error() {} };
  const charger = await Charger.create({ id: 'a', host: '127.0.0.1', http_port: 8001, data_dir: dir, core, mdns: false, log, peers: ['127.0.0.1:9', 'bad', '127.0.0.1:8001', '127.0.0.1:9'] });
  cleanups.push(async () => { await charger.stop(); rmSync(dir, { recursive: true, force: true }); });
  expect(charger.peer_records().map((p) => p.host)).toEqual(['127.0.0.1:9']);
  expect(notes).toEqual(['--peer bad ignored: Invalid host format - must contain domain or IP', '--peer 127.0.0.1:8001 ignored: Cannot add local device as peer']);
  expect(JSON.parse(readFileSync(join(dir, 'peers.json'), 'utf8'))).toEqual({ peers: [{ host: '127.0.0.1:9', id: null }], alone_confirmed: false, leaving: [] });
  // A restart without --peer keeps it (from the file).
  const again = await Charger.create({ id: 'a', host: '127.0.0.1', http_port: 8001, data_dir: dir, core, mdns: false });
  expect(again.peer_records().map((p) => p.host)).toEqual(['127.0.0.1:9']);
});

describe('a charger removed from its group, restarted (rule 8: it is not sure it is alone)', () => {
  // The restart reads what the first life stored: the module's carry (it was in a group) and
  // the peers file (no person set it up alone). The car wants 32 A; the breaker is 32 A.
  async function life(dir: string, peers: string[] = []) {
    const clock = { t_ms: 1767225600000, now_ms() { return this.t_ms; } };
    const charger = await Charger.create({ id: 'a', host: '127.0.0.1', http_port: 8001, data_dir: dir, core, mdns: false, clock, peers, config_overrides: admin_config, car: { connected: true, max_current_a: 32 } });
    const app = await build_app(charger);
    const step = () => { clock.t_ms += 1000; charger.tick(); };
    return { charger, app, step };
  }

  test.each([
    ['by a peer (reciprocal=false)', 'false', true],
    ['by a person on this charger', 'true', false],
  ])('removed %s: restarted, it stays at its failsafe current: %s', async (_how, reciprocal, stays_failsafe) => {
    const dir = mkdtempSync(join(tmpdir(), 'loadshare-removed-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const first = await life(dir, ['127.0.0.1:9']);
    for (let i = 0; i < 3; i++) first.step();
    const r = await first.app.inject({ method: 'DELETE', url: `/loadsharing/peers/127.0.0.1:9?reciprocal=${reciprocal}`, headers: with_admin('DELETE') });
    expect(r.statusCode).toBe(200);
    for (let i = 0; i < 3; i++) first.step();
    await first.charger.stop();
    await first.app.close();
    const stored_peers = JSON.parse(readFileSync(join(dir, 'peers.json'), 'utf8'));
    expect(stored_peers).toEqual({ peers: [], alone_confirmed: !stays_failsafe, leaving: [] });
    expect(Buffer.from(JSON.parse(readFileSync(join(dir, 'carry.json'), 'utf8')).carry, 'base64').length).toBe(4096);

    const second = await life(dir);
    cleanups.push(async () => { await second.charger.stop(); await second.app.close(); });
    for (let i = 0; i < 20; i++) second.step();
    const block = second.charger.status_doc().loadsharing as { left_alone: boolean; applied_current: number };
    const safe_a = second.charger.raw_config().loadsharing_failsafe_safe_current;
    if (stays_failsafe) {
      expect(block.left_alone).toBe(true);
      expect(block.applied_current).toBeLessThanOrEqual(safe_a);
    } else {
      expect(block.left_alone).toBe(false);
      expect(block.applied_current).toBe(32);
    }
  });
});
