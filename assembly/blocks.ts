// The module's fixed memory: the ABI blocks and the scratch the stages share.
// Everything is reserved at compile time (memory.data); nothing is allocated at run time.
import {
  IN_SIZE, OUT_SIZE, CARRY_SIZE, CFG_SIZE, CFGOUT_SIZE, MEMBERS_MAX,
  IN_MEMBER_BASE, IN_MEMBER_STRIDE, OUT_MEMBER_BASE, OUT_MEMBER_STRIDE,
  CFG_MEMBER_BASE, CFG_MEMBER_STRIDE,
} from './abi';

export const input_base: usize = memory.data(IN_SIZE, 16);
export const output_base: usize = memory.data(OUT_SIZE, 16);
export const carry_base: usize = memory.data(CARRY_SIZE, 16);
export const config_base: usize = memory.data(CFG_SIZE, 16);
export const config_out_base: usize = memory.data(CFGOUT_SIZE, 16);

// Scratch, one slot per member (index = position in the member table).
export const scratch_order: usize = memory.data(MEMBERS_MAX * 4, 16);  // i32 member indices in allocation order
export const scratch_min_a: usize = memory.data(MEMBERS_MAX * 8, 16);   // f64 whole-amp minimum
export const scratch_cap_a: usize = memory.data(MEMBERS_MAX * 8, 16);   // f64 whole-amp cap
export const scratch_level_a: usize = memory.data(MEMBERS_MAX * 8, 16); // f64 real-valued water level share
export const scratch_points: usize = memory.data(MEMBERS_MAX * 2 * 8, 16); // f64 water-fill breakpoints
export const scratch_state: usize = memory.data(MEMBERS_MAX * 4, 16);  // u32 member state bits (see group.ts)
export const scratch_record: usize = memory.data(MEMBERS_MAX * 4, 16); // i32 the member's carry record
export const scratch_share_recent_a: usize = memory.data(MEMBERS_MAX * 8, 16); // f64, -1 = none
export const scratch_share_hold_a: usize = memory.data(MEMBERS_MAX * 8, 16);   // f64, -1 = none
export const scratch_canon_a: usize = memory.data(MEMBERS_MAX * 8, 16); // f64 share in the canonical (unrotated) allocation

export function in_f64(offset: i32): f64 { return load<f64>(input_base + <usize>offset); }
export function in_u32(offset: i32): u32 { return load<u32>(input_base + <usize>offset); }
export function member_in(index: i32): usize {
  return input_base + <usize>(IN_MEMBER_BASE + index * IN_MEMBER_STRIDE);
}
export function member_out(index: i32): usize {
  return output_base + <usize>(OUT_MEMBER_BASE + index * OUT_MEMBER_STRIDE);
}
export function config_member(index: i32): usize {
  return config_base + <usize>(CFG_MEMBER_BASE + index * CFG_MEMBER_STRIDE);
}
export function out_f64(offset: i32, value: f64): void { store<f64>(output_base + <usize>offset, value); }
export function out_u32(offset: i32, value: u32): void { store<u32>(output_base + <usize>offset, value); }
// A member's state in the scratch: its output flags (MEMBER_OUT_FLAGS_*) and the bits below,
// which the module keeps for itself and masks out of the output (state_out).
// Online by the timeout it holds but silent past the smallest timeout told (rule 8,
// classify_members): counted degraded, not in the quorum, reserved as in its hold.
export const STATE_SILENT_PAST_QUORUM: u32 = 1 << 31;
export function state_out(index: i32): u32 { return state_of(index) & ~STATE_SILENT_PAST_QUORUM; }
export function state_of(index: i32): u32 { return load<u32>(scratch_state + <usize>(index * 4)); }
export function set_state(index: i32, value: u32): void { store<u32>(scratch_state + <usize>(index * 4), value); }
export function min_of(index: i32): f64 { return load<f64>(scratch_min_a + <usize>(index * 8)); }
export function cap_of(index: i32): f64 { return load<f64>(scratch_cap_a + <usize>(index * 8)); }
export function order_at(position: i32): i32 { return load<i32>(scratch_order + <usize>(position * 4)); }
export function record_of(index: i32): i32 { return load<i32>(scratch_record + <usize>(index * 4)); }
export function share_recent_of(index: i32): f64 { return load<f64>(scratch_share_recent_a + <usize>(index * 8)); }
export function share_hold_of(index: i32): f64 { return load<f64>(scratch_share_hold_a + <usize>(index * 8)); }
export function canon_share_of(index: i32): f64 { return load<f64>(scratch_canon_a + <usize>(index * 8)); }

export function zero_bytes(base: usize, size: i32): void {
  memory.fill(base, 0, <usize>size);
}

// Bytewise comparison of two ids: negative, 0 or positive (shorter prefix first).
export function compare_ids(a: usize, a_len: i32, b: usize, b_len: i32): i32 {
  const n = a_len < b_len ? a_len : b_len;
  for (let i = 0; i < n; i++) {
    const x = <i32>load<u8>(a + <usize>i);
    const y = <i32>load<u8>(b + <usize>i);
    if (x != y) return x - y;
  }
  return a_len - b_len;
}

// An id is 1..max bytes of printable ASCII without space and ',' (the canonical member-list separator).
export function id_valid(base: usize, len: i32, len_max: i32): bool {
  if (len < 1 || len > len_max) return false;
  for (let i = 0; i < len; i++) {
    const c = <i32>load<u8>(base + <usize>i);
    if (c < 0x21 || c > 0x7e || c == 0x2c) return false;
  }
  return true;
}
