// Randomized fault campaigns: a seed makes one random group (chargers, cars, limits) with
// random faults and events as an ordinary scenario, so any failing seed can be written out
// and replayed with `loadshare simulate`. Every campaign draws from everything the scenario
// format has (docs/simulation.md, "Fault campaigns"): partitions one and two way with any
// split, isolation, crash with and without restart, flapping, clock steps and drift, lossy,
// slow, duplicating and reordering links (per link too), staggered boots, limit changes on
// one, some or all members (also the safety factor), config changes (safety-relevant ones
// too, often during a partition), membership removal and re-add, module swaps (hot swap to
// priority_first or carry_next and back), pauses and car changes, car and meter models,
// keyed groups, and groups of up to 16.
//
// The network stays within the protocol's delay assumption (latency + jitter <= the assumed
// message_delay_max), except in a few runs (about 3 %) that add a slow link beyond it on
// purpose: those are labelled "assumption violated" by the run and reported apart.
//
// Stability of seeds: the first stream (`rng`) draws what the first generator drew, in the
// same order; everything added since comes from a stream of its own per feature (`stream`),
// so adding or changing one feature does not reshuffle the others.
import { Rng } from './prng.js';
import { to_sim_scenario, type SimScenario } from './scenario.js';
import { run_simulation, type Policy, type RunResult, type RunOptions } from './world.js';
import type { Core } from '../core.js';

// Bumped whenever a seed's scenario changes: a campaign's summary names it, and merging
// summaries of different generators is refused.
export const generator_version = 3;

export interface FuzzOptions {
  chargers_min?: number;
  chargers_max?: number;
  duration_s?: number;
}

// An independent stream per feature of a seed (a murmur3-style mix of seed and tag).
function stream(seed: number, tag: number): Rng {
  let h = (Math.imul(seed >>> 0, 0xcc9e2d51) ^ Math.imul(tag + 1, 0x1b873593)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return new Rng((h ^ (h >>> 16)) >>> 0);
}

const feature = { worst_case_cars: 0, boots: 1, network: 2, clocks: 3, meters: 4, car_models: 5, events: 6, faults: 7, limits: 8, membership: 9, modules: 10, config: 11, beyond: 12 } as const;

// A random subset of 1..n members of ids (at least min_count).
function some(rng: Rng, ids: string[], min_count = 1): string[] {
  const shuffled = [...ids].sort(() => rng.next() - 0.5);
  return shuffled.slice(0, rng.int(Math.min(min_count, ids.length), ids.length));
}

// The raw scenario document for one seed (valid by construction; parsed strictly anyway).
export function random_scenario_json(seed: number, options: FuzzOptions = {}): Record<string, unknown> {
  const rng = new Rng(seed);
  // Worst-case cars half of the time: a lag drawn uniformly would almost never be the 5 s
  // that J1772 allows.
  const worst_case = new Rng(seed ^ 0x5bd1e995);
  const count = rng.int(options.chargers_min ?? 2, options.chargers_max ?? 6);
  const duration_s = options.duration_s ?? 240;
  const ids = Array.from({ length: count }, (_, i) => `c${i + 1}`);
  const limit_a = rng.int(Math.max(12, count * 4), count * 24);
  const latency_ms = rng.int(1, 300);
  const chargers = ids.map((id) => {
    const c: Record<string, unknown> = { id, max_current: rng.pick([16, 24, 32, 40]) };
    if (rng.chance(0.3)) c.skew_ms = rng.int(-120000, 120000);
    if (rng.chance(0.15)) c.config = { priority: rng.int(0, 2) };
    return c;
  });
  const cars: Array<Record<string, unknown>> = [];
  for (const id of ids) {
    if (!rng.chance(0.85)) continue;
    const plug_at_s = rng.chance(0.5) ? 0 : rng.int(0, duration_s * 0.6);
    const car: Record<string, unknown> = {
      charger: id, plug_at_s, soc_pct: rng.pick([10, 40, 78, 95, 99.5]), battery_kwh: rng.pick([2, 20, 60]),
      max_current: rng.pick([10, 16, 32]), lag_ms: rng.int(0, 5000),
    };
    if (worst_case.chance(0.5)) car.lag_ms = 5000;
    if (rng.chance(0.3)) car.unplug_at_s = plug_at_s + rng.int(10, duration_s);
    cars.push(car);
  }
  const at_s = () => rng.int(5, duration_s - 5);
  const faults: Array<Record<string, unknown>> = [];
  const fault_count = rng.int(0, 5);
  for (let k = 0; k < fault_count; k++) {
    const kind = rng.pick(['partition', 'partition', 'isolate', 'crash', 'crash', 'link', 'skew', 'flap']);
    const duration = rng.int(1, 90);
    const one = rng.pick(ids);
    switch (kind) {
      case 'partition': {
        const shuffled = [...ids].sort(() => rng.next() - 0.5);
        const one_way = rng.chance(0.5);
        const cut = rng.int(1, Math.max(1, count - 1));
        if (count >= 2) faults.push({ at_s: at_s(), kind, a: shuffled.slice(0, cut), b: shuffled.slice(cut), one_way, duration_s: duration });
        break;
      }
      case 'isolate':
        faults.push({ at_s: at_s(), kind, charger: one, duration_s: duration });
        break;
      case 'crash':
        faults.push(rng.chance(0.8) ? { at_s: at_s(), kind, charger: one, duration_s: duration } : { at_s: at_s(), kind, charger: one });
        break;
      case 'link': {
        const others = ids.filter((x) => x !== one);
        if (others.length === 0) break;
        const other = rng.pick(others);
        faults.push({ at_s: at_s(), kind, from: one, to: other, loss: rng.pick([0.3, 0.7, 1]), duration_s: duration });
        break;
      }
      case 'skew':
        faults.push({ at_s: at_s(), kind, charger: one, skew_ms: rng.int(-60000, 60000) });
        break;
      case 'flap':
        faults.push({ at_s: at_s(), kind, charger: one, period_s: rng.int(5, 40), down_s: rng.int(1, 4), count: rng.int(2, 6) });
        break;
    }
  }
  const limits: Array<Record<string, unknown>> = [];
  const limit_count = rng.pick([0, 0, 1, 2]);
  for (let k = 0; k < limit_count; k++) {
    const l: Record<string, unknown> = { at_s: at_s(), group_max_current: rng.int(Math.max(6, Math.floor(limit_a / 2)), limit_a * 2) };
    const r = rng.next();
    if (r < 0.4) l.chargers = [rng.pick(ids)];
    else if (r < 0.7 && count >= 2) l.chargers = [...ids].sort(() => rng.next() - 0.5).slice(0, 2);
    limits.push(l);
  }
  // A keyed group: every frame and request signed. Its clocks agree within the key's 30 s
  // window, as docs/security.md requires (NTP): a charger further off is never heard at all,
  // and a stricter limit written on it could never count (test/sim-station.test.ts shows the
  // mismatch itself).
  const keyed = rng.chance(0.3);
  if (keyed) {
    for (const c of chargers) if (typeof c.skew_ms === 'number') c.skew_ms = Math.round(c.skew_ms / 5);
    for (const f of faults) if (f.kind === 'skew') f.skew_ms = Math.round((f.skew_ms as number) / 2.5);
  }
  const config = {
    group_max_current: limit_a,
    heartbeat_timeout: rng.pick([5, 10, 30]),
    rotation_interval: rng.pick([0, 60, 1800]),
    failsafe_mode: rng.chance(0.15) ? 'disable' : 'safe_current',
  };
  const network: Record<string, unknown> = {
    transport: rng.chance(0.7) ? 'ws' : 'http',
    latency_ms,
    jitter_ms: rng.int(0, 2000 - latency_ms),
    loss: rng.pick([0, 0, 0.01, 0.05, 0.2]),
  };
  const events: Array<Record<string, unknown>> = [];
  const draw = { seed, ids, count, duration_s, limit_a, chargers, cars, faults, limits, events, network, config };
  draw_boots(stream(seed, feature.boots), draw);
  draw_network(stream(seed, feature.network), draw);
  draw_clocks(stream(seed, feature.clocks), draw, keyed);
  draw_meters(stream(seed, feature.meters), draw);
  draw_car_models(stream(seed, feature.car_models), draw);
  draw_car_events(stream(seed, feature.events), draw);
  draw_more_faults(stream(seed, feature.faults), draw, keyed);
  draw_more_limits(stream(seed, feature.limits), draw);
  draw_membership(stream(seed, feature.membership), draw);
  draw_modules(stream(seed, feature.modules), draw);
  draw_config_changes(stream(seed, feature.config), draw);
  draw_beyond_assumptions(stream(seed, feature.beyond), draw);
  events.sort((a, b) => (a.at_s as number) - (b.at_s as number));
  return {
    ...(keyed ? { group_key: 'fuzz campaign group key' } : {}),
    name: `fuzz seed ${seed}`,
    duration_s,
    tick_ms: 250,
    seed,
    config,
    network,
    chargers,
    cars,
    limits,
    events,
    faults,
  };
}

interface Draw {
  seed: number;
  ids: string[];
  count: number;
  duration_s: number;
  limit_a: number;
  chargers: Array<Record<string, unknown>>;
  cars: Array<Record<string, unknown>>;
  faults: Array<Record<string, unknown>>;
  limits: Array<Record<string, unknown>>;
  events: Array<Record<string, unknown>>;
  network: Record<string, unknown>;
  config: Record<string, unknown>;
}

const instant = (rng: Rng, d: Draw) => rng.int(5, d.duration_s - 5);

// Staggered boots: a power cut that some chargers come back from later (or a charger
// installed during the run). Its members already list it; its car may be waiting.
function draw_boots(rng: Rng, d: Draw): void {
  if (!rng.chance(0.25)) return;
  const latest_s = Math.max(1, Math.min(60, Math.floor(d.duration_s / 3)));
  for (const c of d.chargers) if (rng.chance(0.5)) c.boot_at_s = rng.int(1, latest_s);
}

// Duplicated and reordered messages, and links of their own latency and loss (a charger at
// the end of a weak Wi-Fi link), every delay within message_delay_max.
function draw_network(rng: Rng, d: Draw): void {
  if (rng.chance(0.3)) d.network.duplicate = rng.pick([0.01, 0.05, 0.2]);
  if (rng.chance(0.3)) d.network.reorder = rng.pick([0.01, 0.05, 0.2]);
  if (d.count < 2 || !rng.chance(0.35)) return;
  const links: Array<Record<string, unknown>> = [];
  const seen = new Set<string>();
  const n = rng.int(1, Math.min(8, d.count * (d.count - 1)));
  for (let k = 0; k < n; k++) {
    const from = rng.pick(d.ids);
    const to = rng.pick(d.ids.filter((x) => x !== from));
    if (seen.has(`${from}>${to}`)) continue;
    seen.add(`${from}>${to}`);
    const latency_ms = rng.int(1, 1500);
    const link: Record<string, unknown> = { from, to, latency_ms, jitter_ms: rng.int(0, 2000 - latency_ms) };
    if (rng.chance(0.5)) link.loss = rng.pick([0, 0.05, 0.3]);
    if (rng.chance(0.2)) link.duplicate = rng.pick([0.05, 0.3]);
    if (rng.chance(0.2)) link.reorder = rng.pick([0.05, 0.3]);
    links.push(link);
  }
  d.network.links = links;
}

// Oscillators: most within a quartz's ±200 ppm, a few pathological (±1 %, finding D).
function drift_ppm(rng: Rng): number {
  return rng.chance(0.05) ? rng.pick([-10000, 10000]) : rng.int(-200, 200);
}

function draw_clocks(rng: Rng, d: Draw, keyed: boolean): void {
  for (const c of d.chargers) if (rng.chance(0.3)) c.drift_ppm = drift_ppm(rng);
  // a drift that changes mid-run (temperature), and clock steps (SNTP corrections)
  const n = rng.pick([0, 0, 0, 1, 2]);
  for (let k = 0; k < n; k++) {
    if (rng.chance(0.5)) d.faults.push({ at_s: instant(rng, d), kind: 'drift', charger: rng.pick(d.ids), drift_ppm: drift_ppm(rng) });
    else d.faults.push({ at_s: instant(rng, d), kind: 'skew', charger: rng.pick(d.ids), skew_ms: keyed ? rng.int(-20000, 20000) : rng.int(-300000, 300000) });
  }
}

function draw_meters(rng: Rng, d: Draw): void {
  for (const c of d.chargers) {
    if (rng.chance(0.15)) c.amp_offset_a = Math.round(rng.range(-2, 2) * 10) / 10;
    if (rng.chance(0.15)) c.amp_noise_a = Math.round(rng.range(0, 1) * 10) / 10;
  }
}

// Car models: fast up / slow down, ramps, cars that draw less than offered.
function draw_car_models(rng: Rng, d: Draw): void {
  for (const car of d.cars) {
    if (rng.chance(0.3)) car.lag_up_ms = rng.int(0, 5000);
    if (rng.chance(0.2)) car.ramp_a_per_s = rng.pick([1, 2, 5, 10]);
    if (rng.chance(0.15)) car.draw_ratio = rng.pick([0.5, 0.8, 0.95]);
  }
}

// A user pauses and resumes; a car's state changes (a top-up wanted, a slower car).
function draw_car_events(rng: Rng, d: Draw): void {
  const n = rng.pick([0, 0, 1, 2, 3]);
  for (let k = 0; k < n; k++) {
    const charger = rng.pick(d.ids);
    const at = instant(rng, d);
    if (rng.chance(0.5)) {
      d.events.push({ at_s: at, kind: 'pause', charger });
      if (rng.chance(0.8)) d.events.push({ at_s: Math.min(d.duration_s, at + rng.int(1, 60)), kind: 'resume', charger });
    } else {
      const e: Record<string, unknown> = { at_s: at, kind: 'car', charger };
      const r = rng.next();
      if (r < 0.4) e.soc_pct = rng.pick([20, 79, 99]);
      else if (r < 0.7) e.draw_ratio = rng.pick([0.3, 0.7, 1]);
      else e.max_current = rng.pick([10, 16, 32]);
      d.events.push(e);
    }
  }
}

// Link faults that duplicate, reorder or slow a direction (within the delay bound).
function draw_more_faults(rng: Rng, d: Draw, _keyed: boolean): void {
  if (d.count < 2) return;
  const n = rng.pick([0, 0, 1, 2]);
  for (let k = 0; k < n; k++) {
    const from = rng.pick(d.ids);
    const to = rng.pick(d.ids.filter((x) => x !== from));
    const f: Record<string, unknown> = { at_s: instant(rng, d), kind: 'link', from, to, duration_s: rng.int(1, 90) };
    const r = rng.next();
    if (r < 0.35) f.duplicate = rng.pick([0.3, 1]);
    else if (r < 0.7) f.reorder = rng.pick([0.3, 1]);
    else {
      f.latency_ms = rng.int(500, 1900);
      f.jitter_ms = rng.int(0, 2000 - (f.latency_ms as number));
    }
    d.faults.push(f);
  }
}

// More limit changes: on one, some or all members, the safety factor too.
function draw_more_limits(rng: Rng, d: Draw): void {
  const n = rng.pick([0, 0, 1, 2, 3]);
  for (let k = 0; k < n; k++) {
    const l: Record<string, unknown> = { at_s: instant(rng, d) };
    if (rng.chance(0.25)) l.safety_factor = rng.pick([0.5, 0.8, 0.9, 1]);
    if (l.safety_factor === undefined || rng.chance(0.5)) l.group_max_current = rng.int(Math.max(6, Math.floor(d.limit_a / 3)), d.limit_a * 2);
    const r = rng.next();
    if (r < 0.35) l.chargers = [rng.pick(d.ids)];
    else if (r < 0.7) l.chargers = some(rng, d.ids);
    d.limits.push(l);
  }
}

// A member removed from some or all of the others' lists (DELETE /loadsharing/peers/X by a
// person on each, without the reciprocal call) while its car may still charge, usually added
// back later. Its own list is left as it was: a person who removes the last member on a
// charger sets it up on its own (the station confirms it alone, rule 8), and a charger set up
// on its own takes its whole limit, which INV-1 cannot survive on a breaker it still shares.
// Generator 2 drew that (its own list emptied too) and it broke INV-1 exactly so (CI seeds 47,
// 339, 372 and 500 of generator 2): a person's misconfiguration, not the protocol's.
// In a group of two, removing the member empties the other's list: the same misconfiguration
// (fresh campaign seed 7000313: c1, down when its only member was removed, booted as a charger
// set up on its own and took the whole 23 A while c2 sat at its failsafe current). The draws
// are still made, so that every other seed keeps its scenario.
function draw_membership(rng: Rng, d: Draw): void {
  if (d.count < 2 || !rng.chance(0.2)) return;
  const member = rng.pick(d.ids);
  const others = d.ids.filter((x) => x !== member);
  const on = rng.chance(0.5) ? others : some(rng, others);
  const at = instant(rng, d);
  const add_back = rng.chance(0.7);
  const back_s = add_back ? Math.min(d.duration_s, at + rng.int(5, 90)) : 0;
  if (d.count < 3) return;
  d.events.push({ at_s: at, kind: 'remove_member', chargers: on, member });
  if (add_back) d.events.push({ at_s: back_s, kind: 'add_member', chargers: on, member });
}

// Hot swap: one charger, or a rollout to every charger one by one, sometimes rolled back.
function draw_modules(rng: Rng, d: Draw): void {
  if (!rng.chance(0.15)) return;
  const module = rng.pick(['priority_first', 'carry_next']);
  const targets = rng.chance(0.4) ? [...d.ids].sort(() => rng.next() - 0.5) : [rng.pick(d.ids)];
  let at = instant(rng, d);
  for (const charger of targets) {
    d.events.push({ at_s: Math.min(d.duration_s, at), kind: 'module', charger, module });
    at += rng.int(1, 20);
  }
  if (rng.chance(0.3)) d.events.push({ at_s: Math.min(d.duration_s, at + rng.int(1, 30)), kind: 'module', charger: targets[0], module: 'builtin' });
}

// Config changes on one, some or all members: safety-relevant ones (heartbeat timeout,
// failsafe currents and mode, safety factor) as well as priority and rotation, half of them
// while a partition or an isolation is in force, so that the members disagree for a while.
function draw_config_changes(rng: Rng, d: Draw): void {
  const n = rng.pick([0, 0, 1, 2]);
  const cuts = d.faults.filter((f) => f.kind === 'partition' || f.kind === 'isolate');
  for (let k = 0; k < n; k++) {
    let at = instant(rng, d);
    if (cuts.length > 0 && rng.chance(0.5)) {
      const cut = rng.pick(cuts);
      at = Math.min(d.duration_s, (cut.at_s as number) + rng.int(0, Math.max(0, ((cut.duration_s as number | undefined) ?? 30) - 1)));
    }
    const set: Record<string, unknown> = {};
    const r = rng.next();
    if (r < 0.3) set.heartbeat_timeout = rng.pick([5, 10, 15, 30, 60]);
    else if (r < 0.55) {
      // both at once, so that peer_assumed >= safe_current holds whatever was set before
      set.failsafe_safe_current = rng.pick([0, 6, 8, 10]);
      set.failsafe_peer_assumed_current = (set.failsafe_safe_current as number) + rng.pick([0, 2, 4]);
    } else if (r < 0.65) set.failsafe_mode = rng.pick(['disable', 'safe_current']);
    else if (r < 0.8) set.safety_factor = rng.pick([0.7, 0.9, 1]);
    else if (r < 0.9) set.priority = rng.int(0, 2);
    else set.rotation_interval = rng.pick([0, 60, 1800]);
    const e: Record<string, unknown> = { at_s: at, kind: 'config', set };
    const who = rng.next();
    if (who < 0.4) e.chargers = [rng.pick(d.ids)];
    else if (who < 0.7) e.chargers = some(rng, d.ids);
    d.events.push(e);
  }
}

// About 3 % of the runs slow one direction beyond message_delay_max for a while: the run is
// labelled "assumption violated" and what it measured is reported apart from the verdict.
function draw_beyond_assumptions(rng: Rng, d: Draw): void {
  if (d.count < 2 || !rng.chance(0.03)) return;
  const from = rng.pick(d.ids);
  const to = rng.pick(d.ids.filter((x) => x !== from));
  d.faults.push({ at_s: instant(rng, d), kind: 'link', from, to, latency_ms: rng.int(2500, 10000), jitter_ms: rng.int(0, 2000), duration_s: rng.int(5, 60) });
}

export function random_scenario(seed: number, options: FuzzOptions = {}): SimScenario {
  return to_sim_scenario(random_scenario_json(seed, options));
}

// The cores a campaign needs: the release module, and the modules that 'module' events swap in.
export interface CampaignCores {
  core: Core;
  modules: NonNullable<RunOptions['modules']>;
}

export async function load_campaign_cores(): Promise<CampaignCores> {
  const { readFileSync } = await import('node:fs');
  const { Core: CoreClass, project_root } = await import('../core.js');
  const load = (name: string) => CoreClass.load(readFileSync(`${project_root()}/build/${name}`));
  return {
    core: await CoreClass.load(),
    modules: { priority_first: await load('loadsharing-priority-first.wasm'), carry_next: await load('loadsharing-carry-next.wasm') },
  };
}

// One seed of a campaign. A simulator that throws is a finding too: it is reported as a
// broken run ("internal error"), not a crash of the campaign.
export function run_seed(cores: CampaignCores, seed: number, policy: Policy, options: FuzzOptions = {}): RunResult | { seed: number; internal_error: string } {
  try {
    return run_simulation(random_scenario(seed, options), { core: cores.core, modules: cores.modules, policy });
  } catch (error) {
    return { seed, internal_error: (error as Error).stack ?? String(error) };
  }
}

export interface CampaignResult {
  runs: number;
  broken: Array<{ seed: number; failures: string[] }>;
  // Runs that broke the protocol's assumptions (delays above message_delay_max), reported
  // apart: what INV-1 and the oracle found in them is not part of the verdict.
  assumption_violated: Array<{ seed: number; assumptions: string[]; beyond_assumptions: string[] }>;
  simulated_s: number;
  wall_ms: number;
}

// A campaign in this thread, one seed after the other (the worker pool in campaign.ts runs
// the same run_seed on every core).
export function run_campaign(cores: CampaignCores, first_seed: number, runs: number, policy: Policy, options: FuzzOptions = {}, on_run?: (r: RunResult) => void): CampaignResult {
  const started = performance.now();
  const broken: CampaignResult['broken'] = [];
  const assumption_violated: CampaignResult['assumption_violated'] = [];
  let simulated_s = 0;
  for (let seed = first_seed; seed < first_seed + runs; seed++) {
    const result = run_seed(cores, seed, policy, options);
    if ('internal_error' in result) {
      broken.push({ seed, failures: [`internal error: ${result.internal_error}`] });
      continue;
    }
    simulated_s += result.duration_s;
    if (!result.ok) broken.push({ seed, failures: result.failures });
    if (result.assumption_violated.length > 0) assumption_violated.push({ seed, assumptions: result.assumption_violated, beyond_assumptions: result.beyond_assumptions });
    on_run?.(result);
  }
  return { runs, broken, assumption_violated, simulated_s, wall_ms: performance.now() - started };
}
