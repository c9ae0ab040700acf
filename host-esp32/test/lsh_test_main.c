/* The native test runner: conformance vectors through wasm3, bad modules, load/compute/unload
 * cycles, engine ticks, the guard, signed packages and the module slots.
 * Usage: lsh_test --root REPO --modules DIR [--packages DIR].
 * Last line: `esp32: N passed, N failed`; exit 1 on any failure. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lsh_test.h"

#ifdef LSH_PLATFORM_BAREMETAL
#include "lsh_board.h"
#include "lsh_platform_baremetal.h"
#endif

int lsh_test_passed = 0;
int lsh_test_failed = 0;
const char *lsh_test_root = ".";
const char *lsh_test_modules_dir = "build/esp32/test-modules";

void lsh_test_check(int ok, const char *file, int line, const char *format, ...) {
    if (ok) {
        lsh_test_passed++;
        return;
    }
    lsh_test_failed++;
    va_list args;
    va_start(args, format);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

int main(int argc, char **argv) {
#ifdef LSH_PLATFORM_BAREMETAL
    /* As LSH_LOG_QUIET=1 does natively: errors only. argv[0] is picolibc's "program-name". */
    lsh_platform_baremetal_set_log_level(LSH_LOG_ERROR);
    lsh_board_stack_paint();
#endif
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--root") == 0) lsh_test_root = argv[i + 1];
        else if (strcmp(argv[i], "--modules") == 0) lsh_test_modules_dir = argv[i + 1];
#ifdef LSH_TEST_HOT_SWAP
        else if (strcmp(argv[i], "--packages") == 0) lsh_test_packages_dir = argv[i + 1];
#endif
        else {
            fprintf(stderr, "lsh_test: unknown option %s (use --root DIR --modules DIR --packages DIR)\n", argv[i]);
            return 2;
        }
    }
    lsh_test_runtime();
    lsh_test_guard();
    lsh_test_engine();
    lsh_test_facts();
#ifdef LSH_TEST_HOT_SWAP
    lsh_test_package();
    lsh_test_slots();
#endif
#ifdef LSH_TEST_MEMBER
    lsh_test_member();
#endif
#ifdef LSH_PLATFORM_BAREMETAL
    /* What the whole run took of the 400 KB map (host-esp32/rv32/esp32c3.ld). */
    printf("info: rv32 heap taken %zu of %zu bytes, main stack high-water %zu of %zu bytes\n", lsh_board_heap_taken_bytes(),
           lsh_board_heap_size_bytes(), lsh_board_stack_high_water_bytes(), lsh_board_stack_size_bytes());
#endif
    printf("esp32: %d passed, %d failed\n", lsh_test_passed, lsh_test_failed);
#ifdef LSH_PLATFORM_BAREMETAL
    lsh_board_exit(lsh_test_failed == 0 ? 0 : 1); /* returning from main would not stop QEMU */
#endif
    return lsh_test_failed == 0 ? 0 : 1;
}
