/* lsh_run: the native ESP32 host as a filter, for `loadshare allocate --engine wasm3`.
 * ABI 4: every call takes an input block and a carry block and gives an output block and
 * the carry the module left (block sizes in lsh_abi.h: LSH_IN_SIZE, LSH_CARRY_SIZE,
 * LSH_OUT_SIZE).
 *
 *   lsh_run [--module FILE]   stdin: one input block, then one carry block or nothing (nothing:
 *                             a zero carry, the safe start). stdout: the output block, then
 *                             the carry block. Exit 0; 2 bad input or module (one sentence
 *                             on stderr, nothing on stdout); 3 the module trapped (nothing on
 *                             stdout).
 *   lsh_run --stream          stdin: u32le module size (0 = the embedded default module), the
 *                             module bytes, then per call an input block followed by a carry
 *                             block. stdout, per call: u32le status (0 ok, 1 trap), u32le
 *                             detail size, the detail text, the output block (zeros after a
 *                             trap), the carry block (after a trap: the carry handed in).
 *                             Calls are independent: each carries its own carry block in.
 * The module runs under wasm3 exactly as on the board (lsh_runtime.c); the speaker on the
 * other side is host-node/wasm3.ts (compute_blocks_with_wasm3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsh_module_default.h"
#include "lsh_runtime.h"

#define LSH_RUN_MODULE_BYTES_MAX (1024u * 1024u)

static lsh_runtime_t rt;
static uint8_t input[LSH_IN_SIZE];
static uint8_t carry[LSH_CARRY_SIZE];
static uint8_t output[LSH_OUT_SIZE];
static uint8_t carry_out[LSH_CARRY_SIZE];

static int usage(const char *message) {
    fprintf(stderr, "lsh_run: %s\n", message);
    return 2;
}

static size_t read_exact(uint8_t *buffer, size_t size) {
    size_t got = 0;
    while (got < size) {
        const size_t n = fread(buffer + got, 1, size - got, stdin);
        if (n == 0) break;
        got += n;
    }
    return got;
}

static void put_u32(uint32_t value) {
    const uint8_t bytes[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16), (uint8_t)(value >> 24)};
    fwrite(bytes, 1, sizeof(bytes), stdout);
}

static int load(const uint8_t *bytes, size_t size) {
    const lsh_result_t result = lsh_runtime_load(&rt, bytes, size);
    if (result != lsh_ok) {
        fprintf(stderr, "lsh_run: module refused: %s: %s\n", result, lsh_runtime_detail(&rt));
        return 0;
    }
    return 1;
}

static int run_stream(void) {
    uint8_t size_bytes[4];
    if (read_exact(size_bytes, 4) != 4) return usage("--stream expects a u32le module size first");
    const uint32_t module_size = (uint32_t)size_bytes[0] | ((uint32_t)size_bytes[1] << 8) | ((uint32_t)size_bytes[2] << 16) | ((uint32_t)size_bytes[3] << 24);
    if (module_size > LSH_RUN_MODULE_BYTES_MAX) return usage("module larger than 1 MiB");
    uint8_t *module = NULL;
    if (module_size > 0) {
        module = malloc(module_size);
        if (module == NULL) return usage("out of memory for the module");
        if (read_exact(module, module_size) != module_size) { free(module); return usage("module bytes cut short"); }
    }
    if (!(module_size > 0 ? load(module, module_size) : load(lsh_module_default, lsh_module_default_size))) {
        free(module);
        return 2;
    }
    int status = 0;
    for (;;) {
        const size_t got = read_exact(input, sizeof(input));
        if (got == 0) break;
        if (got != sizeof(input)) { status = usage("an input block was cut short"); break; }
        if (read_exact(carry, sizeof(carry)) != sizeof(carry)) { status = usage("a carry block was missing or cut short"); break; }
        const lsh_result_t result = lsh_runtime_compute(&rt, input, carry, output, carry_out);
        const char *detail = result == lsh_ok ? "" : lsh_runtime_detail(&rt);
        if (result != lsh_ok) {
            /* Nothing the module wrote is believed: zeros out, and the carry it was handed. */
            memset(output, 0, sizeof(output));
            memcpy(carry_out, carry, sizeof(carry_out));
        }
        put_u32(result == lsh_ok ? 0u : 1u);
        put_u32((uint32_t)strlen(detail));
        fwrite(detail, 1, strlen(detail), stdout);
        fwrite(output, 1, sizeof(output), stdout);
        fwrite(carry_out, 1, sizeof(carry_out), stdout);
    }
    fflush(stdout);
    lsh_runtime_unload(&rt);
    free(module);
    return status;
}

/* One input block, then one carry block or nothing (zeros). */
static const char *read_single_call(void) {
    if (read_exact(input, sizeof(input)) != sizeof(input)) return "standard input must hold one input block, then one carry block or nothing";
    const size_t got = read_exact(carry, sizeof(carry));
    if (got != 0 && got != sizeof(carry)) return "standard input must hold one input block, then one carry block or nothing";
    uint8_t extra = 0;
    if (read_exact(&extra, 1) != 0) return "standard input must hold one input block, then one carry block or nothing";
    return NULL;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--stream") == 0) return run_stream();
    uint8_t *module = NULL;
    size_t module_size = 0;
    if (argc == 3 && strcmp(argv[1], "--module") == 0) {
        FILE *file = fopen(argv[2], "rb");
        if (file == NULL) return usage("cannot open the module file");
        module = malloc(LSH_RUN_MODULE_BYTES_MAX);
        module_size = module != NULL ? fread(module, 1, LSH_RUN_MODULE_BYTES_MAX, file) : 0;
        fclose(file);
        if (module == NULL) return usage("out of memory for the module");
    } else if (argc != 1) {
        return usage("usage: lsh_run [--module FILE] < input-block [carry-block] > output-block carry-block, or lsh_run --stream");
    }
    if (!(module != NULL ? load(module, module_size) : load(lsh_module_default, lsh_module_default_size))) {
        free(module);
        return 2;
    }
    int status = 0;
    const char *bad_input = read_single_call();
    if (bad_input != NULL) {
        status = usage(bad_input);
    } else if (lsh_runtime_compute(&rt, input, carry, output, carry_out) != lsh_ok) {
        fprintf(stderr, "lsh_run: %s\n", lsh_runtime_detail(&rt));
        status = 3;
    } else {
        fwrite(output, 1, sizeof(output), stdout);
        fwrite(carry_out, 1, sizeof(carry_out), stdout);
        fflush(stdout);
    }
    lsh_runtime_unload(&rt);
    free(module);
    return status;
}
