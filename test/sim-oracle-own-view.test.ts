// The oracle's grant term is capped by the grantee's own view (docs/simulation.md, "A grant is
// capped by the grantee's own view"): a share i's view gives j counts against i's raise only up
// to what j's own last published view gives j, because j rises only within its own view too
// (docs/protocol.md, rule 9). The oracle is driven directly here through its probe interface
// (the deliberate test seam the world implements), so each case states its own truth.
// The whole-run case (campaign seed 12208939: a charger that booted while a member was cut off
// never knew it and granted a peer more than that peer's own view) is the regression scenario
// regression-fuzz-12208939-grant-beyond-grantee-own-view.
import { describe, expect, test } from 'vitest';
import { Oracle, type OracleProbe } from '../host-node/sim/oracle.js';
import type { LimitTracker } from '../host-node/sim/checker.js';
import type { PeerStatusDoc } from '../host-node/engine/types.js';

interface Truth { draw_a: number; offer_a: number }

function world(ids: string[], limit_a: number) {
  const truth: Truth[] = ids.map(() => ({ draw_a: 0, offer_a: 0 }));
  const probes: OracleProbe[] = ids.map((id, k) => ({
    id,
    up: () => true,
    enabled: () => true,
    draw_a: () => truth[k].draw_a,
    offer_a: () => truth[k].offer_a,
    grant_offer_a: (share_a: number) => (share_a < 6 ? 0 : Math.min(32, Math.floor(share_a))),
    clock_ms: (now_ms: number) => now_ms,
    heartbeat_timeout_ms: () => 10_000,
    view_fresh_ms: () => 4_000,
    held_a: () => 0, // every controller runs
    failsafe_a: () => 0, // nothing beyond reach: this test is about views
  }));
  const limits = { limit_for: () => limit_a } as unknown as LimitTracker;
  const oracle = new Oracle(0, probes, limits);
  // from's status with its view (alloc) delivered to to's running engine at now_ms
  const deliver = (now_ms: number, from: number, to: number, alloc: Record<string, number>) => {
    const m = oracle.sent(from, to, { loadsharing: { alloc } } as unknown as PeerStatusDoc);
    oracle.scheduled(m, 1);
    oracle.arrived(now_ms, m, true);
  };
  // i's controller offer rises from_a -> to_a: the truth follows, the oracle judges
  const raise = (now_ms: number, i: number, from_a: number, to_a: number) => {
    oracle.on_offer(now_ms, i, from_a, to_a);
    truth[i].offer_a = to_a;
  };
  return { oracle, truth, deliver, raise };
}

describe('a grant counts against its giver only up to the grantee\'s own view', () => {
  test('i\'s view gives j 16 A, j\'s own view gives j 8 A: i may rise to 24 A of 32 A, not 25 A', () => {
    const w = world(['i', 'j'], 32);
    w.deliver(1000, 1, 0, { i: 24, j: 8 }); // j's own view, published to i
    w.deliver(1100, 0, 1, { i: 16, j: 16 }); // i's view (it does not know what j reserves)
    w.raise(1200, 0, 0, 24);
    expect(w.oracle.violations).toEqual([]);
    w.raise(1300, 0, 24, 25);
    expect(w.oracle.violations.length).toBe(1);
    expect(w.oracle.violations[0].others.j.grant_a).toBe(8);
    expect(w.oracle.violations[0].allowed_a).toBe(24);
  });

  test('before j has published a view of its own, i\'s grant counts whole', () => {
    const w = world(['i', 'j'], 32);
    w.deliver(1100, 0, 1, { i: 16, j: 16 });
    w.raise(1200, 0, 0, 24);
    expect(w.oracle.violations.length).toBe(1);
    expect(w.oracle.violations[0].others.j.grant_a).toBe(16);
  });

  test('a restarted j holds no view of its own: the cap is forgotten with what it heard', () => {
    const w = world(['i', 'j'], 32);
    w.deliver(1000, 1, 0, { i: 24, j: 8 });
    w.oracle.forget(1);
    w.deliver(1100, 0, 1, { i: 16, j: 16 }); // arrives at the new engine
    w.raise(1200, 0, 0, 24);
    expect(w.oracle.violations.length).toBe(1);
    expect(w.oracle.violations[0].others.j.grant_a).toBe(16);
  });

  test('j\'s own view rising later is j\'s raise, judged on its own against i\'s offer', () => {
    const w = world(['i', 'j'], 32);
    w.deliver(1000, 1, 0, { i: 24, j: 8 });
    w.deliver(1100, 0, 1, { i: 16, j: 16 });
    w.raise(1200, 0, 0, 24); // within the cap: not flagged
    w.deliver(1500, 1, 0, { i: 16, j: 16 }); // j's own view now gives j 16 A
    w.raise(1600, 1, 0, 16); // i offers 24 A: j's rise to 16 A has room for 8 A only
    expect(w.oracle.violations.map((v) => [v.charger, v.allowed_a])).toEqual([['j', 8]]);
    expect(w.oracle.violations[0].others.i.offer_a).toBe(24);
  });
});
