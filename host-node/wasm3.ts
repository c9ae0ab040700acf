// `--engine wasm3`: the same scenario computed by the native ESP32 host (real wasm3, the C code
// in host-esp32/). The CLI writes the input block exactly as --engine node does, the native
// runner build/esp32/lsh_run computes it under wasm3, and the output block is decoded, guarded
// and formatted by the same code as --engine node, so the two print the same JSON.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Core, GroupView } from './core.js';
import * as abi from './abi.js';
import { format_decision, self_config_hash, type AllocateOutput } from './allocate.js';
import { guard_decision, ModuleTrap } from './guard.js';
import { UsageError } from './usage-error.js';

export type BlockResult = { output: Uint8Array; trap: null } | { output: null; trap: string };

export function native_runner_path(): string {
  // Works from host-node/ (vitest, tsx) and from dist/host-node/ (compiled CLI).
  const here = fileURLToPath(import.meta.url);
  const root = here.includes('/dist/host-node/') ? here.split('/dist/host-node/')[0] : here.split('/host-node/')[0];
  return `${root}/build/esp32/lsh_run`;
}

// Runs input blocks through one lsh_run --stream process (protocol in host-esp32/tools/lsh_run.c).
export function compute_blocks_with_wasm3(module_bytes: Uint8Array, inputs: Uint8Array[]): BlockResult[] {
  const runner = native_runner_path();
  if (!existsSync(runner)) {
    throw new UsageError(`--engine wasm3 needs the native runner ${runner}; build it with npm run build:esp32`);
  }
  const header = Buffer.alloc(4);
  header.writeUInt32LE(module_bytes.length, 0);
  const stdin = Buffer.concat([header, Buffer.from(module_bytes), ...inputs.map((block) => Buffer.from(block))]);
  const run = spawnSync(runner, ['--stream'], { input: stdin, maxBuffer: 1024 * 1024 * 1024 });
  if (run.error) throw new Error(`cannot run ${runner}: ${run.error.message}`);
  if (run.status !== 0) {
    const message = run.stderr.toString('utf8').trim().replace(/^lsh_run: /, '');
    throw new UsageError(`the native wasm3 host refused: ${message || `exit ${run.status ?? run.signal}`}`);
  }
  const out = run.stdout;
  const results: BlockResult[] = [];
  let at = 0;
  for (let i = 0; i < inputs.length; i++) {
    if (at + 8 > out.length) throw new Error(`the native wasm3 host answered ${i} of ${inputs.length} blocks`);
    const status = out.readUInt32LE(at);
    const detail_len = out.readUInt32LE(at + 4);
    const detail = out.subarray(at + 8, at + 8 + detail_len).toString('utf8');
    const output = new Uint8Array(out.subarray(at + 8 + detail_len, at + 8 + detail_len + abi.OUT_SIZE));
    if (output.length !== abi.OUT_SIZE) throw new Error('the native wasm3 host cut an output block short');
    at += 8 + detail_len + abi.OUT_SIZE;
    results.push(status === 0 ? { output, trap: null } : { output: null, trap: detail });
  }
  if (at !== out.length) throw new Error('the native wasm3 host answered more than it was asked');
  return results;
}

// Many scenarios through one runner process; the same steps as allocate_with_node.
export function allocate_many_with_wasm3(core: Core, views: GroupView[]): AllocateOutput[] {
  const prepared = views.map((view) => {
    const config_hash = view.config_hash ?? self_config_hash(core, view);
    const with_hash: GroupView = { ...view, config_hash };
    const { order } = core.write_input(with_hash);
    return { view, with_hash, config_hash, order, input: core.input_bytes() };
  });
  const results = compute_blocks_with_wasm3(core.module_bytes, prepared.map((p) => p.input));
  return prepared.map((p, i) => {
    const result = results[i];
    const self = p.view.members.find((m) => m.id === p.view.self);
    const guarded = guard_decision(() => {
      if (result.trap !== null) throw new ModuleTrap(result.trap);
      return core.decode_output(p.order, p.view.self, result.output);
    }, p.with_hash, self?.applied ?? 0);
    return format_decision(p.view, guarded.decision, p.config_hash, guarded.trip_reason);
  });
}

export async function allocate_with_wasm3(core: Core, view: GroupView): Promise<AllocateOutput> {
  return allocate_many_with_wasm3(core, [view])[0];
}
