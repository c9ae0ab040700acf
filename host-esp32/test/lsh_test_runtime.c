/* Runtime tests: the embedded module is current, every conformance vector (input and carry in)
 * gives the same output and carry blocks under wasm3 as under Node, bad modules are refused
 * with the right error, traps are contained (output and carry untouched), heap exhaustion is
 * an error, 1,000 load/compute/unload cycles leak nothing, and the self-test holds a module
 * to the vectors, its own carry round trip and the refusal of foreign carries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsh_abi.h"
#include "lsh_heap.h"
#include "lsh_module_default.h"
#include "lsh_runtime.h"
#include "lsh_selftest.h"
#include "lsh_test.h"
#include "lsh_test_files.h"

#define VECTORS_MAX 256u
#define CYCLES 1000u

static lsh_runtime_t rt; /* static: the runtime struct is what firmware keeps in .bss too */

static void path_in_root(char *out, size_t size, const char *relative) {
    snprintf(out, size, "%s/%s", lsh_test_root, relative);
}

static void test_embedded_module_current(void) {
    char path[1024];
    path_in_root(path, sizeof(path), "build/loadsharing.wasm");
    size_t size = 0;
    uint8_t *bytes = lsh_file_read(path, &size);
    LSH_CHECK(bytes != NULL, "read %s", path);
    if (bytes == NULL) return;
    LSH_CHECK(size == lsh_module_default_size && memcmp(bytes, lsh_module_default, size) == 0,
              "src/lsh_module_default.c is stale against build/loadsharing.wasm (%zu vs %zu bytes): "
              "run node scripts/gen-embedded-module.mjs", lsh_module_default_size, size);
    free(bytes);
}

/* The carry a vector hands in: NAME.carry-in.hex when the scenario has earlier calls, else
 * zeros (the safe start). 0 when the file exists but is not one carry block. */
static int read_carry_in(const char *name, uint8_t carry[LSH_CARRY_SIZE]) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/test/vectors/%s.carry-in.hex", lsh_test_root, name);
    memset(carry, 0, LSH_CARRY_SIZE);
    size_t size = 0;
    uint8_t *text = lsh_file_read(path, &size);
    if (text == NULL) return 1;
    free(text);
    return lsh_file_read_hex(path, carry, LSH_CARRY_SIZE);
}

static size_t first_difference(const uint8_t *a, const uint8_t *b, size_t size) {
    for (size_t i = 0; i < size; i++) {
        if (a[i] != b[i]) return i;
    }
    return size;
}

static void test_vectors(void) {
    char path[1024];
    char *names[VECTORS_MAX];
    path_in_root(path, sizeof(path), "test/vectors/index.json");
    const size_t count = lsh_file_vector_names(path, names, VECTORS_MAX);
    LSH_CHECK(count >= 20, "index.json lists the vectors (%zu found)", count);
    lsh_result_t result = lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size);
    LSH_CHECK(result == lsh_ok, "default module loads: %s (%s)", result ? result : "ok", lsh_runtime_detail(&rt));
    if (result != lsh_ok) { lsh_file_free_names(names, count); return; }
    static uint8_t input[LSH_IN_SIZE];
    static uint8_t carry_in[LSH_CARRY_SIZE];
    static uint8_t expected[LSH_OUT_SIZE];
    static uint8_t expected_carry[LSH_CARRY_SIZE];
    static uint8_t actual[LSH_OUT_SIZE];
    static uint8_t actual_carry[LSH_CARRY_SIZE];
    unsigned with_carry_in = 0;
    for (size_t v = 0; v < count; v++) {
        char in_path[1024];
        char out_path[1024];
        char carry_path[1024];
        snprintf(in_path, sizeof(in_path), "%s/test/vectors/%s.in.hex", lsh_test_root, names[v]);
        snprintf(out_path, sizeof(out_path), "%s/test/vectors/%s.out.hex", lsh_test_root, names[v]);
        snprintf(carry_path, sizeof(carry_path), "%s/test/vectors/%s.carry-out.hex", lsh_test_root, names[v]);
        const int read_ok = lsh_file_read_hex(in_path, input, sizeof(input)) && lsh_file_read_hex(out_path, expected, sizeof(expected)) &&
                            lsh_file_read_hex(carry_path, expected_carry, sizeof(expected_carry)) && read_carry_in(names[v], carry_in);
        LSH_CHECK(read_ok, "vector %s: read %d-byte input, %d-byte output and %d-byte carry blocks", names[v], LSH_IN_SIZE, LSH_OUT_SIZE,
                  LSH_CARRY_SIZE);
        if (!read_ok) continue;
        static const uint8_t zero_carry[LSH_CARRY_SIZE];
        if (first_difference(carry_in, zero_carry, LSH_CARRY_SIZE) != LSH_CARRY_SIZE) with_carry_in++;
        memset(actual, 0xa5, sizeof(actual));
        memset(actual_carry, 0xa5, sizeof(actual_carry));
        result = lsh_runtime_compute(&rt, input, carry_in, actual, actual_carry);
        const size_t out_diff = first_difference(actual, expected, LSH_OUT_SIZE);
        const size_t carry_diff = first_difference(actual_carry, expected_carry, LSH_CARRY_SIZE);
        LSH_CHECK(result == lsh_ok && out_diff == LSH_OUT_SIZE && carry_diff == LSH_CARRY_SIZE,
                  "vector %s: wasm3 output and carry equal Node's byte for byte (result %s, first difference at output byte %zu, carry byte %zu)",
                  names[v], result ? result : "ok", out_diff, carry_diff);
    }
    LSH_CHECK(with_carry_in >= 3, "vectors decided after earlier calls hand in a carry (%u)", with_carry_in);
    lsh_runtime_unload(&rt);
    lsh_file_free_names(names, count);
}

typedef struct bad_module_case {
    const char *file;
    lsh_result_t expected;
    const char *detail_contains;
} bad_module_case_t;

static uint8_t *read_test_module(const char *file, size_t *size_out) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", lsh_test_modules_dir, file);
    uint8_t *bytes = lsh_file_read(path, size_out);
    LSH_CHECK(bytes != NULL, "read test module %s (run scripts/gen-esp32-test-modules.mjs)", path);
    return bytes;
}

static void test_bad_modules(void) {
    /* The fake of another ABI speaks this host's version plus one (scripts/gen-esp32-test-modules.mjs). */
    char wrong_abi_detail[64];
    snprintf(wrong_abi_detail, sizeof(wrong_abi_detail), "ABI version %u, this host speaks %u", (unsigned)(LSH_ABI_VERSION + 1u),
             (unsigned)LSH_ABI_VERSION);
    char layout_detail[64];
    snprintf(layout_detail, sizeof(layout_detail), "outside %u bytes", (unsigned)LSH_MEMORY_LIMIT_BYTES);
    const bad_module_case_t cases[] = {
        {"fake-ok.wasm", lsh_ok, ""},
        {"not-wasm.wasm", lsh_err_not_wasm, "no WebAssembly header"},
        {"truncated.wasm", lsh_err_malformed, "runs past the end"},
        {"wrong-abi.wasm", lsh_err_abi_version, wrong_abi_detail},
        {"extra-import.wasm", lsh_err_imports, "imports env.abort"},
        {"missing-export.wasm", lsh_err_exports, "lacks the export compute"},
        {"missing-carry.wasm", lsh_err_exports, "lacks the export carry_ptr"},
        {"wrong-signature.wasm", lsh_err_exports, "compute has the wrong signature"},
        {"bad-layout.wasm", lsh_err_layout, layout_detail},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t size = 0;
        uint8_t *bytes = read_test_module(cases[c].file, &size);
        if (bytes == NULL) continue;
        const size_t heap_before = lsh_heap_current_bytes();
        const lsh_result_t result = lsh_runtime_load(&rt, bytes, size);
        LSH_CHECK(result == cases[c].expected, "%s: load gives \"%s\", expected \"%s\" (%s)", cases[c].file,
                  result ? result : "ok", cases[c].expected ? cases[c].expected : "ok", lsh_runtime_detail(&rt));
        LSH_CHECK(strstr(lsh_runtime_detail(&rt), cases[c].detail_contains) != NULL, "%s: detail \"%s\" mentions \"%s\"",
                  cases[c].file, lsh_runtime_detail(&rt), cases[c].detail_contains);
        LSH_CHECK(rt.loaded == (result == lsh_ok), "%s: loaded flag follows the result", cases[c].file);
        lsh_runtime_unload(&rt);
        LSH_CHECK(lsh_heap_current_bytes() == heap_before, "%s: the refused or unloaded module left no heap (%zu bytes)",
                  cases[c].file, lsh_heap_current_bytes() - heap_before);
        free(bytes);
    }
    LSH_CHECK(lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size) == lsh_ok, "default module loads");
    LSH_CHECK(lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size) == lsh_err_argument && rt.loaded,
              "loading over a loaded runtime is refused and keeps it (%s)", lsh_runtime_detail(&rt));
    lsh_runtime_unload(&rt);
    const uint8_t empty[1] = {0};
    LSH_CHECK(lsh_runtime_load(&rt, empty, 0) == lsh_err_not_wasm, "an empty module is not wasm");
    LSH_CHECK(lsh_runtime_load(&rt, NULL, 10) == lsh_err_argument, "no bytes is a bad argument");
    static uint8_t input[LSH_IN_SIZE];
    static uint8_t output[LSH_OUT_SIZE];
    static uint8_t carry[LSH_CARRY_SIZE];
    LSH_CHECK(lsh_runtime_compute(&rt, input, NULL, output, carry) == lsh_err_not_loaded, "compute without a module is refused");
    lsh_runtime_unload(&rt);
    lsh_runtime_unload(&rt); /* twice is harmless */
    LSH_CHECK(rt.runtime == NULL && rt.environment == NULL, "unload twice leaves an empty runtime");
}

static void test_traps(void) {
    const bad_module_case_t cases[] = {
        {"traps.wasm", lsh_err_trap, "unreachable"},
        {"stack-overflow.wasm", lsh_err_trap, "stack overflow"},
        {"out-of-bounds.wasm", lsh_err_trap, "out of bounds"}, /* the memory cap holds */
        {"scribbles-then-traps.wasm", lsh_err_trap, "unreachable"}, /* wrote over its carry first */
    };
    static uint8_t input[LSH_IN_SIZE];
    static uint8_t output[LSH_OUT_SIZE];
    static uint8_t carry[LSH_CARRY_SIZE];
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t size = 0;
        uint8_t *bytes = read_test_module(cases[c].file, &size);
        if (bytes == NULL) continue;
        const size_t heap_before = lsh_heap_current_bytes();
        lsh_result_t result = lsh_runtime_load(&rt, bytes, size);
        LSH_CHECK(result == lsh_ok, "%s loads (it only fails when called): %s", cases[c].file, lsh_runtime_detail(&rt));
        memset(output, 0x5a, sizeof(output));
        memset(carry, 0x3c, sizeof(carry));
        for (int attempt = 0; attempt < 2 && result == lsh_ok; attempt++) {
            const lsh_result_t computed = lsh_runtime_compute(&rt, input, carry, output, carry);
            LSH_CHECK(computed == cases[c].expected, "%s: compute #%d gives \"%s\" (%s)", cases[c].file, attempt + 1,
                      computed ? computed : "ok", lsh_runtime_detail(&rt));
            LSH_CHECK(strstr(lsh_runtime_detail(&rt), cases[c].detail_contains) != NULL, "%s: detail \"%s\" mentions \"%s\"",
                      cases[c].file, lsh_runtime_detail(&rt), cases[c].detail_contains);
        }
        LSH_CHECK(output[0] == 0x5a && output[LSH_OUT_SIZE - 1] == 0x5a, "%s: a trap leaves the output block untouched", cases[c].file);
        LSH_CHECK(carry[0] == 0x3c && carry[8] == 0x3c && carry[LSH_CARRY_SIZE - 1] == 0x3c, "%s: a trap leaves the caller's carry untouched",
                  cases[c].file);
        lsh_runtime_unload(&rt);
        LSH_CHECK(lsh_heap_current_bytes() == heap_before, "%s: unload after a trap frees everything", cases[c].file);
        free(bytes);
    }
}

static void test_cycles(void) {
    static uint8_t input[LSH_IN_SIZE];
    static uint8_t expected[LSH_OUT_SIZE];
    static uint8_t actual[LSH_OUT_SIZE];
    static uint8_t carry[LSH_CARRY_SIZE];
    char in_path[1024];
    char out_path[1024];
    snprintf(in_path, sizeof(in_path), "%s/test/vectors/plan-8.3-4-insufficient.in.hex", lsh_test_root);
    snprintf(out_path, sizeof(out_path), "%s/test/vectors/plan-8.3-4-insufficient.out.hex", lsh_test_root);
    const int read_ok = lsh_file_read_hex(in_path, input, sizeof(input)) && lsh_file_read_hex(out_path, expected, sizeof(expected));
    LSH_CHECK(read_ok, "cycles: read the vector plan-8.3-4-insufficient");
    if (!read_ok) return;
    const size_t heap_before = lsh_heap_current_bytes();
    unsigned failures = 0;
    unsigned leaks = 0;
    for (unsigned cycle = 0; cycle < CYCLES; cycle++) {
        if (lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size) != lsh_ok) { failures++; continue; }
        if (lsh_runtime_compute(&rt, input, NULL, actual, carry) != lsh_ok || memcmp(actual, expected, sizeof(actual)) != 0) failures++;
        lsh_runtime_unload(&rt);
        if (lsh_heap_current_bytes() != heap_before) leaks++;
    }
    LSH_CHECK(failures == 0, "%u load/compute/unload cycles all give the vector's output (%u failed)", CYCLES, failures);
    LSH_CHECK(leaks == 0, "%u cycles leave no heap behind (%u leaked)", CYCLES, leaks);
}

/* Loads the module once without a limit to find its peak, then under every heap budget from
 * 512 bytes to that peak in step_bytes steps: each budget must give lsh_err_out_of_memory or a
 * module that computes, never a crash or a leak. Returns the peak (0 when the module did not load). */
static size_t sweep_heap_budgets(const char *name, const uint8_t *module, size_t module_size, size_t step_bytes) {
    static uint8_t input[LSH_IN_SIZE];
    static uint8_t output[LSH_OUT_SIZE];
    static uint8_t carry[LSH_CARRY_SIZE];
    const size_t heap_before = lsh_heap_current_bytes();
    lsh_heap_reset_peak();
    lsh_result_t result = lsh_runtime_load(&rt, module, module_size);
    LSH_CHECK(result == lsh_ok, "%s loads for the heap test (%s)", name, lsh_runtime_detail(&rt));
    if (result != lsh_ok) return 0;
    LSH_CHECK(lsh_runtime_compute(&rt, input, NULL, output, carry) == lsh_ok, "%s: an all-zero input computes (the core reports its error in the block)", name);
    const size_t peak_bytes = lsh_heap_peak_bytes() - heap_before;
    lsh_runtime_unload(&rt);
    unsigned crashes_or_leaks = 0;
    unsigned refusals = 0;
    for (size_t limit = 512; limit < peak_bytes; limit += step_bytes) {
        lsh_heap_set_limit_bytes(heap_before + limit);
        result = lsh_runtime_load(&rt, module, module_size);
        if (result == lsh_err_out_of_memory) refusals++;
        else if (result == lsh_ok) {
            if (lsh_runtime_compute(&rt, input, NULL, output, carry) != lsh_ok) refusals++;
        } else {
            crashes_or_leaks++;
            fprintf(stderr, "%s, heap limit %zu: unexpected %s (%s)\n", name, limit, result, lsh_runtime_detail(&rt));
        }
        lsh_runtime_unload(&rt);
        if (lsh_heap_current_bytes() != heap_before) crashes_or_leaks++;
    }
    lsh_heap_set_limit_bytes(0);
    LSH_CHECK(refusals > 0 && crashes_or_leaks == 0, "%s: heap budgets below the peak (%zu-byte steps) give out_of_memory and leak nothing (%u refusals, %u bad)",
              name, step_bytes, refusals, crashes_or_leaks);
    return peak_bytes;
}

static void test_heap(void) {
    LSH_CHECK(lsh_heap_hooked() == 1, "wasm3 allocates through the counting hook in the native build");
    lsh_result_t result = lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size);
    LSH_CHECK(result == lsh_ok, "default module loads for the heap test");
    LSH_CHECK(rt.heap_bytes_loaded > LSH_MEMORY_LIMIT_BYTES, "the loaded runtime holds at least its capped memory (%zu bytes)", rt.heap_bytes_loaded);
    LSH_CHECK(rt.memory_size_bytes == LSH_MEMORY_LIMIT_BYTES, "linear memory is capped at %u bytes (got %u)",
              (unsigned)LSH_MEMORY_LIMIT_BYTES, (unsigned)rt.memory_size_bytes);
    LSH_CHECK(rt.carry_offset >= rt.output_offset + LSH_OUT_SIZE || rt.carry_offset + LSH_CARRY_SIZE <= rt.output_offset,
              "the carry block (at %u) does not overlap the output block (at %u)", (unsigned)rt.carry_offset, (unsigned)rt.output_offset);
    lsh_runtime_unload(&rt);
    const size_t peak_bytes = sweep_heap_budgets("the default module", lsh_module_default, lsh_module_default_size, 256);
    printf("info: peak heap of runtime + module + memory: %zu bytes\n", peak_bytes);
    /* Where a code page runs out depends on the module and on the build (4-byte code lines on
     * rv32, 8 natively), so the sweep above reaches wasm3's code-page failure only at the places
     * this module's code happens to put a page boundary. select-chain.wasm puts page boundaries
     * in the middle of a chain of selects on every build: wasm3 0.5.0 ignored a select's failed
     * page allocation and wrote past the end of its code page (heap corruption; on rv32 a store
     * fault in picolibc's realloc). A page is over 1 KiB, so a 256-byte sweep fails each one. */
    size_t chain_size = 0;
    uint8_t *chain = read_test_module("select-chain.wasm", &chain_size);
    if (chain == NULL) return;
    sweep_heap_budgets("select-chain.wasm", chain, chain_size, 256);
    free(chain);
}

static void test_selftest(void) {
    LSH_CHECK(lsh_selftest_vector_count >= 20, "the self-test embeds the policy-independent vectors (%zu)", lsh_selftest_vector_count);
    lsh_result_t result = lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size);
    LSH_CHECK(result == lsh_ok && lsh_selftest_run(&rt) == lsh_ok, "the default module passes the self-test (%s)", lsh_runtime_detail(&rt));
    lsh_runtime_unload(&rt);
    const struct { const char *file; const char *detail; } cases[] = {
        {"fake-ok.wasm", "output differs at byte"},
        {"traps.wasm", "unreachable"},
        /* The real module, except that it starts every call from a zero carry. */
        {"forgets-carry.wasm", "(after its own carry from earlier calls)"},
        /* The real module, except that it reports a foreign or corrupt carry as continued. */
        {"continues-foreign-carry.wasm", "the carry was continued"},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t size = 0;
        uint8_t *bytes = read_test_module(cases[c].file, &size);
        if (bytes == NULL) continue;
        result = lsh_runtime_load(&rt, bytes, size);
        const lsh_result_t tested = result == lsh_ok ? lsh_selftest_run(&rt) : result;
        LSH_CHECK(tested == lsh_err_selftest && strstr(lsh_runtime_detail(&rt), cases[c].detail) != NULL,
                  "%s fails the self-test: %s (%s)", cases[c].file, tested ? tested : "ok", lsh_runtime_detail(&rt));
        lsh_runtime_unload(&rt);
        free(bytes);
    }
}

void lsh_test_runtime(void) {
    test_embedded_module_current();
    test_vectors();
    test_bad_modules();
    test_traps();
    test_cycles();
    test_heap();
    test_selftest();
}
