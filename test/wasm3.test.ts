// --engine wasm3 against --engine node: every plan scenario and 300 seeded random groups give
// the same JSON through the native ESP32 host (real wasm3) as through V8; bad modules and traps
// under wasm3 are refused or guarded like Node's.
import { ABI_VERSION } from '../host-node/abi.js';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Core } from '../host-node/core.js';
import { allocate_with_node } from '../host-node/allocate.js';
import { parse_scenario } from '../host-node/scenario.js';
import { allocate_many_with_wasm3, compute_blocks_with_wasm3, native_runner_path } from '../host-node/wasm3.js';
import * as abi from '../host-node/abi.js';
// @ts-expect-error plain ES module without types
import { random_scenario } from '../scripts/random-group.mjs';

const root = join(import.meta.dirname, '..');
const random_seed = 424242;
const random_count = 300;

let core: Core;

beforeAll(async () => {
  if (!existsSync(native_runner_path()) || !existsSync(join(root, 'build/esp32/test-modules/traps.wasm'))) {
    const build = spawnSync(process.execPath, [join(root, 'scripts/build-esp32.mjs')], { cwd: root, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('could not build the native ESP32 host (scripts/build-esp32.mjs)');
  }
  core = await Core.load();
});

function both_engines(texts: string[]): { node: unknown[]; wasm3: unknown[] } {
  const views = texts.map((text) => parse_scenario(text));
  return { node: views.map((view) => allocate_with_node(core, view)), wasm3: allocate_many_with_wasm3(core, views) };
}

describe('--engine wasm3 agrees with --engine node', () => {
  it('on every scenario in test/scenarios', () => {
    const files = readdirSync(join(root, 'test/scenarios')).filter((name) => name.endsWith('.json')).sort();
    expect(files.length).toBeGreaterThanOrEqual(20);
    const { node, wasm3 } = both_engines(files.map((name) => readFileSync(join(root, 'test/scenarios', name), 'utf8')));
    files.forEach((name, i) => expect(wasm3[i], name).toEqual(node[i]));
  });

  it(`on ${random_count} seeded random groups (scripts/random-group.mjs, seed ${random_seed})`, () => {
    const texts = Array.from({ length: random_count }, (_, i) => JSON.stringify(random_scenario(random_seed, i)));
    const { node, wasm3 } = both_engines(texts);
    expect(wasm3.length).toBe(random_count);
    for (let i = 0; i < random_count; i++) expect(wasm3[i], `random group #${i}`).toEqual(node[i]);
    // The groups exercise more than one outcome: a test that always compared zeros would pass too.
    const applied = new Set(node.map((out) => (out as { self: { applied_current: number } }).self.applied_current));
    expect(applied.size).toBeGreaterThan(5);
  });

  it('through the real CLI, byte for byte', () => {
    for (const name of ['protocol-view-minimum.json', 'plan-8.4-3-partial-loss.json', 'protocol-config-mismatch.json']) {
      const file = join(root, 'test/scenarios', name);
      const run = (engine: string) => spawnSync(process.execPath, [join(root, 'bin/loadshare.js'), 'allocate', '--engine', engine, file], { encoding: 'utf8' });
      const node = run('node');
      const wasm3 = run('wasm3');
      expect(node.status, node.stderr).toBe(0);
      expect(wasm3.status, wasm3.stderr).toBe(0);
      expect(wasm3.stdout).toBe(node.stdout);
    }
  });
});

describe('the native wasm3 host refuses and contains bad modules', () => {
  const module = (name: string) => readFileSync(join(root, 'build/esp32/test-modules', name));

  it('reports a trap per call and keeps answering', () => {
    const input = new Uint8Array(abi.IN_SIZE);
    const results = compute_blocks_with_wasm3(module('traps.wasm'), [{ input, carry: null }, { input, carry: new Uint8Array(abi.CARRY_SIZE).fill(7) }]);
    expect(results).toHaveLength(2);
    for (const result of results) expect(result.trap).toMatch(/unreachable/);
  });

  it('--stream after a trap: zeros for the output, the carry that was handed in', () => {
    const header = Buffer.alloc(4);
    const module_bytes = module('scribbles-then-traps.wasm');
    header.writeUInt32LE(module_bytes.length, 0);
    const carry = Buffer.alloc(abi.CARRY_SIZE, 0x3c);
    const run = spawnSync(native_runner_path(), ['--stream'], { input: Buffer.concat([header, module_bytes, Buffer.alloc(abi.IN_SIZE), carry]) });
    expect(run.status, run.stderr.toString()).toBe(0);
    const out = run.stdout;
    expect(out.readUInt32LE(0)).toBe(1);
    const detail_len = out.readUInt32LE(4);
    expect(out.subarray(8, 8 + detail_len).toString()).toMatch(/unreachable/);
    const output = out.subarray(8 + detail_len, 8 + detail_len + abi.OUT_SIZE);
    expect(output.equals(Buffer.alloc(abi.OUT_SIZE))).toBe(true);
    expect(out.subarray(8 + detail_len + abi.OUT_SIZE).equals(carry)).toBe(true);
  });

  it('refuses a module that imports anything, with the import named', () => {
    expect(() => compute_blocks_with_wasm3(module('extra-import.wasm'), [])).toThrow(/imports env\.abort/);
  });

  it('refuses a module of another ABI version', () => {
    expect(() => compute_blocks_with_wasm3(module('wrong-abi.wasm'), [])).toThrow(new RegExp(`ABI version ${ABI_VERSION + 1}, this host speaks ${ABI_VERSION}`));
  });

  const hex = (name: string) => Buffer.from(readFileSync(join(root, 'test/vectors', name), 'utf8').replace(/\s+/g, ''), 'hex');

  it('lsh_run as a plain filter: input and carry in, output and carry out; a short block is exit 2', () => {
    // No carry after the input block: zeros, the safe start.
    const fresh = spawnSync(native_runner_path(), [], { input: hex('plan-8.3-9-priority.in.hex') });
    expect(fresh.status, fresh.stderr.toString()).toBe(0);
    expect(fresh.stdout.equals(Buffer.concat([hex('plan-8.3-9-priority.out.hex'), hex('plan-8.3-9-priority.carry-out.hex')]))).toBe(true);
    // A carry from earlier calls.
    const name = 'protocol-committed-after-decrease';
    const carried = spawnSync(native_runner_path(), [], { input: Buffer.concat([hex(`${name}.in.hex`), hex(`${name}.carry-in.hex`)]) });
    expect(carried.status, carried.stderr.toString()).toBe(0);
    expect(carried.stdout.equals(Buffer.concat([hex(`${name}.out.hex`), hex(`${name}.carry-out.hex`)]))).toBe(true);
    const short = spawnSync(native_runner_path(), [], { input: Buffer.alloc(100), encoding: 'utf8' });
    expect(short.status).toBe(2);
    expect(short.stderr).toMatch(/^lsh_run: standard input must hold one input block, then one carry block or nothing\n$/);
    const short_carry = spawnSync(native_runner_path(), [], { input: Buffer.alloc(abi.IN_SIZE + 100), encoding: 'utf8' });
    expect(short_carry.status).toBe(2);
    const trap = spawnSync(native_runner_path(), ['--module', join(root, 'build/esp32/test-modules/traps.wasm')], { input: Buffer.alloc(abi.IN_SIZE), encoding: 'utf8' });
    expect(trap.status).toBe(3);
    expect(trap.stderr).toMatch(/unreachable/);
    expect(trap.stdout).toBe('');
  });

  it('computes the same output and carry blocks as V8 for a conformance vector', () => {
    const [result] = compute_blocks_with_wasm3(core.module_bytes, [{ input: hex('protocol-rotation.in.hex'), carry: null }]);
    expect(result.trap).toBeNull();
    expect(Buffer.from(result.output!).equals(hex('protocol-rotation.out.hex'))).toBe(true);
    expect(Buffer.from(result.carry!).equals(hex('protocol-rotation.carry-out.hex'))).toBe(true);
  });

  it('passes its own carry from call to call as V8 does (a vector decided after two earlier calls)', () => {
    const name = 'protocol-degraded-rises-to-safe-current';
    const vector = (JSON.parse(readFileSync(join(root, 'test/vectors/index.json'), 'utf8')) as { vectors: Array<{ name: string; earlier_ms: number[] }> })
      .vectors.find((v) => v.name === name)!;
    expect(vector.earlier_ms.length).toBe(2);
    const input = hex(`${name}.in.hex`);
    const at_time = (t: number) => {
      const copy = Buffer.from(input);
      copy.writeDoubleLE(t, abi.IN_MONO_MS);
      copy.writeDoubleLE(t, abi.IN_WALL_MS);
      return copy;
    };
    let carry: Uint8Array | null = null;
    for (const t of vector.earlier_ms) {
      const [earlier] = compute_blocks_with_wasm3(core.module_bytes, [{ input: at_time(t), carry }]);
      expect(earlier.trap).toBeNull();
      carry = earlier.carry;
    }
    expect(Buffer.from(carry!).equals(hex(`${name}.carry-in.hex`))).toBe(true);
    const [last] = compute_blocks_with_wasm3(core.module_bytes, [{ input, carry }]);
    expect(Buffer.from(last.output!).equals(hex(`${name}.out.hex`))).toBe(true);
    expect(Buffer.from(last.carry!).equals(hex(`${name}.carry-out.hex`))).toBe(true);
    expect(new DataView(last.output!.buffer, last.output!.byteOffset).getUint32(abi.OUT_CARRY_STATUS, true)).toBe(abi.CARRY_STATUS_CONTINUED);
  });
});
