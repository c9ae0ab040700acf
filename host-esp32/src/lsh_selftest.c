/* The candidate-module self-test (see lsh_selftest.h). */
#include "lsh_selftest.h"

#include <stdio.h>
#include <string.h>

const char lsh_err_selftest[] = "module failed the conformance self-test";

lsh_result_t lsh_selftest_run(lsh_runtime_t *rt) {
    static uint8_t input[LSH_IN_SIZE];
    static uint8_t expected[LSH_OUT_SIZE];
    static uint8_t actual[LSH_OUT_SIZE];
    if (rt == NULL) return lsh_err_argument;
    if (!rt->loaded) return lsh_err_not_loaded;
    for (size_t v = 0; v < lsh_selftest_vector_count; v++) {
        const lsh_selftest_vector_t *vector = &lsh_selftest_vectors[v];
        if (vector->input_size > LSH_IN_SIZE || vector->output_size > LSH_OUT_SIZE) return lsh_err_argument;
        memset(input, 0, sizeof(input));
        memcpy(input, vector->input, vector->input_size);
        memset(expected, 0, sizeof(expected));
        memcpy(expected, vector->output, vector->output_size);
        const lsh_result_t result = lsh_runtime_compute(rt, input, actual);
        if (result != lsh_ok) {
            char detail[LSH_DETAIL_BYTES];
            snprintf(detail, sizeof(detail), "%s", lsh_runtime_detail(rt));
            snprintf(rt->detail, sizeof(rt->detail), "vector %.40s: %.100s", vector->name, detail);
            return lsh_err_selftest;
        }
        for (size_t i = 0; i < LSH_OUT_SIZE; i++) {
            if (actual[i] != expected[i]) {
                snprintf(rt->detail, sizeof(rt->detail), "vector %.40s: output differs at byte %u", vector->name, (unsigned)i);
                return lsh_err_selftest;
            }
        }
    }
    rt->detail[0] = '\0';
    return lsh_ok;
}
