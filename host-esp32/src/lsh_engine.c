/* The engine (see lsh_engine.h): facts in, the module's decision out, in the same steps and
 * order as host-node/engine/engine.ts (peer_member, self_member, build_view, write_input, tick). */
#include "lsh_engine.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lsh_block.h"
#include "lsh_platform.h"

/* Node's default_timing (host-node/engine/types.ts). */
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
        const lsh_member_entry_t moving = engine->members[i];
        uint32_t j = i;
        while (j > 0 && compare_ids(moving.id, moving.id_len, engine->members[j - 1].id, engine->members[j - 1].id_len) < 0) {
            engine->members[j] = engine->members[j - 1];
            j--;
        }
        engine->members[j] = moving;
    }
}

static uint8_t *row_of(lsh_engine_t *engine, uint32_t i) {
    return engine->input_block + LSH_IN_MEMBER_BASE + i * LSH_IN_MEMBER_STRIDE;
}

/* ---- reading a peer's status as Node's peer_member does ---- */

static double finite_or(double value, double fallback) { return isfinite(value) ? value : fallback; }
static double at_least_zero(double value) { return value > 0.0 ? value : 0.0; }
static int is_amount(double value) { return isfinite(value) && value >= 0.0; }

/* The row of a member: its id, the facts every status has, and the optional ones it reported
 * (absent ones stay zero, as Node's write_member leaves them). */
/* The limit a row holds (its group_max_current x its safety factor, ours when it reports
 * none), or infinity when it reports none. */
static double row_limit_a(const lsh_engine_t *engine, const uint8_t *row) {
    const uint32_t flags = lsh_block_u32(row, LSH_IN_MEMBER_FLAGS);
    if ((flags & LSH_MEMBER_FLAGS_GROUP_MAX_CURRENT) == 0) return INFINITY;
    const double sf = (flags & LSH_MEMBER_FLAGS_SAFETY_FACTOR) != 0 ? lsh_block_f64(row, LSH_IN_MEMBER_SAFETY_FACTOR) : engine->config.safety_factor;
    return lsh_block_f64(row, LSH_IN_MEMBER_GROUP_MAX_CURRENT_A) * sf;
}

static void write_row(lsh_engine_t *engine, uint32_t i, const lsh_member_status_t *s, int heard, double mono_ms) {
    uint8_t *row = row_of(engine, i);
    const lsh_member_entry_t *m = &engine->members[i];
    const int block = !s->no_loadsharing_block;
    /* Finding I: a lower limit this member reported since the last tick binds at least one
     * call (then the carry keeps it until the group agrees, rule 7), even when a later status
     * between the same two ticks (an older frame that a link reordered) says a higher one. */
    const int kept = (engine->unticked_mask & (1u << i)) != 0;
    const uint32_t kept_flags = lsh_block_u32(row, LSH_IN_MEMBER_FLAGS) & (LSH_MEMBER_FLAGS_GROUP_MAX_CURRENT | LSH_MEMBER_FLAGS_SAFETY_FACTOR);
    const double kept_limit_a = kept ? row_limit_a(engine, row) : INFINITY;
    const double kept_gmc_a = lsh_block_f64(row, LSH_IN_MEMBER_GROUP_MAX_CURRENT_A);
    const double kept_sf = lsh_block_f64(row, LSH_IN_MEMBER_SAFETY_FACTOR);
    memset(row, 0, LSH_IN_MEMBER_STRIDE);
    memcpy(row + LSH_IN_MEMBER_ID, m->id, m->id_len);
    lsh_block_set_u32(row, LSH_IN_MEMBER_ID_LEN, m->id_len);
    const double amp_ma = at_least_zero(finite_or(s->amp_ma, 0.0));
    double min_a = block ? at_least_zero(finite_or(s->min_current_a, 6.0)) : 6.0;
    const double max_a = at_least_zero(finite_or(s->max_current_a, 32.0));
    if (min_a > max_a) min_a = max_a;
    lsh_block_set_u32(row, LSH_IN_MEMBER_VEHICLE, s->vehicle);
    lsh_block_set_u32(row, LSH_IN_MEMBER_STATE, s->state);
    lsh_block_set_i32(row, LSH_IN_MEMBER_PRIORITY, block ? s->priority : 0);
    lsh_block_set_f64(row, LSH_IN_MEMBER_AMP_MA, amp_ma);
    lsh_block_set_f64(row, LSH_IN_MEMBER_VOLTAGE_V, at_least_zero(finite_or(s->voltage_v, 240.0)));
    lsh_block_set_f64(row, LSH_IN_MEMBER_MIN_CURRENT_A, min_a);
    lsh_block_set_f64(row, LSH_IN_MEMBER_MAX_CURRENT_A, max_a);
    uint32_t flags = 0;
    if (heard) {
        flags |= LSH_MEMBER_FLAGS_LAST_SEEN;
        lsh_block_set_f64(row, LSH_IN_MEMBER_LAST_SEEN_MS, mono_ms);
    }
    if (!block) {
        /* A peer without a load-sharing block (upstream firmware) still draws what it draws:
         * it counts as settled at its measured current. */
        flags |= LSH_MEMBER_FLAGS_APPLIED;
        lsh_block_set_f64(row, LSH_IN_MEMBER_APPLIED_A, amp_ma / 1000.0);
        /* Heard without the block: a charger without load sharing (rule 3). The module reserves
         * min(max_current, its pilot while fresh), at least what it draws; a maximum it does not
         * state is the whole breaker. */
        if (heard) {
            flags |= LSH_MEMBER_FLAGS_UNCONTROLLED;
            const double max_stated_a = s->max_current_stated && is_amount(s->max_current_a) && s->max_current_a > 0.0
                ? s->max_current_a : engine->config.group_max_current_a;
            lsh_block_set_f64(row, LSH_IN_MEMBER_MAX_CURRENT_A, max_stated_a);
            if (min_a > max_stated_a) lsh_block_set_f64(row, LSH_IN_MEMBER_MIN_CURRENT_A, max_stated_a);
            if (s->has_pilot && is_amount(s->pilot_a)) {
                const double pilot_a = ceil(s->pilot_a);
                flags |= LSH_MEMBER_FLAGS_PILOT;
                lsh_block_set_u32(row, LSH_IN_MEMBER_PILOT_A, pilot_a > 4294967295.0 ? 4294967295u : (uint32_t)pilot_a);
            }
        }
        lsh_block_set_u32(row, LSH_IN_MEMBER_FLAGS, flags);
        return;
    }
    if (s->degraded) flags |= LSH_MEMBER_FLAGS_DEGRADED;
    if (s->demand >= 0) flags |= LSH_MEMBER_FLAGS_DEMAND_PRESENT | (s->demand > 0 ? LSH_MEMBER_FLAGS_DEMAND : 0u);
    if (s->has_seen) {
        uint32_t mask = 0;
        flags |= LSH_MEMBER_FLAGS_SEEN;
        for (uint32_t k = 0; k < s->seen_count; k++) {
            const int j = find_member(engine, s->seen_ids[k]);
            if (j < 0) flags |= LSH_MEMBER_FLAGS_SEEN_EXTRA;
            else mask |= 1u << (uint32_t)j;
        }
        lsh_block_set_u32(row, LSH_IN_MEMBER_SEEN_MASK, mask);
    }
    if (s->has_alloc) {
        uint32_t mask = 0;
        flags |= LSH_MEMBER_FLAGS_ALLOC;
        for (uint32_t k = 0; k < s->alloc_count; k++) {
            const int j = find_member(engine, s->alloc[k].id);
            /* A share for someone I do not know changes nothing for me; a share that is not an
             * amount is dropped. The last entry for an id counts, as in a JSON object. */
            if (j < 0) continue;
            if (!is_amount(s->alloc[k].current_a)) {
                mask &= ~(1u << (uint32_t)j);
                lsh_block_set_f64(row, LSH_IN_MEMBER_ALLOC_A + (uint32_t)j * 8u, 0.0);
                continue;
            }
            mask |= 1u << (uint32_t)j;
            lsh_block_set_f64(row, LSH_IN_MEMBER_ALLOC_A + (uint32_t)j * 8u, s->alloc[k].current_a);
        }
        lsh_block_set_u32(row, LSH_IN_MEMBER_ALLOC_MASK, mask);
    }
    if (s->has_applied && is_amount(s->applied_a)) {
        flags |= LSH_MEMBER_FLAGS_APPLIED;
        lsh_block_set_f64(row, LSH_IN_MEMBER_APPLIED_A, s->applied_a);
    }
    if (s->has_committed && is_amount(s->committed_a)) {
        flags |= LSH_MEMBER_FLAGS_COMMITTED;
        lsh_block_set_f64(row, LSH_IN_MEMBER_COMMITTED_A, s->committed_a);
    }
    if (s->has_demand_cap && is_amount(s->demand_cap_a) && s->demand_cap_a > 0.0) {
        flags |= LSH_MEMBER_FLAGS_DEMAND_CAP;
        lsh_block_set_f64(row, LSH_IN_MEMBER_DEMAND_CAP_A, s->demand_cap_a);
    }
    if (s->has_group_max_current && is_amount(s->group_max_current_a)) {
        flags |= LSH_MEMBER_FLAGS_GROUP_MAX_CURRENT;
        lsh_block_set_f64(row, LSH_IN_MEMBER_GROUP_MAX_CURRENT_A, s->group_max_current_a);
    }
    if (s->has_safety_factor && s->safety_factor > 0.0 && s->safety_factor <= 1.0) {
        flags |= LSH_MEMBER_FLAGS_SAFETY_FACTOR;
        lsh_block_set_f64(row, LSH_IN_MEMBER_SAFETY_FACTOR, s->safety_factor);
    }
    if (s->has_config_hash) {
        flags |= LSH_MEMBER_FLAGS_CONFIG_HASH;
        memcpy(row + LSH_IN_MEMBER_CONFIG_HASH, s->config_hash, LSH_HASH_BYTES);
    }
    if (s->has_safety_settings && is_amount(s->heartbeat_timeout_s) && s->heartbeat_timeout_s > 0.0 &&
        is_amount(s->failsafe_safe_current_a) && is_amount(s->failsafe_peer_assumed_current_a)) {
        flags |= LSH_MEMBER_FLAGS_SAFETY_SETTINGS;
        lsh_block_set_f64(row, LSH_IN_MEMBER_HEARTBEAT_TIMEOUT_MS, s->heartbeat_timeout_s * 1000.0);
        lsh_block_set_f64(row, LSH_IN_MEMBER_FAILSAFE_SAFE_CURRENT_A, s->failsafe_safe_current_a);
        lsh_block_set_f64(row, LSH_IN_MEMBER_FAILSAFE_PEER_ASSUMED_CURRENT_A, s->failsafe_peer_assumed_current_a);
    }
    lsh_block_set_u32(row, LSH_IN_MEMBER_FLAGS, flags);
    if (kept && kept_limit_a < row_limit_a(engine, row)) {
        flags = (flags & ~(LSH_MEMBER_FLAGS_GROUP_MAX_CURRENT | LSH_MEMBER_FLAGS_SAFETY_FACTOR)) | kept_flags;
        lsh_block_set_f64(row, LSH_IN_MEMBER_GROUP_MAX_CURRENT_A, kept_gmc_a);
        lsh_block_set_f64(row, LSH_IN_MEMBER_SAFETY_FACTOR, (kept_flags & LSH_MEMBER_FLAGS_SAFETY_FACTOR) != 0 ? kept_sf : 0.0);
        lsh_block_set_u32(row, LSH_IN_MEMBER_FLAGS, flags);
    }
    if (heard) engine->unticked_mask |= 1u << i;
}

/* A member never heard reads as Node's empty status document: state 1, 240 V, 6..32 A, no
 * load-sharing block (so settled at its measured 0 A). */
static void write_unheard_row(lsh_engine_t *engine, uint32_t i) {
    lsh_member_status_t empty;
    memset(&empty, 0, sizeof(empty));
    empty.state = 1;
    empty.voltage_v = 240.0;
    empty.max_current_a = 32.0;
    empty.no_loadsharing_block = 1;
    write_row(engine, i, &empty, 0, 0.0);
}

/* A leaving member's row says so (Node's write_member), whatever its status. */
static void mark_leaving(lsh_engine_t *engine, uint32_t i) {
    if (!engine->members[i].leaving) return;
    uint8_t *row = row_of(engine, i);
    lsh_block_set_u32(row, LSH_IN_MEMBER_FLAGS, lsh_block_u32(row, LSH_IN_MEMBER_FLAGS) | LSH_MEMBER_FLAGS_LEAVING);
}

/* ---- init ---- */

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
    memcpy(block + LSH_CFG_GROUP_ID, engine->group_id, group_id_len);
    /* The group's members: those leaving it are not part of its config. */
    uint32_t count = 0;
    for (uint32_t i = 0; i < engine->member_count; i++) {
        if (engine->members[i].leaving) continue;
        const uint32_t at = LSH_CFG_MEMBER_BASE + count * LSH_CFG_MEMBER_STRIDE;
        memcpy(block + at + LSH_CFG_MEMBER_ID, engine->members[i].id, engine->members[i].id_len);
        lsh_block_set_u32(block, at + LSH_CFG_MEMBER_ID_LEN, engine->members[i].id_len);
        count++;
    }
    lsh_block_set_u32(block, LSH_CFG_MEMBER_COUNT, count);
    return lsh_runtime_config_hash(engine->runtime, block, engine->config_hash);
}

lsh_result_t lsh_engine_init(lsh_engine_t *engine, lsh_runtime_t *runtime, const lsh_group_config_t *config,
                             const char *self_id, const char *const member_ids[], uint32_t member_count,
                             uint32_t clock_epoch, const uint8_t *carry, const lsh_shaper_t *shaper) {
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
    engine->clock_epoch = clock_epoch;
    if (carry != NULL) memcpy(engine->carry, carry, LSH_CARRY_SIZE);
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
    /* A charger set up with no members is on its own by a person's choice (Node's default). */
    engine->alone_confirmed = engine->member_count == 1;
    engine->unticked_mask = 0;
    for (uint32_t i = 0; i < engine->member_count; i++) write_unheard_row(engine, i);
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

void lsh_engine_set_disabled(lsh_engine_t *engine, int disabled) {
    if (engine != NULL) engine->config.disabled = disabled != 0;
}

void lsh_engine_confirm_alone(lsh_engine_t *engine, int confirmed) {
    if (engine != NULL) engine->alone_confirmed = confirmed != 0;
}

int lsh_engine_is_alone_confirmed(const lsh_engine_t *engine) {
    return engine != NULL && engine->alone_confirmed;
}

/* ---- facts in ---- */

lsh_result_t lsh_engine_handle_status(lsh_engine_t *engine, const lsh_member_status_t *status, double mono_ms) {
    if (engine == NULL || status == NULL || !isfinite(mono_ms)) return lsh_err_argument;
    const int index = find_member(engine, status->id);
    if (index < 0 || (uint32_t)index == engine->self_index) return lsh_err_argument;
    if (status->seen_count > LSH_MEMBERS_MAX * 2u || status->alloc_count > LSH_MEMBERS_MAX * 2u) return lsh_err_argument;
    write_row(engine, (uint32_t)index, status, 1, mono_ms);
    mark_leaving(engine, (uint32_t)index);
    engine->members[index].alone_confirmed = status->alone_confirmed != 0;
    return lsh_ok;
}

/* ---- members joining and leaving (Node's add_member, remove_member, restore_leaving,
 * forget_member, forget_left_members) ---- */

/* Every recorded row names members by index (seen and alloc masks, the alloc vector): when a
 * member leaves the table at `gone`, or one enters at `added`, each row is renumbered as Node
 * would write it from the same status. A member no longer known in a seen-set is a stranger
 * (seen_extra); a share for it no longer counts. */
static void renumber_rows(lsh_engine_t *engine, int gone, int added) {
    /* The kept-lower-limit bits follow the rows, as Node keeps them by member id (finding I). */
    const uint32_t mask = engine->unticked_mask;
    if (gone >= 0) {
        const uint32_t low = (1u << (uint32_t)gone) - 1u;
        engine->unticked_mask = (mask & low) | ((mask >> 1) & ~low);
    } else {
        const uint32_t low = (1u << (uint32_t)added) - 1u;
        engine->unticked_mask = (mask & low) | ((mask & ~low) << 1);
    }
    for (uint32_t i = 0; i < engine->member_count; i++) {
        uint8_t *row = row_of(engine, i);
        uint32_t flags = lsh_block_u32(row, LSH_IN_MEMBER_FLAGS);
        uint32_t seen = lsh_block_u32(row, LSH_IN_MEMBER_SEEN_MASK);
        uint32_t alloc = lsh_block_u32(row, LSH_IN_MEMBER_ALLOC_MASK);
        uint8_t *alloc_a = row + LSH_IN_MEMBER_ALLOC_A;
        if (gone >= 0) {
            const uint32_t bit = 1u << (uint32_t)gone;
            const uint32_t low = bit - 1u;
            if ((flags & LSH_MEMBER_FLAGS_SEEN) && (seen & bit)) flags |= LSH_MEMBER_FLAGS_SEEN_EXTRA;
            seen = (seen & low) | ((seen >> 1) & ~low);
            alloc = (alloc & low) | ((alloc >> 1) & ~low);
            memmove(alloc_a + (uint32_t)gone * 8u, alloc_a + ((uint32_t)gone + 1u) * 8u, (LSH_MEMBERS_MAX - 1u - (uint32_t)gone) * 8u);
            memset(alloc_a + (LSH_MEMBERS_MAX - 1u) * 8u, 0, 8u);
        } else {
            const uint32_t low = (1u << (uint32_t)added) - 1u;
            seen = (seen & low) | ((seen & ~low) << 1);
            alloc = (alloc & low) | ((alloc & ~low) << 1);
            memmove(alloc_a + ((uint32_t)added + 1u) * 8u, alloc_a + (uint32_t)added * 8u, (LSH_MEMBERS_MAX - 1u - (uint32_t)added) * 8u);
            memset(alloc_a + (uint32_t)added * 8u, 0, 8u);
        }
        lsh_block_set_u32(row, LSH_IN_MEMBER_FLAGS, flags);
        lsh_block_set_u32(row, LSH_IN_MEMBER_SEEN_MASK, seen);
        lsh_block_set_u32(row, LSH_IN_MEMBER_ALLOC_MASK, alloc);
    }
}

static void drop_member(lsh_engine_t *engine, uint32_t index) {
    const uint32_t after = engine->member_count - index - 1u;
    memmove(&engine->members[index], &engine->members[index + 1u], after * sizeof(engine->members[0]));
    memmove(row_of(engine, index), row_of(engine, index + 1u), after * LSH_IN_MEMBER_STRIDE);
    engine->member_count--;
    memset(&engine->members[engine->member_count], 0, sizeof(engine->members[0]));
    memset(row_of(engine, engine->member_count), 0, LSH_IN_MEMBER_STRIDE);
    if (engine->self_index > index) engine->self_index--;
    renumber_rows(engine, (int)index, -1);
}

/* A new member never heard, in id order; the caller checked there is room. */
static uint32_t insert_member(lsh_engine_t *engine, const char *id, size_t len) {
    uint32_t at = 0;
    while (at < engine->member_count && compare_ids(engine->members[at].id, engine->members[at].id_len, id, (uint32_t)len) < 0) at++;
    const uint32_t after = engine->member_count - at;
    memmove(&engine->members[at + 1u], &engine->members[at], after * sizeof(engine->members[0]));
    memmove(row_of(engine, at + 1u), row_of(engine, at), after * LSH_IN_MEMBER_STRIDE);
    memset(&engine->members[at], 0, sizeof(engine->members[0]));
    memcpy(engine->members[at].id, id, len + 1u);
    engine->members[at].id_len = (uint32_t)len;
    engine->member_count++;
    if (engine->self_index >= at) engine->self_index++;
    renumber_rows(engine, -1, (int)at);
    write_unheard_row(engine, at);
    return at;
}

static int heard(lsh_engine_t *engine, uint32_t i) {
    return (lsh_block_u32(row_of(engine, i), LSH_IN_MEMBER_FLAGS) & LSH_MEMBER_FLAGS_LAST_SEEN) != 0;
}

static int id_ok(const char *id) {
    const size_t len = id != NULL ? strlen(id) : 0;
    return len >= 1 && len <= LSH_ID_BYTES_MAX;
}

lsh_result_t lsh_engine_add_member(lsh_engine_t *engine, const char *id) {
    if (engine == NULL || !id_ok(id)) return lsh_err_argument;
    const int known = find_member(engine, id);
    if (known >= 0) {
        if (!engine->members[known].leaving) return lsh_ok;
        engine->members[known].leaving = 0;
        uint8_t *row = row_of(engine, (uint32_t)known);
        lsh_block_set_u32(row, LSH_IN_MEMBER_FLAGS, lsh_block_u32(row, LSH_IN_MEMBER_FLAGS) & ~LSH_MEMBER_FLAGS_LEAVING);
        return compute_config_hash(engine);
    }
    if (engine->member_count >= LSH_MEMBERS_MAX) {
        /* The table is full: the member leaving that was heard longest ago makes room. */
        int oldest = -1;
        double oldest_ms = INFINITY;
        for (uint32_t i = 0; i < engine->member_count; i++) {
            if (!engine->members[i].leaving) continue;
            const double at_ms = heard(engine, i) ? lsh_block_f64(row_of(engine, i), LSH_IN_MEMBER_LAST_SEEN_MS) : -INFINITY;
            if (oldest < 0 || at_ms < oldest_ms) {
                oldest = (int)i;
                oldest_ms = at_ms;
            }
        }
        if (oldest < 0) return lsh_err_argument;
        drop_member(engine, (uint32_t)oldest);
    }
    insert_member(engine, id, strlen(id));
    return compute_config_hash(engine);
}

lsh_result_t lsh_engine_remove_member(lsh_engine_t *engine, const char *id) {
    if (engine == NULL || !id_ok(id)) return lsh_err_argument;
    const int index = find_member(engine, id);
    if (index < 0 || (uint32_t)index == engine->self_index || engine->members[index].leaving) return lsh_ok;
    /* Heard or not (rule 8, as Node's remove_member): a member this charger never heard may
     * still charge on this breaker, cut off and never told of its removal (seeds 9040976,
     * 12209538). */
    engine->members[index].leaving = 1;
    mark_leaving(engine, (uint32_t)index);
    return compute_config_hash(engine);
}

lsh_result_t lsh_engine_restore_leaving(lsh_engine_t *engine, const char *id) {
    if (engine == NULL || !id_ok(id)) return lsh_err_argument;
    if (find_member(engine, id) >= 0 || engine->member_count >= LSH_MEMBERS_MAX) return lsh_ok;
    const uint32_t at = insert_member(engine, id, strlen(id));
    engine->members[at].leaving = 1;
    mark_leaving(engine, at);
    return compute_config_hash(engine);
}

lsh_result_t lsh_engine_forget_member(lsh_engine_t *engine, const char *id) {
    if (engine == NULL || !id_ok(id)) return lsh_err_argument;
    const int index = find_member(engine, id);
    if (index < 0 || (uint32_t)index == engine->self_index) return lsh_ok;
    drop_member(engine, (uint32_t)index);
    return compute_config_hash(engine);
}

int lsh_engine_member_state(const lsh_engine_t *engine, const char *id) {
    const int index = engine != NULL ? find_member(engine, id) : -1;
    if (index < 0) return 0;
    return engine->members[index].leaving ? 2 : 1;
}

/* Leaving members that said a person set them up on their own are forgotten (nothing is
 * reserved for them any more). One that stays silent is not: it may be cut off and never have
 * heard of its removal, or crashed, and sit at its failsafe current on this breaker (rule 8);
 * nor is one this charger never heard (seed 12209538). */
static void forget_left_members(lsh_engine_t *engine) {
    for (uint32_t i = 0; i < engine->member_count;) {
        const lsh_member_entry_t *m = &engine->members[i];
        if (m->leaving && m->alone_confirmed) drop_member(engine, i);
        else i++;
    }
}

/* The header and this charger's own row (Node's build_view and self_member, then write_input):
 * its applied and committed currents and its demand cap are not facts but the module's own. */
static void write_call_facts(lsh_engine_t *engine, double mono_ms, double wall_ms, const lsh_self_facts_t *self) {
    uint8_t *block = engine->input_block;
    const lsh_group_config_t *c = &engine->config;
    memset(block, 0, LSH_IN_MEMBER_BASE);
    lsh_block_set_f64(block, LSH_IN_MONO_MS, mono_ms);
    lsh_block_set_f64(block, LSH_IN_WALL_MS, wall_ms);
    lsh_block_set_f64(block, LSH_IN_SELF_PILOT_A, self->pilot_a);
    lsh_block_set_u32(block, LSH_IN_CLOCK_EPOCH, engine->clock_epoch);
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
    if (engine->alone_confirmed) flags |= LSH_INPUT_FLAGS_ALONE_CONFIRMED;
    if (engine->decided) {
        lsh_block_set_f64(block, LSH_IN_SELF_LIMIT_A, engine->applied_a);
        flags |= LSH_INPUT_FLAGS_SELF_LIMIT_PRESENT;
    }
    memcpy(block + LSH_IN_CONFIG_HASH, engine->config_hash, LSH_HASH_BYTES);
    lsh_block_set_u32(block, LSH_IN_MEMBER_COUNT, engine->member_count);
    lsh_block_set_u32(block, LSH_IN_SELF_INDEX, engine->self_index);
    lsh_block_set_u32(block, LSH_IN_FAILSAFE_MODE, c->failsafe_mode);
    lsh_block_set_u32(block, LSH_IN_FLAGS, flags);

    uint8_t *row = row_of(engine, engine->self_index);
    const lsh_member_entry_t *m = &engine->members[engine->self_index];
    memset(row, 0, LSH_IN_MEMBER_STRIDE);
    memcpy(row + LSH_IN_MEMBER_ID, m->id, m->id_len);
    lsh_block_set_u32(row, LSH_IN_MEMBER_ID_LEN, m->id_len);
    uint32_t self_flags = LSH_MEMBER_FLAGS_LAST_SEEN;
    if (self->demand >= 0) self_flags |= LSH_MEMBER_FLAGS_DEMAND_PRESENT | (self->demand > 0 ? LSH_MEMBER_FLAGS_DEMAND : 0u);
    lsh_block_set_u32(row, LSH_IN_MEMBER_FLAGS, self_flags);
    lsh_block_set_u32(row, LSH_IN_MEMBER_VEHICLE, self->vehicle);
    lsh_block_set_u32(row, LSH_IN_MEMBER_STATE, self->state);
    lsh_block_set_i32(row, LSH_IN_MEMBER_PRIORITY, self->priority);
    lsh_block_set_f64(row, LSH_IN_MEMBER_LAST_SEEN_MS, mono_ms);
    lsh_block_set_f64(row, LSH_IN_MEMBER_AMP_MA, self->amp_ma);
    lsh_block_set_f64(row, LSH_IN_MEMBER_VOLTAGE_V, self->voltage_v);
    lsh_block_set_f64(row, LSH_IN_MEMBER_MIN_CURRENT_A, self->min_current_a);
    lsh_block_set_f64(row, LSH_IN_MEMBER_MAX_CURRENT_A, self->max_current_a);
}

lsh_result_t lsh_engine_build_input(lsh_engine_t *engine, double mono_ms, double wall_ms, const lsh_self_facts_t *self,
                                    uint8_t input_block_out[LSH_IN_SIZE]) {
    if (engine == NULL || self == NULL || input_block_out == NULL || !isfinite(mono_ms) || !isfinite(wall_ms)) return lsh_err_argument;
    write_call_facts(engine, mono_ms, wall_ms, self);
    if (input_block_out != engine->input_block) memcpy(input_block_out, engine->input_block, LSH_IN_SIZE);
    return lsh_ok;
}

/* ---- the decision out ---- */

static void publish(lsh_engine_t *engine, const lsh_guard_verdict_t *verdict, lsh_published_t *p) {
    const uint8_t *out = engine->output_block;
    const uint32_t flags = lsh_block_u32(out, LSH_OUT_FLAGS);
    memset(p, 0, sizeof(*p));
    p->applied_a = engine->applied_a;
    p->committed_a = engine->committed_a;
    p->demand_cap_a = engine->demand_cap_a;
    p->target_a = verdict->target_a;
    memcpy(p->config_hash, engine->config_hash, LSH_HASH_BYTES);
    p->seen_mask = 1u << engine->self_index;
    p->told_failsafe_safe_current_a = -1.0;
    if (verdict->tripped) {
        p->degraded = 1;
        p->failsafe_active = 1;
        p->reason = LSH_REASON_GUARD_FAILSAFE;
        return;
    }
    p->degraded = (flags & LSH_OUTPUT_FLAGS_SELF_DEGRADED) != 0;
    p->failsafe_active = (flags & LSH_OUTPUT_FLAGS_FAILSAFE_ACTIVE) != 0;
    p->config_consistent = (flags & LSH_OUTPUT_FLAGS_CONFIG_CONSISTENT) != 0;
    p->left_alone = (flags & LSH_OUTPUT_FLAGS_LEFT_ALONE) != 0;
    p->told_failsafe_safe_current_a = lsh_block_f64(out, LSH_OUT_FAILSAFE_SAFE_CURRENT_A);
    p->reason = lsh_block_u32(out, LSH_OUT_SELF_REASON);
    p->has_alloc = 1;
    for (uint32_t i = 0; i < engine->member_count; i++) {
        const uint32_t at = LSH_OUT_MEMBER_BASE + i * LSH_OUT_MEMBER_STRIDE;
        p->alloc_a[i] = lsh_block_f64(out, at + LSH_OUT_MEMBER_TARGET_CURRENT_A);
        const uint32_t member_flags = lsh_block_u32(out, at + LSH_OUT_MEMBER_FLAGS);
        if (engine->members[i].leaving) {
            p->leaving_mask |= 1u << i;
            continue;
        }
        /* A charger without load sharing is no member of anyone's seen-set (rule 3). */
        if ((member_flags & LSH_MEMBER_OUT_FLAGS_ONLINE) && !(member_flags & LSH_MEMBER_OUT_FLAGS_UNCONTROLLED)) p->seen_mask |= 1u << i;
    }
}

lsh_result_t lsh_engine_tick(lsh_engine_t *engine, double mono_ms, double wall_ms, const lsh_self_facts_t *self,
                             lsh_tick_result_t *result_out) {
    if (engine == NULL || result_out == NULL) return lsh_err_argument;
    memset(result_out, 0, sizeof(*result_out));
    result_out->next_call_ms = -1.0;
    result_out->carry_status = LSH_CARRY_STATUS_COUNT;
    const double previous_applied_a = engine->applied_a;
    lsh_guard_verdict_t verdict;
    forget_left_members(engine);
    const lsh_result_t result = lsh_engine_build_input(engine, mono_ms, wall_ms, self, engine->input_block);
    engine->unticked_mask = 0; /* this call has seen every row as it is */
    if (result != lsh_ok) {
        /* No facts to decide on (C only: Node's types rule this out): the guard's fallback. */
        memset(engine->output_block, 0, sizeof(engine->output_block));
        memset(&verdict, 0, sizeof(verdict));
        verdict.tripped = 1;
        verdict.applied_a = engine->config.failsafe_mode == LSH_FAILSAFE_MODE_DISABLE ? 0.0 : floor(engine->config.failsafe_safe_current_a);
        if (!(verdict.applied_a <= previous_applied_a)) verdict.applied_a = previous_applied_a;
        verdict.target_a = verdict.applied_a;
        snprintf(verdict.reason, sizeof(verdict.reason), "tick without valid facts: %s", result);
    } else {
        const lsh_result_t computed = lsh_runtime_compute(engine->runtime, engine->input_block, engine->carry,
                                                          engine->output_block, engine->carry_next);
        if (computed != lsh_ok) memset(engine->output_block, 0, sizeof(engine->output_block));
        lsh_guard_decide(computed, lsh_runtime_detail(engine->runtime), engine->input_block, engine->output_block,
                         previous_applied_a, &verdict);
        if (computed == lsh_ok) {
            result_out->next_call_ms = lsh_block_f64(engine->output_block, LSH_OUT_NEXT_CALL_MS);
            result_out->carry_status = lsh_block_u32(engine->output_block, LSH_OUT_CARRY_STATUS);
        }
    }
    /* A module that trapped or broke an invariant leaves no memory behind: the carry it was
     * handed stays, and the next call learns the fallback as a fact (self_limit). */
    if (!verdict.tripped) memcpy(engine->carry, engine->carry_next, LSH_CARRY_SIZE);
    /* Load sharing switched off by the user: the group no longer limits this charger (its own
     * max_current still applies); the module learns it as a fact on the next call. */
    const double applied_a = engine->config.disabled && self != NULL ? self->max_current_a : verdict.applied_a;
    if (verdict.tripped) lsh_platform_log(LSH_LOG_WARN, "guard: %s; applying %g A", verdict.reason, applied_a);
    engine->applied_a = applied_a;
    engine->committed_a = fmax(applied_a, verdict.tripped ? fmax(engine->committed_a, previous_applied_a)
                                                          : lsh_block_f64(engine->output_block, LSH_OUT_SELF_COMMITTED_CURRENT_A));
    if (!verdict.tripped) engine->demand_cap_a = lsh_block_f64(engine->output_block, LSH_OUT_SELF_DEMAND_CAP_A);
    engine->decided = 1;
    if (engine->shaper.set_limit_a != NULL) engine->shaper.set_limit_a(engine->shaper.context, applied_a);
    result_out->limit_a = applied_a;
    result_out->tripped = verdict.tripped;
    memcpy(result_out->trip_reason, verdict.reason, sizeof(result_out->trip_reason));
    publish(engine, &verdict, &result_out->published);
    return result;
}

const uint8_t *lsh_engine_carry(const lsh_engine_t *engine) {
    return engine == NULL ? NULL : engine->carry;
}

const char *lsh_engine_member_id(const lsh_engine_t *engine, uint32_t index) {
    if (engine == NULL || index >= engine->member_count) return NULL;
    return engine->members[index].id;
}

/* The leaving flags live in the padding after the id: the member table did not grow. */
_Static_assert(sizeof(lsh_member_entry_t) == (LSH_ID_BYTES_MAX + 1 + 3 + 4), "a member entry is the id, three flags and its length");
