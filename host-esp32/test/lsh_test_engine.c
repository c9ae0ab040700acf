/* Engine tests on virtual time, through the real module under wasm3: the engine writes the
 * conformance vectors' input blocks byte for byte (as Node's write_input) and gets their
 * output and carry blocks; it hands the carry back call after call (what the protocol
 * remembers survives: committed over ev_response, the mismatch grace, a restart with the
 * persisted carry), states the applied limit as a fact, publishes the module's committed
 * current and demand cap, keeps the old carry when the module traps or lies, and applies the
 * charger's own maximum when the user switched load sharing off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsh_block.h"
#include "lsh_engine.h"
#include "lsh_module_default.h"
#include "lsh_test.h"
#include "lsh_test_files.h"

static const double t0_ms = 1767225600000.0;

typedef struct shaper_log {
    unsigned calls;
    double last_a;
} shaper_log_t;

static void record_limit(void *context, double limit_a) {
    shaper_log_t *log = context;
    log->calls++;
    log->last_a = limit_a;
}

static lsh_runtime_t rt;
static lsh_runtime_t rt_bad;
static lsh_engine_t engine;
static uint8_t saved_carry[LSH_CARRY_SIZE];

static lsh_group_config_t plan_config(void) {
    lsh_group_config_t c;
    memset(&c, 0, sizeof(c));
    c.group_id = "";
    c.group_max_current_a = 50;
    c.safety_factor = 1.0;
    c.heartbeat_timeout_s = 30;
    c.failsafe_mode = LSH_FAILSAFE_MODE_SAFE_CURRENT;
    c.failsafe_safe_current_a = 6;
    c.failsafe_peer_assumed_current_a = 6;
    c.rotation_interval_s = 0;
    return c;
}

static lsh_self_facts_t charging_self(void) {
    lsh_self_facts_t s = {1, 3, 0, 0.0, 240.0, 6.0, 32.0, -1, 0.0};
    return s;
}

static lsh_member_status_t charging_peer(const char *id) {
    lsh_member_status_t s;
    memset(&s, 0, sizeof(s));
    s.id = id;
    s.vehicle = 1;
    s.state = 3;
    s.voltage_v = 240;
    s.min_current_a = 6;
    s.max_current_a = 32;
    s.demand = -1;
    return s;
}

static size_t first_difference(const uint8_t *a, const uint8_t *b, size_t size) {
    for (size_t i = 0; i < size; i++) {
        if (a[i] != b[i]) return i;
    }
    return size;
}

static int read_vector_block(const char *name, const char *suffix, uint8_t *block, size_t size) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/test/vectors/%s.%s.hex", lsh_test_root, name, suffix);
    return lsh_file_read_hex(path, block, size);
}

/* The engine's first tick for a vector's scenario: its input block, output block and carry
 * equal the vector's (first call: the carry handed in is zeros, as the vector's). */
static void expect_vector(const char *name, double now_ms, shaper_log_t *log) {
    static uint8_t vector_in[LSH_IN_SIZE];
    static uint8_t vector_out[LSH_OUT_SIZE];
    static uint8_t vector_carry[LSH_CARRY_SIZE];
    static uint8_t block[LSH_IN_SIZE];
    const int read_ok = read_vector_block(name, "in", vector_in, sizeof(vector_in)) &&
                        read_vector_block(name, "out", vector_out, sizeof(vector_out)) &&
                        read_vector_block(name, "carry-out", vector_carry, sizeof(vector_carry));
    LSH_CHECK(read_ok, "engine: read vector %s", name);
    if (!read_ok) return;
    const lsh_self_facts_t self = charging_self();
    LSH_CHECK(lsh_engine_build_input(&engine, now_ms, now_ms, &self, block) == lsh_ok, "engine: %s builds an input block", name);
    const size_t in_diff = first_difference(block, vector_in, LSH_IN_SIZE);
    LSH_CHECK(in_diff == LSH_IN_SIZE, "engine: %s input block equals Node's write_input (first difference at byte %zu)", name, in_diff);
    lsh_tick_result_t tick;
    LSH_CHECK(lsh_engine_tick(&engine, now_ms, now_ms, &self, &tick) == lsh_ok, "engine: %s ticks", name);
    const size_t out_diff = first_difference(engine.output_block, vector_out, LSH_OUT_SIZE);
    const size_t carry_diff = first_difference(lsh_engine_carry(&engine), vector_carry, LSH_CARRY_SIZE);
    LSH_CHECK(out_diff == LSH_OUT_SIZE && carry_diff == LSH_CARRY_SIZE,
              "engine: %s output and kept carry equal the vector's (first difference at output byte %zu, carry byte %zu)", name, out_diff,
              carry_diff);
    const double expected_a = lsh_block_f64(vector_out, LSH_OUT_SELF_APPLIED_CURRENT_A);
    LSH_CHECK(!tick.tripped && tick.limit_a == expected_a, "engine: %s limit %g A equals the vector's %g A (%s)", name, tick.limit_a,
              expected_a, tick.trip_reason);
    LSH_CHECK(log->calls == 2 && log->last_a == expected_a, "engine: %s told the shaper 0 A at init, then %g A (%u calls, %g A)", name,
              expected_a, log->calls, log->last_a);
    LSH_CHECK(tick.carry_status == LSH_CARRY_STATUS_FRESH, "engine: %s starts from no carry (status %u)", name, (unsigned)tick.carry_status);
    int alloc_same = tick.published.has_alloc;
    for (uint32_t i = 0; i < engine.member_count; i++) {
        const double a = lsh_block_f64(vector_out, LSH_OUT_MEMBER_BASE + i * LSH_OUT_MEMBER_STRIDE + LSH_OUT_MEMBER_TARGET_CURRENT_A);
        if (tick.published.alloc_a[i] != a) alloc_same = 0;
    }
    LSH_CHECK(alloc_same, "engine: %s publishes the vector's allocation vector", name);
    LSH_CHECK(tick.published.committed_a == lsh_block_f64(vector_out, LSH_OUT_SELF_COMMITTED_CURRENT_A),
              "engine: %s publishes the module's committed current (%g A)", name, tick.published.committed_a);
}

static void init_engine(const lsh_group_config_t *config, const char *self, const char *const ids[], uint32_t count, shaper_log_t *log) {
    memset(log, 0, sizeof(*log));
    const lsh_shaper_t shaper = {log, record_limit};
    const lsh_result_t result = lsh_engine_init(&engine, &rt, config, self, ids, count, 0u, NULL, &shaper);
    LSH_CHECK(result == lsh_ok, "engine init (%s): %s", self, result ? result : "ok");
    LSH_CHECK(log->calls == 1 && log->last_a == 0.0, "engine init tells the shaper 0 A until the first decision");
}

static void test_vectors_through_engine(void) {
    shaper_log_t log;
    const lsh_group_config_t config = plan_config();
    const char *const two[] = {"peer2", "peer1"}; /* unsorted on purpose */
    init_engine(&config, "peer1", two, 2, &log);
    lsh_member_status_t peer2 = charging_peer("peer2");
    LSH_CHECK(lsh_engine_handle_status(&engine, &peer2, t0_ms) == lsh_ok, "engine: peer2 status accepted");
    expect_vector("plan-8.3-2-two-equal", t0_ms, &log);

    init_engine(&config, "peer1", two, 2, &log);
    peer2.has_alloc = 1;
    peer2.alloc_count = 2;
    peer2.alloc[0].id = "peer1";
    peer2.alloc[0].current_a = 20;
    peer2.alloc[1].id = "peer2";
    peer2.alloc[1].current_a = 30;
    LSH_CHECK(lsh_engine_handle_status(&engine, &peer2, t0_ms) == lsh_ok, "engine: peer2 status with alloc accepted");
    expect_vector("protocol-view-minimum", t0_ms, &log);

    const char *const three[] = {"peer3", "peer1", "peer2"};
    init_engine(&config, "peer1", three, 3, &log);
    lsh_member_status_t peer3 = charging_peer("peer3");
    peer3.has_applied = 1;
    peer3.applied_a = 20;
    peer3.has_committed = 1;
    peer3.committed_a = 20;
    LSH_CHECK(lsh_engine_handle_status(&engine, &peer3, t0_ms - 35000) == lsh_ok, "engine: peer3 heard 35 s ago");
    peer2 = charging_peer("peer2");
    LSH_CHECK(lsh_engine_handle_status(&engine, &peer2, t0_ms) == lsh_ok, "engine: peer2 heard now");
    expect_vector("protocol-offline-hold", t0_ms, &log);

    peer2.id = "stranger";
    LSH_CHECK(lsh_engine_handle_status(&engine, &peer2, t0_ms) == lsh_err_argument, "engine: a status from a non-member is refused");
    peer2.id = "peer1";
    LSH_CHECK(lsh_engine_handle_status(&engine, &peer2, t0_ms) == lsh_err_argument, "engine: a status claiming to be self is refused");
    const char *const dup[] = {"peer1", "peer1"};
    const lsh_shaper_t shaper = {&log, record_limit};
    LSH_CHECK(lsh_engine_init(&engine, &rt, &config, "peer1", dup, 2, 0u, NULL, &shaper) == lsh_err_argument, "engine: duplicate ids are refused");
    LSH_CHECK(lsh_engine_init(&engine, &rt, &config, "peer9", two, 2, 0u, NULL, &shaper) == lsh_err_argument, "engine: self must be a member");
}

/* The carry round trip: what only the carry remembers (the committed current over
 * ev_response) comes back call after call, and after a restart with the persisted carry. */
static void test_carry_round_trip(void) {
    shaper_log_t log;
    const lsh_group_config_t config = plan_config();
    const char *const one[] = {"solo"};
    memset(&log, 0, sizeof(log));
    const lsh_shaper_t shaper = {&log, record_limit};
    LSH_CHECK(lsh_engine_init(&engine, &rt, &config, "solo", one, 1, 7u, NULL, &shaper) == lsh_ok, "carry: init");
    lsh_self_facts_t self = charging_self();
    self.demand = 1;
    self.amp_ma = 32000; /* draws what it is offered: no demand cap */
    self.pilot_a = 40;   /* its controller still offers 40 A from before the start */
    lsh_tick_result_t tick;
    lsh_engine_tick(&engine, t0_ms, t0_ms, &self, &tick);
    LSH_CHECK(tick.carry_status == LSH_CARRY_STATUS_FRESH && tick.limit_a == 32 && tick.published.committed_a == 40,
              "carry: the first call starts fresh: 32 A applied, the 40 A pilot committed for ev_response (%u, %g / %g)",
              (unsigned)tick.carry_status, tick.limit_a, tick.published.committed_a);
    LSH_CHECK(tick.next_call_ms == t0_ms + 5050, "carry: the module asks to be called when 40 A stops being committed (ev_response x 1.01: %.0f)",
              tick.next_call_ms - t0_ms);
    static uint8_t block[LSH_IN_SIZE];
    self.pilot_a = 32;
    lsh_engine_build_input(&engine, t0_ms + 1000, t0_ms + 1000, &self, block);
    LSH_CHECK((lsh_block_u32(block, LSH_IN_FLAGS) & LSH_INPUT_FLAGS_SELF_LIMIT_PRESENT) && lsh_block_f64(block, LSH_IN_SELF_LIMIT_A) == 32 &&
              lsh_block_f64(block, LSH_IN_SELF_PILOT_A) == 32,
              "carry: the next call states the applied 32 A as self_limit and the pilot as self_pilot");
    lsh_engine_tick(&engine, t0_ms + 1000, t0_ms + 1000, &self, &tick);
    LSH_CHECK(tick.carry_status == LSH_CARRY_STATUS_CONTINUED && tick.published.committed_a == 40,
              "carry: the second call continues the carry and still commits 40 A (%u, %g)", (unsigned)tick.carry_status, tick.published.committed_a);
    lsh_engine_tick(&engine, t0_ms + 5050, t0_ms + 5050, &self, &tick);
    LSH_CHECK(tick.published.committed_a == 32, "carry: the start assumption ends after ev_response x 1.01 (%g)", tick.published.committed_a);
    self.max_current_a = 10;
    self.amp_ma = 10000;
    lsh_engine_tick(&engine, t0_ms + 6000, t0_ms + 6000, &self, &tick);
    LSH_CHECK(tick.limit_a == 10 && log.last_a == 10 && tick.published.applied_a == 10, "carry: a decrease applies at once (%g A)", tick.limit_a);
    LSH_CHECK(tick.published.committed_a == 32, "carry: 32 A stays committed while the car may still draw it (%g)", tick.published.committed_a);
    lsh_engine_tick(&engine, t0_ms + 11049, t0_ms + 11049, &self, &tick);
    LSH_CHECK(tick.published.committed_a == 32, "carry: 32 A committed until ev_response x 1.01 after the decrease (%g)", tick.published.committed_a);

    /* A restart at t0 + 11.05 s, 10 A decided last: with the persisted carry and the same clock
     * the protocol's memory continues; from another clock epoch it starts safe. */
    memcpy(saved_carry, lsh_engine_carry(&engine), LSH_CARRY_SIZE);
    self.pilot_a = 10;
    LSH_CHECK(lsh_engine_init(&engine, &rt, &config, "solo", one, 1, 7u, saved_carry, &shaper) == lsh_ok, "carry: restart with the persisted carry");
    lsh_engine_tick(&engine, t0_ms + 11049, t0_ms + 11049, &self, &tick);
    LSH_CHECK(tick.carry_status == LSH_CARRY_STATUS_CONTINUED && tick.published.committed_a == 32,
              "carry: continued after a restart, 32 A still committed (%u, %g)", (unsigned)tick.carry_status, tick.published.committed_a);
    lsh_engine_tick(&engine, t0_ms + 11050, t0_ms + 11050, &self, &tick);
    LSH_CHECK(tick.published.committed_a == 10, "carry: committed falls to 10 A ev_response x 1.01 after the decrease (%g)", tick.published.committed_a);
    LSH_CHECK(lsh_engine_init(&engine, &rt, &config, "solo", one, 1, 8u, saved_carry, &shaper) == lsh_ok, "carry: restart on a new clock");
    lsh_engine_tick(&engine, t0_ms + 11050, t0_ms + 11050, &self, &tick);
    LSH_CHECK(tick.carry_status == LSH_CARRY_STATUS_CLOCK_RESTARTED && tick.published.committed_a == 10,
              "carry: another clock epoch starts safe (%u), committing its maximum 10 A (%g)", (unsigned)tick.carry_status,
              tick.published.committed_a);
}

static void test_mismatch_since(void) {
    shaper_log_t log;
    const lsh_group_config_t config = plan_config();
    const char *const three[] = {"a", "b", "c"};
    init_engine(&config, "a", three, 3, &log);
    lsh_member_status_t b = charging_peer("b");
    b.has_seen = 1;
    b.seen_count = 2;
    b.seen_ids[0] = "b";
    b.seen_ids[1] = "c"; /* b does not hear a: a is on a broken link (rule 2) */
    lsh_member_status_t c = charging_peer("c");
    const lsh_self_facts_t self = charging_self();
    lsh_tick_result_t tick;
    lsh_engine_handle_status(&engine, &b, t0_ms);
    lsh_engine_handle_status(&engine, &c, t0_ms);
    lsh_engine_tick(&engine, t0_ms, t0_ms, &self, &tick);
    LSH_CHECK((lsh_block_u32(engine.output_block, LSH_OUT_FLAGS) & LSH_OUTPUT_FLAGS_MISMATCH_SINCE_PRESENT) &&
              lsh_block_f64(engine.output_block, LSH_OUT_MISMATCH_SINCE_MS) == t0_ms, "mismatch: noticed at t0");
    LSH_CHECK(!tick.published.degraded, "mismatch: not degraded inside the grace period");
    LSH_CHECK(tick.next_call_ms > t0_ms && tick.next_call_ms <= t0_ms + 3001, "mismatch: the module asks to be called when the grace ends (t0%+.0f)",
              tick.next_call_ms - t0_ms);
    lsh_engine_handle_status(&engine, &b, t0_ms + 1000);
    lsh_engine_handle_status(&engine, &c, t0_ms + 1000);
    lsh_engine_tick(&engine, t0_ms + 1000, t0_ms + 1000, &self, &tick);
    LSH_CHECK(lsh_block_f64(engine.output_block, LSH_OUT_MISMATCH_SINCE_MS) == t0_ms, "mismatch: still since t0 a second later (the carry remembers)");
    lsh_engine_handle_status(&engine, &b, t0_ms + 4000);
    lsh_engine_handle_status(&engine, &c, t0_ms + 4000);
    lsh_engine_tick(&engine, t0_ms + 4000, t0_ms + 4000, &self, &tick);
    LSH_CHECK(tick.published.degraded && tick.limit_a <= config.failsafe_safe_current_a,
              "mismatch: after the grace period this charger degrades to at most the failsafe (%g A, degraded %d)",
              tick.limit_a, tick.published.degraded);
    LSH_CHECK((tick.published.seen_mask & 7u) == 7u, "mismatch: it publishes that it hears a, b and c (mask %u)", (unsigned)tick.published.seen_mask);
}

static void test_disabled(void) {
    shaper_log_t log;
    const lsh_group_config_t config = plan_config();
    const char *const two[] = {"peer1", "peer2"};
    init_engine(&config, "peer1", two, 2, &log);
    lsh_member_status_t peer2 = charging_peer("peer2");
    lsh_self_facts_t self = charging_self();
    self.max_current_a = 40;
    lsh_tick_result_t tick;
    /* A fresh start rises nowhere until the views it forgot are void (6.1 s): start earlier. */
    lsh_engine_handle_status(&engine, &peer2, t0_ms - 7000);
    lsh_engine_tick(&engine, t0_ms - 7000, t0_ms - 7000, &self, &tick);
    lsh_engine_handle_status(&engine, &peer2, t0_ms);
    lsh_engine_tick(&engine, t0_ms, t0_ms, &self, &tick);
    const double shared_a = tick.limit_a;
    LSH_CHECK(shared_a == 25, "disabled: shared, peer1 gets 25 A of 50 A (%g)", shared_a);
    lsh_engine_set_disabled(&engine, 1);
    lsh_engine_tick(&engine, t0_ms + 1000, t0_ms + 1000, &self, &tick);
    LSH_CHECK(tick.limit_a == 40 && log.last_a == 40 && tick.published.applied_a == 40,
              "disabled: switched off by the user, the charger applies its own maximum 40 A (%g)", tick.limit_a);
    static uint8_t block[LSH_IN_SIZE];
    lsh_engine_build_input(&engine, t0_ms + 2000, t0_ms + 2000, &self, block);
    LSH_CHECK(lsh_block_f64(block, LSH_IN_SELF_LIMIT_A) == 40, "disabled: the module learns the 40 A as the self_limit fact");
    lsh_engine_set_disabled(&engine, 0);
    lsh_engine_tick(&engine, t0_ms + 2000, t0_ms + 2000, &self, &tick);
    LSH_CHECK(tick.limit_a <= shared_a, "disabled: switched on again, the module's limit applies (%g A)", tick.limit_a);
}

static void test_guard_in_engine(void) {
    shaper_log_t log;
    lsh_group_config_t config = plan_config();
    const char *const two[] = {"peer1", "peer2"};
    init_engine(&config, "peer1", two, 2, &log);
    lsh_member_status_t peer2 = charging_peer("peer2");
    const lsh_self_facts_t self = charging_self();
    lsh_tick_result_t tick;
    /* A fresh start rises nowhere until the views it forgot are void (6.1 s): start earlier. */
    lsh_engine_handle_status(&engine, &peer2, t0_ms - 7000);
    lsh_engine_tick(&engine, t0_ms - 7000, t0_ms - 7000, &self, &tick);
    lsh_engine_handle_status(&engine, &peer2, t0_ms);
    lsh_engine_tick(&engine, t0_ms, t0_ms, &self, &tick);
    const double good_a = tick.limit_a;
    LSH_CHECK(good_a > config.failsafe_safe_current_a, "guard: a healthy tick gives more than the failsafe (%g A)", good_a);

    const char *bad_modules[] = {"traps.wasm", "scribbles-then-traps.wasm", "applied-above-target.wasm"};
    const char *reasons[] = {"module trapped", "module trapped", "invariant broken: applied above target"};
    for (int k = 0; k < 3; k++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", lsh_test_modules_dir, bad_modules[k]);
        size_t size = 0;
        uint8_t *bytes = lsh_file_read(path, &size);
        LSH_CHECK(bytes != NULL && lsh_runtime_load(&rt_bad, bytes, size) == lsh_ok, "guard: %s loads", bad_modules[k]);
        if (bytes == NULL) continue;
        LSH_CHECK(lsh_engine_use_runtime(&engine, &rt_bad) == lsh_ok, "guard: hot swap to %s", bad_modules[k]);
        memcpy(saved_carry, lsh_engine_carry(&engine), LSH_CARRY_SIZE);
        lsh_engine_handle_status(&engine, &peer2, t0_ms + 1000 + k);
        lsh_engine_tick(&engine, t0_ms + 1000 + k, t0_ms + 1000 + k, &self, &tick);
        LSH_CHECK(tick.tripped && tick.limit_a == config.failsafe_safe_current_a && log.last_a == tick.limit_a && tick.published.committed_a >= good_a,
                  "guard: %s gives the failsafe %g A at once and keeps %g A committed (got %g A, shaper %g A, committed %g A)", bad_modules[k],
                  config.failsafe_safe_current_a, good_a, tick.limit_a, log.last_a, tick.published.committed_a);
        LSH_CHECK(strstr(tick.trip_reason, reasons[k]) != NULL, "guard: %s reason \"%s\"", bad_modules[k], tick.trip_reason);
        LSH_CHECK(tick.published.degraded && !tick.published.has_alloc && tick.published.reason == LSH_REASON_GUARD_FAILSAFE,
                  "guard: %s publishes degraded and no allocation vector", bad_modules[k]);
        LSH_CHECK(memcmp(saved_carry, lsh_engine_carry(&engine), LSH_CARRY_SIZE) == 0, "guard: %s leaves the carry as it was", bad_modules[k]);
        LSH_CHECK(lsh_engine_use_runtime(&engine, &rt) == lsh_ok, "guard: roll back to the default module");
        lsh_engine_tick(&engine, t0_ms + 1500 + k, t0_ms + 1500 + k, &self, &tick);
        LSH_CHECK(!tick.tripped && tick.carry_status == LSH_CARRY_STATUS_CONTINUED,
                  "guard: after %s the default module continues the kept carry (status %u)", bad_modules[k], (unsigned)tick.carry_status);
        lsh_runtime_unload(&rt_bad);
        free(bytes);
    }
    lsh_runtime_t unloaded;
    memset(&unloaded, 0, sizeof(unloaded));
    LSH_CHECK(lsh_engine_use_runtime(&engine, &unloaded) == lsh_err_argument && engine.runtime == &rt,
              "guard: a swap to an unloaded runtime is refused and the engine keeps its module");
    /* In disable mode the fallback is 0. */
    engine.config.failsafe_mode = LSH_FAILSAFE_MODE_DISABLE;
    char path[1024];
    snprintf(path, sizeof(path), "%s/traps.wasm", lsh_test_modules_dir);
    size_t size = 0;
    uint8_t *bytes = lsh_file_read(path, &size);
    if (bytes != NULL && lsh_runtime_load(&rt_bad, bytes, size) == lsh_ok) {
        engine.runtime = &rt_bad;
        lsh_engine_tick(&engine, t0_ms + 3000, t0_ms + 3000, &self, &tick);
        LSH_CHECK(tick.tripped && tick.limit_a == 0, "guard: disable mode falls to 0 A (got %g A)", tick.limit_a);
        lsh_runtime_unload(&rt_bad);
        engine.runtime = &rt;
    }
    free(bytes);
    lsh_tick_result_t bad;
    LSH_CHECK(lsh_engine_tick(&engine, t0_ms + 4000, t0_ms + 4000, NULL, &bad) == lsh_err_argument && bad.tripped && bad.limit_a == 0,
              "guard: a tick without facts is refused and applies the fallback (%g A)", bad.limit_a);
}

/* The largest group: sixteen charging members, all heard, all reporting the full seen-set and
 * an allocation vector. It must compute inside the sized interpreter stack (LSH_STACK_BYTES)
 * and pass the guard; a stack too small for 16 members traps here, not on a board. */
static void test_sixteen_members(void) {
    shaper_log_t log;
    static char ids[LSH_MEMBERS_MAX][16];
    const char *id_list[LSH_MEMBERS_MAX];
    for (uint32_t i = 0; i < LSH_MEMBERS_MAX; i++) {
        snprintf(ids[i], sizeof(ids[i]), "openevse-%02u", (unsigned)(LSH_MEMBERS_MAX - i));
        id_list[i] = ids[i];
    }
    lsh_group_config_t config = plan_config();
    config.group_max_current_a = 160;
    config.rotation_interval_s = 60;
    init_engine(&config, id_list[3], id_list, LSH_MEMBERS_MAX, &log);
    for (uint32_t i = 0; i < LSH_MEMBERS_MAX; i++) {
        if (i == 3) continue;
        lsh_member_status_t s = charging_peer(id_list[i]);
        s.amp_ma = 9000 + 500.0 * i;
        s.priority = (int32_t)(i % 3u) - 1;
        s.has_seen = 1;
        s.seen_count = LSH_MEMBERS_MAX;
        s.has_alloc = 1;
        s.alloc_count = LSH_MEMBERS_MAX;
        for (uint32_t j = 0; j < LSH_MEMBERS_MAX; j++) {
            s.seen_ids[j] = id_list[j];
            s.alloc[j].id = id_list[j];
            s.alloc[j].current_a = 10;
        }
        lsh_engine_handle_status(&engine, &s, t0_ms - 1000.0 * i);
    }
    lsh_self_facts_t self = charging_self();
    lsh_tick_result_t tick;
    /* A fresh start rises nowhere for 6.1 s, and a view older than 2 x message_delay_max lets
     * nobody rise: the first tick only starts; the members report again, within 4 s. */
    lsh_engine_tick(&engine, t0_ms, t0_ms, &self, &tick);
    for (uint32_t i = 0; i < LSH_MEMBERS_MAX; i++) {
        if (i == 3) continue;
        lsh_member_status_t s = charging_peer(id_list[i]);
        s.amp_ma = 9000 + 500.0 * i;
        s.priority = (int32_t)(i % 3u) - 1;
        s.has_seen = 1;
        s.seen_count = LSH_MEMBERS_MAX;
        s.has_alloc = 1;
        s.alloc_count = LSH_MEMBERS_MAX;
        for (uint32_t j = 0; j < LSH_MEMBERS_MAX; j++) {
            s.seen_ids[j] = id_list[j];
            s.alloc[j].id = id_list[j];
            s.alloc[j].current_a = 10;
        }
        lsh_engine_handle_status(&engine, &s, t0_ms + 7000 - 200.0 * i);
    }
    lsh_engine_tick(&engine, t0_ms + 7000, t0_ms + 7000, &self, &tick);
    LSH_CHECK(!tick.tripped && tick.limit_a > 0 && tick.limit_a <= 10, "16 members compute inside the stack and pass the guard (%g A, %s)",
              tick.limit_a, tick.trip_reason);
    LSH_CHECK(tick.published.seen_mask == 0xffffu, "16 members: all are heard (mask %x)", (unsigned)tick.published.seen_mask);

    /* The bench's group (tools/lsh_bench.c): self first, full seen-sets, no allocation vectors. */
    config.group_id = "bench";
    config.group_max_current_a = 10.0 * LSH_MEMBERS_MAX;
    config.rotation_interval_s = 0;
    init_engine(&config, id_list[0], id_list, LSH_MEMBERS_MAX, &log);
    for (uint32_t i = 1; i < LSH_MEMBERS_MAX; i++) {
        lsh_member_status_t s = charging_peer(id_list[i]);
        s.amp_ma = 16000;
        s.voltage_v = 230;
        s.has_seen = 1;
        s.seen_count = LSH_MEMBERS_MAX;
        for (uint32_t j = 0; j < LSH_MEMBERS_MAX; j++) s.seen_ids[j] = id_list[j];
        lsh_engine_handle_status(&engine, &s, t0_ms);
    }
    self.amp_ma = 16000;
    lsh_engine_tick(&engine, t0_ms, t0_ms, &self, &tick); /* a fresh start: no rise for 6.1 s */
    for (uint32_t i = 1; i < LSH_MEMBERS_MAX; i++) {
        lsh_member_status_t s = charging_peer(id_list[i]);
        s.amp_ma = 16000;
        s.voltage_v = 230;
        s.has_seen = 1;
        s.seen_count = LSH_MEMBERS_MAX;
        for (uint32_t j = 0; j < LSH_MEMBERS_MAX; j++) s.seen_ids[j] = id_list[j];
        lsh_engine_handle_status(&engine, &s, t0_ms + 7000);
    }
    lsh_engine_tick(&engine, t0_ms + 7000, t0_ms + 7000, &self, &tick);
    LSH_CHECK(!tick.tripped && tick.limit_a == 10, "16 members, the bench's group: 10 A each inside the stack (%g A, %s)",
              tick.limit_a, tick.trip_reason);
}

/* Members leaving (rule 8) in a full table: a member removed stays (leaving flag, out of the
 * config hash), heard or not (one never heard may be cut off and never told: seed 12209538); a
 * member joining a full table takes the place of the leaving member heard longest ago, and
 * without one it is refused. */
static void test_leaving_room(void) {
    shaper_log_t log;
    static char ids[LSH_MEMBERS_MAX + 3][16];
    const char *id_list[LSH_MEMBERS_MAX + 3];
    for (uint32_t i = 0; i < LSH_MEMBERS_MAX + 3; i++) {
        snprintf(ids[i], sizeof(ids[i]), "m%02u", (unsigned)i);
        id_list[i] = ids[i];
    }
    lsh_group_config_t config = plan_config();
    config.group_max_current_a = 160;
    init_engine(&config, id_list[0], id_list, LSH_MEMBERS_MAX, &log);
    /* m01..m14 heard (m01 longest ago), each naming everyone in its seen-set; m15 never. */
    for (uint32_t i = 1; i < LSH_MEMBERS_MAX - 1; i++) {
        lsh_member_status_t s = charging_peer(id_list[i]);
        s.has_seen = 1;
        s.seen_count = LSH_MEMBERS_MAX;
        for (uint32_t j = 0; j < LSH_MEMBERS_MAX; j++) s.seen_ids[j] = id_list[j];
        lsh_engine_handle_status(&engine, &s, t0_ms + 100.0 * i);
    }
    uint8_t hash_full[LSH_HASH_BYTES];
    memcpy(hash_full, engine.config_hash, sizeof(hash_full));
    LSH_CHECK(lsh_engine_remove_member(&engine, "m15") == lsh_ok && lsh_engine_member_state(&engine, "m15") == 2 && engine.member_count == 16,
              "leaving: a member never heard stays in the table as leaving");
    LSH_CHECK(lsh_engine_remove_member(&engine, "m03") == lsh_ok && lsh_engine_remove_member(&engine, "m02") == lsh_ok &&
              lsh_engine_member_state(&engine, "m03") == 2 && lsh_engine_member_state(&engine, "m02") == 2 && engine.member_count == 16,
              "leaving: members heard stay in the table as leaving");
    const uint32_t m02_flags = lsh_block_u32(engine.input_block, LSH_IN_MEMBER_BASE + 2u * LSH_IN_MEMBER_STRIDE + LSH_IN_MEMBER_FLAGS);
    const uint32_t m01_flags = lsh_block_u32(engine.input_block, LSH_IN_MEMBER_BASE + 1u * LSH_IN_MEMBER_STRIDE + LSH_IN_MEMBER_FLAGS);
    const uint32_t m15_flags = lsh_block_u32(engine.input_block, LSH_IN_MEMBER_BASE + 15u * LSH_IN_MEMBER_STRIDE + LSH_IN_MEMBER_FLAGS);
    LSH_CHECK((m02_flags & LSH_MEMBER_FLAGS_LEAVING) && !(m01_flags & LSH_MEMBER_FLAGS_LEAVING) && (m15_flags & LSH_MEMBER_FLAGS_LEAVING) &&
              !(m15_flags & LSH_MEMBER_FLAGS_LAST_SEEN),
              "leaving: the leaving flag is in their rows, m15's without a last-seen time");
    lsh_self_facts_t quiet = charging_self();
    lsh_tick_result_t quiet_tick;
    lsh_engine_tick(&engine, t0_ms + 3000, t0_ms + 3000, &quiet, &quiet_tick);
    LSH_CHECK(lsh_engine_member_state(&engine, "m15") == 2 &&
              lsh_block_f64(engine.output_block, LSH_OUT_MEMBER_BASE + 15u * LSH_OUT_MEMBER_STRIDE + LSH_OUT_MEMBER_RESERVED_A) > 0.0,
              "leaving: never heard, m15 is still held and reserved after a tick (%s)", quiet_tick.trip_reason);
    uint8_t hash_leaving[LSH_HASH_BYTES];
    memcpy(hash_leaving, engine.config_hash, sizeof(hash_leaving));
    const char *const members_left[] = {"m00", "m01", "m04", "m05", "m06", "m07", "m08", "m09", "m10", "m11", "m12", "m13", "m14"};
    init_engine(&config, "m00", members_left, 13, &log);
    LSH_CHECK(memcmp(hash_leaving, engine.config_hash, LSH_HASH_BYTES) == 0 && memcmp(hash_full, hash_leaving, LSH_HASH_BYTES) != 0,
              "leaving: the config hash is the group's without the members leaving");

    init_engine(&config, id_list[0], id_list, LSH_MEMBERS_MAX, &log);
    for (uint32_t i = 1; i < LSH_MEMBERS_MAX; i++) {
        lsh_member_status_t s = charging_peer(id_list[i]);
        lsh_engine_handle_status(&engine, &s, t0_ms + 100.0 * (double)(LSH_MEMBERS_MAX - i)); /* m15 heard longest ago */
    }
    lsh_engine_remove_member(&engine, "m05");
    lsh_engine_remove_member(&engine, "m09");
    LSH_CHECK(lsh_engine_add_member(&engine, "m16") == lsh_ok && lsh_engine_member_state(&engine, "m09") == 0 &&
              lsh_engine_member_state(&engine, "m05") == 2 && lsh_engine_member_state(&engine, "m16") == 1 && engine.member_count == 16,
              "leaving: a member joining a full table takes the place of the leaving one heard longest ago (m09)");
    LSH_CHECK(lsh_engine_add_member(&engine, "m05") == lsh_ok && lsh_engine_member_state(&engine, "m05") == 1 && engine.member_count == 16,
              "leaving: a member leaving that joins again is a member");
    LSH_CHECK(lsh_engine_add_member(&engine, "m17") == lsh_err_argument && lsh_engine_member_state(&engine, "m17") == 0,
              "leaving: a full table without a member leaving takes no one more");
    lsh_self_facts_t self = charging_self();
    lsh_tick_result_t tick;
    lsh_engine_remove_member(&engine, "m07");
    lsh_engine_tick(&engine, t0_ms + 2000, t0_ms + 2000, &self, &tick);
    const int m07 = 7; /* m00..m07 in id order, none dropped before it */
    LSH_CHECK(!tick.tripped && (tick.published.leaving_mask == (1u << m07)) && !(tick.published.seen_mask & (1u << m07)) &&
              lsh_block_f64(engine.output_block, LSH_OUT_MEMBER_BASE + (uint32_t)m07 * LSH_OUT_MEMBER_STRIDE + LSH_OUT_MEMBER_RESERVED_A) > 0.0,
              "leaving: the module reserves the member leaving; it is published in neither seen nor alloc (%s)", tick.trip_reason);
    lsh_member_status_t alone = charging_peer("m07");
    alone.alone_confirmed = 1;
    lsh_engine_handle_status(&engine, &alone, t0_ms + 2500);
    lsh_engine_tick(&engine, t0_ms + 3000, t0_ms + 3000, &self, &tick);
    LSH_CHECK(lsh_engine_member_state(&engine, "m07") == 0 && engine.member_count == 15 && tick.published.leaving_mask == 0,
              "leaving: its status saying a person set it up on its own forgets it at the next tick");
}

void lsh_test_engine(void) {
    const lsh_result_t result = lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size);
    LSH_CHECK(result == lsh_ok, "engine: default module loads: %s", lsh_runtime_detail(&rt));
    if (result != lsh_ok) return;
    test_vectors_through_engine();
    test_carry_round_trip();
    test_mismatch_since();
    test_disabled();
    test_guard_in_engine();
    test_sixteen_members();
    test_leaving_room();
    lsh_runtime_unload(&rt);
}
