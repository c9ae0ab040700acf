// Properties of the decision over random groups (fast-check, seeded): the invariants every
// host relies on, checked through the release module.
import { describe, expect, test, beforeAll } from 'vitest';
import fc from 'fast-check';
import { Core, type Decision, type GroupView } from '../host-node/core.js';
import { check_decision } from '../host-node/guard.js';
import { group_arb } from './arbitraries.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); });

const seed = 20261127;
const by_id = (d: Decision) => new Map(d.allocations.map((a) => [a.id, a]));

function shuffled<T>(items: T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('properties over random groups', () => {
  test('sum <= budget, each member once, 0 or within [min, max], applied <= target, guard satisfied (10,000 groups)', () => {
    fc.assert(fc.property(group_arb(), (view) => {
      const d = core.compute(view);
      expect(d.error).toBe('ok');
      const sum_a = d.allocations.reduce((s, a) => s + a.target_current, 0);
      expect(sum_a).toBeLessThanOrEqual(d.budget_current + 1e-9);
      expect(d.allocations.map((a) => a.id).sort()).toEqual(view.members.map((m) => m.id).sort());
      for (const m of view.members) {
        const a = by_id(d).get(m.id)!;
        expect(Number.isInteger(a.target_current)).toBe(true);
        if (a.target_current !== 0) {
          expect(a.target_current).toBeGreaterThanOrEqual(Math.ceil(m.min_current));
          expect(a.target_current).toBeLessThanOrEqual(Math.floor(m.max_current));
        }
      }
      expect(d.self.applied_current).toBeLessThanOrEqual(d.self.target_current);
      // A degraded charger may charge at its failsafe current whatever the views say (rule 9).
      if (!d.self.degraded) expect(d.self.target_current).toBeLessThanOrEqual(d.self.own_view_current);
      else expect(d.self.applied_current).toBeLessThanOrEqual(view.config.failsafe_mode === 'disable' ? 0 : view.config.failsafe_safe_current);
      expect(check_decision(d, view)).toBeNull();
    }), { numRuns: 10000, seed });
  });

  test('the same group in any table order gives the same decision (2,000 groups)', () => {
    fc.assert(fc.property(group_arb(), fc.integer(), (view, shuffle_seed) => {
      let s = shuffle_seed >>> 0;
      const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
      const a = core.compute(view, { preserve_order: true });
      const b = core.compute({ ...view, members: shuffled(view.members, rand) }, { preserve_order: true });
      // The carry records members in the order the module first met them: its bytes may
      // differ, the decision may not.
      const sort = (d: Decision) => ({ ...d, carry: null, allocations: [...d.allocations].sort((x, y) => (x.id < y.id ? -1 : 1)).map((x) => ({ ...x, sort_rank: 0 })) });
      expect(sort(b)).toEqual(sort(a));
    }), { numRuns: 2000, seed });
  });

  test('deterministic: the same input block gives the same output bytes (2,000 groups)', () => {
    fc.assert(fc.property(group_arb(), (view) => {
      core.write_input(view);
      const input = core.input_bytes();
      const hex = (r: { output: Uint8Array; carry: Uint8Array }) => Buffer.from(r.output).toString('hex') + Buffer.from(r.carry).toString('hex');
      const first = hex(core.compute_raw(input));
      core.compute(view); // something else in between
      expect(hex(core.compute_raw(input))).toBe(first);
    }), { numRuns: 2000, seed });
  });

  test('a degraded self never exceeds the failsafe current (2,000 groups)', () => {
    fc.assert(fc.property(group_arb(), (view: GroupView) => {
      const d = core.compute(view);
      if (!d.self.degraded) return;
      const limit_a = view.config.failsafe_mode === 'disable' ? 0 : view.config.failsafe_safe_current;
      expect(d.self.applied_current).toBeLessThanOrEqual(limit_a);
    }), { numRuns: 2000, seed });
  });

  test('raising the limit never lowers anyone while the minimums fit (2,000 healthy groups)', () => {
    fc.assert(fc.property(group_arb({ healthy: true }), fc.double({ min: 0, max: 100, noNaN: true }), (view, raise_a) => {
      const low = core.compute(view);
      const demanding = low.allocations.filter((a) => a.demanding);
      const minimums_a = view.members.filter((m) => demanding.some((a) => a.id === m.id)).reduce((s, m) => s + Math.ceil(m.min_current), 0);
      if (minimums_a > low.budget_current) return;
      const high = core.compute({ ...view, config: { ...view.config, group_max_current: view.config.group_max_current + raise_a } });
      const after = by_id(high);
      for (const a of low.allocations) expect(after.get(a.id)!.target_current).toBeGreaterThanOrEqual(a.target_current);
    }), { numRuns: 2000, seed });
  });

  test('the minimum over views never exceeds any healthy peer\'s published view of self, when that peer knows self (2,000 groups)', () => {
    fc.assert(fc.property(group_arb(), (view) => {
      const d = core.compute(view);
      if (d.self.degraded) return; // rule 9: the failsafe current needs no view
      const out = by_id(d);
      for (const m of view.members) {
        const a = out.get(m.id)!;
        if (m.id === view.self || !a.online || a.degraded || m.alloc === undefined) continue;
        if (m.seen !== undefined && !m.seen.includes(view.self)) continue; // it does not know self yet: it bounds rises only
        expect(d.self.target_current).toBeLessThanOrEqual(m.alloc[view.self] ?? 0);
      }
    }), { numRuns: 2000, seed });
  });
});
