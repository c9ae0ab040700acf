// The self-test a candidate module must pass before it may decide for a charger: every
// policy-independent conformance vector byte for byte, and the guard's invariants over
// generated groups. The candidate runs in a worker thread that is terminated when its time
// budget runs out, so a module that never returns cannot hang the charger.
import { Worker } from 'node:worker_threads';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Core, decode_output, project_root, type GroupView, type MemberView } from '../core.js';
import { check_decision } from '../guard.js';
import { scenario_to_view } from '../scenario.js';
import { OUT_SIZE } from '../abi.js';
import { PackageError } from './package.js';

export interface SelfTestOptions {
  timeout_ms?: number;
  random_groups?: number;
  seed?: number;
}

export interface SelfTestReport {
  vectors: number;
  groups: number;
}

// Runs in the worker: instantiate, check the ABI version, compute every block. Plain JS,
// no imports beyond Node's, so it runs the same from source and from dist/.
const worker_source = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { instance } = await WebAssembly.instantiate(workerData.module, {});
  const e = instance.exports;
  const version = e.abi_version();
  const outputs = [];
  for (const input of workerData.inputs) {
    new Uint8Array(e.memory.buffer, e.input_ptr(), input.length).set(input);
    const code = e.compute();
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

function run_in_worker(module: Uint8Array, inputs: Uint8Array[], timeout_ms: number): Promise<WorkerAnswer> {
  return new Promise((resolve) => {
    const worker = new Worker(worker_source, { eval: true, workerData: { module, inputs, out_size: OUT_SIZE }, resourceLimits: { maxOldGenerationSizeMb: 64 } });
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

interface VectorCase { name: string; input: Uint8Array; output: Uint8Array }

function policy_independent_vectors(): VectorCase[] {
  const dir = join(project_root(), 'test/vectors');
  const index_path = join(dir, 'index.json');
  if (!existsSync(index_path)) return [];
  const index = JSON.parse(readFileSync(index_path, 'utf8')) as { vectors: Array<{ name: string; policy_independent?: boolean }> };
  const hex = (name: string) => Uint8Array.from(Buffer.from(readFileSync(join(dir, name), 'utf8').trim(), 'hex'));
  return index.vectors.filter((v) => v.policy_independent).map((v) => ({ name: v.name, input: hex(`${v.name}.in.hex`), output: hex(`${v.name}.out.hex`) }));
}

async function random_views(count: number, seed: number): Promise<GroupView[]> {
  const generator = await import(pathToFileURL(join(project_root(), 'scripts/random-group.mjs')).href) as { random_scenario(seed: number, index: number): unknown };
  return Array.from({ length: count }, (_, i) => scenario_to_view(generator.random_scenario(seed, i)));
}

// Throws PackageError('self_test', …) naming the first failure.
export async function self_test(candidate: Uint8Array, reference: Core, options: SelfTestOptions = {}): Promise<SelfTestReport> {
  const timeout_ms = options.timeout_ms ?? 5000;
  const vectors = policy_independent_vectors();
  const views = await random_views(options.random_groups ?? 200, options.seed ?? 7);
  const orders: MemberView[][] = [];
  const inputs = [...vectors.map((v) => v.input)];
  for (const view of views) {
    orders.push(reference.write_input(view).order);
    inputs.push(reference.input_bytes());
  }
  const answer = await run_in_worker(candidate, inputs, timeout_ms);
  if (answer.error !== undefined) throw new PackageError('self_test', `self-test: the module failed: ${answer.error}`);
  if (answer.version !== reference.abi_version()) throw new PackageError('self_test', `self-test: the module reports ABI ${answer.version}`);
  const outputs = answer.outputs!;
  vectors.forEach((v, i) => {
    if (Buffer.compare(Buffer.from(outputs[i].bytes), Buffer.from(v.output)) !== 0) {
      throw new PackageError('self_test', `self-test: conformance vector ${v.name} answered differently`);
    }
  });
  views.forEach((view, k) => {
    const out = outputs[vectors.length + k];
    const bytes = out.bytes;
    const decision = decode_output(new DataView(bytes.buffer, bytes.byteOffset, bytes.length), 0, orders[k], view.self);
    const broken = decision.error === 'ok' ? check_decision(decision, view) : `refused a valid group (${decision.error})`;
    if (broken) throw new PackageError('self_test', `self-test: generated group ${k}: ${broken}`);
  });
  return { vectors: vectors.length, groups: views.length };
}
