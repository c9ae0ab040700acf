// Campaigns at scale: the seeds of a campaign on every core (node:worker_threads, each
// worker loading the modules once), a shard of a campaign (`--shard I/N`: every N-th seed,
// so a campaign splits across machines by any job runner), and its JSON summary, which
// merges: the summary of N shard summaries merged is the summary one big run gives, apart
// from `timing` (docs/simulation.md, "Fault campaigns").
//
// Everything in a summary is order-independent, so the order in which workers finish does
// not matter: lists are sorted by seed, distributions are histograms with integer counts and
// sums in integer millionths, and the worst over-draw breaks ties by the smaller seed.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { project_root } from '../core.js';
import { generator_version, load_campaign_cores, random_scenario_json, run_seed, type CampaignCores, type FuzzOptions } from './fuzz.js';
import type { Policy, RunResult } from './world.js';

export interface CampaignSpec {
  first: number;
  seeds: number; // the whole campaign: seeds first .. first + seeds - 1
  chargers_min: number;
  chargers_max: number;
  duration_s: number;
  policy: Policy;
}

export interface Shard {
  index: number; // 1-based
  count: number;
}

// What a worker sends back per run: small, and all a summary needs.
export interface RunRecord {
  seed: number;
  chargers: number;
  simulated_s: number;
  failures: string[]; // empty: every check held
  assumptions: string[]; // the protocol's assumptions the run broke (reported apart)
  beyond_assumptions: string[];
  peak_overdraw_a: number;
  overdraw_integral_as: number;
  below_held: boolean; // the limit fell below what dead chargers' controllers hold
  utilisation: number | null;
  fairness: number | null;
}

// A distribution over runs of a measure in [0, 1]: 100 bins of 0.01 (the last one holds 1.0).
export interface Distribution {
  runs: number; // runs that had the measure (some have none: no car wanted current)
  sum_millionths: number; // exact: integer millionths
  min: number | null;
  max: number | null;
  bins: number[]; // bins[k]: runs with k/100 <= value < (k+1)/100
  mean: number | null; // derived: rounded to 1e-4
  p5: number | null; // derived: the upper edge of the bin where 5 % of the runs are reached
  p50: number | null;
  p95: number | null;
}

export interface BrokenRun {
  seed: number;
  failures: string[];
  reproduce: string;
}

export interface CampaignSummary {
  format: 'loadshare-fuzz-summary';
  version: 1;
  generator: number;
  campaign: CampaignSpec;
  // null: the whole campaign (unsharded, or every shard merged); otherwise which shards it holds
  part: { shards: number[]; of: number } | null;
  runs: number;
  simulated_s: number;
  broken: BrokenRun[];
  broken_inv1: number; // broken runs whose failures include INV-1
  broken_permission: number; // broken runs whose failures include a raise without room (oracle)
  assumption_violated: Array<BrokenRun & { assumptions: string[]; beyond_assumptions: string[] }>;
  // runs whose limit fell below what dead chargers' controllers hold: INV-1 held them to that
  // (docs/simulation.md, "A limit below what dead controllers hold"); absent in older summaries
  limit_below_held?: number[];
  // the largest INV-1 over-draw of a judged run (assumption-violated runs not included), and of those
  worst_overdraw: { seed: number; peak_a: number; integral_as: number } | null;
  worst_overdraw_beyond_assumptions: { seed: number; peak_a: number; integral_as: number } | null;
  utilisation: Distribution;
  fairness: Distribution;
  chargers: Record<string, number>; // runs per group size
  timing: { wall_s: number; runs_per_s: number; simulated_s_per_wall_s: number; jobs: number };
}

export function shard_seeds(spec: CampaignSpec, shard: Shard | null): number[] {
  const out: number[] = [];
  for (let k = 0; k < spec.seeds; k++) if (!shard || k % shard.count === shard.index - 1) out.push(spec.first + k);
  return out;
}

export function reproduce_command(spec: CampaignSpec, seed: number): string {
  return `loadshare fuzz --show ${seed} --chargers ${spec.chargers_min}-${spec.chargers_max} --duration ${spec.duration_s} > seed-${seed}.json && loadshare simulate seed-${seed}.json${spec.policy === 'naive' ? ' --policy naive' : ''}`;
}

export function fuzz_options(spec: CampaignSpec): FuzzOptions {
  return { chargers_min: spec.chargers_min, chargers_max: spec.chargers_max, duration_s: spec.duration_s };
}

// One seed run and reduced to its record (in a worker, or in this thread).
export function record_seed(cores: CampaignCores, seed: number, policy: Policy, fuzz: FuzzOptions): RunRecord {
  const result = run_seed(cores, seed, policy, fuzz);
  const chargers = 'internal_error' in result ? (random_scenario_json(seed, fuzz).chargers as unknown[]).length : result.chargers.length;
  return to_record(seed, result, chargers);
}

function to_record(seed: number, result: RunResult | { seed: number; internal_error: string }, chargers: number): RunRecord {
  if ('internal_error' in result) {
    return {
      seed, chargers, simulated_s: 0, failures: [`internal error: ${result.internal_error.split('\n')[0]}`], assumptions: [], beyond_assumptions: [],
      peak_overdraw_a: 0, overdraw_integral_as: 0, below_held: false, utilisation: null, fairness: null,
    };
  }
  return {
    seed, chargers, simulated_s: result.duration_s, failures: result.failures, assumptions: result.assumption_violated,
    beyond_assumptions: result.beyond_assumptions, peak_overdraw_a: result.inv1.peak_overdraw_a, overdraw_integral_as: result.inv1.overdraw_integral_as,
    below_held: result.inv1.below_held !== null, utilisation: result.utilisation, fairness: result.fairness,
  };
}

const empty_distribution = (): Distribution => ({ runs: 0, sum_millionths: 0, min: null, max: null, bins: new Array(100).fill(0), mean: null, p5: null, p50: null, p95: null });

function add_value(d: Distribution, value: number | null): void {
  if (value === null || !Number.isFinite(value)) return;
  const v = Math.min(1, Math.max(0, value));
  d.runs += 1;
  d.sum_millionths += Math.round(v * 1e6);
  d.min = d.min === null ? v : Math.min(d.min, v);
  d.max = d.max === null ? v : Math.max(d.max, v);
  d.bins[Math.min(99, Math.floor(v * 100))] += 1;
}

function merge_distribution(into: Distribution, d: Distribution): void {
  into.runs += d.runs;
  into.sum_millionths += d.sum_millionths;
  if (d.min !== null) into.min = into.min === null ? d.min : Math.min(into.min, d.min);
  if (d.max !== null) into.max = into.max === null ? d.max : Math.max(into.max, d.max);
  d.bins.forEach((n, k) => { into.bins[k] += n; });
}

function derive(d: Distribution): void {
  d.mean = d.runs === 0 ? null : Math.round(d.sum_millionths / d.runs / 100) / 1e4;
  const quantile = (q: number) => {
    if (d.runs === 0) return null;
    let seen = 0;
    for (let k = 0; k < 100; k++) {
      seen += d.bins[k];
      if (seen >= q * d.runs) return (k + 1) / 100;
    }
    return 1;
  };
  d.p5 = quantile(0.05);
  d.p50 = quantile(0.5);
  d.p95 = quantile(0.95);
}

const worse = (a: { seed: number; peak_a: number } | null, b: { seed: number; peak_a: number } | null) =>
  b !== null && (a === null || b.peak_a > a.peak_a || (b.peak_a === a.peak_a && b.seed < a.seed));

// Collects run records (in any order) into a summary.
export class SummaryBuilder {
  private readonly s: CampaignSummary;

  constructor(spec: CampaignSpec, part: CampaignSummary['part'], jobs: number) {
    this.s = {
      format: 'loadshare-fuzz-summary', version: 1, generator: generator_version, campaign: spec, part,
      runs: 0, simulated_s: 0, broken: [], broken_inv1: 0, broken_permission: 0, assumption_violated: [], limit_below_held: [],
      worst_overdraw: null, worst_overdraw_beyond_assumptions: null,
      utilisation: empty_distribution(), fairness: empty_distribution(), chargers: {},
      timing: { wall_s: 0, runs_per_s: 0, simulated_s_per_wall_s: 0, jobs },
    };
  }

  get broken_count(): number { return this.s.broken.length; }
  // The first broken seeds found so far (for the progress line: a long campaign names them
  // as they come, so that tracing can start before it ends).
  broken_seeds(most: number): number[] { return this.s.broken.slice(0, most).map((b) => b.seed); }
  get runs(): number { return this.s.runs; }

  add(r: RunRecord): void {
    const s = this.s;
    s.runs += 1;
    s.simulated_s += r.simulated_s;
    s.chargers[String(r.chargers)] = (s.chargers[String(r.chargers)] ?? 0) + 1;
    const reproduce = reproduce_command(s.campaign, r.seed);
    if (r.failures.length > 0) {
      s.broken.push({ seed: r.seed, failures: r.failures, reproduce });
      if (r.failures.some((f) => f.startsWith('INV-1'))) s.broken_inv1 += 1;
      if (r.failures.some((f) => f.startsWith('permission:'))) s.broken_permission += 1;
    }
    const overdraw = r.peak_overdraw_a > 0 ? { seed: r.seed, peak_a: r.peak_overdraw_a, integral_as: r.overdraw_integral_as } : null;
    if (r.assumptions.length > 0) {
      s.assumption_violated.push({ seed: r.seed, failures: r.failures, reproduce, assumptions: r.assumptions, beyond_assumptions: r.beyond_assumptions });
      if (worse(s.worst_overdraw_beyond_assumptions, overdraw)) s.worst_overdraw_beyond_assumptions = overdraw;
    } else if (worse(s.worst_overdraw, overdraw)) {
      s.worst_overdraw = overdraw;
    }
    if (r.below_held) s.limit_below_held!.push(r.seed);
    add_value(s.utilisation, r.utilisation);
    add_value(s.fairness, r.fairness);
  }

  finish(wall_ms: number): CampaignSummary {
    return finish_summary(structuredClone(this.s), wall_ms / 1000);
  }
}

function finish_summary(s: CampaignSummary, wall_s: number): CampaignSummary {
  s.broken.sort((a, b) => a.seed - b.seed);
  s.assumption_violated.sort((a, b) => a.seed - b.seed);
  s.limit_below_held?.sort((a, b) => a - b);
  s.chargers = Object.fromEntries(Object.entries(s.chargers).sort((a, b) => Number(a[0]) - Number(b[0])));
  derive(s.utilisation);
  derive(s.fairness);
  s.timing = {
    wall_s: Math.round(wall_s * 10) / 10,
    runs_per_s: wall_s > 0 ? Math.round((s.runs / wall_s) * 100) / 100 : 0,
    simulated_s_per_wall_s: wall_s > 0 ? Math.round(s.simulated_s / wall_s) : 0,
    jobs: s.timing.jobs,
  };
  return s;
}

export class MergeError extends Error {}

// `loadshare fuzz merge`: shard summaries of one campaign into one. All shards: the same
// summary as the unsharded campaign (part null); some: a partial summary that says which.
// timing.wall_s is then the sum of the shards' wall times (machine time, not elapsed time).
export function merge_summaries(parts: Array<{ name: string; summary: unknown }>): CampaignSummary {
  if (parts.length === 0) throw new MergeError('give at least one summary file');
  const summaries = parts.map(({ name, summary }) => {
    const s = summary as Partial<CampaignSummary> | null;
    if (!s || typeof s !== 'object' || s.format !== 'loadshare-fuzz-summary') throw new MergeError(`${name}: not a loadshare fuzz summary (written by loadshare fuzz --json)`);
    if (s.version !== 1) throw new MergeError(`${name}: summary version ${String(s.version)}, this loadshare reads version 1`);
    return s as CampaignSummary;
  });
  const first = summaries[0];
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  for (const [i, s] of summaries.entries()) {
    if (s.generator !== first.generator) throw new MergeError(`${parts[i].name}: made by generator ${s.generator}, ${parts[0].name} by generator ${first.generator}: their seeds are different scenarios`);
    if (!same(s.campaign, first.campaign)) throw new MergeError(`${parts[i].name}: another campaign (${JSON.stringify(s.campaign)}) than ${parts[0].name} (${JSON.stringify(first.campaign)})`);
  }
  const of = first.part?.of ?? 1;
  const held = new Map<number, string>();
  for (const [i, s] of summaries.entries()) {
    const shards = s.part?.shards ?? Array.from({ length: of }, (_, k) => k + 1);
    if ((s.part?.of ?? 1) !== of && s.part !== null) throw new MergeError(`${parts[i].name}: a shard of ${s.part?.of} parts, ${parts[0].name} of ${of}`);
    for (const k of shards) {
      if (held.has(k)) throw new MergeError(`${parts[i].name}: shard ${k}/${of} is also in ${held.get(k)}`);
      held.set(k, parts[i].name);
    }
  }
  const all = held.size === of;
  const merged: CampaignSummary = {
    ...structuredClone(first),
    part: all ? null : { shards: [...held.keys()].sort((a, b) => a - b), of },
    runs: 0, simulated_s: 0, broken: [], broken_inv1: 0, broken_permission: 0, assumption_violated: [], limit_below_held: [],
    worst_overdraw: null, worst_overdraw_beyond_assumptions: null,
    utilisation: empty_distribution(), fairness: empty_distribution(), chargers: {},
    timing: { wall_s: 0, runs_per_s: 0, simulated_s_per_wall_s: 0, jobs: Math.max(...summaries.map((s) => s.timing.jobs)) },
  };
  let wall_s = 0;
  for (const s of summaries) {
    merged.runs += s.runs;
    merged.simulated_s += s.simulated_s;
    merged.broken.push(...s.broken);
    merged.broken_inv1 += s.broken_inv1;
    merged.broken_permission += s.broken_permission;
    merged.assumption_violated.push(...s.assumption_violated);
    merged.limit_below_held!.push(...(s.limit_below_held ?? []));
    if (worse(merged.worst_overdraw, s.worst_overdraw)) merged.worst_overdraw = s.worst_overdraw;
    if (worse(merged.worst_overdraw_beyond_assumptions, s.worst_overdraw_beyond_assumptions)) merged.worst_overdraw_beyond_assumptions = s.worst_overdraw_beyond_assumptions;
    merge_distribution(merged.utilisation, s.utilisation);
    merge_distribution(merged.fairness, s.fairness);
    for (const [n, runs] of Object.entries(s.chargers)) merged.chargers[n] = (merged.chargers[n] ?? 0) + runs;
    wall_s += s.timing.wall_s;
  }
  return finish_summary(merged, wall_s);
}

export interface Progress {
  done: number;
  total: number;
  broken: number;
  broken_seeds: number[]; // the first few, in the order found
  elapsed_ms: number;
}

// The worker script: next to this file once compiled (dist/); from the TypeScript sources
// (vitest) the compiled one in dist/, which `npm run build` makes.
function worker_path(): string {
  const here = fileURLToPath(new URL('./campaign-worker.js', import.meta.url));
  if (existsSync(here)) return here;
  const built = `${project_root()}/dist/host-node/sim/campaign-worker.js`;
  if (existsSync(built)) return built;
  throw new Error(`the campaign worker ${built} is missing: run npm run build`);
}

export function default_jobs(): number {
  return availableParallelism();
}

// Runs a campaign (or one shard of it) on `jobs` worker threads (1: in this thread, with the
// cores given). Seeds are handed out one at a time, so a slow run does not hold up a batch.
export async function run_campaign_parallel(
  spec: CampaignSpec,
  options: { shard?: Shard | null; jobs: number; cores?: () => Promise<CampaignCores>; on_progress?: (p: Progress) => void },
): Promise<CampaignSummary> {
  const shard = options.shard ?? null;
  const seeds = shard_seeds(spec, shard);
  const jobs = Math.max(1, Math.min(options.jobs, seeds.length));
  const builder = new SummaryBuilder(spec, shard ? { shards: [shard.index], of: shard.count } : null, jobs);
  const started = performance.now();
  const progress = () => options.on_progress?.({ done: builder.runs, total: seeds.length, broken: builder.broken_count, broken_seeds: builder.broken_seeds(10), elapsed_ms: performance.now() - started });
  const fuzz = fuzz_options(spec);
  if (jobs === 1) {
    const cores = await (options.cores ?? load_campaign_cores)();
    for (const seed of seeds) {
      builder.add(record_seed(cores, seed, spec.policy, fuzz));
      progress();
      // let a terminal's progress bar and signals through between runs
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return builder.finish(performance.now() - started);
  }
  const path = worker_path();
  let next = 0;
  await new Promise<void>((resolve, reject) => {
    let running = 0;
    let failed = false;
    const workers: Worker[] = [];
    const stop = (error: Error) => {
      if (failed) return;
      failed = true;
      for (const w of workers) void w.terminate();
      reject(error);
    };
    const feed = (w: Worker) => {
      if (next < seeds.length) {
        w.postMessage({ seed: seeds[next++] });
      } else {
        w.postMessage({ done: true });
      }
    };
    for (let k = 0; k < jobs; k++) {
      const w = new Worker(path, { workerData: { policy: spec.policy, fuzz } });
      workers.push(w);
      running += 1;
      w.on('message', (message: { ready?: true; record?: RunRecord }) => {
        if (message.record) {
          builder.add(message.record);
          progress();
        }
        feed(w);
      });
      w.on('error', (error) => stop(new Error(`a campaign worker failed: ${error.message}`)));
      w.on('exit', (code) => {
        running -= 1;
        if (failed) return;
        if (code !== 0) stop(new Error(`a campaign worker exited with code ${code}`));
        else if (running === 0) resolve();
      });
    }
  });
  return builder.finish(performance.now() - started);
}
