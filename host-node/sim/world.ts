// One simulation run: N chargers, each the real Station (the code the charger node runs:
// engine, release module, wire format, config sync, group key) driving a simulated EVSE with a
// car, exchanging real status frames and requests over the virtual network, on virtual time,
// with the scenario's cars, limits, events and faults. The checker samples every tick_ms and at
// every instant a car's current can change.
//
// The parts: sim-charger.ts drives one charger (its station, controller and store),
// peer-net.ts carries their frames and requests, schedule.ts turns the scenario into events,
// checks.ts samples, records and judges.
import type { Core } from '../core.js';
import type { EngineEvent } from '../engine/types.js';
import { EventQueue } from './event-queue.js';
import { Network } from './network.js';
import { Rng } from './prng.js';
import { Checker, LimitTracker, type Overdraw, type LimitWindow, type Convergence, type LimitBelowHeld } from './checker.js';
import { Oracle, type OracleViolation } from './oracle.js';
import { delay_assumption_violations, type SimScenario } from './scenario.js';
import type { RunSeries } from './record.js';
import { PeerNet, type FrameSeen } from './peer-net.js';
import { SimCharger, limit_of, sim_host, type Policy, type PolicyMutant, type ModuleName, type SimWorld } from './sim-charger.js';
import { Sampling, start_periodic_sampling, check_expect_at, verdict } from './checks.js';
import { schedule_scenario } from './schedule.js';

export type { Policy, PolicyMutant } from './sim-charger.js';
export type { FrameSeen } from './peer-net.js';

export interface RunOptions {
  core: Core;
  modules?: { priority_first?: Core; carry_next?: Core }; // for 'module' events (hot swap mid-run)
  seed?: number; // overrides the scenario's seed
  policy?: Policy;
  mutant?: PolicyMutant;
  keep_events?: boolean; // keep every engine event in the result (large)
  record?: boolean; // keep time series (RunResult.series) for CSV and report.html
  on_progress?: (fraction: number) => void; // called about every 1 % of simulated time
  on_frame?: (frame: FrameSeen) => void; // every status frame a charger sends, as on the wire
}

export interface ChargerResult {
  id: string;
  energy_kwh: number;
  mean_current_while_demanding_a: number | null;
  max_starved_s: number; // longest time its car wanted current and drew none
  reversals: number; // applied limit left a value and came back to it within two status periods
  final_applied_a: number | null;
  final_draw_a: number;
  crashes: number;
  event_counts: Record<string, number>;
  final_config_version: number; // loadsharing_config_version in force (or stored, when down) at the end
  auth_failures: number; // peer messages and requests it refused because they failed the group key
}

export interface RunResult {
  name: string;
  seed: number;
  policy: Policy;
  ok: boolean;
  failures: string[];
  warnings: string[];
  // The protocol's assumptions this run broke (delays above message_delay_max): its INV-1 and
  // permission results are still measured and shown, but reported here, apart from the verdict.
  assumption_violated: string[];
  beyond_assumptions: string[];
  duration_s: number;
  // below_held: when the limit first was below what dead chargers' controllers hold (the group
  // was held to that instead; docs/simulation.md), null: never
  inv1: { peak_overdraw_a: number; overdraw_integral_as: number; first: Overdraw | null; worst: Overdraw | null; peak_total_a: number; below_held: LimitBelowHeld | null };
  permission_violations: OracleViolation[]; // the oracle's: raises without room for them
  raises_checked: number;
  utilisation: number | null;
  scarce_utilisation: number | null;
  fairness: number | null;
  convergence: Convergence[];
  max_convergence_s: number | null;
  limit_windows: LimitWindow[];
  reversals: number;
  chargers: ChargerResult[];
  network: Network['stats'];
  frames: { full: number; delta: number; sessions: number }; // status frames sent (ws: a session starts with a full one)
  samples: number;
  engine_ticks: number;
  events: Array<{ charger: string } & EngineEvent>;
  series?: RunSeries;
  wall_ms: number;
}

export function run_simulation(scenario: SimScenario, options: RunOptions): RunResult {
  const wall_start = performance.now();
  const seed = options.seed ?? scenario.seed;
  const policy: Policy = options.policy ?? 'default';
  const rng = new Rng(seed);
  const queue = new EventQueue(scenario.start_ms);
  const network = new Network(queue, rng.fork(), scenario.network.transport, {
    latency_ms: scenario.network.latency_ms, jitter_ms: scenario.network.jitter_ms, loss: scenario.network.loss,
    duplicate: scenario.network.duplicate, reorder: scenario.network.reorder,
  });
  const measurement_rng = rng.fork(); // drawn after the network's, so old seeds keep their network
  for (const l of scenario.network.links) network.set_link(l.from, l.to, l);
  const end_ms = scenario.start_ms + scenario.duration_s * 1000;
  const failures: string[] = [];
  const warnings: string[] = [];

  const assumption_violated = delay_assumption_violations(scenario);

  // ---- the judges: limits that bind, INV-1 and the measures, the oracle ----
  const chargers: SimCharger[] = [];
  const heartbeat_timeout_max_ms = () => Math.max(...chargers.map((c) => c.store.config.loadsharing_heartbeat_timeout)) * 1000;
  const hosts = new Map(scenario.chargers.map((plan, i) => [plan.id, sim_host(i).host]));
  const index_of_host = new Map(scenario.chargers.map((plan, i) => [hosts.get(plan.id)!, i]));
  const limits = new LimitTracker(
    scenario.start_ms,
    scenario.chargers.map((plan, i) => ({
      id: plan.id,
      up: () => chargers[i].up(),
      booted: () => chargers[i].generation > 0,
      supervision_fires_ms: () => chargers[i].evse.supervision_fires_ms(),
      members: () => {
        const c = chargers[i];
        if (plan.upstream || !c.store.config.loadsharing_enabled) return null;
        return c.store.peers.map((p) => index_of_host.get(p.host) ?? -1).filter((k) => k >= 0);
      },
    })),
    scenario.chargers.map((plan) => plan.config.group_max_current * plan.config.safety_factor),
    scenario.timing,
    scenario.react_ms,
    heartbeat_timeout_max_ms,
    (from, to) => network.can_deliver(scenario.chargers[from].id, scenario.chargers[to].id),
  );
  network.on_change = () => limits.update(queue.now_ms);
  const checker = new Checker(
    scenario.start_ms,
    scenario.chargers.map((plan, i) => ({
      id: plan.id,
      draw_a: (t: number) => chargers[i].evse.current_a(t),
      acceptable_a: (t: number) => chargers[i].evse.acceptable_current_a(t),
      up: () => chargers[i].up(),
      decision: () => chargers[i].decision(),
      held_a: (t: number) => chargers[i].held_a(t),
      failsafe_a: () => chargers[i].failsafe_a(),
    })),
    limits,
  );
  const oracle = new Oracle(
    scenario.start_ms,
    scenario.chargers.map((plan, i) => ({
      id: plan.id,
      up: () => chargers[i].up(),
      // A charger without load sharing is outside the protocol: its raises are its user's.
      enabled: () => !plan.upstream && chargers[i].store.config.loadsharing_enabled,
      draw_a: (t: number) => chargers[i].evse.current_a(t),
      offer_a: (t: number) => chargers[i].evse.offer_a(t),
      grant_offer_a: (share_a: number) => {
        const offer_a = Math.floor(Math.min(share_a, plan.max_current));
        return offer_a < plan.min_current ? 0 : offer_a;
      },
      clock_ms: (t: number) => chargers[i].timer_clock_ms(t), // the clock its liveness timer runs on
      // rule 8: a member counts others online for the largest heartbeat_timeout it was told
      heartbeat_timeout_ms: heartbeat_timeout_max_ms,
      view_fresh_ms: () => 2 * scenario.timing.message_delay_max_ms,
      worst_a: (t: number) => chargers[i].uncontrolled_worst_a(t),
      held_a: (t: number) => chargers[i].held_a(t),
      failsafe_a: () => chargers[i].failsafe_a(),
    })),
    limits,
  );
  const world: SimWorld = {
    scenario, queue, checker, limits, oracle, policy, mutant: options.mutant, measurement_rng,
    sampling: new Sampling(queue, checker, end_ms),
    net: new PeerNet(queue, network, scenario.network.transport, { oracle, limits }, options.on_frame),
    core_for: (module: ModuleName): Core => {
      if (module === 'builtin') return options.core;
      const core = options.modules?.[module];
      if (!core) throw new Error(`the scenario swaps in the ${module} module; pass it in RunOptions.modules`);
      return core;
    },
    keep_events: options.keep_events ?? false,
    events: [],
    warnings,
    counters: { engine_ticks: 0 },
  };
  scenario.chargers.forEach((plan, i) => chargers.push(new SimCharger(plan, i, hosts, world)));
  for (const c of chargers) world.net.add(c);
  const by_id = new Map(chargers.map((c) => [c.id, c]));
  const get = (id: string) => by_id.get(id)!;

  // ---- the schedule, the expectations, the samples ----
  const note = (label: string) => checker.on_event(queue.now_ms, label);
  schedule_scenario(scenario, queue, network, chargers, note);
  for (const x of scenario.expect.at) queue.at(scenario.start_ms + x.at_s * 1000, () => check_expect_at(x, queue.now_ms, get, chargers, failures));
  const series = start_periodic_sampling(queue, checker, scenario, chargers, options.record ?? false, options.on_progress);

  queue.run_until(end_ms);
  checker.finish(end_ms);

  // ---- verdict ----
  if (network.stats.max_delay_ms > scenario.timing.message_delay_max_ms) {
    assumption_violated.push(`a message took ${network.stats.max_delay_ms.toFixed(0)} ms, more than message_delay_max_ms (${scenario.timing.message_delay_max_ms} ms)`);
  }
  const judged = verdict(scenario, checker, oracle, chargers, failures, assumption_violated);
  warnings.push(...limits.open_windows());
  const below = checker.limit_below_held;
  if (below) {
    const by = Object.entries(below.held_by).map(([id, a]) => `${id} ${a.toFixed(1)} A`).join(', ');
    warnings.push(`from ${below.at_s.toFixed(2)} s the limit (${below.limit_a.toFixed(1)} A) was below what dead chargers' controllers and chargers not told it hold (${by}): no message can lower those until they restart or are told, so the group was held to ${below.held_a.toFixed(1)} A and the other running chargers to 0 A meanwhile`);
  }
  for (const c of chargers) {
    c.count_auth_failures();
    if (c.auth_failures > 0) warnings.push(`group key: ${c.id} refused ${c.auth_failures} message${c.auth_failures === 1 ? '' : 's'} from peers (last: ${c.last_auth_failure ?? 'unknown'})`);
  }
  const chargers_out: ChargerResult[] = chargers.map((c, i) => ({
    id: c.id,
    energy_kwh: (checker.energy_as[i] * c.plan.voltage) / 3.6e6,
    mean_current_while_demanding_a: checker.demand_time_ms[i] > 0 ? checker.energy_as[i] / (checker.demand_time_ms[i] / 1000) : null,
    max_starved_s: checker.max_starved_ms[i] / 1000,
    reversals: c.reversals,
    final_applied_a: c.up() ? c.granted_a : null,
    final_draw_a: c.evse.current_a(end_ms),
    crashes: c.crashes,
    event_counts: c.event_counts,
    final_config_version: c.store.config.loadsharing_config_version,
    auth_failures: c.auth_failures,
  }));
  return {
    name: scenario.name, seed, policy, ok: failures.length === 0, failures, warnings,
    assumption_violated, beyond_assumptions: judged.beyond_assumptions, duration_s: scenario.duration_s,
    inv1: {
      peak_overdraw_a: checker.peak_overdraw_a,
      overdraw_integral_as: checker.overdraw_integral_as,
      first: checker.first_overdraw,
      worst: checker.worst_overdraw,
      peak_total_a: checker.peak_total_a,
      below_held: checker.limit_below_held,
    },
    permission_violations: oracle.violations, raises_checked: oracle.raises_checked, utilisation: judged.utilisation, scarce_utilisation: checker.scarce_utilisation(),
    fairness: judged.fairness, convergence: checker.convergence, max_convergence_s: judged.max_convergence_s, limit_windows: limits.windows,
    reversals: judged.reversals, chargers: chargers_out, network: network.stats,
    frames: { full: world.net.frames_full, delta: world.net.frames_delta, sessions: world.net.sessions_opened },
    samples: checker.sample_count, engine_ticks: world.counters.engine_ticks,
    events: world.events, series, wall_ms: performance.now() - wall_start,
  };
}

export { limit_of };
