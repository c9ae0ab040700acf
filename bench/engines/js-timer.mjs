#!/usr/bin/env node
// Times one module in this Node process, per bench/engines/timing-plan.md.
// Run as a child process (one per engine and round) so that V8's JIT state, GC heap and
// tier-up of one engine never leak into another's samples. The Node binary that runs it is
// the one measured (the bench runs it under several Node lines).
//   node bench/engines/js-timer.mjs v8|wasm2js MODULE_PATH PLAN_JSON_PATH
// plan.mode: compute (compute() alone on the input block already in memory), call (copy the
// input block in, compute(), copy the output block out: the raw ABI call) or binding (the
// Node host's own call, Core.compute(group): encode the view, compute(), decode the decision).
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

// Both clocks per batch: wall time, and the process's CPU time (user + system), which
// leaves out the time this process waited for a core another job had (see timing-plan.md).
function time_calls(step, calls) {
  let sink = 0;
  const cpu_start = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) sink ^= step();
  const wall_ns = Number(process.hrtime.bigint() - start);
  const cpu = process.cpuUsage(cpu_start);
  if (sink === 0x7fffffff) console.error('unreachable'); // keeps the loop's result alive
  return { wall_ns, cpu_ns: (cpu.user + cpu.system) * 1000 };
}

function output_hex(exports, out_size) {
  return Buffer.from(new Uint8Array(exports.memory.buffer, exports.output_ptr(), out_size)).toString('hex');
}

// What one timed call is, per mode; returns a number so the loop keeps a data dependency.
async function make_step(mode, exports, test_case, context) {
  const input = Buffer.from(test_case.input_hex, 'hex');
  // ABI 4: the module works in its input and carry blocks during a call, so every call starts
  // from the same state: the input block written again and a zero carry.
  const carry_ptr = exports.carry_ptr();
  const carry_size = context.carry_size ?? 4096;
  if (mode === 'compute') {
    const input_ptr = exports.input_ptr();
    return () => {
      new Uint8Array(exports.memory.buffer, input_ptr, input.length).set(input);
      new Uint8Array(exports.memory.buffer, carry_ptr, carry_size).fill(0);
      return exports.compute();
    };
  }
  if (mode === 'call') {
    const input_ptr = exports.input_ptr();
    const output_ptr = exports.output_ptr();
    const out_size = context.out_size;
    return () => {
      new Uint8Array(exports.memory.buffer, input_ptr, input.length).set(input);
      new Uint8Array(exports.memory.buffer, carry_ptr, carry_size).fill(0);
      const code = exports.compute();
      const output = new Uint8Array(exports.memory.buffer, output_ptr, out_size).slice();
      return code ^ output[0];
    };
  }
  if (mode === 'binding') {
    const group = context.bench_group(context.core, test_case.member_count);
    const core = context.core;
    return () => (core.compute(group).error === 'ok' ? 1 : 0);
  }
  throw new Error(`js-timer: unknown mode "${mode}" (compute, call or binding)`);
}

async function time_case(exports, test_case, plan, context) {
  const step = await make_step(plan.mode ?? 'compute', exports, test_case, context);
  step();
  const first = output_hex(exports, plan.out_size);
  let calls = 1;
  for (let warm = 0; warm < plan.warmup_ns; calls = Math.min(calls * 2, 1 << 24)) warm += time_calls(step, calls).wall_ns;
  // Calibrate: double until a batch is long enough to measure, then scale to the target.
  let batch = 1;
  let elapsed = time_calls(step, batch).wall_ns;
  while (elapsed < plan.sample_target_ns / 8) {
    batch *= 2;
    elapsed = time_calls(step, batch).wall_ns;
  }
  const calls_per_sample = Math.max(1, Math.round((batch * plan.sample_target_ns) / elapsed));
  const ns_per_call = [];
  const wall_ns_per_call = [];
  for (let s = 0; s < plan.samples; s++) {
    const { wall_ns, cpu_ns } = time_calls(step, calls_per_sample);
    ns_per_call.push(cpu_ns / calls_per_sample);
    wall_ns_per_call.push(wall_ns / calls_per_sample);
  }
  return { member_count: test_case.member_count, calls_per_sample, ns_per_call, wall_ns_per_call, output_hex: first, stable: output_hex(exports, plan.out_size) === first };
}

const [engine, module_path, plan_path] = process.argv.slice(2);
if (!engine || !module_path || !plan_path) {
  console.error('usage: js-timer.mjs v8|wasm2js MODULE_PATH PLAN_JSON_PATH');
  process.exit(2);
}
const plan = JSON.parse(readFileSync(plan_path, 'utf8'));
const context = { out_size: plan.out_size };
let exports;
if ((plan.mode ?? 'compute') === 'binding') {
  // The project's own binding over the same module bytes; its instance is the one timed.
  const { Core } = await import(pathToFileURL(plan.core_js).href);
  const { bench_group } = await import(new URL('../lib/groups.mjs', import.meta.url).href);
  context.core = await Core.load(readFileSync(module_path));
  context.bench_group = bench_group;
  exports = context.core.exports;
} else {
  exports = await load_engine(engine, module_path);
}
const results = [];
for (const test_case of plan.cases) results.push(await time_case(exports, test_case, plan, context));
process.stdout.write(`${JSON.stringify({ engine, mode: plan.mode ?? 'compute', results })}\n`);
