// A simulation scenario file (docs/simulation.md): chargers, cars, limits, events, faults,
// duration, tick, and what to expect. Parsing is strict: unknown fields, wrong types,
// out-of-range values and references to unknown chargers are refused with one sentence
// that names the field.
import { Ajv, type ValidateFunction } from 'ajv';
import { parse_json, describe_schema_error } from '../json-input.js';
import type { LoadSharingConfig, ProtocolTiming } from '../engine/types.js';
import type { Transport } from './network.js';
import { group_key_min_chars } from '../node/config.js';
import { heartbeat_current_a, supervision_interval_s } from '../station/evse.js';

export class SimScenarioError extends Error {}

const id_pattern = '^[\\x21-\\x2b\\x2d-\\x7e]{1,32}$';
const amps = (maximum: number) => ({ type: 'number', minimum: 0, maximum });
const seconds = { type: 'number', minimum: 0, maximum: 30 * 86400 };
const ms = (maximum: number) => ({ type: 'number', minimum: 0, maximum });
const ids = { type: 'array', minItems: 1, maxItems: 16, uniqueItems: true, items: { type: 'string', pattern: id_pattern } };

const config_properties = {
  enabled: { type: 'boolean' },
  group_id: { type: 'string', maxLength: 64, pattern: '^[\\x20-\\x7e]*$' },
  group_max_current: amps(10000),
  safety_factor: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
  heartbeat_timeout: { type: 'integer', minimum: 5, maximum: 3600 },
  failsafe_mode: { enum: ['safe_current', 'disable'] },
  failsafe_safe_current: amps(80),
  failsafe_peer_assumed_current: amps(80),
  priority: { type: 'integer', minimum: -1000, maximum: 1000 },
  rotation_interval: { type: 'integer', minimum: 0, maximum: 86400 },
} as const;
const config_schema = { type: 'object', additionalProperties: false, properties: config_properties };

const car_properties = {
  soc_pct: { type: 'number', minimum: 0, maximum: 100 },
  battery_kwh: { type: 'number', exclusiveMinimum: 0, maximum: 500 },
  max_current: amps(80),
  lag_ms: ms(5000),
  lag_up_ms: ms(60000),
  ramp_a_per_s: { type: 'number', exclusiveMinimum: 0, maximum: 1000 },
  draw_ratio: { type: 'number', minimum: 0, maximum: 1 },
} as const;

const link_properties = {
  latency_ms: ms(60000),
  jitter_ms: ms(60000),
  loss: { type: 'number', minimum: 0, maximum: 1 },
  duplicate: { type: 'number', minimum: 0, maximum: 1 },
  reorder: { type: 'number', minimum: 0, maximum: 1 },
} as const;

const drift_ppm = { type: 'number', minimum: -100000, maximum: 100000 };

const applied_map = { type: 'object', maxProperties: 16, additionalProperties: amps(10000) };
const flag_map = { type: 'object', maxProperties: 16, additionalProperties: { type: 'boolean' } };

const event_schemas = [
  { kind: 'pause', required: ['charger'], properties: { charger: { type: 'string' } } },
  { kind: 'resume', required: ['charger'], properties: { charger: { type: 'string' } } },
  { kind: 'car', required: ['charger'], properties: { charger: { type: 'string' }, ...car_properties } },
  { kind: 'config', required: ['set'], properties: { chargers: ids, set: config_schema } },
  { kind: 'add_member', required: ['member'], properties: { chargers: ids, member: { type: 'string' } } },
  { kind: 'remove_member', required: ['member'], properties: { chargers: ids, member: { type: 'string' } } },
  // Hot swap: the charger starts deciding with another module (kept across restarts, like the slots).
  { kind: 'module', required: ['charger', 'module'], properties: { charger: { type: 'string' }, module: { enum: ['builtin', 'priority_first', 'carry_next'] } } },
];

const fault_schemas = [
  { kind: 'partition', required: ['a', 'b'], properties: { a: ids, b: ids, one_way: { type: 'boolean' }, duration_s: seconds } },
  { kind: 'isolate', required: ['charger'], properties: { charger: { type: 'string' }, duration_s: seconds } },
  { kind: 'crash', required: ['charger'], properties: { charger: { type: 'string' }, duration_s: seconds } },
  { kind: 'skew', required: ['charger', 'skew_ms'], properties: { charger: { type: 'string' }, skew_ms: { type: 'number', minimum: -86400000, maximum: 86400000 } } },
  { kind: 'drift', required: ['charger', 'drift_ppm'], properties: { charger: { type: 'string' }, drift_ppm } },
  { kind: 'link', required: ['from', 'to'], properties: { from: { type: 'string' }, to: { type: 'string' }, ...link_properties, duration_s: seconds } },
  { kind: 'flap', required: ['charger', 'period_s', 'down_s', 'count'], properties: { charger: { type: 'string' }, period_s: { type: 'number', exclusiveMinimum: 0, maximum: 86400 }, down_s: { type: 'number', exclusiveMinimum: 0, maximum: 86400 }, count: { type: 'integer', minimum: 1, maximum: 10000 } } },
];

function tagged(list: Array<{ kind: string; required: string[]; properties: Record<string, unknown> }>) {
  return {
    type: 'array',
    maxItems: 10000,
    items: {
      type: 'object',
      required: ['at_s', 'kind'],
      properties: { kind: { enum: list.map((e) => e.kind) } },
      allOf: list.map((e) => ({
        if: { properties: { kind: { const: e.kind } } },
        then: { additionalProperties: false, required: e.required, properties: { at_s: seconds, kind: { const: e.kind }, ...e.properties } },
      })),
    },
  };
}

export const sim_scenario_schema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'duration_s', 'chargers'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string', maxLength: 4000 },
    duration_s: { type: 'number', exclusiveMinimum: 0, maximum: 30 * 86400 },
    tick_ms: { type: 'number', minimum: 1, maximum: 60000 },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
    start_ms: { type: 'number', minimum: 0, maximum: 8.64e15 },
    status_period_ms: { type: 'number', minimum: 100, maximum: 60000 },
    react_ms: ms(10000),
    // Config sync between the chargers (docs/config-sync.md); false: each keeps its own config.
    config_sync: { type: 'boolean' },
    group_key: { type: 'string', maxLength: 128 },
    timing: {
      type: 'object',
      additionalProperties: false,
      properties: { ev_response_ms: ms(60000), seen_grace_ms: ms(60000), message_delay_max_ms: ms(60000), tick_interval_ms: { type: 'number', minimum: 10, maximum: 60000 } },
    },
    config: config_schema,
    network: {
      type: 'object',
      additionalProperties: false,
      properties: {
        transport: { enum: ['ws', 'http'] },
        ...link_properties,
        links: {
          type: 'array', maxItems: 256,
          items: { type: 'object', additionalProperties: false, required: ['from', 'to'], properties: { from: { type: 'string' }, to: { type: 'string' }, ...link_properties } },
        },
      },
    },
    chargers: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: {
          id: { type: 'string', pattern: id_pattern },
          min_current: amps(80),
          max_current: amps(80),
          voltage: { type: 'number', exclusiveMinimum: 0, maximum: 1000 },
          skew_ms: { type: 'number', minimum: -86400000, maximum: 86400000 },
          members: { type: 'array', maxItems: 16, uniqueItems: true, items: { type: 'string' } },
          config: config_schema,
          heartbeat_interval_ms: ms(3600000),
          heartbeat_current: amps(80),
          boot_at_s: seconds,
          group_key: { type: 'string', maxLength: 128 },
          drift_ppm,
          amp_offset_a: { type: 'number', minimum: -100, maximum: 100 },
          amp_noise_a: amps(100),
          // A charger without load sharing on the same breaker (upstream OpenEVSE firmware): it
          // answers /ws without a loadsharing block, and its own user changes its pilot at
          // random times, on average every user_pilot_mean_s (0: never).
          upstream: { type: 'boolean' },
          user_pilot_mean_s: { type: 'number', minimum: 0, maximum: 86400 },
        },
      },
    },
    cars: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['charger', 'plug_at_s'],
        properties: { charger: { type: 'string' }, plug_at_s: seconds, unplug_at_s: seconds, ...car_properties },
      },
    },
    limits: {
      type: 'array',
      maxItems: 10000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['at_s'],
        properties: { at_s: seconds, chargers: ids, group_max_current: amps(10000), safety_factor: { type: 'number', exclusiveMinimum: 0, maximum: 1 } },
      },
    },
    events: tagged(event_schemas),
    faults: tagged(fault_schemas),
    expect: {
      type: 'object',
      additionalProperties: false,
      properties: {
        at: {
          type: 'array',
          maxItems: 1000,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['at_s'],
            properties: {
              at_s: seconds,
              applied: applied_map,
              draw: applied_map,
              tolerance_a: amps(100),
              degraded: flag_map,
              failsafe: flag_map,
              online: { type: 'object', maxProperties: 16, additionalProperties: flag_map },
              total_draw_max: amps(10000),
            },
          },
        },
        min_utilisation: { type: 'number', minimum: 0, maximum: 1 },
        min_fairness: { type: 'number', minimum: 0, maximum: 1 },
        converge_within_s: seconds,
        rotation_turns: { type: 'boolean' },
        max_reversals: { type: 'integer', minimum: 0 },
      },
    },
  },
} as const;

export interface CarPlan {
  charger: string;
  plug_at_s: number;
  unplug_at_s?: number;
  soc_pct?: number;
  battery_kwh?: number;
  max_current?: number;
  lag_ms?: number;
  lag_up_ms?: number;
  ramp_a_per_s?: number;
  draw_ratio?: number;
}

export interface ChargerPlan {
  id: string;
  min_current: number;
  max_current: number;
  voltage: number;
  skew_ms: number;
  members: string[];
  config: LoadSharingConfig;
  // The controller's supervision as set at boot. Unless the scenario fixes either value, the
  // host re-sets both from its current config on every change (supervision_follows_config).
  heartbeat_interval_ms: number;
  heartbeat_current: number;
  supervision_follows_config: boolean;
  boot_at_s: number;
  group_key: string; // '' = an unauthenticated group
  drift_ppm: number;
  amp_offset_a: number;
  amp_noise_a: number;
  upstream?: boolean; // runs upstream firmware: no station, no engine (sim-charger.ts)
  user_pilot_mean_s?: number;
}

export type SimEventPlan =
  | { at_s: number; kind: 'pause' | 'resume'; charger: string }
  | { at_s: number; kind: 'car'; charger: string; soc_pct?: number; battery_kwh?: number; max_current?: number; lag_ms?: number; lag_up_ms?: number; ramp_a_per_s?: number; draw_ratio?: number }
  | { at_s: number; kind: 'config'; chargers?: string[]; set: Partial<LoadSharingConfig> }
  | { at_s: number; kind: 'add_member' | 'remove_member'; chargers?: string[]; member: string }
  | { at_s: number; kind: 'module'; charger: string; module: 'builtin' | 'priority_first' | 'carry_next' };

export type FaultPlan =
  | { at_s: number; kind: 'partition'; a: string[]; b: string[]; one_way?: boolean; duration_s?: number }
  | { at_s: number; kind: 'isolate'; charger: string; duration_s?: number }
  | { at_s: number; kind: 'crash'; charger: string; duration_s?: number }
  | { at_s: number; kind: 'skew'; charger: string; skew_ms: number }
  | { at_s: number; kind: 'drift'; charger: string; drift_ppm: number }
  | { at_s: number; kind: 'link'; from: string; to: string; latency_ms?: number; jitter_ms?: number; loss?: number; duplicate?: number; reorder?: number; duration_s?: number }
  | { at_s: number; kind: 'flap'; charger: string; period_s: number; down_s: number; count: number };

export interface LimitPlan {
  at_s: number;
  chargers?: string[];
  group_max_current?: number;
  safety_factor?: number;
}

export interface ExpectAt {
  at_s: number;
  applied?: Record<string, number>;
  draw?: Record<string, number>;
  tolerance_a?: number;
  degraded?: Record<string, boolean>;
  failsafe?: Record<string, boolean>;
  online?: Record<string, Record<string, boolean>>;
  total_draw_max?: number;
}

export interface SimScenario {
  name: string;
  description: string;
  duration_s: number;
  tick_ms: number;
  seed: number;
  start_ms: number;
  status_period_ms: number;
  react_ms: number;
  config_sync: boolean;
  timing: ProtocolTiming;
  network: { transport: Transport; latency_ms: number; jitter_ms: number; loss: number; duplicate?: number; reorder?: number; links: Array<{ from: string; to: string; latency_ms?: number; jitter_ms?: number; loss?: number; duplicate?: number; reorder?: number }> };
  chargers: ChargerPlan[];
  cars: CarPlan[];
  limits: LimitPlan[];
  events: SimEventPlan[];
  faults: FaultPlan[];
  expect: { at: ExpectAt[]; min_utilisation?: number; min_fairness?: number; converge_within_s?: number; rotation_turns?: boolean; max_reversals?: number };
}

export const sim_defaults = {
  tick_ms: 100,
  seed: 1,
  start_ms: 1767225600000, // 2026-01-01T00:00:00Z
  status_period_ms: 1000,
  react_ms: 50,
  timing: { ev_response_ms: 5000, seen_grace_ms: 3000, message_delay_max_ms: 2000, tick_interval_ms: 1000 },
  config: {
    enabled: true, group_id: 'sim', group_max_current: 32, safety_factor: 1.0, heartbeat_timeout: 30,
    failsafe_mode: 'safe_current', failsafe_safe_current: 6, failsafe_peer_assumed_current: 6, priority: 0,
    rotation_interval: 1800, config_version: 1, config_updated_at: 1767225600,
  } as LoadSharingConfig,
  network: { transport: 'ws' as Transport, latency_ms: 20, jitter_ms: 30, loss: 0 },
  charger: { min_current: 6, max_current: 32, voltage: 240, skew_ms: 0 },
  // Worst-case physics unless a scenario says otherwise: a car takes the full 5 s that
  // IEC 61851 allows to follow a lower pilot.
  car: { soc_pct: 20, battery_kwh: 60, max_current: 32, lag_ms: 5000 },
} as const;

// Compiled on first use, not at import: the compiled validator is several MB of generated
// code, and a charger node (which imports the CLI) never parses a simulation scenario.
let validate_memo: ValidateFunction | null = null;
function validator(): ValidateFunction {
  return (validate_memo ??= new Ajv({ allErrors: false, strict: false }).compile(sim_scenario_schema));
}

// The heartbeat supervision interval the hosts set on the charge controller: a dead engine's
// car must fall to the controller's heartbeat current before the others' offline hold ends.
// Others declare me offline heartbeat_timeout after my last message arrived; my last message
// left at most one status period before I died; they then hold my committed current for
// ev_response + seen_grace + message_delay_max; my car needs up to ev_response to follow.
// So interval <= heartbeat_timeout + hold - status_period - ev_response. The hosts set at most
// seen_grace + message_delay_max and at most the timeout (supervision_interval_s), well inside.
export function heartbeat_interval_bound_ms(config: LoadSharingConfig, timing: ProtocolTiming, status_period_ms: number): number {
  const hold_ms = timing.ev_response_ms + timing.seen_grace_ms + timing.message_delay_max_ms;
  return config.heartbeat_timeout * 1000 + hold_ms - status_period_ms - timing.ev_response_ms;
}

// The supervision a host sets on its controller from its config, as the shipping hosts set it
// (station/evse.ts): the interval (supervision_interval_s) and the heartbeat current over the
// group's members, self included (heartbeat_current_a).
export function supervision_of(config: LoadSharingConfig, timing: ProtocolTiming, members = 1): { interval_ms: number; current_a: number } {
  return { interval_ms: supervision_interval_s(config.heartbeat_timeout, timing) * 1000, current_a: heartbeat_current_a(config, members) };
}

// The protocol assumes no status is delayed more than message_delay_max (docs/protocol.md).
// A scenario may set longer delays to see what happens then; such a run is labelled
// "assumption violated" and its INV-1 and permission results are reported apart.
export function delay_assumption_violations(s: SimScenario): string[] {
  const max_ms = s.timing.message_delay_max_ms;
  const out: string[] = [];
  const worst = (l: { latency_ms?: number; jitter_ms?: number }) => (l.latency_ms ?? s.network.latency_ms) + (l.jitter_ms ?? s.network.jitter_ms);
  if (worst({}) > max_ms) out.push(`network delay up to ${worst({})} ms (latency ${s.network.latency_ms} + jitter ${s.network.jitter_ms}) exceeds message_delay_max_ms (${max_ms} ms)`);
  for (const l of s.network.links) if (worst(l) > max_ms) out.push(`link ${l.from}->${l.to} delay up to ${worst(l)} ms exceeds message_delay_max_ms (${max_ms} ms)`);
  for (const f of s.faults) {
    if (f.kind === 'link' && (f.latency_ms !== undefined || f.jitter_ms !== undefined)) {
      const base: { latency_ms?: number; jitter_ms?: number } = s.network.links.find((l) => l.from === f.from && l.to === f.to) ?? {};
      const delay_ms = (f.latency_ms ?? base.latency_ms ?? s.network.latency_ms) + (f.jitter_ms ?? base.jitter_ms ?? s.network.jitter_ms);
      if (delay_ms > max_ms) out.push(`link fault at ${f.at_s} s: ${f.from}->${f.to} delay up to ${delay_ms} ms exceeds message_delay_max_ms (${max_ms} ms)`);
    }
  }
  return out;
}

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function parse_sim_scenario(text: string): SimScenario {
  const parsed = parse_json(text);
  if (!parsed.ok) throw new SimScenarioError(parsed.message);
  return to_sim_scenario(parsed.data);
}

export function to_sim_scenario(data: unknown): SimScenario {
  const validate = validator();
  if (!validate(data)) throw new SimScenarioError(describe_schema_error(validate.errors![0], /(^|\.)id$/));
  const raw = data as Raw;
  const timing: ProtocolTiming = { ...sim_defaults.timing, ...(raw.timing ?? {}) };
  const status_period_ms: number = raw.status_period_ms ?? sim_defaults.status_period_ms;
  const base_config: LoadSharingConfig = { ...sim_defaults.config, ...(raw.config ?? {}) };
  const all_ids: string[] = (raw.chargers as Raw[]).map((c) => c.id);
  const known = new Set<string>();
  for (const [i, id] of all_ids.entries()) {
    if (known.has(id)) throw new SimScenarioError(`chargers.${i}.id: duplicate id "${id}"`);
    known.add(id);
  }
  const need = (where: string, id: string) => {
    if (!known.has(id)) throw new SimScenarioError(`${where}: unknown charger "${id}"`);
  };
  const chargers: ChargerPlan[] = (raw.chargers as Raw[]).map((c, i) => {
    const config: LoadSharingConfig = { ...base_config, ...(c.config ?? {}) };
    check_config(`chargers.${i}.config`, config);
    const min_current = c.min_current ?? sim_defaults.charger.min_current;
    const max_current = c.max_current ?? sim_defaults.charger.max_current;
    if (min_current > max_current) throw new SimScenarioError(`chargers.${i}: min_current (${min_current} A) is above max_current (${max_current} A)`);
    const members: string[] = c.members ?? all_ids.filter((x) => x !== c.id);
    members.forEach((m, k) => need(`chargers.${i}.members.${k}`, m));
    return {
      id: c.id, min_current, max_current,
      voltage: c.voltage ?? sim_defaults.charger.voltage,
      skew_ms: c.skew_ms ?? sim_defaults.charger.skew_ms,
      members: members.filter((m) => m !== c.id),
      config,
      heartbeat_interval_ms: c.heartbeat_interval_ms ?? supervision_of(config, timing).interval_ms,
      heartbeat_current: c.heartbeat_current ?? supervision_of(config, timing, members.filter((m) => m !== c.id).length + 1).current_a,
      supervision_follows_config: c.heartbeat_interval_ms === undefined && c.heartbeat_current === undefined,
      boot_at_s: c.boot_at_s ?? 0,
      group_key: c.group_key ?? raw.group_key ?? '',
      drift_ppm: c.drift_ppm ?? 0,
      amp_offset_a: c.amp_offset_a ?? 0,
      amp_noise_a: c.amp_noise_a ?? 0,
      ...(c.upstream === true ? { upstream: true, user_pilot_mean_s: c.user_pilot_mean_s ?? 0 } : {}),
    };
  });
  chargers.forEach((c, i) => {
    // Upstream firmware speaks /ws without the group key, and no poll path is simulated for it.
    if (c.upstream && c.group_key !== '') throw new SimScenarioError(`chargers.${i}.upstream: a charger without load sharing cannot sign for a keyed group`);
    if (c.upstream && (raw.network as Raw | undefined)?.transport === 'http') throw new SimScenarioError(`chargers.${i}.upstream: needs the ws transport`);
    if (!c.upstream && raw.chargers[i].user_pilot_mean_s !== undefined) throw new SimScenarioError(`chargers.${i}.user_pilot_mean_s: only for an upstream charger`);
  });
  chargers.forEach((c, i) => {
    if (c.group_key !== '' && c.group_key.length < group_key_min_chars) {
      throw new SimScenarioError(`${raw.chargers[i].group_key !== undefined ? `chargers.${i}.group_key` : 'group_key'}: must be empty or at least ${group_key_min_chars} characters`);
    }
  });
  const duration_s: number = raw.duration_s;
  const cars: CarPlan[] = (raw.cars ?? []) as CarPlan[];
  cars.forEach((car, i) => {
    need(`cars.${i}.charger`, car.charger);
    if (car.unplug_at_s !== undefined && car.unplug_at_s <= car.plug_at_s) throw new SimScenarioError(`cars.${i}: unplug_at_s must be after plug_at_s`);
  });
  // Two cars on one charger must not overlap in time.
  for (const id of all_ids) {
    const mine = cars.filter((c) => c.charger === id).sort((a, b) => a.plug_at_s - b.plug_at_s);
    for (let k = 1; k < mine.length; k++) {
      const prev = mine[k - 1];
      if (prev.unplug_at_s === undefined || prev.unplug_at_s > mine[k].plug_at_s) {
        throw new SimScenarioError(`cars: two cars overlap on charger "${id}" (plugged at ${prev.plug_at_s} s and ${mine[k].plug_at_s} s)`);
      }
    }
  }
  const limits: LimitPlan[] = (raw.limits ?? []) as LimitPlan[];
  limits.forEach((l, i) => {
    (l.chargers ?? []).forEach((id, k) => need(`limits.${i}.chargers.${k}`, id));
    if (l.group_max_current === undefined && l.safety_factor === undefined) throw new SimScenarioError(`limits.${i}: set group_max_current or safety_factor`);
  });
  const events: SimEventPlan[] = (raw.events ?? []) as SimEventPlan[];
  events.forEach((e, i) => {
    if ('charger' in e) need(`events.${i}.charger`, e.charger);
    if ('chargers' in e) (e.chargers ?? []).forEach((id, k) => need(`events.${i}.chargers.${k}`, id));
    if (e.kind === 'add_member' || e.kind === 'remove_member') need(`events.${i}.member`, e.member);
    if (e.kind === 'config') {
      for (const c of chargers) if (!e.chargers || e.chargers.includes(c.id)) check_config(`events.${i}.set`, { ...c.config, ...e.set });
    }
  });
  const faults: FaultPlan[] = (raw.faults ?? []) as FaultPlan[];
  faults.forEach((f, i) => {
    if ('charger' in f) need(`faults.${i}.charger`, f.charger);
    if (f.kind === 'partition') {
      f.a.forEach((id, k) => need(`faults.${i}.a.${k}`, id));
      f.b.forEach((id, k) => need(`faults.${i}.b.${k}`, id));
      if (f.a.some((id) => f.b.includes(id))) throw new SimScenarioError(`faults.${i}: a charger cannot be on both sides of a partition`);
    }
    if (f.kind === 'link') {
      need(`faults.${i}.from`, f.from);
      need(`faults.${i}.to`, f.to);
    }
    if (f.kind === 'flap' && f.down_s >= f.period_s) throw new SimScenarioError(`faults.${i}: down_s must be shorter than period_s`);
  });
  const network = { ...sim_defaults.network, links: [], ...(raw.network ?? {}) };
  (network.links as Raw[]).forEach((l, i) => { need(`network.links.${i}.from`, l.from); need(`network.links.${i}.to`, l.to); });
  const expect = { at: [], ...(raw.expect ?? {}) };
  (expect.at as ExpectAt[]).forEach((x, i) => {
    for (const key of ['applied', 'draw', 'degraded', 'failsafe', 'online'] as const) {
      for (const id of Object.keys(x[key] ?? {})) need(`expect.at.${i}.${key}`, id);
    }
    for (const viewer of Object.keys(x.online ?? {})) for (const id of Object.keys(x.online![viewer])) need(`expect.at.${i}.online.${viewer}`, id);
    if (x.at_s > duration_s) throw new SimScenarioError(`expect.at.${i}.at_s: after the end of the run (${duration_s} s)`);
  });
  return {
    name: raw.name,
    description: raw.description ?? '',
    duration_s,
    tick_ms: raw.tick_ms ?? sim_defaults.tick_ms,
    seed: raw.seed ?? sim_defaults.seed,
    start_ms: raw.start_ms ?? sim_defaults.start_ms,
    status_period_ms,
    react_ms: raw.react_ms ?? sim_defaults.react_ms,
    config_sync: raw.config_sync ?? true,
    timing,
    network,
    chargers,
    cars,
    limits,
    events,
    faults,
    expect,
  };
}

function check_config(where: string, config: LoadSharingConfig): void {
  if (config.failsafe_peer_assumed_current < config.failsafe_safe_current) {
    throw new SimScenarioError(`${where}: unsafe: failsafe_peer_assumed_current (${config.failsafe_peer_assumed_current} A) is below failsafe_safe_current (${config.failsafe_safe_current} A)`);
  }
}
