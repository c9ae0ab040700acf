/* lsh_measure: the wasm3 engine for bench/ (protocol: bench/engines/timing-plan.md and
 * bench/engines/wasm3.mjs).
 *
 *   lsh_measure --measure --module FILE --input FILE --warmup-ns N --sample-target-ns N --samples N
 *               [--mode call|compute]
 *
 * --mode call (the default) times the whole call as the host makes it: lsh_runtime_compute
 * copies the input block in, calls compute() and copies the output block out. --mode compute
 * times compute() alone on the input block already in linear memory, as the native (wasm2c)
 * and V8 engines of bench/ do, so that their ratios compare the same work.
 *
 * Prints one JSON object: the timing answer (calls_per_sample, ns_per_call = process CPU time
 * per call per sample, wall_ns_per_call, output_hex after the first call, stable) and the load
 * and memory figures (load_ns per sample, peak_heap_bytes of runtime + module + capped linear
 * memory during load and compute, heap_after_cycles_bytes after each 100 of 1,000
 * load/unload cycles, relative to before them). Exit 2 with one sentence on bad arguments or
 * a refused module, 1 if the module traps. The first call gets a zero carry (the safe start,
 * as V8's first call in bench/engines/js-timer.mjs); every later call the carry the previous one
 * left, as a charger does every tick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsh_heap.h"
#include "lsh_runtime.h"
#include "lsh_test_files.h"

#define SAMPLES_MAX 10000u
#define CYCLES 1000u
#define CYCLES_PER_REPORT 100u
#define CALLS_PER_SAMPLE_MAX (1u << 26)

static lsh_runtime_t rt;
static uint8_t input[LSH_IN_SIZE];
static uint8_t first_output[LSH_OUT_SIZE];
static uint8_t output[LSH_OUT_SIZE];
static uint8_t carry[LSH_CARRY_SIZE];

static double clock_ns(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int usage(const char *message) {
    fprintf(stderr, "lsh_measure: %s\n", message);
    return 2;
}

static int compute_only;

static int compute_many(uint64_t calls) {
    if (compute_only) {
        /* ABI 4: the module works in its input and carry blocks, so every call starts from the
         * same state (the input written again, a zero carry), as in the other engines. */
        uint32_t memory_size = 0;
        uint8_t *memory = m3_GetMemory(rt.runtime, &memory_size, 0);
        if (memory == NULL || rt.input_offset + LSH_IN_SIZE > memory_size || rt.carry_offset + LSH_CARRY_SIZE > memory_size) return 0;
        for (uint64_t i = 0; i < calls; i++) {
            uint32_t code = 0;
            memcpy(memory + rt.input_offset, input, LSH_IN_SIZE);
            memset(memory + rt.carry_offset, 0, LSH_CARRY_SIZE);
            if (m3_CallV(rt.fn_compute) != m3Err_none || m3_GetResultsV(rt.fn_compute, &code) != m3Err_none) return 0;
        }
        return 1;
    }
    for (uint64_t i = 0; i < calls; i++) {
        if (lsh_runtime_compute(&rt, input, NULL, output, carry) != lsh_ok) return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    const char *module_path = NULL;
    const char *input_path = NULL;
    double warmup_ns = 0;
    double sample_target_ns = 0;
    unsigned long samples = 0;
    int measure = 0;
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--measure") == 0) { measure = 1; continue; }
        if (value == NULL) return usage("every option but --measure takes a value");
        if (strcmp(argv[i], "--module") == 0) module_path = value;
        else if (strcmp(argv[i], "--input") == 0) input_path = value;
        else if (strcmp(argv[i], "--warmup-ns") == 0) warmup_ns = strtod(value, NULL);
        else if (strcmp(argv[i], "--sample-target-ns") == 0) sample_target_ns = strtod(value, NULL);
        else if (strcmp(argv[i], "--samples") == 0) samples = strtoul(value, NULL, 10);
        else if (strcmp(argv[i], "--mode") == 0 && (strcmp(value, "call") == 0 || strcmp(value, "compute") == 0)) compute_only = strcmp(value, "compute") == 0;
        else return usage("unknown option (see the header of host-esp32/tools/lsh_measure.c)");
        i++;
    }
    if (!measure || module_path == NULL || input_path == NULL) return usage("--measure, --module and --input are required");
    if (samples < 1 || samples > SAMPLES_MAX || sample_target_ns <= 0 || warmup_ns < 0) {
        return usage("--samples must be 1..10000, --sample-target-ns positive, --warmup-ns not negative");
    }
    size_t module_size = 0;
    uint8_t *module = lsh_file_read(module_path, &module_size);
    if (module == NULL) return usage("cannot read the module file");
    size_t input_size = 0;
    uint8_t *input_file = lsh_file_read(input_path, &input_size);
    if (input_file == NULL || input_size != LSH_IN_SIZE) { free(module); free(input_file); return usage("the input file must hold exactly one input block"); }
    memcpy(input, input_file, LSH_IN_SIZE);
    free(input_file);

    double *ns_per_call = calloc(samples, sizeof(double));
    double *wall_ns_per_call = calloc(samples, sizeof(double));
    double *load_ns = calloc(samples, sizeof(double));
    if (ns_per_call == NULL || wall_ns_per_call == NULL || load_ns == NULL) { free(module); return usage("out of memory"); }

    /* Load time, one load and unload per sample (process CPU time). */
    const size_t heap_base = lsh_heap_current_bytes();
    for (unsigned long s = 0; s < samples; s++) {
        const double start_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        const lsh_result_t result = lsh_runtime_load(&rt, module, module_size);
        load_ns[s] = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - start_ns;
        if (result != lsh_ok) {
            fprintf(stderr, "lsh_measure: module refused: %s: %s\n", result, lsh_runtime_detail(&rt));
            free(module);
            return 2;
        }
        lsh_runtime_unload(&rt);
    }
    /* Heap over 1,000 load/compute/unload cycles, relative to before them. */
    size_t heap_after_cycles[CYCLES / CYCLES_PER_REPORT];
    for (unsigned cycle = 1; cycle <= CYCLES; cycle++) {
        if (lsh_runtime_load(&rt, module, module_size) != lsh_ok) return 1;
        lsh_runtime_compute(&rt, input, NULL, output, carry);
        lsh_runtime_unload(&rt);
        if (cycle % CYCLES_PER_REPORT == 0) heap_after_cycles[cycle / CYCLES_PER_REPORT - 1] = lsh_heap_current_bytes() - heap_base;
    }
    /* Peak heap over one load and the first compute; the runtime stays loaded for timing. */
    lsh_heap_reset_peak();
    if (lsh_runtime_load(&rt, module, module_size) != lsh_ok) return 1;
    memset(carry, 0, sizeof(carry));
    if (lsh_runtime_compute(&rt, input, carry, first_output, carry) != lsh_ok) {
        fprintf(stderr, "lsh_measure: the module trapped: %s\n", lsh_runtime_detail(&rt));
        return 1;
    }
    const size_t peak_heap_bytes = lsh_heap_peak_bytes() - heap_base;

    /* Warm-up, then calibrate calls per sample to about sample_target_ns of CPU time. */
    const double warmup_end_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) + warmup_ns;
    while (clock_ns(CLOCK_PROCESS_CPUTIME_ID) < warmup_end_ns) {
        if (!compute_many(16)) { fprintf(stderr, "lsh_measure: the module trapped: %s\n", lsh_runtime_detail(&rt)); return 1; }
    }
    uint64_t calls = 1;
    for (;;) {
        const double start_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        if (!compute_many(calls)) return 1;
        if (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - start_ns >= sample_target_ns || calls >= CALLS_PER_SAMPLE_MAX) break;
        calls *= 2;
    }
    for (unsigned long s = 0; s < samples; s++) {
        const double cpu_start_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        const double wall_start_ns = clock_ns(CLOCK_MONOTONIC);
        if (!compute_many(calls)) return 1;
        wall_ns_per_call[s] = (clock_ns(CLOCK_MONOTONIC) - wall_start_ns) / (double)calls;
        ns_per_call[s] = (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start_ns) / (double)calls;
    }
    if (compute_only) {
        /* compute() wrote the output block in linear memory; read it as the host would. */
        uint32_t memory_size = 0;
        const uint8_t *memory = m3_GetMemory(rt.runtime, &memory_size, 0);
        if (memory == NULL || rt.output_offset > memory_size || memory_size - rt.output_offset < LSH_OUT_SIZE) return 1;
        memcpy(output, memory + rt.output_offset, LSH_OUT_SIZE);
    }
    const int stable = memcmp(first_output, output, LSH_OUT_SIZE) == 0;
    lsh_runtime_unload(&rt);
    free(module);

    printf("{\"engine\":\"wasm3\",\"mode\":\"%s\",\"runtime\":\"wasm3 0.5.0\",", compute_only ? "compute" : "call");
    printf("\"pointer_bits\":%u,\"memory_limit_bytes\":%u,\"stack_bytes\":%u,",
           (unsigned)(sizeof(void *) * 8u), (unsigned)LSH_MEMORY_LIMIT_BYTES, (unsigned)LSH_STACK_BYTES);
    printf("\"calls_per_sample\":%llu,\"ns_per_call\":[", (unsigned long long)calls);
    for (unsigned long s = 0; s < samples; s++) printf("%s%.3f", s ? "," : "", ns_per_call[s]);
    printf("],\"wall_ns_per_call\":[");
    for (unsigned long s = 0; s < samples; s++) printf("%s%.3f", s ? "," : "", wall_ns_per_call[s]);
    printf("],\"output_hex\":\"");
    for (size_t i = 0; i < LSH_OUT_SIZE; i++) printf("%02x", first_output[i]);
    printf("\",\"stable\":%s,\"load_ns\":[", stable ? "true" : "false");
    for (unsigned long s = 0; s < samples; s++) printf("%s%.0f", s ? "," : "", load_ns[s]);
    printf("],\"peak_heap_bytes\":%zu,\"heap_after_cycles_bytes\":[", peak_heap_bytes);
    for (unsigned i = 0; i < CYCLES / CYCLES_PER_REPORT; i++) printf("%s%zu", i ? "," : "", heap_after_cycles[i]);
    printf("]}\n");
    free(ns_per_call);
    free(wall_ns_per_call);
    free(load_ns);
    return 0;
}
