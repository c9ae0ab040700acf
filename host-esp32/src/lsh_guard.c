/* The result guard; the same checks, in the same order, as host-node/guard.ts. */
#include "lsh_guard.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lsh_block.h"

static const double epsilon_a = 1e-9;

static int broken(char *reason_out, size_t reason_size, const char *format, ...) {
    if (reason_out != NULL && reason_size > 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(reason_out, reason_size, format, args);
        va_end(args);
    }
    return 1;
}

double lsh_guard_fallback_current_a(const uint8_t input_block[LSH_IN_SIZE], double previous_applied_a) {
    if (lsh_block_u32(input_block, LSH_IN_FAILSAFE_MODE) == LSH_FAILSAFE_MODE_DISABLE) return 0.0;
    const double safe_a = floor(lsh_block_f64(input_block, LSH_IN_FAILSAFE_SAFE_CURRENT_A));
    const double previous_a = isfinite(previous_applied_a) ? previous_applied_a : 0.0;
    const double fallback_a = safe_a < previous_a ? safe_a : previous_a;
    return isfinite(fallback_a) && fallback_a > 0.0 ? fallback_a : 0.0;
}

static uint32_t member_count_of(const uint8_t input_block[LSH_IN_SIZE]) {
    const uint32_t count = lsh_block_u32(input_block, LSH_IN_MEMBER_COUNT);
    return count > LSH_MEMBERS_MAX ? LSH_MEMBERS_MAX : count;
}

static int check_numbers(const uint8_t *in, const uint8_t *out, char *reason_out, size_t reason_size) {
    static const struct { const char *name; uint32_t offset; } fields[] = {
        {"target_current", LSH_OUT_SELF_TARGET_CURRENT_A}, {"applied_current", LSH_OUT_SELF_APPLIED_CURRENT_A},
        {"budget_current", LSH_OUT_BUDGET_CURRENT_A},      {"effective_limit", LSH_OUT_EFFECTIVE_LIMIT_A},
    };
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
        const double value = lsh_block_f64(out, fields[f].offset);
        if (!isfinite(value)) return broken(reason_out, reason_size, "%s is not a number", fields[f].name);
        if (value < 0.0) return broken(reason_out, reason_size, "%s is negative", fields[f].name);
    }
    const uint32_t count = member_count_of(in);
    for (uint32_t i = 0; i < count; i++) {
        const double value = lsh_block_f64(out, LSH_OUT_MEMBER_BASE + i * LSH_OUT_MEMBER_STRIDE + LSH_OUT_MEMBER_TARGET_CURRENT_A);
        if (!isfinite(value)) return broken(reason_out, reason_size, "allocation of member %u is not a number", (unsigned)i);
        if (value < 0.0) return broken(reason_out, reason_size, "allocation of member %u is negative", (unsigned)i);
    }
    return 0;
}

int lsh_guard_check(const uint8_t input_block[LSH_IN_SIZE], const uint8_t output_block[LSH_OUT_SIZE],
                    char *reason_out, size_t reason_size) {
    const uint8_t *in = input_block;
    const uint8_t *out = output_block;
    if (reason_out != NULL && reason_size > 0) reason_out[0] = '\0';
    if (check_numbers(in, out, reason_out, reason_size)) return 1;
    const double target_a = lsh_block_f64(out, LSH_OUT_SELF_TARGET_CURRENT_A);
    const double applied_a = lsh_block_f64(out, LSH_OUT_SELF_APPLIED_CURRENT_A);
    const double budget_a = lsh_block_f64(out, LSH_OUT_BUDGET_CURRENT_A);
    const double effective_limit_a = lsh_block_f64(out, LSH_OUT_EFFECTIVE_LIMIT_A);
    if (applied_a > target_a + epsilon_a) return broken(reason_out, reason_size, "applied above target");
    if (applied_a != floor(applied_a)) return broken(reason_out, reason_size, "applied current is not whole amps");
    const double own_limit_a = lsh_block_f64(in, LSH_IN_GROUP_MAX_CURRENT_A) * lsh_block_f64(in, LSH_IN_SAFETY_FACTOR);
    if (effective_limit_a > own_limit_a + epsilon_a) return broken(reason_out, reason_size, "effective limit above the configured limit");
    if (budget_a > effective_limit_a + epsilon_a) return broken(reason_out, reason_size, "budget above the effective limit");
    const uint32_t count = member_count_of(in);
    double sum_a = 0.0;
    for (uint32_t i = 0; i < count; i++) {
        sum_a += lsh_block_f64(out, LSH_OUT_MEMBER_BASE + i * LSH_OUT_MEMBER_STRIDE + LSH_OUT_MEMBER_TARGET_CURRENT_A);
    }
    if (sum_a > budget_a + epsilon_a) {
        return broken(reason_out, reason_size, "allocations sum %g A above budget %g A", sum_a, budget_a);
    }
    for (uint32_t i = 0; i < count; i++) {
        const double alloc_a = lsh_block_f64(out, LSH_OUT_MEMBER_BASE + i * LSH_OUT_MEMBER_STRIDE + LSH_OUT_MEMBER_TARGET_CURRENT_A);
        const double max_a = floor(lsh_block_f64(in, LSH_IN_MEMBER_BASE + i * LSH_IN_MEMBER_STRIDE + LSH_IN_MEMBER_MAX_CURRENT_A));
        if (alloc_a > max_a + epsilon_a) return broken(reason_out, reason_size, "allocation of member %u above its max_current", (unsigned)i);
    }
    if ((lsh_block_u32(out, LSH_OUT_FLAGS) & LSH_OUTPUT_FLAGS_SELF_DEGRADED) != 0) {
        /* A degraded charger charges at most at its failsafe current, which every other member
         * reserves for it; its own budget does not bound it (docs/protocol.md, rule 9). */
        const double limit_a = lsh_block_u32(in, LSH_IN_FAILSAFE_MODE) == LSH_FAILSAFE_MODE_DISABLE
                                   ? 0.0 : lsh_block_f64(in, LSH_IN_FAILSAFE_SAFE_CURRENT_A);
        if (applied_a > limit_a + epsilon_a) return broken(reason_out, reason_size, "degraded but above the failsafe current");
    } else if (applied_a > budget_a + epsilon_a) {
        return broken(reason_out, reason_size, "applied above budget");
    }
    return 0;
}

static void trip(lsh_guard_verdict_t *verdict, double applied_a, const char *format, const char *what, const char *detail) {
    verdict->tripped = 1;
    verdict->applied_a = applied_a;
    verdict->target_a = applied_a;
    snprintf(verdict->reason, sizeof(verdict->reason), format, what, detail);
}

void lsh_guard_decide(lsh_result_t compute_result, const char *compute_detail,
                      const uint8_t input_block[LSH_IN_SIZE], const uint8_t output_block[LSH_OUT_SIZE],
                      double previous_applied_a, lsh_guard_verdict_t *verdict_out) {
    memset(verdict_out, 0, sizeof(*verdict_out));
    const double fallback_a = lsh_guard_fallback_current_a(input_block, previous_applied_a);
    const char *detail = compute_detail != NULL ? compute_detail : "";
    if (compute_result != lsh_ok) {
        trip(verdict_out, fallback_a, "module trapped: %s (%s)", compute_result, detail);
        return;
    }
    const uint32_t error_code = lsh_block_u32(output_block, LSH_OUT_ERROR_CODE);
    if (error_code != LSH_ERROR_OK) {
        /* The core refused the view and answered its own safe default (0 A), as Node keeps it;
         * anything else it answered is not trusted above the fallback. */
        const double core_a = lsh_block_f64(output_block, LSH_OUT_SELF_APPLIED_CURRENT_A);
        const double applied_a = isfinite(core_a) && core_a >= 0.0 && core_a < fallback_a ? floor(core_a) : fallback_a;
        const char *name = error_code < LSH_ERROR_COUNT ? LSH_ERROR_NAMES[error_code] : "bad_enum";
        trip(verdict_out, applied_a, "core refused the view: %s%s", name, "");
        return;
    }
    char reason[LSH_DETAIL_BYTES - 32u]; /* room for the "invariant broken: " prefix */
    if (lsh_guard_check(input_block, output_block, reason, sizeof(reason))) {
        trip(verdict_out, fallback_a, "invariant broken: %s%s", reason, "");
        return;
    }
    verdict_out->tripped = 0;
    verdict_out->applied_a = lsh_block_f64(output_block, LSH_OUT_SELF_APPLIED_CURRENT_A);
    verdict_out->target_a = lsh_block_f64(output_block, LSH_OUT_SELF_TARGET_CURRENT_A);
}
