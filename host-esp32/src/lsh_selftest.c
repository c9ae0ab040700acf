/* The candidate-module self-test (see lsh_selftest.h), the steps of host-node/modules/selftest.ts. */
#include "lsh_selftest.h"

#include <stdio.h>
#include <string.h>

#include "lsh_block.h"

const char lsh_err_selftest[] = "module failed the conformance self-test";

static uint8_t input[LSH_IN_SIZE];
static uint8_t expected[LSH_OUT_SIZE];
static uint8_t actual[LSH_OUT_SIZE];
static uint8_t carry[LSH_CARRY_SIZE];

static lsh_result_t trapped(lsh_runtime_t *rt, const char *name, const char *carry_kind) {
    char detail[LSH_DETAIL_BYTES];
    snprintf(detail, sizeof(detail), "%s", lsh_runtime_detail(rt));
    snprintf(rt->detail, sizeof(rt->detail), "vector %.40s%s: %.90s", name, carry_kind, detail);
    return lsh_err_selftest;
}

/* The vector's final call after its earlier ones (the same facts at each earlier time, both
 * clocks), the candidate's own carry passed along from a zero carry. */
static lsh_result_t run_vector(lsh_runtime_t *rt, const lsh_selftest_vector_t *vector) {
    memset(carry, 0, sizeof(carry));
    for (uint16_t k = 0; k < vector->earlier_count; k++) {
        memset(input, 0, sizeof(input));
        memcpy(input, vector->input, vector->input_size);
        lsh_block_set_f64(input, LSH_IN_MONO_MS, vector->earlier_ms[k]);
        lsh_block_set_f64(input, LSH_IN_WALL_MS, vector->earlier_ms[k]);
        if (lsh_runtime_compute(rt, input, carry, actual, carry) != lsh_ok) return trapped(rt, vector->name, "");
    }
    memset(input, 0, sizeof(input));
    memcpy(input, vector->input, vector->input_size);
    if (lsh_runtime_compute(rt, input, carry, actual, carry) != lsh_ok) return trapped(rt, vector->name, "");
    memset(expected, 0, sizeof(expected));
    memcpy(expected, vector->output, vector->output_size);
    for (size_t i = 0; i < LSH_OUT_SIZE; i++) {
        if (actual[i] != expected[i]) {
            snprintf(rt->detail, sizeof(rt->detail), "vector %.40s: output differs at byte %u%s", vector->name, (unsigned)i,
                     vector->earlier_count > 0 ? " (after its own carry from earlier calls)" : "");
            return lsh_err_selftest;
        }
    }
    return lsh_ok;
}

/* A carry that is not the candidate's (as selftest.ts's foreign_carries): deterministic noise
 * (xorshift32 from 0x2545f491, a corrupt block) or a block with a foreign format tag. */
static void foreign_carry(int noise) {
    memset(carry, 0, sizeof(carry));
    if (!noise) {
        lsh_block_set_u32(carry, 0, 0x4c534300u);
        return;
    }
    uint32_t x = 0x2545f491u;
    for (size_t i = 0; i < sizeof(carry); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        carry[i] = (uint8_t)x;
    }
}

/* Both foreign carries with a vector's facts: answered (no trap) and not continued. */
static lsh_result_t run_foreign_carries(lsh_runtime_t *rt, const lsh_selftest_vector_t *vector) {
    static const char *const kinds[2] = {" with a foreign carry", " with a corrupt carry"};
    for (int noise = 0; noise < 2; noise++) {
        foreign_carry(noise);
        memset(input, 0, sizeof(input));
        memcpy(input, vector->input, vector->input_size);
        if (lsh_runtime_compute(rt, input, carry, actual, carry) != lsh_ok) return trapped(rt, vector->name, kinds[noise]);
        if (lsh_block_u32(actual, LSH_OUT_CARRY_STATUS) == LSH_CARRY_STATUS_CONTINUED) {
            snprintf(rt->detail, sizeof(rt->detail), "vector %.40s%s: the carry was continued (not its own)", vector->name, kinds[noise]);
            return lsh_err_selftest;
        }
    }
    return lsh_ok;
}

lsh_result_t lsh_selftest_run(lsh_runtime_t *rt) {
    if (rt == NULL) return lsh_err_argument;
    if (!rt->loaded) return lsh_err_not_loaded;
    const lsh_selftest_vector_t *valid = NULL; /* the first vector whose answer is not an error */
    for (size_t v = 0; v < lsh_selftest_vector_count; v++) {
        const lsh_selftest_vector_t *vector = &lsh_selftest_vectors[v];
        if (vector->input_size > LSH_IN_SIZE || vector->output_size > LSH_OUT_SIZE) return lsh_err_argument;
        const lsh_result_t result = run_vector(rt, vector);
        if (result != lsh_ok) return result;
        if (valid == NULL && lsh_block_u32(expected, LSH_OUT_ERROR_CODE) == LSH_ERROR_OK) valid = vector;
    }
    if (valid == NULL) {
        snprintf(rt->detail, sizeof(rt->detail), "no self-test vector with a valid group: the carry check cannot run");
        return lsh_err_selftest;
    }
    const lsh_result_t result = run_foreign_carries(rt, valid);
    if (result != lsh_ok) return result;
    rt->detail[0] = '\0';
    return lsh_ok;
}
