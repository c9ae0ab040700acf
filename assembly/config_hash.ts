// The config hash (rule 7): canonical bytes for the group-critical fields, then SHA-256.
// The format is documented with test vectors in docs/config-hash.md; every number is
// written as a decimal integer in a fixed unit so that no host formats a float.
import {
  MEMBERS_MAX, ID_BYTES_MAX, GROUP_ID_BYTES_MAX, FAILSAFE_MODE_COUNT, FAILSAFE_MODE_DISABLE,
  CFG_GROUP_MAX_CURRENT_A, CFG_SAFETY_FACTOR, CFG_HEARTBEAT_TIMEOUT_S, CFG_FAILSAFE_SAFE_CURRENT_A,
  CFG_FAILSAFE_PEER_ASSUMED_CURRENT_A, CFG_ROTATION_INTERVAL_S, CFG_FAILSAFE_MODE, CFG_GROUP_ID_LEN,
  CFG_MEMBER_COUNT, CFG_GROUP_ID, CFG_MEMBER_ID, CFG_MEMBER_ID_LEN,
  CFGOUT_HASH, CFGOUT_CANONICAL_LEN, CFGOUT_CANONICAL,
  ERROR_OK, ERROR_MEMBER_COUNT, ERROR_NOT_FINITE, ERROR_NEGATIVE, ERROR_BAD_ID, ERROR_BAD_CONFIG,
  ERROR_BAD_ENUM, ERROR_DUPLICATE_ID, CFGOUT_SIZE,
} from './abi';
import { config_base, config_out_base, config_member, compare_ids, id_valid, scratch_order, zero_bytes } from './blocks';
import { sha256 } from './sha256';

const integer_max: f64 = 2147483647;
let cursor: usize = 0;

function put_byte(c: i32): void { store<u8>(cursor, <u8>c); cursor++; }

// The canonical keys as ASCII bytes (a string literal would be UTF-16 and twice the size).
// Text, in order: loadshare-config-v1\ngroup_id= | group_max_current_ma= | safety_factor_ppm= | heartbeat_timeout_ms= | failsafe_mode= | disable | safe_current | failsafe_safe_current_ma= | failsafe_peer_assumed_current_ma= | rotation_interval_s= | members=
const key_bytes: usize = memory.data<u8>([
  108, 111, 97, 100, 115, 104, 97, 114, 101, 45, 99, 111, 110, 102, 105, 103, 45, 118, 49, 10, 103, 114, 111,
  117, 112, 95, 105, 100, 61, 103, 114, 111, 117, 112, 95, 109, 97, 120, 95, 99, 117, 114, 114, 101, 110, 116,
  95, 109, 97, 61, 115, 97, 102, 101, 116, 121, 95, 102, 97, 99, 116, 111, 114, 95, 112, 112, 109, 61, 104, 101,
  97, 114, 116, 98, 101, 97, 116, 95, 116, 105, 109, 101, 111, 117, 116, 95, 109, 115, 61, 102, 97, 105, 108,
  115, 97, 102, 101, 95, 109, 111, 100, 101, 61, 100, 105, 115, 97, 98, 108, 101, 115, 97, 102, 101, 95, 99,
  117, 114, 114, 101, 110, 116, 102, 97, 105, 108, 115, 97, 102, 101, 95, 115, 97, 102, 101, 95, 99, 117, 114,
  114, 101, 110, 116, 95, 109, 97, 61, 102, 97, 105, 108, 115, 97, 102, 101, 95, 112, 101, 101, 114, 95, 97,
  115, 115, 117, 109, 101, 100, 95, 99, 117, 114, 114, 101, 110, 116, 95, 109, 97, 61, 114, 111, 116, 97, 116,
  105, 111, 110, 95, 105, 110, 116, 101, 114, 118, 97, 108, 95, 115, 61, 109, 101, 109, 98, 101, 114, 115, 61
]);
const key_header = 29; // offset 0, length 29
const key_group_max_current = 7445; // offset 29, length 21
const key_safety_factor = 12818; // offset 50, length 18
const key_heartbeat_timeout = 17429; // offset 68, length 21
const key_failsafe_mode = 22798; // offset 89, length 14
const key_disable = 26375; // offset 103, length 7
const key_safe_current = 28172; // offset 110, length 12
const key_safe_current_ma = 31257; // offset 122, length 25
const key_peer_assumed = 37665; // offset 147, length 33
const key_rotation_interval = 46100; // offset 180, length 20
const key_members = 51208; // offset 200, length 8

// Writes one key from key_bytes: the key's constant packs offset << 8 | length.
function put_key(key: i32): void {
  put_bytes(key_bytes + <usize>(key >> 8), key & 0xff);
}

function put_bytes(source: usize, len: i32): void {
  memory.copy(cursor, source, <usize>len);
  cursor += <usize>len;
}

function put_integer(value: i32): void {
  if (value == 0) { put_byte(0x30); return; }
  let divisor = 1000000000;
  let started = false;
  for (let d = 0; d < 10; d++) {
    const digit = (value / divisor) % 10;
    if (digit != 0 || started) { put_byte(0x30 + digit); started = true; }
    divisor /= 10;
  }
}

// A number in the config block scaled to an integer unit, rounded half away from zero.
function scaled(offset: i32, scale: f64): f64 {
  const value = load<f64>(config_base + <usize>offset);
  if (!isFinite<f64>(value)) return -2;
  if (value < 0) return -1;
  return Math.floor(value * scale + 0.5);
}

const config_amounts: usize = memory.data<i32>([
  CFG_GROUP_MAX_CURRENT_A, CFG_SAFETY_FACTOR, CFG_HEARTBEAT_TIMEOUT_S, CFG_FAILSAFE_SAFE_CURRENT_A,
  CFG_FAILSAFE_PEER_ASSUMED_CURRENT_A, CFG_ROTATION_INTERVAL_S,
]);
const config_amounts_count = 6;

function check_config(): u32 {
  for (let i = 0; i < config_amounts_count; i++) {
    // In milliunits: bounds every field's canonical integer (rotation_interval_s is written in
    // seconds, so it is bounded 1000 times tighter than it needs to be: about 24 days).
    const value = scaled(load<i32>(config_amounts + <usize>(i * 4)), 1000);
    if (value == -2) return ERROR_NOT_FINITE;
    if (value == -1) return ERROR_NEGATIVE;
    if (value > integer_max) return ERROR_BAD_CONFIG;
  }
  const sf = load<f64>(config_base + <usize>CFG_SAFETY_FACTOR);
  if (sf <= 0 || sf > 1) return ERROR_BAD_CONFIG;
  if (load<u32>(config_base + <usize>CFG_FAILSAFE_MODE) >= FAILSAFE_MODE_COUNT) return ERROR_BAD_ENUM;
  const group_len = <i32>load<u32>(config_base + <usize>CFG_GROUP_ID_LEN);
  if (group_len > GROUP_ID_BYTES_MAX) return ERROR_BAD_ID;
  for (let i = 0; i < group_len; i++) {
    const c = <i32>load<u8>(config_base + <usize>(CFG_GROUP_ID + i));
    if (c < 0x20 || c > 0x7e) return ERROR_BAD_ID;
  }
  const count = load<u32>(config_base + <usize>CFG_MEMBER_COUNT);
  if (count > <u32>MEMBERS_MAX) return ERROR_MEMBER_COUNT;
  for (let i = 0; i < <i32>count; i++) {
    const m = config_member(i);
    const len = <i32>load<u32>(m + <usize>CFG_MEMBER_ID_LEN);
    if (!id_valid(m + <usize>CFG_MEMBER_ID, len, ID_BYTES_MAX)) return ERROR_BAD_ID;
    for (let j = 0; j < i; j++) {
      const o = config_member(j);
      if (compare_ids(m + <usize>CFG_MEMBER_ID, len, o + <usize>CFG_MEMBER_ID, <i32>load<u32>(o + <usize>CFG_MEMBER_ID_LEN)) == 0) {
        return ERROR_DUPLICATE_ID;
      }
    }
  }
  return ERROR_OK;
}

function id_before(a: i32, b: i32): bool {
  const ma = config_member(a);
  const mb = config_member(b);
  return compare_ids(ma + <usize>CFG_MEMBER_ID, <i32>load<u32>(ma + <usize>CFG_MEMBER_ID_LEN),
    mb + <usize>CFG_MEMBER_ID, <i32>load<u32>(mb + <usize>CFG_MEMBER_ID_LEN)) < 0;
}

function put_members(): void {
  const count = <i32>load<u32>(config_base + <usize>CFG_MEMBER_COUNT);
  for (let i = 0; i < count; i++) {
    let j = i;
    while (j > 0 && id_before(i, load<i32>(scratch_order + <usize>((j - 1) * 4)))) {
      store<i32>(scratch_order + <usize>(j * 4), load<i32>(scratch_order + <usize>((j - 1) * 4)));
      j--;
    }
    store<i32>(scratch_order + <usize>(j * 4), i);
  }
  for (let k = 0; k < count; k++) {
    if (k > 0) put_byte(0x2c);
    const m = config_member(load<i32>(scratch_order + <usize>(k * 4)));
    put_bytes(m + <usize>CFG_MEMBER_ID, <i32>load<u32>(m + <usize>CFG_MEMBER_ID_LEN));
  }
}

function put_field(key: i32, value: f64): void {
  put_key(key);
  put_integer(<i32>value);
  put_byte(0x0a);
}

export function compute_config_hash(): u32 {
  zero_bytes(config_out_base, CFGOUT_SIZE);
  const code = check_config();
  if (code != ERROR_OK) return code;
  cursor = config_out_base + <usize>CFGOUT_CANONICAL;
  put_key(key_header);
  put_bytes(config_base + <usize>CFG_GROUP_ID, <i32>load<u32>(config_base + <usize>CFG_GROUP_ID_LEN));
  put_byte(0x0a);
  put_field(key_group_max_current, scaled(CFG_GROUP_MAX_CURRENT_A, 1000));
  put_field(key_safety_factor, scaled(CFG_SAFETY_FACTOR, 1000000));
  put_field(key_heartbeat_timeout, scaled(CFG_HEARTBEAT_TIMEOUT_S, 1000));
  put_key(key_failsafe_mode);
  put_key(load<u32>(config_base + <usize>CFG_FAILSAFE_MODE) == FAILSAFE_MODE_DISABLE ? key_disable : key_safe_current);
  put_byte(0x0a);
  put_field(key_safe_current_ma, scaled(CFG_FAILSAFE_SAFE_CURRENT_A, 1000));
  put_field(key_peer_assumed, scaled(CFG_FAILSAFE_PEER_ASSUMED_CURRENT_A, 1000));
  put_field(key_rotation_interval, scaled(CFG_ROTATION_INTERVAL_S, 1));
  put_key(key_members);
  put_members();
  put_byte(0x0a);
  const len = <i32>(cursor - (config_out_base + <usize>CFGOUT_CANONICAL));
  store<u32>(config_out_base + <usize>CFGOUT_CANONICAL_LEN, <u32>len);
  sha256(config_out_base + <usize>CFGOUT_CANONICAL, len, config_out_base + <usize>CFGOUT_HASH);
  return ERROR_OK;
}
