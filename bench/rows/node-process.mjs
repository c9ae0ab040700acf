// Row 4: one real `loadshare node` process (--no-mdns, 127.0.0.1) with 8 peers, each sending
// status at 1 Hz over real WebSockets on loopback: its resident memory and CPU. Targets: RSS
// under 80 MB, CPU under 2 % of one core. Full: a 60 s window; quick: 15 s (said so).
//
// The 8 peers are lightweight fake peers in this (bench) process, so that only the measured
// node's own work is counted: each is an HTTP server on its own loopback port that answers
// GET /status with an OpenEVSE-style status document carrying a valid `loadsharing` block
// (the node's own block as the template: same config and module hash, the peer's id, every
// member seen, an equal share each), and a /ws stream that sends the full document on
// connect and then, once a second (phases staggered), a delta: the car's current moves by
// up to +/-0.3 A and the loadsharing block's applied/committed follow, as a charging car's
// would. The node joins each through POST /loadsharing/peers (reciprocal false; the peer is
// fake) and follows it as host-node/node/peer-link.ts does (GET /status, then /ws). Each
// fake peer also subscribes to the node's /ws, as a real peer would, so the node publishes
// to 8 clients. After the group settles (the node sees all 9 members), the window starts:
// VmRSS from /proc/PID/status every second; utime+stime from /proc/PID/stat at both ends
// (CPU % of one core = CPU seconds / wall seconds x 100). Every process and server started
// here is stopped at the end.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { summarize, round_summary } from '../lib/stats.mjs';
import { format_number } from '../lib/format.mjs';
import { free_port, wait_until, http as request, start_node, stop_all, cpu_seconds, rss_mb } from '../lib/node-procs.mjs';

export const rss_target_mb = 80;
export const cpu_target_percent = 2;
const peer_count = 8;

function fake_peer(id, port, template, member_ids, node_ws_url) {
  const require = createRequire(import.meta.url);
  const { WebSocketServer, WebSocket } = require('ws');
  const share_a = Math.floor(template.loadsharing.group_max_current / member_ids.length);
  const alloc = Object.fromEntries(member_ids.map((m) => [m, share_a]));
  let amp_ma = share_a * 1000;
  const block = () => ({
    ...template.loadsharing, id, seen: member_ids, alloc, degraded: false, failsafe_active: false,
    applied_current: share_a, committed_current: share_a, target_current: share_a, demand: true, demand_cap: 0, reason: 'fair_share',
  });
  let doc = { ...template, ipaddress: '127.0.0.1', amp: amp_ma, pilot: share_a, state: 3, vehicle: 1, power: Math.round((amp_ma / 1000) * 240), hostname: id, loadsharing: block() };
  const clients = new Set();
  let frames_sent = 0;
  let frames_received = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url.split('?')[0] === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(doc));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"msg":"not found"}');
    }
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (req.url.split('?')[0] !== '/ws') { socket.destroy(); return; }
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('error', () => {});
      ws.on('message', () => {}); // {"ping":1} needs no answer from a fake
      ws.send(JSON.stringify(doc));
    });
  });
  // Deterministic wobble: a small LCG seeded by the peer's index.
  let seed = 0x9e3779b9 ^ (port * 2654435761);
  const next = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const push = () => {
    amp_ma = Math.max(6000, Math.min(share_a * 1000, amp_ma + Math.round((next() - 0.5) * 600)));
    const applied = Math.round(amp_ma / 1000);
    const delta = { amp: amp_ma, power: Math.round((amp_ma / 1000) * 240), loadsharing: { applied_current: applied, committed_current: applied } };
    doc = { ...doc, ...delta, loadsharing: { ...doc.loadsharing, ...delta.loadsharing } };
    const text = JSON.stringify(delta);
    for (const ws of clients) if (ws.readyState === WebSocket.OPEN) { ws.send(text); frames_sent += 1; }
  };
  let interval = null;
  let phase = null;
  let client = null;
  return {
    id,
    address: `127.0.0.1:${port}`,
    async listen() { await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); }); },
    start(phase_ms) {
      phase = setTimeout(() => { push(); interval = setInterval(push, 1000); }, phase_ms);
      client = new WebSocket(node_ws_url, { headers: { 'x-loadshare-host': `127.0.0.1:${port}` } });
      client.on('message', () => { frames_received += 1; });
      client.on('error', () => {});
    },
    counts: () => ({ frames_sent, frames_received, clients: clients.size }),
    reset_counts() { frames_sent = 0; frames_received = 0; },
    async close() {
      clearTimeout(phase);
      clearInterval(interval);
      client?.terminate();
      for (const ws of clients) ws.terminate();
      wss.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// What a bare Node process of the same binary is resident at (context for the figure).
function bare_node_rss_mb() {
  const out = execFileSync(process.execPath, ['-e', "setTimeout(() => console.log(/^VmRSS:\\s+(\\d+)/m.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]), 200)"], { encoding: 'utf8' });
  return Number(out.trim()) / 1024;
}

// Input: ctx.root, ctx.quick.
export async function node_process(ctx) {
  const window_s = ctx.quick ? 15 : 60;
  const work = mkdtempSync(join(tmpdir(), 'loadshare-bench-node-'));
  const peers = [];
  try {
    const node_id = 'bench';
    const port = await free_port();
    const node = await start_node({
      root: ctx.root, id: node_id, port, data_dir: join(work, node_id),
      config: { loadsharing_group_id: 'bench', loadsharing_group_max_current: 80 },
    });
    // The node's own status document is the template for the fakes: same config and module.
    const template = await request(node.base, 'GET', '/status');
    if (typeof template?.loadsharing?.config_hash !== 'string') throw new Error('the node\'s /status has no loadsharing block');
    const rss_alone_mb = rss_mb(node.pid); // started, no peers yet: the baseline
    const peer_ids = Array.from({ length: peer_count }, (_, i) => `peer${i + 1}`);
    const member_ids = [node_id, ...peer_ids].sort();
    for (const id of peer_ids) {
      const peer = fake_peer(id, await free_port(), template, member_ids, `ws://127.0.0.1:${port}/ws`);
      await peer.listen();
      peers.push(peer);
    }
    peers.forEach((p, i) => p.start(Math.round((i * 1000) / peer_count)));
    for (const p of peers) await request(node.base, 'POST', '/loadsharing/peers', { host: p.address, reciprocal: false });
    const seen_all = async () => {
      const s = await request(node.base, 'GET', '/status');
      return s.loadsharing.seen.length === member_ids.length && s.loadsharing.degraded === false;
    };
    await wait_until(seen_all, 20000, 'the node to see all 9 members', () => node.lines.slice(-5).join(' / '));
    await new Promise((r) => setTimeout(r, 2000)); // settle: first allocations, JIT warm-up
    for (const p of peers) p.reset_counts();
    const rss_samples = [];
    const cpu_start_s = cpu_seconds(node.pid);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < window_s; i++) {
      rss_samples.push(rss_mb(node.pid));
      await new Promise((r) => setTimeout(r, 1000));
    }
    rss_samples.push(rss_mb(node.pid));
    const cpu_end_s = cpu_seconds(node.pid);
    const wall_s = Number(process.hrtime.bigint() - t0) / 1e9;
    const still_seen = await seen_all();
    const counts = peers.map((p) => p.counts());
    const rss = round_summary(summarize(rss_samples), 1);
    const rss_peak_mb = Math.max(...rss_samples);
    const cpu_percent = ((cpu_end_s - cpu_start_s) / wall_s) * 100;
    const frames_to_node = counts.reduce((s, c) => s + c.frames_sent, 0);
    const frames_from_node = counts.reduce((s, c) => s + c.frames_received, 0);
    if (frames_to_node < peer_count * (window_s - 2)) throw new Error(`only ${frames_to_node} status frames reached the node in ${window_s} s`);
    const data = {
      status: 'measured',
      window_s,
      wall_s: Number(wall_s.toFixed(2)),
      peers: peer_count,
      rss_mb: rss,
      rss_peak_mb: Number(rss_peak_mb.toFixed(1)),
      rss_alone_mb: Number(rss_alone_mb.toFixed(1)),
      rss_bare_node_mb: Number(bare_node_rss_mb().toFixed(1)),
      rss_samples_mb: rss_samples.map((x) => Number(x.toFixed(1))),
      cpu_seconds: Number((cpu_end_s - cpu_start_s).toFixed(2)),
      cpu_percent_one_core: Number(cpu_percent.toFixed(2)),
      frames_to_node,
      frames_from_node,
      members_seen_at_end: still_seen,
      rss_result: rss_peak_mb < rss_target_mb ? 'pass' : 'miss',
      cpu_result: cpu_percent < cpu_target_percent ? 'pass' : 'miss',
    };
    const label = `Node charger process, ${peer_count} peers at 1 Hz for ${window_s} s${ctx.quick ? ' (quick; full run: 60 s)' : ''}`;
    return {
      ...data,
      summary: [
        { figure: `${label}: RSS peak (median)`, value: `${rss_peak_mb.toFixed(1)} MB (${format_number(rss.median)} MB)`, target: `< ${rss_target_mb} MB`, result: data.rss_result },
        { figure: `${label}: CPU`, value: `${cpu_percent.toFixed(2)} % of one core`, target: `< ${cpu_target_percent} % of one core`, result: data.cpu_result },
      ],
      details: {
        title: 'Node charger process with 8 peers',
        columns: ['window', 'bare `node` process MB', 'node alone (before peers) MB', 'RSS median MB', 'RSS p10-p90 MB', 'RSS peak MB', 'CPU s', 'CPU % of one core', 'status frames to the node', 'frames from the node', 'all 9 members seen at the end'],
        rows: [[`${window_s} s`, data.rss_bare_node_mb, data.rss_alone_mb, rss.median, `${rss.p10}-${rss.p90}`, data.rss_peak_mb, data.cpu_seconds, data.cpu_percent_one_core, frames_to_node, frames_from_node, still_seen ? 'yes' : 'no']],
        notes: [
          'One real `loadshare node` process; the 8 peers are fake peers in the bench process (HTTP GET /status + /ws, full then delta documents at 1 Hz, staggered), so only the node is measured.',
          'RSS from /proc/PID/status VmRSS every second; CPU from /proc/PID/stat utime+stime at both ends of the window.',
        ],
      },
    };
  } finally {
    await Promise.all(peers.map((p) => p.close()));
    await stop_all();
    rmSync(work, { recursive: true, force: true });
  }
}
