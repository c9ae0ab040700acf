// The demand cap: how much a car that draws less than it is offered should be offered, so
// that the current it leaves unused goes to others. Pure: the engine keeps the cap per
// member and calls this with what it saw since the last call (recall.ts, from the carry).
//
// Hysteresis, so nothing oscillates: the cap only falls while the car draws less than
// cap - headroom, and falls slowly (decay per second) so that a car still following a pilot
// increase (up to ev_response) is not cut; it is released (0 = no cap) as soon as the car
// draws within release margin of what it is allowed, so a car that wants more gets it back
// on the next allocation.
export const demand_cap_headroom_a: f64 = 2;
export const demand_cap_release_margin_a: f64 = 1;
export const demand_cap_decay_a_per_s: f64 = 0.5;

export function demand_cap_next(offered_a: f64, measured_a: f64, previous_cap_a: f64, elapsed_ms: f64): f64 {
  // One comparison per argument refuses NaN, infinities and negatives alike (NaN compares false).
  const limit: f64 = 1e15;
  if (!(offered_a >= 0 && offered_a < limit && measured_a >= 0 && measured_a < limit)) return 0;
  if (!(previous_cap_a >= 0 && previous_cap_a < limit && elapsed_ms >= 0 && elapsed_ms < limit)) return 0;
  if (offered_a <= 0) return previous_cap_a; // nothing offered: nothing learned
  // No time, nothing learned: a cap born at once would freeze a car at whatever it was just
  // offered (a restarted charger's first offer, or one its car is still following).
  if (previous_cap_a <= 0 && elapsed_ms <= 0) return 0;
  const allowed_a = previous_cap_a > 0 ? Math.min(previous_cap_a, offered_a) : offered_a;
  if (measured_a >= allowed_a - demand_cap_release_margin_a) return 0;
  const base_a = previous_cap_a > 0 ? previous_cap_a : offered_a;
  const floor_a = measured_a + demand_cap_headroom_a;
  if (floor_a >= base_a) return previous_cap_a;
  return Math.max(floor_a, base_a - demand_cap_decay_a_per_s * elapsed_ms / 1000);
}
