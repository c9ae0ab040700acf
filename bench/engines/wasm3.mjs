// The wasm3 engine: the release module in wasm3, through the ESP32 host's native (Linux)
// build. PENDING until that build lands (branch esp32); this file is the hook.
//
// Expected from the ESP32 host (adjust `measure_args` / the parse below if it differs):
//   build/esp32/lsh_measure --measure --module build/loadsharing.wasm --input INPUT_BIN \
//     --warmup-ns N --sample-target-ns N --samples N
// prints one JSON object on stdout with the timing answer of bench/engines/timing-plan.md
//   { "calls_per_sample", "ns_per_call": [...], "output_hex", "stable" }
// and, for rows 2 and 3, the load and memory figures
//   { "load_ns": [...],                 // parse + load + link + instantiate, per sample
//     "peak_heap_bytes": N,             // runtime + module + linear memory, cap applied
//     "heap_after_cycles_bytes": [..] } // heap in use after each 100 of 1,000 load/unload cycles
// Without the binary every function here answers { pending: <what it waits on> }.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const wasm3_binary = 'build/esp32/lsh_measure';
export const wasm3_waits_on = 'ESP32 host native build with --measure (branch esp32)';

export function find_wasm3(root) {
  const binary = join(root, wasm3_binary);
  return existsSync(binary) ? { binary } : { pending: wasm3_waits_on };
}

function measure_args(module_path, input_path, plan) {
  return ['--measure', '--module', module_path, '--input', input_path,
    '--warmup-ns', String(plan.warmup_ns), '--sample-target-ns', String(plan.sample_target_ns), '--samples', String(plan.samples)];
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
