#!/usr/bin/env node
// Writes the conformance vectors (test/vectors/): for every scenario in test/scenarios/ and
// for seeded random groups, the exact input and carry blocks the Node host writes and the
// exact output and carry blocks the release module answers. Every host must reproduce each
// answer byte for byte. Files: index.json (names, sources, earlier calls, the decision in
// words) and NAME.in.hex / NAME.carry-in.hex (only when the scenario has earlier calls; else
// the carry handed in is zeros, the safe start) / NAME.out.hex / NAME.carry-out.hex.
// Also the hot-swap self-test's vectors, shipped with the runtime:
// host-node/modules/selftest-vectors.json.gz (every policy-independent vector).
// `--check` compares against the committed files instead of writing (exit 1 when stale).
import { readFileSync, writeFileSync, readdirSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { gzipSync, gunzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Core } from '../dist/host-node/core.js';
import { scenario_to_view } from '../dist/host-node/scenario.js';
import { scenario_call } from '../dist/host-node/allocate.js';
import { random_scenario } from '../dist/host-node/random-group.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const vectors_dir = join(root, 'test/vectors');
const scenarios_dir = join(root, 'test/scenarios');
export const selftest_path = 'host-node/modules/selftest-vectors.json.gz';
const random_count = 64;
const random_seed = 20261127;

const hex = (bytes) => Buffer.from(bytes).toString('hex');

export async function build_vectors() {
  const core = await Core.load(readFileSync(join(root, 'build/loadsharing.wasm')));
  const cases = [];
  for (const file of readdirSync(scenarios_dir).filter((f) => f.endsWith('.json')).sort()) {
    cases.push({ name: file.replace(/\.json$/, ''), source: `test/scenarios/${file}`, scenario: JSON.parse(readFileSync(join(scenarios_dir, file), 'utf8')) });
  }
  for (let i = 0; i < random_count; i++) {
    cases.push({ name: `random-${String(i).padStart(3, '0')}`, source: `host-node/random-group.ts seed ${random_seed} #${i}`, scenario: random_scenario(random_seed, i) });
  }
  const files = {};
  const index = [];
  const selftest = [];
  for (const c of cases) {
    const view = scenario_to_view(c.scenario);
    const call = scenario_call(core, view);
    // The input block as the host writes it: the module works in it during the call.
    const { order } = core.write_input(call);
    const input = core.input_bytes();
    const { output, carry } = core.compute_raw(input, call.carry ?? null);
    const decision = core.read_output(order, call.self, carry);
    files[`${c.name}.in.hex`] = `${hex(input)}\n`;
    if (call.carry) files[`${c.name}.carry-in.hex`] = `${hex(call.carry)}\n`;
    files[`${c.name}.out.hex`] = `${hex(output)}\n`;
    files[`${c.name}.carry-out.hex`] = `${hex(decision.carry)}\n`;
    // Every policy answers these the same (one priority level): a swapped-in module's
    // self-test holds it to them byte for byte.
    const policy_independent = new Set(view.members.map((m) => m.priority)).size === 1;
    const earlier_ms = view.earlier_ms ?? [];
    index.push({
      name: c.name,
      source: c.source,
      earlier_ms,
      policy_independent,
      self: decision.self,
      allocations: Object.fromEntries(decision.allocations.map((a) => [a.id, a.target_current])),
      error: decision.error,
    });
    if (policy_independent) selftest.push({ name: c.name, input: hex(input), earlier_ms, output: hex(output) });
  }
  files['index.json'] = `${JSON.stringify({ abi_version: 4, module: 'build/loadsharing.wasm', vectors: index }, null, 1)}\n`;
  const selftest_bytes = gzipSync(Buffer.from(JSON.stringify({ abi_version: 4, vectors: selftest })), { level: 9 });
  return { files, selftest: selftest_bytes };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { files, selftest } = await build_vectors();
  if (process.argv.includes('--check')) {
    const stale = Object.entries(files).filter(([name, text]) => !existsSync(join(vectors_dir, name)) || readFileSync(join(vectors_dir, name), 'utf8') !== text).map(([name]) => `test/vectors/${name}`);
    // Compared unpacked: another zlib may pack the same bytes differently.
    if (!existsSync(join(root, selftest_path)) || Buffer.compare(gunzipSync(readFileSync(join(root, selftest_path))), gunzipSync(selftest)) !== 0) stale.push(selftest_path);
    for (const name of stale) console.error(`stale vector: ${name}`);
    process.exit(stale.length ? 1 : 0);
  }
  if (existsSync(vectors_dir)) rmSync(vectors_dir, { recursive: true });
  mkdirSync(vectors_dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(vectors_dir, name), text);
  writeFileSync(join(root, selftest_path), selftest);
  console.log(`wrote ${Object.keys(files).length} files to test/vectors/ and ${selftest_path}`);
}
