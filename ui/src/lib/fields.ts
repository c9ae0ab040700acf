// The group settings form: every loadsharing_* key of /config with its unit and one line of
// help, and how a server refusal ({"msg": "..."}) is matched to the field it names.

export type FieldKind = 'boolean' | 'text' | 'number' | 'integer' | 'choice';

export interface FieldDef {
  key: string;
  label: string;
  kind: FieldKind;
  unit: string;
  help: string;
  choices?: Array<{ value: string; label: string }>;
  step?: string;
  group_wide: boolean; // part of the group's shared config (enters the config hash)
}

export const FIELDS: FieldDef[] = [
  { key: 'loadsharing_enabled', label: 'Load sharing', kind: 'boolean', unit: '', group_wide: false,
    help: 'Take part in the group. Off: this charger ignores the others (only safe on its own breaker).' },
  { key: 'loadsharing_group_id', label: 'Group name', kind: 'text', unit: '', group_wide: true,
    help: 'A name for the group; every charger on the breaker uses the same one.' },
  { key: 'loadsharing_group_max_current', label: 'Breaker limit', kind: 'number', unit: 'A', step: '0.1', group_wide: true,
    help: 'Rating of the breaker (or cable) that all chargers in the group share.' },
  { key: 'loadsharing_safety_factor', label: 'Safety factor', kind: 'number', unit: '×', step: '0.01', group_wide: true,
    help: 'Share of the breaker limit the group may use (0–1); 0.8 keeps 20 % headroom.' },
  { key: 'loadsharing_heartbeat_timeout', label: 'Offline after', kind: 'integer', unit: 's', step: '1', group_wide: true,
    help: 'A charger not heard from for this long counts as offline and gets a reserve.' },
  { key: 'loadsharing_failsafe_mode', label: 'Failsafe mode', kind: 'choice', unit: '', group_wide: true,
    choices: [{ value: 'safe_current', label: 'charge at the safe current' }, { value: 'disable', label: 'stop charging' }],
    help: 'What a charger does when it cannot trust the group (it hears no one, or views disagree).' },
  { key: 'loadsharing_failsafe_safe_current', label: 'Safe current', kind: 'number', unit: 'A', step: '0.1', group_wide: true,
    help: 'The most a charger draws in failsafe; also what its controller falls to if its WiFi side dies.' },
  { key: 'loadsharing_failsafe_peer_assumed_current', label: 'Reserve for an offline charger', kind: 'number', unit: 'A', step: '0.1', group_wide: true,
    help: 'Kept free for each charger that is offline or degraded; at least the safe current.' },
  { key: 'loadsharing_priority', label: 'Priority', kind: 'integer', unit: '', step: '1', group_wide: false,
    help: 'Lower numbers are served first when there is not enough for everyone (this charger only).' },
  { key: 'loadsharing_rotation_interval', label: 'Take turns every', kind: 'integer', unit: 's', step: '1', group_wide: true,
    help: 'When not every car can charge, equal-priority chargers rotate this often; 0 = never.' },
];

export const FIELD_KEYS = FIELDS.map((f) => f.key);

// The field a server message is about: the configuration key that appears first in it
// ("loadsharing_heartbeat_timeout must be >= 5", "loadsharing_failsafe_peer_assumed_current (5)
// must be at least loadsharing_failsafe_safe_current (6)"). null when it names none.
export function field_of_message(message: string): string | null {
  let best: { key: string; at: number } | null = null;
  for (const key of FIELD_KEYS) {
    const match = new RegExp(`(^|[^a-z_])${key}($|[^a-z_])`).exec(message);
    if (match === null) continue;
    const at = match.index + match[1].length;
    if (best === null || at < best.at) best = { key, at };
  }
  return best?.key ?? null;
}

// Form text -> the JSON value to send. Returns an error for text that is not a number at all;
// range checks are the server's job (its message is shown next to the field).
export function parse_field(def: FieldDef, raw: unknown): { value?: unknown; error?: string } {
  if (def.kind === 'boolean') return { value: raw === true };
  if (def.kind === 'text' || def.kind === 'choice') return { value: String(raw ?? '') };
  const text = String(raw ?? '').trim();
  if (text === '') return { error: 'enter a number' };
  const value = Number(text);
  if (!Number.isFinite(value)) return { error: 'enter a number' };
  return { value };
}

// The keys whose form value differs from the node's config, with their parsed values.
export function changed_fields(config: Record<string, unknown>, form: Record<string, unknown>):
  { changes: Record<string, unknown>; errors: Record<string, string> } {
  const changes: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const def of FIELDS) {
    const parsed = parse_field(def, form[def.key]);
    if (parsed.error !== undefined) { errors[def.key] = parsed.error; continue; }
    if (parsed.value !== config[def.key]) changes[def.key] = parsed.value;
  }
  return { changes, errors };
}
