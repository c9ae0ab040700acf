// Row 1: decision time per compute() for 2, 4, 8 and 16 members, the same release module
// and the same input block bytes in every engine, against the native lower bound (wasm2c +
// gcc -O2). Rounds interleave the engines (in a rotating order) so that a slow spell of the
// shared machine lands on all of them, and every ratio comes from this one run.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { prepare_native, run_native } from '../engines/native.mjs';
import { prepare_wasm2js, run_js } from '../engines/js.mjs';
import { find_wasm3, run_wasm3 } from '../engines/wasm3.mjs';
import { summarize, round_summary, round_to } from '../lib/stats.mjs';
import { median_spread, ratio as format_ratio, format_number } from '../lib/format.mjs';

const inlining_flag = '--experimental-wasm-inlining';

function node_accepts(flag) {
  return spawnSync(process.execPath, [flag, '-e', '0']).status === 0;
}

// Each engine: how to get ready once (or why it cannot), and how to run a plan. `target` is
// the engine/native ratio the issue asks for; engines without one are reported for information.
export const engines = [
  {
    name: 'native',
    label: 'native (wasm2c + gcc -O2)',
    prepare: (ctx) => prepare_native(ctx.root, ctx.module_path, join(ctx.work_dir, 'native')),
    run: (ready, plan, ctx) => run_native(ready, plan, join(ctx.work_dir, 'native')),
  },
  {
    name: 'v8',
    label: 'V8 (Node WebAssembly)',
    target_ratio: 1.5,
    prepare: (ctx) => ({ module_path: ctx.module_path, versions: { node: process.version, v8: process.versions.v8 } }),
    run: (ready, plan, ctx) => run_js(ctx.root, 'v8', ready.module_path, plan, ctx.work_dir),
  },
  {
    name: 'v8_inlining',
    label: `V8 ${inlining_flag} (diagnostic)`,
    prepare: (ctx) => (node_accepts(inlining_flag)
      ? { module_path: ctx.module_path, versions: { node: process.version, flags: inlining_flag } }
      : { unavailable: `this Node does not accept ${inlining_flag}` }),
    run: (ready, plan, ctx) => run_js(ctx.root, 'v8_inlining', ready.module_path, plan, ctx.work_dir, [inlining_flag]),
  },
  {
    name: 'wasm2js',
    label: 'wasm2js (JavaScript in V8)',
    prepare: (ctx) => prepare_wasm2js(ctx.root, ctx.module_path, join(ctx.work_dir, 'wasm2js')),
    run: (ready, plan, ctx) => run_js(ctx.root, 'wasm2js', ready.module_path, plan, ctx.work_dir),
  },
  {
    name: 'wasm3',
    label: 'wasm3 (ESP32 host, native build)',
    target_ratio: 12,
    prepare: (ctx) => find_wasm3(ctx.root),
    run: (ready, plan, ctx) => run_wasm3(ready, ctx.module_path, plan, join(ctx.work_dir, 'wasm3')),
  },
];

// Input: ctx.inputs (bench/lib/groups.mjs: member_count, input and reference output bytes),
// ctx.settings.decision ({ rounds, samples_per_round, sample_target_ms, warmup_ms }).
export async function decision_time(ctx) {
  const settings = ctx.settings.decision;
  const plan = {
    warmup_ns: settings.warmup_ms * 1e6,
    sample_target_ns: settings.sample_target_ms * 1e6,
    samples: settings.samples_per_round,
    out_size: ctx.inputs[0].output.length,
    cases: ctx.inputs.map((c) => ({ member_count: c.member_count, input_hex: Buffer.from(c.input).toString('hex') })),
  };
  const reference = new Map(ctx.inputs.map((c) => [c.member_count, Buffer.from(c.output).toString('hex')]));
  const state = engines.map((engine) => {
    let ready;
    try {
      ready = engine.prepare(ctx);
    } catch (error) {
      ready = { error: `${engine.name}: ${error.message.split('\n')[0]}` };
    }
    return { engine, ready, samples: new Map(), wall_samples: new Map(), calls: new Map() };
  });
  for (let round = 0; round < settings.rounds; round++) {
    const order = state.map((_, i) => state[(i + round) % state.length]);
    for (const entry of order) {
      if (entry.ready.pending || entry.ready.unavailable || entry.ready.error) continue;
      try {
        const answer = entry.engine.run(entry.ready, plan, ctx);
        for (const result of answer.results) {
          if (result.output_hex !== reference.get(result.member_count)) {
            throw new Error(`output block for ${result.member_count} members differs from the reference (V8 through the Node binding)`);
          }
          if (!result.stable) throw new Error(`output block for ${result.member_count} members changed over repeated calls`);
          entry.samples.set(result.member_count, [...(entry.samples.get(result.member_count) ?? []), ...result.ns_per_call]);
          if (result.wall_ns_per_call) entry.wall_samples.set(result.member_count, [...(entry.wall_samples.get(result.member_count) ?? []), ...result.wall_ns_per_call]);
          entry.calls.set(result.member_count, [...(entry.calls.get(result.member_count) ?? []), result.calls_per_sample]);
        }
        if (entry.engine.name === 'wasm3') ctx.wasm3_answers = answer.results; // rows 2 and 3 read its load/memory figures
      } catch (error) {
        entry.ready = { error: `${entry.engine.name}: ${error.message.split('\n')[0]}` };
      }
    }
  }
  return summarize_engines(state, ctx.inputs.map((c) => c.member_count), settings);
}

function summarize_engines(state, member_counts, settings) {
  const engines_out = {};
  for (const { engine, ready, samples, wall_samples, calls } of state) {
    const status = ready.pending ? 'pending' : ready.unavailable ? 'unavailable' : ready.error ? 'error' : 'measured';
    const out = { label: engine.label, status };
    if (status !== 'measured') out.reason = ready.pending ?? ready.unavailable ?? ready.error;
    else {
      out.versions = ready.versions;
      out.by_members = Object.fromEntries(member_counts.map((n) => [n, {
        ns_per_call: round_summary(summarize(samples.get(n)), 1),
        wall_ns_per_call: wall_samples.has(n) ? round_summary(summarize(wall_samples.get(n)), 1) : null,
        calls_per_sample: calls.get(n),
      }]));
    }
    engines_out[engine.name] = out;
  }
  const ratios = {};
  const native = engines_out.native;
  for (const engine of engines.filter((e) => e.name !== 'native')) {
    const key = `${engine.name}_over_native`;
    const other = engines_out[engine.name];
    const ratio = { target_max: engine.target_ratio ?? null };
    if (other.status !== 'measured' || native.status !== 'measured') {
      ratio.status = other.status === 'pending' ? 'pending' : 'unavailable';
      ratio.reason = other.status !== 'measured' ? other.reason : `native: ${native.reason}`;
    } else {
      ratio.status = 'measured';
      ratio.by_members = Object.fromEntries(member_counts.map((n) => [n,
        round_to(other.by_members[n].ns_per_call.median / native.by_members[n].ns_per_call.median, 2)]));
      const logs = member_counts.map((n) => Math.log(ratio.by_members[n]));
      ratio.geomean = round_to(Math.exp(logs.reduce((a, b) => a + b, 0) / logs.length), 2);
      if (engine.target_ratio) ratio.result = Object.values(ratio.by_members).every((r) => r <= engine.target_ratio) ? 'pass' : 'miss';
    }
    ratios[key] = ratio;
  }
  const data = { status: 'measured', settings, member_counts, engines: engines_out, ratios };
  return { ...data, summary: summary_lines(data), details: details_table(data) };
}

function summary_lines({ member_counts, engines: engines_out, ratios }) {
  const native = engines_out.native;
  const lines = [{
    figure: `decision time, ${native.label}, ${member_counts.join('/')} members`,
    value: native.status === 'measured'
      ? `${member_counts.map((n) => format_number(native.by_members[n].ns_per_call.median)).join(' / ')} ns`
      : `${native.status}: ${native.reason}`,
    target: 'lower bound',
    result: native.status === 'measured' ? 'info' : native.status,
  }];
  for (const engine of engines.filter((e) => e.name !== 'native')) {
    const r = ratios[`${engine.name}_over_native`];
    lines.push({
      figure: `${engine.label} / native, ${member_counts.join('/')} members`,
      value: r.status === 'measured'
        ? `${member_counts.map((n) => format_ratio(r.by_members[n])).join(' / ')} (geomean ${format_ratio(r.geomean)})`
        : `${r.status}: ${r.reason}`,
      target: r.target_max ? `<= ${r.target_max}x` : '-',
      result: r.status === 'measured' ? (r.result ?? 'info') : r.status,
    });
  }
  return lines;
}

// One line per group size; per engine its ns/call (median, p10-p90) and its ratio to native.
function details_table({ member_counts, engines: engines_out, ratios }) {
  const measured = engines.filter((e) => engines_out[e.name].status === 'measured');
  const columns = ['members'];
  for (const engine of measured) {
    columns.push(`${engine.name} ns/call`);
    if (engine.name !== 'native' && ratios[`${engine.name}_over_native`]?.status === 'measured') columns.push(`${engine.name}/native`);
  }
  const rows = member_counts.map((n) => {
    const row = [String(n)];
    for (const engine of measured) {
      row.push(median_spread(engines_out[engine.name].by_members[n].ns_per_call));
      const r = ratios[`${engine.name}_over_native`];
      if (engine.name !== 'native' && r?.status === 'measured') row.push(format_ratio(r.by_members[n]));
    }
    return row;
  });
  const notes = engines.filter((e) => engines_out[e.name].status !== 'measured')
    .map((e) => `${e.label}: ${engines_out[e.name].status}: ${engines_out[e.name].reason}`);
  return { title: 'Decision time per compute(), CPU ns per call: median (p10-p90)', columns, rows, notes };
}
