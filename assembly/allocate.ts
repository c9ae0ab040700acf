// Rule 4: this charger's view of everyone's share. Reads like a table of contents:
// allocate() orders the candidates, sets their bounds, then fills the budget.
import {
  MEMBERS_MAX,
  IN_WALL_MS, IN_ROTATION_INTERVAL_S,
  IN_MEMBER_ID, IN_MEMBER_ID_LEN, IN_MEMBER_PRIORITY, IN_MEMBER_FLAGS, IN_MEMBER_MIN_CURRENT_A,
  IN_MEMBER_MAX_CURRENT_A, IN_MEMBER_DEMAND_CAP_A, MEMBER_FLAGS_DEMAND_CAP,
  OUT_MEMBER_TARGET_CURRENT_A, OUT_MEMBER_REASON, OUT_MEMBER_SORT_RANK,
  MEMBER_OUT_FLAGS_ONLINE, MEMBER_OUT_FLAGS_DEGRADED, MEMBER_OUT_FLAGS_DEMANDING,
  REASON_IDLE, REASON_EQUAL_SHARE, REASON_CAPPED_MAX, REASON_DEMAND_CAP, REASON_MIN_SUBSET,
  REASON_INSUFFICIENT, REASON_OFFLINE, REASON_RESERVED, MEMBER_OUT_FLAGS_UNCONTROLLED,
} from './abi';
import {
  in_f64, member_in, member_out, state_of, min_of, cap_of, order_at, compare_ids,
  scratch_order, scratch_min_a, scratch_cap_a, scratch_level_a, scratch_points,
} from './blocks';

// Candidate bit in the per-call selection masks below.
function bit(i: i32): u32 { return <u32>1 << <u32>i; }

function member_before(a: i32, b: i32): bool {
  const ma = member_in(a);
  const mb = member_in(b);
  const pa = load<i32>(ma + <usize>IN_MEMBER_PRIORITY);
  const pb = load<i32>(mb + <usize>IN_MEMBER_PRIORITY);
  if (pa != pb) return pa < pb;
  const ca = compare_ids(ma + <usize>IN_MEMBER_ID, <i32>load<u32>(ma + <usize>IN_MEMBER_ID_LEN),
    mb + <usize>IN_MEMBER_ID, <i32>load<u32>(mb + <usize>IN_MEMBER_ID_LEN));
  return ca < 0;
}

// Goal: the order in which candidates are served. How: insertion sort by (priority, id),
// then each run of equal priority is rotated by the rotation epoch (floor(wall clock /
// interval), aligned to the Unix epoch: the one rule that reads the wall clock). Why: every
// charger computes the same order without talking, and equal-priority members take turns
// when there is not enough for everyone. A wrong wall clock only changes whose turn it is.
function order_candidates(candidates: u32, count: i32, rotate: bool): i32 {
  let n = 0;
  for (let i = 0; i < count; i++) {
    if ((candidates & bit(i)) == 0) continue;
    let j = n;
    while (j > 0 && member_before(i, order_at(j - 1))) {
      store<i32>(scratch_order + <usize>(j * 4), order_at(j - 1));
      j--;
    }
    store<i32>(scratch_order + <usize>(j * 4), i);
    n++;
  }
  const interval_s = in_f64(IN_ROTATION_INTERVAL_S);
  if (!rotate || interval_s <= 0 || n < 2) return n;
  const epoch = Math.floor(in_f64(IN_WALL_MS) / (interval_s * 1000));
  let run_start = 0;
  while (run_start < n) {
    const priority = load<i32>(member_in(order_at(run_start)) + <usize>IN_MEMBER_PRIORITY);
    let run_end = run_start + 1;
    while (run_end < n && load<i32>(member_in(order_at(run_end)) + <usize>IN_MEMBER_PRIORITY) == priority) run_end++;
    rotate_run(run_start, run_end, epoch);
    run_start = run_end;
  }
  return n;
}

// Rotates order[start..end) left by epoch mod length, using scratch_level_a as a buffer.
function rotate_run(start: i32, end: i32, epoch: f64): void {
  const length = end - start;
  if (length < 2) return;
  const shift = <i32>(epoch - Math.floor(epoch / <f64>length) * <f64>length);
  if (shift == 0) return;
  for (let k = 0; k < length; k++) store<i32>(scratch_level_a + <usize>(k * 4), order_at(start + k));
  for (let k = 0; k < length; k++) {
    const from = (k + shift) % length;
    store<i32>(scratch_order + <usize>((start + k) * 4), load<i32>(scratch_level_a + <usize>(from * 4)));
  }
}

// Whole-amp bounds: minimum rounded up (a car cannot charge below it), cap rounded down
// (max_current, lowered by the demand cap, never below the minimum). Returns true when the
// demand cap is what binds. When no whole amp lies in [min, max] (say both 6.5 A) the cap
// ends below the minimum and the caller cannot serve the member.
function set_bounds(i: i32): bool {
  const m = member_in(i);
  const min_a = Math.ceil(load<f64>(m + <usize>IN_MEMBER_MIN_CURRENT_A));
  let cap_a = Math.floor(load<f64>(m + <usize>IN_MEMBER_MAX_CURRENT_A));
  let by_demand = false;
  if ((load<u32>(m + <usize>IN_MEMBER_FLAGS) & MEMBER_FLAGS_DEMAND_CAP) != 0) {
    const demand_a = Math.max(min_a, Math.floor(load<f64>(m + <usize>IN_MEMBER_DEMAND_CAP_A)));
    if (demand_a < cap_a) { cap_a = demand_a; by_demand = true; }
  }
  store<f64>(scratch_min_a + <usize>(i * 8), min_a);
  store<f64>(scratch_cap_a + <usize>(i * 8), cap_a);
  return by_demand;
}

function clamp_level(level_a: f64, i: i32): f64 {
  return Math.min(cap_of(i), Math.max(min_of(i), level_a));
}

function filled_at(level_a: f64, selected: u32, count: i32): f64 {
  let sum_a: f64 = 0;
  for (let i = 0; i < count; i++) if ((selected & bit(i)) != 0) sum_a += clamp_level(level_a, i);
  return sum_a;
}

// Goal: the highest common level L with sum(clamp(L, min_i, cap_i)) <= budget. How: the sum
// is piecewise linear in L with breakpoints at every min and cap; find the segment where it
// crosses the budget and solve it exactly. Why exact: every host must get the same amps.
// Precondition: sum of minimums <= budget.
function water_level_a(selected: u32, count: i32, budget_a: f64): f64 {
  let n = 0;
  for (let i = 0; i < count; i++) {
    if ((selected & bit(i)) == 0) continue;
    n = insert_point(n, min_of(i));
    n = insert_point(n, cap_of(i));
  }
  if (n == 0) return 0;
  const top_a = load<f64>(scratch_points + <usize>((n - 1) * 8));
  if (filled_at(top_a, selected, count) <= budget_a) return top_a;
  let low_a = load<f64>(scratch_points);
  for (let k = 1; k < n; k++) {
    const high_a = load<f64>(scratch_points + <usize>(k * 8));
    if (filled_at(high_a, selected, count) > budget_a) {
      let slope: f64 = 0;
      for (let i = 0; i < count; i++) {
        if ((selected & bit(i)) != 0 && min_of(i) <= low_a && cap_of(i) > low_a) slope += 1;
      }
      if (slope == 0) return low_a;
      return Math.min(high_a, low_a + (budget_a - filled_at(low_a, selected, count)) / slope);
    }
    low_a = high_a;
  }
  return top_a;
}

function insert_point(n: i32, value: f64): i32 {
  let j = n;
  while (j > 0 && load<f64>(scratch_points + <usize>((j - 1) * 8)) > value) {
    store<f64>(scratch_points + <usize>(j * 8), load<f64>(scratch_points + <usize>((j - 1) * 8)));
    j--;
  }
  store<f64>(scratch_points + <usize>(j * 8), value);
  return n + 1;
}

// Goal: whole amps that sum to at most floor(budget). How: each selected member gets
// floor(clamp(L)); the amps left over go one each to the largest fractional parts, ties in
// allocation order, never above a cap. Writes targets; reasons are set by the caller.
function fill(selected: u32, count: i32, order_count: i32, budget_a: f64): f64 {
  const level_a = water_level_a(selected, count, budget_a);
  let sum_a: f64 = 0;
  for (let k = 0; k < order_count; k++) {
    const i = order_at(k);
    if ((selected & bit(i)) == 0) continue;
    const real_a = clamp_level(level_a, i);
    store<f64>(scratch_level_a + <usize>(i * 8), real_a);
    const whole_a = Math.floor(real_a);
    store<f64>(member_out(i) + <usize>OUT_MEMBER_TARGET_CURRENT_A, whole_a);
    sum_a += whole_a;
  }
  let given: u32 = 0;
  let left = <i32>Math.max(0, Math.floor(budget_a) - sum_a);
  if (left > MEMBERS_MAX) left = MEMBERS_MAX;
  for (let round = 0; round < left; round++) {
    let best = -1;
    let best_fraction: f64 = 0;
    for (let k = 0; k < order_count; k++) {
      const i = order_at(k);
      if ((selected & bit(i)) == 0 || (given & bit(i)) != 0) continue;
      const whole_a = load<f64>(member_out(i) + <usize>OUT_MEMBER_TARGET_CURRENT_A);
      const fraction = load<f64>(scratch_level_a + <usize>(i * 8)) - whole_a;
      if (fraction > best_fraction && whole_a + 1 <= cap_of(i)) { best = i; best_fraction = fraction; }
    }
    if (best < 0) break;
    given |= bit(best);
    const out = member_out(best) + <usize>OUT_MEMBER_TARGET_CURRENT_A;
    store<f64>(out, load<f64>(out) + 1);
    sum_a += 1;
  }
  return level_a;
}

// The allocation policy is fixed at compile time (asc --use LOADSHARE_POLICY=N, see
// asconfig.json): 0 equal share (the default module), 1 priority first (a second, signed
// module for the hot-swap pipeline). Dead branches are compiled away.
const policy_priority_first = 1;

// Priority first: every candidate gets its minimum; what is left fills the lowest priority
// number first (water-filled within each priority), then the next priority, and so on.
function fill_by_priority(n: i32, count: i32, surplus_a: f64): void {
  let remaining_a = surplus_a;
  let run_start = 0;
  while (run_start < n) {
    const priority = load<i32>(member_in(order_at(run_start)) + <usize>IN_MEMBER_PRIORITY);
    let run: u32 = 0;
    let run_min_a: f64 = 0;
    let run_end = run_start;
    while (run_end < n && load<i32>(member_in(order_at(run_end)) + <usize>IN_MEMBER_PRIORITY) == priority) {
      run |= bit(order_at(run_end));
      run_min_a += min_of(order_at(run_end));
      run_end++;
    }
    fill(run, count, n, run_min_a + remaining_a);
    let used_a: f64 = 0;
    for (let k = run_start; k < run_end; k++) used_a += load<f64>(member_out(order_at(k)) + <usize>OUT_MEMBER_TARGET_CURRENT_A);
    remaining_a = Math.max(0, remaining_a - (used_a - run_min_a));
    run_start = run_end;
  }
}

// With one priority level priority-first is equal share: the same code path decides, so the
// two policies answer byte-identical blocks for such groups (the self-test relies on it).
function priorities_differ(n: i32): bool {
  if (n < 2) return false;
  return load<i32>(member_in(order_at(0)) + <usize>IN_MEMBER_PRIORITY) != load<i32>(member_in(order_at(n - 1)) + <usize>IN_MEMBER_PRIORITY);
}

function mark_sufficient(n: i32, by_demand: u32): void {
  for (let k = 0; k < n; k++) {
    const i = order_at(k);
    const target_a = load<f64>(member_out(i) + <usize>OUT_MEMBER_TARGET_CURRENT_A);
    let reason = REASON_EQUAL_SHARE;
    if (target_a >= cap_of(i) && cap_of(i) > min_of(i)) reason = (by_demand & bit(i)) != 0 ? REASON_DEMAND_CAP : REASON_CAPPED_MAX;
    store<u32>(member_out(i) + <usize>OUT_MEMBER_REASON, reason);
  }
}

// Reasons for members that are not candidates: offline, reserved (degraded) or idle.
function mark_non_candidates(count: i32): void {
  for (let i = 0; i < count; i++) {
    const state = state_of(i);
    const out = member_out(i);
    // A charger without load sharing is reserved, online or not, never idle (rule 3).
    if ((state & MEMBER_OUT_FLAGS_UNCONTROLLED) != 0) store<u32>(out + <usize>OUT_MEMBER_REASON, REASON_RESERVED);
    else if ((state & MEMBER_OUT_FLAGS_ONLINE) == 0) store<u32>(out + <usize>OUT_MEMBER_REASON, REASON_OFFLINE);
    else if ((state & MEMBER_OUT_FLAGS_DEGRADED) != 0) store<u32>(out + <usize>OUT_MEMBER_REASON, REASON_RESERVED);
    else store<u32>(out + <usize>OUT_MEMBER_REASON, REASON_IDLE);
    store<f64>(out + <usize>OUT_MEMBER_TARGET_CURRENT_A, 0);
  }
}

// The allocation. Candidates are online, not degraded (self counts as not degraded here; its
// own failsafe applies later) and demanding. Returns the sum of whole amps allocated.
// rotate = false orders by (priority, id) alone. canonical = true (with rotate = false) is the
// canonical allocation, which every member computes alike whatever its wall clock says and
// whatever policy its module allocates by (decide.ts bounds what a charger keeps by it): equal
// share, so that a group running two modules mid-rollout still has canonical shares that sum
// to at most the budget (fuzz seed 12611630: after a lower limit the priority-first member
// kept 10 A of 16 A by its canonical allocation and the equal-share member 8 A by its own).
export function allocate(count: i32, budget_a: f64, rotate: bool = true, canonical: bool = false): f64 {
  mark_non_candidates(count);
  let candidates: u32 = 0;
  let by_demand: u32 = 0;
  let minimums_a: f64 = 0;
  for (let i = 0; i < count; i++) {
    const state = state_of(i);
    if ((state & MEMBER_OUT_FLAGS_ONLINE) == 0 || (state & MEMBER_OUT_FLAGS_DEGRADED) != 0) continue;
    if ((state & MEMBER_OUT_FLAGS_DEMANDING) == 0 || (state & MEMBER_OUT_FLAGS_UNCONTROLLED) != 0) continue;
    if (set_bounds(i)) by_demand |= bit(i);
    if (cap_of(i) < min_of(i)) {
      store<u32>(member_out(i) + <usize>OUT_MEMBER_REASON, REASON_INSUFFICIENT);
      continue;
    }
    candidates |= bit(i);
    minimums_a += min_of(i);
  }
  const n = order_candidates(candidates, count, rotate);
  for (let k = 0; k < n; k++) store<u32>(member_out(order_at(k)) + <usize>OUT_MEMBER_SORT_RANK, <u32>k);
  if (n == 0) return 0;
  if (minimums_a <= budget_a && LOADSHARE_POLICY == policy_priority_first && !canonical && priorities_differ(n)) {
    fill_by_priority(n, count, budget_a - minimums_a);
    mark_sufficient(n, by_demand);
  } else if (minimums_a <= budget_a) {
    const level_a = fill(candidates, count, n, budget_a);
    for (let k = 0; k < n; k++) {
      const i = order_at(k);
      let reason = REASON_EQUAL_SHARE;
      if (cap_of(i) < level_a || (cap_of(i) == level_a && level_a > min_of(i))) {
        reason = (by_demand & bit(i)) != 0 ? REASON_DEMAND_CAP : REASON_CAPPED_MAX;
      }
      store<u32>(member_out(i) + <usize>OUT_MEMBER_REASON, reason);
    }
  } else {
    // Scarcity: minimums in order while the budget lasts; what is left over (less than the
    // next minimum) is shared by the members that got one.
    let selected: u32 = 0;
    let remaining_a = budget_a;
    for (let k = 0; k < n; k++) {
      const i = order_at(k);
      if (min_of(i) <= remaining_a) {
        selected |= bit(i);
        remaining_a -= min_of(i);
        store<u32>(member_out(i) + <usize>OUT_MEMBER_REASON, REASON_MIN_SUBSET);
      } else {
        store<u32>(member_out(i) + <usize>OUT_MEMBER_REASON, REASON_INSUFFICIENT);
      }
    }
    if (selected != 0) fill(selected, count, n, budget_a);
  }
  let sum_a: f64 = 0;
  for (let i = 0; i < count; i++) sum_a += load<f64>(member_out(i) + <usize>OUT_MEMBER_TARGET_CURRENT_A);
  return sum_a;
}
