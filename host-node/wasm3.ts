// `--engine wasm3`: the same scenario computed by the native ESP32 host (real wasm3).
// Not built yet: see issue "ESP32 host". Until then this engine refuses with a clear error.
import type { Core, GroupView } from './core.js';
import type { AllocateOutput } from './allocate.js';
import { UsageError } from './cli.js';

export async function allocate_with_wasm3(_core: Core, _view: GroupView): Promise<AllocateOutput> {
  throw new UsageError('--engine wasm3 is not available yet: the native ESP32 host is not built (use --engine node)');
}
