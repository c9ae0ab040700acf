/* The slot tests' storage and watchdog on POSIX (see lsh_test_store.h): the store is a
 * temporary folder ($LSH_STORE_DIR, lsh_platform_posix.c), a failing store is a folder that
 * does not exist or a directory where the slot file goes, and the watchdog is a real-time
 * timer that kills a child process. */
#include "lsh_test_store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static char store_dir[64];

static void remove_store_files(void) {
    static const char *const names[] = {"mod_state", "mod_slot_a", "mod_slot_b", "mod_state.tmp", "mod_slot_a.tmp", "mod_slot_b.tmp"};
    char path[128];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", store_dir, names[i]);
        unlink(path);
    }
}

int lsh_test_store_fresh(void) {
    lsh_test_store_cleanup();
    snprintf(store_dir, sizeof(store_dir), "/tmp/lsh-slots-XXXXXX");
    if (mkdtemp(store_dir) == NULL) return 0;
    return setenv("LSH_STORE_DIR", store_dir, 1) == 0;
}

void lsh_test_store_fail(int fail_state, int fail_slot_a) {
    char slot_path[128];
    snprintf(slot_path, sizeof(slot_path), "%s/mod_slot_a", store_dir);
    setenv("LSH_STORE_DIR", fail_state ? "/nonexistent-lsh-store" : store_dir, 1);
    if (fail_slot_a) mkdir(slot_path, 0755);
    else rmdir(slot_path);
}

void lsh_test_store_cleanup(void) {
    if (store_dir[0] == '\0') return;
    remove_store_files();
    rmdir(store_dir);
    store_dir[0] = '\0';
    unsetenv("LSH_STORE_DIR");
}

int lsh_test_watchdog_run(void (*fn)(void *), void *arg, unsigned timeout_ms) {
    fflush(NULL);
    const pid_t child = fork();
    if (child == 0) {
        const struct itimerval watchdog = {{0, 0}, {(time_t)(timeout_ms / 1000u), (suseconds_t)(timeout_ms % 1000u) * 1000}};
        setitimer(ITIMER_REAL, &watchdog, NULL);
        fn(arg);
        _exit(0);
    }
    int wstatus = 0;
    if (child < 0 || waitpid(child, &wstatus, 0) != child) return -1;
    return WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGALRM ? 1 : 0;
}
