/* lsh_node: the C host as a charger on a POSIX machine (native build only): the member layer
 * (src/lsh_member.c, lsh_auth.c, lsh_supervise.c) with the built-in module under wasm3, plain
 * sockets for the network, and a simulated controller and car in place of the EVSE. What the
 * ESP32 firmware would do with its own HTTP server and client, done here in one thread:
 *
 *  - serves GET /status, GET /config, POST /config (a peer's push, signed with the group key;
 *    or a person's write with the admin password), DELETE /loadsharing/peers/HOST?gone=true (a
 *    person says a removed member is gone), POST /loadsharing/alone (a person says it is on its
 *    own on its breaker, rule 8), POST /sim/ev, and GET /ws (the status
 *    stream: the full document every tick; frames signed for the subscriber whose handshake was
 *    signed, plain ones otherwise);
 *  - reads its peers by HTTP polling: a signed GET /status to each peer every tick (1 s), the
 *    response MAC checked (Node's peers use GET /status then /ws; polling is simpler here, and a
 *    poll per second keeps the peer's status as fresh as Node's /ws frames, which come at least
 *    once a second);
 *  - runs the pushes and config fetches the member layer asks for (signed; responses checked);
 *  - every request to a peer is signed for its destination (the peer's id, or its host:port
 *    until its id is known) and carries no credentials; without a group key it is unsigned and
 *    the charger is report-only (it reads its peers, adopts nothing, pushes nothing);
 *  - sends RAPI $SY to the simulated controller, which drops the pilot to the heartbeat current
 *    when pulses stop, and prints every RAPI line ("rapi: ...") so a test can check them.
 *
 *   lsh_node --id ID --host IP --http-port N [--peer HOST:PORT]... [--key-file FILE]
 *            [--admin USER:PASS] [--group-id S] [--group-max-current A] [--heartbeat-timeout S]
 *            [--failsafe-safe-current A] [--failsafe-peer-assumed-current A] [--priority N]
 *            [--car] [--car-max-current A] [--car-lag-ms MS] [--tick-ms MS]
 * Exit 2 with one sentence on bad arguments; SIGTERM/SIGINT: a clean exit 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include "mbedtls/base64.h"
#include "mbedtls/md.h"

#include "lsh_auth.h"
#include "lsh_member.h"
#include "lsh_module_default.h"
#include "lsh_platform.h"
#include "lsh_runtime.h"

#define BODY_MAX (64 * 1024)
#define REQUEST_MAX (BODY_MAX + 16 * 1024)
#define CONNECTIONS_MAX 32
#define HEADERS_MAX 40
#define REQUEST_TIMEOUT_MS 3000.0

/* ---- state ---- */

static lsh_runtime_t runtime;
static lsh_member_t member;
static lsh_auth_t auth;
static int have_key;
static char admin_basic[256]; /* "Basic base64(user:pass)", "" none */
static volatile sig_atomic_t stopping;
static double started_mono_ms;

/* The simulated controller (OpenEVSE's, as far as the loadshare limit and $SY go) and car. */
static struct {
    double limit_a;            /* the load-sharing limit the shaper was told */
    double min_current_a, max_current_a;
    /* heartbeat supervision ($SY) */
    unsigned hb_interval_s, hb_current_a;
    double last_pulse_mono_ms;
    int hb_triggered;          /* a pulse was missed and not acknowledged */
    /* the car */
    int connected;
    double car_max_a;
    double lag_ms;
    double amp_ma;             /* what it draws */
    double target_ma;          /* what it will draw once the lag passed */
    double target_since_ms;
} evse = {0.0, 6.0, 32.0, 0, 0, 0.0, 0, 0, 32.0, 1000.0, 0.0, 0.0, 0.0};

static lsh_tick_result_t last_tick;
static int ticked;
static char *status_text; /* the last status document (cJSON_free) */

typedef struct connection {
    int fd;
    int ws;                    /* 0: an HTTP request being read; 1: a /ws client */
    int signed_session;
    char nonce[LSH_AUTH_NONCE_HEX + 1];
    char subscriber[33];       /* the id that signed the handshake: the frames are signed for it */
    uint64_t ctr;
    double opened_ms;
    size_t used;
    char *buffer;
} connection_t;

static connection_t connections[CONNECTIONS_MAX];

static void say(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vfprintf(stdout, format, args);
    va_end(args);
    fputc('\n', stdout);
    fflush(stdout);
}

static void urandom(void *context, uint8_t *out, size_t size) {
    (void)context;
    static FILE *source;
    if (source == NULL) source = fopen("/dev/urandom", "rb");
    if (source == NULL || fread(out, 1, size, source) != size) {
        /* Without randomness a nonce could repeat: refuse to run rather than sign with it. */
        fprintf(stderr, "lsh_node: cannot read /dev/urandom\n");
        exit(1);
    }
}

/* ---- the simulated controller ---- */

static double now_mono(void) { return lsh_platform_monotonic_ms(); }

static int supervision_fired(double mono_ms) {
    return evse.hb_interval_s > 0 && mono_ms - evse.last_pulse_mono_ms > evse.hb_interval_s * 1000.0;
}

/* The pilot the controller offers: the limit, floored, capped by its maximum and, once the
 * supervision fired, by the heartbeat current; below the minimum it offers nothing. */
static double pilot_a(double mono_ms) {
    double pilot = floor(fmin(evse.limit_a, evse.max_current_a));
    if (supervision_fired(mono_ms) || evse.hb_triggered) pilot = fmin(pilot, (double)evse.hb_current_a);
    return pilot < evse.min_current_a ? 0.0 : pilot;
}

static void car_follow(double mono_ms) {
    const double want_ma = evse.connected ? fmin(pilot_a(mono_ms), evse.car_max_a) * 1000.0 : 0.0;
    if (want_ma != evse.target_ma) {
        evse.target_ma = want_ma;
        evse.target_since_ms = mono_ms;
    }
    if (!evse.connected) evse.amp_ma = 0.0; /* unplugged: nothing flows */
    else if (mono_ms - evse.target_since_ms >= evse.lag_ms) evse.amp_ma = evse.target_ma;
}

static void shaper_set(void *context, double limit_a) {
    (void)context;
    evse.limit_a = limit_a;
}

static int rapi_send(void *context, const char *line, char *reply, size_t reply_size) {
    (void)context;
    const double mono_ms = now_mono();
    unsigned a = 0, b = 0;
    char command[40];
    snprintf(command, sizeof(command), "%s", line);
    char *check = strchr(command, '^');
    if (check != NULL) *check = '\0';
    if (supervision_fired(mono_ms)) evse.hb_triggered = 1;
    int ok = 1;
    if (sscanf(command, "$SY %u %u", &a, &b) == 2) {
        evse.hb_interval_s = a;
        evse.hb_current_a = b;
        evse.last_pulse_mono_ms = mono_ms;
    } else if (strcmp(command, "$SY 165") == 0) {
        evse.hb_triggered = 0;
        evse.last_pulse_mono_ms = mono_ms;
    } else if (strcmp(command, "$SY") == 0) {
        evse.last_pulse_mono_ms = mono_ms;
    } else {
        ok = 0;
    }
    char text[48];
    if (ok) snprintf(text, sizeof(text), "$OK %u %u %u", evse.hb_interval_s, evse.hb_current_a, evse.hb_triggered ? 2u : 0u);
    else snprintf(text, sizeof(text), "$NK");
    lsh_rapi_with_checksum(text, reply, reply_size);
    /* The pulses are one a second: only the settings and acknowledgements are printed. */
    if (strcmp(command, "$SY") != 0) say("rapi: %s -> %s", line, reply);
    return 0;
}

static void self_facts(double mono_ms, lsh_self_facts_t *self) {
    memset(self, 0, sizeof(*self));
    car_follow(mono_ms);
    const double pilot = pilot_a(mono_ms);
    self->vehicle = evse.connected ? 1u : 0u;
    self->state = !evse.connected ? 1u : (pilot > 0.0 ? 3u : 2u);
    self->priority = member.priority;
    self->amp_ma = evse.amp_ma;
    self->voltage_v = 240.0;
    self->min_current_a = evse.min_current_a;
    self->max_current_a = evse.max_current_a;
    self->demand = evse.connected ? 1 : 0;
    self->pilot_a = pilot;
}

/* ---- sockets ---- */

static int set_nonblocking(int fd) {
    const int flags = fcntl(fd, F_GETFL, 0);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int send_all(int fd, const char *data, size_t size) {
    size_t sent = 0;
    while (sent < size) {
        const ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            struct pollfd p = {fd, POLLOUT, 0};
            if (poll(&p, 1, 1000) <= 0) return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

/* ---- HTTP messages ---- */

typedef struct http_message {
    char method[8];
    char target[256];
    int status;
    size_t header_count;
    char *names[HEADERS_MAX];
    char *values[HEADERS_MAX];
    char *body;
    size_t body_len;
} http_message_t;

static const char *header_of(const http_message_t *h, const char *name) {
    for (size_t i = 0; i < h->header_count; i++) {
        if (strcasecmp(h->names[i], name) == 0) return h->values[i];
    }
    return NULL;
}

/* Decodes a chunked body in place: 1 complete (len_out: the decoded size), 0 incomplete, -1 bad. */
static int dechunk(char *body, size_t have, size_t *len_out) {
    size_t read = 0, written = 0;
    for (;;) {
        char *line_end = NULL;
        for (size_t i = read; i + 1 < have; i++) {
            if (body[i] == '\r' && body[i + 1] == '\n') {
                line_end = body + i;
                break;
            }
        }
        if (line_end == NULL) return 0;
        char *tail = NULL;
        const unsigned long size = strtoul(body + read, &tail, 16);
        if (tail == body + read || size > BODY_MAX) return -1;
        read = (size_t)(line_end - body) + 2;
        if (size == 0) {
            *len_out = written;
            return 1;
        }
        if (have < read + size + 2) return 0;
        memmove(body + written, body + read, size);
        written += size;
        read += size + 2;
    }
}

/* Parses the head in place (text is modified). Returns 1 complete, 0 need more, -1 malformed.
 * A request (is_request) starts with "METHOD TARGET HTTP/1.x", a response with "HTTP/1.x CODE". */
static int parse_message(char *text, size_t size, int is_request, int at_eof, http_message_t *h) {
    memset(h, 0, sizeof(*h));
    char *end = NULL;
    for (size_t i = 0; i + 3 < size; i++) {
        if (memcmp(text + i, "\r\n\r\n", 4) == 0) {
            end = text + i;
            break;
        }
    }
    if (end == NULL) return size > 16384 ? -1 : 0;
    *end = '\0';
    char *body = end + 4;
    char *line_end = strstr(text, "\r\n");
    if (line_end != NULL) *line_end = '\0';
    if (is_request) {
        if (sscanf(text, "%7s %255s HTTP/1.", h->method, h->target) != 2) return -1;
    } else if (sscanf(text, "HTTP/1.%*d %d", &h->status) != 1) {
        return -1;
    }
    char *line = line_end != NULL ? line_end + 2 : end;
    while (line < end && h->header_count < HEADERS_MAX) {
        char *next = strstr(line, "\r\n");
        if (next != NULL) *next = '\0';
        char *colon = strchr(line, ':');
        if (colon != NULL) {
            *colon = '\0';
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t') value++;
            size_t len = strlen(value);
            while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t')) value[--len] = '\0';
            h->names[h->header_count] = line;
            h->values[h->header_count] = value;
            h->header_count++;
        }
        if (next == NULL) break;
        line = next + 2;
    }
    const size_t have = size - (size_t)(body - text);
    const char *length = header_of(h, "content-length");
    const char *coding = header_of(h, "transfer-encoding");
    if (coding != NULL) {
        /* Chunked (a response without a length from a server that streams): decoded in place. */
        if (is_request || strcasecmp(coding, "chunked") != 0) return -1;
        const int decoded = dechunk(body, have, &h->body_len);
        if (decoded == 0) return at_eof ? -1 : 0;
        if (decoded < 0) return -1;
        h->body = body;
        body[h->body_len] = '\0';
        return 1;
    }
    size_t want = 0;
    if (length != NULL) {
        char *tail = NULL;
        const unsigned long n = strtoul(length, &tail, 10);
        if (tail == length || *tail != '\0' || n > BODY_MAX) return -1;
        want = (size_t)n;
    } else if (!is_request) {
        if (!at_eof) return 0; /* a response without a length ends with the connection */
        want = have;
    }
    if (have < want) return 0;
    h->body = body;
    h->body_len = want;
    body[want] = '\0'; /* the buffer always has a spare byte */
    return 1;
}

/* One request to a peer (Connection: close), signed for `to` (its id, or its host until the id
 * is known) when the group has a key; the response's MAC is checked against the request's
 * nonce. Never with the admin password: a peer is trusted with the key only, and whatever
 * answers at a member's address must learn nothing from us (docs/security.md D1). Returns the
 * HTTP status, 0 when no answer; body_out is malloc'ed (free()); auth_error_out: NULL or why the
 * response is not authentic. */
static int http_request(const char *host, const char *to, const char *method, const char *path, const char *body, char **body_out,
                        const char **auth_error_out) {
    *body_out = NULL;
    *auth_error_out = NULL;
    char name[LSH_HOST_BYTES_MAX + 1];
    snprintf(name, sizeof(name), "%s", host);
    char *port = strrchr(name, ':');
    if (port == NULL) return 0;
    *port++ = '\0';
    char *address = name;
    if (address[0] == '[') {
        address++;
        char *close = strchr(address, ']');
        if (close != NULL) *close = '\0';
    }
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(address, port, &hints, &found) != 0 || found == NULL) return 0;
    const int fd = socket(found->ai_family, SOCK_STREAM, 0);
    if (fd < 0) {
        freeaddrinfo(found);
        return 0;
    }
    set_nonblocking(fd);
    int status = 0;
    char *buffer = NULL;
    const double deadline_ms = now_mono() + REQUEST_TIMEOUT_MS;
    int connected = connect(fd, found->ai_addr, found->ai_addrlen) == 0;
    freeaddrinfo(found);
    if (!connected && errno == EINPROGRESS) {
        struct pollfd p = {fd, POLLOUT, 0};
        int error = 0;
        socklen_t error_size = sizeof(error);
        connected = poll(&p, 1, 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_size) == 0 && error == 0;
    }
    if (!connected) goto done;
    const size_t body_len = body != NULL ? strlen(body) : 0;
    lsh_auth_request_sig_t sig;
    char head[1024];
    int head_len;
    if (have_key) {
        lsh_auth_sign_request(&auth, method, path, body != NULL ? body : "", body_len, member.self_id, to, lsh_platform_now_ms(), &sig);
        head_len = snprintf(head, sizeof(head),
                            "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nx-loadshare-host: %s\r\n"
                            "x-loadshare-id: %s\r\nx-loadshare-to: %s\r\nx-loadshare-ts: %s\r\nx-loadshare-nonce: %s\r\n"
                            "x-loadshare-mac: %s\r\n",
                            method, path, host, member.self_address, sig.id, sig.to, sig.ts, sig.nonce, sig.mac);
    } else {
        head_len = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nx-loadshare-host: %s\r\n",
                            method, path, host, member.self_address);
    }
    if (body != NULL) {
        head_len += snprintf(head + head_len, sizeof(head) - (size_t)head_len,
                             "content-type: application/json\r\nx-loadshare-push: 1\r\ncontent-length: %zu\r\n", body_len);
    }
    head_len += snprintf(head + head_len, sizeof(head) - (size_t)head_len, "\r\n");
    if (send_all(fd, head, (size_t)head_len) != 0 || (body_len > 0 && send_all(fd, body, body_len) != 0)) goto done;
    buffer = malloc(REQUEST_MAX + 1);
    if (buffer == NULL) goto done;
    size_t used = 0;
    http_message_t response;
    for (;;) {
        const double left_ms = deadline_ms - now_mono();
        if (left_ms <= 0) goto done;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left_ms) <= 0) goto done;
        const ssize_t n = recv(fd, buffer + used, REQUEST_MAX - used, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0 || used + (size_t)n >= REQUEST_MAX) {
            buffer[used] = '\0';
            if (parse_message(buffer, used, 0, 1, &response) == 1) break;
            goto done;
        }
        used += (size_t)n;
        char *copy = malloc(used + 1);
        if (copy == NULL) goto done;
        memcpy(copy, buffer, used);
        copy[used] = '\0';
        const int complete = parse_message(copy, used, 0, 0, &response);
        free(copy);
        if (complete == 1) {
            buffer[used] = '\0';
            parse_message(buffer, used, 0, 0, &response);
            break;
        }
        if (complete < 0) goto done;
    }
    status = response.status;
    if (have_key) {
        *auth_error_out = lsh_auth_verify_response(&auth, header_of(&response, "x-loadshare-ts"), header_of(&response, "x-loadshare-mac"),
                                                   sig.nonce, status, response.body, response.body_len, lsh_platform_now_ms());
    }
    *body_out = malloc(response.body_len + 1);
    if (*body_out != NULL) {
        memcpy(*body_out, response.body, response.body_len);
        (*body_out)[response.body_len] = '\0';
    }
done:
    free(buffer);
    close(fd);
    return status;
}

/* ---- the peers: polling, pushes, fetches ---- */

static void poll_peers(void) {
    /* The members, and the members removed that are still reserved (leaving): their status
     * says when a person set them up on their own. */
    for (uint32_t i = 0; i < member.peer_count + member.held_count; i++) {
        char host[LSH_HOST_BYTES_MAX + 1];
        snprintf(host, sizeof(host), "%s", member.peers[i].ref.host);
        char *body = NULL;
        const char *auth_error = NULL;
        char to[LSH_HOST_BYTES_MAX + 1];
        snprintf(to, sizeof(to), "%s", lsh_member_destination(&member, i));
        const int status = http_request(host, to, "GET", "/status", NULL, &body, &auth_error);
        /* The member table may have changed while we waited (it does not: one thread), but the
         * index is checked against the host all the same. */
        if (i >= member.peer_count + member.held_count || strcmp(member.peers[i].ref.host, host) != 0) {
            free(body);
            continue;
        }
        if (status == 200 && auth_error != NULL) {
            /* Not from a holder of the key (or tampered with): ignored, the peer stays offline. */
            lsh_member_auth_failure(&member, i, auth_error);
        } else if (status == 200 && body != NULL) {
            cJSON *doc = cJSON_Parse(body);
            const double heard_ms = now_mono();
            const char *problem = lsh_member_on_peer_doc(&member, i, doc, heard_ms, heard_ms);
            if (problem != NULL) lsh_platform_log(LSH_LOG_WARN, "peer %s: %s", host, problem);
        }
        free(body);
    }
}

static void run_actions(void) {
    lsh_member_action_t action;
    /* Bounded: every action either completes or moves its own due time into the future. */
    for (int round = 0; round < 2 * LSH_MEMBERS_MAX && lsh_member_next_action(&member, lsh_platform_monotonic_ms(), &action); round++) {
        char *body = NULL;
        const char *auth_error = NULL;
        if (action.kind == LSH_ACTION_PUSH) {
            int status = http_request(action.host, action.to, "POST", "/config", action.body, &body, &auth_error);
            /* An answer we cannot authenticate is no proof of delivery: retried. */
            if (status != 0 && auth_error != NULL) {
                lsh_platform_log(LSH_LOG_WARN, "sync: push answer from %s not authentic (%s)", action.host, auth_error);
                status = 0;
            }
            lsh_member_push_result(&member, &action, status, lsh_platform_monotonic_ms());
        } else {
            const int status = http_request(action.host, action.to, "GET", "/config", NULL, &body, &auth_error);
            const char *failure = status == 0 ? "GET /config failed" : status != 200 ? "GET /config refused" : auth_error;
            if (status == 200 && auth_error != NULL) lsh_member_auth_failure(&member, action.index, auth_error);
            lsh_member_fetch_result(&member, &action, failure == NULL ? body : NULL, body != NULL ? strlen(body) : 0, failure,
                                    lsh_platform_monotonic_ms());
        }
        free(body);
        lsh_member_action_free(&action);
    }
}

/* ---- the status stream ---- */

static void ws_send_text(connection_t *c, const char *text) {
    const size_t len = strlen(text);
    uint8_t head[10];
    size_t head_len = 0;
    head[head_len++] = 0x81; /* FIN, text */
    if (len < 126) {
        head[head_len++] = (uint8_t)len;
    } else if (len < 65536) {
        head[head_len++] = 126;
        head[head_len++] = (uint8_t)(len >> 8);
        head[head_len++] = (uint8_t)len;
    } else {
        head[head_len++] = 127;
        for (int k = 7; k >= 0; k--) head[head_len++] = (uint8_t)((uint64_t)len >> (8 * k));
    }
    if (send_all(c->fd, (const char *)head, head_len) != 0 || send_all(c->fd, text, len) != 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static void ws_send_status(connection_t *c) {
    if (status_text == NULL) return;
    if (!c->signed_session) {
        ws_send_text(c, status_text);
        return;
    }
    const uint64_t ts_ms = (uint64_t)floor(lsh_platform_now_ms());
    char mac[LSH_AUTH_MAC_HEX + 1];
    c->ctr++;
    lsh_auth_frame_mac(&auth, c->nonce, c->subscriber, c->ctr, ts_ms, status_text, strlen(status_text), mac);
    cJSON *frame = cJSON_CreateObject();
    cJSON *sig = cJSON_AddObjectToObject(frame, "ls_sig");
    cJSON_AddNumberToObject(sig, "ctr", (double)c->ctr);
    cJSON_AddNumberToObject(sig, "ts", (double)ts_ms);
    cJSON_AddStringToObject(sig, "mac", mac);
    cJSON_AddStringToObject(frame, "ls_doc", status_text);
    char *text = cJSON_PrintUnformatted(frame);
    cJSON_Delete(frame);
    if (text != NULL) ws_send_text(c, text);
    cJSON_free(text);
}

/* ---- serving ---- */

static void respond(connection_t *c, int status, const char *body, const http_message_t *request, const char *request_nonce,
                    const char *extra_headers) {
    static const struct { int code; const char *text; } reasons[] = {
        {200, "OK"}, {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
        {405, "Method Not Allowed"}, {409, "Conflict"}, {413, "Payload Too Large"}, {500, "Internal Server Error"},
    };
    const char *reason = "Status";
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].code == status) reason = reasons[i].text;
    }
    (void)request;
    const size_t len = strlen(body);
    char signature[256] = "";
    if (request_nonce != NULL && have_key) {
        char ts[24];
        char mac[LSH_AUTH_MAC_HEX + 1];
        lsh_auth_sign_response(&auth, request_nonce, status, body, len, lsh_platform_now_ms(), ts, mac);
        snprintf(signature, sizeof(signature), "x-loadshare-ts: %s\r\nx-loadshare-mac: %s\r\n", ts, mac);
    }
    char head[768];
    const int head_len = snprintf(head, sizeof(head),
                                  "HTTP/1.1 %d %s\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: %zu\r\n"
                                  "cache-control: no-store\r\nconnection: close\r\n%s%s\r\n",
                                  status, reason, len, signature, extra_headers != NULL ? extra_headers : "");
    if (send_all(c->fd, head, (size_t)head_len) == 0) send_all(c->fd, body, len);
}

static void respond_msg(connection_t *c, int status, const char *msg, const http_message_t *request, const char *nonce,
                        int with_version, double version, const char *extra_headers) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "msg", msg);
    if (with_version) cJSON_AddNumberToObject(d, "config_version", version);
    char *text = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    respond(c, status, text != NULL ? text : "{}", request, nonce, extra_headers);
    cJSON_free(text);
}

static int is_person(const http_message_t *request) {
    const char *given = header_of(request, "authorization");
    return admin_basic[0] != '\0' && given != NULL && strncasecmp(given, "basic ", 6) == 0 && strcmp(given + 6, admin_basic + 6) == 0;
}

/* A person's POST /config: group fields and loadsharing_priority, any subset, nothing else. */
static void user_write(connection_t *c, const http_message_t *request) {
    if (!is_person(request)) {
        respond_msg(c, 401, "Authentication required", request, NULL, 0, 0, "WWW-Authenticate: Basic realm=\"loadshare\"\r\n");
        return;
    }
    cJSON *d = cJSON_ParseWithLength(request->body, request->body_len);
    if (!cJSON_IsObject(d)) {
        cJSON_Delete(d);
        respond_msg(c, 400, "body must be a JSON object", request, NULL, 0, 0, NULL);
        return;
    }
    /* Start from the config in force, then take each key given. */
    char *current = lsh_member_group_json(&member, NULL);
    cJSON *merged = cJSON_Parse(current != NULL ? current : "{}");
    cJSON_free(current);
    int32_t priority = member.priority;
    const char *problem = NULL;
    char why[160];
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, d) {
        if (strcmp(item->string, "loadsharing_priority") == 0) {
            if (!cJSON_IsNumber(item) || floor(item->valuedouble) != item->valuedouble) problem = "loadsharing_priority must be integer";
            else priority = (int32_t)item->valuedouble;
            continue;
        }
        if (strncmp(item->string, "loadsharing_config_", 19) == 0 || strcmp(item->string, "loadsharing_members") == 0 ||
            cJSON_GetObjectItemCaseSensitive(merged, item->string) == NULL) {
            snprintf(why, sizeof(why), "%s cannot be written here", item->string);
            problem = why;
            break;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(merged, item->string, cJSON_Duplicate(item, 1));
    }
    lsh_group_doc_t doc;
    char *text = cJSON_PrintUnformatted(merged);
    if (problem == NULL && text != NULL) problem = lsh_group_doc_parse(text, strlen(text), 0, &doc, why, sizeof(why));
    cJSON_free(text);
    cJSON_Delete(merged);
    cJSON_Delete(d);
    int changed = 0;
    if (problem == NULL) problem = lsh_member_local_write(&member, &doc.fields, priority, lsh_platform_now_ms(), &changed);
    if (problem != NULL) {
        respond_msg(c, 400, problem, request, NULL, 0, 0, NULL);
        return;
    }
    respond_msg(c, 200, changed ? "done" : "no change", request, NULL, 1, member.general_config_version, NULL);
}

static void handle_upgrade(connection_t *c, const http_message_t *request, const char *nonce, const char *subscriber) {
    const char *key = header_of(request, "sec-websocket-key");
    const char *upgrade = header_of(request, "upgrade");
    if (key == NULL || upgrade == NULL || strcasecmp(upgrade, "websocket") != 0 || strlen(key) > 64) {
        respond_msg(c, 400, "a WebSocket upgrade is expected", request, NULL, 0, 0, NULL);
        return;
    }
    char joined[128];
    snprintf(joined, sizeof(joined), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    unsigned char digest[20];
    unsigned char accept[64];
    size_t accept_len = 0;
    mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA1), (const unsigned char *)joined, strlen(joined), digest);
    mbedtls_base64_encode(accept, sizeof(accept), &accept_len, digest, sizeof(digest));
    accept[accept_len] = '\0';
    char head[256];
    const int head_len = snprintf(head, sizeof(head),
                                  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                                  accept);
    if (send_all(c->fd, head, (size_t)head_len) != 0) return;
    c->ws = 1;
    c->used = 0;
    c->ctr = 0;
    c->signed_session = nonce != NULL;
    if (nonce != NULL) {
        memcpy(c->nonce, nonce, sizeof(c->nonce));
        snprintf(c->subscriber, sizeof(c->subscriber), "%s", subscriber);
    }
    ws_send_status(c); /* the full document first, as Node's server */
}

/* %XX escapes of a path segment decoded in place; 0 when one is malformed. */
static int percent_decode(char *text) {
    char *out = text;
    for (const char *in = text; *in != '\0'; in++) {
        if (*in != '%') {
            *out++ = *in;
            continue;
        }
        unsigned value = 0;
        if (sscanf(in + 1, "%2x", &value) != 1 || in[1] == '\0' || in[2] == '\0' || value == 0) return 0;
        *out++ = (char)value;
        in += 2;
    }
    *out = '\0';
    return 1;
}

/* DELETE /loadsharing/peers/HOST?gone=true: a person says a member removed from the group no
 * longer draws from this breaker (Node's route with gone=true): nothing stays reserved for it.
 * Only that word is taken here: this charger's members come from its group's member list. */
static void handle_gone(connection_t *c, const http_message_t *request, char *host, const char *query) {
    if (!is_person(request)) {
        respond_msg(c, 401, "Authentication required", request, NULL, 0, 0, "WWW-Authenticate: Basic realm=\"loadshare\"\r\n");
        return;
    }
    if (query == NULL || strstr(query, "gone=true") == NULL) {
        respond_msg(c, 400, "this charger follows its group's member list: only ?gone=true (a removed member is gone) is taken here", request,
                    NULL, 0, 0, NULL);
        return;
    }
    if (!percent_decode(host) || host[0] == '\0') {
        respond_msg(c, 400, "Invalid host format", request, NULL, 0, 0, NULL);
        return;
    }
    const char *problem = lsh_member_forget(&member, host);
    if (problem == NULL) respond_msg(c, 200, "done", request, NULL, 0, 0, NULL);
    else respond_msg(c, strcmp(problem, "Peer not found") == 0 ? 404 : 400, problem, request, NULL, 0, 0, NULL);
}

/* POST /loadsharing/alone: a person says this charger is on its own on its breaker (Node's
 * route, rule 8): with no members it may use the whole limit, and its former peers forget its
 * reserve once they hear alone_confirmed. No body, or {}. 400 while it still has members. */
static void handle_alone(connection_t *c, const http_message_t *request) {
    if (!is_person(request)) {
        respond_msg(c, 401, "Authentication required", request, NULL, 0, 0, "WWW-Authenticate: Basic realm=\"loadshare\"\r\n");
        return;
    }
    if (request->body_len > 0) {
        cJSON *d = cJSON_ParseWithLength(request->body, request->body_len);
        const int empty_object = cJSON_IsObject(d) && d->child == NULL;
        cJSON_Delete(d);
        if (!empty_object) {
            respond_msg(c, 400, "no body expected (or {})", request, NULL, 0, 0, NULL);
            return;
        }
    }
    const char *problem = lsh_member_confirm_alone(&member);
    if (problem == NULL) respond_msg(c, 200, "done", request, NULL, 0, 0, NULL);
    else respond_msg(c, 400, problem, request, NULL, 0, 0, NULL);
}

/* Returns 1 when the connection stays open (a /ws client). */
static int handle_request(connection_t *c, http_message_t *request) {
    char path[256];
    snprintf(path, sizeof(path), "%s", request->target);
    char *query = strchr(path, '?');
    if (query != NULL) *query = '\0';
    /* The group key: a signed request is checked (Node's preValidation hook); only a good one
     * gets a signed answer. Reads stay open to anyone, as upstream. */
    char sender[33] = "";
    char nonce_buffer[LSH_AUTH_NONCE_HEX + 1];
    const char *nonce = NULL;
    int auth_code = 401;
    const char *auth_reason = "not signed";
    const int is_signed = header_of(request, "x-loadshare-id") != NULL || header_of(request, "x-loadshare-mac") != NULL;
    if (have_key && is_signed) {
        const lsh_auth_request_headers_t h = {header_of(request, "x-loadshare-id"), header_of(request, "x-loadshare-to"),
                                              header_of(request, "x-loadshare-ts"), header_of(request, "x-loadshare-nonce"),
                                              header_of(request, "x-loadshare-mac")};
        auth_code = lsh_auth_verify_request(&auth, &h, request->method, request->target, request->body != NULL ? request->body : "",
                                            request->body_len, lsh_member_is_me, &member, lsh_platform_now_ms(), sender, nonce_buffer,
                                            &auth_reason);
        if (auth_code == 0) nonce = nonce_buffer;
        else lsh_platform_log(LSH_LOG_WARN, "auth: %s %s refused (%s)", request->method, request->target, auth_reason);
    }
    const int get = strcmp(request->method, "GET") == 0;
    const int post = strcmp(request->method, "POST") == 0;
    if (strncmp(path, "/loadsharing/peers/", 19) == 0 && strcmp(request->method, "DELETE") == 0) {
        handle_gone(c, request, path + 19, query != NULL ? query + 1 : NULL);
    } else if (strcmp(path, "/loadsharing/alone") == 0 && post) {
        handle_alone(c, request);
    } else if (strcmp(path, "/status") == 0 && get) {
        respond(c, 200, status_text != NULL ? status_text : "{}", request, nonce, NULL);
    } else if (strcmp(path, "/config") == 0 && get) {
        char *text = lsh_member_config_json(&member);
        respond(c, 200, text != NULL ? text : "{}", request, nonce, NULL);
        cJSON_free(text);
    } else if (strcmp(path, "/config") == 0 && post) {
        if (header_of(request, "x-loadshare-push") != NULL || is_signed) {
            /* A peer's push: with a key it must be signed for us (401 unsigned, 403 bad); without a
             * key nobody's is taken: 401 without a person's credentials, 403 report-only with them. */
            int code = have_key ? auth_code : (is_person(request) ? 0 : 401);
            char msg[200];
            const int status = lsh_member_receive_push(&member, request->body != NULL ? request->body : "", request->body_len, code,
                                                       sender[0] != '\0' ? sender : NULL, lsh_platform_now_ms(), msg, sizeof(msg));
            if (code != 0) snprintf(msg, sizeof(msg), "config push refused: %s", have_key ? auth_reason : "no credentials");
            respond_msg(c, status, msg, request, nonce, 1, member.meta.version, status == 401 ? "www-authenticate: LoadshareHMAC\r\n" : NULL);
        } else {
            user_write(c, request);
        }
    } else if (strcmp(path, "/sim/ev") == 0 && post) {
        cJSON *d = cJSON_ParseWithLength(request->body != NULL ? request->body : "", request->body_len);
        const cJSON *connected = cJSON_GetObjectItemCaseSensitive(d, "connected");
        if (!cJSON_IsBool(connected)) {
            respond_msg(c, 400, "connected must be boolean", request, NULL, 0, 0, NULL);
        } else {
            evse.connected = cJSON_IsTrue(connected);
            say("evse: car %s", evse.connected ? "plugged in" : "unplugged");
            respond_msg(c, 200, "done", request, NULL, 0, 0, NULL);
        }
        cJSON_Delete(d);
    } else if (strcmp(path, "/ws") == 0 && get) {
        handle_upgrade(c, request, nonce, sender);
        return c->ws;
    } else if (strcmp(path, "/status") == 0 || strcmp(path, "/config") == 0 || strcmp(path, "/sim/ev") == 0 || strcmp(path, "/ws") == 0 ||
               strcmp(path, "/loadsharing/alone") == 0) {
        respond_msg(c, 405, "Method not allowed", request, NULL, 0, 0, NULL);
    } else {
        respond_msg(c, 404, "Not found", request, NULL, 0, 0, NULL);
    }
    return 0;
}

static void drop(connection_t *c) {
    if (c->fd >= 0) close(c->fd);
    free(c->buffer);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static void on_readable(connection_t *c) {
    if (c->buffer == NULL) c->buffer = malloc(REQUEST_MAX + 1);
    if (c->buffer == NULL) {
        drop(c);
        return;
    }
    const ssize_t n = recv(c->fd, c->buffer + c->used, REQUEST_MAX - c->used, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        drop(c);
        return;
    }
    if (c->ws) {
        /* A client's frames: only a close frame (opcode 8) matters; pings and text are ignored. */
        if (((uint8_t)c->buffer[0] & 0x0F) == 0x08) drop(c);
        return;
    }
    c->used += (size_t)n;
    if (c->used >= REQUEST_MAX) {
        drop(c);
        return;
    }
    char *copy = malloc(c->used + 1);
    if (copy == NULL) {
        drop(c);
        return;
    }
    memcpy(copy, c->buffer, c->used);
    http_message_t request;
    const int complete = parse_message(copy, c->used, 1, 0, &request);
    if (complete == 0) {
        free(copy);
        return;
    }
    if (complete < 0) {
        respond_msg(c, 400, "malformed request", &request, NULL, 0, 0, NULL);
        free(copy);
        drop(c);
        return;
    }
    const int keep = handle_request(c, &request);
    free(copy);
    if (!keep) drop(c);
}

/* ---- the loop ---- */

static void tick(void) {
    const double mono_ms = now_mono();
    lsh_self_facts_t self;
    self_facts(mono_ms, &self);
    const lsh_result_t result = lsh_member_tick(&member, mono_ms, lsh_platform_now_ms(), &self, &last_tick);
    if (result != lsh_ok) lsh_platform_log(LSH_LOG_ERROR, "tick failed: %s", result);
    ticked = 1;
    self_facts(mono_ms, &self); /* the pilot after this decision */
    cJSON_free(status_text);
    status_text = lsh_member_status_json(&member, &self, &last_tick, lsh_platform_now_ms(), (mono_ms - started_mono_ms) / 1000.0);
    for (int i = 0; i < CONNECTIONS_MAX; i++) {
        if (connections[i].fd >= 0 && connections[i].ws) ws_send_status(&connections[i]);
    }
}

static void on_signal(int signal_number) {
    (void)signal_number;
    stopping = 1;
}

static int usage(const char *message) {
    fprintf(stderr, "lsh_node: %s\n", message);
    return 2;
}

static int read_key(const char *file, char *out, size_t size) {
    FILE *f = fopen(file, "rb");
    if (f == NULL) return 0;
    const size_t n = fread(out, 1, size - 1, f);
    fclose(f);
    out[n] = '\0';
    while (n > 0 && (out[strlen(out) - 1] == '\n' || out[strlen(out) - 1] == '\r')) {
        out[strlen(out) - 1] = '\0';
        if (out[0] == '\0') break;
    }
    return 1;
}

int main(int argc, char **argv) {
    const char *id = NULL, *host = "127.0.0.1", *key_file = NULL, *admin = NULL;
    int port = 0;
    double tick_ms = 1000.0;
    const char *peers[LSH_PEERS_MAX];
    uint32_t peer_count = 0;
    int32_t priority = 0;
    lsh_group_doc_t config;
    memset(&config, 0, sizeof(config));
    /* Node's defaults (config.ts default_node_config); version 0: any configured group wins. */
    config.fields.group_max_current_a = 32.0;
    config.fields.safety_factor = 1.0;
    config.fields.heartbeat_timeout_s = 30.0;
    config.fields.failsafe_mode = LSH_FAILSAFE_MODE_SAFE_CURRENT;
    config.fields.failsafe_safe_current_a = 6.0;
    config.fields.failsafe_peer_assumed_current_a = 6.0;
    config.fields.rotation_interval_s = 1800.0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--car") == 0) {
            evse.connected = 1;
            continue;
        }
        if (value == NULL) return usage("every option but --car takes a value");
        i++;
        if (strcmp(arg, "--id") == 0) id = value;
        else if (strcmp(arg, "--host") == 0) host = value;
        else if (strcmp(arg, "--http-port") == 0) port = atoi(value);
        else if (strcmp(arg, "--peer") == 0) {
            if (peer_count >= LSH_PEERS_MAX) return usage("too many peers (at most 15)");
            peers[peer_count++] = value;
        } else if (strcmp(arg, "--key-file") == 0) key_file = value;
        else if (strcmp(arg, "--admin") == 0) admin = value;
        else if (strcmp(arg, "--group-id") == 0) snprintf(config.fields.group_id, sizeof(config.fields.group_id), "%s", value);
        else if (strcmp(arg, "--group-max-current") == 0) config.fields.group_max_current_a = atof(value);
        else if (strcmp(arg, "--heartbeat-timeout") == 0) config.fields.heartbeat_timeout_s = atof(value);
        else if (strcmp(arg, "--failsafe-safe-current") == 0) config.fields.failsafe_safe_current_a = atof(value);
        else if (strcmp(arg, "--failsafe-peer-assumed-current") == 0) config.fields.failsafe_peer_assumed_current_a = atof(value);
        else if (strcmp(arg, "--priority") == 0) priority = atoi(value);
        else if (strcmp(arg, "--car-max-current") == 0) evse.car_max_a = atof(value);
        else if (strcmp(arg, "--car-lag-ms") == 0) evse.lag_ms = atof(value);
        else if (strcmp(arg, "--tick-ms") == 0) tick_ms = atof(value);
        else {
            char message[160];
            snprintf(message, sizeof(message), "unknown option %s", arg);
            return usage(message);
        }
    }
    if (id == NULL || !lsh_peer_id_valid(id)) return usage("--id must be 1..32 printable characters, no space or comma, not starting with ?");
    if (port < 1 || port > 65535) return usage("--http-port must be 1..65535");
    if (!(tick_ms >= 50.0 && tick_ms <= 10000.0)) return usage("--tick-ms must be 50..10000");
    char key[LSH_AUTH_KEY_CHARS_MAX + 2] = "";
    if (key_file != NULL) {
        if (!read_key(key_file, key, sizeof(key))) return usage("--key-file cannot be read");
        if (!lsh_auth_init(&auth, key, urandom, NULL)) return usage("the group key must be 16..128 characters");
        have_key = 1;
    }
    memset(key, 0, sizeof(key));
    if (admin != NULL) {
        if (strchr(admin, ':') == NULL || strlen(admin) > 128) return usage("--admin must be USER:PASS");
        unsigned char encoded[200];
        size_t encoded_len = 0;
        mbedtls_base64_encode(encoded, sizeof(encoded), &encoded_len, (const unsigned char *)admin, strlen(admin));
        encoded[encoded_len] = '\0';
        snprintf(admin_basic, sizeof(admin_basic), "Basic %s", encoded);
    }
    char self_address[LSH_HOST_BYTES_MAX + 1];
    snprintf(self_address, sizeof(self_address), "%s:%d", host, port);

    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    for (int i = 0; i < CONNECTIONS_MAX; i++) connections[i].fd = -1;
    started_mono_ms = now_mono();

    const lsh_result_t loaded = lsh_runtime_load(&runtime, lsh_module_default, lsh_module_default_size);
    if (loaded != lsh_ok) {
        fprintf(stderr, "lsh_node: module refused: %s: %s\n", loaded, lsh_runtime_detail(&runtime));
        return 1;
    }
    uint8_t epoch_bytes[4];
    urandom(NULL, epoch_bytes, sizeof(epoch_bytes));
    lsh_member_options_t options;
    memset(&options, 0, sizeof(options));
    options.self_id = id;
    options.self_address = self_address;
    options.config = &config;
    options.peer_hosts = peers;
    options.peer_count = peer_count;
    options.priority = priority;
    options.sync_enabled = 1;
    options.has_group_key = have_key;
    options.module_hash_hex = lsh_module_default_sha256;
    options.runtime = &runtime;
    options.clock_epoch = (uint32_t)epoch_bytes[0] | (uint32_t)epoch_bytes[1] << 8 | (uint32_t)epoch_bytes[2] << 16 | (uint32_t)epoch_bytes[3] << 24;
    options.shaper.set_limit_a = shaper_set;
    options.rapi.send = rapi_send;
    const char *problem = lsh_member_init(&member, &options);
    if (problem != NULL) return usage(problem);

    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    const int yes = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    struct sockaddr_in address;
    memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) return usage("--host must be an IPv4 address");
    if (bind(listener, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(listener, 16) != 0) {
        fprintf(stderr, "lsh_node: cannot listen on %s: %s\n", self_address, strerror(errno));
        return 1;
    }
    set_nonblocking(listener);
    tick();
    say("lsh_node %s: listening on http://%s (group key: %s; %u peers)", id, self_address,
        have_key ? "yes" : "no: report-only, nothing adopted from peers", (unsigned)peer_count);

    double next_tick_ms = now_mono() + tick_ms;
    while (!stopping) {
        struct pollfd fds[CONNECTIONS_MAX + 1];
        int slots[CONNECTIONS_MAX + 1];
        nfds_t count = 0;
        fds[count] = (struct pollfd){listener, POLLIN, 0};
        slots[count++] = -1;
        for (int i = 0; i < CONNECTIONS_MAX; i++) {
            if (connections[i].fd < 0) continue;
            fds[count] = (struct pollfd){connections[i].fd, POLLIN, 0};
            slots[count++] = i;
        }
        const double wait_ms = next_tick_ms - now_mono();
        const int ready = poll(fds, count, wait_ms > 0 ? (int)ceil(wait_ms) : 0);
        if (ready > 0) {
            for (nfds_t k = 0; k < count; k++) {
                if (fds[k].revents == 0) continue;
                if (slots[k] < 0) {
                    for (;;) {
                        const int fd = accept(listener, NULL, NULL);
                        if (fd < 0) break;
                        int slot = -1;
                        for (int i = 0; i < CONNECTIONS_MAX && slot < 0; i++) {
                            if (connections[i].fd < 0) slot = i;
                        }
                        if (slot < 0) {
                            close(fd); /* full: the client retries */
                            continue;
                        }
                        set_nonblocking(fd);
                        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
                        connections[slot].fd = fd;
                        connections[slot].opened_ms = now_mono();
                    }
                } else {
                    on_readable(&connections[slots[k]]);
                }
            }
        }
        const double mono_ms = now_mono();
        for (int i = 0; i < CONNECTIONS_MAX; i++) {
            /* A request that is not complete within the timeout is dropped. */
            if (connections[i].fd >= 0 && !connections[i].ws && mono_ms - connections[i].opened_ms > 5000.0) drop(&connections[i]);
        }
        if (mono_ms >= next_tick_ms) {
            next_tick_ms = mono_ms + tick_ms;
            poll_peers();
            run_actions();
            tick();
        }
    }
    for (int i = 0; i < CONNECTIONS_MAX; i++) drop(&connections[i]);
    close(listener);
    cJSON_free(status_text);
    lsh_member_free(&member);
    lsh_runtime_unload(&runtime);
    say("lsh_node %s: stopped", id);
    return 0;
}
