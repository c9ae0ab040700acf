/* The A/B module slots (see lsh_slots.h; the Node twin is host-node/modules/manager.ts). */
#include "lsh_slots.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lsh_block.h"
#include "lsh_guard.h"
#include "lsh_module_default.h"
#include "lsh_platform.h"
#include "lsh_selftest.h"

#define STATE_FORMAT 1u
#define STATE_REASON_BYTES 160u
#define STATE_VERSION_BYTES (LSH_MANIFEST_TEXT_MAX + 1u)
_Static_assert(STATE_VERSION_BYTES == sizeof(((lsh_module_failure_t *)0)->version), "the record holds a whole version");
/* magic 4, format/active/previous/pending 4, counter 8, trial 8, failure present/module 2,
 * reserved 2, at_ms 8, version, reason, SHA-256 of everything before it 32. */
#define STATE_BODY_BYTES (36u + STATE_VERSION_BYTES + STATE_REASON_BYTES)
#define STATE_BYTES (STATE_BODY_BYTES + 32u)

const char *lsh_module_ref_name(lsh_module_ref_t ref) {
    switch (ref) {
    case LSH_MODULE_BUILTIN: return "builtin";
    case LSH_MODULE_A: return "a";
    case LSH_MODULE_B: return "b";
    default: return "none";
    }
}

static int is_slot(lsh_module_ref_t ref) { return ref == LSH_MODULE_A || ref == LSH_MODULE_B; }
static unsigned slot_index(lsh_module_ref_t ref) { return ref == LSH_MODULE_B ? 1u : 0u; }

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static lsh_result_t refuse(lsh_slots_t *slots, lsh_result_t result, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(slots->detail, sizeof(slots->detail), format, args);
    va_end(args);
    lsh_platform_log(LSH_LOG_WARN, "module refused (%s): %s", lsh_package_code(result), slots->detail);
    return result;
}

/* ---- the state record ---- */

static void put_u64(uint8_t *p, uint64_t v) {
    for (unsigned i = 0; i < 8u; i++) p[i] = (uint8_t)(v >> (8u * i));
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (unsigned i = 0; i < 8u; i++) v |= (uint64_t)p[i] << (8u * i);
    return v;
}

static void encode_state(const lsh_slots_state_t *s, uint8_t out[STATE_BYTES]) {
    memset(out, 0, STATE_BYTES);
    memcpy(out, "LSST", 4);
    out[4] = STATE_FORMAT;
    out[5] = (uint8_t)s->active;
    out[6] = (uint8_t)s->previous;
    out[7] = (uint8_t)s->pending;
    put_u64(out + 8, s->counter);
    put_u64(out + 16, s->trial_counter);
    out[24] = s->last_failure.present ? 1u : 0u;
    out[25] = (uint8_t)s->last_failure.module;
    uint64_t at_bits = 0;
    memcpy(&at_bits, &s->last_failure.at_ms, sizeof(at_bits));
    put_u64(out + 28, at_bits);
    snprintf((char *)out + 36, STATE_VERSION_BYTES, "%s", s->last_failure.version);
    snprintf((char *)out + 36 + STATE_VERSION_BYTES, STATE_REASON_BYTES, "%s", s->last_failure.reason);
    (void)lsh_sha256(out, STATE_BODY_BYTES, out + STATE_BODY_BYTES);
}

static int decode_state(const uint8_t *in, size_t size, lsh_slots_state_t *s) {
    uint8_t digest[32];
    if (size != STATE_BYTES || memcmp(in, "LSST", 4) != 0 || in[4] != STATE_FORMAT) return 0;
    if (lsh_sha256(in, STATE_BODY_BYTES, digest) != lsh_ok || memcmp(digest, in + STATE_BODY_BYTES, 32) != 0) return 0;
    const lsh_module_ref_t active = (lsh_module_ref_t)in[5], previous = (lsh_module_ref_t)in[6], pending = (lsh_module_ref_t)in[7];
    if (active != LSH_MODULE_BUILTIN && !is_slot(active)) return 0;
    if (previous > LSH_MODULE_B || (pending != LSH_MODULE_NONE && !is_slot(pending)) || pending == active) return 0;
    if (in[24] > 1u || in[25] > LSH_MODULE_B) return 0;
    if (memchr(in + 36, 0, STATE_VERSION_BYTES) == NULL || memchr(in + 36 + STATE_VERSION_BYTES, 0, STATE_REASON_BYTES) == NULL) return 0;
    memset(s, 0, sizeof(*s));
    s->active = active;
    s->previous = previous;
    s->pending = pending;
    s->counter = get_u64(in + 8);
    s->trial_counter = get_u64(in + 16);
    s->last_failure.present = in[24];
    s->last_failure.module = (lsh_module_ref_t)in[25];
    const uint64_t at_bits = get_u64(in + 28);
    memcpy(&s->last_failure.at_ms, &at_bits, sizeof(at_bits));
    /* Both fields hold a NUL (checked above); copy them whole, and terminate the reason in case
     * LSH_DETAIL_BYTES is smaller than the record's field. */
    memcpy(s->last_failure.version, in + 36, STATE_VERSION_BYTES);
    const size_t reason_bytes = sizeof(s->last_failure.reason) < STATE_REASON_BYTES ? sizeof(s->last_failure.reason) : STATE_REASON_BYTES;
    memcpy(s->last_failure.reason, in + 36 + STATE_VERSION_BYTES, reason_bytes);
    s->last_failure.reason[reason_bytes - 1] = '\0';
    return 1;
}

static lsh_result_t write_state(const lsh_slots_state_t *s) {
    uint8_t record[STATE_BYTES];
    encode_state(s, record);
    const lsh_result_t r = lsh_platform_store_write(LSH_SLOTS_STATE_KEY, record, sizeof(record));
    if (r != lsh_ok) lsh_platform_log(LSH_LOG_ERROR, "module state could not be written");
    return r;
}

static void fresh_state(lsh_slots_state_t *s) {
    memset(s, 0, sizeof(*s));
    s->active = LSH_MODULE_BUILTIN;
    s->previous = LSH_MODULE_NONE;
    s->pending = LSH_MODULE_NONE;
}

static const char *module_version(const lsh_slots_t *slots, lsh_module_ref_t ref) {
    if (ref == LSH_MODULE_BUILTIN) return "built-in";
    if (is_slot(ref) && slots->slot_valid[slot_index(ref)]) return slots->slot_manifest[slot_index(ref)].version;
    return "?";
}

static void record_failure(lsh_slots_t *slots, lsh_module_ref_t ref, const char *version, const char *reason, double now_ms) {
    lsh_module_failure_t *f = &slots->state.last_failure;
    f->present = 1;
    f->at_ms = now_ms;
    f->module = ref;
    snprintf(f->version, sizeof(f->version), "%s", version);
    snprintf(f->reason, sizeof(f->reason), "%s", reason);
    lsh_platform_log(LSH_LOG_WARN, "module %s (%s) failed: %s", lsh_module_ref_name(ref), f->version, f->reason);
}

/* ---- loading ---- */

/* Reads a slot into a bank's buffer and verifies it; the module is moved to the buffer's start. */
static lsh_result_t read_slot(lsh_slots_t *slots, unsigned slot, lsh_slots_bank_t *bank, lsh_manifest_t *manifest_out) {
    size_t size = 0;
    lsh_result_t r = lsh_platform_slot_read(slot, bank->bytes, sizeof(bank->bytes), &size);
    if (r != lsh_ok) return r;
    lsh_package_t pkg;
    char detail[LSH_DETAIL_BYTES];
    r = lsh_package_verify(bank->bytes, size, sizeof(bank->bytes), &slots->keys, &pkg, detail, sizeof(detail));
    if (r != lsh_ok) {
        lsh_platform_log(LSH_LOG_WARN, "module slot %s does not verify: %s", slot == 0u ? "a" : "b", detail);
        return r;
    }
    *manifest_out = pkg.manifest;
    memmove(bank->bytes, pkg.module, pkg.module_size);
    return lsh_ok;
}

static void unload_bank(lsh_slots_bank_t *bank) {
    lsh_runtime_unload(&bank->runtime);
    bank->ref = LSH_MODULE_NONE;
}

/* Loads ref into bank (unloaded first). Slots are read from storage and verified again: a slot
 * that no longer verifies is never run. */
static lsh_result_t load_ref(lsh_slots_t *slots, lsh_module_ref_t ref, lsh_slots_bank_t *bank) {
    unload_bank(bank);
    if (ref == LSH_MODULE_BUILTIN) {
        const lsh_result_t r = lsh_runtime_load(&bank->runtime, lsh_module_default, lsh_module_default_size);
        if (r == lsh_ok) bank->ref = ref;
        return r;
    }
    if (!is_slot(ref)) return lsh_err_argument;
    const unsigned slot = slot_index(ref);
    lsh_result_t r = read_slot(slots, slot, bank, &bank->manifest);
    slots->slot_valid[slot] = r == lsh_ok;
    if (r != lsh_ok) return r;
    slots->slot_manifest[slot] = bank->manifest;
    r = lsh_runtime_load(&bank->runtime, bank->bytes, (size_t)bank->manifest.module_size);
    if (r != lsh_ok) {
        lsh_platform_log(LSH_LOG_WARN, "module slot %s does not load: %s", lsh_module_ref_name(ref), lsh_runtime_detail(&bank->runtime));
        return r;
    }
    bank->ref = ref;
    return lsh_ok;
}

/* ---- the self-test's invariant checks ---- */

static uint32_t next_random(uint32_t *state) {
    /* xorshift32: deterministic, so a refusal is reproducible. */
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* Each embedded vector's group again with other priorities and pilot maximums: answers the
 * vectors cannot fix (the policy decides them), but every answer must pass the guard. */
static lsh_result_t invariant_checks(lsh_runtime_t *rt, char *detail, size_t detail_size) {
    static uint8_t input[LSH_IN_SIZE];
    static uint8_t output[LSH_OUT_SIZE];
    static uint8_t carry[LSH_CARRY_SIZE];
    uint32_t seed = 0x4c534821u;
    for (size_t v = 0; v < lsh_selftest_vector_count; v++) {
        const lsh_selftest_vector_t *vector = &lsh_selftest_vectors[v];
        /* A vector whose answer is an error code is an invalid view on purpose; so are its
         * variants, and a module may refuse them. */
        memset(output, 0, sizeof(output));
        memcpy(output, vector->output, vector->output_size);
        if (lsh_block_u32(output, LSH_OUT_ERROR_CODE) != LSH_ERROR_OK) continue;
        for (uint32_t k = 0; k < LSH_SLOT_INVARIANT_VARIANTS; k++) {
            memset(input, 0, sizeof(input));
            memcpy(input, vector->input, vector->input_size);
            const uint32_t count = lsh_block_u32(input, LSH_IN_MEMBER_COUNT);
            for (uint32_t i = 0; i < count && i < LSH_MEMBERS_MAX; i++) {
                const uint32_t base = LSH_IN_MEMBER_BASE + i * LSH_IN_MEMBER_STRIDE;
                lsh_block_set_u32(input, base + LSH_IN_MEMBER_PRIORITY, next_random(&seed) % 3u);
                const double min_a = lsh_block_f64(input, base + LSH_IN_MEMBER_MIN_CURRENT_A);
                const double max_a = lsh_block_f64(input, base + LSH_IN_MEMBER_MAX_CURRENT_A);
                if (k % 2u == 1u && isfinite(min_a) && isfinite(max_a) && max_a > min_a && max_a - min_a <= 64.0) {
                    lsh_block_set_f64(input, base + LSH_IN_MEMBER_MAX_CURRENT_A, min_a + (double)(next_random(&seed) % (uint32_t)(max_a - min_a + 1.0)));
                }
            }
            const lsh_result_t r = lsh_runtime_compute(rt, input, NULL, output, carry); /* the safe start */
            lsh_guard_verdict_t verdict;
            lsh_guard_decide(r, lsh_runtime_detail(rt), input, output, 0.0, &verdict);
            if (verdict.tripped) {
                snprintf(detail, detail_size, "self-test: generated group %.32s/%u: %.80s", vector->name, (unsigned)k, verdict.reason);
                return lsh_err_pkg_self_test;
            }
        }
    }
    return lsh_ok;
}

/* ---- init ---- */

lsh_result_t lsh_slots_init(lsh_slots_t *slots, const lsh_slots_options_t *options, double now_ms) {
    if (slots == NULL || options == NULL || slots->initialized) return lsh_err_argument; /* a second init would leak */
    memset(slots, 0, sizeof(*slots));
    if (options->trusted_key_count == 0) {
        snprintf(slots->detail, sizeof(slots->detail), "no trusted module key configured");
        return lsh_err_argument;
    }
    lsh_result_t r = lsh_trusted_keys_init(&slots->keys, options->trusted_keys_pem, options->trusted_key_count,
                                           slots->detail, sizeof(slots->detail));
    if (r != lsh_ok) return r;
    slots->probation_ticks = options->probation_ticks != 0 ? options->probation_ticks : 30u;

    /* What each slot holds, for status and for recovering the counter (bank 1 as scratch). */
    for (unsigned slot = 0; slot < 2u; slot++) {
        slots->slot_valid[slot] = read_slot(slots, slot, &slots->banks[1], &slots->slot_manifest[slot]) == lsh_ok;
    }

    static uint8_t record[STATE_BYTES + 1];
    size_t size = 0;
    int dirty = 0;
    const lsh_result_t read = lsh_platform_store_read(LSH_SLOTS_STATE_KEY, record, sizeof(record), &size);
    if (read != lsh_ok || !decode_state(record, size, &slots->state)) {
        fresh_state(&slots->state);
        if (read == lsh_ok) {
            /* A record that exists but does not decode: run the built-in module, and keep the
             * no-downgrade promise by taking the highest counter any verifying slot holds. */
            for (unsigned slot = 0; slot < 2u; slot++) {
                if (slots->slot_valid[slot] && slots->slot_manifest[slot].counter > slots->state.counter) {
                    slots->state.counter = slots->slot_manifest[slot].counter;
                }
            }
            record_failure(slots, LSH_MODULE_NONE, "?", "the module state record is unreadable; using the built-in module", now_ms);
            dirty = 1;
        }
    }
    /* What ran when the charger went down: a candidate in the self-test (trial), a module on
     * probation (pending), or else the active module. Only the last is blamed for a watchdog reset. */
    const int active_was_running = slots->state.trial_counter == 0 && slots->state.pending == LSH_MODULE_NONE;
    if (slots->state.trial_counter != 0) {
        /* The charger restarted while a candidate's code ran in the self-test (a watchdog reset
         * on a module that never returns): its counter is burnt, so it is never tried again. */
        char reason[LSH_DETAIL_BYTES];
        snprintf(reason, sizeof(reason), "a module (counter %llu) was under self-test when the charger restarted; refused",
                 (unsigned long long)slots->state.trial_counter);
        if (slots->state.trial_counter > slots->state.counter) slots->state.counter = slots->state.trial_counter;
        slots->state.trial_counter = 0;
        record_failure(slots, LSH_MODULE_NONE, "?", reason, now_ms);
        dirty = 1;
    }
    if (slots->state.pending != LSH_MODULE_NONE) {
        record_failure(slots, slots->state.pending, module_version(slots, slots->state.pending),
                       "was on probation when the charger restarted; not activated again", now_ms);
        slots->state.pending = LSH_MODULE_NONE;
        dirty = 1;
    }
    if (options->watchdog_reset && active_was_running && is_slot(slots->state.active)) {
        /* An active module that hung after its probation (or the firmware hung elsewhere:
         * going back a module is the safe side). */
        record_failure(slots, slots->state.active, module_version(slots, slots->state.active),
                       "the charger was reset by the watchdog while this module was active; rolled back", now_ms);
        slots->state.active = slots->state.previous != LSH_MODULE_NONE ? slots->state.previous : LSH_MODULE_BUILTIN;
        slots->state.previous = LSH_MODULE_NONE;
        dirty = 1;
    }
    slots->running_bank = 0;
    r = load_ref(slots, slots->state.active, &slots->banks[0]);
    if (r != lsh_ok && slots->state.active != LSH_MODULE_BUILTIN) {
        record_failure(slots, slots->state.active, module_version(slots, slots->state.active), "the active slot no longer verifies or loads", now_ms);
        slots->state.active = LSH_MODULE_BUILTIN;
        if (slots->state.previous == LSH_MODULE_BUILTIN) slots->state.previous = LSH_MODULE_NONE;
        dirty = 1;
        r = load_ref(slots, LSH_MODULE_BUILTIN, &slots->banks[0]);
    }
    if (dirty) (void)write_state(&slots->state);
    if (r != lsh_ok) {
        snprintf(slots->detail, sizeof(slots->detail), "the built-in module does not load: %s", lsh_runtime_detail(&slots->banks[0].runtime));
        lsh_trusted_keys_free(&slots->keys);
        return r;
    }
    slots->initialized = 1;
    slots->detail[0] = '\0';
    return lsh_ok;
}

lsh_runtime_t *lsh_slots_runtime(lsh_slots_t *slots) {
    return slots != NULL && slots->initialized ? &slots->banks[slots->running_bank].runtime : NULL;
}

void lsh_slots_attach_engine(lsh_slots_t *slots, lsh_engine_t *engine) {
    if (slots != NULL) slots->engine = engine;
}

/* Makes bank `to` the running one: the engine switches to it, the old bank is unloaded. */
static lsh_result_t switch_to_bank(lsh_slots_t *slots, unsigned to) {
    if (slots->engine != NULL) {
        const lsh_result_t r = lsh_engine_use_runtime(slots->engine, &slots->banks[to].runtime);
        if (r != lsh_ok) return r;
    }
    unload_bank(&slots->banks[slots->running_bank]);
    slots->running_bank = to;
    return lsh_ok;
}

/* ---- install ---- */

lsh_result_t lsh_slots_install(lsh_slots_t *slots, const uint8_t *package, size_t package_size, double now_ms) {
    if (slots == NULL || !slots->initialized || (package == NULL && package_size > 0)) return lsh_err_argument;
    slots->detail[0] = '\0';
    lsh_package_t pkg;
    char detail[LSH_DETAIL_BYTES];
    lsh_result_t r = lsh_package_verify(package, package_size, LSH_SLOT_PACKAGE_BYTES_MAX, &slots->keys, &pkg, detail, sizeof(detail));
    if (r != lsh_ok) return refuse(slots, r, "%s", detail);
    if (pkg.manifest.counter <= slots->state.counter) {
        return refuse(slots, lsh_err_pkg_downgrade, "downgrade: counter %llu is not above the highest accepted (%llu)",
                      (unsigned long long)pkg.manifest.counter, (unsigned long long)slots->state.counter);
    }
    const unsigned spare = 1u - slots->running_bank;
    lsh_slots_bank_t *bank = &slots->banks[spare];
    unload_bank(bank);
    memcpy(bank->bytes, pkg.module, pkg.module_size);
    bank->manifest = pkg.manifest;

    /* From here the candidate's code runs: record its counter first, so a watchdog reset in the
     * self-test (a module that never returns) burns it instead of retrying it at every boot. */
    lsh_slots_state_t next = slots->state;
    next.trial_counter = pkg.manifest.counter;
    if (write_state(&next) != lsh_ok) return refuse(slots, lsh_err_store, "store: the module state could not be written");
    next.trial_counter = 0;

    r = lsh_runtime_load(&bank->runtime, bank->bytes, pkg.module_size);
    if (r == lsh_err_abi_version || r == lsh_err_layout) {
        /* Learned by running the module's own functions (abi_version, the block pointers): a
         * self-test failure, as the Node host classes it. */
        refuse(slots, lsh_err_pkg_self_test, "self-test: %s (%s)", r, lsh_runtime_detail(&bank->runtime));
        r = lsh_err_pkg_self_test;
    } else if (r != lsh_ok) {
        /* The module's shape: not wasm, malformed, imports, exports, or no heap to load it. */
        refuse(slots, lsh_err_pkg_module, "module: %s (%s)", r, lsh_runtime_detail(&bank->runtime));
        r = lsh_err_pkg_module;
    } else if (lsh_selftest_run(&bank->runtime) != lsh_ok) {
        refuse(slots, lsh_err_pkg_self_test, "self-test: %s", lsh_runtime_detail(&bank->runtime));
        r = lsh_err_pkg_self_test;
    } else {
        r = invariant_checks(&bank->runtime, detail, sizeof(detail));
        if (r != lsh_ok) refuse(slots, r, "%s", detail);
    }
    const lsh_module_ref_t target = slots->state.active == LSH_MODULE_A ? LSH_MODULE_B : LSH_MODULE_A;
    const unsigned target_slot = slot_index(target);
    if (r == lsh_ok && lsh_platform_slot_write(target_slot, package, package_size) != lsh_ok) {
        r = refuse(slots, lsh_err_store, "store: slot %s could not be written", lsh_module_ref_name(target));
        slots->slot_valid[target_slot] = 0; /* what is there now is unknown; it is verified before any use */
    }
    if (r == lsh_ok) {
        next.pending = target;
        next.counter = pkg.manifest.counter;
        /* The slot just overwritten no longer holds the previous module. */
        if (next.previous == target) next.previous = LSH_MODULE_NONE;
        slots->slot_valid[target_slot] = 1;
        slots->slot_manifest[target_slot] = pkg.manifest;
        bank->ref = target;
        if (switch_to_bank(slots, spare) != lsh_ok) {
            r = refuse(slots, lsh_err_pkg_module, "module: the engine could not use it (%s)", lsh_runtime_detail(&bank->runtime));
            bank->ref = LSH_MODULE_NONE;
        }
    }
    if (r != lsh_ok) {
        unload_bank(bank);
        /* The trial is over either way. Nothing else changed (a store failure here leaves the
         * trial marked, which only burns this candidate's counter at the next boot). */
        next = slots->state;
        (void)write_state(&next);
        return r;
    }
    if (write_state(&next) != lsh_ok) {
        /* Without the record the module would not survive a restart as pending: go back. */
        const unsigned back = 1u - slots->running_bank;
        if (load_ref(slots, slots->state.active, &slots->banks[back]) == lsh_ok ||
            load_ref(slots, LSH_MODULE_BUILTIN, &slots->banks[back]) == lsh_ok) {
            (void)switch_to_bank(slots, back);
        }
        return refuse(slots, lsh_err_store, "store: the module state could not be written");
    }
    slots->state = next;
    slots->probation_left = slots->probation_ticks;
    (void)now_ms;
    lsh_platform_log(LSH_LOG_INFO, "module %s (counter %llu) staged in slot %s, on probation", pkg.manifest.version,
                     (unsigned long long)pkg.manifest.counter, lsh_module_ref_name(target));
    return lsh_ok;
}

/* ---- watch ---- */

void lsh_slots_note_good_tick(lsh_slots_t *slots) {
    if (slots == NULL || !slots->initialized) return;
    const lsh_module_ref_t running = slots->banks[slots->running_bank].ref;
    if (slots->state.pending == LSH_MODULE_NONE || running != slots->state.pending) return;
    if (slots->probation_left > 1u) {
        slots->probation_left--;
        return;
    }
    slots->probation_left = 0;
    slots->state.previous = slots->state.active;
    slots->state.active = slots->state.pending;
    slots->state.pending = LSH_MODULE_NONE;
    (void)write_state(&slots->state);
    lsh_platform_log(LSH_LOG_INFO, "module %s is now the active module", module_version(slots, slots->state.active));
}

lsh_result_t lsh_slots_report_failure(lsh_slots_t *slots, const char *reason, double now_ms) {
    if (slots == NULL || !slots->initialized) return lsh_err_argument;
    const lsh_module_ref_t failed = slots->banks[slots->running_bank].ref;
    if (failed == LSH_MODULE_BUILTIN) return lsh_ok; /* nothing to fall back to; the guard keeps it safe */
    record_failure(slots, failed, module_version(slots, failed), reason != NULL ? reason : "failure", now_ms);
    lsh_module_ref_t back;
    if (slots->state.pending == failed) {
        slots->state.pending = LSH_MODULE_NONE;
        back = slots->state.active;
    } else {
        back = slots->state.previous != LSH_MODULE_NONE ? slots->state.previous : LSH_MODULE_BUILTIN;
        slots->state.active = back;
        slots->state.previous = LSH_MODULE_NONE;
    }
    const unsigned spare = 1u - slots->running_bank;
    lsh_result_t r = load_ref(slots, back, &slots->banks[spare]);
    if (r == lsh_ok) r = switch_to_bank(slots, spare);
    if (r != lsh_ok && back != LSH_MODULE_BUILTIN) {
        lsh_platform_log(LSH_LOG_WARN, "module %s cannot be run; falling back to the built-in module", lsh_module_ref_name(back));
        slots->state.active = LSH_MODULE_BUILTIN;
        r = load_ref(slots, LSH_MODULE_BUILTIN, &slots->banks[spare]);
        if (r == lsh_ok) r = switch_to_bank(slots, spare);
    }
    (void)write_state(&slots->state);
    slots->probation_left = 0;
    if (r != lsh_ok) {
        /* Out of heap for a second runtime: the failing module stays, every tick guarded to the failsafe. */
        unload_bank(&slots->banks[spare]);
        lsh_platform_log(LSH_LOG_ERROR, "module rollback failed: %s", r);
        return r;
    }
    lsh_platform_log(LSH_LOG_WARN, "module rolled back to %s after: %s", lsh_module_ref_name(slots->banks[slots->running_bank].ref),
                     reason != NULL ? reason : "failure");
    return lsh_ok;
}

lsh_result_t lsh_slots_tick(lsh_slots_t *slots, double mono_ms, double wall_ms, const lsh_self_facts_t *self, lsh_tick_result_t *tick_out) {
    if (slots == NULL || !slots->initialized || slots->engine == NULL) return lsh_err_argument;
    const lsh_result_t r = lsh_engine_tick(slots->engine, mono_ms, wall_ms, self, tick_out);
    if (r != lsh_ok) return r;
    if (tick_out->tripped) return lsh_slots_report_failure(slots, tick_out->trip_reason, wall_ms);
    lsh_slots_note_good_tick(slots);
    return lsh_ok;
}

/* ---- status ---- */

static void module_info(const lsh_slots_t *slots, lsh_module_ref_t ref, lsh_module_info_t *out) {
    memset(out, 0, sizeof(*out));
    if (ref == LSH_MODULE_BUILTIN) {
        out->ref = ref;
        snprintf(out->version, sizeof(out->version), "built-in");
        snprintf(out->policy, sizeof(out->policy), "equal_share");
        snprintf(out->sha256_hex, sizeof(out->sha256_hex), "%s", lsh_module_default_sha256);
        return;
    }
    if (!is_slot(ref) || !slots->slot_valid[slot_index(ref)]) return;
    const lsh_manifest_t *m = &slots->slot_manifest[slot_index(ref)];
    out->ref = ref;
    out->counter = m->counter;
    snprintf(out->version, sizeof(out->version), "%s", m->version);
    snprintf(out->policy, sizeof(out->policy), "%s", m->policy);
    snprintf(out->sha256_hex, sizeof(out->sha256_hex), "%s", m->module_sha256_hex);
}

void lsh_slots_status(const lsh_slots_t *slots, lsh_slots_status_t *status_out) {
    if (status_out == NULL) return;
    memset(status_out, 0, sizeof(*status_out));
    if (slots == NULL || !slots->initialized) return;
    module_info(slots, slots->banks[slots->running_bank].ref, &status_out->running);
    module_info(slots, slots->state.active, &status_out->active);
    if (status_out->active.ref == LSH_MODULE_NONE) module_info(slots, LSH_MODULE_BUILTIN, &status_out->active);
    module_info(slots, slots->state.pending, &status_out->pending);
    module_info(slots, slots->state.previous, &status_out->previous);
    module_info(slots, LSH_MODULE_BUILTIN, &status_out->builtin);
    status_out->counter = slots->state.counter;
    status_out->probation_left = slots->state.pending != LSH_MODULE_NONE ? slots->probation_left : 0u;
    status_out->last_failure = slots->state.last_failure;
}

/* A bounded appender: counts the whole length, writes what fits. */
typedef struct json_out {
    char *out;
    size_t size;
    size_t length;
} json_out_t;

static void json_char(json_out_t *j, char c) {
    if (j->length + 1 < j->size) j->out[j->length] = c;
    j->length++;
}

static void json_raw(json_out_t *j, const char *text) {
    for (; *text != '\0'; text++) json_char(j, *text);
}

static void json_string(json_out_t *j, const char *text) {
    static const char hex[] = "0123456789abcdef";
    json_char(j, '"');
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            json_char(j, '\\');
            json_char(j, (char)*p);
        } else if (*p < 0x20 || *p >= 0x7f) {
            /* Control and non-ASCII bytes as \u00XX: the text stays valid JSON whatever wasm3 said. */
            json_raw(j, "\\u00");
            json_char(j, hex[*p >> 4]);
            json_char(j, hex[*p & 15u]);
        } else {
            json_char(j, (char)*p);
        }
    }
    json_char(j, '"');
}

static void json_number(json_out_t *j, const char *format, double value_or_count) {
    char number[32];
    snprintf(number, sizeof(number), format, value_or_count);
    json_raw(j, number);
}

static void json_info(json_out_t *j, const char *key, const lsh_module_info_t *info) {
    json_string(j, key);
    json_char(j, ':');
    if (info->ref == LSH_MODULE_NONE) {
        json_raw(j, "null");
        return;
    }
    json_raw(j, "{\"ref\":");
    json_string(j, lsh_module_ref_name(info->ref));
    json_raw(j, ",\"version\":");
    json_string(j, info->version);
    json_raw(j, ",\"counter\":");
    json_number(j, "%.0f", (double)info->counter);
    json_raw(j, ",\"policy\":");
    json_string(j, info->policy);
    json_raw(j, ",\"sha256\":");
    json_string(j, info->sha256_hex);
    json_char(j, '}');
}

size_t lsh_slots_status_json(const lsh_slots_status_t *status, char *out, size_t size_bytes) {
    json_out_t j = {out, size_bytes, 0};
    if (status == NULL) return 0;
    json_char(&j, '{');
    json_info(&j, "running", &status->running);
    json_char(&j, ',');
    json_info(&j, "active", &status->active);
    json_char(&j, ',');
    json_info(&j, "pending", &status->pending);
    json_char(&j, ',');
    json_info(&j, "previous", &status->previous);
    json_char(&j, ',');
    json_info(&j, "builtin", &status->builtin);
    json_raw(&j, ",\"counter\":");
    json_number(&j, "%.0f", (double)status->counter);
    json_raw(&j, ",\"probation_left\":");
    json_number(&j, "%.0f", (double)status->probation_left);
    json_raw(&j, ",\"last_failure\":");
    const lsh_module_failure_t *f = &status->last_failure;
    if (!f->present) {
        json_raw(&j, "null");
    } else {
        json_raw(&j, "{\"at_ms\":");
        json_number(&j, "%.0f", f->at_ms);
        json_raw(&j, ",\"module\":");
        if (f->module == LSH_MODULE_NONE) json_raw(&j, "null");
        else json_string(&j, lsh_module_ref_name(f->module));
        json_raw(&j, ",\"version\":");
        json_string(&j, f->version);
        json_raw(&j, ",\"reason\":");
        json_string(&j, f->reason);
        json_char(&j, '}');
    }
    json_char(&j, '}');
    if (size_bytes > 0) out[j.length < size_bytes ? j.length : size_bytes - 1] = '\0';
    return j.length;
}

const char *lsh_slots_detail(const lsh_slots_t *slots) {
    return slots != NULL ? slots->detail : "";
}

void lsh_slots_deinit(lsh_slots_t *slots) {
    if (slots == NULL) return;
    unload_bank(&slots->banks[0]);
    unload_bank(&slots->banks[1]);
    lsh_trusted_keys_free(&slots->keys);
    slots->initialized = 0;
    slots->engine = NULL;
}
