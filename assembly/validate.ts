// Input validation: goal, refuse any view the rules were not written for; how, check every
// number the stages read; why, a hot-swapped module or a buggy host must never turn garbage
// into current. The first error found wins and names its member.
import {
  MEMBERS_MAX, ID_BYTES_MAX, FAILSAFE_MODE_COUNT,
  IN_MONO_MS, IN_WALL_MS, IN_GROUP_MAX_CURRENT_A, IN_SAFETY_FACTOR, IN_HEARTBEAT_TIMEOUT_MS,
  IN_FAILSAFE_SAFE_CURRENT_A, IN_FAILSAFE_PEER_ASSUMED_CURRENT_A, IN_ROTATION_INTERVAL_S,
  IN_EV_RESPONSE_MS, IN_SEEN_GRACE_MS, IN_MESSAGE_DELAY_MAX_MS, IN_SELF_PILOT_A, IN_SELF_LIMIT_A,
  IN_MEMBER_COUNT, IN_SELF_INDEX, IN_FAILSAFE_MODE, IN_FLAGS, INPUT_FLAGS_SELF_LIMIT_PRESENT,
  IN_MEMBER_HEARTBEAT_TIMEOUT_MS, IN_MEMBER_FAILSAFE_SAFE_CURRENT_A, IN_MEMBER_FAILSAFE_PEER_ASSUMED_CURRENT_A,
  MEMBER_FLAGS_SAFETY_SETTINGS,
  IN_MEMBER_ID, IN_MEMBER_ID_LEN, IN_MEMBER_FLAGS, IN_MEMBER_SEEN_MASK, IN_MEMBER_ALLOC_MASK,
  IN_MEMBER_LAST_SEEN_MS, IN_MEMBER_AMP_MA, IN_MEMBER_VOLTAGE_V, IN_MEMBER_MIN_CURRENT_A,
  IN_MEMBER_MAX_CURRENT_A, IN_MEMBER_DEMAND_CAP_A, IN_MEMBER_APPLIED_A, IN_MEMBER_COMMITTED_A,
  IN_MEMBER_GROUP_MAX_CURRENT_A, IN_MEMBER_SAFETY_FACTOR, IN_MEMBER_ALLOC_A,
  MEMBER_FLAGS_LAST_SEEN, MEMBER_FLAGS_DEMAND_CAP, MEMBER_FLAGS_APPLIED, MEMBER_FLAGS_COMMITTED,
  MEMBER_FLAGS_GROUP_MAX_CURRENT, MEMBER_FLAGS_SAFETY_FACTOR, MEMBER_FLAGS_ALLOC,
  ERROR_OK, ERROR_MEMBER_COUNT, ERROR_SELF_INDEX, ERROR_NOT_FINITE, ERROR_NEGATIVE,
  ERROR_DUPLICATE_ID, ERROR_BAD_ID, ERROR_BAD_CONFIG, ERROR_MIN_ABOVE_MAX, ERROR_UNSAFE_RESERVE,
  ERROR_BAD_MASK, ERROR_BAD_ENUM,
} from './abi';
import { in_f64, in_u32, member_in, compare_ids, id_valid } from './blocks';

// Error code of a number that must be finite and >= 0.
function check_amount(value: f64): u32 {
  if (!isFinite<f64>(value)) return ERROR_NOT_FINITE;
  if (value < 0) return ERROR_NEGATIVE;
  return ERROR_OK;
}

// Static tables (memory.data): a StaticArray literal would allocate on every call.
const header_amounts: usize = memory.data<i32>([
  IN_GROUP_MAX_CURRENT_A, IN_HEARTBEAT_TIMEOUT_MS, IN_FAILSAFE_SAFE_CURRENT_A,
  IN_FAILSAFE_PEER_ASSUMED_CURRENT_A, IN_ROTATION_INTERVAL_S, IN_EV_RESPONSE_MS,
  IN_SEEN_GRACE_MS, IN_MESSAGE_DELAY_MAX_MS, IN_MONO_MS, IN_WALL_MS, IN_SAFETY_FACTOR, IN_SELF_PILOT_A,
]);
const header_amounts_count = 12;
const member_amounts: usize = memory.data<i32>([
  IN_MEMBER_AMP_MA, IN_MEMBER_VOLTAGE_V, IN_MEMBER_MIN_CURRENT_A, IN_MEMBER_MAX_CURRENT_A,
]);
const member_amounts_count = 4;
const optional_flags: usize = memory.data<u32>([
  MEMBER_FLAGS_DEMAND_CAP, MEMBER_FLAGS_APPLIED, MEMBER_FLAGS_COMMITTED,
  MEMBER_FLAGS_GROUP_MAX_CURRENT, MEMBER_FLAGS_SAFETY_FACTOR, MEMBER_FLAGS_SAFETY_SETTINGS,
  MEMBER_FLAGS_SAFETY_SETTINGS, MEMBER_FLAGS_SAFETY_SETTINGS,
]);
const optional_offsets: usize = memory.data<i32>([
  IN_MEMBER_DEMAND_CAP_A, IN_MEMBER_APPLIED_A, IN_MEMBER_COMMITTED_A,
  IN_MEMBER_GROUP_MAX_CURRENT_A, IN_MEMBER_SAFETY_FACTOR, IN_MEMBER_HEARTBEAT_TIMEOUT_MS,
  IN_MEMBER_FAILSAFE_SAFE_CURRENT_A, IN_MEMBER_FAILSAFE_PEER_ASSUMED_CURRENT_A,
]);
const optional_count = 8;

function check_header(): u32 {
  for (let i = 0; i < header_amounts_count; i++) {
    const code = check_amount(in_f64(load<i32>(header_amounts + <usize>(i * 4))));
    if (code != ERROR_OK) return code;
  }
  if ((in_u32(IN_FLAGS) & INPUT_FLAGS_SELF_LIMIT_PRESENT) != 0) {
    const code = check_amount(in_f64(IN_SELF_LIMIT_A));
    if (code != ERROR_OK) return code;
  }
  const safety_factor = in_f64(IN_SAFETY_FACTOR);
  if (safety_factor <= 0 || safety_factor > 1) return ERROR_BAD_CONFIG;
  if (in_f64(IN_HEARTBEAT_TIMEOUT_MS) <= 0) return ERROR_BAD_CONFIG;
  if (in_u32(IN_FAILSAFE_MODE) >= FAILSAFE_MODE_COUNT) return ERROR_BAD_ENUM;
  if (in_f64(IN_FAILSAFE_PEER_ASSUMED_CURRENT_A) < in_f64(IN_FAILSAFE_SAFE_CURRENT_A)) return ERROR_UNSAFE_RESERVE;
  return ERROR_OK;
}

function check_member(index: i32, count: i32): u32 {
  const m = member_in(index);
  const flags = load<u32>(m + <usize>IN_MEMBER_FLAGS);
  const id_len = <i32>load<u32>(m + <usize>IN_MEMBER_ID_LEN);
  if (!id_valid(m + <usize>IN_MEMBER_ID, id_len, ID_BYTES_MAX)) return ERROR_BAD_ID;
  const outside: u32 = count >= 32 ? 0 : ~((<u32>1 << <u32>count) - 1);
  if ((load<u32>(m + <usize>IN_MEMBER_SEEN_MASK) & outside) != 0) return ERROR_BAD_MASK;
  if ((load<u32>(m + <usize>IN_MEMBER_ALLOC_MASK) & outside) != 0) return ERROR_BAD_MASK;
  if ((flags & MEMBER_FLAGS_LAST_SEEN) != 0 && !isFinite<f64>(load<f64>(m + <usize>IN_MEMBER_LAST_SEEN_MS))) {
    return ERROR_NOT_FINITE;
  }
  for (let i = 0; i < member_amounts_count; i++) {
    const code = check_amount(load<f64>(m + <usize>load<i32>(member_amounts + <usize>(i * 4))));
    if (code != ERROR_OK) return code;
  }
  for (let i = 0; i < optional_count; i++) {
    if ((flags & load<u32>(optional_flags + <usize>(i * 4))) == 0) continue;
    const code = check_amount(load<f64>(m + <usize>load<i32>(optional_offsets + <usize>(i * 4))));
    if (code != ERROR_OK) return code;
  }
  if ((flags & MEMBER_FLAGS_SAFETY_FACTOR) != 0) {
    const sf = load<f64>(m + <usize>IN_MEMBER_SAFETY_FACTOR);
    if (sf <= 0 || sf > 1) return ERROR_BAD_CONFIG;
  }
  if (load<f64>(m + <usize>IN_MEMBER_MIN_CURRENT_A) > load<f64>(m + <usize>IN_MEMBER_MAX_CURRENT_A)) {
    return ERROR_MIN_ABOVE_MAX;
  }
  if ((flags & MEMBER_FLAGS_ALLOC) != 0) {
    const mask = load<u32>(m + <usize>IN_MEMBER_ALLOC_MASK);
    for (let j = 0; j < count; j++) {
      if ((mask & (<u32>1 << <u32>j)) == 0) continue;
      const code = check_amount(load<f64>(m + <usize>(IN_MEMBER_ALLOC_A + j * 8)));
      if (code != ERROR_OK) return code;
    }
  }
  for (let j = 0; j < index; j++) {
    const other = member_in(j);
    const other_len = <i32>load<u32>(other + <usize>IN_MEMBER_ID_LEN);
    if (compare_ids(m + <usize>IN_MEMBER_ID, id_len, other + <usize>IN_MEMBER_ID, other_len) == 0) {
      return ERROR_DUPLICATE_ID;
    }
  }
  return ERROR_OK;
}

// Returns the error code; writes the offending member index (or -1) to error_member_out.
export function validate_input(error_member_out: usize): u32 {
  store<i32>(error_member_out, -1);
  const count = in_u32(IN_MEMBER_COUNT);
  if (count < 1 || count > <u32>MEMBERS_MAX) return ERROR_MEMBER_COUNT;
  if (in_u32(IN_SELF_INDEX) >= count) return ERROR_SELF_INDEX;
  const header = check_header();
  if (header != ERROR_OK) return header;
  for (let i = 0; i < <i32>count; i++) {
    const code = check_member(i, <i32>count);
    if (code != ERROR_OK) {
      store<i32>(error_member_out, i);
      return code;
    }
  }
  return ERROR_OK;
}
