// The claims arbitration (host-node/evse/claims.ts) and its combination with the current shaper
// and the load-sharing limit (host-node/station/shaper.ts): upstream's rules, and the one rule
// upstream has not: whatever the claims, the pilot never exceeds the group's limit.
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import {
  ClaimSet, arbitrate, claimed_limit_a, pilot_limit_a, limit_reached, divert_available_a, divert_properties,
  clients, priorities, claims_max, type Claim, type EvseProperties,
} from '../host-node/evse/claims.js';
import { CurrentShaper } from '../host-node/station/shaper.js';

const evse = { min_current_a: 6, hard_max_a: 32, soft_max_a: 32 };

describe('arbitration as upstream (evse_man.cpp evaluateClaims)', () => {
  test('no claim: active, nothing set, the pilot is the configured maximum', () => {
    const t = arbitrate([]);
    expect(t).toEqual({ state: 'active', charge_current: null, max_current: null, clients: { state: null, charge_current: null, max_current: null } });
    expect(claimed_limit_a(t, evse)).toBe(32);
    expect(claimed_limit_a(t, { ...evse, soft_max_a: 20 })).toBe(20);
  });

  test('per property the highest priority wins; ties go to the older claim', () => {
    const claims: Claim[] = [
      { client: 1, priority: 500, properties: { state: 'disabled', charge_current: 10 } },
      { client: 2, priority: 1000, properties: { state: 'active' } },
      { client: 3, priority: 500, properties: { charge_current: 20, max_current: 16 } },
    ];
    const t = arbitrate(claims);
    expect(t.state).toBe('active');
    expect(t.clients.state).toBe(2);
    expect(t.charge_current).toBe(10);
    expect(t.clients.charge_current).toBe(1);
    expect(t.max_current).toBe(16);
    expect(claimed_limit_a(t, evse)).toBe(10);
  });

  test('disabled is 0; a current under the minimum is the minimum (a pause is state disabled), never above the hardware', () => {
    expect(claimed_limit_a(arbitrate([{ client: 1, priority: 500, properties: { state: 'disabled', charge_current: 20 } }]), evse)).toBe(0);
    expect(claimed_limit_a(arbitrate([{ client: 1, priority: 500, properties: { charge_current: 3 } }]), evse)).toBe(6);
    expect(claimed_limit_a(arbitrate([{ client: 1, priority: 500, properties: { charge_current: 48 } }]), evse)).toBe(32);
  });

  test('the claim set: slots, update in place, release, auto-release at the end of a session, a version that moves', () => {
    const set = new ClaimSet();
    expect(set.claim(clients.manual, priorities.manual, { state: 'disabled', auto_release: true })).toBe(true);
    const v1 = set.version();
    expect(set.claim(clients.manual, priorities.manual, { state: 'disabled', auto_release: true })).toBe(true);
    expect(set.version()).toBe(v1); // the same claim again changes nothing
    for (let c = 100; c < 100 + claims_max - 1; c++) expect(set.claim(c, 500, { charge_current: 10 })).toBe(true);
    expect(set.claim(999, 500, {})).toBe(false); // full
    expect(set.claim(100, 500, { charge_current: 8 })).toBe(true); // an existing client may still update
    expect(set.get(100)?.properties.charge_current).toBe(8);
    expect(set.release_auto()).toEqual([clients.manual]);
    expect(set.get(clients.manual)).toBeNull();
    expect(set.release(100)).toBe(true);
    expect(set.release(100)).toBe(false);
    expect(set.version()).toBeGreaterThan(v1);
  });
});

describe('the group\'s limit is a hard cap', () => {
  const props = fc.record({
    state: fc.option(fc.constantFrom('active' as const, 'disabled' as const), { nil: undefined }),
    charge_current: fc.option(fc.integer({ min: 0, max: 80 }), { nil: undefined }),
    max_current: fc.option(fc.integer({ min: 0, max: 80 }), { nil: undefined }),
  }, { requiredKeys: [] });
  const claim = fc.record({ client: fc.integer({ min: 1, max: 20 }), priority: fc.integer({ min: 1, max: 10000 }), properties: props });

  test('any claims, any limit: the pilot is at most the group\'s limit and at most what the claims allow', () => {
    fc.assert(fc.property(fc.array(claim, { maxLength: 10 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 6, max: 40 }), (claims, group_a, soft_a) => {
      const limits = { ...evse, soft_max_a: Math.min(soft_a, 32) };
      const claimed_a = claimed_limit_a(arbitrate(claims as Claim[]), limits);
      const shaper = new CurrentShaper({ enabled: false, max_pwr_w: 0, data_maxinterval_s: 120 });
      shaper.set_loadsharing_limit_a(group_a);
      shaper.set_claimed_limit_a(claimed_a);
      const pilot_a = shaper.limit_a(0, { amp_ma: 0, voltage: 240, min_current: 6, max_current: 32 });
      expect(pilot_a).toBeLessThanOrEqual(group_a);
      expect(pilot_a).toBeLessThanOrEqual(claimed_a);
      expect(pilot_a).toBe(Math.min(group_a, claimed_a, 32));
      expect(pilot_limit_a(claimed_a, group_a).limit_a).toBe(Math.min(group_a, claimed_a));
    }), { numRuns: 2000, seed: 16 });
  });

  test('a claim can lower below the group\'s limit; asking for more than the group gives is capped, and says who capped', () => {
    expect(pilot_limit_a(10, 20)).toEqual({ limit_a: 10, capped_by_group: false });
    expect(pilot_limit_a(32, 20)).toEqual({ limit_a: 20, capped_by_group: true });
    expect(pilot_limit_a(32, 0)).toEqual({ limit_a: 0, capped_by_group: true });
  });

  test('the shaper, load sharing and the claims all enter one minimum', () => {
    const shaper = new CurrentShaper({ enabled: true, max_pwr_w: 5000, data_maxinterval_s: 120 });
    const now = { amp_ma: 0, voltage: 250, min_current: 6, max_current: 32 };
    shaper.set_live_pwr(0, 0, now); // headroom 5000 W / 250 V = 20 A
    shaper.set_loadsharing_limit_a(16);
    shaper.set_claimed_limit_a(32);
    expect(shaper.limit_a(1, now)).toBe(16);
    shaper.set_claimed_limit_a(8);
    expect(shaper.limit_a(1, now)).toBe(8);
    shaper.set_loadsharing_limit_a(32);
    shaper.set_claimed_limit_a(32);
    expect(shaper.limit_a(1, now)).toBe(20);
  });
});

describe('limits and solar divert', () => {
  const session = { elapsed_s: 0, energy_wh: 0, soc_pct: 50, range_km: null };
  test.each([
    [{ type: 'time', value: 30 }, { elapsed_s: 1799 }, false],
    [{ type: 'time', value: 30 }, { elapsed_s: 1800 }, true],
    [{ type: 'energy', value: 5000 }, { energy_wh: 4999.9 }, false],
    [{ type: 'energy', value: 5000 }, { energy_wh: 5000 }, true],
    [{ type: 'soc', value: 80 }, { soc_pct: 80 }, true],
    [{ type: 'soc', value: 80 }, { soc_pct: null }, false],
    [{ type: 'range', value: 100 }, { range_km: null }, false],
  ] as const)('limit %j with %j: reached %s', (limit, facts, reached) => {
    expect(limit_reached({ ...limit, auto_release: true }, { ...session, ...facts })).toBe(reached);
  });

  test('divert charges from the surplus only: grid export, else solar, else nothing', () => {
    const base = { voltage_v: 240, min_current_a: 6, solar_w: null, grid_ie_w: null, charge_a: 0 };
    expect(divert_available_a(base)).toBe(0);
    expect(divert_available_a({ ...base, solar_w: 2400 })).toBe(10);
    expect(divert_available_a({ ...base, grid_ie_w: -1200, charge_a: 8, solar_w: 9999 })).toBe(13);
    expect(divert_available_a({ ...base, grid_ie_w: 2400, charge_a: 6 })).toBe(0);
    expect(divert_properties(5.9, 6)).toEqual({ state: 'disabled' } satisfies EvseProperties);
    expect(divert_properties(12.7, 6)).toEqual({ state: 'active', charge_current: 12 });
  });
});
