// One charger process: the I/O shell around its Station (station/station.ts), which holds the
// whole behaviour. Here: the real clocks, the tick timer, the files (JsonStore), fetch for
// requests to peers, one PeerLink (sockets) per joined peer, mDNS, the module slots (hot
// swap), and the log lines. The HTTP and WebSocket adapters (app.ts, ws-server.ts) call the
// methods here, which hand the inputs to the station.
//
// Flow of one peer status frame: PeerLink (socket) -> station.handle_link_frame (group key,
// parse, id binding, key filter, merge) -> engine.handle_peer_status -> a tick soon after
// (wake) -> station.handle_tick -> engine.tick -> core (guarded) -> shaper -> EVSE pilot ->
// the new document -> station.poll_frame -> 'frame' -> StatusStream -> every /ws client.
import { EventEmitter } from 'node:events';
import { Core } from '../core.js';
import type { Engine } from '../engine/engine.js';
import { default_timing, type Clock, type ProtocolTiming, type EngineEvent } from '../engine/types.js';
import { SimEvse, default_car, type CarSpec, type EvseSpec } from '../evse/sim-evse.js';
import { JsonStore } from './store.js';
import { PeerLink } from './peer-link.js';
import { Discovery, type DiscoveredPeer } from './mdns.js';
import { silent_logger, type Logger } from './log.js';
import { type NodeConfig, ConfigError, merge_config, restore_config, check_config_rules, node_version } from './config.js';
import type { UpstreamEvse } from './upstream.js';
import { parse_stored_peers, parse_stored_alone, parse_stored_leaving } from './peers.js';
import type { KeyObject } from 'node:crypto';
import { ModuleManager, type ModuleStatus } from '../modules/manager.js';
import { PackageError, type Manifest } from '../modules/package.js';
import type { Timers, ConfigSync } from '../station/config-sync.js';
import type { GroupAuth } from '../station/peer-auth.js';
import { Station, PeerError, parse_stored_carry, type PeerTransport, type StationPorts } from '../station/station.js';
import { SimEvseAdapter, supervision_interval_s, type EvseAdapter } from '../station/evse.js';
import type { RapiEvse, RapiEvseOptions, RapiTarget } from '../evse/rapi.js';
// The RAPI driver (serial ports, child processes, TCP) is loaded only for a real controller (create()).
type RapiModule = typeof import('../evse/rapi.js');
import type { CurrentShaper } from '../station/shaper.js';
import type { StatusDocument } from '../station/wire.js';
import { http_text } from './http-client.js';

export const real_clock: Clock = { now_ms: () => Date.now() };
// Whole milliseconds that never step back when the wall clock is set; starts near the wall clock.
export const real_monotonic_clock: Clock = { now_ms: () => Math.floor(performance.timeOrigin + performance.now()) };

export const real_timers: Timers = {
  set: (fn, ms) => { const t = setTimeout(fn, ms); t.unref?.(); return t; },
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

// Requests to peers over HTTP (node:http, not fetch: http-client.ts), with a timeout; the
// station signs and checks them.
export const fetch_transport: PeerTransport = {
  request(request, done) {
    http_text(request.host, request.path, { method: request.method, headers: request.headers, body: request.body, timeout_ms: request.timeout_ms })
      .then((answer) => done(answer), (error) => done({ error: describe_fetch_error(error) }));
  },
};

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
  clock?: Clock; // the wall clock (default: the system's)
  monotonic?: Clock; // default: the same as clock when one is given (tests), else the system's monotonic clock
  timing?: Partial<ProtocolTiming>;
  evse?: Partial<EvseSpec>;
  car?: Partial<CarSpec>;
  core?: Core;
  backoff_initial_ms?: number;
  backoff_max_ms?: number;
  module_keys?: KeyObject[]; // trusted module-signing keys (hot swap); none: swaps are refused
  config_sync?: boolean; // false: differences are reported, nothing is adopted or pushed (config-sync.ts)
  sync_timers?: Timers;
  // The charge controller: the simulated one (default), or a real OpenEVSE over RAPI
  // (loadshare node --controller rapi:DEVICE | rapi:tcp://HOST:PORT; docs/rapi.md).
  controller?: RapiTarget | null;
  rapi?: Partial<Omit<RapiEvseOptions, 'target' | 'log'>>; // intervals and timeouts (tests)
}

export class Charger extends EventEmitter {
  readonly id: string;
  readonly station: Station;
  // The simulated controller, or null when a real one is driven over RAPI (`rapi`).
  readonly sim_evse: SimEvse | null;
  readonly rapi: RapiEvse | null;
  readonly clock: Clock;
  readonly monotonic: Clock;
  readonly log: Logger;
  private readonly store: JsonStore | null;
  private readonly links = new Map<string, PeerLink>(); // by host
  private discovery: Discovery | null = null;
  private tick_timer: NodeJS.Timeout | null = null;
  private tick_soon: NodeJS.Immediate | null = null;
  private running = false;
  private modules: ModuleManager | null = null;
  private rolling_back = false;

  private constructor(readonly options: ChargerOptions, core: Core, private readonly rapi_module: RapiModule | null) {
    super();
    this.id = options.id;
    this.clock = options.clock ?? real_clock;
    this.monotonic = options.monotonic ?? (options.clock ? options.clock : real_monotonic_clock);
    this.log = options.log ?? silent_logger;
    this.store = options.data_dir === null ? null : new JsonStore(options.data_dir, this.log);
    const config = this.load_config();
    // The controller's own supervision: silent WiFi side for this long (5 s with the default
    // timing, whatever heartbeat_timeout the config holds, as the ESP32 host) -> the failsafe
    // current. With a car lag of at most 5 s a dead engine's car is down within 10 s, inside the
    // core's reserve hold (ev_response + seen grace + message delay = 10 s by default).
    const supervision_s = supervision_interval_s(config.loadsharing_heartbeat_timeout, { ...default_timing, ...options.timing });
    this.rapi = options.controller && rapi_module ? new rapi_module.RapiEvse({ heartbeat_interval_s: supervision_s, ...options.rapi, target: options.controller, log: this.log }) : null;
    this.sim_evse = this.rapi ? null : new SimEvse({
      id: options.id, min_current_a: 6, max_current_a: 32, voltage_v: 240,
      heartbeat_interval_ms: supervision_s * 1000,
      heartbeat_current_a: 0, // set by the station from the config
      ...options.evse,
    }, { ...default_car, ...options.car }, this.monotonic.now_ms());
    const evse: EvseAdapter = this.rapi ?? new SimEvseAdapter(this.sim_evse!);
    const stored_peers = this.store?.read('peers') ?? null;
    const ports: StationPorts = {
      store: { write: (name, value) => this.store?.write(name, value) },
      transport: fetch_transport,
      timers: options.sync_timers ?? real_timers,
      links: { start: (host) => this.start_link(host), stop: (host) => this.stop_link(host) },
      wake: () => this.request_tick(),
      log: this.log,
    };
    this.station = new Station({
      id: options.id, listen_host: options.host, http_port: options.http_port,
      wall: this.clock, monotonic: this.monotonic, core,
      evse,
      config,
      peers: parse_stored_peers(stored_peers, (m) => this.log.warn('store', m)),
      alone_confirmed: parse_stored_alone(stored_peers),
      leaving: parse_stored_leaving(stored_peers, (m) => this.log.warn('store', m)),
      extra_peer_hosts: options.peers,
      carry: parse_stored_carry(this.store?.read('carry') ?? null),
      timing: options.timing,
      config_sync: options.config_sync,
      backoff_initial_ms: options.backoff_initial_ms, backoff_max_ms: options.backoff_max_ms,
    }, ports);
    if (this.rapi) {
      const rapi = this.rapi;
      this.station.add_status_fields(() => {
        const c = rapi.controller_status();
        // Upstream's own fields say whether the WiFi side reaches its controller.
        const up = c.reachable ? 1 : 0;
        return { evse_connected: up, rapi_connected: up, controller: `rapi:${c.target}`, controller_reachable: c.reachable, rapi_bad_checksums: c.link.bad_checksums, rapi_timeouts: c.link.timeouts, heartbeat_missed: c.supervision.missed_pulses };
      });
    }
  }

  // The simulated controller (tests, /sim/ev); a charger on a real controller has none.
  get evse(): SimEvse {
    if (!this.sim_evse) throw new Error(`this charger drives a real controller (rapi:${this.rapi && this.rapi_module ? this.rapi_module.describe_target(this.rapi_target()) : '?'}), not the simulated one`);
    return this.sim_evse;
  }

  private rapi_target(): RapiTarget {
    return this.options.controller!;
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
    const rapi_module = options.controller ? await import('../evse/rapi.js') : null;
    const charger = new Charger(options, core, rapi_module);
    charger.modules = modules;
    return charger;
  }

  get engine(): Engine {
    return this.station.engine;
  }

  get sync(): ConfigSync {
    return this.station.sync;
  }

  get shaper(): CurrentShaper {
    return this.station.shaper;
  }

  // Upstream OpenEVSE claims, override, limit, RAPI (upstream.ts): they may lower the pilot, never raise it.
  get upstream(): UpstreamEvse {
    return this.station.upstream;
  }

  // ---- lifecycle ----

  start(): void {
    if (this.running) return;
    this.running = true;
    this.rapi?.start();
    for (const record of this.station.peer_records()) this.start_link(record.host);
    if (this.options.mdns) {
      const config = this.station.raw_config();
      this.discovery = new Discovery({
        id: this.id, hostname: config.hostname, port: this.options.http_port, version: node_version,
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
    if (this.tick_timer) clearTimeout(this.tick_timer);
    if (this.tick_soon) clearImmediate(this.tick_soon);
    this.tick_timer = null;
    this.tick_soon = null;
    for (const link of this.links.values()) link.stop();
    this.links.clear();
    this.rapi?.stop();
    await this.discovery?.stop();
    this.discovery = null;
    // Writes are synchronous and durable (JsonStore.write), so the files are already flushed;
    // the station's last write makes sure the peers' learned ids are there too.
    this.station.stop();
  }

  started_at_ms(): number {
    return this.station.started_wall_ms;
  }

  self_address(): string {
    return this.station.self_address();
  }

  // ---- the periodic work ----

  tick(): void {
    if (this.tick_soon) { clearImmediate(this.tick_soon); this.tick_soon = null; }
    try {
      this.station.handle_tick();
      this.watch_module();
      for (const event of this.station.poll_events()) this.log_event(event);
      // The whole document after each decision, for listeners that publish fields (mqtt.ts).
      const doc = this.station.built_document();
      if (doc !== null && this.listenerCount('status') > 0) this.emit('status', doc);
      const frame = this.station.poll_frame();
      if (frame !== null) this.emit('frame', frame);
    } catch (error) {
      this.log.error('engine', `tick failed: ${(error as Error).stack ?? error}`);
    }
    if (this.running) {
      if (this.tick_timer) clearTimeout(this.tick_timer);
      const tick_ms = this.options.timing?.tick_interval_ms ?? 1000;
      const wait_ms = Math.min(tick_ms, Math.max(10, this.station.next_wake_ms() - this.monotonic.now_ms()));
      this.tick_timer = setTimeout(() => this.tick(), wait_ms);
    }
  }

  // Hot swap, step 5: a clean decision counts towards the running module's probation; a trap,
  // an error code or a broken invariant (the guard already dropped this charger to the
  // failsafe current) rolls back to the module before it.
  private watch_module(): void {
    if (!this.modules || this.rolling_back) return;
    const trip = this.station.engine.guard_trip_reason();
    if (trip === null) {
      this.modules.note_good_decision();
      return;
    }
    if (this.modules.running_ref() === 'builtin') return;
    this.rolling_back = true;
    void this.modules.report_failure(trip).then((core) => {
      this.station.handle_core(core);
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
    this.station.handle_core(core);
    this.log.info('module', `now running ${manifest.version} (counter ${manifest.counter}, policy ${manifest.policy}) on probation`);
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
      case 'carry_safe_start': this.log.warn('engine', `the module started safe: the carry it was handed is ${event.status.replace(/_/g, ' ')}`, { event: event.kind, status: event.status }); break;
      case 'config_inconsistent': this.log.warn('engine', `config differs from ${event.peers.map(name).join(', ')}`, { event: event.kind, peers: event.peers }); break;
    }
  }

  // ---- /status ----

  status_doc(): StatusDocument {
    return this.station.status_document();
  }

  set_status_inputs(inputs: { voltage?: number; shaper_live_pwr?: number; solar?: number; grid_ie?: number }): void {
    this.station.handle_status_inputs(inputs);
  }

  // More /status fields from outside the charger (the MQTT bridge's mqtt_connected).
  add_status_fields(fields: () => Record<string, unknown>): void {
    this.station.add_status_fields(fields);
  }

  // ---- /sim/ev ----

  set_car(car: { connected?: boolean; soc?: number; max_current?: number; lag_ms?: number }): CarSpec {
    return this.station.handle_car(car);
  }

  // ---- /config ----

  config_doc(): Record<string, unknown> {
    return this.station.config_document();
  }

  raw_config(): NodeConfig {
    return this.station.raw_config();
  }

  general_config_version(): number {
    return this.station.general_config_version();
  }

  // Validated by the route's schema already; the station checks the cross-field rules and
  // applies nothing unless everything is valid and stored.
  apply_config(changes: Partial<NodeConfig>): { config_version: number; msg: 'done' | 'no change' } {
    const hostname = this.station.raw_config().hostname;
    const result = this.station.handle_config_write(changes);
    if (hostname !== this.station.raw_config().hostname && this.discovery) {
      this.log.warn('mdns', 'hostname changed; the new name is advertised after a restart');
    }
    return result;
  }

  group_auth(): GroupAuth | null {
    return this.station.group_auth();
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

  // ---- peers ----

  peer_records(): Array<{ host: string; id: string | null; member_id: string; connected: boolean; status_at_ms: number | null; uncontrolled: boolean; refused: string | null }> {
    return this.station.peer_records();
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
    return this.station.is_self(host);
  }

  // POST /loadsharing/peers. Returns the upstream message; throws PeerError.
  // sender: the id a peer's signed echo came from (null for a person).
  add_peer(host: string, reciprocal: boolean, sender: string | null = null): Promise<'done' | 'already in group'> {
    return new Promise((resolve, reject) => {
      try {
        this.station.handle_join(host, reciprocal, resolve, sender);
      } catch (error) {
        reject(error);
      }
    });
  }

  // POST /loadsharing/peers with the newcomer's admin password: pairing (station.ts). Throws PeerError.
  pair_peer(host: string, credentials: { username: string; password: string }): Promise<'paired'> {
    return new Promise((resolve, reject) => {
      try {
        this.station.handle_pair(host, credentials, (result) => { if (result === 'paired') resolve(result); else reject(result); });
      } catch (error) {
        reject(error);
      }
    });
  }

  // POST /loadsharing/alone. Throws PeerError while members remain.
  confirm_alone(): void {
    this.station.handle_confirm_alone();
  }

  // DELETE /loadsharing/peers/:host. Throws PeerError.
  remove_peer(host: string, reciprocal: boolean, gone = false): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        this.station.handle_leave(host, reciprocal, resolve, gone);
      } catch (error) {
        reject(error);
      }
    });
  }

  // A joined peer connected to our /ws (it names itself in x-loadshare-host).
  peer_contacted(host: string): void {
    this.links.get(host)?.retry_now();
  }

  private start_link(host: string): void {
    if (!this.running || this.links.has(host)) return;
    const link = new PeerLink({
      host,
      station: this.station,
      log: this.log,
      backoff_initial_ms: this.options.backoff_initial_ms,
      backoff_max_ms: this.options.backoff_max_ms,
      silence_timeout_ms: () => Math.max(5000, this.station.raw_config().loadsharing_heartbeat_timeout * 1000),
    });
    this.links.set(host, link);
    link.start();
  }

  private stop_link(host: string): void {
    this.links.get(host)?.stop();
    this.links.delete(host);
  }
}

export function describe_fetch_error(error: unknown): string {
  const e = error as { cause?: { code?: string; message?: string }; code?: string; name?: string; message?: string };
  return e?.cause?.code ?? e?.cause?.message ?? e?.code ?? (e?.name === 'TimeoutError' || e?.name === 'AbortError' ? 'timeout' : e?.message ?? String(error));
}

export { ConfigError, PeerError };
