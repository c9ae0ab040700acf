#!/usr/bin/env node
// npm run bench [-- --quick] [--rows a,b] [--module FILE] [--out DIR]
// Measures every row that exists so far, prints the markdown table and writes
// DIR/latest.json and DIR/latest.md (DIR defaults to bench/results). Rows that wait on
// another part of the project say so. Timings are printed, never asserted.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bench_inputs } from './lib/groups.mjs';
import { machine_info, load_average } from './lib/machine.mjs';
import { render_markdown } from './lib/report.mjs';
import { decision_time } from './rows/decision-time.mjs';
import { module_figures } from './rows/module.mjs';
import { wasm3_memory } from './rows/wasm3-memory.mjs';
import { node_process } from './rows/node-process.mjs';
import { reaction_time } from './rows/reaction-time.mjs';
import { simulator_speed } from './rows/simulator.mjs';
import { rv32 } from './rows/rv32.mjs';
import { build_variants } from './rows/build-variants.mjs';
import { code_fingerprint } from './lib/provenance.mjs';
import { readme_paragraph, readme_markers, docs_section, docs_markers, replace_between_markers } from './lib/readme.mjs';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const results_schema = 'loadshare-bench/1';

// In issue order. Row 2 and 3 read wasm3 figures gathered by row 1, so order matters.
export const rows = [
  { id: 'decision_time', number: 1, title: 'Decision time per compute()', measure: decision_time },
  { id: 'module', number: 2, title: 'Module: size, exports, load time', measure: module_figures },
  { id: 'wasm3_memory', number: 3, title: 'wasm3 memory', measure: wasm3_memory },
  { id: 'node_process', number: 4, title: 'Node charger process: RSS and CPU with 8 peers', measure: node_process },
  { id: 'reaction_time', number: 5, title: 'Reaction time on loopback', measure: reaction_time },
  { id: 'simulator', number: 6, title: 'Simulator speed', measure: simulator_speed },
  { id: 'rv32', number: 7, title: 'ESP32-C3 instruction set (rv32imc) under QEMU: heap, stack, instructions', measure: rv32 },
  { id: 'build_variants', number: 8, title: 'Build variants: size against speed', measure: build_variants },
];

// Quick: CI and a look in under 2 minutes on 2 cores. Full: the figures for docs/.
// Samples are short (a few ms) and many: on a shared machine a sample that spans a
// preemption is an outlier, and with short samples most of them span none, so the median
// stays on clean samples.
export const settings_by_mode = {
  quick: { decision: { rounds: 3, samples_per_round: 10, sample_target_ms: 3, warmup_ms: 100 }, module: { repeats: 30 }, variants: { rounds: 2, samples_per_round: 10, sample_target_ms: 3, warmup_ms: 100 } },
  full: { decision: { rounds: 5, samples_per_round: 30, sample_target_ms: 5, warmup_ms: 300 }, module: { repeats: 200 }, variants: { rounds: 3, samples_per_round: 10, sample_target_ms: 3, warmup_ms: 100 } },
};

export class UsageError extends Error {}

export const default_module_path = join(root, 'build/loadsharing.wasm');
export const default_out_dir = join(root, 'bench/results');

export function parse_args(argv) {
  const options = { quick: false, rows: rows.map((r) => r.id), module_path: default_module_path, out_dir: default_out_dir };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--quick') options.quick = true;
    else if (arg === '--rows') {
      options.rows = value().split(',').filter(Boolean);
      options.rows_given = true;
      const unknown = options.rows.filter((id) => !rows.some((r) => r.id === id));
      if (unknown.length > 0) throw new UsageError(`unknown row ${unknown.join(', ')} (rows: ${rows.map((r) => r.id).join(', ')})`);
    } else if (arg === '--module') options.module_path = resolve(value());
    else if (arg === '--out') options.out_dir = resolve(value());
    else throw new UsageError(`unknown option ${arg} (--quick, --rows LIST, --module FILE, --out DIR)`);
  }
  return options;
}

export async function run_bench(options) {
  let module_bytes;
  try {
    module_bytes = readFileSync(options.module_path);
  } catch (error) {
    throw new UsageError(`cannot read the module ${options.module_path}: ${error.code ?? error.message} (run npm run build)`);
  }
  const mode = options.quick ? 'quick' : 'full';
  const ctx = {
    root,
    quick: options.quick,
    module_path: options.module_path,
    module_bytes,
    work_dir: join(root, 'build/bench', mode),
    settings: settings_by_mode[mode],
    variants_in_quick: options.rows_given === true, // a quick run measures the variants only when asked by name
  };
  const results = {
    schema: results_schema,
    generated_at: new Date().toISOString(),
    mode,
    module_path: relative(root, options.module_path) || options.module_path,
    // The code this run describes (bench:check compares it with the code checked out).
    code: code_fingerprint(root, options.module_path),
    machine: machine_info(),
    load_average: { start: load_average(), end: null },
    rows: {},
  };
  for (const row of rows.filter((r) => options.rows.includes(r.id))) {
    let data;
    try {
      if (row.id === 'decision_time') ctx.inputs ??= await bench_inputs(module_bytes);
      data = await row.measure(ctx);
    } catch (error) {
      data = { status: 'error', reason: error.message.split('\n')[0] };
    }
    results.rows[row.id] = { number: row.number, title: row.title, ...data };
  }
  results.load_average.end = load_average();
  return results;
}

export function write_results(results, out_dir) {
  mkdirSync(out_dir, { recursive: true });
  const markdown = render_markdown(results);
  writeFileSync(join(out_dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(out_dir, 'latest.md'), markdown);
  return markdown;
}

// A run is the recorded truth when it is a full run of every row over the release module,
// written to bench/results: then README.md's performance paragraph and the latest-results
// section of docs/performance.md are rewritten from it (between their marker comments).
export function is_record_run(options) {
  return !options.quick && options.out_dir === default_out_dir && options.module_path === default_module_path &&
    rows.every((r) => options.rows.includes(r.id));
}

export function write_docs(results, markdown) {
  const readme_path = join(root, 'README.md');
  const docs_path = join(root, 'docs/performance.md');
  writeFileSync(readme_path, replace_between_markers(readFileSync(readme_path, 'utf8'), readme_markers, readme_paragraph(results)));
  writeFileSync(docs_path, replace_between_markers(readFileSync(docs_path, 'utf8'), docs_markers, docs_section(markdown)));
}

async function main() {
  let options;
  try {
    options = parse_args(process.argv.slice(2));
    const results = await run_bench(options);
    const markdown = write_results(results, options.out_dir);
    process.stdout.write(markdown);
    if (is_record_run(options)) {
      write_docs(results, markdown);
      console.log('bench: wrote bench/results/latest.{json,md}, README.md (performance paragraph) and docs/performance.md (latest results) from this run');
    }
    const broken = Object.values(results.rows).filter((r) => r.status === 'error');
    if (broken.length > 0) {
      console.error(`bench: ${broken.map((r) => `row ${r.number} failed: ${r.reason}`).join('; ')}`);
      process.exit(1);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message}`);
    process.exit(2);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
