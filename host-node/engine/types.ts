// The engine's contract: what it is handed (handle_*), what it hands back (poll_*), and the
// small interfaces it is written against. No I/O here: sockets, files and clocks live in the
// adapters (host-node/node/*) or in the simulator's virtual world.
import type { FailsafeMode } from '../core.js';

export interface Clock {
  now_ms(): number;
}

// What the engine drives: the load-sharing limit of this charger's current shaper.
export interface Shaper {
  set_loadsharing_limit_a(limit_a: number): void;
}

// The group configuration this charger holds (the loadsharing_* keys of /config, in the units
// of the plan: amps, seconds).
export interface LoadSharingConfig {
  enabled: boolean;
  group_id: string;
  group_max_current: number;
  safety_factor: number;
  heartbeat_timeout: number;
  failsafe_mode: FailsafeMode;
  failsafe_safe_current: number;
  failsafe_peer_assumed_current: number;
  priority: number;
  rotation_interval: number;
  config_version: number;
  config_updated_at: number; // Unix seconds
}

export const default_loadsharing_config: LoadSharingConfig = {
  enabled: true,
  group_id: '',
  group_max_current: 32,
  safety_factor: 1.0,
  heartbeat_timeout: 30,
  failsafe_mode: 'safe_current',
  failsafe_safe_current: 6,
  failsafe_peer_assumed_current: 6,
  priority: 0,
  rotation_interval: 1800,
  config_version: 0,
  config_updated_at: 0,
};

// Protocol timing the engine assumes (docs/protocol.md, rules 2, 3, 6).
export interface ProtocolTiming {
  ev_response_ms: number;
  seen_grace_ms: number;
  message_delay_max_ms: number;
  tick_interval_ms: number;
}

export const default_timing: ProtocolTiming = {
  ev_response_ms: 5000,
  seen_grace_ms: 3000,
  message_delay_max_ms: 2000,
  tick_interval_ms: 1000,
};

// This charger's own charge controller, as the EVSE adapter reports it (OpenEVSE units:
// amp_ma in milliamps, pilot and max_current in amps).
export interface LocalEvseStatus {
  vehicle: number;
  state: number;
  amp_ma: number;
  voltage: number;
  pilot: number;
  min_current: number;
  max_current: number;
  // Wants current: a car is connected and wants charge, including while load sharing itself
  // has paused it at 0 A (sleeping must never cost a charger its turn).
  demand: boolean;
}

// The load-sharing block every member publishes in its /status and /ws documents
// (docs/protocol.md).
export interface LoadSharingBlock {
  id: string;
  seen: string[];
  degraded: boolean;
  failsafe_active: boolean;
  alloc: Record<string, number>;
  applied_current: number;
  committed_current: number;
  target_current: number;
  demand: boolean;
  demand_cap: number; // amps, 0 = no cap
  min_current: number;
  max_current: number;
  priority: number;
  group_max_current: number;
  safety_factor: number;
  // The safety settings this charger holds (rule 8: members use the most conservative).
  heartbeat_timeout: number; // seconds
  failsafe_safe_current: number;
  failsafe_peer_assumed_current: number;
  config_version: number;
  config_hash: string;
  module_hash: string;
  reason: string;
  left_alone: boolean; // its members all left and no person has set it up on its own (rule 8)
  alone_confirmed: boolean; // a person set it up on its own: its former group stops reserving it
}

// A peer's status document as received (OpenEVSE /status or /ws fields, all optional since
// /ws sends deltas), with our block under `loadsharing`.
export interface PeerStatusDoc {
  amp?: number;
  voltage?: number;
  pilot?: number;
  max_current?: number;
  state?: number;
  vehicle?: number;
  loadsharing?: Partial<LoadSharingBlock>;
  [key: string]: unknown;
}

export type EngineEvent =
  | { kind: 'peer_online'; at_ms: number; peer: string }
  | { kind: 'peer_offline'; at_ms: number; peer: string }
  | { kind: 'allocation_changed'; at_ms: number; member: string; from_a: number; to_a: number; reason: string }
  | { kind: 'applied_changed'; at_ms: number; from_a: number; to_a: number; reason: string }
  | { kind: 'failsafe_entered'; at_ms: number; reason: string }
  | { kind: 'failsafe_left'; at_ms: number }
  | { kind: 'degraded_entered'; at_ms: number }
  | { kind: 'degraded_left'; at_ms: number }
  | { kind: 'guard_tripped'; at_ms: number; reason: string }
  | { kind: 'config_inconsistent'; at_ms: number; peers: string[] }
  // The module did not continue the carry it was handed (another module's format after a hot
  // swap, a corrupt block, a clock that restarted or ran backwards): it made the safe start.
  | { kind: 'carry_safe_start'; at_ms: number; status: string };
