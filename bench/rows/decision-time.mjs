// Row 1: decision time per compute() for 2, 4, 8 and 16 members, the same release module
// and the same input block bytes in every engine, against the native lower bound (wasm2c +
// gcc -O2). Rounds interleave the engines (in a rotating order) so that a slow spell of the
// shared machine lands on all of them, and every ratio comes from this one run.
// Two kinds of engine: `compute` ones time compute() alone on an input block already in
// linear memory (the figure the targets are about), the others the whole call as a host
// makes it (the block copied in, compute(), the block copied out; for Node also its
// binding's encoding of the view and decoding of the decision), each against the native
// engine of the same kind. V8 runs under the Node line the bench runs on (the main runtime)
// and under the other pinned lines (scripts/node-versions.json) for comparison.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { prepare_native, run_native } from '../engines/native.mjs';
import { prepare_wasm2js, run_js } from '../engines/js.mjs';
import { ensure_wasm3, run_wasm3 } from '../engines/wasm3.mjs';
import { ensure_node, node_versions } from '../../scripts/ensure-node.mjs';
import { summarize, round_summary, round_to } from '../lib/stats.mjs';
import { median_spread, ratio as format_ratio, format_number } from '../lib/format.mjs';

const main_major = process.versions.node.split('.')[0];

function node_v8_version(binary) {
  return spawnSync(binary, ['-p', 'process.versions.v8'], { encoding: 'utf8' }).stdout.trim();
}

// V8 under another pinned Node line, installed on demand (scripts/ensure-node.mjs).
function other_node(major) {
  return {
    name: `v8_node${major}`,
    label: `V8, Node ${major}`,
    baseline: 'native',
    prepare: (ctx) => {
      try {
        const node = ensure_node(major, (line) => process.stderr.write(`${line}\n`));
        return { module_path: ctx.module_path, node_binary: node.binary, versions: { node: node.version, v8: node_v8_version(node.binary) } };
      } catch (error) {
        return { unavailable: error.message };
      }
    },
    run: (ready, plan, ctx) => run_js(ctx.root, `v8_node${major}`, ready.module_path, plan, ctx.work_dir, ready.node_binary),
  };
}

const this_node = (ctx) => ({ module_path: ctx.module_path, versions: { node: process.versions.node, v8: process.versions.v8 } });

// Each engine: how to get ready once (or why it cannot), and how to run a plan; `mode` is
// what one timed call is (bench/engines/timing-plan.md), `baseline` the engine its ratio is
// taken against, `target_ratio` the ratio the issue asks for (the others are information).
export function make_engines() {
  const others = Object.keys(node_versions().versions).filter((major) => major !== main_major)
    .sort((a, b) => Number(b) - Number(a));
  return [
    {
      name: 'native',
      label: 'native (wasm2c + gcc -O2)',
      prepare: (ctx) => prepare_native(ctx.root, ctx.module_path, join(ctx.work_dir, 'native')),
      run: (ready, plan, ctx) => run_native(ready, plan, join(ctx.work_dir, 'native')),
    },
    {
      name: 'v8',
      label: `V8, Node ${main_major} (main runtime)`,
      baseline: 'native',
      target_ratio: 1.5,
      prepare: this_node,
      run: (ready, plan, ctx) => run_js(ctx.root, 'v8', ready.module_path, plan, ctx.work_dir),
    },
    ...others.map(other_node),
    {
      name: 'wasm2js',
      label: 'wasm2js (JavaScript in V8)',
      baseline: 'native',
      prepare: (ctx) => prepare_wasm2js(ctx.root, ctx.module_path, join(ctx.work_dir, 'wasm2js')),
      run: (ready, plan, ctx) => run_js(ctx.root, 'wasm2js', ready.module_path, plan, ctx.work_dir),
    },
    {
      name: 'wasm3',
      label: 'wasm3 (ESP32 host, native build)',
      baseline: 'native',
      target_ratio: 12,
      prepare: (ctx) => ensure_wasm3(ctx.root),
      run: (ready, plan, ctx) => run_wasm3(ready, ctx.module_path, plan, join(ctx.work_dir, 'wasm3')),
    },
    {
      name: 'native_call',
      mode: 'call',
      label: 'whole call, native (copy in, compute(), copy out)',
      prepare: (ctx) => prepare_native(ctx.root, ctx.module_path, join(ctx.work_dir, 'native')),
      run: (ready, plan, ctx) => run_native(ready, plan, join(ctx.work_dir, 'native')),
    },
    {
      name: 'v8_call',
      mode: 'call',
      label: `whole call, V8 (Node ${main_major}: copy in, compute(), copy out)`,
      baseline: 'native_call',
      prepare: this_node,
      run: (ready, plan, ctx) => run_js(ctx.root, 'v8_call', ready.module_path, plan, ctx.work_dir),
    },
    {
      name: 'v8_binding',
      mode: 'binding',
      label: `whole call, Node binding (Node ${main_major}: Core.compute encodes the view, decodes the decision)`,
      baseline: 'native_call',
      prepare: this_node,
      run: (ready, plan, ctx) => run_js(ctx.root, 'v8_binding', ready.module_path, plan, ctx.work_dir),
    },
    {
      name: 'wasm3_call',
      mode: 'call',
      label: 'whole call, wasm3 (lsh_runtime_compute: copy in, compute(), copy out)',
      baseline: 'native_call',
      prepare: (ctx) => ensure_wasm3(ctx.root),
      run: (ready, plan, ctx) => run_wasm3(ready, ctx.module_path, plan, join(ctx.work_dir, 'wasm3')),
    },
  ];
}

// Input: ctx.inputs (bench/lib/groups.mjs: member_count, input and reference output bytes),
// ctx.settings.decision ({ rounds, samples_per_round, sample_target_ms, warmup_ms }); optional
// ctx.engine_names (run only those engines: the build-variant row uses it).
export async function decision_time(ctx) {
  const settings = ctx.settings.decision;
  const engines = make_engines().filter((e) => !ctx.engine_names || ctx.engine_names.includes(e.name));
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
        const answer = entry.engine.run(entry.ready, { ...plan, mode: entry.engine.mode ?? 'compute' }, ctx);
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
  return summarize_engines(engines, state, ctx.inputs.map((c) => c.member_count), settings);
}

function summarize_engines(engines, state, member_counts, settings) {
  const engines_out = {};
  for (const { engine, ready, samples, wall_samples, calls } of state) {
    const status = ready.pending ? 'pending' : ready.unavailable ? 'unavailable' : ready.error ? 'error' : 'measured';
    const out = { label: engine.label, mode: engine.mode ?? 'compute', status };
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
  for (const engine of engines.filter((e) => e.baseline)) {
    const key = `${engine.name}_over_${engine.baseline}`;
    const other = engines_out[engine.name];
    const base = engines_out[engine.baseline] ?? { status: 'unavailable', reason: 'not run' };
    const ratio = { baseline: engine.baseline, target_max: engine.target_ratio ?? null };
    if (other.status !== 'measured' || base.status !== 'measured') {
      ratio.status = other.status === 'pending' ? 'pending' : 'unavailable';
      ratio.reason = other.status !== 'measured' ? other.reason : `${engine.baseline}: ${base.reason}`;
    } else {
      ratio.status = 'measured';
      ratio.by_members = Object.fromEntries(member_counts.map((n) => [n,
        round_to(other.by_members[n].ns_per_call.median / base.by_members[n].ns_per_call.median, 2)]));
      const logs = member_counts.map((n) => Math.log(ratio.by_members[n]));
      ratio.geomean = round_to(Math.exp(logs.reduce((a, b) => a + b, 0) / logs.length), 2);
      if (engine.target_ratio) ratio.result = Object.values(ratio.by_members).every((r) => r <= engine.target_ratio) ? 'pass' : 'miss';
    }
    ratios[key] = ratio;
  }
  const data = { status: 'measured', settings, member_counts, engines: engines_out, ratios };
  return { ...data, summary: summary_lines(engines, data), details: details_tables(engines, data) };
}

function summary_lines(engines, { member_counts, engines: engines_out, ratios }) {
  const lines = [];
  for (const engine of engines) {
    const out = engines_out[engine.name];
    if (!engine.baseline) {
      lines.push({
        figure: `decision time, ${engine.label}, ${member_counts.join('/')} members`,
        value: out.status === 'measured'
          ? `${member_counts.map((n) => format_number(out.by_members[n].ns_per_call.median)).join(' / ')} ns`
          : `${out.status}: ${out.reason}`,
        target: engine.mode ? 'baseline' : 'lower bound',
        result: out.status === 'measured' ? 'info' : out.status,
      });
      continue;
    }
    const r = ratios[`${engine.name}_over_${engine.baseline}`];
    lines.push({
      figure: `${engine.label} / ${engine.baseline === 'native' ? 'native' : 'native whole call'}, ${member_counts.join('/')} members`,
      value: r.status === 'measured'
        ? `${member_counts.map((n) => format_ratio(r.by_members[n])).join(' / ')} (geomean ${format_ratio(r.geomean)})`
        : `${r.status}: ${r.reason}`,
      target: r.target_max ? `<= ${r.target_max}x` : '-',
      result: r.status === 'measured' ? (r.result ?? 'info') : r.status,
    });
  }
  return lines;
}

// Two tables (compute() alone; the whole call), one line per group size; per engine its
// ns/call (median, p10-p90) and its ratio to its baseline.
function details_tables(engines, data) {
  return [
    details_table(engines.filter((e) => !e.mode), data, 'Decision time per compute(), CPU ns per call: median (p10-p90)'),
    details_table(engines.filter((e) => e.mode), data, 'The whole call as the hosts make it, CPU ns per call: median (p10-p90)'),
  ].filter((t) => t.rows.length > 0 || t.notes.length > 0);
}

function details_table(engines, { member_counts, engines: engines_out, ratios }, title) {
  const measured = engines.filter((e) => engines_out[e.name].status === 'measured');
  const ratio_of = (e) => (e.baseline ? ratios[`${e.name}_over_${e.baseline}`] : null);
  const columns = ['members'];
  for (const engine of measured) {
    columns.push(`${engine.name} ns/call`);
    if (ratio_of(engine)?.status === 'measured') columns.push(`${engine.name}/${engine.baseline}`);
  }
  const rows = measured.length === 0 ? [] : member_counts.map((n) => {
    const row = [String(n)];
    for (const engine of measured) {
      row.push(median_spread(engines_out[engine.name].by_members[n].ns_per_call));
      const r = ratio_of(engine);
      if (r?.status === 'measured') row.push(format_ratio(r.by_members[n]));
    }
    return row;
  });
  const version_text = (versions) => Object.entries(versions ?? {}).map(([k, v]) => `${k} ${v}`).join(', ');
  const notes = [
    ...measured.map((e) => `${e.name}: ${e.label}${engines_out[e.name].versions ? ` (${version_text(engines_out[e.name].versions)})` : ''}`),
    ...engines.filter((e) => engines_out[e.name].status !== 'measured').map((e) => `${e.label}: ${engines_out[e.name].status}: ${engines_out[e.name].reason}`),
  ];
  return { title, columns, rows, notes };
}
