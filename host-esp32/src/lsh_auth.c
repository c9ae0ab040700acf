/* The group key (lsh_auth.h): the same MACs as host-node/station/peer-auth.ts, with mbedTLS. */
#include "lsh_auth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/md.h"

/* The tags name the layout of what is signed (peer-auth.ts): v2 added the destination
 * (requests) and the subscriber (frames); responses are unchanged. */
static const char req_tag[] = "loadshare-req-v2";
static const char res_tag[] = "loadshare-res-v1";
static const char ws_tag[] = "loadshare-ws-v2";

static void to_hex(const uint8_t *bytes, size_t size, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15u];
    }
    out[2 * size] = '\0';
}

/* hex(HMAC-SHA256(key, parts joined by "\n" plus a final "\n" || body)). */
static void mac_hex(const lsh_auth_t *auth, const char *const parts[], size_t part_count, const char *body, size_t body_len,
                    char out[LSH_AUTH_MAC_HEX + 1]) {
    uint8_t digest[32];
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    int failed = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) != 0;
    failed = failed || mbedtls_md_hmac_starts(&md, (const unsigned char *)auth->key, auth->key_len) != 0;
    for (size_t i = 0; i < part_count && !failed; i++) {
        failed = mbedtls_md_hmac_update(&md, (const unsigned char *)parts[i], strlen(parts[i])) != 0 ||
                 mbedtls_md_hmac_update(&md, (const unsigned char *)"\n", 1) != 0;
    }
    if (!failed && body_len > 0) failed = mbedtls_md_hmac_update(&md, (const unsigned char *)body, body_len) != 0;
    if (!failed) failed = mbedtls_md_hmac_finish(&md, digest) != 0;
    mbedtls_md_free(&md);
    /* A MAC that could not be computed matches nothing (all-zero digest, hex 'x's). */
    if (failed) {
        memset(out, 'x', LSH_AUTH_MAC_HEX);
        out[LSH_AUTH_MAC_HEX] = '\0';
        return;
    }
    to_hex(digest, sizeof(digest), out);
}

/* Constant-time comparison of two MACs in lower-case hex. */
static int same_mac(const char *given, const char *expected) {
    if (given == NULL || strlen(given) != LSH_AUTH_MAC_HEX) return 0;
    unsigned diff = 0;
    for (size_t i = 0; i < LSH_AUTH_MAC_HEX; i++) {
        const char c = given[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
        diff |= (unsigned)(unsigned char)(c ^ expected[i]);
    }
    return diff == 0;
}

static int all_digits(const char *text, size_t min, size_t max) {
    const size_t len = text == NULL ? 0 : strlen(text);
    if (len < min || len > max) return 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') return 0;
    }
    return 1;
}

static int lower_hex(const char *text, size_t len) {
    if (text == NULL || strlen(text) != len) return 0;
    for (size_t i = 0; i < len; i++) {
        const char c = text[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
    }
    return 1;
}

int lsh_auth_init(lsh_auth_t *auth, const char *key, void (*random)(void *context, uint8_t *out, size_t size), void *context) {
    if (auth == NULL || key == NULL || random == NULL) return 0;
    const size_t len = strlen(key);
    if (len < LSH_AUTH_KEY_CHARS_MIN || len > LSH_AUTH_KEY_CHARS_MAX) return 0;
    memset(auth, 0, sizeof(*auth));
    memcpy(auth->key, key, len + 1);
    auth->key_len = len;
    auth->random = random;
    auth->random_context = context;
    return 1;
}

static void format_ms(double ms, char *out, size_t size) {
    snprintf(out, size, "%.0f", floor(ms));
}

void lsh_auth_sign_request(lsh_auth_t *auth, const char *method, const char *path, const char *body, size_t body_len,
                           const char *sender, const char *to, double now_ms, lsh_auth_request_sig_t *out) {
    uint8_t nonce[16];
    auth->random(auth->random_context, nonce, sizeof(nonce));
    to_hex(nonce, sizeof(nonce), out->nonce);
    snprintf(out->id, sizeof(out->id), "%s", sender);
    snprintf(out->to, sizeof(out->to), "%s", to);
    format_ms(now_ms, out->ts, sizeof(out->ts));
    const char *parts[] = {req_tag, method, path, out->id, out->to, out->ts, out->nonce};
    mac_hex(auth, parts, 7, body, body_len, out->mac);
}

int lsh_auth_verify_request(lsh_auth_t *auth, const lsh_auth_request_headers_t *h, const char *method, const char *path,
                            const char *body, size_t body_len, lsh_auth_is_me_fn is_me, const void *is_me_context, double now_ms,
                            char sender_out[33], char nonce_out[LSH_AUTH_NONCE_HEX + 1], const char **reason_out) {
    if (h->id == NULL && h->mac == NULL) {
        *reason_out = "not signed";
        return 401;
    }
    if (h->id == NULL || h->id[0] == '\0' || strlen(h->id) > 32 || h->to == NULL || h->to[0] == '\0' || h->mac == NULL ||
        !all_digits(h->ts, 1, 16) || !lower_hex(h->nonce, LSH_AUTH_NONCE_HEX)) {
        *reason_out = "malformed signature headers";
        return 403;
    }
    char expected[LSH_AUTH_MAC_HEX + 1];
    const char *parts[] = {req_tag, method, path, h->id, h->to, h->ts, h->nonce};
    mac_hex(auth, parts, 7, body, body_len, expected);
    if (!same_mac(h->mac, expected)) {
        *reason_out = "bad signature";
        return 403;
    }
    /* Genuine, but meant for another charger (captured there and replayed here): refused even
     * inside the window with a nonce never seen here. No is_me: nothing names this charger. */
    if (is_me == NULL || !is_me(is_me_context, h->to)) {
        *reason_out = "signed for another charger";
        return 403;
    }
    const double ts_ms = strtod(h->ts, NULL);
    if (fabs(now_ms - ts_ms) > LSH_AUTH_WINDOW_MS) {
        *reason_out = "stale timestamp";
        return 403;
    }
    int free_slot = -1;
    for (int i = 0; i < LSH_AUTH_NONCE_CACHE; i++) {
        if (auth->seen[i].nonce[0] != '\0' && auth->seen[i].expiry_ms <= now_ms) auth->seen[i].nonce[0] = '\0';
        if (auth->seen[i].nonce[0] == '\0') {
            if (free_slot < 0) free_slot = i;
            continue;
        }
        if (strcmp(auth->seen[i].nonce, h->nonce) == 0) {
            *reason_out = "replayed nonce";
            return 403;
        }
    }
    if (free_slot < 0) {
        /* Every remembered nonce is still inside its window: forgetting one would open a
         * replay, so the request is refused (the peer retries; the safe direction). */
        *reason_out = "too many signed requests in the window";
        return 403;
    }
    memcpy(auth->seen[free_slot].nonce, h->nonce, LSH_AUTH_NONCE_HEX + 1);
    auth->seen[free_slot].expiry_ms = ts_ms + 2.0 * LSH_AUTH_WINDOW_MS;
    snprintf(sender_out, 33, "%s", h->id);
    memcpy(nonce_out, h->nonce, LSH_AUTH_NONCE_HEX + 1);
    *reason_out = NULL;
    return 0;
}

void lsh_auth_sign_response(const lsh_auth_t *auth, const char *request_nonce, int status, const char *body, size_t body_len,
                            double now_ms, char *ts_out, char mac_out[LSH_AUTH_MAC_HEX + 1]) {
    char status_text[12];
    snprintf(status_text, sizeof(status_text), "%d", status);
    format_ms(now_ms, ts_out, 24);
    const char *parts[] = {res_tag, request_nonce, status_text, ts_out};
    mac_hex(auth, parts, 4, body, body_len, mac_out);
}

const char *lsh_auth_verify_response(const lsh_auth_t *auth, const char *ts, const char *mac, const char *request_nonce, int status,
                                     const char *body, size_t body_len, double now_ms) {
    if (ts == NULL || mac == NULL) return "response not signed";
    if (!all_digits(ts, 1, 16)) return "malformed response signature";
    char status_text[12];
    char expected[LSH_AUTH_MAC_HEX + 1];
    snprintf(status_text, sizeof(status_text), "%d", status);
    const char *parts[] = {res_tag, request_nonce, status_text, ts};
    mac_hex(auth, parts, 4, body, body_len, expected);
    if (!same_mac(mac, expected)) return "bad response signature";
    if (fabs(now_ms - strtod(ts, NULL)) > LSH_AUTH_WINDOW_MS) return "stale response";
    return NULL;
}

void lsh_auth_frame_mac(const lsh_auth_t *auth, const char *session_nonce, const char *subscriber, uint64_t ctr, uint64_t ts_ms,
                        const char *text, size_t text_len, char mac_out[LSH_AUTH_MAC_HEX + 1]) {
    char ctr_text[24];
    char ts_text[24];
    snprintf(ctr_text, sizeof(ctr_text), "%llu", (unsigned long long)ctr);
    snprintf(ts_text, sizeof(ts_text), "%llu", (unsigned long long)ts_ms);
    const char *parts[] = {ws_tag, session_nonce, subscriber, ctr_text, ts_text};
    mac_hex(auth, parts, 5, text, text_len, mac_out);
}

/* Node's Number.isSafeInteger, for non-negative values (counters and timestamps). */
static int safe_count(double value) {
    return isfinite(value) && value >= 0.0 && value <= 9007199254740991.0 && floor(value) == value;
}

const char *lsh_auth_verify_frame(const lsh_auth_t *auth, const char *session_nonce, const char *me, uint64_t last_ctr, double ctr,
                                  double ts_ms, const char *mac, const char *text, size_t text_len, double now_ms) {
    if (mac == NULL || text == NULL) return "frame not signed";
    if (!safe_count(ctr) || !safe_count(ts_ms)) return "malformed frame signature";
    char expected[LSH_AUTH_MAC_HEX + 1];
    /* Our own id in the MAC: a frame signed for another subscriber fails it. */
    lsh_auth_frame_mac(auth, session_nonce, me, (uint64_t)ctr, (uint64_t)ts_ms, text, text_len, expected);
    if (!same_mac(mac, expected)) return "bad frame signature";
    if ((uint64_t)ctr <= last_ctr) return "replayed frame";
    if (fabs(now_ms - ts_ms) > LSH_AUTH_WINDOW_MS) return "stale frame";
    return NULL;
}
