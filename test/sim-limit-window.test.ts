// The limit tracker (the judge's "which limit binds", host-node/sim/checker.ts) on its own, with
// a partition: a lowered limit binds the group by the protocol's bound only where the bound's
// argument holds — every running charger not told could be told (a live path from one that
// knows it) or cannot be healthy where it is (no strict majority of its group). A side cut off
// with a quorum of its own shares the old limit and cannot know the new one (fuzz seed
// 9060882): the window stays open, reported as cut off, and the bound counts from the heal.
//
// The test seam: the tracker's probes and its link predicate are plain functions here (the
// world passes the simulated chargers and network); messages are delivered by calling
// on_delivered, as peer-net.ts does for every status that reaches a running engine.
import { describe, expect, test } from 'vitest';
import { Checker, LimitTracker } from '../host-node/sim/checker.js';

const timing = { ev_response_ms: 5000, seen_grace_ms: 3000, message_delay_max_ms: 2000, tick_interval_ms: 1000 };
const heartbeat_timeout_ms = 10_000;
// heartbeat_timeout + (ev_response + seen_grace + message_delay_max) + tick_interval
const bound_ms = 21_000;
const react_ms = 50;

// n chargers c1..cn, all members of one group, all running; cut[a][b]: a's messages do not reach b.
function group(n: number, limit_a: number) {
  const ids = Array.from({ length: n }, (_, i) => `c${i + 1}`);
  const cut = ids.map(() => ids.map(() => false));
  const up = ids.map(() => true);
  const lists = ids.map(() => ids.map((_, k) => k)); // each one's member list (indices)
  const fires_ms: Array<number | null> = ids.map(() => null); // when a down one's supervision fires
  const tracker = new LimitTracker(
    0,
    ids.map((id, i) => ({
      id,
      up: () => up[i],
      booted: () => true,
      supervision_fires_ms: () => fires_ms[i],
      members: () => lists[i].filter((k) => k !== i),
    })),
    ids.map(() => limit_a),
    timing,
    react_ms,
    () => heartbeat_timeout_ms,
    (from, to) => !cut[from][to],
  );
  const index = (id: string) => ids.indexOf(id);
  // a two-way partition between sides a and b (and heal)
  const split = (a: string[], b: string[], on: boolean) => {
    for (const x of a) for (const y of b) { cut[index(x)][index(y)] = on; cut[index(y)][index(x)] = on; }
  };
  // a status from `from` reaches `to`, carrying the limit from holds
  const deliver = (at_ms: number, from: string, to: string, held_a: number) =>
    tracker.on_delivered(at_ms, index(to), index(from), held_a, held_a);
  return { tracker, split, deliver, index, up, cut, lists, fires_ms };
}

// A 2 + 4 split of six chargers on 75 A; at 15 s 26 A is set on c2, on the 2-charger side,
// and its status reaches c1 (its own side: the group) at 15.5 s.
function lowered_on_cut_off_pair() {
  const g = group(6, 75);
  g.split(['c1', 'c2'], ['c3', 'c4', 'c5', 'c6'], true);
  g.tracker.on_limit_change(15_000, g.index('c2'), 26);
  g.deliver(15_500, 'c2', 'c1', 26);
  return g;
}

describe('limit windows across a partition (the bound needs a charger that could be told, or cannot be healthy)', () => {
  test('lowered on the 2-charger side of a 2 + 4 split: the 4 keep a quorum, so the group keeps the old limit past the bound and the window reports who was cut off', () => {
    const g = lowered_on_cut_off_pair();
    for (const t of [20_000, 15_500 + bound_ms, 60_000]) {
      g.tracker.update(t);
      expect(g.tracker.limit_a()).toBe(75);
    }
    const [w] = g.tracker.windows;
    expect(w).toMatchObject({ charger: 'c2', from_a: 75, to_a: 26, window_s: null, closed_by: null, reached_s: 15.5 });
    expect(w.cut_off.map((c) => c.charger)).toEqual(['c3', 'c4', 'c5', 'c6']);
    expect(w.cut_off.every((c) => c.from_s === 15.5 && c.to_s === null)).toBe(true);
    expect(g.tracker.open_windows()[0]).toContain('open: cut off: c3 since 15.5 s');
  });

  test('the same split healed at 40 s and nobody on the far side ever told: the bound counts from the heal, then the new limit binds', () => {
    const g = lowered_on_cut_off_pair();
    g.split(['c1', 'c2'], ['c3', 'c4', 'c5', 'c6'], false);
    g.tracker.update(40_000); // the network's change hook calls update at the heal
    g.tracker.update(40_000 + bound_ms - 1);
    expect(g.tracker.limit_a()).toBe(75);
    g.tracker.update(40_000 + bound_ms);
    expect(g.tracker.limit_a()).toBe(26);
    const [w] = g.tracker.windows;
    expect(w.closed_by).toBe('bound');
    expect(w.window_s).toBeCloseTo((40_000 + bound_ms - 15_000) / 1000, 6);
    expect(w.never_told).toEqual(['c3', 'c4', 'c5', 'c6']);
    expect(w.cut_off.map((c) => [c.charger, c.from_s, c.to_s])).toEqual([
      ['c3', 15.5, 40], ['c4', 15.5, 40], ['c5', 15.5, 40], ['c6', 15.5, 40],
    ]);
  });

  test('healed and told: the window closes ev_response after the last one heard it', () => {
    const g = lowered_on_cut_off_pair();
    g.split(['c1', 'c2'], ['c3', 'c4', 'c5', 'c6'], false);
    g.tracker.update(40_000);
    for (const to of ['c3', 'c4', 'c5', 'c6']) g.deliver(40_800, 'c2', to, 26);
    const close_ms = 40_800 + react_ms + timing.ev_response_ms;
    g.tracker.update(close_ms - 1);
    expect(g.tracker.limit_a()).toBe(75);
    g.tracker.update(close_ms);
    expect(g.tracker.limit_a()).toBe(26);
    expect(g.tracker.windows[0]).toMatchObject({ closed_by: 'told', told_s: 40.85 });
  });

  test('lowered on the 4-charger side: the cut-off 2 have no quorum (they degrade), so the bound still closes the window from when it reached the group', () => {
    const g = group(6, 75);
    g.split(['c1', 'c2'], ['c3', 'c4', 'c5', 'c6'], true);
    g.tracker.on_limit_change(15_000, g.index('c3'), 26);
    for (const to of ['c4', 'c5', 'c6']) g.deliver(15_500, 'c3', to, 26);
    g.tracker.update(15_500 + bound_ms - 1);
    expect(g.tracker.limit_a()).toBe(75);
    g.tracker.update(15_500 + bound_ms);
    expect(g.tracker.limit_a()).toBe(26);
    const [w] = g.tracker.windows;
    expect(w).toMatchObject({ closed_by: 'bound', never_told: ['c1', 'c2'], cut_off: [] });
  });

  test('a charger that can be reached but never hears it (a lost relay) does not hold the window open: the bound closes it', () => {
    const g = group(3, 48);
    g.tracker.on_limit_change(10_000, g.index('c1'), 24);
    g.deliver(10_500, 'c1', 'c2', 24); // c3 is reachable, its copies are lost
    g.tracker.update(10_500 + bound_ms);
    expect(g.tracker.limit_a()).toBe(24);
    expect(g.tracker.windows[0]).toMatchObject({ closed_by: 'bound', never_told: ['c3'], cut_off: [] });
  });

  test('a path through a charger that is not told counts (it hears someone who hears the holder: told, or the seen-sets degrade it)', () => {
    const g = group(3, 48);
    g.split(['c1'], ['c3'], true); // c1 <-/-> c3 only; c2 hears both
    g.tracker.on_limit_change(10_000, g.index('c1'), 24);
    g.deliver(10_500, 'c1', 'c2', 24);
    g.tracker.update(10_500 + bound_ms);
    expect(g.tracker.limit_a()).toBe(24);
    expect(g.tracker.windows[0].cut_off).toEqual([]);
  });

  test('a side cut off with a quorum loses it when one of them crashes: from then on the others degrade, and the bound counts from that instant', () => {
    const g = group(5, 48);
    g.split(['c1', 'c2'], ['c3', 'c4', 'c5'], true);
    g.tracker.on_limit_change(10_000, g.index('c1'), 24);
    g.deliver(10_500, 'c1', 'c2', 24);
    g.tracker.update(40_000);
    expect(g.tracker.limit_a()).toBe(48);
    g.up[g.index('c3')] = false;
    g.tracker.on_crash(50_000, g.index('c3')); // c4 + c5 hear 2 of 5: no quorum
    g.tracker.update(50_000 + bound_ms - 1);
    expect(g.tracker.limit_a()).toBe(48);
    g.tracker.update(50_000 + bound_ms);
    expect(g.tracker.limit_a()).toBe(24);
    const [w] = g.tracker.windows;
    expect(w.closed_by).toBe('bound');
    expect(w.cut_off.map((c) => [c.charger, c.from_s, c.to_s])).toEqual([['c3', 10.5, 50], ['c4', 10.5, 50], ['c5', 10.5, 50]]);
  });

  test('limit_for: a charger that knows a lower limit is not held to it while it cannot hear a running charger that was not told; once it hears them all, it is', () => {
    const g = group(5, 68.8);
    g.split(['c1', 'c2', 'c3'], ['c4', 'c5'], true);
    g.tracker.on_limit_change(39_000, g.index('c1'), 32);
    g.deliver(39_300, 'c1', 'c2', 32);
    expect(g.tracker.limit_for(g.index('c1'), 39_300)).toBe(68.8);
    expect(g.tracker.limit_for(g.index('c2'), 39_300)).toBe(68.8);
    // a charger that was not told is held to the binding limit either way
    expect(g.tracker.limit_for(g.index('c4'), 39_300)).toBe(68.8);
    g.split(['c1', 'c2', 'c3'], ['c4', 'c5'], false);
    g.tracker.update(45_000);
    expect(g.tracker.limit_for(g.index('c1'), 45_000)).toBe(32);
    expect(g.tracker.limit_for(g.index('c4'), 45_000)).toBe(68.8);
    // one way: c1's messages reach c5, c5's do not reach c1 (c1 cannot see what c5 draws)
    g.cut[g.index('c5')][g.index('c1')] = true;
    g.tracker.update(46_000);
    expect(g.tracker.limit_for(g.index('c1'), 46_000)).toBe(68.8);
    expect(g.tracker.limit_for(g.index('c2'), 46_000)).toBe(32);
  });

  test('limit_for: nor while a charger it cannot hear was told so recently that its car may still follow (seed 3002213)', () => {
    const g = group(5, 68.8);
    g.tracker.on_limit_change(39_000, g.index('c1'), 32);
    for (const to of ['c2', 'c3', 'c4']) g.deliver(39_300, 'c1', to, 32);
    g.cut[g.index('c5')][g.index('c1')] = true; // c1 cannot hear c5
    g.deliver(41_000, 'c2', 'c5', 32); // c5 is told last, at 41 s
    const follows_until_ms = 41_000 + react_ms + timing.ev_response_ms;
    expect(g.tracker.limit_for(g.index('c1'), follows_until_ms - 1)).toBe(68.8);
    expect(g.tracker.limit_for(g.index('c2'), follows_until_ms - 1)).toBe(32); // c2 hears c5: it sees what it draws
    expect(g.tracker.limit_for(g.index('c1'), follows_until_ms)).toBe(32);
  });
});

// The judge's floor (Checker.sample): a limit written below what no message can lower binds at
// that floor. A running charger cut off before the limit was lowered, and so never told, is
// degraded where it is (no quorum) and holds its failsafe current under the limit it knew, as
// surely as a dead controller holds its supervision current (fuzz seed 9066807). Only up to
// that failsafe current: anything it or a told charger draws above it is still an over-draw.
describe('a decrease that replaces one a charger heard by a message', () => {
  // Fuzz seed 12429938: 11 A set on c1, heard by c2 from c1's status (it decides within the
  // host's reaction delay), then 12 A set on every charger. c1's 12 A window replaces its 11 A
  // one and keeps when c2 was told; c2 now holds 12 A itself, but it acted on what it was told
  // only a reaction delay after the message: the window closes ev_response after that.
  test('the window keeps the reaction delay of the message that told it, though the charger later holds the limit itself', () => {
    const g = group(3, 51);
    g.tracker.on_limit_change(34_000, g.index('c1'), 11);
    g.deliver(34_321, 'c1', 'c2', 11);
    g.deliver(34_321, 'c1', 'c3', 11);
    for (const c of ['c3', 'c2', 'c1']) g.tracker.on_limit_change(35_000, g.index(c), 12);
    const w = g.tracker.windows.find((x) => x.charger === 'c1' && x.to_a === 12)!;
    const close_ms = 34_321 + react_ms + timing.ev_response_ms;
    g.tracker.update(close_ms - 1);
    expect(g.tracker.limit_a()).toBe(51);
    g.tracker.update(close_ms);
    expect(g.tracker.limit_a()).toBe(12);
    expect(w).toMatchObject({ closed_by: 'told' });
    expect(w.told_s).toBeCloseTo(34.371, 6);
  });
});

describe('a decrease told to nobody running', () => {
  // Fuzz seed 12410118: 28 A set on c1, cut off, while both others are down with their
  // controllers' supervision fired. The window closes "told" (every other charger is down), but
  // no message of c1's reached anyone: the others boot again without it and share the limit
  // they hold. It binds them once a message of c1's reaches one (a decrease from then on).
  test('closed only because every other charger was down, it binds nobody else until heard', () => {
    const g = group(3, 59);
    for (const [from, to] of [['c1', 'c2'], ['c2', 'c3'], ['c3', 'c1']]) g.deliver(1_000, from, to, 59);
    g.split(['c1'], ['c2', 'c3'], true);
    g.up[1] = false;
    g.up[2] = false;
    g.fires_ms[1] = 34_000;
    g.fires_ms[2] = 34_000;
    g.tracker.on_crash(29_000, 1);
    g.tracker.on_crash(29_000, 2);
    g.tracker.on_limit_change(35_000, g.index('c1'), 28);
    g.tracker.update(40_000);
    expect(g.tracker.windows[0]).toMatchObject({ closed_by: 'told', reached_s: null });
    g.up[1] = true;
    g.up[2] = true;
    g.tracker.on_boot(46_000, 1);
    g.tracker.on_boot(46_000, 2);
    g.tracker.update(57_000);
    expect(g.tracker.limit_a()).toBe(59);
    g.split(['c1'], ['c2', 'c3'], false);
    g.deliver(58_000, 'c1', 'c2', 28);
    expect(g.tracker.limit_a()).toBe(59); // a decrease from now: its window
    g.deliver(58_000, 'c1', 'c3', 28);
    g.tracker.update(58_000 + react_ms + timing.ev_response_ms);
    expect(g.tracker.limit_a()).toBe(28);
  });
});

describe('the floor: a limit below what chargers beyond reach hold', () => {
  function lowered_below_a_cut_off_failsafe(draws_a: { c1: number; c2: number; c3: number }) {
    const g = group(3, 30);
    g.split(['c3'], ['c1', 'c2'], true);
    g.tracker.on_limit_change(10_000, g.index('c1'), 4);
    g.deliver(10_500, 'c1', 'c2', 4);
    const ids = ['c1', 'c2', 'c3'] as const;
    const checker = new Checker(0, ids.map((id) => ({
      id,
      draw_a: () => draws_a[id],
      acceptable_a: () => 16,
      up: () => true,
      decision: () => null,
      held_a: () => 0,
      failsafe_a: () => 6, // 6 A failsafe current, an equal part of the 30 A it knows
    })), g.tracker);
    checker.sample(40_000);
    checker.sample(41_000);
    return { g, checker };
  }

  test('c3, cut off and never told, at its 6 A failsafe under a 4 A limit: the group is held to 6 A, and the summary says who holds it', () => {
    const { g, checker } = lowered_below_a_cut_off_failsafe({ c1: 0, c2: 0, c3: 6 });
    expect(g.tracker.limit_a()).toBe(4); // the bound closed the window: 4 A binds the group
    expect(checker.peak_overdraw_a).toBe(0);
    expect(checker.limit_below_held).toMatchObject({ limit_a: 4, held_a: 6, held_by: { c3: 6 } });
  });

  test('what c3 draws above its failsafe current is an over-draw', () => {
    const { checker } = lowered_below_a_cut_off_failsafe({ c1: 0, c2: 0, c3: 8 });
    expect(checker.peak_overdraw_a).toBeCloseTo(2, 6);
  });

  test('a told charger drawing beside it is an over-draw: the others must leave everything to the floor', () => {
    const { checker } = lowered_below_a_cut_off_failsafe({ c1: 0, c2: 3, c3: 6 });
    expect(checker.peak_overdraw_a).toBeCloseTo(3, 6);
  });
});

// A charger no running member lists any more holds only itself to its limit (fuzz seeds
// 9078497 and 12303433): the group agrees without it. While anyone still lists it, it binds.
describe('a removed charger\'s limit', () => {
  function raised_past_a_dead_member() {
    const g = group(3, 55);
    g.tracker.on_limit_change(1_000, g.index('c2'), 18);
    g.deliver(1_200, 'c2', 'c1', 18);
    g.deliver(1_200, 'c2', 'c3', 18);
    g.tracker.update(40_000); // told everyone: 18 A binds
    g.up[g.index('c2')] = false; // c2 crashes for good
    return g;
  }

  test('a dead charger still listed by the group holds it to its lower limit', () => {
    const g = raised_past_a_dead_member();
    expect(g.tracker.limit_a()).toBe(18);
  });

  test('once every running member has removed it, the group is held to its own limits again', () => {
    const g = raised_past_a_dead_member();
    for (const k of [g.index('c1'), g.index('c3')]) g.lists[k] = g.lists[k].filter((m) => m !== g.index('c2'));
    expect(g.tracker.limit_a()).toBe(55);
  });

  test('one running member still listing it is enough to keep its limit binding', () => {
    const g = raised_past_a_dead_member();
    g.lists[g.index('c1')] = g.lists[g.index('c1')].filter((m) => m !== g.index('c2'));
    expect(g.tracker.limit_a()).toBe(18);
  });
});
