// Helpers for the specs: build an input block member by member, run compute, read results.
// The carry block stays between run() calls, as a host hands it back; reset_view clears it
// (the safe start).
import * as abi from '../abi';
import { input_base, output_base, carry_base, member_in, member_out } from '../blocks';
import { compute_decision } from '../decide';

export const now: f64 = 1767225600000;

export function reset_view(limit_a: f64): void {
  memory.fill(input_base, 0, <usize>abi.IN_SIZE);
  memory.fill(carry_base, 0, <usize>abi.CARRY_SIZE);
  store<f64>(input_base + <usize>abi.IN_MONO_MS, now);
  store<f64>(input_base + <usize>abi.IN_WALL_MS, now);
  store<f64>(input_base + <usize>abi.IN_GROUP_MAX_CURRENT_A, limit_a);
  store<f64>(input_base + <usize>abi.IN_SAFETY_FACTOR, 1.0);
  store<f64>(input_base + <usize>abi.IN_HEARTBEAT_TIMEOUT_MS, 30000);
  store<f64>(input_base + <usize>abi.IN_FAILSAFE_SAFE_CURRENT_A, 6);
  store<f64>(input_base + <usize>abi.IN_FAILSAFE_PEER_ASSUMED_CURRENT_A, 6);
  store<f64>(input_base + <usize>abi.IN_ROTATION_INTERVAL_S, 0);
  store<f64>(input_base + <usize>abi.IN_EV_RESPONSE_MS, 5000);
  store<f64>(input_base + <usize>abi.IN_SEEN_GRACE_MS, 3000);
  store<f64>(input_base + <usize>abi.IN_MESSAGE_DELAY_MAX_MS, 2000);
}

export function set_header_f64(offset: i32, value: f64): void { store<f64>(input_base + <usize>offset, value); }

// Both clocks at t (the specs' charger has a correct wall clock unless a spec says otherwise).
export function at_time(t: f64): void {
  store<f64>(input_base + <usize>abi.IN_MONO_MS, t);
  store<f64>(input_base + <usize>abi.IN_WALL_MS, t);
}

// The fact the host hands in: the load-sharing limit it applied after the previous call.
export function self_limit(limit_a: f64): void {
  store<f64>(input_base + <usize>abi.IN_SELF_LIMIT_A, limit_a);
  const at = input_base + <usize>abi.IN_FLAGS;
  store<u32>(at, load<u32>(at) | abi.INPUT_FLAGS_SELF_LIMIT_PRESENT);
}

export function carry_u32(offset: i32): u32 { return load<u32>(carry_base + <usize>offset); }
export function set_carry_u32(offset: i32, value: u32): void { store<u32>(carry_base + <usize>offset, value); }
export function set_header_u32(offset: i32, value: u32): void { store<u32>(input_base + <usize>offset, value); }

// Adds a demanding, online member with id "m<index>" (sorted ids follow the index).
export function add_member(max_a: f64 = 32): i32 {
  const index = <i32>load<u32>(input_base + <usize>abi.IN_MEMBER_COUNT);
  store<u32>(input_base + <usize>abi.IN_MEMBER_COUNT, <u32>(index + 1));
  const m = member_in(index);
  store<u8>(m + <usize>abi.IN_MEMBER_ID, 0x6d);
  store<u8>(m + <usize>(abi.IN_MEMBER_ID + 1), <u8>(0x61 + index));
  store<u32>(m + <usize>abi.IN_MEMBER_ID_LEN, 2);
  store<u32>(m + <usize>abi.IN_MEMBER_FLAGS, abi.MEMBER_FLAGS_LAST_SEEN);
  store<f64>(m + <usize>abi.IN_MEMBER_LAST_SEEN_MS, now);
  store<u32>(m + <usize>abi.IN_MEMBER_VEHICLE, 1);
  store<u32>(m + <usize>abi.IN_MEMBER_STATE, 3);
  store<f64>(m + <usize>abi.IN_MEMBER_VOLTAGE_V, 240);
  store<f64>(m + <usize>abi.IN_MEMBER_MIN_CURRENT_A, 6);
  store<f64>(m + <usize>abi.IN_MEMBER_MAX_CURRENT_A, max_a);
  return index;
}

export function member_f64(index: i32, offset: i32, value: f64): void { store<f64>(member_in(index) + <usize>offset, value); }
export function member_u32(index: i32, offset: i32, value: u32): void { store<u32>(member_in(index) + <usize>offset, value); }
export function member_flag(index: i32, flag: u32): void {
  const at = member_in(index) + <usize>abi.IN_MEMBER_FLAGS;
  store<u32>(at, load<u32>(at) | flag);
}
export function member_unflag(index: i32, flag: u32): void {
  const at = member_in(index) + <usize>abi.IN_MEMBER_FLAGS;
  store<u32>(at, load<u32>(at) & ~flag);
}
export function set_alloc(index: i32, about: i32, amps: f64): void {
  member_flag(index, abi.MEMBER_FLAGS_ALLOC);
  const at = member_in(index) + <usize>abi.IN_MEMBER_ALLOC_MASK;
  store<u32>(at, load<u32>(at) | (<u32>1 << <u32>about));
  store<f64>(member_in(index) + <usize>(abi.IN_MEMBER_ALLOC_A + about * 8), amps);
}

export function run(): u32 { return compute_decision(); }

// One decision a minute earlier with the same facts, so that the carry is not a fresh start
// (after a safe start a charger does not rise until the views it forgot are void).
export function started_earlier(): void {
  const t = load<f64>(input_base + <usize>abi.IN_MONO_MS);
  at_time(t - 60000);
  compute_decision();
  at_time(t);
}
export function target(index: i32): f64 { return load<f64>(member_out(index) + <usize>abi.OUT_MEMBER_TARGET_CURRENT_A); }
export function reason(index: i32): u32 { return load<u32>(member_out(index) + <usize>abi.OUT_MEMBER_REASON); }
export function reserved(index: i32): f64 { return load<f64>(member_out(index) + <usize>abi.OUT_MEMBER_RESERVED_A); }
export function member_out_flags(index: i32): u32 { return load<u32>(member_out(index) + <usize>abi.OUT_MEMBER_FLAGS); }
export function out_f64(offset: i32): f64 { return load<f64>(output_base + <usize>offset); }
export function out_u32(offset: i32): u32 { return load<u32>(output_base + <usize>offset); }
export function applied(): f64 { return out_f64(abi.OUT_SELF_APPLIED_CURRENT_A); }
export function self_reason(): u32 { return out_u32(abi.OUT_SELF_REASON); }
export function out_flags(): u32 { return out_u32(abi.OUT_FLAGS); }
