// Secure by default (docs/security.md), tried as someone on the LAN would, with loopback
// traffic only: no credential-less request changes a safety setting; a charger fresh from the
// box has no password and no load sharing until its first-run step, which needs the setup
// code; a stored config from before keeps sharing on and locks writes; failed sign-ins are
// limited per address; text is strict UTF-8 without NUL; the page carries security headers;
// a self-join through an alias is refused; junk /ws frames and reconnect hints cannot flood.
import { describe, expect, test, beforeAll, afterAll, afterEach } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Core } from '../host-node/core.js';
import { Charger } from '../host-node/node/charger.js';
import { GroupAuth } from '../host-node/station/peer-auth.js';
import { is_self_host, parse_endpoint } from '../host-node/node/addresses.js';
import { ReconnectHints } from '../host-node/node/reconnect-hints.js';
import { Fleet, capture_logger, get, until, type Live } from './helpers/chargers.js';
import { admin, admin_auth, basic } from './helpers/admin.js';
import { ensure_dist } from './helpers/dist.js';
import { start_node, stop_node, free_port, http, wait_until, type NodeProc } from './helpers/node-proc.js';
import { cli } from './helpers.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); ensure_dist(); });
let fleet: Fleet | null = null;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await fleet?.close();
  fleet = null;
  while (cleanups.length > 0) await cleanups.pop()!();
});

const none = { authorization: '' };
const setup_code_of = (dir: string): string => JSON.parse(readFileSync(join(dir, 'setup-code.json'), 'utf8')).code;

async function raw(live: Live, method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}, remote = '127.0.0.1') {
  return await live.app.inject({
    method, url, remoteAddress: remote,
    payload: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
  });
}

describe('the default setup: no credential-less request changes a safety setting', () => {
  let fresh: NodeProc;
  const work = mkdtempSync(join(tmpdir(), 'loadshare-sec-'));
  afterAll(async () => { if (fresh) await stop_node(fresh); rmSync(work, { recursive: true, force: true }); });

  test('a charger fresh from the box: no load sharing, every write refused, nothing changes; the setup code is on its "display"', async () => {
    fresh = await start_node({ id: 'fresh', port: await free_port(), data_dir: join(work, 'fresh'), extra_args: ['--no-mdns'], fresh: true });
    const code = setup_code_of(join(work, 'fresh'));
    expect(code).toMatch(/^[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}$/);
    expect(fresh.lines.some((l) => l.includes(`Setup code: ${code}`) && l.includes('load sharing is off'))).toBe(true);
    expect((await http(fresh.base, 'GET', '/setup')).json).toEqual({ admin_password_set: false, loadsharing_enabled: false });
    const config_before = (await http(fresh.base, 'GET', '/config')).json;
    const status_before = (await http(fresh.base, 'GET', '/loadsharing/status')).json;
    const file_before = readFileSync(join(work, 'fresh', 'config.json'), 'utf8');
    const attempts: Array<[string, string, unknown]> = [
      ['POST', '/config', { loadsharing_group_max_current: 1000 }],
      ['POST', '/config', { loadsharing_enabled: true, loadsharing_group_max_current: 1000 }],
      ['POST', '/config', { loadsharing_safety_factor: 1, loadsharing_failsafe_mode: 'safe_current', loadsharing_failsafe_safe_current: 32, loadsharing_failsafe_peer_assumed_current: 32 }],
      // A config push as a peer sends it (a newer version, a higher limit, a new member list).
      ['POST', '/config', {
        loadsharing_group_id: 'x', loadsharing_group_max_current: 1000, loadsharing_safety_factor: 1, loadsharing_heartbeat_timeout: 30,
        loadsharing_failsafe_mode: 'safe_current', loadsharing_failsafe_safe_current: 6, loadsharing_failsafe_peer_assumed_current: 6,
        loadsharing_rotation_interval: 0, loadsharing_config_version: 99, loadsharing_config_updated_at: 1900000000,
        loadsharing_config_origin: 'evil', loadsharing_members: [{ host: '127.0.0.1:9', id: 'evil' }],
      }],
      ['POST', '/config', { www_username: 'evil', www_password: 'evil password' }],
      ['POST', '/loadsharing/peers', { host: '127.0.0.1:9' }],
      ['POST', '/loadsharing/peers', { host: '127.0.0.1:9', reciprocal: false }],
    ];
    for (const [method, path, body] of attempts) {
      for (const headers of [none, { authorization: basic('admin', 'admin') }]) {
        const r = await http(fresh.base, method, path, body, headers);
        expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(401);
        expect(r.json.msg).toMatch(/No admin password is set/);
      }
    }
    expect((await http(fresh.base, 'GET', '/config')).json).toEqual(config_before);
    expect(readFileSync(join(work, 'fresh', 'config.json'), 'utf8')).toBe(file_before);
    const status_after = (await http(fresh.base, 'GET', '/loadsharing/status')).json;
    expect(status_after.effective_limit).toBe(status_before.effective_limit);
    expect(status_after.peers).toEqual([]);
    expect(existsSync(join(work, 'fresh', 'peers.json')) ? JSON.parse(readFileSync(join(work, 'fresh', 'peers.json'), 'utf8')).peers : []).toEqual([]);
  }, 600000);

  test('the first-run step: the setup code sets the password once; then writes need it and load sharing can be switched on', async () => {
    const dir = join(work, 'fresh');
    const code = setup_code_of(dir);
    const body = { www_username: 'homeowner', www_password: 'my own password' };
    const missing = await http(fresh.base, 'POST', '/setup', body, none);
    expect(missing.status).toBe(401);
    expect(missing.json.msg).toMatch(/Missing setup code/);
    const wrong = await http(fresh.base, 'POST', '/setup', body, { ...none, 'x-loadshare-setup-code': 'AAAAA-AAAAA' });
    expect(wrong.status).toBe(403);
    expect((await http(fresh.base, 'POST', '/setup', { ...body, www_password: 'short' }, { ...none, 'x-loadshare-setup-code': code })).json.msg)
      .toBe('www_password must NOT have fewer than 8 characters');
    expect((await http(fresh.base, 'GET', '/setup')).json.admin_password_set).toBe(false);
    // Typed as a person would: lower case, no dash.
    const ok = await http(fresh.base, 'POST', '/setup', body, { ...none, 'x-loadshare-setup-code': code.toLowerCase().replace('-', '') });
    expect(ok.status).toBe(200);
    expect(existsSync(join(dir, 'setup-code.json'))).toBe(false);
    expect((await http(fresh.base, 'GET', '/setup')).json).toEqual({ admin_password_set: true, loadsharing_enabled: false });
    expect((await http(fresh.base, 'POST', '/setup', body, { ...none, 'x-loadshare-setup-code': code })).status).toBe(409);
    // Now a person with the password, and only they, can switch load sharing on and set the limit.
    const mine = { authorization: basic('homeowner', 'my own password') };
    expect((await http(fresh.base, 'POST', '/config', { loadsharing_enabled: true, loadsharing_group_max_current: 24 }, none)).status).toBe(401);
    expect((await http(fresh.base, 'POST', '/config', { loadsharing_enabled: true, loadsharing_group_max_current: 24 }, mine)).status).toBe(200);
    expect((await http(fresh.base, 'GET', '/config')).json).toMatchObject({ loadsharing_enabled: true, loadsharing_group_max_current: 24, www_username: 'homeowner', www_password: '_DUMMY_PASSWORD' });
    expect(fresh.lines.join('\n')).not.toContain('my own password');
  }, 600000);

  test('load sharing cannot be switched on from --config without an admin password', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loadshare-sec-cli-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'on.json'), JSON.stringify({ loadsharing_enabled: true, loadsharing_group_max_current: 40 }));
    const r = cli(['node', '--id', 'x', '--http-port', '1', '--data-dir', join(dir, 'data'), '--no-mdns', '--config', join(dir, 'on.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/loadsharing_enabled needs an admin password first/);
  });

  test('a group without a key (from before pairing), set up with passwords: a credential-less raise and a credential-less push change nothing anywhere; it is report-only', async () => {
    fleet = new Fleet(core);
    const [pa, pb] = [await fleet.port(), await fleet.port()];
    const group = { loadsharing_group_id: 'garage', loadsharing_heartbeat_timeout: 5 };
    const a = await fleet.make('a', { peers: [`127.0.0.1:${pb}`], config_overrides: group }, pa);
    const b = await fleet.make('b', { peers: [`127.0.0.1:${pa}`], config_overrides: group }, pb);
    await until('a and b online and consistent', async () => {
      const s = await get(a, '/loadsharing/status');
      return s.config_consistent && s.allocations.find((x: { id: string }) => x.id === 'b')?.online === true;
    }, [a, b]);
    const raise = await raw(a, 'POST', '/config', { loadsharing_group_max_current: 1000 });
    expect(raise.statusCode).toBe(401);
    const current = await get(a, '/config');
    const push = await raw(a, 'POST', '/config', {
      loadsharing_group_id: 'garage', loadsharing_group_max_current: 1000, loadsharing_safety_factor: 1, loadsharing_heartbeat_timeout: 5,
      loadsharing_failsafe_mode: 'safe_current', loadsharing_failsafe_safe_current: 6, loadsharing_failsafe_peer_assumed_current: 6,
      loadsharing_rotation_interval: 1800, loadsharing_config_version: current.loadsharing_config_version + 5,
      loadsharing_config_updated_at: current.loadsharing_config_updated_at + 60, loadsharing_config_origin: 'evil',
      loadsharing_members: current.loadsharing_members,
    });
    expect(push.statusCode).toBe(401);
    // Without a key a charger is report-only (issue 15 D2): the owner's change stays on a (no
    // peer may carry it: b cannot tell a from a forgery), and b shares by the stricter limit
    // it hears from a, never by adopting it.
    expect((await raw(a, 'POST', '/config', { loadsharing_group_max_current: 28 }, admin_auth)).statusCode).toBe(200);
    await until('b limits to 28 A', async () => (await get(b, '/loadsharing/status')).effective_limit === 28, [a, b]);
    expect((await get(a, '/config')).loadsharing_group_max_current).toBe(28);
    expect((await get(b, '/config')).loadsharing_group_max_current).toBe(32);
    expect((await get(b, '/loadsharing/status')).config_sync).toMatchObject({ enabled: true, active: false });
    for (const l of [a, b]) expect((await get(l, '/loadsharing/status')).effective_limit).toBeLessThanOrEqual(28);
  }, 600000);
});

describe('an update: a stored config from before keeps load sharing on and locks writes until the first-run step', () => {
  test('sharing stays in force as stored; writes are refused; the setup code unlocks them; a keyed group keeps syncing by its key', async () => {
    fleet = new Fleet(core);
    const [pa, pb] = [await fleet.port(), await fleet.port()];
    const key = 'the key of the old garage group';
    // As a charger of the last release stored it: no loadsharing_enabled (it defaulted to on), no password.
    const stored = (peer: number) => ({
      loadsharing_group_id: 'old', loadsharing_group_max_current: 20, loadsharing_heartbeat_timeout: 5, loadsharing_group_key: key,
      loadsharing_config_version: 3, loadsharing_config_updated_at: 1767225600, loadsharing_config_origin: 'a', _peer: peer,
    });
    const make = async (id: string, port: number, peer: number) => {
      const { _peer, ...config } = stored(peer);
      const live = await fleet!.make(id, { fresh: true, stored_config: config, peers: [`127.0.0.1:${_peer}`] }, port);
      return live;
    };
    const a = await make('a', pa, pb);
    const b = await make('b', pb, pa);
    for (const l of [a, b]) {
      expect(await get(l, '/setup')).toEqual({ admin_password_set: false, loadsharing_enabled: true });
      expect(l.lines.some((x) => x.includes('load sharing stays on as stored'))).toBe(true);
    }
    await until('a and b share 20 A', async () => (await get(a, '/loadsharing/status')).effective_limit === 20
      && (await get(a, '/loadsharing/status')).allocations.find((x: { id: string }) => x.id === 'b')?.online === true, [a, b]);
    // Locked: neither a raise nor switching sharing off (which would raise the current) is taken.
    for (const body of [{ loadsharing_group_max_current: 100 }, { loadsharing_enabled: false }]) {
      const r = await raw(a, 'POST', '/config', body);
      expect(r.statusCode).toBe(401);
      expect(r.json().msg).toMatch(/No admin password/);
    }
    expect((await get(a, '/config')).loadsharing_enabled).toBe(true);
    // The owner at a reads the code off its display and sets a password; then changes the limit.
    const code = a.lines.map((l) => /Setup code: (\S+)/.exec(l)?.[1]).find((c) => c !== undefined)!;
    expect(code).toBe(setup_code_of(a.dir));
    expect((await raw(a, 'POST', '/setup', { www_username: admin.username, www_password: admin.password }, { 'x-loadshare-setup-code': code })).statusCode).toBe(200);
    expect((await raw(a, 'POST', '/config', { loadsharing_group_max_current: 16 }, admin_auth)).statusCode).toBe(200);
    // b has no password yet, but the push is signed with the group key: the key authorises it.
    await until('b adopts 16 A by the key', async () => (await get(b, '/config')).loadsharing_group_max_current === 16, [a, b]);
    expect((await get(b, '/setup')).admin_password_set).toBe(false);
  }, 600000);
});

describe('failed sign-ins are limited per client address', () => {
  test('after 10 wrong passwords an address gets 429 for every sign-in, right or wrong; another address does not', async () => {
    fleet = new Fleet(core);
    const a = await fleet.make('a', { listen: false });
    const wrong = { authorization: basic(admin.username, 'guess') };
    for (let i = 0; i < 10; i++) expect((await raw(a, 'POST', '/config', { loadsharing_priority: 1 }, wrong, '192.0.2.7')).statusCode).toBe(401);
    for (const headers of [wrong, admin_auth]) {
      const r = await raw(a, 'POST', '/config', { loadsharing_priority: 2 }, headers, '192.0.2.7');
      expect(r.statusCode).toBe(429);
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(r.json().msg).toMatch(/^Too many failed sign-ins from this address: try again in \d+ s$/);
    }
    // The same address in its IPv4-mapped IPv6 spelling is the same address.
    expect((await raw(a, 'POST', '/config', { loadsharing_priority: 2 }, admin_auth, '::ffff:192.0.2.7')).statusCode).toBe(429);
    expect((await get(a, '/config')).loadsharing_priority).toBe(0);
    expect((await raw(a, 'POST', '/config', { loadsharing_priority: 3 }, admin_auth, '192.0.2.8')).statusCode).toBe(200);
    // Requests without credentials are no guesses: not limited (and still refused).
    expect((await raw(a, 'POST', '/config', { loadsharing_priority: 4 }, {}, '192.0.2.7')).statusCode).toBe(401);
    // A flood of guesses is a few log lines, not one per guess.
    expect(a.lines.filter((l) => l.includes('refused, wrong credentials')).length).toBeLessThanOrEqual(4);
  });

  test('wrong setup codes count too', async () => {
    fleet = new Fleet(core);
    const a = await fleet.make('a', { listen: false, fresh: true });
    const body = { www_username: 'owner', www_password: 'owner password' };
    for (let i = 0; i < 10; i++) expect((await raw(a, 'POST', '/setup', body, { 'x-loadshare-setup-code': `WRONG-${i}` }, '192.0.2.9')).statusCode).toBe(403);
    expect((await raw(a, 'POST', '/setup', body, { 'x-loadshare-setup-code': setup_code_of(a.dir) }, '192.0.2.9')).statusCode).toBe(429);
    expect((await get(a, '/setup')).admin_password_set).toBe(false);
    expect((await raw(a, 'POST', '/setup', body, { 'x-loadshare-setup-code': setup_code_of(a.dir) }, '192.0.2.10')).statusCode).toBe(200);
  });
});

describe('strict text', () => {
  test('invalid UTF-8, a lone surrogate or NUL in a text field: 400 with a message, nothing applied; real Unicode is kept', async () => {
    fleet = new Fleet(core);
    const a = await fleet.make('a', { listen: false });
    const before = await get(a, '/config');
    const bad_bytes = Buffer.concat([Buffer.from('{"loadsharing_group_id": "Garage '), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const cases: Array<[string | Buffer, string]> = [
      [bad_bytes, 'Invalid UTF-8 in the request body'],
      [Buffer.from([0x7b, 0x22, 0x77, 0x69, 0x66, 0x69, 0x5f, 0x73, 0x65, 0x72, 0x69, 0x61, 0x6c, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), 'Invalid UTF-8 in the request body'],
      ['{"loadsharing_group_id": "Garage \\ud800"}', 'loadsharing_group_id is not valid Unicode text (a lone surrogate cannot be stored as UTF-8)'],
      ['{"hostname": "a", "wifi_serial": "\\udc00x"}', 'wifi_serial is not valid Unicode text (a lone surrogate cannot be stored as UTF-8)'],
      ['{"loadsharing_group_id": "Garage\\u0000"}', 'loadsharing_group_id must not contain NUL characters'],
      ['{"mqtt_server": "broker\\u0000"}', 'mqtt_server must not contain NUL characters'],
    ];
    for (const [payload, msg] of cases) {
      const r = await raw(a, 'POST', '/config', payload, admin_auth);
      expect(r.statusCode, msg).toBe(400);
      expect(r.json().msg).toBe(msg);
    }
    // The same in the first-run step and in a join.
    expect((await raw(a, 'POST', '/loadsharing/peers', Buffer.concat([Buffer.from('{"host": "'), Buffer.from([0xfe]), Buffer.from('"}')]), admin_auth)).json().msg).toBe('Invalid UTF-8 in the request body');
    expect(await get(a, '/config')).toEqual(before);
    const ok = await raw(a, 'POST', '/config', { loadsharing_group_id: 'Garage Süd 🚗' }, admin_auth);
    expect(ok.statusCode).toBe(200);
    expect((await get(a, '/config')).loadsharing_group_id).toBe('Garage Süd 🚗');
  });
});

describe('the page and unknown routes', () => {
  test('security headers on the page and the API: no framing, a CSP, no sniffing', async () => {
    fleet = new Fleet(core);
    const a = await fleet.make('a', { listen: false });
    for (const url of ['/', '/status', '/nope']) {
      const r = await raw(a, 'GET', url);
      expect(r.headers['x-frame-options'], url).toBe('DENY');
      const csp = String(r.headers['content-security-policy']);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'self'");
      expect(csp).not.toContain('upgrade-insecure-requests');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['strict-transport-security']).toBeUndefined();
    }
  });

  test('an unknown path is 404 with only an error message; a known path with another method is 405 with Allow', async () => {
    fleet = new Fleet(core);
    const a = await fleet.make('a', { listen: false });
    for (const url of ['/nope', '/status/', '/STATUS', '/config.json', '/loadsharing', '/index.htm', '/assets/nope.js']) {
      const r = await raw(a, 'GET', url);
      expect(r.statusCode, url).toBe(404);
      expect(r.json()).toEqual({ msg: 'Not found' });
      expect(r.headers['cache-control']).toBe('no-store');
    }
    const put = await a.app.inject({ method: 'PUT', url: '/config', payload: '{}', headers: { 'content-type': 'application/json', ...admin_auth } });
    expect(put.statusCode).toBe(405);
    expect(put.headers.allow).toBe('GET, HEAD, POST');
    // A method fastify expects a body with, sent without a content type: still 405, not a parser error.
    const query = await a.app.inject({ method: 'QUERY' as 'GET', url: '/loadsharing/status' });
    expect(query.statusCode).toBe(405);
    expect((await raw(a, 'GET', '/ws')).statusCode).toBe(426);
    const long = await raw(a, 'DELETE', `/loadsharing/peers/${'a'.repeat(600)}`, undefined, admin_auth);
    expect(long.statusCode).toBe(414);
    expect(long.json()).toEqual({ msg: 'URI Too Long' });
    const longish = await raw(a, 'DELETE', `/loadsharing/peers/${'a'.repeat(300)}`, undefined, admin_auth);
    expect(longish.statusCode).toBe(400);
    expect(longish.json().msg).toBe('host must NOT have more than 253 characters');
  });
});

describe('a self-join through an alias is refused', () => {
  test('127.1, 0.0.0.0, [::ffff:127.0.0.1], 2130706433, LOCALHOST, the hostname: 400, no phantom member', async () => {
    fleet = new Fleet(core);
    const port = await fleet.port();
    const a = await fleet.make('a', { listen: false }, port);
    const aliases = [`127.1:${port}`, `0.0.0.0:${port}`, `0:${port}`, `[::ffff:127.0.0.1]:${port}`, `[0:0:0:0:0:ffff:7f00:1]:${port}`,
      `2130706433:${port}`, `0x7f.0.0.1:${port}`, `127.000.000.001:${port}`, `LOCALHOST:${port}`, `localhost.:${port}`, `a.local:${port}`, `A.LOCAL:${port}`, '127.0.0.1'];
    for (const host of aliases) {
      const r = await raw(a, 'POST', '/loadsharing/peers', { host }, admin_auth);
      expect(r.statusCode, host).toBe(400);
      expect(r.json().msg).toBe('Cannot add local device as peer');
    }
    expect(await get(a, '/loadsharing/peers')).toEqual([]);
    a.charger.tick();
    expect((await get(a, '/loadsharing/status')).allocations.map((x: { id: string }) => x.id)).toEqual(['a']);
    // Another port, or another loopback address we do not listen on, is someone else.
    expect((await raw(a, 'POST', '/loadsharing/peers', { host: `127.0.0.1:${port + 1}`, reciprocal: false }, admin_auth)).statusCode).toBe(200);
    expect((await raw(a, 'POST', '/loadsharing/peers', { host: `127.0.0.2:${port}`, reciprocal: false }, admin_auth)).statusCode).toBe(200);
  });

  test('a self-join stored before the update is dropped at start', async () => {
    fleet = new Fleet(core);
    const port = await fleet.port();
    const dir = mkdtempSync(join(tmpdir(), 'loadshare-sec-selfpeer-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'peers.json'), JSON.stringify({ peers: [{ host: `127.1:${port}`, id: null }, { host: `127.0.0.1:${port + 1}`, id: null }] }));
    const lines: string[] = [];
    const charger = await Charger.create({ id: 'a', host: '127.0.0.1', http_port: port, data_dir: dir, core, mdns: false, log: capture_logger('a', lines) });
    cleanups.push(() => charger.stop());
    expect(charger.peer_records().map((p) => p.host)).toEqual([`127.0.0.1:${port + 1}`]);
    expect(lines.some((l) => l.includes(`stored peer 127.1:${port} is this charger; dropped`))).toBe(true);
  });

  test('addresses are compared as a client would connect to them', () => {
    expect(parse_endpoint('[::ffff:7f00:1]:80')).toEqual({ address: '127.0.0.1', family: 4, port: 80 });
    expect(parse_endpoint('Charger-1.Local.')).toEqual({ address: 'charger-1.local', family: 0, port: null });
    expect(parse_endpoint('http://x/')).toBeNull();
    const on_all = { listen_host: '0.0.0.0', port: 8001, names: ['garage'] };
    expect(is_self_host('127.0.0.5:8001', on_all)).toBe(true);
    expect(is_self_host('[::1]:8001', on_all)).toBe(true);
    expect(is_self_host('127.0.0.5:8002', on_all)).toBe(false);
    expect(is_self_host('192.0.2.1:8001', on_all)).toBe(false);
    const on_lan = { listen_host: '192.0.2.10', port: 8001, names: ['garage'] };
    expect(is_self_host('192.0.2.10:8001', on_lan)).toBe(true);
    expect(is_self_host('[::ffff:192.0.2.10]:8001', on_lan)).toBe(true);
    expect(is_self_host('0.0.0.0:8001', on_lan)).toBe(true);
    expect(is_self_host('garage:8001', on_lan)).toBe(true);
    expect(is_self_host('192.0.2.11:8001', on_lan)).toBe(false);
    expect(is_self_host('127.0.0.1:8001', on_lan)).toBe(false);
  });
});

describe('the /ws stream cannot be used to flood', () => {
  test('2,200 junk frames on one connection are a dozen log lines; the connection still answers', async () => {
    fleet = new Fleet(core);
    const a = await fleet.make('a');
    const ws = new WebSocket(`ws://${a.host}/ws`);
    const pongs: unknown[] = [];
    ws.on('message', (d) => { const m = JSON.parse(d.toString()); if (m.pong) pongs.push(m); });
    await new Promise((resolve) => ws.once('open', resolve));
    for (let i = 0; i < 2200; i++) ws.send(i % 2 === 0 ? `junk ${i}` : Buffer.from([i & 255]));
    ws.send(JSON.stringify({ ping: 1 }));
    await until('the pong after the junk', () => pongs.length === 1, [a]);
    ws.close();
    const lines = a.lines.filter((l) => l.includes('client frame ignored'));
    expect(lines.length).toBe(12); // the 1st, 2nd, 4th … 2048th
    expect(lines.at(-1)).toContain('(2048 times so far)');
  });

  test('reconnect hints: without a key at most one per peer per 10 s; with a key only on a signed handshake', async () => {
    // The peer is down (a closed port): the link waits in a long backoff.
    const dead: Server = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const dead_port = (dead.address() as { port: number }).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const peer = `127.0.0.1:${dead_port}`;
    fleet = new Fleet(core);
    const a = await fleet.make('a', { peers: [peer], backoff_initial_ms: 60000, backoff_max_ms: 60000 });
    await until('the link backs off', () => a.lines.some((l) => l.includes(peer)), [a]);
    const retries = () => a.lines.filter((l) => l.includes('it reached us; retrying now')).length;
    const hint = async (headers: Record<string, string>) => {
      const ws = new WebSocket(`ws://${a.host}/ws`, { headers: { 'x-loadshare-host': peer, ...headers } });
      await new Promise((resolve) => ws.once('message', resolve));
      ws.close();
      await new Promise((r) => setTimeout(r, 20));
    };
    for (let i = 0; i < 30; i++) await hint({});
    await wait_until(() => retries() >= 1, 5000, 'the first hint taken');
    expect(retries()).toBe(1);

    // With a key: unsigned hints are ignored, a signed one is taken.
    const key = 'the group key for the hints test';
    expect((await raw(a, 'POST', '/config', { loadsharing_group_key: key }, admin_auth)).statusCode).toBe(200);
    const before = retries();
    for (let i = 0; i < 10; i++) await hint({});
    expect(retries()).toBe(before);
    const signed = new GroupAuth(key, { now_ms: () => Date.now() }).sign_request('GET', '/ws', '', 'b', 'a').headers;
    await hint(signed);
    await wait_until(() => retries() === before + 1, 5000, 'the signed hint taken');
    // The same signed handshake again (a replay) is refused: no hint.
    await hint(signed);
    expect(retries()).toBe(before + 1);
  });

  test('the hint gate alone: one per host per interval, on a virtual clock', () => {
    let now_ms = 0;
    const hints = new ReconnectHints(() => now_ms, 10000);
    expect(hints.accept('h:1', false, false)).toBe(true);
    expect(hints.accept('h:1', false, false)).toBe(false);
    expect(hints.accept('h:2', false, false)).toBe(true);
    now_ms = 9999;
    expect(hints.accept('h:1', false, false)).toBe(false);
    now_ms = 10000;
    expect(hints.accept('h:1', false, false)).toBe(true);
    expect(hints.accept('h:1', true, false)).toBe(false);
    expect(hints.accept('h:1', true, true)).toBe(true);
  });
});
