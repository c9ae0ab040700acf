// The oracle's floor under the limit (docs/simulation.md, "Raises without room of the 12400000
// campaign"): where chargers that no message can reach — dead controllers, and running
// chargers not told the limit that binds, which the judge's bound counts degraded at their
// failsafe current — hold more than the limit, the group is held to what they hold, as INV-1
// is. It excuses only a rise of a charger not told the limit to at most its failsafe current,
// with every other charger at no more than what is beyond reach. The oracle is driven directly
// through its probe interface (the deliberate test seam the world implements); the whole run
// (campaign seed 12415246) is regression-fuzz-12415246-untold-failsafe-above-limit.
import { describe, expect, test } from 'vitest';
import { Oracle, type OracleProbe } from '../host-node/sim/oracle.js';
import type { LimitTracker } from '../host-node/sim/checker.js';

interface Truth { draw_a: number; offer_a: number; told: boolean; held_a: number; up: boolean }

function world(n: number, limit_a: number) {
  const truth: Truth[] = Array.from({ length: n }, () => ({ draw_a: 0, offer_a: 0, told: false, held_a: 0, up: true }));
  const probes: OracleProbe[] = truth.map((t, k) => ({
    id: `c${k + 1}`,
    up: () => t.up,
    enabled: () => true,
    draw_a: () => t.draw_a,
    offer_a: () => t.offer_a,
    grant_offer_a: (share_a: number) => (share_a < 6 ? 0 : Math.min(32, Math.floor(share_a))),
    clock_ms: (now_ms: number) => now_ms,
    heartbeat_timeout_ms: () => 10_000,
    view_fresh_ms: () => 4_000,
    held_a: () => t.held_a,
    failsafe_a: () => 6,
  }));
  const limits = {
    limit_for: () => limit_a,
    limit_a: () => limit_a,
    knows: (j: number) => truth[j].up && truth[j].told,
  } as unknown as LimitTracker;
  const oracle = new Oracle(0, probes, limits);
  const raise = (now_ms: number, i: number, from_a: number, to_a: number) => {
    oracle.on_offer(now_ms, i, from_a, to_a);
    truth[i].offer_a = to_a;
  };
  return { oracle, truth, raise };
}

describe('the floor: chargers that cannot be told a limit, at their failsafe currents above it', () => {
  test('the third of three chargers not told 14.4 A may rise to its 6 A failsafe current (seed 12415246)', () => {
    const w = world(6, 14.4);
    w.truth[3].told = w.truth[4].told = w.truth[5].told = true; // the side that holds the limit, at 0 A
    w.raise(1000, 0, 0, 6);
    w.raise(2000, 1, 0, 6);
    w.raise(3000, 2, 0, 6);
    expect(w.oracle.violations).toEqual([]);
  });

  test('not above its failsafe current', () => {
    const w = world(3, 14.4);
    w.raise(1000, 0, 0, 6);
    w.raise(2000, 1, 0, 6);
    w.raise(3000, 2, 0, 7);
    expect(w.oracle.violations.length).toBe(1);
    expect(w.oracle.violations[0].charger).toBe('c3');
    expect(w.oracle.violations[0].allowed_a).toBe(6);
  });

  test('a charger told the limit never rises into the floor', () => {
    const w = world(3, 14.4);
    w.truth[2].told = true;
    w.raise(1000, 0, 0, 6);
    w.raise(2000, 1, 0, 6);
    w.raise(3000, 2, 0, 6);
    expect(w.oracle.violations.length).toBe(1);
    expect(w.oracle.violations[0].charger).toBe('c3');
  });

  test('what a told charger draws comes out of the floor too', () => {
    const w = world(4, 14.4);
    w.truth[3].told = true;
    w.truth[3].draw_a = 3; // still following a decrease
    w.raise(1000, 0, 0, 6); // 6 + 3 of 14.4 A
    w.raise(2000, 1, 0, 6); // 6 + 6 + 3 = 15 A: the floor (12 A) is below the limit, no excuse
    w.raise(3000, 2, 0, 6); // 6 + 6 + 3 + 6 = 21 A against a floor of 18 A
    expect(w.oracle.violations.map((v) => [v.charger, v.allowed_a])).toEqual([['c2', 5], ['c3', 3]]);
  });

  test('a dead controller\'s hold counts in the floor, up to what it holds', () => {
    const w = world(3, 10);
    w.truth[0].up = false; w.truth[0].held_a = 6; w.truth[0].draw_a = 6; w.truth[0].offer_a = 6;
    w.truth[1].told = true; w.truth[2].told = true;
    w.raise(1000, 1, 0, 6); // told: 6 + 6 on a 10 A limit, nothing of its own excused
    expect(w.oracle.violations.length).toBe(1);
    w.truth[2].told = false;
    w.raise(2000, 2, 0, 6); // not told: floor c1 6 + its own 6 = 12 A (c2, told, adds nothing), others 12 A
    expect(w.oracle.violations.length).toBe(2);
  });
});
