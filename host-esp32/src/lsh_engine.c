/* The engine (see lsh_engine.h): view table, input block, guarded tick, committed history. */
#include "lsh_engine.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lsh_block.h"
#include "lsh_platform.h"

static const double default_ev_response_ms = 5000.0;
static const double default_seen_grace_ms = 3000.0;
static const double default_message_delay_max_ms = 2000.0;

/* Byte order, then length: the order of Node's compare_ids and the core's id sort. */
static int compare_ids(const char *a, uint32_t a_len, const char *b, uint32_t b_len) {
    const uint32_t n = a_len < b_len ? a_len : b_len;
    const int c = memcmp(a, b, n);
    if (c != 0) return c;
    return a_len < b_len ? -1 : (a_len > b_len ? 1 : 0);
}

static int find_member(const lsh_engine_t *engine, const char *id) {
    if (id == NULL) return -1;
    const size_t len = strlen(id);
    for (uint32_t i = 0; i < engine->member_count; i++) {
        if (engine->members[i].id_len == len && memcmp(engine->members[i].id, id, len) == 0) return (int)i;
    }
    return -1;
}

static void sort_members(lsh_engine_t *engine) {
    for (uint32_t i = 1; i < engine->member_count; i++) {
        lsh_member_entry_t moving = engine->members[i];
        uint32_t j = i;
        while (j > 0 && compare_ids(moving.id, moving.id_len, engine->members[j - 1].id, engine->members[j - 1].id_len) < 0) {
            engine->members[j] = engine->members[j - 1];
            j--;
        }
        engine->members[j] = moving;
    }
}

/* ---- committed: host-node/engine/committed.ts in C ---- */

static void prune_history(lsh_engine_t *engine, double now_ms) {
    uint32_t kept = 0;
    for (uint32_t i = 0; i < engine->history_count; i++) {
        if (now_ms - engine->history[i].until_ms < engine->config.ev_response_ms) engine->history[kept++] = engine->history[i];
    }
    engine->history_count = kept;
}

static void remember_until(lsh_engine_t *engine, double until_ms, double applied_a) {
    if (engine->history_count == LSH_HISTORY_MAX) {
        /* Merge the two oldest into one: their maximum, in force until the later end. */
        if (engine->history[0].applied_a > engine->history[1].applied_a) engine->history[1].applied_a = engine->history[0].applied_a;
        if (engine->history[0].until_ms > engine->history[1].until_ms) engine->history[1].until_ms = engine->history[0].until_ms;
        memmove(&engine->history[0], &engine->history[1], (LSH_HISTORY_MAX - 1u) * sizeof(engine->history[0]));
        engine->history_count--;
    }
    engine->history[engine->history_count].until_ms = until_ms;
    engine->history[engine->history_count].applied_a = applied_a;
    engine->history_count++;
}

/* A new limit at now_ms: the old one is remembered until ev_response_ms after now. */
static void apply_limit(lsh_engine_t *engine, double now_ms, double applied_a) {
    if (applied_a == engine->applied_a) return;
    remember_until(engine, now_ms, engine->applied_a);
    engine->applied_a = applied_a;
    prune_history(engine, now_ms);
}

double lsh_engine_committed_a(const lsh_engine_t *engine, double now_ms) {
    if (engine == NULL) return 0.0;
    double committed = engine->applied_a;
    for (uint32_t i = 0; i < engine->history_count; i++) {
        const lsh_history_entry_t *h = &engine->history[i];
        if (now_ms - h->until_ms < engine->config.ev_response_ms && h->applied_a > committed) committed = h->applied_a;
    }
    return committed;
}

static lsh_result_t compute_config_hash(lsh_engine_t *engine) {
    uint8_t block[LSH_CFG_SIZE];
    memset(block, 0, sizeof(block));
    const lsh_group_config_t *c = &engine->config;
    const uint32_t group_id_len = (uint32_t)strlen(engine->group_id);
    lsh_block_set_f64(block, LSH_CFG_GROUP_MAX_CURRENT_A, c->group_max_current_a);
    lsh_block_set_f64(block, LSH_CFG_SAFETY_FACTOR, c->safety_factor);
    lsh_block_set_f64(block, LSH_CFG_HEARTBEAT_TIMEOUT_S, c->heartbeat_timeout_s);
    lsh_block_set_f64(block, LSH_CFG_FAILSAFE_SAFE_CURRENT_A, c->failsafe_safe_current_a);
    lsh_block_set_f64(block, LSH_CFG_FAILSAFE_PEER_ASSUMED_CURRENT_A, c->failsafe_peer_assumed_current_a);
    lsh_block_set_f64(block, LSH_CFG_ROTATION_INTERVAL_S, c->rotation_interval_s);
    lsh_block_set_u32(block, LSH_CFG_FAILSAFE_MODE, c->failsafe_mode);
    lsh_block_set_u32(block, LSH_CFG_GROUP_ID_LEN, group_id_len);
    lsh_block_set_u32(block, LSH_CFG_MEMBER_COUNT, engine->member_count);
    memcpy(block + LSH_CFG_GROUP_ID, engine->group_id, group_id_len);
    for (uint32_t i = 0; i < engine->member_count; i++) {
        const uint32_t at = LSH_CFG_MEMBER_BASE + i * LSH_CFG_MEMBER_STRIDE;
        memcpy(block + at + LSH_CFG_MEMBER_ID, engine->members[i].id, engine->members[i].id_len);
        lsh_block_set_u32(block, at + LSH_CFG_MEMBER_ID_LEN, engine->members[i].id_len);
    }
    return lsh_runtime_config_hash(engine->runtime, block, engine->config_hash);
}

lsh_result_t lsh_engine_init(lsh_engine_t *engine, lsh_runtime_t *runtime, const lsh_group_config_t *config,
                             const char *self_id, const char *const member_ids[], uint32_t member_count,
                             double now_ms, double assumed_committed_a, const lsh_shaper_t *shaper) {
    if (engine == NULL || runtime == NULL || config == NULL || self_id == NULL || member_ids == NULL || shaper == NULL) {
        return lsh_err_argument;
    }
    /* Until the first decision this charger allows nothing, whatever else fails below. */
    if (shaper->set_limit_a != NULL) shaper->set_limit_a(shaper->context, 0.0);
    memset(engine, 0, sizeof(*engine));
    if (member_count < 1 || member_count > LSH_MEMBERS_MAX) return lsh_err_argument;
    const char *group_id = config->group_id != NULL ? config->group_id : "";
    if (strlen(group_id) > LSH_GROUP_ID_BYTES_MAX) return lsh_err_argument;
    memcpy(engine->group_id, group_id, strlen(group_id) + 1);
    engine->runtime = runtime;
    engine->shaper = *shaper;
    engine->config = *config;
    engine->config.group_id = engine->group_id;
    if (engine->config.ev_response_ms == 0.0) engine->config.ev_response_ms = default_ev_response_ms;
    if (engine->config.seen_grace_ms == 0.0) engine->config.seen_grace_ms = default_seen_grace_ms;
    if (engine->config.message_delay_max_ms == 0.0) engine->config.message_delay_max_ms = default_message_delay_max_ms;
    for (uint32_t i = 0; i < member_count; i++) {
        const size_t len = member_ids[i] != NULL ? strlen(member_ids[i]) : 0;
        if (len < 1 || len > LSH_ID_BYTES_MAX) return lsh_err_argument;
        if (find_member(engine, member_ids[i]) >= 0) return lsh_err_argument; /* duplicate */
        memcpy(engine->members[i].id, member_ids[i], len + 1);
        engine->members[i].id_len = (uint32_t)len;
        engine->member_count = i + 1;
    }
    sort_members(engine);
    const int self_index = find_member(engine, self_id);
    if (self_index < 0) return lsh_err_argument;
    engine->self_index = (uint32_t)self_index;
    if (!isfinite(now_ms) || !isfinite(assumed_committed_a) || assumed_committed_a < 0.0) return lsh_err_argument;
    remember_until(engine, now_ms, assumed_committed_a);
    return compute_config_hash(engine);
}

lsh_result_t lsh_engine_use_runtime(lsh_engine_t *engine, lsh_runtime_t *runtime) {
    if (engine == NULL || runtime == NULL || !runtime->loaded) return lsh_err_argument;
    lsh_runtime_t *previous = engine->runtime;
    uint8_t previous_hash[LSH_HASH_BYTES];
    memcpy(previous_hash, engine->config_hash, sizeof(previous_hash));
    engine->runtime = runtime;
    const lsh_result_t result = compute_config_hash(engine);
    if (result != lsh_ok) {
        engine->runtime = previous;
        memcpy(engine->config_hash, previous_hash, sizeof(previous_hash));
    }
    return result;
}

/* Maps a list of ids to a mask by table index; sets *extra when one is not a member. */
static uint32_t mask_of(const lsh_engine_t *engine, const char *const ids[], uint32_t count, int *extra_out) {
    uint32_t mask = 0;
    for (uint32_t k = 0; k < count; k++) {
        const int j = find_member(engine, ids[k]);
        if (j < 0) *extra_out = 1;
        else mask |= 1u << (uint32_t)j;
    }
    return mask;
}

lsh_result_t lsh_engine_handle_status(lsh_engine_t *engine, const lsh_member_status_t *status, double now_ms) {
    if (engine == NULL || status == NULL || !isfinite(now_ms)) return lsh_err_argument;
    const int index = find_member(engine, status->id);
    if (index < 0 || (uint32_t)index == engine->self_index) return lsh_err_argument;
    if (status->seen_count > LSH_MEMBERS_MAX * 2u || status->alloc_count > LSH_MEMBERS_MAX * 2u) return lsh_err_argument;
    lsh_member_entry_t *m = &engine->members[index];
    uint32_t flags = LSH_MEMBER_FLAGS_LAST_SEEN;
    m->last_seen_ms = now_ms;
    m->vehicle = status->vehicle;
    m->state = status->state;
    m->priority = status->priority;
    m->amp_ma = status->amp_ma;
    m->voltage_v = status->voltage_v;
    m->min_current_a = status->min_current_a;
    m->max_current_a = status->max_current_a;
    if (status->degraded) flags |= LSH_MEMBER_FLAGS_DEGRADED;
    if (status->demand >= 0) flags |= LSH_MEMBER_FLAGS_DEMAND_PRESENT | (status->demand > 0 ? LSH_MEMBER_FLAGS_DEMAND : 0u);
    if (status->has_demand_cap) { flags |= LSH_MEMBER_FLAGS_DEMAND_CAP; m->demand_cap_a = status->demand_cap_a; }
    if (status->has_applied) { flags |= LSH_MEMBER_FLAGS_APPLIED; m->applied_a = status->applied_a; }
    if (status->has_committed) { flags |= LSH_MEMBER_FLAGS_COMMITTED; m->committed_a = status->committed_a; }
    if (status->has_group_max_current) { flags |= LSH_MEMBER_FLAGS_GROUP_MAX_CURRENT; m->group_max_current_a = status->group_max_current_a; }
    if (status->has_safety_factor) { flags |= LSH_MEMBER_FLAGS_SAFETY_FACTOR; m->safety_factor = status->safety_factor; }
    if (status->has_config_hash) { flags |= LSH_MEMBER_FLAGS_CONFIG_HASH; memcpy(m->config_hash, status->config_hash, LSH_HASH_BYTES); }
    if (status->has_seen) {
        int extra = 0;
        flags |= LSH_MEMBER_FLAGS_SEEN;
        m->seen_mask = mask_of(engine, status->seen_ids, status->seen_count, &extra);
        if (extra) flags |= LSH_MEMBER_FLAGS_SEEN_EXTRA;
    }
    if (status->has_alloc) {
        flags |= LSH_MEMBER_FLAGS_ALLOC;
        m->alloc_mask = 0;
        memset(m->alloc_a, 0, sizeof(m->alloc_a));
        for (uint32_t k = 0; k < status->alloc_count; k++) {
            const int j = find_member(engine, status->alloc[k].id);
            if (j < 0) continue; /* a share for someone I do not know changes nothing for me */
            m->alloc_mask |= 1u << (uint32_t)j;
            m->alloc_a[j] = status->alloc[k].current_a;
        }
    }
    m->flags = flags;
    m->has_status = 1;
    return lsh_ok;
}

static void write_member(const lsh_engine_t *engine, uint8_t *block, uint32_t i, const lsh_member_entry_t *m) {
    const uint32_t at = LSH_IN_MEMBER_BASE + i * LSH_IN_MEMBER_STRIDE;
    memcpy(block + at + LSH_IN_MEMBER_ID, m->id, m->id_len);
    lsh_block_set_u32(block, at + LSH_IN_MEMBER_ID_LEN, m->id_len);
    lsh_block_set_u32(block, at + LSH_IN_MEMBER_FLAGS, m->flags);
    lsh_block_set_u32(block, at + LSH_IN_MEMBER_VEHICLE, m->vehicle);
    lsh_block_set_u32(block, at + LSH_IN_MEMBER_STATE, m->state);
    lsh_block_set_i32(block, at + LSH_IN_MEMBER_PRIORITY, m->priority);
    lsh_block_set_f64(block, at + LSH_IN_MEMBER_AMP_MA, m->amp_ma);
    lsh_block_set_f64(block, at + LSH_IN_MEMBER_VOLTAGE_V, m->voltage_v);
    lsh_block_set_f64(block, at + LSH_IN_MEMBER_MIN_CURRENT_A, m->min_current_a);
    lsh_block_set_f64(block, at + LSH_IN_MEMBER_MAX_CURRENT_A, m->max_current_a);
    /* Optional fields are written only when present, so absent ones stay zero like Node's. */
    if (m->flags & LSH_MEMBER_FLAGS_LAST_SEEN) lsh_block_set_f64(block, at + LSH_IN_MEMBER_LAST_SEEN_MS, m->last_seen_ms);
    if (m->flags & LSH_MEMBER_FLAGS_DEMAND_CAP) lsh_block_set_f64(block, at + LSH_IN_MEMBER_DEMAND_CAP_A, m->demand_cap_a);
    if (m->flags & LSH_MEMBER_FLAGS_APPLIED) lsh_block_set_f64(block, at + LSH_IN_MEMBER_APPLIED_A, m->applied_a);
    if (m->flags & LSH_MEMBER_FLAGS_COMMITTED) lsh_block_set_f64(block, at + LSH_IN_MEMBER_COMMITTED_A, m->committed_a);
    if (m->flags & LSH_MEMBER_FLAGS_GROUP_MAX_CURRENT) lsh_block_set_f64(block, at + LSH_IN_MEMBER_GROUP_MAX_CURRENT_A, m->group_max_current_a);
    if (m->flags & LSH_MEMBER_FLAGS_SAFETY_FACTOR) lsh_block_set_f64(block, at + LSH_IN_MEMBER_SAFETY_FACTOR, m->safety_factor);
    if (m->flags & LSH_MEMBER_FLAGS_SEEN) lsh_block_set_u32(block, at + LSH_IN_MEMBER_SEEN_MASK, m->seen_mask);
    if (m->flags & LSH_MEMBER_FLAGS_CONFIG_HASH) memcpy(block + at + LSH_IN_MEMBER_CONFIG_HASH, m->config_hash, LSH_HASH_BYTES);
    if (m->flags & LSH_MEMBER_FLAGS_ALLOC) {
        lsh_block_set_u32(block, at + LSH_IN_MEMBER_ALLOC_MASK, m->alloc_mask);
        for (uint32_t j = 0; j < engine->member_count; j++) {
            if (m->alloc_mask & (1u << j)) lsh_block_set_f64(block, at + LSH_IN_MEMBER_ALLOC_A + j * 8u, m->alloc_a[j]);
        }
    }
}

/* This charger's own row: its EVSE's facts now, heard now, and what it applied and committed. */
static lsh_member_entry_t self_entry(const lsh_engine_t *engine, double now_ms, const lsh_self_facts_t *self) {
    lsh_member_entry_t m = engine->members[engine->self_index];
    m.flags = LSH_MEMBER_FLAGS_LAST_SEEN;
    m.last_seen_ms = now_ms;
    m.vehicle = self->vehicle;
    m.state = self->state;
    m.priority = self->priority;
    m.amp_ma = self->amp_ma;
    m.voltage_v = self->voltage_v;
    m.min_current_a = self->min_current_a;
    m.max_current_a = self->max_current_a;
    if (self->demand >= 0) m.flags |= LSH_MEMBER_FLAGS_DEMAND_PRESENT | (self->demand > 0 ? LSH_MEMBER_FLAGS_DEMAND : 0u);
    if (engine->demand_cap_a > 0.0) { m.flags |= LSH_MEMBER_FLAGS_DEMAND_CAP; m.demand_cap_a = engine->demand_cap_a; }
    m.flags |= LSH_MEMBER_FLAGS_APPLIED | LSH_MEMBER_FLAGS_COMMITTED;
    m.applied_a = engine->applied_a;
    m.committed_a = lsh_engine_committed_a(engine, now_ms);
    return m;
}

lsh_result_t lsh_engine_build_input(lsh_engine_t *engine, double now_ms, const lsh_self_facts_t *self,
                                    uint8_t input_block_out[LSH_IN_SIZE]) {
    if (engine == NULL || self == NULL || input_block_out == NULL || !isfinite(now_ms)) return lsh_err_argument;
    uint8_t *block = input_block_out;
    const lsh_group_config_t *c = &engine->config;
    memset(block, 0, LSH_IN_SIZE);
    lsh_block_set_f64(block, LSH_IN_NOW_MS, now_ms);
    lsh_block_set_f64(block, LSH_IN_GROUP_MAX_CURRENT_A, c->group_max_current_a);
    lsh_block_set_f64(block, LSH_IN_SAFETY_FACTOR, c->safety_factor);
    lsh_block_set_f64(block, LSH_IN_HEARTBEAT_TIMEOUT_MS, c->heartbeat_timeout_s * 1000.0);
    lsh_block_set_f64(block, LSH_IN_FAILSAFE_SAFE_CURRENT_A, c->failsafe_safe_current_a);
    lsh_block_set_f64(block, LSH_IN_FAILSAFE_PEER_ASSUMED_CURRENT_A, c->failsafe_peer_assumed_current_a);
    lsh_block_set_f64(block, LSH_IN_ROTATION_INTERVAL_S, c->rotation_interval_s);
    lsh_block_set_f64(block, LSH_IN_EV_RESPONSE_MS, c->ev_response_ms);
    lsh_block_set_f64(block, LSH_IN_SEEN_GRACE_MS, c->seen_grace_ms);
    lsh_block_set_f64(block, LSH_IN_MESSAGE_DELAY_MAX_MS, c->message_delay_max_ms);
    uint32_t flags = LSH_INPUT_FLAGS_CONFIG_HASH_PRESENT;
    if (engine->has_mismatch_since) {
        lsh_block_set_f64(block, LSH_IN_MISMATCH_SINCE_MS, engine->mismatch_since_ms);
        flags |= LSH_INPUT_FLAGS_MISMATCH_SINCE_PRESENT;
    }
    if (engine->has_degraded_since) {
        lsh_block_set_f64(block, LSH_IN_DEGRADED_SINCE_MS, engine->degraded_since_ms);
        flags |= LSH_INPUT_FLAGS_DEGRADED_SINCE_PRESENT;
    }
    memcpy(block + LSH_IN_CONFIG_HASH, engine->config_hash, LSH_HASH_BYTES);
    lsh_block_set_u32(block, LSH_IN_MEMBER_COUNT, engine->member_count);
    lsh_block_set_u32(block, LSH_IN_SELF_INDEX, engine->self_index);
    lsh_block_set_u32(block, LSH_IN_FAILSAFE_MODE, c->failsafe_mode);
    lsh_block_set_u32(block, LSH_IN_FLAGS, flags);
    for (uint32_t i = 0; i < engine->member_count; i++) {
        if (i == engine->self_index) {
            const lsh_member_entry_t self_row = self_entry(engine, now_ms, self);
            write_member(engine, block, i, &self_row);
        } else {
            write_member(engine, block, i, &engine->members[i]);
        }
    }
    return lsh_ok;
}

/* This charger's own demand cap, as the Node engine keeps it: learned while the car wants
 * current, from what it was offered (the limit in force) and what it drew; 0 otherwise. */
static void update_demand_cap(lsh_engine_t *engine, double now_ms, const lsh_self_facts_t *self) {
    const double elapsed_ms = engine->demand_cap_updated ? now_ms - engine->demand_cap_at_ms : 0.0;
    engine->demand_cap_at_ms = now_ms;
    engine->demand_cap_updated = 1;
    if (self->demand <= 0) {
        engine->demand_cap_a = 0.0;
        return;
    }
    double cap_a = 0.0;
    if (lsh_runtime_demand_cap_update(engine->runtime, engine->applied_a, self->amp_ma / 1000.0, engine->demand_cap_a,
                                      elapsed_ms, &cap_a) != lsh_ok || !isfinite(cap_a) || cap_a < 0.0) {
        cap_a = 0.0; /* no cap: this charger then claims its full share, as without the rule */
    }
    engine->demand_cap_a = cap_a;
}

static void publish(lsh_engine_t *engine, const lsh_guard_verdict_t *verdict, double now_ms, lsh_published_t *p) {
    const uint8_t *out = engine->output_block;
    const uint32_t flags = lsh_block_u32(out, LSH_OUT_FLAGS);
    memset(p, 0, sizeof(*p));
    p->applied_a = verdict->applied_a;
    p->target_a = verdict->target_a;
    p->committed_a = lsh_engine_committed_a(engine, now_ms);
    p->demand_cap_a = engine->demand_cap_a;
    memcpy(p->config_hash, engine->config_hash, LSH_HASH_BYTES);
    p->seen_mask = 1u << engine->self_index;
    if (verdict->tripped) {
        p->degraded = 1;
        p->failsafe_active = 1;
        p->reason = LSH_REASON_GUARD_FAILSAFE;
        return;
    }
    p->degraded = (flags & LSH_OUTPUT_FLAGS_SELF_DEGRADED) != 0;
    p->failsafe_active = (flags & LSH_OUTPUT_FLAGS_FAILSAFE_ACTIVE) != 0;
    p->config_consistent = (flags & LSH_OUTPUT_FLAGS_CONFIG_CONSISTENT) != 0;
    p->reason = lsh_block_u32(out, LSH_OUT_SELF_REASON);
    p->has_alloc = 1;
    for (uint32_t i = 0; i < engine->member_count; i++) {
        const uint32_t at = LSH_OUT_MEMBER_BASE + i * LSH_OUT_MEMBER_STRIDE;
        p->alloc_a[i] = lsh_block_f64(out, at + LSH_OUT_MEMBER_TARGET_CURRENT_A);
        if (lsh_block_u32(out, at + LSH_OUT_MEMBER_FLAGS) & LSH_MEMBER_OUT_FLAGS_ONLINE) p->seen_mask |= 1u << i;
    }
}

lsh_result_t lsh_engine_tick(lsh_engine_t *engine, double now_ms, const lsh_self_facts_t *self, lsh_tick_result_t *result_out) {
    if (engine == NULL || result_out == NULL) return lsh_err_argument;
    memset(result_out, 0, sizeof(*result_out));
    const double previous_a = engine->applied_a;
    lsh_guard_verdict_t verdict;
    lsh_result_t result = lsh_ok;
    if (self == NULL || !isfinite(now_ms)) {
        result = lsh_err_argument;
    } else {
        update_demand_cap(engine, now_ms, self);
        result = lsh_engine_build_input(engine, now_ms, self, engine->input_block);
    }
    if (result != lsh_ok) {
        /* Nothing to decide on: the failsafe, as for a broken module. */
        memset(&verdict, 0, sizeof(verdict));
        verdict.tripped = 1;
        verdict.applied_a = engine->config.failsafe_mode == LSH_FAILSAFE_MODE_DISABLE ? 0.0 : floor(engine->config.failsafe_safe_current_a);
        if (!(verdict.applied_a <= previous_a)) verdict.applied_a = previous_a;
        verdict.target_a = verdict.applied_a;
        snprintf(verdict.reason, sizeof(verdict.reason), "tick without valid facts: %s", result);
        memset(engine->output_block, 0, sizeof(engine->output_block));
        engine->has_mismatch_since = 0;
        engine->has_degraded_since = 0;
    } else {
        const lsh_result_t computed = lsh_runtime_compute(engine->runtime, engine->input_block, engine->output_block);
        if (computed != lsh_ok) memset(engine->output_block, 0, sizeof(engine->output_block));
        lsh_guard_decide(computed, lsh_runtime_detail(engine->runtime), engine->input_block, engine->output_block, previous_a, &verdict);
        /* As Node: mismatch_since follows the decision; a trap has none. */
        const uint32_t flags = lsh_block_u32(engine->output_block, LSH_OUT_FLAGS);
        engine->has_mismatch_since = computed == lsh_ok && (flags & LSH_OUTPUT_FLAGS_MISMATCH_SINCE_PRESENT) != 0;
        engine->mismatch_since_ms = engine->has_mismatch_since ? lsh_block_f64(engine->output_block, LSH_OUT_MISMATCH_SINCE_MS) : 0.0;
        engine->has_degraded_since = computed == lsh_ok && (flags & LSH_OUTPUT_FLAGS_DEGRADED_SINCE_PRESENT) != 0;
        engine->degraded_since_ms = engine->has_degraded_since ? lsh_block_f64(engine->output_block, LSH_OUT_DEGRADED_SINCE_MS) : 0.0;
    }
    if (verdict.tripped) lsh_platform_log(LSH_LOG_WARN, "guard: %s; applying %g A", verdict.reason, verdict.applied_a);
    const double at_ms = isfinite(now_ms) ? now_ms : 0.0;
    if (isfinite(now_ms)) apply_limit(engine, now_ms, verdict.applied_a);
    else engine->applied_a = verdict.applied_a; /* only ever the fallback, never above previous_a */
    if (engine->shaper.set_limit_a != NULL) engine->shaper.set_limit_a(engine->shaper.context, verdict.applied_a);
    result_out->limit_a = verdict.applied_a;
    result_out->tripped = verdict.tripped;
    memcpy(result_out->trip_reason, verdict.reason, sizeof(result_out->trip_reason));
    publish(engine, &verdict, at_ms, &result_out->published);
    return result;
}

const char *lsh_engine_member_id(const lsh_engine_t *engine, uint32_t index) {
    if (engine == NULL || index >= engine->member_count) return NULL;
    return engine->members[index].id;
}
