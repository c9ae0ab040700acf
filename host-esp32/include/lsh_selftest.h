/* The self-test a candidate module must pass before the firmware lets it decide (as
 * host-node/modules/selftest.ts): every policy-independent conformance vector, byte for byte,
 * under wasm3 — a vector with earlier calls (earlier_ms) runs them first with the same facts
 * at each earlier time, the candidate's own carry passed from call to call (the carry round
 * trip) — and a corrupt and a foreign carry answered without a trap and not continued. A
 * module that never returns cannot be stopped here (wasm3 cannot interrupt a loop without
 * calls): the task watchdog contains it (docs/esp32.md). Not reentrant: it uses static block
 * buffers, off the task stack. */
#ifndef LSH_SELFTEST_H
#define LSH_SELFTEST_H

#include <stddef.h>
#include <stdint.h>

#include "lsh_result.h"
#include "lsh_runtime.h"

typedef struct lsh_selftest_vector {
    const char *name;
    uint16_t input_size;  /* bytes stored; the rest of the input block is zero */
    uint16_t output_size; /* bytes stored; the rest of the output block is zero */
    const uint8_t *input;
    const uint8_t *output;
    uint16_t earlier_count;    /* calls made before the one compared (0: the first call, zero carry) */
    const double *earlier_ms;  /* their times (mono_ms and wall_ms both), oldest first */
} lsh_selftest_vector_t;

extern const lsh_selftest_vector_t lsh_selftest_vectors[];
extern const size_t lsh_selftest_vector_count;

/* lsh_ok when every vector matches and both foreign carries are refused; lsh_err_selftest with
 * the vector and the first differing byte (or the trap) in the runtime's detail otherwise. */
lsh_result_t lsh_selftest_run(lsh_runtime_t *rt);

#endif /* LSH_SELFTEST_H */
