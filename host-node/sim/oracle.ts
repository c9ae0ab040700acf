// The ground-truth oracle: may this pilot rise now? Judged from what the world knows to be
// true — every car's physical current, every controller's offer, every status message sent,
// in flight and held, every limit each charger holds — and never from a decision's fields
// (budget, target, online or degraded flags, effective limit): a check that reuses the answer
// under test cannot catch a wrong answer. It runs for every policy.
//
// The rule (docs/simulation.md, "The oracle"): when charger i raises its offer from a to b at
// instant t, it needs
//
//     b <= L_i(t) - sum over every other charger j of W_j(t)
//
// - L_i(t): the limit that binds i: the group's binding limit (LimitTracker, with its
//   windows), or a lower one i has already been told;
// - W_j(t) = max(draw_j(t), offer_j(t), grant_ij(t)): the most j's car may draw over the next
//   ev_response without any further permission from i:
//   - draw_j: what its car draws now (a car following a decrease keeps drawing it for up to
//     ev_response);
//   - offer_j: what its controller offers (a car may rise to it at any moment: plugged in,
//     resumed, following an increase);
//   - grant_ij: the largest share for j in any view i itself sent to j that j may still act
//     on: every i -> j status message still in flight, and the last one delivered to j's
//     running engine while j may still rise on it: the protocol lets a view grant a rise for
//     view_fresh (2 x message_delay_max) after it arrived, on j's own clock, and never
//     longer than j counts i online (heartbeat_timeout); an older view only bounds what j
//     keeps (docs/protocol.md, rule 9). A view is i's permission for j; i must not take
//     current it has granted and not yet withdrawn. (A j that rose on an older view anyway
//     is judged at its own raise, against i's draw and offer.) Grants are counted as the offer they would make on j's
//     controller (whole amps, at most its maximum, 0 below its minimum), and only up to
//     what j's own last published view gives j: j rises only within its own view too (rule
//     9), so a view of i's that gives j more than j's own (i never heard a member j reserves)
//     is no permission j can act on; a later rise of j's own view is j's raise, judged on its
//     own (docs/simulation.md, "A grant is capped by the grantee's own view").
// Chargers with load sharing switched off are outside the protocol: their raises are not
// judged, but their cars count for everyone else.
import type { PeerStatusDoc } from '../engine/types.js';
import { beyond_reach_a, type LimitTracker, type PermissionViolation } from './checker.js';

export interface OracleProbe {
  id: string;
  up(): boolean;
  enabled(): boolean; // load sharing is on (its raises are the protocol's)
  draw_a(now_ms: number): number;
  offer_a(now_ms: number): number;
  grant_offer_a(share_a: number): number; // what a share of share_a would offer on this controller
  clock_ms(now_ms: number): number; // its engine's clock
  heartbeat_timeout_ms(): number; // from its current config
  view_fresh_ms(): number; // how long a view it received lets it rise (the protocol's rule)
  // A charger without load sharing: the most its car may draw before the others could follow
  // a rise of its pilot by its own user (the world knows its user's plan); 0 for the others.
  worst_a?(now_ms: number): number;
  // For the floor under the limit (INV-1's, "A limit below what dead controllers hold"): what
  // its controller holds that no engine can lower now (a dead controller's supervision
  // current), and the most its engine lets its car draw while degraded (its failsafe
  // current, from the config it holds); 0: nothing beyond reach.
  held_a(now_ms: number): number;
  failsafe_a(): number;
}

export interface OracleViolation extends PermissionViolation {
  limit_a: number;
  others: Record<string, { draw_a: number; offer_a: number; grant_a: number }>;
}

// One status message from one charger to one other (a copy of the sender's view for it).
export interface OracleMessage {
  from: number;
  to: number;
  grant_a: number; // the share the sender's view gave the receiver, as an offer on its controller
  copies: number; // copies still in flight
}

interface Held {
  grant_a: number;
  received_clock_ms: number; // on the receiver's clock
}

const epsilon_a = 1e-6;

export class Oracle {
  readonly violations: OracleViolation[] = [];
  raises_checked = 0;
  // in_flight[i][j]: messages from i to j on their way; held[j][i]: the last one j's engine got.
  private readonly in_flight: Array<Array<Set<OracleMessage>>>;
  private readonly held: Array<Array<Held | null>>;
  // own_a[j]: the share j's own view gave j in the last status j sent, as an offer on its
  // controller; null until j's running engine has sent one.
  private readonly own_a: Array<number | null>;

  constructor(
    private readonly start_ms: number,
    private readonly probes: OracleProbe[],
    private readonly limits: LimitTracker,
  ) {
    this.in_flight = probes.map(() => probes.map(() => new Set()));
    this.held = probes.map(() => probes.map(() => null));
    this.own_a = probes.map(() => null);
  }

  // ---- the messages the world has seen sent ----

  sent(from: number, to: number, doc: PeerStatusDoc): OracleMessage {
    const alloc = doc.loadsharing?.alloc ?? {};
    const share_a = alloc[this.probes[to].id];
    const grant_a = typeof share_a === 'number' && share_a > 0 ? this.probes[to].grant_offer_a(share_a) : 0;
    const own_share_a = alloc[this.probes[from].id];
    this.own_a[from] = typeof own_share_a === 'number' && own_share_a > 0 ? this.probes[from].grant_offer_a(own_share_a) : 0;
    return { from, to, grant_a, copies: 0 };
  }

  scheduled(m: OracleMessage, copies: number): void {
    m.copies = copies;
    if (copies > 0) this.in_flight[m.from][m.to].add(m);
  }

  // A copy arrived; taken: a running engine of the receiver took it as the sender's status.
  arrived(now_ms: number, m: OracleMessage, taken: boolean): void {
    m.copies--;
    if (m.copies <= 0) this.in_flight[m.from][m.to].delete(m);
    if (taken) {
      const h = this.held[m.to][m.from];
      const received_clock_ms = this.probes[m.to].clock_ms(now_ms);
      if (h === null) this.held[m.to][m.from] = { grant_a: m.grant_a, received_clock_ms };
      else { h.grant_a = m.grant_a; h.received_clock_ms = received_clock_ms; } // reused: one arrives every second
    }
  }

  // A crashed or restarted engine holds nothing it heard before.
  forget(j: number): void {
    this.held[j].fill(null);
    this.own_a[j] = null;
  }

  // ---- the judgement ----

  // The largest offer a view of i's may still let j make.
  grant_a(now_ms: number, i: number, j: number): number {
    let grant_a = 0;
    for (const m of this.in_flight[i][j]) grant_a = Math.max(grant_a, m.grant_a);
    const h = this.held[j][i];
    const held_ms = Math.min(this.probes[j].heartbeat_timeout_ms(), this.probes[j].view_fresh_ms());
    if (h && this.probes[j].up() && this.probes[j].clock_ms(now_ms) - h.received_clock_ms <= held_ms) {
      grant_a = Math.max(grant_a, h.grant_a);
    }
    // j rises only within its own view too (rule 9: my target is the smallest share of me in
    // my own view and in every view I hold), so i's grant is a permission j can act on only
    // up to what j's own view gives it (docs/simulation.md, "A grant is capped by the
    // grantee's own view"). A rise of j's own view later is j's raise, judged on its own.
    const own_a = this.own_a[j];
    return Math.min(grant_a, own_a ?? Infinity, this.held_cap_a(now_ms, i, j, held_ms));
  }

  // The other terms of j's minimum (rule 9): the share of j in every view of a third charger k
  // that j's running engine holds fresh now (or that is on its way to it: a newer view may give
  // more). A view that expires later lets j rise on its own view: that raise is j's, judged at
  // that instant (fuzz seed 9096929: c6's view granted c3 28 A, and so did c3's own view, both
  // reserving the cut-off c4 at 6 A; c2's view, which c3 held, reserved c4's 32 A and gave c3
  // far less). Infinity: no such view.
  private held_cap_a(now_ms: number, i: number, j: number, held_ms: number): number {
    if (!this.probes[j].up()) return Infinity;
    let cap_a = Infinity;
    const clock_ms = this.probes[j].clock_ms(now_ms);
    for (let k = 0; k < this.probes.length; k++) {
      if (k === i || k === j) continue;
      const h = this.held[j][k];
      if (h === null || clock_ms - h.received_clock_ms > held_ms) continue;
      let grant_a = h.grant_a;
      for (const m of this.in_flight[k][j]) grant_a = Math.max(grant_a, m.grant_a);
      cap_a = Math.min(cap_a, grant_a);
    }
    return cap_a;
  }

  // What the chargers hold beyond any message's reach, with charger i at offer_i_a: INV-1's
  // terms (checker.ts beyond_reach_a), with the offer beside the draw as in W_j. The raiser's
  // own term is only its failsafe current while it is not told: what it held at an earlier
  // boot excuses no rise of its own.
  private floor_a(now_ms: number, i: number, offer_i_a: number): number {
    let binding_a: number | null = null;
    let floor_a = 0;
    this.probes.forEach((p, j) => {
      // Told or not only matters for a running charger with a failsafe current.
      let told = true;
      if (p.up() && p.failsafe_a() > 0) {
        binding_a ??= this.limits.limit_a();
        told = this.limits.knows(j, binding_a);
      }
      const worst_a = j === i ? offer_i_a : Math.max(p.draw_a(now_ms), p.offer_a(now_ms));
      floor_a += beyond_reach_a(p, now_ms, told, worst_a, j !== i);
    });
    return floor_a;
  }

  // Charger i's controller offer changed from from_a to to_a (the world calls this for every
  // change its policy makes).
  on_offer(now_ms: number, i: number, from_a: number, to_a: number): void {
    if (to_a <= from_a || !this.probes[i].enabled()) return;
    this.raises_checked++;
    // The floor: where the chargers that no message can reach hold more than the limit, the
    // group is held to what they hold, as INV-1 is (docs/simulation.md, "Raises without room
    // of the 12400000 campaign"): no protocol can lower a dead controller's current, nor tell
    // a running charger cut off from every holder of the limit, which the bound counts
    // degraded at its failsafe current (fuzz seed 12415246: three chargers never told
    // 14.4 A, each at its 6 A failsafe current). Counted in the oracle's terms (draw and
    // offer), the raiser at its new offer; the floor can only excuse a raise of a charger
    // not told the limit to at most its failsafe current, with every other charger at no more
    // than what is beyond reach (room = floor - others <= the raiser's own term).
    const limit_a = Math.max(this.limits.limit_for(i, now_ms), this.floor_a(now_ms, i, to_a));
    let others_a = 0;
    const others: OracleViolation['others'] = {};
    this.probes.forEach((p, j) => {
      if (j === i) return;
      const draw_a = p.draw_a(now_ms);
      const offer_a = p.offer_a(now_ms);
      const grant_a = this.grant_a(now_ms, i, j);
      const worst_a = p.worst_a?.(now_ms) ?? 0;
      others_a += Math.max(draw_a, offer_a, grant_a, worst_a);
      others[p.id] = { draw_a, offer_a: Math.max(offer_a, worst_a), grant_a };
    });
    const allowed_a = Math.floor(limit_a - others_a + epsilon_a);
    if (to_a > limit_a - others_a + epsilon_a) {
      const worst = Object.entries(others).filter(([, w]) => Math.max(w.draw_a, w.offer_a, w.grant_a) > 0)
        .map(([id, w]) => `${id} ${fmt(Math.max(w.draw_a, w.offer_a, w.grant_a))}${w.grant_a > Math.max(w.draw_a, w.offer_a) ? ' (granted)' : w.draw_a > w.offer_a ? ' (still drawing)' : ''}`);
      this.violations.push({
        at_s: (now_ms - this.start_ms) / 1000, charger: this.probes[i].id, from_a, to_a, allowed_a, limit_a, others,
        why: `limit ${fmt(limit_a)} A minus the others' worst case ${fmt(others_a)} A (${worst.join(', ') || 'none'}) leaves ${fmt(limit_a - others_a)} A`,
      });
    }
  }
}

const fmt = (a: number) => (Number.isInteger(a) ? String(a) : a.toFixed(2));
