// The node's /config document: the loadsharing_* keys of the plan, the EVSE's current-shaper
// keys, and identity/auth keys, with their JSON schema (used by POST /config with coercion
// off and unknown keys refused) and the cross-field rules a schema cannot express.
// Units: currents in amps, times in seconds (as upstream Config.yaml), power in watts.
import { GROUP_ID_BYTES_MAX } from '../abi.js';
import type { LoadSharingConfig } from '../engine/types.js';
import type { FailsafeMode } from '../core.js';

export interface NodeConfig {
  hostname: string;
  wifi_serial: string;
  www_username: string;
  www_password: string;
  loadsharing_enabled: boolean;
  loadsharing_group_id: string;
  loadsharing_group_max_current: number;
  loadsharing_safety_factor: number;
  loadsharing_heartbeat_timeout: number;
  loadsharing_failsafe_mode: FailsafeMode;
  loadsharing_failsafe_safe_current: number;
  loadsharing_failsafe_peer_assumed_current: number;
  loadsharing_priority: number;
  loadsharing_rotation_interval: number;
  loadsharing_config_version: number; // read-only
  loadsharing_config_updated_at: number; // read-only, Unix seconds
  loadsharing_config_origin: string; // read-only: id of the charger whose write made this version
  loadsharing_group_key: string; // write-only: the group's HMAC key ('' = unauthenticated group)
  current_shaper_enabled: boolean;
  current_shaper_max_pwr: number; // watts
  current_shaper_data_maxinterval: number; // seconds without a live-power update before the shaper pauses
  // ---- upstream OpenEVSE keys (docs/api.md "Upstream compatibility") ----
  max_current_soft: number; // amps: the configured maximum (RAPI $SC); capped by the hardware maximum
  service: 0 | 1 | 2; // 0 auto (L2 on the simulated EVSE), 1 = L1 (16 A, 120 V), 2 = L2
  charge_mode: 'fast' | 'eco'; // eco: solar divert (claims.ts divert_*)
  mqtt_enabled: boolean;
  mqtt_server: string; // broker address
  mqtt_port: number;
  mqtt_protocol: 'mqtt' | 'mqtts';
  mqtt_reject_unauthorized: boolean; // mqtts: verify the broker's certificate
  mqtt_topic: string; // base topic
  mqtt_user: string;
  mqtt_pass: string; // shown as _DUMMY_PASSWORD when set, as upstream
  mqtt_retained: boolean;
  mqtt_announce_topic: string;
  mqtt_vrms: string; // topics this charger reads: voltage, live power (shaper), solar, grid import/export
  mqtt_live_pwr: string;
  mqtt_solar: string;
  mqtt_grid_ie: string;
  mqtt_discovery_prefix: string; // Home Assistant MQTT discovery prefix; '' = no discovery (not upstream)
}

// The loadshare release, and the upstream WiFi firmware version whose API this node speaks:
// clients (python-openevse-http, Home Assistant) enable features by `version`.
export const loadshare_version = '0.1.0';
export const node_version = `loadshare-${loadshare_version}`;
export const upstream_api_version = '5.0.0';

export function default_node_config(id: string): NodeConfig {
  return {
    hostname: id,
    wifi_serial: '',
    www_username: '',
    www_password: '',
    // Off until a person has set an admin password (docs/security.md "First run"): a charger
    // fresh from the box cannot be switched into a group by anyone on the LAN.
    loadsharing_enabled: false,
    loadsharing_group_id: '',
    loadsharing_group_max_current: 32,
    loadsharing_safety_factor: 1.0,
    loadsharing_heartbeat_timeout: 30,
    loadsharing_failsafe_mode: 'safe_current',
    loadsharing_failsafe_safe_current: 6,
    loadsharing_failsafe_peer_assumed_current: 6,
    loadsharing_priority: 0,
    loadsharing_rotation_interval: 1800,
    loadsharing_config_version: 0,
    loadsharing_config_updated_at: 0,
    loadsharing_config_origin: '',
    loadsharing_group_key: '',
    current_shaper_enabled: false,
    current_shaper_max_pwr: 0,
    current_shaper_data_maxinterval: 120,
    max_current_soft: 80,
    service: 0,
    charge_mode: 'fast',
    mqtt_enabled: false,
    mqtt_server: '',
    mqtt_port: 1883,
    mqtt_protocol: 'mqtt',
    mqtt_reject_unauthorized: true,
    mqtt_topic: `openevse-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`,
    mqtt_user: '',
    mqtt_pass: '',
    mqtt_retained: false,
    mqtt_announce_topic: `openevse/announce/${id.replace(/[^A-Za-z0-9_-]/g, '_')}`,
    mqtt_vrms: '',
    mqtt_live_pwr: '',
    mqtt_solar: '',
    mqtt_grid_ie: '',
    mqtt_discovery_prefix: 'homeassistant',
  };
}

// Keys a change to which is a change of the group's configuration (they enter the config hash
// every member compares): they bump loadsharing_config_version and stamp updated_at.
export const group_keys = [
  'loadsharing_group_id', 'loadsharing_group_max_current', 'loadsharing_safety_factor',
  'loadsharing_heartbeat_timeout', 'loadsharing_failsafe_mode', 'loadsharing_failsafe_safe_current',
  'loadsharing_failsafe_peer_assumed_current', 'loadsharing_rotation_interval',
] as const;

export const read_only_keys = ['loadsharing_config_version', 'loadsharing_config_updated_at', 'loadsharing_config_origin'] as const;

// Never returned by GET /config, never logged, never pushed to peers.
export const write_only_keys = ['loadsharing_group_key'] as const;
export const group_key_min_chars = 16;

// Upstream never returns the password; it sends this placeholder, and a write of the
// placeholder leaves the password unchanged.
export const password_placeholder = '_DUMMY_PASSWORD';

// Text fields hold no NUL (firmware stores them as C strings) and, checked by the body
// parser (text.ts), only valid UTF-8 without lone surrogates.
export const no_nul_pattern = '^[^\\u0000]*$';
// RFC 7617: the user-id of Basic auth cannot contain a colon.
export const username_pattern = '^[^:\\u0000]*$';
export const password_min_chars = 8;

const writable_properties = {
  hostname: { type: 'string', pattern: '^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$', description: 'mDNS instance name, 1..32 letters, digits, dashes' },
  wifi_serial: { type: 'string', maxLength: 32, pattern: no_nul_pattern },
  www_username: { type: 'string', maxLength: 64, pattern: username_pattern },
  www_password: { type: 'string', maxLength: 64, pattern: no_nul_pattern },
  loadsharing_enabled: { type: 'boolean', description: 'can be switched on only once the charger has an admin password' },
  loadsharing_group_id: { type: 'string', maxLength: GROUP_ID_BYTES_MAX, pattern: no_nul_pattern },
  loadsharing_group_max_current: { type: 'number', exclusiveMinimum: 0, maximum: 1000, description: 'amps' },
  loadsharing_safety_factor: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
  loadsharing_heartbeat_timeout: { type: 'integer', minimum: 5, maximum: 600, description: 'seconds' },
  loadsharing_failsafe_mode: { type: 'string', enum: ['disable', 'safe_current'] },
  loadsharing_failsafe_safe_current: { type: 'number', minimum: 0, maximum: 1000, description: 'amps' },
  loadsharing_failsafe_peer_assumed_current: { type: 'number', minimum: 0, maximum: 1000, description: 'amps' },
  loadsharing_priority: { type: 'integer', minimum: 0, maximum: 255 },
  loadsharing_rotation_interval: { type: 'integer', minimum: 0, maximum: 604800, description: 'seconds, 0 = no rotation' },
  loadsharing_group_key: { type: 'string', maxLength: 128, pattern: no_nul_pattern, description: 'write-only HMAC key shared by the group, empty or at least 16 characters' },
  current_shaper_enabled: { type: 'boolean' },
  current_shaper_max_pwr: { type: 'number', minimum: 0, maximum: 1000000, description: 'watts' },
  current_shaper_data_maxinterval: { type: 'integer', minimum: 1, maximum: 86400, description: 'seconds' },
  max_current_soft: { type: 'integer', minimum: 6, maximum: 80, description: 'amps; capped by max_current_hard' },
  service: { type: 'integer', enum: [0, 1, 2], description: '0 auto, 1 = L1, 2 = L2 ("A" is accepted for auto)' },
  charge_mode: { type: 'string', enum: ['fast', 'eco'] },
  mqtt_enabled: { type: 'boolean' },
  mqtt_server: { type: 'string', maxLength: 128, pattern: no_nul_pattern },
  mqtt_port: { type: 'integer', minimum: 1, maximum: 65535 },
  mqtt_protocol: { type: 'string', enum: ['mqtt', 'mqtts'] },
  mqtt_reject_unauthorized: { type: 'boolean' },
  mqtt_topic: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[^#+\\u0000]+$' },
  mqtt_user: { type: 'string', maxLength: 64, pattern: no_nul_pattern },
  mqtt_pass: { type: 'string', maxLength: 64, pattern: no_nul_pattern },
  mqtt_retained: { type: 'boolean' },
  mqtt_announce_topic: { type: 'string', maxLength: 128, pattern: '^[^#+\\u0000]*$' },
  mqtt_vrms: { type: 'string', maxLength: 128, pattern: no_nul_pattern },
  mqtt_live_pwr: { type: 'string', maxLength: 128, pattern: no_nul_pattern },
  mqtt_solar: { type: 'string', maxLength: 128, pattern: no_nul_pattern },
  mqtt_grid_ie: { type: 'string', maxLength: 128, pattern: no_nul_pattern },
  mqtt_discovery_prefix: { type: 'string', maxLength: 64, pattern: '^[^#+\\u0000]*$', description: 'Home Assistant MQTT discovery prefix, empty: no discovery' },
} as const;

// Read-only fields of GET /config a user may post back unchanged (a write that carries them
// with the value GET returned is the same write without them; docs/api.md).
export const upstream_read_only_properties = {
  version: { type: 'string', description: 'the upstream WiFi firmware API this node speaks' },
  loadshare_version: { type: 'string' },
  firmware: { type: 'string', description: 'the charge controller' },
  buildenv: { type: 'string' },
  protocol: { type: 'string' },
  evse_serial: { type: 'string' },
  min_current_hard: { type: 'integer' },
  max_current_hard: { type: 'integer' },
  divert_enabled: { type: 'boolean' },
  mqtt_supported_protocols: { type: 'array', items: { type: 'string' } },
  http_supported_protocols: { type: 'array', items: { type: 'string' } },
} as const;

export const config_write_schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...writable_properties,
    // A new password (the placeholder `_DUMMY_PASSWORD` leaves it unchanged); it can be
    // changed, never removed (merge_config).
    www_password: { type: 'string', minLength: password_min_chars, maxLength: 64, pattern: no_nul_pattern },
  },
} as const;

export const config_read_schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...writable_properties,
    loadsharing_config_version: { type: 'integer', minimum: 0 },
    loadsharing_config_updated_at: { type: 'integer', minimum: 0 },
    loadsharing_config_origin: { type: 'string' },
    ...upstream_read_only_properties,
    // The group's members as this charger knows them, itself included (synced like the rest).
    loadsharing_members: {
      type: 'array',
      items: { type: 'object', properties: { host: { type: 'string' }, id: { type: ['string', 'null'] } }, required: ['host', 'id'] },
    },
  },
} as const;

export class ConfigError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

// Rules across fields, checked on the config as it would be after the write. Throws
// ConfigError naming the field the user should change.
export function check_config_rules(c: NodeConfig): void {
  if (c.loadsharing_failsafe_peer_assumed_current < c.loadsharing_failsafe_safe_current) {
    // An offline peer may be running at the failsafe current: reserving less for it is unsafe.
    throw new ConfigError('loadsharing_failsafe_peer_assumed_current',
      `loadsharing_failsafe_peer_assumed_current (${c.loadsharing_failsafe_peer_assumed_current}) must be at least loadsharing_failsafe_safe_current (${c.loadsharing_failsafe_safe_current})`);
  }
  if (c.loadsharing_failsafe_safe_current > c.loadsharing_group_max_current) {
    throw new ConfigError('loadsharing_failsafe_safe_current',
      `loadsharing_failsafe_safe_current (${c.loadsharing_failsafe_safe_current}) must not exceed loadsharing_group_max_current (${c.loadsharing_group_max_current})`);
  }
  if (Buffer.byteLength(c.loadsharing_group_id, 'utf8') > GROUP_ID_BYTES_MAX) {
    throw new ConfigError('loadsharing_group_id', `loadsharing_group_id must be at most ${GROUP_ID_BYTES_MAX} bytes`);
  }
  if (c.loadsharing_group_key !== '' && c.loadsharing_group_key.length < group_key_min_chars) {
    throw new ConfigError('loadsharing_group_key', `loadsharing_group_key must be empty (no authentication) or at least ${group_key_min_chars} characters`);
  }
  if ((c.www_username === '') !== (c.www_password === '')) {
    throw new ConfigError(c.www_username === '' ? 'www_username' : 'www_password', 'www_username and www_password must be set together (or both empty)');
  }
}

// The admin password guards every write (auth.ts): once set it can be changed, not removed
// (which would leave a charger in a group that anyone on the LAN could reconfigure), and load
// sharing cannot be switched on before it is set (ETSI EN 303 645 5.1: no default password;
// docs/security.md "First run"). A stored config that already has load sharing on without a
// password (written before this rule) keeps it: that is not a switch (restore_config).
export function check_admin_rules(current: NodeConfig, next: NodeConfig): void {
  if (current.www_password !== '' && next.www_password === '') {
    throw new ConfigError('www_password', 'www_password cannot be removed once set: set a new one instead');
  }
  if (!current.loadsharing_enabled && next.loadsharing_enabled && next.www_password === '') {
    throw new ConfigError('loadsharing_enabled', 'loadsharing_enabled needs an admin password first: set www_username and www_password (the page\'s first-run step)');
  }
}

export function has_admin_password(c: NodeConfig): boolean {
  return c.www_username !== '' && c.www_password !== '';
}

export interface ConfigWriteResult {
  config: NodeConfig;
  changed: boolean;
  group_changed: boolean;
}

// Applies a validated partial write to a config: returns the new config (not yet stored).
// Group changes bump the version and stamp the time; nothing else does.
export function merge_config(current: NodeConfig, changes: Partial<NodeConfig>, now_s: number): ConfigWriteResult {
  for (const key of read_only_keys) {
    if (key in changes) throw new ConfigError(key, `${key} is read-only`);
  }
  const next: NodeConfig = { ...current };
  let changed = false;
  let group_changed = false;
  for (const [key, value] of Object.entries(changes) as Array<[keyof NodeConfig, unknown]>) {
    if (!(key in writable_properties)) throw new ConfigError(key, `unknown key ${key}`);
    if ((key === 'www_password' || key === 'mqtt_pass') && value === password_placeholder) continue;
    if (current[key] === value) continue;
    (next as unknown as Record<string, unknown>)[key] = value;
    changed = true;
    if ((group_keys as readonly string[]).includes(key)) group_changed = true;
  }
  check_config_rules(next);
  check_admin_rules(current, next);
  if (group_changed) {
    next.loadsharing_config_version = current.loadsharing_config_version + 1;
    next.loadsharing_config_updated_at = Math.max(now_s, current.loadsharing_config_updated_at);
  }
  return { config: next, changed, group_changed };
}

// A stored config (our own file): every known key of the right type is taken, anything else
// is dropped with a note; the result obeys the rules or the defaults are used.
export function restore_config(id: string, stored: unknown, note: (message: string) => void): NodeConfig {
  const fresh = default_node_config(id);
  if (stored === null) return fresh;
  // A config existed: this charger was set up, so an unusable file falls back to defaults with
  // load sharing on (limiting is the safe direction), as configs stored before it defaulted to off.
  const defaults: NodeConfig = { ...fresh, loadsharing_enabled: true };
  if (typeof stored !== 'object' || Array.isArray(stored)) {
    note('config file is not an object; using defaults');
    return defaults;
  }
  // A config stored before load sharing defaulted to off had it on unless it said otherwise:
  // an update must not switch a working group's sharing off (that would raise the current).
  const next: NodeConfig = { ...defaults };
  for (const [key, value] of Object.entries(stored as Record<string, unknown>)) {
    if (key === 'version') continue; // stored by earlier releases; now computed (upstream_api_version)
    if (!(key in defaults)) { note(`config file: unknown key ${key} dropped`); continue; }
    const expected = typeof (defaults as unknown as Record<string, unknown>)[key];
    if (typeof value !== expected) { note(`config file: ${key} has the wrong type; default kept`); continue; }
    (next as unknown as Record<string, unknown>)[key] = value;
  }
  try {
    check_config_rules(next);
    return next;
  } catch (error) {
    note(`config file: ${(error as Error).message}; using defaults`);
    return defaults;
  }
}

export function public_config(c: NodeConfig): Omit<NodeConfig, 'loadsharing_group_key'> {
  const { loadsharing_group_key: _secret, ...rest } = c;
  return {
    ...rest,
    www_password: c.www_password === '' ? '' : password_placeholder,
    mqtt_pass: c.mqtt_pass === '' ? '' : password_placeholder,
  };
}

export function to_loadsharing_config(c: NodeConfig): LoadSharingConfig {
  return {
    enabled: c.loadsharing_enabled,
    group_id: c.loadsharing_group_id,
    group_max_current: c.loadsharing_group_max_current,
    safety_factor: c.loadsharing_safety_factor,
    heartbeat_timeout: c.loadsharing_heartbeat_timeout,
    failsafe_mode: c.loadsharing_failsafe_mode,
    failsafe_safe_current: c.loadsharing_failsafe_safe_current,
    failsafe_peer_assumed_current: c.loadsharing_failsafe_peer_assumed_current,
    priority: c.loadsharing_priority,
    rotation_interval: c.loadsharing_rotation_interval,
    config_version: c.loadsharing_config_version,
    config_updated_at: c.loadsharing_config_updated_at,
  };
}

// The inverse of to_loadsharing_config: the /config keys for the engine's fields (the
// simulator writes its scenarios' configs through them, as a user would through POST /config).
export function node_config_patch(c: Partial<LoadSharingConfig>): Partial<NodeConfig> {
  const out: Partial<NodeConfig> = {};
  if (c.enabled !== undefined) out.loadsharing_enabled = c.enabled;
  if (c.group_id !== undefined) out.loadsharing_group_id = c.group_id;
  if (c.group_max_current !== undefined) out.loadsharing_group_max_current = c.group_max_current;
  if (c.safety_factor !== undefined) out.loadsharing_safety_factor = c.safety_factor;
  if (c.heartbeat_timeout !== undefined) out.loadsharing_heartbeat_timeout = c.heartbeat_timeout;
  if (c.failsafe_mode !== undefined) out.loadsharing_failsafe_mode = c.failsafe_mode;
  if (c.failsafe_safe_current !== undefined) out.loadsharing_failsafe_safe_current = c.failsafe_safe_current;
  if (c.failsafe_peer_assumed_current !== undefined) out.loadsharing_failsafe_peer_assumed_current = c.failsafe_peer_assumed_current;
  if (c.priority !== undefined) out.loadsharing_priority = c.priority;
  if (c.rotation_interval !== undefined) out.loadsharing_rotation_interval = c.rotation_interval;
  if (c.config_version !== undefined) out.loadsharing_config_version = c.config_version;
  if (c.config_updated_at !== undefined) out.loadsharing_config_updated_at = c.config_updated_at;
  return out;
}
