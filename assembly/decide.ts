// compute(): the whole decision for one charger, stage by stage (rules 1-8). The clocks are
// read once (mono_ms and wall_ms in the input block); stages never read time themselves.
// The protocol's memory comes in and goes out through the carry (carry.ts, recall.ts).
import {
  OUT_SIZE, MEMBERS_MAX, FAILSAFE_MODE_DISABLE,
  IN_MEMBER_COUNT, IN_SELF_INDEX, IN_FAILSAFE_MODE, IN_FAILSAFE_SAFE_CURRENT_A,
  IN_MEMBER_FLAGS, IN_MEMBER_MIN_CURRENT_A, IN_MEMBER_ALLOC_MASK, IN_MEMBER_ALLOC_A, MEMBER_FLAGS_ALLOC,
  OUT_SELF_TARGET_CURRENT_A, OUT_SELF_APPLIED_CURRENT_A, OUT_SELF_OWN_VIEW_CURRENT_A,
  OUT_BUDGET_CURRENT_A, OUT_EFFECTIVE_LIMIT_A, OUT_RESERVED_CURRENT_A, OUT_ALLOCATED_SUM_A,
  OUT_MISMATCH_SINCE_MS, OUT_OFFLINE_HOLD_MS, OUT_ERROR_CODE, OUT_ERROR_MEMBER_INDEX, OUT_SELF_REASON,
  OUT_FLAGS, OUT_ONLINE_COUNT, OUT_OFFLINE_COUNT, OUT_DEMANDING_COUNT, OUT_MEMBER_COUNT,
  OUT_MEMBER_TARGET_CURRENT_A, OUT_MEMBER_REASON, OUT_MEMBER_FLAGS,
  OUTPUT_FLAGS_SELF_DEGRADED, OUTPUT_FLAGS_FAILSAFE_ACTIVE, OUTPUT_FLAGS_CONFIG_CONSISTENT,
  OUTPUT_FLAGS_MISMATCH_SINCE_PRESENT, OUTPUT_FLAGS_SEEN_MISMATCH, OUTPUT_FLAGS_NO_QUORUM,
  MEMBER_OUT_FLAGS_ONLINE, MEMBER_OUT_FLAGS_DEGRADED, MEMBER_OUT_FLAGS_DEMANDING, MEMBER_OUT_FLAGS_IN_HOLD,
  REASON_VIEW_MINIMUM, REASON_WAITING_FOR_PEERS, REASON_DEGRADED, REASON_FAILSAFE_DISABLED,
  REASON_INPUT_ERROR, ERROR_OK, IN_MONO_MS, IN_HEARTBEAT_TIMEOUT_MS, IN_MESSAGE_DELAY_MAX_MS, IN_EV_RESPONSE_MS,
  IN_CLOCK_EPOCH, OUT_DEGRADED_SINCE_MS, IN_FAILSAFE_PEER_ASSUMED_CURRENT_A, IN_ROTATION_INTERVAL_S, IN_SELF_PILOT_A,
  OUTPUT_FLAGS_DEGRADED_SINCE_PRESENT, IN_MEMBER_APPLIED_A, MEMBER_FLAGS_APPLIED,
  OUT_SELF_COMMITTED_CURRENT_A, OUT_SELF_DEMAND_CAP_A, OUT_NEXT_CALL_MS, OUT_CARRY_STATUS,
  OUTPUT_FLAGS_SETTINGS_DIFFER, OUTPUT_FLAGS_LEFT_ALONE, INPUT_FLAGS_ALONE_CONFIRMED, IN_FLAGS,
  MEMBER_FLAGS_SEEN, IN_MEMBER_SEEN_MASK, IN_MEMBER_LAST_SEEN_MS, IN_MEMBER_COMMITTED_A, MEMBER_FLAGS_COMMITTED, MEMBER_FLAGS_LAST_SEEN,
} from './abi';
import { output_base, in_f64, in_u32, out_f64, out_u32, member_in, member_out, state_of, state_out, zero_bytes, scratch_canon_a, canon_share_of, STATE_SILENT_PAST_QUORUM } from './blocks';
import {
  carry_load, carry_store, carry_degraded_since_ms, carry_set_degraded_since_ms, carry_set_mismatch_since_ms,
  carry_demand_cap_a, committed_a, carry_set_had_peers, carry_had_peers, carry_clear_had_peers, carry_started_ms,
  carry_healed_ms, carry_set_healed_ms, carry_note_limit,
} from './carry';
import { settle_safety_settings } from './settings';
import {
  recall_self, recall_members, remember_decision, next_call_ms, assumed_committed_a, forgotten_views_ms, healed_views_ms, limit_fall_hold_ms,
} from './recall';
import { validate_input } from './validate';
import {
  classify_members, effective_limit_a, config_consistent, reserve_members, reserve_departed, departed_in_hold_count, seen_mask_of_self,
  seen_mismatch_now, mismatch_since_next_ms, mismatch_outlasted_grace, offline_hold_ms, may_draw_a, is_leaving, ev_response_ms, view_fresh_ms,
  is_uncontrolled,
} from './group';
import { allocate } from './allocate';

function target_of(i: i32): f64 {
  return load<f64>(member_out(i) + <usize>OUT_MEMBER_TARGET_CURRENT_A);
}

function is_healthy_other(i: i32, self_index: i32): bool {
  const state = state_of(i);
  // A charger without load sharing is in the reserves (rule 3), never a healthy other.
  return i != self_index && (state & MEMBER_OUT_FLAGS_ONLINE) != 0 && (state & MEMBER_OUT_FLAGS_DEGRADED) == 0 && !is_uncontrolled(i);
}

// Rule 5: my target is the smallest share any fresh view gives me: my own, and the vector
// of every member I hear — degraded ones too: a member I count as degraded may already have
// recovered and raised, and the only thing that stops two recovering members from both
// taking the whole budget is each one's view of the other. Disagreement can only lower
// currents. A vector that leaves me out gives me 0 (it budgets nothing for me yet), and so
// does the vector of a member whose seen-set lacks me (it does not know I am here): both
// bound what I may RISE to (views_a with knows_me = false), but not what I may keep
// (knows_me = true): a member that merely regains me (a healed partition, a restart) must
// not dip everyone's pilot while it learns of us.
// Rule 5a (docs/protocol.md rule 9, after a heal; finding H): a view that knows me and gives
// me exactly 0 within healed_views_ms after I stopped being degraded may have been made while
// its member still counted me degraded: it then leaves me out because it reserves me apart,
// at least peer_assumed (rule 3), which is at least my failsafe current (rule 8). Such a view
// bounds what I keep to reserved_keep_a (what I already draw, at most my failsafe current)
// instead of 0: I keep my failsafe current until my share is permitted, never rise on it.
function minimum_over_views(count: i32, self_index: i32, own_a: f64, knows_me_only: bool, reserved_keep_a: f64): f64 {
  let target_a = own_a;
  const me = <u32>1 << <u32>self_index;
  const now_ms = in_f64(IN_MONO_MS);
  const fresh_ms = view_fresh_ms();
  for (let i = 0; i < count; i++) {
    if (i == self_index || (state_of(i) & MEMBER_OUT_FLAGS_ONLINE) == 0 || is_leaving(i) || is_uncontrolled(i)) continue;
    const m = member_in(i);
    const flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
    if ((flags & MEMBER_FLAGS_ALLOC) == 0) continue;
    if (knows_me_only && (flags & MEMBER_FLAGS_SEEN) != 0 && (load<u32>(m + <usize>IN_MEMBER_SEEN_MASK) & me) == 0) continue;
    let view_a: f64 = 0;
    // A view that arrived more than view_fresh ago lets me rise nowhere (group.ts): its
    // member has stopped counting what it gave me.
    const fresh = now_ms - load<f64>(m + <usize>IN_MEMBER_LAST_SEEN_MS) <= fresh_ms;
    if ((load<u32>(m + <usize>IN_MEMBER_ALLOC_MASK) & me) != 0 && (knows_me_only || fresh)) {
      view_a = Math.floor(load<f64>(m + <usize>(IN_MEMBER_ALLOC_A + self_index * 8)));
    }
    if (knows_me_only && view_a == 0) view_a = reserved_keep_a;
    if (view_a < target_a) target_a = view_a;
  }
  return target_a;
}

// Rule 6, decrease before increase: I may only use what the healthy others leave, counting
// each at the larger of its share in my view and what it may still draw: committed within
// ev_response, applied, or a larger share one of my recently published views gave it (it may
// act on that view until my newer one reaches it). Offline and degraded members are already
// in the reserves.
function headroom_a(count: i32, self_index: i32, budget_a: f64): f64 {
  let others_a: f64 = 0;
  for (let i = 0; i < count; i++) {
    if (!is_healthy_other(i, self_index)) continue;
    others_a += Math.max(target_of(i), may_draw_a(i, false));
  }
  return budget_a - others_a;
}

// How much more than my view gives them the healthy members I hear may still draw or take
// (committed, applied, my recent views' shares): what a rise of mine would have to wait for.
function kept_above_view_a(count: i32, self_index: i32): f64 {
  let excess_a: f64 = 0;
  for (let i = 0; i < count; i++) {
    if (!is_healthy_other(i, self_index)) continue;
    excess_a += Math.max(0, may_draw_a(i, false) - target_of(i));
  }
  return excess_a;
}

// Rule 10 with the others' views (campaign seed 12428346): a fresh view of member k that
// knows me lets me rise to my share in it only once the healthy members it shares to, and
// that k hears, have come down to their shares in it: what each still draws or offers above
// its share (committed, applied) comes out of mine. Why: k's shares sum to at most k's
// budget, which reserves the members k counts offline or degraded at what they may still
// draw. My own headroom (headroom_a) counts the others' committed currents against MY budget
// only, and my budget may be blind to a member k knows: one I never heard (I booted or
// restarted while it was cut off) is reserved only peer_assumed in mine while its car still
// draws its old share, which k holds through its offline hold. The minimum over views already
// takes k's knowledge for my share; this takes it for the wait as well. A member k does not
// list or does not hear is reserved apart by k (or unknown to it) and my own headroom counts
// it; my views' grants (share_recent) are left out: a member rises on them only within the
// minimum over the views it holds, k's among them. Only while my budget may be blind: some
// member is reserved no more than peer_assumed in mine (offline past my hold, or never heard);
// every other member I reserve at what it may draw, as k does, and the wait costs nothing
// there. Infinity: no such view, or nothing I may be blind to.
function views_room_a(count: i32, self_index: i32): f64 {
  let room_a: f64 = Infinity;
  let blind = false;
  for (let i = 0; i < count; i++) {
    const state = state_of(i);
    if (i != self_index && !is_uncontrolled(i) && (state & MEMBER_OUT_FLAGS_ONLINE) == 0 && (state & MEMBER_OUT_FLAGS_IN_HOLD) == 0) blind = true;
  }
  if (!blind) return room_a;
  const me = <u32>1 << <u32>self_index;
  const now_ms = in_f64(IN_MONO_MS);
  const fresh_ms = view_fresh_ms();
  for (let k = 0; k < count; k++) {
    if (k == self_index || (state_of(k) & MEMBER_OUT_FLAGS_ONLINE) == 0 || is_leaving(k) || is_uncontrolled(k)) continue;
    const m = member_in(k);
    const flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
    if ((flags & MEMBER_FLAGS_ALLOC) == 0) continue;
    const alloc_mask = load<u32>(m + <usize>IN_MEMBER_ALLOC_MASK);
    // A stale view, or one without me, lets me rise nowhere already (minimum_over_views).
    if ((alloc_mask & me) == 0 || now_ms - load<f64>(m + <usize>IN_MEMBER_LAST_SEEN_MS) > fresh_ms) continue;
    const hears: u32 = (flags & MEMBER_FLAGS_SEEN) != 0 ? load<u32>(m + <usize>IN_MEMBER_SEEN_MASK) : 0xffffffff;
    let excess_a: f64 = 0;
    for (let j = 0; j < count; j++) {
      if (!is_healthy_other(j, self_index)) continue;
      const bit = <u32>1 << <u32>j;
      if ((alloc_mask & bit) == 0 || (j != k && (hears & bit) == 0)) continue;
      const share_a = load<f64>(m + <usize>(IN_MEMBER_ALLOC_A + j * 8));
      const jm = member_in(j);
      const jflags = load<u32>(jm + <usize>IN_MEMBER_FLAGS);
      let said_a: f64 = 0;
      if ((jflags & MEMBER_FLAGS_COMMITTED) != 0) said_a = Math.max(said_a, load<f64>(jm + <usize>IN_MEMBER_COMMITTED_A));
      if ((jflags & MEMBER_FLAGS_APPLIED) != 0) said_a = Math.max(said_a, load<f64>(jm + <usize>IN_MEMBER_APPLIED_A));
      excess_a += Math.max(0, said_a - share_a);
    }
    room_a = Math.min(room_a, Math.floor(load<f64>(m + <usize>(IN_MEMBER_ALLOC_A + self_index * 8))) - excess_a);
  }
  return room_a;
}

// Rule 10, what I may KEEP without permission (campaign seeds 3000357, 3006277, 3008836).
// Keeping is safe only if the others come down to shares that fit beside mine. Two things
// can stop that: (a) views that order members differently (rotation reads the wall clock, of
// which nothing is assumed) give the leftover amps, or under scarcity the minimums, to a
// different member in each view, and each keeps its own; (b) a member that crashed or is cut
// off does not come down below what its controller falls to: the lesser of its pilot and its
// failsafe current (<= peer_assumed). So I keep at most my share in the canonical allocation
// (order by priority and id only, the same in every view: the canonical shares sum to at most
// the budget) and at most what the budget leaves beside every healthy member counted at the
// larger of its canonical share and min(what it may draw, peer_assumed).
function keep_bound_a(count: i32, self_index: i32, budget_a: f64): f64 {
  const assumed_a = in_f64(IN_FAILSAFE_PEER_ASSUMED_CURRENT_A);
  let others_a: f64 = 0;
  for (let i = 0; i < count; i++) {
    if (!is_healthy_other(i, self_index)) continue;
    others_a += Math.max(canon_share_of(i), Math.min(may_draw_a(i, false), assumed_a));
  }
  return Math.max(0, Math.min(canon_share_of(self_index), Math.floor(budget_a - others_a)));
}

// Rule 10, after a safe start (campaign seed 9002153). A member cut off from everyone may
// stay healthy on a stale picture: its quorum counts the members it last heard until its
// heartbeat timeout runs out, and meanwhile it charges at the share its own view gives it,
// which only a member that heard it can hold for it (the offline hold, rule 6). A charger that
// remembers nothing (a restart, or one that never ran in the group) and has not heard a member
// since it started cannot hold it: it reserves it peer_assumed, and so would every member on
// my views. The member last heard me (or any member that restarted with me) at most when I
// started, plus a message delay in flight; so within heartbeat_timeout of that it has lost
// its stale quorum, or it hears someone that a seen-set shows me, and its car has followed
// its failsafe current ev_response later: the offline hold, counted from my start. Until then,
// while any member (leaving ones too: removed but cut off, it may not know) has not been heard
// since my start, nobody rises on my view: each member's share in it is capped at what that
// member may already draw, mine at what I apply. Keeping needs no view (rule 10), so nobody
// is paused; only rises wait. One unheard member is enough: I cannot know what it holds.
function unheard_since_start(count: i32, self_index: i32, now_ms: f64): bool {
  if (count <= 1) return false;
  const started_ms = carry_started_ms();
  if (now_ms - started_ms >= offline_hold_ms()) return false;
  for (let i = 0; i < count; i++) {
    if (i == self_index || is_uncontrolled(i)) continue;
    const m = member_in(i);
    if ((load<u32>(m + <usize>IN_MEMBER_FLAGS) & MEMBER_FLAGS_LAST_SEEN) == 0) return true;
    if (load<f64>(m + <usize>IN_MEMBER_LAST_SEEN_MS) < started_ms) return true;
  }
  return false;
}

// Caps every share of my view at what its member may already draw (mine at what I apply);
// returns how much that took off the view's sum.
function freeze_view(count: i32, self_index: i32, previous_a: f64): f64 {
  let taken_a: f64 = 0;
  for (let i = 0; i < count; i++) {
    const at = member_out(i) + <usize>OUT_MEMBER_TARGET_CURRENT_A;
    const share_a = load<f64>(at);
    let cap_a = i == self_index ? previous_a : Math.floor(may_draw_a(i, false));
    // A share is 0 or within [min, max]: a cap below the member's minimum is no share.
    if (cap_a < Math.ceil(load<f64>(member_in(i) + <usize>IN_MEMBER_MIN_CURRENT_A))) cap_a = 0;
    if (share_a > cap_a) {
      store<f64>(at, cap_a);
      taken_a += share_a - cap_a;
    }
  }
  return taken_a;
}

function degraded_since_next_ms(): f64 {
  const since_ms = carry_degraded_since_ms();
  return since_ms >= 0 ? since_ms : in_f64(IN_MONO_MS);
}

// What this charger applied before this decision (its own member record, which recall_self
// filled from the carry).
function self_applied_a(self_index: i32): f64 {
  const m = member_in(self_index);
  return (load<u32>(m + <usize>IN_MEMBER_FLAGS) & MEMBER_FLAGS_APPLIED) != 0 ? load<f64>(m + <usize>IN_MEMBER_APPLIED_A) : 0;
}

function write_safe_default(code: u32, error_member: i32): void {
  zero_bytes(output_base, OUT_SIZE);
  const count = in_u32(IN_MEMBER_COUNT);
  out_u32(OUT_ERROR_CODE, code);
  store<i32>(output_base + <usize>OUT_ERROR_MEMBER_INDEX, error_member);
  out_u32(OUT_SELF_REASON, REASON_INPUT_ERROR);
  out_u32(OUT_FLAGS, OUTPUT_FLAGS_SELF_DEGRADED | OUTPUT_FLAGS_FAILSAFE_ACTIVE);
  out_f64(OUT_MISMATCH_SINCE_MS, -1);
  out_f64(OUT_DEGRADED_SINCE_MS, -1);
  out_f64(OUT_NEXT_CALL_MS, -1);
  const shown = count <= <u32>MEMBERS_MAX ? <i32>count : 0;
  out_u32(OUT_MEMBER_COUNT, <u32>shown);
  for (let i = 0; i < shown; i++) store<u32>(member_out(i) + <usize>OUT_MEMBER_REASON, REASON_INPUT_ERROR);
}

// What a degraded charger in safe_current mode may apply: its failsafe current, held to an
// equal part of the limit (if every member were degraded, nobody would reserve anything) and
// to the budget: what the limit leaves beside the members I reserve (offline, degraded,
// leaving), which may sit at their failsafe current (or more) whatever the limit has become
// since: a crashed charger's controller stays at the lesser of its pilot and its failsafe
// current (campaign seed 3000357: a 9 A limit, a crashed member at 6 A, and the degraded
// other rose to floor(9 / 2) = 4 A).
function failsafe_current_allowed_a(count: i32, limit_a: f64, budget_a: f64): f64 {
  const members_counted = <f64>count + <f64>departed_in_hold_count();
  const equal_part_a = Math.min(Math.floor(limit_a / members_counted), Math.floor(budget_a));
  return Math.max(0, Math.min(Math.floor(in_f64(IN_FAILSAFE_SAFE_CURRENT_A)), equal_part_a));
}

export function compute_decision(): u32 {
  zero_bytes(output_base, OUT_SIZE);
  const code = validate_input(output_base + <usize>OUT_ERROR_MEMBER_INDEX);
  if (code != ERROR_OK) {
    // Refused facts: the safe default, and the carry is neither read nor changed.
    write_safe_default(code, load<i32>(output_base + <usize>OUT_ERROR_MEMBER_INDEX));
    return code;
  }
  const count = <i32>in_u32(IN_MEMBER_COUNT);
  const self_index = <i32>in_u32(IN_SELF_INDEX);
  const disable_mode = in_u32(IN_FAILSAFE_MODE) == FAILSAFE_MODE_DISABLE;
  const now_ms = in_f64(IN_MONO_MS);
  const clock_epoch = in_u32(IN_CLOCK_EPOCH);
  out_u32(OUT_MEMBER_COUNT, <u32>count);

  // Memory: the carry (or the safe start), then what it tells about me and my views.
  const carry_status = carry_load(now_ms, clock_epoch, assumed_committed_a(self_index));
  recall_self(self_index);
  recall_members(count, self_index);
  const settings_differ = settle_safety_settings(count, self_index);

  // Rules 1, 7, 3: liveness, limit, reserves (members that left the table too), budget.
  classify_members(count, self_index);
  const limit_a = effective_limit_a(count, self_index);
  const limit_fell_ms = carry_note_limit(limit_a, now_ms);
  const consistent = config_consistent(count, self_index);
  const reserved_a = reserve_members(count, self_index) + reserve_departed();
  const budget_a = Math.max(0, limit_a - reserved_a);

  // Rule 2: health, over the members of the group (not those leaving it).
  let online = 0;
  let demanding = 0;
  let members = 0;
  let left = 0;
  for (let i = 0; i < count; i++) {
    const state = state_of(i);
    // Chargers without load sharing are reserved (rule 3), not members of the quorum.
    if (is_uncontrolled(i)) continue;
    if (is_leaving(i)) { left++; continue; }
    members++;
    // Rule 8: the quorum counts a member heard within the smallest timeout told (settings.ts).
    if ((state & MEMBER_OUT_FLAGS_ONLINE) != 0 && (state & STATE_SILENT_PAST_QUORUM) == 0) online++;
    if ((state & MEMBER_OUT_FLAGS_ONLINE) != 0 && (state & MEMBER_OUT_FLAGS_DEGRADED) == 0 && (state & MEMBER_OUT_FLAGS_DEMANDING) != 0) demanding++;
  }
  const offline = members - online;
  // Quorum: healthy only while hearing a strict majority of the group (self included), so a
  // partition leaves at most one side healthy; every other side is degraded, within the
  // reserves the healthy side holds for it. A charger alone in its group has its quorum.
  const no_quorum = online * 2 <= members;
  const mismatch = seen_mismatch_now(count, self_index, seen_mask_of_self(count));
  const since_ms = mismatch_since_next_ms(mismatch);
  // Rule 8, removal: a charger whose members all left (removed from its group by a peer's
  // config, or a member list emptied without a person saying so) is not sure it is alone on
  // the breaker: it stays at its failsafe current until a person sets it up on its own
  // (input flag alone_confirmed). That it had members is a fact of its table too: a removed
  // member stays there as leaving (both hosts store it with the peers) until it says it is on
  // its own or a person says it is gone. The carry's flag alone is lost by a safe start of a
  // carry of another format (fuzz seed 12517220: removed, isolated, then hot-swapped to the
  // next carry format, a charger took its car's maximum in a budget blind to a peer's car).
  const had_peers = carry_had_peers() || left > 0;
  const left_alone = members == 1 && had_peers && (in_u32(IN_FLAGS) & INPUT_FLAGS_ALONE_CONFIRMED) == 0;
  const self_degraded = no_quorum || mismatch_outlasted_grace(since_ms) || left_alone;

  // Rules 4, 5, 6: my view, the minimum over views, the control law. An increase needs the
  // smallest view of every member I hear and the headroom the others leave; keeping what I
  // have (or less) needs no one's permission: it never adds current. So a lower limit or a
  // newcomer takes each charger straight to its new share, never through 0, and a member
  // that regains us does not dip anyone.
  // A degraded charger will charge at its failsafe current (below) whatever the views say, so
  // its own view, which the others may rise on, keeps that much out of what it shares
  // (campaign seeds 900074, 900428: a degraded charger's view granted a peer everything, and
  // it then rose to its failsafe current).
  const failsafe_allowed_a = failsafe_current_allowed_a(count, limit_a, budget_a);
  const view_budget_a = self_degraded && !disable_mode ? Math.max(0, budget_a - failsafe_allowed_a) : budget_a;
  // The canonical allocation first (what I may keep, keep_bound_a), then my view. Without
  // rotation and with the equal-share policy they are one and the same.
  const own_canonical = in_f64(IN_ROTATION_INTERVAL_S) > 0 || LOADSHARE_POLICY != 0;
  if (own_canonical) {
    allocate(count, view_budget_a, false, true);
    for (let i = 0; i < count; i++) store<f64>(scratch_canon_a + <usize>(i * 8), target_of(i));
  }
  const allocated_a = allocate(count, view_budget_a);
  if (!own_canonical) for (let i = 0; i < count; i++) store<f64>(scratch_canon_a + <usize>(i * 8), target_of(i));
  const previous_a = self_applied_a(self_index);
  // After a safe start, while a member not heard since may still be healthy on a stale
  // picture, my view lets nobody rise (rule 10, docs/protocol.md "After a safe start").
  const unheard = unheard_since_start(count, self_index, now_ms);
  const frozen_a = unheard ? freeze_view(count, self_index, previous_a) : 0;
  const own_a = target_of(self_index);
  let reason = load<u32>(member_out(self_index) + <usize>OUT_MEMBER_REASON);
  // Rule 5a: when I last stopped being degraded (now, if this is the first call since).
  const healed_ms = self_degraded ? -1 : carry_degraded_since_ms() >= 0 ? now_ms : carry_healed_ms();
  const reserved_keep_a = healed_ms >= 0 && now_ms - healed_ms <= healed_views_ms()
    ? Math.min(previous_a, Math.floor(in_f64(IN_FAILSAFE_SAFE_CURRENT_A))) : 0;
  const target_a = minimum_over_views(count, self_index, own_a, true, reserved_keep_a);
  const rise_to_a = minimum_over_views(count, self_index, target_a, false, 0);
  if (target_a < own_a) reason = REASON_VIEW_MINIMUM;
  let applied_a = Math.max(0, Math.min(Math.min(rise_to_a, Math.floor(headroom_a(count, self_index, budget_a))), views_room_a(count, self_index)));
  // While a seen-set difference says I am on a broken link (a member I hear misses me, or
  // hears someone I do not), my picture of who may be charging is not to be trusted: I keep
  // what I have but do not rise (finding G: a charger that rejoins counted a member it had
  // not heard for a minute at the peer reserve, while the others still held it at 12 A).
  if (mismatch) applied_a = Math.min(applied_a, previous_a);
  // A charger that remembers nothing (the safe start: a restart) has forgotten what its
  // earlier views granted the others, who may still rise on them for view_fresh after they
  // arrived: it does not rise until those views are void (campaign seed 156: a charger
  // restarted after a 1 s crash rose into 55 A its views had granted a second before).
  // (A charger alone in its table has granted nobody anything.)
  if (count > 1 && now_ms - carry_started_ms() < forgotten_views_ms()) applied_a = Math.min(applied_a, previous_a);
  applied_a = Math.max(applied_a, Math.min(Math.min(previous_a, target_a), keep_bound_a(count, self_index, budget_a)));
  if (applied_a < target_a) reason = REASON_WAITING_FOR_PEERS;

  // Failsafe: a degraded charger charges at its failsafe current; disable mode stops the
  // group on any loss. It may not rise to the failsafe current at once: the others count it
  // at what it last said until they hear it degraded or time it out, and their cars then
  // need ev_response. So until heartbeat_timeout + message_delay_max + ev_response after it
  // became degraded, it keeps at most what it applied before (a restarted charger: 0).
  // From then on every other member reserves at least peer_assumed >= the failsafe current
  // for it, whatever anyone's view says (rule 9: degraded chargers that hear each other
  // still charge). If every member were degraded at once nobody would reserve anything, so
  // the failsafe current is also held to an equal part of the limit.
  const degraded_since_ms = self_degraded ? degraded_since_next_ms() : -1;
  if (self_degraded && !disable_mode) {
    let allowed_a = failsafe_allowed_a;
    if (now_ms - degraded_since_ms < in_f64(IN_HEARTBEAT_TIMEOUT_MS) + in_f64(IN_MESSAGE_DELAY_MAX_MS) + ev_response_ms()) {
      allowed_a = Math.min(allowed_a, previous_a);
    }
    // The rise to it also waits while a healthy member I hear may still draw or take more than
    // my view gives it (its committed current, a share of my recent views): my view keeps my
    // failsafe current out of what it shares, so once they are within my view, the rise fits
    // (campaign seed 910226: a degraded charger rose while a peer's committed current and its
    // own views' grants to two others left 2 A). Members I do not hear are reserved.
    if (allowed_a > previous_a && kept_above_view_a(count, self_index) > 0) {
      allowed_a = Math.min(allowed_a, previous_a);
    }
    // Nor while the others' cars may still follow a decrease of the limit: they hold the new
    // limit's reserve for me, but what their cars draw comes down only within ev_response of
    // their hearing it (a member told by my status: message_delay_max later). A degraded
    // charger hears nobody to see them come down (campaign seed 12003097: the limit lowered on
    // every charger, the others' hold of an isolated charger ended 0.75 s later and it rose to
    // 6 A while their cars still drew 24 A above the new limit's shares).
    if (limit_fell_ms >= 0 && now_ms - limit_fell_ms < limit_fall_hold_ms()) allowed_a = Math.min(allowed_a, previous_a);
    applied_a = Math.max(0, allowed_a);
    reason = REASON_DEGRADED;
  }
  let final_target_a = Math.max(target_a, applied_a);
  if (disable_mode && (offline > 0 || self_degraded)) {
    for (let i = 0; i < count; i++) {
      store<f64>(member_out(i) + <usize>OUT_MEMBER_TARGET_CURRENT_A, 0);
      store<u32>(member_out(i) + <usize>OUT_MEMBER_REASON, REASON_FAILSAFE_DISABLED);
    }
    applied_a = 0;
    final_target_a = 0;
    reason = REASON_FAILSAFE_DISABLED;
  }

  for (let i = 0; i < count; i++) store<u32>(member_out(i) + <usize>OUT_MEMBER_FLAGS, state_out(i));
  let flags: u32 = 0;
  if (self_degraded) flags |= OUTPUT_FLAGS_SELF_DEGRADED;
  if (self_degraded || offline > 0) flags |= OUTPUT_FLAGS_FAILSAFE_ACTIVE;
  if (consistent) flags |= OUTPUT_FLAGS_CONFIG_CONSISTENT;
  if (since_ms >= 0) flags |= OUTPUT_FLAGS_MISMATCH_SINCE_PRESENT;
  if (self_degraded) flags |= OUTPUT_FLAGS_DEGRADED_SINCE_PRESENT;
  if (mismatch) flags |= OUTPUT_FLAGS_SEEN_MISMATCH;
  if (no_quorum) flags |= OUTPUT_FLAGS_NO_QUORUM;
  if (settings_differ) flags |= OUTPUT_FLAGS_SETTINGS_DIFFER;
  if (left_alone) flags |= OUTPUT_FLAGS_LEFT_ALONE;
  out_f64(OUT_SELF_TARGET_CURRENT_A, final_target_a);
  out_f64(OUT_SELF_APPLIED_CURRENT_A, applied_a);
  out_f64(OUT_SELF_OWN_VIEW_CURRENT_A, own_a);
  out_f64(OUT_BUDGET_CURRENT_A, budget_a);
  out_f64(OUT_EFFECTIVE_LIMIT_A, limit_a);
  out_f64(OUT_RESERVED_CURRENT_A, reserved_a);
  out_f64(OUT_ALLOCATED_SUM_A, disable_mode && (offline > 0 || self_degraded) ? 0 : allocated_a - frozen_a);
  out_f64(OUT_MISMATCH_SINCE_MS, since_ms);
  out_f64(OUT_DEGRADED_SINCE_MS, degraded_since_ms);
  out_f64(OUT_OFFLINE_HOLD_MS, offline_hold_ms());

  // Memory out: what the next call must know, then the carry back to the host.
  remember_decision(count, self_index, applied_a);
  carry_set_mismatch_since_ms(since_ms);
  carry_set_degraded_since_ms(degraded_since_ms);
  carry_set_healed_ms(healed_ms);
  if (members > 1 || left_alone) carry_set_had_peers();
  else if ((in_u32(IN_FLAGS) & INPUT_FLAGS_ALONE_CONFIRMED) != 0) carry_clear_had_peers();
  // What this charger may still draw is also at least what its controller offers now: a
  // decrease the controller has not taken yet (one that does not answer) is not counted as
  // applied, so no peer rises into it.
  out_f64(OUT_SELF_COMMITTED_CURRENT_A, Math.max(committed_a(), in_f64(IN_SELF_PILOT_A)));
  out_f64(OUT_SELF_DEMAND_CAP_A, carry_demand_cap_a());
  let next_ms = next_call_ms(count, self_index, since_ms, degraded_since_ms);
  // The freeze of an unheard member ends with its window (nothing else may call me then).
  if (unheard) {
    const ends_ms = carry_started_ms() + offline_hold_ms();
    if (next_ms < 0 || ends_ms < next_ms) next_ms = ends_ms;
  }
  out_f64(OUT_NEXT_CALL_MS, next_ms);
  out_u32(OUT_CARRY_STATUS, carry_status);
  carry_store(now_ms, clock_epoch);
  out_u32(OUT_ERROR_CODE, ERROR_OK);
  store<i32>(output_base + <usize>OUT_ERROR_MEMBER_INDEX, -1);
  out_u32(OUT_SELF_REASON, reason);
  out_u32(OUT_FLAGS, flags);
  out_u32(OUT_ONLINE_COUNT, <u32>online);
  out_u32(OUT_OFFLINE_COUNT, <u32>offline);
  out_u32(OUT_DEMANDING_COUNT, <u32>demanding);
  return ERROR_OK;
}
