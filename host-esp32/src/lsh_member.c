/* A full group member (lsh_member.h): the status document, id binding, group config sync and
 * controller supervision around the engine, following host-node/node/charger.ts and
 * host-node/station/config-sync.ts step for step. */
#include "lsh_member.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(ESP_PLATFORM)
#include "cJSON.h"
#else
#include <cjson/cJSON.h>
#endif
#include "mbedtls/md.h"

#include "lsh_platform.h"

static const char *const group_keys[] = {
    "loadsharing_group_id", "loadsharing_group_max_current", "loadsharing_safety_factor",
    "loadsharing_heartbeat_timeout", "loadsharing_failsafe_mode", "loadsharing_failsafe_safe_current",
    "loadsharing_failsafe_peer_assumed_current", "loadsharing_rotation_interval",
};
static const char *const meta_keys[] = {
    "loadsharing_config_version", "loadsharing_config_updated_at", "loadsharing_config_origin", "loadsharing_members",
};

/* ---- small rules (peers.ts, config.ts) ---- */

int lsh_peer_id_valid(const char *id) {
    const size_t len = id == NULL ? 0 : strlen(id);
    if (len < 1 || len > LSH_ID_BYTES_MAX || id[0] == '?') return 0;
    for (size_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)id[i];
        if (c < 0x21 || c > 0x7e || c == ',') return 0;
    }
    return 1;
}

/* Upstream's rule plus ours: a hostname or IP, containing '.' or ':', optionally :port. */
int lsh_host_valid(const char *host) {
    const size_t len = host == NULL ? 0 : strlen(host);
    if (len == 0 || len > LSH_HOST_BYTES_MAX) return 0;
    if (strchr(host, '.') == NULL && strchr(host, ':') == NULL) return 0;
    size_t i = 0;
    if (host[0] == '[') {
        i = 1;
        while (i < len && host[i] != ']') {
            const char c = host[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.')) return 0;
            i++;
        }
        if (i == 1 || i >= len) return 0;
        i++;
    } else {
        while (i < len && host[i] != ':') {
            const char c = host[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-')) return 0;
            i++;
        }
        if (i == 0) return 0;
    }
    if (i == len) return 1;
    if (host[i] != ':') return 0;
    const size_t digits = len - i - 1;
    if (digits < 1 || digits > 5) return 0;
    long port = 0;
    for (size_t k = i + 1; k < len; k++) {
        if (host[k] < '0' || host[k] > '9') return 0;
        port = port * 10 + (host[k] - '0');
    }
    return port >= 1 && port <= 65535;
}

static int safe_integer(double v) {
    return isfinite(v) && floor(v) == v && fabs(v) <= 9007199254740991.0;
}

int lsh_config_newer(const lsh_config_meta_t *a, const lsh_config_meta_t *b) {
    if (a->version != b->version) return a->version > b->version;
    if (a->updated_at_s != b->updated_at_s) return a->updated_at_s > b->updated_at_s;
    /* Bytewise: strcmp compares as unsigned char. */
    return strcmp(a->origin, b->origin) != 0 && strcmp(a->origin, b->origin) < 0;
}

static int same_meta(const lsh_config_meta_t *a, const lsh_config_meta_t *b) {
    return a->version == b->version && a->updated_at_s == b->updated_at_s && strcmp(a->origin, b->origin) == 0;
}

const char *lsh_group_fields_check(const lsh_group_fields_t *f, char *why, size_t why_size) {
    if (strlen(f->group_id) > LSH_GROUP_ID_BYTES_MAX) {
        snprintf(why, why_size, "loadsharing_group_id must be at most %d bytes", LSH_GROUP_ID_BYTES_MAX);
    } else if (!(f->group_max_current_a > 0.0 && f->group_max_current_a <= 1000.0)) {
        snprintf(why, why_size, "loadsharing_group_max_current must be above 0 and at most 1000");
    } else if (!(f->safety_factor > 0.0 && f->safety_factor <= 1.0)) {
        snprintf(why, why_size, "loadsharing_safety_factor must be above 0 and at most 1");
    } else if (!(safe_integer(f->heartbeat_timeout_s) && f->heartbeat_timeout_s >= 5.0 && f->heartbeat_timeout_s <= 600.0)) {
        snprintf(why, why_size, "loadsharing_heartbeat_timeout must be an integer from 5 to 600");
    } else if (f->failsafe_mode >= LSH_FAILSAFE_MODE_COUNT) {
        snprintf(why, why_size, "loadsharing_failsafe_mode must be disable or safe_current");
    } else if (!(f->failsafe_safe_current_a >= 0.0 && f->failsafe_safe_current_a <= 1000.0)) {
        snprintf(why, why_size, "loadsharing_failsafe_safe_current must be from 0 to 1000");
    } else if (!(f->failsafe_peer_assumed_current_a >= 0.0 && f->failsafe_peer_assumed_current_a <= 1000.0)) {
        snprintf(why, why_size, "loadsharing_failsafe_peer_assumed_current must be from 0 to 1000");
    } else if (!(safe_integer(f->rotation_interval_s) && f->rotation_interval_s >= 0.0 && f->rotation_interval_s <= 604800.0)) {
        snprintf(why, why_size, "loadsharing_rotation_interval must be an integer from 0 to 604800");
    } else if (f->failsafe_peer_assumed_current_a < f->failsafe_safe_current_a) {
        snprintf(why, why_size, "loadsharing_failsafe_peer_assumed_current (%g) must be at least loadsharing_failsafe_safe_current (%g)",
                 f->failsafe_peer_assumed_current_a, f->failsafe_safe_current_a);
    } else if (f->failsafe_safe_current_a > f->group_max_current_a) {
        snprintf(why, why_size, "loadsharing_failsafe_safe_current (%g) must not exceed loadsharing_group_max_current (%g)",
                 f->failsafe_safe_current_a, f->group_max_current_a);
    } else {
        return NULL;
    }
    return why;
}

static int in_list(const char *key, const char *const list[], size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (strcmp(key, list[i]) == 0) return 1;
    }
    return 0;
}

static const char *fail(char *why, size_t why_size, const char *format, const char *field) {
    snprintf(why, why_size, format, field);
    return why;
}

/* The group fields of a JSON object (every one required, typed as config.ts's schema). */
static const char *read_fields(const cJSON *d, lsh_group_fields_t *f, char *why, size_t why_size) {
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < sizeof(group_keys) / sizeof(group_keys[0]); i++) {
        if (cJSON_GetObjectItemCaseSensitive(d, group_keys[i]) == NULL) return fail(why, why_size, "%s is missing", group_keys[i]);
    }
    const cJSON *gid = cJSON_GetObjectItemCaseSensitive(d, "loadsharing_group_id");
    if (!cJSON_IsString(gid) || strlen(gid->valuestring) > LSH_GROUP_ID_BYTES_MAX) {
        return fail(why, why_size, "%s must be a string of at most 64 bytes", "loadsharing_group_id");
    }
    memcpy(f->group_id, gid->valuestring, strlen(gid->valuestring) + 1);
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(d, "loadsharing_failsafe_mode");
    if (cJSON_IsString(mode) && strcmp(mode->valuestring, "disable") == 0) f->failsafe_mode = LSH_FAILSAFE_MODE_DISABLE;
    else if (cJSON_IsString(mode) && strcmp(mode->valuestring, "safe_current") == 0) f->failsafe_mode = LSH_FAILSAFE_MODE_SAFE_CURRENT;
    else return fail(why, why_size, "%s must be equal to one of the allowed values", "loadsharing_failsafe_mode");
    struct { const char *key; double *into; } numbers[] = {
        {"loadsharing_group_max_current", &f->group_max_current_a},
        {"loadsharing_safety_factor", &f->safety_factor},
        {"loadsharing_heartbeat_timeout", &f->heartbeat_timeout_s},
        {"loadsharing_failsafe_safe_current", &f->failsafe_safe_current_a},
        {"loadsharing_failsafe_peer_assumed_current", &f->failsafe_peer_assumed_current_a},
        {"loadsharing_rotation_interval", &f->rotation_interval_s},
    };
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(d, numbers[i].key);
        if (!cJSON_IsNumber(item)) return fail(why, why_size, "%s must be number", numbers[i].key);
        *numbers[i].into = item->valuedouble;
    }
    return lsh_group_fields_check(f, why, why_size);
}

static const char *read_members(const cJSON *list, lsh_group_doc_t *out, char *why, size_t why_size) {
    if (!cJSON_IsArray(list)) return fail(why, why_size, "%s must be an array", "loadsharing_members");
    if (cJSON_GetArraySize(list) > LSH_MEMBERS_MAX) return fail(why, why_size, "%s has more than 16 members", "loadsharing_members");
    out->member_count = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, list) {
        const cJSON *host = cJSON_GetObjectItemCaseSensitive(item, "host");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
        if (!cJSON_IsString(host) || !lsh_host_valid(host->valuestring)) return fail(why, why_size, "%s: bad host", "loadsharing_members");
        if (id != NULL && !cJSON_IsNull(id) && !(cJSON_IsString(id) && lsh_peer_id_valid(id->valuestring))) {
            return fail(why, why_size, "%s: bad id", "loadsharing_members");
        }
        lsh_member_ref_t *ref = &out->members[out->member_count++];
        snprintf(ref->host, sizeof(ref->host), "%s", host->valuestring);
        snprintf(ref->id, sizeof(ref->id), "%s", cJSON_IsString(id) ? id->valuestring : "");
    }
    return NULL;
}

const char *lsh_group_doc_parse(const char *text, size_t len, int strict_keys, lsh_group_doc_t *out, char *why, size_t why_size) {
    memset(out, 0, sizeof(*out));
    cJSON *d = cJSON_ParseWithLength(text, len);
    const char *problem = NULL;
    if (!cJSON_IsObject(d)) {
        problem = fail(why, why_size, "%s is not an object", "config");
        goto done;
    }
    if (strict_keys) {
        const cJSON *item = NULL;
        cJSON_ArrayForEach(item, d) {
            if (!in_list(item->string, group_keys, 8) && !in_list(item->string, meta_keys, 4)) {
                snprintf(why, why_size, "a config push carries only group fields; %s refused", item->string);
                problem = why;
                goto done;
            }
        }
    }
    problem = read_fields(d, &out->fields, why, why_size);
    if (problem != NULL) goto done;
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(d, "loadsharing_config_version");
    const cJSON *updated = cJSON_GetObjectItemCaseSensitive(d, "loadsharing_config_updated_at");
    const cJSON *origin = cJSON_GetObjectItemCaseSensitive(d, "loadsharing_config_origin");
    if (!cJSON_IsNumber(version) || !safe_integer(version->valuedouble) || version->valuedouble < 0) {
        problem = fail(why, why_size, "%s must be a non-negative integer", "loadsharing_config_version");
        goto done;
    }
    if (!cJSON_IsNumber(updated) || !safe_integer(updated->valuedouble) || updated->valuedouble < 0) {
        problem = fail(why, why_size, "%s must be a non-negative integer", "loadsharing_config_updated_at");
        goto done;
    }
    if (origin != NULL && !(cJSON_IsString(origin) && (origin->valuestring[0] == '\0' || lsh_peer_id_valid(origin->valuestring)))) {
        problem = fail(why, why_size, "%s must be a member id", "loadsharing_config_origin");
        goto done;
    }
    out->meta.version = version->valuedouble;
    out->meta.updated_at_s = updated->valuedouble;
    snprintf(out->meta.origin, sizeof(out->meta.origin), "%s", origin != NULL ? origin->valuestring : "");
    problem = read_members(cJSON_GetObjectItemCaseSensitive(d, "loadsharing_members"), out, why, why_size);
done:
    cJSON_Delete(d);
    return problem;
}

/* ---- the member table and the engine ---- */

static void hex_of(const uint8_t *bytes, size_t size, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15u];
    }
    out[2 * size] = '\0';
}

/* Node's placeholder_id: "?HOST", or "?" and 16 hex digits of SHA-256(host) when too long. */
static void placeholder_id(const char *host, char out[LSH_ID_BYTES_MAX + 1]) {
    if (strlen(host) + 1 <= LSH_ID_BYTES_MAX) {
        snprintf(out, LSH_ID_BYTES_MAX + 1, "?%s", host);
        return;
    }
    uint8_t digest[32];
    char hex[65];
    mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *)host, strlen(host), digest);
    hex_of(digest, sizeof(digest), hex);
    snprintf(out, LSH_ID_BYTES_MAX + 1, "?%.16s", hex);
}

static void set_member_id(lsh_member_peer_t *p) {
    if (p->ref.id[0] != '\0') memcpy(p->member_id, p->ref.id, strlen(p->ref.id) + 1);
    else placeholder_id(p->ref.host, p->member_id);
}

const char *lsh_member_peer_member_id(const lsh_member_t *m, uint32_t index) {
    return index < m->peer_count + m->held_count ? m->peers[index].member_id : NULL;
}

void lsh_member_engine_config(const lsh_member_t *m, lsh_group_config_t *c) {
    memset(c, 0, sizeof(*c));
    c->group_id = m->fields.group_id;
    c->group_max_current_a = m->fields.group_max_current_a;
    c->safety_factor = m->fields.safety_factor;
    c->heartbeat_timeout_s = m->fields.heartbeat_timeout_s;
    c->failsafe_mode = m->fields.failsafe_mode;
    c->failsafe_safe_current_a = m->fields.failsafe_safe_current_a;
    c->failsafe_peer_assumed_current_a = m->fields.failsafe_peer_assumed_current_a;
    c->rotation_interval_s = m->fields.rotation_interval_s;
    /* The members leaving count too: the controller's heartbeat current is an equal part over
     * everyone who may still draw from this breaker (Node's heartbeat_current_a). */
    c->member_count = m->peer_count + m->held_count + 1;
}

/* The config the controller's supervision is set from: the one in force, with the failsafe
 * current held to the smallest the group told (the last decision's rule 8 settings). The others
 * reserve a member they have lost at the failsafe current they know, so a raise of it written
 * here binds this controller only once the group agrees, as on the Node host (fuzz seed
 * 12511300: 8 A written on a charger as it crashed; its controller fell to 7 A where the others
 * reserved 6 A). */
static void supervision_config(const lsh_member_t *m, lsh_group_config_t *c) {
    lsh_member_engine_config(m, c);
    if (m->told_failsafe_a >= 0.0 && m->told_failsafe_a < c->failsafe_safe_current_a) c->failsafe_safe_current_a = m->told_failsafe_a;
}

static double json_number(const cJSON *object, const char *key, double fallback, int *present) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    const int ok = cJSON_IsNumber(item) && isfinite(item->valuedouble);
    if (present != NULL) *present = ok;
    return ok ? item->valuedouble : fallback;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Node's peer_member reading of a status document (the engine then clamps as Node does). The
 * strings point into doc. */
static void read_peer_status(const cJSON *doc, const char *member_id, lsh_member_status_t *s) {
    memset(s, 0, sizeof(*s));
    s->id = member_id;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(doc, "loadsharing");
    s->vehicle = (uint32_t)json_number(doc, "vehicle", 0.0, NULL);
    s->state = (uint32_t)json_number(doc, "state", 1.0, NULL);
    s->amp_ma = json_number(doc, "amp", 0.0, NULL);
    s->voltage_v = json_number(doc, "voltage", 240.0, NULL);
    int status_max_present = 0;
    const double status_max = json_number(doc, "max_current", 32.0, &status_max_present);
    s->demand = -1;
    if (!cJSON_IsObject(b)) {
        s->no_loadsharing_block = 1;
        s->min_current_a = 6.0;
        s->max_current_a = status_max;
        s->max_current_stated = status_max_present;
        s->pilot_a = json_number(doc, "pilot", 0.0, &s->has_pilot);
        return;
    }
    s->min_current_a = json_number(b, "min_current", 6.0, NULL);
    s->max_current_a = json_number(b, "max_current", status_max, NULL);
    s->priority = (int32_t)trunc(json_number(b, "priority", 0.0, NULL));
    const cJSON *demand = cJSON_GetObjectItemCaseSensitive(b, "demand");
    if (cJSON_IsBool(demand)) s->demand = cJSON_IsTrue(demand) ? 1 : 0;
    s->degraded = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "degraded"));
    const cJSON *seen = cJSON_GetObjectItemCaseSensitive(b, "seen");
    if (cJSON_IsArray(seen)) {
        s->has_seen = 1;
        const cJSON *item = NULL;
        uint32_t taken = 0;
        cJSON_ArrayForEach(item, seen) {
            if (taken++ >= LSH_MEMBERS_MAX) break; /* Node keeps the first 16 (keep_known_keys) */
            if (cJSON_IsString(item)) s->seen_ids[s->seen_count++] = item->valuestring;
        }
    }
    const cJSON *alloc = cJSON_GetObjectItemCaseSensitive(b, "alloc");
    if (cJSON_IsObject(alloc)) {
        s->has_alloc = 1;
        const cJSON *item = NULL;
        uint32_t taken = 0;
        cJSON_ArrayForEach(item, alloc) {
            if (taken++ >= LSH_MEMBERS_MAX) break;
            if (!cJSON_IsNumber(item)) continue;
            s->alloc[s->alloc_count].id = item->string;
            s->alloc[s->alloc_count].current_a = item->valuedouble;
            s->alloc_count++;
        }
    }
    s->applied_a = json_number(b, "applied_current", 0.0, &s->has_applied);
    s->committed_a = json_number(b, "committed_current", 0.0, &s->has_committed);
    s->demand_cap_a = json_number(b, "demand_cap", 0.0, &s->has_demand_cap);
    s->group_max_current_a = json_number(b, "group_max_current", 0.0, &s->has_group_max_current);
    s->safety_factor = json_number(b, "safety_factor", 0.0, &s->has_safety_factor);
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(b, "config_hash");
    if (cJSON_IsString(hash) && strlen(hash->valuestring) == LSH_HASH_BYTES * 2) {
        int ok = 1;
        for (size_t i = 0; i < LSH_HASH_BYTES && ok; i++) {
            const int hi = hex_digit(hash->valuestring[2 * i]);
            const int lo = hex_digit(hash->valuestring[2 * i + 1]);
            if (hi < 0 || lo < 0) ok = 0;
            else s->config_hash[i] = (uint8_t)(hi * 16 + lo);
        }
        s->has_config_hash = ok;
    }
    int has_timeout = 0, has_safe = 0, has_assumed = 0;
    s->heartbeat_timeout_s = json_number(b, "heartbeat_timeout", 0.0, &has_timeout);
    s->failsafe_safe_current_a = json_number(b, "failsafe_safe_current", 0.0, &has_safe);
    s->failsafe_peer_assumed_current_a = json_number(b, "failsafe_peer_assumed_current", 0.0, &has_assumed);
    s->has_safety_settings = has_timeout && has_safe && has_assumed;
    s->alone_confirmed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "alone_confirmed"));
}

static void feed_peer(lsh_member_t *m, lsh_member_peer_t *p) {
    if (!m->engine_ready || !p->heard || p->doc == NULL) return;
    lsh_member_status_t status;
    read_peer_status(p->doc, p->member_id, &status);
    const lsh_result_t result = lsh_engine_handle_status(&m->engine, &status, p->heard_mono_ms);
    if (result != lsh_ok) lsh_platform_log(LSH_LOG_WARN, "member: status of %s not taken (%s)", p->member_id, result);
}

static void shaper_none(void *context, double limit_a) {
    (void)context;
    (void)limit_a;
}

/* The engine for the config and members in force, and the members leaving it still holds
 * (rule 8: as Node's engine keeps them, with the leaving flag). Its decision state (the limit
 * applied, the committed current, the carry) carries over, as Node's engine keeps it across
 * handle_config and add_member/remove_member; every peer's last document is handed in again,
 * with the time it arrived. */
static const char *rebuild_engine(lsh_member_t *m) {
    lsh_group_config_t config;
    lsh_member_engine_config(m, &config);
    const char *ids[LSH_MEMBERS_MAX];
    ids[0] = m->self_id;
    for (uint32_t i = 0; i < m->peer_count; i++) ids[i + 1] = m->peers[i].member_id;
    const int was_ready = m->engine_ready;
    const int decided = m->engine.decided;
    const double applied_a = m->engine.applied_a;
    const double committed_a = m->engine.committed_a;
    const double demand_cap_a = m->engine.demand_cap_a;
    if (was_ready) memcpy(m->carry_keep, m->engine.carry, LSH_CARRY_SIZE);
    const lsh_shaper_t none = {NULL, shaper_none};
    /* The first engine gets the carry persisted before a restart (kept in carry_keep by init). */
    const int carry_known = was_ready || m->carry_given;
    const lsh_result_t result = lsh_engine_init(&m->engine, m->runtime, &config, m->self_id, ids, m->peer_count + 1, m->clock_epoch,
                                                carry_known ? m->carry_keep : NULL, was_ready ? &none : &m->shaper);
    m->engine.shaper = m->shaper;
    if (result != lsh_ok) {
        m->engine_ready = 0;
        snprintf(m->last_error, sizeof(m->last_error), "engine: %s", result);
        lsh_platform_log(LSH_LOG_ERROR, "member: engine not set up (%s); applying 0 A", result);
        if (m->shaper.set_limit_a != NULL) m->shaper.set_limit_a(m->shaper.context, 0.0);
        return m->last_error;
    }
    m->engine_ready = 1;
    lsh_engine_confirm_alone(&m->engine, m->alone_confirmed);
    if (was_ready) {
        m->engine.decided = decided;
        m->engine.applied_a = applied_a;
        m->engine.committed_a = committed_a;
        m->engine.demand_cap_a = demand_cap_a;
    }
    /* Leaving: never heard (restored after a restart) it stays so; heard, its last status says
     * when (a removed member's row is the one it had, with the leaving flag). */
    for (uint32_t i = m->peer_count; i < m->peer_count + m->held_count; i++) {
        const lsh_result_t held = lsh_engine_restore_leaving(&m->engine, m->peers[i].member_id);
        if (held != lsh_ok) lsh_platform_log(LSH_LOG_WARN, "member: %s (leaving) not held (%s)", m->peers[i].member_id, held);
    }
    for (uint32_t i = 0; i < m->peer_count + m->held_count; i++) feed_peer(m, &m->peers[i]);
    return NULL;
}

/* ---- is it us? (addresses.ts is_self_host) ---- */

/* An endpoint as a client would connect to it: the address (lower case, no brackets, no
 * trailing dot) and the port (-1: none given). 0 when the text is not HOST[:PORT]. */
typedef struct endpoint {
    char address[LSH_HOST_BYTES_MAX + 1];
    long port;
    int ipv4;                          /* 1: address is the canonical dotted quad of ipv4_value */
    uint32_t ipv4_value;
} endpoint_t;

/* One IPv4 part as the WHATWG URL parser reads it: decimal, 0x hex or 0-led octal. */
static int ipv4_part(const char *text, size_t len, uint64_t *out) {
    if (len == 0) return 0;
    unsigned base = 10;
    if (len >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text += 2;
        len -= 2;
    } else if (len >= 2 && text[0] == '0') {
        base = 8;
        text++;
        len--;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        const char c = text[i];
        unsigned digit;
        if (c >= '0' && c <= '9') digit = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') digit = (unsigned)(c - 'a') + 10u;
        else return 0;
        if (digit >= base) return 0;
        value = value * base + digit;
        if (value > 0xFFFFFFFFull) return 0;
    }
    *out = value;
    return 1;
}

/* "127.1", "0x7f.0.0.1", "2130706433", "127.0.0.1" -> 0x7f000001. 0 when not an IPv4 address. */
static int ipv4_parse(const char *text, uint32_t *out) {
    uint64_t parts[4];
    size_t count = 0;
    const char *start = text;
    for (const char *c = text;; c++) {
        if (*c == '.' || *c == '\0') {
            if (count == 4 || !ipv4_part(start, (size_t)(c - start), &parts[count])) return 0;
            count++;
            if (*c == '\0') break;
            start = c + 1;
        }
    }
    uint64_t value = 0;
    for (size_t i = 0; i + 1 < count; i++) {
        if (parts[i] > 255) return 0;
        value |= parts[i] << (8 * (3 - i));
    }
    const uint64_t last_max = count == 4 ? 0xFFull : 0xFFFFFFFFull >> (8 * (count - 1));
    if (parts[count - 1] > last_max) return 0;
    *out = (uint32_t)(value | parts[count - 1]);
    return 1;
}

static int parse_endpoint(const char *text, endpoint_t *e) {
    memset(e, 0, sizeof(*e));
    e->port = -1;
    if (text == NULL) return 0;
    while (*text == ' ' || *text == '\t') text++;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t')) len--;
    if (len == 0 || len > LSH_HOST_BYTES_MAX) return 0;
    char buffer[LSH_HOST_BYTES_MAX + 1];
    memcpy(buffer, text, len);
    buffer[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (buffer[i] >= 'A' && buffer[i] <= 'Z') buffer[i] = (char)(buffer[i] - 'A' + 'a');
    }
    char *address = buffer;
    char *port = NULL;
    if (buffer[0] == '[') {
        char *close = strchr(buffer, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':')) return 0;
        *close = '\0';
        address = buffer + 1;
        if (close[1] == ':') port = close + 2;
    } else {
        char *colon = strchr(buffer, ':');
        if (colon != NULL) {
            if (strchr(colon + 1, ':') != NULL) return 0; /* IPv6 needs brackets with a port */
            *colon = '\0';
            port = colon + 1;
        }
    }
    if (port != NULL && *port != '\0') { /* "host:" is host without a port, as URL reads it */
        long value = 0;
        for (const char *c = port; *c != '\0'; c++) {
            if (*c < '0' || *c > '9') return 0;
            value = value * 10 + (*c - '0');
            if (value > 65535) return 0;
        }
        e->port = value;
    }
    size_t address_len = strlen(address);
    if (address_len > 1 && address[address_len - 1] == '.' && address[0] != '[') address[--address_len] = '\0';
    if (address_len == 0) return 0;
    if (ipv4_parse(address, &e->ipv4_value)) {
        e->ipv4 = 1;
        snprintf(e->address, sizeof(e->address), "%u.%u.%u.%u", (unsigned)(e->ipv4_value >> 24), (unsigned)(e->ipv4_value >> 16 & 255u),
                 (unsigned)(e->ipv4_value >> 8 & 255u), (unsigned)(e->ipv4_value & 255u));
    } else {
        snprintf(e->address, sizeof(e->address), "%s", address);
    }
    return 1;
}

static int endpoint_unspecified(const endpoint_t *e) {
    return (e->ipv4 && e->ipv4_value == 0) || strcmp(e->address, "::") == 0;
}

static int endpoint_loopback(const endpoint_t *e) {
    return (e->ipv4 && (e->ipv4_value >> 24) == 127u) || strcmp(e->address, "::1") == 0;
}

int lsh_host_is_self(const char *host, const char *self_address) {
    endpoint_t candidate, self;
    if (!parse_endpoint(host, &candidate) || !parse_endpoint(self_address, &self)) return 0;
    if (candidate.port >= 0 && candidate.port != (self.port >= 0 ? self.port : 80)) return 0;
    if (strcmp(candidate.address, "localhost") == 0) return 1;
    if (strcmp(candidate.address, self.address) == 0) return 1;
    if (endpoint_unspecified(&candidate)) return 1;
    return endpoint_unspecified(&self) && endpoint_loopback(&candidate);
}

int lsh_member_is_me(const void *context, const char *to) {
    const lsh_member_t *m = context;
    if (m == NULL || to == NULL || to[0] == '\0') return 0;
    return strcmp(to, m->self_id) == 0 || lsh_host_is_self(to, m->self_address);
}

const char *lsh_member_destination(const lsh_member_t *m, uint32_t index) {
    if (index >= m->peer_count + m->held_count) return "";
    return m->peers[index].ref.id[0] != '\0' ? m->peers[index].ref.id : m->peers[index].ref.host;
}

int lsh_member_sync_active(const lsh_member_t *m) {
    return m->sync_enabled && m->has_group_key;
}

static void config_changed(lsh_member_t *m) {
    lsh_group_config_t config;
    m->general_config_version += 1.0;
    rebuild_engine(m);
    supervision_config(m, &config);
    lsh_supervisor_configure(&m->supervisor, &config);
}

static void reset_peer(lsh_member_peer_t *p, const char *host, const char *id) {
    memset(p, 0, sizeof(*p));
    snprintf(p->ref.host, sizeof(p->ref.host), "%s", host);
    snprintf(p->ref.id, sizeof(p->ref.id), "%s", id != NULL ? id : "");
    p->last_push_status = -1;
    set_member_id(p);
}

/* Slot `index` (a member or one leaving) leaves the list; its document is freed. */
static void remove_slot(lsh_member_t *m, uint32_t index) {
    const uint32_t total = m->peer_count + m->held_count;
    cJSON_Delete(m->peers[index].doc);
    memmove(&m->peers[index], &m->peers[index + 1], (total - index - 1) * sizeof(m->peers[0]));
    memset(&m->peers[total - 1], 0, sizeof(m->peers[0]));
    if (index < m->peer_count) m->peer_count--;
    else m->held_count--;
}

char *lsh_member_peers_json(const lsh_member_t *m) {
    cJSON *d = cJSON_CreateObject();
    cJSON *peers = cJSON_AddArrayToObject(d, "peers");
    cJSON_AddBoolToObject(d, "alone_confirmed", m->alone_confirmed);
    cJSON *leaving = cJSON_AddArrayToObject(d, "leaving");
    for (uint32_t i = 0; i < m->peer_count + m->held_count; i++) {
        const lsh_member_peer_t *p = &m->peers[i];
        /* A member leaving comes back by its id only (it is reserved under it). */
        if (i >= m->peer_count && p->ref.id[0] == '\0') continue;
        cJSON *ref = cJSON_CreateObject();
        cJSON_AddStringToObject(ref, "host", p->ref.host);
        if (p->ref.id[0] != '\0') cJSON_AddStringToObject(ref, "id", p->ref.id);
        else cJSON_AddNullToObject(ref, "id");
        cJSON_AddItemToArray(i < m->peer_count ? peers : leaving, ref);
    }
    char *text = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return text;
}

/* The members and those leaving, stored (Node's save_peers): a failed write is logged, the
 * list in memory stays in force. */
static void save_peers(lsh_member_t *m) {
    if (m->store_key[0] == '\0') return;
    char *text = lsh_member_peers_json(m);
    const lsh_result_t result = text != NULL ? lsh_platform_store_write(m->store_key, (const uint8_t *)text, strlen(text)) : lsh_err_argument;
    if (result != lsh_ok) lsh_platform_log(LSH_LOG_ERROR, "store: cannot write the peers (%s)", result);
    cJSON_free(text);
}

/* What the peers document stored before a restart brings back: whether a person set this
 * charger up on its own (absent or not a boolean: the default stays), and the members removed
 * and silent (the leaving list): back as leaving, never heard, so reserved until each says it
 * is on its own or a person says it is gone. */
static void restore_stored(lsh_member_t *m) {
    enum { peers_doc_bytes_max = 4096 };  /* 15 entries of a 63-byte host and a 32-byte id fit twice */
    if (m->store_key[0] == '\0') return;
    char *text = malloc(peers_doc_bytes_max);
    size_t size = 0;
    if (text == NULL || lsh_platform_store_read(m->store_key, (uint8_t *)text, peers_doc_bytes_max, &size) != lsh_ok) {
        free(text);
        return;
    }
    cJSON *d = cJSON_ParseWithLength(text, size);
    free(text);
    const cJSON *alone = cJSON_GetObjectItemCaseSensitive(d, "alone_confirmed");
    if (cJSON_IsBool(alone)) m->alone_confirmed = cJSON_IsTrue(alone);
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(d, "leaving")) {
        const cJSON *host = cJSON_GetObjectItemCaseSensitive(item, "host");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
        if (!cJSON_IsString(host) || !lsh_host_valid(host->valuestring) || !cJSON_IsString(id) || !lsh_peer_id_valid(id->valuestring)) {
            lsh_platform_log(LSH_LOG_WARN, "store: a bad leaving entry dropped");
            continue;
        }
        int known = strcmp(id->valuestring, m->self_id) == 0 || lsh_host_is_self(host->valuestring, m->self_address);
        for (uint32_t i = 0; i < m->peer_count + m->held_count && !known; i++) {
            known = strcmp(m->peers[i].ref.host, host->valuestring) == 0 || strcmp(m->peers[i].ref.id, id->valuestring) == 0;
        }
        if (known || m->peer_count + m->held_count >= LSH_PEERS_MAX) continue;
        lsh_member_peer_t *p = &m->peers[m->peer_count + m->held_count++];
        reset_peer(p, host->valuestring, id->valuestring);
        p->leaving = 1;
        lsh_platform_log(LSH_LOG_INFO, "peer: %s: removed but silent before the restart: still reserved until it says it is on its own, "
                         "or a person says it is gone", host->valuestring);
    }
    cJSON_Delete(d);
}

const char *lsh_member_init(lsh_member_t *m, const lsh_member_options_t *o) {
    memset(m, 0, sizeof(*m));
    m->told_failsafe_a = -1.0;
    if (o == NULL || !lsh_peer_id_valid(o->self_id) || o->config == NULL || o->runtime == NULL || o->peer_count > LSH_PEERS_MAX) {
        return "bad member options";
    }
    snprintf(m->self_id, sizeof(m->self_id), "%s", o->self_id);
    snprintf(m->self_address, sizeof(m->self_address), "%s", o->self_address != NULL ? o->self_address : "");
    snprintf(m->module_hash, sizeof(m->module_hash), "%s", o->module_hash_hex != NULL ? o->module_hash_hex : "");
    m->fields = o->config->fields;
    m->meta = o->config->meta;
    if (lsh_group_fields_check(&m->fields, m->last_error, sizeof(m->last_error)) != NULL) return m->last_error;
    m->priority = o->priority;
    m->sync_enabled = o->sync_enabled;
    m->has_group_key = o->has_group_key;
    m->general_config_version = 1.0;
    m->runtime = o->runtime;
    m->clock_epoch = o->clock_epoch;
    m->shaper = o->shaper;
    if (o->carry != NULL) {
        memcpy(m->carry_keep, o->carry, LSH_CARRY_SIZE);
        m->carry_given = 1;
    }
    if (o->store_key != NULL) snprintf(m->store_key, sizeof(m->store_key), "%s", o->store_key);
    for (uint32_t i = 0; i < o->peer_count; i++) {
        if (!lsh_host_valid(o->peer_hosts[i])) {
            snprintf(m->last_error, sizeof(m->last_error), "bad peer host %s", o->peer_hosts[i]);
            return m->last_error;
        }
        reset_peer(&m->peers[m->peer_count++], o->peer_hosts[i], NULL);
    }
    /* A charger set up with no members is on its own by a person's choice (Node's default); one
     * that starts with members is in a group, whatever was stored (Node's add_record clears it). */
    m->alone_confirmed = m->peer_count == 0;
    restore_stored(m);
    if (m->peer_count > 0) m->alone_confirmed = 0;
    lsh_supervisor_init(&m->supervisor, &o->rapi);
    const char *problem = rebuild_engine(m);
    if (problem != NULL) return problem;
    save_peers(m);
    lsh_group_config_t config;
    supervision_config(m, &config);
    lsh_supervisor_configure(&m->supervisor, &config);
    return NULL;
}

void lsh_member_free(lsh_member_t *m) {
    for (uint32_t i = 0; i < m->peer_count + m->held_count; i++) {
        cJSON_Delete(m->peers[i].doc);
        m->peers[i].doc = NULL;
    }
}

/* ---- sync: outbound ---- */

double lsh_member_backoff_ms(uint32_t attempt) {
    const double ms = LSH_BACKOFF_INITIAL_MS * pow(2.0, attempt > 16u ? 16.0 : (double)attempt);
    return ms < LSH_BACKOFF_MAX_MS ? ms : LSH_BACKOFF_MAX_MS;
}

static void owe(lsh_member_peer_t *p, double version) {
    p->owed = 1;
    p->owed_version = version;
    p->attempts = 0;
    p->next_push_ms = 0.0; /* at once */
}

static void push_all(lsh_member_t *m) {
    /* Report-only: a keyed charger would not take it unsigned, and a keyless one adopts nothing. */
    if (!lsh_member_sync_active(m)) return;
    for (uint32_t i = 0; i < m->peer_count; i++) {
        m->peers[i].leaving = 0;
        owe(&m->peers[i], m->meta.version);
    }
}

static void add_fields(cJSON *d, const lsh_group_fields_t *f) {
    cJSON_AddStringToObject(d, "loadsharing_group_id", f->group_id);
    cJSON_AddNumberToObject(d, "loadsharing_group_max_current", f->group_max_current_a);
    cJSON_AddNumberToObject(d, "loadsharing_safety_factor", f->safety_factor);
    cJSON_AddNumberToObject(d, "loadsharing_heartbeat_timeout", f->heartbeat_timeout_s);
    cJSON_AddStringToObject(d, "loadsharing_failsafe_mode", f->failsafe_mode == LSH_FAILSAFE_MODE_DISABLE ? "disable" : "safe_current");
    cJSON_AddNumberToObject(d, "loadsharing_failsafe_safe_current", f->failsafe_safe_current_a);
    cJSON_AddNumberToObject(d, "loadsharing_failsafe_peer_assumed_current", f->failsafe_peer_assumed_current_a);
    cJSON_AddNumberToObject(d, "loadsharing_rotation_interval", f->rotation_interval_s);
}

static void add_meta_and_members(const lsh_member_t *m, cJSON *d, const char *leaving_host) {
    cJSON_AddNumberToObject(d, "loadsharing_config_version", m->meta.version);
    cJSON_AddNumberToObject(d, "loadsharing_config_updated_at", m->meta.updated_at_s);
    cJSON_AddStringToObject(d, "loadsharing_config_origin", m->meta.origin);
    cJSON *members = cJSON_AddArrayToObject(d, "loadsharing_members");
    cJSON *self = cJSON_CreateObject();
    cJSON_AddStringToObject(self, "host", m->self_address);
    cJSON_AddStringToObject(self, "id", m->self_id);
    cJSON_AddItemToArray(members, self);
    for (uint32_t i = 0; i < m->peer_count; i++) {
        if (leaving_host != NULL && strcmp(m->peers[i].ref.host, leaving_host) == 0) continue;
        cJSON *ref = cJSON_CreateObject();
        cJSON_AddStringToObject(ref, "host", m->peers[i].ref.host);
        if (m->peers[i].ref.id[0] != '\0') cJSON_AddStringToObject(ref, "id", m->peers[i].ref.id);
        else cJSON_AddNullToObject(ref, "id");
        cJSON_AddItemToArray(members, ref);
    }
}

char *lsh_member_group_json(const lsh_member_t *m, const char *leaving_host) {
    cJSON *d = cJSON_CreateObject();
    add_fields(d, &m->fields);
    add_meta_and_members(m, d, leaving_host);
    char *text = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return text;
}

char *lsh_member_config_json(const lsh_member_t *m) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "hostname", m->self_id);
    cJSON_AddBoolToObject(d, "loadsharing_enabled", 1);
    add_fields(d, &m->fields);
    cJSON_AddNumberToObject(d, "loadsharing_priority", m->priority);
    add_meta_and_members(m, d, NULL);
    char *text = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return text;
}

int lsh_member_next_action(lsh_member_t *m, double now_ms, lsh_member_action_t *a) {
    memset(a, 0, sizeof(*a));
    for (int leaving = 1; leaving >= 0; leaving--) {
        lsh_member_peer_t *list = leaving ? m->leaving : m->peers;
        const uint32_t count = leaving ? m->leaving_count : m->peer_count;
        for (uint32_t i = 0; i < count; i++) {
            lsh_member_peer_t *p = &list[i];
            if (!p->owed || now_ms < p->next_push_ms) continue;
            a->kind = LSH_ACTION_PUSH;
            a->leaving = leaving;
            a->index = i;
            snprintf(a->host, sizeof(a->host), "%s", p->ref.host);
            snprintf(a->to, sizeof(a->to), "%s", p->ref.id[0] != '\0' ? p->ref.id : p->ref.host);
            a->version = m->meta.version;
            a->body = lsh_member_group_json(m, leaving ? p->ref.host : NULL);
            return a->body != NULL;
        }
    }
    for (uint32_t i = 0; i < m->peer_count; i++) {
        lsh_member_peer_t *p = &m->peers[i];
        if (!p->fetch_wanted || now_ms < p->fetch_not_before_ms) continue;
        p->fetch_wanted = 0;
        a->kind = LSH_ACTION_FETCH;
        a->index = i;
        snprintf(a->host, sizeof(a->host), "%s", p->ref.host);
        snprintf(a->to, sizeof(a->to), "%s", lsh_member_destination(m, i));
        return 1;
    }
    return 0;
}

void lsh_member_action_free(lsh_member_action_t *a) {
    if (a->body != NULL) cJSON_free(a->body);
    a->body = NULL;
}

static lsh_member_peer_t *action_target(lsh_member_t *m, const lsh_member_action_t *a) {
    lsh_member_peer_t *list = a->leaving ? m->leaving : m->peers;
    const uint32_t count = a->leaving ? m->leaving_count : m->peer_count;
    if (a->index >= count || strcmp(list[a->index].ref.host, a->host) != 0) return NULL;
    return &list[a->index];
}

static void forget_leaving(lsh_member_t *m, uint32_t index) {
    memmove(&m->leaving[index], &m->leaving[index + 1], (m->leaving_count - index - 1) * sizeof(m->leaving[0]));
    m->leaving_count--;
}

static void want_fetch(lsh_member_t *m, lsh_member_peer_t *p, double now_ms);

void lsh_member_push_result(lsh_member_t *m, const lsh_member_action_t *a, int status, double now_ms) {
    lsh_member_peer_t *p = action_target(m, a);
    if (p == NULL) return; /* the member left meanwhile */
    p->last_push_status = status;
    if (status == 200 || status == 409) {
        if (status == 409) lsh_platform_log(LSH_LOG_INFO, "sync: %s has a newer config than version %.0f; fetching it", a->host, a->version);
        else lsh_platform_log(LSH_LOG_INFO, "sync: version %.0f delivered to %s", a->version, a->host);
        if (a->leaving) {
            forget_leaving(m, a->index);
            return;
        }
        if (m->meta.version != a->version) {
            p->next_push_ms = 0.0; /* changed meanwhile: the new one goes next */
            return;
        }
        p->owed = 0;
        p->attempts = 0;
        if (status == 409) {
            p->fetch_done_key[0] = '\0';
            p->fetch_not_before_ms = 0.0;
            want_fetch(m, p, now_ms);
        }
        return;
    }
    if (a->leaving && p->attempts + 1 >= LSH_LEAVING_ATTEMPTS_MAX) {
        lsh_platform_log(LSH_LOG_WARN, "sync: %s (removed) not told after %u attempts; forgotten", a->host, (unsigned)(p->attempts + 1));
        forget_leaving(m, a->index);
        return;
    }
    const double delay_ms = lsh_member_backoff_ms(p->attempts);
    p->attempts++;
    p->next_push_ms = now_ms + delay_ms;
    lsh_platform_log(LSH_LOG_WARN, "sync: push of version %.0f to %s %s (%d); retry in %g s", a->version, a->host,
                     status == 0 ? "failed" : "refused", status, delay_ms / 1000.0);
}

/* ---- sync: inbound ---- */

static void our_hash(const lsh_member_t *m, char out[LSH_HASH_BYTES * 2 + 1]) {
    hex_of(m->engine.config_hash, LSH_HASH_BYTES, out);
}

static void want_fetch(lsh_member_t *m, lsh_member_peer_t *p, double now_ms) {
    char key[sizeof(p->fetch_key)];
    snprintf(key, sizeof(key), "%.0f|%s", p->has_version ? p->version : -1.0, p->hash);
    (void)m;
    if (strcmp(key, p->fetch_done_key) == 0 || now_ms < p->fetch_not_before_ms) return;
    memcpy(p->fetch_key, key, sizeof(key));
    p->fetch_wanted = 1;
}

static int same_ref(const lsh_member_ref_t *a, const lsh_member_ref_t *b) {
    return strcmp(a->host, b->host) == 0 || (a->id[0] != '\0' && strcmp(a->id, b->id) == 0);
}

/* The member list of an adopted config (charger.ts set_members): peers not in it leave, new ones
 * join; a list without this charger means it was removed, and it leaves every member. */
static void set_members(lsh_member_t *m, const lsh_group_doc_t *doc) {
    lsh_member_ref_t others[LSH_MEMBERS_MAX];
    uint32_t other_count = 0;
    int unknown_ids = 0;
    for (uint32_t i = 0; i < doc->member_count; i++) {
        const lsh_member_ref_t *r = &doc->members[i];
        if (strcmp(r->id, m->self_id) == 0 || strcmp(r->host, m->self_address) == 0) continue;
        if (r->id[0] == '\0') unknown_ids = 1;
        others[other_count++] = *r;
    }
    const int listed = other_count < doc->member_count;
    if (!listed && unknown_ids) {
        lsh_platform_log(LSH_LOG_WARN, "peer: group config lists members by unknown ids and not us by name; member list unchanged");
        return;
    }
    if (!listed) {
        if (other_count > 0) lsh_platform_log(LSH_LOG_WARN, "peer: removed from the group by a peer: leaving every member");
        other_count = 0;
    }
    for (uint32_t i = 0; i < m->peer_count;) {
        int wanted = 0;
        for (uint32_t k = 0; k < other_count && !wanted; k++) wanted = same_ref(&others[k], &m->peers[i].ref);
        if (wanted) {
            i++;
            continue;
        }
        lsh_platform_log(LSH_LOG_INFO, "peer: left %s (group config)", m->peers[i].ref.host);
        /* Heard or not, it may still charge on this breaker (one never heard may be cut off and
         * never told of its removal: seed 12209538), and is reserved as leaving (rule 8) until
         * it says it is on its own or a person says it is gone; its status is still read. */
        lsh_member_peer_t leaving = m->peers[i];
        const uint32_t total = m->peer_count + m->held_count;
        memmove(&m->peers[i], &m->peers[i + 1], (total - i - 1) * sizeof(m->peers[0]));
        leaving.leaving = 1;
        leaving.owed = 0;
        leaving.fetch_wanted = 0;
        m->peers[total - 1] = leaving;
        m->peer_count--;
        m->held_count++;
    }
    for (uint32_t k = 0; k < other_count; k++) {
        int known = 0;
        for (uint32_t i = 0; i < m->peer_count && !known; i++) known = same_ref(&others[k], &m->peers[i].ref);
        if (known || m->peer_count >= LSH_PEERS_MAX) continue;
        /* One leaving that is back before it was forgotten: a member again, its status kept. */
        int back = -1;
        for (uint32_t i = m->peer_count; i < m->peer_count + m->held_count && back < 0; i++) {
            if (same_ref(&others[k], &m->peers[i].ref)) back = (int)i;
        }
        if (back >= 0) {
            lsh_member_peer_t again = m->peers[back];
            memmove(&m->peers[m->peer_count + 1], &m->peers[m->peer_count], ((uint32_t)back - m->peer_count) * sizeof(m->peers[0]));
            again.leaving = 0;
            m->peers[m->peer_count++] = again;
            m->held_count--;
            lsh_platform_log(LSH_LOG_INFO, "peer: joined %s again (group config)", others[k].host);
            continue;
        }
        if (m->peer_count + m->held_count >= LSH_PEERS_MAX) {
            /* The member table is full: the member leaving heard longest ago makes room (as
             * Node's add_member; never heard counts as longest ago). */
            uint32_t oldest = m->peer_count;
            for (uint32_t i = m->peer_count + 1; i < m->peer_count + m->held_count; i++) {
                const double at_ms = m->peers[i].heard ? m->peers[i].heard_mono_ms : -INFINITY;
                const double oldest_ms = m->peers[oldest].heard ? m->peers[oldest].heard_mono_ms : -INFINITY;
                if (at_ms < oldest_ms) oldest = i;
            }
            lsh_platform_log(LSH_LOG_WARN, "peer: %s (leaving) no longer reserved: the member table is full", m->peers[oldest].ref.host);
            remove_slot(m, oldest);
        }
        memmove(&m->peers[m->peer_count + 1], &m->peers[m->peer_count], m->held_count * sizeof(m->peers[0]));
        /* An id already bound to another peer would be a duplicate member: joined without it. */
        int id_taken = others[k].id[0] != '\0' && strcmp(others[k].id, m->self_id) == 0;
        for (uint32_t i = 0; i < m->peer_count && !id_taken; i++) id_taken = others[k].id[0] != '\0' && strcmp(others[k].id, m->peers[i].ref.id) == 0;
        reset_peer(&m->peers[m->peer_count++], others[k].host, id_taken ? NULL : others[k].id);
        /* In a group again: a removal later (by a peer's config) must not find it "set up alone"
         * (Node's add_record). */
        m->alone_confirmed = 0;
        lsh_platform_log(LSH_LOG_INFO, "peer: joined %s (group config)", others[k].host);
    }
    save_peers(m);
}

static void adopt(lsh_member_t *m, const lsh_group_doc_t *doc, const char *why) {
    char problem[160];
    if (lsh_group_fields_check(&doc->fields, problem, sizeof(problem)) != NULL) {
        lsh_platform_log(LSH_LOG_WARN, "sync: config version %.0f not adopted: %s", doc->meta.version, problem);
        return;
    }
    lsh_platform_log(LSH_LOG_INFO, "sync: adopting group config version %.0f (%s); was %.0f", doc->meta.version, why, m->meta.version);
    m->fields = doc->fields;
    m->meta = doc->meta;
    set_members(m, doc);
    /* Anything still owed is older now: the newer one reaches everybody from its origin. */
    for (uint32_t i = 0; i < m->peer_count; i++) {
        if (m->peers[i].owed && m->peers[i].owed_version < doc->meta.version) m->peers[i].owed = 0;
    }
    config_changed(m);
}

void lsh_member_fetch_result(lsh_member_t *m, const lsh_member_action_t *a, const char *text, size_t len, const char *failure,
                             double now_ms) {
    lsh_member_peer_t *p = action_target(m, a);
    if (p == NULL) return;
    lsh_group_doc_t doc;
    char why[160];
    if (text != NULL && lsh_group_doc_parse(text, len, 0, &doc, why, sizeof(why)) != NULL) {
        p->invalid_configs++;
        lsh_platform_log(LSH_LOG_WARN, "sync: invalid config from %s refused: %s (%u so far)", a->host, why, (unsigned)p->invalid_configs);
        failure = why;
        text = NULL;
    }
    if (text == NULL) {
        const double delay_ms = lsh_member_backoff_ms(p->fetch_attempts++);
        p->fetch_not_before_ms = now_ms + delay_ms;
        p->fetch_wanted = 1; /* tried again once the backoff passed (Node: on a later frame) */
        lsh_platform_log(LSH_LOG_WARN, "sync: %s: its config not taken: %s; next try after %g s", a->host,
                         failure != NULL ? failure : "no answer", delay_ms / 1000.0);
        return;
    }
    p->fetch_attempts = 0;
    memcpy(p->fetch_done_key, p->fetch_key, sizeof(p->fetch_key));
    char why_adopt[96];
    snprintf(why_adopt, sizeof(why_adopt), "%s: its status says version %.0f", a->host, doc.meta.version);
    if (lsh_config_newer(&doc.meta, &m->meta)) adopt(m, &doc, why_adopt);
}

int lsh_member_receive_push(lsh_member_t *m, const char *body, size_t len, int auth_code, const char *sender_id, double now_ms,
                            char *msg_out, size_t msg_size) {
    (void)now_ms;
    if (auth_code != 0) {
        snprintf(msg_out, msg_size, "config push refused");
        return auth_code;
    }
    if (!m->sync_enabled) {
        snprintf(msg_out, msg_size, "config sync is disabled on this charger");
        return 403;
    }
    if (!m->has_group_key) {
        snprintf(msg_out, msg_size, "this charger has no group key: it is report-only and takes no config from peers");
        return 403;
    }
    lsh_group_doc_t doc;
    char why[160];
    if (lsh_group_doc_parse(body, len, 1, &doc, why, sizeof(why)) != NULL) {
        for (uint32_t i = 0; i < m->peer_count; i++) {
            if (sender_id != NULL && strcmp(m->peers[i].ref.id, sender_id) == 0) m->peers[i].invalid_configs++;
        }
        lsh_platform_log(LSH_LOG_WARN, "sync: invalid config push from %s refused: %s", sender_id != NULL ? sender_id : "?", why);
        snprintf(msg_out, msg_size, "invalid config: %s", why);
        return 400;
    }
    if (!lsh_config_newer(&doc.meta, &m->meta)) {
        if (same_meta(&doc.meta, &m->meta)) {
            snprintf(msg_out, msg_size, "no change");
            return 200;
        }
        snprintf(msg_out, msg_size, "a newer config is in force here");
        return 409;
    }
    char why_adopt[64];
    snprintf(why_adopt, sizeof(why_adopt), "push from %s", sender_id != NULL ? sender_id : "?");
    adopt(m, &doc, why_adopt);
    snprintf(msg_out, msg_size, "done");
    return 200;
}

static int same_fields(const lsh_group_fields_t *a, const lsh_group_fields_t *b) {
    return strcmp(a->group_id, b->group_id) == 0 && a->group_max_current_a == b->group_max_current_a &&
           a->safety_factor == b->safety_factor && a->heartbeat_timeout_s == b->heartbeat_timeout_s &&
           a->failsafe_mode == b->failsafe_mode && a->failsafe_safe_current_a == b->failsafe_safe_current_a &&
           a->failsafe_peer_assumed_current_a == b->failsafe_peer_assumed_current_a && a->rotation_interval_s == b->rotation_interval_s;
}

const char *lsh_member_local_write(lsh_member_t *m, const lsh_group_fields_t *fields, int32_t priority, double now_ms, int *changed_out) {
    *changed_out = 0;
    if (lsh_group_fields_check(fields, m->last_error, sizeof(m->last_error)) != NULL) return m->last_error;
    if (priority < 0 || priority > 255) return "loadsharing_priority must be an integer from 0 to 255";
    if (priority != m->priority) {
        m->priority = priority;
        m->general_config_version += 1.0;
        *changed_out = 1;
    }
    if (same_fields(fields, &m->fields)) return NULL;
    /* Above every version seen from a peer too, so that this write wins (config-sync.ts). */
    m->meta.version = fmax(m->meta.version, m->highest_peer_version) + 1.0;
    m->meta.updated_at_s = fmax(floor(now_ms / 1000.0), m->meta.updated_at_s);
    snprintf(m->meta.origin, sizeof(m->meta.origin), "%s", m->self_id);
    m->fields = *fields;
    config_changed(m);
    push_all(m);
    *changed_out = 1;
    lsh_platform_log(LSH_LOG_INFO, "sync: local change: group config version %.0f, pushed to every member", m->meta.version);
    return NULL;
}

void lsh_member_auth_failure(lsh_member_t *m, uint32_t index, const char *reason) {
    if (index >= m->peer_count + m->held_count) return;
    lsh_member_peer_t *p = &m->peers[index];
    p->auth_failures++;
    const uint32_t n = p->auth_failures;
    if ((n & (n - 1)) == 0) {
        lsh_platform_log(LSH_LOG_WARN, "auth: %s: %s; its data is ignored (%u refused so far)", p->ref.host, reason, (unsigned)n);
    }
}

/* ---- a peer's status ---- */

static void on_peer_config(lsh_member_t *m, lsh_member_peer_t *p, const cJSON *block, double now_ms) {
    if (!cJSON_IsObject(block)) return;
    int has_version = 0;
    const double version = json_number(block, "config_version", 0.0, &has_version);
    if (has_version && safe_integer(version)) {
        p->has_version = 1;
        p->version = version;
        if (version > m->highest_peer_version) m->highest_peer_version = version;
    }
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(block, "config_hash");
    if (cJSON_IsString(hash) && strlen(hash->valuestring) <= LSH_HASH_BYTES * 2) snprintf(p->hash, sizeof(p->hash), "%s", hash->valuestring);
    if (!p->has_version || !lsh_member_sync_active(m)) return;
    char mine[LSH_HASH_BYTES * 2 + 1];
    our_hash(m, mine);
    const int hash_known = cJSON_IsString(hash);
    if (p->owed && p->version >= p->owed_version && hash_known && strcmp(p->hash, mine) == 0) {
        p->owed = 0;
        p->attempts = 0;
    }
    const int differs = p->version > m->meta.version || (p->version == m->meta.version && hash_known && strcmp(p->hash, mine) != 0);
    if (differs) want_fetch(m, p, now_ms);
}

/* A peer at this host names itself: the engine learns it under that id from now on. Returns 0
 * when the message must be dropped (our own id; or the same charger joined at another host: this
 * entry is removed, as its placeholder would stay a never-heard member, reserved for ever). */
static int bind_id(lsh_member_t *m, uint32_t index, const char *id) {
    lsh_member_peer_t *p = &m->peers[index];
    if (strcmp(id, m->self_id) == 0) {
        lsh_platform_log(LSH_LOG_WARN, "peer: %s claims our own id %s; ignored", p->ref.host, id);
        return 0;
    }
    for (uint32_t i = 0; i < m->peer_count; i++) {
        if (i != index && strcmp(m->peers[i].ref.id, id) == 0) {
            lsh_platform_log(LSH_LOG_WARN, "peer: %s is %s, already joined at %s; %s removed", p->ref.host, id, m->peers[i].ref.host, p->ref.host);
            remove_slot(m, index);
            rebuild_engine(m);
            save_peers(m);
            return 0;
        }
    }
    /* The same charger removed earlier at another address, back as a member: no longer leaving. */
    for (uint32_t i = m->peer_count; i < m->peer_count + m->held_count; i++) {
        if (strcmp(m->peers[i].ref.id, id) == 0) {
            lsh_platform_log(LSH_LOG_INFO, "peer: %s (leaving) is back as a member at %s", m->peers[i].ref.host, p->ref.host);
            remove_slot(m, i);
            break;
        }
    }
    lsh_platform_log(LSH_LOG_INFO, "peer: %s is %s", p->ref.host, id);
    snprintf(p->ref.id, sizeof(p->ref.id), "%s", id);
    set_member_id(p);
    save_peers(m);
    return 1;
}

/* The block fields of the sender's versioned group config (Node's wire.ts versioned_block_keys). */
static const char *const versioned_block_keys[] = {
    "group_max_current", "safety_factor", "heartbeat_timeout", "failsafe_safe_current", "failsafe_peer_assumed_current",
    "config_version", "config_hash",
};

/* A status a link reordered or duplicated (a /ws frame the firmware merged late, an HTTP answer
 * that overtook a newer one) can arrive after a newer one: its block would bring back the older
 * config, and the sender's later /ws deltas do not repeat an unchanged group_max_current, so the
 * firmware's merged document would keep the older limit (fuzz seed 9004305: a limit lowered
 * 31 -> 17 A came back as 31 A and read as agreement). As Node's merge (wire.ts
 * merge_status_into), a block whose config_version is below the one taken keeps the taken config
 * fields; its other fields are taken. A running charger's config_version never goes down; only a
 * restart with a store that went back can lower it. Node sees that as a new /ws session and takes
 * its whole document; this layer sees only whole documents, so it takes a lower version when the
 * sender's uptime went back by more than a stale status can be older than the newest one
 * (message_delay_max and a status period: assumption 1). */
static void keep_taken_config(lsh_member_t *m, lsh_member_peer_t *p, cJSON *doc) {
    cJSON *block = cJSON_GetObjectItemCaseSensitive(doc, "loadsharing");
    const cJSON *taken = p->doc != NULL ? cJSON_GetObjectItemCaseSensitive(p->doc, "loadsharing") : NULL;
    int has_said = 0, has_taken = 0;
    const double said = json_number(block, "config_version", 0.0, &has_said);
    const double taken_version = json_number(taken, "config_version", 0.0, &has_taken);
    const cJSON *said_id = cJSON_GetObjectItemCaseSensitive(block, "id");
    const cJSON *taken_id = cJSON_GetObjectItemCaseSensitive(taken, "id");
    /* Another charger's block (an id that changed at this address) is not an older one. */
    const int same_sender = said_id == NULL || taken_id == NULL || cJSON_Compare(said_id, taken_id, 1);
    if (!cJSON_IsObject(block) || !cJSON_IsObject(taken) || !has_said || !has_taken || !same_sender || said >= taken_version) return;
    int has_uptime = 0, has_taken_uptime = 0;
    const double uptime_s = json_number(doc, "uptime", 0.0, &has_uptime);
    const double taken_uptime_s = json_number(p->doc, "uptime", 0.0, &has_taken_uptime);
    const double delay_max_ms = m->engine_ready && m->engine.config.message_delay_max_ms > 0.0 ? m->engine.config.message_delay_max_ms : 2000.0;
    if (has_uptime && has_taken_uptime && uptime_s < taken_uptime_s - (delay_max_ms / 1000.0 + 1.0)) {
        lsh_platform_log(LSH_LOG_INFO, "peer: %s restarted (uptime %.0f s, was %.0f s) with config version %.0f, below the %.0f taken: taken",
                         p->ref.host, uptime_s, taken_uptime_s, said, taken_version);
        return;
    }
    for (size_t i = 0; i < sizeof(versioned_block_keys) / sizeof(versioned_block_keys[0]); i++) {
        const cJSON *kept = cJSON_GetObjectItemCaseSensitive(taken, versioned_block_keys[i]);
        if (kept == NULL) continue;
        cJSON *copy = cJSON_Duplicate(kept, 1);
        if (copy == NULL) continue;
        const int replaced = cJSON_GetObjectItemCaseSensitive(block, versioned_block_keys[i]) != NULL
                                 ? cJSON_ReplaceItemInObjectCaseSensitive(block, versioned_block_keys[i], copy)
                                 : cJSON_AddItemToObject(block, versioned_block_keys[i], copy);
        if (!replaced) cJSON_Delete(copy);
    }
}

const char *lsh_member_on_peer_doc(lsh_member_t *m, uint32_t index, cJSON *doc, double mono_ms, double now_ms) {
    if (index >= m->peer_count + m->held_count || !cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return "not a status document";
    }
    lsh_member_peer_t *p = &m->peers[index];
    if (p->leaving) {
        /* Removed from the group: only whether it may still draw here counts (its current, and
         * whether a person set it up on its own); no id or config is taken from it. */
        keep_taken_config(m, p, doc);
        cJSON_Delete(p->doc);
        p->doc = doc;
        p->heard = 1;
        p->heard_mono_ms = mono_ms;
        feed_peer(m, p);
        return NULL;
    }
    const cJSON *block = cJSON_GetObjectItemCaseSensitive(doc, "loadsharing");
    if (block != NULL && !cJSON_IsObject(block)) {
        cJSON_Delete(doc);
        return "\"loadsharing\" is not an object; message ignored";
    }
    const cJSON *claimed = cJSON_GetObjectItemCaseSensitive(block, "id");
    const char *name = NULL;
    if (claimed != NULL) {
        if (!cJSON_IsString(claimed) || !lsh_peer_id_valid(claimed->valuestring)) {
            cJSON_Delete(doc);
            return "bad id; message ignored";
        }
        name = claimed->valuestring;
    } else if (block == NULL && p->ref.id[0] == '\0') {
        /* A charger without our block (upstream firmware): its id or hostname names it, if any. */
        const cJSON *named = cJSON_GetObjectItemCaseSensitive(doc, "id");
        if (!(cJSON_IsString(named) && lsh_peer_id_valid(named->valuestring))) named = cJSON_GetObjectItemCaseSensitive(doc, "hostname");
        if (cJSON_IsString(named) && lsh_peer_id_valid(named->valuestring)) name = named->valuestring;
    }
    int rebuild = 0;
    if (name != NULL && strcmp(name, p->ref.id) != 0) {
        if (!bind_id(m, index, name)) {
            cJSON_Delete(doc);
            return "id not bound; message ignored";
        }
        rebuild = 1;
    }
    keep_taken_config(m, p, doc);
    cJSON_Delete(p->doc);
    p->doc = doc;
    p->heard = 1;
    p->heard_mono_ms = mono_ms;
    if (rebuild) rebuild_engine(m);
    else feed_peer(m, p);
    on_peer_config(m, p, cJSON_GetObjectItemCaseSensitive(doc, "loadsharing"), now_ms);
    return NULL;
}

/* ---- members leaving ---- */

/* Members leaving that the engine no longer holds (they said a person set them up on their
 * own) are dropped, and their reading stops (Node's forget_left). */
static void forget_left(lsh_member_t *m) {
    int dropped = 0;
    for (uint32_t i = m->peer_count; i < m->peer_count + m->held_count;) {
        if (lsh_engine_member_state(&m->engine, m->peers[i].member_id) == 2) {
            i++;
            continue;
        }
        lsh_platform_log(LSH_LOG_INFO, "peer: %s (removed) says it is set up on its own: nothing is reserved for it", m->peers[i].ref.host);
        remove_slot(m, i);
        dropped = 1;
    }
    if (!dropped) return;
    save_peers(m);
    lsh_group_config_t config;
    supervision_config(m, &config);
    lsh_supervisor_configure(&m->supervisor, &config);
}

const char *lsh_member_forget(lsh_member_t *m, const char *host_or_id) {
    if (host_or_id == NULL) return "Peer not found";
    for (uint32_t i = 0; i < m->peer_count + m->held_count; i++) {
        lsh_member_peer_t *p = &m->peers[i];
        if (strcmp(p->ref.host, host_or_id) != 0 && strcmp(p->ref.id, host_or_id) != 0) continue;
        if (i < m->peer_count) return "a member of the group: remove it from the group first";
        lsh_platform_log(LSH_LOG_INFO, "peer: %s: a person says it no longer draws from this breaker: nothing is reserved for it", p->ref.host);
        if (m->engine_ready) lsh_engine_forget_member(&m->engine, p->member_id);
        remove_slot(m, i);
        save_peers(m);
        lsh_group_config_t config;
        supervision_config(m, &config);
        lsh_supervisor_configure(&m->supervisor, &config);
        return NULL;
    }
    return "Peer not found";
}

const uint8_t *lsh_member_carry(const lsh_member_t *m) {
    return m->engine_ready ? lsh_engine_carry(&m->engine) : NULL;
}

const char *lsh_member_confirm_alone(lsh_member_t *m) {
    if (m->peer_count > 0) {
        snprintf(m->last_error, sizeof(m->last_error),
                 "This charger still has %u member(s): remove them first (DELETE /loadsharing/peers/HOST)", (unsigned)m->peer_count);
        return m->last_error;
    }
    if (m->alone_confirmed) return NULL;
    m->alone_confirmed = 1;
    if (m->engine_ready) lsh_engine_confirm_alone(&m->engine, 1);
    save_peers(m);
    lsh_platform_log(LSH_LOG_INFO, "peer: a person confirmed this charger is on its own: it may use the whole limit");
    return NULL;
}

/* ---- tick and status ---- */

lsh_result_t lsh_member_tick(lsh_member_t *m, double mono_ms, double wall_ms, const lsh_self_facts_t *self, lsh_tick_result_t *tick) {
    if (!m->engine_ready) {
        memset(tick, 0, sizeof(*tick));
        if (m->shaper.set_limit_a != NULL) m->shaper.set_limit_a(m->shaper.context, 0.0);
        return lsh_err_not_loaded;
    }
    const lsh_result_t result = lsh_engine_tick(&m->engine, mono_ms, wall_ms, self, tick);
    forget_left(m);
    /* Only a tick that completed feeds the controller's supervision (as the Node host): a hung
     * or broken engine lets the controller fall to the heartbeat current by itself. */
    if (result == lsh_ok) {
        lsh_group_config_t config;
        if (tick->published.told_failsafe_safe_current_a >= 0.0) m->told_failsafe_a = tick->published.told_failsafe_safe_current_a;
        supervision_config(m, &config);
        lsh_supervisor_pulse(&m->supervisor, &config);
    }
    return result;
}

char *lsh_member_status_json(const lsh_member_t *m, const lsh_self_facts_t *self, const lsh_tick_result_t *tick, double wall_ms, double uptime_s) {
    cJSON *d = cJSON_CreateObject();
    const double voltage = self->voltage_v;
    cJSON_AddNumberToObject(d, "amp", round(self->amp_ma));
    cJSON_AddNumberToObject(d, "voltage", voltage);
    cJSON_AddNumberToObject(d, "power", round(self->amp_ma / 1000.0 * voltage));
    cJSON_AddNumberToObject(d, "pilot", self->pilot_a);
    cJSON_AddNumberToObject(d, "max_current", self->max_current_a);
    cJSON_AddNumberToObject(d, "min_current", self->min_current_a);
    cJSON_AddNumberToObject(d, "state", self->state);
    cJSON_AddStringToObject(d, "status", self->state >= 1 && self->state <= 3 ? "active" : "disabled");
    cJSON_AddNumberToObject(d, "vehicle", self->vehicle);
    char time_text[32] = "";
    const time_t seconds = (time_t)(wall_ms / 1000.0);
    const struct tm *utc = gmtime(&seconds);
    if (utc != NULL) strftime(time_text, sizeof(time_text), "%Y-%m-%dT%H:%M:%SZ", utc);
    cJSON_AddStringToObject(d, "time", time_text);
    cJSON_AddNumberToObject(d, "uptime", floor(uptime_s));
    cJSON_AddNumberToObject(d, "config_version", m->general_config_version);

    cJSON *b = cJSON_AddObjectToObject(d, "loadsharing");
    const lsh_published_t *p = tick != NULL ? &tick->published : NULL;
    cJSON_AddStringToObject(b, "id", m->self_id);
    cJSON *seen = cJSON_AddArrayToObject(b, "seen");
    cJSON *alloc = cJSON_CreateObject();
    for (uint32_t i = 0; i < m->engine.member_count; i++) {
        const char *id = lsh_engine_member_id(&m->engine, i);
        /* The member table is sorted by id bytes: seen comes out sorted, as Node sorts it. */
        if (p != NULL ? (p->seen_mask & (1u << i)) != 0 : strcmp(id, m->self_id) == 0) cJSON_AddItemToArray(seen, cJSON_CreateString(id));
        /* A member leaving is in neither (it is no part of the group). */
        if (p != NULL && (p->leaving_mask & (1u << i)) != 0) continue;
        if (p != NULL && p->has_alloc) cJSON_AddNumberToObject(alloc, id, p->alloc_a[i]);
    }
    cJSON_AddBoolToObject(b, "degraded", p == NULL || p->degraded);
    cJSON_AddBoolToObject(b, "failsafe_active", p == NULL || p->failsafe_active);
    cJSON_AddItemToObject(b, "alloc", alloc);
    cJSON_AddNumberToObject(b, "applied_current", p != NULL ? p->applied_a : 0.0);
    cJSON_AddNumberToObject(b, "committed_current", p != NULL ? p->committed_a : 0.0);
    cJSON_AddNumberToObject(b, "target_current", p != NULL ? p->target_a : 0.0);
    cJSON_AddBoolToObject(b, "demand", self->demand > 0);
    cJSON_AddNumberToObject(b, "demand_cap", p != NULL ? p->demand_cap_a : 0.0);
    cJSON_AddNumberToObject(b, "min_current", self->min_current_a);
    cJSON_AddNumberToObject(b, "max_current", self->max_current_a);
    cJSON_AddNumberToObject(b, "priority", m->priority);
    cJSON_AddNumberToObject(b, "group_max_current", m->fields.group_max_current_a);
    cJSON_AddNumberToObject(b, "safety_factor", m->fields.safety_factor);
    cJSON_AddNumberToObject(b, "heartbeat_timeout", m->fields.heartbeat_timeout_s);
    cJSON_AddNumberToObject(b, "failsafe_safe_current", m->fields.failsafe_safe_current_a);
    cJSON_AddNumberToObject(b, "failsafe_peer_assumed_current", m->fields.failsafe_peer_assumed_current_a);
    cJSON_AddNumberToObject(b, "config_version", m->meta.version);
    char hash[LSH_HASH_BYTES * 2 + 1];
    our_hash(m, hash);
    cJSON_AddStringToObject(b, "config_hash", hash);
    cJSON_AddStringToObject(b, "module_hash", m->module_hash);
    const uint32_t reason = p != NULL ? p->reason : LSH_REASON_IDLE;
    cJSON_AddStringToObject(b, "reason", reason < LSH_REASON_COUNT ? LSH_REASON_NAMES[reason] : "idle");
    cJSON_AddBoolToObject(b, "left_alone", p != NULL && p->left_alone);
    cJSON_AddBoolToObject(b, "alone_confirmed", m->alone_confirmed);
    char *text = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return text;
}
