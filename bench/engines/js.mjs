// The JavaScript engines: the module in V8 (what the Node host runs), under the Node line
// the bench runs on and under the other pinned lines (scripts/node-versions.json), and the
// module translated to JavaScript by wasm2js (the fallback for a host without WebAssembly).
// Each runs bench/engines/js-timer.mjs in its own child process.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The features AssemblyScript's release build uses; wasm2js refuses the module without them.
const wasm2js_features = ['--enable-bulk-memory', '--enable-nontrapping-float-to-int', '--enable-sign-ext', '--enable-mutable-globals'];

export function prepare_wasm2js(root, module_path, work_dir) {
  mkdirSync(work_dir, { recursive: true });
  const out_path = join(work_dir, 'loadsharing.wasm2js.mjs');
  const result = spawnSync(join(root, 'node_modules/.bin/wasm2js'), [module_path, ...wasm2js_features, '-O2', '-o', out_path], { encoding: 'utf8' });
  if (result.status !== 0) return { unavailable: `wasm2js failed: ${(result.stderr || result.error?.message || '').trim().split('\n').pop()}` };
  const version = spawnSync(join(root, 'node_modules/.bin/wasm2js'), ['--version'], { encoding: 'utf8' }).stdout.trim();
  return { module_path: out_path, versions: { wasm2js: version, flags: ['-O2', ...wasm2js_features].join(' ') } };
}

// Runs the plan (bench/engines/timing-plan.md) in a fresh process of the given Node binary.
export function run_js(root, engine, module_path, plan, work_dir, node_binary = process.execPath) {
  mkdirSync(work_dir, { recursive: true });
  const plan_path = join(work_dir, `plan-${engine}.json`);
  writeFileSync(plan_path, JSON.stringify({ ...plan, core_js: join(root, 'dist/host-node/core.js') }));
  const timer_engine = engine === 'wasm2js' ? 'wasm2js' : 'v8';
  const out = execFileSync(node_binary, [join(root, 'bench/engines/js-timer.mjs'), timer_engine, module_path, plan_path], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { engine, results: JSON.parse(out).results };
}
