// The deterministic targets CI enforces (npm run bench:check): sizes and memory, never
// timings. Returns one short clause per failure; none means the run passes.
import { module_size_max_bytes } from '../rows/module.mjs';
import { wasm3_peak_heap_bound_bytes } from '../rows/wasm3-memory.mjs';

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
  return failures;
}
