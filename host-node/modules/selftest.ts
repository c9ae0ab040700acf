// The self-test a candidate module must pass before it may decide for a charger: every
// policy-independent conformance vector byte for byte (including the ones that start from
// earlier calls, with the candidate's own carry passed from call to call: the carry round
// trip), a foreign and a corrupt carry answered with the safe start instead of a trap, and
// the guard's invariants over generated groups. The vectors ship with the runtime
// (selftest-vectors.json.gz, written by npm run gen:vectors); without them the self-test
// fails closed. The candidate runs in a worker thread that is terminated when its time
// budget runs out, so a module that never returns cannot hang the charger.
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { Core, decode_output, type GroupView, type MemberView } from '../core.js';
import { check_decision } from '../guard.js';
import { scenario_to_view } from '../scenario.js';
import { random_scenario } from '../random-group.js';
import { OUT_SIZE, CARRY_SIZE, IN_MONO_MS, IN_WALL_MS, OUT_CARRY_STATUS, CARRY_STATUS_CONTINUED, ABI_VERSION } from '../abi.js';
import { PackageError } from './package.js';

export interface SelfTestOptions {
  timeout_ms?: number;
  random_groups?: number;
  seed?: number;
  vectors_path?: string; // tests point it elsewhere to show that missing vectors fail closed
}

export interface SelfTestReport {
  vectors: number;
  chained_calls: number;
  groups: number;
}

// One call in the worker: an input block and the carry to hand in: zeros (the safe start),
// the carry the previous call left (a chain), or given bytes.
interface WorkerCall { input: Uint8Array; carry: 'zero' | 'chain' | Uint8Array }

// Runs in the worker: instantiate, check the ABI version, compute every call. Plain JS,
// no imports beyond Node's, so it runs the same from source and from dist/.
const worker_source = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { instance } = await WebAssembly.instantiate(workerData.module, {});
  const e = instance.exports;
  const version = e.abi_version();
  const outputs = [];
  let carry = new Uint8Array(workerData.carry_size);
  for (const call of workerData.calls) {
    new Uint8Array(e.memory.buffer, e.input_ptr(), call.input.length).set(call.input);
    const given = call.carry === 'zero' ? new Uint8Array(workerData.carry_size) : call.carry === 'chain' ? carry : call.carry;
    new Uint8Array(e.memory.buffer, e.carry_ptr(), workerData.carry_size).set(given);
    const code = e.compute();
    carry = new Uint8Array(e.memory.buffer, e.carry_ptr(), workerData.carry_size).slice();
    outputs.push({ code, bytes: new Uint8Array(e.memory.buffer, e.output_ptr(), workerData.out_size).slice() });
  }
  parentPort.postMessage({ version, outputs });
})().catch((error) => parentPort.postMessage({ error: String(error && error.message || error) }));
`;

interface WorkerAnswer {
  version?: number;
  outputs?: Array<{ code: number; bytes: Uint8Array }>;
  error?: string;
}

function run_in_worker(module: Uint8Array, calls: WorkerCall[], timeout_ms: number): Promise<WorkerAnswer> {
  return new Promise((resolve) => {
    const worker = new Worker(worker_source, { eval: true, workerData: { module, calls, out_size: OUT_SIZE, carry_size: CARRY_SIZE }, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    const timer = setTimeout(() => {
      void worker.terminate();
      resolve({ error: `did not finish within ${timeout_ms} ms` });
    }, timeout_ms);
    worker.once('message', (answer: WorkerAnswer) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(answer);
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      resolve({ error: error.message });
    });
  });
}

interface VectorCase { name: string; input: Uint8Array; earlier_ms: number[]; output: Uint8Array }

export const selftest_vectors_path = fileURLToPath(new URL('./selftest-vectors.json.gz', import.meta.url)).replace('/dist/host-node/', '/host-node/');

// The shipped vectors; any problem reading them is a failed self-test (fail closed).
function shipped_vectors(path: string): VectorCase[] {
  let parsed: { abi_version: number; vectors: Array<{ name: string; input: string; earlier_ms: number[]; output: string }> };
  try {
    parsed = JSON.parse(gunzipSync(readFileSync(path)).toString('utf8'));
  } catch (error) {
    throw new PackageError('self_test', `self-test: cannot read the self-test vectors (${(error as Error).message}); no module is accepted without them`);
  }
  if (parsed.abi_version !== ABI_VERSION || !Array.isArray(parsed.vectors) || parsed.vectors.length === 0) {
    throw new PackageError('self_test', 'self-test: the self-test vectors are missing or for another ABI; no module is accepted without them');
  }
  const bytes = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));
  return parsed.vectors.map((v) => ({ name: v.name, input: bytes(v.input), earlier_ms: v.earlier_ms, output: bytes(v.output) }));
}

// The input block of an earlier call: the same facts at an earlier time (both clocks).
function at_time(input: Uint8Array, t_ms: number): Uint8Array {
  const copy = input.slice();
  const v = new DataView(copy.buffer);
  v.setFloat64(IN_MONO_MS, t_ms, true);
  v.setFloat64(IN_WALL_MS, t_ms, true);
  return copy;
}

function random_views(count: number, seed: number): GroupView[] {
  return Array.from({ length: count }, (_, i) => scenario_to_view(random_scenario(seed, i)));
}

// A carry that is not the candidate's: deterministic noise (a corrupt block) and a block
// with a foreign format tag.
function foreign_carries(): Uint8Array[] {
  const noise = new Uint8Array(CARRY_SIZE);
  let x = 0x2545f491;
  for (let i = 0; i < noise.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; noise[i] = x & 0xff; }
  const foreign = new Uint8Array(CARRY_SIZE);
  new DataView(foreign.buffer).setUint32(0, 0x4c534300, true);
  return [noise, foreign];
}

// Throws PackageError('self_test', …) naming the first failure.
export async function self_test(candidate: Uint8Array, reference: Core, options: SelfTestOptions = {}): Promise<SelfTestReport> {
  const timeout_ms = options.timeout_ms ?? 5000;
  const vectors = shipped_vectors(options.vectors_path ?? selftest_vectors_path);
  const views = random_views(options.random_groups ?? 200, options.seed ?? 7);
  const calls: WorkerCall[] = [];
  const vector_answer: number[] = [];
  for (const v of vectors) {
    v.earlier_ms.forEach((t, k) => calls.push({ input: at_time(v.input, t), carry: k === 0 ? 'zero' : 'chain' }));
    calls.push({ input: v.input, carry: v.earlier_ms.length > 0 ? 'chain' : 'zero' });
    vector_answer.push(calls.length - 1);
  }
  const chained_calls = calls.length - vectors.length;
  const orders: MemberView[][] = [];
  const view_answer: number[] = [];
  const carries = foreign_carries();
  views.forEach((view, k) => {
    orders.push(reference.write_input(view).order);
    const input = reference.input_bytes();
    calls.push({ input, carry: k < carries.length ? carries[k] : 'zero' });
    view_answer.push(calls.length - 1);
  });
  const answer = await run_in_worker(candidate, calls, timeout_ms);
  if (answer.error !== undefined) throw new PackageError('self_test', `self-test: the module failed: ${answer.error}`);
  if (answer.version !== reference.abi_version()) throw new PackageError('self_test', `self-test: the module reports ABI ${answer.version}`);
  const outputs = answer.outputs!;
  vectors.forEach((v, i) => {
    if (Buffer.compare(Buffer.from(outputs[vector_answer[i]].bytes), Buffer.from(v.output)) !== 0) {
      throw new PackageError('self_test', `self-test: conformance vector ${v.name} answered differently${v.earlier_ms.length > 0 ? ' (after its own carry from earlier calls)' : ''}`);
    }
  });
  views.forEach((view, k) => {
    const bytes = outputs[view_answer[k]].bytes;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const decision = decode_output(dv, 0, orders[k], view.self, new Uint8Array(0));
    let broken = decision.error === 'ok' ? check_decision(decision, view) : `refused a valid group (${decision.error})`;
    if (!broken && k < carries.length && decision.error === 'ok' && dv.getUint32(OUT_CARRY_STATUS, true) === CARRY_STATUS_CONTINUED) {
      broken = 'continued a carry that is not its own';
    }
    if (broken) throw new PackageError('self_test', `self-test: generated group ${k}: ${broken}`);
  });
  return { vectors: vectors.length, chained_calls, groups: views.length };
}
