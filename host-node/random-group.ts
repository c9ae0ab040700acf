// Seeded random groups in the scenario format: the conformance vectors' generator, the
// self-test's generated groups, and the engines' comparison (node vs wasm3). Deterministic:
// (seed, index) gives the same scenario. Ships with the runtime (the hot-swap self-test uses
// it), so nothing here reads files.
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function random_scenario(seed: number, index: number): Record<string, unknown> {
  const rand = prng(seed * 7919 + index);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const now_ms = 1767225600000 + int(0, 86400) * 1000;
  const count = int(1, 16);
  const ids: string[] = [];
  while (ids.length < count) {
    const id = `${pick(['openevse', 'evse', 'garage', 'c'])}-${int(0, 999).toString(16)}`;
    if (!ids.includes(id)) ids.push(id);
  }
  const safe = pick([0, 6, 6, 8]);
  const config = {
    group_max_current: pick([0, 16, 32, 40, 50, 63, 80, 100, 125.5]),
    safety_factor: pick([1, 1, 0.9, 0.8]),
    heartbeat_timeout: pick([5, 30, 60]),
    failsafe_mode: pick(['safe_current', 'safe_current', 'disable']),
    failsafe_safe_current: safe,
    failsafe_peer_assumed_current: safe + pick([0, 0, 2, 10]),
    rotation_interval: pick([0, 60, 1800]),
  };
  const members = ids.map((id) => {
    const min_current = pick([6, 6, 6, 8, 10]);
    const m: Record<string, unknown> = {
      id,
      vehicle: pick([0, 1, 1, 1]),
      state: pick([1, 2, 3, 3, 254]),
      amp_ma: int(0, 32000),
      voltage: pick([230, 240]),
      min_current,
      max_current: min_current + int(0, 42),
      priority: pick([0, 0, 0, 1, -1]),
    };
    const age_s = pick([0, 0, 1, 5, config.heartbeat_timeout, config.heartbeat_timeout + 1, 40, 600, -1]);
    if (age_s >= 0) m.last_seen_ms = now_ms - age_s * 1000;
    if (rand() < 0.2) m.demand = rand() < 0.7;
    if (rand() < 0.3) m.committed = int(0, 40);
    if (rand() < 0.3) m.applied = int(0, 40);
    if (rand() < 0.15) m.degraded = true;
    if (rand() < 0.15) m.demand_cap = int(6, 32);
    if (rand() < 0.2) m.group_max_current = pick([32, 40, 50, 100]);
    if (rand() < 0.3) m.seen = ids.filter(() => rand() < 0.9);
    if (rand() < 0.3) m.alloc = Object.fromEntries(ids.filter(() => rand() < 0.8).map((j) => [j, int(0, 40)]));
    return m;
  });
  return { now_ms, self: pick(ids), config, members };
}
