/* Package verification in C against the Node host's verdicts on the same bytes: every package
 * scripts/gen-esp32-test-packages.mjs wrote (good, tampered, unknown key, wrong ABI, seeded
 * mutations) must get the code Node's verify_package gave it, and the same manifest. Plus the
 * manifest's canonical-text rules and the trusted-key checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsh_package.h"
#include "lsh_runtime.h"
#include "lsh_test.h"
#include "lsh_test_files.h"

const char *lsh_test_packages_dir = "build/esp32/packages";

int lsh_test_read_pem(const char *name, char *out, size_t capacity) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", lsh_test_packages_dir, name);
    size_t size = 0;
    uint8_t *bytes = lsh_file_read(path, &size);
    if (bytes == NULL || size + 1 > capacity) {
        free(bytes);
        return 0;
    }
    memcpy(out, bytes, size);
    out[size] = '\0';
    free(bytes);
    return 1;
}

uint8_t *lsh_test_read_package(const char *name, size_t *size_out) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.lspk", lsh_test_packages_dir, name);
    return lsh_file_read(path, size_out);
}

static void test_keys(void) {
    static char trusted[1024], p384[1024];
    lsh_trusted_keys_t keys;
    char detail[LSH_DETAIL_BYTES];
    const int have = lsh_test_read_pem("trusted.pub.pem", trusted, sizeof(trusted)) && lsh_test_read_pem("p384.pub.pem", p384, sizeof(p384));
    LSH_CHECK(have, "package: the test keys exist (scripts/gen-esp32-test-packages.mjs)");
    if (!have) return;
    const char *one[] = {trusted};
    LSH_CHECK(lsh_trusted_keys_init(&keys, one, 1, detail, sizeof(detail)) == lsh_ok && keys.count == 1, "keys: a P-256 PEM key is trusted");
    lsh_trusted_keys_free(&keys);
    const char *curve[] = {trusted, p384};
    LSH_CHECK(lsh_trusted_keys_init(&keys, curve, 2, detail, sizeof(detail)) == lsh_err_pkg_key && keys.count == 0 && strstr(detail, "key 2") != NULL,
              "keys: a P-384 key is refused, naming it (%s)", detail);
    const char *garbage[] = {"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"};
    LSH_CHECK(lsh_trusted_keys_init(&keys, garbage, 1, detail, sizeof(detail)) == lsh_err_pkg_key, "keys: garbage PEM is refused");
    const char *many[LSH_TRUSTED_KEYS_MAX + 1];
    for (size_t i = 0; i <= LSH_TRUSTED_KEYS_MAX; i++) many[i] = trusted;
    LSH_CHECK(lsh_trusted_keys_init(&keys, many, LSH_TRUSTED_KEYS_MAX + 1, detail, sizeof(detail)) == lsh_err_argument, "keys: too many keys are refused");
}

/* Every package of index.txt: the C verdict equals Node's, and so does the manifest. */
static void test_cross_check(void) {
    static char trusted[1024], second[1024];
    if (!lsh_test_read_pem("trusted.pub.pem", trusted, sizeof(trusted)) || !lsh_test_read_pem("second.pub.pem", second, sizeof(second))) return;
    lsh_trusted_keys_t keys;
    const char *both[] = {trusted, second};
    LSH_CHECK(lsh_trusted_keys_init(&keys, both, 2, NULL, 0) == lsh_ok, "cross-check: two trusted keys");
    char path[1024];
    snprintf(path, sizeof(path), "%s/index.txt", lsh_test_packages_dir);
    FILE *index = fopen(path, "r");
    LSH_CHECK(index != NULL, "cross-check: %s exists", path);
    if (index == NULL) return;
    char name[64], code[32], sha[80], version[80];
    unsigned long long counter = 0;
    int count = 0, agreed = 0, ok_count = 0;
    while (fscanf(index, "%63s %31s %llu %79s %79s", name, code, &counter, sha, version) == 5) {
        count++;
        size_t size = 0;
        uint8_t *bytes = lsh_test_read_package(name, &size);
        if (bytes == NULL) {
            LSH_CHECK(0, "cross-check: %s.lspk is readable", name);
            continue;
        }
        lsh_package_t pkg;
        char detail[LSH_DETAIL_BYTES];
        const lsh_result_t r = lsh_package_verify(bytes, size, LSH_PACKAGE_NODE_BYTES_MAX, &keys, &pkg, detail, sizeof(detail));
        const int same = strcmp(lsh_package_code(r), code) == 0;
        agreed += same;
        LSH_CHECK(same, "cross-check: %s: Node says %s, C says %s (%s)", name, code, lsh_package_code(r), detail);
        if (same && r == lsh_ok) {
            ok_count++;
            LSH_CHECK(pkg.manifest.counter == counter && strcmp(pkg.manifest.module_sha256_hex, sha) == 0 && strcmp(pkg.manifest.version, version) == 0 &&
                          pkg.module_size == pkg.manifest.module_size && pkg.module + pkg.module_size == bytes + size,
                      "cross-check: %s: the same manifest as Node (counter %llu, version %s)", name, counter, version);
        }
        if (same && r != lsh_ok) LSH_CHECK(detail[0] != '\0', "cross-check: %s: the refusal says why", name);
        free(bytes);
    }
    fclose(index);
    LSH_CHECK(count >= 60 && ok_count >= 10, "cross-check: %d packages read, %d accepted", count, ok_count);
    printf("package cross-check: %d of %d packages get Node's verdict in C\n", agreed, count);

    /* One key only: the package signed by the second key is no longer trusted. */
    lsh_trusted_keys_free(&keys);
    const char *one[] = {trusted};
    lsh_trusted_keys_init(&keys, one, 1, NULL, 0);
    size_t size = 0;
    uint8_t *bytes = lsh_test_read_package("pf-second-key-20", &size);
    lsh_package_t pkg;
    LSH_CHECK(bytes != NULL && lsh_package_verify(bytes, size, LSH_PACKAGE_NODE_BYTES_MAX, &keys, &pkg, NULL, 0) == lsh_err_pkg_signature,
              "keys: a package signed by a key the charger does not trust is refused as signature");
    /* A smaller buffer limit refuses a package Node would take, as malformed with the size. */
    char detail[LSH_DETAIL_BYTES];
    LSH_CHECK(bytes != NULL && lsh_package_verify(bytes, size, 1000, &keys, &pkg, detail, sizeof(detail)) == lsh_err_pkg_malformed &&
                  strstr(detail, "larger than 1000 bytes") != NULL,
              "package: larger than the host's buffer is malformed (%s)", detail);
    free(bytes);
    lsh_trusted_keys_free(&keys);
}

static lsh_result_t manifest(const char *text) {
    lsh_manifest_t m;
    return lsh_manifest_parse((const uint8_t *)text, strlen(text), &m, NULL, 0);
}

#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_manifest_rules(void) {
    lsh_manifest_t m;
    const char *good = "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=8458\ncounter=42\nversion=1.1-pf\npolicy=priority_first\n";
    LSH_CHECK(lsh_manifest_parse((const uint8_t *)good, strlen(good), &m, NULL, 0) == lsh_ok && m.abi_version == 1 && m.module_size == 8458 &&
                  m.counter == 42 && strcmp(m.version, "1.1-pf") == 0 && strcmp(m.policy, "priority_first") == 0 &&
                  strcmp(m.module_sha256_hex, HASH) == 0 && m.module_sha256[0] == 0x01 && m.module_sha256[31] == 0xef,
              "manifest: the canonical text parses");
    LSH_CHECK(manifest("loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=999999999999999\nversion=v\npolicy=p\n") == lsh_ok,
              "manifest: a 15-digit counter");
    LSH_CHECK(manifest("loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\nversion="
                       "0123456789012345678901234567890123456789012345678901234567890123\npolicy=p\n") == lsh_ok,
              "manifest: a 64-character version");
    static const char *const bad[] = {
        "",
        "loadshare-module-v1",
        "loadshare-module-v1\n",
        "loadshare-module-v2\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\nversion=v\npolicy=p\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\nversion=v\npolicy=p",      /* no final newline */
        "loadshare-module-v1\r\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\nversion=v\npolicy=p\n",
        "loadshare-module-v1\nabi_version=01\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\nversion=v\npolicy=p\n",  /* leading zero */
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\nmodule_size=1\ncounter=1\nversion=v\npolicy=p\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "0\nmodule_size=1\ncounter=1\nversion=v\npolicy=p\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=0\ncounter=1\nversion=v\npolicy=p\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=0\nversion=v\npolicy=p\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1000000000000000\nversion=v\npolicy=p\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=-1\nversion=v\npolicy=p\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\ncounter=1\nmodule_size=1\nversion=v\npolicy=p\n",     /* order */
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\nversion=v\npolicy=p\nextra=1\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\ncounter=1\nversion=v\npolicy=p\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\nversion=a b\npolicy=p\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\nversion=\npolicy=p\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\nversion="
        "01234567890123456789012345678901234567890123456789012345678901234\npolicy=p\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\nversion=v\n=p\n",
        "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\nversion=v\npolicy=p\n\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        LSH_CHECK(manifest(bad[i]) == lsh_err_pkg_manifest, "manifest: bad case %u is refused as manifest", (unsigned)i);
    }
    char why[LSH_DETAIL_BYTES];
    const char *no_eq = "loadshare-module-v1\nabi_version 1\n";
    LSH_CHECK(lsh_manifest_parse((const uint8_t *)no_eq, strlen(no_eq), &m, why, sizeof(why)) == lsh_err_pkg_manifest &&
                  strcmp(why, "manifest: malformed line \"abi_version 1\"") == 0,
              "manifest: a line without '=' is named (%s)", why);
    /* A NUL inside a value (lengths, not C strings, are compared). */
    const char with_nul[] = "loadshare-module-v1\nabi_version=1\nmodule_sha256=" HASH "\nmodule_size=1\ncounter=1\nversion=v\0x\npolicy=p\n";
    lsh_manifest_t n;
    LSH_CHECK(lsh_manifest_parse((const uint8_t *)with_nul, sizeof(with_nul) - 1, &n, NULL, 0) == lsh_err_pkg_manifest, "manifest: a NUL byte is refused");
}

void lsh_test_package(void) {
    test_keys();
    test_cross_check();
    test_manifest_rules();
}
