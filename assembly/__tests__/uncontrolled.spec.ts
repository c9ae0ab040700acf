// Rule 3, chargers without load sharing on the same breaker (docs/protocol.md): a member the
// host marks uncontrolled is reserved min(max_current, its pilot while fresh and not just
// raised), at least what it draws, online or not; it is never allocated, never idle, and
// counts in no seen-set, quorum or view minimum.
import * as abi from '../abi';
import {
  now, reset_view, add_member, member_f64, member_u32, member_flag, member_unflag, set_alloc, run, target, reason, reserved,
  member_out_flags, out_f64, out_u32, applied, out_flags, at_time, started_earlier,
} from './view.helpers';

// Member 1 becomes a charger without load sharing with this maximum; no car by default.
function uncontrolled(index: i32, max_a: f64): void {
  member_flag(index, abi.MEMBER_FLAGS_UNCONTROLLED);
  member_f64(index, abi.IN_MEMBER_MAX_CURRENT_A, max_a);
  member_u32(index, abi.IN_MEMBER_VEHICLE, 0);
  member_u32(index, abi.IN_MEMBER_STATE, 1);
}

function pilot(index: i32, pilot_a: u32): void {
  member_flag(index, abi.MEMBER_FLAGS_PILOT);
  member_u32(index, abi.IN_MEMBER_PILOT_A, pilot_a);
}

// A decision at t with member 1 heard at t (a fresh status).
function run_at(t: f64): void {
  at_time(t);
  member_f64(1, abi.IN_MEMBER_LAST_SEEN_MS, t);
  run();
}

// ev_response x 1.01 + message_delay_max
const hold_ms: f64 = 5050 + 2000;

describe('rule 3: a charger without load sharing', () => {
  test('an idle one keeps its maximum: the others do not take its headroom', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 16);
    started_earlier();
    run();
    expect(reserved(1)).toBe(16);
    expect(out_f64(abi.OUT_RESERVED_CURRENT_A)).toBe(16);
    expect(out_f64(abi.OUT_BUDGET_CURRENT_A)).toBe(24);
    expect(applied()).toBe(24);
  });
  test('the same member counted as an idle member of the protocol would leave its headroom to the others', () => {
    reset_view(40); add_member(); add_member();
    member_f64(1, abi.IN_MEMBER_MAX_CURRENT_A, 16);
    member_u32(1, abi.IN_MEMBER_VEHICLE, 0);
    started_earlier();
    run();
    expect(reserved(1)).toBe(0);
    expect(applied()).toBe(32);
  });
  test('it is reserved, never idle, never allocated and never demanding, even with a car that wants current', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 16);
    member_u32(1, abi.IN_MEMBER_VEHICLE, 1);
    member_u32(1, abi.IN_MEMBER_STATE, 3);
    member_flag(1, abi.MEMBER_FLAGS_DEMAND_PRESENT | abi.MEMBER_FLAGS_DEMAND);
    run();
    expect(reason(1)).toBe(abi.REASON_RESERVED);
    expect(target(1)).toBe(0);
    expect(member_out_flags(1) & abi.MEMBER_OUT_FLAGS_UNCONTROLLED).toBe(abi.MEMBER_OUT_FLAGS_UNCONTROLLED);
    expect(member_out_flags(1) & abi.MEMBER_OUT_FLAGS_DEMANDING).toBe(0);
    expect(out_u32(abi.OUT_DEMANDING_COUNT)).toBe(1);
    expect(out_u32(abi.OUT_ONLINE_COUNT)).toBe(1);
  });
  test('a fresh lower pilot counts once the hold after its first report has passed', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 32);
    pilot(1, 10);
    const t0 = now - 60000;
    run_at(t0);
    expect(reserved(1)).toBe(32); // first report: it may just have risen
    run_at(t0 + hold_ms - 1);
    expect(reserved(1)).toBe(32);
    run_at(t0 + hold_ms);
    expect(reserved(1)).toBe(10);
    expect(applied()).toBe(30);
  });
  test('a pilot heard more than message_delay_max ago does not count', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 32);
    pilot(1, 10);
    run_at(now - 60000);
    run_at(now - 2000);
    expect(reserved(1)).toBe(10);
    at_time(now); // heard at now - 2000: exactly message_delay_max, still fresh
    run();
    expect(reserved(1)).toBe(10);
    at_time(now + 1);
    run();
    expect(reserved(1)).toBe(32);
  });
  test('a rise of its pilot keeps its maximum for ev_response + message_delay_max; a decrease counts at once', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 32);
    pilot(1, 10);
    run_at(now - 60000);
    run_at(now - 30000);
    expect(reserved(1)).toBe(10);
    pilot(1, 8);
    run_at(now - 29000);
    expect(reserved(1)).toBe(8);
    pilot(1, 12); // its user raised it
    run_at(now - 20000);
    expect(reserved(1)).toBe(32);
    run_at(now - 20000 + hold_ms - 1);
    expect(reserved(1)).toBe(32);
    run_at(now - 20000 + hold_ms);
    expect(reserved(1)).toBe(12);
  });
  test('the module asks to be called when its pilot goes stale', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 32);
    pilot(1, 10);
    run_at(now - 60000);
    run_at(now);
    expect(out_f64(abi.OUT_NEXT_CALL_MS)).toBeLessThanOrEqual(now + 2001);
  });
  test('with a car connected its maximum is kept whatever its pilot: its user may raise it and the car follows at once', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 32);
    pilot(1, 10);
    run_at(now - 60000);
    run_at(now - 1000);
    expect(reserved(1)).toBe(10);
    member_u32(1, abi.IN_MEMBER_VEHICLE, 1);
    member_u32(1, abi.IN_MEMBER_STATE, 3);
    member_f64(1, abi.IN_MEMBER_AMP_MA, 9800);
    run_at(now);
    expect(reserved(1)).toBe(32);
    member_u32(1, abi.IN_MEMBER_VEHICLE, 0); // the car left: the pilot counts again (it did not rise)
    member_u32(1, abi.IN_MEMBER_STATE, 1);
    member_f64(1, abi.IN_MEMBER_AMP_MA, 0);
    run_at(now + 1000);
    expect(reserved(1)).toBe(10);
  });
  test('a pilot above its maximum is held to the maximum', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 16);
    pilot(1, 40);
    run_at(now - 60000);
    run_at(now);
    expect(reserved(1)).toBe(16);
  });
  test('it is reserved at least what it draws', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 32);
    pilot(1, 10);
    member_f64(1, abi.IN_MEMBER_AMP_MA, 14500);
    run_at(now - 60000);
    run_at(now);
    expect(reserved(1)).toBe(14.5);
  });
  test('offline it keeps max(peer_assumed_current, max_current), and stops no one', () => {
    reset_view(40); add_member(); add_member(); add_member();
    uncontrolled(1, 16);
    member_f64(1, abi.IN_MEMBER_LAST_SEEN_MS, now - 600000);
    started_earlier();
    run();
    expect(member_out_flags(1) & abi.MEMBER_OUT_FLAGS_ONLINE).toBe(0);
    expect(reserved(1)).toBe(16);
    expect(reason(1)).toBe(abi.REASON_RESERVED);
    expect(out_u32(abi.OUT_OFFLINE_COUNT)).toBe(0);
    expect(out_flags() & abi.OUTPUT_FLAGS_SELF_DEGRADED).toBe(0);
    expect(out_flags() & abi.OUTPUT_FLAGS_FAILSAFE_ACTIVE).toBe(0);
    expect(target(0) + target(2)).toBe(24);
  });
  test('offline with a maximum below peer_assumed_current it keeps peer_assumed_current', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 4);
    member_f64(1, abi.IN_MEMBER_MIN_CURRENT_A, 4); // the host holds the minimum to the maximum
    member_f64(1, abi.IN_MEMBER_LAST_SEEN_MS, now - 600000);
    expect(run()).toBe(abi.ERROR_OK);
    expect(reserved(1)).toBe(6);
  });
  test('never heard, it is reserved like an offline one', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 16);
    member_unflag(1, abi.MEMBER_FLAGS_LAST_SEEN);
    run();
    expect(reserved(1)).toBe(16);
  });
  test('it is no part of the quorum: a charger with only it beside it is healthy', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 16);
    member_f64(1, abi.IN_MEMBER_LAST_SEEN_MS, now - 600000);
    run();
    expect(out_flags() & abi.OUTPUT_FLAGS_NO_QUORUM).toBe(0);
    expect(out_flags() & abi.OUTPUT_FLAGS_LEFT_ALONE).toBe(0);
  });
  test('no seen-set is judged on it: a member that misses it, or an older one that lists it, is no mismatch', () => {
    reset_view(40); add_member(); add_member(); add_member();
    uncontrolled(1, 16);
    member_flag(2, abi.MEMBER_FLAGS_SEEN);
    member_u32(2, abi.IN_MEMBER_SEEN_MASK, 0b101); // hears me and itself, not the uncontrolled one
    run();
    expect(out_flags() & abi.OUTPUT_FLAGS_SEEN_MISMATCH).toBe(0);
    member_u32(2, abi.IN_MEMBER_SEEN_MASK, 0b111); // lists it too
    run();
    expect(out_flags() & abi.OUTPUT_FLAGS_SEEN_MISMATCH).toBe(0);
  });
  test('no view minimum is taken from it, and its settings are not awaited', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 16);
    set_alloc(1, 0, 0); // a vector from it (it publishes none) would give me nothing
    started_earlier();
    run();
    expect(applied()).toBe(24);
    expect(out_flags() & abi.OUTPUT_FLAGS_SETTINGS_DIFFER).toBe(0);
  });
  test('the pilot it reported and when it rose are carried: a new rise is seen across calls', () => {
    reset_view(40); add_member(); add_member();
    uncontrolled(1, 32);
    pilot(1, 10);
    run_at(now - 60000);
    run_at(now - 10000);
    expect(reserved(1)).toBe(10);
    pilot(1, 11);
    run_at(now);
    expect(reserved(1)).toBe(32);
  });
});
