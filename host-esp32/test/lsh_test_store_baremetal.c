/* The slot tests' storage and watchdog on bare metal (see lsh_test_store.h): the emulated flash
 * of lsh_platform_baremetal.c and the board's machine-timer watchdog (host-esp32/rv32/). */
#include "lsh_test_store.h"

#include "lsh_board.h"
#include "lsh_platform_baremetal.h"

int lsh_test_store_fresh(void) {
    lsh_platform_baremetal_flash_erase_all();
    return 1;
}

void lsh_test_store_fail(int fail_state, int fail_slot_a) {
    lsh_platform_baremetal_flash_fail((fail_state ? LSH_BAREMETAL_FAIL_STORE : 0u) | (fail_slot_a ? LSH_BAREMETAL_FAIL_SLOT_A : 0u));
}

void lsh_test_store_cleanup(void) { lsh_platform_baremetal_flash_erase_all(); }

int lsh_test_watchdog_run(void (*fn)(void *), void *arg, unsigned timeout_ms) {
    return lsh_board_run_with_watchdog(fn, arg, timeout_ms);
}

/* The linker script (rv32/esp32c3.ld) reserves lsh_app_reserved_bytes of the 400 KB for the
 * firmware's static engine and slots; the test runner's own copies live outside the SRAM. */
#include "lsh_engine.h"
#include "lsh_slots.h"
_Static_assert(sizeof(lsh_engine_t) + sizeof(lsh_slots_t) <= 64u * 1024u,
               "the firmware's static lsh_engine_t + lsh_slots_t outgrew lsh_app_reserved_bytes in rv32/esp32c3.ld");
