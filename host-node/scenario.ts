// A scenario file: one charger's view of its group (docs/scenario-format.md). Parsing is
// strict: unknown fields, wrong types, out-of-range values and unsafe configs are refused
// with one sentence that names the field.
import { Ajv, type ValidateFunction } from 'ajv';
import { parse_json, describe_schema_error } from './json-input.js';
import type { GroupView, MemberView, GroupConfig } from './core.js';

const amps = (maximum: number) => ({ type: 'number', minimum: 0, maximum });
const id_pattern = '^[\\x21-\\x2b\\x2d-\\x7e]{1,32}$';

export const scenario_schema = {
  type: 'object',
  additionalProperties: false,
  required: ['now_ms', 'self', 'config', 'members'],
  properties: {
    now_ms: { type: 'number', minimum: 0, maximum: 8.64e15 },
    self: { type: 'string', pattern: id_pattern },
    wall_ms: { type: 'number', minimum: 0, maximum: 8.64e15 },
    config_hash: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
    earlier_ms: { type: 'array', maxItems: 64, items: { type: 'number', minimum: 0, maximum: 8.64e15 } },
    self_pilot_a: amps(80),
    config: {
      type: 'object',
      additionalProperties: false,
      required: ['group_max_current'],
      properties: {
        group_id: { type: 'string', maxLength: 64, pattern: '^[\\x20-\\x7e]*$' },
        group_max_current: amps(10000),
        safety_factor: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
        heartbeat_timeout: { type: 'integer', minimum: 5, maximum: 3600 },
        failsafe_mode: { enum: ['safe_current', 'disable'] },
        failsafe_safe_current: amps(80),
        failsafe_peer_assumed_current: amps(80),
        rotation_interval: { type: 'integer', minimum: 0, maximum: 86400 },
        ev_response_ms: { type: 'number', minimum: 0, maximum: 60000 },
        seen_grace_ms: { type: 'number', minimum: 0, maximum: 60000 },
        message_delay_max_ms: { type: 'number', minimum: 0, maximum: 60000 },
      },
    },
    members: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: {
          id: { type: 'string', pattern: id_pattern },
          last_seen_ms: { type: 'number', minimum: 0, maximum: 8.64e15 },
          vehicle: { type: 'integer', minimum: 0, maximum: 1 },
          state: { type: 'integer', minimum: 0, maximum: 255 },
          amp_ma: { type: 'number', minimum: 0, maximum: 100000 },
          voltage: { type: 'number', minimum: 0, maximum: 1000 },
          min_current: amps(80),
          max_current: amps(80),
          priority: { type: 'integer', minimum: -1000, maximum: 1000 },
          demand: { type: 'boolean' },
          seen: { type: 'array', maxItems: 64, uniqueItems: true, items: { type: 'string', pattern: id_pattern } },
          degraded: { type: 'boolean' },
          alloc: { type: 'object', maxProperties: 64, additionalProperties: amps(10000) },
          applied: amps(10000),
          committed: amps(10000),
          demand_cap: amps(80),
          group_max_current: amps(10000),
          safety_factor: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
          config_hash: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
          // A charger without load sharing (rule 3) and the pilot it reports.
          uncontrolled: { type: 'boolean' },
          pilot: amps(80),
        },
      },
    },
  },
} as const;

export class ScenarioError extends Error {}

// Compiled on first use, not at import (a charger node imports this module through the CLI
// but never parses a scenario file).
let validate_memo: ValidateFunction | null = null;
function validator(): ValidateFunction {
  return (validate_memo ??= new Ajv({ allErrors: false, strict: true }).compile(scenario_schema));
}

export const config_defaults = {
  group_id: '',
  safety_factor: 1.0,
  heartbeat_timeout: 30,
  failsafe_mode: 'safe_current',
  failsafe_safe_current: 6,
  failsafe_peer_assumed_current: 6,
  rotation_interval: 1800,
} as const;

export const member_defaults = {
  vehicle: 0,
  state: 1,
  amp_ma: 0,
  voltage: 240,
  min_current: 6,
  max_current: 32,
  priority: 0,
} as const;

// A scenario's view. The protocol's memory is the module's own (its carry), so a scenario
// cannot state it: `earlier_ms` lists earlier monotonic times at which the same facts were
// decided first, the carry passing from call to call (how long a mismatch or a degraded
// state has lasted, say); the scenario's decision is the one after them.
export type ScenarioView = GroupView & { earlier_ms?: number[] };

// Parses scenario text into a view; throws ScenarioError with one sentence.
export function parse_scenario(text: string): ScenarioView {
  const parsed = parse_json(text);
  if (!parsed.ok) throw new ScenarioError(parsed.message);
  return scenario_to_view(parsed.data);
}

export function scenario_to_view(data: unknown): ScenarioView {
  const validate = validator();
  if (!validate(data)) throw new ScenarioError(describe_schema_error(validate.errors![0], /(^|\.)(id|self|seen\.\d+)$/));
  const raw = data as unknown as ScenarioView & { config: Partial<GroupConfig>; self_pilot_a?: number };
  const config = { ...config_defaults, ...raw.config } as GroupConfig;
  if (config.failsafe_peer_assumed_current < config.failsafe_safe_current) {
    throw new ScenarioError(
      `config: unsafe: failsafe_peer_assumed_current (${config.failsafe_peer_assumed_current} A) is below failsafe_safe_current (${config.failsafe_safe_current} A); a degraded peer may draw the safe current, so at least that much must be reserved for it`,
    );
  }
  const ids = new Set<string>();
  const members: MemberView[] = raw.members.map((m, i) => {
    if (ids.has(m.id)) throw new ScenarioError(`members.${i}.id: duplicate id "${m.id}"`);
    ids.add(m.id);
    const member = { ...member_defaults, ...m } as MemberView;
    if (member.min_current > member.max_current) {
      throw new ScenarioError(`members.${i}: min_current (${member.min_current} A) is above max_current (${member.max_current} A)`);
    }
    return member;
  });
  if (!ids.has(raw.self)) throw new ScenarioError(`self: "${raw.self}" is not one of the members`);
  members.forEach((m, i) => {
    for (const id of Object.keys(m.alloc ?? {})) {
      if (!ids.has(id)) throw new ScenarioError(`members.${i}.alloc: unknown member "${id}"`);
    }
  });
  const view: ScenarioView = { now_ms: raw.now_ms, self: raw.self, config, members };
  if (raw.wall_ms !== undefined) view.wall_ms = raw.wall_ms;
  if (raw.config_hash !== undefined) view.config_hash = raw.config_hash.toLowerCase();
  if (raw.self_pilot_a !== undefined) view.self_pilot_a = raw.self_pilot_a;
  // What the scenario says self applies is the fact the host would hand in.
  const self_applied_a = members.find((m) => m.id === raw.self)?.applied;
  if (self_applied_a !== undefined) view.self_limit_a = self_applied_a;
  if (raw.earlier_ms !== undefined) {
    raw.earlier_ms.forEach((t, i) => {
      if (t >= raw.now_ms || (i > 0 && t <= raw.earlier_ms![i - 1])) {
        throw new ScenarioError(`earlier_ms.${i}: earlier times must rise and stay below now_ms`);
      }
    });
    view.earlier_ms = [...raw.earlier_ms];
  }
  return view;
}
