// Rule 8, safety settings that differ between members: every rule uses the most
// conservative value this charger has been told by any member — the largest heartbeat
// timeout and peer reserve, the smallest failsafe current — until the group agrees (every
// member of the table online and reporting the same three values as this charger). The
// carry remembers what was told, so a member that goes quiet does not take its stricter
// value with it. Why: a member with a shorter timeout would stop reserving a cut-off peer
// before that peer has noticed; a member with a higher failsafe current would draw more
// in failsafe than the others reserve for it.
//
// How: the stage rewrites the three header fields in place before any other rule reads
// them, and reports the values used in the output block.
import {
  IN_MONO_MS, IN_MESSAGE_DELAY_MAX_MS, IN_HEARTBEAT_TIMEOUT_MS, IN_FAILSAFE_SAFE_CURRENT_A, IN_FAILSAFE_PEER_ASSUMED_CURRENT_A,
  IN_MEMBER_FLAGS, IN_MEMBER_LAST_SEEN_MS, IN_MEMBER_HEARTBEAT_TIMEOUT_MS, IN_MEMBER_FAILSAFE_SAFE_CURRENT_A,
  IN_MEMBER_FAILSAFE_PEER_ASSUMED_CURRENT_A, MEMBER_FLAGS_SAFETY_SETTINGS, MEMBER_FLAGS_LAST_SEEN, MEMBER_FLAGS_LEAVING,
  OUT_HEARTBEAT_TIMEOUT_MS, OUT_FAILSAFE_SAFE_CURRENT_A, OUT_FAILSAFE_PEER_ASSUMED_CURRENT_A,
  IN_GROUP_MAX_CURRENT_A, IN_SAFETY_FACTOR, IN_MEMBER_GROUP_MAX_CURRENT_A, IN_MEMBER_SAFETY_FACTOR,
  MEMBER_FLAGS_GROUP_MAX_CURRENT, MEMBER_FLAGS_SAFETY_FACTOR, MEMBER_FLAGS_UNCONTROLLED,
} from './abi';
import { input_base, in_f64, member_in, out_f64 } from './blocks';
import {
  carry_told_timeout_ms, carry_told_safe_a, carry_told_assumed_a, carry_set_told, carry_told_limit_a, carry_set_told_limit_a,
  carry_agreed_since_ms, carry_set_agreed_since_ms,
} from './carry';

// The heartbeat timeout that times this charger's own quorum: the SMALLEST any member has
// told (and its own), until the group agrees. The largest is conservative for how long I
// reserve a silent peer, but not for how long I keep charging without hearing anyone: the
// others stop reserving me a heartbeat_timeout (theirs) + hold after they last heard me,
// assuming I degrade within their timeout. A timeout raised on a charger the others could
// not hear (fuzz seed 9032857: 10 -> 30 s on an isolated charger) kept it at its pilot 30 s
// while the others had taken its room after 10 s.
export let quorum_timeout_ms: f64 = 0;

// Returns true while the members' settings differ (the conservative values are in force).
export function settle_safety_settings(count: i32, self_index: i32): bool {
  const own_timeout_ms = in_f64(IN_HEARTBEAT_TIMEOUT_MS);
  const own_safe_a = in_f64(IN_FAILSAFE_SAFE_CURRENT_A);
  const own_assumed_a = in_f64(IN_FAILSAFE_PEER_ASSUMED_CURRENT_A);
  let timeout_ms = Math.max(own_timeout_ms, carry_told_timeout_ms());
  let safe_a = carry_told_safe_a() >= 0 ? Math.min(own_safe_a, carry_told_safe_a()) : own_safe_a;
  let assumed_a = Math.max(own_assumed_a, carry_told_assumed_a());
  // Rule 7 with the same memory: the smallest limit (group_max_current x safety_factor) any
  // member has told, until the group agrees; a stale status or a quiet member cannot undo it.
  const own_limit_a = in_f64(IN_GROUP_MAX_CURRENT_A) * in_f64(IN_SAFETY_FACTOR);
  let limit_a = carry_told_limit_a() >= 0 ? Math.min(own_limit_a, carry_told_limit_a()) : own_limit_a;
  let agreed = true;
  let quorum_ms = own_timeout_ms;
  for (let i = 0; i < count; i++) {
    if (i == self_index) continue;
    const m = member_in(i);
    const flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
    if ((flags & MEMBER_FLAGS_UNCONTROLLED) != 0) continue; // a charger without load sharing tells no settings
    const leaving = (flags & MEMBER_FLAGS_LEAVING) != 0;
    if ((flags & MEMBER_FLAGS_GROUP_MAX_CURRENT) == 0) { if (!leaving) agreed = false; continue; }
    const sf = (flags & MEMBER_FLAGS_SAFETY_FACTOR) != 0 ? load<f64>(m + <usize>IN_MEMBER_SAFETY_FACTOR) : in_f64(IN_SAFETY_FACTOR);
    const its_limit_a = load<f64>(m + <usize>IN_MEMBER_GROUP_MAX_CURRENT_A) * sf;
    limit_a = Math.min(limit_a, its_limit_a);
    // A member removed from the group is still on the breaker (rule 5): a stricter limit it
    // told is remembered like anyone's, so a late status of it cannot undo it (campaign seed
    // 9011982: an older status of a leaving member, reordered, lifted 40.8 A back to 52.8 A).
    // A laxer one of its own is no disagreement: it no longer takes the group's settings.
    if (leaving ? its_limit_a < own_limit_a : its_limit_a != own_limit_a) agreed = false;
  }
  for (let i = 0; i < count; i++) {
    if (i == self_index) continue;
    const m = member_in(i);
    const flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
    if ((flags & (MEMBER_FLAGS_LEAVING | MEMBER_FLAGS_UNCONTROLLED)) != 0) continue; // no longer of the group, or never of the protocol
    if ((flags & MEMBER_FLAGS_SAFETY_SETTINGS) == 0) { agreed = false; continue; }
    const its_timeout_ms = load<f64>(m + <usize>IN_MEMBER_HEARTBEAT_TIMEOUT_MS);
    const its_safe_a = load<f64>(m + <usize>IN_MEMBER_FAILSAFE_SAFE_CURRENT_A);
    const its_assumed_a = load<f64>(m + <usize>IN_MEMBER_FAILSAFE_PEER_ASSUMED_CURRENT_A);
    timeout_ms = Math.max(timeout_ms, its_timeout_ms);
    quorum_ms = Math.min(quorum_ms, its_timeout_ms);
    safe_a = Math.min(safe_a, its_safe_a);
    assumed_a = Math.max(assumed_a, Math.max(its_assumed_a, its_safe_a));
    if (its_timeout_ms != own_timeout_ms || its_safe_a != own_safe_a || its_assumed_a != own_assumed_a) agreed = false;
  }
  // Agreement needs every member online (by the largest timeout: a quiet member may still
  // hold another value).
  const now_ms = in_f64(IN_MONO_MS);
  for (let i = 0; i < count && agreed; i++) {
    if (i == self_index) continue;
    const m = member_in(i);
    if ((load<u32>(m + <usize>IN_MEMBER_FLAGS) & (MEMBER_FLAGS_LEAVING | MEMBER_FLAGS_UNCONTROLLED)) != 0) continue;
    if ((load<u32>(m + <usize>IN_MEMBER_FLAGS) & MEMBER_FLAGS_LAST_SEEN) == 0) agreed = false;
    else if (now_ms - load<f64>(m + <usize>IN_MEMBER_LAST_SEEN_MS) > timeout_ms) agreed = false;
  }
  // Agreement must last longer than a message can be late (2 x message_delay_max): a stale
  // status that happens to match this charger's own values is not agreement (finding A).
  if (agreed) {
    if (carry_agreed_since_ms() < 0) carry_set_agreed_since_ms(now_ms);
    agreed = now_ms - carry_agreed_since_ms() >= 2 * in_f64(IN_MESSAGE_DELAY_MAX_MS);
  } else {
    carry_set_agreed_since_ms(-1);
  }
  if (agreed) {
    timeout_ms = own_timeout_ms;
    safe_a = own_safe_a;
    assumed_a = own_assumed_a;
    limit_a = own_limit_a;
    quorum_ms = own_timeout_ms;
  }
  // A member removed from the group (leaving) sits at its failsafe current until a person sets
  // it up on its own, and a dead one's controller holds it: the peer reserve that counts it
  // (rule 6) stays at least that current whether or not the rest of the group agrees
  // (campaign seed 9025128: c3 crashed at its 8 A failsafe current, was removed, the two
  // others agreed on 6 A and shared its 2 A).
  for (let i = 0; i < count; i++) {
    if (i == self_index) continue;
    const m = member_in(i);
    const flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
    if ((flags & MEMBER_FLAGS_LEAVING) == 0 || (flags & MEMBER_FLAGS_SAFETY_SETTINGS) == 0) continue;
    assumed_a = Math.max(assumed_a, load<f64>(m + <usize>IN_MEMBER_FAILSAFE_SAFE_CURRENT_A));
  }
  quorum_timeout_ms = quorum_ms;
  carry_set_told(timeout_ms, safe_a, assumed_a);
  carry_set_told_limit_a(limit_a);
  store<f64>(input_base + <usize>IN_HEARTBEAT_TIMEOUT_MS, timeout_ms);
  store<f64>(input_base + <usize>IN_FAILSAFE_SAFE_CURRENT_A, safe_a);
  store<f64>(input_base + <usize>IN_FAILSAFE_PEER_ASSUMED_CURRENT_A, assumed_a);
  out_f64(OUT_HEARTBEAT_TIMEOUT_MS, timeout_ms);
  out_f64(OUT_FAILSAFE_SAFE_CURRENT_A, safe_a);
  out_f64(OUT_FAILSAFE_PEER_ASSUMED_CURRENT_A, assumed_a);
  return !agreed;
}
