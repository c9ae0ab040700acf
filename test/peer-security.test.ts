// Issue 15 on real chargers over loopback (real HTTP and /ws), in the default setup: a group
// formed by pairing (the key made by the first join, handed over with the newcomer's admin
// password). An attacker on the LAN — a fake peer that got joined, a captured push, a replayed
// or misdirected frame, a request without credentials — changes nothing; and no charger sends
// a peer its admin password (D1).
import { describe, expect, test, beforeAll, afterAll } from 'vitest';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { Core } from '../host-node/core.js';
import { GroupAuth } from '../host-node/station/peer-auth.js';
import { Fleet, get, post, until, type Live } from './helpers/chargers.js';
import { admin, admin_auth } from './helpers/admin.js';
import { free_port } from './helpers/node-proc.js';

let core: Core;
let fleet: Fleet;
let a: Live;
let b: Live;
let c: Live;
let key: string;
const group = { loadsharing_group_id: 'garage', loadsharing_heartbeat_timeout: 5 };
const cfg = async (l: Live) => await get(l, '/config');
const ls = async (l: Live) => await get(l, '/loadsharing/status');
const pairing = (host: string) => ({ host, username: admin.username, password: admin.password });

// What a charger must not be talked out of: its config and its effective limit.
async function snapshot(l: Live): Promise<string> {
  const s = await ls(l);
  return JSON.stringify({ config: await cfg(l), effective_limit: s.effective_limit });
}

beforeAll(async () => {
  core = await Core.load();
  fleet = new Fleet(core);
  a = await fleet.make('a', { config_overrides: group });
  b = await fleet.make('b', { config_overrides: group });
  c = await fleet.make('c', { config_overrides: group });
  // The default setup: no key anywhere; the first pairing makes one.
  expect((await cfg(a)).loadsharing_group_key).toBeUndefined(); // write-only
  expect((await ls(a)).auth.mode).toBe('none');
  expect((await post(a, '/loadsharing/peers', pairing(b.host))).json).toEqual({ msg: 'paired' });
  expect((await post(a, '/loadsharing/peers', pairing(c.host))).json).toEqual({ msg: 'paired' });
  key = a.charger.raw_config().loadsharing_group_key;
  await until('a, b, c online everywhere, one config', async () => {
    const s = await Promise.all([a, b, c].map(ls));
    return s.every((x) => x.config_consistent && x.online_count === 3 && x.auth.mode === 'hmac-sha256' && x.config_sync.active);
  }, [a, b, c], 20000);
}, 600000);

afterAll(async () => { await fleet?.close(); });

describe('the default setup: a paired group', () => {
  test('every charger holds the same key (made at the first join), shown nowhere', async () => {
    for (const l of [b, c]) expect(l.charger.raw_config().loadsharing_group_key).toBe(key);
    for (const l of [a, b, c]) {
      for (const path of ['/config', '/status', '/loadsharing/status', '/loadsharing/peers']) expect(JSON.stringify(await get(l, path))).not.toContain(key);
      expect(l.lines.join('\n')).not.toContain(key);
    }
  });

  // D1: before, a charger sent `authorization: Basic <its admin password>` on its GET /status,
  // its /ws handshake and every push to a peer, whoever answered at that address.
  test('D1 and a forged peer: a fake charger joined to the group learns no password, is never heard, and its "version 50, 100 A" is never adopted', async () => {
    const port = await free_port();
    const seen: Array<{ what: string; headers: IncomingHttpHeaders }> = [];
    let config_reads = 0;
    const forged_status = { amp: 0, voltage: 240, pilot: 32, state: 1, vehicle: 0, max_current: 32,
      loadsharing: { id: 'evil', seen: ['evil', 'a'], config_version: 50, config_hash: 'f'.repeat(64), group_max_current: 100, safety_factor: 1, degraded: false } };
    const fake: Server = createServer((req, res) => {
      seen.push({ what: `${req.method} ${req.url}`, headers: req.headers });
      res.setHeader('content-type', 'application/json');
      if (req.url === '/config' && req.method === 'GET') {
        config_reads += 1;
        res.end(JSON.stringify({ loadsharing_group_id: 'garage', loadsharing_group_max_current: 100, loadsharing_config_version: 50 }));
        return;
      }
      res.end(JSON.stringify(req.method === 'GET' ? forged_status : { msg: 'done' }));
    });
    const wss = new WebSocketServer({ server: fake });
    wss.on('connection', (socket, req) => {
      seen.push({ what: 'upgrade /ws', headers: req.headers });
      socket.send(JSON.stringify(forged_status));
      socket.send(JSON.stringify({ amp: 0, uptime: 5 }));
    });
    await new Promise<void>((r) => fake.listen(port, '127.0.0.1', r));
    try {
      const before_b = await snapshot(b);
      // A person joined it (tricked, or it took over a member's address).
      expect((await post(a, '/loadsharing/peers', { host: `127.0.0.1:${port}`, reciprocal: false })).status).toBe(200);
      // A change on a goes to every member, the fake too.
      expect((await post(a, '/config', { loadsharing_group_max_current: 30 })).status).toBe(200);
      // (Its unsigned GET /status answer is refused, so the link never goes on to /ws.)
      await until('the fake was asked for its status twice and got a push', () =>
        seen.filter((s) => s.what === 'GET /status').length >= 2 && seen.some((s) => s.what === 'POST /config'), [a]);
      expect(seen.some((s) => s.what === 'upgrade /ws')).toBe(false);
      for (const s of seen) {
        expect(s.headers.authorization, s.what).toBeUndefined();
        expect(JSON.stringify(s.headers)).not.toContain(Buffer.from(`${admin.username}:${admin.password}`).toString('base64'));
        expect(s.headers['x-loadshare-mac'], s.what).toMatch(/^[0-9a-f]{64}$/);
        expect(s.headers['x-loadshare-to'], s.what).toBe(`127.0.0.1:${port}`);
      }
      await until('b and c took 30 A from a', async () => (await cfg(b)).loadsharing_group_max_current === 30 && (await cfg(c)).loadsharing_group_max_current === 30, [a, b, c]);
      const sa = await ls(a);
      const fake_row = sa.allocations.find((x: { id: string }) => x.id !== 'a' && x.id !== 'b' && x.id !== 'c');
      expect(fake_row).toMatchObject({ online: false });
      expect(fake_row.reserved_current).toBeGreaterThan(0);
      expect(sa.peers.find((p: { host: string }) => p.host === `127.0.0.1:${port}`).refused).toMatch(/not paired/);
      expect(config_reads).toBe(0);
      expect((await cfg(a)).loadsharing_config_version).toBeLessThan(50);
      expect(JSON.parse(before_b).config.loadsharing_config_version).toBeLessThan((await cfg(b)).loadsharing_config_version);
      for (const l of [a, b, c]) expect((await ls(l)).effective_limit).toBeLessThanOrEqual(30);
    } finally {
      for (const client of wss.clients) client.terminate();
      wss.close();
      fake.closeAllConnections();
      await new Promise<void>((r) => fake.close(() => r()));
      await a.app.inject({ method: 'DELETE', url: `/loadsharing/peers/${encodeURIComponent(`127.0.0.1:${port}`)}?reciprocal=false`, headers: admin_auth });
    }
  });

  test('a credential-less POST /config raising the limit, and a credential-less push, change nothing', async () => {
    const before = await Promise.all([a, b, c].map(snapshot));
    const current = await cfg(b);
    const raise = await b.app.inject({ method: 'POST', url: '/config', payload: { loadsharing_group_max_current: 1000 } });
    expect(raise.statusCode).toBe(401);
    const push = { ...Object.fromEntries(Object.entries(current).filter(([k]) => k.startsWith('loadsharing_') && !['loadsharing_priority', 'loadsharing_enabled'].includes(k))),
      loadsharing_group_max_current: 1000, loadsharing_config_version: current.loadsharing_config_version + 10, loadsharing_config_origin: 'evil' };
    for (const headers of [{ 'x-loadshare-push': '1' }, {}]) {
      const r = await b.app.inject({ method: 'POST', url: '/config', payload: push, headers });
      expect(r.statusCode, JSON.stringify(headers)).toBe(401);
    }
    expect(await Promise.all([a, b, c].map(snapshot))).toEqual(before);
  });

  test('a captured push replayed (to its charger, or to another one) and a request signed for another charger change nothing', async () => {
    const now = { now_ms: () => Date.now() };
    const current = await cfg(b);
    const doc = { ...Object.fromEntries(Object.entries(current).filter(([k]) => k.startsWith('loadsharing_') && !['loadsharing_priority', 'loadsharing_enabled'].includes(k))),
      loadsharing_group_max_current: 26, loadsharing_config_version: current.loadsharing_config_version + 1, loadsharing_config_updated_at: current.loadsharing_config_updated_at + 1, loadsharing_config_origin: 'a' };
    const text = JSON.stringify(doc);
    // a's genuine push to b: taken once.
    const genuine = new GroupAuth(key, now).sign_request('POST', '/config', text, 'a', 'b');
    const send = (l: Live, headers: Record<string, string>) => l.app.inject({ method: 'POST', url: '/config', payload: text, headers: { 'content-type': 'application/json', 'x-loadshare-push': '1', ...headers } });
    expect((await send(b, genuine.headers)).statusCode).toBe(200);
    await until('the group at 26 A', async () => (await cfg(a)).loadsharing_group_max_current === 26 && (await cfg(c)).loadsharing_group_max_current === 26, [a, b, c]);
    const before = await Promise.all([a, b, c].map(snapshot));
    const replay = await send(b, genuine.headers);
    expect(replay.statusCode).toBe(403);
    expect(replay.json().msg).toMatch(/replayed/);
    // The same bytes, raised, signed for b, sent to c: refused there.
    const raised = JSON.stringify({ ...doc, loadsharing_group_max_current: 1000, loadsharing_config_version: doc.loadsharing_config_version + 5 });
    const for_b = new GroupAuth(key, now).sign_request('POST', '/config', raised, 'a', 'b');
    const misdirected = await c.app.inject({ method: 'POST', url: '/config', payload: raised, headers: { 'content-type': 'application/json', ...for_b.headers } });
    expect(misdirected.statusCode).toBe(403);
    expect(misdirected.json().msg).toMatch(/signed for another charger/);
    expect(await Promise.all([a, b, c].map(snapshot))).toEqual(before);
  });

  test('a replayed /ws frame and a frame signed for another charger are refused; the view stays', async () => {
    // A genuine signed session from b to a: a's own handshake, on a real socket.
    const request = a.charger.station.link_request(b.host, '/ws')!;
    const frames: string[] = [];
    const socket = new WebSocket(`ws://${b.host}/ws`, { headers: request.headers });
    await new Promise<void>((resolve, reject) => {
      socket.on('message', (data) => { frames.push(data.toString()); if (frames.length >= 2) resolve(); });
      socket.on('error', reject);
    });
    socket.terminate();
    const before = await Promise.all([a, b, c].map(snapshot));
    const session = a.charger.station.open_session(request.check);
    expect(a.charger.station.handle_link_frame(session, frames[0])).toBe('ok');
    expect(a.charger.station.handle_link_frame(session, frames[0])).toBe('refused'); // replayed
    // c's own session to b: frames b signed for a are refused (another session, another subscriber).
    const c_session = c.charger.station.open_session(c.charger.station.link_request(b.host, '/ws')!.check);
    for (const frame of frames) expect(c.charger.station.handle_link_frame(c_session, frame)).toBe('refused');
    expect(await Promise.all([a, b, c].map(snapshot))).toEqual(before);
    expect((await ls(c)).config_sync.members.find((m: { host: string }) => m.host === b.host).auth_failures).toBeGreaterThan(0);
  });
});
