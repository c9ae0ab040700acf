// Who decides what the charger may offer: OpenEVSE's claims, as upstream's EvseManager arbitrates
// them (openevse_esp32_firmware src/evse_man.cpp), plus one rule upstream does not have: the
// load-sharing limit is a hard cap that no claim can lift.
//
// Upstream: every client (the manual override, the limit, solar divert, an HTTP or MQTT client,
// ...) may hold one claim with a priority and some properties (state, charge_current,
// max_current, auto_release). For each property, the claim with the highest priority that sets
// it wins (equal priorities: the older claim). The pilot is then
//   min(max configured current, target max_current, target charge_current),
// raised to the EVSE's minimum (a J1772 pilot cannot offer less), and 0 when the target state
// is "disabled".
//
// Here: that result is only an upper bound chosen by the user's side. The pilot is
//   min(that bound, the load-sharing limit, the current shaper)
// so a claim, an override or a limit can always lower the current and can never raise a
// charger above what its group allows (the load-sharing limit comes from the engine, not from
// a claim, and is not part of the priority contest). Pure: no clock, no I/O.

// Client ids (upstream evse_man.h: vendor 0x0001 << 16 | client).
export const clients = {
  manual: 0x10001, // the manual override (/override)
  divert: 0x10002, // solar divert (charge_mode "eco")
  limit: 0x10006, // the charge limit (/limit)
  mqtt: 0x1000b, // <base>/claim/set
  loadsharing: 0x1000e, // shown in /claims; not a claim a client can make or release
} as const;

// Upstream priorities (evse_man.h).
export const priorities = {
  divert: 50,
  api: 500, // POST /claims/{client}
  mqtt: 500,
  manual: 1000,
  limit: 1100,
  safety: 5000, // load sharing is listed at this priority; it caps regardless of priority
} as const;

export const claims_max = 10; // upstream EVSE_MANAGER_MAX_CLIENT_CLAIMS

export type EvseStateName = 'active' | 'disabled';

// Upstream EvseProperties (Properties.yaml): every field optional; currents in amps.
export interface EvseProperties {
  state?: EvseStateName;
  charge_current?: number;
  max_current?: number;
  auto_release?: boolean;
}

export interface Claim {
  client: number;
  priority: number;
  properties: EvseProperties;
}

export type Property = 'state' | 'charge_current' | 'max_current';

export interface Target {
  state: EvseStateName;
  charge_current: number | null;
  max_current: number | null;
  // Which client won each property (upstream /claims/target "claims"); null: no claim sets it.
  clients: Record<Property, number | null>;
}

// Upstream evaluateClaims: per property, the highest priority wins; ties go to the earlier claim.
export function arbitrate(claims: readonly Claim[]): Target {
  const target: Target = { state: 'active', charge_current: null, max_current: null, clients: { state: null, charge_current: null, max_current: null } };
  const best: Record<Property, number> = { state: 0, charge_current: 0, max_current: 0 };
  for (const c of claims) {
    const p = c.properties;
    if (p.state !== undefined && c.priority > best.state) {
      target.state = p.state; best.state = c.priority; target.clients.state = c.client;
    }
    if (p.charge_current !== undefined && c.priority > best.charge_current) {
      target.charge_current = p.charge_current; best.charge_current = c.priority; target.clients.charge_current = c.client;
    }
    if (p.max_current !== undefined && c.priority > best.max_current) {
      target.max_current = p.max_current; best.max_current = c.priority; target.clients.max_current = c.client;
    }
  }
  return target;
}

export interface EvseLimits {
  min_current_a: number; // the EVSE's minimum pilot
  hard_max_a: number; // the hardware maximum at the active service level
  soft_max_a: number; // the configured maximum (max_current_soft, RAPI $SC)
}

// Upstream setTargetState: the user's side of the pilot, in amps. 0 when the target is disabled.
export function claimed_limit_a(target: Target, evse: EvseLimits): number {
  if (target.state === 'disabled') return 0;
  let limit_a = Math.min(evse.hard_max_a, evse.soft_max_a);
  if (target.max_current !== null) limit_a = Math.min(limit_a, target.max_current);
  if (target.charge_current !== null) limit_a = Math.min(limit_a, target.charge_current);
  // As upstream: a claim below the minimum means the minimum, never a pause (a pause is
  // state "disabled"). This raise stays under the hardware maximum and under the group's cap.
  return Math.max(limit_a, Math.min(evse.min_current_a, evse.hard_max_a));
}

// What decides the pilot, for /claims/target and the page: the user's bound or the group.
export function pilot_limit_a(claimed_a: number, loadsharing_limit_a: number): { limit_a: number; capped_by_group: boolean } {
  const group_a = Math.max(0, loadsharing_limit_a);
  return claimed_a <= group_a ? { limit_a: Math.max(0, claimed_a), capped_by_group: false } : { limit_a: group_a, capped_by_group: true };
}

// Upstream's serialisation of a property set: only what is set, in this order.
export function serialize_properties(p: EvseProperties): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (p.state !== undefined) out.state = p.state;
  if (p.charge_current !== undefined) out.charge_current = p.charge_current;
  if (p.max_current !== undefined) out.max_current = p.max_current;
  if (p.auto_release !== undefined) out.auto_release = p.auto_release;
  return out;
}

// The claims one charger holds. Insertion order is upstream's slot order (ties).
export class ClaimSet {
  private readonly claims = new Map<number, Claim>();
  private version_counter = 0;

  // False when all slots are taken by other clients (upstream: "Could not make claim").
  claim(client: number, priority: number, properties: EvseProperties): boolean {
    if (!this.claims.has(client) && this.claims.size >= claims_max) return false;
    const before = this.claims.get(client);
    const next: Claim = { client, priority, properties: { ...properties } };
    if (before && JSON.stringify(before) === JSON.stringify(next)) return true;
    this.claims.set(client, next);
    this.version_counter += 1;
    return true;
  }

  release(client: number): boolean {
    if (!this.claims.delete(client)) return false;
    this.version_counter += 1;
    return true;
  }

  // End of a session (the car left): claims made with auto_release go (upstream).
  release_auto(): number[] {
    const released: number[] = [];
    for (const [client, c] of this.claims) if (c.properties.auto_release === true) released.push(client);
    for (const client of released) this.claims.delete(client);
    if (released.length > 0) this.version_counter += 1;
    return released;
  }

  get(client: number): Claim | null {
    const c = this.claims.get(client);
    return c ? { ...c, properties: { ...c.properties } } : null;
  }

  list(): Claim[] {
    return [...this.claims.values()].map((c) => ({ ...c, properties: { ...c.properties } }));
  }

  target(): Target {
    return arbitrate([...this.claims.values()]);
  }

  // Upstream's claims_version: changes whenever a claim is made, changed or released.
  version(): number {
    return this.version_counter;
  }
}

// ---- the charge limit (upstream limit.cpp, Limit.yaml) ----

export type LimitType = 'time' | 'energy' | 'soc' | 'range';

export interface LimitProperties {
  type: LimitType;
  value: number; // time: minutes of session; energy: Wh of session; soc: %; range: km
  auto_release: boolean; // cleared when the car leaves
}

export interface SessionFacts {
  elapsed_s: number;
  energy_wh: number;
  soc_pct: number | null; // null: the charger does not know the car's state of charge
  range_km: number | null;
}

// Reached: the limit claims "disabled" at priority limit (1100), above the manual override.
export function limit_reached(limit: LimitProperties, s: SessionFacts): boolean {
  switch (limit.type) {
    case 'time': return s.elapsed_s >= limit.value * 60;
    case 'energy': return s.energy_wh >= limit.value;
    case 'soc': return s.soc_pct !== null && s.soc_pct >= limit.value;
    case 'range': return s.range_km !== null && s.range_km >= limit.value;
  }
}

// ---- solar divert (charge_mode "eco"), simplified from upstream divert.cpp ----

export interface DivertInputs {
  voltage_v: number;
  min_current_a: number;
  solar_w: number | null; // production (POST /status solar, MQTT mqtt_solar)
  grid_ie_w: number | null; // grid import (+) / export (-) (POST /status grid_ie, MQTT mqtt_grid_ie)
  charge_a: number; // what the car draws now (exported power already excludes it)
}

// The current the surplus pays for, amps (upstream's charge_rate). Without any reading: 0, so
// eco mode never charges from the grid on missing data.
export function divert_available_a(d: DivertInputs): number {
  if (d.voltage_v <= 0) return 0;
  if (d.grid_ie_w !== null) return Math.max(0, -d.grid_ie_w / d.voltage_v + d.charge_a);
  if (d.solar_w !== null) return Math.max(0, d.solar_w / d.voltage_v);
  return 0;
}

// The divert client's claim: charge at the surplus, or pause below the minimum.
export function divert_properties(available_a: number, min_current_a: number): EvseProperties {
  return available_a < min_current_a ? { state: 'disabled' } : { state: 'active', charge_current: Math.floor(available_a) };
}
