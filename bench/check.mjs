#!/usr/bin/env node
// npm run bench:check [-- --module FILE] [--rows LIST]: fails (exit 1, one sentence) when
//  - the recorded results (bench/results/latest.json, from `npm run bench`) describe other
//    code than the code checked out: another release module or changed host, build or bench
//    sources (bench/lib/provenance.mjs), or when latest.md, README.md's performance paragraph
//    or docs/performance.md's latest results do not come from that one run; the fix is to
//    re-run `npm run bench` and commit what it writes;
//  - the quick bench misses a deterministic target of bench/lib/targets.mjs: module size and
//    imports, wasm3 memory. Timings never fail it: they depend on the machine.
// The quick run writes to build/bench-check/, never over the recorded full run.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse_args, run_bench, write_results, root, UsageError, default_module_path } from './run.mjs';
import { deterministic_failures } from './lib/targets.mjs';
import { code_fingerprint, fingerprint_differences } from './lib/provenance.mjs';
import { render_markdown } from './lib/report.mjs';
import { readme_paragraph, readme_markers, docs_section, docs_markers, between_markers } from './lib/readme.mjs';

const rerun = 're-run `npm run bench` (a full run, about 15 min on 2 cores) and commit bench/results/, README.md and docs/performance.md';

// Whether the committed results, and the text made from them, describe the code checked out.
export function recorded_results_failures(project_root, module_path) {
  const json_path = join(project_root, 'bench/results/latest.json');
  if (!existsSync(json_path)) return [`bench/results/latest.json is missing: ${rerun}`];
  const recorded = JSON.parse(readFileSync(json_path, 'utf8'));
  const failures = [];
  if (recorded.mode !== 'full') failures.push(`bench/results/latest.json comes from a ${recorded.mode} run, not a full one: ${rerun}`);
  const differences = fingerprint_differences(recorded.code, code_fingerprint(project_root, module_path));
  if (differences.length > 0) failures.push(`bench/results/latest.json is older than the code it describes: ${differences.join('; ')}: ${rerun}`);
  const md_path = join(project_root, 'bench/results/latest.md');
  const markdown = existsSync(md_path) ? readFileSync(md_path, 'utf8') : null;
  if (markdown !== render_markdown(recorded)) failures.push(`bench/results/latest.md does not come from the run in latest.json: ${rerun}`);
  const readme = between_markers(readFileSync(join(project_root, 'README.md'), 'utf8'), readme_markers);
  if (readme === null) failures.push(`README.md lacks the markers ${readme_markers.join(' ... ')} around its performance paragraph`);
  else if (readme !== readme_paragraph(recorded).trim()) failures.push(`README.md's performance paragraph does not come from bench/results/latest.json: ${rerun}`);
  const docs = between_markers(readFileSync(join(project_root, 'docs/performance.md'), 'utf8'), docs_markers);
  if (docs === null) failures.push(`docs/performance.md lacks the markers ${docs_markers.join(' ... ')} around its latest results`);
  else if (markdown !== null && docs !== docs_section(markdown)) failures.push(`docs/performance.md's latest results do not come from bench/results/latest.md: ${rerun}`);
  return failures;
}

async function main() {
  let options;
  try {
    options = parse_args(['--quick', '--out', join(root, 'build/bench-check'), ...process.argv.slice(2)]);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench:check: ${error.message}`);
    process.exit(2);
  }
  options.quick = true;
  if (!options.rows.includes('module')) options.rows.push('module'); // the size check needs it
  // The recorded results are about the release module; another --module is checked on its own.
  const compare_recorded = options.module_path === default_module_path;
  const stale = compare_recorded ? recorded_results_failures(root, default_module_path) : [];
  let results;
  try {
    results = await run_bench(options);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench:check: ${error.message}`);
    process.exit(1);
  }
  process.stdout.write(write_results(results, options.out_dir));
  const failures = [...stale, ...deterministic_failures(results)];
  if (failures.length > 0) {
    console.error(`bench:check: ${failures.join('; ')}.`);
    process.exit(1);
  }
  const module = results.rows.module;
  const memory = results.rows.wasm3_memory;
  const memory_note = !memory ? 'not run' : memory.status === 'measured' ? `peak ${memory.peak_heap_bytes} B` : `${memory.status} (${memory.reason})`;
  const rv32 = results.rows.rv32;
  const rv32_note = !rv32 ? 'not run' : rv32.status === 'measured'
    ? `wasm3 peak ${rv32.wasm3_peak_heap_bytes} B <= ${rv32.wasm3_peak_heap_bound_bytes} B bound, ahead of time ${rv32.aot_heap_bytes} B <= ${rv32.module_heap_max_bytes} B`
    : `${rv32.status} (${rv32.reason})`;
  const recorded_note = compare_recorded ? 'recorded results match the code' : 'recorded results not compared (--module)';
  console.log(`bench:check: ${recorded_note}; module ${module.size_raw_bytes} B <= ${module.size_max_bytes} B, ${module.import_count} imports; wasm3 memory ${memory_note}; rv32 ${rv32_note}.`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
