// The carry: everything the protocol remembers between two calls, kept in one opaque block
// that the host hands back unchanged (ABI block `carry`). The module itself keeps nothing
// between calls, so a protocol fix to any of this state reaches the field by hot swap alone.
//
// What is remembered, and why:
// - this charger's applied limit and the limits it allowed within ev_response (the committed
//   current, rule 6: its car may take that long to follow a decrease);
// - per member (by id), the shares this charger's published views gave it: the current one
//   and the recent past (share_recent and share_hold of docs/protocol.md);
// - since when a seen-set mismatch lasts, since when this charger is degraded, and when it
//   last stopped being degraded (views made before its peers knew are recognised, rule 5);
// - its effective limit at the last call and when it last fell (a degraded charger does not
//   rise to its failsafe current while the others' cars still follow a decrease, rule 9);
// - its own demand cap and when it last raised what it offered its car.
//
// Layout (module-internal; hosts never read it): a header, a ring of past applied limits,
// and member records. Every timestamp is on the monotonic clock. The block starts with a
// format tag and a checksum (FNV-1a over the rest): a carry of another format (a module that
// remembers other things), a corrupt one, one from another clock epoch or one whose clock
// ran backwards is answered with the safe start, never with a trap.
import {
  CARRY_BYTES, ID_BYTES_MAX,
  CARRY_STATUS_CONTINUED, CARRY_STATUS_FRESH, CARRY_STATUS_FOREIGN_VERSION, CARRY_STATUS_CORRUPT,
  CARRY_STATUS_CLOCK_RESTARTED, CARRY_STATUS_CLOCK_BACKWARDS,
} from './abi';
import { compare_ids, carry_base } from './blocks';

// 'LSC' + format revision. Bump it whenever the meaning or layout below changes: an older
// carry then starts safe instead of being misread. The revision is fixed at compile time
// (asc --use LOADSHARE_CARRY_REVISION=N, asconfig.json): 11 is the shipped format (9 before
// the last fall of the limit was remembered, 7 before when this charger stopped being degraded
// was, 5 before the pilot of uncontrolled members was); 12 is the `carry_next` build, a real layout change (a longer ring of past
// applied limits) that the tests deliver by hot swap to prove a changed carry reaches the
// field safely.
export const carry_tag: u32 = 0x4c534300 | <u32>LOADSHARE_CARRY_REVISION;
const fnv_offset: u32 = 0x811c9dc5;
const fnv_prime: u32 = 0x01000193;

// Header.
const C_TAG = 0;
const C_CHECKSUM = 4;
const C_CLOCK_EPOCH = 8;
const C_RECORD_COUNT = 12;
const C_LAST_MONO_MS = 16;
const C_APPLIED_A = 24;
const C_MISMATCH_SINCE_MS = 32;
const C_DEGRADED_SINCE_MS = 40;
const C_DEMAND_CAP_A = 48;
const C_DEMAND_CAP_AT_MS = 56;
const C_OFFERED_RAISED_AT_MS = 64;
const C_APPLIED_COUNT = 72;
const C_FLAGS = 76;
const C_TOLD_TIMEOUT_MS = 80; // rule 8: the most conservative safety settings told until the group agrees
const C_TOLD_SAFE_A = 88; // -1 = none told
const C_TOLD_ASSUMED_A = 96;
const C_TOLD_LIMIT_A = 104; // rule 7: the smallest limit told until the group agrees, -1 = none
const C_AGREED_SINCE_MS = 112; // since when the members' settings and limits agree, -1 = they do not
const C_STARTED_MS = 120; // when this carry was started (the safe start): what my views granted before is forgotten
const C_HEALED_MS = 128; // when this charger last stopped being degraded, -1 = not since the safe start (revision 9)
const C_LIMIT_A = 136; // my effective limit at the last call, -1 = none since the safe start (revision 11)
const C_LIMIT_FELL_MS = 144; // when it last fell, -1 = not since the safe start
const C_APPLIED_RING = 152;
// Past applied limits: (until_ms, applied_a) pairs, oldest first.
export const applied_ring_max = LOADSHARE_CARRY_REVISION >= 12 ? 12 : 8;
const C_RECORDS = C_APPLIED_RING + applied_ring_max * 16; // 280 (344 in the carry_next build)
// Member records.
const R_ID = 0;
const R_ID_LEN = 32;
const R_SHARE_COUNT = 36;
const R_SHARE_NOW_A = 40; // the share in the vector in force now, -1 = none
const R_LAST_SEEN_MS = 48; // -1 = never heard (kept for a member that left the table)
const R_MAY_DRAW_A = 56; // what it may still draw by what it last said and my views gave it
const R_DEPARTED_MS = 64; // when it left the member table, -1 = it is in the table
// An uncontrolled member (no load sharing, docs/protocol.md rule 3): the pilot it last
// reported, -1 = none, and when that pilot last rose, -1 = never: its own user may raise it
// again at any moment, so its maximum stays reserved for a while after a rise.
const R_PILOT_A = 72;
const R_PILOT_RAISED_MS = 80;
const R_SHARES = 88; // past shares: (until_ms, share_a) pairs, oldest first
export const share_ring_max = 6;
export const R_SIZE = R_SHARES + share_ring_max * 16; // 184
export const records_max = 20; // members_max in the table + room for members that left
const C_END = C_RECORDS + records_max * R_SIZE;

// Header flag: this charger has had other members (a group of one that was never a group
// may use the whole limit; one whose members left is not sure it is alone on the breaker).
export const CARRY_FLAG_HAD_PEERS: u32 = 1;

// The module works on the carry block in place: a host keeps the bytes it handed in until
// the call returns, and hands them in again after a trap (docs/abi.md).
const work: usize = carry_base;

// Compile-time relation: the layout fits the ABI block.
// (C_END is 280 + 20 x 184 = 3960 <= carry_bytes = 4096; 4024 in the carry_next build.)
const layout_fits: bool = C_END <= CARRY_BYTES;

export function c_f64(offset: i32): f64 { return load<f64>(work + <usize>offset); }
export function c_set_f64(offset: i32, value: f64): void { store<f64>(work + <usize>offset, value); }
function c_u32(offset: i32): u32 { return load<u32>(work + <usize>offset); }
function c_set_u32(offset: i32, value: u32): void { store<u32>(work + <usize>offset, value); }

// FNV-1a over 32-bit words, from after the checksum to the end of the records in use (the
// bytes past them are never read): a corrupt block is caught, and a group of 8 costs
// about 400 steps, not 900 (wasm3 interprets every step).
function checksum(): u32 {
  let h = fnv_offset;
  const records = c_u32(C_RECORD_COUNT);
  const end = records <= <u32>records_max ? C_RECORDS + <i32>records * R_SIZE : C_END;
  for (let i = 8; i < end; i += 4) {
    h ^= load<u32>(work + <usize>i);
    h *= fnv_prime;
  }
  return h;
}

// The header's timestamps (a static table: a literal array would allocate on every call).
const header_times: usize = memory.data<i32>([
  C_LAST_MONO_MS, C_MISMATCH_SINCE_MS, C_DEGRADED_SINCE_MS, C_DEMAND_CAP_AT_MS, C_OFFERED_RAISED_AT_MS,
  C_TOLD_TIMEOUT_MS, C_TOLD_SAFE_A, C_TOLD_ASSUMED_A, C_TOLD_LIMIT_A, C_AGREED_SINCE_MS, C_STARTED_MS, C_HEALED_MS,
  C_LIMIT_A, C_LIMIT_FELL_MS,
]);
const header_times_count = 14;

function finite_or_none(value: f64): bool {
  return isFinite<f64>(value) && (value >= 0 || value == -1);
}

// Goal: decide whether the carry handed in can be continued. How: the tag, the checksum, the
// clock epoch, a clock that did not run backwards, and every number in range. Why: a carry
// is only as good as the clock and the module that wrote it.
function carry_status_of(mono_ms: f64, clock_epoch: u32): u32 {
  if (!layout_fits) return CARRY_STATUS_CORRUPT;
  const tag = c_u32(C_TAG);
  if (tag == 0 && c_u32(C_CHECKSUM) == 0) return CARRY_STATUS_FRESH;
  if (tag != carry_tag) return CARRY_STATUS_FOREIGN_VERSION;
  if (c_u32(C_CHECKSUM) != checksum()) return CARRY_STATUS_CORRUPT;
  if (c_u32(C_RECORD_COUNT) > <u32>records_max || c_u32(C_APPLIED_COUNT) > <u32>applied_ring_max) return CARRY_STATUS_CORRUPT;
  if (c_u32(C_CLOCK_EPOCH) != clock_epoch) return CARRY_STATUS_CLOCK_RESTARTED;
  if (c_f64(C_LAST_MONO_MS) > mono_ms) return CARRY_STATUS_CLOCK_BACKWARDS;
  for (let i = 0; i < header_times_count; i++) {
    if (!finite_or_none(c_f64(load<i32>(header_times + <usize>(i * 4))))) return CARRY_STATUS_CORRUPT;
  }
  if (!finite_or_none(c_f64(C_APPLIED_A)) || c_f64(C_APPLIED_A) < 0) return CARRY_STATUS_CORRUPT;
  if (!finite_or_none(c_f64(C_DEMAND_CAP_A)) || c_f64(C_DEMAND_CAP_A) < 0) return CARRY_STATUS_CORRUPT;
  const applied_count = <i32>c_u32(C_APPLIED_COUNT);
  for (let k = 0; k < applied_count * 2; k++) {
    const value = c_f64(C_APPLIED_RING + k * 8);
    if (!isFinite<f64>(value) || value < 0) return CARRY_STATUS_CORRUPT;
  }
  const records = <i32>c_u32(C_RECORD_COUNT);
  for (let r = 0; r < records; r++) {
    const at = record_at(r);
    const id_len = <i32>load<u32>(at + <usize>R_ID_LEN);
    if (id_len < 1 || id_len > ID_BYTES_MAX) return CARRY_STATUS_CORRUPT;
    const shares = <i32>load<u32>(at + <usize>R_SHARE_COUNT);
    if (shares < 0 || shares > share_ring_max) return CARRY_STATUS_CORRUPT;
    if (!finite_or_none(load<f64>(at + <usize>R_SHARE_NOW_A))) return CARRY_STATUS_CORRUPT;
    if (!finite_or_none(load<f64>(at + <usize>R_LAST_SEEN_MS))) return CARRY_STATUS_CORRUPT;
    if (!finite_or_none(load<f64>(at + <usize>R_MAY_DRAW_A))) return CARRY_STATUS_CORRUPT;
    if (!finite_or_none(load<f64>(at + <usize>R_DEPARTED_MS))) return CARRY_STATUS_CORRUPT;
    if (!finite_or_none(load<f64>(at + <usize>R_PILOT_A))) return CARRY_STATUS_CORRUPT;
    if (!finite_or_none(load<f64>(at + <usize>R_PILOT_RAISED_MS))) return CARRY_STATUS_CORRUPT;
    for (let k = 0; k < shares * 2; k++) {
      const value = load<f64>(at + <usize>(R_SHARES + k * 8));
      if (!isFinite<f64>(value) || value < 0) return CARRY_STATUS_CORRUPT;
    }
  }
  return CARRY_STATUS_CONTINUED;
}

// Takes the host's block. Anything that cannot be continued is
// replaced by the safe start: nothing remembered, except that this charger may have allowed
// up to assumed_a until now (a restarted charger does not know what its car still follows).
// Returns the carry status.
export function carry_load(mono_ms: f64, clock_epoch: u32, assumed_a: f64): u32 {
  const status = carry_status_of(mono_ms, clock_epoch);
  if (status == CARRY_STATUS_CONTINUED) return status;
  // A carry that is whole but from another clock keeps what does not depend on time: that
  // this charger has been in a group, and the conservative settings it was told.
  const whole = status == CARRY_STATUS_CLOCK_RESTARTED || status == CARRY_STATUS_CLOCK_BACKWARDS;
  const flags = whole ? c_u32(C_FLAGS) : 0;
  const told_timeout_ms = whole ? c_f64(C_TOLD_TIMEOUT_MS) : 0;
  const told_safe_a = whole ? c_f64(C_TOLD_SAFE_A) : -1;
  const told_assumed_a = whole ? c_f64(C_TOLD_ASSUMED_A) : 0;
  const told_limit_a = whole ? c_f64(C_TOLD_LIMIT_A) : -1;
  memory.fill(work, 0, <usize>CARRY_BYTES);
  c_set_u32(C_FLAGS, flags);
  c_set_f64(C_TOLD_TIMEOUT_MS, told_timeout_ms);
  c_set_f64(C_TOLD_SAFE_A, told_safe_a);
  c_set_f64(C_TOLD_ASSUMED_A, told_assumed_a);
  c_set_f64(C_TOLD_LIMIT_A, told_limit_a);
  c_set_f64(C_AGREED_SINCE_MS, -1);
  c_set_f64(C_MISMATCH_SINCE_MS, -1);
  c_set_f64(C_DEGRADED_SINCE_MS, -1);
  c_set_f64(C_HEALED_MS, -1);
  c_set_f64(C_LIMIT_A, -1);
  c_set_f64(C_LIMIT_FELL_MS, -1);
  c_set_f64(C_DEMAND_CAP_AT_MS, -1);
  c_set_f64(C_OFFERED_RAISED_AT_MS, -1);
  c_set_f64(C_STARTED_MS, mono_ms);
  // The restarted charger's car may still follow an older, higher pilot: count it as
  // committed for ev_response from now, so no peer raises into current this car may draw.
  applied_push(mono_ms, assumed_a);
  return status;
}

// Seals the carry for the host: tag, epoch, time and checksum.
export function carry_store(mono_ms: f64, clock_epoch: u32): void {
  c_set_u32(C_TAG, carry_tag);
  c_set_u32(C_CLOCK_EPOCH, clock_epoch);
  c_set_f64(C_LAST_MONO_MS, mono_ms);
  c_set_u32(C_CHECKSUM, checksum());
}

// ---- scalars ----

export function carry_applied_a(): f64 { return c_f64(C_APPLIED_A); }
export function carry_mismatch_since_ms(): f64 { return c_f64(C_MISMATCH_SINCE_MS); }
export function carry_set_mismatch_since_ms(value: f64): void { c_set_f64(C_MISMATCH_SINCE_MS, value); }
export function carry_degraded_since_ms(): f64 { return c_f64(C_DEGRADED_SINCE_MS); }
export function carry_set_degraded_since_ms(value: f64): void { c_set_f64(C_DEGRADED_SINCE_MS, value); }
export function carry_healed_ms(): f64 { return c_f64(C_HEALED_MS); }
export function carry_limit_fell_ms(): f64 { return c_f64(C_LIMIT_FELL_MS); }
// Notes my effective limit of this call; returns when it last fell (-1: not since the safe
// start). A limit that is not a finite amount is not remembered (the carry holds amounts).
export function carry_note_limit(limit_a: f64, now_ms: f64): f64 {
  const before_a = c_f64(C_LIMIT_A);
  const known = isFinite<f64>(limit_a) && limit_a >= 0;
  if (known && before_a >= 0 && limit_a < before_a) c_set_f64(C_LIMIT_FELL_MS, now_ms);
  c_set_f64(C_LIMIT_A, known ? limit_a : -1);
  return c_f64(C_LIMIT_FELL_MS);
}
export function carry_set_healed_ms(value: f64): void { c_set_f64(C_HEALED_MS, value); }
export function carry_demand_cap_a(): f64 { return c_f64(C_DEMAND_CAP_A); }
export function carry_set_demand_cap_a(value: f64): void { c_set_f64(C_DEMAND_CAP_A, value); }
export function carry_demand_cap_at_ms(): f64 { return c_f64(C_DEMAND_CAP_AT_MS); }
export function carry_set_demand_cap_at_ms(value: f64): void { c_set_f64(C_DEMAND_CAP_AT_MS, value); }
export function carry_offered_raised_at_ms(): f64 { return c_f64(C_OFFERED_RAISED_AT_MS); }
export function carry_set_offered_raised_at_ms(value: f64): void { c_set_f64(C_OFFERED_RAISED_AT_MS, value); }
export function carry_told_timeout_ms(): f64 { return c_f64(C_TOLD_TIMEOUT_MS); }
export function carry_told_safe_a(): f64 { return c_f64(C_TOLD_SAFE_A); }
export function carry_told_assumed_a(): f64 { return c_f64(C_TOLD_ASSUMED_A); }
export function carry_told_limit_a(): f64 { return c_f64(C_TOLD_LIMIT_A); }
export function carry_agreed_since_ms(): f64 { return c_f64(C_AGREED_SINCE_MS); }
export function carry_set_agreed_since_ms(value: f64): void { c_set_f64(C_AGREED_SINCE_MS, value); }
export function carry_set_told_limit_a(limit_a: f64): void { c_set_f64(C_TOLD_LIMIT_A, limit_a); }
export function carry_set_told(timeout_ms: f64, safe_a: f64, assumed_a: f64): void {
  c_set_f64(C_TOLD_TIMEOUT_MS, timeout_ms);
  c_set_f64(C_TOLD_SAFE_A, safe_a);
  c_set_f64(C_TOLD_ASSUMED_A, assumed_a);
}
export function carry_started_ms(): f64 { return c_f64(C_STARTED_MS); }
export function carry_had_peers(): bool { return (c_u32(C_FLAGS) & CARRY_FLAG_HAD_PEERS) != 0; }
export function carry_set_had_peers(): void { c_set_u32(C_FLAGS, c_u32(C_FLAGS) | CARRY_FLAG_HAD_PEERS); }
export function carry_clear_had_peers(): void { c_set_u32(C_FLAGS, c_u32(C_FLAGS) & ~CARRY_FLAG_HAD_PEERS); }

// ---- the committed current (rule 6) ----

function applied_at(k: i32): usize { return work + <usize>(C_APPLIED_RING + k * 16); }

// Records that until until_ms this charger may have allowed up to applied_a. When the ring is
// full the two oldest entries fold into one (the later end, the larger current): the
// committed current can only be over-stated by a fold, never under-stated.
function applied_push(until_ms: f64, applied_a: f64): void {
  let count = <i32>c_u32(C_APPLIED_COUNT);
  if (count == applied_ring_max) {
    const a = applied_at(0);
    const b = applied_at(1);
    store<f64>(b + 8, Math.max(load<f64>(a + 8), load<f64>(b + 8)));
    memory.copy(applied_at(0), applied_at(1), <usize>((count - 1) * 16));
    count--;
  }
  store<f64>(applied_at(count), until_ms);
  store<f64>(applied_at(count) + 8, applied_a);
  c_set_u32(C_APPLIED_COUNT, <u32>(count + 1));
}

// Drops limits that left force ev_response ago or more: their cars have followed. (Callers
// pass ev_response with the clock-rate margin, recall.ts.)
export function applied_prune(now_ms: f64, ev_response_ms: f64): void {
  const count = <i32>c_u32(C_APPLIED_COUNT);
  let keep = 0;
  for (let k = 0; k < count; k++) {
    if (now_ms - load<f64>(applied_at(k)) < ev_response_ms) {
      if (keep != k) memory.copy(applied_at(keep), applied_at(k), 16);
      keep++;
    }
  }
  c_set_u32(C_APPLIED_COUNT, <u32>keep);
}

// This charger now applies applied_a.
export function applied_set(now_ms: f64, applied_a: f64): void {
  const before_a = c_f64(C_APPLIED_A);
  if (applied_a == before_a) return;
  applied_push(now_ms, before_a);
  c_set_f64(C_APPLIED_A, applied_a);
}

// The committed current: the applied limit and every limit allowed within ev_response.
export function committed_a(): f64 {
  let value = c_f64(C_APPLIED_A);
  const count = <i32>c_u32(C_APPLIED_COUNT);
  for (let k = 0; k < count; k++) value = Math.max(value, load<f64>(applied_at(k) + 8));
  return value;
}

// When the committed current next falls (-1: it will not without a new decision): once
// every past limit that holds it up has been out of force for ev_response.
export function committed_falls_ms(ev_response_ms: f64): f64 {
  const committed = committed_a();
  if (committed <= c_f64(C_APPLIED_A)) return -1;
  let next: f64 = -1;
  const count = <i32>c_u32(C_APPLIED_COUNT);
  for (let k = 0; k < count; k++) {
    if (load<f64>(applied_at(k) + 8) == committed) next = Math.max(next, load<f64>(applied_at(k)) + ev_response_ms);
  }
  return next;
}

// ---- member records ----

export function record_at(r: i32): usize { return work + <usize>(C_RECORDS + r * R_SIZE); }
export function record_count(): i32 { return <i32>c_u32(C_RECORD_COUNT); }

export function record_is(r: i32, id: usize, id_len: i32): bool {
  const at = record_at(r);
  return compare_ids(at + <usize>R_ID, <i32>load<u32>(at + <usize>R_ID_LEN), id, id_len) == 0;
}

// The record of the member with this id, or -1.
export function record_find(id: usize, id_len: i32): i32 {
  const count = record_count();
  for (let r = 0; r < count; r++) if (record_is(r, id, id_len)) return r;
  return -1;
}

function record_remove(r: i32): void {
  const count = record_count();
  if (r < count - 1) memory.copy(record_at(r), record_at(r + 1), <usize>((count - 1 - r) * R_SIZE));
  c_set_u32(C_RECORD_COUNT, <u32>(count - 1));
}

// The record for this id, created when missing. When every slot is taken, the member that
// left the table longest ago makes room (the table itself never holds more than
// members_max, so there is always one that left).
export function record_get(id: usize, id_len: i32): i32 {
  const found = record_find(id, id_len);
  if (found >= 0) return found;
  if (record_count() == records_max) {
    let oldest = -1;
    for (let r = 0; r < records_max; r++) {
      const departed_ms = load<f64>(record_at(r) + <usize>R_DEPARTED_MS);
      if (departed_ms < 0) continue;
      if (oldest < 0 || departed_ms < load<f64>(record_at(oldest) + <usize>R_DEPARTED_MS)) oldest = r;
    }
    record_remove(oldest < 0 ? 0 : oldest);
  }
  const r = record_count();
  const at = record_at(r);
  memory.fill(at, 0, <usize>R_SIZE);
  memory.copy(at + <usize>R_ID, id, <usize>id_len);
  store<u32>(at + <usize>R_ID_LEN, <u32>id_len);
  store<f64>(at + <usize>R_SHARE_NOW_A, -1);
  store<f64>(at + <usize>R_LAST_SEEN_MS, -1);
  store<f64>(at + <usize>R_DEPARTED_MS, -1);
  store<f64>(at + <usize>R_PILOT_A, -1);
  store<f64>(at + <usize>R_PILOT_RAISED_MS, -1);
  c_set_u32(C_RECORD_COUNT, <u32>(r + 1));
  return r;
}

export function record_last_seen_ms(r: i32): f64 { return load<f64>(record_at(r) + <usize>R_LAST_SEEN_MS); }
export function record_may_draw_a(r: i32): f64 { return load<f64>(record_at(r) + <usize>R_MAY_DRAW_A); }
export function record_departed_ms(r: i32): f64 { return load<f64>(record_at(r) + <usize>R_DEPARTED_MS); }

// What the member table told about a member this call (it is in the table).
export function record_seen_in_table(r: i32, last_seen_ms: f64, may_draw_a: f64): void {
  const at = record_at(r);
  store<f64>(at + <usize>R_LAST_SEEN_MS, last_seen_ms);
  store<f64>(at + <usize>R_MAY_DRAW_A, may_draw_a);
  store<f64>(at + <usize>R_DEPARTED_MS, -1);
}

export function record_mark_departed(r: i32, now_ms: f64): void {
  const at = record_at(r);
  if (load<f64>(at + <usize>R_DEPARTED_MS) < 0) store<f64>(at + <usize>R_DEPARTED_MS, now_ms);
}

// Forgets members that left the table and no longer need anything remembered.
export function records_forget_departed(now_ms: f64, keep_ms: f64): void {
  for (let r = record_count() - 1; r >= 0; r--) {
    const departed_ms = record_departed_ms(r);
    if (departed_ms < 0) continue;
    const last_seen_ms = record_last_seen_ms(r);
    const since_ms = last_seen_ms >= 0 ? Math.max(last_seen_ms, departed_ms - keep_ms) : departed_ms;
    if (now_ms - since_ms > keep_ms) record_remove(r);
  }
}

function share_at(r: i32, k: i32): usize { return record_at(r) + <usize>(R_SHARES + k * 16); }

// The vector this charger publishes now gives the member share_a. Past shares stay for
// keep_ms after they left force; a full ring folds its two oldest entries (the later end,
// the larger share), which can only over-state a share.
export function share_record(r: i32, now_ms: f64, share_a: f64, keep_ms: f64): void {
  const at = record_at(r);
  let count = <i32>load<u32>(at + <usize>R_SHARE_COUNT);
  let keep = 0;
  for (let k = 0; k < count; k++) {
    if (now_ms - load<f64>(share_at(r, k)) <= keep_ms) {
      if (keep != k) memory.copy(share_at(r, keep), share_at(r, k), 16);
      keep++;
    }
  }
  count = keep;
  const now_a = load<f64>(at + <usize>R_SHARE_NOW_A);
  if (now_a != share_a) {
    if (now_a >= 0) {
      if (count == share_ring_max) {
        const a = share_at(r, 0);
        const b = share_at(r, 1);
        store<f64>(b + 8, Math.max(load<f64>(a + 8), load<f64>(b + 8)));
        memory.copy(share_at(r, 0), share_at(r, 1), <usize>((count - 1) * 16));
        count--;
      }
      store<f64>(share_at(r, count), now_ms);
      store<f64>(share_at(r, count) + 8, now_a);
      count++;
    }
    store<f64>(at + <usize>R_SHARE_NOW_A, share_a);
  }
  store<u32>(at + <usize>R_SHARE_COUNT, <u32>count);
}

// The largest share of the member in any vector of mine in force at some time in
// [since_ms, now]; -1 when none.
export function share_max_since(r: i32, since_ms: f64): f64 {
  const at = record_at(r);
  let value = load<f64>(at + <usize>R_SHARE_NOW_A);
  const count = <i32>load<u32>(at + <usize>R_SHARE_COUNT);
  for (let k = 0; k < count; k++) {
    if (load<f64>(share_at(r, k)) >= since_ms) value = Math.max(value, load<f64>(share_at(r, k) + 8));
  }
  return value;
}

// An uncontrolled member reported pilot_a now (docs/protocol.md rule 3). A pilot above the one
// remembered, or the first one this carry sees (it may have risen before: a safe start
// forgets), is a rise. Returns when the pilot last rose (-1: never).
export function record_note_pilot(r: i32, now_ms: f64, pilot_a: f64): f64 {
  const at = record_at(r);
  const before_a = load<f64>(at + <usize>R_PILOT_A);
  if (before_a < 0 || pilot_a > before_a) store<f64>(at + <usize>R_PILOT_RAISED_MS, now_ms);
  store<f64>(at + <usize>R_PILOT_A, pilot_a);
  return load<f64>(at + <usize>R_PILOT_RAISED_MS);
}

export function record_pilot_raised_ms(r: i32): f64 { return load<f64>(record_at(r) + <usize>R_PILOT_RAISED_MS); }
