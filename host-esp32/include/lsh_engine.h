/* The engine in C: a thin adapter, equal to host-node/engine/engine.ts. The module is the whole
 * group safety protocol (ABI 4) and keeps everything the protocol remembers (committed
 * currents, the shares my views gave each member, degraded and mismatch timers, the demand
 * cap) in the carry block. The engine only records facts and applies decisions:
 *  - each member's latest status (as the firmware parsed it) and the monotonic time it arrived;
 *  - per call: those facts, this charger's own EVSE facts, both clocks, the limit it applied
 *    after the previous call (self_limit) and the carry the previous call left;
 *  - it keeps the carry the module returns (not after a trap or a guard trip: then the old
 *    one stays), applies the limit to the shaper and publishes the decision.
 * Sans-IO: the firmware hands in times and parsed peer statuses; mDNS, WebSocket and JSON stay
 * in the firmware (docs/esp32.md).
 *
 * Where the engine itself decides anything (the same two places as the Node engine):
 *  1. Load sharing switched off by the user (config.disabled): the charger applies its own
 *     max_current, because the user took it out of the group; the module learns that limit as
 *     the self_limit fact on the next call.
 *  2. The guard's fallback (lsh_guard.c) when the module traps, refuses the facts or breaks an
 *     invariant: the failsafe current, never above what is applied, because a broken module
 *     cannot give the protocol's permission to raise; committed then stays at least what was
 *     applied before (the car may still draw it) and the old carry stays.
 *
 * Call order: lsh_engine_init once (after lsh_runtime_load), lsh_engine_handle_status for every
 * peer status received, lsh_engine_tick every period (e.g. each second) and by the time the
 * module asked for (tick.next_call_ms). All state lives in the caller-owned lsh_engine_t:
 * nothing is allocated. */
#ifndef LSH_ENGINE_H
#define LSH_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "lsh_abi.h"
#include "lsh_guard.h"
#include "lsh_result.h"
#include "lsh_runtime.h"

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
    int disabled;                      /* 1: the user switched load sharing off (Node: enabled false) */
    uint32_t member_count;             /* the group's members, self included (0 = unknown: 1); the
                                        * controller's heartbeat current is held to an equal part */
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
    double pilot_a;                    /* the pilot its controller offers now (/status "pilot") */
} lsh_self_facts_t;

typedef struct lsh_alloc_entry {
    const char *id;
    double current_a;
} lsh_alloc_entry_t;

/* One peer status as received, parsed from its /ws or /status document by the firmware (a /ws
 * delta merged into the last full document first). The base fields take Node's defaults when
 * the document lacks them: vehicle 0, state 1, amp 0, voltage 240, min 6, max the block's
 * max_current, else the status's, else 32, priority 0. The engine then reads it exactly as
 * Node's peer_member reads the document (negative amounts clamped or dropped, min <= max, a
 * safety factor outside (0, 1] or a demand cap of 0 dropped, alloc entries below 0 dropped). */
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
    /* The safety settings it reports configured (rule 8: members use the most conservative). */
    int has_safety_settings;  double heartbeat_timeout_s; double failsafe_safe_current_a; double failsafe_peer_assumed_current_a;
    /* 1: its document had no load-sharing block (e.g. upstream firmware): only vehicle, state,
     * amp_ma, voltage_v and max_current_a count, and it is settled at its measured current. */
    int no_loadsharing_block;
    /* Without the block (a charger without load sharing, rule 3): whether its document states
     * max_current (else the module reserves the whole breaker) and the pilot it reports. */
    int max_current_stated;
    int has_pilot;            double pilot_a;
    /* Its block says a person set it up on its own (alone_confirmed true): a member removed
     * from the group (leaving) is forgotten then (rule 8). */
    int alone_confirmed;
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
    double applied_a;                  /* the limit applied now */
    double committed_a;                /* the module's committed current, never below applied_a */
    double target_a;
    double demand_cap_a;               /* the module's demand cap for this charger; 0 = no cap */
    int degraded;
    int failsafe_active;
    uint32_t reason;                   /* LSH_REASON_* */
    uint32_t seen_mask;                /* bit i: member i (lsh_engine_member_id) is heard, self included */
    uint32_t leaving_mask;             /* bit i: member i is leaving the group: in neither seen nor alloc */
    int has_alloc;                     /* 0 after a guard trip: a broken view is not published */
    double alloc_a[LSH_MEMBERS_MAX];   /* by member index */
    int config_consistent;
    int left_alone;                    /* its members all left and no person set it up on its own (rule 8): failsafe current */
    double told_failsafe_safe_current_a; /* rule 8's settings: the smallest failsafe current the group told; -1 after a guard trip */
    uint8_t config_hash[LSH_HASH_BYTES];
} lsh_published_t;

typedef struct lsh_tick_result {
    double limit_a;                    /* what the shaper was told */
    int tripped;
    char trip_reason[LSH_DETAIL_BYTES];
    double next_call_ms;               /* monotonic time by which the module wants the next tick; -1 none */
    uint32_t carry_status;             /* LSH_CARRY_STATUS_* of the carry handed in; LSH_CARRY_STATUS_COUNT: no answer */
    lsh_published_t published;
} lsh_tick_result_t;

/* A member of the table. The three flags sit in the padding after the id: the table is no
 * larger than without them (40 bytes an entry). */
typedef struct lsh_member_entry {
    char id[LSH_ID_BYTES_MAX + 1];
    uint8_t leaving;                   /* removed from the group, still reserved (rule 8) */
    uint8_t alone_confirmed;           /* its last status says a person set it up on its own */
    uint32_t id_len;
} lsh_member_entry_t;

typedef struct lsh_engine {
    lsh_runtime_t *runtime;
    lsh_shaper_t shaper;
    lsh_group_config_t config;
    char group_id[LSH_GROUP_ID_BYTES_MAX + 1];
    uint8_t config_hash[LSH_HASH_BYTES];
    uint32_t clock_epoch;
    uint32_t member_count;
    uint32_t self_index;
    /* Rows written from a status since the last tick (bit per member): a lower limit such a
     * row holds is kept when a later status between the same two ticks says a higher one. */
    uint32_t unticked_mask;
    lsh_member_entry_t members[LSH_MEMBERS_MAX]; /* sorted by id bytes, as the core expects */
    int decided;                       /* a decision was applied (then self_limit is a fact) */
    /* A person set this charger up on its own (rule 8; Node's engine alone_confirmed): handed to
     * the module as LSH_INPUT_FLAGS_ALONE_CONFIRMED. Without it a charger whose members all left
     * stays at its failsafe current. */
    int alone_confirmed;
    double applied_a;                  /* what the shaper was told last (0 until the first tick) */
    double committed_a;                /* published */
    double demand_cap_a;               /* published */
    /* The facts as the module reads them: each peer's row is rewritten when its status
     * arrives; the header and this charger's row at every call. */
    uint8_t input_block[LSH_IN_SIZE];
    uint8_t output_block[LSH_OUT_SIZE];
    uint8_t carry[LSH_CARRY_SIZE];     /* the carry the last good call left (zeros: none yet) */
    uint8_t carry_next[LSH_CARRY_SIZE];
} lsh_engine_t;

/* Sets up the member table (self included; member_ids need not be sorted), computes the
 * config hash with the loaded module, and tells the shaper 0 A (until the first decision
 * this charger allows nothing). clock_epoch identifies the origin of the monotonic clock the
 * firmware passes (a new random value per boot); carry is what this charger persisted from an
 * earlier run (LSH_CARRY_SIZE bytes), or NULL: the module decides whether it can continue it. */
lsh_result_t lsh_engine_init(lsh_engine_t *engine, lsh_runtime_t *runtime, const lsh_group_config_t *config,
                             const char *self_id, const char *const member_ids[], uint32_t member_count,
                             uint32_t clock_epoch, const uint8_t *carry, const lsh_shaper_t *shaper);

/* Switches the engine to another loaded runtime (a hot swap or a rollback) and recomputes the
 * config hash with it. The facts, the carry and the applied limit are kept (the new module
 * decides whether it can continue the carry). On error the engine keeps its previous runtime. */
lsh_result_t lsh_engine_use_runtime(lsh_engine_t *engine, lsh_runtime_t *runtime);

/* The user switched load sharing off (1) or on again (0); takes effect at the next tick. */
void lsh_engine_set_disabled(lsh_engine_t *engine, int disabled);

/* A person set this charger up on its own (1), or it is in a group again (0); takes effect at
 * the next tick (Node's confirm_alone). lsh_engine_init starts it at 1 when the table holds
 * this charger only (a charger set up with no members is on its own by a person's choice),
 * else 0; a caller that stored it sets it after init. */
void lsh_engine_confirm_alone(lsh_engine_t *engine, int confirmed);
int lsh_engine_is_alone_confirmed(const lsh_engine_t *engine);

/* Records a peer status received at mono_ms (the monotonic clock). Unknown or self ids:
 * lsh_err_argument. */
lsh_result_t lsh_engine_handle_status(lsh_engine_t *engine, const lsh_member_status_t *status, double mono_ms);

/* Writes the input block for this instant (also used by tick). mono_ms: the monotonic clock
 * (every protocol timer); wall_ms: Unix epoch ms (rotation epochs only). */
lsh_result_t lsh_engine_build_input(lsh_engine_t *engine, double mono_ms, double wall_ms, const lsh_self_facts_t *self,
                                    uint8_t input_block_out[LSH_IN_SIZE]);

/* One decision: hand the facts and the carry to the module, guard the result, keep the new
 * carry, apply the limit to the shaper. Returns lsh_ok also when the guard tripped
 * (result->tripped says so); an error only for bad arguments, and then the shaper still gets
 * the failsafe current. */
lsh_result_t lsh_engine_tick(lsh_engine_t *engine, double mono_ms, double wall_ms, const lsh_self_facts_t *self,
                             lsh_tick_result_t *result_out);

/* Members joining and leaving, as Node's engine (add_member, remove_member, restore_leaving,
 * forget_member; rule 8). Each recomputes the config hash (members leaving are not part of the
 * group's config). lsh_err_argument: a bad id; this charger's own id changes nothing.
 *  - remove: a member ever heard stays in the table as leaving (member flag `leaving`) and the
 *    module reserves it (like a degraded member while heard, like an offline one after) until
 *    its status says alone_confirmed (forgotten at the next tick) or a person says it is gone
 *    (forget); a member never heard is dropped at once. Removing a leaving member: no change.
 *  - add: a leaving member is a member again; a new one starts never heard. With the table
 *    full (LSH_MEMBERS_MAX) a leaving member makes room first: the one heard longest ago
 *    (never heard first; among those, the first by id). lsh_err_argument when still full. A
 *    status already recorded that names the new member is not re-read: hand each peer's last
 *    status in again (with its arrival time) after an add.
 *  - restore: a member removed before a restart (stored with the peers) comes back leaving and
 *    never heard, and stays reserved while never heard (no change when known or the table is
 *    full).
 *  - forget: a person says it no longer draws from this breaker: out of the table, leaving or
 *    not (the carry still reserves it through its hold after it was last heard). */
lsh_result_t lsh_engine_add_member(lsh_engine_t *engine, const char *id);
lsh_result_t lsh_engine_remove_member(lsh_engine_t *engine, const char *id);
lsh_result_t lsh_engine_restore_leaving(lsh_engine_t *engine, const char *id);
lsh_result_t lsh_engine_forget_member(lsh_engine_t *engine, const char *id);

/* Whether member `id` is in the table (1: a member, 2: leaving), else 0. */
int lsh_engine_member_state(const lsh_engine_t *engine, const char *id);

/* The carry the module left (LSH_CARRY_SIZE bytes): what the firmware persists with the
 * charger's state and hands back to lsh_engine_init after a restart. */
const uint8_t *lsh_engine_carry(const lsh_engine_t *engine);

/* Id of member i in table order (the order of seen_mask and alloc_a), or NULL. */
const char *lsh_engine_member_id(const lsh_engine_t *engine, uint32_t index);

#endif /* LSH_ENGINE_H */
