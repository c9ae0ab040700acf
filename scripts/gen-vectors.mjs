#!/usr/bin/env node
// Writes the conformance vectors (test/vectors/): for every scenario in test/scenarios/ and
// for seeded random groups, the exact input block the Node host writes and the exact output
// block the release module answers. Every host must reproduce each output byte for byte.
// Files: index.json (names, sources, the decision in words) and NAME.in.hex / NAME.out.hex.
// `--check` compares against the committed files instead of writing (exit 1 when stale).
import { readFileSync, writeFileSync, readdirSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Core } from '../dist/host-node/core.js';
import { scenario_to_view } from '../dist/host-node/scenario.js';
import { self_config_hash } from '../dist/host-node/allocate.js';
import { random_scenario } from './random-group.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const vectors_dir = join(root, 'test/vectors');
const scenarios_dir = join(root, 'test/scenarios');
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
    cases.push({ name: `random-${String(i).padStart(3, '0')}`, source: `scripts/random-group.mjs seed ${random_seed} #${i}`, scenario: random_scenario(random_seed, i) });
  }
  const files = {};
  const index = [];
  for (const c of cases) {
    const view = scenario_to_view(c.scenario);
    view.config_hash = view.config_hash ?? self_config_hash(core, view);
    const decision = core.compute(view);
    const input = core.input_bytes();
    const output = core.output_bytes();
    files[`${c.name}.in.hex`] = `${hex(input)}\n`;
    files[`${c.name}.out.hex`] = `${hex(output)}\n`;
    index.push({
      name: c.name,
      source: c.source,
      // Every policy answers these the same (one priority level): a swapped-in module's
      // self-test holds it to them byte for byte.
      policy_independent: new Set(view.members.map((m) => m.priority)).size === 1,
      self: decision.self,
      allocations: Object.fromEntries(decision.allocations.map((a) => [a.id, a.target_current])),
      error: decision.error,
    });
  }
  files['index.json'] = `${JSON.stringify({ abi_version: 1, module: 'build/loadsharing.wasm', vectors: index }, null, 1)}\n`;
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await build_vectors();
  if (process.argv.includes('--check')) {
    const stale = Object.entries(files).filter(([name, text]) => !existsSync(join(vectors_dir, name)) || readFileSync(join(vectors_dir, name), 'utf8') !== text);
    for (const [name] of stale) console.error(`stale vector: test/vectors/${name}`);
    process.exit(stale.length ? 1 : 0);
  }
  if (existsSync(vectors_dir)) rmSync(vectors_dir, { recursive: true });
  mkdirSync(vectors_dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(vectors_dir, name), text);
  console.log(`wrote ${Object.keys(files).length} files to test/vectors/`);
}
