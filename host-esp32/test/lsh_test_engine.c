/* Engine tests on virtual time: the engine writes the same input block as Node's write_input
 * (checked against the conformance vectors byte for byte), applies the guarded result to the
 * shaper, keeps committed over ev_response, feeds mismatch_since back, and falls to the
 * failsafe when the module traps or lies. */
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
    lsh_self_facts_t s = {1, 3, 0, 0.0, 240.0, 6.0, 32.0, -1};
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

/* Builds the engine's input block for a vector's scenario and compares it with the vector. */
static void expect_vector(const char *name, double now_ms, shaper_log_t *log) {
    static uint8_t vector_in[LSH_IN_SIZE];
    static uint8_t vector_out[LSH_OUT_SIZE];
    static uint8_t block[LSH_IN_SIZE];
    char in_path[1024];
    char out_path[1024];
    snprintf(in_path, sizeof(in_path), "%s/test/vectors/%s.in.hex", lsh_test_root, name);
    snprintf(out_path, sizeof(out_path), "%s/test/vectors/%s.out.hex", lsh_test_root, name);
    const int read_ok = lsh_file_read_hex(in_path, vector_in, sizeof(vector_in)) && lsh_file_read_hex(out_path, vector_out, sizeof(vector_out));
    LSH_CHECK(read_ok, "engine: read vector %s", name);
    if (!read_ok) return;
    const lsh_self_facts_t self = charging_self();
    LSH_CHECK(lsh_engine_build_input(&engine, now_ms, &self, block) == lsh_ok, "engine: %s builds an input block", name);
    /* The vectors come from scenarios; an engine also states its own applied and committed
     * current (0 A before its first decision), as host-node/engine does: add those to the
     * expected block, everything else must match byte for byte. */
    const uint32_t self_at = LSH_IN_MEMBER_BASE + lsh_block_u32(vector_in, LSH_IN_SELF_INDEX) * LSH_IN_MEMBER_STRIDE;
    lsh_block_set_u32(vector_in, self_at + LSH_IN_MEMBER_FLAGS,
                      lsh_block_u32(vector_in, self_at + LSH_IN_MEMBER_FLAGS) | LSH_MEMBER_FLAGS_APPLIED | LSH_MEMBER_FLAGS_COMMITTED);
    lsh_block_set_f64(vector_in, self_at + LSH_IN_MEMBER_APPLIED_A, 0.0);
    lsh_block_set_f64(vector_in, self_at + LSH_IN_MEMBER_COMMITTED_A, 0.0);
    size_t first_diff = LSH_IN_SIZE;
    for (size_t i = 0; i < LSH_IN_SIZE; i++) {
        if (block[i] != vector_in[i]) { first_diff = i; break; }
    }
    LSH_CHECK(first_diff == LSH_IN_SIZE, "engine: %s input block equals Node's write_input (first difference at byte %zu)", name, first_diff);
    lsh_tick_result_t tick;
    LSH_CHECK(lsh_engine_tick(&engine, now_ms, &self, &tick) == lsh_ok, "engine: %s ticks", name);
    const double expected_a = lsh_block_f64(vector_out, LSH_OUT_SELF_APPLIED_CURRENT_A);
    LSH_CHECK(!tick.tripped && tick.limit_a == expected_a, "engine: %s limit %g A equals the vector's %g A (%s)", name, tick.limit_a,
              expected_a, tick.trip_reason);
    LSH_CHECK(log->calls == 2 && log->last_a == expected_a, "engine: %s told the shaper 0 A at init, then %g A (%u calls, %g A)", name,
              expected_a, log->calls, log->last_a);
    int alloc_same = tick.published.has_alloc;
    for (uint32_t i = 0; i < engine.member_count; i++) {
        const double a = lsh_block_f64(vector_out, LSH_OUT_MEMBER_BASE + i * LSH_OUT_MEMBER_STRIDE + LSH_OUT_MEMBER_TARGET_CURRENT_A);
        if (tick.published.alloc_a[i] != a) alloc_same = 0;
    }
    LSH_CHECK(alloc_same, "engine: %s publishes the vector's allocation vector", name);
}

static void init_engine(const lsh_group_config_t *config, const char *self, const char *const ids[], uint32_t count, shaper_log_t *log) {
    memset(log, 0, sizeof(*log));
    const lsh_shaper_t shaper = {log, record_limit};
    const lsh_result_t result = lsh_engine_init(&engine, &rt, config, self, ids, count, t0_ms - 60000.0, 0.0, &shaper);
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
    LSH_CHECK(lsh_engine_init(&engine, &rt, &config, "peer1", dup, 2, t0_ms, 0.0, &shaper) == lsh_err_argument, "engine: duplicate ids are refused");
    LSH_CHECK(lsh_engine_init(&engine, &rt, &config, "peer9", two, 2, t0_ms, 0.0, &shaper) == lsh_err_argument, "engine: self must be a member");
}

static void test_committed_history(void) {
    shaper_log_t log;
    lsh_group_config_t config = plan_config();
    const char *const one[] = {"solo"};
    memset(&log, 0, sizeof(log));
    const lsh_shaper_t shaper = {&log, record_limit};
    /* Restarted at t0 while its car may still follow a 40 A pilot: 40 A stays committed for
     * ev_response after the start, whatever the first decision says. */
    LSH_CHECK(lsh_engine_init(&engine, &rt, &config, "solo", one, 1, t0_ms, 40.0, &shaper) == lsh_ok, "history: init");
    lsh_self_facts_t self = charging_self();
    self.demand = 1;
    self.amp_ma = 32000; /* draws what it is offered: no demand cap */
    lsh_tick_result_t tick;
    lsh_engine_tick(&engine, t0_ms, &self, &tick);
    LSH_CHECK(tick.limit_a == 32 && tick.published.committed_a == 40, "history: alone, 32 A applied, 40 A still committed from before the start (%g / %g)",
              tick.limit_a, tick.published.committed_a);
    lsh_engine_tick(&engine, t0_ms + 5000, &self, &tick);
    LSH_CHECK(tick.published.committed_a == 32, "history: the start assumption ends after ev_response (%g)", tick.published.committed_a);
    self.max_current_a = 10;
    self.amp_ma = 10000;
    lsh_engine_tick(&engine, t0_ms + 6000, &self, &tick);
    LSH_CHECK(tick.limit_a == 10 && log.last_a == 10, "history: a decrease applies at once (%g A)", tick.limit_a);
    LSH_CHECK(tick.published.committed_a == 32, "history: committed stays 32 A while the car may still draw it (%g)", tick.published.committed_a);
    lsh_engine_tick(&engine, t0_ms + 10999, &self, &tick);
    LSH_CHECK(tick.published.committed_a == 32, "history: 32 A committed until ev_response after the decrease (%g)", tick.published.committed_a);
    lsh_engine_tick(&engine, t0_ms + 11000, &self, &tick);
    LSH_CHECK(tick.published.committed_a == 10, "history: committed falls to 10 A ev_response after the decrease (%g)", tick.published.committed_a);
    LSH_CHECK(log.calls == 6, "history: the shaper hears every tick after the 0 A at init (%u calls)", log.calls);
    /* Many changes within ev_response: the history stays bounded and never under-reports. */
    double highest_a = 0.0;
    for (unsigned i = 0; i < 3u * LSH_HISTORY_MAX; i++) {
        self.max_current_a = 6 + (i * 7u) % 26u;
        self.amp_ma = self.max_current_a * 1000.0;
        lsh_engine_tick(&engine, t0_ms + 20000 + i * 10.0, &self, &tick);
        if (tick.limit_a > highest_a) highest_a = tick.limit_a;
    }
    LSH_CHECK(engine.history_count <= LSH_HISTORY_MAX && tick.published.committed_a == highest_a,
              "history: bounded (%u entries) and still the highest limit of the window (%g A, expected %g A)",
              (unsigned)engine.history_count, tick.published.committed_a, highest_a);
}

static void test_mismatch_since(void) {
    shaper_log_t log;
    const lsh_group_config_t config = plan_config();
    const char *const three[] = {"a", "b", "c"};
    init_engine(&config, "a", three, 3, &log);
    lsh_member_status_t b = charging_peer("b");
    b.has_seen = 1;
    b.seen_count = 2;
    b.seen_ids[0] = "a";
    b.seen_ids[1] = "b"; /* b does not hear c, which a hears: seen-sets differ */
    lsh_member_status_t c = charging_peer("c");
    const lsh_self_facts_t self = charging_self();
    lsh_tick_result_t tick;
    lsh_engine_handle_status(&engine, &b, t0_ms);
    lsh_engine_handle_status(&engine, &c, t0_ms);
    lsh_engine_tick(&engine, t0_ms, &self, &tick);
    LSH_CHECK(engine.has_mismatch_since && engine.mismatch_since_ms == t0_ms, "mismatch: noticed at t0 (%d, %.0f)",
              engine.has_mismatch_since, engine.mismatch_since_ms);
    LSH_CHECK(!tick.published.degraded, "mismatch: not degraded inside the grace period");
    lsh_engine_handle_status(&engine, &b, t0_ms + 1000);
    lsh_engine_handle_status(&engine, &c, t0_ms + 1000);
    static uint8_t block[LSH_IN_SIZE];
    lsh_engine_build_input(&engine, t0_ms + 1000, &self, block);
    LSH_CHECK((lsh_block_u32(block, LSH_IN_FLAGS) & LSH_INPUT_FLAGS_MISMATCH_SINCE_PRESENT) != 0 &&
              lsh_block_f64(block, LSH_IN_MISMATCH_SINCE_MS) == t0_ms, "mismatch: mismatch_since is fed back to the core");
    lsh_engine_handle_status(&engine, &b, t0_ms + 4000);
    lsh_engine_handle_status(&engine, &c, t0_ms + 4000);
    lsh_engine_tick(&engine, t0_ms + 4000, &self, &tick);
    LSH_CHECK(tick.published.degraded && tick.limit_a <= config.failsafe_safe_current_a,
              "mismatch: after the grace period this charger degrades to at most the failsafe (%g A, degraded %d)",
              tick.limit_a, tick.published.degraded);
    LSH_CHECK((tick.published.seen_mask & 7u) == 7u, "mismatch: it publishes that it hears a, b and c (mask %u)", (unsigned)tick.published.seen_mask);
}

static void test_guard_in_engine(void) {
    shaper_log_t log;
    lsh_group_config_t config = plan_config();
    const char *const two[] = {"peer1", "peer2"};
    init_engine(&config, "peer1", two, 2, &log);
    lsh_member_status_t peer2 = charging_peer("peer2");
    const lsh_self_facts_t self = charging_self();
    lsh_tick_result_t tick;
    lsh_engine_handle_status(&engine, &peer2, t0_ms);
    lsh_engine_tick(&engine, t0_ms, &self, &tick);
    const double good_a = tick.limit_a;
    LSH_CHECK(good_a > config.failsafe_safe_current_a, "guard: a healthy tick gives more than the failsafe (%g A)", good_a);

    const char *bad_modules[] = {"traps.wasm", "applied-above-target.wasm"};
    const char *reasons[] = {"module trapped", "invariant broken: applied above target"};
    for (int k = 0; k < 2; k++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", lsh_test_modules_dir, bad_modules[k]);
        size_t size = 0;
        uint8_t *bytes = lsh_file_read(path, &size);
        LSH_CHECK(bytes != NULL && lsh_runtime_load(&rt_bad, bytes, size) == lsh_ok, "guard: %s loads", bad_modules[k]);
        if (bytes == NULL) continue;
        LSH_CHECK(lsh_engine_use_runtime(&engine, &rt_bad) == lsh_ok, "guard: hot swap to %s", bad_modules[k]);
        lsh_engine_handle_status(&engine, &peer2, t0_ms + 1000 + k);
        lsh_engine_tick(&engine, t0_ms + 1000 + k, &self, &tick);
        LSH_CHECK(tick.tripped && tick.limit_a == config.failsafe_safe_current_a && log.last_a == tick.limit_a && tick.published.committed_a >= good_a,
                  "guard: %s gives the failsafe %g A at once (got %g A, shaper %g A)", bad_modules[k], config.failsafe_safe_current_a,
                  tick.limit_a, log.last_a);
        LSH_CHECK(strstr(tick.trip_reason, reasons[k]) != NULL, "guard: %s reason \"%s\"", bad_modules[k], tick.trip_reason);
        LSH_CHECK(tick.published.degraded && !tick.published.has_alloc && tick.published.reason == LSH_REASON_GUARD_FAILSAFE,
                  "guard: %s publishes degraded and no allocation vector", bad_modules[k]);
        LSH_CHECK(lsh_engine_use_runtime(&engine, &rt) == lsh_ok, "guard: roll back to the default module");
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
        lsh_engine_tick(&engine, t0_ms + 3000, &self, &tick);
        LSH_CHECK(tick.tripped && tick.limit_a == 0, "guard: disable mode falls to 0 A (got %g A)", tick.limit_a);
        lsh_runtime_unload(&rt_bad);
        engine.runtime = &rt;
    }
    free(bytes);
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
    lsh_engine_tick(&engine, t0_ms, &self, &tick);
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
    lsh_engine_tick(&engine, t0_ms, &self, &tick);
    LSH_CHECK(!tick.tripped && tick.limit_a == 10, "16 members, the bench's group: 10 A each inside the stack (%g A, %s)",
              tick.limit_a, tick.trip_reason);
}

void lsh_test_engine(void) {
    const lsh_result_t result = lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size);
    LSH_CHECK(result == lsh_ok, "engine: default module loads: %s", lsh_runtime_detail(&rt));
    if (result != lsh_ok) return;
    test_vectors_through_engine();
    test_committed_history();
    test_mismatch_since();
    test_guard_in_engine();
    test_sixteen_members();
    lsh_runtime_unload(&rt);
}
