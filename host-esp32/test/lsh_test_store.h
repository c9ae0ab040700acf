/* What the slot tests do to the charger's storage and to the charger itself, per platform:
 * POSIX (lsh_test_store_posix.c: files in a temporary folder, a child process killed by a
 * timer) and bare metal (lsh_test_store_baremetal.c: the emulated flash, the machine timer). */
#ifndef LSH_TEST_STORE_H
#define LSH_TEST_STORE_H

/* A fresh, empty store (no slots, no state record); 1 on success. */
int lsh_test_store_fresh(void);

/* From now on, writes of the state record (and of other keys) fail when fail_state is 1, and
 * writes of slot a fail when fail_slot_a is 1; 0, 0 makes storage work again. */
void lsh_test_store_fail(int fail_state, int fail_slot_a);

/* Removes what lsh_test_store_fresh made. */
void lsh_test_store_cleanup(void);

/* Runs fn(arg) as the charger's task with a watchdog of timeout_ms: 1 when the watchdog ended
 * it (fn hung), 0 when fn returned. Whatever fn changed in memory is lost as in a reset on
 * POSIX (it runs in a child process); on bare metal it stays, and the caller reboots. */
int lsh_test_watchdog_run(void (*fn)(void *), void *arg, unsigned timeout_ms);

#endif /* LSH_TEST_STORE_H */
