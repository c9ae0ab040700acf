// Config sync and the group key at the route level (fastify inject, virtual clock, recorded
// timers): versioning of local writes, pushes accepted/refused with nothing applied on refusal,
// forged, unsigned, replayed, stale and tampered pushes, signed responses, the write-only key,
// the push backoff sequence, and the order of configs.
import { describe, expect, test, beforeAll, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Core } from '../host-node/core.js';
import { Charger } from '../host-node/node/charger.js';
import { build_app } from '../host-node/node/app.js';
import { GroupAuth, h_mac } from '../host-node/station/peer-auth.js';
import { newer, type Timers } from '../host-node/station/config-sync.js';
import { capture_logger } from './helpers/chargers.js';
import { admin_config, with_admin } from './helpers/admin.js';
import { free_port, wait_until } from './helpers/node-proc.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { while (cleanups.length > 0) await cleanups.pop()!(); });

const key = 'correct horse battery staple';
const t0_ms = 1767225600000;

interface Made { charger: Charger; app: FastifyInstance; dir: string; clock: { t_ms: number; now_ms(): number }; lines: string[]; timers: Recorded }

class Recorded implements Timers {
  readonly pending: Array<{ fn: () => void; ms: number; handle: number }> = [];
  readonly delays_ms: number[] = [];
  private next = 1;
  set(fn: () => void, ms: number): unknown { const handle = this.next++; this.pending.push({ fn, ms, handle }); this.delays_ms.push(ms); return handle; }
  clear(handle: unknown): void { const i = this.pending.findIndex((p) => p.handle === handle); if (i >= 0) this.pending.splice(i, 1); }
  fire(): void { const p = this.pending.shift(); p?.fn(); }
}

// Set up with the test admin's password (test/helpers/admin.ts).
async function make(options: { id?: string; peers?: string[]; group_key?: string } = {}): Promise<Made> {
  const dir = mkdtempSync(join(tmpdir(), 'loadshare-cfgroutes-'));
  const clock = { t_ms: t0_ms, now_ms() { return this.t_ms; } };
  const lines: string[] = [];
  const timers = new Recorded();
  const id = options.id ?? 'a';
  const charger = await Charger.create({
    id, host: '127.0.0.1', http_port: 8001, data_dir: dir, core, mdns: false, clock, peers: options.peers,
    log: capture_logger(id, lines), sync_timers: timers,
    config_overrides: { ...admin_config, ...(options.group_key ? { loadsharing_group_key: options.group_key } : {}) },
  });
  const app = await build_app(charger);
  cleanups.push(async () => { await charger.stop(); await app.close(); rmSync(dir, { recursive: true, force: true }); });
  charger.tick();
  return { charger, app, dir, clock, lines, timers };
}

// Writes carry the admin's credentials unless `headers` has an authorization of its own ('' for none).
const json = (app: FastifyInstance, method: 'GET' | 'POST', url: string, payload?: unknown, given: Record<string, string> = {}) => {
  const headers = with_admin(method, given);
  return app.inject({ method, url, payload: payload === undefined ? undefined : typeof payload === 'string' ? payload : JSON.stringify(payload), headers: payload === undefined ? headers : { 'content-type': 'application/json', ...headers } });
};

// A push as a peer sends it: the group fields, the version metadata, the member list.
function push_body(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    loadsharing_group_id: 'garage', loadsharing_group_max_current: 40, loadsharing_safety_factor: 1, loadsharing_heartbeat_timeout: 30,
    loadsharing_failsafe_mode: 'safe_current', loadsharing_failsafe_safe_current: 6, loadsharing_failsafe_peer_assumed_current: 6,
    loadsharing_rotation_interval: 1800, loadsharing_config_version: 10, loadsharing_config_updated_at: 1767225000,
    loadsharing_config_origin: 'b', loadsharing_members: [{ host: '127.0.0.1:8001', id: 'a' }, { host: '127.0.0.1:8002', id: 'b' }],
    ...over,
  };
}

function signed(m: Made, body_text: string, with_key = key, path = '/config', sender = 'b'): Record<string, string> {
  return new GroupAuth(with_key, m.clock).sign_request('POST', path, body_text, sender, 'a').headers;
}

describe('local writes', () => {
  test('a group change bumps the version, stamps updated_at and origin, and is stored; priority and the key do not', async () => {
    const m = await make();
    const v0 = (await json(m.app, 'GET', '/config')).json().loadsharing_config_version;
    m.clock.t_ms += 5000;
    expect((await json(m.app, 'POST', '/config', { loadsharing_group_max_current: 40 })).statusCode).toBe(200);
    const c = (await json(m.app, 'GET', '/config')).json();
    expect(c.loadsharing_config_version).toBe(v0 + 1);
    expect(c.loadsharing_config_updated_at).toBe(Math.floor((t0_ms + 5000) / 1000));
    expect(c.loadsharing_config_origin).toBe('a');
    const stored = JSON.parse(readFileSync(join(m.dir, 'config.json'), 'utf8'));
    expect(stored.loadsharing_config_version).toBe(v0 + 1);
    expect(stored.loadsharing_group_max_current).toBe(40);
    expect((await json(m.app, 'POST', '/config', { loadsharing_priority: 4 })).statusCode).toBe(200);
    expect((await json(m.app, 'POST', '/config', { loadsharing_group_key: key })).statusCode).toBe(200);
    expect((await json(m.app, 'GET', '/config')).json().loadsharing_config_version).toBe(v0 + 1);
    // The hash is the core's (same value the status block and /loadsharing/status carry).
    const s = (await json(m.app, 'GET', '/loadsharing/status')).json();
    expect(s.config_hash).toBe(m.charger.engine.current_config_hash());
    expect(s.config_version).toBe(v0 + 1);
    expect(s.config_origin).toBe('a');
  });

  test('the group key is write-only: never in GET /config, /status, /loadsharing/status or a log line; a short key is refused', async () => {
    const m = await make();
    const short = await json(m.app, 'POST', '/config', { loadsharing_group_key: 'short' });
    expect(short.statusCode).toBe(400);
    expect(short.json().msg).toMatch(/loadsharing_group_key must be empty .* at least 16 characters/);
    expect((await json(m.app, 'POST', '/config', { loadsharing_group_key: key })).statusCode).toBe(200);
    expect(m.charger.group_auth()).not.toBeNull();
    for (const url of ['/config', '/status', '/loadsharing/status', '/loadsharing/peers']) {
      const text = (await json(m.app, 'GET', url)).body;
      expect(text).not.toContain(key);
      expect(text).not.toContain('loadsharing_group_key');
    }
    expect((await json(m.app, 'GET', '/loadsharing/status')).json().auth.mode).toBe('hmac-sha256');
    expect(m.lines.join('\n')).not.toContain(key);
    expect(m.lines.some((l) => l.includes('group key set'))).toBe(true);
    // Cleared: the group is unauthenticated again, and says so.
    expect((await json(m.app, 'POST', '/config', { loadsharing_group_key: '' })).statusCode).toBe(200);
    expect((await json(m.app, 'GET', '/loadsharing/status')).json().auth.mode).toBe('none');
  });
});

describe('pushes (signed with the group key, still checked)', () => {
  // As a peer sends it: marked as a push, signed with the key, without anyone's password.
  const push = (m: Made, over: Record<string, unknown> = {}) => {
    const text = JSON.stringify(push_body(over));
    return json(m.app, 'POST', '/config', text, { ...signed(m, text), 'x-loadshare-push': '1', authorization: '' });
  };

  test('newer is adopted and stored with its members; the same is "no change"; older is 409', async () => {
    const m = await make({ group_key: key });
    const r = await push(m);
    expect(r.statusCode).toBe(200);
    expect(r.json().msg).toBe('done');
    const c = (await json(m.app, 'GET', '/config')).json();
    expect(c).toMatchObject({ loadsharing_group_max_current: 40, loadsharing_config_version: 10, loadsharing_config_origin: 'b', loadsharing_config_updated_at: 1767225000 });
    expect(c.loadsharing_members).toEqual([{ host: '127.0.0.1:8001', id: 'a' }, { host: '127.0.0.1:8002', id: 'b' }]);
    expect(JSON.parse(readFileSync(join(m.dir, 'peers.json'), 'utf8')).peers).toEqual([{ host: '127.0.0.1:8002', id: 'b' }]);
    expect(JSON.parse(readFileSync(join(m.dir, 'config.json'), 'utf8')).loadsharing_config_version).toBe(10);
    expect((await push(m)).json().msg).toBe('no change');
    const older = await push(m, { loadsharing_config_version: 9, loadsharing_group_max_current: 60 });
    expect(older.statusCode).toBe(409);
    expect(older.json().config_version).toBe(10);
    expect((await json(m.app, 'GET', '/config')).json().loadsharing_group_max_current).toBe(40);
  });

  test.each([
    [{ loadsharing_failsafe_safe_current: 50, loadsharing_failsafe_peer_assumed_current: 50 }, /loadsharing_failsafe_safe_current \(50\) must not exceed/],
    [{ loadsharing_safety_factor: 2 }, /loadsharing_safety_factor must be <= 1/],
    [{ loadsharing_group_max_current: '40' }, /loadsharing_group_max_current must be number/],
    [{ www_password: 'x' }, /only group fields; www_password refused/],
    [{ loadsharing_priority: 3 }, /only group fields; loadsharing_priority refused/],
    [{ loadsharing_members: [{ host: 'no spaces allowed', id: 'x' }] }, /loadsharing_members: bad host/],
    [{ loadsharing_config_version: -1 }, /loadsharing_config_version must be a non-negative integer/],
  ])('an invalid push %j: 400, nothing applied or stored', async (over, msg) => {
    const m = await make({ group_key: key });
    const before = (await json(m.app, 'GET', '/config')).body;
    const file_before = readFileSync(join(m.dir, 'config.json'), 'utf8');
    const r = await push(m, over);
    expect(r.statusCode).toBe(400);
    expect(r.json().msg).toMatch(msg);
    expect((await json(m.app, 'GET', '/config')).body).toBe(before);
    expect(readFileSync(join(m.dir, 'config.json'), 'utf8')).toBe(file_before);
  });

  // D2: before, a charger without a key took a push like this one (with a person's password,
  // which its peers passed on) or fetched it from a peer's status.
  test('without a group key a charger is report-only: a push is refused (403), with or without a password; nothing applied', async () => {
    const m = await make();
    const before = (await json(m.app, 'GET', '/config')).body;
    const with_password = await json(m.app, 'POST', '/config', push_body({ loadsharing_group_max_current: 100 }), { 'x-loadshare-push': '1' });
    expect(with_password.statusCode).toBe(403);
    expect(with_password.json().msg).toMatch(/no group key: it is report-only/);
    expect((await json(m.app, 'POST', '/config', push_body({ loadsharing_group_max_current: 100 }), { 'x-loadshare-push': '1', authorization: '' })).statusCode).toBe(401);
    expect((await json(m.app, 'GET', '/config')).body).toBe(before);
    expect((await json(m.app, 'GET', '/loadsharing/status')).json().config_sync).toMatchObject({ enabled: true, active: false });
  });
});

describe('a user posting back what GET /config returned (issue 16)', () => {
  test.each([false, true])('is a user\'s write, never a push (group key: %s): the same document is "no change", an edit of it applies and makes a version', async (keyed) => {
    const m = await make({ group_key: keyed ? key : undefined });
    const doc = (await json(m.app, 'GET', '/config')).json();
    expect(doc.loadsharing_members).toBeDefined();
    const same = await json(m.app, 'POST', '/config', doc);
    expect(same.statusCode).toBe(200);
    expect(same.json().msg).toBe('no change');
    const edited = await json(m.app, 'POST', '/config', { ...doc, loadsharing_group_max_current: 24, charge_mode: 'eco' });
    expect(edited.statusCode).toBe(200);
    expect(edited.json().msg).toBe('done');
    const after = (await json(m.app, 'GET', '/config')).json();
    expect(after).toMatchObject({ loadsharing_group_max_current: 24, charge_mode: 'eco', divert_enabled: true, loadsharing_config_version: doc.loadsharing_config_version + 1, loadsharing_config_origin: 'a' });
    expect(m.charger.engine.poll_status().group_max_current).toBe(24);
  });

  test('a read-only field with another value than GET returned is refused, naming it; nothing applied', async () => {
    const m = await make();
    const doc = (await json(m.app, 'GET', '/config')).json();
    for (const [key, value, msg] of [
      ['loadsharing_config_version', doc.loadsharing_config_version + 3, 'loadsharing_config_version is read-only'],
      ['firmware', 'hacked', 'firmware is read-only'],
      ['loadsharing_members', [], 'loadsharing_members is read-only here: join or remove peers with /loadsharing/peers'],
    ] as const) {
      const r = await json(m.app, 'POST', '/config', { ...doc, loadsharing_group_max_current: 20, [key]: value });
      expect(r.statusCode).toBe(400);
      expect(r.json().msg).toBe(msg);
    }
    expect((await json(m.app, 'GET', '/config')).json()).toEqual(doc);
  });

  test('a push is still a push: marked by the header, by a signature, or by its exact shape', async () => {
    const { is_push } = await import('../host-node/node/config-user-write.js');
    const m = await make();
    const doc = (await json(m.app, 'GET', '/config')).json();
    expect(is_push({}, doc)).toBe(false);
    expect(is_push({}, push_body())).toBe(true);
    expect(is_push({ 'x-loadshare-push': '1' }, { loadsharing_group_max_current: 3 })).toBe(true);
    expect(is_push({ 'x-loadshare-mac': 'ab' }, doc)).toBe(true);
    expect(is_push({}, { ...push_body(), hostname: 'x' })).toBe(false);
  });
});

describe('a member that keeps pushing invalid configs', () => {
  test('each push refused and counted against it; shown in config_issues, then gone after two quiet minutes', async () => {
    const m = await make({ peers: ['127.0.0.1:8002'], group_key: key });
    const body = JSON.stringify(push_body({ loadsharing_safety_factor: 1.5 }));
    for (let i = 0; i < 3; i += 1) {
      const r = await json(m.app, 'POST', '/config', body, signed(m, body));
      expect(r.statusCode).toBe(400);
    }
    const s = (await json(m.app, 'GET', '/loadsharing/status')).json();
    expect(s.config_consistent).toBe(false);
    expect(s.config_issues).toContainEqual({ peer_id: '127.0.0.1:8002', issue: 'invalid_config', local_value: 0, peer_value: 'loadsharing_safety_factor must be <= 1' });
    expect(s.config_sync.members[0]).toMatchObject({ host: '127.0.0.1:8002', invalid_configs: 3 });
    expect(m.lines.filter((l) => l.includes('invalid config push from b refused')).length).toBe(3);
    m.clock.t_ms += 121000;
    expect((await json(m.app, 'GET', '/loadsharing/status')).json().config_issues).toEqual([]);
  });
});

describe('pushes with a group key', () => {
  test('unsigned 401, wrong key / tampered / other path / stale / replayed 403: nothing applied, each counted; a good one is applied', async () => {
    const m = await make({ group_key: key });
    const before = (await json(m.app, 'GET', '/config')).body;
    const body = JSON.stringify(push_body({ loadsharing_group_max_current: 100 }));
    const cases: Array<[string, Record<string, string>, string, number]> = [
      ['unsigned', {}, body, 401],
      ['wrong key', signed(m, body, 'not the group key at all'), body, 403],
      ['tampered body', signed(m, body), body.replace('"loadsharing_group_max_current":100', '"loadsharing_group_max_current":200'), 403],
      ['other path', signed(m, body, key, '/status'), body, 403],
      ['bad nonce', { ...signed(m, body), 'x-loadshare-nonce': 'zz' }, body, 403],
    ];
    m.clock.t_ms -= 31000;
    cases.push(['stale (31 s old)', signed(m, body), body, 403]);
    m.clock.t_ms += 31000;
    for (const [what, headers, text, code] of cases) {
      const r = await json(m.app, 'POST', '/config', text, headers);
      expect(r.statusCode, what).toBe(code);
      expect((await json(m.app, 'GET', '/config')).body, what).toBe(before);
    }
    const s = (await json(m.app, 'GET', '/loadsharing/status')).json();
    expect(s.auth.rejected_total).toBe(cases.length);
    expect(m.lines.some((l) => l.includes('refused (bad signature)'))).toBe(true);
    // A correctly signed push is applied, and its exact replay is refused.
    const good = signed(m, body);
    expect((await json(m.app, 'POST', '/config', body, good)).statusCode).toBe(200);
    expect((await json(m.app, 'GET', '/config')).json().loadsharing_group_max_current).toBe(100);
    const replay = await json(m.app, 'POST', '/config', body, good);
    expect(replay.statusCode).toBe(403);
    expect(replay.json().msg).toMatch(/replayed/);
    expect(m.lines.join('\n')).not.toContain(key);
  });

  test('a signed request gets a signed response (bound to its nonce); an unsigned one does not', async () => {
    const m = await make({ group_key: key });
    const auth = new GroupAuth(key, m.clock);
    const req = auth.sign_request('GET', '/config', '', 'b', 'a');
    const r = await m.app.inject({ method: 'GET', url: '/config', headers: req.headers });
    expect(r.statusCode).toBe(200);
    expect(auth.verify_response(r.headers as Record<string, string>, req.nonce, 200, r.body)).toBeNull();
    // Served for another request (another nonce), or altered: refused.
    expect(auth.verify_response(r.headers as Record<string, string>, 'f'.repeat(32), 200, r.body)).toBe('bad response signature');
    expect(auth.verify_response(r.headers as Record<string, string>, req.nonce, 200, r.body.replace('32', '99'))).toBe('bad response signature');
    const plain = await m.app.inject({ method: 'GET', url: '/config' });
    expect(plain.headers[h_mac]).toBeUndefined();
    // A response signed with another key fails too.
    const other = new GroupAuth('another group key 123', m.clock);
    expect(other.verify_response(r.headers as Record<string, string>, req.nonce, 200, r.body)).toBe('bad response signature');
  });
});

describe('push retries', () => {
  test('an unreachable member: retried after 1, 2, 4 ... s capped at 60 s, without blocking the write; status shows retrying', async () => {
    const dead = `127.0.0.1:${await free_port()}`; // nobody listens there
    const m = await make({ peers: [dead], group_key: key });
    const r = await json(m.app, 'POST', '/config', { loadsharing_group_max_current: 30 });
    expect(r.statusCode).toBe(200); // answered before any push finished
    for (let i = 0; i < 8; i += 1) {
      await wait_until(() => m.timers.pending.length === 1, 5000, `retry ${i + 1} scheduled`);
      if (i === 0) {
        const member = (await json(m.app, 'GET', '/loadsharing/status')).json().config_sync.members[0];
        expect(member).toMatchObject({ host: dead, state: 'retrying', attempts: 1, next_retry_in_ms: 1000, pending_version: 1 });
        expect(member.last_error).toBe('ECONNREFUSED');
      }
      m.timers.fire();
    }
    expect(m.timers.delays_ms).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    // A newer local write restarts the sequence from 1 s.
    await wait_until(() => m.timers.pending.length === 1, 5000, 'next retry');
    expect((await json(m.app, 'POST', '/config', { loadsharing_group_max_current: 31 })).statusCode).toBe(200);
    await wait_until(() => m.timers.delays_ms.length === 10, 5000, 'restart');
    expect(m.timers.delays_ms.at(-1)).toBe(1000);
  });
});

describe('order of configs', () => {
  test('higher version, then later updated_at, then the smaller origin id', () => {
    expect(newer({ version: 3, updated_at: 1, origin: 'z' }, { version: 2, updated_at: 9, origin: 'a' })).toBe(true);
    expect(newer({ version: 2, updated_at: 9, origin: 'z' }, { version: 2, updated_at: 8, origin: 'a' })).toBe(true);
    expect(newer({ version: 2, updated_at: 8, origin: 'a' }, { version: 2, updated_at: 8, origin: 'b' })).toBe(true);
    expect(newer({ version: 2, updated_at: 8, origin: 'b' }, { version: 2, updated_at: 8, origin: 'a' })).toBe(false);
    expect(newer({ version: 2, updated_at: 8, origin: 'a' }, { version: 2, updated_at: 8, origin: 'a' })).toBe(false);
    expect(newer({ version: 1, updated_at: 99, origin: 'a' }, { version: 2, updated_at: 8, origin: 'b' })).toBe(false);
  });
});

describe('signed /ws frames (GroupAuth)', () => {
  test('accepted in order on their session; replayed, reordered, other session, other subscriber, stale, altered or unsigned: refused', () => {
    const clock = { t_ms: t0_ms, now_ms() { return this.t_ms; } };
    const server = new GroupAuth(key, clock);
    const client = new GroupAuth(key, clock);
    const session = 'a'.repeat(32);
    const f1 = JSON.parse(server.sign_frame(session, 1, '{"amp":1}', 'a'));
    const f2 = JSON.parse(server.sign_frame(session, 2, '{"amp":2}', 'a'));
    expect(client.verify_frame(session, 0, f1, 'a')).toEqual({ text: '{"amp":1}', ctr: 1 });
    expect(client.verify_frame(session, 1, f2, 'a')).toEqual({ text: '{"amp":2}', ctr: 2 });
    expect(client.verify_frame(session, 2, f2, 'a')).toBe('replayed frame');
    expect(client.verify_frame(session, 2, f1, 'a')).toBe('replayed frame');
    expect(client.verify_frame('b'.repeat(32), 0, f1, 'a')).toBe('bad frame signature');
    expect(client.verify_frame(session, 0, { ...f1, ls_doc: '{"amp":99}' }, 'a')).toBe('bad frame signature');
    expect(client.verify_frame(session, 0, { amp: 1 }, 'a')).toBe('frame not signed');
    expect(new GroupAuth('some other group key', clock).verify_frame(session, 0, f1, 'a')).toBe('bad frame signature');
    // Signed for subscriber a: another subscriber (b) refuses it, whatever the session.
    expect(client.verify_frame(session, 0, f1, 'b')).toBe('bad frame signature');
    clock.t_ms += 31000;
    const f3 = JSON.parse(server.sign_frame(session, 3, '{"amp":3}', 'a'));
    clock.t_ms -= 31000;
    expect(client.verify_frame(session, 2, f3, 'a')).toBe('stale frame');
  });
});

describe('the page says how the group is protected and synced (ui/src/lib/model.ts)', () => {
  test('no key: "not paired", report-only; a key: "group key", with refusals counted; sync state in words', async () => {
    const { peer_auth_words, config_sync_words } = await import('../ui/src/lib/model.js');
    const m = await make({ peers: ['127.0.0.1:8002'] });
    let s = (await json(m.app, 'GET', '/loadsharing/status')).json();
    expect(peer_auth_words(s)).toEqual({ words: 'not paired: no group key, so this charger is report-only', warn: true });
    expect(config_sync_words(s)).toBe('report-only: nothing is taken from other chargers until this one is paired');
    await json(m.app, 'POST', '/config', { loadsharing_group_key: key });
    await json(m.app, 'POST', '/config', '{}', {}); // unsigned push-less write: not counted
    const body = JSON.stringify(push_body());
    await json(m.app, 'POST', '/config', body, signed(m, body, 'wrong key, long enough'));
    s = (await json(m.app, 'GET', '/loadsharing/status')).json();
    expect(peer_auth_words(s)).toEqual({ words: 'group key; 1 message refused', warn: true });
    expect((await json(m.app, 'POST', '/config', { loadsharing_group_max_current: 30 })).statusCode).toBe(200);
    s = (await json(m.app, 'GET', '/loadsharing/status')).json();
    expect(config_sync_words(s)).toMatch(/^sending to 127\.0\.0\.1:8002$/);
  });
});
