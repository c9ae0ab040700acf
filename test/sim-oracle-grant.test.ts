// The oracle's grant term, capped by the grantee's own view (docs/simulation.md, "The grant
// class"): a view of a's lets b rise only as far as b's own view lets it too, so a may take
// what b's own view leaves b no room to use; and b rising past its own view anyway is caught
// at b's raise. The Oracle is driven directly; the LimitTracker is a named test seam that
// holds one fixed limit (the limit windows have their own tests).
import { describe, expect, test } from 'vitest';
import { Oracle, type OracleProbe } from '../host-node/sim/oracle.js';
import type { LimitTracker } from '../host-node/sim/checker.js';
import type { PeerStatusDoc } from '../host-node/engine/types.js';

const limit_a = 25;
const fixed_limit = { limit_for: () => limit_a } as unknown as LimitTracker;

interface Charger { offer_a: number; draw_a: number; own_view_a: number | null }

function world() {
  const state: Charger[] = [{ offer_a: 0, draw_a: 0, own_view_a: null }, { offer_a: 0, draw_a: 0, own_view_a: null }];
  const probe = (id: string, i: number): OracleProbe => ({
    id,
    up: () => true,
    enabled: () => true,
    draw_a: () => state[i].draw_a,
    offer_a: () => state[i].offer_a,
    grant_offer_a: (share_a) => (Math.floor(Math.min(share_a, 32)) < 6 ? 0 : Math.floor(Math.min(share_a, 32))),
    clock_ms: (t) => t,
    heartbeat_timeout_ms: () => 10000,
    view_fresh_ms: () => 4000,
    own_view_offer_a: () => state[i].own_view_a ?? Infinity,
  });
  const oracle = new Oracle(0, [probe('a', 0), probe('b', 1)], fixed_limit);
  // a's view, delivered to b's running engine at 1 s: b may have 20 A.
  const doc = { loadsharing: { alloc: { a: 5, b: 20 } } } as unknown as PeerStatusDoc;
  const m = oracle.sent(0, 1, doc);
  oracle.scheduled(m, 1);
  oracle.arrived(1000, m, true);
  const raise = (i: number, to_a: number, at_ms: number) => {
    const from_a = state[i].offer_a;
    state[i].offer_a = to_a;
    oracle.on_offer(at_ms, i, from_a, to_a);
  };
  return { state, oracle, raise };
}

describe('the grant term and the grantee\'s own view', () => {
  test('b\'s own view lets it rise to 20 A too: a taking 10 A of 25 A is a raise without room', () => {
    const { state, oracle, raise } = world();
    state[1].own_view_a = 20;
    raise(0, 10, 1500);
    expect(oracle.violations).toHaveLength(1);
    expect(oracle.violations[0]).toMatchObject({ charger: 'a', allowed_a: 5 });
    expect(oracle.violations[0].others.b.grant_a).toBe(20);
  });

  test('b\'s own view gives it 8 A: a\'s grant of 20 A lets b rise to 8 A only, and a may take 10 A', () => {
    const { state, oracle, raise } = world();
    state[1].own_view_a = 8;
    raise(0, 10, 1500);
    expect(oracle.violations).toEqual([]);
  });

  test('without an own view (down, not yet decided) the grant counts in full', () => {
    const { oracle, raise } = world();
    raise(0, 10, 1500);
    expect(oracle.violations).toHaveLength(1);
  });

  test('b rising past what fits beside a anyway (on a later, larger own view, or a bug) is flagged at b\'s raise', () => {
    const { state, oracle, raise } = world();
    state[1].own_view_a = 8;
    raise(0, 10, 1500);
    state[1].own_view_a = 20;
    raise(1, 20, 2000);
    expect(oracle.violations).toHaveLength(1);
    expect(oracle.violations[0]).toMatchObject({ charger: 'b', from_a: 0, to_a: 20, allowed_a: 15 });
  });
});
