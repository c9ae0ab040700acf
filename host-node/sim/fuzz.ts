// Randomized fault campaigns: a seed makes one random group (chargers, cars, limits) with
// random faults (partitions one and two way, isolation, crash and restart, clock skew,
// lossy links, limit changes on one, two or all chargers, spread by config sync; some groups
// with a group key) as an ordinary scenario, so any
// failing seed can be written out and replayed with `loadshare simulate`.
//
// The network stays within the protocol's assumptions (latency + jitter <= the assumed
// message_delay_max); loss, partitions and crashes are unrestricted.
import { Rng } from './prng.js';
import { to_sim_scenario, type SimScenario } from './scenario.js';
import { run_simulation, type Policy, type RunResult } from './world.js';
import type { Core } from '../core.js';

export interface FuzzOptions {
  // 'avoid' keeps clear of the protocol bugs already reproduced in test/sim-scenarios/bug-*
  // (cars waiting at a cold start; a two-way partition with two or more chargers on each
  // side), so a campaign can find new ones; 'include' draws from everything.
  known_bugs?: 'avoid' | 'include';
  chargers_min?: number;
  chargers_max?: number;
  duration_s?: number;
}

// The raw scenario document for one seed (valid by construction; parsed strictly anyway).
export function random_scenario_json(seed: number, options: FuzzOptions = {}): Record<string, unknown> {
  const rng = new Rng(seed);
  // Worst-case cars half of the time: a lag drawn uniformly would almost never be the 5 s
  // that J1772 allows. A separate stream, so every other choice of a seed stays as it was.
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
    const avoid = options.known_bugs === 'avoid';
    const plug_at_s = rng.chance(0.5) ? (avoid ? 5 : 0) : rng.int(avoid ? 5 : 0, duration_s * 0.6);
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
        const cut = one_way || options.known_bugs !== 'avoid' ? rng.int(1, Math.max(1, count - 1)) : 1;
        faults.push({ at_s: at_s(), kind, a: shuffled.slice(0, cut), b: shuffled.slice(cut), one_way, duration_s: duration });
        break;
      }
      case 'isolate':
        faults.push({ at_s: at_s(), kind, charger: one, duration_s: duration });
        break;
      case 'crash':
        faults.push(rng.chance(0.8) ? { at_s: at_s(), kind, charger: one, duration_s: duration } : { at_s: at_s(), kind, charger: one });
        break;
      case 'link': {
        const other = rng.pick(ids.filter((x) => x !== one));
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
  // Drawn last, so that the draws above (and the seeds of known findings) stay as they were.
  // A keyed group: every frame and request signed. Its clocks agree within the key's 30 s
  // window, as docs/security.md requires (NTP): a charger further off is never heard at all,
  // and a stricter limit written on it could never count (test/sim-station.test.ts shows the
  // mismatch itself).
  const keyed = rng.chance(0.3);
  if (keyed) {
    for (const c of chargers) if (typeof c.skew_ms === 'number') c.skew_ms = Math.round(c.skew_ms / 5);
    for (const f of faults) if (f.kind === 'skew') f.skew_ms = Math.round((f.skew_ms as number) / 2.5);
  }
  return {
    ...(keyed ? { group_key: 'fuzz campaign group key' } : {}),
    name: `fuzz seed ${seed}`,
    duration_s,
    tick_ms: 250,
    seed,
    config: {
      group_max_current: limit_a,
      heartbeat_timeout: rng.pick([5, 10, 30]),
      rotation_interval: rng.pick([0, 60, 1800]),
      failsafe_mode: rng.chance(0.15) ? 'disable' : 'safe_current',
    },
    network: {
      transport: rng.chance(0.7) ? 'ws' : 'http',
      latency_ms,
      jitter_ms: rng.int(0, 2000 - latency_ms),
      loss: rng.pick([0, 0, 0.01, 0.05, 0.2]),
    },
    chargers,
    cars,
    limits,
    faults,
  };
}

export function random_scenario(seed: number, options: FuzzOptions = {}): SimScenario {
  return to_sim_scenario(random_scenario_json(seed, options));
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

export function run_campaign(core: Core, first_seed: number, runs: number, policy: Policy, options: FuzzOptions = {}, on_run?: (r: RunResult) => void): CampaignResult {
  const started = performance.now();
  const broken: CampaignResult['broken'] = [];
  const assumption_violated: CampaignResult['assumption_violated'] = [];
  let simulated_s = 0;
  for (let seed = first_seed; seed < first_seed + runs; seed++) {
    const result = run_simulation(random_scenario(seed, options), { core, policy });
    simulated_s += result.duration_s;
    if (!result.ok) broken.push({ seed, failures: result.failures });
    if (result.assumption_violated.length > 0) assumption_violated.push({ seed, assumptions: result.assumption_violated, beyond_assumptions: result.beyond_assumptions });
    on_run?.(result);
  }
  return { runs, broken, assumption_violated, simulated_s, wall_ms: performance.now() - started };
}
