#!/usr/bin/env node
// npm run bench:check [-- --module FILE] [--rows LIST]: runs the quick bench and fails
// (exit 1, one sentence) only on the deterministic targets of bench/lib/targets.mjs: module
// size and imports, and wasm3 memory once that row exists. Timings never fail it: they
// depend on the machine. Results go to build/bench-check/ so that a check never overwrites
// the full run recorded in bench/results/.
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse_args, run_bench, write_results, root, UsageError } from './run.mjs';
import { deterministic_failures } from './lib/targets.mjs';

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
  let results;
  try {
    results = await run_bench(options);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench:check: ${error.message}`);
    process.exit(1);
  }
  process.stdout.write(write_results(results, options.out_dir));
  const failures = deterministic_failures(results);
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
  console.log(`bench:check: module ${module.size_raw_bytes} B <= ${module.size_max_bytes} B, ${module.import_count} imports; wasm3 memory ${memory_note}; rv32 ${rv32_note}.`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
