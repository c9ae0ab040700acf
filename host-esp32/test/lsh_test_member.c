/* The group member in C (lsh_member.c, lsh_auth.c, lsh_supervise.c), without a network:
 *  - the group key against MACs the Node host computed (host-node/station/peer-auth.ts GroupAuth,
 *    key "esp32 member test key 0123", clock 1700000000123 ms; gen-auth-vectors.mjs prints them),
 *    and the refusals (unsigned, malformed, bad, other path, signed for another charger, a frame
 *    for another subscriber, stale, replayed, cache full); which destinations name a charger;
 *  - the order of configs and the group document's validation (config.ts rules);
 *  - sync on the built-in module: id binding, a newer status -> fetch -> adoption, pushes
 *    answered 200 / no change / 409 / 400 / 403, a local write pushed with backoff
 *    1, 2, 4 ... 60 s, a member list without this charger;
 *  - the RAPI lines the supervision sends (recorded): $SY interval current from the config in
 *    force, re-set on every change, pulses, and the acknowledgement of a missed pulse;
 *  - members removed from the group (rule 8): kept reserved as leaving, forgotten when one says
 *    a person set it up on its own or a person says it is gone, the leaving list stored and
 *    restored after a restart, and the member table's room;
 *  - the status document's keys, as Node's peers read them;
 *  - a member's older status (a lower config_version) after a newer one: its config is not taken. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lsh_auth.h"
#include "lsh_block.h"
#include "lsh_member.h"
#include "lsh_platform.h"
#include "lsh_module_default.h"
#include "lsh_runtime.h"
#include "lsh_supervise.h"
#include "lsh_test.h"
#include "lsh_test_store.h"

static const char test_key[] = "esp32 member test key 0123";
static const double node_now_ms = 1700000000123.0;

static void counter_random(void *context, uint8_t *out, size_t size) {
    unsigned *counter = context;
    for (size_t i = 0; i < size; i++) out[i] = (uint8_t)(*counter + i * 37u);
    (*counter)++;
}

/* A receiver that is the charger named `context` (an id): stands in for lsh_member_is_me, which
 * test_is_me checks on its own. */
static int is_named(const void *context, const char *to) {
    return strcmp((const char *)context, to) == 0;
}

/* The values below were computed by Node's GroupAuth (host-esp32/test/gen-auth-vectors.mjs,
 * which also checks that Node accepts each one): run it again after any change to the signing. */
static void test_auth(void) {
    static lsh_auth_t auth;
    unsigned counter = 1;
    LSH_CHECK(!lsh_auth_init(&auth, "too short", counter_random, &counter), "auth: a key under 16 characters is refused");
    LSH_CHECK(lsh_auth_init(&auth, test_key, counter_random, &counter), "auth: init");

    /* A request Node signed: POST /config by node-a, for esp. */
    const char *body = "{\"loadsharing_group_max_current\":20}";
    const lsh_auth_request_headers_t node_request = {"node-a", "esp", "1700000000123", "b3ec23b4c32362054c0a181bb88dd84b",
                                                     "0994e89111909cb68867a55f2e287951682a23b60d67197ddf7580246a455c05"};
    char sender[33];
    char nonce[LSH_AUTH_NONCE_HEX + 1];
    const char *reason = NULL;
    /* Signed for esp, received by esp2 (captured and replayed there): refused before its nonce is
     * remembered, so it says nothing about what esp may still take. */
    int code = lsh_auth_verify_request(&auth, &node_request, "POST", "/config", body, strlen(body), is_named, "esp2", node_now_ms, sender,
                                       nonce, &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "signed for another charger") == 0, "auth: a request signed for another charger is refused (%d %s)",
              code, reason ? reason : "");
    code = lsh_auth_verify_request(&auth, &node_request, "POST", "/config", body, strlen(body), NULL, NULL, node_now_ms, sender, nonce, &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "signed for another charger") == 0, "auth: without a way to name this charger, nothing is for it");
    code = lsh_auth_verify_request(&auth, &node_request, "POST", "/config", body, strlen(body), is_named, "esp", node_now_ms + 29000.0, sender,
                                   nonce, &reason);
    LSH_CHECK(code == 0 && strcmp(sender, "node-a") == 0, "auth: Node's signed request is accepted by its destination (%d %s)", code,
              reason ? reason : "");
    code = lsh_auth_verify_request(&auth, &node_request, "POST", "/config", body, strlen(body), is_named, "esp", node_now_ms, sender, nonce,
                                   &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "replayed nonce") == 0, "auth: its replay is refused (%d %s)", code, reason);

    static lsh_auth_t fresh;
    lsh_auth_init(&fresh, test_key, counter_random, &counter);
    code = lsh_auth_verify_request(&fresh, &node_request, "POST", "/config", "{\"loadsharing_group_max_current\":200}", 37, is_named, "esp",
                                   node_now_ms, sender, nonce, &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "bad signature") == 0, "auth: another body is refused (%s)", reason);
    code = lsh_auth_verify_request(&fresh, &node_request, "POST", "/status", body, strlen(body), is_named, "esp", node_now_ms, sender, nonce,
                                   &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "bad signature") == 0, "auth: another path is refused (%s)", reason);
    code = lsh_auth_verify_request(&fresh, &node_request, "GET", "/config", body, strlen(body), is_named, "esp", node_now_ms, sender, nonce,
                                   &reason);
    LSH_CHECK(code == 403, "auth: another method is refused");
    lsh_auth_request_headers_t redirected = node_request;
    redirected.to = "esp2"; /* the destination header rewritten: the MAC covers it */
    code = lsh_auth_verify_request(&fresh, &redirected, "POST", "/config", body, strlen(body), is_named, "esp2", node_now_ms, sender, nonce,
                                   &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "bad signature") == 0, "auth: a destination rewritten to this charger is refused (%s)", reason);
    code = lsh_auth_verify_request(&fresh, &node_request, "POST", "/config", body, strlen(body), is_named, "esp", node_now_ms + 30001.0, sender,
                                   nonce, &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "stale timestamp") == 0, "auth: 30 s + 1 ms late is stale (%s)", reason);
    static lsh_auth_t other;
    lsh_auth_init(&other, "another key of the right length", counter_random, &counter);
    code = lsh_auth_verify_request(&other, &node_request, "POST", "/config", body, strlen(body), is_named, "esp", node_now_ms, sender, nonce,
                                   &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "bad signature") == 0, "auth: another key is refused");
    const lsh_auth_request_headers_t unsigned_request = {NULL, NULL, NULL, NULL, NULL};
    code = lsh_auth_verify_request(&fresh, &unsigned_request, "POST", "/config", body, strlen(body), is_named, "esp", node_now_ms, sender,
                                   nonce, &reason);
    LSH_CHECK(code == 401, "auth: no signature is 401 (%d)", code);
    lsh_auth_request_headers_t malformed = node_request;
    malformed.nonce = "B3EC23B4C32362054C0A181BB88DD84B";
    code = lsh_auth_verify_request(&fresh, &malformed, "POST", "/config", body, strlen(body), is_named, "esp", node_now_ms, sender, nonce,
                                   &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "malformed signature headers") == 0, "auth: an upper-case nonce is malformed");
    malformed = node_request;
    malformed.ts = "17e11";
    code = lsh_auth_verify_request(&fresh, &malformed, "POST", "/config", body, strlen(body), is_named, "esp", node_now_ms, sender, nonce,
                                   &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "malformed signature headers") == 0, "auth: a timestamp that is not digits is malformed");
    malformed = node_request;
    malformed.to = NULL; /* a v1 request (no destination) */
    code = lsh_auth_verify_request(&fresh, &malformed, "POST", "/config", body, strlen(body), is_named, "esp", node_now_ms, sender, nonce,
                                   &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "malformed signature headers") == 0, "auth: a request without a destination is malformed");
    malformed.to = "";
    code = lsh_auth_verify_request(&fresh, &malformed, "POST", "/config", body, strlen(body), is_named, "", node_now_ms, sender, nonce,
                                   &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "malformed signature headers") == 0, "auth: an empty destination is malformed");
    code = lsh_auth_verify_request(&fresh, &node_request, "POST", "/config", body, strlen(body), is_named, "esp", node_now_ms, sender, nonce,
                                   &reason);
    LSH_CHECK(code == 0, "auth: none of those refusals used up the genuine request's nonce (%d %s)", code, reason ? reason : "");

    /* A request Node signed for an address (it did not know the id yet): GET /status to
     * 127.0.0.1:1000, taken by the charger listening there (lsh_member_is_me). */
    static lsh_member_t listener;
    memset(&listener, 0, sizeof(listener));
    snprintf(listener.self_id, sizeof(listener.self_id), "esp");
    snprintf(listener.self_address, sizeof(listener.self_address), "127.0.0.1:1000");
    const lsh_auth_request_headers_t by_address = {"node-a", "127.0.0.1:1000", "1700000000123", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                                   "c5e65157c0959a2b351b24161639f49c7221b749e0ac08fdd8f859384cb5b130"};
    snprintf(listener.self_address, sizeof(listener.self_address), "127.0.0.1:1001");
    code = lsh_auth_verify_request(&fresh, &by_address, "GET", "/status", "", 0, lsh_member_is_me, &listener, node_now_ms, sender, nonce, &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "signed for another charger") == 0, "auth: signed for 127.0.0.1:1000, refused at 127.0.0.1:1001 (%s)",
              reason ? reason : "accepted");
    snprintf(listener.self_address, sizeof(listener.self_address), "127.0.0.1:1000");
    code = lsh_auth_verify_request(&fresh, &by_address, "GET", "/status", "", 0, lsh_member_is_me, &listener, node_now_ms, sender, nonce, &reason);
    LSH_CHECK(code == 0, "auth: Node's request signed for this charger's address is accepted (%d %s)", code, reason ? reason : "");

    /* The response and a /ws frame, as Node signed them. */
    char ts[24];
    char mac[LSH_AUTH_MAC_HEX + 1];
    lsh_auth_sign_response(&auth, "00112233445566778899aabbccddeeff", 200, "{\"msg\":\"done\"}", 14, node_now_ms, ts, mac);
    LSH_CHECK(strcmp(ts, "1700000000123") == 0 && strcmp(mac, "7c04820fa305296088853d221f737a6b09777348175dd137987caf793fbc1f4b") == 0,
              "auth: the response MAC equals Node's (%s %s)", ts, mac);
    LSH_CHECK(lsh_auth_verify_response(&auth, ts, mac, "00112233445566778899aabbccddeeff", 200, "{\"msg\":\"done\"}", 14, node_now_ms) == NULL,
              "auth: Node's response verifies");
    const char *problem = lsh_auth_verify_response(&auth, ts, mac, "00112233445566778899aabbccddeeff", 409, "{\"msg\":\"done\"}", 14, node_now_ms);
    LSH_CHECK(problem != NULL && strcmp(problem, "bad response signature") == 0, "auth: another status is refused");
    problem = lsh_auth_verify_response(&auth, ts, mac, "ffeeddccbbaa99887766554433221100", 200, "{\"msg\":\"done\"}", 14, node_now_ms);
    LSH_CHECK(problem != NULL, "auth: a response recorded for another request is refused");
    problem = lsh_auth_verify_response(&auth, NULL, NULL, "00112233445566778899aabbccddeeff", 200, "{}", 2, node_now_ms);
    LSH_CHECK(problem != NULL && strcmp(problem, "response not signed") == 0, "auth: an unsigned response is refused");

    /* A frame Node signed for subscriber esp. */
    const char *doc = "{\"loadsharing\":{\"id\":\"node-a\"}}";
    lsh_auth_frame_mac(&auth, "ffeeddccbbaa99887766554433221100", "esp", 7, 1700000000123ull, doc, strlen(doc), mac);
    LSH_CHECK(strcmp(mac, "dbdc82c542747489b2ab6c61100f52f67e614ec45ee5ff6534e10032977ce8a9") == 0, "auth: the frame MAC equals Node's (%s)", mac);
    LSH_CHECK(lsh_auth_verify_frame(&auth, "ffeeddccbbaa99887766554433221100", "esp", 6, 7, node_now_ms, mac, doc, strlen(doc), node_now_ms) == NULL,
              "auth: Node's frame verifies at its subscriber");
    problem = lsh_auth_verify_frame(&auth, "ffeeddccbbaa99887766554433221100", "node-b", 6, 7, node_now_ms, mac, doc, strlen(doc), node_now_ms);
    LSH_CHECK(problem != NULL && strcmp(problem, "bad frame signature") == 0, "auth: a frame signed for another subscriber is refused (%s)",
              problem ? problem : "accepted");
    problem = lsh_auth_verify_frame(&auth, "ffeeddccbbaa99887766554433221100", "esp", 7, 7, node_now_ms, mac, doc, strlen(doc), node_now_ms);
    LSH_CHECK(problem != NULL && strcmp(problem, "replayed frame") == 0, "auth: a frame at the last counter is a replay");
    problem = lsh_auth_verify_frame(&auth, "00000000000000000000000000000000", "esp", 0, 7, node_now_ms, mac, doc, strlen(doc), node_now_ms);
    LSH_CHECK(problem != NULL && strcmp(problem, "bad frame signature") == 0, "auth: a frame of another session is refused");

    /* Its own signatures verify, each with a fresh nonce, at their destination only; a full
     * nonce cache refuses. */
    lsh_auth_request_sig_t sig;
    static lsh_auth_t server;
    lsh_auth_init(&server, test_key, counter_random, &counter);
    lsh_auth_sign_request(&auth, "GET", "/status", "", 0, "esp", "node-b", node_now_ms, &sig);
    lsh_auth_request_headers_t h = {sig.id, sig.to, sig.ts, sig.nonce, sig.mac};
    code = lsh_auth_verify_request(&server, &h, "GET", "/status", "", 0, is_named, "node-c", node_now_ms, sender, nonce, &reason);
    LSH_CHECK(strcmp(sig.to, "node-b") == 0 && code == 403 && strcmp(reason, "signed for another charger") == 0,
              "auth: its own request for node-b is refused by node-c");
    int accepted = 0;
    for (int i = 0; i < LSH_AUTH_NONCE_CACHE; i++) {
        lsh_auth_sign_request(&auth, "GET", "/status", "", 0, "esp", "node-b", node_now_ms, &sig);
        h = (lsh_auth_request_headers_t){sig.id, sig.to, sig.ts, sig.nonce, sig.mac};
        if (lsh_auth_verify_request(&server, &h, "GET", "/status", "", 0, is_named, "node-b", node_now_ms, sender, nonce, &reason) == 0) accepted++;
    }
    LSH_CHECK(accepted == LSH_AUTH_NONCE_CACHE, "auth: %d of %d own requests verify", accepted, LSH_AUTH_NONCE_CACHE);
    lsh_auth_sign_request(&auth, "GET", "/status", "", 0, "esp", "node-b", node_now_ms, &sig);
    h = (lsh_auth_request_headers_t){sig.id, sig.to, sig.ts, sig.nonce, sig.mac};
    code = lsh_auth_verify_request(&server, &h, "GET", "/status", "", 0, is_named, "node-b", node_now_ms, sender, nonce, &reason);
    LSH_CHECK(code == 403, "auth: with every nonce slot live a new request is refused, not let through unremembered");
    code = lsh_auth_verify_request(&server, &h, "GET", "/status", "", 0, is_named, "node-b", node_now_ms + 60001.0, sender, nonce, &reason);
    LSH_CHECK(code == 403 && strcmp(reason, "stale timestamp") == 0, "auth: ... and once the slots expired, the old request is stale");
    lsh_auth_sign_request(&auth, "GET", "/status", "", 0, "esp", "node-b", node_now_ms + 60001.0, &sig);
    h = (lsh_auth_request_headers_t){sig.id, sig.to, sig.ts, sig.nonce, sig.mac};
    code = lsh_auth_verify_request(&server, &h, "GET", "/status", "", 0, is_named, "node-b", node_now_ms + 60001.0, sender, nonce, &reason);
    LSH_CHECK(code == 0, "auth: expired slots are reused (%d)", code);
}

/* Which destinations name a charger (Node's is_self_host, addresses.ts). */
static void test_is_me(void) {
    static lsh_member_t m;
    memset(&m, 0, sizeof(m));
    snprintf(m.self_id, sizeof(m.self_id), "esp");
    snprintf(m.self_address, sizeof(m.self_address), "127.0.0.1:1000");
    const char *mine[] = {"esp", "127.0.0.1:1000", "127.0.0.1", "127.1:1000", "0x7f.0.0.1:1000", "2130706433:1000", "0177.0.0.1:1000",
                          "localhost:1000", "LOCALHOST:1000", "0.0.0.0:1000", " 127.0.0.1:1000 ", "127.0.0.1:"};
    const char *others[] = {"esp2", "ESP", "127.0.0.1:1001", "127.0.0.2:1000", "10.0.0.1:1000", "[::1]:1000", "127.0.0.1:99999",
                            "127.0.0.256:1000", "charger.local:1000", "", "?127.0.0.1:1000"};
    int ok = 1;
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
        if (!lsh_member_is_me(&m, mine[i])) {
            ok = 0;
            LSH_CHECK(0, "is_me: \"%s\" names the charger esp at 127.0.0.1:1000", mine[i]);
        }
    }
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        if (lsh_member_is_me(&m, others[i])) {
            ok = 0;
            LSH_CHECK(0, "is_me: \"%s\" does not name the charger esp at 127.0.0.1:1000", others[i]);
        }
    }
    LSH_CHECK(ok, "is_me: its id and its address in a client's spellings; nothing else");
    LSH_CHECK(lsh_host_is_self("charger.local.:80", "Charger.Local:80") && lsh_host_is_self("charger.local", "charger.local:8080") &&
              !lsh_host_is_self("charger.local:8081", "charger.local:8080"), "is_me: names without case or a trailing dot; no port: any port");
    LSH_CHECK(lsh_host_is_self("127.0.0.9:80", "0.0.0.0:80") && lsh_host_is_self("[::1]:80", "0.0.0.0:80") && !lsh_host_is_self("10.0.0.1:80", "0.0.0.0:80"),
              "is_me: listening on every address, any loopback address is this charger");
}

static void test_documents(void) {
    const lsh_config_meta_t v2 = {2, 100, "b"}, v3 = {3, 50, "z"}, v2_later = {2, 101, "z"}, v2_a = {2, 100, "a"}, v2_upper = {2, 100, "B"};
    LSH_CHECK(lsh_config_newer(&v3, &v2) && !lsh_config_newer(&v2, &v3), "order: a higher version wins");
    LSH_CHECK(lsh_config_newer(&v2_later, &v2) && !lsh_config_newer(&v2, &v2_later), "order: then the later updated_at");
    LSH_CHECK(lsh_config_newer(&v2_a, &v2) && !lsh_config_newer(&v2, &v2_a), "order: then the bytewise smaller origin");
    LSH_CHECK(lsh_config_newer(&v2_upper, &v2_a), "order: bytewise: \"B\" < \"a\"");
    LSH_CHECK(!lsh_config_newer(&v2, &v2), "order: the same config is not newer");

    LSH_CHECK(lsh_host_valid("127.0.0.1:80") && lsh_host_valid("charger.local") && lsh_host_valid("[::1]:8080"), "hosts: valid ones");
    LSH_CHECK(!lsh_host_valid("charger") && !lsh_host_valid("a b.c") && !lsh_host_valid("1.2.3.4:0") && !lsh_host_valid("1.2.3.4:65536") &&
              !lsh_host_valid("http://x.y") && !lsh_host_valid(""), "hosts: invalid ones");
    LSH_CHECK(lsh_peer_id_valid("a") && lsh_peer_id_valid("node-A_1") && !lsh_peer_id_valid("?x") && !lsh_peer_id_valid("a,b") &&
              !lsh_peer_id_valid("a b") && !lsh_peer_id_valid("") && !lsh_peer_id_valid("123456789012345678901234567890123"),
              "ids: Node's rule");

    const char *good = "{\"loadsharing_group_id\":\"garage\",\"loadsharing_group_max_current\":40,\"loadsharing_safety_factor\":0.9,"
                       "\"loadsharing_heartbeat_timeout\":5,\"loadsharing_failsafe_mode\":\"disable\",\"loadsharing_failsafe_safe_current\":6,"
                       "\"loadsharing_failsafe_peer_assumed_current\":8,\"loadsharing_rotation_interval\":0,\"loadsharing_config_version\":4,"
                       "\"loadsharing_config_updated_at\":1700000000,\"loadsharing_config_origin\":\"a\","
                       "\"loadsharing_members\":[{\"host\":\"127.0.0.1:1\",\"id\":\"a\"},{\"host\":\"127.0.0.1:2\",\"id\":null}]}";
    lsh_group_doc_t doc;
    char why[160];
    const char *problem = lsh_group_doc_parse(good, strlen(good), 1, &doc, why, sizeof(why));
    LSH_CHECK(problem == NULL && doc.meta.version == 4 && doc.fields.group_max_current_a == 40 && doc.fields.failsafe_mode == LSH_FAILSAFE_MODE_DISABLE &&
              doc.member_count == 2 && strcmp(doc.members[1].id, "") == 0 && strcmp(doc.meta.origin, "a") == 0,
              "documents: a push parses (%s)", problem ? problem : "ok");
    struct { const char *from, *to, *expect; int strict; } bad[] = {
        {"\"loadsharing_members\"", "\"hostname\":\"x\",\"loadsharing_members\"", "carries only group fields", 1},
        {"\"loadsharing_safety_factor\":0.9,", "", "loadsharing_safety_factor is missing", 0},
        {"\"loadsharing_group_max_current\":40", "\"loadsharing_group_max_current\":\"40\"", "must be number", 0},
        {"\"loadsharing_group_max_current\":40", "\"loadsharing_group_max_current\":1001", "at most 1000", 0},
        {"\"loadsharing_heartbeat_timeout\":5", "\"loadsharing_heartbeat_timeout\":5.5", "integer from 5 to 600", 0},
        {"\"loadsharing_failsafe_peer_assumed_current\":8", "\"loadsharing_failsafe_peer_assumed_current\":5", "must be at least", 0},
        {"\"loadsharing_failsafe_safe_current\":6", "\"loadsharing_failsafe_safe_current\":41", "must be at least", 0},
        {"\"loadsharing_failsafe_mode\":\"disable\"", "\"loadsharing_failsafe_mode\":\"off\"", "allowed values", 0},
        {"\"loadsharing_config_version\":4", "\"loadsharing_config_version\":-1", "non-negative integer", 0},
        {"\"loadsharing_config_origin\":\"a\"", "\"loadsharing_config_origin\":\"?a\"", "member id", 0},
        {"\"host\":\"127.0.0.1:2\"", "\"host\":\"nohost\"", "bad host", 0},
        {"\"id\":\"a\"", "\"id\":\"a b\"", "bad id", 0},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024];
        const char *at = strstr(good, bad[i].from);
        snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good), good, bad[i].to, at + strlen(bad[i].from));
        problem = lsh_group_doc_parse(text, strlen(text), bad[i].strict, &doc, why, sizeof(why));
        LSH_CHECK(problem != NULL && strstr(problem, bad[i].expect) != NULL, "documents: refused with \"%s\" (got \"%s\")", bad[i].expect,
                  problem ? problem : "accepted");
    }
    LSH_CHECK(lsh_group_doc_parse("[1]", 3, 0, &doc, why, sizeof(why)) != NULL, "documents: an array is refused");
    LSH_CHECK(lsh_group_doc_parse("{", 1, 0, &doc, why, sizeof(why)) != NULL, "documents: broken JSON is refused");
}

/* ---- the member on the built-in module ---- */

static lsh_runtime_t runtime;
static lsh_member_t member;
static char rapi_log[64][48];
static int rapi_count;
static unsigned controller_trigger;
static unsigned controller_interval_s, controller_current_a; /* what the recorded controller holds */
static double limit_a = -1.0;

static int record_rapi(void *context, const char *line, char *reply, size_t reply_size) {
    (void)context;
    if (rapi_count < 64) snprintf(rapi_log[rapi_count++], sizeof(rapi_log[0]), "%s", line);
    unsigned interval_s = 0, current_a = 0;
    if (sscanf(line, "$SY %u %u", &interval_s, &current_a) == 2) {
        controller_interval_s = interval_s;
        controller_current_a = current_a;
    }
    char text[40];
    snprintf(text, sizeof(text), "$OK %u %u %u", controller_interval_s, controller_current_a, controller_trigger);
    lsh_rapi_with_checksum(text, reply, reply_size);
    return 0;
}

static void record_limit(void *context, double value) {
    (void)context;
    limit_a = value;
}

static char *peer_status(const char *id, double config_version, const char *hash, double applied) {
    char *text = malloc(1024);
    snprintf(text, 1024,
             "{\"amp\":0,\"voltage\":240,\"state\":1,\"vehicle\":0,\"loadsharing\":{\"id\":\"%s\",\"seen\":[\"%s\"],\"applied_current\":%g,"
             "\"committed_current\":%g,\"config_version\":%g,\"config_hash\":\"%s\",\"min_current\":6,\"max_current\":32,\"demand\":false}}",
             id, id, applied, applied, config_version, hash);
    return text;
}

/* The group "garage" on 32 A (safety factor 1, failsafe current 6 A) with the settings a test varies. */
static void garage_doc(lsh_group_doc_t *doc, double heartbeat_timeout_s, double peer_assumed_a, double rotation_interval_s) {
    memset(doc, 0, sizeof(*doc));
    snprintf(doc->fields.group_id, sizeof(doc->fields.group_id), "garage");
    doc->fields.group_max_current_a = 32;
    doc->fields.safety_factor = 1;
    doc->fields.heartbeat_timeout_s = heartbeat_timeout_s;
    doc->fields.failsafe_safe_current_a = 6;
    doc->fields.failsafe_peer_assumed_current_a = peer_assumed_a;
    doc->fields.rotation_interval_s = rotation_interval_s;
}

static void test_member_sync(void) {
    LSH_CHECK(lsh_runtime_load(&runtime, lsh_module_default, lsh_module_default_size) == lsh_ok, "member: the built-in module loads");
    lsh_group_doc_t start;
    garage_doc(&start, 30, 6, 1800);
    const char *hosts[] = {"127.0.0.1:1001", "127.0.0.1:1002"};
    lsh_member_options_t o;
    memset(&o, 0, sizeof(o));
    o.self_id = "esp";
    o.self_address = "127.0.0.1:1000";
    o.config = &start;
    o.peer_hosts = hosts;
    o.peer_count = 2;
    o.sync_enabled = 1;
    o.has_group_key = 1;
    o.module_hash_hex = lsh_module_default_sha256;
    o.runtime = &runtime;
    o.clock_epoch = 7;
    o.shaper.set_limit_a = record_limit;
    o.rapi.send = record_rapi;
    const char *problem = lsh_member_init(&member, &o);
    LSH_CHECK(problem == NULL, "member: init (%s)", problem ? problem : "ok");
    if (problem != NULL) return;
    LSH_CHECK(limit_a == 0.0, "member: 0 A until the first decision");
    LSH_CHECK(rapi_count == 1 && strcmp(rapi_log[0], "$SY 5 6^2D") == 0, "supervision: set at start: $SY 5 6 (got %s)", rapi_count ? rapi_log[0] : "nothing");
    LSH_CHECK(strcmp(lsh_member_peer_member_id(&member, 0), "?127.0.0.1:1001") == 0, "member: a peer is its placeholder until it names itself");

    /* A tick pulses the controller. */
    lsh_self_facts_t self = {1, 3, 0, 0, 240, 6, 32, 1, 0};
    lsh_tick_result_t tick;
    LSH_CHECK(lsh_member_tick(&member, 1000, node_now_ms, &self, &tick) == lsh_ok, "member: tick");
    LSH_CHECK(strcmp(rapi_log[rapi_count - 1], "$SY^2E") == 0, "supervision: a pulse after the tick (got %s)", rapi_log[rapi_count - 1]);

    /* Peer 0 names itself "a" and says version 3: bound, and its config fetched. */
    char hash[65] = "";
    for (int i = 0; i < 32; i++) snprintf(hash + 2 * i, 3, "%02x", member.engine.config_hash[i]);
    char *text = peer_status("a", 3, "1111111111111111111111111111111111111111111111111111111111111111", 0);
    problem = lsh_member_on_peer_doc(&member, 0, cJSON_Parse(text), 1100, 1100);
    free(text);
    LSH_CHECK(problem == NULL && strcmp(lsh_member_peer_member_id(&member, 0), "a") == 0, "member: peer 0 bound to its id a");
    lsh_member_action_t action;
    LSH_CHECK(lsh_member_next_action(&member, 1100, &action) && action.kind == LSH_ACTION_FETCH && strcmp(action.host, "127.0.0.1:1001") == 0,
              "sync: a higher version in a status makes a config fetch");
    const char *fetched = "{\"loadsharing_group_id\":\"garage\",\"loadsharing_group_max_current\":20,\"loadsharing_safety_factor\":1,"
                          "\"loadsharing_heartbeat_timeout\":10,\"loadsharing_failsafe_mode\":\"safe_current\",\"loadsharing_failsafe_safe_current\":8,"
                          "\"loadsharing_failsafe_peer_assumed_current\":8,\"loadsharing_rotation_interval\":1800,\"loadsharing_config_version\":3,"
                          "\"loadsharing_config_updated_at\":1700000000,\"loadsharing_config_origin\":\"a\",\"hostname\":\"a\","
                          "\"loadsharing_members\":[{\"host\":\"127.0.0.1:1001\",\"id\":\"a\"},{\"host\":\"127.0.0.1:1002\",\"id\":\"b\"},"
                          "{\"host\":\"127.0.0.1:1000\",\"id\":\"esp\"}]}";
    const int rapi_before = rapi_count;
    lsh_member_fetch_result(&member, &action, fetched, strlen(fetched), NULL, 1150);
    lsh_member_action_free(&action);
    LSH_CHECK(member.meta.version == 3 && member.fields.group_max_current_a == 20 && strcmp(member.meta.origin, "a") == 0,
              "sync: the fetched newer config is adopted with its version and origin");
    /* As Node's set_members: a member already joined keeps its entry; its id comes from its own status. */
    LSH_CHECK(member.peer_count == 2 && strcmp(lsh_member_peer_member_id(&member, 1), "?127.0.0.1:1002") == 0,
              "sync: the adopted list keeps the joined members (b named by its own status only)");
    /* The failsafe current 8 A held to an equal part of the limit over the members: floor(20 / 3) = 6 A. */
    LSH_CHECK(rapi_count == rapi_before + 1 && strcmp(rapi_log[rapi_count - 1], "$SY 5 6^2D") == 0,
              "supervision: re-set from the adopted config: $SY 5 6 (got %s)", rapi_log[rapi_count - 1]);
    LSH_CHECK(!lsh_member_next_action(&member, 1200, &action), "sync: nothing more to do");

    /* Pushes received. */
    char group[1200];
    char *mine = lsh_member_group_json(&member, NULL);
    snprintf(group, sizeof(group), "%s", mine);
    cJSON_free(mine);
    char msg[200];
    int code = lsh_member_receive_push(&member, group, strlen(group), 0, "a", 1300, msg, sizeof(msg));
    LSH_CHECK(code == 200 && strcmp(msg, "no change") == 0, "push: the same config: 200 no change (%d %s)", code, msg);
    char older[1200];
    const char *v = strstr(group, "\"loadsharing_config_version\":3");
    snprintf(older, sizeof(older), "%.*s\"loadsharing_config_version\":2%s", (int)(v - group), group, v + 30);
    code = lsh_member_receive_push(&member, older, strlen(older), 0, "a", 1300, msg, sizeof(msg));
    LSH_CHECK(code == 409, "push: an older version: 409 (%d %s)", code, msg);
    code = lsh_member_receive_push(&member, group, strlen(group), 401, NULL, 1300, msg, sizeof(msg));
    LSH_CHECK(code == 401, "push: not authenticated: refused as the caller found");
    char newer[1300];
    snprintf(newer, sizeof(newer), "%.*s\"loadsharing_config_version\":5%s", (int)(v - group), group, v + 30);
    char *max = strstr(newer, "\"loadsharing_group_max_current\":20");
    memcpy(max, "\"loadsharing_group_max_current\":24", 34);
    char invalid[1400];
    snprintf(invalid, sizeof(invalid), "{\"hostname\":\"x\",%s", newer + 1);
    code = lsh_member_receive_push(&member, invalid, strlen(invalid), 0, "a", 1300, msg, sizeof(msg));
    LSH_CHECK(code == 400 && member.meta.version == 3, "push: a non-group key: 400, nothing applied (%d %s)", code, msg);
    member.sync_enabled = 0;
    code = lsh_member_receive_push(&member, newer, strlen(newer), 0, "a", 1300, msg, sizeof(msg));
    LSH_CHECK(code == 403 && member.meta.version == 3, "push: sync disabled: 403");
    member.sync_enabled = 1;
    code = lsh_member_receive_push(&member, newer, strlen(newer), 0, "a", 1300, msg, sizeof(msg));
    LSH_CHECK(code == 200 && strcmp(msg, "done") == 0 && member.meta.version == 5 && member.fields.group_max_current_a == 24,
              "push: a newer config is adopted (%d %s)", code, msg);

    /* b names itself (an older version: nothing to fetch); then a status that shows the version
     * we have with our hash (the member table, and so the hash, now has b's id): nothing to fetch. */
    text = peer_status("b", 1, "1111111111111111111111111111111111111111111111111111111111111111", 0);
    lsh_member_on_peer_doc(&member, 1, cJSON_Parse(text), 1390, 1390);
    free(text);
    LSH_CHECK(strcmp(lsh_member_peer_member_id(&member, 1), "b") == 0 && !lsh_member_next_action(&member, 1390, &action),
              "member: b bound by its status; an older version is not fetched");
    for (int i = 0; i < 32; i++) snprintf(hash + 2 * i, 3, "%02x", member.engine.config_hash[i]);
    text = peer_status("b", 5, hash, 0);
    lsh_member_on_peer_doc(&member, 1, cJSON_Parse(text), 1400, 1400);
    free(text);
    LSH_CHECK(!lsh_member_next_action(&member, 1400, &action), "sync: the same version and hash: no fetch");

    /* A local write: a new version above everything seen, pushed to both, retried with backoff. */
    text = peer_status("b", 9, hash, 0); /* b has seen version 9 somewhere */
    lsh_member_on_peer_doc(&member, 1, cJSON_Parse(text), 1450, 1450);
    free(text);
    if (lsh_member_next_action(&member, 1450, &action)) {
        lsh_member_fetch_result(&member, &action, NULL, 0, "GET /config failed", 1450); /* b cannot be read now */
        lsh_member_action_free(&action);
    }
    lsh_group_fields_t fields = member.fields;
    fields.group_max_current_a = 30;
    int changed = 0;
    problem = lsh_member_local_write(&member, &fields, 0, 1700000100500.0, &changed);
    LSH_CHECK(problem == NULL && changed && member.meta.version == 10 && member.meta.updated_at_s == 1700000100 &&
              strcmp(member.meta.origin, "esp") == 0, "sync: a local write is version 10 (above the 9 seen), now, origin esp (v%g)", member.meta.version);
    fields.failsafe_safe_current_a = 9; /* above the assumed current: refused */
    LSH_CHECK(lsh_member_local_write(&member, &fields, 0, 1700000100500.0, &changed) != NULL && member.fields.failsafe_safe_current_a == 8,
              "sync: a local write breaking a rule is refused");
    int pushes = 0;
    double expected_ms[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
    double now_ms = 2000;
    int backoff_ok = 1;
    for (int attempt = 0; attempt < 9; attempt++) {
        lsh_member_action_t first;
        int found = 0;
        while (lsh_member_next_action(&member, now_ms, &action)) {
            if (action.kind != LSH_ACTION_PUSH) {
                lsh_member_fetch_result(&member, &action, NULL, 0, "unreachable", now_ms);
                lsh_member_action_free(&action);
                continue;
            }
            if (attempt == 0) {
                cJSON *body = cJSON_Parse(action.body);
                const cJSON *version = cJSON_GetObjectItemCaseSensitive(body, "loadsharing_config_version");
                if (cJSON_IsNumber(version) && version->valuedouble == 10) pushes++;
                cJSON_Delete(body);
            }
            found = 1;
            first = action;
            /* a answers, b does not */
            lsh_member_push_result(&member, &action, strcmp(action.host, "127.0.0.1:1001") == 0 ? 200 : 0, now_ms);
            lsh_member_action_free(&action);
        }
        if (!found) {
            backoff_ok = 0;
            break;
        }
        (void)first;
        if (attempt == 8) break;
        const double wait_ms = expected_ms[attempt];
        if (lsh_member_next_action(&member, now_ms + wait_ms - 1, &action)) {
            backoff_ok = !(action.kind == LSH_ACTION_PUSH); /* a fetch may be due, a push may not */
            lsh_member_action_free(&action);
            if (!backoff_ok) break;
        }
        now_ms += wait_ms;
    }
    LSH_CHECK(pushes == 2, "sync: the write is pushed to both members (%d)", pushes);
    LSH_CHECK(backoff_ok, "sync: an unanswered push is retried after 1, 2, 4, 8, 16, 32, 60, 60 s");
    LSH_CHECK(member.peers[0].owed == 0 && member.peers[1].owed == 1 && member.peers[1].attempts == 9,
              "sync: the delivered member is done, the other still owed after 9 attempts");

    /* b shows it has version 10 with our hash (it fetched it): the push is done. */
    for (int i = 0; i < 32; i++) snprintf(hash + 2 * i, 3, "%02x", member.engine.config_hash[i]);
    text = peer_status("b", 10, hash, 0);
    lsh_member_on_peer_doc(&member, 1, cJSON_Parse(text), now_ms, now_ms);
    free(text);
    LSH_CHECK(member.peers[1].owed == 0, "sync: a member whose status shows our version and hash needs no more pushes");

    /* 409 to a push: the newer config there is fetched. */
    fields.failsafe_safe_current_a = 8;
    fields.group_max_current_a = 28;
    lsh_member_local_write(&member, &fields, 0, 1700000200000.0, &changed);
    int fetch_after_409 = 0;
    for (int round = 0; round < 4 && lsh_member_next_action(&member, now_ms, &action); round++) {
        if (action.kind == LSH_ACTION_FETCH && strcmp(action.host, "127.0.0.1:1002") == 0) fetch_after_409 = 1;
        if (action.kind == LSH_ACTION_PUSH) lsh_member_push_result(&member, &action, strcmp(action.host, "127.0.0.1:1002") == 0 ? 409 : 200, now_ms);
        else lsh_member_fetch_result(&member, &action, NULL, 0, "later", now_ms);
        lsh_member_action_free(&action);
    }
    LSH_CHECK(fetch_after_409, "sync: a push answered 409 makes a fetch of that member's config");

    /* The status document, as Node's peers read it. */
    LSH_CHECK(lsh_member_tick(&member, now_ms, node_now_ms, &self, &tick) == lsh_ok, "member: tick after the changes");
    char *status = lsh_member_status_json(&member, &self, &tick, node_now_ms, 12.5);
    cJSON *doc = cJSON_Parse(status);
    cJSON_free(status);
    const cJSON *block = cJSON_GetObjectItemCaseSensitive(doc, "loadsharing");
    const cJSON *seen = cJSON_GetObjectItemCaseSensitive(block, "seen");
    const cJSON *hash_item = cJSON_GetObjectItemCaseSensitive(block, "config_hash");
    LSH_CHECK(cJSON_IsObject(block) && strcmp(cJSON_GetObjectItemCaseSensitive(block, "id")->valuestring, "esp") == 0 &&
              cJSON_GetObjectItemCaseSensitive(block, "config_version")->valuedouble == member.meta.version &&
              cJSON_IsString(hash_item) && strlen(hash_item->valuestring) == 64 && cJSON_IsArray(seen) &&
              cJSON_GetObjectItemCaseSensitive(doc, "uptime")->valuedouble == 12 &&
              strcmp(cJSON_GetObjectItemCaseSensitive(doc, "time")->valuestring, "2023-11-14T22:13:20Z") == 0 &&
              cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(block, "degraded")) &&
              cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(block, "applied_current")) &&
              cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(block, "alloc")) &&
              cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(block, "alloc"), "a") != NULL,
              "status: the load-sharing block carries the keys Node's peers read");
    cJSON_Delete(doc);

    /* A member list without this charger: it leaves every member. */
    char removed[1200];
    mine = lsh_member_group_json(&member, "127.0.0.1:1000");
    cJSON *without = cJSON_Parse(mine);
    cJSON_free(mine);
    cJSON *members = cJSON_GetObjectItemCaseSensitive(without, "loadsharing_members");
    cJSON_DeleteItemFromArray(members, 0); /* self is first */
    cJSON_ReplaceItemInObjectCaseSensitive(without, "loadsharing_config_version", cJSON_CreateNumber(member.meta.version + 1));
    char *removed_text = cJSON_PrintUnformatted(without);
    snprintf(removed, sizeof(removed), "%s", removed_text);
    cJSON_free(removed_text);
    cJSON_Delete(without);
    code = lsh_member_receive_push(&member, removed, strlen(removed), 0, "a", now_ms, msg, sizeof(msg));
    /* Both were heard: they may still draw from this breaker, and stay reserved as leaving (rule 8). */
    LSH_CHECK(code == 200 && member.peer_count == 0 && member.held_count == 2 && member.engine.member_count == 3 &&
              lsh_engine_member_state(&member.engine, "a") == 2 && lsh_engine_member_state(&member.engine, "b") == 2,
              "sync: removed by the group: it leaves every member, both heard kept as leaving (%d, %u peers, %u leaving)", code,
              (unsigned)member.peer_count, (unsigned)member.held_count);
    lsh_member_free(&member);
    lsh_runtime_unload(&runtime);
}

/* ---- members removed from the group (rule 8) ---- */

static lsh_group_doc_t leave_start;

static void leave_options(lsh_member_options_t *o, const char *const *hosts, uint32_t count) {
    garage_doc(&leave_start, 10, 10, 0);
    memset(o, 0, sizeof(*o));
    o->self_id = "esp";
    o->self_address = "127.0.0.1:1000";
    o->config = &leave_start;
    o->peer_hosts = hosts;
    o->peer_count = count;
    o->sync_enabled = 1;
    o->has_group_key = 1;
    o->module_hash_hex = lsh_module_default_sha256;
    o->runtime = &runtime;
    o->clock_epoch = 9;
    o->shaper.set_limit_a = record_limit;
    o->rapi.send = record_rapi;
    o->store_key = "lsh_peers";
}

/* What the module reserved for member `id` in the last decision; -1 when it is not in the table. */
static double reserved_a(const char *id) {
    for (uint32_t i = 0; i < member.engine.member_count; i++) {
        if (strcmp(lsh_engine_member_id(&member.engine, i), id) == 0) {
            return lsh_block_f64(member.engine.output_block, LSH_OUT_MEMBER_BASE + i * LSH_OUT_MEMBER_STRIDE + LSH_OUT_MEMBER_RESERVED_A);
        }
    }
    return -1.0;
}

/* A peer's status as it draws `amp_a` (or says a person set it up on its own). */
static void hear(uint32_t index, const char *id, double amp_a, int alone, double mono_ms) {
    char text[512];
    snprintf(text, sizeof(text),
             "{\"amp\":%g,\"voltage\":240,\"state\":3,\"vehicle\":1,\"loadsharing\":{\"id\":\"%s\",\"seen\":[\"esp\",\"%s\"],"
             "\"applied_current\":%g,\"committed_current\":%g,\"min_current\":6,\"max_current\":32,\"demand\":true,\"alone_confirmed\":%s}}",
             amp_a * 1000.0, id, id, amp_a, amp_a, alone ? "true" : "false");
    const char *problem = lsh_member_on_peer_doc(&member, index, cJSON_Parse(text), mono_ms, mono_ms);
    LSH_CHECK(problem == NULL, "leaving: the status of %s is taken (%s)", id, problem ? problem : "ok");
}

/* Ticks once a second from from_ms to to_ms; peer `heard_index` (a member named heard_id) is
 * heard before each, drawing 6 A. */
static void run_until(double from_ms, double to_ms, uint32_t heard_index, const char *heard_id) {
    lsh_self_facts_t self = {1, 3, 0, 0, 240, 6, 32, 1, 0};
    lsh_tick_result_t tick;
    for (double t = from_ms; t <= to_ms; t += 1000.0) {
        if (heard_id != NULL) hear(heard_index, heard_id, 6, 0, t - 10.0);
        self.amp_ma = limit_a > 0 ? limit_a * 1000.0 : 0.0;
        lsh_member_tick(&member, t, node_now_ms + t, &self, &tick);
    }
}

/* A config of the group (version `version`) whose member list is `list` (taken), pushed by a. */
static int push_group_list(double version, cJSON *list) {
    char *mine = lsh_member_group_json(&member, NULL);
    cJSON *d = cJSON_Parse(mine);
    cJSON_free(mine);
    cJSON_ReplaceItemInObjectCaseSensitive(d, "loadsharing_members", list);
    cJSON_ReplaceItemInObjectCaseSensitive(d, "loadsharing_config_version", cJSON_CreateNumber(version));
    char *text = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    char msg[160];
    const int code = lsh_member_receive_push(&member, text, strlen(text), 0, "a", 0, msg, sizeof(msg));
    cJSON_free(text);
    return code;
}

/* A config of the group (version `version`) listing esp and the given members by host and id. */
static int push_members(double version, const char *const *hosts, const char *const *ids, uint32_t count) {
    cJSON *list = cJSON_CreateArray();
    cJSON *self = cJSON_CreateObject();
    cJSON_AddStringToObject(self, "host", "127.0.0.1:1000");
    cJSON_AddStringToObject(self, "id", "esp");
    cJSON_AddItemToArray(list, self);
    for (uint32_t i = 0; i < count; i++) {
        cJSON *ref = cJSON_CreateObject();
        cJSON_AddStringToObject(ref, "host", hosts[i]);
        if (ids[i] != NULL) cJSON_AddStringToObject(ref, "id", ids[i]);
        else cJSON_AddNullToObject(ref, "id");
        cJSON_AddItemToArray(list, ref);
    }
    return push_group_list(version, list);
}

static int stored_leaving_is(const char *expected) {
    char text[4096];
    size_t size = 0;
    if (lsh_platform_store_read("lsh_peers", (uint8_t *)text, sizeof(text) - 1, &size) != lsh_ok) return 0;
    text[size] = '\0';
    const char *at = strstr(text, "\"leaving\":");
    return at != NULL && strncmp(at + 10, expected, strlen(expected)) == 0;
}

static void test_member_leaving(void) {
    LSH_CHECK(lsh_runtime_load(&runtime, lsh_module_default, lsh_module_default_size) == lsh_ok, "leaving: the built-in module loads");
    LSH_CHECK(lsh_test_store_fresh(), "leaving: a fresh store");
    const char *hosts[] = {"127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"};
    const char *ids[] = {"a", "b", "c"};
    lsh_member_options_t o;
    leave_options(&o, hosts, 3);
    const char *problem = lsh_member_init(&member, &o);
    LSH_CHECK(problem == NULL, "leaving: init (%s)", problem ? problem : "ok");
    if (problem != NULL) return;
    /* a and b are heard (b charging at 10 A); c never. */
    hear(0, "a", 6, 0, 500);
    hear(1, "b", 10, 0, 500);
    run_until(1000, 5000, 0, "a");

    /* The group's list drops b (heard) and c (never heard). */
    LSH_CHECK(push_members(1, hosts, ids, 1) == 200, "leaving: the group's new member list is adopted");
    LSH_CHECK(member.peer_count == 1 && member.held_count == 2 && strcmp(member.peers[1].ref.id, "b") == 0 &&
              lsh_engine_member_state(&member.engine, "b") == 2 && lsh_engine_member_state(&member.engine, "?127.0.0.1:1003") == 2 &&
              member.engine.member_count == 4,
              "leaving: b (heard) and c (never heard: it may be cut off and never told, seed 12209538) stay in the member table as leaving (%u members, %u leaving)",
              (unsigned)member.peer_count, (unsigned)member.held_count);
    uint32_t b_at = 0;
    while (b_at + 1u < member.engine.member_count && strcmp(member.engine.members[b_at].id, "b") != 0) b_at++;
    const int b_row = lsh_engine_member_state(&member.engine, "b") == 2 && member.engine.members[b_at].leaving;
    const uint32_t b_flags = lsh_block_u32(member.engine.input_block, LSH_IN_MEMBER_BASE + b_at * LSH_IN_MEMBER_STRIDE + LSH_IN_MEMBER_FLAGS);
    LSH_CHECK(b_row && (b_flags & LSH_MEMBER_FLAGS_LEAVING) && (b_flags & LSH_MEMBER_FLAGS_LAST_SEEN),
              "leaving: b's row carries the leaving flag and when it was last heard");
    LSH_CHECK(stored_leaving_is("[{\"host\":\"127.0.0.1:1002\",\"id\":\"b\"}]"), "leaving: the leaving list is stored with the peers");
    /* c, never heard, is still held after ticks; heard at last, it stays leaving (no id is taken
     * from a member leaving: it stays under its address) and its status is read; then it says a
     * person set it up on its own and is forgotten. */
    run_until(5500, 5600, 0, "a");
    LSH_CHECK(lsh_engine_member_state(&member.engine, "?127.0.0.1:1003") == 2 && reserved_a("?127.0.0.1:1003") >= 10.0,
              "leaving: c, never heard, is still held and reserved after a tick (%g A)", reserved_a("?127.0.0.1:1003"));
    hear(2, "c", 6, 0, 5700);
    LSH_CHECK(lsh_engine_member_state(&member.engine, "?127.0.0.1:1003") == 2 && member.held_count == 2 && member.peers[2].heard,
              "leaving: c heard is still leaving, its status read (%u leaving)", (unsigned)member.held_count);
    hear(2, "c", 0, 1, 5800);
    run_until(5900, 5950, 0, "a");
    LSH_CHECK(lsh_engine_member_state(&member.engine, "?127.0.0.1:1003") == 0 && member.held_count == 1,
              "leaving: c says a person set it up on its own: forgotten (%u leaving)", (unsigned)member.held_count);
    LSH_CHECK(stored_leaving_is("[{\"host\":\"127.0.0.1:1002\",\"id\":\"b\"}]"), "leaving: the stored list names b alone");
    /* b falls silent: long after its hold it is still reserved (the peer-assumed current). */
    run_until(6000, 120000, 0, "a");
    LSH_CHECK(reserved_a("b") >= 10.0, "leaving: silent long after its removal, b is still reserved %g A (at least 10 A, peer-assumed)", reserved_a("b"));
    lsh_self_facts_t self = {1, 3, 0, 0, 240, 6, 32, 1, 0};
    lsh_tick_result_t tick;
    lsh_member_tick(&member, 120500, node_now_ms + 120500, &self, &tick);
    char *status = lsh_member_status_json(&member, &self, &tick, node_now_ms, 1);
    cJSON *doc = cJSON_Parse(status);
    cJSON_free(status);
    const cJSON *block = cJSON_GetObjectItemCaseSensitive(doc, "loadsharing");
    LSH_CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(block, "alloc"), "b") == NULL &&
              cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(block, "alloc"), "a") != NULL,
              "leaving: the published alloc names the members only");
    cJSON_Delete(doc);
    /* Without the word of a person, the limit stays below the whole breaker less a's part. */
    LSH_CHECK(tick.limit_a <= 32.0 - 10.0, "leaving: this charger's limit %g A leaves b's reserve", tick.limit_a);

    /* A restart: b comes back as leaving from the store, and stays reserved while never heard. */
    lsh_member_free(&member);
    leave_options(&o, hosts, 1);
    problem = lsh_member_init(&member, &o);
    LSH_CHECK(problem == NULL && member.held_count == 1 && strcmp(member.peers[1].ref.host, "127.0.0.1:1002") == 0 &&
              lsh_engine_member_state(&member.engine, "b") == 2,
              "leaving: after a restart b is leaving again, from the stored list (%s)", problem ? problem : "ok");
    hear(0, "a", 6, 0, 500);
    run_until(1000, 120000, 0, "a");
    LSH_CHECK(reserved_a("b") >= 10.0, "leaving: restored and never heard, b is still reserved %g A", reserved_a("b"));
    const double limit_held_a = limit_a;

    /* A person says b is gone: nothing is reserved for it any more. */
    LSH_CHECK(lsh_member_forget(&member, "a") != NULL, "leaving: a member of the group is not forgotten by that word");
    LSH_CHECK(lsh_member_forget(&member, "nobody") != NULL, "leaving: an unknown peer: not found");
    problem = lsh_member_forget(&member, "127.0.0.1:1002");
    run_until(121000, 140000, 0, "a");
    LSH_CHECK(problem == NULL && member.held_count == 0 && reserved_a("b") < 0.0 && stored_leaving_is("[]"),
              "leaving: a person's word forgets b: out of the member table and the stored list (%s)", problem ? problem : "ok");
    LSH_CHECK(limit_a > limit_held_a, "leaving: b's part is free for the others: this charger's limit %g A, %g A while b was held",
              limit_a, limit_held_a);

    /* b joins again, is heard, is removed again, and says a person set it up on its own. */
    LSH_CHECK(push_members(2, hosts, ids, 2) == 200 && member.peer_count == 2, "leaving: b joins again");
    hear(1, "b", 8, 0, 140500);
    run_until(141000, 143000, 0, "a");
    LSH_CHECK(push_members(3, hosts, ids, 1) == 200 && member.held_count == 1 && lsh_engine_member_state(&member.engine, "b") == 2,
              "leaving: b removed again while heard: leaving");
    run_until(144000, 200000, 0, "a");
    const double limit_before_a = limit_a;
    LSH_CHECK(reserved_a("b") >= 10.0, "leaving: still reserved, silent, while it has not said it is on its own (%g A)", reserved_a("b"));
    hear(1, "b", 0, 1, 200500);
    run_until(201000, 220000, 0, "a");
    LSH_CHECK(member.held_count == 0 && lsh_engine_member_state(&member.engine, "b") == 0 && reserved_a("b") < 0.0 && stored_leaving_is("[]"),
              "leaving: b says a person set it up on its own: forgotten (%u leaving)", (unsigned)member.held_count);
    LSH_CHECK(limit_a > limit_before_a, "leaving: b's part is free for the others: this charger's limit %g A, %g A before",
              limit_a, limit_before_a);

    /* b joins, is heard, is removed; then it is back at another address: a member, no longer leaving. */
    LSH_CHECK(push_members(4, hosts, ids, 2) == 200, "leaving: b joins once more");
    hear(1, "b", 8, 0, 220500);
    LSH_CHECK(push_members(5, hosts, ids, 1) == 200 && member.held_count == 1, "leaving: b removed once more");
    const char *moved_hosts[] = {"127.0.0.1:1001", "127.0.0.1:1009"};
    const char *moved_ids[] = {"a", NULL};
    LSH_CHECK(push_members(6, moved_hosts, moved_ids, 2) == 200 && member.peer_count == 2 && member.held_count == 1,
              "leaving: a member joins at another address, its id not known yet");
    hear(1, "b", 8, 0, 221000);
    LSH_CHECK(member.peer_count == 2 && member.held_count == 0 && strcmp(member.peers[1].ref.host, "127.0.0.1:1009") == 0 &&
              lsh_engine_member_state(&member.engine, "b") == 1 && stored_leaving_is("[]"),
              "leaving: it names itself b: a member again, no longer leaving (%u leaving)", (unsigned)member.held_count);
    lsh_member_free(&member);

    /* The table's room: 15 members, 13 of them heard and removed (leaving), then 13 new members
     * joining: each newcomer past the room takes the place of the leaving member heard longest ago. */
    static char full_hosts[28][24];
    static char full_ids[28][8];
    const char *host_list[28];
    const char *id_list[28];
    for (uint32_t i = 0; i < 28; i++) {
        snprintf(full_hosts[i], sizeof(full_hosts[i]), "127.0.0.1:%u", 1001u + i);
        snprintf(full_ids[i], sizeof(full_ids[i]), "p%02u", i + 1u);
        host_list[i] = full_hosts[i];
        id_list[i] = full_ids[i];
    }
    leave_options(&o, host_list, 15);
    o.store_key = NULL;
    problem = lsh_member_init(&member, &o);
    LSH_CHECK(problem == NULL, "room: init with 15 members (%s)", problem ? problem : "ok");
    if (problem != NULL) return;
    for (uint32_t i = 0; i < 14; i++) hear(i, full_ids[i], 1, 0, 1000.0 + i); /* p14 heard last; p15 never */
    LSH_CHECK(push_members(1, host_list, id_list, 1) == 200 && member.peer_count == 1 && member.held_count == 14 &&
              member.engine.member_count == 16, "room: p02..p15 leaving, p15 never heard (%u, %u)", (unsigned)member.peer_count,
              (unsigned)member.held_count);
    const char *joined_hosts[14];
    const char *joined_ids[14];
    joined_hosts[0] = host_list[0];
    joined_ids[0] = id_list[0];
    for (uint32_t i = 1; i < 14; i++) {
        joined_hosts[i] = host_list[14 + i];
        joined_ids[i] = id_list[14 + i];
    }
    LSH_CHECK(push_members(2, joined_hosts, joined_ids, 14) == 200 && member.peer_count == 14 && member.held_count == 1 &&
              strcmp(member.peers[14].ref.id, "p14") == 0 && member.engine.member_count == 16 &&
              lsh_engine_member_state(&member.engine, "p14") == 2 && lsh_engine_member_state(&member.engine, "p13") == 0,
              "room: 13 joined; the leaving members heard longest ago made room, p14 (heard last) is still held (%u, %u)",
              (unsigned)member.peer_count, (unsigned)member.held_count);
    lsh_member_free(&member);
    lsh_test_store_cleanup();
    lsh_runtime_unload(&runtime);
}

/* A charger without the group key is report-only (docs/security.md D2, as Node's): it hears its
 * peers and shares current by what it hears, but fetches no config it hears of, refuses every
 * push (403, even from a person) and pushes nothing; its own writes stay its own. */
static void test_report_only(void) {
    LSH_CHECK(lsh_runtime_load(&runtime, lsh_module_default, lsh_module_default_size) == lsh_ok, "report-only: the built-in module loads");
    lsh_group_doc_t start;
    garage_doc(&start, 30, 6, 1800);
    const char *hosts[] = {"127.0.0.1:1001"};
    lsh_member_options_t o;
    memset(&o, 0, sizeof(o));
    o.self_id = "esp";
    o.self_address = "127.0.0.1:1000";
    o.config = &start;
    o.peer_hosts = hosts;
    o.peer_count = 1;
    o.sync_enabled = 1;
    o.has_group_key = 0;
    o.module_hash_hex = lsh_module_default_sha256;
    o.runtime = &runtime;
    o.clock_epoch = 9;
    o.shaper.set_limit_a = record_limit;
    o.rapi.send = record_rapi;
    const char *problem = lsh_member_init(&member, &o);
    LSH_CHECK(problem == NULL && !lsh_member_sync_active(&member), "report-only: init without a key (%s)", problem ? problem : "ok");
    if (problem != NULL) return;
    /* A peer says version 7 with another hash: heard (its id bound, its document kept), not fetched. */
    char *text = peer_status("a", 7, "1111111111111111111111111111111111111111111111111111111111111111", 0);
    problem = lsh_member_on_peer_doc(&member, 0, cJSON_Parse(text), 1000, 1000);
    free(text);
    lsh_member_action_t action;
    LSH_CHECK(problem == NULL && strcmp(lsh_member_peer_member_id(&member, 0), "a") == 0 && member.peers[0].heard,
              "report-only: the peer is heard and named");
    LSH_CHECK(!lsh_member_next_action(&member, 1000, &action), "report-only: a newer version heard of is not fetched");
    LSH_CHECK(strcmp(lsh_member_destination(&member, 0), "a") == 0, "report-only: requests would name the peer by its id now");
    /* A push (a person's credentials checked by the caller: auth_code 0): refused, nothing applied. */
    char *group = lsh_member_group_json(&member, NULL);
    cJSON *d = cJSON_Parse(group);
    cJSON_free(group);
    cJSON_ReplaceItemInObjectCaseSensitive(d, "loadsharing_config_version", cJSON_CreateNumber(8));
    cJSON_ReplaceItemInObjectCaseSensitive(d, "loadsharing_group_max_current", cJSON_CreateNumber(100));
    char *pushed = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    char msg[200];
    const int code = lsh_member_receive_push(&member, pushed, strlen(pushed), 0, "a", 1000, msg, sizeof(msg));
    cJSON_free(pushed);
    LSH_CHECK(code == 403 && strstr(msg, "report-only") != NULL && member.meta.version == 0 && member.fields.group_max_current_a == 32,
              "report-only: a push is refused (403 report-only), nothing applied (%d %s)", code, msg);
    /* A person's write here applies here, and goes nowhere. */
    lsh_group_fields_t fields = member.fields;
    fields.group_max_current_a = 30;
    int changed = 0;
    problem = lsh_member_local_write(&member, &fields, 0, 1700000100500.0, &changed);
    LSH_CHECK(problem == NULL && changed && member.fields.group_max_current_a == 30 && !member.peers[0].owed &&
              !lsh_member_next_action(&member, 5000, &action), "report-only: a local write applies here and is pushed to nobody");
    lsh_member_free(&member);
    lsh_runtime_unload(&runtime);
}

/* ---- a member's statuses out of order (finding A's host side, seed 9004305) ---- */

/* Peer a's status: its limit, config version and hash, its applied current, its uptime. */
static void hear_config(double group_max_a, double version, char hash_digit, double applied_a, double timeout_s, double uptime_s, double mono_ms) {
    char hash[65];
    memset(hash, hash_digit, 64);
    hash[64] = '\0';
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"amp\":%g,\"voltage\":240,\"state\":3,\"vehicle\":1,\"uptime\":%g,\"loadsharing\":{\"id\":\"a\",\"seen\":[\"a\",\"esp\"],"
             "\"applied_current\":%g,\"committed_current\":%g,\"min_current\":6,\"max_current\":32,\"demand\":true,"
             "\"group_max_current\":%g,\"safety_factor\":1,\"heartbeat_timeout\":%g,\"failsafe_safe_current\":6,"
             "\"failsafe_peer_assumed_current\":6,\"config_version\":%g,\"config_hash\":\"%s\"}}",
             applied_a * 1000.0, uptime_s, applied_a, applied_a, group_max_a, timeout_s, version, hash);
    const char *problem = lsh_member_on_peer_doc(&member, 0, cJSON_Parse(text), mono_ms, mono_ms);
    LSH_CHECK(problem == NULL, "reordered: a's status is taken (%s)", problem ? problem : "ok");
}

static double taken_block_number(const char *key) {
    const cJSON *block = cJSON_GetObjectItemCaseSensitive(member.peers[0].doc, "loadsharing");
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(block, key);
    return cJSON_IsNumber(item) ? item->valuedouble : -1.0;
}

static char taken_hash_digit(void) {
    const cJSON *block = cJSON_GetObjectItemCaseSensitive(member.peers[0].doc, "loadsharing");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(block, "config_hash");
    return cJSON_IsString(hash) ? hash->valuestring[0] : '?';
}

/* The limit member a's row hands the module (what the next decision reads). */
static double row_limit_a(const char *id) {
    for (uint32_t i = 0; i < member.engine.member_count; i++) {
        if (strcmp(lsh_engine_member_id(&member.engine, i), id) == 0) {
            return lsh_block_f64(member.engine.input_block, LSH_IN_MEMBER_BASE + i * LSH_IN_MEMBER_STRIDE + LSH_IN_MEMBER_GROUP_MAX_CURRENT_A);
        }
    }
    return -1.0;
}

/* The member "esp" at 127.0.0.1:1000 with one peer, a (127.0.0.1:1001), the built-in module and
 * the recording shaper and controller; start's limit set to 31 A. NULL when it initialised. */
static const char *init_member_beside_a(lsh_group_doc_t *start, int sync_enabled, uint32_t clock_epoch) {
    static const char *hosts[] = {"127.0.0.1:1001"};
    start->fields.group_max_current_a = 31;
    lsh_member_options_t o;
    memset(&o, 0, sizeof(o));
    o.self_id = "esp";
    o.self_address = "127.0.0.1:1000";
    o.config = start;
    o.peer_hosts = hosts;
    o.peer_count = 1;
    o.sync_enabled = sync_enabled;
    o.has_group_key = 0;
    o.module_hash_hex = lsh_module_default_sha256;
    o.runtime = &runtime;
    o.clock_epoch = clock_epoch;
    o.shaper.set_limit_a = record_limit;
    o.rapi.send = record_rapi;
    return lsh_member_init(&member, &o);
}

static void test_reordered_status(void) {
    LSH_CHECK(lsh_runtime_load(&runtime, lsh_module_default, lsh_module_default_size) == lsh_ok, "reordered: the built-in module loads");
    lsh_group_doc_t start;
    garage_doc(&start, 10, 6, 0);
    /* as in the seed: report-only (no key), each charger holds the limit set on it */
    const char *problem = init_member_beside_a(&start, 1, 11);
    LSH_CHECK(problem == NULL, "reordered: init (%s)", problem ? problem : "ok");
    if (problem != NULL) return;
    lsh_self_facts_t self = {1, 3, 0, 0, 240, 6, 32, 1, 0};
    lsh_tick_result_t tick;
    hear_config(31, 1, '1', 0, 10, 100, 1000);
    lsh_member_tick(&member, 1100, node_now_ms + 1100, &self, &tick);
    /* A person lowers a's limit to 17 A (version 2); then an older status of a (31 A, version 1,
     * a 30 s timeout) arrives after it, as a link that reorders delivers it. */
    hear_config(17, 2, '2', 0, 10, 101, 2000);
    LSH_CHECK(taken_block_number("group_max_current") == 17, "reordered: the newer status's 17 A is taken");
    hear_config(31, 1, '1', 9, 30, 100, 2070);
    LSH_CHECK(taken_block_number("group_max_current") == 17 && taken_block_number("config_version") == 2 && taken_hash_digit() == '2' &&
              taken_block_number("heartbeat_timeout") == 10,
              "reordered: an older status keeps the config taken: 17 A, version 2, its hash and timeout (got %g A, version %g, timeout %g)",
              taken_block_number("group_max_current"), taken_block_number("config_version"), taken_block_number("heartbeat_timeout"));
    LSH_CHECK(taken_block_number("applied_current") == 9, "reordered: the older status's other fields are taken (applied %g A)",
              taken_block_number("applied_current"));
    lsh_member_tick(&member, 2500, node_now_ms + 2500, &self, &tick);
    /* The firmware's merged document keeps the older block (later deltas do not repeat an
     * unchanged limit): seconds later, still 17 A for the module. */
    hear_config(31, 1, '1', 9, 30, 105, 6000);
    lsh_member_tick(&member, 6100, node_now_ms + 6100, &self, &tick);
    LSH_CHECK(taken_block_number("group_max_current") == 17 && row_limit_a("a") == 17,
              "reordered: 4 s later the module is still handed 17 A for a (got %g A)", row_limit_a("a"));
    /* A newer config raises the limit: taken as it comes. */
    hear_config(59, 3, '3', 9, 10, 106, 7000);
    LSH_CHECK(taken_block_number("group_max_current") == 59 && row_limit_a("a") == 59, "reordered: a newer version's 59 A is taken (got %g A)",
              row_limit_a("a"));
    /* a restarts with a store that went back (version 0, 40 A): its uptime says so, taken. */
    hear_config(40, 0, '4', 0, 10, 2, 9000);
    LSH_CHECK(taken_block_number("group_max_current") == 40 && taken_block_number("config_version") == 0,
              "reordered: after a restart a lower version is taken (got %g A, version %g)", taken_block_number("group_max_current"),
              taken_block_number("config_version"));
    lsh_member_free(&member);
    lsh_runtime_unload(&runtime);
}

/* The heartbeat current is held to the smallest failsafe current the group told (the module's
 * rule 8 settings): a raise written here reaches the controller only once the group agrees, since
 * the others reserve a member they lost at the failsafe current they know (fuzz seed 12511300). */
static void test_heartbeat_told(void) {
    LSH_CHECK(lsh_runtime_load(&runtime, lsh_module_default, lsh_module_default_size) == lsh_ok, "heartbeat told: the built-in module loads");
    lsh_group_doc_t start;
    garage_doc(&start, 10, 8, 0); /* failsafe 6 A, assumed 8 A */
    rapi_count = 0;
    const char *problem = init_member_beside_a(&start, 0, 13);
    LSH_CHECK(problem == NULL, "heartbeat told: init (%s)", problem ? problem : "ok");
    if (problem != NULL) return;
    lsh_self_facts_t self = {1, 3, 0, 0, 240, 6, 32, 1, 0};
    lsh_tick_result_t tick;
    hear_config(31, 1, '1', 0, 10, 100, 1000); /* a: failsafe 6 A */
    lsh_member_tick(&member, 1100, node_now_ms + 1100, &self, &tick);
    LSH_CHECK(controller_current_a == 6, "heartbeat told: 6 A at start (got %u)", controller_current_a);
    lsh_group_fields_t fields = member.fields;
    fields.failsafe_safe_current_a = 8;
    int changed = 0;
    problem = lsh_member_local_write(&member, &fields, 0, 1700000100500.0, &changed);
    LSH_CHECK(problem == NULL && changed && member.fields.failsafe_safe_current_a == 8, "heartbeat told: 8 A written here (%s)", problem ? problem : "ok");
    LSH_CHECK(controller_current_a == 6, "heartbeat told: the controller keeps 6 A while a told 6 A (got %u)", controller_current_a);
    hear_config(31, 1, '1', 0, 10, 101, 2000);
    lsh_member_tick(&member, 2100, node_now_ms + 2100, &self, &tick);
    LSH_CHECK(controller_current_a == 6, "heartbeat told: and after the next decision (got %u)", controller_current_a);
    fields.failsafe_safe_current_a = 5;
    problem = lsh_member_local_write(&member, &fields, 0, 1700000101500.0, &changed);
    LSH_CHECK(problem == NULL && controller_current_a == 5, "heartbeat told: a lower one written here binds at once (got %u)", controller_current_a);
    lsh_member_free(&member);
    lsh_runtime_unload(&runtime);
}

static void test_supervision(void) {
    lsh_group_config_t c;
    memset(&c, 0, sizeof(c));
    c.heartbeat_timeout_s = 30;
    c.failsafe_safe_current_a = 6.7;
    c.group_max_current_a = 32;
    c.safety_factor = 1.0;
    uint32_t interval_s = 0, current_a = 0;
    lsh_supervisor_settings(&c, &interval_s, &current_a);
    LSH_CHECK(interval_s == 5 && current_a == 6, "supervision: defaults: 5 s (seen grace + message delay), 6 A (floored) (%u %u)",
              (unsigned)interval_s, (unsigned)current_a);
    c.group_max_current_a = 12;
    c.member_count = 3;
    lsh_supervisor_settings(&c, &interval_s, &current_a);
    LSH_CHECK(current_a == 4, "supervision: held to an equal part of the limit over the members: floor(12 / 3) = 4 A (%u)", (unsigned)current_a);
    c.group_max_current_a = 32;
    c.member_count = 0;
    c.failsafe_mode = LSH_FAILSAFE_MODE_DISABLE;
    lsh_supervisor_settings(&c, &interval_s, &current_a);
    LSH_CHECK(current_a == 0, "supervision: disable mode: 0 A");
    c.failsafe_mode = LSH_FAILSAFE_MODE_SAFE_CURRENT;
    c.seen_grace_ms = 10000;
    c.message_delay_max_ms = 4000;
    lsh_supervisor_settings(&c, &interval_s, &current_a);
    LSH_CHECK(interval_s == 14, "supervision: longer protocol timing, longer interval (%u)", (unsigned)interval_s);
    c.heartbeat_timeout_s = 8;
    lsh_supervisor_settings(&c, &interval_s, &current_a);
    LSH_CHECK(interval_s == 8, "supervision: never longer than heartbeat_timeout (%u)", (unsigned)interval_s);

    char line[32];
    lsh_rapi_with_checksum("$SY 5 6", line, sizeof(line));
    LSH_CHECK(strcmp(line, "$SY 5 6^2D") == 0, "rapi: XOR checksum (%s)", line);

    /* A controller that reports a missed pulse is acknowledged at the next pulse. */
    static lsh_supervisor_t s;
    const lsh_rapi_t rapi = {NULL, record_rapi};
    memset(&c, 0, sizeof(c));
    c.heartbeat_timeout_s = 30;
    c.failsafe_safe_current_a = 6;
    c.group_max_current_a = 32;
    c.safety_factor = 1.0;
    rapi_count = 0;
    lsh_supervisor_init(&s, &rapi);
    lsh_supervisor_configure(&s, &c);
    controller_trigger = 2;
    lsh_supervisor_pulse(&s, &c);
    controller_trigger = 0;
    lsh_supervisor_pulse(&s, &c);
    LSH_CHECK(rapi_count == 4 && strcmp(rapi_log[0], "$SY 5 6^2D") == 0 && strcmp(rapi_log[1], "$SY^2E") == 0 &&
              strncmp(rapi_log[2], "$SY 165^", 8) == 0 && strcmp(rapi_log[3], "$SY^2E") == 0,
              "supervision: set, pulse (missed reported), acknowledge, pulse (%d lines)", rapi_count);
    /* A controller that lost its settings (reset) gets them again before the next pulse. */
    controller_interval_s = 0;
    controller_current_a = 0;
    lsh_supervisor_pulse(&s, &c);
    lsh_supervisor_pulse(&s, &c);
    LSH_CHECK(rapi_count == 7 && strcmp(rapi_log[5], "$SY 5 6^2D") == 0, "supervision: settings sent again after a controller reset");
}

/* ---- left alone (rule 8): a charger whose members all left ---- */

/* A group config (version `version`) whose member list is `members_json` (a JSON array). */
static int push_list(double version, const char *members_json) {
    return push_group_list(version, cJSON_Parse(members_json));
}

/* The stored peers document's alone_confirmed: 1, 0, or -1 when absent or not stored. */
static int stored_alone(void) {
    char text[4096];
    size_t size = 0;
    if (lsh_platform_store_read("lsh_peers", (uint8_t *)text, sizeof(text) - 1, &size) != lsh_ok) return -1;
    cJSON *d = cJSON_ParseWithLength(text, size);
    const cJSON *alone = cJSON_GetObjectItemCaseSensitive(d, "alone_confirmed");
    const int value = cJSON_IsBool(alone) ? cJSON_IsTrue(alone) : -1;
    cJSON_Delete(d);
    return value;
}

/* One tick at mono_ms; the status document it publishes (cJSON_Delete). */
static cJSON *tick_status(double mono_ms, lsh_tick_result_t *tick) {
    lsh_self_facts_t self = {1, 3, 0, 0, 240, 6, 32, 1, 0};
    self.amp_ma = limit_a > 0 ? limit_a * 1000.0 : 0.0;
    lsh_member_tick(&member, mono_ms, node_now_ms + mono_ms, &self, tick);
    char *text = lsh_member_status_json(&member, &self, tick, node_now_ms + mono_ms, mono_ms / 1000.0);
    cJSON *doc = cJSON_Parse(text);
    cJSON_free(text);
    return doc;
}

static int block_true(const cJSON *doc, const char *key) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "loadsharing"), key));
}

static int block_false(const cJSON *doc, const char *key) {
    return cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "loadsharing"), key));
}

static void test_member_alone(void) {
    LSH_CHECK(lsh_runtime_load(&runtime, lsh_module_default, lsh_module_default_size) == lsh_ok, "alone: the built-in module loads");
    LSH_CHECK(lsh_test_store_fresh(), "alone: a fresh store");
    const char *hosts[] = {"127.0.0.1:1001", "127.0.0.1:1002"};
    lsh_member_options_t o;
    lsh_tick_result_t tick;

    /* Set up with no members: on its own by a person's choice (Node's default), the whole limit. */
    leave_options(&o, hosts, 0);
    const char *problem = lsh_member_init(&member, &o);
    LSH_CHECK(problem == NULL, "alone: init without members (%s)", problem ? problem : "ok");
    if (problem != NULL) return;
    run_until(1000, 20000, 0, NULL);
    cJSON *doc = tick_status(20500, &tick);
    LSH_CHECK(member.alone_confirmed && stored_alone() == 1 && block_true(doc, "alone_confirmed") && block_false(doc, "left_alone") &&
              limit_a == 32.0,
              "alone: a charger set up without members is on its own: alone_confirmed published and stored, the whole 32 A (%g A)", limit_a);
    cJSON_Delete(doc);
    lsh_member_free(&member);

    /* Two members, both heard: confirming alone is refused while they share the breaker. */
    leave_options(&o, hosts, 2);
    problem = lsh_member_init(&member, &o);
    LSH_CHECK(problem == NULL && !member.alone_confirmed && stored_alone() == 0,
              "alone: a charger set up with members is not on its own, though the store said so (%s)", problem ? problem : "ok");
    if (problem != NULL) return;
    hear(0, "a", 6, 0, 500);
    hear(1, "b", 6, 0, 500);
    run_until(1000, 10000, 0, "a");
    doc = tick_status(10500, &tick);
    char *before_text = cJSON_PrintUnformatted(doc); /* what its peers hear from it now */
    cJSON_Delete(doc);
    problem = lsh_member_confirm_alone(&member);
    LSH_CHECK(problem != NULL && strcmp(problem, "This charger still has 2 member(s): remove them first (DELETE /loadsharing/peers/HOST)") == 0 &&
              !member.alone_confirmed && stored_alone() == 0,
              "alone: confirming alone with 2 members is refused with Node's sentence (%s)", problem ? problem : "accepted");

    /* Its group removes it (a config without it): every member leaves, and no person set it up on
     * its own: left alone, at most its failsafe current (6 A). */
    LSH_CHECK(push_list(1, "[{\"host\":\"127.0.0.1:1001\",\"id\":\"a\"},{\"host\":\"127.0.0.1:1002\",\"id\":\"b\"}]") == 200 &&
              member.peer_count == 0 && member.held_count == 2,
              "alone: removed by its group: no members, a and b leaving (%u, %u)", (unsigned)member.peer_count, (unsigned)member.held_count);
    run_until(11000, 40000, 0, NULL);
    doc = tick_status(40500, &tick);
    LSH_CHECK(tick.published.left_alone && block_true(doc, "left_alone") && block_false(doc, "alone_confirmed") && limit_a <= 6.0 &&
              tick.limit_a <= 6.0,
              "alone: left alone is published and the limit is at most the failsafe 6 A (%g A)", limit_a);
    cJSON_Delete(doc);

    /* A restart (the carry persisted, as the firmware does): the stored alone_confirmed (false) is
     * kept, though it starts with no members. */
    static uint8_t carry[LSH_CARRY_SIZE];
    memcpy(carry, lsh_member_carry(&member), LSH_CARRY_SIZE);
    lsh_member_free(&member);
    leave_options(&o, hosts, 0);
    o.carry = carry;
    problem = lsh_member_init(&member, &o);
    LSH_CHECK(problem == NULL && !member.alone_confirmed && member.held_count == 2,
              "alone: restarted without members, it is still not on its own (stored), a and b still leaving (%s)", problem ? problem : "ok");
    run_until(1000, 20000, 0, NULL);
    doc = tick_status(20500, &tick);
    LSH_CHECK(block_true(doc, "left_alone") && limit_a <= 6.0, "alone: after the restart still left alone, %g A", limit_a);
    cJSON_Delete(doc);

    /* a and b say a person set them up on their own: forgotten. Still left alone: 6 A at most. */
    hear(member.peer_count, "a", 0, 1, 20600);
    hear(member.peer_count + 1, "b", 0, 1, 20600);
    run_until(21000, 25000, 0, NULL);
    LSH_CHECK(member.held_count == 0 && limit_a <= 6.0, "alone: its former members forgotten, it stays at %g A until a person's word", limit_a);

    /* A person confirms: the whole limit, stored. */
    problem = lsh_member_confirm_alone(&member);
    run_until(26000, 40000, 0, NULL);
    doc = tick_status(40500, &tick);
    LSH_CHECK(problem == NULL && member.alone_confirmed && stored_alone() == 1 && block_true(doc, "alone_confirmed") &&
              block_false(doc, "left_alone") && limit_a == 32.0,
              "alone: a person's confirm: the whole 32 A (%g A), alone_confirmed published and stored (%s)", limit_a, problem ? problem : "ok");
    cJSON_Delete(doc);
    LSH_CHECK(lsh_member_confirm_alone(&member) == NULL && member.alone_confirmed, "alone: confirming again changes nothing");
    doc = tick_status(41000, &tick);
    char *after_text = cJSON_PrintUnformatted(doc); /* what its former peers hear from it now */
    cJSON_Delete(doc);

    /* It survives a restart. */
    memcpy(carry, lsh_member_carry(&member), LSH_CARRY_SIZE);
    lsh_member_free(&member);
    leave_options(&o, hosts, 0);
    o.carry = carry;
    problem = lsh_member_init(&member, &o);
    run_until(1000, 20000, 0, NULL);
    LSH_CHECK(problem == NULL && member.alone_confirmed && limit_a == 32.0, "alone: after a restart still on its own: %g A", limit_a);

    /* Joining a group clears it (stored): a removal later must not find it set up alone. */
    LSH_CHECK(push_list(2, "[{\"host\":\"127.0.0.1:1000\",\"id\":\"esp\"},{\"host\":\"127.0.0.1:1001\",\"id\":\"a\"}]") == 200 &&
              member.peer_count == 1 && !member.alone_confirmed && stored_alone() == 0,
              "alone: joining a group clears alone_confirmed, stored");
    hear(0, "a", 6, 0, 20600);
    run_until(21000, 25000, 0, "a");
    LSH_CHECK(push_list(3, "[{\"host\":\"127.0.0.1:1001\",\"id\":\"a\"}]") == 200 && member.peer_count == 0, "alone: removed again");
    run_until(26000, 40000, 0, NULL);
    LSH_CHECK(!member.alone_confirmed && limit_a <= 6.0, "alone: removed after that join, left alone again: %g A", limit_a);
    lsh_member_free(&member);

    /* Its former peer a: esp is heard, removed (leaving, reserved), and forgotten once it publishes
     * alone_confirmed (the documents esp published above). */
    LSH_CHECK(lsh_test_store_fresh(), "alone: a fresh store for a former peer");
    const char *a_hosts[] = {"127.0.0.1:1000"};
    leave_options(&o, a_hosts, 1);
    o.self_id = "a";
    o.self_address = "127.0.0.1:1001";
    problem = lsh_member_init(&member, &o);
    LSH_CHECK(problem == NULL, "alone: the former peer starts (%s)", problem ? problem : "ok");
    if (problem != NULL) return;
    LSH_CHECK(lsh_member_on_peer_doc(&member, 0, cJSON_Parse(before_text), 500, 500) == NULL, "alone: a hears esp");
    run_until(1000, 5000, 0, NULL);
    LSH_CHECK(push_list(1, "[{\"host\":\"127.0.0.1:1001\",\"id\":\"a\"}]") == 200 && member.held_count == 1 &&
              lsh_engine_member_state(&member.engine, "esp") == 2, "alone: a removes esp from its group: leaving");
    run_until(6000, 30000, 0, NULL);
    LSH_CHECK(reserved_a("esp") > 0.0, "alone: esp is still reserved by a (%g A) while it has not said it is on its own", reserved_a("esp"));
    LSH_CHECK(lsh_member_on_peer_doc(&member, member.peer_count, cJSON_Parse(after_text), 30500, 30500) == NULL, "alone: a hears esp on its own");
    run_until(31000, 33000, 0, NULL);
    LSH_CHECK(member.held_count == 0 && lsh_engine_member_state(&member.engine, "esp") == 0 && reserved_a("esp") < 0.0,
              "alone: esp says alone_confirmed: a forgets it (%u leaving)", (unsigned)member.held_count);
    lsh_member_free(&member);
    cJSON_free(before_text);
    cJSON_free(after_text);
    lsh_runtime_unload(&runtime);
}

void lsh_test_member(void) {
    test_auth();
    test_is_me();
    test_documents();
    test_member_sync();
    test_member_leaving();
    test_member_alone();
    test_report_only();
    test_reordered_status();
    test_heartbeat_told();
    test_supervision();
}
