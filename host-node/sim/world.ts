// One simulation run: N chargers, each the real engine running the real release module and
// driving a simulated EVSE with a car, exchanging status documents over the virtual
// network, on virtual time, with the scenario's cars, limits, events and faults. The
// checker samples every tick_ms and at every instant a car's current can change.
//
// Per charger, as a real host would: the engine ticks when it asks to (next_wake_ms), when
// its EVSE or config changes, and shortly (react_ms) after a peer's status changed; after
// every tick it heartbeats its controller and publishes its status when it changed, and at
// least every status period. A crash loses the engine (the controller keeps its last pilot
// until its heartbeat supervision fires); a restart builds a new engine from what the
// store persisted (config and member list).
import type { Core } from '../core.js';
import { Engine } from '../engine/engine.js';
import type { EngineEvent, LoadSharingConfig, PeerStatusDoc, ProtocolTiming } from '../engine/types.js';
import { SimEvse, default_car } from '../evse/sim-evse.js';
import { EventQueue, type SimEvent } from './event-queue.js';
import { Network } from './network.js';
import { Rng } from './prng.js';
import { Checker, LimitTracker, type Overdraw, type LimitWindow, type Convergence } from './checker.js';
import { Oracle, type OracleViolation } from './oracle.js';
import { ChargerClock } from './clock.js';
import { sim_defaults, supervision_of, delay_assumption_violations, type SimScenario, type ChargerPlan, type ExpectAt } from './scenario.js';
import { series_interval_ms, type RunSeries } from './record.js';

// default: the protocol as built. naive: the seed plan as written (each charger applies its
// own view's allocation at once: no minimum over views, no decrease-before-increase, no
// degraded rule). It exists to show that the checker catches a protocol that is unsafe.
export type Policy = 'default' | 'naive';

// A deliberately broken variant of the protocol, for tests that show the checks catch it (a
// named test seam; the CLI never uses one). It runs on the listed chargers (default: all).
export interface PolicyMutant {
  name: string;
  chargers?: string[];
  timing?: Partial<ProtocolTiming>; // what its engines assume (e.g. cars follow one tick sooner)
  // What its engine is handed when the charger's stored config changes (e.g. an old limit).
  config?: (stored: LoadSharingConfig, engine_had: LoadSharingConfig) => LoadSharingConfig;
  // Its engines time the protocol's timers on the wall clock (as hosts did before ABI 4), so
  // a step of the wall clock moves every timer.
  wall_clock_timers?: boolean;
}

export interface RunOptions {
  core: Core;
  modules?: { priority_first?: Core }; // for 'module' events (hot swap mid-run)
  seed?: number; // overrides the scenario's seed
  policy?: Policy;
  mutant?: PolicyMutant;
  keep_events?: boolean; // keep every engine event in the result (large)
  record?: boolean; // keep time series (RunResult.series) for CSV and report.html
  on_progress?: (fraction: number) => void; // called about every 1 % of simulated time
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
  inv1: { peak_overdraw_a: number; overdraw_integral_as: number; first: Overdraw | null; worst: Overdraw | null; peak_total_a: number };
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
  samples: number;
  engine_ticks: number;
  events: Array<{ charger: string } & EngineEvent>;
  series?: RunSeries;
  wall_ms: number;
}

interface SimCharger {
  plan: ChargerPlan;
  index: number;
  evse: SimEvse;
  engine: Engine | null;
  store: { config: LoadSharingConfig; members: string[]; module: 'builtin' | 'priority_first' };
  clock: ChargerClock;
  generation: number;
  tick_event: SimEvent | null;
  publish_event: SimEvent | null;
  last_published_json: string;
  last_published_ms: number;
  last_heard_json: Map<string, string>;
  last_heartbeat_ms: number;
  granted_a: number;
  recent_applied: Array<{ at_ms: number; value_a: number }>; // values left in the last two periods
  reversals: number;
  crashes: number;
  event_counts: Record<string, number>;
}

const limit_of = (config: LoadSharingConfig) => config.group_max_current * config.safety_factor;
// The limit a status message carries (what a receiver learns from it), or null.
const reported_limit_a = (doc: PeerStatusDoc): number | null => {
  const b = doc.loadsharing;
  return typeof b?.group_max_current === 'number' ? b.group_max_current * (b.safety_factor ?? 1) : null;
};

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
  const at = (s: number) => scenario.start_ms + s * 1000;
  const failures: string[] = [];
  const warnings: string[] = [];
  const engine_events: Array<{ charger: string } & EngineEvent> = [];
  let engine_ticks = 0;

  const assumption_violated = delay_assumption_violations(scenario);
  const mutant = options.mutant;
  const mutated = (c: SimCharger) => mutant !== undefined && (mutant.chargers === undefined || mutant.chargers.includes(c.plan.id));

  const chargers: SimCharger[] = scenario.chargers.map((plan, index) => ({
    plan, index,
    evse: new SimEvse({
      id: plan.id, min_current_a: plan.min_current, max_current_a: plan.max_current, voltage_v: plan.voltage,
      heartbeat_interval_ms: plan.heartbeat_interval_ms, heartbeat_current_a: plan.heartbeat_current,
      amp_offset_a: plan.amp_offset_a, amp_noise_a: plan.amp_noise_a, noise: () => measurement_rng.next(),
    }, { ...default_car, connected: false }, scenario.start_ms),
    engine: null,
    store: { config: { ...plan.config }, members: [...plan.members], module: 'builtin' },
    clock: new ChargerClock(scenario.start_ms, plan.skew_ms, plan.drift_ppm),
    generation: 0,
    tick_event: null,
    publish_event: null,
    last_published_json: '',
    last_published_ms: -Infinity,
    last_heard_json: new Map(),
    last_heartbeat_ms: scenario.start_ms,
    granted_a: 0,
    recent_applied: [],
    reversals: 0,
    crashes: 0,
    event_counts: {},
  }));
  const by_id = new Map(chargers.map((c) => [c.plan.id, c]));
  const get = (id: string) => by_id.get(id)!;

  // ---- the judges: limits that bind, INV-1 and the measures, the oracle ----
  const limits = new LimitTracker(
    scenario.start_ms,
    chargers.map((c) => ({
      id: c.plan.id,
      up: () => c.engine !== null,
      booted: () => c.generation > 0,
      supervision_fires_ms: () => c.evse.supervision_fires_ms(),
    })),
    chargers.map((c) => limit_of(c.store.config)),
    scenario.timing,
    scenario.react_ms,
    () => Math.max(...chargers.map((c) => c.store.config.heartbeat_timeout)) * 1000,
  );
  const checker = new Checker(
    scenario.start_ms,
    chargers.map((c) => ({
      id: c.plan.id,
      draw_a: (t: number) => c.evse.current_a(t),
      acceptable_a: (t: number) => c.evse.acceptable_current_a(t),
      up: () => c.engine !== null,
      decision: () => c.engine?.last_decision() ?? null,
    })),
    limits,
  );
  const oracle = new Oracle(
    scenario.start_ms,
    chargers.map((c) => ({
      id: c.plan.id,
      up: () => c.engine !== null,
      enabled: () => c.store.config.enabled,
      draw_a: (t: number) => c.evse.current_a(t),
      offer_a: (t: number) => c.evse.offer_a(t),
      grant_offer_a: (share_a: number) => {
        const offer_a = Math.floor(Math.min(share_a, c.plan.max_current));
        return offer_a < c.plan.min_current ? 0 : offer_a;
      },
      clock_ms: (t: number) => (wall_timers(c) ? c.clock.read(t) : c.clock.monotonic(t)), // the clock its liveness timer runs on
      // rule 8: a member counts others online for the largest heartbeat_timeout it was told
      heartbeat_timeout_ms: () => Math.max(...chargers.map((o) => o.store.config.heartbeat_timeout)) * 1000,
      view_fresh_ms: () => 2 * scenario.timing.message_delay_max_ms,
    })),
    limits,
  );

  // ---- sampling ----
  const sample_times = new Set<number>();
  const sample_at = (t_ms: number) => {
    if (t_ms > end_ms || sample_times.has(t_ms)) return;
    sample_times.add(t_ms);
    queue.at(t_ms, () => {
      sample_times.delete(t_ms);
      checker.sample(queue.now_ms);
    });
  };
  // The car's current can change now, when it perceives the pilot, and when a ramp ends.
  const sample_car = (c: SimCharger) => {
    sample_at(queue.now_ms);
    for (const t_ms of c.evse.next_changes_ms(queue.now_ms)) sample_at(t_ms);
  };
  const series: RunSeries | undefined = options.record ? {
    interval_ms: series_interval_ms(scenario.duration_s, scenario.tick_ms), t_s: [], limit_a: [], total_a: [], reserved_a: [],
    chargers: chargers.map((c) => ({ id: c.plan.id, up: [], degraded: [], target_a: [], applied_a: [], pilot_a: [], draw_a: [], reason: [] })),
  } : undefined;
  let next_record_ms = scenario.start_ms;
  const record = (now_ms: number) => {
    if (!series || now_ms < next_record_ms) return;
    next_record_ms = now_ms + series.interval_ms;
    series.t_s.push((now_ms - scenario.start_ms) / 1000);
    series.limit_a.push(checker.limit_a());
    let total_a = 0;
    let reserved_a = 0;
    chargers.forEach((c, i) => {
      const d = c.engine?.last_decision() ?? null;
      const draw_a = c.evse.current_a(now_ms);
      total_a += draw_a;
      if (d) reserved_a = Math.max(reserved_a, d.reserved_current);
      const out = series.chargers[i];
      out.up.push(c.engine !== null);
      out.degraded.push(d?.self.degraded ?? false);
      out.target_a.push(d?.self.target_current ?? 0);
      out.applied_a.push(c.granted_a);
      out.pilot_a.push(c.evse.pilot_a(now_ms));
      out.draw_a.push(draw_a);
      out.reason.push(c.engine ? (d?.self.reason ?? 'idle') : 'down');
    });
    series.total_a.push(total_a);
    series.reserved_a.push(reserved_a);
  };
  const progress_step_ms = (end_ms - scenario.start_ms) / 100;
  let next_progress_ms = scenario.start_ms + progress_step_ms;
  const periodic_sample = () => {
    checker.sample(queue.now_ms);
    record(queue.now_ms);
    if (options.on_progress && queue.now_ms >= next_progress_ms) {
      next_progress_ms += progress_step_ms;
      options.on_progress((queue.now_ms - scenario.start_ms) / (end_ms - scenario.start_ms));
    }
    if (queue.now_ms + scenario.tick_ms <= end_ms) queue.after(scenario.tick_ms, periodic_sample);
  };

  // ---- the shaper: what the engine allows reaches the controller ----
  // Oscillation: an applied limit that leaves a value and returns to it within two status
  // periods is a reversal (the issue's "a target never moves and returns within two periods").
  const reversal_window_ms = 2 * scenario.status_period_ms;
  const apply_limit = (c: SimCharger, limit_a: number) => {
    const now_ms = queue.now_ms;
    while (c.recent_applied.length > 0 && c.recent_applied[0].at_ms < now_ms - reversal_window_ms) c.recent_applied.shift();
    if (limit_a !== c.granted_a && c.recent_applied.some((r) => r.value_a === limit_a)) c.reversals++;
    c.recent_applied.push({ at_ms: now_ms, value_a: c.granted_a });
    c.granted_a = limit_a;
    const offer_before_a = c.evse.offer_a(now_ms);
    c.evse.set_limit_a(now_ms, limit_a);
    oracle.on_offer(now_ms, c.index, offer_before_a, c.evse.offer_a(now_ms)); // hook: a pilot applied
    sample_car(c);
  };

  // ---- engine ticks ----
  const schedule_tick = (c: SimCharger, at_ms: number) => {
    if (!c.engine) return;
    if (c.tick_event && !c.tick_event.cancelled && c.tick_event.at_ms <= at_ms) return;
    if (c.tick_event) c.tick_event.cancelled = true;
    const generation = c.generation;
    c.tick_event = queue.at(at_ms, () => {
      c.tick_event = null;
      if (c.generation === generation) run_tick(c);
    });
  };

  const run_tick = (c: SimCharger) => {
    const engine = c.engine!;
    const now_ms = queue.now_ms;
    c.evse.heartbeat(now_ms);
    c.last_heartbeat_ms = now_ms;
    engine.handle_local_status(c.evse.status(now_ms));
    const before = engine.last_decision();
    const decision = engine.tick();
    engine_ticks++;
    if (decision !== before) {
      checker.decisions_version++;
      if (policy === 'naive') {
        const own_a = c.store.config.enabled ? decision.self.own_view_current : c.evse.spec.max_current_a;
        if (own_a !== c.granted_a) apply_limit(c, own_a);
      }
    }
    for (const e of engine.poll_events()) {
      c.event_counts[e.kind] = (c.event_counts[e.kind] ?? 0) + 1;
      if (options.keep_events) engine_events.push({ charger: c.plan.id, ...e });
    }
    publish(c, false);
    const wake_ms = engine.next_wake_ms();
    schedule_tick(c, Math.max(now_ms + 1, wall_timers(c) ? c.clock.wall_to_virtual(wake_ms) : c.clock.monotonic_to_virtual(wake_ms)));
  };

  const engine_clock = (c: SimCharger) => c.clock.read(queue.now_ms);
  const wall_timers = (c: SimCharger) => mutated(c) && mutant!.wall_clock_timers === true;

  // ---- publishing ----
  const publish = (c: SimCharger, periodic: boolean) => {
    const engine = c.engine;
    if (!engine) return;
    const now_ms = queue.now_ms;
    const s = c.evse.status(now_ms);
    const doc: PeerStatusDoc = { amp: s.amp_ma, voltage: s.voltage, pilot: s.pilot, state: s.state, vehicle: s.vehicle, loadsharing: engine.poll_status() };
    const json = JSON.stringify(doc);
    if (!periodic && json === c.last_published_json && now_ms - c.last_published_ms < scenario.status_period_ms) return;
    c.last_published_json = json;
    c.last_published_ms = now_ms;
    const held_a = limit_of(c.store.config);
    for (const to of chargers) {
      if (to === c) continue;
      // hooks: message sent, delivered (or lost on the way)
      const m = oracle.sent(c.index, to.index, doc);
      const copies = network.send(c.plan.id, to.plan.id, () => {
        const taken = receive(to, c.plan.id, doc, json);
        oracle.arrived(queue.now_ms, m, taken);
        if (taken) limits.on_delivered(queue.now_ms, to.index, c.index, reported_limit_a(doc), held_a);
      }, () => oracle.arrived(queue.now_ms, m, false));
      oracle.scheduled(m, copies);
    }
    if (c.publish_event) c.publish_event.cancelled = true;
    const generation = c.generation;
    c.publish_event = queue.after(scenario.status_period_ms, () => {
      c.publish_event = null;
      if (c.generation === generation) publish(c, true);
    });
  };

  // Whether a running engine took it as a member's status.
  const receive = (c: SimCharger, from: string, doc: PeerStatusDoc, json: string): boolean => {
    // A member removed from the group is still heard while it is leaving (rule 8): the host
    // keeps listening until it says a person set it up on its own, or falls silent.
    if (!c.engine) return false;
    if (!c.store.members.includes(from) && !c.engine.peer_entries().some((p) => p.id === from && p.leaving)) return false;
    c.engine.handle_peer_status(from, doc, true);
    if (c.last_heard_json.get(from) !== json) {
      c.last_heard_json.set(from, json);
      schedule_tick(c, queue.now_ms + scenario.react_ms);
    }
    return true;
  };

  const core_for = (module: 'builtin' | 'priority_first'): Core => {
    if (module === 'builtin') return options.core;
    const core = options.modules?.[module];
    if (!core) throw new Error(`the scenario swaps in the ${module} module; pass it in RunOptions.modules`);
    return core;
  };

  // ---- lifecycle ----
  const boot = (c: SimCharger) => {
    const now_ms = queue.now_ms;
    c.generation++;
    c.last_heard_json.clear();
    c.last_published_json = '';
    c.last_published_ms = -Infinity;
    set_supervision(c);
    c.engine = new Engine({
      id: c.plan.id,
      core: core_for(c.store.module),
      clock: { now_ms: () => engine_clock(c) }, // the wall clock: skew and steps apply here only
      monotonic: { now_ms: () => (wall_timers(c) ? engine_clock(c) : c.clock.monotonic(queue.now_ms)) }, // every protocol timer
      config: c.store.config,
      local: c.evse.status(now_ms),
      members: c.store.members,
      timing: mutated(c) ? { ...scenario.timing, ...mutant!.timing } : scenario.timing,
      shaper: { set_loadsharing_limit_a: (a) => { if (policy === 'default') apply_limit(c, a); } },
    });
    oracle.forget(c.index); // hook: a new engine holds nothing it heard before
    limits.on_boot(now_ms, c.index);
    checker.decisions_version++;
    schedule_tick(c, now_ms);
  };

  // A running host sets its controller's supervision from the config it holds now.
  const set_supervision = (c: SimCharger) => {
    if (!c.plan.supervision_follows_config) return;
    const s = supervision_of(c.store.config);
    c.evse.set_supervision(queue.now_ms, s.interval_ms, s.current_a);
  };

  const crash = (c: SimCharger) => {
    if (!c.engine) return;
    c.engine = null;
    c.generation++;
    c.crashes++;
    checker.decisions_version++;
    if (c.tick_event) c.tick_event.cancelled = true;
    if (c.publish_event) c.publish_event.cancelled = true;
    c.tick_event = null;
    c.publish_event = null;
    oracle.forget(c.index);
    limits.on_crash(queue.now_ms, c.index);
    // The controller keeps its last pilot until its supervision fires, then the car follows.
    const fires_ms = c.evse.supervision_fires_ms();
    if (fires_ms !== null) {
      sample_at(fires_ms + 1);
      sample_at(fires_ms + 1 + c.evse.car_spec().lag_ms);
    }
  };

  const set_config = (c: SimCharger, patch: Partial<LoadSharingConfig>) => {
    const from_a = limit_of(c.store.config);
    c.store.config = { ...c.store.config, ...patch, config_version: c.store.config.config_version + 1, config_updated_at: Math.floor(engine_clock(c) / 1000) };
    const to_a = limit_of(c.store.config);
    if (to_a !== from_a) limits.on_limit_change(queue.now_ms, c.index, to_a); // hook: a limit changed
    if (c.engine) {
      set_supervision(c);
      c.engine.handle_config(mutated(c) && mutant!.config ? mutant!.config(c.store.config, c.engine.current_config()) : c.store.config);
      schedule_tick(c, queue.now_ms);
    }
  };

  const local_change = (c: SimCharger) => {
    sample_car(c);
    if (c.engine) schedule_tick(c, queue.now_ms);
  };

  const note = (label: string) => checker.on_event(queue.now_ms, label);

  // ---- the scenario's schedule ----
  for (const c of chargers) queue.at(at(c.plan.boot_at_s), () => { boot(c); if (c.plan.boot_at_s > 0) note(`${c.plan.id} boots`); });
  for (const car of scenario.cars) {
    const c = get(car.charger);
    queue.at(at(car.plug_at_s), () => {
      c.evse.set_car(queue.now_ms, {
        connected: true,
        soc_pct: car.soc_pct ?? 20,
        battery_kwh: car.battery_kwh ?? 60,
        max_current_a: car.max_current ?? sim_defaults.car.max_current,
        lag_ms: car.lag_ms ?? sim_defaults.car.lag_ms,
        lag_up_ms: car.lag_up_ms,
        ramp_a_per_s: car.ramp_a_per_s,
        draw_ratio: car.draw_ratio,
      });
      note(`car plugged into ${c.plan.id}`);
      local_change(c);
    });
    if (car.unplug_at_s !== undefined) {
      queue.at(at(car.unplug_at_s), () => {
        c.evse.set_car(queue.now_ms, { connected: false });
        note(`car unplugged from ${c.plan.id}`);
        local_change(c);
      });
    }
  }
  for (const l of scenario.limits) {
    queue.at(at(l.at_s), () => {
      const targets = l.chargers ?? chargers.map((c) => c.plan.id);
      const patch: Partial<LoadSharingConfig> = {};
      if (l.group_max_current !== undefined) patch.group_max_current = l.group_max_current;
      if (l.safety_factor !== undefined) patch.safety_factor = l.safety_factor;
      for (const id of targets) set_config(get(id), patch);
      note(`limit ${JSON.stringify(patch)} on ${targets.join(',')}`);
    });
  }
  for (const e of scenario.events) {
    queue.at(at(e.at_s), () => {
      switch (e.kind) {
        case 'pause':
        case 'resume': {
          const c = get(e.charger);
          c.evse.set_user_paused(queue.now_ms, e.kind === 'pause');
          local_change(c);
          break;
        }
        case 'car': {
          const c = get(e.charger);
          const patch: Record<string, number> = {};
          if (e.soc_pct !== undefined) patch.soc_pct = e.soc_pct;
          if (e.battery_kwh !== undefined) patch.battery_kwh = e.battery_kwh;
          if (e.max_current !== undefined) patch.max_current_a = e.max_current;
          if (e.lag_ms !== undefined) patch.lag_ms = e.lag_ms;
          if (e.lag_up_ms !== undefined) patch.lag_up_ms = e.lag_up_ms;
          if (e.ramp_a_per_s !== undefined) patch.ramp_a_per_s = e.ramp_a_per_s;
          if (e.draw_ratio !== undefined) patch.draw_ratio = e.draw_ratio;
          c.evse.set_car(queue.now_ms, patch);
          local_change(c);
          break;
        }
        case 'config':
          for (const id of e.chargers ?? chargers.map((c) => c.plan.id)) set_config(get(id), e.set);
          break;
        case 'module': {
          const c = get(e.charger);
          c.store.module = e.module;
          c.engine?.handle_core(core_for(e.module));
          if (c.engine) schedule_tick(c, queue.now_ms);
          break;
        }
        case 'add_member':
        case 'remove_member':
          for (const id of e.chargers ?? chargers.map((c) => c.plan.id)) {
            const c = get(id);
            if (id === e.member) continue;
            if (e.kind === 'add_member') {
              if (!c.store.members.includes(e.member)) c.store.members.push(e.member);
              c.engine?.add_member(e.member);
            } else {
              c.store.members = c.store.members.filter((m) => m !== e.member);
              c.engine?.remove_member(e.member);
            }
            if (c.engine) schedule_tick(c, queue.now_ms);
          }
          break;
      }
      note(`${e.kind}${'charger' in e ? ` ${e.charger}` : ''}`);
    });
  }

  const cut_pairs = (pairs: Array<[string, string]>, duration_s: number | undefined, label: string) => {
    for (const [a, b] of pairs) network.cut(a, b);
    note(label);
    if (duration_s !== undefined) {
      queue.after(duration_s * 1000, () => {
        for (const [a, b] of pairs) network.heal(a, b);
        note(`healed: ${label}`);
      });
    }
  };
  const isolation_pairs = (id: string): Array<[string, string]> =>
    chargers.filter((o) => o.plan.id !== id).flatMap((o): Array<[string, string]> => [[id, o.plan.id], [o.plan.id, id]]);

  for (const f of scenario.faults) {
    queue.at(at(f.at_s), () => {
      switch (f.kind) {
        case 'partition': {
          const pairs: Array<[string, string]> = [];
          for (const a of f.a) for (const b of f.b) { pairs.push([a, b]); if (!f.one_way) pairs.push([b, a]); }
          cut_pairs(pairs, f.duration_s, `partition ${f.a.join(',')}${f.one_way ? ' -/-> ' : ' <-/-> '}${f.b.join(',')}`);
          break;
        }
        case 'isolate':
          cut_pairs(isolation_pairs(f.charger), f.duration_s, `isolate ${f.charger}`);
          break;
        case 'crash': {
          const c = get(f.charger);
          crash(c);
          note(`crash ${f.charger}`);
          if (f.duration_s !== undefined) queue.after(f.duration_s * 1000, () => { if (!c.engine) boot(c); note(`restart ${f.charger}`); });
          break;
        }
        case 'skew':
        case 'drift': {
          // hook: a charger's clock steps or changes its rate
          const c = get(f.charger);
          if (f.kind === 'skew') c.clock.set_skew(queue.now_ms, f.skew_ms);
          else c.clock.set_drift(queue.now_ms, f.drift_ppm);
          note(f.kind === 'skew' ? `skew ${f.charger} ${f.skew_ms} ms` : `drift ${f.charger} ${f.drift_ppm} ppm`);
          if (c.engine) schedule_tick(c, queue.now_ms);
          break;
        }
        case 'link': {
          const saved = { ...scenario.network, ...(scenario.network.links.find((l) => l.from === f.from && l.to === f.to) ?? {}) };
          const patch: Record<string, number> = {};
          if (f.latency_ms !== undefined) patch.latency_ms = f.latency_ms;
          if (f.jitter_ms !== undefined) patch.jitter_ms = f.jitter_ms;
          if (f.loss !== undefined) patch.loss = f.loss;
          if (f.duplicate !== undefined) patch.duplicate = f.duplicate;
          if (f.reorder !== undefined) patch.reorder = f.reorder;
          network.set_link(f.from, f.to, patch);
          note(`link ${f.from}->${f.to} ${JSON.stringify(patch)}`);
          if (f.duration_s !== undefined) {
            queue.after(f.duration_s * 1000, () => {
              network.set_link(f.from, f.to, { latency_ms: saved.latency_ms, jitter_ms: saved.jitter_ms, loss: saved.loss, duplicate: saved.duplicate, reorder: saved.reorder });
              note(`link ${f.from}->${f.to} restored`);
            });
          }
          break;
        }
        case 'flap':
          for (let k = 0; k < f.count; k++) {
            queue.after(k * f.period_s * 1000, () => cut_pairs(isolation_pairs(f.charger), f.down_s, `flap ${f.charger}`));
          }
          break;
      }
    });
  }

  // ---- expectations at instants ----
  for (const x of scenario.expect.at) queue.at(at(x.at_s), () => check_expect_at(x));
  const check_expect_at = (x: ExpectAt) => {
    const where = `at ${x.at_s} s`;
    const tol_a = x.tolerance_a ?? 0.5;
    for (const [id, want_a] of Object.entries(x.applied ?? {})) {
      const c = get(id);
      const got_a = c.engine ? c.granted_a : null;
      if (got_a !== want_a) failures.push(`${where}: ${id} applies ${got_a} A, expected ${want_a} A`);
    }
    let total_a = 0;
    for (const c of chargers) total_a += c.evse.current_a(queue.now_ms);
    for (const [id, want_a] of Object.entries(x.draw ?? {})) {
      const got_a = get(id).evse.current_a(queue.now_ms);
      if (Math.abs(got_a - want_a) > tol_a) failures.push(`${where}: ${id}'s car draws ${got_a.toFixed(2)} A, expected ${want_a} A ± ${tol_a}`);
    }
    if (x.total_draw_max !== undefined && total_a > x.total_draw_max + 1e-6) failures.push(`${where}: the cars draw ${total_a.toFixed(2)} A in total, expected at most ${x.total_draw_max} A`);
    const self_flag = (id: string, key: 'degraded' | 'failsafe_active'): boolean | null => {
      const d = get(id).engine?.last_decision();
      return d ? d.self[key] : null;
    };
    for (const [id, want] of Object.entries(x.degraded ?? {})) {
      const got = self_flag(id, 'degraded');
      if (got !== want) failures.push(`${where}: ${id} degraded is ${got}, expected ${want}`);
    }
    for (const [id, want] of Object.entries(x.failsafe ?? {})) {
      const got = self_flag(id, 'failsafe_active');
      if (got !== want) failures.push(`${where}: ${id} failsafe_active is ${got}, expected ${want}`);
    }
    for (const [viewer, members] of Object.entries(x.online ?? {})) {
      const d = get(viewer).engine?.last_decision();
      for (const [id, want] of Object.entries(members)) {
        const got = d ? (d.allocations.find((a) => a.id === id)?.online ?? null) : null;
        if (got !== want) failures.push(`${where}: ${viewer} sees ${id} online=${got}, expected ${want}`);
      }
    }
  };

  queue.at(scenario.start_ms, periodic_sample);
  queue.run_until(end_ms);
  checker.finish(end_ms);

  // ---- verdict ----
  const inv1 = {
    peak_overdraw_a: checker.peak_overdraw_a,
    overdraw_integral_as: checker.overdraw_integral_as,
    first: checker.first_overdraw,
    worst: checker.worst_overdraw,
    peak_total_a: checker.peak_total_a,
  };
  if (network.stats.max_delay_ms > scenario.timing.message_delay_max_ms) {
    assumption_violated.push(`a message took ${network.stats.max_delay_ms.toFixed(0)} ms, more than message_delay_max_ms (${scenario.timing.message_delay_max_ms} ms)`);
  }
  // INV-1 and permission are the protocol's promise within its assumptions: outside them
  // they are measured and shown apart from the verdict.
  const safety = assumption_violated.length > 0 ? [] as string[] : failures;
  if (inv1.peak_overdraw_a > 0) {
    const f = inv1.first!;
    safety.push(`INV-1 broken: peak over-draw ${inv1.peak_overdraw_a.toFixed(3)} A, integral ${inv1.overdraw_integral_as.toFixed(3)} A·s; first at ${f.at_s.toFixed(3)} s: ${f.total_a.toFixed(2)} A drawn against a limit of ${f.limit_a} A (${Object.entries(f.draws_a).map(([k, v]) => `${k}=${v.toFixed(1)}`).join(' ')})`);
  }
  for (const v of oracle.violations.slice(0, 5)) {
    safety.push(`permission: ${v.charger} raised its pilot ${v.from_a} -> ${v.to_a} A at ${v.at_s.toFixed(3)} s; room for ${v.allowed_a} A (${v.why})`);
  }
  if (oracle.violations.length > 5) safety.push(`permission: ${oracle.violations.length - 5} more raises without room`);
  const beyond_assumptions = safety === failures ? [] : safety;
  warnings.push(...limits.open_windows());
  const utilisation = checker.utilisation();
  const fairness = checker.fairness();
  const e = scenario.expect;
  if (e.min_utilisation !== undefined && (utilisation ?? 0) < e.min_utilisation) failures.push(`utilisation ${utilisation?.toFixed(3)} below ${e.min_utilisation}`);
  if (e.min_fairness !== undefined && (fairness ?? 0) < e.min_fairness) failures.push(`fairness ${fairness?.toFixed(3)} below ${e.min_fairness}`);
  const converged = checker.convergence.filter((c) => c.after_s !== null).map((c) => c.after_s!);
  const max_convergence_s = converged.length > 0 ? Math.max(...converged) : null;
  if (e.converge_within_s !== undefined) {
    const last = checker.convergence[checker.convergence.length - 1];
    for (const c of checker.convergence) {
      if (c.after_s !== null && c.after_s > e.converge_within_s) failures.push(`converged ${c.after_s.toFixed(1)} s after "${c.label}" (at ${c.at_s} s), expected within ${e.converge_within_s} s`);
    }
    if (last && last.after_s === null) failures.push(`never converged after the last event "${last.label}" (at ${last.at_s} s)`);
  }
  const reversals = chargers.reduce((sum, c) => sum + c.reversals, 0);
  if (e.max_reversals !== undefined && reversals > e.max_reversals) {
    const worst = [...chargers].sort((a, b) => b.reversals - a.reversals)[0];
    failures.push(`oscillation: ${reversals} reversals (an applied limit returning to a value it left within ${reversal_window_ms / 1000} s), most on ${worst.plan.id} (${worst.reversals}); expected at most ${e.max_reversals}`);
  }
  if (e.rotation_turns) {
    // Every car of an equal-priority run waits at most one rotation cycle (run length x
    // interval) for its turn, plus the time a hand-over takes (rule 6 makes the newcomer wait
    // for the leaver's car: ev_response, a status period and a tick).
    for (let i = 0; i < chargers.length; i++) {
      const c = chargers[i];
      const run = chargers.filter((o) => o.store.config.priority === c.store.config.priority).length;
      const cycle_ms = run * c.store.config.rotation_interval * 1000;
      const handover_ms = scenario.timing.ev_response_ms + scenario.status_period_ms + scenario.timing.tick_interval_ms + 5000;
      if (checker.demand_time_ms[i] > 0 && checker.energy_as[i] <= 0) failures.push(`rotation: ${c.plan.id}'s car wanted current but never got a turn`);
      else if (checker.max_starved_ms[i] > cycle_ms + handover_ms) failures.push(`rotation: ${c.plan.id}'s car waited ${(checker.max_starved_ms[i] / 1000).toFixed(1)} s for a turn, more than one cycle (${cycle_ms / 1000} s) plus a hand-over`);
    }
  }
  const chargers_out: ChargerResult[] = chargers.map((c, i) => ({
    id: c.plan.id,
    energy_kwh: (checker.energy_as[i] * c.plan.voltage) / 3.6e6,
    mean_current_while_demanding_a: checker.demand_time_ms[i] > 0 ? checker.energy_as[i] / (checker.demand_time_ms[i] / 1000) : null,
    max_starved_s: checker.max_starved_ms[i] / 1000,
    reversals: c.reversals,
    final_applied_a: c.engine ? c.granted_a : null,
    final_draw_a: c.evse.current_a(end_ms),
    crashes: c.crashes,
    event_counts: c.event_counts,
  }));
  return {
    name: scenario.name, seed, policy, ok: failures.length === 0, failures, warnings, assumption_violated, beyond_assumptions, duration_s: scenario.duration_s,
    inv1, permission_violations: oracle.violations, raises_checked: oracle.raises_checked, utilisation, scarce_utilisation: checker.scarce_utilisation(),
    fairness, convergence: checker.convergence, max_convergence_s, limit_windows: limits.windows, reversals,
    chargers: chargers_out, network: network.stats, samples: checker.sample_count, engine_ticks,
    events: engine_events, series, wall_ms: performance.now() - wall_start,
  };
}

