// Row 3: wasm3 memory on the device's terms: peak heap for runtime + module + linear memory
// (with the memory cap applied), and the heap in use over 1,000 load/unload cycles (it must
// not grow). Deterministic, so CI checks it (bench/lib/targets.mjs) once it exists.
// PENDING until the ESP32 host's native build answers --measure (bench/engines/wasm3.mjs).
import { join } from 'node:path';
import { find_wasm3, run_wasm3 } from '../engines/wasm3.mjs';
import { bench_inputs } from '../lib/groups.mjs';

// The goal (runtime + module + capped memory): 48 KiB since issue 17, which defines it on the
// ESP32-C3's instruction set, where row 7 measures and checks it; here, on x86-64, pointers are
// twice as wide, so this native figure always reads larger and the table reports the miss.
export const wasm3_peak_heap_max_bytes = 48 * 1024;
// What CI enforces meanwhile: a regression bound over the measured x86-64 figure, so the
// footprint cannot grow unnoticed. Not the goal. ABI 4 moved the whole protocol into the module
// (13 KB with a 4 KiB carry block; linear memory capped at 24 KiB): 133,357 B measured, up from
// 83,037 B with the ABI 3 module; the bound follows it with the same ~15 % headroom.
export const wasm3_peak_heap_bound_bytes = 152 * 1024;

// Input: ctx.wasm3_answers, the --measure answers of the wasm3 engine from row 1 (each may
// carry peak_heap_bytes and heap_after_cycles_bytes).
export async function wasm3_memory(ctx) {
  const wasm3 = find_wasm3(ctx.root);
  const target = `peak <= ${wasm3_peak_heap_max_bytes} B; no growth over 1,000 cycles`;
  if (wasm3.pending) {
    return { status: 'pending', reason: wasm3.pending, summary: [{ figure: 'wasm3 peak heap; heap over 1,000 load/unload cycles', value: `pending: ${wasm3.pending}`, target, result: 'pending' }] };
  }
  // Row 1 did not run (e.g. --rows wasm3_memory): ask the host once, on the smallest group,
  // with a token timing plan; only the memory figures are read from this answer.
  if (!ctx.wasm3_answers) {
    ctx.inputs ??= await bench_inputs(ctx.module_bytes);
    const input = ctx.inputs[0];
    const plan = { warmup_ns: 0, sample_target_ns: 1e5, samples: 1, cases: [{ member_count: input.member_count, input_hex: Buffer.from(input.input).toString('hex') }] };
    ctx.wasm3_answers = run_wasm3(wasm3, ctx.module_path, plan, join(ctx.work_dir, 'wasm3')).results;
  }
  const answer = (ctx.wasm3_answers ?? []).find((a) => a.peak_heap_bytes !== undefined);
  if (!answer) return { status: 'error', reason: 'the wasm3 --measure answer has no peak_heap_bytes', summary: [] };
  const cycles = answer.heap_after_cycles_bytes ?? [];
  const growth_bytes = cycles.length > 1 ? cycles[cycles.length - 1] - cycles[0] : null;
  const peak_result = answer.peak_heap_bytes <= wasm3_peak_heap_max_bytes ? 'pass' : 'miss';
  const growth_result = growth_bytes === null ? 'missing' : growth_bytes <= 0 ? 'pass' : 'miss';
  return {
    status: 'measured',
    peak_heap_bytes: answer.peak_heap_bytes,
    peak_heap_max_bytes: wasm3_peak_heap_max_bytes,
    heap_after_cycles_bytes: cycles,
    growth_bytes,
    summary: [
      { figure: 'wasm3 peak heap (runtime + module + memory)', value: `${answer.peak_heap_bytes} B`, target: `<= ${wasm3_peak_heap_max_bytes} B`, result: peak_result },
      { figure: 'wasm3 heap growth over 1,000 load/unload cycles', value: growth_bytes === null ? 'not reported' : `${growth_bytes} B`, target: '0 B', result: growth_result },
    ],
  };
}
