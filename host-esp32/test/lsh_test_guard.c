/* Guard tests on real blocks: a vector's valid output passes; each broken invariant is caught
 * with its reason (the same reasons as host-node/guard.ts); the fallback never exceeds what is
 * applied. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lsh_block.h"
#include "lsh_guard.h"
#include "lsh_test.h"
#include "lsh_test_files.h"

static uint8_t in[LSH_IN_SIZE];
static uint8_t good[LSH_OUT_SIZE];
static uint8_t out[LSH_OUT_SIZE];

static uint32_t member_target(uint32_t i) {
    return LSH_OUT_MEMBER_BASE + i * LSH_OUT_MEMBER_STRIDE + LSH_OUT_MEMBER_TARGET_CURRENT_A;
}

static void expect_broken(const char *what, const char *reason_contains) {
    char reason[LSH_DETAIL_BYTES];
    const int is_broken = lsh_guard_check(in, out, reason, sizeof(reason));
    LSH_CHECK(is_broken && strstr(reason, reason_contains) != NULL, "guard: %s is caught (reason \"%s\", expected \"%s\")",
              what, reason, reason_contains);
    lsh_guard_verdict_t verdict;
    lsh_guard_decide(lsh_ok, "", in, out, 20.0, &verdict);
    LSH_CHECK(verdict.tripped && verdict.applied_a == 6.0 && strstr(verdict.reason, "invariant broken") != NULL,
              "guard: %s gives the failsafe 6 A (got %g A)", what, verdict.applied_a);
    memcpy(out, good, sizeof(out));
}

void lsh_test_guard(void) {
    char in_path[1024];
    char out_path[1024];
    snprintf(in_path, sizeof(in_path), "%s/test/vectors/plan-8.3-3-three-sufficient.in.hex", lsh_test_root);
    snprintf(out_path, sizeof(out_path), "%s/test/vectors/plan-8.3-3-three-sufficient.out.hex", lsh_test_root);
    const int read_ok = lsh_file_read_hex(in_path, in, sizeof(in)) && lsh_file_read_hex(out_path, good, sizeof(good));
    LSH_CHECK(read_ok, "guard: read vector plan-8.3-3-three-sufficient");
    if (!read_ok) return;
    LSH_CHECK(lsh_block_u32(in, LSH_IN_FAILSAFE_MODE) == LSH_FAILSAFE_MODE_SAFE_CURRENT &&
              lsh_block_f64(in, LSH_IN_FAILSAFE_SAFE_CURRENT_A) == 6.0, "guard: the vector runs safe_current mode at 6 A");
    memcpy(out, good, sizeof(out));
    char reason[LSH_DETAIL_BYTES];
    LSH_CHECK(lsh_guard_check(in, out, reason, sizeof(reason)) == 0, "guard: a vector's output passes (%s)", reason);
    lsh_guard_verdict_t verdict;
    lsh_guard_decide(lsh_ok, "", in, out, 0.0, &verdict);
    LSH_CHECK(!verdict.tripped && verdict.applied_a == lsh_block_f64(good, LSH_OUT_SELF_APPLIED_CURRENT_A),
              "guard: a good output is applied as computed (%g A)", verdict.applied_a);

    const double target_a = lsh_block_f64(good, LSH_OUT_SELF_TARGET_CURRENT_A);
    const double budget_a = lsh_block_f64(good, LSH_OUT_BUDGET_CURRENT_A);
    lsh_block_set_f64(out, LSH_OUT_SELF_APPLIED_CURRENT_A, target_a + 1);
    expect_broken("applied above target", "applied above target");
    lsh_block_set_f64(out, LSH_OUT_SELF_APPLIED_CURRENT_A, 5.5);
    expect_broken("fractional amps", "not whole amps");
    lsh_block_set_f64(out, LSH_OUT_BUDGET_CURRENT_A, NAN);
    expect_broken("a NaN budget", "budget_current is not a number");
    lsh_block_set_f64(out, member_target(1), -1);
    expect_broken("a negative allocation", "is negative");
    lsh_block_set_f64(out, LSH_OUT_EFFECTIVE_LIMIT_A, 1000);
    expect_broken("an effective limit above the configured one", "effective limit above the configured limit");
    lsh_block_set_f64(out, LSH_OUT_BUDGET_CURRENT_A, lsh_block_f64(good, LSH_OUT_EFFECTIVE_LIMIT_A) + 1);
    expect_broken("a budget above the effective limit", "budget above the effective limit");
    lsh_block_set_f64(out, member_target(0), budget_a);
    expect_broken("allocations above the budget", "above budget");
    const double max_a = lsh_block_f64(in, LSH_IN_MEMBER_BASE + 2u * LSH_IN_MEMBER_STRIDE + LSH_IN_MEMBER_MAX_CURRENT_A);
    lsh_block_set_f64(out, LSH_OUT_BUDGET_CURRENT_A, lsh_block_f64(good, LSH_OUT_EFFECTIVE_LIMIT_A));
    lsh_block_set_f64(out, LSH_OUT_SELF_APPLIED_CURRENT_A, 0);
    lsh_block_set_f64(out, member_target(2), max_a + 1);
    lsh_block_set_f64(out, member_target(0), 0);
    lsh_block_set_f64(out, member_target(1), 0);
    expect_broken("an allocation above max_current", "above its max_current");
    lsh_block_set_u32(out, LSH_OUT_FLAGS, lsh_block_u32(good, LSH_OUT_FLAGS) | LSH_OUTPUT_FLAGS_SELF_DEGRADED);
    lsh_block_set_f64(out, LSH_OUT_SELF_APPLIED_CURRENT_A, 7);
    lsh_block_set_f64(out, LSH_OUT_SELF_TARGET_CURRENT_A, 7);
    expect_broken("degraded above the failsafe", "degraded but above the failsafe current");

    /* The fallback: never above what is applied, 0 in disable mode, 0 for nonsense. */
    LSH_CHECK(lsh_guard_fallback_current_a(in, 20) == 6, "guard: fallback 6 A from 20 A");
    LSH_CHECK(lsh_guard_fallback_current_a(in, 4) == 4, "guard: fallback never raises 4 A to 6 A");
    LSH_CHECK(lsh_guard_fallback_current_a(in, NAN) == 0, "guard: fallback from an unknown current is 0 A");
    static uint8_t disable_in[LSH_IN_SIZE];
    memcpy(disable_in, in, sizeof(disable_in));
    lsh_block_set_u32(disable_in, LSH_IN_FAILSAFE_MODE, LSH_FAILSAFE_MODE_DISABLE);
    LSH_CHECK(lsh_guard_fallback_current_a(disable_in, 20) == 0, "guard: disable mode falls to 0 A");

    lsh_guard_decide(lsh_err_trap, "compute(): [trap] unreachable executed", in, good, 20, &verdict);
    LSH_CHECK(verdict.tripped && verdict.applied_a == 6 && strstr(verdict.reason, "unreachable") != NULL,
              "guard: a trap gives the failsafe with wasm3's message (%s)", verdict.reason);
    memcpy(out, good, sizeof(out));
    lsh_block_set_u32(out, LSH_OUT_ERROR_CODE, LSH_ERROR_MEMBER_COUNT);
    lsh_block_set_f64(out, LSH_OUT_SELF_APPLIED_CURRENT_A, 0);
    lsh_guard_decide(lsh_ok, "", in, out, 20, &verdict);
    LSH_CHECK(verdict.tripped && verdict.applied_a == 0 && strstr(verdict.reason, "core refused the view: member_count") != NULL,
              "guard: an error code keeps the core's 0 A (%g A, %s)", verdict.applied_a, verdict.reason);
    lsh_block_set_f64(out, LSH_OUT_SELF_APPLIED_CURRENT_A, 40);
    lsh_guard_decide(lsh_ok, "", in, out, 20, &verdict);
    LSH_CHECK(verdict.tripped && verdict.applied_a == 6, "guard: an error code with a high answer is not believed (%g A)", verdict.applied_a);
}
