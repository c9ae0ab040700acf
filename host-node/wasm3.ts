// `--engine wasm3`: the same scenario computed by the native ESP32 host (real wasm3, the C code
// in host-esp32/). The CLI writes the input block exactly as --engine node does, the native
// runner build/esp32/lsh_run computes it under wasm3, and the output block is decoded, guarded
// and formatted by the same code as --engine node, so the two print the same JSON.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Core } from './core.js';
import * as abi from './abi.js';
import { format_decision, scenario_call, type AllocateOutput } from './allocate.js';
import type { ScenarioView } from './scenario.js';
import { guard_decision, ModuleTrap } from './guard.js';
import { UsageError } from './usage-error.js';

export type BlockResult = { output: Uint8Array; carry: Uint8Array; trap: null } | { output: null; carry: null; trap: string };
export interface BlockCall { input: Uint8Array; carry: Uint8Array | null }

export function native_runner_path(): string {
  // Works from host-node/ (vitest, tsx) and from dist/host-node/ (compiled CLI).
  const here = fileURLToPath(import.meta.url);
  const root = here.includes('/dist/host-node/') ? here.split('/dist/host-node/')[0] : here.split('/host-node/')[0];
  return `${root}/build/esp32/lsh_run`;
}

// Runs calls (an input block and a carry block each; no carry: zeros) through one
// lsh_run --stream process (protocol in host-esp32/tools/lsh_run.c).
export function compute_blocks_with_wasm3(module_bytes: Uint8Array, calls: BlockCall[]): BlockResult[] {
  const runner = native_runner_path();
  if (!existsSync(runner)) {
    throw new UsageError(`--engine wasm3 needs the native runner ${runner}; build it with npm run build:esp32`);
  }
  const header = Buffer.alloc(4);
  header.writeUInt32LE(module_bytes.length, 0);
  const zero_carry = Buffer.alloc(abi.CARRY_SIZE);
  const stdin = Buffer.concat([header, Buffer.from(module_bytes), ...calls.flatMap((c) => [Buffer.from(c.input), c.carry ? Buffer.from(c.carry) : zero_carry])]);
  const run = spawnSync(runner, ['--stream'], { input: stdin, maxBuffer: 1024 * 1024 * 1024 });
  if (run.error) throw new Error(`cannot run ${runner}: ${run.error.message}`);
  if (run.status !== 0) {
    const message = run.stderr.toString('utf8').trim().replace(/^lsh_run: /, '');
    throw new UsageError(`the native wasm3 host refused: ${message || `exit ${run.status ?? run.signal}`}`);
  }
  const out = run.stdout;
  const results: BlockResult[] = [];
  let at = 0;
  for (let i = 0; i < calls.length; i++) {
    if (at + 8 > out.length) throw new Error(`the native wasm3 host answered ${i} of ${calls.length} calls`);
    const status = out.readUInt32LE(at);
    const detail_len = out.readUInt32LE(at + 4);
    const detail = out.subarray(at + 8, at + 8 + detail_len).toString('utf8');
    const from = at + 8 + detail_len;
    const output = new Uint8Array(out.subarray(from, from + abi.OUT_SIZE));
    const carry = new Uint8Array(out.subarray(from + abi.OUT_SIZE, from + abi.OUT_SIZE + abi.CARRY_SIZE));
    if (output.length !== abi.OUT_SIZE || carry.length !== abi.CARRY_SIZE) throw new Error('the native wasm3 host cut an answer short');
    at = from + abi.OUT_SIZE + abi.CARRY_SIZE;
    results.push(status === 0 ? { output, carry, trap: null } : { output: null, carry: null, trap: detail });
  }
  if (at !== out.length) throw new Error('the native wasm3 host answered more than it was asked');
  return results;
}

// Many scenarios through one runner process; the same steps as allocate_with_node.
// The earlier calls of a scenario (earlier_ms) run in V8: what is compared is the final call,
// with the same input and carry blocks on both engines.
export function allocate_many_with_wasm3(core: Core, views: ScenarioView[]): AllocateOutput[] {
  const prepared = views.map((view) => {
    const with_hash = scenario_call(core, view);
    const { order } = core.write_input(with_hash);
    return { view, with_hash, config_hash: with_hash.config_hash!, order, input: core.input_bytes(), carry: with_hash.carry ?? null };
  });
  const results = compute_blocks_with_wasm3(core.module_bytes, prepared.map((p) => ({ input: p.input, carry: p.carry })));
  return prepared.map((p, i) => {
    const result = results[i];
    const guarded = guard_decision(() => {
      if (result.trap !== null) throw new ModuleTrap(result.trap);
      return core.decode_output(p.order, p.view.self, result.output, result.carry);
    }, p.with_hash, p.view.self_limit_a ?? 0);
    return format_decision(p.view, guarded.decision, p.config_hash, guarded.trip_reason);
  });
}

export async function allocate_with_wasm3(core: Core, view: ScenarioView): Promise<AllocateOutput> {
  return allocate_many_with_wasm3(core, [view])[0];
}
