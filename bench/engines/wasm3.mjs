// The wasm3 engine: the release module in wasm3, through the ESP32 host's native (Linux)
// build (host-esp32/tools/lsh_measure.c, built by scripts/build-esp32.mjs):
//   build/esp32/lsh_measure --measure --module build/loadsharing.wasm --input INPUT_BIN \
//     --warmup-ns N --sample-target-ns N --samples N --mode compute|call
// prints one JSON object on stdout with the timing answer of bench/engines/timing-plan.md
//   { "calls_per_sample", "ns_per_call": [...], "output_hex", "stable" }
// and, for rows 2 and 3, the load and memory figures
//   { "load_ns": [...],                 // parse + load + link + instantiate, per sample
//     "peak_heap_bytes": N,             // runtime + module + linear memory, cap applied
//     "heap_after_cycles_bytes": [..] } // heap in use after each 100 of 1,000 load/unload cycles
// --mode compute times compute() alone (like the native and V8 engines); --mode call the
// whole call of the ESP32 host (lsh_runtime_compute: copy in, compute(), copy out).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const wasm3_binary = 'build/esp32/lsh_measure';
export const wasm3_waits_on = 'the ESP32 host native build (node scripts/build-esp32.mjs)';

export function find_wasm3(root) {
  const binary = join(root, wasm3_binary);
  return existsSync(binary) ? { binary } : { pending: wasm3_waits_on };
}

// Builds (incrementally) the ESP32 host's native programs once per bench process, so the
// binary timed is the one the current sources make; then finds it.
let built = null;
export function ensure_wasm3(root) {
  built ??= spawnSync(process.execPath, [join(root, 'scripts/build-esp32.mjs')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] }).status === 0;
  if (!built) return { unavailable: 'node scripts/build-esp32.mjs failed (its output is above)' };
  return find_wasm3(root);
}

function measure_args(module_path, input_path, plan) {
  return ['--measure', '--module', module_path, '--input', input_path,
    '--warmup-ns', String(plan.warmup_ns), '--sample-target-ns', String(plan.sample_target_ns), '--samples', String(plan.samples),
    '--mode', plan.mode ?? 'compute'];
}

// One process per input block, like the native driver. Returns the timing answers plus
// whatever load/memory figures the host printed (kept whole for rows 2 and 3).
export function run_wasm3(wasm3, module_path, plan, work_dir) {
  mkdirSync(work_dir, { recursive: true });
  const results = plan.cases.map((test_case) => {
    const input_path = join(work_dir, `input-${test_case.member_count}.bin`);
    writeFileSync(input_path, Buffer.from(test_case.input_hex, 'hex'));
    const out = execFileSync(wasm3.binary, measure_args(module_path, input_path, plan), { encoding: 'utf8' });
    return { member_count: test_case.member_count, ...JSON.parse(out) };
  });
  return { engine: 'wasm3', results };
}
