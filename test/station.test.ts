// The Station without sockets: two stations joined by a fake link on virtual time (the
// simulator's event queue), exchanging the real /ws frames, GET /status answers and config
// pushes. Each station is driven as the node drives it: handle_tick at its wake time, then
// its frame goes to the subscriber.
import { describe, expect, test, beforeAll } from 'vitest';
import { Core } from '../host-node/core.js';
import { EventQueue } from '../host-node/sim/event-queue.js';
import { SimEvse, default_car } from '../host-node/evse/sim-evse.js';
import { SimEvseAdapter, heartbeat_current_a } from '../host-node/station/evse.js';
import { Station, LinkCheck, type StationPorts, type LinkSession, type Subscriber } from '../host-node/station/station.js';
import { GroupAuth } from '../host-node/station/peer-auth.js';
import { serve_peer } from '../host-node/station/peer-http.js';
import { default_node_config, type NodeConfig } from '../host-node/node/config.js';
import type { StoredPeer } from '../host-node/node/peers.js';
import { make_logger } from '../host-node/node/log.js';
import { merge_status } from '../host-node/station/wire.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); });

const t0_ms = 1767225600000;
const latency_ms = 10;

interface Node {
  id: string;
  host: string;
  station: Station;
  evse: SimEvse;
  adapter: SimEvseAdapter;
  frames_out: string[];
  wakes: number[];
  stored: Array<{ name: string; value: unknown }>;
  lines: string[];
  reachable: boolean;
}

// Two (or more) stations on one virtual clock. A link from `to` to `from` is a /ws session:
// the subscriber at `from`, the link session at `to`, opened with to's real handshake headers.
class Bench {
  readonly queue = new EventQueue(t0_ms);
  readonly nodes = new Map<string, Node>();
  private readonly sessions = new Map<string, { server: Subscriber; client: LinkSession }>();
  readonly results: string[] = [];
  readonly refused_handshakes: string[] = [];

  add(id: string, index: number, options: { peers?: StoredPeer[]; leaving?: StoredPeer[]; config?: Partial<NodeConfig>; react_ms?: number } = {}): Node {
    const host = `10.0.0.${index}:80`;
    const evse = new SimEvse({ id, min_current_a: 6, max_current_a: 32, voltage_v: 240, heartbeat_interval_ms: 5000, heartbeat_current_a: 6 }, { ...default_car }, t0_ms);
    const adapter = new SimEvseAdapter(evse);
    const node = { id, host, evse, adapter, frames_out: [], wakes: [], stored: [], lines: [], reachable: true } as unknown as Node;
    const ports: StationPorts = {
      store: { write: (name, value) => { node.stored.push({ name, value: structuredClone(value) }); } },
      transport: {
        request: (request, done) => {
          const to = [...this.nodes.values()].find((n) => n.host === request.host);
          this.queue.after(latency_ms, () => {
            if (!to || !to.reachable) { this.queue.after(latency_ms, () => done({ error: 'ECONNREFUSED' })); return; }
            const response = serve_peer(to.station, { method: request.method, path: request.path, headers: request.headers, body: request.body, remote: host.split(':')[0] });
            this.queue.after(latency_ms, () => done(response));
          });
        },
      },
      timers: { set: (fn, ms) => this.queue.after(ms, fn), clear: (handle) => { (handle as { cancelled: boolean }).cancelled = true; } },
      links: { start: () => {}, stop: () => {} },
      wake: (at_ms) => { node.wakes.push(at_ms); },
      log: make_logger({ json: false, id, write: (line) => { node.lines.push(line.trimEnd()); } }),
    };
    node.station = new Station({
      id, listen_host: host.split(':')[0], http_port: 80,
      wall: { now_ms: () => this.queue.now_ms }, monotonic: { now_ms: () => this.queue.now_ms },
      core, evse: adapter,
      config: { ...default_node_config(id), loadsharing_group_id: 'garage', ...options.config },
      peers: options.peers ?? [],
      leaving: options.leaving,
      react_ms: options.react_ms,
    }, ports);
    this.nodes.set(id, node);
    return node;
  }

  // Every station ticks at its wake time; its frame reaches every station that has it as a member.
  run_for(ms: number): void {
    const end_ms = this.queue.now_ms + ms;
    for (const node of this.nodes.values()) this.schedule(node);
    this.queue.run_until(end_ms);
  }

  private scheduled = new Set<string>();
  private schedule(node: Node): void {
    if (this.scheduled.has(node.id)) return;
    this.scheduled.add(node.id);
    const loop = () => {
      if (this.nodes.get(node.id) !== node) return; // taken out of the bench: silent
      node.station.handle_tick();
      const frame = node.station.poll_frame();
      if (frame !== null) node.frames_out.push(frame);
      for (const to of this.nodes.values()) if (to !== node && to.station.has_peer(node.host)) this.send(node, to, frame);
      this.queue.at(Math.max(this.queue.now_ms + 1, node.station.next_wake_ms()), loop);
    };
    this.queue.at(this.queue.now_ms, loop);
  }

  send(from: Node, to: Node, frame: string | null): void {
    const key = `${from.id}>${to.id}`;
    let session = this.sessions.get(key);
    let text = frame;
    if (!session) {
      const request = to.station.link_request(from.host, '/ws')!;
      session = { server: from.station.open_subscriber(request.headers, '/ws'), client: to.station.open_session(request.check) };
      if (session.server.refused !== null) this.refused_handshakes.push(session.server.refused);
      this.sessions.set(key, session);
      text = from.station.status_text();
    }
    if (text === null) return;
    const wire = from.station.frame_for(session.server, text);
    const s = session;
    this.queue.after(latency_ms, () => this.results.push(`${key} ${to.station.handle_link_frame(s.client, wire)}`));
  }
}

const plug = (bench: Bench, node: Node) => { node.adapter.car!.set(bench.queue.now_ms, { connected: true }); node.station.handle_evse_changed(); };

describe('two stations on a fake link', () => {
  test('they hear each other through real frames: the whole document once, then deltas; two cars share equally', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }] });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }] });
    plug(bench, a);
    plug(bench, b);
    bench.run_for(30000);
    for (const node of [a, b]) {
      const d = node.station.engine.last_decision()!;
      expect(d.allocations.every((x) => x.online)).toBe(true);
      expect(d.self.applied_current).toBe(16);
    }
    // b's frames to a: the first is the whole document, the rest only what changed.
    const docs = b.frames_out.map((f) => JSON.parse(f) as Record<string, unknown>);
    expect(docs[0]).toMatchObject({ mode: 'STA', loadsharing: { id: 'b' } });
    const deltas = docs.slice(1);
    expect(deltas.length).toBeGreaterThan(20);
    expect(deltas.every((d) => !('mode' in d) && !('ipaddress' in d))).toBe(true);
    expect(deltas.filter((d) => Object.keys(d).length <= 3).length).toBeGreaterThan(deltas.length / 2);
    expect(bench.results.every((r) => r.endsWith(' ok'))).toBe(true);
    // What a merged from b's frames is what b publishes (the settled fields).
    const entry = a.station.engine.peer_entries().find((e) => e.id === 'b')!;
    const b_now = JSON.parse(b.station.status_text());
    for (const k of ['id', 'seen', 'alloc', 'applied_current', 'target_current', 'config_hash', 'module_hash', 'reason']) expect(entry.status.loadsharing![k as 'id'], k).toEqual(b_now.loadsharing[k]);
    for (const k of ['amp', 'pilot', 'state', 'vehicle']) expect(entry.status[k], k).toEqual(b_now[k]);
  });

  test('a peer joined by its address is learnt by id from its first document, and stored', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: null }] });
    bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }] });
    expect(a.station.engine.peer_entries().map((e) => e.id)).toEqual(['?10.0.0.2:80']);
    bench.run_for(3000);
    expect(a.station.peer_records()).toMatchObject([{ host: '10.0.0.2:80', id: 'b', member_id: 'b' }]);
    expect(a.station.engine.peer_entries().map((e) => e.id)).toEqual(['b']);
    expect(a.stored.filter((s) => s.name === 'peers').at(-1)!.value).toEqual({ peers: [{ host: '10.0.0.2:80', id: 'b' }], alone_confirmed: false, leaving: [] });
  });

  test('only the protocol\'s keys are kept from a peer; a clock-only delta makes no decision due, a changed one does within react_ms', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }], react_ms: 50 });
    const b = bench.add('b', 2);
    const request = a.station.link_request(b.host, '/ws')!;
    const session = a.station.open_session(request.check);
    const full = JSON.parse(b.station.status_text());
    expect(a.station.handle_link_frame(session, JSON.stringify({ ...full, junk: 'x'.repeat(1000), loadsharing: { ...full.loadsharing, junk: 1 } }))).toBe('ok');
    const entry = () => a.station.engine.peer_entries().find((e) => e.id === 'b')!;
    expect('junk' in entry().status).toBe(false);
    expect('junk' in entry().status.loadsharing!).toBe(false);
    expect(entry().status.loadsharing!.id).toBe('b');
    a.station.handle_tick();
    a.wakes.length = 0;
    bench.queue.run_until(bench.queue.now_ms + 1000);
    expect(a.station.handle_link_frame(session, JSON.stringify({ time: '2026-01-01T00:00:01Z', uptime: 1 }))).toBe('ok');
    expect(a.wakes).toEqual([]);
    expect(entry().last_seen_ms).toBe(bench.queue.now_ms);
    expect(a.station.handle_link_frame(session, JSON.stringify({ uptime: 2, amp: 7000 }))).toBe('ok');
    expect(a.wakes).toEqual([bench.queue.now_ms + 50]);
    expect(entry().status.amp).toBe(7000);
    expect(a.station.handle_link_frame(session, 'not json')).toBe('ignored');
  });
});

describe('the group key on frames', () => {
  const key = 'correct horse battery staple';

  test('the same key: frames are signed and taken; a replayed frame is refused', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }], config: { loadsharing_group_key: key } });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }], config: { loadsharing_group_key: key } });
    const request = a.station.link_request(b.host, '/ws')!;
    const subscriber = b.station.open_subscriber(request.headers, '/ws');
    const session = a.station.open_session(request.check);
    const first = b.station.frame_for(subscriber, b.station.status_text());
    expect(JSON.parse(first)).toMatchObject({ ls_sig: { ctr: 1 } });
    expect(a.station.handle_link_frame(session, first)).toBe('ok');
    expect(a.station.handle_link_frame(session, first)).toBe('refused');
    expect(a.station.sync.auth_summary().rejected_total).toBe(1);
    const unsigned = b.station.status_text();
    expect(a.station.handle_link_frame(session, unsigned)).toBe('refused');
  });

  test('another key: every frame is refused, counted, and the peer stays offline and reserved', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }], config: { loadsharing_group_key: key } });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }], config: { loadsharing_group_key: 'another key of the wrong group' } });
    plug(bench, a);
    plug(bench, b);
    bench.run_for(20000);
    expect(bench.results.filter((r) => r.startsWith('b>a')).every((r) => r.endsWith('refused'))).toBe(true);
    expect(a.station.sync.auth_summary().rejected_total).toBeGreaterThan(0);
    const d = a.station.engine.last_decision()!;
    const other = d.allocations.find((x) => x.id === 'b')!;
    expect(other.online).toBe(false);
    expect(other.reserved_current).toBe(6); // failsafe_peer_assumed_current
    // Alone of two, a has no quorum: degraded, held to its failsafe current at most. Its own
    // view shares 32 A minus b's reserve (6) minus its own failsafe current (6), kept out of
    // what it shares while degraded.
    expect(d.self).toMatchObject({ degraded: true, target_current: 20 });
    expect(d.self.applied_current).toBeLessThanOrEqual(6);
    expect(bench.refused_handshakes.length).toBeGreaterThan(0);
    expect(bench.refused_handshakes.every((r) => r === 'bad signature')).toBe(true);
  });
});

describe('config sync through the transport, on virtual time', () => {
  // Sync needs the group key: pushes and fetched configs are signed (a charger without one is
  // report-only). The admin password is the person's, never sent to a peer.
  const admin = { www_username: 'admin', www_password: 'group-secret', loadsharing_group_key: 'correct horse battery staple' };

  test('a write on a reaches b by a push; b adopts it and both hold the same version', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }], config: admin });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }], config: admin });
    // No frames: only the push can bring it.
    expect(a.station.handle_config_write({ loadsharing_group_max_current: 20 })).toMatchObject({ msg: 'done' });
    bench.queue.run_until(t0_ms + 100);
    expect(a.station.sync.status()[0]).toMatchObject({ pending_version: null, last_error: null });
    expect(b.station.raw_config()).toMatchObject({ loadsharing_group_max_current: 20, loadsharing_config_origin: 'a', loadsharing_config_version: a.station.raw_config().loadsharing_config_version });
    expect(b.stored.filter((s) => s.name === 'config').at(-1)!.value).toMatchObject({ loadsharing_group_max_current: 20 });
    expect(b.station.engine.current_config().group_max_current).toBe(20);
  });

  // Issue 15 D2: before, b fetched a's newer config as soon as a's status advertised it, so any
  // peer (or anything posing as one) set b's limit. Without a key b is report-only now.
  test('D2: without a group key a charger is report-only: nothing is pushed, a peer\'s newer config is not adopted, the difference is reported', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }], config: { www_username: 'admin', www_password: 'group-secret' } });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }], config: { www_username: 'admin', www_password: 'group-secret' } });
    const requests: string[] = [];
    const transport = (a.station as unknown as { ports: StationPorts }).ports.transport;
    const send = transport.request.bind(transport);
    transport.request = (request, done) => { requests.push(`${request.method} ${request.path}`); send(request, done); };
    bench.run_for(2000);
    expect(a.station.handle_config_write({ loadsharing_group_max_current: 100 })).toMatchObject({ msg: 'done' });
    bench.run_for(3000);
    expect(requests).toEqual([]);
    expect(b.station.raw_config()).toMatchObject({ loadsharing_group_max_current: 32, loadsharing_config_version: 0 });
    expect(b.station.sync.active()).toBe(false);
    // Still sharing safely: b takes the stricter of the limits it hears (its own 32 A).
    expect(b.station.engine.last_decision()!.effective_limit).toBeLessThanOrEqual(32);
    // A push straight at b (with the person's password, even) is refused as report-only.
    const push = JSON.stringify({ ...a.station.sync.group_doc() });
    const answer = serve_peer(b.station, { method: 'POST', path: '/config', headers: { 'content-type': 'application/json', 'x-loadshare-push': '1', authorization: `Basic ${Buffer.from('admin:group-secret').toString('base64')}` }, body: push, remote: '10.0.0.1' });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text).msg).toMatch(/no group key: it is report-only/);
    expect(b.station.raw_config().loadsharing_group_max_current).toBe(32);
  });

  // CI run of stop 23 (config-sync.test.ts "adding c on a"): a person joined c on a; c's status
  // reached a while the join was still in flight, at the same version as a's and with a later
  // date, so a took c's config whole, members too. a dropped b, and its next version removed b
  // from the group. The join takes the newcomer's group fields and the union of the members
  // (ConfigSync.local_member_change); a status from it does not overtake that.
  test('a newcomer\'s status during its join does not replace the group\'s members: everyone lists a, b, c', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }], config: admin });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }], config: admin });
    bench.run_for(2000);
    const hosts = (n: Node) => n.station.sync.member_list().map((m) => m.host).sort();
    expect(hosts(a)).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
    const version = a.station.raw_config().loadsharing_config_version;
    const later_s = a.station.raw_config().loadsharing_config_updated_at + 60;
    const c = bench.add('c', 3, { config: { ...admin, loadsharing_config_version: version, loadsharing_config_updated_at: later_s } });
    let joined = '';
    a.station.handle_join(c.host, true, (msg) => { joined = msg; });
    bench.send(c, a, c.station.status_text()); // c's first frame, while a's reciprocal POST is on its way
    bench.run_for(5000);
    expect(joined).toBe('done');
    const all = ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'];
    expect([hosts(a), hosts(b), hosts(c)]).toEqual([all, all, all]);
    expect(b.lines.some((l) => l.includes('removed from the group'))).toBe(false);
  });

  test('an unreachable member is retried after 1, 2, 4 s of virtual time and catches up when it returns', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }], config: admin });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }], config: admin });
    b.reachable = false;
    a.station.handle_config_write({ loadsharing_group_max_current: 24 });
    bench.queue.run_until(t0_ms + 100);
    // The push failed at 20 ms (there and back): the next try 1 s later.
    expect(a.station.sync.status()[0]).toMatchObject({ state: 'retrying', attempts: 1, next_retry_in_ms: 2 * latency_ms + 1000 - 100 });
    bench.queue.run_until(t0_ms + 3100);
    expect(a.station.sync.status()[0]).toMatchObject({ state: 'retrying', attempts: 3 });
    b.reachable = true;
    bench.queue.run_until(t0_ms + 8000);
    expect(a.station.sync.status()[0]).toMatchObject({ pending_version: null, attempts: 0, last_error: null });
    expect(b.station.raw_config().loadsharing_group_max_current).toBe(24);
  });
});

describe('issue 15: peers are trusted with the group key only', () => {
  const key = 'correct horse battery staple';
  const keyed = { www_username: 'admin', www_password: 'the admin password', loadsharing_group_key: key };

  function record_requests(node: Node): Array<{ method: string; path: string; headers: Record<string, string> }> {
    const seen: Array<{ method: string; path: string; headers: Record<string, string> }> = [];
    const transport = (node.station as unknown as { ports: StationPorts }).ports.transport;
    const send = transport.request.bind(transport);
    transport.request = (request, done) => { seen.push({ method: request.method, path: request.path, headers: { ...request.headers } }); send(request, done); };
    return seen;
  }

  // D1: before, every request and link handshake carried `authorization: Basic` with the
  // charger's own admin password, so anything that answered as a peer learnt it.
  test('D1: no request or link handshake to a peer carries the admin password', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }], config: keyed });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }], config: keyed });
    const seen = record_requests(a);
    a.station.handle_config_write({ loadsharing_group_max_current: 20 }); // a push
    a.station.sync.fetch_doc(b.host, () => {}); // a fetch
    bench.queue.run_until(t0_ms + 100);
    const leave: string[] = [];
    a.station.handle_leave(b.host, true, () => leave.push('done')); // the reciprocal DELETE
    bench.queue.run_until(t0_ms + 200);
    expect(seen.map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual(['POST /config', 'GET /config', `DELETE /loadsharing/peers/${encodeURIComponent(a.host)}`, 'POST /config']);
    const links = [a.station.link_request(b.host, '/status'), a.station.link_request(b.host, '/ws')].filter((x) => x !== null);
    for (const headers of [...seen.map((r) => r.headers), ...links.map((l) => l.headers)]) {
      expect(Object.keys(headers).map((h) => h.toLowerCase())).not.toContain('authorization');
      expect(JSON.stringify(headers)).not.toContain(Buffer.from('admin:the admin password').toString('base64'));
      expect(headers['x-loadshare-mac']).toMatch(/^[0-9a-f]{64}$/);
    }
    // Keyless too: nothing but the key could stand for us, and a keyless charger sends none.
    const c = bench.add('c', 3, { peers: [{ host: '10.0.0.4:80', id: 'd' }], config: { www_username: 'admin', www_password: 'the admin password' } });
    expect(c.station.link_request('10.0.0.4:80', '/ws')!.headers).toEqual({ 'x-loadshare-host': c.host });
  });

  test('a request signed for one charger is refused by another: nothing applied', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }, { host: '10.0.0.3:80', id: 'c' }], config: keyed });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }, { host: '10.0.0.3:80', id: 'c' }], config: keyed });
    const seen = record_requests(a);
    a.station.handle_config_write({ loadsharing_group_max_current: 20 });
    bench.queue.run_until(t0_ms + 100);
    const to_b = seen.find((r) => r.headers['x-loadshare-to'] === 'b')!;
    expect(to_b).toBeDefined();
    expect(b.station.raw_config().loadsharing_group_max_current).toBe(20);
    // The genuine push a made for b, replayed to c (which has not got it yet): refused.
    const fresh = new Bench();
    const c2 = fresh.add('c', 3, { peers: [{ host: '10.0.0.1:80', id: 'a' }], config: keyed });
    const replay = serve_peer(c2.station, { method: 'POST', path: '/config', headers: to_b.headers, body: JSON.stringify(a.station.sync.group_doc()), remote: '10.0.0.1' });
    expect(replay.status).toBe(403);
    expect(JSON.parse(replay.text).msg).toMatch(/signed for another charger|bad signature/);
    expect(c2.station.raw_config().loadsharing_group_max_current).toBe(32);
    // Sent for c's address before its id is known: c takes it (its own address), b does not.
    const to_c_address = new GroupAuth(key, { now_ms: () => fresh.queue.now_ms }).sign_request('GET', '/status', '', 'a', '10.0.0.3:80');
    expect(c2.station.check_request(to_c_address.headers, 'GET', '/status', '')).toMatchObject({ ok: true, sender: 'a' });
    const b2 = fresh.add('b', 2, { config: keyed });
    expect(b2.station.check_request(to_c_address.headers, 'GET', '/status', '')).toMatchObject({ ok: false, reason: 'signed for another charger' });
  });

  test('a frame signed for another charger is refused, even in a session with the same nonce', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }], config: keyed });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }, { host: '10.0.0.3:80', id: 'c' }], config: keyed });
    const c = bench.add('c', 3, { peers: [{ host: '10.0.0.2:80', id: 'b' }], config: keyed });
    const request = a.station.link_request(b.host, '/ws')!;
    const subscriber = b.station.open_subscriber(request.headers, '/ws');
    expect(subscriber.peer_id).toBe('a');
    const for_a = b.station.frame_for(subscriber, b.station.status_text());
    expect(a.station.handle_link_frame(a.station.open_session(request.check), for_a)).toBe('ok');
    // c's session to b, under the very nonce a's session had: the frame names a, not c.
    const c_check = c.station.link_request(b.host, '/ws')!.check;
    const same_nonce = new LinkCheck(c_check.host, c_check.record, c_check.auth, request.check.nonce);
    expect(c.station.handle_link_frame(c.station.open_session(same_nonce), for_a)).toBe('refused');
    expect(c.station.engine.peer_entries().find((e) => e.id === 'b')!.last_seen_ms).toBeNull();
  });

  // D3: before, a peer whose whole document was refused (it claimed our id, or a bad one) was
  // still merged from its later deltas: heard, online, idle, nothing reserved for it.
  test('D3: a peer whose identity is refused stays never heard (reserved) through its later deltas, until a whole document passes', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: null }] });
    const b = bench.add('b', 2);
    plug(bench, a);
    a.station.handle_tick();
    const session = a.station.open_session(a.station.link_request(b.host, '/ws')!.check);
    const full = JSON.parse(b.station.status_text());
    const impostor = { ...full, loadsharing: { ...full.loadsharing, id: 'a' } };
    expect(a.station.handle_link_frame(session, JSON.stringify(impostor))).toBe('refused');
    // Its deltas (an idle charger, no car) keep coming on the same session: none is taken.
    for (let i = 1; i <= 5; i++) {
      bench.queue.run_until(bench.queue.now_ms + 1000);
      expect(a.station.handle_link_frame(session, JSON.stringify({ uptime: i, amp: 0, vehicle: 0, state: 1 }))).not.toBe('ok');
    }
    a.station.handle_tick();
    const entry = a.station.engine.peer_entries().find((e) => e.id === '?10.0.0.2:80')!;
    expect(entry.last_seen_ms).toBeNull();
    const other = a.station.engine.last_decision()!.allocations.find((x) => x.id === '?10.0.0.2:80')!;
    expect(other).toMatchObject({ online: false, reserved_current: 6 });
    expect(a.station.peer_records()[0].refused).toMatch(/its id a is refused/);
    // A new session whose whole document passes: heard from then on.
    const fresh = a.station.open_session(a.station.link_request(b.host, '/ws')!.check);
    expect(a.station.handle_link_frame(fresh, b.station.status_text())).toBe('ok');
    expect(a.station.peer_records()[0]).toMatchObject({ id: 'b', refused: null });
    expect(a.station.engine.peer_entries().find((e) => e.id === 'b')!.last_seen_ms).toBe(bench.queue.now_ms);
  });

  test('a peer that claims our id, or an address that is ourselves, is refused at join time', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { config: keyed });
    expect(() => a.station.handle_join('10.0.0.1:80', true, () => {})).toThrow('Cannot add local device as peer');
    expect(() => a.station.handle_join('10.0.0.2:80', false, () => {}, 'a')).toThrow("claims this charger's own id");
    expect(() => a.station.handle_paired({ key, host: '10.0.0.2:80', id: 'a' })).toThrow("claims this charger's own id");
    expect(() => a.station.handle_paired({ key, host: '10.0.0.1:80', id: 'x' })).toThrow('Cannot add local device as peer');
    expect(a.station.peer_records()).toEqual([]);
  });
});

describe('the order of a peer\'s documents (finding A, host side)', () => {
  const ask = (from: Node, to: Node, path: '/status' | '/ws') => from.station.link_request(to.host, path)!;
  const answer = (from: Node, to: Node, headers: Record<string, string>) =>
    serve_peer(to.station, { method: 'GET', path: '/status', headers, body: '', remote: from.host.split(':')[0] });
  const limit_held = (node: Node, peer: string) =>
    node.station.engine.peer_entries().find((e) => e.id === peer)!.status.loadsharing?.group_max_current;

  test('an older GET /status answer that overtakes a newer one is not taken: the lower limit the newer one carried stays', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }] });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }] });
    const older = ask(a, b, '/status');
    const older_answer = answer(a, b, older.headers);
    b.station.handle_config_write({ loadsharing_group_max_current: 20 });
    b.station.handle_tick();
    b.station.poll_frame(); // what b publishes from now on
    const newer = ask(a, b, '/status');
    const newer_answer = answer(a, b, newer.headers);
    expect(JSON.parse(newer_answer.text).loadsharing.group_max_current).toBe(20);
    expect(JSON.parse(older_answer.text).loadsharing.group_max_current).toBe(32);
    expect(a.station.handle_link_status(newer.check, newer_answer)).toBeNull();
    expect(a.station.handle_link_status(older.check, older_answer)).toMatch(/older than one already taken/);
    expect(limit_held(a, 'b')).toBe(20);
  });

  test('a frame of a replaced /ws session that arrives after the new session\'s document is not taken', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }] });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }] });
    const old_request = ask(a, b, '/ws');
    const old_session = a.station.open_session(old_request.check);
    const old_server = b.station.open_subscriber(old_request.headers, '/ws');
    const old_whole = b.station.frame_for(old_server, b.station.status_text());
    b.station.handle_config_write({ loadsharing_group_max_current: 20 });
    b.station.handle_tick();
    b.station.poll_frame(); // what b publishes from now on
    const new_request = ask(a, b, '/ws');
    const new_session = a.station.open_session(new_request.check);
    const new_server = b.station.open_subscriber(new_request.headers, '/ws');
    expect(a.station.handle_link_frame(new_session, b.station.frame_for(new_server, b.station.status_text()))).toBe('ok');
    expect(a.station.handle_link_frame(old_session, old_whole)).toBe('ignored');
    expect(limit_held(a, 'b')).toBe(20);
  });

  // Seed 9004305: a link that reorders delivers an older frame of the same session after a
  // newer one. Its block is whole, and the sender's later deltas do not repeat an unchanged
  // limit, so without the guard the receiver kept the older, higher limit for good.
  test('a reordered older /ws frame of the same session does not bring back the limit of an older config_version', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }] });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }] });
    const request = ask(a, b, '/ws');
    const session = a.station.open_session(request.check);
    const server = b.station.open_subscriber(request.headers, '/ws');
    const whole = b.station.frame_for(server, b.station.status_text());
    // An older frame: b's block changed (a car came) while its config was still the first one.
    plug(bench, b);
    bench.queue.run_until(bench.queue.now_ms + 1000);
    b.station.handle_tick();
    const older = b.station.poll_frame()!;
    const v0 = b.station.raw_config().loadsharing_config_version;
    expect(JSON.parse(older).loadsharing).toMatchObject({ group_max_current: 32, config_version: v0 });
    // The newer frame: a person lowers b's limit (the next version).
    bench.queue.run_until(bench.queue.now_ms + 1000);
    b.station.handle_config_write({ loadsharing_group_max_current: 20 });
    b.station.handle_tick();
    const newer = b.station.poll_frame()!;
    expect(JSON.parse(newer).loadsharing).toMatchObject({ group_max_current: 20, config_version: v0 + 1 });
    expect(a.station.handle_link_frame(session, whole)).toBe('ok');
    expect(a.station.handle_link_frame(session, b.station.frame_for(server, newer))).toBe('ok');
    expect(limit_held(a, 'b')).toBe(20);
    // The older frame arrives last: its current and views are taken, its config is not.
    expect(a.station.handle_link_frame(session, b.station.frame_for(server, older))).toBe('ok');
    const block = a.station.engine.peer_entries().find((e) => e.id === 'b')!.status.loadsharing!;
    expect(block).toMatchObject({ group_max_current: 20, config_version: v0 + 1, config_hash: JSON.parse(newer).loadsharing.config_hash });
    expect(block.demand).toBe(JSON.parse(older).loadsharing.demand);
    // b's next deltas (its block unchanged) leave a with the limit b holds.
    bench.queue.run_until(bench.queue.now_ms + 1000);
    b.station.handle_tick();
    const next = b.station.poll_frame();
    if (next !== null) expect(a.station.handle_link_frame(session, b.station.frame_for(server, next))).toBe('ok');
    expect(limit_held(a, 'b')).toBe(20);
    // A newer config that raises the limit is taken as it comes.
    b.station.handle_config_write({ loadsharing_group_max_current: 40 });
    b.station.handle_tick();
    expect(a.station.handle_link_frame(session, b.station.frame_for(server, b.station.poll_frame()!))).toBe('ok');
    expect(limit_held(a, 'b')).toBe(40);
  });
});

// Upstream firmware (or another brand behind an adapter) cannot sign with the group key: in a
// keyed group its unsigned documents are taken as a charger without load sharing's, and what
// they say can only raise its reserve.
describe('a charger without load sharing in a keyed group', () => {
  const key = 'correct horse battery staple';
  const upstream_host = '10.0.0.9:80';
  const answer_text = (doc: object) => ({ status: 200, headers: {}, text: JSON.stringify(doc) });
  const reserve_of = (node: Node, id: string) => node.station.handle_tick().allocations.find((x) => x.id === id);

  test('its unsigned status is taken: it is reserved its maximum (16 A), not its unsigned pilot, and never less than the assumed current', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: upstream_host, id: null }], config: { loadsharing_group_key: key } });
    plug(bench, a);
    const request = a.station.link_request(upstream_host, '/status')!;
    expect(a.station.handle_link_status(request.check, answer_text({ amp: 0, state: 1, vehicle: 0, pilot: 6, max_current: 16, id: 'upstream-1' }))).toBeNull();
    bench.queue.run_until(bench.queue.now_ms + 1000);
    const u = reserve_of(a, 'upstream-1')!;
    expect(u.uncontrolled).toBe(true);
    expect(u.reserved_current).toBe(16);
    expect(a.station.peer_records()[0]).toMatchObject({ uncontrolled: true, refused: null });
    // A lower maximum in an unsigned document: the assumed current (6 A) still holds.
    const again = a.station.link_request(upstream_host, '/status')!;
    expect(a.station.handle_link_status(again.check, answer_text({ amp: 0, state: 1, vehicle: 0, pilot: 1, max_current: 2, id: 'upstream-1' }))).toBeNull();
    expect(reserve_of(a, 'upstream-1')!.reserved_current).toBe(6);
  });

  // Upstream's /status max_current is its soft maximum (max_current_soft or a claim), which
  // its user may raise at any moment: the hardware maximum in its /config is what it may take.
  test('its hardware maximum (GET /config max_current_hard) is reserved, not the soft maximum its status says', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: upstream_host, id: null }], config: { loadsharing_group_key: key } });
    const transport = (a.station as unknown as { ports: StationPorts }).ports.transport;
    const send = transport.request.bind(transport);
    const asked: string[] = [];
    transport.request = (request, done) => {
      if (request.host !== upstream_host) { send(request, done); return; }
      asked.push(`${request.method} ${request.path}`);
      bench.queue.after(10, () => done({ status: 200, headers: {}, text: JSON.stringify({ max_current_soft: 16, max_current_hard: 32 }) }));
    };
    plug(bench, a);
    const request = a.station.link_request(upstream_host, '/status')!;
    expect(a.station.handle_link_status(request.check, answer_text({ amp: 0, state: 1, vehicle: 0, pilot: 16, max_current: 16, id: 'upstream-1' }))).toBeNull();
    expect(asked).toEqual(['GET /config']);
    bench.queue.run_until(bench.queue.now_ms + 1000);
    expect(reserve_of(a, 'upstream-1')!.reserved_current).toBe(32);
  });

  test('an unsigned document with our block, or from a peer once heard with it, is still refused', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }], config: { loadsharing_group_key: key } });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }], config: { loadsharing_group_key: key } });
    // Unsigned, with a loadsharing block: not a charger without load sharing.
    const plain = a.station.link_request(b.host, '/status')!;
    expect(a.station.handle_link_status(plain.check, answer_text(JSON.parse(b.station.status_text())))).toMatch(/not authenticated/);
    // b signed: taken. Then an unsigned upstream-looking document in b's name: refused.
    const signed = a.station.link_request(b.host, '/status')!;
    const response = serve_peer(b.station, { method: 'GET', path: '/status', headers: signed.headers, body: '', remote: '10.0.0.1' });
    expect(a.station.handle_link_status(signed.check, response)).toBeNull();
    const spoof = a.station.link_request(b.host, '/status')!;
    expect(a.station.handle_link_status(spoof.check, answer_text({ amp: 0, state: 1, vehicle: 0, max_current: 6 }))).toMatch(/not authenticated/);
    expect(a.station.peer_records()[0].uncontrolled).toBe(false);
  });
});

// Rule 8: a member removed before this charger ever heard it stays reserved too: it may be up,
// cut off and never told, at its failsafe current (campaign seeds 12209538, 12101673: the
// engine forgot such a member at its next tick, and the others shared its current).
describe('a member removed before it was ever heard', () => {
  test('stays leaving and reserved, and keeps leaving under the id it names when first heard', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }, { host: '10.0.0.3:80', id: null }] });
    plug(bench, a);
    bench.run_for(2000);
    a.station.handle_leave('10.0.0.2:80', false, () => {});
    a.station.handle_leave('10.0.0.3:80', false, () => {});
    bench.run_for(90000); // long past heartbeat_timeout and the offline hold
    const d = a.station.handle_tick();
    const reserved = (id: string) => d.allocations.find((x) => x.id === id);
    expect(reserved('b')).toMatchObject({ leaving: true, reserved_current: 6 });
    expect(reserved('?10.0.0.3:80')).toMatchObject({ leaving: true, reserved_current: 6 });
    expect(d.self.applied_current).toBeLessThanOrEqual(32 - 12);
    // The charger at 10.0.0.3 comes up and names itself c: it is leaving under c, the placeholder gone.
    bench.add('c', 3, { peers: [{ host: '10.0.0.1:80', id: 'a' }] });
    bench.run_for(5000);
    const entries = a.station.engine.peer_entries();
    expect(entries.map((e) => e.id).sort()).toEqual(['b', 'c']);
    expect(entries.find((e) => e.id === 'c')).toMatchObject({ leaving: true });
    expect(a.station.handle_tick().allocations.find((x) => x.id === 'c')).toMatchObject({ leaving: true });
  });
});

// Rule 8: a removed member that falls silent stays reserved (it may be cut off and charging).
// That list is stored with the peers, so a restart does not forget it.
describe('removed members that fell silent, across a restart', () => {
  test('stored as leaving; a restarted charger keeps reserving them until a person says they are gone', () => {
    const bench = new Bench();
    const a = bench.add('a', 1, { peers: [{ host: '10.0.0.2:80', id: 'b' }] });
    const b = bench.add('b', 2, { peers: [{ host: '10.0.0.1:80', id: 'a' }] });
    plug(bench, a);
    bench.run_for(5000);
    expect(a.station.engine.peer_entries().find((e) => e.id === 'b')!.last_seen_ms).not.toBeNull();
    b.reachable = false;
    bench.nodes.delete('b'); // b falls silent (cut off, or switched off: a cannot tell)
    let left = false;
    a.station.handle_leave(b.host, false, () => { left = true; });
    expect(left).toBe(true);
    bench.run_for(90000); // silent through heartbeat_timeout and its hold (30 + 37.7 s)
    expect(a.station.handle_tick().allocations.find((x) => x.id === 'b')!.reserved_current).toBe(6);
    const stored = a.stored.filter((w) => w.name === 'peers').at(-1)!.value as { peers: unknown[]; leaving: StoredPeer[] };
    expect(stored.peers).toEqual([]);
    expect(stored.leaving).toEqual([{ host: '10.0.0.2:80', id: 'b' }]);
    // The restart: a new station from what was stored.
    const bench2 = new Bench();
    const a2 = bench2.add('a', 1, { leaving: stored.leaving });
    plug(bench2, a2);
    bench2.run_for(5000);
    const reserve = a2.station.handle_tick().allocations.find((x) => x.id === 'b');
    expect(reserve?.reserved_current).toBe(6);
    expect(a2.station.handle_tick().self.applied_current).toBeLessThanOrEqual(32 - 6);
    // A person says it is gone: nothing is reserved, and the stored list is empty.
    a2.station.handle_leave('10.0.0.2:80', true, () => {}, true);
    expect(a2.station.handle_tick().allocations.find((x) => x.id === 'b')).toBeUndefined();
    expect((a2.stored.filter((w) => w.name === 'peers').at(-1)!.value as { leaving: StoredPeer[] }).leaving).toEqual([]);
  });
});

// The wire's merge of a member's frames (wire.ts merge_status_into, used by the station, the
// engine and the page): a block older than the one taken keeps the taken config fields.
describe('the merge of a member\'s frames', () => {
  const known = {
    amp: 16000, pilot: 16,
    loadsharing: { id: 'c1', group_max_current: 17, safety_factor: 1, heartbeat_timeout: 10, failsafe_safe_current: 6, failsafe_peer_assumed_current: 6, config_version: 2, config_hash: 'bb', alloc: { c1: 9 }, committed_current: 9 },
  };
  const older_block = { id: 'c1', group_max_current: 31, safety_factor: 0.9, heartbeat_timeout: 30, failsafe_safe_current: 8, failsafe_peer_assumed_current: 4, config_version: 1, config_hash: 'aa', alloc: { c1: 12 }, committed_current: 12 };

  test('a block with an older config_version keeps every config field taken; its other fields and the top-level keys merge', () => {
    const merged = merge_status(known, { amp: 12000, loadsharing: older_block });
    expect(merged.amp).toBe(12000);
    expect(merged.loadsharing).toEqual({ ...older_block, group_max_current: 17, safety_factor: 1, heartbeat_timeout: 10, failsafe_safe_current: 6, failsafe_peer_assumed_current: 6, config_version: 2, config_hash: 'bb' });
    expect(known.loadsharing.group_max_current).toBe(17); // the document merged into is a copy
  });

  test('the same or a newer config_version is taken whole, a higher limit as well as a lower one', () => {
    expect(merge_status(known, { loadsharing: { ...older_block, config_version: 2 } }).loadsharing).toEqual({ ...older_block, config_version: 2 });
    expect(merge_status(known, { loadsharing: { ...older_block, group_max_current: 59, config_version: 3 } }).loadsharing).toEqual({ ...older_block, group_max_current: 59, config_version: 3 });
  });

  test('without a version to compare, or from another charger\'s id, the block merges as it comes', () => {
    const { config_version: _, ...unversioned } = older_block;
    expect(merge_status(known, { loadsharing: unversioned }).loadsharing!.group_max_current).toBe(31);
    expect(merge_status(known, { loadsharing: { ...older_block, id: 'c9' } }).loadsharing!.group_max_current).toBe(31);
    expect(merge_status({ amp: 0 }, { loadsharing: older_block }).loadsharing).toEqual(older_block);
  });
});

describe('the controller\'s heartbeat current (one function for the host and the judge)', () => {
  test('the failsafe current held to an equal part of the limit over the members, lowered by the failsafe current the group told', () => {
    const bench = new Bench();
    const peers = ['10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80', '10.0.0.5:80'].map((host) => ({ host, id: null }));
    const a = bench.add('a', 1, { peers, config: { loadsharing_group_max_current: 22, loadsharing_failsafe_safe_current: 6 } });
    bench.run_for(1000);
    // 22 A over five members: 4 A each, below the 6 A failsafe current.
    expect(a.evse.spec.heartbeat_current_a).toBe(4);
    expect(heartbeat_current_a({ failsafe_mode: 'safe_current', group_max_current: 22, safety_factor: 1, failsafe_safe_current: 6 }, 5)).toBe(4);
    // Alone at 22 A, the failsafe current; a smaller one told lowers it; disable mode: none.
    expect(heartbeat_current_a({ failsafe_mode: 'safe_current', group_max_current: 22, safety_factor: 1, failsafe_safe_current: 6 }, 1)).toBe(6);
    expect(heartbeat_current_a({ failsafe_mode: 'safe_current', group_max_current: 22, safety_factor: 1, failsafe_safe_current: 6 }, 1, 3)).toBe(3);
    expect(heartbeat_current_a({ failsafe_mode: 'safe_current', group_max_current: 40, safety_factor: 0.5, failsafe_safe_current: 8 }, 4)).toBe(5);
    expect(heartbeat_current_a({ failsafe_mode: 'disable', group_max_current: 22, safety_factor: 1, failsafe_safe_current: 6 }, 1)).toBe(0);
  });
});
