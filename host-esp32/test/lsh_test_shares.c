/* The share history (share_recent / share_hold) of lsh_engine.c on virtual time, through the
 * default module: the same input blocks as the Node engine for a recorded history
 * (engine-shares.txt from gen-engine-shares.mjs), the recent and hold windows to the
 * millisecond, no share_hold for a member never heard, the ring's fold when it overflows, and
 * what a share my recent vector gave does to my headroom. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsh_block.h"
#include "lsh_engine.h"
#include "lsh_module_default.h"
#include "lsh_test.h"
#include "lsh_test_files.h"

static const double t0_ms = 1767225600000.0;

static lsh_runtime_t rt;
static lsh_engine_t engine;
static uint8_t block[LSH_IN_SIZE];

static void ignore_limit(void *context, double limit_a) {
    (void)context;
    (void)limit_a;
}

static lsh_group_config_t group_40a(void) {
    lsh_group_config_t c;
    memset(&c, 0, sizeof(c));
    c.group_id = "shares";
    c.group_max_current_a = 40;
    c.safety_factor = 1.0;
    c.heartbeat_timeout_s = 30;
    c.failsafe_mode = LSH_FAILSAFE_MODE_SAFE_CURRENT;
    c.failsafe_safe_current_a = 6;
    c.failsafe_peer_assumed_current_a = 6;
    return c;
}

static lsh_self_facts_t self_facts(double max_current_a) {
    lsh_self_facts_t s = {1, 3, 0, 0.0, 240.0, 6.0, max_current_a, 1};
    return s;
}

static lsh_member_status_t peer(const char *id, int demand, double max_current_a) {
    lsh_member_status_t s;
    memset(&s, 0, sizeof(s));
    s.id = id;
    s.vehicle = 1;
    s.state = 3;
    s.voltage_v = 240;
    s.min_current_a = 6;
    s.max_current_a = max_current_a;
    s.demand = demand;
    s.has_applied = 1;  /* it reports 0 A applied and committed: it has not acted on my vectors yet */
    s.has_committed = 1;
    return s;
}

static int init_group(const char *const ids[], uint32_t count, double now_ms) {
    const lsh_group_config_t config = group_40a();
    const lsh_shaper_t shaper = {NULL, ignore_limit};
    const lsh_result_t result = lsh_engine_init(&engine, &rt, &config, "a", ids, count, now_ms, 0.0, &shaper);
    LSH_CHECK(result == lsh_ok, "shares: engine init: %s", result ? result : "ok");
    return result == lsh_ok;
}

static int index_of(const char *id) {
    for (uint32_t i = 0; i < engine.member_count; i++) {
        if (strcmp(lsh_engine_member_id(&engine, i), id) == 0) return (int)i;
    }
    return -1;
}

/* The member's flags and share fields in an input block. */
static uint32_t member_flags(const uint8_t *in, int i) {
    return lsh_block_u32(in, LSH_IN_MEMBER_BASE + (uint32_t)i * LSH_IN_MEMBER_STRIDE + LSH_IN_MEMBER_FLAGS);
}

static double member_f64(const uint8_t *in, int i, uint32_t offset) {
    return lsh_block_f64(in, LSH_IN_MEMBER_BASE + (uint32_t)i * LSH_IN_MEMBER_STRIDE + offset);
}

/* ---- the recorded Node history, replayed ---- */
/* Exact with the default ring (80 entries: the recorded history never folds). A build with a
 * much smaller LSH_SHARE_HISTORY_MAX folds and then counts some shares longer than Node does:
 * its blocks differ and its limits are lower or equal (2 entries: 8 A for Node's 10 A twice). */

static int parse_ids(char *list, const char *ids[], uint32_t capacity) {
    uint32_t n = 0;
    if (strcmp(list, "-") == 0) return 0;
    char *save = NULL;
    for (char *id = strtok_r(list, ",", &save); id != NULL && n < capacity; id = strtok_r(NULL, ",", &save)) ids[n++] = id;
    return (int)n;
}

static size_t hex_into(const char *hex, uint8_t *out, size_t capacity) {
    const size_t len = strlen(hex);
    if (len % 2u != 0 || len / 2u > capacity) return (size_t)-1;
    for (size_t i = 0; i < len / 2u; i++) {
        unsigned byte = 0;
        if (sscanf(hex + 2u * i, "%2x", &byte) != 1) return (size_t)-1;
        out[i] = (uint8_t)byte;
    }
    return len / 2u;
}

static void test_node_parity(void) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/host-esp32/test/engine-shares.txt", lsh_test_root);
    FILE *file = fopen(path, "r");
    LSH_CHECK(file != NULL, "shares parity: read %s", path);
    if (file == NULL) return;
    static char line[16384];
    static char group_id[64];
    static char member_words[LSH_MEMBERS_MAX + 1][LSH_ID_BYTES_MAX + 1];
    static uint8_t expected[LSH_IN_SIZE];
    lsh_group_config_t config;
    memset(&config, 0, sizeof(config));
    const char *ids[LSH_MEMBERS_MAX];
    uint32_t id_count = 0;
    const char *self_id = NULL;
    unsigned ticks = 0, blocks_equal = 0, limits_equal = 0, recent_differs = 0, hold_seen = 0, unheard_without_hold = 0;
    unsigned line_no = 0;
    int engine_ready = 0;
    while (fgets(line, sizeof(line), file) != NULL) {
        line_no++;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0') continue;
        char *save = NULL;
        const char *word = strtok_r(line, " ", &save);
        char *f[24];
        unsigned n = 0;
        for (char *t = strtok_r(NULL, " ", &save); t != NULL && n < 24u; t = strtok_r(NULL, " ", &save)) f[n++] = t;
        if (strcmp(word, "config") == 0 && n == 11) {
            snprintf(group_id, sizeof(group_id), "%s", f[0]);
            config.group_id = group_id;
            config.group_max_current_a = strtod(f[1], NULL);
            config.safety_factor = strtod(f[2], NULL);
            config.heartbeat_timeout_s = strtod(f[3], NULL);
            config.failsafe_mode = strcmp(f[4], "disable") == 0 ? LSH_FAILSAFE_MODE_DISABLE : LSH_FAILSAFE_MODE_SAFE_CURRENT;
            config.failsafe_safe_current_a = strtod(f[5], NULL);
            config.failsafe_peer_assumed_current_a = strtod(f[6], NULL);
            config.rotation_interval_s = strtod(f[7], NULL);
            config.ev_response_ms = strtod(f[8], NULL);
            config.seen_grace_ms = strtod(f[9], NULL);
            config.message_delay_max_ms = strtod(f[10], NULL);
        } else if (strcmp(word, "members") == 0 && n >= 2 && n <= LSH_MEMBERS_MAX + 1u) {
            for (unsigned k = 0; k < n; k++) snprintf(member_words[k], sizeof(member_words[k]), "%s", f[k]);
            self_id = member_words[0];
            id_count = n - 1u;
            for (unsigned k = 1; k < n; k++) ids[k - 1u] = member_words[k];
        } else if (strcmp(word, "init") == 0 && n == 2 && self_id != NULL) {
            const lsh_shaper_t shaper = {NULL, ignore_limit};
            const lsh_result_t r = lsh_engine_init(&engine, &rt, &config, self_id, ids, id_count, strtod(f[0], NULL), strtod(f[1], NULL), &shaper);
            LSH_CHECK(r == lsh_ok, "shares parity: init: %s", r ? r : "ok");
            engine_ready = r == lsh_ok;
        } else if (strcmp(word, "status") == 0 && n == 14 && engine_ready) {
            lsh_member_status_t s;
            memset(&s, 0, sizeof(s));
            s.id = f[0];
            const double at_ms = strtod(f[1], NULL);
            s.vehicle = (uint32_t)strtoul(f[2], NULL, 10);
            s.state = (uint32_t)strtoul(f[3], NULL, 10);
            s.amp_ma = strtod(f[4], NULL);
            s.voltage_v = strtod(f[5], NULL);
            s.min_current_a = strtod(f[6], NULL);
            s.max_current_a = strtod(f[7], NULL);
            s.priority = (int32_t)strtol(f[8], NULL, 10);
            s.demand = (int)strtol(f[9], NULL, 10);
            if (strcmp(f[10], "-") != 0) { s.has_applied = 1; s.applied_a = strtod(f[10], NULL); }
            if (strcmp(f[11], "-") != 0) { s.has_committed = 1; s.committed_a = strtod(f[11], NULL); }
            if (strcmp(f[12], "-") != 0) { s.has_seen = 1; s.seen_count = (uint32_t)parse_ids(f[12], s.seen_ids, LSH_MEMBERS_MAX * 2u); }
            if (strcmp(f[13], "-") != 0) {
                const char *pairs[LSH_MEMBERS_MAX * 2];
                s.has_alloc = 1;
                s.alloc_count = (uint32_t)parse_ids(f[13], pairs, LSH_MEMBERS_MAX * 2u);
                for (uint32_t k = 0; k < s.alloc_count; k++) {
                    char *eq = strchr(pairs[k], '=');
                    if (eq == NULL) continue;
                    *eq = '\0';
                    s.alloc[k].id = pairs[k];
                    s.alloc[k].current_a = strtod(eq + 1, NULL);
                }
            }
            LSH_CHECK(lsh_engine_handle_status(&engine, &s, at_ms) == lsh_ok, "shares parity: line %u: status accepted", line_no);
        } else if (strcmp(word, "tick") == 0 && n == 10 && engine_ready) {
            const double at_ms = strtod(f[0], NULL);
            lsh_self_facts_t self;
            memset(&self, 0, sizeof(self));
            self.vehicle = (uint32_t)strtoul(f[1], NULL, 10);
            self.state = (uint32_t)strtoul(f[2], NULL, 10);
            self.amp_ma = strtod(f[3], NULL);
            self.voltage_v = strtod(f[4], NULL);
            self.min_current_a = strtod(f[5], NULL);
            self.max_current_a = strtod(f[6], NULL);
            self.demand = (int)strtol(f[7], NULL, 10);
            const double node_limit_a = strtod(f[8], NULL);
            memset(expected, 0, sizeof(expected));
            const size_t used = hex_into(f[9], expected, sizeof(expected));
            lsh_tick_result_t tick;
            lsh_engine_tick(&engine, at_ms, &self, &tick);
            ticks++;
            /* engine.input_block is exactly what this tick fed the core. */
            size_t first_diff = LSH_IN_SIZE;
            for (size_t i = 0; used != (size_t)-1 && i < LSH_IN_SIZE; i++) {
                if (engine.input_block[i] != expected[i]) { first_diff = i; break; }
            }
            if (used != (size_t)-1 && first_diff == LSH_IN_SIZE) blocks_equal++;
            else {
                const long member = first_diff >= LSH_IN_MEMBER_BASE ? (long)((first_diff - LSH_IN_MEMBER_BASE) / LSH_IN_MEMBER_STRIDE) : -1;
                LSH_CHECK(0, "shares parity: line %u (t0%+.0f ms): input block differs from Node's at byte %zu (member %ld, offset %ld)", line_no,
                          at_ms - t0_ms, first_diff, member, member >= 0 ? (long)((first_diff - LSH_IN_MEMBER_BASE) % LSH_IN_MEMBER_STRIDE) : -1L);
            }
            if (tick.limit_a == node_limit_a) limits_equal++;
            else LSH_CHECK(0, "shares parity: line %u: limit %g A, Node's %g A", line_no, tick.limit_a, node_limit_a);
            /* What the recorded history covers (so this test cannot pass on a history without shares). */
            const uint32_t count = lsh_block_u32(expected, LSH_IN_MEMBER_COUNT);
            const uint32_t self_index = lsh_block_u32(expected, LSH_IN_SELF_INDEX);
            for (uint32_t i = 0; i < count && i < LSH_MEMBERS_MAX; i++) {
                if (i == self_index) continue;
                const uint32_t mf = member_flags(expected, (int)i);
                if (mf & LSH_MEMBER_FLAGS_SHARE_HOLD) hold_seen++;
                if (!(mf & LSH_MEMBER_FLAGS_LAST_SEEN) && (mf & LSH_MEMBER_FLAGS_SHARE_RECENT) && !(mf & LSH_MEMBER_FLAGS_SHARE_HOLD)) unheard_without_hold++;
                const uint32_t sf = member_flags(expected, (int)self_index);
                if ((mf & LSH_MEMBER_FLAGS_SHARE_RECENT) && (sf & LSH_MEMBER_FLAGS_ALLOC) == 0 && tick.published.has_alloc &&
                    member_f64(expected, (int)i, LSH_IN_MEMBER_SHARE_RECENT_A) > tick.published.alloc_a[i]) {
                    recent_differs++;
                }
            }
        } else {
            LSH_CHECK(0, "shares parity: line %u: cannot read \"%s\" with %u fields", line_no, word, n);
        }
    }
    fclose(file);
    LSH_CHECK(ticks >= 100 && blocks_equal == ticks, "shares parity: %u of %u ticks fed the core the same input block as the Node engine", blocks_equal, ticks);
    LSH_CHECK(ticks >= 100 && limits_equal == ticks, "shares parity: %u of %u ticks gave the shaper Node's limit", limits_equal, ticks);
    LSH_CHECK(recent_differs > 0 && hold_seen > 0 && unheard_without_hold > 0,
              "shares parity: the history covers a share_recent above the new share (%u), share_hold (%u) and a never-heard member (%u)",
              recent_differs, hold_seen, unheard_without_hold);
}

/* ---- the windows ---- */

/* b is given 24 A (a wants at most 16 A of 40 A), then b's maximum falls to 10 A at t1. */
static int two_vectors(double *t1_out) {
    const char *const ids[] = {"a", "b", "c"};
    if (!init_group(ids, 3, t0_ms - 60000.0)) return 0;
    lsh_member_status_t b = peer("b", 1, 32);
    lsh_member_status_t c = peer("c", 0, 32);
    lsh_engine_handle_status(&engine, &b, t0_ms);
    lsh_engine_handle_status(&engine, &c, t0_ms);
    const lsh_self_facts_t self = self_facts(16);
    lsh_tick_result_t tick;
    lsh_engine_tick(&engine, t0_ms, &self, &tick);
    const int ib = index_of("b");
    LSH_CHECK(tick.published.alloc_a[ib] == 24, "windows: b's share is 24 A first (%g)", tick.published.alloc_a[ib]);
    const double t1 = t0_ms + 1000;
    b.max_current_a = 10;
    lsh_engine_handle_status(&engine, &b, t1);
    lsh_engine_tick(&engine, t1, &self, &tick);
    LSH_CHECK(tick.published.alloc_a[ib] == 10, "windows: then 10 A (%g)", tick.published.alloc_a[ib]);
    *t1_out = t1;
    return 1;
}

static void test_recent_window(void) {
    double t1 = 0;
    if (!two_vectors(&t1)) return;
    const lsh_self_facts_t self = self_facts(16);
    const int ib = index_of("b");
    const double window_ms = 2.0 * engine.config.message_delay_max_ms; /* 4 s */
    lsh_engine_build_input(&engine, t1 + window_ms, &self, block);
    LSH_CHECK((member_flags(block, ib) & LSH_MEMBER_FLAGS_SHARE_RECENT) && member_f64(block, ib, LSH_IN_MEMBER_SHARE_RECENT_A) == 24,
              "recent: 2 x message_delay_max after the 24 A vector ended it still counts (%g)", member_f64(block, ib, LSH_IN_MEMBER_SHARE_RECENT_A));
    lsh_engine_build_input(&engine, t1 + window_ms + 1, &self, block);
    LSH_CHECK(member_f64(block, ib, LSH_IN_MEMBER_SHARE_RECENT_A) == 10, "recent: 1 ms later only the vector in force counts (%g)",
              member_f64(block, ib, LSH_IN_MEMBER_SHARE_RECENT_A));
    const int ia = index_of("a");
    LSH_CHECK(!(member_flags(block, ia) & (LSH_MEMBER_FLAGS_SHARE_RECENT | LSH_MEMBER_FLAGS_SHARE_HOLD)), "recent: self gets no share fields");
}

static void test_hold_window(void) {
    double t1 = 0;
    if (!two_vectors(&t1)) return;
    const lsh_self_facts_t self = self_facts(16);
    const int ib = index_of("b");
    const double heartbeat_ms = engine.config.heartbeat_timeout_s * 1000.0;
    lsh_member_status_t b = peer("b", 1, 10);
    /* Heard again a heartbeat timeout after the 24 A vector ended: that vector still counts. */
    lsh_engine_handle_status(&engine, &b, t1 + heartbeat_ms);
    lsh_engine_build_input(&engine, t1 + heartbeat_ms + 20000, &self, block);
    LSH_CHECK((member_flags(block, ib) & LSH_MEMBER_FLAGS_SHARE_HOLD) && member_f64(block, ib, LSH_IN_MEMBER_SHARE_HOLD_A) == 24,
              "hold: since last heard minus a heartbeat timeout, the 24 A vector counts (%g)", member_f64(block, ib, LSH_IN_MEMBER_SHARE_HOLD_A));
    LSH_CHECK(member_f64(block, ib, LSH_IN_MEMBER_SHARE_RECENT_A) == 10, "hold: share_recent is long past it (%g)",
              member_f64(block, ib, LSH_IN_MEMBER_SHARE_RECENT_A));
    lsh_engine_handle_status(&engine, &b, t1 + heartbeat_ms + 1);
    lsh_engine_build_input(&engine, t1 + heartbeat_ms + 20000, &self, block);
    LSH_CHECK(member_f64(block, ib, LSH_IN_MEMBER_SHARE_HOLD_A) == 10, "hold: heard 1 ms later, only the 10 A vector counts (%g)",
              member_f64(block, ib, LSH_IN_MEMBER_SHARE_HOLD_A));
}

static void test_never_heard(void) {
    const char *const ids[] = {"a", "b", "c"};
    if (!init_group(ids, 3, t0_ms - 60000.0)) return;
    lsh_member_status_t b = peer("b", 1, 32);
    lsh_engine_handle_status(&engine, &b, t0_ms);
    const lsh_self_facts_t self = self_facts(32);
    lsh_tick_result_t tick;
    lsh_engine_build_input(&engine, t0_ms, &self, block);
    const int ib = index_of("b");
    const int ic = index_of("c");
    LSH_CHECK(!(member_flags(block, ib) & (LSH_MEMBER_FLAGS_SHARE_RECENT | LSH_MEMBER_FLAGS_SHARE_HOLD)), "never heard: no shares before my first vector");
    lsh_engine_tick(&engine, t0_ms, &self, &tick);
    lsh_engine_build_input(&engine, t0_ms + 1000, &self, block);
    LSH_CHECK((member_flags(block, ib) & LSH_MEMBER_FLAGS_SHARE_RECENT) && (member_flags(block, ib) & LSH_MEMBER_FLAGS_SHARE_HOLD),
              "never heard: a heard member gets share_recent and share_hold");
    LSH_CHECK((member_flags(block, ic) & LSH_MEMBER_FLAGS_SHARE_RECENT) && !(member_flags(block, ic) & LSH_MEMBER_FLAGS_SHARE_HOLD) &&
              member_f64(block, ic, LSH_IN_MEMBER_SHARE_HOLD_A) == 0.0,
              "never heard: c has share_recent (its share in my vector) but no share_hold (flags %x)", (unsigned)member_flags(block, ic));
}

/* ---- the ring overflows ---- */

static void test_overflow_fold(void) {
    const char *const ids[] = {"a", "b"};
    if (!init_group(ids, 2, t0_ms - 60000.0)) return;
    const int ib = index_of("b");
    lsh_member_status_t b = peer("b", 1, 32);
    static double at_ms[4u * LSH_SHARE_HISTORY_MAX];
    static double share_b[4u * LSH_SHARE_HISTORY_MAX];
    const unsigned changes = 3u * LSH_SHARE_HISTORY_MAX;
    lsh_tick_result_t tick;
    unsigned recorded = 0;
    double previous_a = -1;
    for (unsigned k = 0; k < changes; k++) {
        const double now = t0_ms + 100.0 * k;
        /* a wants nothing; b's maximum differs each time, so b's share changes each time */
        b.max_current_a = 6.0 + (double)((k * 7u) % 27u);
        lsh_engine_handle_status(&engine, &b, now);
        lsh_self_facts_t self = self_facts(32);
        self.demand = 0;
        lsh_engine_tick(&engine, now, &self, &tick);
        if (tick.published.alloc_a[ib] != previous_a) {
            at_ms[recorded] = now;
            share_b[recorded] = tick.published.alloc_a[ib];
            recorded++;
            previous_a = tick.published.alloc_a[ib];
        }
    }
    const double end_ms = t0_ms + 100.0 * (changes - 1u);
    LSH_CHECK(recorded >= 2u * LSH_SHARE_HISTORY_MAX && engine.shares.count <= LSH_SHARE_HISTORY_MAX && engine.shares.fold_mask != 0,
              "overflow: %u changes of b's share in %.1f s kept in %u entries plus a fold", recorded, (end_ms - t0_ms) / 1000.0,
              (unsigned)engine.shares.count);
    /* Every query gives at least what Node's unbounded list gives (never under-counted), and
     * exactly that when it reaches no further back than the entries still held. */
    unsigned under = 0, exact_recent = 1;
    const double oldest_held_until = engine.shares.entries[engine.shares.head].until_ms;
    for (unsigned q = 0; q < recorded; q++) {
        const double since = at_ms[q];
        double node_max = -1;
        for (unsigned r = 0; r < recorded; r++) {
            const double until = r + 1u < recorded ? at_ms[r + 1u] : INFINITY;
            if (!(until < since) && share_b[r] > node_max) node_max = share_b[r];
        }
        double got = -1;
        lsh_engine_share_max_since(&engine, (uint32_t)ib, since, &got);
        if (got < node_max) under++;
        if (since > oldest_held_until && got != node_max) exact_recent = 0;
    }
    LSH_CHECK(under == 0, "overflow: no window under-counts b's share (%u did)", under);
    LSH_CHECK(exact_recent, "overflow: windows inside the held entries are exact");
    const lsh_self_facts_t self = self_facts(32);
    lsh_engine_build_input(&engine, end_ms, &self, block);
    double highest = 0;
    for (unsigned r = 0; r < recorded; r++) if (share_b[r] > highest) highest = share_b[r];
    LSH_CHECK(member_f64(block, ib, LSH_IN_MEMBER_SHARE_HOLD_A) == highest,
              "overflow: share_hold reaching back past the ring still gives b's highest share (%g, expected %g)",
              member_f64(block, ib, LSH_IN_MEMBER_SHARE_HOLD_A), highest);
    /* After keep_ms without folding anything new, the next change drops the fold, as Node
     * drops every entry it held. */
    const double later = end_ms + engine.shares.keep_ms + 1000.0;
    lsh_engine_handle_status(&engine, &b, later);
    lsh_engine_tick(&engine, later, &self, &tick);
    LSH_CHECK(engine.shares.fold_mask == 0 && engine.shares.count <= 2u, "overflow: keep_ms later the fold and old entries are gone (%u entries)",
              (unsigned)engine.shares.count);
}

/* ---- the reserve through the real module ---- */

static void test_headroom(void) {
    double t1 = 0;
    const char *const ids[] = {"a", "b"};
    if (!init_group(ids, 2, t0_ms - 60000.0)) return;
    const int ib = index_of("b");
    lsh_member_status_t b = peer("b", 1, 32);
    lsh_engine_handle_status(&engine, &b, t0_ms);
    lsh_self_facts_t self = self_facts(16);
    lsh_tick_result_t tick;
    lsh_engine_tick(&engine, t0_ms, &self, &tick);
    LSH_CHECK(tick.published.alloc_a[ib] == 24 && tick.limit_a == 16, "headroom: my vector gives b 24 A, me 16 A (%g, %g)",
              tick.published.alloc_a[ib], tick.limit_a);
    /* b stops wanting current and still reports 0 A (my 24 A vector may not have reached it, or
     * its report of acting on it may be late); I would like 32 A. */
    t1 = t0_ms + 1000;
    b.demand = 0;
    self = self_facts(32);
    self.amp_ma = 16000;
    lsh_engine_handle_status(&engine, &b, t1);
    lsh_engine_tick(&engine, t1, &self, &tick);
    LSH_CHECK(tick.published.alloc_a[ib] == 0 && tick.published.target_a == 32, "headroom: now my vector gives b 0 A and me 32 A (%g, %g)",
              tick.published.alloc_a[ib], tick.published.target_a);
    LSH_CHECK(tick.limit_a == 16, "headroom: but b's 24 A in my recent vector limits me to 40 - 24 = 16 A (%g)", tick.limit_a);
    const double window_ms = 2.0 * engine.config.message_delay_max_ms;
    lsh_engine_handle_status(&engine, &b, t1 + window_ms);
    lsh_engine_tick(&engine, t1 + window_ms, &self, &tick);
    LSH_CHECK(tick.limit_a == 16, "headroom: until 2 x message_delay_max after that vector ended (%g)", tick.limit_a);
    lsh_engine_handle_status(&engine, &b, t1 + window_ms + 1);
    lsh_engine_tick(&engine, t1 + window_ms + 1, &self, &tick);
    LSH_CHECK(tick.limit_a == 32, "headroom: then I rise to 32 A (%g)", tick.limit_a);
}

void lsh_test_shares(void) {
    const lsh_result_t result = lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size);
    LSH_CHECK(result == lsh_ok, "shares: default module loads: %s", lsh_runtime_detail(&rt));
    if (result != lsh_ok) return;
    test_node_parity();
    test_recent_window();
    test_hold_window();
    test_never_heard();
    test_overflow_fold();
    test_headroom();
    lsh_runtime_unload(&rt);
}
