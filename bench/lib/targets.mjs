// The deterministic targets CI enforces (npm run bench:check): sizes and memory, never
// timings. Returns one short clause per failure; none means the run passes.
import { module_size_max_bytes } from '../rows/module.mjs';
import { wasm3_peak_heap_bound_bytes } from '../rows/wasm3-memory.mjs';
import { built_in_stack_bytes, rv32_builtin_task_stack_bytes, rv32_hot_swap_task_stack_bytes, rv32_install_path_stack_bytes, rv32_module_heap_max_bytes } from '../rows/rv32.mjs';

export function deterministic_failures(results) {
  const failures = [];
  const module = results.rows.module;
  if (!module) failures.push('the module row did not run');
  else if (module.status !== 'measured') failures.push(`the module could not be measured (${module.reason})`);
  else {
    if (module.size_raw_bytes > module_size_max_bytes) {
      failures.push(`${results.module_path} is ${module.size_raw_bytes} bytes, over the ${module_size_max_bytes}-byte limit`);
    }
    if (module.import_count > 0) failures.push(`${results.module_path} imports ${module.imports.join(', ')} and must import nothing`);
  }
  const memory = results.rows.wasm3_memory;
  if (memory && memory.status === 'error') failures.push(`the wasm3 memory row failed (${memory.reason})`);
  if (memory && memory.status === 'measured') {
    if (memory.peak_heap_bytes > wasm3_peak_heap_bound_bytes) {
      failures.push(`wasm3 peak heap is ${memory.peak_heap_bytes} bytes, over the ${wasm3_peak_heap_bound_bytes}-byte regression bound`);
    }
    if (memory.growth_bytes === null) failures.push('wasm3 heap over load/unload cycles was not reported');
    else if (memory.growth_bytes > 0) failures.push(`wasm3 heap grew by ${memory.growth_bytes} bytes over 1,000 load/unload cycles`);
  }
  const rv32 = results.rows.rv32;
  if (rv32 && rv32.status === 'error') failures.push(`the rv32 row failed (${rv32.reason})`);
  if (rv32 && rv32.status === 'measured') {
    // The goal, on the path docs/esp32.md chose for the built-in module (ahead of time).
    if (rv32.aot_heap_bytes > rv32_module_heap_max_bytes) {
      failures.push(`the ahead-of-time module takes ${rv32.aot_heap_bytes} bytes of heap on rv32, over the ${rv32_module_heap_max_bytes}-byte goal`);
    }
    // wasm3 (hot-swapped modules): a regression bound that follows the module's size.
    if (rv32.wasm3_peak_heap_bytes > rv32.wasm3_peak_heap_bound_bytes) {
      failures.push(`wasm3 peak heap on rv32 is ${rv32.wasm3_peak_heap_bytes} bytes, over the ${rv32.wasm3_peak_heap_bound_bytes}-byte regression bound for a ${rv32.module_bytes}-byte module`);
    }
    // The task stacks docs/esp32.md asks for must hold what was measured.
    const stack = rv32.wasm3.stack_high_water_bytes;
    if (built_in_stack_bytes(rv32.wasm3) >= rv32_builtin_task_stack_bytes) {
      failures.push(`the built-in module's rv32 stack high-water mark reaches the ${rv32_builtin_task_stack_bytes}-byte task stack`);
    }
    if (stack.recursion_trap + rv32_install_path_stack_bytes >= rv32_hot_swap_task_stack_bytes) {
      failures.push(`a recursing module takes ${stack.recursion_trap} bytes of rv32 stack before wasm3 traps, too much for the ${rv32_hot_swap_task_stack_bytes}-byte task stack`);
    }
  }
  return failures;
}
