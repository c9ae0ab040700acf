/* Fact recording, C against Node: a history run through the Node engine (engine-facts.txt,
 * written by gen-engine-facts.mjs: peer statuses and deltas with odd values, an upstream peer,
 * a peer never heard, local changes, load sharing switched off and on, ticks the module asked
 * for, a wall clock that steps back, members removed while heard and while silent, one restored
 * as leaving, forgotten on its own word or a person's, members added) replayed through lsh_engine.c under wasm3. Every tick
 * must feed the module the same input block, and get back the same output block and the
 * same carry, as Node's did; the shaper and the published applied, committed and demand cap
 * must be Node's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsh_block.h"
#include "lsh_engine.h"
#include "lsh_module_default.h"
#include "lsh_test.h"

static lsh_runtime_t rt;
static lsh_engine_t engine;
static double shaper_a = -1.0;

static void record_limit(void *context, double limit_a) {
    (void)context;
    shaper_a = limit_a;
}

/* ---- the fixture's line format: a word, then key=value fields ---- */

#define FIELDS_MAX 32u

typedef struct line_fields {
    unsigned count;
    const char *key[FIELDS_MAX];
    char *value[FIELDS_MAX];
} line_fields_t;

static void split_fields(char *rest, line_fields_t *f) {
    char *save = NULL;
    f->count = 0;
    for (char *t = strtok_r(rest, " ", &save); t != NULL && f->count < FIELDS_MAX; t = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(t, '=');
        if (eq == NULL) continue;
        *eq = '\0';
        f->key[f->count] = t;
        f->value[f->count] = eq + 1;
        f->count++;
    }
}

static char *field(const line_fields_t *f, const char *key) {
    for (unsigned i = 0; i < f->count; i++) {
        if (strcmp(f->key[i], key) == 0) return f->value[i];
    }
    return NULL;
}

static double number(const line_fields_t *f, const char *key, double otherwise) {
    const char *v = field(f, key);
    return v != NULL ? strtod(v, NULL) : otherwise;
}

/* Splits a comma list in place; returns the count (an empty value is an empty list). */
static uint32_t split_list(char *list, char *items[], uint32_t capacity) {
    uint32_t n = 0;
    char *save = NULL;
    for (char *item = strtok_r(list, ",", &save); item != NULL && n < capacity; item = strtok_r(NULL, ",", &save)) items[n++] = item;
    return n;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* A block's used prefix as hex, the rest zeros; 0 when malformed or too long. */
static int hex_block(const char *hex, uint8_t *out, size_t capacity) {
    const size_t len = strlen(hex);
    memset(out, 0, capacity);
    if (len % 2u != 0 || len / 2u > capacity) return 0;
    for (size_t i = 0; i < len / 2u; i++) {
        const int hi = hex_value(hex[2u * i]);
        const int lo = hex_value(hex[2u * i + 1u]);
        if (hi < 0 || lo < 0) return 0;
        out[i] = (uint8_t)(hi * 16 + lo);
    }
    return 1;
}

static size_t first_difference(const uint8_t *a, const uint8_t *b, size_t size) {
    for (size_t i = 0; i < size; i++) {
        if (a[i] != b[i]) return i;
    }
    return size;
}

/* ---- replay ---- */

typedef struct replay {
    lsh_group_config_t config;
    char group_id[LSH_GROUP_ID_BYTES_MAX + 1];
    char ids_text[256];
    char self_id[LSH_ID_BYTES_MAX + 1];
    char *ids[LSH_MEMBERS_MAX];
    uint32_t id_count;
    int ready;
    unsigned ticks, inputs_equal, outputs_equal, carries_equal, published_equal;
    unsigned statuses, upstream, unheard_rows, dropped_fields, disabled_ticks, asked_ticks, wall_steps;
    unsigned membership_changes, leaving_rows, leaving_reserved, alone_words;
    unsigned left_alone_ticks, alone_confirmed_ticks;
    double last_wall_minus_mono;
    double next_call_ms;
    /* the tick being checked, until its in/out/carry lines have been read */
    int pending;
    unsigned line_no;
    double mono_ms;
    uint8_t expected_in[LSH_IN_SIZE];
    uint8_t expected_out[LSH_OUT_SIZE];
    uint8_t expected_carry[LSH_CARRY_SIZE];
} replay_t;

static replay_t r;

static void read_status(line_fields_t *f, unsigned line_no) {
    lsh_member_status_t s;
    memset(&s, 0, sizeof(s));
    s.id = field(f, "id");
    s.vehicle = (uint32_t)number(f, "vehicle", 0);
    s.state = (uint32_t)number(f, "state", 1);
    s.amp_ma = number(f, "amp", 0);
    s.voltage_v = number(f, "voltage", 240);
    s.min_current_a = number(f, "min", 6);
    s.max_current_a = number(f, "max", 32);
    s.priority = (int32_t)number(f, "priority", 0);
    s.demand = (int)number(f, "demand", -1);
    s.degraded = (int)number(f, "degraded", 0);
    s.no_loadsharing_block = (int)number(f, "noblock", 0);
    s.max_current_stated = (int)number(f, "smax", 0);
    if (field(f, "upilot") != NULL) { s.has_pilot = 1; s.pilot_a = number(f, "upilot", 0); }
    s.alone_confirmed = (int)number(f, "alone", 0);
    if (s.alone_confirmed) r.alone_words++;
    if (field(f, "applied") != NULL) { s.has_applied = 1; s.applied_a = number(f, "applied", 0); }
    if (field(f, "committed") != NULL) { s.has_committed = 1; s.committed_a = number(f, "committed", 0); }
    if (field(f, "demand_cap") != NULL) { s.has_demand_cap = 1; s.demand_cap_a = number(f, "demand_cap", 0); }
    if (field(f, "gmc") != NULL) { s.has_group_max_current = 1; s.group_max_current_a = number(f, "gmc", 0); }
    if (field(f, "sf") != NULL) { s.has_safety_factor = 1; s.safety_factor = number(f, "sf", 0); }
    if (field(f, "hash") != NULL) s.has_config_hash = hex_block(field(f, "hash"), s.config_hash, LSH_HASH_BYTES);
    char *safety = field(f, "safety");
    if (safety != NULL) {
        char *parts[3];
        if (split_list(safety, parts, 3) == 3) {
            s.has_safety_settings = 1;
            s.heartbeat_timeout_s = strtod(parts[0], NULL);
            s.failsafe_safe_current_a = strtod(parts[1], NULL);
            s.failsafe_peer_assumed_current_a = strtod(parts[2], NULL);
        }
    }
    char *seen = field(f, "seen");
    if (seen != NULL) {
        char *ids[LSH_MEMBERS_MAX * 2];
        s.has_seen = 1;
        s.seen_count = split_list(seen, ids, LSH_MEMBERS_MAX * 2u);
        for (uint32_t k = 0; k < s.seen_count; k++) s.seen_ids[k] = ids[k];
    }
    char *alloc = field(f, "alloc");
    if (alloc != NULL) {
        char *pairs[LSH_MEMBERS_MAX * 2];
        s.has_alloc = 1;
        s.alloc_count = split_list(alloc, pairs, LSH_MEMBERS_MAX * 2u);
        for (uint32_t k = 0; k < s.alloc_count; k++) {
            char *colon = strchr(pairs[k], ':');
            if (colon == NULL) continue;
            *colon = '\0';
            s.alloc[k].id = pairs[k];
            s.alloc[k].current_a = strtod(colon + 1, NULL);
            if (s.alloc[k].current_a < 0) r.dropped_fields++;
        }
    }
    if (s.no_loadsharing_block) r.upstream++;
    if ((s.has_safety_factor && s.safety_factor > 1.0) || (s.has_demand_cap && s.demand_cap_a <= 0.0) || s.amp_ma < 0 ||
        s.min_current_a > s.max_current_a) {
        r.dropped_fields++;
    }
    r.statuses++;
    const lsh_result_t result = lsh_engine_handle_status(&engine, &s, number(f, "mono", NAN));
    LSH_CHECK(result == lsh_ok, "facts: line %u: the status of %s is accepted (%s)", line_no, s.id ? s.id : "?", result ? result : "ok");
}

static void start_tick(line_fields_t *f, unsigned line_no) {
    lsh_self_facts_t self;
    memset(&self, 0, sizeof(self));
    self.vehicle = (uint32_t)number(f, "vehicle", 0);
    self.state = (uint32_t)number(f, "state", 0);
    self.amp_ma = number(f, "amp", 0);
    self.voltage_v = number(f, "voltage", 0);
    self.min_current_a = number(f, "min", 0);
    self.max_current_a = number(f, "max", 0);
    self.priority = (int32_t)number(f, "priority", 0);
    self.demand = (int)number(f, "demand", 0);
    self.pilot_a = number(f, "pilot", 0);
    const double mono_ms = number(f, "mono", NAN);
    const double wall_ms = number(f, "wall", NAN);
    if (r.ticks > 0 && wall_ms - mono_ms != r.last_wall_minus_mono) r.wall_steps++;
    r.last_wall_minus_mono = wall_ms - mono_ms;
    if (r.next_call_ms >= 0 && mono_ms == r.next_call_ms) r.asked_ticks++;
    if (engine.config.disabled) r.disabled_ticks++;
    lsh_tick_result_t tick;
    const lsh_result_t result = lsh_engine_tick(&engine, mono_ms, wall_ms, &self, &tick);
    r.next_call_ms = tick.next_call_ms;
    LSH_CHECK(result == lsh_ok && !tick.tripped, "facts: line %u: the tick computes (%s)", line_no, tick.trip_reason);
    const int published_same = shaper_a == number(f, "limit", NAN) && tick.limit_a == shaper_a &&
                               tick.published.applied_a == number(f, "applied", NAN) &&
                               tick.published.committed_a == number(f, "committed", NAN) &&
                               tick.published.demand_cap_a == number(f, "demand_cap", NAN) &&
                               tick.published.left_alone == (int)number(f, "left_alone", -1);
    if (published_same) r.published_equal++;
    else LSH_CHECK(0, "facts: line %u: shaper %g A, applied %g, committed %g, demand cap %g, left alone %d; Node's %s, %s, %s, %s, %s", line_no,
                   shaper_a, tick.published.applied_a, tick.published.committed_a, tick.published.demand_cap_a, tick.published.left_alone,
                   field(f, "limit"), field(f, "applied"), field(f, "committed"), field(f, "demand_cap"), field(f, "left_alone"));
    if (tick.published.left_alone) r.left_alone_ticks++;
    if (lsh_engine_is_alone_confirmed(&engine) && engine.member_count > 1) r.alone_confirmed_ticks++;
    /* A peer row that reads as never heard (Node's empty document); a member leaving, and what
     * the module reserved for it. */
    for (uint32_t i = 0; i < engine.member_count; i++) {
        const uint32_t flags = lsh_block_u32(engine.input_block, LSH_IN_MEMBER_BASE + i * LSH_IN_MEMBER_STRIDE + LSH_IN_MEMBER_FLAGS);
        if (i != engine.self_index && !(flags & LSH_MEMBER_FLAGS_LAST_SEEN)) r.unheard_rows++;
        if (flags & LSH_MEMBER_FLAGS_LEAVING) {
            r.leaving_rows++;
            if (lsh_block_f64(engine.output_block, LSH_OUT_MEMBER_BASE + i * LSH_OUT_MEMBER_STRIDE + LSH_OUT_MEMBER_RESERVED_A) > 0.0) r.leaving_reserved++;
        }
    }
    r.ticks++;
    r.pending = 1;
    r.line_no = line_no;
    r.mono_ms = mono_ms;
}

/* The blocks Node's tick produced, against this tick's. */
static void check_block(const char *word, const char *hex, unsigned line_no) {
    if (!r.pending) {
        LSH_CHECK(0, "facts: line %u: \"%s\" without a tick", line_no, word);
        return;
    }
    const int is_in = strcmp(word, "in") == 0;
    const int is_out = strcmp(word, "out") == 0;
    uint8_t *expected = is_in ? r.expected_in : is_out ? r.expected_out : r.expected_carry;
    const size_t size = is_in ? LSH_IN_SIZE : is_out ? LSH_OUT_SIZE : LSH_CARRY_SIZE;
    const uint8_t *actual = is_in ? engine.input_block : is_out ? engine.output_block : lsh_engine_carry(&engine);
    const int read_ok = hex_block(hex, expected, size);
    const size_t diff = read_ok ? first_difference(actual, expected, size) : 0;
    if (read_ok && diff == size) {
        if (is_in) r.inputs_equal++;
        else if (is_out) r.outputs_equal++;
        else r.carries_equal++;
    } else if (is_in) {
        const long member = diff >= LSH_IN_MEMBER_BASE ? (long)((diff - LSH_IN_MEMBER_BASE) / LSH_IN_MEMBER_STRIDE) : -1;
        LSH_CHECK(0, "facts: tick of line %u (mono %.0f): input block differs from Node's at byte %zu (member %ld, offset %ld)", r.line_no,
                  r.mono_ms, diff, member, member >= 0 ? (long)((diff - LSH_IN_MEMBER_BASE) % LSH_IN_MEMBER_STRIDE) : (long)diff);
    } else {
        LSH_CHECK(0, "facts: tick of line %u (mono %.0f): %s block differs from Node's at byte %zu", r.line_no, r.mono_ms, word, diff);
    }
    if (!is_in && !is_out) r.pending = 0;
}

static void replay_line(char *line, unsigned line_no) {
    char *space = strchr(line, ' ');
    if (space == NULL) {
        LSH_CHECK(0, "facts: line %u: cannot read \"%s\"", line_no, line);
        return;
    }
    *space = '\0';
    const char *word = line;
    char *rest = space + 1;
    if (strcmp(word, "in") == 0 || strcmp(word, "out") == 0 || strcmp(word, "carry") == 0) {
        check_block(word, rest, line_no);
        return;
    }
    line_fields_t f;
    split_fields(rest, &f);
    if (strcmp(word, "config") == 0) {
        snprintf(r.group_id, sizeof(r.group_id), "%s", field(&f, "group") ? field(&f, "group") : "");
        memset(&r.config, 0, sizeof(r.config));
        r.config.group_id = r.group_id;
        r.config.group_max_current_a = number(&f, "gmc", NAN);
        r.config.safety_factor = number(&f, "sf", NAN);
        r.config.heartbeat_timeout_s = number(&f, "hb", NAN);
        r.config.failsafe_mode = field(&f, "mode") && strcmp(field(&f, "mode"), "disable") == 0 ? LSH_FAILSAFE_MODE_DISABLE : LSH_FAILSAFE_MODE_SAFE_CURRENT;
        r.config.failsafe_safe_current_a = number(&f, "safe", NAN);
        r.config.failsafe_peer_assumed_current_a = number(&f, "peer", NAN);
        r.config.rotation_interval_s = number(&f, "rot", NAN);
        r.config.ev_response_ms = number(&f, "ev", NAN);
        r.config.seen_grace_ms = number(&f, "grace", NAN);
        r.config.message_delay_max_ms = number(&f, "delay", NAN);
    } else if (strcmp(word, "members") == 0 && field(&f, "self") && field(&f, "ids")) {
        snprintf(r.self_id, sizeof(r.self_id), "%s", field(&f, "self"));
        snprintf(r.ids_text, sizeof(r.ids_text), "%s", field(&f, "ids"));
        r.id_count = split_list(r.ids_text, r.ids, LSH_MEMBERS_MAX);
    } else if (strcmp(word, "init") == 0) {
        const lsh_shaper_t shaper = {NULL, record_limit};
        const lsh_result_t result = lsh_engine_init(&engine, &rt, &r.config, r.self_id, (const char *const *)r.ids, r.id_count,
                                                    (uint32_t)number(&f, "epoch", 0), NULL, &shaper);
        LSH_CHECK(result == lsh_ok && shaper_a == 0.0, "facts: init tells the shaper 0 A (%s)", result ? result : "ok");
        r.ready = result == lsh_ok;
    } else if (strcmp(word, "status") == 0 && r.ready) {
        read_status(&f, line_no);
    } else if ((strcmp(word, "add") == 0 || strcmp(word, "remove") == 0 || strcmp(word, "restore") == 0 || strcmp(word, "forget") == 0) &&
               r.ready && field(&f, "id") != NULL) {
        const char *id = field(&f, "id");
        const lsh_result_t result = word[0] == 'a' ? lsh_engine_add_member(&engine, id)
                                  : word[0] == 'r' && word[2] == 'm' ? lsh_engine_remove_member(&engine, id)
                                  : word[0] == 'r' ? lsh_engine_restore_leaving(&engine, id)
                                  : lsh_engine_forget_member(&engine, id);
        LSH_CHECK(result == lsh_ok, "facts: line %u: %s %s (%s)", line_no, word, id, result ? result : "ok");
        r.membership_changes++;
    } else if (strcmp(word, "alone") == 0 && r.ready) {
        lsh_engine_confirm_alone(&engine, (int)number(&f, "value", 0));
    } else if (strcmp(word, "disabled") == 0 && r.ready) {
        lsh_engine_set_disabled(&engine, (int)number(&f, "value", 0));
    } else if (strcmp(word, "tick") == 0 && r.ready) {
        LSH_CHECK(!r.pending, "facts: line %u: the previous tick's blocks are complete", line_no);
        start_tick(&f, line_no);
    } else {
        LSH_CHECK(0, "facts: line %u: cannot read \"%s\"", line_no, word);
    }
}

static void test_node_parity(void) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/host-esp32/test/engine-facts.txt", lsh_test_root);
    FILE *file = fopen(path, "r");
    LSH_CHECK(file != NULL, "facts: read %s", path);
    if (file == NULL) return;
    static char line[32768];
    memset(&r, 0, sizeof(r));
    r.next_call_ms = -1.0;
    unsigned line_no = 0;
    while (fgets(line, sizeof(line), file) != NULL) {
        line_no++;
        LSH_CHECK(strchr(line, '\n') != NULL || feof(file), "facts: line %u fits the line buffer", line_no);
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0') continue;
        replay_line(line, line_no);
    }
    fclose(file);
    LSH_CHECK(r.ticks >= 60 && r.inputs_equal == r.ticks, "facts: %u of %u ticks fed the module Node's input block", r.inputs_equal, r.ticks);
    LSH_CHECK(r.ticks >= 60 && r.outputs_equal == r.ticks, "facts: %u of %u ticks got Node's output block", r.outputs_equal, r.ticks);
    LSH_CHECK(r.ticks >= 60 && r.carries_equal == r.ticks, "facts: %u of %u ticks kept Node's carry", r.carries_equal, r.ticks);
    LSH_CHECK(r.ticks >= 60 && r.published_equal == r.ticks, "facts: %u of %u ticks gave the shaper and the status Node's numbers",
              r.published_equal, r.ticks);
    /* What the recorded history covers, so this cannot pass on a history that exercises nothing. */
    LSH_CHECK(r.statuses >= 60 && r.upstream >= 5 && r.unheard_rows >= 5 && r.dropped_fields >= 5 && r.disabled_ticks >= 3 &&
              r.asked_ticks >= 1 && r.wall_steps >= 1,
              "facts: the history covers statuses (%u), an upstream peer (%u), a peer never heard (%u rows), values Node drops (%u), "
              "load sharing off (%u ticks), ticks the module asked for (%u) and a wall-clock step (%u)",
              r.statuses, r.upstream, r.unheard_rows, r.dropped_fields, r.disabled_ticks, r.asked_ticks, r.wall_steps);
    LSH_CHECK(r.membership_changes >= 8 && r.leaving_rows >= 20 && r.leaving_reserved == r.leaving_rows && r.alone_words >= 1,
              "facts: the history covers members joining and leaving (%u changes), rows of members leaving (%u, %u of them reserved), "
              "and a member saying it is on its own (%u)",
              r.membership_changes, r.leaving_rows, r.leaving_reserved, r.alone_words);
    /* Rule 8's left alone: a charger whose members all left, then set up on its own by a person
     * while members leaving still hold their reserve. */
    LSH_CHECK(r.left_alone_ticks >= 3 && r.alone_confirmed_ticks >= 3,
              "facts: the history covers a charger left alone (%u ticks) and one a person set up on its own (%u ticks)",
              r.left_alone_ticks, r.alone_confirmed_ticks);
}

void lsh_test_facts(void) {
    const lsh_result_t result = lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size);
    LSH_CHECK(result == lsh_ok, "facts: default module loads: %s", lsh_runtime_detail(&rt));
    if (result != lsh_ok) return;
    test_node_parity();
    lsh_runtime_unload(&rt);
}
