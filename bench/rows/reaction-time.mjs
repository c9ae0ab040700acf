// Row 5: reaction time on loopback with three real `loadshare node` processes (a, b, c;
// 127.0.0.1, --no-mdns, one 32 A group, heartbeat_timeout 5 s, the built-in simulated
// OpenEVSE each). Cars are plugged in at b and c (16 A each). Then, per repetition, a car
// plugs in at a (POST /sim/ev, t0 taken just before the request is sent) and the bench,
// subscribed to every node's /ws, timestamps on receipt the frames in which
// `loadsharing.applied_current` changes:
//   - decrease: until both b and c have applied a lower limit (the later of the two; target
//     under 200 ms);
//   - increase: until the newcomer a applies a limit above 0 (no target: the protocol lets
//     it rise only after the others' decreases are in force, i.e. after the ev_response
//     wait, 5 s by default; reported), and until it reaches its final share.
// Then the car at a unplugs and the bench waits for b and c to be back at 16 A before the
// next repetition. Full: 10 repetitions; quick: 3. Timings are printed, never checked.
// Every process started here is stopped at the end (by pid, through its ChildProcess).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { summarize, round_summary } from '../lib/stats.mjs';
import { median_spread } from '../lib/format.mjs';
import { free_port, wait_until, http as request, start_node, stop_all } from '../lib/node-procs.mjs';

export const decrease_target_ms = 200;
const heartbeat_timeout_s = 5;
const group_max_current_a = 32;

// Follows a node's /ws: merges the full document and the deltas, and notes when
// loadsharing.applied_current changes (receipt time, performance.now()).
function follow(node) {
  const require = createRequire(import.meta.url);
  const WebSocket = require('ws');
  const ws = new WebSocket(`ws://127.0.0.1:${node.port}/ws`);
  const state = { applied: null, changes: [], ws, open: new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }) };
  ws.on('message', (data) => {
    const at_ms = performance.now();
    let doc;
    try { doc = JSON.parse(data.toString()); } catch { return; }
    const applied = doc?.loadsharing?.applied_current;
    if (typeof applied === 'number' && applied !== state.applied) {
      state.changes.push({ at_ms, from: state.applied, to: applied });
      state.applied = applied;
    }
  });
  ws.on('error', () => {});
  return state;
}

// Input: ctx.root, ctx.quick.
export async function reaction_time(ctx) {
  const repetitions = ctx.quick ? 3 : 10;
  const work = mkdtempSync(join(tmpdir(), 'loadshare-bench-react-'));
  const follows = [];
  try {
    const ids = ['a', 'b', 'c'];
    // One group key on every node from the start (a group without one is report-only, and a
    // person's join without pairing leaves the newcomer unheard: docs/security.md).
    const config = { loadsharing_group_id: 'bench', loadsharing_group_max_current: group_max_current_a, loadsharing_heartbeat_timeout: heartbeat_timeout_s, loadsharing_group_key: 'bench-group-key-0123456789' };
    const nodes = {};
    for (const id of ids) nodes[id] = await start_node({ root: ctx.root, id, port: await free_port(), data_dir: join(work, id), config });
    const logs = () => ids.map((id) => `${id}: ${nodes[id].lines.slice(-3).join(' / ')}`).join(' | ');
    await request(nodes.a.base, 'POST', '/loadsharing/peers', { host: nodes.b.address });
    await request(nodes.a.base, 'POST', '/loadsharing/peers', { host: nodes.c.address });
    await request(nodes.b.base, 'POST', '/loadsharing/peers', { host: nodes.c.address });
    const block = async (id) => (await request(nodes[id].base, 'GET', '/status')).loadsharing;
    await wait_until(async () => {
      for (const id of ids) {
        const b = await block(id);
        if (b.seen.join() !== 'a,b,c' || b.degraded) return false;
      }
      return true;
    }, 20000, 'every node to see a,b,c and be healthy', logs);
    for (const id of ['b', 'c']) await request(nodes[id].base, 'POST', '/sim/ev', { connected: true, lag_ms: 0 });
    const both_at = async (amps) => (await block('b')).applied_current === amps && (await block('c')).applied_current === amps;
    await wait_until(() => both_at(16), 30000, 'b and c at 16 A', logs);
    const w = Object.fromEntries(ids.map((id) => [id, follow(nodes[id])]));
    follows.push(...Object.values(w));
    await Promise.all(Object.values(w).map((f) => f.open));
    await wait_until(() => Object.values(w).every((f) => f.applied !== null), 5000, 'the first /ws documents');

    const reps = [];
    for (let rep = 0; rep < repetitions; rep++) {
      for (const f of Object.values(w)) f.changes = [];
      const before = { a: w.a.applied, b: w.b.applied, c: w.c.applied };
      if (before.a !== 0 || before.b !== 16 || before.c !== 16) throw new Error(`repetition ${rep + 1} starts from a=${before.a} b=${before.b} c=${before.c} A, not 0/16/16`);
      const t0 = performance.now();
      await request(nodes.a.base, 'POST', '/sim/ev', { connected: true, lag_ms: 0 });
      const down = (id) => w[id].changes.find((c) => c.to < before[id]);
      await wait_until(() => down('b') && down('c'), 5000, 'b and c to decrease', logs);
      const up = () => w.a.changes.find((c) => c.to > 0);
      await wait_until(() => up() !== undefined, 30000, 'a to rise', logs);
      // Settled: the three applied limits add up to the group's and a is no longer rising.
      await wait_until(() => w.a.applied + w.b.applied + w.c.applied >= group_max_current_a - 2 && w.a.applied >= 10, 30000, 'a to reach its share', logs);
      const final_at = w.a.changes[w.a.changes.length - 1].at_ms;
      reps.push({
        decrease_b_ms: down('b').at_ms - t0,
        decrease_c_ms: down('c').at_ms - t0,
        decrease_ms: Math.max(down('b').at_ms, down('c').at_ms) - t0,
        increase_first_ms: up().at_ms - t0,
        increase_final_ms: final_at - t0,
        shares_a: `${w.a.applied}/${w.b.applied}/${w.c.applied}`,
      });
      await request(nodes.a.base, 'POST', '/sim/ev', { connected: false });
      await wait_until(() => w.a.applied === 0 && w.b.applied === 16 && w.c.applied === 16, 30000, 'b and c back at 16 A', logs);
    }
    const pick = (key) => round_summary(summarize(reps.map((r) => r[key])), 1);
    const decrease_ms = pick('decrease_ms');
    const increase_first_ms = pick('increase_first_ms');
    const increase_final_ms = pick('increase_final_ms');
    const data = {
      status: 'measured',
      repetitions,
      heartbeat_timeout_s,
      group_max_current_a,
      decrease_ms,
      decrease_per_charger_ms: { b: pick('decrease_b_ms'), c: pick('decrease_c_ms') },
      increase_first_ms,
      increase_final_ms,
      decrease_result: decrease_ms.median < decrease_target_ms ? 'pass' : 'miss',
      reps: reps.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toFixed(1)) : v]))),
    };
    return {
      ...data,
      summary: [
        { figure: `reaction: car plugs in -> both others apply their decrease (3 processes, median of ${repetitions})`, value: median_spread(decrease_ms, ' ms'), target: `< ${decrease_target_ms} ms`, result: data.decrease_result },
        { figure: 'reaction: car plugs in -> newcomer applies its first increase', value: median_spread(increase_first_ms, ' ms'), target: 'report (bounded by ev_response, 5 s)', result: 'info' },
        { figure: 'reaction: car plugs in -> newcomer at its final share', value: median_spread(increase_final_ms, ' ms'), target: 'report', result: 'info' },
      ],
      details: {
        title: 'Reaction time on loopback (a plugs in; b and c were at 16 A)',
        columns: ['rep', 'b decreases ms', 'c decreases ms', 'both decreased ms', 'a first increase ms', 'a final share ms', 'applied a/b/c A'],
        rows: data.reps.map((r, i) => [i + 1, r.decrease_b_ms, r.decrease_c_ms, r.decrease_ms, r.increase_first_ms, r.increase_final_ms, r.shares_a]),
        notes: [
          't0 is taken in the bench process just before POST /sim/ev is sent to a; each time is the receipt, in the bench process, of the /ws frame in which that node\'s loadsharing.applied_current changed.',
          'The newcomer may rise only once the others\' lowered limits are in force for the protocol\'s ev_response wait (5 s by default), so its increase is bounded by that, not by the network.',
        ],
      },
    };
  } finally {
    for (const f of follows) f.ws.terminate();
    await stop_all();
    rmSync(work, { recursive: true, force: true });
  }
}
