/* The bench's synthetic group, shared by lsh_bench (native), lsh_rv32_measure and lsh_rv32_aot
 * (rv32), so the three measure the same input blocks: `members` chargers (2..LSH_MEMBERS_MAX),
 * every one with a car charging (6..32 A, drawing 16 A), all heard at now_ms with full seen
 * sets, on a breaker of 10 A per member (the minimums fit, the maxima do not). */
#ifndef LSH_BENCH_GROUP_H
#define LSH_BENCH_GROUP_H

#include <stdint.h>

#include "lsh_engine.h"

/* This charger's own facts in that group. */
extern const lsh_self_facts_t lsh_bench_self;

/* Initialises engine on runtime for the group (this charger is the first member) and feeds it
 * every peer's status; 1 on success. The shaper may be NULL. */
int lsh_bench_group_init(lsh_engine_t *engine, lsh_runtime_t *runtime, uint32_t members, double now_ms, const lsh_shaper_t *shaper);

/* lsh_bench_group_init, then the input block the engine builds at now_ms; 1 on success. */
int lsh_bench_group_input(lsh_engine_t *engine, lsh_runtime_t *runtime, uint32_t members, double now_ms, uint8_t input_out[LSH_IN_SIZE]);

#endif /* LSH_BENCH_GROUP_H */
