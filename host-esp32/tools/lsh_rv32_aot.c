/* lsh_rv32_aot: the built-in module compiled ahead of time (wasm2c, then gcc for rv32imc) on
 * the bare-metal rv32 build, next to wasm3: the measured alternative of docs/esp32.md ("wasm3
 * or ahead-of-time"). scripts/build-esp32.mjs --rv32 translates build/loadsharing.wasm into
 * build/esp32-rv32/aot/ (and the names wasm2c gave its exports into lsh_aot_names.h).
 *
 *   lsh_rv32_aot.elf --root REPO
 *
 * 1. Every conformance vector of test/vectors/ through the compiled module: the output block
 *    equals Node's byte for byte (counted as tests; `esp32: N passed, N failed`).
 * 2. Synthetic groups of 2, 8 and 16 members (the engine builds the input blocks through wasm3,
 *    as lsh_rv32_measure does): the compiled module's output equals wasm3's.
 * 3. One JSON line (starts with '{'): the heap it holds (the capped linear memory, counted by
 *    lsh_heap.c), the instance, the main stack's high-water mark for a 16-member compute, and
 *    instructions per compute (instret under qemu -icount shift=0) for 2/8/16 members. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsh_aot_names.h"
#include "loadsharing.h"
#include "lsh_bench_group.h"
#include "lsh_board.h"
#include "lsh_engine.h"
#include "lsh_heap.h"
#include "lsh_module_default.h"
#include "lsh_runtime.h"
#include "lsh_test_files.h"
#include "lsh_wasm_rt_baremetal.h"

#define VECTORS_MAX 256u
#define GROUP_SIZES 3

static int passed, failed;

static void check(int ok, const char *format, const char *name) {
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL aot: ");
    printf(format, name);
    printf("\n");
}

static LSH_W2C_INSTANCE instance;
static uint8_t input[LSH_IN_SIZE];
static uint8_t expected[LSH_OUT_SIZE];
static uint8_t actual[LSH_OUT_SIZE];
static uint8_t vector_carry[LSH_CARRY_SIZE];
static uint8_t expected_carry[LSH_CARRY_SIZE];
static uint8_t actual_carry[LSH_CARRY_SIZE];
static uint32_t input_at, output_at, carry_at;

static void compute_call(void *arg) {
    (void)arg;
    (void)LSH_W2C_COMPUTE(&instance);
}


static volatile uint32_t config_code;
static void config_hash_call(void *arg) {
    (void)arg;
    config_code = LSH_W2C_CONFIG_HASH(&instance);
}

/* As lsh_runtime_compute: copy the input and carry blocks in (carry_in NULL: zeros), call
 * compute(), copy the output (and, when asked, the carry) out. */
static int aot_compute_carry(const uint8_t *in, const uint8_t *carry_in, uint8_t *out, uint8_t *carry_out) {
    wasm_rt_memory_t *memory = LSH_W2C_MEMORY(&instance);
    memcpy(memory->data + input_at, in, LSH_IN_SIZE);
    if (carry_in != NULL) memcpy(memory->data + carry_at, carry_in, LSH_CARRY_SIZE);
    else memset(memory->data + carry_at, 0, LSH_CARRY_SIZE);
    const int trap = lsh_wasm_rt_try(compute_call, NULL);
    if (trap != 0) return trap;
    memcpy(out, memory->data + output_at, LSH_OUT_SIZE);
    if (carry_out != NULL) memcpy(carry_out, memory->data + carry_at, LSH_CARRY_SIZE);
    return 0;
}

static int aot_compute(const uint8_t *in, uint8_t *out) { return aot_compute_carry(in, NULL, out, NULL); }

static lsh_engine_t engine;
static lsh_runtime_t rt;
static const uint32_t group_sizes[GROUP_SIZES] = {2, 8, 16};
static uint8_t group_inputs[GROUP_SIZES][LSH_IN_SIZE];
static uint8_t group_outputs[GROUP_SIZES][LSH_OUT_SIZE];

/* The bench's synthetic group, its input block built by the engine and computed by wasm3. */
static int build_group(uint32_t members, uint8_t *in, uint8_t *out) {
    static uint8_t carry[LSH_CARRY_SIZE];
    return lsh_bench_group_input(&engine, &rt, members, 1767225600000.0, in) && lsh_runtime_compute(&rt, in, NULL, out, carry) == lsh_ok;
}

int main(int argc, char **argv) {
    const char *root = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--root") == 0) root = argv[i + 1];
    }
    if (root == NULL) {
        printf("usage: lsh_rv32_aot.elf --root REPO\n");
        lsh_board_exit(2);
    }

    /* The input blocks of the synthetic groups, and wasm3's answers to them. */
    if (lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size) != lsh_ok) {
        printf("lsh_rv32_aot: the built-in module does not load under wasm3: %s\n", lsh_runtime_detail(&rt));
        lsh_board_exit(1);
    }
    for (int k = 0; k < GROUP_SIZES; k++) {
        check(build_group(group_sizes[k], group_inputs[k], group_outputs[k]), "%s: the engine builds the group and wasm3 computes it", "groups");
    }
    lsh_runtime_unload(&rt);

    /* Instantiate: the heap it takes is the capped linear memory (and a table, if any). */
    const size_t heap_before = lsh_heap_current_bytes();
    wasm_rt_init();
#ifdef LSH_W2C_INIT_MODULE
    LSH_W2C_INIT_MODULE();
#endif
    lsh_board_stack_paint();
    uint64_t start = lsh_board_instret();
    LSH_W2C_INSTANTIATE(&instance);
    const uint64_t instantiate_instructions = lsh_board_instret() - start;
    const size_t heap_bytes = lsh_heap_current_bytes() - heap_before;
    const wasm_rt_memory_t *memory = LSH_W2C_MEMORY(&instance);
    input_at = LSH_W2C_INPUT_PTR(&instance);
    output_at = LSH_W2C_OUTPUT_PTR(&instance);
    carry_at = LSH_W2C_CARRY_PTR(&instance);
    const int layout_ok = memory->data != NULL && (uint64_t)input_at + LSH_IN_SIZE <= memory->size && (uint64_t)output_at + LSH_OUT_SIZE <= memory->size &&
                          (uint64_t)carry_at + LSH_CARRY_SIZE <= memory->size;
    check(layout_ok, "%s: the blocks lie inside the capped memory", "layout");
    if (!layout_ok) lsh_board_exit(1);

    /* 1. The conformance vectors. */
    char path[1024];
    char *names[VECTORS_MAX];
    snprintf(path, sizeof(path), "%s/test/vectors/index.json", root);
    const size_t count = lsh_file_vector_names(path, names, VECTORS_MAX);
    check(count >= 20, "%s: index.json lists the vectors", "vectors");
    for (size_t v = 0; v < count; v++) {
        char in_path[1024], out_path[1024], carry_path[1024], carry_out_path[1024];
        snprintf(in_path, sizeof(in_path), "%s/test/vectors/%s.in.hex", root, names[v]);
        snprintf(out_path, sizeof(out_path), "%s/test/vectors/%s.out.hex", root, names[v]);
        snprintf(carry_path, sizeof(carry_path), "%s/test/vectors/%s.carry-in.hex", root, names[v]);
        snprintf(carry_out_path, sizeof(carry_out_path), "%s/test/vectors/%s.carry-out.hex", root, names[v]);
        if (!lsh_file_read_hex(in_path, input, sizeof(input)) || !lsh_file_read_hex(out_path, expected, sizeof(expected)) ||
            !lsh_file_read_hex(carry_out_path, expected_carry, sizeof(expected_carry))) {
            check(0, "vector %s: read its blocks", names[v]);
            continue;
        }
        /* No carry-in file: the vector starts from a zero carry (the safe start). */
        const int has_carry = lsh_file_read_hex(carry_path, vector_carry, sizeof(vector_carry));
        memset(actual, 0xa5, sizeof(actual));
        const int trap = aot_compute_carry(input, has_carry ? vector_carry : NULL, actual, actual_carry);
        check(trap == 0 && memcmp(actual, expected, sizeof(actual)) == 0 && memcmp(actual_carry, expected_carry, sizeof(actual_carry)) == 0,
              "vector %s: the compiled module's output and carry equal Node's byte for byte", names[v]);
    }
    lsh_file_free_names(names, count);

    /* 2 and 3. The groups: the same answer as wasm3, and what it costs. */
    uint64_t compute_instructions[GROUP_SIZES];
    size_t stack_compute = 0;
    for (int k = 0; k < GROUP_SIZES; k++) {
        lsh_board_stack_paint();
        uintptr_t sp = 0;
        __asm__ volatile("mv %0, sp" : "=r"(sp));
        extern char __stack[];
        const size_t depth = (size_t)((uintptr_t)__stack - sp);
        start = lsh_board_instret();
        const int trap = aot_compute(group_inputs[k], actual);
        compute_instructions[k] = lsh_board_instret() - start;
        if (k == GROUP_SIZES - 1) stack_compute = lsh_board_stack_high_water_bytes() - depth;
        check(trap == 0 && memcmp(actual, group_outputs[k], sizeof(actual)) == 0, "%s: the compiled module answers a group as wasm3 does", "groups");
    }
    /* The other export: config_hash runs on a zeroed config block without trapping (both
     * engines refuse it alike: no members). */
    check(lsh_wasm_rt_try(config_hash_call, NULL) == 0, "%s: config_hash runs without a trap", "exports");
    LSH_W2C_FREE(&instance);
    check(lsh_heap_current_bytes() == heap_before, "%s: freeing the instance returns its heap", "heap");

    printf("{\"engine\":\"wasm2c (ahead of time) + gcc -O2, rv32imc\",\"heap_bytes\":%zu,\"instance_bytes\":%u,\"memory_limit_bytes\":%u,"
           "\"stack_high_water_bytes\":{\"compute_16\":%zu},\"instructions\":{\"instantiate\":%llu,\"compute\":{\"2\":%llu,\"8\":%llu,\"16\":%llu}}}\n",
           heap_bytes, (unsigned)sizeof(instance), (unsigned)LSH_MEMORY_LIMIT_BYTES, stack_compute, (unsigned long long)instantiate_instructions,
           (unsigned long long)compute_instructions[0], (unsigned long long)compute_instructions[1], (unsigned long long)compute_instructions[2]);
    printf("esp32: %d passed, %d failed\n", passed, failed);
    lsh_board_exit(failed == 0 ? 0 : 1);
}
