// The fault campaign and the proof that the checker can fail.
//
// The campaign draws from every fault, including the ones that broke the first protocol
// (now regression-* scenarios), and must find nothing, except the seeds listed in
// open_bug_seeds: real findings of the ground-truth oracle against the protocol as built.
// The naive policy (the seed plan as written) must break both INV-1 and the oracle's
// permission check on the same campaign, and an unsafe controller configuration must show
// over-draw: a checker that cannot fail proves nothing.
import { describe, expect, test, beforeAll } from 'vitest';
import { Core } from '../host-node/core.js';
import { run_campaign, random_scenario } from '../host-node/sim/fuzz.js';
import { to_sim_scenario } from '../host-node/sim/scenario.js';
import { run_simulation } from '../host-node/sim/world.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); });

const campaign = { known_bugs: 'include' as const, duration_s: 120 };
// Seeds of this campaign that break a check through a bug not yet fixed in the core
// (docs/simulation.md, "Open findings"); each listed seed must still break, and anything else
// breaking is a new finding. Seeds 20 and 179 (finding B: a raise into a share an older view of
// the raiser still granted a member) are fixed: a view lets its receiver rise only for
// view_fresh after it arrived, and its sender counts it that long plus a message delay.
const open_bug_seeds: number[] = [];

describe('randomized fault campaign', () => {
  test('200 random groups with random faults: INV-1 and permission hold (known open bugs aside)', () => {
    const result = run_campaign(core, 1, 200, 'default', campaign);
    expect(result.runs).toBe(200);
    expect(result.assumption_violated).toEqual([]); // the generator stays within message_delay_max
    const broken = result.broken.map((b) => b.seed);
    const unexpected = result.broken.filter((b) => !open_bug_seeds.includes(b.seed));
    expect(unexpected, JSON.stringify(unexpected, null, 1)).toEqual([]);
    // the open findings are raises without room, never over-draw
    expect(result.broken.every((b) => b.failures.every((f) => f.startsWith('permission:')))).toBe(true);
    expect(broken.sort((x, y) => x - y)).toEqual([...open_bug_seeds].sort((x, y) => x - y));
  });

  test('the same campaign with the naive policy breaks INV-1 and the oracle\'s permission check', () => {
    const result = run_campaign(core, 1, 40, 'naive', campaign);
    const inv1 = result.broken.filter((b) => b.failures.some((f) => f.startsWith('INV-1 broken')));
    const permission = result.broken.filter((b) => b.failures.some((f) => f.startsWith('permission:')));
    expect(inv1.length).toBeGreaterThanOrEqual(5);
    expect(permission.length).toBeGreaterThanOrEqual(20);
    // every run whose cars over-drew also raised without room first: the oracle sees it coming
    for (const b of inv1) expect(b.failures.some((f) => f.startsWith('permission:')), `seed ${b.seed}`).toBe(true);
  });

  test('campaign scenarios are valid scenario files and reproducible by seed', () => {
    const a = run_simulation(random_scenario(11, campaign), { core });
    const b = run_simulation(random_scenario(11, campaign), { core });
    expect({ ...a, wall_ms: 0 }).toEqual({ ...b, wall_ms: 0 });
  });
});

describe('unsafe variants are caught', () => {
  const crash_group = (charger: Record<string, unknown>) => to_sim_scenario({
    name: 'crash with an unsafe controller', duration_s: 120,
    config: { group_max_current: 48, heartbeat_timeout: 10, rotation_interval: 0 },
    chargers: [{ id: 'a' }, { id: 'b' }, { id: 'c', ...charger }],
    cars: ['a', 'b', 'c'].map((id) => ({ charger: id, plug_at_s: 5 })),
    faults: [{ at_s: 40, kind: 'crash', charger: 'c' }],
  });

  test('a controller without heartbeat supervision keeps a crashed charger\'s car at 16 A: over-draw', () => {
    const result = run_simulation(crash_group({ heartbeat_interval_ms: 0 }), { core });
    expect(result.inv1.peak_overdraw_a).toBeGreaterThan(0);
    expect(result.inv1.overdraw_integral_as).toBeGreaterThan(0);
    expect(result.ok).toBe(false);
  });

  test('supervision that falls to more than peer_assumed_current (10 A > 6 A): over-draw', () => {
    const result = run_simulation(crash_group({ heartbeat_current: 10 }), { core });
    expect(result.inv1.peak_overdraw_a).toBeGreaterThanOrEqual(3.9);
    expect(result.ok).toBe(false);
  });

  test('the same crash with the supervision the hosts set is safe', () => {
    const result = run_simulation(crash_group({}), { core });
    expect(result.failures).toEqual([]);
    expect(result.inv1.peak_overdraw_a).toBe(0);
  });

  test('the naive policy overshoots when a second car arrives (no decrease before increase)', () => {
    const scenario = to_sim_scenario({
      name: 'newcomer', duration_s: 90, config: { group_max_current: 40 },
      chargers: [{ id: 'a' }, { id: 'b' }],
      cars: [{ charger: 'a', plug_at_s: 5, lag_ms: 5000 }, { charger: 'b', plug_at_s: 40, lag_ms: 0 }],
    });
    expect(run_simulation(scenario, { core }).inv1.peak_overdraw_a).toBe(0);
    const naive = run_simulation(scenario, { core, policy: 'naive' });
    expect(naive.inv1.peak_overdraw_a).toBeGreaterThan(0);
  });
});
