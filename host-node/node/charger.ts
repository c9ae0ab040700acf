// One charger: the engine, its simulated EVSE and car, the current shaper, the peer links,
// the store and discovery, wired to a real clock. The HTTP and WebSocket adapters (app.ts,
// ws-server.ts) only call the methods here.
//
// Flow of one peer status message: PeerLink (socket) -> on_peer_status -> engine.
// handle_peer_status -> a tick soon after -> engine.tick() -> core (guarded) -> the engine's
// shaper callback -> CurrentShaper (min with the OpenEVSE shaper formula) -> SimEvse pilot.
import { EventEmitter } from 'node:events';
import { Core } from '../core.js';
import { Engine } from '../engine/engine.js';
import type { Clock, ProtocolTiming, EngineEvent, LoadSharingBlock, PeerStatusDoc } from '../engine/types.js';
import { SimEvse, default_car, type CarSpec, type EvseSpec } from '../evse/sim-evse.js';
import { JsonStore } from './store.js';
import { CurrentShaper } from './shaper.js';
import { PeerLink } from './peer-link.js';
import { Discovery, type DiscoveredPeer } from './mdns.js';
import { silent_logger, type Logger } from './log.js';
import {
  type NodeConfig, ConfigError, merge_config, restore_config, to_loadsharing_config, public_config, check_config_rules,
} from './config.js';
import { type StoredPeer, check_host, check_peer_id, placeholder_id, parse_stored_peers } from './peers.js';
import { MEMBERS_MAX } from '../abi.js';
import type { KeyObject } from 'node:crypto';
import { ModuleManager, type ModuleStatus } from '../modules/manager.js';
import { PackageError, type Manifest } from '../modules/package.js';
import { ConfigSync, same_member, type MemberRef, type Timers } from './config-sync.js';
import { GroupAuth } from './peer-auth.js';
import { UpstreamEvse } from './upstream.js'; // upstream OpenEVSE claims, override, limit, RAPI (issue 16)
import { answers_like_openevse } from './uncontrolled.js';
import { node_version } from './config.js';
import { is_self_host } from './addresses.js';

export const real_clock: Clock = { now_ms: () => Date.now() };

export interface ChargerOptions {
  id: string;
  host: string; // the address peers reach us on (also what we tell them for reciprocal joins)
  http_port: number;
  data_dir: string | null; // null: nothing is stored (route tests)
  peers?: string[];
  config_overrides?: Partial<NodeConfig>; // --config FILE, applied over the stored config
  mdns?: boolean;
  mdns_interval_ms?: number;
  log?: Logger;
  clock?: Clock;
  timing?: Partial<ProtocolTiming>;
  evse?: Partial<EvseSpec>;
  car?: Partial<CarSpec>;
  core?: Core;
  backoff_initial_ms?: number;
  backoff_max_ms?: number;
  module_keys?: KeyObject[]; // trusted module-signing keys (hot swap); none: swaps are refused
  config_sync?: boolean; // false: differences are reported, nothing is adopted or pushed (config-sync.ts)
  sync_timers?: Timers;
}

interface PeerRecord {
  host: string;
  id: string | null;
  link: PeerLink | null;
  connected: boolean;
  status_at_ms: number | null;
  uncontrolled: boolean; // answers like OpenEVSE without a loadsharing block (uncontrolled.ts)
}

export class PeerError extends Error {
  constructor(readonly status_code: 400 | 404, message: string) {
    super(message);
  }
}

export class Charger extends EventEmitter {
  readonly id: string;
  readonly engine: Engine;
  readonly evse: SimEvse;
  readonly shaper: CurrentShaper;
  readonly clock: Clock;
  readonly log: Logger;
  private config: NodeConfig;
  private config_counter = 1; // upstream's /status config_version: any /config change
  private readonly store: JsonStore | null;
  private readonly peers = new Map<string, PeerRecord>(); // by host
  private discovery: Discovery | null = null;
  private tick_timer: NodeJS.Timeout | null = null;
  private tick_soon: NodeJS.Immediate | null = null;
  private running = false;
  private readonly started_ms: number;
  private session_start_ms: number | null = null;
  private session_energy_wh = 0;
  private voltage_v: number;
  private last_energy_ms: number;
  private modules: ModuleManager | null = null;
  private rolling_back = false;
  readonly sync: ConfigSync;
  private auth: { key: string; auth: GroupAuth } | null = null;
  // ---- upstream OpenEVSE side (upstream.ts): claims may lower the pilot, never raise it ----
  readonly upstream: UpstreamEvse;
  private claims_paused = false;
  private total_energy_wh = 0;
  private readonly status_extras: Array<() => Record<string, unknown>> = [];

  private constructor(readonly options: ChargerOptions, core: Core) {
    super();
    this.id = options.id;
    this.clock = options.clock ?? real_clock;
    this.log = options.log ?? silent_logger;
    this.store = options.data_dir === null ? null : new JsonStore(options.data_dir, this.log);
    const now_ms = this.clock.now_ms();
    this.started_ms = now_ms;
    this.last_energy_ms = now_ms;
    this.config = this.load_config();
    this.shaper = new CurrentShaper(this.shaper_inputs());
    this.evse = new SimEvse({
      id: options.id, min_current_a: 6, max_current_a: 32, voltage_v: 240,
      // The controller's own supervision: silent WiFi side for 5 s -> the failsafe current.
      // With a car lag of at most 5 s a dead engine's car is down within 10 s, inside the
      // core's reserve hold (ev_response + seen grace + message delay = 10 s by default).
      heartbeat_interval_ms: 5000,
      heartbeat_current_a: this.heartbeat_current_a(),
      ...options.evse,
    }, { ...default_car, ...options.car }, now_ms);
    this.voltage_v = this.evse.spec.voltage_v;
    this.upstream = new UpstreamEvse({
      config: () => this.config,
      write_config: (changes) => { this.apply_config(changes); },
      now_ms: () => this.clock.now_ms(),
      evse: () => {
        const t_ms = this.clock.now_ms();
        return {
          ...this.evse.status(t_ms), voltage: this.voltage_v, elapsed_s: this.session_elapsed_s(t_ms),
          session_wh: this.session_energy_wh, total_wh: this.total_energy_wh,
        };
      },
      loadsharing_limit_a: () => this.shaper.loadsharing_limit(),
      changed: () => { this.apply_pilot(); this.request_tick(); },
    });
    this.engine = new Engine({
      id: options.id,
      core,
      clock: this.clock,
      config: to_loadsharing_config(this.config),
      local: this.evse.status(now_ms),
      timing: options.timing,
      shaper: { set_loadsharing_limit_a: (limit_a) => { this.shaper.set_loadsharing_limit_a(limit_a); this.apply_pilot(); } },
    });
    this.sync = new ConfigSync(this.sync_host(), {
      enabled: options.config_sync ?? true, timers: options.sync_timers,
      backoff_initial_ms: options.backoff_initial_ms, backoff_max_ms: options.backoff_max_ms,
    });
    for (const stored of this.load_peers()) {
      // A self-join stored before aliases were recognised (addresses.ts) would be a phantom member.
      if (this.is_self(stored.host)) { this.log.warn('peer', `stored peer ${stored.host} is this charger; dropped`); continue; }
      this.add_record(stored);
    }
    for (const host of options.peers ?? []) {
      const problem = this.check_new_host(host);
      if (problem) { this.log.warn('peer', `--peer ${host} ignored: ${problem}`); continue; }
      if (!this.peers.has(host)) this.add_record({ host, id: null });
    }
    this.save_peers();
    // Rule 8: a charger that starts with no members is on its own by configuration; one that
    // starts in a group and later loses every member (a peer's config removed it) is not sure
    // it is alone on the breaker and stays at its failsafe current until a person says so.
    this.engine.confirm_alone(this.peers.size === 0);
  }

  static async create(options: ChargerOptions): Promise<Charger> {
    const builtin = options.core ?? await Core.load();
    let modules: ModuleManager | null = null;
    let core = builtin;
    if (options.data_dir !== null) {
      // The module slots (docs/hot-swap.md): what ran before a restart runs again, unless it
      // was still on probation; anything that no longer verifies gives the built-in module.
      const log = options.log ?? silent_logger;
      modules = new ModuleManager({
        data_dir: options.data_dir, trusted_keys: options.module_keys ?? [], builtin,
        now_ms: () => (options.clock ?? real_clock).now_ms(), log: (line) => log.info('module', line),
      });
      core = await modules.init();
    }
    const charger = new Charger(options, core);
    charger.modules = modules;
    return charger;
  }

  // ---- lifecycle ----

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const record of this.peers.values()) this.start_link(record);
    if (this.options.mdns) {
      this.discovery = new Discovery({
        id: this.id, hostname: this.config.hostname, port: this.options.http_port, version: node_version,
        log: this.log, interval_ms: this.options.mdns_interval_ms,
      });
      this.discovery.start();
      if (/^127\.|^localhost$|^::1$/.test(this.options.host)) {
        this.log.warn('mdns', `listening on ${this.options.host} only: peers that find this node by mDNS cannot reach it (use --host with a LAN address, or --no-mdns)`);
      }
    }
    this.tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.sync.stop();
    if (this.tick_timer) clearTimeout(this.tick_timer);
    if (this.tick_soon) clearImmediate(this.tick_soon);
    this.tick_timer = null;
    this.tick_soon = null;
    for (const record of this.peers.values()) record.link?.stop();
    await this.discovery?.stop();
    this.discovery = null;
    // Writes are synchronous and durable (JsonStore.write), so the files are already flushed;
    // one last write makes sure the peers' learned ids are there too.
    this.save_peers();
  }

  started_at_ms(): number {
    return this.started_ms;
  }

  self_address(): string {
    return `${this.options.host}:${this.options.http_port}`;
  }

  // ---- the periodic work ----

  tick(): void {
    if (this.tick_soon) { clearImmediate(this.tick_soon); this.tick_soon = null; }
    try {
      const now_ms = this.clock.now_ms();
      this.upstream.evaluate(this.session_facts(now_ms)); // a reached limit or eco mode pauses before the engine hears of demand
      this.engine.handle_local_status(this.evse.status(now_ms));
      this.engine.tick();
      this.watch_module();
      // Only a tick that completed feeds the controller's supervision: a broken engine lets
      // the controller fall to its heartbeat current by itself.
      this.evse.heartbeat(now_ms);
      this.account_energy(now_ms);
      this.apply_pilot();
      for (const event of this.engine.poll_events()) this.log_event(event);
      this.emit('status', this.status_doc());
    } catch (error) {
      this.log.error('engine', `tick failed: ${(error as Error).stack ?? error}`);
    }
    if (this.running) {
      if (this.tick_timer) clearTimeout(this.tick_timer);
      const tick_ms = this.options.timing?.tick_interval_ms ?? 1000;
      const wait_ms = Math.min(tick_ms, Math.max(10, this.engine.wake_in_ms()));
      this.tick_timer = setTimeout(() => this.tick(), wait_ms);
    }
  }

  // Hot swap, step 5: a clean decision counts towards the running module's probation; a trap,
  // an error code or a broken invariant (the guard already dropped this charger to the
  // failsafe current) rolls back to the module before it.
  private watch_module(): void {
    if (!this.modules || this.rolling_back) return;
    const trip = this.engine.guard_trip_reason();
    if (trip === null) {
      this.modules.note_good_decision();
      return;
    }
    if (this.modules.running_ref() === 'builtin') return;
    this.rolling_back = true;
    void this.modules.report_failure(trip).then((core) => {
      this.engine.handle_core(core);
      this.log.warn('module', `rolled back after: ${trip}`);
    }).finally(() => {
      this.rolling_back = false;
      this.request_tick();
    });
  }

  // POST /loadsharing/module: verify, self-test, stage, and run the package on probation.
  // Throws PackageError (a refusal: nothing changes) with a stable code.
  async install_module(bytes: Uint8Array): Promise<Manifest> {
    if (!this.modules) throw new PackageError('unavailable', 'hot swap needs a data directory for the module slots');
    if ((this.options.module_keys ?? []).length === 0) {
      throw new PackageError('signature', 'no trusted module key is configured on this charger (loadshare node --module-key FILE)');
    }
    const { core, manifest } = await this.modules.install(bytes);
    this.engine.handle_core(core);
    this.log.info('module', `now running ${manifest.version} (counter ${manifest.counter}, policy ${manifest.policy}) on probation`);
    this.request_tick();
    return manifest;
  }

  module_status(): ModuleStatus | null {
    return this.modules?.status() ?? null;
  }

  // Something changed (a peer's message, a car, a config): decide soon, once per burst.
  private request_tick(): void {
    if (!this.running || this.tick_soon) return;
    this.tick_soon = setImmediate(() => { this.tick_soon = null; this.tick(); });
  }

  // The pilot is the shaper's limit, which is capped by the engine's load-sharing limit.
  private apply_pilot(): void {
    const now_ms = this.clock.now_ms();
    // ---- upstream claims (upstream.ts): one more term in the shaper's min; a paused charger asks the group for nothing ----
    this.shaper.set_claimed_limit_a(this.upstream.claimed_limit_a());
    if (this.upstream.paused() !== this.claims_paused) {
      this.claims_paused = this.upstream.paused();
      this.evse.set_user_paused(now_ms, this.claims_paused);
    }
    this.evse.set_limit_a(now_ms, this.shaper.limit_a(now_ms, this.evse_now(now_ms)));
  }

  private evse_now(now_ms: number) {
    return { ...this.evse.status(now_ms), voltage: this.voltage_v };
  }

  private account_energy(now_ms: number): void {
    const dt_ms = now_ms - this.last_energy_ms;
    this.last_energy_ms = now_ms;
    if (this.session_start_ms === null || dt_ms <= 0) return;
    const wh = (this.evse.current_a(now_ms) * this.voltage_v * dt_ms) / 3600000;
    this.session_energy_wh += wh;
    this.total_energy_wh += wh;
  }

  private session_elapsed_s(now_ms: number): number {
    return this.session_start_ms === null ? 0 : Math.floor((now_ms - this.session_start_ms) / 1000);
  }

  private session_facts(now_ms: number) {
    const car = this.evse.car_spec();
    return { elapsed_s: this.session_elapsed_s(now_ms), energy_wh: this.session_energy_wh, soc_pct: car.connected ? car.soc_pct : null, range_km: null };
  }

  // More /status fields from outside the charger (the MQTT bridge's mqtt_connected).
  add_status_fields(fields: () => Record<string, unknown>): void {
    this.status_extras.push(fields);
  }

  private log_event(event: EngineEvent): void {
    const name = (member: string) => member.startsWith('?') ? `(unknown at ${member.slice(1)})` : member;
    switch (event.kind) {
      case 'peer_online': this.log.info('engine', `peer ${name(event.peer)} online`, { event: event.kind, peer: event.peer }); break;
      case 'peer_offline': this.log.warn('engine', `peer ${name(event.peer)} offline`, { event: event.kind, peer: event.peer }); break;
      case 'allocation_changed': this.log.info('engine', `allocation of ${name(event.member)}: ${event.from_a} A -> ${event.to_a} A (${event.reason})`, { event: event.kind, member: event.member, from_a: event.from_a, to_a: event.to_a, reason: event.reason }); break;
      case 'applied_changed': this.log.info('engine', `applied limit ${event.from_a} A -> ${event.to_a} A (${event.reason})`, { event: event.kind, from_a: event.from_a, to_a: event.to_a, reason: event.reason }); break;
      case 'failsafe_entered': this.log.warn('engine', `failsafe entered (${event.reason})`, { event: event.kind, reason: event.reason }); break;
      case 'failsafe_left': this.log.info('engine', 'failsafe left', { event: event.kind }); break;
      case 'degraded_entered': this.log.warn('engine', 'degraded: limiting to the failsafe current', { event: event.kind }); break;
      case 'degraded_left': this.log.info('engine', 'no longer degraded', { event: event.kind }); break;
      case 'guard_tripped': this.log.error('engine', `guard tripped: ${event.reason}`, { event: event.kind, reason: event.reason }); break;
      case 'config_inconsistent': this.log.warn('engine', `config differs from ${event.peers.map(name).join(', ')}`, { event: event.kind, peers: event.peers }); break;
    }
  }

  // ---- /status ----

  status_doc(): Record<string, unknown> {
    const now_ms = this.clock.now_ms();
    const s = this.evse.status(now_ms);
    const car = this.evse.car_spec();
    const block: LoadSharingBlock = this.engine.poll_status();
    const uptime_s = Math.floor((now_ms - this.started_ms) / 1000);
    // A claim's pause reads as upstream's (sleeping, or disabled after RAPI $FD) while a car is there.
    const state = this.claims_paused && s.vehicle === 1 ? this.upstream.paused_state() : s.state;
    return {
      mode: 'STA',
      wifi_client_connected: 1,
      eth_connected: 0,
      net_connected: 1,
      ipaddress: this.options.host,
      evse_connected: 1,
      rapi_connected: 1,
      amp: s.amp_ma, // milliamps, as the firmware sends it
      voltage: this.voltage_v,
      power: Math.round((s.amp_ma / 1000) * this.voltage_v),
      pilot: s.pilot,
      max_current: s.max_current,
      min_current: s.min_current,
      state,
      status: state >= 1 && state <= 3 ? 'active' : 'disabled',
      vehicle: s.vehicle,
      battery_level: car.connected ? Math.round(car.soc_pct * 10) / 10 : 0,
      time: new Date(now_ms).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      uptime: uptime_s,
      elapsed: this.session_elapsed_s(now_ms),
      session_elapsed: this.session_elapsed_s(now_ms),
      session_energy: Math.round(this.session_energy_wh * 100) / 100,
      total_energy: Math.round(this.total_energy_wh) / 1000, // kWh since this process started (not persisted)
      ...this.shaper.status(now_ms),
      ...this.upstream.status_fields(),
      mqtt_connected: 0,
      ocpp_connected: 0,
      emoncms_connected: 0,
      ...Object.assign({}, ...this.status_extras.map((f) => f())),
      config_version: this.config_counter,
      loadsharing: block,
    };
  }

  set_status_inputs(inputs: { voltage?: number; shaper_live_pwr?: number; solar?: number; grid_ie?: number }): void {
    const now_ms = this.clock.now_ms();
    if (inputs.voltage !== undefined) this.voltage_v = inputs.voltage;
    if (inputs.shaper_live_pwr !== undefined) this.shaper.set_live_pwr(now_ms, inputs.shaper_live_pwr, this.evse_now(now_ms));
    if (inputs.solar !== undefined) this.upstream.set_divert_input('solar', inputs.solar); // eco mode (upstream divert)
    if (inputs.grid_ie !== undefined) this.upstream.set_divert_input('grid_ie', inputs.grid_ie);
    this.apply_pilot();
    this.request_tick();
  }

  // ---- /sim/ev ----

  set_car(car: { connected?: boolean; soc?: number; max_current?: number; lag_ms?: number }): CarSpec {
    const now_ms = this.clock.now_ms();
    const was_connected = this.evse.car_spec().connected;
    const change: Partial<CarSpec> = {};
    if (car.connected !== undefined) change.connected = car.connected;
    if (car.soc !== undefined) change.soc_pct = car.soc;
    if (car.max_current !== undefined) change.max_current_a = car.max_current;
    if (car.lag_ms !== undefined) change.lag_ms = car.lag_ms;
    this.account_energy(now_ms);
    this.evse.set_car(now_ms, change);
    const now_connected = this.evse.car_spec().connected;
    if (now_connected && !was_connected) { this.session_start_ms = now_ms; this.session_energy_wh = 0; }
    if (!now_connected) this.session_start_ms = null;
    if (was_connected && !now_connected) this.upstream.session_ended(); // auto-release claims and limits (upstream)
    if (now_connected !== was_connected) this.log.info('evse', now_connected ? 'car plugged in' : 'car unplugged');
    this.engine.handle_local_status(this.evse.status(now_ms));
    this.request_tick();
    return this.evse.car_spec();
  }

  // ---- /config ----

  config_doc(): Record<string, unknown> {
    return { ...public_config(this.config), ...this.upstream.config_fields(), loadsharing_members: this.sync.member_list() };
  }

  raw_config(): NodeConfig {
    return { ...this.config };
  }

  general_config_version(): number {
    return this.config_counter;
  }

  // Validated by the route's schema already; the cross-field rules run here. Nothing is
  // applied unless everything is valid and stored.
  apply_config(changes: Partial<NodeConfig>): { config_version: number; msg: 'done' | 'no change' } {
    const result = merge_config(this.config, changes, Math.floor(this.clock.now_ms() / 1000));
    if (!result.changed) return { config_version: this.config_counter, msg: 'no change' };
    if (result.group_changed) {
      // Above every version seen from a peer too, so that this write wins (config-sync.ts).
      result.config.loadsharing_config_version = this.sync.next_local_version(this.config.loadsharing_config_version);
      result.config.loadsharing_config_origin = this.id;
    }
    const before = this.config;
    this.install_config(result.config);
    if (before.loadsharing_group_key !== this.config.loadsharing_group_key) {
      this.log.info('auth', this.config.loadsharing_group_key === '' ? 'group key cleared: peer traffic is unauthenticated' : 'group key set: peer traffic is authenticated');
      for (const record of this.peers.values()) { record.link?.stop(); record.link = null; if (this.running) this.start_link(record); }
    }
    if (result.group_changed) {
      this.log.info('config', `group config version ${before.loadsharing_config_version} -> ${this.config.loadsharing_config_version}`);
      if (this.sync.enabled) this.sync.push_all();
    }
    if (before.hostname !== this.config.hostname && this.discovery) {
      this.log.warn('mdns', 'hostname changed; the new name is advertised after a restart');
    }
    return { config_version: this.config_counter, msg: 'done' };
  }

  // Stores and applies a whole config (already checked): the store first, so that nothing is
  // in force that would not survive a restart.
  private install_config(next: NodeConfig): void {
    this.store?.write('config', next);
    this.config = next;
    this.config_counter += 1;
    this.engine.handle_config(to_loadsharing_config(this.config));
    this.shaper.configure(this.shaper_inputs(), this.evse_now(this.clock.now_ms()));
    this.evse.spec.heartbeat_current_a = this.heartbeat_current_a();
    this.request_tick();
  }

  // ---- config sync (config-sync.ts) ----

  group_auth(): GroupAuth | null {
    const key = this.config.loadsharing_group_key;
    if (key === '') return null;
    if (this.auth?.key !== key) this.auth = { key, auth: new GroupAuth(key, this.clock) };
    return this.auth.auth;
  }

  private sync_host() {
    return {
      id: this.id, clock: this.clock, log: this.log,
      self_address: () => this.self_address(),
      raw_config: () => this.config,
      config_hash: () => this.engine.current_config_hash(),
      members: (): MemberRef[] => [...this.peers.values()].map((r) => ({ host: r.host, id: r.id })),
      is_self_ref: (ref: MemberRef) => ref.id === this.id || this.is_self(ref.host),
      adopt_group: (next: NodeConfig, members: MemberRef[] | null) => {
        this.install_config(next);
        if (members !== null) this.set_members(members);
      },
      basic_auth: () => this.auth_header(),
      group_auth: () => this.group_auth(),
    };
  }

  // The member list from a synced config: peers not in it leave, new ones join (no reciprocal
  // calls: everyone gets the same list). A list without this charger means it was removed.
  private set_members(list: MemberRef[]): void {
    const others = list.filter((m) => !(m.id === this.id || this.is_self(m.host)));
    const listed = others.length < list.length;
    if (!listed && others.some((m) => m.id === null)) {
      // We may be the entry whose id the sender has not learned (known there by another
      // address): not proof of removal. The member list stays as it is.
      this.log.warn('peer', 'group config lists members by unknown ids and not us by name; member list unchanged');
      return;
    }
    const wanted = listed ? others : [];
    if (!listed && others.length > 0) this.log.warn('peer', 'removed from the group by a peer: leaving every member');
    let changed = false;
    for (const record of [...this.peers.values()]) {
      if (wanted.some((m) => same_member(m, record))) continue;
      record.link?.stop();
      this.peers.delete(record.host);
      this.engine.remove_member(member_id(record));
      this.sync.forget(record.host);
      this.log.info('peer', `left ${record.host} (group config)`);
      changed = true;
    }
    for (const m of wanted) {
      if ([...this.peers.values()].some((r) => same_member(m, r))) continue;
      if (this.check_new_host(m.host) !== null || this.peers.size + 1 >= MEMBERS_MAX) continue;
      const record = this.add_record({ host: m.host, id: m.id });
      this.log.info('peer', `joined ${m.host} (group config)`);
      if (this.running) this.start_link(record);
      changed = true;
    }
    if (changed) { this.save_peers(); this.request_tick(); }
  }

  private load_config(): NodeConfig {
    const stored = this.store?.read('config') ?? null;
    let config = restore_config(this.id, stored, (m) => this.log.warn('store', m));
    if (this.options.config_overrides) {
      const result = merge_config(config, this.options.config_overrides, Math.floor(this.clock.now_ms() / 1000));
      config = result.config;
    }
    check_config_rules(config);
    this.store?.write('config', config);
    return config;
  }

  private shaper_inputs() {
    return { enabled: this.config.current_shaper_enabled, max_pwr_w: this.config.current_shaper_max_pwr, data_maxinterval_s: this.config.current_shaper_data_maxinterval };
  }

  private heartbeat_current_a(): number {
    return this.config.loadsharing_failsafe_mode === 'disable' ? 0 : this.config.loadsharing_failsafe_safe_current;
  }

  auth_header(): string | null {
    if (this.config.www_username === '' || this.config.www_password === '') return null;
    return `Basic ${Buffer.from(`${this.config.www_username}:${this.config.www_password}`).toString('base64')}`;
  }

  // ---- peers ----

  peer_records(): Array<{ host: string; id: string | null; member_id: string; connected: boolean; status_at_ms: number | null; uncontrolled: boolean }> {
    return [...this.peers.values()].map((r) => ({ host: r.host, id: r.id, member_id: member_id(r), connected: r.connected, status_at_ms: r.status_at_ms, uncontrolled: r.uncontrolled }));
  }

  discovered(): DiscoveredPeer[] {
    return this.discovery?.found() ?? [];
  }

  async discover(): Promise<boolean> {
    if (!this.discovery) return false;
    await this.discovery.scan();
    return true;
  }

  // Any spelling of our own address (addresses.ts), our names, or our id.
  is_self(host: string): boolean {
    if (host.toLowerCase() === this.id.toLowerCase()) return true;
    return is_self_host(host, { listen_host: this.options.host, port: this.options.http_port, names: [this.config.hostname, `${this.config.hostname}.local`] });
  }

  private check_new_host(host: string): string | null {
    const problem = check_host(host);
    if (problem) return problem;
    if (this.is_self(host)) return 'Cannot add local device as peer';
    return null;
  }

  // POST /loadsharing/peers. Returns the upstream message; throws PeerError for 400s.
  async add_peer(host: string, reciprocal: boolean): Promise<'done' | 'already in group'> {
    if (typeof host !== 'string') throw new PeerError(400, "Missing required 'host' parameter");
    const problem = this.check_new_host(host);
    if (problem) throw new PeerError(400, problem);
    if (this.peers.has(host)) return 'already in group';
    if (this.peers.size + 1 >= MEMBERS_MAX) throw new PeerError(400, `Group is full (at most ${MEMBERS_MAX} members)`);
    const record = this.add_record({ host, id: null });
    this.save_peers();
    this.log.info('peer', `joined ${host}`);
    if (this.running) this.start_link(record);
    this.request_tick();
    if (reciprocal) await this.tell_peer(host, 'POST', '/loadsharing/peers', { host: this.self_address(), reciprocal: false });
    // The user's join is a group change: a new version reaches every member (config-sync.ts).
    if (reciprocal && this.sync.enabled) await this.sync.local_member_change(host, []);
    return 'done';
  }

  // DELETE /loadsharing/peers/:host. Throws PeerError (400 self, 404 unknown).
  async remove_peer(host: string, reciprocal: boolean): Promise<void> {
    if (this.is_self(host)) throw new PeerError(400, 'Cannot remove local device from group');
    const record = this.peers.get(host) ?? [...this.peers.values()].find((r) => r.id === host);
    if (!record) throw new PeerError(404, 'Peer not found');
    record.link?.stop();
    this.peers.delete(record.host);
    this.engine.remove_member(member_id(record));
    // A person removed the last member here: this charger is set up on its own.
    if (this.peers.size === 0) this.engine.confirm_alone(true);
    this.save_peers();
    this.log.info('peer', `left ${record.host}`);
    this.request_tick();
    if (reciprocal) await this.tell_peer(record.host, 'DELETE', `/loadsharing/peers/${encodeURIComponent(this.self_address())}?reciprocal=false`, null);
    if (reciprocal && this.sync.enabled) await this.sync.local_member_change(null, [{ host: record.host, id: record.id }]);
    else this.sync.forget(record.host);
  }

  private async tell_peer(host: string, method: string, path: string, body: unknown): Promise<void> {
    const headers: Record<string, string> = {};
    const auth = this.auth_header();
    if (auth) headers.authorization = auth;
    if (body !== null) headers['content-type'] = 'application/json';
    try {
      const response = await fetch(`http://${host}${path}`, {
        method, headers, body: body === null ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(3000),
      });
      if (!response.ok) this.log.warn('peer', `reciprocal ${method} on ${host} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
    } catch (error) {
      this.log.warn('peer', `reciprocal ${method} on ${host} failed (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message}); it can be repeated there by hand`);
    }
  }

  // A joined peer connected to our /ws (it names itself in x-loadshare-host).
  peer_contacted(host: string): void {
    this.peers.get(host)?.link?.retry_now();
  }

  private add_record(stored: StoredPeer): PeerRecord {
    let id = stored.id;
    if (id !== null && (id === this.id || [...this.peers.values()].some((r) => r.id === id))) id = null;
    const record: PeerRecord = { host: stored.host, id, link: null, connected: false, status_at_ms: null, uncontrolled: false };
    this.peers.set(stored.host, record);
    this.engine.add_member(member_id(record));
    return record;
  }

  private start_link(record: PeerRecord): void {
    if (record.link) return;
    record.link = new PeerLink({
      host: record.host,
      auth_header: () => this.auth_header(),
      group_auth: () => this.group_auth(),
      self_id: this.id,
      self_address: this.self_address(),
      log: this.log,
      backoff_initial_ms: this.options.backoff_initial_ms,
      backoff_max_ms: this.options.backoff_max_ms,
      silence_timeout_ms: () => Math.max(5000, this.config.loadsharing_heartbeat_timeout * 1000),
    }, {
      on_status: (doc, full) => this.on_peer_status(record, doc, full),
      on_auth_failure: (reason) => this.sync.count_auth_failure(record.host, reason),
      on_connected: (connected) => {
        record.connected = connected;
        this.log.info('peer', `${record.host}: link ${connected ? 'up' : 'down'}`);
      },
    });
    record.link.start();
  }

  private on_peer_status(record: PeerRecord, doc: Record<string, unknown>, full: boolean): void {
    if (!this.peers.has(record.host) || this.peers.get(record.host) !== record) return; // removed meanwhile
    const block = doc.loadsharing;
    if (block !== undefined && (typeof block !== 'object' || block === null || Array.isArray(block))) {
      this.log.warn('peer', `${record.host}: "loadsharing" is not an object; message ignored`);
      return;
    }
    const claimed = (block as { id?: unknown } | undefined)?.id;
    if (claimed !== undefined) {
      if (!check_peer_id(claimed)) {
        this.log.warn('peer', `${record.host}: bad id ${JSON.stringify(claimed)}; message ignored`);
        return;
      }
      if (claimed !== record.id && !this.bind_id(record, claimed)) return;
    } else if (block === undefined && full && record.id === null) {
      // A peer without our block (upstream firmware): its id or hostname field names it, if
      // it has one; otherwise it stays known by its host.
      const named = [doc.id, doc.hostname].find((x) => check_peer_id(x));
      if (typeof named === 'string' && !this.bind_id(record, named)) return;
    }
    // A full document without our block from something that answers like OpenEVSE: a charger
    // that does not share (upstream firmware, another brand behind an adapter); issue 16.
    if (full) record.uncontrolled = block === undefined && answers_like_openevse(doc);
    this.engine.handle_peer_status(member_id(record), keep_known_keys(doc), full);
    record.status_at_ms = this.clock.now_ms();
    const merged = this.engine.peer_entries().find((e) => e.id === member_id(record))?.status.loadsharing;
    this.sync.on_peer_status(record.host, record.id, merged as { config_version?: unknown; config_hash?: unknown } | undefined);
    this.request_tick();
  }

  // The peer at this host says who it is: the engine learns it under that id from now on.
  private bind_id(record: PeerRecord, id: string): boolean {
    if (id === this.id) {
      this.log.warn('peer', `${record.host} claims our own id ${id}; ignored`);
      return false;
    }
    const other = [...this.peers.values()].find((r) => r !== record && r.id === id);
    if (other) {
      // The same charger joined under two addresses: keep the first, drop this one (its
      // placeholder would otherwise stay a never-heard member, reserved for ever).
      this.log.warn('peer', `${record.host} is ${id}, already joined at ${other.host}; ${record.host} removed`);
      record.link?.stop();
      this.peers.delete(record.host);
      this.engine.remove_member(member_id(record));
      this.save_peers();
      this.request_tick();
      return false;
    }
    this.engine.remove_member(member_id(record));
    this.log.info('peer', `${record.host} is ${id}`);
    record.id = id;
    this.engine.add_member(id);
    this.save_peers();
    return true;
  }

  private load_peers(): StoredPeer[] {
    return parse_stored_peers(this.store?.read('peers') ?? null, (m) => this.log.warn('store', m));
  }

  // A failed write (disk full, read-only) is logged; the peer list in memory stays in force.
  private save_peers(): void {
    try {
      this.store?.write('peers', { peers: [...this.peers.values()].map((r) => ({ host: r.host, id: r.id })) });
    } catch (error) {
      this.log.error('store', `cannot write peers.json: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
}

// Only the fields the protocol reads are kept: a peer cannot grow our memory by sending new
// keys in every delta (each frame is bounded by the socket's maxPayload, their number is not).
const peer_status_keys = ['amp', 'voltage', 'power', 'pilot', 'max_current', 'min_current', 'state', 'status', 'vehicle', 'config_version', 'time', 'uptime'];
const peer_block_keys = [
  'id', 'seen', 'degraded', 'failsafe_active', 'alloc', 'applied_current', 'committed_current', 'target_current', 'demand',
  'demand_cap', 'min_current', 'max_current', 'priority', 'group_max_current', 'safety_factor', 'heartbeat_timeout',
  'failsafe_safe_current', 'failsafe_peer_assumed_current', 'config_version',
  'config_hash', 'module_hash', 'reason',
];

function keep_known_keys(doc: Record<string, unknown>): PeerStatusDoc {
  const out: Record<string, unknown> = {};
  for (const key of peer_status_keys) if (key in doc) out[key] = doc[key];
  const block = doc.loadsharing as Record<string, unknown> | undefined;
  if (block !== undefined) {
    const kept: Record<string, unknown> = {};
    for (const key of peer_block_keys) if (key in block) kept[key] = block[key];
    // Bounded like the core's member table: at most 16 seen ids and 16 allocations.
    if (Array.isArray(kept.seen)) kept.seen = kept.seen.slice(0, MEMBERS_MAX);
    if (typeof kept.alloc === 'object' && kept.alloc !== null) kept.alloc = Object.fromEntries(Object.entries(kept.alloc).slice(0, MEMBERS_MAX));
    out.loadsharing = kept;
  }
  return out as PeerStatusDoc;
}

function member_id(record: { host: string; id: string | null }): string {
  return record.id ?? placeholder_id(record.host);
}

export { ConfigError };
