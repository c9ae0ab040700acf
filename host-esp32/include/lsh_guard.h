/* The result guard (mirrors host-node/guard.ts): the core's invariants re-checked after every
 * call. A trap, an error code or a broken invariant gives the failsafe current at once, never
 * above what this charger already applies (an increase needs the protocol's permission, which
 * a broken module cannot give), and a reason for the log. */
#ifndef LSH_GUARD_H
#define LSH_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "lsh_abi.h"
#include "lsh_result.h"
#include "lsh_runtime.h"

typedef struct lsh_guard_verdict {
    int tripped;       /* 1: the module's answer was not used as is */
    double applied_a;  /* what this charger may apply now (whole amps) */
    double target_a;
    char reason[LSH_DETAIL_BYTES]; /* why it tripped ("" otherwise) */
} lsh_guard_verdict_t;

/* 0 A in disable mode, else the failsafe current, never above previous_applied_a. */
double lsh_guard_fallback_current_a(const uint8_t input_block[LSH_IN_SIZE], double previous_applied_a);

/* Returns 1 and a description of the first broken invariant, or 0 when the output holds. */
int lsh_guard_check(const uint8_t input_block[LSH_IN_SIZE], const uint8_t output_block[LSH_OUT_SIZE],
                    char *reason_out, size_t reason_size);

/* Decides what to apply from one compute: compute_result is what lsh_runtime_compute returned,
 * compute_detail its detail sentence. */
void lsh_guard_decide(lsh_result_t compute_result, const char *compute_detail,
                      const uint8_t input_block[LSH_IN_SIZE], const uint8_t output_block[LSH_OUT_SIZE],
                      double previous_applied_a, lsh_guard_verdict_t *verdict_out);

#endif /* LSH_GUARD_H */
