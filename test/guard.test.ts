// The host-side guard: modules that trap, refuse, or lie are not believed, and the charger
// falls to the failsafe current without ever rising above what it had.
import { describe, expect, test, beforeAll } from 'vitest';
import { Core } from '../host-node/core.js';
import { guarded_compute, check_decision, fallback_current_a } from '../host-node/guard.js';
import { scenario } from './helpers.js';
import { scenario_call } from '../host-node/allocate.js';
import { trapping_module, lying_module } from './fake-modules.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); });

describe('guard', () => {
  test('a good module passes untouched', () => {
    // with the scenario's earlier call (a fresh start would rise nowhere for 6.1 s)
    const g = guarded_compute(core, scenario_call(core, scenario('two-chargers')), 0);
    expect(g.tripped).toBe(false);
    expect(g.decision.self.applied_current).toBe(25);
  });
  test('a module that traps gives the failsafe current, never above the previous limit', async () => {
    const bad = await Core.load(trapping_module());
    const view = scenario('plan-8.3-2-two-equal');
    const g = guarded_compute(bad, view, 16);
    expect(g.tripped).toBe(true);
    expect(g.trip_reason).toMatch(/module trapped/);
    expect(g.decision.self.applied_current).toBe(6);
    expect(g.decision.self.degraded).toBe(true);
    expect(guarded_compute(bad, view, 3).decision.self.applied_current).toBe(3);
    expect(guarded_compute(bad, { ...view, config: { ...view.config, failsafe_mode: 'disable' } }, 16).decision.self.applied_current).toBe(0);
  });
  test('a module that lies (applied above target) is caught', async () => {
    const bad = await Core.load(lying_module());
    const g = guarded_compute(bad, scenario('plan-8.3-2-two-equal'), 10);
    expect(g.tripped).toBe(true);
    expect(g.trip_reason).toMatch(/applied above target/);
    expect(g.decision.self.applied_current).toBe(6);
  });
  test('an input the core refuses keeps the core\'s own safe answer (0 A) and says why', () => {
    const view = scenario('plan-8.3-2-two-equal');
    view.members[1] = { ...view.members[1], max_current: Number.NaN };
    const g = guarded_compute(core, view, 20);
    expect(g.tripped).toBe(true);
    expect(g.trip_reason).toMatch(/not_finite \(member peer2\)/);
    expect(g.decision.self.applied_current).toBe(0);
  });
  test('check_decision names each broken invariant', () => {
    const view = scenario_call(core, scenario('two-chargers'));
    const d = core.compute(view);
    expect(check_decision(d, view)).toBeNull();
    expect(check_decision({ ...d, allocations: d.allocations.map((a) => ({ ...a, target_current: 40 })) }, view)).toMatch(/above budget/);
    expect(check_decision({ ...d, budget_current: Number.NaN }, view)).toMatch(/not a number/);
    expect(check_decision({ ...d, self: { ...d.self, degraded: true } }, view)).toMatch(/degraded but above/);
  });
  test('the fallback current is the failsafe current capped by what was applied', () => {
    const view = scenario('plan-8.3-2-two-equal');
    expect(fallback_current_a(view, 32)).toBe(6);
    expect(fallback_current_a(view, 0)).toBe(0);
    expect(fallback_current_a(view, Number.NaN)).toBe(0);
  });
});
