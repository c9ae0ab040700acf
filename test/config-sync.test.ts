// Group config sync between real chargers on loopback (real HTTP, real /ws): the plan's 8.5
// scenarios 1-6 (7, hash stability, is in test/core.test.ts "config hash" and the vectors of
// docs/config-hash.md), member add/remove propagation, a join where the newcomer is newer,
// and a peer that keeps serving invalid configs. Short link backoff (100 ms .. 1 s) keeps
// each scenario to a few seconds; every wait is on a condition, never a fixed sleep.
import { describe, expect, test, beforeAll, afterEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import { WebSocketServer } from 'ws';
import { Core } from '../host-node/core.js';
import { Fleet, get, post, until, type Live } from './helpers/chargers.js';
import { admin_auth } from './helpers/admin.js';
import { free_port } from './helpers/node-proc.js';
import { seeded } from './helpers/dist.js';
import { GroupAuth } from '../host-node/station/peer-auth.js';

let core: Core;
let fleet: Fleet;
beforeAll(async () => { core = await Core.load(); });
afterEach(async () => { await fleet?.close(); });

// Sync needs the group key (a charger without one is report-only: docs/config-sync.md).
const group_key = 'the garage group key';
const group = { loadsharing_group_id: 'garage', loadsharing_heartbeat_timeout: 5, loadsharing_group_key: group_key };
const cfg = async (l: Live) => await get(l, '/config');
const ls = async (l: Live) => await get(l, '/loadsharing/status');

async function pair(a_config: Record<string, unknown>, b_config: Record<string, unknown>, sync = true): Promise<[Live, Live]> {
  fleet = new Fleet(core);
  const pa = await fleet.port();
  const pb = await fleet.port();
  const a = await fleet.make('a', { peers: [`127.0.0.1:${pb}`], config_overrides: { ...group, ...a_config }, config_sync: sync }, pa);
  const b = await fleet.make('b', { peers: [`127.0.0.1:${pa}`], config_overrides: { ...group, ...b_config }, config_sync: sync }, pb);
  return [a, b];
}

describe('8.5 scenarios', () => {
  test('1+2: a mismatch is detected on both sides and both use the smaller limit (sync off: report only)', async () => {
    const [a, b] = await pair({ loadsharing_group_max_current: 50 }, { loadsharing_group_max_current: 60 }, false);
    await until('both see the mismatch', async () => (await ls(a)).config_consistent === false && (await ls(b)).config_consistent === false, [a, b]);
    const sa = await ls(a);
    const sb = await ls(b);
    expect(sa.config_issues).toContainEqual({ peer_id: 'b', issue: 'group_max_current', local_value: 50, peer_value: 60 });
    expect(sb.config_issues).toContainEqual({ peer_id: 'a', issue: 'group_max_current', local_value: 60, peer_value: 50 });
    expect(sa.config_issues.some((i: any) => i.issue === 'config_hash')).toBe(true);
    // Conservative fallback: the core's effective limit is the smaller one on both chargers.
    await until('both limit to 50 A', async () => (await ls(a)).effective_limit === 50 && (await ls(b)).effective_limit === 50, [a, b]);
    // Nothing adopted: each keeps its own config.
    expect((await cfg(a)).loadsharing_group_max_current).toBe(50);
    expect((await cfg(b)).loadsharing_group_max_current).toBe(60);
    expect(sa.config_sync.enabled).toBe(false);
  });

  test('3: the newer version propagates (b at version 1 fetches a at version 2)', async () => {
    fleet = new Fleet(core);
    const pa = await fleet.port();
    const pb = await fleet.port();
    // Two group writes on a (version 2), one on b (version 1), before they meet.
    const a = await fleet.make('a', { listen: false, config_overrides: group }, pa);
    expect((await post(a, '/config', { loadsharing_group_max_current: 40 })).status).toBe(200);
    expect((await cfg(a)).loadsharing_config_version).toBe(2);
    const b = await fleet.make('b', { listen: false, config_overrides: { ...group, loadsharing_group_max_current: 50 } }, pb);
    expect((await cfg(b)).loadsharing_config_version).toBe(1);
    // Join them (stored peers, no join call: detection comes from the status stream).
    await a.charger.add_peer(b.host, false);
    await b.charger.add_peer(a.host, false);
    await fleet.listen(a);
    await fleet.listen(b);
    await until('b adopts version 2', async () => (await cfg(b)).loadsharing_config_version === 2, [a, b]);
    expect((await cfg(b)).loadsharing_group_max_current).toBe(40);
    expect((await cfg(b)).loadsharing_config_origin).toBe('a');
    await until('consistent on both', async () => (await ls(a)).config_consistent && (await ls(b)).config_consistent, [a, b]);
    expect((await ls(b)).config_hash).toBe((await ls(a)).config_hash);
    // Stored: a restart keeps the adopted config.
    expect(JSON.parse(readFileSync(join(b.dir, 'config.json'), 'utf8')).loadsharing_group_max_current).toBe(40);
  });

  test('4: a user update on a is pushed to b, which adopts it; allocations follow', async () => {
    const [a, b] = await pair({ loadsharing_group_max_current: 50 }, { loadsharing_group_max_current: 50 });
    await until('in sync', async () => (await ls(a)).config_consistent && (await ls(b)).config_consistent && (await ls(b)).effective_limit === 50, [a, b]);
    const v = (await cfg(a)).loadsharing_config_version;
    const r = await post(a, '/config', { loadsharing_group_max_current: 55 });
    expect(r.status).toBe(200);
    const after = await cfg(a);
    expect(after.loadsharing_config_version).toBeGreaterThan(v);
    expect(after.loadsharing_config_origin).toBe('a');
    await until('b has 55 A', async () => (await cfg(b)).loadsharing_group_max_current === 55, [a, b]);
    expect((await cfg(b)).loadsharing_config_version).toBe(after.loadsharing_config_version);
    await until('allocations use 55 A', async () => (await ls(a)).effective_limit === 55 && (await ls(b)).effective_limit === 55, [a, b]);
    await until('a sees b in sync', async () => (await ls(a)).config_sync.members.find((m: any) => m.id === 'b')?.state === 'in_sync', [a, b]);
    // priority is per charger: not a group change, no version bump, not pushed.
    expect((await post(b, '/config', { loadsharing_priority: 3 })).status).toBe(200);
    expect((await cfg(b)).loadsharing_config_version).toBe(after.loadsharing_config_version);
    expect((await cfg(a)).loadsharing_priority).toBe(0);
  });

  test('5: a member offline during an update is retried with backoff and catches up when it returns', async () => {
    fleet = new Fleet(core);
    const [pa, pb, pc] = [await fleet.port(), await fleet.port(), await fleet.port()];
    const all = [`127.0.0.1:${pa}`, `127.0.0.1:${pb}`, `127.0.0.1:${pc}`];
    const others = (me: string) => all.filter((h) => h !== me);
    const a = await fleet.make('a', { peers: others(all[0]), config_overrides: group }, pa);
    const b = await fleet.make('b', { peers: others(all[1]), config_overrides: group }, pb);
    const c = await fleet.make('c', { peers: others(all[2]), config_overrides: group, listen: false }, pc); // offline
    expect((await post(a, '/config', { loadsharing_group_max_current: 45 })).status).toBe(200);
    await until('b has it', async () => (await cfg(b)).loadsharing_group_max_current === 45, [a, b]);
    await until('a retries c', async () => {
      const m = (await ls(a)).config_sync.members.find((x: any) => x.host === c.host);
      return m?.state === 'retrying' && m.attempts >= 2 && m.last_error !== null;
    }, [a, b]);
    expect(a.lines.some((l) => l.includes(`push of version`) && l.includes(c.host) && l.includes('retry in 0.1 s'))).toBe(true);
    expect(a.lines.some((l) => l.includes('retry in 0.2 s'))).toBe(true);
    await fleet.listen(c);
    await until('c catches up', async () => (await cfg(c)).loadsharing_group_max_current === 45, [a, b, c]);
    expect((await cfg(c)).loadsharing_config_version).toBe((await cfg(a)).loadsharing_config_version);
    await until('all consistent, a sees c in sync', async () => {
      const s = await ls(a);
      return s.config_consistent && (await ls(c)).config_consistent && s.config_sync.members.every((m: any) => m.state === 'in_sync');
    }, [a, b, c]);
  });

  test('6a: simultaneous updates (same version): the later updated_at wins everywhere', async () => {
    fleet = new Fleet(core);
    const [pa, pb] = [await fleet.port(), await fleet.port()];
    const base = { ...group, loadsharing_config_version: 5 };
    const a = await fleet.make('a', { peers: [`127.0.0.1:${pb}`], stored_config: { ...base, loadsharing_group_max_current: 41, loadsharing_config_updated_at: 1700000100, loadsharing_config_origin: 'a' } }, pa);
    const b = await fleet.make('b', { peers: [`127.0.0.1:${pa}`], stored_config: { ...base, loadsharing_group_max_current: 42, loadsharing_config_updated_at: 1700000200, loadsharing_config_origin: 'b' } }, pb);
    await until('a adopts the later one (b, 42 A)', async () => (await cfg(a)).loadsharing_group_max_current === 42, [a, b]);
    expect((await cfg(b)).loadsharing_group_max_current).toBe(42);
    expect((await cfg(a)).loadsharing_config_updated_at).toBe(1700000200);
    await until('consistent', async () => (await ls(a)).config_consistent && (await ls(b)).config_consistent, [a, b]);
  });

  test('6b: same version and same updated_at: the smaller origin id wins everywhere', async () => {
    fleet = new Fleet(core);
    const [pa, pb] = [await fleet.port(), await fleet.port()];
    const base = { ...group, loadsharing_config_version: 5, loadsharing_config_updated_at: 1700000100 };
    const a = await fleet.make('a', { peers: [`127.0.0.1:${pb}`], stored_config: { ...base, loadsharing_group_max_current: 41, loadsharing_config_origin: 'a' } }, pa);
    const b = await fleet.make('b', { peers: [`127.0.0.1:${pa}`], stored_config: { ...base, loadsharing_group_max_current: 42, loadsharing_config_origin: 'b' } }, pb);
    await until('b adopts a (origin "a" < "b")', async () => (await cfg(b)).loadsharing_group_max_current === 41, [a, b]);
    expect((await cfg(a)).loadsharing_group_max_current).toBe(41);
    await until('consistent', async () => (await ls(a)).config_consistent && (await ls(b)).config_consistent, [a, b]);
  });
});

describe('a storm of changes', () => {
  test('10 changes in 10 s on random chargers converge to the last one; no charger is ever above its limit in force', async () => {
    fleet = new Fleet(core);
    const ports = [await fleet.port(), await fleet.port(), await fleet.port()];
    const hosts = ports.map((p) => `127.0.0.1:${p}`);
    const lives: Live[] = [];
    for (const [i, id] of ['a', 'b', 'c'].entries()) {
      lives.push(await fleet.make(id, { peers: hosts.filter((_, j) => j !== i), config_overrides: group }, ports[i]));
    }
    for (const l of lives) l.charger.set_car({ connected: true, lag_ms: 0 });
    await until('consistent', async () => (await Promise.all(lives.map(ls))).every((s) => s.config_consistent && s.allocations.length === 3), lives);
    const random = seeded(6);
    let sampling = true;
    const violations: string[] = [];
    const lagging = new Set<string>();
    let samples = 0;
    // Each charger's pilot never exceeds what its own limit in force (the smallest it knows of)
    // allows, and the group's allocations in each view never sum above that view's limit.
    const sampler = (async () => {
      while (sampling) {
        for (const l of lives) {
          const before = (await get(l, '/config')).loadsharing_group_max_current;
          const s = await ls(l);
          const after = (await get(l, '/config')).loadsharing_group_max_current;
          const targets = s.allocations.reduce((sum: number, a: any) => sum + a.target_current, 0);
          if (targets > s.effective_limit + 1e-9) violations.push(`${l.id}: allocations ${targets} A > effective ${s.effective_limit} A`);
          // A write takes effect at the next decision (an immediate tick): a sample that read
          // the config around a write is not comparable, and a lag must not outlast one sample.
          const over = before === after && s.effective_limit > after + 1e-9;
          if (over && lagging.has(l.id)) violations.push(`${l.id}: effective ${s.effective_limit} A > own limit ${after} A in two samples`);
          if (over) lagging.add(l.id); else lagging.delete(l.id);
          samples += 1;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    let last = 0;
    for (let i = 0; i < 10; i += 1) {
      const l = lives[Math.floor(random() * 3)];
      last = 20 + Math.floor(random() * 20);
      expect((await post(l, '/config', { loadsharing_group_max_current: last })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await until(`all at ${last} A, one version`, async () => {
      const cs = await Promise.all(lives.map(cfg));
      const ss = await Promise.all(lives.map(ls));
      return cs.every((c) => c.loadsharing_group_max_current === last && c.loadsharing_config_version === cs[0].loadsharing_config_version)
        && ss.every((s) => s.config_consistent && s.effective_limit === last);
    }, lives);
    sampling = false;
    await sampler;
    expect(samples).toBeGreaterThan(30);
    expect(violations).toEqual([]);
  });
});

describe('member list', () => {
  test('adding c on a reaches b and c; removing c on b reaches a and c', async () => {
    const [a, b] = await pair({}, {});
    const c = await fleet.make('c', { config_overrides: group });
    await until('a and b consistent', async () => (await ls(a)).config_consistent && (await ls(b)).config_consistent, [a, b]);
    expect((await post(a, '/loadsharing/peers', { host: c.host })).json.msg).toBe('done');
    const hosts = async (l: Live) => ((await cfg(l)).loadsharing_members as Array<{ host: string }>).map((m) => m.host).sort();
    const expected = [a.host, b.host, c.host].sort();
    await until('everyone lists a, b, c', async () => JSON.stringify(await hosts(a)) === JSON.stringify(expected)
      && JSON.stringify(await hosts(b)) === JSON.stringify(expected) && JSON.stringify(await hosts(c)) === JSON.stringify(expected), [a, b, c]);
    await until('one hash, three ids', async () => {
      const s = await Promise.all([a, b, c].map(ls));
      return s.every((x) => x.config_consistent && x.config_hash === s[0].config_hash && x.allocations.length === 3);
    }, [a, b, c]);
    // b removes c: a drops it, and c, told it was removed, leaves everybody.
    const r = await b.app.inject({ method: 'DELETE', url: `/loadsharing/peers/${encodeURIComponent(c.host)}`, headers: admin_auth });
    expect(r.statusCode).toBe(200);
    await until('a and b list a, b; c lists itself only', async () => {
      return JSON.stringify(await hosts(a)) === JSON.stringify([a.host, b.host].sort())
        && JSON.stringify(await hosts(b)) === JSON.stringify([a.host, b.host].sort())
        && JSON.stringify(await hosts(c)) === JSON.stringify([c.host]);
    }, [a, b, c]);
    // Rule 8: c was removed by its peers, not set up alone by a person, so it is not sure it is
    // alone on the breaker: it says so (left_alone) and a and b keep its reserve while they
    // hear it (its settings still count until it is gone). A person at c confirms it is on its
    // own; then a and b forget it and agree again.
    await until('c says it was left alone', async () => ((await get(c, '/status')).loadsharing as { left_alone: boolean }).left_alone === true, [a, b, c]);
    expect((await ls(a)).allocations.map((x: { id: string }) => x.id)).toContain('c');
    const alone = await c.app.inject({ method: 'POST', url: '/loadsharing/alone', headers: admin_auth });
    expect(alone.statusCode).toBe(200);
    await until('a and b forget c and are consistent again', async () => (await ls(a)).allocations.length === 2 && (await ls(b)).allocations.length === 2
      && (await ls(a)).config_consistent && (await ls(b)).config_consistent, [a, b, c]);
    expect(((await get(c, '/status')).loadsharing as { left_alone: boolean; alone_confirmed: boolean }).alone_confirmed).toBe(true);
    // While a charger has members, a person cannot declare it alone.
    const refused = await a.app.inject({ method: 'POST', url: '/loadsharing/alone', headers: admin_auth });
    expect(refused.statusCode).toBe(400);
  });

  test('a newcomer with the newer config: its group fields win, and the group converges above both versions', async () => {
    const [a, b] = await pair({}, {});
    const c = await fleet.make('c', { stored_config: { ...group, loadsharing_group_max_current: 40, loadsharing_config_version: 7, loadsharing_config_updated_at: 1700000000, loadsharing_config_origin: 'c' } });
    expect((await post(b, '/loadsharing/peers', { host: c.host })).status).toBe(200);
    await until('all at 40 A, version 8', async () => {
      const cs = await Promise.all([a, b, c].map(cfg));
      return cs.every((x) => x.loadsharing_group_max_current === 40 && x.loadsharing_config_version === 8);
    }, [a, b, c]);
    expect((await cfg(a)).loadsharing_config_origin).toBe('b');
  });
});

describe('invalid configs from a peer', () => {
  let fake: Server | null = null;
  let stop_fake: () => void = () => {};
  afterEach(async () => {
    stop_fake();
    await new Promise<void>((r) => (fake ? fake.close(() => r()) : r()));
    fake = null;
  });

  test('a peer that keeps serving an invalid config is refused each time and shown in config_issues', async () => {
    const fake_port = await free_port();
    // A peer announcing version 99 whose GET /config breaks a cross-field rule (safe current
    // above the group limit) and a schema rule (safety factor 2).
    const status = { amp: 0, voltage: 240, pilot: 6, state: 1, vehicle: 0, loadsharing: { id: 'evil', seen: ['evil'], config_version: 99, config_hash: 'f'.repeat(64), group_max_current: 100, safety_factor: 1 } };
    const config = { loadsharing_group_id: 'garage', loadsharing_group_max_current: 100, loadsharing_safety_factor: 2, loadsharing_heartbeat_timeout: 5, loadsharing_failsafe_mode: 'safe_current', loadsharing_failsafe_safe_current: 6, loadsharing_failsafe_peer_assumed_current: 6, loadsharing_rotation_interval: 0, loadsharing_config_version: 99, loadsharing_config_updated_at: 1, loadsharing_config_origin: 'evil', loadsharing_members: [] };
    // A member gone wrong: it holds the key (an insider), so its answers and frames are signed.
    const auth = new GroupAuth(group_key, { now_ms: () => Date.now() });
    let config_reads = 0;
    fake = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      const text = req.url === '/config' ? JSON.stringify(config) : JSON.stringify(status);
      if (req.url === '/config') config_reads += 1;
      const nonce = req.headers['x-loadshare-nonce'];
      if (typeof nonce === 'string') for (const [k, v] of Object.entries(auth.sign_response(nonce, 200, text))) res.setHeader(k, v);
      res.end(text);
    });
    const wss = new WebSocketServer({ server: fake });
    const sessions = new Map<unknown, { nonce: string; to: string; ctr: number }>();
    const send = (c: import('ws').WebSocket, text: string) => {
      const s = sessions.get(c)!;
      s.ctr += 1;
      c.send(auth.sign_frame(s.nonce, s.ctr, text, s.to));
    };
    const frames = setInterval(() => { for (const c of wss.clients) send(c, JSON.stringify({ ...status, uptime: Date.now() })); }, 100);
    wss.on('connection', (s, req) => {
      sessions.set(s, { nonce: String(req.headers['x-loadshare-nonce']), to: String(req.headers['x-loadshare-id']), ctr: 0 });
      send(s, JSON.stringify(status));
    });
    stop_fake = () => { clearInterval(frames); for (const c of wss.clients) c.terminate(); wss.close(); fake?.closeAllConnections(); };
    await new Promise<void>((r) => fake!.listen(fake_port, '127.0.0.1', r));
    fleet = new Fleet(core);
    const a = await fleet.make('a', { peers: [`127.0.0.1:${fake_port}`], config_overrides: group });
    await until('refused at least three times, shown as an issue', async () => {
      const s = await ls(a);
      const m = s.config_sync.members.find((x: any) => x.id === 'evil');
      return m?.invalid_configs >= 3 && m.state === 'refused' && s.config_issues.some((i: any) => i.peer_id === 'evil' && i.issue === 'invalid_config');
    }, [a]);
    expect(config_reads).toBeGreaterThanOrEqual(3);
    const s = await ls(a);
    expect(s.config_consistent).toBe(false);
    expect(s.config_issues.find((i: any) => i.issue === 'invalid_config').peer_value).toMatch(/loadsharing_safety_factor/);
    expect((await cfg(a)).loadsharing_group_max_current).toBe(32);
    expect((await cfg(a)).loadsharing_config_version).toBe(1);
    expect(a.lines.some((l) => l.includes('invalid config from') && l.includes('refused'))).toBe(true);
  });
});
