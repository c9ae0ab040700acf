// The stages that join the carry (what the protocol remembers) to the facts of this call:
// recall_* before the decision fills in what the rules need from memory; remember_* after it
// writes what the next call must know. Goal: the host records facts only; every rule that
// needs the past lives here, once, for every host.
import {
  IN_MONO_MS, IN_EV_RESPONSE_MS, IN_MESSAGE_DELAY_MAX_MS, IN_HEARTBEAT_TIMEOUT_MS, IN_SEEN_GRACE_MS,
  IN_SELF_PILOT_A, IN_SELF_LIMIT_A, IN_FLAGS, INPUT_FLAGS_SELF_LIMIT_PRESENT,
  IN_MEMBER_ID, IN_MEMBER_ID_LEN, IN_MEMBER_FLAGS, IN_MEMBER_LAST_SEEN_MS, IN_MEMBER_AMP_MA,
  IN_MEMBER_MIN_CURRENT_A, IN_MEMBER_MAX_CURRENT_A, IN_MEMBER_DEMAND_CAP_A, IN_MEMBER_APPLIED_A,
  IN_MEMBER_COMMITTED_A, IN_MEMBER_VEHICLE, IN_MEMBER_STATE,
  MEMBER_FLAGS_LAST_SEEN, MEMBER_FLAGS_DEMAND_CAP, MEMBER_FLAGS_APPLIED, MEMBER_FLAGS_COMMITTED,
  MEMBER_FLAGS_DEMAND_PRESENT, MEMBER_FLAGS_DEMAND, MEMBER_OUT_FLAGS_ONLINE, MEMBER_OUT_FLAGS_IN_HOLD,
  OUT_MEMBER_TARGET_CURRENT_A,
  IN_MEMBER_PILOT_A, MEMBER_FLAGS_UNCONTROLLED, MEMBER_FLAGS_PILOT, OUT_MEMBER_RESERVED_A,
} from './abi';
import {
  in_f64, in_u32, member_in, member_out, state_of, scratch_record, scratch_share_recent_a, scratch_share_hold_a,
  record_of,
} from './blocks';
import {
  carry_applied_a, applied_set, applied_prune, committed_a, committed_falls_ms,
  carry_demand_cap_a, carry_set_demand_cap_a, carry_demand_cap_at_ms, carry_set_demand_cap_at_ms,
  carry_offered_raised_at_ms, carry_set_offered_raised_at_ms,
  record_get, record_find, record_is, record_count, record_seen_in_table, record_mark_departed, records_forget_departed,
  record_departed_ms, record_last_seen_ms, share_record, share_max_since, carry_started_ms,
  record_note_pilot, record_pilot_raised_ms, carry_limit_fell_ms,
} from './carry';
import { demand_cap_next } from './demand_cap';
import { may_draw_a, offline_hold_ms, ev_response_ms, view_fresh_ms, clock_rate_margin, pilot_rise_hold_ms } from './group';
import { quorum_timeout_ms } from './settings';

// How long my published shares matter: a peer may act on my view for up to a heartbeat
// timeout before it goes offline in my view, then through the offline hold; a member that
// left the table is remembered as long.
export function share_keep_ms(): f64 {
  return 2 * in_f64(IN_HEARTBEAT_TIMEOUT_MS) + ev_response_ms() + in_f64(IN_SEEN_GRACE_MS) + 3 * in_f64(IN_MESSAGE_DELAY_MAX_MS);
}

// How long a view of mine may still let a member rise after I published it: it arrives
// within message_delay_max and lets it rise for view_fresh (group.ts), timed on its clock,
// while I time this on mine: with the clock-rate margin once for each clock. After a safe
// start I do not know what my earlier views granted, so I rise nowhere for this long.
export function forgotten_views_ms(): f64 {
  return (view_fresh_ms() + in_f64(IN_MESSAGE_DELAY_MAX_MS)) * clock_rate_margin * clock_rate_margin;
}

// Rule 5a: how long after I stopped being degraded a view may still have been made while its
// member counted me degraded. My first status that says I am not is published within a status
// period (at most message_delay_max) and reaches the member within message_delay_max; a view it
// made before then reaches me within message_delay_max more. Timed on two clocks: the
// clock-rate margin once for each. (The same length as forgotten_views_ms, for another reason.)
export function healed_views_ms(): f64 {
  return 3 * in_f64(IN_MESSAGE_DELAY_MAX_MS) * clock_rate_margin * clock_rate_margin;
}

// Rule 9: how long after my limit fell a degraded charger keeps from rising to its failsafe
// current: the others' cars follow within ev_response of hearing it, and one that heard it
// from my status heard it up to message_delay_max later (on my clock: the margin once more).
export function limit_fall_hold_ms(): f64 {
  return ev_response_ms() + in_f64(IN_MESSAGE_DELAY_MAX_MS) * clock_rate_margin;
}

function self_demanding(self_index: i32): bool {
  const m = member_in(self_index);
  const flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
  if ((flags & MEMBER_FLAGS_DEMAND_PRESENT) != 0) return (flags & MEMBER_FLAGS_DEMAND) != 0;
  const state = load<u32>(m + <usize>IN_MEMBER_STATE);
  return load<u32>(m + <usize>IN_MEMBER_VEHICLE) == 1 && (state == 2 || state == 3);
}

// Goal: this charger's own record in the table, as its peers will see it. How: the limit
// the host really applied (a fact) is what the carry follows; the applied and committed
// currents and the demand cap come from the carry, never from the host. Why: peers count me
// at these numbers, so they must be the protocol's own.
export function recall_self(self_index: i32): void {
  const now_ms = in_f64(IN_MONO_MS);
  if ((in_u32(IN_FLAGS) & INPUT_FLAGS_SELF_LIMIT_PRESENT) != 0) applied_set(now_ms, in_f64(IN_SELF_LIMIT_A));
  applied_prune(now_ms, ev_response_ms());
  recall_demand_cap(self_index, now_ms, in_f64(IN_EV_RESPONSE_MS));
  const m = member_in(self_index);
  let flags = load<u32>(m + <usize>IN_MEMBER_FLAGS) | MEMBER_FLAGS_APPLIED | MEMBER_FLAGS_COMMITTED | MEMBER_FLAGS_LAST_SEEN;
  store<f64>(m + <usize>IN_MEMBER_APPLIED_A, carry_applied_a());
  store<f64>(m + <usize>IN_MEMBER_COMMITTED_A, committed_a());
  store<f64>(m + <usize>IN_MEMBER_LAST_SEEN_MS, now_ms);
  const cap_a = carry_demand_cap_a();
  if (cap_a > 0) {
    store<f64>(m + <usize>IN_MEMBER_DEMAND_CAP_A, cap_a);
    flags |= MEMBER_FLAGS_DEMAND_CAP;
  } else {
    store<f64>(m + <usize>IN_MEMBER_DEMAND_CAP_A, 0);
    flags &= ~MEMBER_FLAGS_DEMAND_CAP;
  }
  store<u32>(m + <usize>IN_MEMBER_FLAGS, flags);
}

// This charger's own demand cap (published; peers use it as is, so every view agrees).
// Nothing is learned while nothing is offered (below the car's minimum the controller pauses
// the car), and no time counts while the car may still be following a raise (ev_response):
// a car that is still ramping up is not a car that wants less.
function recall_demand_cap(self_index: i32, now_ms: f64, ev_response_ms: f64): void {
  const m = member_in(self_index);
  const applied_a = carry_applied_a();
  const offered_a = applied_a < load<f64>(m + <usize>IN_MEMBER_MIN_CURRENT_A) ? 0 : applied_a;
  const measured_a = load<f64>(m + <usize>IN_MEMBER_AMP_MA) / 1000;
  const raised_at_ms = carry_offered_raised_at_ms();
  const following = raised_at_ms >= 0 && now_ms - raised_at_ms < ev_response_ms;
  const cap_at_ms = carry_demand_cap_at_ms();
  const elapsed_ms = cap_at_ms < 0 || following ? 0 : now_ms - cap_at_ms;
  carry_set_demand_cap_at_ms(now_ms);
  const cap_a = self_demanding(self_index) ? demand_cap_next(offered_a, measured_a, carry_demand_cap_a(), elapsed_ms) : 0;
  carry_set_demand_cap_a(cap_a);
}

// Goal: for every peer, the shares my recent views gave it (share_recent) and those since it
// was last heard (share_hold), from its carry record. How: records are matched by id (the
// table's order and membership may change between calls); records nobody in the table
// matches are marked departed first, so that creating a record for a newcomer only ever
// evicts a member that left; indices are resolved again after any creation.
export function recall_members(count: i32, self_index: i32): void {
  const now_ms = in_f64(IN_MONO_MS);
  for (let r = 0; r < record_count(); r++) {
    if (!record_in_table(r, count, self_index)) record_mark_departed(r, now_ms);
  }
  for (let i = 0; i < count; i++) {
    if (i != self_index) record_get(member_in(i) + <usize>IN_MEMBER_ID, <i32>load<u32>(member_in(i) + <usize>IN_MEMBER_ID_LEN));
  }
  const recent_ms = 2 * in_f64(IN_MESSAGE_DELAY_MAX_MS);
  const timeout_ms = in_f64(IN_HEARTBEAT_TIMEOUT_MS);
  for (let i = 0; i < count; i++) {
    store<f64>(scratch_share_recent_a + <usize>(i * 8), -1);
    store<f64>(scratch_share_hold_a + <usize>(i * 8), -1);
    store<i32>(scratch_record + <usize>(i * 4), -1);
    if (i == self_index) continue;
    const m = member_in(i);
    const r = record_find(m + <usize>IN_MEMBER_ID, <i32>load<u32>(m + <usize>IN_MEMBER_ID_LEN));
    store<i32>(scratch_record + <usize>(i * 4), r);
    // A charger without load sharing: the pilot it reports, and whether it rose (rule 3).
    const member_flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
    if ((member_flags & MEMBER_FLAGS_UNCONTROLLED) != 0 && (member_flags & MEMBER_FLAGS_PILOT) != 0) {
      record_note_pilot(r, now_ms, <f64>load<u32>(m + <usize>IN_MEMBER_PILOT_A));
    }
    // share_recent: every view of mine the member may still raise on, or may have raised on
    // without my hearing of it yet (finding B). It may raise on a view for view_fresh after
    // it arrived (group.ts), and a view arrives at most message_delay_max after it was sent:
    // every view in force since now - view_fresh - message_delay_max. And its last report I
    // have shows what it did with the views before: every view in force since that report
    // was sent, less a message delay — since long ago when its reports stop reaching me.
    const heard = (load<u32>(m + <usize>IN_MEMBER_FLAGS) & MEMBER_FLAGS_LAST_SEEN) != 0;
    const heard_ms = heard ? Math.min(now_ms, load<f64>(m + <usize>IN_MEMBER_LAST_SEEN_MS)) : now_ms;
    const since_ms = Math.min(heard_ms - recent_ms, now_ms - forgotten_views_ms());
    store<f64>(scratch_share_recent_a + <usize>(i * 8), share_max_since(r, since_ms));
    if (heard) {
      const last_seen_ms = load<f64>(m + <usize>IN_MEMBER_LAST_SEEN_MS);
      store<f64>(scratch_share_hold_a + <usize>(i * 8), share_max_since(r, last_seen_ms - timeout_ms));
    }
  }
}

function record_in_table(r: i32, count: i32, self_index: i32): bool {
  for (let i = 0; i < count; i++) {
    if (i == self_index) continue;
    const m = member_in(i);
    if (record_is(r, m + <usize>IN_MEMBER_ID, <i32>load<u32>(m + <usize>IN_MEMBER_ID_LEN))) return true;
  }
  return false;
}

// Goal: what the next call must know of this decision: the limit applied (and so the
// committed current), when the offer was last raised, the shares this view publishes, and
// what each member may still draw should it leave the table.
export function remember_decision(count: i32, self_index: i32, applied_a: f64): void {
  const now_ms = in_f64(IN_MONO_MS);
  if (applied_a > carry_applied_a()) carry_set_offered_raised_at_ms(now_ms);
  applied_set(now_ms, applied_a);
  const keep_ms = share_keep_ms();
  for (let i = 0; i < count; i++) {
    if (i == self_index) continue;
    const r = record_of(i);
    const m = member_in(i);
    const seen = (load<u32>(m + <usize>IN_MEMBER_FLAGS) & MEMBER_FLAGS_LAST_SEEN) != 0;
    share_record(r, now_ms, load<f64>(member_out(i) + <usize>OUT_MEMBER_TARGET_CURRENT_A), keep_ms);
    // A charger without load sharing that leaves the table keeps its reserve through the hold.
    const uncontrolled = (load<u32>(m + <usize>IN_MEMBER_FLAGS) & MEMBER_FLAGS_UNCONTROLLED) != 0;
    const may_draw = uncontrolled ? Math.max(may_draw_a(i, true), load<f64>(member_out(i) + <usize>OUT_MEMBER_RESERVED_A)) : may_draw_a(i, true);
    record_seen_in_table(r, seen ? load<f64>(m + <usize>IN_MEMBER_LAST_SEEN_MS) : -1, may_draw);
  }
  for (let r = 0; r < record_count(); r++) {
    if (record_departed_ms(r) >= 0) share_record(r, now_ms, -1, keep_ms);
  }
  records_forget_departed(now_ms, keep_ms);
}

// When the module wants to be called again at the latest (monotonic ms, -1: no timer runs):
// the committed current falls, a member goes offline or leaves its hold, a mismatch outlasts
// its grace, or a degraded charger may rise to its failsafe current.
export function next_call_ms(count: i32, self_index: i32, mismatch_since_ms: f64, degraded_since_ms: f64): f64 {
  const now_ms = in_f64(IN_MONO_MS);
  const timeout_ms = in_f64(IN_HEARTBEAT_TIMEOUT_MS);
  const hold_ms = offline_hold_ms();
  let next = committed_falls_ms(ev_response_ms());
  next = earliest(next, carry_started_ms() + forgotten_views_ms(), now_ms);
  if (mismatch_since_ms >= 0) next = earliest(next, mismatch_since_ms + in_f64(IN_SEEN_GRACE_MS) + 1, now_ms);
  if (degraded_since_ms >= 0) {
    next = earliest(next, degraded_since_ms + timeout_ms + in_f64(IN_MESSAGE_DELAY_MAX_MS) + ev_response_ms(), now_ms);
    if (carry_limit_fell_ms() >= 0) next = earliest(next, carry_limit_fell_ms() + limit_fall_hold_ms(), now_ms);
  }
  for (let i = 0; i < count; i++) {
    if (i == self_index) continue;
    const m = member_in(i);
    if ((load<u32>(m + <usize>IN_MEMBER_FLAGS) & MEMBER_FLAGS_LAST_SEEN) == 0) continue;
    const last_seen_ms = load<f64>(m + <usize>IN_MEMBER_LAST_SEEN_MS);
    const state = state_of(i);
    // A charger without load sharing: its pilot goes stale, or its rise hold ends (rule 3).
    if ((load<u32>(m + <usize>IN_MEMBER_FLAGS) & MEMBER_FLAGS_UNCONTROLLED) != 0 && (state & MEMBER_OUT_FLAGS_ONLINE) != 0) {
      next = earliest(next, last_seen_ms + in_f64(IN_MESSAGE_DELAY_MAX_MS) + 1, now_ms);
      const r = record_of(i);
      if (r >= 0 && record_pilot_raised_ms(r) >= 0) next = earliest(next, record_pilot_raised_ms(r) + pilot_rise_hold_ms() + 1, now_ms);
    }
    if ((state & MEMBER_OUT_FLAGS_ONLINE) != 0) {
      next = earliest(next, last_seen_ms + timeout_ms + 1, now_ms);
      // Silent past the smallest timeout told, it counts as degraded (rule 8, classify_members).
      next = earliest(next, last_seen_ms + quorum_timeout_ms + 1, now_ms);
    }
    else if ((state & MEMBER_OUT_FLAGS_IN_HOLD) != 0) next = earliest(next, last_seen_ms + timeout_ms + hold_ms + 1, now_ms);
  }
  for (let r = 0; r < record_count(); r++) {
    if (record_departed_ms(r) < 0 || record_last_seen_ms(r) < 0) continue;
    next = earliest(next, record_last_seen_ms(r) + timeout_ms + hold_ms + 1, now_ms);
  }
  return next;
}

function earliest(next: f64, at_ms: f64, now_ms: f64): f64 {
  if (at_ms <= now_ms) return next;
  return next < 0 || at_ms < next ? at_ms : next;
}

// The safe start's assumption: a charger that remembers nothing may have allowed up to its
// maximum (or the pilot its controller still offers) until now.
export function assumed_committed_a(self_index: i32): f64 {
  return Math.max(load<f64>(member_in(self_index) + <usize>IN_MEMBER_MAX_CURRENT_A), in_f64(IN_SELF_PILOT_A));
}
