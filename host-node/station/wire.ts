// The status wire format, in one place: the /status document a charger publishes, the delta
// /ws sends after it (changed top-level keys, a changed `loadsharing` block whole), the merge
// a receiver applies, and the filter that keeps only the keys the protocol reads. Used by the
// station (publishing and receiving), the charger's HTTP and /ws servers, the simulator, and
// the Load Sharing page (ui/src/lib/model.ts): so it imports nothing that needs Node.
import { MEMBERS_MAX } from '../abi.js';

export type StatusDocument = Record<string, unknown>;

// The parts a status document is made of (what station.ts knows at publish time).
export interface StatusParts {
  wall_now_ms: number;
  uptime_s: number;
  elapsed_s: number; // of the charging session, 0 without one
  ipaddress: string;
  evse: { amp_ma: number; pilot: number; max_current: number; min_current: number; state: number; vehicle: number };
  voltage_v: number;
  battery_level_pct: number | null; // null: the controller does not know the car's state of charge
  session_energy_wh: number;
  total_energy_wh: number; // since this process started (not persisted)
  shaper: { shaper: number; shaper_live_pwr: number; shaper_max_pwr: number; shaper_cur: number; shaper_updated: boolean };
  upstream: Record<string, unknown>; // the upstream side's fields (node/upstream.ts status_fields: service_level, wattsec ...)
  extras: Record<string, unknown> | null; // fields from outside the station (the MQTT bridge's mqtt_connected)
  config_counter: number; // upstream's /status config_version: any /config change
  block: object; // the engine's load-sharing block (engine.poll_status())
}

// GET /status and the first /ws frame: the firmware's document plus our block.
export function build_status_document(p: StatusParts): StatusDocument {
  const s = p.evse;
  return {
    mode: 'STA',
    wifi_client_connected: 1,
    eth_connected: 0,
    net_connected: 1,
    ipaddress: p.ipaddress,
    evse_connected: 1,
    rapi_connected: 1,
    amp: s.amp_ma, // milliamps, as the firmware sends it
    voltage: p.voltage_v,
    power: Math.round((s.amp_ma / 1000) * p.voltage_v),
    pilot: s.pilot,
    max_current: s.max_current,
    min_current: s.min_current,
    state: s.state,
    status: s.state >= 1 && s.state <= 3 ? 'active' : 'disabled',
    vehicle: s.vehicle,
    battery_level: p.battery_level_pct === null ? 0 : Math.round(p.battery_level_pct * 10) / 10,
    time: iso_seconds(p.wall_now_ms),
    uptime: p.uptime_s,
    elapsed: p.elapsed_s,
    session_elapsed: p.elapsed_s,
    session_energy: Math.round(p.session_energy_wh * 100) / 100,
    total_energy: Math.round(p.total_energy_wh) / 1000, // kWh
    shaper: p.shaper.shaper,
    shaper_live_pwr: p.shaper.shaper_live_pwr,
    shaper_max_pwr: p.shaper.shaper_max_pwr,
    shaper_cur: p.shaper.shaper_cur,
    shaper_updated: p.shaper.shaper_updated,
    ...p.upstream,
    mqtt_connected: 0,
    ocpp_connected: 0,
    emoncms_connected: 0,
    ...p.extras,
    config_version: p.config_counter,
    loadsharing: p.block,
  };
}

// The firmware's time format (whole seconds). Cached: a charger asks once or more per second.
let iso_cache_s = NaN;
let iso_cache_text = '';
function iso_seconds(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s !== iso_cache_s) {
    iso_cache_s = s;
    iso_cache_text = new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  return iso_cache_text;
}

// The changed top-level keys. A changed `loadsharing` block is sent whole: clients merge frames
// shallowly (python-openevse-http does `status.update(frame)`), so a block in pieces would
// leave them with only its last changed fields. (A whole block that arrives late, out of order,
// does not bring back an older config: merge_status_into; docs/architecture.md.)
export function status_delta(before: StatusDocument, after: StatusDocument): StatusDocument {
  const delta: StatusDocument = {};
  const keys = Object.keys(after);
  // Documents built one after the other have the same keys in the same order: then the values
  // are compared by position (no lookup by name, which costs more than the comparison).
  const before_keys = Object.keys(before);
  if (before_keys.length === keys.length && before_keys.every((key, i) => key === keys[i])) {
    const now = Object.values(after);
    const was = Object.values(before);
    for (let i = 0; i < keys.length; i++) {
      if (now[i] !== was[i] && !same_value(was[i], now[i])) delta[keys[i]] = now[i];
    }
    return delta;
  }
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const value = after[key];
    if (value !== before[key] && !same_value(before[key], value)) delta[key] = value;
  }
  return delta;
}

// A receiver's document after a message: top-level keys replace, `loadsharing` fields merge
// (a block arrives whole from this version, status_delta; merging by field also takes the
// field deltas older nodes sent). A block older than the one taken (config_guarded) does not
// bring back its config.
export function merge_status<T extends StatusDocument>(doc: T, delta: StatusDocument): T {
  return merge_status_into({ ...doc }, delta) as T;
}

// The same merge into a document the caller owns (a receiver's copy, merged once a second
// per peer: no new document each time).
export function merge_status_into(doc: StatusDocument, delta: StatusDocument): StatusDocument {
  for (const key in delta) {
    const value = delta[key];
    if (key === 'loadsharing' && is_object(value)) doc.loadsharing = merge_block(is_object(doc.loadsharing) ? doc.loadsharing : {}, value);
    else doc[key] = value;
  }
  return doc;
}

// The block fields that belong to the sender's versioned group config (config-sync.ts): they
// change only with its `config_version`, which never goes down while it runs.
export const versioned_block_keys = [
  'group_max_current', 'safety_factor', 'heartbeat_timeout', 'failsafe_safe_current', 'failsafe_peer_assumed_current',
  'config_version', 'config_hash',
] as const;

// A frame a link reordered or duplicated can arrive after a newer one of the same session.
// Its block is whole, so it would bring back the older config, and the sender's later deltas
// do not repeat an unchanged group_max_current: the receiver would keep the older limit until
// the sender's next whole document (fuzz seed 9004305: a limit lowered 31 -> 17 A came back as
// 31 A, which then matched the receiver's own and read as agreement). So a block whose
// config_version is below the one taken keeps the taken config fields; its other fields (the
// sender's currents, views, flags) merge as before. Whole documents (a new session, an
// ordered GET /status) replace the record and are not guarded: their order is the station's.
export function config_guarded(known: StatusDocument, block: StatusDocument): boolean {
  const taken = known.config_version;
  const said = block.config_version;
  if (typeof taken !== 'number' || typeof said !== 'number' || !Number.isFinite(taken) || !Number.isFinite(said)) return false;
  // Another charger's block (an id that changed at this address) is not an older one.
  if (block.id !== undefined && known.id !== undefined && block.id !== known.id) return false;
  return said < taken;
}

function merge_block(known: StatusDocument, block: StatusDocument): StatusDocument {
  const merged = { ...known, ...block };
  if (config_guarded(known, block)) {
    for (const key of versioned_block_keys) if (key in known) merged[key] = known[key];
  }
  return merged;
}

// Only the fields the protocol reads are kept: a peer cannot grow our memory by sending new
// keys in every delta (each frame is bounded by the socket's maxPayload, their number is not).
export const peer_status_keys = ['amp', 'voltage', 'power', 'pilot', 'max_current', 'min_current', 'state', 'status', 'vehicle', 'config_version', 'time', 'uptime'] as const;
export const peer_block_keys = [
  'id', 'seen', 'degraded', 'failsafe_active', 'alloc', 'applied_current', 'committed_current', 'target_current', 'demand',
  'demand_cap', 'min_current', 'max_current', 'priority', 'group_max_current', 'safety_factor', 'heartbeat_timeout',
  'failsafe_safe_current', 'failsafe_peer_assumed_current', 'config_version', 'config_hash', 'module_hash', 'reason',
  'left_alone', 'alone_confirmed',
] as const;

// Keys that change every second whatever happens: they prove the sender alive, nothing more.
const liveness_keys = new Set(['time', 'uptime']);

const status_key_set: ReadonlySet<string> = new Set(peer_status_keys);
const block_key_set: ReadonlySet<string> = new Set(peer_block_keys);

export function keep_known_keys(doc: StatusDocument): StatusDocument {
  const out: StatusDocument = {};
  for (const key in doc) if (status_key_set.has(key)) out[key] = doc[key];
  const block = doc.loadsharing;
  if (is_object(block)) {
    const kept: StatusDocument = {};
    for (const key in block) if (block_key_set.has(key)) kept[key] = block[key];
    // Bounded like the core's member table: at most 16 seen ids and 16 allocations.
    if (Array.isArray(kept.seen) && kept.seen.length > MEMBERS_MAX) kept.seen = kept.seen.slice(0, MEMBERS_MAX);
    if (is_object(kept.alloc)) {
      const entries = Object.entries(kept.alloc);
      if (entries.length > MEMBERS_MAX) kept.alloc = Object.fromEntries(entries.slice(0, MEMBERS_MAX));
    }
    out.loadsharing = kept;
  } else if (block !== undefined) {
    out.loadsharing = block; // not an object: the caller refuses the message
  }
  return out;
}

// Does this (filtered) message change what the receiver knows, apart from the liveness keys?
// A message that only moves the clock refreshes last_seen but needs no new decision.
export function changes_state(known: StatusDocument, message: StatusDocument): boolean {
  for (const key in message) {
    if (liveness_keys.has(key)) continue;
    const value = message[key];
    const old = known[key];
    if (key === 'loadsharing' && is_object(value) && is_object(old)) {
      for (const k in value) if (!same_value(old[k], value[k])) return true;
    } else if (!same_value(old, value)) {
      return true;
    }
  }
  return false;
}

export function is_object(value: unknown): value is StatusDocument {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Equal as JSON would say, without serialising: the documents hold numbers, strings,
// booleans, arrays of strings and flat maps of numbers.
export function same_value(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same_value(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i]) return false; // key order is part of the JSON text
    if (!same_value((a as StatusDocument)[ka[i]], (b as StatusDocument)[kb[i]])) return false;
  }
  return true;
}
