// Chargers without load sharing on the same breaker (issue 16, item 5): a peer that answers
// like OpenEVSE but publishes no loadsharing block is reported as an uncontrolled load with
// the reserve the group must keep for it, never as idle. The peer here is a stand-in for
// upstream WiFi firmware (a deliberate test seam): real HTTP and WebSocket on loopback,
// serving upstream's /status document (upstream's fields, docs/api.md).
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { Core } from '../host-node/core.js';
import { Charger } from '../host-node/node/charger.js';
import { loadsharing_status, peer_list } from '../host-node/node/loadsharing-status.js';
import { answers_like_openevse, uncontrolled_reserve } from '../host-node/node/uncontrolled.js';
import { member_rows, group_summary, type GroupStatus } from '../ui/src/lib/model.js';
import { free_port, wait_until } from './helpers/node-proc.js';
import { admin_config } from './helpers/admin.js';
import { Fleet, until, type Live } from './helpers/chargers.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { while (cleanups.length > 0) await cleanups.pop()!(); });

// Upstream firmware's /status, trimmed: no loadsharing block.
function upstream_doc(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { mode: 'STA', amp: 0, voltage: 240, pilot: 32, max_current: 32, state: 254, status: 'disabled', vehicle: 0, uptime: 1, config_version: 6, ...over };
}

async function upstream_firmware(doc: Record<string, unknown>): Promise<{ port: number; set: (over: Record<string, unknown>) => void }> {
  const port = await free_port();
  const server: Server = createServer((req, res) => {
    if (req.url === '/status') { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(doc)); return; }
    res.statusCode = 404; res.end();
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (socket) => socket.send(JSON.stringify(doc)));
  // Upstream sends changed fields; uptime changes every second.
  const timer = setInterval(() => {
    doc.uptime = (doc.uptime as number) + 1;
    for (const c of wss.clients) c.send(JSON.stringify({ uptime: doc.uptime }));
  }, 300);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  cleanups.push(() => { clearInterval(timer); for (const c of wss.clients) c.terminate(); wss.close(); return new Promise<void>((r) => server.close(() => r())); });
  return {
    port,
    set: (over) => {
      Object.assign(doc, over);
      for (const c of wss.clients) c.send(JSON.stringify(over));
    },
  };
}

async function node_with_peer(peer_port: number): Promise<Charger> {
  const dir = mkdtempSync(join(tmpdir(), 'loadshare-uncontrolled-'));
  const charger = await Charger.create({ id: 'a', host: '127.0.0.1', http_port: await free_port(), data_dir: dir, core, mdns: false, peers: [`127.0.0.1:${peer_port}`], config_overrides: admin_config });
  charger.start();
  cleanups.push(async () => { await charger.stop(); rmSync(dir, { recursive: true, force: true }); });
  return charger;
}

describe('the reserve for a charger without load sharing', () => {
  const facts = { max_current: 32, pilot: 16, amp: 0, heard_age_ms: 500, connected: true };
  test.each([
    [facts, 16, 'pilot'],
    [{ ...facts, heard_age_ms: 2500 }, 32, 'max_current'], // stale pilot: it may have raised it since
    [{ ...facts, connected: false }, 32, 'max_current'],
    [{ ...facts, heard_age_ms: null }, 32, 'max_current'],
    [{ ...facts, pilot: 40 }, 32, 'max_current'],
    [{ ...facts, pilot: 0 }, 0, 'pilot'],
    [{ ...facts, max_current: undefined }, 16, 'pilot'],
    [{ ...facts, max_current: undefined, pilot: undefined }, 50, 'group_max_current'],
    [{ ...facts, amp: 20000 }, 20, 'measured'], // draws more than its reported pilot
  ])('%j: %d A (%s)', (f, reserve_a, basis) => {
    const r = uncontrolled_reserve(f, 50, 2000);
    expect(r.reserve_a).toBe(reserve_a);
    expect(r.basis).toBe(basis);
  });

  test('what answers like OpenEVSE', () => {
    expect(answers_like_openevse(upstream_doc())).toBe(true);
    expect(answers_like_openevse({ amp: 0 })).toBe(false);
    expect(answers_like_openevse({ hello: 'world' })).toBe(false);
  });
});

describe('a node next to upstream firmware', () => {
  test('reports it as an uncontrolled load, reserving its maximum, then its fresh lower pilot; never idle', async () => {
    const peer = await upstream_firmware(upstream_doc());
    const node = await node_with_peer(peer.port);
    const find = () => peer_list(node).find((p) => p.host === `127.0.0.1:${peer.port}`)!;
    await wait_until(() => find().uncontrolled === true, 15000, 'the peer to be seen as uncontrolled');
    // Sleeping with no car, pilot 32 = its maximum: 32 A kept for it.
    expect(find()).toMatchObject({ uncontrolled: true, uncontrolled_reserve: 32, reserve_basis: 'max_current', reason: 'uncontrolled' });
    // Its user lowers its current to 16 A: fresh, so 16 A.
    peer.set({ pilot: 16 });
    await wait_until(() => find().uncontrolled_reserve === 16, 10000, 'the reserve to follow the pilot');
    expect(find().reserve_basis).toBe('pilot');
    const status = loadsharing_status(node);
    expect(status.uncontrolled_current).toBe(16);
    const alloc = (status.allocations as Array<{ id: string; uncontrolled: boolean }>).find((a) => a.id.includes(String(peer.port)));
    expect(alloc?.uncontrolled).toBe(true);

    // The page shows it as such, with what is kept for it, and as something that lowers the limit.
    const doc = node.status_doc() as Parameters<typeof member_rows>[0];
    const rows = member_rows(doc, status as unknown as GroupStatus, node.config_doc());
    const row = rows.find((r) => r.host === `127.0.0.1:${peer.port}`)!;
    expect(row).toMatchObject({ state: 'no load sharing', reserved_a: 16, alloc_a: null, reason: 'no load sharing: reserving its pilot, 16 A' });
    const summary = group_summary(doc, status as unknown as GroupStatus, node.config_doc(), rows);
    expect(summary.uncontrolled_a).toBe(16);
    expect(summary.lowered_by.some((l) => l.startsWith('chargers without load sharing on this breaker:'))).toBe(true);
  });

  test('a peer that publishes our block is a member, not an uncontrolled load', async () => {
    const peer = await upstream_firmware(upstream_doc({ loadsharing: { id: 'b', seen: ['b'], demand: false, applied_current: 0, committed_current: 0 } }));
    const node = await node_with_peer(peer.port);
    const find = () => peer_list(node).find((p) => p.host === `127.0.0.1:${peer.port}`)!;
    await wait_until(() => find().id === 'b', 15000, 'the peer to be known by its id');
    expect(find().uncontrolled).toBe(false);
    expect(loadsharing_status(node).uncontrolled_current).toBe(0);
  });

  test('a silent link falls back to the maximum', async () => {
    const peer = await upstream_firmware(upstream_doc({ pilot: 10 }));
    const node = await node_with_peer(peer.port);
    const find = () => peer_list(node).find((p) => p.host === `127.0.0.1:${peer.port}`)!;
    await wait_until(() => find().uncontrolled_reserve === 10, 15000, 'a fresh pilot of 10 A');
    // The stand-in stops talking (server closed): the pilot goes stale and the maximum is kept.
    while (cleanups.length > 1) await cleanups.splice(0, 1)[0]();
    await wait_until(() => find().uncontrolled_reserve === 32, 15000, 'the maximum once the pilot is stale');
    expect(find().reserve_basis).toBe('max_current');
  });
});

// Rule 3 on real nodes (docs/protocol.md): two load-sharing nodes (real HTTP and /ws servers
// on loopback, test/helpers/chargers.ts) and an upstream charger on one 40 A breaker. The
// upstream charger has no car (it draws nothing) but its user may plug one in at any moment:
// the nodes keep its maximum, never take its headroom, and count a fresh lower pilot once the
// hold after its last rise has passed.
describe('real nodes next to a charger without load sharing', () => {
  test('the others keep its reserve while it is idle, and its fresh lower pilot after the hold', async () => {
    const fleet = new Fleet(core);
    cleanups.push(() => fleet.close());
    const peer = await upstream_firmware(upstream_doc({ max_current: 16, pilot: 16, state: 1 }));
    const [pa, pb] = [await fleet.port(), await fleet.port()];
    const upstream = `127.0.0.1:${peer.port}`;
    const options = (other: number) => ({
      peers: [`127.0.0.1:${other}`, upstream], car: { connected: true, max_current_a: 32 },
      config_overrides: { loadsharing_group_max_current: 40 },
    });
    const a = await fleet.make('a', options(pb), pa);
    const b = await fleet.make('b', options(pa), pb);
    const applied = (l: Live) => (l.charger.status_doc().loadsharing as { applied_current: number }).applied_current;
    const reserved = (l: Live) => l.charger.engine.last_decision()!.allocations.find((x) => x.uncontrolled);
    // 40 A less 16 A kept for the idle upstream charger: 12 A each, and never more.
    await until('both nodes at 12 A', () => applied(a) === 12 && applied(b) === 12, [a, b], 30000);
    expect(reserved(a)).toMatchObject({ id: `?${upstream}`, reserved_current: 16, reason: 'reserved', target_current: 0, demanding: false });
    expect(reserved(b)).toMatchObject({ reserved_current: 16, reason: 'reserved' });
    const seen_max_a = [applied(a), applied(b)];
    const sampler = setInterval(() => { seen_max_a[0] = Math.max(seen_max_a[0], applied(a)); seen_max_a[1] = Math.max(seen_max_a[1], applied(b)); }, 50);
    cleanups.push(() => clearInterval(sampler));
    await new Promise((r) => setTimeout(r, 3000)); // idle for a while: its headroom stays its own
    expect(seen_max_a).toEqual([12, 12]);
    // Its user lowers its current to 6 A: the reserve follows once the pilot is fresh and no
    // rise of it is recent (ev_response + message_delay_max, about 7 s after its first report).
    peer.set({ pilot: 6 });
    await until('both nodes at 17 A', () => applied(a) === 17 && applied(b) === 17, [a, b], 20000);
    expect(reserved(a)!.reserved_current).toBe(6);
    // Its user raises it again: its maximum is kept at once.
    peer.set({ pilot: 10 });
    await until('both nodes back at 12 A', () => applied(a) === 12 && applied(b) === 12, [a, b], 10000);
    expect(reserved(a)!.reserved_current).toBe(16);
  }, 600000);
});
