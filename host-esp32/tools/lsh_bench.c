/* lsh_bench --measure: the ESP32 host's numbers on this machine, as one JSON object on stdout,
 * for bench/ (docs/esp32.md lists the keys). Heap is counted by the wasm3 allocator hook
 * (lsh_heap.c); times are medians of repeated runs on CLOCK_MONOTONIC. The inputs are synthetic
 * groups of 2, 8 and 16 charging members built by the engine (all heard now, 6..32 A each,
 * group_max_current 10 A per member so the minimums fit but the maxima do not). Each compute
 * hands in the carry the previous one left, as a charger does every tick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsh_bench_group.h"
#include "lsh_engine.h"
#include "lsh_heap.h"
#include "lsh_module_default.h"
#include "lsh_runtime.h"

#define LOAD_RUNS 31u
#define COMPUTE_RUNS 301u

static lsh_runtime_t rt;
static lsh_engine_t engine;
static uint8_t input[LSH_IN_SIZE];
static uint8_t output[LSH_OUT_SIZE];
static uint8_t carry[LSH_CARRY_SIZE];
static double samples_ns[COMPUTE_RUNS];

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int compare_doubles(const void *a, const void *b) {
    const double x = *(const double *)a;
    const double y = *(const double *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static double median(double *values, size_t count) {
    qsort(values, count, sizeof(values[0]), compare_doubles);
    return values[count / 2];
}

static int build_group_input(uint32_t members, double now_ms) {
    memset(carry, 0, sizeof(carry));
    return lsh_bench_group_input(&engine, &rt, members, now_ms, input);
}

int main(int argc, char **argv) {
    if (argc != 2 || strcmp(argv[1], "--measure") != 0) {
        fprintf(stderr, "usage: lsh_bench --measure\n");
        return 2;
    }
    /* Load time and the heap the loaded runtime holds. */
    double load_samples_ns[LOAD_RUNS];
    const size_t heap_base = lsh_heap_current_bytes();
    size_t peak_bytes = 0;
    size_t loaded_bytes = 0;
    for (uint32_t run = 0; run < LOAD_RUNS; run++) {
        lsh_heap_reset_peak();
        const double start_ns = now_ns();
        if (lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size) != lsh_ok) {
            fprintf(stderr, "lsh_bench: the default module does not load: %s\n", lsh_runtime_detail(&rt));
            return 1;
        }
        load_samples_ns[run] = now_ns() - start_ns;
        loaded_bytes = rt.heap_bytes_loaded;
        if (lsh_heap_peak_bytes() - heap_base > peak_bytes) peak_bytes = lsh_heap_peak_bytes() - heap_base;
        lsh_runtime_unload(&rt);
    }
    if (lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size) != lsh_ok) return 1;
    static const uint32_t sizes[3] = {2, 8, 16};
    double compute_ns[3];
    double applied_a[3];
    lsh_heap_reset_peak();
    for (int k = 0; k < 3; k++) {
        if (!build_group_input(sizes[k], 1767225600000.0)) {
            fprintf(stderr, "lsh_bench: cannot build a %u-member group\n", (unsigned)sizes[k]);
            return 1;
        }
        for (uint32_t run = 0; run < COMPUTE_RUNS; run++) {
            const double start_ns = now_ns();
            if (lsh_runtime_compute(&rt, input, carry, output, carry) != lsh_ok) {
                fprintf(stderr, "lsh_bench: compute failed for %u members (run %u): %s\n", (unsigned)sizes[k], (unsigned)run, lsh_runtime_detail(&rt));
                return 1;
            }
            samples_ns[run] = now_ns() - start_ns;
        }
        compute_ns[k] = median(samples_ns, COMPUTE_RUNS);
        memcpy(&applied_a[k], output + LSH_OUT_SELF_APPLIED_CURRENT_A, sizeof(double));
    }
    if (lsh_heap_peak_bytes() - heap_base > peak_bytes) peak_bytes = lsh_heap_peak_bytes() - heap_base;
    lsh_runtime_unload(&rt);
    printf("{\"runtime\":\"wasm3 0.5.0\",\"binary\":\"%s\",\"pointer_bits\":%u,\"module_bytes\":%zu,\"module_sha256\":\"%s\","
           "\"memory_limit_bytes\":%u,\"stack_bytes\":%u,\"heap_hooked\":%s,\"peak_heap_bytes\":%zu,\"loaded_heap_bytes\":%zu,"
           "\"load_ns\":%.0f,\"compute_ns\":{\"2\":%.0f,\"8\":%.0f,\"16\":%.0f},\"applied_a\":{\"2\":%g,\"8\":%g,\"16\":%g},"
           "\"runs\":{\"load\":%u,\"compute\":%u}}\n",
           argv[0], (unsigned)(sizeof(void *) * 8u), lsh_module_default_size, lsh_module_default_sha256, (unsigned)LSH_MEMORY_LIMIT_BYTES, (unsigned)LSH_STACK_BYTES,
           lsh_heap_hooked() ? "true" : "false", peak_bytes, loaded_bytes, median(load_samples_ns, LOAD_RUNS),
           compute_ns[0], compute_ns[1], compute_ns[2], applied_a[0], applied_a[1], applied_a[2],
           (unsigned)LOAD_RUNS, (unsigned)COMPUTE_RUNS);
    return 0;
}
