/* The module slots of one charger (docs/hot-swap.md, ESP32 section), as
 * host-node/modules/manager.ts: the built-in module (flash, lsh_module_default), and two slots
 * A/B for signed packages on the platform storage (lsh_platform_slot_read/write) with the state
 * record in the key-value store (key "mod_state").
 *
 * A package received by the firmware goes to lsh_slots_install: verify (lsh_package.c) -> the
 * counter above the highest ever accepted -> load into a fresh runtime -> the conformance
 * self-test (lsh_selftest_run) and invariant checks over generated groups (lsh_guard) -> stage
 * into the slot that is not active -> switch the engine to it, on probation. lsh_slots_tick
 * runs the engine; after probation_ticks clean ticks the module becomes active, and any guard
 * trip (trap, error code, broken invariant) rolls back at once: to the active module while on
 * probation, to the previous one after, the built-in one as the last resort. A module pending
 * at restart is not activated again; a slot that no longer verifies is never run.
 *
 * Memory: everything lives in the caller's lsh_slots_t (declare it static, about 2 x
 * LSH_SLOT_PACKAGE_BYTES_MAX). Two runtimes are loaded for a moment during a swap, so a swap
 * needs twice a runtime's heap. One task owns it (the engine's task); nothing is thread-safe. */
#ifndef LSH_SLOTS_H
#define LSH_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include "lsh_engine.h"
#include "lsh_package.h"
#include "lsh_result.h"
#include "lsh_runtime.h"

/* The largest module a slot holds, bytes (the core is about 8 KiB). A package with a larger
 * module is refused as malformed ("larger than N bytes"); Node's limit is 256 KiB. */
#ifndef LSH_SLOT_MODULE_BYTES_MAX
#define LSH_SLOT_MODULE_BYTES_MAX 16384u
#endif
#define LSH_SLOT_PACKAGE_BYTES_MAX (LSH_SLOT_MODULE_BYTES_MAX + 12u + LSH_MANIFEST_BYTES_MAX + LSH_SIGNATURE_BYTES_MAX)

/* Generated groups checked against the guard's invariants in the self-test, per embedded
 * conformance vector (each vector's group with other priorities and pilot maximums). */
#ifndef LSH_SLOT_INVARIANT_VARIANTS
#define LSH_SLOT_INVARIANT_VARIANTS 4u
#endif

typedef enum lsh_module_ref {
    LSH_MODULE_NONE = 0,
    LSH_MODULE_BUILTIN = 1,
    LSH_MODULE_A = 2,
    LSH_MODULE_B = 3,
} lsh_module_ref_t;

/* "none", "builtin", "a", "b" */
const char *lsh_module_ref_name(lsh_module_ref_t ref);

typedef struct lsh_module_failure {
    int present;
    double at_ms;
    lsh_module_ref_t module;
    char version[LSH_MANIFEST_TEXT_MAX + 1];
    char reason[LSH_DETAIL_BYTES];
} lsh_module_failure_t;

/* The persisted record ("mod_state"). */
typedef struct lsh_slots_state {
    lsh_module_ref_t active;   /* builtin, a or b */
    lsh_module_ref_t previous; /* none, builtin, a or b */
    lsh_module_ref_t pending;  /* none, a or b */
    uint64_t counter;          /* highest counter ever accepted: no downgrade, not even after a rollback */
    uint64_t trial_counter;    /* a candidate's counter while its code runs in the self-test, else 0 */
    lsh_module_failure_t last_failure;
} lsh_slots_state_t;

typedef struct lsh_module_info {
    lsh_module_ref_t ref;      /* LSH_MODULE_NONE: no such module (e.g. nothing pending) */
    uint64_t counter;          /* 0 for the built-in module */
    char version[LSH_MANIFEST_TEXT_MAX + 1];
    char policy[LSH_MANIFEST_TEXT_MAX + 1];
    char sha256_hex[65];
} lsh_module_info_t;

typedef struct lsh_slots_status {
    lsh_module_info_t running; /* the module the engine uses now */
    lsh_module_info_t active;
    lsh_module_info_t pending;
    lsh_module_info_t previous;
    lsh_module_info_t builtin;
    uint64_t counter;
    uint32_t probation_left;
    lsh_module_failure_t last_failure;
} lsh_slots_status_t;

typedef struct lsh_slots_options {
    const char *const *trusted_keys_pem; /* PEM public keys (ECDSA P-256), 1..LSH_TRUSTED_KEYS_MAX */
    size_t trusted_key_count;
    uint32_t probation_ticks;            /* clean ticks before a new module is active; 0 = 30 */
    int watchdog_reset;                  /* 1: the last reset was a watchdog's (ESP-IDF: esp_reset_reason() is
                                          * ESP_RST_TASK_WDT, ESP_RST_INT_WDT or ESP_RST_WDT). The active
                                          * slot module is then treated as failed, unless a candidate was in
                                          * its self-test or a module on probation (those are blamed): a module
                                          * that hangs after its probation costs one reboot, not one per boot. */
} lsh_slots_options_t;

typedef struct lsh_slots_bank {
    lsh_runtime_t runtime;
    lsh_module_ref_t ref;      /* what the runtime runs; NONE when unloaded */
    lsh_manifest_t manifest;   /* for a slot module */
    uint8_t bytes[LSH_SLOT_PACKAGE_BYTES_MAX]; /* the module bytes wasm3 points into */
} lsh_slots_bank_t;

typedef struct lsh_slots {
    int initialized;
    lsh_trusted_keys_t keys;
    uint32_t probation_ticks;
    uint32_t probation_left;
    lsh_slots_state_t state;
    lsh_slots_bank_t banks[2];
    unsigned running_bank;
    lsh_engine_t *engine;
    int slot_valid[2];         /* the slot verified when last read or written */
    lsh_manifest_t slot_manifest[2];
    char detail[LSH_DETAIL_BYTES]; /* why the last install or init step failed */
} lsh_slots_t;

/* Parses the keys, reads the state (an unreadable state record means the built-in module,
 * and the counter is recovered from the slots that verify), applies the restart rules (a
 * pending module is dropped, a candidate that was under self-test has its counter burnt, after
 * a watchdog reset the active slot module is rolled back),
 * and loads the module to run (the built-in one when the active slot no longer verifies).
 * slots must be zeroed (static) or deinitialized. Errors: lsh_err_pkg_key / lsh_err_argument for
 * bad options or an initialized slots, or the built-in module's load error (out of heap) when
 * nothing could be loaded. */
lsh_result_t lsh_slots_init(lsh_slots_t *slots, const lsh_slots_options_t *options, double now_ms);

/* The runtime to hand to lsh_engine_init. */
lsh_runtime_t *lsh_slots_runtime(lsh_slots_t *slots);

/* The engine to switch on install and rollback (after lsh_engine_init with lsh_slots_runtime). */
void lsh_slots_attach_engine(lsh_slots_t *slots, lsh_engine_t *engine);

/* The firmware's entry point for received package bytes (copied; the caller's buffer may be
 * freed afterwards). lsh_ok: the module runs now, on probation. Otherwise one of the
 * lsh_err_pkg_* codes (lsh_package_code names it) or lsh_err_store, with a sentence in
 * lsh_slots_detail, and nothing changed: the engine keeps its module. */
lsh_result_t lsh_slots_install(lsh_slots_t *slots, const uint8_t *package, size_t package_size, double now_ms);

/* One engine tick (lsh_engine_tick: mono_ms the monotonic clock, wall_ms the wall clock),
 * watched: a guard trip rolls back at once (the tick itself already gave the failsafe
 * current); a clean tick counts toward the end of probation. */
lsh_result_t lsh_slots_tick(lsh_slots_t *slots, double mono_ms, double wall_ms, const lsh_self_facts_t *self, lsh_tick_result_t *tick_out);

/* The pieces of lsh_slots_tick, for a firmware that runs the engine itself. */
void lsh_slots_note_good_tick(lsh_slots_t *slots);
lsh_result_t lsh_slots_report_failure(lsh_slots_t *slots, const char *reason, double now_ms);

void lsh_slots_status(const lsh_slots_t *slots, lsh_slots_status_t *status_out);

/* The status as JSON, in the shape of the Node host's GET /loadsharing/module (ModuleStatus in
 * host-node/modules/manager.ts): running, active, pending, previous, builtin ({ref, version,
 * counter, policy, sha256} or null), counter, probation_left, last_failure ({at_ms, module,
 * version, reason} or null; module is null for a failure that belongs to no slot). Returns the
 * length of the whole text, as snprintf does; the output is cut (and NUL-terminated) when
 * size_bytes is too small. About 1 KiB is enough. */
size_t lsh_slots_status_json(const lsh_slots_status_t *status, char *out, size_t size_bytes);

/* The last refusal's sentence ("" after success). */
const char *lsh_slots_detail(const lsh_slots_t *slots);

/* Unloads both runtimes and frees the keys. */
void lsh_slots_deinit(lsh_slots_t *slots);

/* The state record's bytes (exposed for tests of a corrupt record). */
#define LSH_SLOTS_STATE_KEY "mod_state"

#endif /* LSH_SLOTS_H */
