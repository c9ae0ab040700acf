/* The group key in C: HMAC-SHA256 (mbedTLS) over peer traffic, byte for byte the signing of
 * host-node/station/peer-auth.ts (docs/config-sync.md, "Authentication"; docs/security.md,
 * "Peer traffic: the group key only"):
 *  - a request (config push, config or status fetch, the /ws handshake): headers
 *    x-loadshare-id (the sender), x-loadshare-to (the destination: the receiver's id, or its
 *    host:port while the sender does not know the id), x-loadshare-ts (ms), x-loadshare-nonce
 *    (32 hex), x-loadshare-mac = hex(HMAC(key, "loadshare-req-v2\n" METHOD "\n" PATH "\n" id "\n"
 *    to "\n" ts "\n" nonce "\n" || body)); refused when malformed, wrong, signed for another
 *    charger, more than 30 s from our clock, or a nonce seen in the window;
 *  - a response to a signed request: x-loadshare-ts and x-loadshare-mac =
 *    hex(HMAC(key, "loadshare-res-v1\n" nonce "\n" status "\n" ts "\n" || body));
 *  - a /ws frame: {"ls_sig": {"ctr", "ts", "mac"}, "ls_doc": text} with mac =
 *    hex(HMAC(key, "loadshare-ws-v2\n" handshake_nonce "\n" subscriber "\n" ctr "\n" ts "\n" || text)),
 *    subscriber: the id that signed the handshake, so a frame is good for one charger only.
 * Sans-IO and portable: the caller passes the wall clock and a source of random bytes (the ESP32:
 * esp_fill_random). Nothing here logs or returns the key. */
#ifndef LSH_AUTH_H
#define LSH_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define LSH_AUTH_KEY_CHARS_MIN 16
#define LSH_AUTH_KEY_CHARS_MAX 128
#define LSH_AUTH_WINDOW_MS 30000.0
#define LSH_AUTH_NONCE_HEX 32
#define LSH_AUTH_MAC_HEX 64
/* Nonces of accepted requests, remembered for twice the window. Node keeps up to 8,192; a
 * charger's peers sign one request per link (re)connect, push or fetch, so 128 is ample, and
 * when every slot is still live a new request is refused (403), never let through unchecked. */
#define LSH_AUTH_NONCE_CACHE 128

typedef struct lsh_auth {
    char key[LSH_AUTH_KEY_CHARS_MAX + 1];
    size_t key_len;
    void (*random)(void *context, uint8_t *out, size_t size);
    void *random_context;
    struct {
        char nonce[LSH_AUTH_NONCE_HEX + 1];
        double expiry_ms;
    } seen[LSH_AUTH_NONCE_CACHE];
} lsh_auth_t;

/* The signature headers of one outgoing request. */
typedef struct lsh_auth_request_sig {
    char id[33];
    char to[64];                       /* the destination, as signed (an id, or host:port) */
    char ts[24];
    char nonce[LSH_AUTH_NONCE_HEX + 1];
    char mac[LSH_AUTH_MAC_HEX + 1];
} lsh_auth_request_sig_t;

/* The headers of an incoming request, as received (NULL: absent). */
typedef struct lsh_auth_request_headers {
    const char *id;
    const char *to;
    const char *ts;
    const char *nonce;
    const char *mac;
} lsh_auth_request_headers_t;

/* key: 16..128 characters (Node's rule); returns 0 when it is not. random fills nonces. */
int lsh_auth_init(lsh_auth_t *auth, const char *key, void (*random)(void *context, uint8_t *out, size_t size), void *context);

/* to: the receiver's id, or its host:port while the sender does not know the id (at most 63 bytes). */
void lsh_auth_sign_request(lsh_auth_t *auth, const char *method, const char *path, const char *body, size_t body_len,
                           const char *sender, const char *to, double now_ms, lsh_auth_request_sig_t *out);

/* Whether a request's destination names this charger (its id or its address): lsh_member_is_me. */
typedef int (*lsh_auth_is_me_fn)(const void *context, const char *to);

/* 0 accepted (sender_out: its id; nonce_out: its nonce, for the signed response); 401 not signed;
 * 403 malformed, bad, signed for another charger (is_me says no), stale or replayed. reason_out:
 * a constant sentence (Node's). A request for another charger is refused after its MAC was
 * checked and before its nonce is remembered. */
int lsh_auth_verify_request(lsh_auth_t *auth, const lsh_auth_request_headers_t *headers, const char *method, const char *path,
                            const char *body, size_t body_len, lsh_auth_is_me_fn is_me, const void *is_me_context, double now_ms,
                            char sender_out[33], char nonce_out[LSH_AUTH_NONCE_HEX + 1], const char **reason_out);

/* ts_out: at least 24 bytes; mac_out: 65 bytes. */
void lsh_auth_sign_response(const lsh_auth_t *auth, const char *request_nonce, int status, const char *body, size_t body_len,
                            double now_ms, char *ts_out, char mac_out[LSH_AUTH_MAC_HEX + 1]);

/* NULL when the response is authentic, else why not. ts / mac: the response's headers (NULL absent). */
const char *lsh_auth_verify_response(const lsh_auth_t *auth, const char *ts, const char *mac, const char *request_nonce, int status,
                                     const char *body, size_t body_len, double now_ms);

/* The MAC of one /ws frame for the subscriber whose signed handshake opened the session
 * (its id; the caller builds {"ls_sig": ..., "ls_doc": ...} around it). */
void lsh_auth_frame_mac(const lsh_auth_t *auth, const char *session_nonce, const char *subscriber, uint64_t ctr, uint64_t ts_ms,
                        const char *text, size_t text_len, char mac_out[LSH_AUTH_MAC_HEX + 1]);

/* A frame's fields as received by `me` (this charger's id, the subscriber): NULL when the frame
 * is authentic (MAC right for this session and this subscriber, counter above last_ctr, ts in
 * the window), else why not. */
const char *lsh_auth_verify_frame(const lsh_auth_t *auth, const char *session_nonce, const char *me, uint64_t last_ctr, double ctr,
                                  double ts_ms, const char *mac, const char *text, size_t text_len, double now_ms);

#endif /* LSH_AUTH_H */
