// The charger node's start-up collection (host-node/node/run-node.ts): after it, V8's young
// generation is back to its minimum instead of the 16 MB start-up grew it to; and the V8 flags
// the node sets on itself (host-node/node/v8-flags.ts) take effect when set at run time on this
// Node (bench row 4, docs/performance.md "Where a charger node's memory goes").
import { expect, test } from 'vitest';
import { getHeapSpaceStatistics } from 'node:v8';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { release_startup_memory } from '../host-node/node/run-node.js';
import { ensure_dist, root } from './helpers/dist.js';

const new_space_bytes = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;

// Node 20's V8 has no "last resort" flavour for a script-triggered collection; the project
// runs on Node 22 and 24 (package.json engines).
const supported = Number(process.versions.node.split('.')[0]) >= 22;

test.runIf(supported)('one footprint-reducing collection shrinks the young generation to its minimum', () => {
  // Grow the young generation the way start-up does: many objects that survive scavenges.
  const keep: object[][] = [];
  for (let round = 0; round < 40; round++) keep.push(Array.from({ length: 20000 }, (_, i) => ({ i, round })));
  const grown = new_space_bytes();
  expect(grown).toBeGreaterThan(2 * 1024 * 1024);
  expect(release_startup_memory()).toBe(true);
  expect(new_space_bytes()).toBeLessThanOrEqual(2 * 1024 * 1024);
  expect(keep.length).toBe(40); // what was still referenced survives
});

test('the gc function is hidden again afterwards', () => {
  release_startup_memory();
  expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
});

// A child process applies the node's flags the way bin/loadshare.js does (after V8 started),
// then makes a function, the core's exports and the young generation hot. V8's natives
// (--allow-natives-syntax) report the tier each runs at.
function tiers_after_load(full_jit: boolean): { js_optimized: boolean; wasm_liftoff: boolean; wasm_turbofan: boolean; new_space_mb: number; applied: boolean } {
  ensure_dist();
  const flags_url = pathToFileURL(join(root, 'dist/host-node/node/v8-flags.js')).href;
  const script = `
    const { apply_node_v8_flags } = await import(${JSON.stringify(flags_url)});
    const applied = apply_node_v8_flags();
    const { readFileSync } = await import('node:fs');
    const v8 = await import('node:v8');
    function hot(x) { return { a: x * 2 + 1, b: String(x) }; }
    let sum = 0;
    for (let i = 0; i < 3e6; i++) sum += hot(i).a;
    const keep = [];
    for (let round = 0; round < 40; round++) keep.push(Array.from({ length: 20000 }, (_, i) => ({ i, round })));
    const { instance } = await WebAssembly.instantiate(readFileSync(${JSON.stringify(join(root, 'build/loadsharing.wasm'))}), {});
    const exported = instance.exports.abi_version;
    for (let i = 0; i < 3e6; i++) sum += exported();
    await new Promise((r) => setTimeout(r, 300)); // a background tier-up would be done by now
    console.log(JSON.stringify({
      applied,
      js_optimized: %ActiveTierIsMaglev(hot) || %ActiveTierIsTurbofan(hot),
      wasm_liftoff: %IsLiftoffFunction(exported),
      wasm_turbofan: %IsTurboFanFunction(exported),
      new_space_mb: v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576,
      kept: keep.length + (sum > 0 ? 0 : 1),
    }));`;
  const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], {
    encoding: 'utf8', env: { ...process.env, LOADSHARE_FULL_JIT: full_jit ? '1' : '' },
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

test('the node\'s V8 flags keep JavaScript and the core on the baseline tiers and the young generation small', () => {
  const lean = tiers_after_load(false);
  expect(lean.applied).toBe(true);
  expect(lean.js_optimized).toBe(false);
  expect(lean.wasm_liftoff).toBe(true);
  expect(lean.wasm_turbofan).toBe(false);
  expect(lean.new_space_mb).toBeLessThanOrEqual(2);
  // The same load without them (LOADSHARE_FULL_JIT=1) reaches the optimizing tiers: the check
  // above tells the two apart.
  const full = tiers_after_load(true);
  expect(full.applied).toBe(false);
  expect(full.js_optimized).toBe(true);
  expect(full.wasm_turbofan).toBe(true);
  expect(full.new_space_mb).toBeGreaterThan(2);
}, 600000);
