// The checks a simulation run is judged by, evaluated on every sample (every tick_ms and at
// every instant a car's current can change): INV-1 (the sum of the currents the cars
// physically draw never exceeds the limit that binds), and the measures (utilisation,
// fairness, convergence after each event). Which limit binds, and when a lowered one starts
// to, is the LimitTracker's job (below), judged from the world's truth: what each charger
// holds and which messages reached whom. Permission to raise a pilot is judged by the
// oracle (oracle.ts) from the same truth.
import type { Decision } from '../core.js';
import type { ProtocolTiming } from '../engine/types.js';

export interface ChargerProbe {
  id: string;
  draw_a(now_ms: number): number;
  acceptable_a(now_ms: number): number; // what its car would take now (0: wants nothing)
  up(): boolean; // its engine runs
  decision(): Decision | null; // for the convergence measure only
  // What its controller holds that no engine can lower now (a dead engine's supervision
  // current, until a new engine has brought the car down): see Checker.sample.
  held_a(now_ms: number): number;
  // The most its engine lets its car draw while degraded, from the config it holds (its
  // failsafe current held to an equal part of the limit it knows, rule 11; 0 in disable mode).
  failsafe_a(): number;
}

// What of charger j's car no message can lower now (INV-1's floor under the limit, and the
// oracle's; docs/simulation.md, "A limit below what dead controllers hold"): a dead
// controller's hold, and for a running charger not told the limit that binds, its failsafe
// current (the bound counts it degraded where it is). worst_a is how much of the car counts:
// what it draws (INV-1), or the larger of that and its offer (the oracle, with a raiser at its
// new offer). A raiser's own earlier hold excuses no rise of its own (counts_hold false). One
// function for both checks, so that they cannot drift apart.
export function beyond_reach_a(probe: Pick<ChargerProbe, 'up' | 'held_a' | 'failsafe_a'>, now_ms: number, told: boolean, worst_a: number, counts_hold = true): number {
  let reach_a = counts_hold ? probe.held_a(now_ms) : 0;
  if (probe.up() && !told) reach_a = Math.max(reach_a, probe.failsafe_a());
  return reach_a > 0 ? Math.min(worst_a, reach_a) : 0;
}

// The first instant the limit that binds was below what no message can lower: dead chargers'
// controllers, and the failsafe current of running chargers not told the limit.
export interface LimitBelowHeld {
  at_s: number;
  limit_a: number;
  held_a: number;
  held_by: Record<string, number>;
}

export interface Overdraw {
  at_s: number;
  total_a: number;
  limit_a: number;
  draws_a: Record<string, number>;
}

export interface PermissionViolation {
  at_s: number;
  charger: string;
  from_a: number;
  to_a: number;
  allowed_a: number;
  why: string;
}

export interface LimitWindow {
  at_s: number;
  charger: string;
  from_a: number;
  to_a: number;
  // When the last charger that could act on the old limit had been told (delivered or set on
  // it, plus the host's reaction delay), or had stopped acting (down, supervision fired).
  told_s: number | null;
  // When a message from a charger holding the new limit first reached another running charger.
  reached_s: number | null;
  window_s: number | null; // from the change until the new limit binds (null: never)
  closed_by: 'told' | 'bound' | 'superseded' | null;
  // Closed, but it reached no other charger and not every store holds it: it binds the others
  // only once a message of its holder reaches one (LimitTracker.update).
  until_heard: boolean;
  never_told: string[]; // running chargers not told when it closed (or at the end)
  // While the window was open: the running chargers not told that no charger knowing the new
  // limit could reach, on a side that could keep a quorum (so need not be degraded): the new
  // limit could not bind the group then (to_s null: still cut off at the end of the run).
  cut_off: CutOff[];
}

export interface CutOff {
  charger: string;
  from_s: number;
  to_s: number | null;
}

export interface Convergence {
  label: string;
  at_s: number;
  after_s: number | null; // null: not settled before the next event or the end
}

const epsilon_a = 1e-6;

// What the limit tracker needs to know of each charger, from the world's truth.
export interface LimitProbe {
  id: string;
  up(): boolean;
  booted(): boolean; // it has run at least once (before that its pilot is 0)
  supervision_fires_ms(): number | null; // a down charger's controller drops its pilot then (null: never)
  // The members its store lists (indices), or null when it takes no part in the protocol
  // (load sharing off): its quorum, from the world's configuration, not the engine's flags.
  members(): number[] | null;
}

interface PendingDecrease {
  window: LimitWindow;
  charger_index: number;
  value_a: number;
  changed_ms: number;
  since_ms: number; // the change it stands for (an earlier one it replaced: 40 -> 20 -> 30 A)
  told_ms: Array<number | null>; // per charger, this incarnation
  // Per charger: by when its engine has acted on what it was told: at once for a limit it holds
  // itself, after the host's reaction delay for one a message reported. Kept apart from told_ms
  // because what a charger holds changes after it was told (fuzz seed 12429938: c2 heard 11 A
  // from c1 at 34.32 s and decided 50 ms later; 12 A set on c2 at 35 s replaced c1's window,
  // which inherited the told time and, c2 now holding 12 A, counted no reaction delay: the
  // window closed 50 ms before c2's car had followed, 15 A "over").
  acts_ms: Array<number | null>;
  reached_ms: number | null;
  close_told_ms: number | null;
  close_bound_ms: number | null;
  // Per charger: since when it has been reachable from a charger that knows the new limit, or
  // could not be healthy where it is (null: cut off on a side that may keep a quorum).
  covered_since_ms: Array<number | null>;
  cut_off: Array<CutOff | null>; // per charger: its open cut-off interval
}

// Which limit binds, per charger and for the group.
//
// Each charger holds a configured limit (group_max_current x safety_factor). A raise binds at
// once (the smallest held limit still rules until every charger has the raise, except a limit
// held by a charger nobody has heard holding it: see limit_a). A decrease
// on charger k from L_old to L_new binds from the earlier of:
// - told: every charger has been told a limit <= L_new (it was set on it, or a message that
//   carries it was delivered to its running engine), plus the host's reaction delay
//   (react_ms), plus ev_response for its car; a charger that is down counts once its
//   controller's supervision has fired (or it never ran);
// - bound: once a message from a charger holding L_new has reached another running charger,
//   the group can know it; by the protocol's own argument (docs/protocol.md, the offline
//   hold) a charger that still has not heard it is degraded or counted offline and its car
//   has followed within heartbeat_timeout + offline_hold + tick_interval. That argument holds
//   for a charger that could be told (a path of live links through running chargers leads to
//   it from one that knows L_new) or that cannot be healthy where it is (it hears no strict
//   majority of its group: rule 7 degrades it). A running charger that is neither (cut off on
//   a side with a quorum, fuzz seed 9060882) legitimately shares the old limit with its side:
//   while one is, the decrease cannot bind the group ("cut off", reported), and the bound
//   counts for it only from when it is covered again (a heal, a further cut).
// A decrease that has reached no other charger (its holder is cut off or down) cannot be
// enforced by anyone; it stays pending and is reported. A change on a charger that is down
// takes effect when it boots (it holds it from then on). A newer change on the same charger
// replaces a pending decrease: a value below the binding limit is still a decrease from it
// (40 -> 20 -> 30 A is a decrease from 40 to 30, told to whoever heard 20), a value at or
// above it is a raise.
export class LimitTracker {
  private readonly held_a: number[]; // what each charger holds (set while it ran, or at boot)
  private readonly binding_a: number[];
  private readonly deferred_a: Array<number | null>; // set while it was down: held from its boot
  private readonly pending: PendingDecrease[] = [];
  readonly windows: LimitWindow[] = [];
  // Per receiver, per sender: the limit the sender's last delivered message reported.
  private readonly reported_a: Array<Map<number, number>>;
  // Per charger: the lowest limit the group has known it to hold: held when a message of its
  // reached another running charger, or bound by a decrease whose window closed (Infinity:
  // neither). A charger whose binding limit the group never knew cannot be the only one that
  // holds the group to it (limit_a).
  private readonly heard_a: number[];

  constructor(
    private readonly start_ms: number,
    private readonly probes: LimitProbe[],
    initial_limits_a: number[],
    private readonly timing: ProtocolTiming,
    private readonly react_ms: number,
    private readonly heartbeat_timeout_max_ms: () => number,
    // The world's network: a message from -> to can arrive now (the link is not cut or dead).
    private readonly link_up: (from: number, to: number) => boolean,
  ) {
    this.held_a = [...initial_limits_a];
    this.binding_a = [...initial_limits_a];
    this.deferred_a = probes.map(() => null);
    this.reported_a = probes.map(() => new Map());
    this.heard_a = probes.map(() => Infinity);
  }

  private s(at_ms: number): number {
    return (at_ms - this.start_ms) / 1000;
  }

  // The bound after which a decrease that reached the group binds even if someone never heard it.
  bound_ms(): number {
    const t = this.timing;
    const offline_hold_ms = t.ev_response_ms + t.seen_grace_ms + t.message_delay_max_ms;
    return this.heartbeat_timeout_max_ms() + offline_hold_ms + t.tick_interval_ms;
  }

  // The limit INV-1 is checked against now: the smallest binding limit over all chargers,
  // leaving out one that no running charger has heard holding it while it is lower than
  // every other charger's (fuzz seed 9080840: c1, cut off from its boot to the end and never
  // heard, kept the group's first 27 A after a person raised the limit to 30 A and config sync
  // gave it to every other charger; the judge held the group to 27 A for the whole run). Such
  // a limit is like a decrease that reached no other charger: nobody can know it, so it binds
  // nobody until a message of its holder reaches someone; then it is a decrease from the
  // limit that bound the others, with its window (on_delivered).
  limit_a(): number {
    return this.limit_without_a(-1);
  }

  // The smallest binding limit over every charger but `except`, among those that count.
  private limit_without_a(except: number): number {
    const in_group = this.limit_among_a(except, true);
    return in_group === Infinity ? this.limit_among_a(except, false) : in_group;
  }

  // A charger that no running member of the group lists any more (a person removed it) holds
  // only itself to its limit: the group agrees without it (rule 7), and a person's later
  // change reaches the group by config sync, not it (fuzz seeds 9078497: 18 A set on c2 as it
  // crashed for good, c2 removed, the group later raised to 55 A by config sync and held to
  // 18 A by the judge for the rest of the run; 12303433: c1 isolated, degraded and removed,
  // keeping 23 A while the group moved to 29 A). Its car still counts in every total, and the
  // floor, the windows of its decreases and the oracle's view of it are unchanged.
  private removed(j: number): boolean {
    let group = false;
    for (let i = 0; i < this.probes.length; i++) {
      if (i === j || !this.probes[i].up()) continue;
      const members = this.probes[i].members();
      if (members === null) continue;
      if (members.includes(j)) return false;
      group = true;
    }
    return group;
  }

  private limit_among_a(except: number, skip_removed: boolean): number {
    let limit_a = Infinity;
    let unheard_a = Infinity;
    for (let j = 0; j < this.binding_a.length; j++) {
      if (j === except || (skip_removed && this.removed(j))) continue;
      if (this.heard_a[j] <= this.binding_a[j] + epsilon_a) limit_a = Math.min(limit_a, this.binding_a[j]);
      else unheard_a = Math.min(unheard_a, this.binding_a[j]);
    }
    // A charger never heard counts where it is not below every other charger (then it adds
    // nothing), and alone: a group of one, or nobody heard yet, is held to what it holds.
    if (limit_a === Infinity) return unheard_a;
    return limit_a;
  }

  // A charger never heard holding its limit is heard now: if its limit is below what binds
  // the others, the group learns it now, as a decrease set on it now (the others' cars
  // follow within the window, as for any decrease).
  private on_first_heard(now_ms: number, j: number): void {
    const value_a = this.binding_a[j];
    const others_a = this.limit_without_a(j);
    if (!(value_a < others_a - epsilon_a) || others_a === Infinity) return;
    this.binding_a[j] = others_a;
    this.open_window(now_ms, j, others_a, value_a, []);
  }

  // A decrease from from_a to to_a on charger k, pending until it binds: its window, who knows
  // it already, and what the changes it replaces (40 -> 20 -> 30 A) had reached.
  private open_window(now_ms: number, k: number, from_a: number, to_a: number, superseded: PendingDecrease[]): void {
    const window: LimitWindow = {
      at_s: this.s(now_ms), charger: this.probes[k].id, from_a, to_a,
      told_s: null, reached_s: null, window_s: null, closed_by: null, until_heard: false, never_told: [], cut_off: [],
    };
    this.windows.push(window);
    const told_ms = this.probes.map((_, j) => (j === k || this.knows(j, to_a) ? now_ms : null));
    const acts_ms = told_ms.map((t, j) => (t === null ? null : j === k || this.held_a[j] <= to_a + epsilon_a ? t : t + this.react_ms));
    let reached_ms: number | null = null;
    let since_ms = now_ms;
    // covered from the earliest change this one stands for, unless a replaced one was cut off
    const covered_since_ms: Array<number | null> = this.probes.map(() => now_ms);
    // Whoever was told a lower value that this one replaces has been told this one too.
    for (const p of superseded) {
      since_ms = Math.min(since_ms, p.since_ms);
      p.told_ms.forEach((t, j) => { if (t !== null && (told_ms[j] === null || t < told_ms[j]!)) told_ms[j] = t; });
      p.acts_ms.forEach((t, j) => { if (t !== null && (acts_ms[j] === null || t < acts_ms[j]!)) acts_ms[j] = t; });
      if (p.reached_ms !== null && (reached_ms === null || p.reached_ms < reached_ms)) reached_ms = p.reached_ms;
      p.covered_since_ms.forEach((c, j) => { covered_since_ms[j] = c === null || covered_since_ms[j] === null ? null : Math.min(c, covered_since_ms[j]!); });
    }
    this.pending.push({
      window, charger_index: k, value_a: to_a, changed_ms: now_ms, since_ms, told_ms, acts_ms, reached_ms, close_told_ms: null, close_bound_ms: null,
      covered_since_ms, cut_off: this.probes.map(() => null),
    });
  }

  // The limit charger i must respect when it raises: the binding one, and any lower one it
  // has been told that has reached the group (a limit no one else can know binds no one,
  // not even its holder: the others reserve its failsafe current within the old one) — unless
  // a running charger not told it cannot be heard by i (fuzz seeds 3000650, 3002213): that one
  // may legitimately still draw within the old limit until the window closes, i cannot know
  // what it draws, and the protocol's argument for i's rise is its reserve for i within the
  // limit it knows. (While i hears every one not told, it sees what they draw and must leave
  // room for it within the new limit.) The same for one told so recently that its car may
  // still follow (told, its reaction delay and ev_response not yet past): what it draws is as
  // unknown to i, and the window holds the group to the old limit until then (fuzz seed
  // 3002213 once a degraded charger waits out a fall of its own limit: c5 heard c4's lower
  // limit at 41.75 s, its car still drew its old share at 46.07 s when c1, cut off from it,
  // rose to its failsafe current inside the others' reserve for it).
  limit_for(i: number, now_ms: number): number {
    let limit_a = this.limit_a();
    for (const p of this.pending) {
      if (p.told_ms[i] === null || p.reached_ms === null) continue;
      const unheard = this.probes.some((probe, j) => j !== i && probe.up() && !this.link_up(j, i)
        && (p.told_ms[j] === null || now_ms < p.told_ms[j]! + this.react_ms + this.timing.ev_response_ms));
      if (!unheard) limit_a = Math.min(limit_a, p.value_a);
    }
    return limit_a;
  }

  // Could j be healthy with the links as they are: does it hear a strict majority of the group
  // its store lists (rule 7), counting only running members that list it too (they send to it)?
  private may_have_quorum(j: number): boolean {
    const members = this.probes[j].members();
    if (members === null) return false;
    let heard = 1;
    for (const k of members) {
      if (k === j || !this.probes[k].up() || !this.link_up(k, j)) continue;
      if (this.probes[k].members()?.includes(j)) heard++;
    }
    return 2 * heard > members.length + 1;
  }

  // Which running chargers a charger that knows p's limit can reach, over live links through
  // running chargers (one that hears someone who hears a knower is told, or sees the broken
  // link in the seen-sets and degrades: rule 7).
  // The search starts only from chargers that HOLD the limit (set on them): a status carries
  // its sender's own configured limit, not one it was told, so a charger that was told and
  // no longer hears a holder tells no one (fuzz seed 9043195: c2 heard c5's 44.8 A for 0.3 s
  // before a one-way cut; c1 and c3 heard only c2 and kept a quorum on the old limit). A
  // charger told is covered itself; it passes the limit on (or the seen-set mismatch) only
  // while a live path from a holder reaches it.
  private reachable(p: PendingDecrease): boolean[] {
    const n = this.probes.length;
    const seen = this.probes.map((probe, j) => probe.up() && p.told_ms[j] !== null);
    const reached = this.probes.map((probe, j) => probe.up() && this.held_a[j] <= p.value_a + epsilon_a);
    const todo: number[] = [];
    reached.forEach((s, j) => { if (s) todo.push(j); });
    while (todo.length > 0) {
      const k = todo.pop()!;
      for (let m = 0; m < n; m++) {
        if (!reached[m] && this.probes[m].up() && this.link_up(k, m)) {
          reached[m] = true;
          seen[m] = true;
          todo.push(m);
        }
      }
    }
    return seen;
  }

  // Brings p's per-charger cover up to now: who is cut off (and since when), who is covered.
  private update_cover(now_ms: number, p: PendingDecrease): void {
    const reach = this.reachable(p);
    this.probes.forEach((probe, j) => {
      const relevant = probe.up() && p.told_ms[j] === null;
      const blocked = relevant && !reach[j] && this.may_have_quorum(j);
      if (blocked) {
        p.covered_since_ms[j] = null;
        if (p.cut_off[j] === null) {
          const c: CutOff = { charger: probe.id, from_s: this.s(now_ms), to_s: null };
          p.cut_off[j] = c;
          p.window.cut_off.push(c);
        }
        return;
      }
      const open = p.cut_off[j];
      if (open !== null) {
        open.to_s = this.s(now_ms);
        p.cut_off[j] = null;
      }
      // (one told after it was cut off still counts from when it was covered again: the bound
      // must not close before its car could have followed; one that is down counts again from
      // its boot)
      if (probe.up() && p.covered_since_ms[j] === null) p.covered_since_ms[j] = now_ms;
    });
  }

  // A charger's configured limit changed (its store): now if it runs, else at its boot.
  on_limit_change(now_ms: number, k: number, to_a: number): void {
    if (!this.probes[k].up()) {
      this.deferred_a[k] = to_a;
      // A raise written on a charger while it is down is in its store: it holds it from its
      // boot and can act on nothing before, so its old limit no longer binds the group (a
      // person who raises the limit on every charger while one is down meant it for all;
      // keeping the old one until that boot flagged 18 A of "over-draw" in fuzz seed 3008611).
      // Its own decreases still pending end with it, as for a running charger (apply_change):
      // fuzz seed 7002408 set 8 A on every charger, then 43.2 A on all while c4 was down, and
      // c4's 8 A window closed a second later and bound the group to 8 A for the rest of the run.
      if (to_a >= this.binding_a[k]) {
        this.binding_a[k] = to_a;
        for (const p of this.pending.filter((q) => q.charger_index === k && q.value_a < to_a)) {
          p.window.closed_by = 'superseded';
          for (const c of p.cut_off) if (c !== null) c.to_s = this.s(now_ms);
          this.pending.splice(this.pending.indexOf(p), 1);
        }
      }
      return;
    }
    this.apply_change(now_ms, k, to_a);
  }

  private apply_change(now_ms: number, k: number, to_a: number): void {
    const from_a = this.held_a[k];
    this.held_a[k] = to_a;
    // k was told a pending decrease by holding it and now holds more: its engine enforces it
    // no longer, unless a member reported it. Fuzz seed 9037082: 30 A set on every charger and
    // at the same instant 81 A on c1 and c2; c3's 30 A window counted c2 as told at once and
    // closed before c2 had heard 30 A from c3 and its car had followed (8 A "over").
    for (const p of this.pending) {
      if (p.charger_index === k || p.told_ms[k] === null || to_a <= p.value_a + epsilon_a || this.knows(k, p.value_a)) continue;
      p.told_ms[k] = null;
      p.acts_ms[k] = null;
      p.close_told_ms = null;
      p.window.told_s = null;
    }
    // k now holds a limit at or below the pending decreases of others: it knows them.
    for (const p of this.pending) {
      if (to_a > p.value_a + epsilon_a) continue;
      if (p.told_ms[k] === null) p.told_ms[k] = now_ms;
      p.acts_ms[k] = Math.min(p.acts_ms[k] ?? Infinity, now_ms);
    }
    const superseded = this.pending.filter((p) => p.charger_index === k && (to_a >= this.binding_a[k] || p.value_a < to_a));
    for (const p of superseded) {
      p.window.closed_by = 'superseded';
      for (const c of p.cut_off) if (c !== null) c.to_s = this.s(now_ms);
      this.pending.splice(this.pending.indexOf(p), 1);
    }
    if (to_a >= this.binding_a[k]) {
      this.binding_a[k] = to_a;
      return;
    }
    this.open_window(now_ms, k, superseded.length > 0 ? this.binding_a[k] : from_a, to_a, superseded);
    this.update(now_ms);
  }

  // j acts on a limit <= value_a: its running engine holds one, or a running member reported
  // one to it.
  knows(j: number, value_a: number): boolean {
    if (!this.probes[j].up()) return false;
    if (this.held_a[j] <= value_a + epsilon_a) return true;
    for (const l of this.reported_a[j].values()) if (l <= value_a + epsilon_a) return true;
    return false;
  }

  // A message from sender reached receiver's running engine; it reported reported_a (null:
  // none), and the sender held sender_held_a when it sent it.
  on_delivered(now_ms: number, receiver: number, sender: number, reported_a: number | null, sender_held_a: number): void {
    if (sender_held_a < this.heard_a[sender]) {
      const unheard = this.heard_a[sender] > this.binding_a[sender] + epsilon_a;
      this.heard_a[sender] = sender_held_a;
      if (unheard && sender_held_a <= this.binding_a[sender] + epsilon_a) this.on_first_heard(now_ms, sender);
    }
    if (reported_a !== null) this.reported_a[receiver].set(sender, reported_a);
    for (const p of this.pending) {
      if (p.told_ms[receiver] === null && reported_a !== null && reported_a <= p.value_a + epsilon_a) {
        p.told_ms[receiver] = now_ms;
        p.acts_ms[receiver] = now_ms + this.react_ms;
      }
      if (p.reached_ms === null && sender_held_a <= p.value_a + epsilon_a) p.reached_ms = now_ms;
    }
    this.update(now_ms);
  }

  // A new engine knows nothing of what it heard before; it holds what its store holds.
  on_boot(now_ms: number, j: number): void {
    this.reported_a[j].clear();
    for (const p of this.pending) {
      p.told_ms[j] = this.held_a[j] <= p.value_a + epsilon_a ? now_ms : null;
      p.acts_ms[j] = p.told_ms[j];
    }
    const deferred_a = this.deferred_a[j];
    this.deferred_a[j] = null;
    if (deferred_a !== null && deferred_a !== this.held_a[j]) this.apply_change(now_ms, j, deferred_a);
    else this.update(now_ms);
  }

  // A crashed charger keeps the pilot of its last decision: what it was told stays true of it
  // until a new engine starts.
  on_crash(now_ms: number, j: number): void {
    this.reported_a[j].clear();
    // Told, but crashed before its reaction deadline (at the same instant, for a limit set on
    // it): it may never have acted on the new limit, and only its controller's supervision
    // brings its car down now (fuzz seed 8002829: 7 A set on every charger at 19 s, c1 crashed
    // at 19 s with its car at 18 A; the window closed at 24 s as if c1 had applied it).
    for (const p of this.pending) {
      // (a pending window has not closed yet, so its closing instant is still open to change)
      const acts_ms = p.acts_ms[j];
      if (acts_ms === null) continue;
      if (now_ms <= acts_ms) {
        p.told_ms[j] = null;
        p.acts_ms[j] = null;
        p.close_told_ms = null;
        p.window.told_s = null;
      }
    }
    this.update(now_ms);
  }

  // Fixes the closing instants that are known by now and binds the windows that have closed.
  update(now_ms: number): void {
    for (const p of [...this.pending]) {
      if (p.close_told_ms === null) {
        let last_ms = -Infinity;
        const never: string[] = [];
        this.probes.forEach((probe, j) => {
          let done_ms: number | null;
          // A charger that holds the limit itself decides at once; one told by a message
          // within the host's reaction delay.
          if (p.acts_ms[j] !== null) done_ms = p.acts_ms[j];
          else if (!probe.up()) {
            const fires_ms = probe.booted() ? probe.supervision_fires_ms() : -Infinity;
            done_ms = fires_ms !== null && fires_ms <= now_ms ? fires_ms : null;
          } else done_ms = null;
          if (done_ms === null) never.push(probe.id);
          else last_ms = Math.max(last_ms, done_ms);
        });
        p.window.never_told = never;
        if (never.length === 0) {
          p.close_told_ms = Math.max(last_ms, p.since_ms) + this.timing.ev_response_ms;
          p.window.told_s = this.s(Math.max(last_ms, p.since_ms));
        }
      }
      if (p.reached_ms !== null) {
        p.window.reached_s = this.s(p.reached_ms);
        // From when the last running charger was covered (could be told, or cannot be healthy
        // where it is); none while one not told is cut off with a quorum of its own.
        this.update_cover(now_ms, p);
        let from_ms: number | null = p.reached_ms;
        this.probes.forEach((probe, j) => {
          if (from_ms === null || !probe.up()) return;
          const c = p.covered_since_ms[j];
          from_ms = c === null ? null : Math.max(from_ms, c);
        });
        p.close_bound_ms = from_ms === null ? null : from_ms + this.bound_ms();
      }
      const close_ms = Math.min(p.close_told_ms ?? Infinity, p.close_bound_ms ?? Infinity);
      if (now_ms >= close_ms) {
        p.window.window_s = (close_ms - p.changed_ms) / 1000;
        p.window.closed_by = close_ms === p.close_told_ms ? 'told' : 'bound';
        this.binding_a[p.charger_index] = Math.min(this.binding_a[p.charger_index], p.value_a);
        // Closed "told" while no message of a charger holding it has reached another running
        // charger, and some charger counted only because it was down (its controller's
        // supervision had fired) without the limit in its store: its car is down, but when it
        // boots again it was never told and cannot know the limit. Like one nobody heard
        // (limit_a), it binds nobody until a message of its holder reaches someone (fuzz seed
        // 12410118: 28 A set on c1, isolated, while both others were down; they restarted
        // without hearing it and shared their stored 59 A, and the judge had made 28 A the
        // group's). A limit written into every store binds (fuzz seed 9086540: 3.5 A set on every
        // charger while two were down).
        if (p.reached_ms !== null || this.every_store_holds(p)) this.heard_a[p.charger_index] = Math.min(this.heard_a[p.charger_index], p.value_a);
        else p.window.until_heard = true;
        for (const q of this.pending.filter((q) => q.charger_index === p.charger_index && q.value_a >= p.value_a)) {
          for (const c of q.cut_off) if (c !== null) c.to_s = this.s(now_ms);
          this.pending.splice(this.pending.indexOf(q), 1);
        }
      }
    }
  }

  // Every charger holds p's limit or a lower one, or has it in its store for its next boot.
  private every_store_holds(p: PendingDecrease): boolean {
    return this.probes.every((_, j) => Math.min(this.held_a[j], this.deferred_a[j] ?? Infinity) <= p.value_a + epsilon_a);
  }

  // Decreases still pending at the end, each with why (for the summary's warnings).
  open_windows(): string[] {
    return this.pending.map((p) => {
      const w = p.window;
      const open = p.cut_off.filter((c): c is CutOff => c !== null);
      const why = p.reached_ms === null
        ? `no message from a charger holding it reached another running charger (${w.charger} cut off or down): nobody else could enforce it`
        : open.length > 0
          ? `open: cut off: ${open.map((c) => `${c.charger} since ${c.from_s.toFixed(1)} s`).join(', ')} (no charger that knows it can reach them, and they may keep a quorum: they share the old limit)`
          : `not told: ${w.never_told.join(', ')}`;
      return `limit ${w.from_a} -> ${w.to_a} A on ${w.charger} at ${w.at_s} s never bound: ${why}`;
    });
  }
}

export class Checker {
  readonly convergence: Convergence[] = [];
  // The event being measured, and since when the group has been settled without a break.
  private open_convergence: { at_ms: number; entry: Convergence; settled_since_ms: number | null } | null = null;

  peak_overdraw_a = 0;
  overdraw_integral_as = 0;
  first_overdraw: Overdraw | null = null;
  worst_overdraw: Overdraw | null = null;
  peak_total_a = 0;
  sample_count = 0;
  // When the limit that binds was below what the controllers of dead chargers hold (null: never).
  limit_below_held: LimitBelowHeld | null = null;

  // Bumped by the world whenever any engine's decision may have changed.
  decisions_version = 0;
  private converged_version = -1;
  private converged_now = false;
  private last_ms: number | null = null;
  private last_over_a = 0;
  private last_total_a = 0;
  private last_possible_a = 0;
  private last_draws_a: number[];
  private last_demanding: boolean[];
  delivered_as = 0;
  possible_as = 0;
  scarce_delivered_as = 0;
  scarce_possible_as = 0;
  private last_scarce = false;
  readonly energy_as: number[];
  readonly demand_time_ms: number[];
  // The longest stretch each car wanted current and drew none (a turn that never comes).
  readonly max_starved_ms: number[];
  private readonly starved_since_ms: Array<number | null>;

  constructor(
    private readonly start_ms: number,
    private readonly probes: ChargerProbe[],
    readonly limits: LimitTracker,
  ) {
    this.energy_as = probes.map(() => 0);
    this.demand_time_ms = probes.map(() => 0);
    this.last_draws_a = probes.map(() => 0);
    this.last_demanding = probes.map(() => false);
    this.max_starved_ms = probes.map(() => 0);
    this.starved_since_ms = probes.map(() => null);
  }

  private s(at_ms: number): number {
    return (at_ms - this.start_ms) / 1000;
  }

  limit_a(): number {
    return this.limits.limit_a();
  }

  // One sample: integrates the interval since the last sample with the values it started
  // with (currents only change at sampled instants, except taper, which only lowers them,
  // so this is exact or errs toward over-draw), then takes the new values.
  sample(now_ms: number): void {
    this.limits.update(now_ms);
    if (this.last_ms !== null && now_ms > this.last_ms) {
      const dt_s = (now_ms - this.last_ms) / 1000;
      this.overdraw_integral_as += this.last_over_a * dt_s;
      this.delivered_as += this.last_total_a * dt_s;
      this.possible_as += this.last_possible_a * dt_s;
      if (this.last_scarce) {
        this.scarce_delivered_as += this.last_total_a * dt_s;
        this.scarce_possible_as += this.last_possible_a * dt_s;
      }
      for (let i = 0; i < this.probes.length; i++) {
        this.energy_as[i] += this.last_draws_a[i] * dt_s;
        if (this.last_demanding[i]) this.demand_time_ms[i] += now_ms - this.last_ms;
      }
    }
    this.sample_count++;
    let total_a = 0;
    let acceptable_sum_a = 0;
    // A dead charger's controller holds its supervision current (at least the car's minimum on
    // a real controller) until a new engine starts and its car has followed; nothing any
    // charger decides can lower it. A limit set below what those controllers hold together
    // can only be honoured once they restart, so the group is held to the larger of the two:
    // the running chargers must then leave everything to them (offer 0), and any current of
    // theirs on top is still an over-draw (docs/simulation.md, "A limit below what dead
    // controllers hold"; fuzz seeds 9025654, 9028636, 9041046, 9074049, 9086540).
    // A running charger that has not been told the limit that binds is, once the limit's
    // window has closed, one that the protocol's bound counts as degraded where it is (it
    // hears no quorum): its car holds at most its failsafe current, under the limit it knows,
    // and no message can lower that either. It counts toward the floor with what it draws, up
    // to that failsafe current (fuzz seed 9066807: two dead controllers at 6 A each and a
    // cut-off, degraded charger at its 6 A under a 10 A limit written after the cut). What it
    // draws above its failsafe current is still an over-draw.
    const binding_a = this.limit_a();
    let held_a = 0;
    const held_by: Record<string, number> = {};
    for (let i = 0; i < this.probes.length; i++) {
      const probe = this.probes[i];
      const a = beyond_reach_a(probe, now_ms, this.limits.knows(i, binding_a), probe.draw_a(now_ms));
      held_a += a;
      if (a > 0) held_by[this.probes[i].id] = a;
    }
    const limit_a = Math.max(binding_a, held_a);
    if (held_a > binding_a + epsilon_a && this.limit_below_held === null) {
      this.limit_below_held = { at_s: this.s(now_ms), limit_a: binding_a, held_a, held_by };
    }
    for (let i = 0; i < this.probes.length; i++) {
      const draw_a = this.probes[i].draw_a(now_ms);
      const acceptable_a = this.probes[i].acceptable_a(now_ms);
      this.last_draws_a[i] = draw_a;
      this.last_demanding[i] = acceptable_a > 0;
      if (acceptable_a > 0 && draw_a <= 0) {
        this.starved_since_ms[i] ??= now_ms;
        this.max_starved_ms[i] = Math.max(this.max_starved_ms[i], now_ms - this.starved_since_ms[i]!);
      } else {
        this.starved_since_ms[i] = null;
      }
      total_a += draw_a;
      acceptable_sum_a += acceptable_a;
    }
    const over_a = total_a - limit_a > epsilon_a ? total_a - limit_a : 0;
    if (over_a > 0) {
      const record: Overdraw = {
        at_s: this.s(now_ms), total_a, limit_a,
        draws_a: Object.fromEntries(this.probes.map((p, i) => [p.id, this.last_draws_a[i]])),
      };
      if (!this.first_overdraw) this.first_overdraw = record;
      if (over_a > this.peak_overdraw_a) this.worst_overdraw = record;
    }
    this.peak_overdraw_a = Math.max(this.peak_overdraw_a, over_a);
    this.peak_total_a = Math.max(this.peak_total_a, total_a);
    this.last_over_a = over_a;
    this.last_total_a = total_a;
    this.last_possible_a = Math.min(Math.max(0, limit_a), acceptable_sum_a);
    this.last_scarce = acceptable_sum_a > limit_a;
    this.last_ms = now_ms;
    const open = this.open_convergence;
    if (open) {
      // Decisions only change when an engine recomputes, crashes or boots: reuse the answer.
      if (this.decisions_version !== this.converged_version) {
        this.converged_now = this.converged();
        this.converged_version = this.decisions_version;
      }
      if (!this.converged_now) open.settled_since_ms = null;
      else if (open.settled_since_ms === null) open.settled_since_ms = now_ms;
    }
  }

  private close_convergence(): void {
    const open = this.open_convergence;
    if (open && open.settled_since_ms !== null) open.entry.after_s = (open.settled_since_ms - open.at_ms) / 1000;
    this.open_convergence = null;
  }

  // The end of the run: the last event's convergence is known now.
  finish(now_ms: number): void {
    this.sample(now_ms);
    this.close_convergence();
  }

  // Something happened (a scenario event or fault): measure how long until the group settles.
  // The time to converge after it: from the event until the group is settled and stays
  // settled up to the next event (null when it never was by then).
  on_event(now_ms: number, label: string): void {
    this.close_convergence();
    const entry: Convergence = { label, at_s: this.s(now_ms), after_s: null };
    this.convergence.push(entry);
    this.open_convergence = { at_ms: now_ms, entry, settled_since_ms: null };
  }

  // Settled: every running engine applies its target (or is degraded and applies its
  // failsafe), and every engine it hears online computed the same allocation vector.
  converged(): boolean {
    const decisions = new Map<string, Decision>();
    for (const p of this.probes) {
      if (!p.up()) continue;
      const d = p.decision();
      if (!d) return false;
      if (!d.self.degraded && d.self.applied_current !== d.self.target_current) return false;
      decisions.set(p.id, d);
    }
    for (const [id, d] of decisions) {
      for (const a of d.allocations) {
        if (a.id === id || !a.online) continue;
        const other = decisions.get(a.id);
        if (other !== undefined && !same_allocations(other, d)) return false;
      }
    }
    return true;
  }

  utilisation(): number | null {
    return this.possible_as > 0 ? Math.min(1, this.delivered_as / this.possible_as) : null;
  }

  scarce_utilisation(): number | null {
    return this.scarce_possible_as > 0 ? Math.min(1, this.scarce_delivered_as / this.scarce_possible_as) : null;
  }

  // Jain's index over the mean current of each car while it wanted current.
  fairness(): number | null {
    const xs: number[] = [];
    for (let i = 0; i < this.probes.length; i++) {
      if (this.demand_time_ms[i] > 0) xs.push(this.energy_as[i] / (this.demand_time_ms[i] / 1000));
    }
    if (xs.length < 2) return null;
    const sum = xs.reduce((a, b) => a + b, 0);
    const squares = xs.reduce((a, b) => a + b * b, 0);
    return squares > 0 ? (sum * sum) / (xs.length * squares) : 1;
  }
}

// The same allocation vector: the same members in the same order, each with the same target
// (as its text would say: NaN equals NaN).
function same_allocations(x: Decision, y: Decision): boolean {
  const a = x.allocations;
  const b = y.allocations;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].id !== b[i].id) return false;
    const s = a[i].target_current;
    const t = b[i].target_current;
    if (s !== t && !(s !== s && t !== t)) return false;
  }
  return true;
}
