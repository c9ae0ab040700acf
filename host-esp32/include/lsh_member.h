/* A full group member in C: what a Node charger (host-node/station/station.ts, config-sync.ts)
 * does around its engine, for the ESP32 firmware, sans-IO and portable (cJSON, mbedTLS):
 *  - the status document it publishes (GET /status, /ws) and how it reads a peer's (Node's
 *    peer_member), with id binding: a peer joined by host is the placeholder member "?HOST"
 *    (never heard: offline, reserved) until its document names it;
 *  - group config sync (docs/config-sync.md): the group fields, loadsharing_config_version /
 *    updated_at / origin, the order of configs (version, then updated_at, then the bytewise
 *    smaller origin), adoption of a newer config seen in a peer's status (fetched) or pushed,
 *    pushes of a local change to every member with backoff 1, 2, 4 ... 60 s, the member list;
 *  - controller supervision (lsh_supervise.h) from the config in force, re-set on every change.
 * The protocol itself stays in the module (lsh_engine.h): the config hash, liveness, reserves and
 * allocations are the module's, so this file records facts and moves documents.
 *
 * The firmware (or tools/lsh_node.c natively) does the I/O: it feeds each authenticated peer
 * document (lsh_member_on_peer_doc), asks what to send (lsh_member_next_action: a push or a
 * config fetch, each due at its backoff time) and reports the outcome; it answers pushes with
 * lsh_member_receive_push and serves lsh_member_status_json / lsh_member_config_json. The group
 * key (lsh_auth.h) is checked by the caller before a document reaches these calls; requests are
 * signed for lsh_member_destination / lsh_member_action_t.to, and checked with lsh_member_is_me.
 * A charger without the group key is report-only (as Node's, docs/security.md D2): it shares
 * current by what it hears, but adopts no config or member list and pushes nothing. */
#ifndef LSH_MEMBER_H
#define LSH_MEMBER_H

#include <stddef.h>
#include <stdint.h>

#include "lsh_abi.h"
#include "lsh_engine.h"
#include "lsh_supervise.h"

#define LSH_HOST_BYTES_MAX 63
#define LSH_PEERS_MAX (LSH_MEMBERS_MAX - 1)
#define LSH_LEAVING_MAX 4
#define LSH_LEAVING_ATTEMPTS_MAX 6
#define LSH_BACKOFF_INITIAL_MS 1000.0
#define LSH_BACKOFF_MAX_MS 60000.0

struct cJSON;

/* The group fields (config.ts group_keys): what every member must hold alike. */
typedef struct lsh_group_fields {
    char group_id[LSH_GROUP_ID_BYTES_MAX + 1];
    double group_max_current_a;
    double safety_factor;
    double heartbeat_timeout_s;
    uint32_t failsafe_mode;            /* LSH_FAILSAFE_MODE_* */
    double failsafe_safe_current_a;
    double failsafe_peer_assumed_current_a;
    double rotation_interval_s;
} lsh_group_fields_t;

/* Integers held in doubles, as JSON has them (safe integers). */
typedef struct lsh_config_meta {
    double version;
    double updated_at_s;
    char origin[LSH_ID_BYTES_MAX + 1];
} lsh_config_meta_t;

typedef struct lsh_member_ref {
    char host[LSH_HOST_BYTES_MAX + 1];
    char id[LSH_ID_BYTES_MAX + 1];     /* "" = not known yet */
} lsh_member_ref_t;

typedef struct lsh_group_doc {
    lsh_group_fields_t fields;
    lsh_config_meta_t meta;
    uint32_t member_count;
    lsh_member_ref_t members[LSH_MEMBERS_MAX];
} lsh_group_doc_t;

typedef struct lsh_member_peer {
    lsh_member_ref_t ref;
    char member_id[LSH_ID_BYTES_MAX + 1]; /* ref.id, or the placeholder "?HOST" */
    struct cJSON *doc;                 /* its last authenticated status document (owned) */
    double heard_mono_ms;
    int heard;
    /* what its status says of its config */
    int has_version;
    double version;
    char hash[LSH_HASH_BYTES * 2 + 1];
    /* outbound: a version it still has to receive */
    int owed;
    double owed_version;
    int leaving;                       /* removed from the group, still reserved (lsh_member_t.held_count) */
    uint32_t attempts;
    double next_push_ms;
    int last_push_status;              /* HTTP status of the last push, 0 network error, -1 none */
    /* inbound: fetching its config */
    int fetch_wanted;
    char fetch_key[96];                /* version|hash being fetched */
    char fetch_done_key[96];
    uint32_t fetch_attempts;
    double fetch_not_before_ms;
    uint32_t auth_failures;
    uint32_t invalid_configs;
} lsh_member_peer_t;

typedef struct lsh_member_options {
    const char *self_id;
    const char *self_address;          /* host:port, as peers reach this charger */
    const lsh_group_doc_t *config;     /* group fields and metadata at start (members: ignored) */
    const char *const *peer_hosts;
    uint32_t peer_count;
    int32_t priority;
    int sync_enabled;                  /* 0: report only (no push, no adoption, pushes answered 403) */
    int has_group_key;                 /* 0: no group key: report-only too (nothing from a peer can be told from a forgery) */
    const char *module_hash_hex;
    lsh_runtime_t *runtime;
    uint32_t clock_epoch;
    /* The carry persisted before a restart (lsh_member_carry, LSH_CARRY_SIZE bytes), or NULL:
     * handed to the module, which decides what it may continue (with a new clock epoch only
     * what does not depend on time, e.g. that this charger was in a group: rule 8's left alone). */
    const uint8_t *carry;
    lsh_shaper_t shaper;
    lsh_rapi_t rapi;
    /* The store key (lsh_platform_store_*) of the peers document, as Node's peers.json:
     * {"peers":[{host,id}],"alone_confirmed":bool,"leaving":[{host,id}]}. Written whenever the
     * members, the members leaving or alone_confirmed change; at init its leaving list comes back
     * as leaving (rule 8: reserved until each says it is on its own or a person says it is gone)
     * and its alone_confirmed is restored (absent: 1 when peer_count is 0, as Node). NULL:
     * nothing stored. */
    const char *store_key;
} lsh_member_options_t;

typedef struct lsh_member {
    char self_id[LSH_ID_BYTES_MAX + 1];
    char self_address[LSH_HOST_BYTES_MAX + 1];
    char module_hash[65];
    lsh_group_fields_t fields;
    lsh_config_meta_t meta;
    double highest_peer_version;
    int32_t priority;
    int sync_enabled;
    int has_group_key;
    double general_config_version;     /* upstream's /status config_version: any config change */
    uint32_t peer_count;
    /* peers[0 .. peer_count) are the members; peers[peer_count .. peer_count + held_count) the
     * members removed from the group that the engine still holds as leaving (rule 8): reserved
     * until each says a person set it up on its own (alone_confirmed) or a person says it is
     * gone (lsh_member_forget). They share the member table's room: a member joining a full
     * table makes room by dropping the one heard longest ago. The firmware keeps reading their
     * status (lsh_member_on_peer_doc with their index) to hear them say so. */
    uint32_t held_count;
    lsh_member_peer_t peers[LSH_PEERS_MAX];
    /* Members removed here, still to be told (at most 6 pushes each, as Node). Only a person's
     * removal on this charger would fill it, and the C host has no join/leave endpoint yet: it
     * follows the member list its group pushes or serves. */
    uint32_t leaving_count;
    lsh_member_peer_t leaving[LSH_LEAVING_MAX];
    lsh_runtime_t *runtime;
    uint32_t clock_epoch;
    lsh_shaper_t shaper;
    lsh_supervisor_t supervisor;
    /* The smallest failsafe current the group told (the last decision's rule 8 settings), or -1:
     * the heartbeat current is held to it (supervision_config in lsh_member.c). */
    double told_failsafe_a;
    int engine_ready;
    /* A person set this charger up on its own (rule 8; Node's alone_confirmed): handed to every
     * engine built, stored with the peers, cleared when it joins a group. */
    int alone_confirmed;
    uint8_t carry_keep[LSH_CARRY_SIZE]; /* the carry across an engine rebuild (a config or member change) */
    int carry_given;                   /* carry_keep holds options.carry for the first engine */
    lsh_engine_t engine;
    char store_key[16];                /* "" nothing stored */
    char last_error[160];
} lsh_member_t;

typedef enum lsh_action_kind {
    LSH_ACTION_NONE = 0,
    LSH_ACTION_PUSH = 1,               /* POST /config with body to host (signed, x-loadshare-push) */
    LSH_ACTION_FETCH = 2,              /* GET /config from host (signed; response MAC checked) */
} lsh_action_kind_t;

typedef struct lsh_member_action {
    lsh_action_kind_t kind;
    int leaving;                       /* the target is a removed member (lsh_member_t.leaving) */
    uint32_t index;
    char host[LSH_HOST_BYTES_MAX + 1];
    char to[LSH_HOST_BYTES_MAX + 1];   /* what the request is signed for: the target's id, or its host */
    double version;                    /* push: the version it carries */
    char *body;                        /* push: the JSON text (free with lsh_member_action_free) */
} lsh_member_action_t;

/* ---- documents ---- */

/* a is newer than b: higher version; else later updated_at; else bytewise smaller origin. */
int lsh_config_newer(const lsh_config_meta_t *a, const lsh_config_meta_t *b);

/* The schema and cross-field rules of a group config (config.ts); NULL when valid, else why. */
const char *lsh_group_fields_check(const lsh_group_fields_t *fields, char *why, size_t why_size);

/* A group document from a peer (a push body, strict_keys 1: nothing but group fields and
 * metadata; or its GET /config, strict_keys 0). NULL when valid, else why (in why). */
const char *lsh_group_doc_parse(const char *text, size_t len, int strict_keys, lsh_group_doc_t *out, char *why, size_t why_size);

/* Node's check_peer_id / check_host. */
int lsh_peer_id_valid(const char *id);
int lsh_host_valid(const char *host);

/* Whether `host` (HOST[:PORT]) reaches the charger listening at self_address (host:port), as
 * Node's is_self_host: the same address (IPv4 in any of the spellings a client accepts: 127.1,
 * 0x7f.0.0.1, 2130706433; names without case or a trailing dot) and the same port, or no port;
 * "localhost" and 0.0.0.0 / "::" always; any loopback address when it listens on 0.0.0.0. */
int lsh_host_is_self(const char *host, const char *self_address);

/* ---- the member ---- */

/* Loads nothing: the runtime must be loaded. Sets up the engine with every peer as its
 * placeholder, the supervision, and tells the shaper 0 A until the first decision. */
const char *lsh_member_init(lsh_member_t *m, const lsh_member_options_t *options);
void lsh_member_free(lsh_member_t *m);

/* A person says the member removed from the group at `host_or_id` no longer draws from this
 * breaker (switched off, taken away; Node's DELETE /loadsharing/peers/HOST?gone=true): nothing
 * stays reserved for it. NULL when forgotten, else why not ("Peer not found"; a member of the
 * group is removed from the group first). */
const char *lsh_member_forget(lsh_member_t *m, const char *host_or_id);

/* A person says this charger is on its own on its breaker (Node's POST /loadsharing/alone,
 * rule 8): from then on, with no members, it may use the whole limit, and its former peers
 * forget its reserve once they hear alone_confirmed. Stored with the peers. NULL when done (also
 * when it already was), else why not (it still has members: the sentence Node answers with 400). */
const char *lsh_member_confirm_alone(lsh_member_t *m);

/* The carry the module left (LSH_CARRY_SIZE bytes; NULL before the engine is set up): what the
 * firmware persists with the charger's state and hands back as options.carry after a restart. */
const uint8_t *lsh_member_carry(const lsh_member_t *m);

/* The peers document (as stored under options.store_key); free with cJSON_free. */
char *lsh_member_peers_json(const lsh_member_t *m);

/* An authenticated status document from peer `index` (a member, or one leaving: below
 * peer_count + held_count; full, as GET /status or a /ws frame merged by the caller),
 * received at mono_ms (the monotonic clock, which also times the config fetch backoff, as
 * every *_ms below but the wall clock of local writes). doc is taken over (freed here). Returns NULL when recorded, else why it was ignored. */
const char *lsh_member_on_peer_doc(lsh_member_t *m, uint32_t index, struct cJSON *doc, double mono_ms, double now_ms);

/* Whether a signed request's destination (x-loadshare-to) names this charger: its id, or an
 * address that is this charger (lsh_host_is_self). context: the lsh_member_t (lsh_auth_is_me_fn). */
int lsh_member_is_me(const void *context, const char *to);

/* What a signed request to peer `index` is signed for: its id once known, else its host. */
const char *lsh_member_destination(const lsh_member_t *m, uint32_t index);

/* Config sync takes part now: enabled and the group has a key (else report-only). */
int lsh_member_sync_active(const lsh_member_t *m);

/* One decision (lsh_engine_tick) and the supervision pulse after it. */
lsh_result_t lsh_member_tick(lsh_member_t *m, double mono_ms, double wall_ms, const lsh_self_facts_t *self, lsh_tick_result_t *tick);

/* The /status document (upstream's keys and the load-sharing block); free with cJSON_free. */
char *lsh_member_status_json(const lsh_member_t *m, const lsh_self_facts_t *self, const lsh_tick_result_t *tick, double wall_ms, double uptime_s);

/* GET /config: the group fields, metadata, members, plus this charger's own settings; cJSON_free. */
char *lsh_member_config_json(const lsh_member_t *m);

/* The group document this charger pushes (for `leaving_host`: without that host); cJSON_free. */
char *lsh_member_group_json(const lsh_member_t *m, const char *leaving_host);

/* A push (POST /config marked x-loadshare-push or signed): auth_code 0 when the signature was
 * checked and good, else 401/403 (counted). Without a group key nothing is adopted: 403
 * (report-only; the caller answers 401 first when the sender is not even a person, as Node).
 * Returns the HTTP status; msg_out: the reply's message. */
int lsh_member_receive_push(lsh_member_t *m, const char *body, size_t len, int auth_code, const char *sender_id,
                            double now_ms, char *msg_out, size_t msg_size);

/* A person's write of group fields on this charger (a user's POST /config): a new version
 * (above every version seen), updated_at now, origin this charger; pushed to every member.
 * Returns NULL when applied (changed_out: 0 when nothing changed), else why (400). */
const char *lsh_member_local_write(lsh_member_t *m, const lsh_group_fields_t *fields, int32_t priority, double now_ms, int *changed_out);

/* What to send now: a push due (its backoff passed) or a config fetch wanted. 0: nothing. */
int lsh_member_next_action(lsh_member_t *m, double now_ms, lsh_member_action_t *action);
void lsh_member_action_free(lsh_member_action_t *action);

/* The outcome of a push: the HTTP status (0: no answer). */
void lsh_member_push_result(lsh_member_t *m, const lsh_member_action_t *action, int status, double now_ms);

/* The outcome of a fetch: the authenticated GET /config text, or NULL and why not. */
void lsh_member_fetch_result(lsh_member_t *m, const lsh_member_action_t *action, const char *text, size_t len,
                             const char *failure, double now_ms);

/* A peer's document or response failed authentication. */
void lsh_member_auth_failure(lsh_member_t *m, uint32_t index, const char *reason);

/* The backoff before attempt number `attempt` (0-based): 1, 2, 4 ... 60 s. */
double lsh_member_backoff_ms(uint32_t attempt);

/* The engine's config for the group fields in force. */
void lsh_member_engine_config(const lsh_member_t *m, lsh_group_config_t *out);

/* The member id of peer `index` (its id, or its placeholder; members leaving included). */
const char *lsh_member_peer_member_id(const lsh_member_t *m, uint32_t index);

#endif /* LSH_MEMBER_H */
