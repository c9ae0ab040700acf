// The group stages (rules 1-3, 7 and 8 of the group safety protocol): who is online, who is
// healthy, what must be reserved, and the effective limit. Each stage reads the input block
// and writes per-member state bits into scratch_state and the output block.
import {
  HASH_BYTES,
  IN_MONO_MS, IN_HEARTBEAT_TIMEOUT_MS, IN_EV_RESPONSE_MS, IN_SEEN_GRACE_MS, IN_MESSAGE_DELAY_MAX_MS,
  IN_GROUP_MAX_CURRENT_A, IN_SAFETY_FACTOR, IN_FAILSAFE_PEER_ASSUMED_CURRENT_A,
  IN_FLAGS, IN_CONFIG_HASH, INPUT_FLAGS_CONFIG_HASH_PRESENT,
  IN_MEMBER_FLAGS, IN_MEMBER_LAST_SEEN_MS, IN_MEMBER_VEHICLE, IN_MEMBER_STATE, IN_MEMBER_SEEN_MASK,
  IN_MEMBER_APPLIED_A, IN_MEMBER_COMMITTED_A, IN_MEMBER_GROUP_MAX_CURRENT_A, IN_MEMBER_SAFETY_FACTOR,
  IN_MEMBER_CONFIG_HASH,
  MEMBER_FLAGS_LAST_SEEN, MEMBER_FLAGS_DEGRADED, MEMBER_FLAGS_SEEN, MEMBER_FLAGS_SEEN_EXTRA,
  MEMBER_FLAGS_DEMAND_PRESENT, MEMBER_FLAGS_DEMAND, MEMBER_FLAGS_APPLIED, MEMBER_FLAGS_COMMITTED,
  MEMBER_FLAGS_GROUP_MAX_CURRENT, MEMBER_FLAGS_SAFETY_FACTOR, MEMBER_FLAGS_CONFIG_HASH,
  MEMBER_OUT_FLAGS_ONLINE, MEMBER_OUT_FLAGS_DEGRADED, MEMBER_OUT_FLAGS_DEMANDING,
  MEMBER_OUT_FLAGS_SEEN_MISMATCH, MEMBER_OUT_FLAGS_CONFIG_MISMATCH, MEMBER_OUT_FLAGS_IN_HOLD,
  MEMBER_OUT_FLAGS_SELF, MEMBER_OUT_FLAGS_LEAVING, MEMBER_FLAGS_LEAVING,
  OUT_MEMBER_RESERVED_A,
  IN_MEMBER_MAX_CURRENT_A, IN_MEMBER_AMP_MA, IN_MEMBER_PILOT_A, MEMBER_FLAGS_UNCONTROLLED, MEMBER_FLAGS_PILOT,
  MEMBER_OUT_FLAGS_UNCONTROLLED,
} from './abi';
import { input_base, in_f64, in_u32, member_in, member_out, state_of, set_state, share_recent_of, share_hold_of, STATE_SILENT_PAST_QUORUM } from './blocks';
import {
  carry_mismatch_since_ms, carry_told_limit_a, record_count, record_departed_ms, record_last_seen_ms, record_may_draw_a,
  record_pilot_raised_ms,
} from './carry';
import { record_of } from './blocks';
import { quorum_timeout_ms } from './settings';

// How long an offline member's last committed current stays reserved after it went offline.
// Why this long: when I stop hearing a member, it may still be charging at its committed
// current. If it is alive but cut off, it stops hearing the group at most one message delay
// later, degrades after the seen-set grace, and its car follows the failsafe pilot within
// ev_response. If it crashed, its controller's heartbeat supervision drops the pilot within
// the same hold (the hosts configure it so). Either way it draws no more than the failsafe
// current (<= peer_assumed_current, rule 8) once the hold is over.
// A member cut off from me one way still hears me, and my seen-set lists it until I time it
// out (heartbeat_timeout after its last message reached me); if it is then cut off from
// everyone before a seen-set without it reaches it, nothing shows it a difference: it
// degrades only when its own timeouts leave it without a quorum, a heartbeat_timeout after
// the last message it heard (campaign seed 7002903: a member cut off one way at 12 s and
// isolated at 20 s degraded at 30 s, and its car still drew 14 A when the others' 10 s hold
// ended at 32 s). So the member degrades within message_delay_max + max(seen_grace,
// heartbeat_timeout) after it went offline in my view, timed on its clock and mine.
export function offline_hold_ms(): f64 {
  const grace_ms = Math.max(in_f64(IN_SEEN_GRACE_MS), in_f64(IN_HEARTBEAT_TIMEOUT_MS));
  return ev_response_ms() + (grace_ms + in_f64(IN_MESSAGE_DELAY_MAX_MS)) * clock_rate_margin * clock_rate_margin;
}

// The clock-rate margin for windows that must cover a car's physical response (finding D).
// The committed current is timed on this charger's own monotonic clock; a clock that runs
// fast by a rate error r ends an ev_response window ev_response / (1 + r) after it began in
// real time, and a peer could rise before the car has followed. The protocol assumes the
// monotonic clock's rate error is at most 1 % (10,000 ppm: a quartz is off by tens of ppm,
// an RC oscillator by up to about 1 %), so every such window is stretched by 1 %.
export const clock_rate_margin: f64 = 1.01;
export function ev_response_ms(): f64 {
  return in_f64(IN_EV_RESPONSE_MS) * clock_rate_margin;
}

// How long a member's view is a permission to RISE after it arrived (on my monotonic clock):
// two message delays, which covers a status period (at most one message delay, the
// protocol's assumption) and the jitter between two arrivals. An older view still bounds
// what I keep but lets me rise nowhere (rule 9). Why: the member that published it counts
// what its view gave me only as long as I may still act on it (share_recent, recall.ts), and
// it cannot know when its newer views stop reaching me; with this rule it need count a view
// only for view_fresh + message_delay_max after it left force, instead of for the whole
// heartbeat_timeout I may keep counting it online (finding B: campaign seeds 20, 179, 700174,
// 800022, 800209 raised into grants of an older view a cut-off member still held).
export function view_fresh_ms(): f64 {
  return 2 * in_f64(IN_MESSAGE_DELAY_MAX_MS);
}

// Rule 1 and demand: online (now - last_seen <= heartbeat_timeout, the boundary is online),
// the member's own degraded flag, and whether it wants current. Self is always online.
export function classify_members(count: i32, self_index: i32): void {
  const now_ms = in_f64(IN_MONO_MS);
  const timeout_ms = in_f64(IN_HEARTBEAT_TIMEOUT_MS);
  const hold_ms = offline_hold_ms();
  for (let i = 0; i < count; i++) {
    const m = member_in(i);
    const flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
    let state: u32 = 0;
    const seen_ever = (flags & MEMBER_FLAGS_LAST_SEEN) != 0;
    const last_seen_ms = load<f64>(m + <usize>IN_MEMBER_LAST_SEEN_MS);
    if (i == self_index) {
      state |= MEMBER_OUT_FLAGS_ONLINE | MEMBER_OUT_FLAGS_SELF;
    } else if (seen_ever && now_ms - last_seen_ms <= timeout_ms) {
      state |= MEMBER_OUT_FLAGS_ONLINE;
      if ((flags & MEMBER_FLAGS_DEGRADED) != 0) state |= MEMBER_OUT_FLAGS_DEGRADED;
    } else if (seen_ever && now_ms - last_seen_ms <= timeout_ms + hold_ms) {
      state |= MEMBER_OUT_FLAGS_IN_HOLD;
    }
    let demanding: bool;
    if ((flags & MEMBER_FLAGS_DEMAND_PRESENT) != 0) {
      demanding = (flags & MEMBER_FLAGS_DEMAND) != 0;
    } else {
      const st = load<u32>(m + <usize>IN_MEMBER_STATE);
      demanding = load<u32>(m + <usize>IN_MEMBER_VEHICLE) == 1 && (st == 2 || st == 3);
    }
    // A charger without load sharing (rule 3) follows no share: it is reserved, never a
    // candidate, and never demanding in anyone's count.
    const uncontrolled = i != self_index && (flags & MEMBER_FLAGS_UNCONTROLLED) != 0;
    if (uncontrolled) state |= MEMBER_OUT_FLAGS_UNCONTROLLED;
    // Rule 8 with rule 11: online by the largest heartbeat timeout told, but silent past the
    // smallest (the quorum timeout, settings.ts), a member may have lost its quorum on the
    // timeout it holds and be on its way to its failsafe current: it is counted degraded
    // (reserved, not served). Why: a degraded member rises to its failsafe current
    // heartbeat_timeout + message_delay_max + ev_response after it degraded, on ITS timeout,
    // assuming the others time it out by then; a larger timeout set where it cannot hear kept
    // it online, idle at 0 A, in the others' views (fuzz seed 12646306: 60 s set on c5 during a
    // partition; the cut-off c3 degraded on its 10 s and rose to 6 A at 56 s, while c4 and c5
    // counted it online at 0 A until 88 s and kept 17 + 17 A beside c1's 7 A share on 43 A).
    // The smallest told is at most the timeout it reported, which its own wait is at least.
    if (i != self_index && !uncontrolled && (state & MEMBER_OUT_FLAGS_ONLINE) != 0 && now_ms - last_seen_ms > quorum_timeout_ms) {
      state |= MEMBER_OUT_FLAGS_DEGRADED | STATE_SILENT_PAST_QUORUM;
    }
    if (demanding && !uncontrolled) state |= MEMBER_OUT_FLAGS_DEMANDING;
    // Rule 8, removal: a member removed from the group that the host still hears is leaving:
    // reserved like a degraded member while heard (it may still charge here until a person
    // says it is on its own), like an offline one through its hold once silent, and counted
    // for nothing else (no quorum, no seen-set, no view, no share).
    if (i != self_index && (flags & MEMBER_FLAGS_LEAVING) != 0) {
      state |= MEMBER_OUT_FLAGS_LEAVING;
      if ((state & MEMBER_OUT_FLAGS_ONLINE) != 0) state |= MEMBER_OUT_FLAGS_DEGRADED;
    }
    set_state(i, state);
  }
}

export function is_leaving(i: i32): bool { return (state_of(i) & MEMBER_OUT_FLAGS_LEAVING) != 0; }

// Rule 3, chargers without load sharing on the same breaker (upstream firmware, another brand
// behind an adapter; the host marks them, flag uncontrolled): they follow no allocation and
// publish no view or seen-set, so they count for nothing but their reserve.
export function is_uncontrolled(i: i32): bool { return (state_of(i) & MEMBER_OUT_FLAGS_UNCONTROLLED) != 0; }

// How long an uncontrolled member's maximum stays reserved after its reported pilot rose: its
// own user may raise it again at any moment, and its car may follow before we hear of it and
// our cars follow our decrease (message_delay_max + ev_response).
export function pilot_rise_hold_ms(): f64 {
  return ev_response_ms() + in_f64(IN_MESSAGE_DELAY_MAX_MS);
}

// Whether an uncontrolled member's reported pilot bounds its reserve now: present (flag pilot),
// fresh (heard within message_delay_max: an older pilot may have been raised since), not
// within pilot_rise_hold_ms of its last rise (carry record), and no car connected to it. Why
// the car: its user may raise the pilot at any moment and a connected car follows before we
// hear of it and our cars follow our decrease (the simulator's uncontrolled scenario broke
// INV-1 in 20 of 30 seeds when the pilot counted while its car charged); with no car, a rise
// draws nothing, and a car that plugs in draws at most the pilot we reserve until we hear it
// is connected and keep its maximum.
export function uncontrolled_pilot_counts(i: i32): bool {
  const m = member_in(i);
  const flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
  if ((flags & MEMBER_FLAGS_PILOT) == 0 || (flags & MEMBER_FLAGS_LAST_SEEN) == 0) return false;
  if (load<u32>(m + <usize>IN_MEMBER_VEHICLE) != 0) return false;
  const now_ms = in_f64(IN_MONO_MS);
  if (now_ms - load<f64>(m + <usize>IN_MEMBER_LAST_SEEN_MS) > in_f64(IN_MESSAGE_DELAY_MAX_MS)) return false;
  const r = record_of(i);
  const raised_ms = r >= 0 ? record_pilot_raised_ms(r) : now_ms;
  return raised_ms >= 0 && now_ms - raised_ms >= pilot_rise_hold_ms();
}

// Its reserve, online or not, like an offline member's: min(max_current, its pilot when that
// counts), at least what it draws; offline, max(peer_assumed_current, max_current): it may
// charge at its maximum without us.
export function uncontrolled_reserve_a(i: i32): f64 {
  const m = member_in(i);
  const max_a = load<f64>(m + <usize>IN_MEMBER_MAX_CURRENT_A);
  const measured_a = load<f64>(m + <usize>IN_MEMBER_AMP_MA) / 1000;
  if ((state_of(i) & MEMBER_OUT_FLAGS_ONLINE) == 0) {
    return Math.max(Math.max(in_f64(IN_FAILSAFE_PEER_ASSUMED_CURRENT_A), max_a), measured_a);
  }
  let reserve_a = max_a;
  if (uncontrolled_pilot_counts(i)) reserve_a = Math.min(max_a, <f64>load<u32>(m + <usize>IN_MEMBER_PILOT_A));
  return Math.max(reserve_a, measured_a);
}

// Rule 7: the smallest group_max_current x safety_factor over self and every member that
// has reported its own — offline ones too: a stricter limit set on a charger that then went
// quiet still describes the breaker (the simulator's seed 20230 drew 46 A on a 40 A limit when
// the others forgot it). A member reporting a limit without a safety factor is taken with ours.
export function effective_limit_a(count: i32, self_index: i32): f64 {
  const self_sf = in_f64(IN_SAFETY_FACTOR);
  let limit_a = in_f64(IN_GROUP_MAX_CURRENT_A) * self_sf;
  for (let i = 0; i < count; i++) {
    if (i == self_index) continue;
    const m = member_in(i);
    const flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
    if ((flags & MEMBER_FLAGS_GROUP_MAX_CURRENT) == 0) continue;
    const sf = (flags & MEMBER_FLAGS_SAFETY_FACTOR) != 0 ? load<f64>(m + <usize>IN_MEMBER_SAFETY_FACTOR) : self_sf;
    const member_limit_a = load<f64>(m + <usize>IN_MEMBER_GROUP_MAX_CURRENT_A) * sf;
    if (member_limit_a < limit_a) limit_a = member_limit_a;
  }
  // A stricter limit told before (a stale status, or a member that went quiet) still binds
  // until the group agrees (settings.ts).
  const told_a = carry_told_limit_a();
  if (told_a >= 0 && told_a < limit_a) limit_a = told_a;
  return limit_a;
}

// Rule 7, reporting: false when an online member reports a config hash different from ours.
export function config_consistent(count: i32, self_index: i32): bool {
  if ((in_u32(IN_FLAGS) & INPUT_FLAGS_CONFIG_HASH_PRESENT) == 0) return true;
  let consistent = true;
  for (let i = 0; i < count; i++) {
    if (i == self_index || (state_of(i) & MEMBER_OUT_FLAGS_ONLINE) == 0) continue;
    const m = member_in(i);
    if ((load<u32>(m + <usize>IN_MEMBER_FLAGS) & MEMBER_FLAGS_CONFIG_HASH) == 0) continue;
    if (memory.compare(m + <usize>IN_MEMBER_CONFIG_HASH, input_base + <usize>IN_CONFIG_HASH, HASH_BYTES) != 0) {
      set_state(i, state_of(i) | MEMBER_OUT_FLAGS_CONFIG_MISMATCH);
      consistent = false;
    }
  }
  return consistent;
}

// The most a member may still be drawing by what it last said (committed, applied) and by
// what my own recent views allowed it (share_recent: it may have raised on a view of mine
// whose effect has not reached me yet). in_hold adds the shares my views gave it since it
// was last heard (share_hold: its report of raising to one may have been lost). Both come
// from the carry (recall.ts); -1 means none.
export function may_draw_a(i: i32, in_hold: bool): f64 {
  const m = member_in(i);
  const flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
  let said_a: f64 = 0;
  if ((flags & MEMBER_FLAGS_COMMITTED) != 0) said_a = Math.max(said_a, load<f64>(m + <usize>IN_MEMBER_COMMITTED_A));
  if ((flags & MEMBER_FLAGS_APPLIED) != 0) said_a = Math.max(said_a, load<f64>(m + <usize>IN_MEMBER_APPLIED_A));
  said_a = Math.max(said_a, share_recent_of(i));
  if (in_hold) said_a = Math.max(said_a, share_hold_of(i));
  return said_a;
}

// Rule 8, removal: a member that left the member table (removed from the group) may still be
// charging at what it last said until it hears of its removal, or, cut off, until its own
// failsafe and its car have followed. It stays reserved like an offline member in its hold:
// until heartbeat_timeout + offline_hold after it was last heard. Never heard: nothing to keep.
export function departed_in_hold_count(): i32 {
  const now_ms = in_f64(IN_MONO_MS);
  const until_ms = in_f64(IN_HEARTBEAT_TIMEOUT_MS) + offline_hold_ms();
  let n = 0;
  for (let r = 0; r < record_count(); r++) {
    const last_seen_ms = record_last_seen_ms(r);
    if (record_departed_ms(r) >= 0 && last_seen_ms >= 0 && now_ms - last_seen_ms <= until_ms) n++;
  }
  return n;
}

export function reserve_departed(): f64 {
  const now_ms = in_f64(IN_MONO_MS);
  const until_ms = in_f64(IN_HEARTBEAT_TIMEOUT_MS) + offline_hold_ms();
  const assumed_a = in_f64(IN_FAILSAFE_PEER_ASSUMED_CURRENT_A);
  let total_a: f64 = 0;
  for (let r = 0; r < record_count(); r++) {
    if (record_departed_ms(r) < 0) continue;
    const last_seen_ms = record_last_seen_ms(r);
    if (last_seen_ms < 0 || now_ms - last_seen_ms > until_ms) continue;
    total_a += Math.max(assumed_a, record_may_draw_a(r));
  }
  return total_a;
}

// Rule 3: every member offline in my view or reporting degraded is reserved
// peer_assumed_current, or what it may still draw (may_draw_a) when that is more and it is
// degraded or still within the offline hold. Returns the sum; writes each reserve.
export function reserve_members(count: i32, self_index: i32): f64 {
  const assumed_a = in_f64(IN_FAILSAFE_PEER_ASSUMED_CURRENT_A);
  let total_a: f64 = 0;
  for (let i = 0; i < count; i++) {
    if (i == self_index) continue;
    const state = state_of(i);
    let reserve_a: f64 = 0;
    if ((state & MEMBER_OUT_FLAGS_UNCONTROLLED) != 0) {
      reserve_a = uncontrolled_reserve_a(i);
    } else if ((state & MEMBER_OUT_FLAGS_ONLINE) == 0) {
      // A leaving member silent past its hold is reserved like any offline member: silence
      // does not say it left the breaker (cut off, it never heard of its removal and sits at
      // its failsafe current; crashed, its controller does): campaign seed 7000059 removed an
      // isolated member drawing 6 A and the others took the 6 A; 7000074, 7000470, 7000684
      // the same with a crashed one, whose controller's supervision holds the heartbeat current).
      reserve_a = assumed_a;
      if ((state & MEMBER_OUT_FLAGS_IN_HOLD) != 0) reserve_a = Math.max(reserve_a, may_draw_a(i, true));
    } else if ((state & MEMBER_OUT_FLAGS_DEGRADED) != 0) {
      // Silent past the smallest timeout told (classify_members): as in its hold, its report
      // of raising to a share of my views may have been lost.
      reserve_a = Math.max(assumed_a, may_draw_a(i, (state & STATE_SILENT_PAST_QUORUM) != 0));
    }
    store<f64>(member_out(i) + <usize>OUT_MEMBER_RESERVED_A, reserve_a);
    total_a += reserve_a;
  }
  return total_a;
}

// Rule 2: the seen-set this charger publishes (itself and every online member).
export function seen_mask_of_self(count: i32): u32 {
  let mask: u32 = 0;
  for (let i = 0; i < count; i++) {
    if ((state_of(i) & MEMBER_OUT_FLAGS_ONLINE) != 0 && !is_leaving(i) && !is_uncontrolled(i)) mask |= <u32>1 << <u32>i;
  }
  return mask;
}

// The members leaving the group (rule 8), as a mask: no one's seen-set is judged on them
// (nor on a charger without load sharing, which an older member may still list).
export function leaving_mask(count: i32): u32 {
  let mask: u32 = 0;
  for (let i = 0; i < count; i++) if (is_leaving(i) || is_uncontrolled(i)) mask |= <u32>1 << <u32>i;
  return mask;
}

// Rule 2, whose problem a seen-set difference is. A member I hear that does not hear me may
// stop counting me once I am offline for it; a member I hear that hears someone I do not (or
// someone I do not know) tells me that I am the one cut off from that member, which counts
// me... and which I cannot count. Either way I am on the broken link, and I degrade once it
// has lasted the grace period. A member I hear that misses someone I do hear is not my
// problem: that pair is on a broken link, and each of the two sees it from its own side.
// So one bad link direction degrades the two chargers on it, never the whole group.
export function seen_mismatch_now(count: i32, self_index: i32, self_mask: u32): bool {
  let mismatch = false;
  const me = <u32>1 << <u32>self_index;
  const leaving = leaving_mask(count);
  for (let i = 0; i < count; i++) {
    if (i == self_index || (state_of(i) & MEMBER_OUT_FLAGS_ONLINE) == 0 || is_leaving(i)) continue;
    const m = member_in(i);
    const flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
    if ((flags & MEMBER_FLAGS_SEEN) == 0) continue;
    // A member hears itself, whether or not it lists itself.
    const its_mask = (load<u32>(m + <usize>IN_MEMBER_SEEN_MASK) | (<u32>1 << <u32>i)) & ~leaving;
    const misses_me = (its_mask & me) == 0;
    const hears_more = (flags & MEMBER_FLAGS_SEEN_EXTRA) != 0 || (its_mask & ~self_mask) != 0;
    if (misses_me || hears_more) {
      set_state(i, state_of(i) | MEMBER_OUT_FLAGS_SEEN_MISMATCH);
      mismatch = true;
    }
  }
  return mismatch;
}

// When the current seen-set mismatch began: carried over while it lasts, now when it
// starts, -1 when there is none.
export function mismatch_since_next_ms(mismatch: bool): f64 {
  if (!mismatch) return -1;
  const since_ms = carry_mismatch_since_ms();
  return since_ms >= 0 ? since_ms : in_f64(IN_MONO_MS);
}

export function mismatch_outlasted_grace(since_ms: f64): bool {
  return since_ms >= 0 && in_f64(IN_MONO_MS) - since_ms > in_f64(IN_SEEN_GRACE_MS);
}
