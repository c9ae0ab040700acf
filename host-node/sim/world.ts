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
import { Checker, type Overdraw, type PermissionViolation, type LimitWindow, type Convergence } from './checker.js';
import type { SimScenario } from './scenario.js';
import type { RunSeries } from './record.js';
import { PeerNet, type FrameSeen } from './peer-net.js';
import { SimCharger, limit_of, sim_host, type Policy, type ModuleName, type SimWorld } from './sim-charger.js';
import { Sampling, start_periodic_sampling, check_expect_at, verdict } from './checks.js';
import { schedule_scenario } from './schedule.js';

export type { Policy } from './sim-charger.js';
export type { FrameSeen } from './peer-net.js';

export interface RunOptions {
  core: Core;
  modules?: { priority_first?: Core }; // for 'module' events (hot swap mid-run)
  seed?: number; // overrides the scenario's seed
  policy?: Policy;
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
  duration_s: number;
  inv1: { peak_overdraw_a: number; overdraw_integral_as: number; first: Overdraw | null; worst: Overdraw | null; peak_total_a: number };
  permission_violations: PermissionViolation[];
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
  });
  for (const l of scenario.network.links) network.set_link(l.from, l.to, l);
  const end_ms = scenario.start_ms + scenario.duration_s * 1000;
  const failures: string[] = [];
  const warnings: string[] = [];

  if (scenario.network.latency_ms + scenario.network.jitter_ms > scenario.timing.message_delay_max_ms) {
    warnings.push(`network delay (latency ${scenario.network.latency_ms} ms + jitter ${scenario.network.jitter_ms} ms) exceeds the protocol's message_delay_max_ms (${scenario.timing.message_delay_max_ms} ms)`);
  }

  // ---- the world, then the chargers in it ----
  const chargers: SimCharger[] = [];
  const checker = new Checker(
    scenario.start_ms,
    scenario.chargers.map((plan, i) => ({
      id: plan.id,
      draw_a: (t: number) => chargers[i].evse.current_a(t),
      acceptable_a: (t: number) => chargers[i].evse.acceptable_current_a(t),
      up: () => chargers[i].up(),
      decision: () => chargers[i].decision(),
      supervision_fires_ms: () => (plan.heartbeat_interval_ms > 0 ? chargers[i].last_heartbeat_ms + plan.heartbeat_interval_ms : null),
    })),
    scenario.chargers.map((plan) => plan.config.group_max_current * plan.config.safety_factor),
    scenario.timing.ev_response_ms,
  );
  const world: SimWorld = {
    scenario, queue, checker, policy,
    sampling: new Sampling(queue, checker, end_ms),
    net: new PeerNet(queue, network, scenario.network.transport, options.on_frame),
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
  const hosts = new Map(scenario.chargers.map((plan, i) => [plan.id, sim_host(i).host]));
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
  const judged = verdict(scenario, checker, chargers, failures);
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
    name: scenario.name, seed, policy, ok: failures.length === 0, failures, warnings, duration_s: scenario.duration_s,
    inv1: {
      peak_overdraw_a: checker.peak_overdraw_a,
      overdraw_integral_as: checker.overdraw_integral_as,
      first: checker.first_overdraw,
      worst: checker.worst_overdraw,
      peak_total_a: checker.peak_total_a,
    },
    permission_violations: checker.permission_violations, utilisation: judged.utilisation, scarce_utilisation: checker.scarce_utilisation(),
    fairness: judged.fairness, convergence: checker.convergence, max_convergence_s: judged.max_convergence_s, limit_windows: checker.windows,
    reversals: judged.reversals, chargers: chargers_out, network: network.stats,
    frames: { full: world.net.frames_full, delta: world.net.frames_delta, sessions: world.net.sessions_opened },
    samples: checker.sample_count, engine_ticks: world.counters.engine_ticks,
    events: world.events, series, wall_ms: performance.now() - wall_start,
  };
}

export { limit_of };
