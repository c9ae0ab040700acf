// One simulated charger: the real Station (station/station.ts) on the virtual clock, its
// simulated controller and car, and what survives a crash (its store: config, peers, module).
//
// As the node drives its station, so does this: handle_tick when the station asks
// (next_wake_ms, or at once through its wake port when an input made a decision due), then
// the frame it has to publish goes out over the network (peer-net.ts). A crash loses the
// station and every session and request in flight; the controller keeps its last pilot until
// its heartbeat supervision fires; a restart builds a new station from the store.
//
// The places the judges hook into are one function each: apply_pilot (the controller is
// given a limit: the oracle judges a raise of its offer), store_config (a config is put in
// force: the limit may change), boot and crash (the oracle forgets what the engine held, the
// limit tracker learns who is up), set_supervision (the controller's supervision follows the
// config), and in peer-net.ts transmit_status (a status message is sent, arrives or is lost).
//
// Its clocks (clock.ts): the station's wall clock has the scenario's skew, steps and drift;
// its protocol timers run on the monotonic clock (drift only), unless a mutant puts them on
// the wall clock.
import type { Core, Decision } from '../core.js';
import type { EngineEvent, LoadSharingConfig, ProtocolTiming } from '../engine/types.js';
import { SimEvse, default_car } from '../evse/sim-evse.js';
import { Station, PeerError, parse_stored_carry } from '../station/station.js';
import { SimEvseAdapter, heartbeat_current_a, supervision_interval_s } from '../station/evse.js';
import { ConfigError, default_node_config, merge_config, node_config_patch, to_loadsharing_config, type NodeConfig } from '../node/config.js';
import type { StoredPeer } from '../node/peers.js';
import { silent_logger } from '../node/log.js';
import type { Timers } from '../station/config-sync.js';
import type { EventQueue, SimEvent } from './event-queue.js';
import type { Checker, LimitTracker } from './checker.js';
import type { Oracle } from './oracle.js';
import { Rng } from './prng.js';
import { ChargerClock } from './clock.js';
import type { Sampling, CheckedCharger } from './checks.js';
import type { PeerNet, NetEndpoint } from './peer-net.js';
import type { ChargerPlan, SimScenario } from './scenario.js';

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

export type ModuleName = 'builtin' | 'priority_first' | 'carry_next';

// What every charger shares: the world around it.
export interface SimWorld {
  scenario: SimScenario;
  queue: EventQueue;
  checker: Checker;
  limits: LimitTracker;
  oracle: Oracle;
  mutant: PolicyMutant | undefined;
  measurement_rng: Rng; // the controllers' measurement noise
  sampling: Sampling;
  net: PeerNet;
  policy: Policy;
  core_for(module: ModuleName): Core;
  keep_events: boolean;
  events: Array<{ charger: string } & EngineEvent>;
  warnings: string[];
  counters: { engine_ticks: number };
}

export const limit_of = (c: NodeConfig) => c.loadsharing_group_max_current * c.loadsharing_safety_factor;

// The node config a scenario's charger starts with: its engine config under the /config keys,
// as if written (and stored) before the run.
export function initial_node_config(plan: ChargerPlan): NodeConfig {
  return {
    ...default_node_config(plan.id),
    ...node_config_patch(plan.config),
    loadsharing_config_origin: '',
    loadsharing_group_key: plan.group_key,
  };
}

export function sim_host(index: number): { host: string; ip: string } {
  const ip = `10.0.${Math.floor(index / 250)}.${(index % 250) + 1}`;
  return { host: `${ip}:80`, ip };
}

export class SimCharger implements NetEndpoint, CheckedCharger {
  readonly id: string;
  readonly host: string;
  readonly ip: string;
  readonly evse: SimEvse;
  station: Station | null = null;
  // carry: as written (decoded by parse_stored_carry when a station boots with it: it is
  // written every 10 s and read only at a restart).
  readonly store: { config: NodeConfig; peers: StoredPeer[]; alone_confirmed: boolean | null; leaving: StoredPeer[]; module: ModuleName; carry: unknown };
  readonly clock: ChargerClock;
  generation = 0;
  private tick_event: SimEvent | null = null;
  granted_a = 0;
  private recent_applied: Array<{ at_ms: number; value_a: number }> = []; // values left in the last two periods
  reversals = 0;
  crashes = 0;
  auth_failures = 0; // peer messages refused by the group key, over every life of the station
  last_auth_failure: string | null = null;
  readonly event_counts: Record<string, number> = {};
  // A charger without load sharing (plan.upstream): the pilots its own user sets, drawn
  // before the run (the oracle reads the future from them), and whether its firmware runs.
  readonly user_pilots: Array<{ at_ms: number; pilot_a: number }> = [];
  private upstream_running = false;
  private upstream_scheduled = false;
  private upstream_pilot_a = 0; // the current its user set (upstream /status "pilot", with or without a car)
  // What its controller held from a dead engine's supervision when a new engine booted, until
  // that engine's first pilot has had ev_response to reach the car.
  private held_after_boot: { a: number; until_ms: number } | null = null;

  constructor(readonly plan: ChargerPlan, readonly index: number, hosts: Map<string, string>, private readonly world: SimWorld) {
    this.id = plan.id;
    ({ host: this.host, ip: this.ip } = sim_host(index));
    this.evse = new SimEvse({
      id: plan.id, min_current_a: plan.min_current, max_current_a: plan.max_current, voltage_v: plan.voltage,
      // Upstream firmware sets no load-sharing supervision on its controller.
      heartbeat_interval_ms: plan.upstream ? 0 : plan.heartbeat_interval_ms, heartbeat_current_a: plan.heartbeat_current,
      amp_offset_a: plan.amp_offset_a, amp_noise_a: plan.amp_noise_a, noise: () => world.measurement_rng.next(),
    }, { ...default_car, connected: false }, world.scenario.start_ms);
    this.store = {
      config: initial_node_config(plan),
      peers: plan.members.map((m) => ({ host: hosts.get(m)!, id: m })),
      alone_confirmed: null,
      leaving: [],
      module: 'builtin',
      carry: null,
    };
    this.clock = new ChargerClock(world.scenario.start_ms, plan.skew_ms, plan.drift_ppm);
    if (plan.upstream && (plan.user_pilot_mean_s ?? 0) > 0) {
      // Its own stream (seeded from the run's seed and its place), so that adding one leaves
      // every other random choice of a scenario as it was.
      const rng = new Rng((world.scenario.seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
      const end_ms = world.scenario.start_ms + world.scenario.duration_s * 1000;
      let t = world.scenario.start_ms;
      for (;;) {
        t += -Math.log(1 - rng.next()) * plan.user_pilot_mean_s! * 1000;
        if (t >= end_ms) break;
        this.user_pilots.push({ at_ms: Math.round(t), pilot_a: rng.int(Math.ceil(plan.min_current), Math.floor(plan.max_current)) });
      }
    }
  }

  // ---- a charger without load sharing (upstream firmware) ----

  // It starts at its maximum; its user changes the pilot when the plan says; its firmware
  // pushes its whole status every status period and at once when its pilot changes.
  private boot_upstream(): void {
    const w = this.world;
    this.generation++;
    this.upstream_running = true;
    const generation = this.generation;
    if (!this.upstream_scheduled) {
      this.upstream_scheduled = true;
      this.upstream_pilot_a = this.plan.max_current;
      this.evse.set_limit_a(w.queue.now_ms, this.upstream_pilot_a);
      for (const p of this.user_pilots) {
        w.queue.at(p.at_ms, () => {
          this.upstream_pilot_a = p.pilot_a;
          this.evse.set_limit_a(w.queue.now_ms, p.pilot_a);
          w.sampling.car_changes(this.evse);
          if (this.upstream_running) this.publish_upstream();
        });
      }
    }
    const period = () => {
      if (this.generation !== generation) return;
      this.publish_upstream();
      w.queue.after(w.scenario.status_period_ms, period);
    };
    period();
  }

  private publish_upstream(): void {
    const now_ms = this.world.queue.now_ms;
    const s = this.evse.status(now_ms);
    this.world.net.publish_upstream(this, {
      amp: s.amp_ma, voltage: s.voltage, pilot: this.upstream_pilot_a, max_current: s.max_current, state: s.state, vehicle: s.vehicle,
      status: s.state === 3 ? 'active' : 'sleeping', mode: 'STA', uptime: Math.floor((now_ms - this.world.scenario.start_ms) / 1000),
    });
  }

  // The most its car may draw before the others could have followed a rise of its pilot by
  // its own user (message_delay_max to hear of it, react_ms, ev_response for their cars):
  // its maximum, unless the world knows its pilot cannot rise within that horizon (its
  // user's plan) or that no car can draw on a rise (none connected, none plugged in by the
  // scenario within it). 0 for a charger of the group (the oracle's other terms count it).
  uncontrolled_worst_a(now_ms: number): number {
    if (!this.plan.upstream) return 0;
    const sc = this.world.scenario;
    const horizon_ms = sc.timing.message_delay_max_ms + sc.react_ms + sc.timing.tick_interval_ms + sc.timing.ev_response_ms;
    const offer_a = this.evse.offer_a(now_ms);
    const rises = this.user_pilots.some((p) => p.at_ms > now_ms && p.at_ms <= now_ms + horizon_ms && p.pilot_a > offer_a);
    if (!rises) return 0;
    const within = (at_s: number) => { const at_ms = sc.start_ms + at_s * 1000; return at_ms > now_ms && at_ms <= now_ms + horizon_ms; };
    const car_may_draw = this.evse.car_spec().connected
      || sc.cars.some((c) => c.charger === this.id && within(c.plug_at_s))
      || sc.events.some((e) => e.kind === 'car' && e.charger === this.id && within(e.at_s));
    return car_may_draw ? this.plan.max_current : 0;
  }

  // A deliberately broken variant runs here (world.ts, PolicyMutant).
  private mutated(): boolean {
    const m = this.world.mutant;
    return m !== undefined && (m.chargers === undefined || m.chargers.includes(this.id));
  }

  private wall_timers(): boolean {
    return this.mutated() && this.world.mutant!.wall_clock_timers === true;
  }

  // ---- the checks' view ----

  up(): boolean {
    return this.station !== null;
  }

  // What its controller holds that no engine can lower now (the checker's floor under the
  // limit): while its engine is down and the supervision has fired, the pilot the supervision
  // left, at most what a controller set up as the protocol requires may hold (the failsafe
  // current, or the controller's minimum, to which a real one clamps its heartbeat current:
  // docs/rapi.md); and for ev_response after a new engine booted, what it held then. While
  // its car still follows a lower pilot (a person paused it: pilot 0), what the car draws is
  // held as well, up to the same cap: no message lowers a car faster than it follows (fuzz
  // seed 12597804: the floor fell with the paused pilot while the car drew 6 A for 2.45 s). Before
  // its supervision fires a dead charger's pilot is its last decision: the limit windows
  // judge that. A charger without load sharing is outside the protocol: nothing is excused.
  held_a(now_ms: number): number {
    if (this.plan.upstream) return 0;
    if (this.station === null) {
      if (this.generation === 0 || !this.evse.supervision_fired(now_ms)) return 0;
      const cap_a = Math.max(this.plan.min_current, this.store.config.loadsharing_failsafe_safe_current);
      return Math.min(Math.max(this.evse.pilot_a(now_ms), this.evse.current_a(now_ms)), cap_a);
    }
    const h = this.held_after_boot;
    return h !== null && now_ms < h.until_ms ? h.a : 0;
  }

  // The most its engine lets its car draw while degraded (rule 11), from the config it holds
  // now: the failsafe current held to an equal part of its limit over its members, as its
  // controller's supervision current; 0 without load sharing (nothing is excused then).
  failsafe_a(): number {
    if (this.plan.upstream || !this.store.config.loadsharing_enabled) return 0;
    return heartbeat_current_a(to_loadsharing_config(this.store.config), this.store.peers.length + 1);
  }

  decision(): Decision | null {
    return this.station?.engine.last_decision() ?? null;
  }

  config_limit_a(): number {
    return limit_of(this.store.config);
  }

  config_priority(): number {
    return this.store.config.loadsharing_priority;
  }

  config_rotation_interval_s(): number {
    return this.store.config.loadsharing_rotation_interval;
  }

  wall_ms(): number {
    return this.clock.read(this.world.queue.now_ms);
  }

  // The clock its protocol timers (liveness among them) run on, at virtual instant t_ms.
  timer_clock_ms(t_ms: number): number {
    return this.wall_timers() ? this.clock.read(t_ms) : this.clock.monotonic(t_ms);
  }

  // The virtual instant its timer clock reads clock_ms.
  private timer_to_virtual(clock_ms: number): number {
    return this.wall_timers() ? this.clock.wall_to_virtual(clock_ms) : this.clock.monotonic_to_virtual(clock_ms);
  }

  // ---- lifecycle ----

  boot(): void {
    if (this.plan.upstream) { this.boot_upstream(); return; }
    const w = this.world;
    const held_a = this.held_a(w.queue.now_ms);
    this.held_after_boot = held_a > 0 ? { a: held_a, until_ms: w.queue.now_ms + w.scenario.timing.ev_response_ms } : null;
    this.generation++;
    const generation = this.generation;
    const charger = this;
    const timers: Timers = {
      set: (fn, ms) => w.queue.after(ms, () => { if (charger.generation === generation) fn(); }),
      clear: (handle) => { (handle as SimEvent).cancelled = true; },
    };
    // The controller as the station drives it; the simulator watches the pilot and heartbeat.
    const adapter = new SimEvseAdapter(this.evse);
    adapter.set_pilot_a = (_now_ms, limit_a) => { if (w.policy === 'default') this.apply_pilot(limit_a); };
    // The controller lives on virtual time; the station calls it with its own (drifting) clock.
    adapter.status = () => this.evse.status(w.queue.now_ms);
    adapter.heartbeat = () => { this.evse.heartbeat(w.queue.now_ms); };
    // The station (re)sets the supervision at boot and with every config it puts in force; the
    // simulated host sets it from that config, unless the scenario fixes it (a controller set
    // up unsafely is how the tests show that the checker catches it).
    adapter.set_heartbeat_current_a = (current_a) => this.set_supervision(current_a);
    const mutant = this.mutated() ? w.mutant! : undefined;
    this.station = new Station({
      id: this.id, listen_host: this.ip, http_port: 80,
      wall: { now_ms: () => charger.wall_ms() }, // skew, steps and drift apply here
      monotonic: { now_ms: () => charger.timer_clock_ms(w.queue.now_ms) }, // every protocol timer
      core: w.core_for(this.store.module),
      evse: adapter,
      config: this.store.config,
      peers: this.store.peers,
      alone_confirmed: this.store.alone_confirmed,
      leaving: this.store.leaving,
      carry: parse_stored_carry(this.store.carry),
      clock_epoch: (this.index << 16) + this.generation, // a restart restarts the monotonic clock
      timing: mutant?.timing ? { ...w.scenario.timing, ...mutant.timing } : w.scenario.timing,
      config_sync: w.scenario.config_sync,
      status_period_ms: w.scenario.status_period_ms,
      react_ms: w.scenario.react_ms,
    }, {
      store: {
        write: (name, value) => {
          if (name === 'config') this.store_config(value as NodeConfig);
          else if (name === 'peers') this.store_peers(value as { peers: StoredPeer[]; alone_confirmed?: boolean; leaving?: StoredPeer[] });
          else this.store.carry = value;
        },
      },
      transport: w.net.transport_for(this),
      timers,
      links: { start: () => {}, stop: () => {} }, // sessions open with the next frame (peer-net.ts)
      wake: (at_ms) => { if (charger.generation === generation) this.schedule_tick(Math.max(w.queue.now_ms, this.timer_to_virtual(at_ms))); },
      log: silent_logger,
    });
    if (mutant?.config) {
      // What the mutant's engine is handed whenever the station puts a config in force.
      const engine = this.station.engine;
      const handle_config = engine.handle_config.bind(engine);
      engine.handle_config = (stored: LoadSharingConfig) => handle_config(mutant.config!(stored, engine.current_config()));
    }
    w.oracle.forget(this.index); // hook: a new engine holds nothing it heard before
    w.limits.on_boot(w.queue.now_ms, this.index);
    w.checker.decisions_version++;
    this.schedule_tick(w.queue.now_ms);
  }

  // A running host sets its controller's supervision from the config it holds now: the
  // interval from that config, the current as its station computes it.
  private set_supervision(current_a: number): void {
    if (!this.plan.supervision_follows_config) return;
    const interval_ms = supervision_interval_s(this.store.config.loadsharing_heartbeat_timeout, this.world.scenario.timing) * 1000;
    this.evse.set_supervision(this.world.queue.now_ms, interval_ms, current_a);
  }

  crash(): void {
    if (this.plan.upstream) {
      // Its firmware stops talking; its controller keeps its pilot (it supervises nothing).
      if (this.upstream_running) { this.upstream_running = false; this.generation++; this.crashes++; }
      return;
    }
    if (!this.station) return;
    this.count_auth_failures();
    this.station = null;
    this.generation++;
    this.crashes++;
    this.world.checker.decisions_version++;
    if (this.tick_event) this.tick_event.cancelled = true;
    this.tick_event = null;
    this.world.oracle.forget(this.index);
    this.world.limits.on_crash(this.world.queue.now_ms, this.index);
    // The controller keeps its last pilot until its supervision fires, then the car follows.
    const fires_ms = this.evse.supervision_fires_ms();
    if (fires_ms !== null) {
      this.world.sampling.at(fires_ms + 1);
      this.world.sampling.at(fires_ms + 1 + this.evse.car_spec().lag_ms);
    }
  }

  count_auth_failures(): void {
    if (!this.station) return;
    this.auth_failures += this.station.sync.auth_summary().rejected_total;
    for (const m of this.station.sync.status()) if (m.last_auth_failure) this.last_auth_failure = `${m.id ?? m.host}: ${String(m.last_auth_failure)}`;
  }

  // ---- the station's outputs ----

  // The one place the controller is given a limit. Oscillation: an applied limit that leaves
  // a value and returns to it within two status periods is a reversal.
  apply_pilot(limit_a: number): void {
    if (limit_a === this.granted_a) return;
    const now_ms = this.world.queue.now_ms;
    const window_ms = 2 * this.world.scenario.status_period_ms;
    while (this.recent_applied.length > 0 && this.recent_applied[0].at_ms < now_ms - window_ms) this.recent_applied.shift();
    if (this.recent_applied.some((r) => r.value_a === limit_a)) this.reversals++;
    this.recent_applied.push({ at_ms: now_ms, value_a: this.granted_a });
    this.granted_a = limit_a;
    const offer_before_a = this.evse.offer_a(now_ms);
    this.evse.set_limit_a(now_ms, limit_a);
    this.world.oracle.on_offer(now_ms, this.index, offer_before_a, this.evse.offer_a(now_ms)); // hook: a pilot applied
    this.world.sampling.car_changes(this.evse);
  }

  // The one place a config is put in force (a write, or one adopted from a peer), stored
  // before it is used: the limit tracker learns when the limit changes.
  private store_config(next: NodeConfig): void {
    const from_a = limit_of(this.store.config);
    this.store.config = next;
    const to_a = limit_of(next);
    if (to_a !== from_a) this.world.limits.on_limit_change(this.world.queue.now_ms, this.index, to_a); // hook: a limit changed
  }

  private store_peers(value: { peers: StoredPeer[]; alone_confirmed?: boolean; leaving?: StoredPeer[] }): void {
    this.store.peers = value.peers.map((p) => ({ ...p }));
    this.store.alone_confirmed = value.alone_confirmed ?? null;
    this.store.leaving = (value.leaving ?? []).map((p) => ({ ...p }));
  }

  // ---- driving ----

  schedule_tick(at_ms: number): void {
    if (!this.station) return;
    if (this.tick_event && !this.tick_event.cancelled && this.tick_event.at_ms <= at_ms) return;
    if (this.tick_event) this.tick_event.cancelled = true;
    const generation = this.generation;
    this.tick_event = this.world.queue.at(at_ms, () => {
      this.tick_event = null;
      if (this.generation === generation) this.run_tick();
    });
  }

  private run_tick(): void {
    const w = this.world;
    const station = this.station!;
    const now_ms = w.queue.now_ms;
    const before = station.engine.last_decision();
    const decision = station.handle_tick();
    w.counters.engine_ticks++;
    if (decision !== before) {
      w.checker.decisions_version++;
      if (w.policy === 'naive') {
        const own_a = this.store.config.loadsharing_enabled ? decision.self.own_view_current : this.evse.spec.max_current_a;
        this.apply_pilot(own_a);
      }
    }
    for (const e of station.poll_events()) {
      this.event_counts[e.kind] = (this.event_counts[e.kind] ?? 0) + 1;
      if (w.keep_events) w.events.push({ charger: this.id, ...e });
    }
    w.net.publish(this, station.poll_frame());
    this.schedule_tick(Math.max(now_ms + 1, this.timer_to_virtual(station.next_wake_ms())));
  }

  // ---- inputs from the scenario ----

  // The car or the user changed the controller.
  evse_changed(): void {
    this.world.sampling.car_changes(this.evse);
    this.station?.handle_evse_changed();
    if (this.plan.upstream && this.upstream_running) this.publish_upstream(); // upstream pushes a change at once
  }

  // A user's config write (POST /config); while the charger is down, an edit of its stored
  // config that it boots with.
  write_config(patch: Partial<LoadSharingConfig>): void {
    const changes = node_config_patch(patch);
    try {
      if (this.station) {
        this.station.handle_config_write(changes);
      } else {
        const result = merge_config(this.store.config, changes, Math.floor(this.wall_ms() / 1000));
        if (result.changed) this.store_config({ ...result.config, loadsharing_config_origin: this.id });
      }
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.world.warnings.push(`config write on ${this.id} at ${((this.world.queue.now_ms - this.world.scenario.start_ms) / 1000).toFixed(1)} s refused: ${error.message}`);
    }
  }

  // POST /loadsharing/peers without the reciprocal call: joined by its address, its id learnt
  // from its first document.
  join(host: string): void {
    if (!this.station) {
      if (!this.store.peers.some((p) => p.host === host)) this.store.peers.push({ host, id: null });
      this.store.leaving = this.store.leaving.filter((p) => p.host !== host); // a member again
      return;
    }
    try {
      this.station.handle_join(host, false, () => {});
    } catch (error) {
      if (!(error instanceof PeerError)) throw error;
      this.world.warnings.push(`join of ${host} on ${this.id} refused: ${error.message}`);
    }
  }

  leave(host: string): void {
    if (!this.station) {
      // Written into its store as the station would keep it: leaving, reserved from its boot
      // until it says it is on its own or a person says it is gone (engine remove_member).
      const removed = this.store.peers.filter((p) => p.host === host && p.id !== null);
      this.store.peers = this.store.peers.filter((p) => p.host !== host);
      for (const p of removed) if (!this.store.leaving.some((q) => q.host === p.host)) this.store.leaving.push({ ...p });
      return;
    }
    try {
      this.station.handle_leave(host, false, () => {});
    } catch (error) {
      if (!(error instanceof PeerError)) throw error;
    }
  }

  swap_module(module: ModuleName): void {
    this.store.module = module;
    this.station?.handle_core(this.world.core_for(module));
  }

  // A step of its wall clock (an SNTP correction, a clock set by hand).
  set_skew(skew_ms: number): void {
    this.clock.set_skew(this.world.queue.now_ms, skew_ms);
    this.schedule_tick(this.world.queue.now_ms);
  }

  // Its oscillator's rate changes (both clocks drift).
  set_drift(drift_ppm: number): void {
    this.clock.set_drift(this.world.queue.now_ms, drift_ppm);
    this.schedule_tick(this.world.queue.now_ms);
  }
}
