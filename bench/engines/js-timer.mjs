#!/usr/bin/env node
// Times compute() of one module in this Node process, per bench/engines/timing-plan.md.
// Run as a child process (one per engine and round) so that V8's JIT state, GC heap and
// tier-up of one engine never leak into another's samples.
//   node bench/engines/js-timer.mjs v8|wasm2js MODULE_PATH PLAN_JSON_PATH
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

async function load_engine(engine, module_path) {
  if (engine === 'v8') {
    const module = new WebAssembly.Module(readFileSync(module_path));
    return new WebAssembly.Instance(module, {}).exports;
  }
  if (engine === 'wasm2js') return import(pathToFileURL(module_path).href);
  throw new Error(`js-timer: unknown engine "${engine}" (v8 or wasm2js)`);
}

function time_calls_ns(compute, calls) {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) sink ^= compute();
  const elapsed = Number(process.hrtime.bigint() - start);
  if (sink === 0x7fffffff) console.error('unreachable'); // keeps the loop's result alive
  return elapsed;
}

function output_hex(exports, out_size) {
  return Buffer.from(new Uint8Array(exports.memory.buffer, exports.output_ptr(), out_size)).toString('hex');
}

function time_case(exports, test_case, plan) {
  const input = Buffer.from(test_case.input_hex, 'hex');
  new Uint8Array(exports.memory.buffer, exports.input_ptr(), input.length).set(input);
  exports.compute();
  const first = output_hex(exports, plan.out_size);
  const compute = exports.compute;
  let calls = 1;
  for (let warm = 0; warm < plan.warmup_ns; calls = Math.min(calls * 2, 1 << 24)) warm += time_calls_ns(compute, calls);
  // Calibrate: double until a batch is long enough to measure, then scale to the target.
  let batch = 1;
  let elapsed = time_calls_ns(compute, batch);
  while (elapsed < plan.sample_target_ns / 8) {
    batch *= 2;
    elapsed = time_calls_ns(compute, batch);
  }
  const calls_per_sample = Math.max(1, Math.round((batch * plan.sample_target_ns) / elapsed));
  const ns_per_call = [];
  for (let s = 0; s < plan.samples; s++) ns_per_call.push(time_calls_ns(compute, calls_per_sample) / calls_per_sample);
  return { member_count: test_case.member_count, calls_per_sample, ns_per_call, output_hex: first, stable: output_hex(exports, plan.out_size) === first };
}

const [engine, module_path, plan_path] = process.argv.slice(2);
if (!engine || !module_path || !plan_path) {
  console.error('usage: js-timer.mjs v8|wasm2js MODULE_PATH PLAN_JSON_PATH');
  process.exit(2);
}
const plan = JSON.parse(readFileSync(plan_path, 'utf8'));
const exports = await load_engine(engine, module_path);
const results = plan.cases.map((test_case) => time_case(exports, test_case, plan));
process.stdout.write(`${JSON.stringify({ engine, results })}\n`);
