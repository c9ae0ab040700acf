// One charger's whole behaviour apart from sockets and timers: the engine (the protocol state
// and the core's decisions), the EVSE behind its adapter and the current shaper, the group's
// membership and the binding of hosts to ids, the status wire format (the document, deltas,
// merging, the key filter), config sync's decisions and the group key's checks.
//
// The charger node (node/charger.ts) wraps it in fastify, ws, fetch, mDNS, files and real
// timers; the simulator (sim/) drives the same class with a virtual clock and network. The
// call order is documented once, in docs/architecture.md ("The station"):
//
//   inputs   handle_tick (the wake time came), handle_link_status / handle_link_frame (a
//            peer's GET /status answer or /ws frame, as text), handle_link_state, the HTTP
//            inputs that concern the group (handle_config_write, handle_config_push,
//            handle_join, handle_leave, handle_status_inputs, handle_car), handle_core;
//   outputs  poll_frame (the /ws delta to send to every subscriber), poll_events (what the
//            engine noticed), next_wake_ms (when to call handle_tick again), and the ports:
//            the EVSE adapter (the pilot), store (things to persist, written before they are
//            in force), transport (requests to peers, answered through a callback), timers
//            (config sync's retries), links (peer links to open or close), wake (an input made
//            a decision due before next_wake_ms).
//
// Time comes only from the two injected clocks: `wall` where wall time is the meaning (the
// group's rotation epochs, config timestamps, the group key's signatures, the document's
// `time`), `monotonic` for everything measured as a duration (every protocol timer in the
// engine, the EVSE, the shaper's staleness, energy, uptime, wake-ups, sync backoff).
import type { Core, Decision } from '../core.js';
import { Engine } from '../engine/engine.js';
import type { Clock, EngineEvent, LoadSharingConfig, LocalEvseStatus, ProtocolTiming } from '../engine/types.js';
import { MEMBERS_MAX, CARRY_BYTES } from '../abi.js';
import type { Logger } from '../node/log.js';
import { type NodeConfig, merge_config, to_loadsharing_config, public_config } from '../node/config.js';
import { type StoredPeer, check_host, check_peer_id, placeholder_id } from '../node/peers.js';
import { is_self_host } from '../node/addresses.js';
import { push_header } from '../node/write-rules.js';
import { ConfigSync, same_member, type MemberRef, type Timers, type PeerAnswer, type PeerFailure, type PushReply } from './config-sync.js';
import { GroupAuth, is_signed, type AuthResult } from './peer-auth.js';
import { CurrentShaper } from './shaper.js';
import { randomBytes } from 'node:crypto';
import { heartbeat_current_a, type EvseAdapter } from './evse.js';
import type { CarSpec } from '../evse/sim-evse.js';
import { UpstreamEvse } from '../node/upstream.js';
import { answers_like_openevse } from '../node/uncontrolled.js';
import {
  build_status_document, status_delta, merge_status_into, keep_known_keys, changes_state, is_object, type StatusDocument,
} from './wire.js';

// ---- ports: what the station asks of its host ----

export interface PeerRequest {
  host: string; // host:port
  method: 'GET' | 'POST' | 'DELETE';
  path: string; // with the query
  headers: Record<string, string>;
  body: string; // '' for none
  timeout_ms: number;
}

export interface PeerResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

export interface PeerTransport {
  // Sends one request; done is called exactly once, with the answer or why there is none.
  request(request: PeerRequest, done: (result: PeerResponse | PeerFailure) => void): void;
}

export interface StationStore {
  // Durable before it returns; throws when it cannot write (then nothing is put in force).
  write(name: 'config' | 'peers' | 'carry', value: unknown): void;
}

export interface LinkPort {
  start(host: string): void; // subscribe to this peer's status (GET /status, then /ws)
  stop(host: string): void;
}

export interface StationPorts {
  store: StationStore;
  transport: PeerTransport;
  timers: Timers;
  links: LinkPort;
  // A decision is due at this monotonic time, earlier than next_wake_ms() said before.
  wake(at_ms: number): void;
  log: Logger;
}

export interface StationOptions {
  id: string;
  listen_host: string; // the address peers reach us on (also what we tell them for reciprocal joins)
  http_port: number;
  wall: Clock;
  monotonic: Clock;
  core: Core;
  evse: EvseAdapter;
  config: NodeConfig; // as restored and checked by the host
  peers: StoredPeer[]; // as stored
  extra_peer_hosts?: string[]; // joined at start (--peer), checked here
  timing?: Partial<ProtocolTiming>;
  config_sync?: boolean; // false: differences are reported, nothing is adopted or pushed
  backoff_initial_ms?: number;
  backoff_max_ms?: number;
  request_timeout_ms?: number;
  status_period_ms?: number; // publish at least this often (default: the engine's tick interval)
  react_ms?: number; // a peer's changed status makes a decision due this much later (default 0)
  // The module's carry as stored before a restart (parse_stored_carry), handed back to it: the
  // module decides what it may continue (a restarted monotonic clock keeps only what does not
  // depend on time: that this charger was in a group, the most conservative settings told).
  carry?: Uint8Array | null;
  // A person set this charger up on its own, as stored (null or absent: it is when it starts
  // with no members). Stored with the peers, so a charger removed from its group by a peer's
  // config does not restart as one set up alone (rule 8).
  alone_confirmed?: boolean | null;
  // Removed members that had fallen silent, as stored with the peers: still reserved (rule 8).
  leaving?: StoredPeer[];
  clock_epoch?: number; // names the monotonic clock's origin (default: a new one per station)
  carry_save_interval_ms?: number; // how often the carry is stored (default 10 s; and at stop)
}

// The stored carry: the module's bytes, base64, as the host handed them out. Null when there
// is none or it is not a carry's size (the module then makes the safe start).
export function parse_stored_carry(value: unknown): Uint8Array | null {
  if (typeof value !== 'object' || value === null || typeof (value as { carry?: unknown }).carry !== 'string') return null;
  const bytes = Buffer.from((value as { carry: string }).carry, 'base64');
  return bytes.length === CARRY_BYTES ? new Uint8Array(bytes) : null;
}

// ---- domain errors (the HTTP layer maps them to status codes) ----

export class PeerError extends Error {
  constructor(readonly kind: 'invalid' | 'not_found' | 'conflict', message: string) {
    super(message);
  }
}

// ---- the peer links' state, as the station keeps it ----

interface PeerRecord {
  host: string;
  id: string | null;
  // Removed from the group but still followed: the engine keeps a removed member that was
  // heard as leaving (rule 8: reserved while heard and through its hold), so its status must
  // keep arriving until the engine forgets it.
  leaving: boolean;
  connected: boolean;
  status_at_ms: number | null; // wall time of the last message (display)
  uncontrolled: boolean; // answers like OpenEVSE without a loadsharing block (node/uncontrolled.ts)
  known: StatusDocument; // the peer's filtered document: the first full one merged with every delta since
  // Identity is sticky (issue 15 D3): deltas count only on top of a whole document that
  // passed the identity checks (and the group key's). A refused message (a bad or foreign id,
  // our own id, a signature that fails) clears this until such a document arrives again, so a
  // refused peer is never heard (reserved) rather than heard through its later deltas.
  trusted: boolean;
  refused: string | null; // why its last message was refused (shown on the page), null when taken
  taken_order: number; // the newest request (LinkCheck.order) a document of this peer was taken under
  // A document with our block was once taken from it: it runs load sharing, so an unsigned
  // document in its name is never taken as one from a charger without load sharing.
  ever_block: boolean;
  // Its documents are taken unsigned in a keyed group: a charger without load sharing (it has
  // no key to sign with). What they say may only raise its reserve (station_doc).
  unsigned: boolean;
  // Its hardware maximum (upstream's /config max_current_hard) when it runs without load
  // sharing: its /status max_current is upstream's soft one (max_current_soft or a claim),
  // which its user may raise at any moment. hard_max_asked: asked, or answered.
  hard_max_a: number | null;
  hard_max_asked: boolean;
}

// A peer's record before anything was heard from it: one place, so a new field cannot be
// forgotten in one of the ways a record is made (added, restored as leaving).
function new_record(host: string, id: string | null, leaving: boolean): PeerRecord {
  return {
    host, id, leaving, connected: false, status_at_ms: null, uncontrolled: false, known: {}, trusted: false, refused: null,
    taken_order: 0, ever_block: false, unsigned: false, hard_max_a: null, hard_max_asked: false,
  };
}

// A request to a peer prepared by link_request: the headers to send and what the answer is
// checked against (the group key and the request's nonce, when signed).
export interface LinkRequest {
  headers: Record<string, string>;
  check: LinkCheck;
}

export class LinkCheck {
  // order: when this station asked (counts up per station). A peer's answers and frames are
  // taken in the order they were asked for, never an older one over a newer one (finding A):
  // two GET /status answers may overtake each other, and frames of a session that was
  // replaced may still arrive after the new one's whole document.
  constructor(readonly host: string, readonly record: object, readonly auth: GroupAuth | null, readonly nonce: string, readonly order = 0) {}
}

// A /ws session as its client sees it: frames count up under the handshake's nonce.
export class LinkSession {
  last_ctr = 0;
  first = true; // the server's first frame is its full document
  malformed_count = 0;
  constructor(readonly check: LinkCheck) {}
}

// A /ws session as its server sees it: a peer that signed its handshake gets signed frames.
// refused: why a signed handshake was not taken (the client then gets plain frames).
export class Subscriber {
  ctr = 0;
  // peer_id: the sender named in the signed handshake; the frames are signed for it.
  constructor(readonly nonce: string | null, readonly refused: string | null = null, readonly peer_id: string | null = null) {}
}

export type FrameResult = 'ok' | 'ignored' | 'refused';

export class Station {
  readonly id: string;
  readonly engine: Engine;
  readonly shaper: CurrentShaper;
  readonly evse: EvseAdapter;
  // The upstream OpenEVSE side (node/upstream.ts): claims, override, limit, divert, RAPI.
  // One more term in the shaper's min: it may lower the pilot, never raise it.
  readonly upstream: UpstreamEvse;
  private claims_paused = false;
  private total_energy_wh = 0;
  private readonly status_extras: Array<() => Record<string, unknown>> = [];
  readonly sync: ConfigSync;
  readonly wall: Clock;
  readonly monotonic: Clock;
  readonly log: Logger;
  readonly started_wall_ms: number;
  readonly started_ms: number; // monotonic
  private config: NodeConfig;
  private config_counter = 1; // upstream's /status config_version: any /config change
  private link_order = 0; // the last LinkCheck.order given
  private readonly peers = new Map<string, PeerRecord>(); // by host: the members, and members leaving
  private leaving_count = 0;
  private readonly timing_tick_ms: number;
  private readonly status_period_ms: number;
  private readonly react_ms: number;
  private heartbeat_set_a: number | null = null; // the heartbeat current last set on the controller
  private auth: { key: string; auth: GroupAuth } | null = null;
  private voltage_v: number;
  private session_start_ms: number | null = null;
  private session_energy_wh = 0;
  private last_energy_ms: number;
  private max_current_a: number;
  private decision_due_ms: number | null = null;
  private events: EngineEvent[] = [];
  // Publishing: the document built at the last tick, and the one the last frame brought
  // every subscriber to (deltas are computed from it; a new subscriber starts from it).
  private built_doc: StatusDocument | null = null;
  private sent_doc: StatusDocument | null = null;
  private sent_text: string | null = null;
  private last_publish_ms = -Infinity;
  private ls_config: { from: NodeConfig; config: LoadSharingConfig } | null = null;
  private carry_saved_ms = -Infinity;

  constructor(readonly options: StationOptions, private readonly ports: StationPorts) {
    this.id = options.id;
    this.wall = options.wall;
    this.monotonic = options.monotonic;
    this.log = ports.log;
    this.evse = options.evse;
    this.config = options.config;
    const now_ms = this.monotonic.now_ms();
    this.started_ms = now_ms;
    this.started_wall_ms = this.wall.now_ms();
    this.last_energy_ms = now_ms;
    this.timing_tick_ms = options.timing?.tick_interval_ms ?? 1000;
    this.status_period_ms = options.status_period_ms ?? this.timing_tick_ms;
    this.react_ms = options.react_ms ?? 0;
    const local = this.evse.status(now_ms);
    this.voltage_v = local.voltage;
    this.max_current_a = local.max_current;
    this.set_heartbeat_current();
    this.shaper = new CurrentShaper(this.shaper_inputs());
    this.upstream = new UpstreamEvse({
      config: () => this.config,
      write_config: (changes) => { this.handle_config_write(changes); },
      now_ms: () => this.wall.now_ms(), // divert readings' freshness (minutes) and local_time
      evse: () => {
        const t_ms = this.monotonic.now_ms();
        // Field by field, not by spread: asked several times a tick, and a spread of the
        // controller's status falls on V8's slow path once its shapes vary.
        const s = this.read_evse(t_ms);
        return {
          vehicle: s.vehicle, state: s.state, amp_ma: s.amp_ma, voltage: this.voltage_v, pilot: s.pilot,
          min_current: s.min_current, max_current: s.max_current, demand: s.demand, elapsed_s: this.session_elapsed_s(t_ms),
          session_wh: this.session_energy_wh, total_wh: this.total_energy_wh,
        };
      },
      loadsharing_limit_a: () => this.shaper.loadsharing_limit(),
      changed: () => { this.apply_pilot(); this.decide_within(0); },
    });
    // The joined peers, checked before the engine exists: the engine is told its members when
    // it is made (with none, it takes this charger for one set up on its own: rule 8).
    const initial: StoredPeer[] = [];
    const known_ids = new Set<string>();
    const take = (host: string, id: string | null) => {
      if (initial.some((p) => p.host === host)) return;
      const kept = id !== null && id !== this.id && !known_ids.has(id) ? id : null;
      if (kept !== null) known_ids.add(kept);
      initial.push({ host, id: kept });
    };
    for (const stored of options.peers) {
      // A self-join stored before aliases were recognised (addresses.ts) would be a phantom member.
      if (this.is_self(stored.host)) { this.log.warn('peer', `stored peer ${stored.host} is this charger; dropped`); continue; }
      take(stored.host, stored.id);
    }
    for (const host of options.extra_peer_hosts ?? []) {
      const problem = this.check_new_host(host);
      if (problem) { this.log.warn('peer', `--peer ${host} ignored: ${problem}`); continue; }
      take(host, null);
    }
    // The engine keeps every protocol timer on the monotonic clock; the wall clock is for the
    // group's rotation epochs and display.
    this.engine = new Engine({
      id: options.id,
      core: options.core,
      clock: this.wall,
      monotonic: this.monotonic,
      config: to_loadsharing_config(this.config),
      local,
      members: initial.map(member_id),
      alone_confirmed: options.alone_confirmed ?? undefined,
      carry: options.carry ?? null,
      clock_epoch: options.clock_epoch,
      timing: options.timing,
      shaper: { set_loadsharing_limit_a: (limit_a) => { this.shaper.set_loadsharing_limit_a(limit_a); this.apply_pilot(); } },
    });
    this.sync = new ConfigSync(this.sync_host(), {
      enabled: options.config_sync ?? true, timers: ports.timers, request_timeout_ms: options.request_timeout_ms,
      backoff_initial_ms: options.backoff_initial_ms, backoff_max_ms: options.backoff_max_ms,
    });
    for (const stored of initial) this.add_record(stored);
    for (const stored of options.leaving ?? []) this.restore_leaving(stored);
    this.save_peers();
  }

  private restore_leaving(stored: StoredPeer): void {
    if (stored.id === null || stored.id === this.id || this.peers.has(stored.host) || this.is_self(stored.host)) return;
    if ([...this.peers.values()].some((r) => r.id === stored.id)) return;
    const record = new_record(stored.host, stored.id, true);
    this.peers.set(stored.host, record);
    this.leaving_count += 1;
    this.engine.restore_leaving(stored.id);
    this.ports.links.start(stored.host); // to hear it say it was set up on its own
    this.log.info('peer', `${stored.host}: removed but silent before the restart: still reserved until it says it is on its own, or a person says it is gone`);
  }

  // The host stops driving this station (shutdown): config sync stops retrying.
  stop(): void {
    this.sync.stop();
    this.save_peers();
    this.save_carry();
  }

  // The module's memory, stored so that a restart does not forget that this charger was in a
  // group (rule 8) or the settings it was told. A failed write is logged; the carry in memory
  // stays in force.
  private save_carry(): void {
    const bytes = this.engine.carry_bytes();
    if (bytes === null) return;
    this.carry_saved_ms = this.monotonic.now_ms();
    try {
      this.ports.store.write('carry', { carry: Buffer.from(bytes).toString('base64') });
    } catch (error) {
      this.log.error('store', `cannot write carry.json: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }

  self_address(): string {
    return `${this.options.listen_host}:${this.options.http_port}`;
  }

  // ---- the periodic work ----

  // The wake time came (or a decision was due): decide, feed the controller's supervision,
  // account energy, apply the pilot, and build the document to publish.
  handle_tick(): Decision {
    const now_ms = this.monotonic.now_ms();
    this.decision_due_ms = null;
    // A reached limit or eco mode pauses before the engine hears of demand.
    this.upstream.evaluate(this.session_facts(now_ms));
    const local = this.read_evse(now_ms);
    this.engine.handle_local_status(local);
    const decision = this.engine.tick();
    // The group may have agreed on a higher failsafe current, or been told a lower one.
    this.set_heartbeat_current(true);
    // Only a tick that completed feeds the controller's supervision: a broken engine lets
    // the controller fall to its heartbeat current by itself.
    this.evse.heartbeat(now_ms);
    this.account_energy(now_ms, local.amp_ma);
    this.apply_pilot();
    for (const event of this.engine.poll_events()) this.events.push(event);
    if (now_ms - this.carry_saved_ms >= (this.options.carry_save_interval_ms ?? 10000)) this.save_carry();
    if (this.leaving_count > 0) this.forget_left();
    this.built_doc = this.status_document();
    this.last_publish_ms = now_ms;
    return decision;
  }

  // When handle_tick is due next (monotonic): the engine's own wake-up (the periodic tick, or
  // a committed current that falls), a decision an input made due, the status period.
  next_wake_ms(): number {
    let wake_ms = Math.min(this.engine.next_wake_ms(), this.last_publish_ms + this.status_period_ms);
    if (this.decision_due_ms !== null) wake_ms = Math.min(wake_ms, this.decision_due_ms);
    return wake_ms;
  }

  // What the engine noticed since the last call (peers online/offline, allocation changes...).
  poll_events(): EngineEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  // The /ws frame for every subscriber: what changed since the last frame (the whole
  // document the first time), or null when nothing did.
  poll_frame(): string | null {
    const doc = this.built_doc;
    if (doc === null || doc === this.sent_doc) return null;
    const delta = this.sent_doc === null ? doc : status_delta(this.sent_doc, doc);
    this.sent_doc = doc;
    this.sent_text = null;
    return Object.keys(delta).length === 0 ? null : JSON.stringify(delta);
  }

  // The document the last handle_tick built (null before the first).
  built_document(): StatusDocument | null {
    return this.built_doc;
  }

  // The document the next delta applies to: what a new subscriber gets first.
  status_text(): string {
    if (this.sent_doc === null) {
      this.built_doc ??= this.status_document();
      this.poll_frame();
    }
    this.sent_text ??= JSON.stringify(this.sent_doc);
    return this.sent_text;
  }

  // GET /status: the document as of now.
  status_document(): StatusDocument {
    const now_ms = this.monotonic.now_ms();
    const s = this.read_evse(now_ms);
    // A claim's pause reads as upstream's (sleeping, or disabled after RAPI $FD) while a car is there.
    const evse = this.claims_paused && s.vehicle === 1 ? { ...s, state: this.upstream.paused_state() } : s;
    return build_status_document({
      wall_now_ms: this.wall.now_ms(),
      uptime_s: Math.floor((now_ms - this.started_ms) / 1000),
      elapsed_s: this.session_elapsed_s(now_ms),
      ipaddress: this.options.listen_host,
      evse,
      voltage_v: this.voltage_v,
      battery_level_pct: this.evse.battery_level_pct(now_ms),
      session_energy_wh: this.session_energy_wh,
      total_energy_wh: this.total_energy_wh,
      shaper: this.shaper.status(now_ms),
      upstream: this.upstream.status_fields(),
      extras: this.status_extras.length === 0 ? null : Object.assign({}, ...this.status_extras.map((f) => f())),
      config_counter: this.config_counter,
      block: this.engine.poll_status(),
    });
  }

  private read_evse(now_ms: number): LocalEvseStatus {
    const s = this.evse.status(now_ms);
    this.max_current_a = s.max_current;
    return s;
  }

  // More /status fields from outside the station (the MQTT bridge's mqtt_connected).
  add_status_fields(fields: () => Record<string, unknown>): void {
    this.status_extras.push(fields);
  }

  private session_elapsed_s(now_ms: number): number {
    return this.session_start_ms === null ? 0 : Math.floor((now_ms - this.session_start_ms) / 1000);
  }

  private session_facts(now_ms: number) {
    const soc_pct = this.evse.battery_level_pct(now_ms);
    return { elapsed_s: this.session_elapsed_s(now_ms), energy_wh: this.session_energy_wh, soc_pct, range_km: null };
  }

  // The pilot is the shaper's limit, which is capped by the engine's load-sharing limit and
  // by the user's claims (upstream: one more term in the min; a paused charger asks for nothing).
  private apply_pilot(): void {
    const now_ms = this.monotonic.now_ms();
    this.shaper.set_claimed_limit_a(this.upstream.claimed_limit_a());
    if (this.upstream.paused() !== this.claims_paused) {
      this.claims_paused = this.upstream.paused();
      this.evse.set_user_paused(now_ms, this.claims_paused);
    }
    this.evse.set_pilot_a(now_ms, this.shaper.limit_a(now_ms, { amp_ma: 0, voltage: this.voltage_v, min_current: 0, max_current: this.max_current_a }));
  }

  private evse_now(now_ms: number) {
    return { ...this.read_evse(now_ms), voltage: this.voltage_v };
  }

  // The energy of the session since the last call, at the current the controller measures now.
  private account_energy(now_ms: number, amp_ma: number): void {
    const dt_ms = now_ms - this.last_energy_ms;
    this.last_energy_ms = now_ms;
    if (this.session_start_ms === null || dt_ms <= 0) return;
    const wh = (amp_ma / 1000) * this.voltage_v * dt_ms / 3600000;
    this.session_energy_wh += wh;
    this.total_energy_wh += wh;
  }

  // An input changed what the next decision sees: decide within delay_ms.
  private decide_within(delay_ms: number): void {
    const at_ms = this.monotonic.now_ms() + delay_ms;
    if (this.decision_due_ms !== null && this.decision_due_ms <= at_ms) return;
    this.decision_due_ms = at_ms;
    this.ports.wake(at_ms);
  }

  // ---- local inputs ----

  // POST /status: the house's live power for the shaper, the measured voltage.
  handle_status_inputs(inputs: { voltage?: number; shaper_live_pwr?: number; solar?: number; grid_ie?: number }): void {
    const now_ms = this.monotonic.now_ms();
    if (inputs.voltage !== undefined) this.voltage_v = inputs.voltage;
    if (inputs.shaper_live_pwr !== undefined) this.shaper.set_live_pwr(now_ms, inputs.shaper_live_pwr, this.evse_now(now_ms));
    if (inputs.solar !== undefined) this.upstream.set_divert_input('solar', inputs.solar); // eco mode (upstream divert)
    if (inputs.grid_ie !== undefined) this.upstream.set_divert_input('grid_ie', inputs.grid_ie);
    this.apply_pilot();
    this.decide_within(0);
  }

  // POST /sim/ev: plug, unplug or change the simulated car.
  handle_car(car: { connected?: boolean; soc?: number; max_current?: number; lag_ms?: number }): CarSpec {
    const sim = this.evse.car;
    if (!sim) throw new Error('this charger has no simulated car');
    const now_ms = this.monotonic.now_ms();
    const was_connected = sim.spec().connected;
    const change: Partial<CarSpec> = {};
    if (car.connected !== undefined) change.connected = car.connected;
    if (car.soc !== undefined) change.soc_pct = car.soc;
    if (car.max_current !== undefined) change.max_current_a = car.max_current;
    if (car.lag_ms !== undefined) change.lag_ms = car.lag_ms;
    this.account_energy(now_ms, this.read_evse(now_ms).amp_ma);
    sim.set(now_ms, change);
    const now_connected = sim.spec().connected;
    if (now_connected && !was_connected) { this.session_start_ms = now_ms; this.session_energy_wh = 0; }
    if (!now_connected) this.session_start_ms = null;
    if (was_connected && !now_connected) this.upstream.session_ended(); // auto-release claims and limits (upstream)
    if (now_connected !== was_connected) this.log.info('evse', now_connected ? 'car plugged in' : 'car unplugged');
    this.engine.handle_local_status(this.read_evse(now_ms));
    this.decide_within(0);
    return sim.spec();
  }

  // The controller changed by itself (a car plugged in the simulator, the user paused it).
  handle_evse_changed(): void {
    this.engine.handle_local_status(this.read_evse(this.monotonic.now_ms()));
    this.decide_within(0);
  }

  // A verified module swap (hot swap): the next decision uses it.
  handle_core(core: Core): void {
    this.engine.handle_core(core);
    this.decide_within(0);
  }

  // ---- config ----

  raw_config(): NodeConfig {
    return { ...this.config };
  }

  general_config_version(): number {
    return this.config_counter;
  }

  config_document(): Record<string, unknown> {
    return { ...public_config(this.config), ...this.upstream.config_fields(), loadsharing_members: this.sync.member_list() };
  }

  // A user's write (POST /config), validated by the route's schema already; the cross-field
  // rules run here. Nothing is applied unless everything is valid and stored. Throws
  // ConfigError naming the field.
  handle_config_write(changes: Partial<NodeConfig>): { config_version: number; msg: 'done' | 'no change' } {
    const result = merge_config(this.config, changes, Math.floor(this.wall.now_ms() / 1000));
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
      // Sessions opened under the old key can only be mended by a new handshake.
      for (const record of this.peers.values()) { this.ports.links.stop(record.host); this.ports.links.start(record.host); }
    }
    if (result.group_changed) {
      this.log.info('config', `group config version ${before.loadsharing_config_version} -> ${this.config.loadsharing_config_version}`);
      if (this.sync.enabled) this.sync.push_all();
    }
    return { config_version: this.config_counter, msg: 'done' };
  }

  // A peer's config push (POST /config with a version and a member list). auth: the request's
  // signature check, null when the group has no key.
  handle_config_push(body: unknown, auth: AuthResult | null, remote: string): PushReply {
    return this.sync.receive_push(body, auth, remote);
  }

  // Stores and applies a whole config (already checked): the store first, so that nothing is
  // in force that would not survive a restart.
  private install_config(next: NodeConfig): void {
    this.ports.store.write('config', next);
    this.config = next;
    this.config_counter += 1;
    const now_ms = this.monotonic.now_ms();
    this.engine.handle_config(to_loadsharing_config(this.config));
    this.shaper.configure(this.shaper_inputs(), this.evse_now(now_ms));
    this.set_heartbeat_current();
    this.decide_within(0);
  }

  private shaper_inputs() {
    return { enabled: this.config.current_shaper_enabled, max_pwr_w: this.config.current_shaper_max_pwr, data_maxinterval_s: this.config.current_shaper_data_maxinterval };
  }

  // The config's load-sharing fields, made once per config put in force (asked every tick).
  private loadsharing_config(): LoadSharingConfig {
    if (this.ls_config?.from !== this.config) this.ls_config = { from: this.config, config: to_loadsharing_config(this.config) };
    return this.ls_config.config;
  }

  // Over the members, this charger and those leaving included (evse.ts), and from the
  // smallest failsafe current the group has told (rule 8's settings, the engine's last
  // decision) when that is below this charger's own: the others reserve a member they have
  // lost at the failsafe current they know, so a raise of it written here binds this
  // charger's controller only once the group agrees (fuzz seed 12511300: 8 A written on c4
  // as it crashed; its controller fell to 7 A where the others reserved it 6 A).
  private heartbeat_current_a(): number {
    // (none before the engine exists, at boot: this charger's own)
    const told_a = (this.engine as Engine | undefined)?.last_decision()?.settings.failsafe_safe_current;
    return heartbeat_current_a(this.loadsharing_config(), this.peers.size + 1, told_a);
  }

  // At boot, with every config put in force and every member change; after a decision only
  // when the current changed.
  private set_heartbeat_current(only_if_changed = false): void {
    const current_a = this.heartbeat_current_a();
    if (only_if_changed && current_a === this.heartbeat_set_a) return;
    this.heartbeat_set_a = current_a;
    this.evse.set_heartbeat_current_a(current_a);
  }

  // ---- the group key ----

  group_auth(): GroupAuth | null {
    const key = this.config.loadsharing_group_key;
    if (key === '') return null;
    if (this.auth?.key !== key) this.auth = { key, auth: new GroupAuth(key, this.wall) };
    return this.auth.auth;
  }

  // A request that reached us: its signature, when it has one and the group has a key; null
  // when the group has no key; undefined when it is not signed (the route decides).
  check_request(headers: Record<string, string | string[] | undefined>, method: string, url: string, body: string): AuthResult | null | undefined {
    const auth = this.group_auth();
    if (auth === null) return null;
    if (!is_signed(headers)) return undefined;
    return auth.verify_request(headers, method, url, body, (to) => this.is_me(to));
  }

  // The headers that prove our answer to a correctly signed request (peer-auth.ts).
  sign_response(check: AuthResult | null | undefined, status: number, text: string): Record<string, string> {
    const auth = this.group_auth();
    if (!check || !check.ok || auth === null) return {};
    return auth.sign_response(check.nonce, status, text);
  }

  // A signed request's destination names this charger: its id, or any spelling of its address.
  is_me(to: string): boolean {
    return to === this.id || this.is_self(to);
  }

  // What a signed request to the charger at host is signed for: its id once we know it (a
  // member, or a removed one config sync still tells), else its address.
  private destination(host: string): string {
    return this.peers.get(host)?.id ?? this.sync.known_id(host) ?? host;
  }

  // ---- requests to peers ----

  // One request to a peer through the transport, signed with the group key when the group has
  // one (the answer's signature is then checked). Never with the user's credentials: a peer is
  // trusted with the key only, and a stranger posing as a peer must learn nothing (issue 15 D1).
  request(host: string, method: 'GET' | 'POST' | 'DELETE', path: string, body: string, timeout_ms: number,
    done: (result: PeerAnswer | PeerFailure) => void): void {
    const headers: Record<string, string> = {};
    if (body !== '') headers['content-type'] = 'application/json';
    if (method === 'POST' && path === '/config') headers[push_header] = '1'; // a push, not a user's write (write-rules.ts)
    const auth = this.group_auth();
    const signed = auth?.sign_request(method, path, body, this.id, this.destination(host)) ?? null;
    if (signed) Object.assign(headers, signed.headers);
    this.ports.transport.request({ host, method, path, headers, body, timeout_ms }, (result) => {
      if ('error' in result) { done(result); return; }
      const auth_error = auth && signed ? auth.verify_response(result.headers, signed.nonce, result.status, result.text) : null;
      done({ status: result.status, text: result.text, auth_error });
    });
  }

  // ---- the links: this station as a client of its peers' status ----

  // The headers for GET /status or the /ws handshake to a joined peer, and what its answer
  // is checked against. Null: the host is not (or no longer) a member.
  link_request(host: string, path: '/status' | '/ws'): LinkRequest | null {
    const record = this.peers.get(host);
    if (!record) return null;
    const headers: Record<string, string> = { 'x-loadshare-host': this.self_address() };
    const auth = this.group_auth();
    let nonce = '';
    if (auth) {
      const signed = auth.sign_request('GET', path, '', this.id, record.id ?? host);
      Object.assign(headers, signed.headers);
      nonce = signed.nonce;
    }
    return { headers, check: new LinkCheck(host, record, auth, nonce, ++this.link_order) };
  }

  // A peer's answer to GET /status (the first thing a link does): null when it was taken,
  // else why not (the link retries later).
  handle_link_status(check: LinkCheck, response: PeerResponse): string | null {
    if (response.status < 200 || response.status > 299) return `GET /status answered ${response.status}`;
    if (check.auth) {
      const problem = check.auth.verify_response(response.headers, check.nonce, response.status, response.text);
      if (problem && this.take_unsigned(this.current(check), problem === 'response not signed', parse_object(response.text), true)) {
        // A charger without load sharing in a keyed group: taken, reserved (take_unsigned).
      } else if (problem) {
        // Not from a member of the group (or tampered with): ignored, the peer stays offline.
        this.sync.count_auth_failure(check.host, `GET /status: ${problem}`);
        this.distrust(this.current(check), 'not paired: its status is not signed with the group key');
        return `GET /status not authenticated (${problem})`;
      } else {
        const record = this.current(check);
        if (record) record.unsigned = false;
      }
    }
    const doc = parse_object(response.text);
    if (doc === null) return 'GET /status is not a JSON object';
    const record = this.current(check);
    if (record && check.order < record.taken_order) return 'an answer older than one already taken';
    if (record) {
      const refused = this.peer_document(record, doc, true);
      if (refused !== null) return refused;
      record.taken_order = check.order;
    }
    return null;
  }

  // In a keyed group, an unsigned document is taken only from a charger without load sharing
  // (upstream firmware cannot sign): it carries no loadsharing block, it was never heard with
  // one, and a whole document answers like OpenEVSE. Anyone could send such a document, so
  // what it says can only raise the reserve kept for it (engine_doc), never lower it below
  // what an unheard member gets.
  private take_unsigned(record: PeerRecord | null, unsigned: boolean, doc: StatusDocument | null, whole: boolean): boolean {
    if (record === null || !unsigned || doc === null || 'loadsharing' in doc || record.ever_block) return false;
    if (whole ? !answers_like_openevse(doc) : !record.unsigned) return false;
    if (!record.unsigned) this.log.info('peer', `${record.host}: no load sharing and no group key (upstream firmware?): its unsigned status is taken, and it is reserved at least ${this.config.loadsharing_failsafe_peer_assumed_current} A`);
    record.unsigned = true;
    return true;
  }

  // What the engine is handed for a peer: its document, or for one taken unsigned a copy in
  // which its maximum is at least the assumed current and its pilot does not count.
  // Its hardware maximum, when known, raises the maximum it says (a soft one, see hard_max_a).
  private engine_doc(record: PeerRecord): StatusDocument {
    const hard_a = record.uncontrolled ? record.hard_max_a : null;
    if (!record.unsigned && hard_a === null) return record.known;
    const doc: StatusDocument = { ...record.known };
    const said = doc.max_current;
    const said_a = typeof said === 'number' && Number.isFinite(said) && said > 0 ? said : null;
    if (record.unsigned) {
      delete doc.pilot;
      if (said_a !== null) doc.max_current = Math.max(said_a, this.config.loadsharing_failsafe_peer_assumed_current);
    }
    if (hard_a !== null) doc.max_current = Math.max(typeof doc.max_current === 'number' ? doc.max_current : 0, hard_a);
    return doc;
  }

  // Asks a charger without load sharing once for its hardware maximum (GET /config,
  // max_current_hard). Its answer can only raise the reserve, so it is taken signed or not;
  // no answer: asked again with its next whole document.
  private ask_hard_max(record: PeerRecord): void {
    if (record.hard_max_asked) return;
    record.hard_max_asked = true;
    this.request(record.host, 'GET', '/config', '', 3000, (result) => {
      const doc = 'error' in result || result.status < 200 || result.status > 299 ? null : parse_object(result.text);
      const hard = doc?.max_current_hard;
      if (typeof hard !== 'number' || !Number.isFinite(hard) || hard <= 0) { record.hard_max_asked = false; return; }
      record.hard_max_a = hard;
      if (this.peers.get(record.host) !== record || !record.trusted || !record.uncontrolled) return;
      this.engine.handle_peer_status(member_id(record), this.engine_doc(record), true);
      this.decide_within(0);
    });
  }

  // A message from this peer was refused: what it said before no longer counts until a
  // whole document passes every check again (its last status ages out in the engine: offline,
  // reserved).
  private distrust(record: PeerRecord | null, why: string): void {
    if (record === null) return;
    record.trusted = false;
    record.refused = why;
  }

  // The /ws handshake went out with check's headers: frames arrive under this session.
  open_session(check: LinkCheck): LinkSession {
    return new LinkSession(check);
  }

  // One /ws frame from a peer. 'refused': it failed the group key, close the socket (only a
  // new signed handshake can mend a session opened before a key change, or to a charger
  // without our key); 'ignored': malformed, a pong, or the peer left the group meanwhile.
  handle_link_frame(session: LinkSession, text: string): FrameResult {
    const check = session.check;
    let doc = parse_object(text);
    if (doc === null) {
      session.malformed_count += 1;
      this.log.warn('peer', `${check.host}: malformed frame ignored (${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)})`);
      return 'ignored';
    }
    if ('pong' in doc && Object.keys(doc).length === 1) return 'ignored';
    if (check.auth) {
      const verified = check.auth.verify_frame(check.nonce, session.last_ctr, doc, this.id);
      if (typeof verified === 'string' && this.take_unsigned(this.current(check), verified === 'frame not signed', doc, session.first)) {
        // A charger without load sharing in a keyed group: taken, reserved (take_unsigned).
      } else if (typeof verified === 'string') {
        this.sync.count_auth_failure(check.host, `/ws: ${verified}`);
        this.distrust(this.current(check), 'not paired: its frames are not signed with the group key');
        return 'refused';
      }
      else {
        session.last_ctr = verified.ctr;
        doc = parse_object(verified.text);
        if (doc === null) { session.malformed_count += 1; return 'ignored'; }
        const record = this.current(check);
        if (record) record.unsigned = false;
      }
    }
    const full = session.first;
    session.first = false;
    const record = this.current(check);
    if (!record) return 'ignored';
    // A session replaced by a newer one whose document was already taken.
    if (check.order < record.taken_order) return 'ignored';
    // A session whose whole document was refused stays refused: the socket closes, and only a
    // new one (its first frame whole again) can be taken.
    if (this.peer_document(record, doc, full) !== null) return 'refused';
    if (!record.trusted) return 'ignored';
    record.taken_order = check.order;
    return 'ok';
  }

  handle_link_state(host: string, connected: boolean): void {
    const record = this.peers.get(host);
    if (!record) return;
    record.connected = connected;
    this.log.info('peer', `${host}: link ${connected ? 'up' : 'down'}`);
  }

  // The record a link was opened for, if it is still the member at that host.
  private current(check: LinkCheck): PeerRecord | null {
    const record = this.peers.get(check.host);
    return record !== undefined && record === check.record ? record : null;
  }

  // A peer's document (whole, or a delta on the last whole one). Returns why its identity was
  // refused (the peer then stays never heard until a whole document passes), else null.
  private peer_document(record: PeerRecord, doc: StatusDocument, full: boolean): string | null {
    // Deltas count only on top of a whole document that was taken (D3).
    if (!full && !record.trusted) return null;
    const block = doc.loadsharing;
    if (block !== undefined && !is_object(block)) {
      this.log.warn('peer', `${record.host}: "loadsharing" is not an object; message ignored`);
      return null;
    }
    const claimed = block?.id;
    if (claimed !== undefined) {
      if (!check_peer_id(claimed)) {
        this.log.warn('peer', `${record.host}: bad id ${JSON.stringify(claimed)}; message ignored`);
        return this.refuse_identity(record, `bad id ${JSON.stringify(claimed).slice(0, 40)}`);
      }
      if (claimed !== record.id && !this.bind_id(record, claimed)) return this.refuse_identity(record, `its id ${claimed} is refused`);
    } else if (block === undefined && full && record.id === null) {
      // A peer without our block (upstream firmware): its id or hostname field names it, if
      // it has one; otherwise it stays known by its host.
      const named = [doc.id, doc.hostname].find((x) => check_peer_id(x));
      if (typeof named === 'string' && !this.bind_id(record, named)) return this.refuse_identity(record, `its id ${named} is refused`);
    }
    if (full) { record.trusted = true; record.refused = null; }
    if (block !== undefined) record.ever_block = true;
    // A full document without our block from something that answers like OpenEVSE: a charger
    // that does not share (upstream firmware, another brand behind an adapter).
    if (full) record.uncontrolled = block === undefined && answers_like_openevse(doc);
    if (full && record.uncontrolled) this.ask_hard_max(record);
    const kept = keep_known_keys(doc);
    const changed = full ? !same_keys(record.known, kept) || changes_state(record.known, kept) : changes_state(record.known, kept);
    if (full) record.known = kept;
    else merge_status_into(record.known, kept);
    // The station merges; the engine is handed the whole document each time.
    this.engine.handle_peer_status(member_id(record), this.engine_doc(record), true);
    record.status_at_ms = this.wall.now_ms();
    this.sync.on_peer_status(record.host, record.id, record.known.loadsharing as { config_version?: unknown; config_hash?: unknown } | undefined);
    // A message that only moves the peer's clock refreshes its last_seen; the periodic tick
    // is soon enough for that.
    if (changed) this.decide_within(this.react_ms);
    return null;
  }

  private refuse_identity(record: PeerRecord, why: string): string {
    this.distrust(record, why);
    return why;
  }

  // ---- the server side of /ws ----

  // A client opened /ws. With a group key, a peer that signed its handshake gets signed
  // frames; everyone else (a browser) plain ones. A refused signature is said in the
  // subscriber (the server logs it, throttled per address).
  open_subscriber(headers: Record<string, string | string[] | undefined>, url: string): Subscriber {
    const auth = this.group_auth();
    if (auth && is_signed(headers)) {
      const result = auth.verify_request(headers, 'GET', url, '', (to) => this.is_me(to));
      return result.ok ? new Subscriber(result.nonce, null, result.sender) : new Subscriber(null, result.reason);
    }
    return new Subscriber(null);
  }

  // A frame's text as this subscriber gets it.
  frame_for(subscriber: Subscriber, text: string): string {
    const auth = subscriber.nonce === null ? null : this.group_auth();
    if (auth === null) return text;
    subscriber.ctr += 1;
    return auth.sign_frame(subscriber.nonce!, subscriber.ctr, text, subscriber.peer_id!);
  }

  // ---- members ----

  peer_records(): Array<{ host: string; id: string | null; member_id: string; connected: boolean; status_at_ms: number | null; uncontrolled: boolean; refused: string | null }> {
    return this.members().map((r) => ({ host: r.host, id: r.id, member_id: member_id(r), connected: r.connected, status_at_ms: r.status_at_ms, uncontrolled: r.uncontrolled, refused: r.refused }));
  }

  // Whether this station follows the status of the charger at host: a member, or a member
  // leaving the group (the simulator subscribes it to that charger's frames).
  has_peer(host: string): boolean {
    return this.peers.has(host);
  }

  private members(): PeerRecord[] {
    return [...this.peers.values()].filter((r) => !r.leaving);
  }

  private member(host: string): PeerRecord | undefined {
    const record = this.peers.get(host);
    return record && !record.leaving ? record : undefined;
  }

  // Any spelling of our own address (addresses.ts), our names, or our id.
  is_self(host: string): boolean {
    if (host.toLowerCase() === this.id.toLowerCase()) return true;
    return is_self_host(host, { listen_host: this.options.listen_host, port: this.options.http_port, names: [this.config.hostname, `${this.config.hostname}.local`] });
  }

  private check_new_host(host: string): string | null {
    const problem = check_host(host);
    if (problem) return problem;
    if (this.is_self(host)) return 'Cannot add local device as peer';
    return null;
  }

  // POST /loadsharing/peers: joins at once (throws PeerError when the host cannot join);
  // done gets upstream's message once the reciprocal call and the group change are through.
  // A person's join (reciprocal) creates the group when this charger has no key yet: a key is
  // made first (a group has a key from its first minute). The newcomer gets it by pairing
  // (handle_pair); until then it is not heard here (reserved). sender: the id a peer's signed
  // echo came from (one that claims our id is refused).
  handle_join(host: unknown, reciprocal: boolean, done: (msg: 'done' | 'already in group') => void, sender: string | null = null): void {
    if (typeof host !== 'string') throw new PeerError('invalid', "Missing required 'host' parameter");
    const problem = this.check_new_host(host);
    if (problem) throw new PeerError('invalid', problem);
    if (sender !== null && sender === this.id) throw new PeerError('invalid', `The request claims this charger's own id (${this.id})`);
    if (this.member(host)) { done('already in group'); return; }
    if (reciprocal) this.ensure_group_key();
    if (this.members().length + 1 >= MEMBERS_MAX) throw new PeerError('invalid', `Group is full (at most ${MEMBERS_MAX} members)`);
    this.add_record({ host, id: null });
    this.save_peers();
    this.log.info('peer', `joined ${host}`);
    this.decide_within(0);
    if (!reciprocal) { done('done'); return; }
    if (this.sync.enabled) this.sync.begin_join(host);
    this.tell_peer(host, 'POST', '/loadsharing/peers', { host: this.self_address(), reciprocal: false }, () => {
      // The user's join is a group change: a new version reaches every member (config-sync.ts).
      if (this.sync.enabled) this.sync.local_member_change(host, [], () => done('done'));
      else done('done');
    });
  }

  // POST /loadsharing/alone: a person says this charger is on its own on its breaker (rule 8):
  // only then may a charger whose members all left use the whole limit. Throws PeerError while
  // it still has members (they share the breaker with it).
  handle_confirm_alone(): void {
    const members = this.members();
    if (members.length > 0) throw new PeerError('invalid', `This charger still has ${members.length} member(s): remove them first (DELETE /loadsharing/peers/HOST)`);
    if (this.engine.is_alone_confirmed()) return;
    this.engine.confirm_alone(true);
    this.save_peers();
    this.log.info('peer', 'a person confirmed this charger is on its own: it may use the whole limit');
    this.decide_within(0);
  }

  // DELETE /loadsharing/peers/:host (throws PeerError: ourselves, or not a member).
  // gone: a person says it no longer draws from this breaker (switched off or taken away), so
  // nothing stays reserved for it; without that word a removed member that falls silent stays
  // reserved (rule 8: silence does not say it left the breaker). A member already removed
  // (by the group's member list, or earlier without the word) can be forgotten that way too.
  handle_leave(host: string, reciprocal: boolean, done: () => void, gone = false): void {
    if (this.is_self(host)) throw new PeerError('invalid', 'Cannot remove local device from group');
    const record = this.member(host) ?? this.members().find((r) => r.id === host);
    if (!record && gone) {
      const leaving = [...this.peers.values()].find((r) => r.leaving && (r.host === host || r.id === host));
      if (!leaving) throw new PeerError('not_found', 'Peer not found');
      this.forget_gone(leaving);
      done();
      return;
    }
    if (!record) throw new PeerError('not_found', 'Peer not found');
    this.retire_record(record);
    if (gone) this.forget_gone(record);
    // A person removed the last member on this charger (the reciprocal removal is the person's
    // own; reciprocal=false comes from a peer): this charger is set up on its own (rule 8).
    if (reciprocal && this.members().length === 0) this.engine.confirm_alone(true);
    this.save_peers();
    this.log.info('peer', `left ${record.host}`);
    this.decide_within(0);
    if (!reciprocal) { this.sync.forget(record.host); done(); return; }
    this.tell_peer(record.host, 'DELETE', `/loadsharing/peers/${encodeURIComponent(this.self_address())}?reciprocal=false`, null, () => {
      if (this.sync.enabled) this.sync.local_member_change(null, [{ host: record.host, id: record.id }], done);
      else { this.sync.forget(record.host); done(); }
    });
  }

  // The reciprocal join or leave: a failure is logged (the user can repeat it there).
  private tell_peer(host: string, method: 'POST' | 'DELETE', path: string, body: unknown, done: () => void): void {
    this.request(host, method, path, body === null ? '' : JSON.stringify(body), 3000, (result) => {
      if ('error' in result) this.log.warn('peer', `reciprocal ${method} on ${host} failed (${result.error}); it can be repeated there by hand`);
      else if (result.status < 200 || result.status > 299) this.log.warn('peer', `reciprocal ${method} on ${host} answered ${result.status}: ${result.text.slice(0, 200)}`);
      done();
    });
  }

  // A group has a key from its first minute: made here when a person creates the group.
  private ensure_group_key(): void {
    if (this.config.loadsharing_group_key !== '') return;
    this.handle_config_write({ loadsharing_group_key: new_group_key() });
    this.log.info('auth', 'group created: a new group key was made (chargers join it by pairing)');
  }

  // Pairing (docs/security.md "Pairing"): a person adds the charger at host with that
  // charger's admin password, typed once on this charger's page. We hand it the group key in
  // one request authenticated by that password (POST /loadsharing/pair there), learn its id
  // from the answer, refuse it when it claims ours, then join it as a member; config sync,
  // now signed, brings it the group's settings and members. The password is used for that one
  // request: never stored, logged or sent anywhere else. done: the message, or the PeerError.
  handle_pair(host: unknown, credentials: { username: string; password: string }, done: (result: 'paired' | PeerError) => void): void {
    if (typeof host !== 'string') throw new PeerError('invalid', "Missing required 'host' parameter");
    const problem = this.check_new_host(host);
    if (problem) throw new PeerError('invalid', problem);
    if (!this.member(host) && this.members().length + 1 >= MEMBERS_MAX) throw new PeerError('invalid', `Group is full (at most ${MEMBERS_MAX} members)`);
    // The group's key, or the one it will have (kept only if the pairing succeeds: a refused
    // pairing changes nothing here).
    const key = this.config.loadsharing_group_key !== '' ? this.config.loadsharing_group_key : new_group_key();
    const body = JSON.stringify({ key, host: this.self_address(), id: this.id });
    const headers = {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`,
    };
    this.ports.transport.request({ host, method: 'POST', path: '/loadsharing/pair', headers, body, timeout_ms: this.options.request_timeout_ms ?? 3000 }, (result) => {
      const fail = (message: string) => { this.log.warn('peer', `pairing ${host}: ${message}`); done(new PeerError('invalid', message)); };
      if ('error' in result) { fail(`${host} cannot be reached (${result.error})`); return; }
      let answer: { msg?: unknown; id?: unknown } = {};
      try { answer = JSON.parse(result.text) as typeof answer; } catch { /* judged by the status below */ }
      const said = typeof answer.msg === 'string' ? `: ${answer.msg.slice(0, 200)}` : '';
      if (result.status === 401) { fail(`${host} refused the admin password${said}`); return; }
      if (result.status === 429) { fail(`${host} refuses sign-ins for now (too many wrong passwords); try again in a minute`); return; }
      if (result.status === 404) { fail(`${host} does not offer pairing (an older version or not a loadshare charger); set the group key there by hand`); return; }
      if (result.status !== 200) { fail(`${host} refused pairing (${result.status}${said})`); return; }
      const id = answer.id;
      if (!check_peer_id(id)) { fail(`${host} answered without a valid charger id`); return; }
      if (id === this.id) { fail(`${host} has this charger's own id (${id}): two chargers cannot share an id`); return; }
      const twin = this.members().find((r) => r.id === id && r.host !== host);
      if (twin) { fail(`${host} is ${id}, already in the group at ${twin.host}`); return; }
      if (this.config.loadsharing_group_key === '') {
        this.handle_config_write({ loadsharing_group_key: key });
        this.log.info('auth', 'group created: a new group key was made and handed over by pairing');
      } else if (this.config.loadsharing_group_key !== key) { fail('the group key changed during pairing; pair again'); return; }
      let record = this.member(host);
      if (record === undefined) {
        record = this.add_record({ host, id });
        this.log.info('peer', `paired and joined ${host} (${id})`);
      } else {
        this.log.info('peer', `paired ${host} (${id})`);
        if (record.id !== id && !this.bind_id(record, id)) { fail(`${host} is ${id}, which cannot join here`); return; }
        // A new signed session: what it said unsigned before counts for nothing.
        this.ports.links.stop(host);
        this.ports.links.start(host);
      }
      this.save_peers();
      this.decide_within(0);
      if (this.sync.enabled) this.sync.local_member_change(host, [], () => done('paired'));
      else done('paired');
    });
  }

  // POST /loadsharing/pair on the newcomer (a person's request: its admin password, checked by
  // the route): take the group key and join the charger that paired us. A charger already in
  // another keyed group with other members refuses (409): it would leave them unheard.
  handle_paired(request: { key: string; host: string; id: string }): { msg: 'done'; id: string } {
    if (!check_peer_id(request.id)) throw new PeerError('invalid', 'id must be a charger id');
    if (request.id === this.id) throw new PeerError('invalid', `The pairing charger claims this charger's own id (${this.id})`);
    const problem = this.check_new_host(request.host);
    if (problem) throw new PeerError('invalid', problem);
    const others = this.members().filter((r) => r.host !== request.host && r.id !== request.id);
    const key = this.config.loadsharing_group_key;
    if (key !== '' && key !== request.key && others.length > 0) {
      throw new PeerError('conflict', `This charger is in another group (${others.length} member${others.length === 1 ? '' : 's'}, its own key): remove them here first, or add the other charger from this group's page`);
    }
    if (key !== request.key) this.handle_config_write({ loadsharing_group_key: request.key }); // throws ConfigError on a bad key
    if (!this.member(request.host) && !this.members().some((r) => r.id === request.id)) {
      if (this.members().length + 1 >= MEMBERS_MAX) throw new PeerError('invalid', `Group is full (at most ${MEMBERS_MAX} members)`);
      this.add_record({ host: request.host, id: request.id });
      this.save_peers();
      this.log.info('peer', `paired by ${request.host} (${request.id}): joined its group`);
    } else {
      this.log.info('peer', `paired by ${request.host} (${request.id}): group key taken`);
    }
    this.decide_within(0);
    return { msg: 'done', id: this.id };
  }

  private add_record(stored: StoredPeer): PeerRecord {
    const leaving = this.peers.get(stored.host);
    if (leaving?.leaving) {
      // Back before the engine forgot it: a member again, its link still up.
      leaving.leaving = false;
      this.leaving_count -= 1;
      this.engine.add_member(member_id(leaving));
      return leaving;
    }
    // In a group again: a removal later (by a peer's config) must not find it "set up alone".
    this.engine.confirm_alone(false);
    let id = stored.id;
    if (id !== null && (id === this.id || this.members().some((r) => r.id === id))) id = null;
    const record = new_record(stored.host, id, false);
    this.peers.set(stored.host, record);
    this.engine.add_member(member_id(record));
    this.ports.links.start(record.host);
    return record;
  }

  // Removed from the group: the engine keeps it as leaving when it was heard, and the link
  // keeps following it until the engine forgets it (forget_left).
  private forget_gone(record: PeerRecord): void {
    this.engine.forget_member(member_id(record));
    this.log.info('peer', `${record.host}: a person says it no longer draws from this breaker: nothing is reserved for it`);
    this.forget_left();
    this.decide_within(0);
  }

  private retire_record(record: PeerRecord): void {
    this.engine.remove_member(member_id(record));
    record.leaving = true;
    this.leaving_count += 1;
    this.forget_left();
  }

  // Leaving members the engine no longer holds (silent through their hold, or set up on
  // their own): their links stop.
  private forget_left(): void {
    const held = new Set(this.engine.peer_entries().map((e) => e.id));
    let dropped = false;
    for (const record of [...this.peers.values()]) {
      if (record.leaving && !held.has(member_id(record))) { this.drop_record(record); dropped = true; }
    }
    if (dropped) this.save_peers(); // the stored leaving list (restore_leaving)
  }

  private drop_record(record: PeerRecord): void {
    this.ports.links.stop(record.host);
    this.peers.delete(record.host);
    if (record.leaving) this.leaving_count -= 1;
    // Either the engine no longer holds it (forget_left), or it is a placeholder of a charger
    // known under another address (bind_id): no other charger, so forgotten, not kept as
    // leaving (rule 8 keeps a removed member, heard or not).
    this.engine.forget_member(member_id(record));
  }

  // The peer at this host says who it is: the engine learns it under that id from now on.
  private bind_id(record: PeerRecord, id: string): boolean {
    if (id === this.id) {
      this.log.warn('peer', `${record.host} claims our own id ${id}; ignored`);
      return false;
    }
    const other = this.members().find((r) => r !== record && r.id === id);
    if (other) {
      // The same charger joined under two addresses: keep the first, drop this one (its
      // placeholder would otherwise stay a never-heard member, reserved for ever).
      this.log.warn('peer', `${record.host} is ${id}, already joined at ${other.host}; ${record.host} removed`);
      this.drop_record(record);
      this.save_peers();
      this.decide_within(0);
      return false;
    }
    // The placeholder was this same charger: forgotten, not kept as a leaving member.
    this.engine.forget_member(member_id(record));
    this.log.info('peer', `${record.host} is ${id}`);
    record.id = id;
    this.engine.add_member(id);
    // A removed member first heard now (removed before this charger knew its id) stays leaving.
    if (record.leaving) this.engine.remove_member(id);
    this.save_peers();
    return true;
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
    for (const record of this.members()) {
      if (wanted.some((m) => same_member(m, record))) continue;
      this.retire_record(record);
      this.sync.forget(record.host);
      this.log.info('peer', `left ${record.host} (group config)`);
      changed = true;
    }
    for (const m of wanted) {
      if (this.members().some((r) => same_member(m, r))) continue;
      if (this.check_new_host(m.host) !== null || this.members().length + 1 >= MEMBERS_MAX) continue;
      this.add_record({ host: m.host, id: m.id });
      this.log.info('peer', `joined ${m.host} (group config)`);
      changed = true;
    }
    if (changed) { this.save_peers(); this.decide_within(0); }
  }

  // A failed write (disk full, read-only) is logged; the peer list in memory stays in force.
  private save_peers(): void {
    this.set_heartbeat_current(); // an equal part over the members
    try {
      const leaving = [...this.peers.values()].filter((r) => r.leaving && r.id !== null).map((r) => ({ host: r.host, id: r.id }));
      this.ports.store.write('peers', { peers: this.members().map((r) => ({ host: r.host, id: r.id })), alone_confirmed: this.engine.is_alone_confirmed(), leaving });
    } catch (error) {
      this.log.error('store', `cannot write peers.json: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }

  private sync_host() {
    return {
      id: this.id, wall: this.wall, monotonic: this.monotonic, log: this.log,
      self_address: () => this.self_address(),
      raw_config: () => this.config,
      config_hash: () => this.engine.current_config_hash(),
      members: (): MemberRef[] => this.members().map((r) => ({ host: r.host, id: r.id })),
      is_self_ref: (ref: MemberRef) => ref.id === this.id || this.is_self(ref.host),
      adopt_group: (next: NodeConfig, members: MemberRef[] | null) => {
        this.install_config(next);
        if (members !== null) this.set_members(members);
      },
      group_auth: () => this.group_auth(),
      request: (host: string, method: 'GET' | 'POST', path: string, body: string, timeout_ms: number, done: (result: PeerAnswer | PeerFailure) => void) =>
        this.request(host, method, path, body, timeout_ms, done),
    };
  }
}

// 32 random bytes: a group's key, made when a person creates the group.
function new_group_key(): string {
  return randomBytes(32).toString('base64url');
}

export function member_id(record: { host: string; id: string | null }): string {
  return record.id ?? placeholder_id(record.host);
}

// A peer's text as a document. The document is frozen (deeply): nothing here edits what a
// peer sent (the station keeps its own copies, keep_known_keys), and a frozen document can be
// handed again for the same text. The last text is kept: a publication reaches every member
// with the same text (in the simulator, one JSON.parse instead of one per receiver; on a
// charger, a repeated GET /status answer).
let parsed_text: string | null = null;
let parsed_doc: StatusDocument | null = null;
function parse_object(text: string): StatusDocument | null {
  if (text === parsed_text) return parsed_doc;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (!is_object(doc)) return null;
  parsed_text = text;
  parsed_doc = deep_freeze(doc);
  return parsed_doc;
}

function deep_freeze(doc: StatusDocument): StatusDocument {
  const stack: object[] = [doc];
  while (stack.length > 0) {
    const value = stack.pop()!;
    const inner = Object.values(value);
    for (let i = 0; i < inner.length; i++) {
      const v: unknown = inner[i];
      if (v !== null && typeof v === 'object') stack.push(v);
    }
    Object.freeze(value);
  }
  return doc;
}

function same_keys(a: StatusDocument, b: StatusDocument): boolean {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => k in b);
}
