/* The A/B module slots on POSIX storage, with real packages (signed by Node), real wasm3, the
 * real engine and guard, on virtual time: every refusal leaves the charger as it was, a good
 * package changes allocations (priority first: 50 A, priorities 0 and 1 -> 32/18 instead of
 * 25/25), a trap after activation falls to the failsafe at once and rolls back, and restarts
 * (a pending module, a corrupt slot, a corrupt state record, a crash in the self-test) end on
 * a module that verifies. The storage and the watchdog are the platform's (lsh_test_store.h):
 * files and a killed child process on POSIX, emulated flash and the machine timer on bare metal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsh_block.h"
#include "lsh_module_default.h"
#include "lsh_platform.h"
#include "lsh_slots.h"
#include "lsh_test.h"
#include "lsh_test_files.h"
#include "lsh_test_store.h"


static const double t0_ms = 1767225600000.0;
static const double bomb_ms = 2.1e12; /* the time bomb modules trap from 2e12 on */

static lsh_slots_t slots;
static lsh_engine_t engine;
static char trusted_pem[1024], second_pem[1024];
static const char *key_list[2];
static double last_limit_a;

static void record_limit(void *context, double limit_a) {
    (void)context;
    last_limit_a = limit_a;
}

/* A fresh, empty store for one scenario. */
static int fresh_store(void) { return lsh_test_store_fresh(); }

static void write_store_file(const char *name, const char *text) {
    lsh_platform_store_write(name, (const uint8_t *)text, strlen(text));
}

/* Boots the charger: slots, then the engine on the module the slots chose. */
static int next_boot_after_watchdog;

static lsh_result_t boot(uint32_t probation_ticks, size_t key_count) {
    lsh_slots_options_t options = {key_list, key_count, probation_ticks, next_boot_after_watchdog};
    next_boot_after_watchdog = 0;
    const lsh_result_t r = lsh_slots_init(&slots, &options, t0_ms);
    if (r != lsh_ok) return r;
    lsh_group_config_t config;
    memset(&config, 0, sizeof(config));
    config.group_id = "";
    config.group_max_current_a = 50;
    config.safety_factor = 1.0;
    config.heartbeat_timeout_s = 30;
    config.failsafe_mode = LSH_FAILSAFE_MODE_SAFE_CURRENT;
    config.failsafe_safe_current_a = 6;
    config.failsafe_peer_assumed_current_a = 6;
    const char *const ids[] = {"p1", "p2"};
    const lsh_shaper_t shaper = {NULL, record_limit};
    const lsh_result_t e = lsh_engine_init(&engine, lsh_slots_runtime(&slots), &config, "p1", ids, 2, 1u, NULL, &shaper);
    if (e != lsh_ok) return e;
    lsh_slots_attach_engine(&slots, &engine);
    return lsh_ok;
}

/* One tick: p1 (self, priority 0) and p2 (priority 1) both charging. */
static lsh_result_t tick(double now_ms, lsh_tick_result_t *t) {
    lsh_member_status_t peer;
    memset(&peer, 0, sizeof(peer));
    peer.id = "p2";
    peer.vehicle = 1;
    peer.state = 3;
    peer.priority = 1;
    peer.voltage_v = 240;
    peer.min_current_a = 6;
    peer.max_current_a = 32;
    peer.demand = -1;
    lsh_engine_handle_status(&engine, &peer, now_ms);
    /* The car draws what it is offered (no demand cap). */
    const lsh_self_facts_t self = {1, 3, 0, last_limit_a * 1000.0, 240.0, 6.0, 32.0, -1, last_limit_a};
    return lsh_slots_tick(&slots, now_ms, now_ms, &self, t);
}

/* The allocation the running module gives the two chargers. */
static int shares_are(double now_ms, double p1_a, double p2_a) {
    lsh_tick_result_t t;
    if (tick(now_ms, &t) != lsh_ok || t.tripped || !t.published.has_alloc) return 0;
    return t.published.alloc_a[0] == p1_a && t.published.alloc_a[1] == p2_a;
}

static lsh_result_t install(const char *name, double now_ms) {
    size_t size = 0;
    uint8_t *bytes = lsh_test_read_package(name, &size);
    if (bytes == NULL) return lsh_err_argument;
    const lsh_result_t r = lsh_slots_install(&slots, bytes, size, now_ms);
    /* The slots copied what they keep: the caller's buffer may go (ASan would see a use). */
    memset(bytes, 0xa5, size);
    free(bytes);
    return r;
}

static lsh_slots_status_t status(void) {
    lsh_slots_status_t s;
    lsh_slots_status(&slots, &s);
    return s;
}

static int slot_written(unsigned slot) {
    static uint8_t package[LSH_SLOT_PACKAGE_BYTES_MAX];
    size_t size = 0;
    return lsh_platform_slot_read(slot, package, sizeof(package), &size) == lsh_ok;
}

static void test_refusals(void) {
    static const struct {
        const char *package;
        lsh_result_t code;
        const char *says;
    } cases[] = {
        {"tampered-bytes", lsh_err_pkg_hash, "hash: the module bytes do not match"},
        {"tampered-manifest", lsh_err_pkg_signature, "signature: not signed by a trusted key"},
        {"unknown-key", lsh_err_pkg_signature, "signature: not signed by a trusted key"},
        {"wrong-abi", lsh_err_pkg_abi, "abi: package is for ABI "},
        {"imports", lsh_err_pkg_module, "module: module has imports"},
        {"module-abi", lsh_err_pkg_self_test, "self-test: module speaks another ABI version"},
        {"bad-layout", lsh_err_pkg_self_test, "self-test: module's ABI blocks"},
        {"not-wasm", lsh_err_pkg_module, "module: not a WebAssembly module"},
        {"traps", lsh_err_pkg_self_test, "self-test: vector"},
        {"stack-overflow", lsh_err_pkg_self_test, "self-test: vector"},
        {"lies", lsh_err_pkg_self_test, "self-test: vector"},
        /* Passes every vector; only the generated groups with other priorities catch it. */
        {"lies-on-priorities", lsh_err_pkg_self_test, "invariant broken: applied above target"},
        {"truncated", lsh_err_pkg_malformed, "package: truncated"},
        {"not-a-package", lsh_err_pkg_malformed, "package: not a loadshare module package"},
        {"trailing-bytes", lsh_err_pkg_malformed, "trailing bytes"},
        {"empty", lsh_err_pkg_malformed, "magic"},
    };
    LSH_CHECK(fresh_store() && boot(3, 1) == lsh_ok, "slots: a fresh charger boots");
    const lsh_slots_status_t before = status();
    LSH_CHECK(before.running.ref == LSH_MODULE_BUILTIN && before.active.ref == LSH_MODULE_BUILTIN && before.pending.ref == LSH_MODULE_NONE &&
                  before.previous.ref == LSH_MODULE_NONE && before.counter == 0 && !before.last_failure.present &&
                  strcmp(before.running.sha256_hex, lsh_module_default_sha256) == 0,
              "slots: a fresh charger runs the built-in module");
    LSH_CHECK(shares_are(t0_ms, 25, 25), "slots: the built-in module shares 50 A as 25/25");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const lsh_result_t r = install(cases[i].package, t0_ms + 1000.0 * (double)(i + 1));
        LSH_CHECK(r == cases[i].code, "refusal: %s gives %s (got %s: %s)", cases[i].package, lsh_package_code(cases[i].code), lsh_package_code(r),
                  lsh_slots_detail(&slots));
        LSH_CHECK(strstr(lsh_slots_detail(&slots), cases[i].says) != NULL, "refusal: %s says \"%s\" (%s)", cases[i].package, cases[i].says,
                  lsh_slots_detail(&slots));
        const lsh_slots_status_t after = status();
        LSH_CHECK(memcmp(&after, &before, sizeof(after)) == 0, "refusal: %s changes nothing in the status", cases[i].package);
        LSH_CHECK(shares_are(t0_ms + 1000.0 * (double)(i + 1) + 500.0, 25, 25), "refusal: %s: the charger keeps charging with the built-in module",
                  cases[i].package);
    }
    LSH_CHECK(!slot_written(0) && !slot_written(1), "refusal: no slot was written");

    /* Storage that fails: first the state record (nothing runs), then the slot itself (a
     * directory where the slot file should go: the candidate ran its self-test, then staging
     * fails). Either way the charger stays as it was, and the trial mark is cleared. */
    lsh_test_store_fail(1, 0);
    LSH_CHECK(install("pf-2", t0_ms + 30000) == lsh_err_store && strstr(lsh_slots_detail(&slots), "store:") != NULL,
              "store: an unwritable state record refuses the install (%s)", lsh_slots_detail(&slots));
    lsh_test_store_fail(0, 1);
    LSH_CHECK(install("pf-2", t0_ms + 31000) == lsh_err_store && strstr(lsh_slots_detail(&slots), "slot a could not be written") != NULL,
              "store: an unwritable slot refuses the install (%s)", lsh_slots_detail(&slots));
    lsh_test_store_fail(0, 0);
    lsh_slots_status_t after = status();
    LSH_CHECK(memcmp(&after, &before, sizeof(after)) == 0 && shares_are(t0_ms + 32000, 25, 25), "store: nothing changed, the built-in module decides");
    lsh_slots_deinit(&slots);
    LSH_CHECK(boot(3, 1) == lsh_ok && !status().last_failure.present && status().counter == 0, "store: after a restart no trial is left over");
    LSH_CHECK(install("pf-2", t0_ms + 33000) == lsh_ok, "store: with storage back, the same package installs");
    lsh_slots_deinit(&slots);
}

/* The same packages through the Node host's whole pipeline (install.txt, written by
 * scripts/gen-esp32-test-packages.mjs with ModuleManager) and through the C slots, each on a
 * fresh charger: the same verdict. */
static void test_install_cross_check(void) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/install.txt", lsh_test_packages_dir);
    FILE *list = fopen(path, "r");
    LSH_CHECK(list != NULL, "install cross-check: %s exists", path);
    if (list == NULL) return;
    char name[64], code[32];
    int count = 0, agreed = 0;
    while (fscanf(list, "%63s %31s", name, code) == 2) {
        count++;
        if (!fresh_store() || boot(3, 2) != lsh_ok) {
            LSH_CHECK(0, "install cross-check: boot for %s", name);
            continue;
        }
        const lsh_result_t r = install(name, t0_ms);
        const int same = strcmp(lsh_package_code(r), code) == 0;
        agreed += same;
        LSH_CHECK(same, "install cross-check: %s: Node's install says %s, C's says %s (%s)", name, code, lsh_package_code(r), lsh_slots_detail(&slots));
        lsh_slots_deinit(&slots);
    }
    fclose(list);
    LSH_CHECK(count >= 15, "install cross-check: %d packages", count);
    printf("install cross-check: %d of %d packages get the Node host's install verdict in C\n", agreed, count);
}

static void test_install_activate_rollback(void) {
    LSH_CHECK(fresh_store() && boot(3, 2) == lsh_ok, "swap: boot with two trusted keys");
    double now = t0_ms;
    LSH_CHECK(shares_are(now, 25, 25), "swap: 25/25 before");
    LSH_CHECK(install("pf-2", now) == lsh_ok, "swap: the priority-first package installs (%s)", lsh_slots_detail(&slots));
    lsh_slots_status_t s = status();
    LSH_CHECK(s.running.ref == LSH_MODULE_A && s.pending.ref == LSH_MODULE_A && s.active.ref == LSH_MODULE_BUILTIN && s.counter == 2 &&
                  strcmp(s.running.version, "pf-2") == 0 && strcmp(s.running.policy, "priority_first") == 0 && s.probation_left == 3 &&
                  strcmp(s.running.sha256_hex, s.builtin.sha256_hex) != 0,
              "swap: pf-2 runs from slot a, pending, on probation (3 ticks)");
    LSH_CHECK(shares_are(now += 1000, 32, 18), "swap: priority first gives 32/18 instead of 25/25");
    LSH_CHECK(shares_are(now += 1000, 32, 18) && status().pending.ref == LSH_MODULE_A, "swap: still on probation after 2 ticks");
    LSH_CHECK(shares_are(now += 1000, 32, 18), "swap: third clean tick");
    s = status();
    LSH_CHECK(s.active.ref == LSH_MODULE_A && s.pending.ref == LSH_MODULE_NONE && s.previous.ref == LSH_MODULE_BUILTIN && s.probation_left == 0,
              "swap: after probation pf-2 is active and the built-in module is previous");

    LSH_CHECK(install("pf-2", now) == lsh_err_pkg_downgrade && strstr(lsh_slots_detail(&slots), "counter 2 is not above the highest accepted (2)") != NULL,
              "downgrade: the same counter again is refused (%s)", lsh_slots_detail(&slots));
    LSH_CHECK(install("pf-1", now) == lsh_err_pkg_downgrade, "downgrade: an older counter is refused");

    /* A module that passes every check and traps in the field, after its probation. */
    LSH_CHECK(install("time-bomb-5", now) == lsh_ok, "trap: the time bomb passes the self-test (%s)", lsh_slots_detail(&slots));
    LSH_CHECK(status().running.ref == LSH_MODULE_B && status().previous.ref == LSH_MODULE_BUILTIN, "trap: staged in slot b");
    for (int i = 0; i < 3; i++) LSH_CHECK(shares_are(now += 1000, 32, 18), "trap: clean tick %d before the bomb", i);
    s = status();
    LSH_CHECK(s.active.ref == LSH_MODULE_B && s.previous.ref == LSH_MODULE_A && s.counter == 5, "trap: the time bomb became active, pf-2 previous");
    lsh_tick_result_t t;
    lsh_tick_result_t before_bomb;
    tick(now += 1000, &before_bomb);
    const double applied_a = before_bomb.limit_a;
    const lsh_result_t bomb_r = tick(bomb_ms, &t);
    LSH_CHECK(bomb_r == lsh_ok && t.tripped && t.limit_a == 6.0 && last_limit_a == 6.0 && t.limit_a <= applied_a,
              "trap: the trap gives the failsafe 6 A at once (got %g A, applied before %g A)", t.limit_a, applied_a);
    s = status();
    LSH_CHECK(s.running.ref == LSH_MODULE_A && s.active.ref == LSH_MODULE_A && s.previous.ref == LSH_MODULE_NONE && s.last_failure.present &&
                  s.last_failure.module == LSH_MODULE_B && strcmp(s.last_failure.version, "pf-time-bomb-5") == 0 &&
                  strstr(s.last_failure.reason, "module trapped") != NULL && s.last_failure.at_ms == bomb_ms,
              "trap: after activation it rolls back to the previous module (pf-2) and says why (%s)", s.last_failure.reason);
    lsh_tick_result_t after;
    const lsh_result_t after_r = tick(bomb_ms + 1000, &after);
    /* From here the restored module's own decision (the core's control law) sets the limit. */
    LSH_CHECK(after_r == lsh_ok && !after.tripped && after.published.has_alloc && after.published.alloc_a[0] == 32 && after.published.alloc_a[1] == 18 &&
                  after.limit_a <= after.published.alloc_a[0],
              "trap: pf-2 decides again on the next tick (32/18, limit %g A)", after.limit_a);

    /* On probation: a trap goes back to the active module. */
    LSH_CHECK(install("time-bomb-6", bomb_ms + 2000) == lsh_ok, "probation: time-bomb-6 installs (%s)", lsh_slots_detail(&slots));
    LSH_CHECK(status().pending.ref == LSH_MODULE_B && status().running.ref == LSH_MODULE_B, "probation: pending in slot b");
    LSH_CHECK(tick(bomb_ms + 3000, &t) == lsh_ok && t.tripped && t.limit_a <= 6.0, "probation: the trap gives at most the failsafe");
    s = status();
    LSH_CHECK(s.running.ref == LSH_MODULE_A && s.active.ref == LSH_MODULE_A && s.pending.ref == LSH_MODULE_NONE && s.last_failure.module == LSH_MODULE_B &&
                  strcmp(s.last_failure.version, "pf-time-bomb-6") == 0,
              "probation: a failure on probation rolls back to the active module");
    LSH_CHECK(install("time-bomb-6", bomb_ms + 4000) == lsh_err_pkg_downgrade, "downgrade: a rolled-back package cannot be installed again");
    LSH_CHECK(shares_are(bomb_ms + 5000, 32, 18), "probation: pf-2 keeps deciding");

    /* A second trusted key; then a failure on the built-in module is only logged. */
    LSH_CHECK(install("pf-second-key-20", bomb_ms + 6000) == lsh_ok && status().counter == 20, "keys: a package signed by the second trusted key installs");
    lsh_slots_deinit(&slots);
}

/* Installing over the slot that holds the previous module drops it as previous: after that,
 * a rollback must never reach the package that was written over it (and may itself have failed). */
static void test_previous_slot_reused(void) {
    LSH_CHECK(fresh_store() && boot(1, 1) == lsh_ok && install("pf-2", t0_ms) == lsh_ok && shares_are(t0_ms + 1000, 32, 18) &&
                  install("pf-3", t0_ms + 2000) == lsh_ok && shares_are(t0_ms + 3000, 32, 18),
              "previous: pf-2 then pf-3 activated");
    lsh_slots_status_t s = status();
    LSH_CHECK(s.active.ref == LSH_MODULE_B && s.previous.ref == LSH_MODULE_A && strcmp(s.previous.version, "pf-2") == 0, "previous: pf-3 active in b, pf-2 previous in a");
    LSH_CHECK(install("time-bomb-5", t0_ms + 4000) == lsh_ok, "previous: time-bomb-5 installs into slot a");
    s = status();
    LSH_CHECK(s.pending.ref == LSH_MODULE_A && s.previous.ref == LSH_MODULE_NONE, "previous: slot a no longer counts as the previous module");
    lsh_tick_result_t t;
    tick(bomb_ms, &t);
    LSH_CHECK(t.tripped && status().running.ref == LSH_MODULE_B, "previous: the bomb on probation rolls back to pf-3");
    LSH_CHECK(lsh_slots_report_failure(&slots, "test: pf-3 fails after activation", bomb_ms + 1000) == lsh_ok, "previous: report a failure of pf-3");
    s = status();
    LSH_CHECK(s.running.ref == LSH_MODULE_BUILTIN && s.active.ref == LSH_MODULE_BUILTIN && strcmp(s.last_failure.version, "pf-3") == 0,
              "previous: the rollback goes to the built-in module, not to the failed package in slot a");
    LSH_CHECK(shares_are(bomb_ms + 2000, 25, 25), "previous: 25/25 from the built-in module");
    LSH_CHECK(lsh_slots_report_failure(&slots, "test: built-in fails", bomb_ms + 3000) == lsh_ok && status().running.ref == LSH_MODULE_BUILTIN &&
                  strcmp(status().last_failure.version, "pf-3") == 0,
              "previous: a failure of the built-in module changes nothing (the guard keeps the charger safe)");
    lsh_slots_deinit(&slots);
}

static void test_status_json(void) {
    static char json[2048], expected[2048];
    LSH_CHECK(fresh_store() && boot(3, 1) == lsh_ok, "json: boot");
    lsh_slots_status_t s = status();
    const size_t length = lsh_slots_status_json(&s, json, sizeof(json));
    const char *sha = lsh_module_default_sha256;
    snprintf(expected, sizeof(expected),
             "{\"running\":{\"ref\":\"builtin\",\"version\":\"built-in\",\"counter\":0,\"policy\":\"equal_share\",\"sha256\":\"%s\"},"
             "\"active\":{\"ref\":\"builtin\",\"version\":\"built-in\",\"counter\":0,\"policy\":\"equal_share\",\"sha256\":\"%s\"},"
             "\"pending\":null,\"previous\":null,"
             "\"builtin\":{\"ref\":\"builtin\",\"version\":\"built-in\",\"counter\":0,\"policy\":\"equal_share\",\"sha256\":\"%s\"},"
             "\"counter\":0,\"probation_left\":0,\"last_failure\":null}",
             sha, sha, sha);
    LSH_CHECK(length == strlen(expected) && strcmp(json, expected) == 0, "json: a fresh charger's status (%s)", json);
    char small[10];
    LSH_CHECK(lsh_slots_status_json(&s, small, sizeof(small)) == length && strlen(small) == 9 && strncmp(small, expected, 9) == 0,
              "json: a short buffer gets a cut, terminated text and the full length");
    LSH_CHECK(install("pf-2", t0_ms) == lsh_ok, "json: pf-2 installs");
    LSH_CHECK(lsh_slots_report_failure(&slots, "bad \"quote\" back\\slash\nline \x01", t0_ms + 1234) == lsh_ok, "json: a failure with awkward text");
    s = status();
    lsh_slots_status_json(&s, json, sizeof(json));
    LSH_CHECK(strstr(json, "\"last_failure\":{\"at_ms\":1767225601234,\"module\":\"a\",\"version\":\"pf-2\","
                           "\"reason\":\"bad \\\"quote\\\" back\\\\slash\\u000aline \\u0001\"}") != NULL &&
                  strstr(json, "\"counter\":2,\"probation_left\":0") != NULL,
              "json: the failure is escaped and the counter kept (%s)", json);
    lsh_slots_deinit(&slots);
}

static void test_restarts(void) {
    /* A module pending at restart is not activated again; the active one is reloaded. */
    LSH_CHECK(fresh_store() && boot(5, 1) == lsh_ok, "restart: boot with 5 probation ticks");
    LSH_CHECK(install("pf-2", t0_ms) == lsh_ok, "restart: pf-2 installs");
    lsh_tick_result_t t;
    for (int i = 0; i < 5; i++) tick(t0_ms + 1000 * (i + 1), &t);
    LSH_CHECK(status().active.ref == LSH_MODULE_A, "restart: pf-2 active");
    LSH_CHECK(install("builtin-4", t0_ms + 7000) == lsh_ok && status().pending.ref == LSH_MODULE_B && shares_are(t0_ms + 8000, 25, 25),
              "restart: equal-share counter 4 pending in slot b (25/25)");
    lsh_slots_deinit(&slots); /* the watchdog resets the charger while the module is pending */
    next_boot_after_watchdog = 1;
    LSH_CHECK(boot(5, 1) == lsh_ok, "restart: boots again");
    lsh_slots_status_t s = status();
    LSH_CHECK(s.running.ref == LSH_MODULE_A && s.active.ref == LSH_MODULE_A && s.pending.ref == LSH_MODULE_NONE && s.counter == 4 &&
                  s.last_failure.module == LSH_MODULE_B && strstr(s.last_failure.reason, "on probation when the charger restarted") != NULL,
              "restart: the pending module is not activated again and takes the blame for the watchdog; pf-2 runs (%s)", s.last_failure.reason);
    LSH_CHECK(boot(5, 1) == lsh_err_argument, "restart: a second init without deinit is refused (it would leak the runtime)");
    LSH_CHECK(shares_are(t0_ms + 9000, 32, 18), "restart: pf-2 decides after the restart");
    LSH_CHECK(install("builtin-4", t0_ms + 9500) == lsh_err_pkg_downgrade, "restart: the dropped package is refused as a downgrade");
    lsh_slots_deinit(&slots);

    /* A state record that does not decode: built-in, with the counter recovered from the slots. */
    write_store_file("mod_state", "{not a state record");
    LSH_CHECK(boot(5, 1) == lsh_ok, "corrupt state: boots");
    s = status();
    LSH_CHECK(s.running.ref == LSH_MODULE_BUILTIN && s.counter == 4 && strstr(s.last_failure.reason, "unreadable") != NULL,
              "corrupt state: the built-in module runs, the counter (4) is recovered from the slots");
    LSH_CHECK(shares_are(t0_ms + 10000, 25, 25), "corrupt state: the built-in module decides");
    LSH_CHECK(install("pf-3", t0_ms + 11000) == lsh_err_pkg_downgrade, "corrupt state: an old package stays refused");
    lsh_slots_deinit(&slots);

    /* A slot that no longer verifies is never run. */
    LSH_CHECK(fresh_store() && boot(1, 1) == lsh_ok && install("pf-2", t0_ms) == lsh_ok && shares_are(t0_ms + 1000, 32, 18) &&
                  status().active.ref == LSH_MODULE_A,
              "corrupt slot: pf-2 active in slot a");
    lsh_slots_deinit(&slots);
    size_t size = 0;
    uint8_t *bytes = lsh_test_read_package("pf-2", &size);
    if (bytes != NULL) {
        bytes[size - 100] ^= 0x10; /* a flipped bit in the module on flash */
        LSH_CHECK(lsh_platform_slot_write(0, bytes, size) == lsh_ok, "corrupt slot: flip a bit in slot a");
        free(bytes);
    }
    LSH_CHECK(boot(1, 1) == lsh_ok, "corrupt slot: boots");
    s = status();
    LSH_CHECK(s.running.ref == LSH_MODULE_BUILTIN && s.active.ref == LSH_MODULE_BUILTIN && s.counter == 2 &&
                  strstr(s.last_failure.reason, "no longer verifies") != NULL,
              "corrupt slot: the built-in module runs instead (%s)", s.last_failure.reason);
    LSH_CHECK(shares_are(t0_ms + 2000, 25, 25), "corrupt slot: 25/25");
    lsh_slots_deinit(&slots);
    /* Signed by a key the charger does not trust (any more): never run either. */
    bytes = lsh_test_read_package("pf-second-key-20", &size);
    if (bytes != NULL) {
        lsh_platform_slot_write(0, bytes, size);
        free(bytes);
    }
    LSH_CHECK(boot(1, 1) == lsh_ok && status().running.ref == LSH_MODULE_BUILTIN, "corrupt slot: a slot signed by an untrusted key is not run");
    lsh_slots_deinit(&slots);
}

static void install_never_returns(void *arg) {
    (void)arg;
    install("never-returns", t0_ms + 2000); /* the self-test never returns */
}

/* The charger dies while a candidate's code runs in the self-test: a module that never returns
 * (wasm3 cannot interrupt a loop without calls) hangs the task until the watchdog resets the
 * chip. Here the platform's watchdog ends it (POSIX: a child process killed by a real-time
 * timer; bare metal: the machine timer's interrupt). The next boot must burn the candidate's
 * counter, so the same package is never tried again, and run what ran before. */
static void test_crash_in_self_test(void) {
    LSH_CHECK(fresh_store() && boot(1, 1) == lsh_ok && install("pf-2", t0_ms) == lsh_ok && shares_are(t0_ms + 1000, 32, 18),
              "watchdog: pf-2 active before");
    LSH_CHECK(lsh_test_watchdog_run(install_never_returns, NULL, 300) == 1, "watchdog: the install hung in the self-test until the watchdog fired");
    lsh_slots_deinit(&slots);
    LSH_CHECK(boot(1, 1) == lsh_ok, "watchdog: boots after the reset");
    const lsh_slots_status_t s = status();
    LSH_CHECK(s.running.ref == LSH_MODULE_A && s.counter == 10 && strstr(s.last_failure.reason, "counter 10) was under self-test") != NULL,
              "watchdog: pf-2 runs, the hung candidate's counter (10) is burnt (%s)", s.last_failure.reason);
    LSH_CHECK(install("never-returns", t0_ms + 3000) == lsh_err_pkg_downgrade, "watchdog: the same package is refused, never run again");
    LSH_CHECK(shares_are(t0_ms + 4000, 32, 18), "watchdog: pf-2 decides");
    /* A watchdog reset while an active module runs (it hung after its probation): the next
     * boot rolls back to the module before it. Twice: then the built-in module. */
    lsh_slots_deinit(&slots);
    LSH_CHECK(boot(1, 2) == lsh_ok && install("pf-second-key-20", t0_ms + 5000) == lsh_ok && shares_are(t0_ms + 6000, 32, 18) &&
                  status().active.ref == LSH_MODULE_B && status().previous.ref == LSH_MODULE_A,
              "watchdog: pf-20 (second key) active in b, pf-2 previous");
    lsh_slots_deinit(&slots);
    next_boot_after_watchdog = 1;
    LSH_CHECK(boot(1, 2) == lsh_ok, "watchdog: boots after a reset with pf-20 active");
    lsh_slots_status_t w = status();
    LSH_CHECK(w.running.ref == LSH_MODULE_A && w.active.ref == LSH_MODULE_A && w.previous.ref == LSH_MODULE_NONE && w.last_failure.module == LSH_MODULE_B &&
                  strstr(w.last_failure.reason, "reset by the watchdog") != NULL && shares_are(t0_ms + 7000, 32, 18),
              "watchdog: rolled back to pf-2 (%s)", w.last_failure.reason);
    LSH_CHECK(strcmp(w.last_failure.version, "pf-20-second-key") == 0 && strcmp(w.running.version, "pf-2") == 0, "watchdog: the failure names pf-20");
    lsh_slots_deinit(&slots);
    next_boot_after_watchdog = 1;
    LSH_CHECK(boot(1, 1) == lsh_ok && status().running.ref == LSH_MODULE_BUILTIN && shares_are(t0_ms + 8000, 25, 25),
              "watchdog: a second reset ends on the built-in module");
    lsh_slots_deinit(&slots);
    LSH_CHECK(boot(1, 1) == lsh_ok && status().running.ref == LSH_MODULE_BUILTIN, "watchdog: and stays there on a normal boot");
    lsh_slots_deinit(&slots);
}

void lsh_test_slots(void) {
    static const char *const names[] = {"trusted.pub.pem", "second.pub.pem"};
    char *const pems[] = {trusted_pem, second_pem};
    for (int i = 0; i < 2; i++) {
        const int ok = lsh_test_read_pem(names[i], pems[i], sizeof(trusted_pem));
        LSH_CHECK(ok, "slots: test key %s is readable", names[i]);
        if (!ok) return;
    }
    key_list[0] = trusted_pem;
    key_list[1] = second_pem;
    test_refusals();
    test_install_cross_check();
    test_install_activate_rollback();
    test_previous_slot_reused();
    test_status_json();
    test_restarts();
    test_crash_in_self_test();
    lsh_test_store_cleanup();
}
