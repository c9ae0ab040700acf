/* The engine duties in C, as in the Node host: the view table (what each member last said and
 * when), a tick that feeds the core and applies the guarded result to the shaper, and the
 * fields this charger publishes. Sans-IO: the firmware hands in now_ms and parsed peer
 * statuses; mDNS, WebSocket and JSON stay in the firmware (docs/esp32.md).
 *
 * Call order: lsh_engine_init once (after lsh_runtime_load), lsh_engine_handle_status for every
 * peer status received, lsh_engine_tick once per period (e.g. every second). All state lives in
 * the caller-owned lsh_engine_t: nothing is allocated. */
#ifndef LSH_ENGINE_H
#define LSH_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "lsh_abi.h"
#include "lsh_guard.h"
#include "lsh_result.h"
#include "lsh_runtime.h"

/* Earlier limits remembered for `committed` (the highest limit allowed in the last
 * ev_response_ms, as host-node/engine/committed.ts): one entry per change, dropped
 * ev_response_ms after that limit stopped being in force. When full, the two oldest merge
 * into one holding their maximum and the later end, so committed never falls early. */
#ifndef LSH_HISTORY_MAX
#define LSH_HISTORY_MAX 16u
#endif

typedef struct lsh_group_config {
    const char *group_id;              /* "" allowed; at most LSH_GROUP_ID_BYTES_MAX bytes */
    double group_max_current_a;
    double safety_factor;
    double heartbeat_timeout_s;
    uint32_t failsafe_mode;            /* LSH_FAILSAFE_MODE_* */
    double failsafe_safe_current_a;
    double failsafe_peer_assumed_current_a;
    double rotation_interval_s;        /* 0 disables rotation */
    double ev_response_ms;             /* 0 = default 5000 */
    double seen_grace_ms;              /* 0 = default 3000 */
    double message_delay_max_ms;       /* 0 = default 2000 */
} lsh_group_config_t;

/* What the firmware's own EVSE says each tick. */
typedef struct lsh_self_facts {
    uint32_t vehicle;                  /* 1: a car is connected */
    uint32_t state;                    /* OpenEVSE state code (3 = charging) */
    int32_t priority;
    double amp_ma;                     /* measured current, milliamps (as /status "amp") */
    double voltage_v;
    double min_current_a;
    double max_current_a;
    int demand;                        /* 1 the car wants current, 0 not; -1 not stated (tests only) */
} lsh_self_facts_t;

typedef struct lsh_alloc_entry {
    const char *id;
    double current_a;
} lsh_alloc_entry_t;

/* One peer status as received (parsed from its /ws or /status document by the firmware). */
typedef struct lsh_member_status {
    const char *id;
    uint32_t vehicle;
    uint32_t state;
    int32_t priority;
    double amp_ma;
    double voltage_v;
    double min_current_a;
    double max_current_a;
    int demand;                        /* -1 not stated, 0 no, 1 yes */
    int degraded;
    int has_applied;          double applied_a;
    int has_committed;        double committed_a;
    int has_demand_cap;       double demand_cap_a;
    int has_group_max_current; double group_max_current_a;
    int has_safety_factor;    double safety_factor;
    int has_config_hash;      uint8_t config_hash[LSH_HASH_BYTES];
    int has_seen;             uint32_t seen_count; const char *seen_ids[LSH_MEMBERS_MAX * 2];
    int has_alloc;            uint32_t alloc_count; lsh_alloc_entry_t alloc[LSH_MEMBERS_MAX * 2];
} lsh_member_status_t;

/* The shaper, supplied by the firmware: how this charger's load-sharing limit reaches the EVSE
 * (OpenEVSE: the current shaper's load-sharing limit / claim). Called at init (0 A) and on
 * every tick, as in the Node engine; the firmware may skip unchanged values. */
typedef struct lsh_shaper {
    void *context;
    void (*set_limit_a)(void *context, double limit_a);
} lsh_shaper_t;

/* What this charger publishes with its status after a tick (docs/esp32.md lists the JSON keys). */
typedef struct lsh_published {
    double applied_a;
    double committed_a;
    double target_a;
    double demand_cap_a;               /* 0 = no cap */
    int degraded;
    int failsafe_active;
    uint32_t reason;                   /* LSH_REASON_* */
    uint32_t seen_mask;                /* bit i: member i (lsh_engine_member_id) is heard, self included */
    int has_alloc;                     /* 0 after a guard trip: a broken view is not published */
    double alloc_a[LSH_MEMBERS_MAX];   /* by member index */
    int config_consistent;
    uint8_t config_hash[LSH_HASH_BYTES];
} lsh_published_t;

typedef struct lsh_tick_result {
    double limit_a;                    /* what the shaper was told */
    int tripped;
    char trip_reason[LSH_DETAIL_BYTES];
    lsh_published_t published;
} lsh_tick_result_t;

typedef struct lsh_member_entry {
    char id[LSH_ID_BYTES_MAX + 1];
    uint32_t id_len;
    uint32_t flags;                    /* LSH_MEMBER_FLAGS_* of the fields below that are known */
    double last_seen_ms;
    uint32_t vehicle;
    uint32_t state;
    int32_t priority;
    double amp_ma;
    double voltage_v;
    double min_current_a;
    double max_current_a;
    double demand_cap_a;
    double applied_a;
    double committed_a;
    double group_max_current_a;
    double safety_factor;
    uint32_t seen_mask;
    uint32_t alloc_mask;
    double alloc_a[LSH_MEMBERS_MAX];
    uint8_t config_hash[LSH_HASH_BYTES];
    int has_status;
} lsh_member_entry_t;

typedef struct lsh_history_entry {
    double until_ms;                   /* when this limit stopped being in force */
    double applied_a;
} lsh_history_entry_t;

typedef struct lsh_engine {
    lsh_runtime_t *runtime;
    lsh_shaper_t shaper;
    lsh_group_config_t config;
    char group_id[LSH_GROUP_ID_BYTES_MAX + 1];
    uint8_t config_hash[LSH_HASH_BYTES];
    uint32_t member_count;
    uint32_t self_index;
    lsh_member_entry_t members[LSH_MEMBERS_MAX]; /* sorted by id bytes, as the core expects */
    int has_mismatch_since;
    double mismatch_since_ms;
    int has_degraded_since;             /* fed back like mismatch_since (core ABI 3) */
    double degraded_since_ms;
    double applied_a;                  /* the limit in force (0 until the first tick) */
    double demand_cap_a;
    double demand_cap_at_ms;
    int demand_cap_updated;
    lsh_history_entry_t history[LSH_HISTORY_MAX];
    uint32_t history_count;
    uint8_t input_block[LSH_IN_SIZE];
    uint8_t output_block[LSH_OUT_SIZE];
} lsh_engine_t;

/* Sets up the view table for a fixed member list (self included), computes the config hash
 * with the loaded module, and tells the shaper 0 A (until the first decision this charger
 * allows nothing). member_ids need not be sorted. A restarted engine does not know what its
 * controller offered before, so assumed_committed_a (max of the charger's max_current and its
 * current pilot) counts as committed for ev_response_ms after now_ms, as in the Node engine. */
lsh_result_t lsh_engine_init(lsh_engine_t *engine, lsh_runtime_t *runtime, const lsh_group_config_t *config,
                             const char *self_id, const char *const member_ids[], uint32_t member_count,
                             double now_ms, double assumed_committed_a, const lsh_shaper_t *shaper);

/* Switches the engine to another loaded runtime (a hot swap or a rollback) and recomputes the
 * config hash with it. The view table, history and applied limit are kept. On error the engine
 * keeps its previous runtime. */
lsh_result_t lsh_engine_use_runtime(lsh_engine_t *engine, lsh_runtime_t *runtime);

/* The committed current at now_ms. */
double lsh_engine_committed_a(const lsh_engine_t *engine, double now_ms);

/* Records a peer status received at now_ms. Unknown or self ids: lsh_err_argument. */
lsh_result_t lsh_engine_handle_status(lsh_engine_t *engine, const lsh_member_status_t *status, double now_ms);

/* Writes the input block for this instant (also used by tick). */
lsh_result_t lsh_engine_build_input(lsh_engine_t *engine, double now_ms, const lsh_self_facts_t *self,
                                    uint8_t input_block_out[LSH_IN_SIZE]);

/* One decision: feed the core, guard the result, apply it to the shaper, update the history.
 * Returns lsh_ok also when the guard tripped (result->tripped says so); an error only for bad
 * arguments, and then the shaper still gets the failsafe current. */
lsh_result_t lsh_engine_tick(lsh_engine_t *engine, double now_ms, const lsh_self_facts_t *self, lsh_tick_result_t *result_out);

/* Id of member i in table order (the order of seen_mask and alloc_a), or NULL. */
const char *lsh_engine_member_id(const lsh_engine_t *engine, uint32_t index);

#endif /* LSH_ENGINE_H */
