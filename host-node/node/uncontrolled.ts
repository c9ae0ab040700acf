// Chargers without load sharing on the same breaker (issue 16): a member that answers like
// OpenEVSE (GET /status and /ws with `amp` and `state`) but has no `loadsharing` block runs
// upstream firmware or is another brand behind an adapter. It follows no allocation, so it is
// an uncontrolled load: the group must reserve what it may draw, which is its maximum current,
// or its reported pilot when that is lower and known fresh (a charger's car cannot draw more
// than its pilot). It is never idle: with no car it may still start at any moment.
//
// This module detects such members and computes the reserve for reporting (the page,
// /loadsharing/status, MQTT). The engine and the decision module own the allocation; what they
// must do with the reserve is written in docs/api.md ("Chargers without load sharing").

// A full status document that looks like an OpenEVSE charger's.
export function answers_like_openevse(doc: Record<string, unknown>): boolean {
  return typeof doc.amp === 'number' && Number.isFinite(doc.amp) && typeof doc.state === 'number' && Number.isFinite(doc.state);
}

export interface UncontrolledFacts {
  max_current: unknown; // the peer's /status max_current (A), if it says
  pilot: unknown; // the peer's /status pilot (A), if it says
  amp: unknown; // the peer's /status amp (mA)
  heard_age_ms: number | null; // since its last message; null: never
  connected: boolean; // its /ws link is up
}

export interface UncontrolledReserve {
  reserve_a: number;
  basis: 'max_current' | 'pilot' | 'measured' | 'group_max_current';
  max_a: number;
  pilot_a: number | null;
  fresh: boolean;
}

const amount = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);

// fresh_ms: how old a pilot may be and still count (the protocol's message_delay_max, 2 s):
// older, the charger may have raised it since, and its maximum is reserved.
export function uncontrolled_reserve(f: UncontrolledFacts, group_max_current_a: number, fresh_ms: number): UncontrolledReserve {
  const max = amount(f.max_current);
  const max_a = max !== null && max > 0 ? max : group_max_current_a; // unknown hardware: it may take the whole breaker
  const pilot_a = amount(f.pilot);
  const fresh = f.connected && f.heard_age_ms !== null && f.heard_age_ms <= fresh_ms;
  let reserve: UncontrolledReserve = { reserve_a: max_a, basis: max !== null && max > 0 ? 'max_current' : 'group_max_current', max_a, pilot_a, fresh };
  if (fresh && pilot_a !== null && pilot_a < max_a) reserve = { ...reserve, reserve_a: pilot_a, basis: 'pilot' };
  // A car drawing more than the reserve (a stale or lying pilot) is reserved at what it draws.
  const measured_a = (amount(f.amp) ?? 0) / 1000;
  if (measured_a > reserve.reserve_a) reserve = { ...reserve, reserve_a: Math.round(measured_a * 10) / 10, basis: 'measured' };
  return reserve;
}
