/* Signed module packages: parse and verify (see lsh_package.h). Every rule mirrors
 * host-node/modules/package.ts, so the same bytes get the same verdict on both hosts (the
 * native tests cross-check this on packages Node made). */
#include "lsh_package.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lsh_abi.h"
#include "mbedtls/md.h"
#include "mbedtls/version.h"

const char lsh_err_pkg_malformed[] = "package malformed";
const char lsh_err_pkg_manifest[] = "package manifest invalid";
const char lsh_err_pkg_signature[] = "package not signed by a trusted key";
const char lsh_err_pkg_hash[] = "package module does not match its manifest";
const char lsh_err_pkg_downgrade[] = "package counter is not above the highest accepted";
const char lsh_err_pkg_abi[] = "package is for another ABI version";
const char lsh_err_pkg_module[] = "package module refused by the runtime";
const char lsh_err_pkg_self_test[] = "package module failed the self-test";
const char lsh_err_pkg_key[] = "trusted key is not an ECDSA P-256 public key";

static const char manifest_header[] = "loadshare-module-v1";

const char *lsh_package_code(lsh_result_t result) {
    if (result == lsh_ok) return "ok";
    if (result == lsh_err_pkg_malformed) return "malformed";
    if (result == lsh_err_pkg_manifest) return "manifest";
    if (result == lsh_err_pkg_signature) return "signature";
    if (result == lsh_err_pkg_hash) return "hash";
    if (result == lsh_err_pkg_downgrade) return "downgrade";
    if (result == lsh_err_pkg_abi) return "abi";
    if (result == lsh_err_pkg_module) return "module";
    if (result == lsh_err_pkg_self_test) return "self_test";
    if (result == lsh_err_pkg_key) return "key";
    if (result == lsh_err_store) return "store";
    return "error";
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static lsh_result_t fail(lsh_result_t result, char *detail, size_t detail_size, const char *format, ...) {
    if (detail != NULL && detail_size > 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(detail, detail_size, format, args);
        va_end(args);
    }
    return result;
}

static void clear_detail(char *detail, size_t detail_size) {
    if (detail != NULL && detail_size > 0) detail[0] = '\0';
}

void lsh_hex(const uint8_t *bytes, size_t size, char *hex_out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        hex_out[2 * i] = digits[bytes[i] >> 4];
        hex_out[2 * i + 1] = digits[bytes[i] & 15u];
    }
    hex_out[2 * size] = '\0';
}

lsh_result_t lsh_sha256(const uint8_t *bytes, size_t size, uint8_t digest_out[32]) {
    const mbedtls_md_info_t *sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (sha256 == NULL || mbedtls_md(sha256, bytes, size, digest_out) != 0) return lsh_err_argument;
    return lsh_ok;
}

/* ---- trusted keys ---- */

static int is_p256(const mbedtls_pk_context *pk) {
    if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY) return 0;
#if MBEDTLS_VERSION_NUMBER >= 0x03050000
    return mbedtls_pk_get_ec_group_id(pk) == MBEDTLS_ECP_DP_SECP256R1;
#elif MBEDTLS_VERSION_NUMBER >= 0x03000000
    return mbedtls_pk_ec(*pk)->MBEDTLS_PRIVATE(grp).id == MBEDTLS_ECP_DP_SECP256R1;
#else
    return mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
#endif
}

lsh_result_t lsh_trusted_keys_init(lsh_trusted_keys_t *keys, const char *const pems[], size_t count,
                                   char *detail, size_t detail_size) {
    if (keys == NULL || (pems == NULL && count > 0)) return fail(lsh_err_argument, detail, detail_size, "no key list");
    memset(keys, 0, sizeof(*keys));
    if (count > LSH_TRUSTED_KEYS_MAX) {
        return fail(lsh_err_argument, detail, detail_size, "%u trusted keys; at most %u", (unsigned)count, (unsigned)LSH_TRUSTED_KEYS_MAX);
    }
    for (size_t i = 0; i < count; i++) {
        mbedtls_pk_init(&keys->keys[i]);
        keys->count = i + 1;
        /* For PEM, mbedTLS wants the terminating NUL counted in the length. */
        const int parsed = pems[i] != NULL
            ? mbedtls_pk_parse_public_key(&keys->keys[i], (const unsigned char *)pems[i], strlen(pems[i]) + 1)
            : -1;
        if (parsed != 0 || !is_p256(&keys->keys[i])) {
            lsh_trusted_keys_free(keys);
            return fail(lsh_err_pkg_key, detail, detail_size, "key: trusted key %u is not an ECDSA P-256 public key (PEM)", (unsigned)i + 1);
        }
    }
    clear_detail(detail, detail_size);
    return lsh_ok;
}

void lsh_trusted_keys_free(lsh_trusted_keys_t *keys) {
    if (keys == NULL) return;
    for (size_t i = 0; i < keys->count && i < LSH_TRUSTED_KEYS_MAX; i++) mbedtls_pk_free(&keys->keys[i]);
    keys->count = 0;
}

/* ---- manifest ---- */

typedef struct cursor {
    const uint8_t *bytes;
    size_t size;
    size_t at;
} cursor_t;

/* The next '\n'-terminated line (without the '\n'); 0 when none is left. */
static int next_line(cursor_t *c, const uint8_t **line, size_t *len) {
    if (c->at >= c->size) return 0;
    const uint8_t *start = c->bytes + c->at;
    const uint8_t *nl = memchr(start, '\n', c->size - c->at);
    if (nl == NULL) return 0;
    *line = start;
    *len = (size_t)(nl - start);
    c->at += *len + 1;
    return 1;
}

/* One "key=value" line, the key being exactly `key`. */
static lsh_result_t field(cursor_t *c, const char *key, const uint8_t **value, size_t *value_len, char *detail, size_t detail_size) {
    const uint8_t *line = NULL;
    size_t len = 0;
    if (!next_line(c, &line, &len)) {
        return fail(lsh_err_pkg_manifest, detail, detail_size, "manifest: %s is missing", key);
    }
    const uint8_t *eq = memchr(line, '=', len);
    if (eq == NULL || eq == line) {
        char shown[41]; /* the line's start, as package.ts shows it, non-printables as '?' */
        const size_t n = len < 40u ? len : 40u;
        for (size_t i = 0; i < n; i++) shown[i] = line[i] >= 0x20 && line[i] < 0x7f ? (char)line[i] : '?';
        shown[n] = '\0';
        return fail(lsh_err_pkg_manifest, detail, detail_size, "manifest: malformed line \"%s\"", shown);
    }
    const size_t key_len = strlen(key);
    if ((size_t)(eq - line) != key_len || memcmp(line, key, key_len) != 0) {
        return fail(lsh_err_pkg_manifest, detail, detail_size, "manifest: fields out of order, repeated or unknown");
    }
    *value = eq + 1;
    *value_len = len - key_len - 1;
    return lsh_ok;
}

/* \d{1,15}, >= min, written canonically (no leading zero: package.ts re-renders the number). */
static lsh_result_t integer_field(cursor_t *c, const char *key, uint64_t min, uint64_t *out, char *detail, size_t detail_size) {
    const uint8_t *v = NULL;
    size_t n = 0;
    lsh_result_t r = field(c, key, &v, &n, detail, detail_size);
    if (r != lsh_ok) return r;
    uint64_t value = 0;
    int digits_ok = n >= 1 && n <= 15;
    for (size_t i = 0; digits_ok && i < n; i++) {
        if (v[i] < '0' || v[i] > '9') digits_ok = 0;
        else value = value * 10u + (uint64_t)(v[i] - '0');
    }
    if (!digits_ok || value < min) {
        return fail(lsh_err_pkg_manifest, detail, detail_size, "manifest: %s must be an integer >= %u", key, (unsigned)min);
    }
    if (v[0] == '0') return fail(lsh_err_pkg_manifest, detail, detail_size, "manifest: fields out of order, repeated or unknown");
    *out = value;
    return lsh_ok;
}

/* [\x21-\x7e]{1,64} */
static lsh_result_t text_field(cursor_t *c, const char *key, char out[LSH_MANIFEST_TEXT_MAX + 1], char *detail, size_t detail_size) {
    const uint8_t *v = NULL;
    size_t n = 0;
    lsh_result_t r = field(c, key, &v, &n, detail, detail_size);
    if (r != lsh_ok) return r;
    int ok = n >= 1 && n <= LSH_MANIFEST_TEXT_MAX;
    for (size_t i = 0; ok && i < n; i++) ok = v[i] >= 0x21 && v[i] <= 0x7e;
    if (!ok) return fail(lsh_err_pkg_manifest, detail, detail_size, "manifest: %s must be 1..64 printable characters", key);
    memcpy(out, v, n);
    out[n] = '\0';
    return lsh_ok;
}

static int hex_value(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1; /* uppercase is refused, as /^[0-9a-f]{64}$/ does */
}

lsh_result_t lsh_manifest_parse(const uint8_t *bytes, size_t size, lsh_manifest_t *out, char *detail, size_t detail_size) {
    if (out == NULL || (bytes == NULL && size > 0)) return fail(lsh_err_argument, detail, detail_size, "no manifest");
    memset(out, 0, sizeof(*out));
    const size_t header_len = sizeof(manifest_header) - 1;
    if (size < header_len + 1 || memcmp(bytes, manifest_header, header_len) != 0 || bytes[header_len] != '\n' || bytes[size - 1] != '\n') {
        return fail(lsh_err_pkg_manifest, detail, detail_size, "manifest: not a loadshare-module-v1 manifest");
    }
    cursor_t c = {bytes, size, header_len + 1};
    lsh_result_t r = integer_field(&c, "abi_version", 1, &out->abi_version, detail, detail_size);
    if (r == lsh_ok) {
        const uint8_t *v = NULL;
        size_t n = 0;
        r = field(&c, "module_sha256", &v, &n, detail, detail_size);
        if (r == lsh_ok) {
            int ok = n == 64;
            for (size_t i = 0; ok && i < 32; i++) {
                const int hi = hex_value(v[2 * i]);
                const int lo = hex_value(v[2 * i + 1]);
                ok = hi >= 0 && lo >= 0;
                if (ok) out->module_sha256[i] = (uint8_t)(hi * 16 + lo);
            }
            if (!ok) r = fail(lsh_err_pkg_manifest, detail, detail_size, "manifest: module_sha256 must be 64 lowercase hex digits");
            else lsh_hex(out->module_sha256, 32, out->module_sha256_hex);
        }
    }
    if (r == lsh_ok) r = integer_field(&c, "module_size", 1, &out->module_size, detail, detail_size);
    if (r == lsh_ok) r = integer_field(&c, "counter", 1, &out->counter, detail, detail_size);
    if (r == lsh_ok) r = text_field(&c, "version", out->version, detail, detail_size);
    if (r == lsh_ok) r = text_field(&c, "policy", out->policy, detail, detail_size);
    if (r == lsh_ok && c.at != size) r = fail(lsh_err_pkg_manifest, detail, detail_size, "manifest: fields out of order, repeated or unknown");
    if (r != lsh_ok) {
        memset(out, 0, sizeof(*out));
        return r;
    }
    clear_detail(detail, detail_size);
    return lsh_ok;
}

/* ---- package ---- */

static uint32_t u16le(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t u32le(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }

lsh_result_t lsh_package_parse(const uint8_t *bytes, size_t size, size_t bytes_max, lsh_package_t *out,
                               char *detail, size_t detail_size) {
    if (out == NULL || (bytes == NULL && size > 0)) return fail(lsh_err_argument, detail, detail_size, "no package");
    memset(out, 0, sizeof(*out));
    if (size > bytes_max) return fail(lsh_err_pkg_malformed, detail, detail_size, "package: larger than %u bytes", (unsigned)bytes_max);
    if (size < 8 || memcmp(bytes, "LSPK", 4) != 0) {
        return fail(lsh_err_pkg_malformed, detail, detail_size, "package: not a loadshare module package (magic)");
    }
    if (bytes[4] != LSH_PACKAGE_FORMAT) {
        return fail(lsh_err_pkg_malformed, detail, detail_size, "package: format %u is not %u", (unsigned)bytes[4], LSH_PACKAGE_FORMAT);
    }
    /* Byte 5 is written as 0 and, as in package.ts, not checked (so both hosts accept the same bytes). */
    size_t at = 6;
    const size_t manifest_len = u16le(bytes + at);
    at += 2;
    /* Every comparison subtracts from size, so nothing overflows with a 32-bit size_t. */
    if (manifest_len > LSH_MANIFEST_BYTES_MAX || size - at < 2 || manifest_len > size - at - 2) {
        return fail(lsh_err_pkg_malformed, detail, detail_size, "package: truncated manifest");
    }
    out->manifest_bytes = bytes + at;
    out->manifest_size = manifest_len;
    at += manifest_len;
    const size_t signature_len = u16le(bytes + at);
    at += 2;
    if (signature_len > LSH_SIGNATURE_BYTES_MAX || size - at < 4 || signature_len > size - at - 4) {
        memset(out, 0, sizeof(*out));
        return fail(lsh_err_pkg_malformed, detail, detail_size, "package: truncated signature");
    }
    out->signature = bytes + at;
    out->signature_size = signature_len;
    at += signature_len;
    const uint32_t module_len = u32le(bytes + at);
    at += 4;
    if ((uint64_t)module_len != (uint64_t)(size - at)) {
        memset(out, 0, sizeof(*out));
        return fail(lsh_err_pkg_malformed, detail, detail_size, "package: %s",
                    (uint64_t)module_len > (uint64_t)(size - at) ? "truncated module" : "trailing bytes after the module");
    }
    out->module = bytes + at;
    out->module_size = module_len;
    const lsh_result_t r = lsh_manifest_parse(out->manifest_bytes, out->manifest_size, &out->manifest, detail, detail_size);
    if (r != lsh_ok) {
        memset(out, 0, sizeof(*out));
        return r;
    }
    clear_detail(detail, detail_size);
    return lsh_ok;
}

lsh_result_t lsh_package_verify(const uint8_t *bytes, size_t size, size_t bytes_max, const lsh_trusted_keys_t *keys,
                                lsh_package_t *out, char *detail, size_t detail_size) {
    if (keys == NULL || out == NULL) return fail(lsh_err_argument, detail, detail_size, "no keys");
    lsh_result_t r = lsh_package_parse(bytes, size, bytes_max, out, detail, detail_size);
    if (r != lsh_ok) return r;
    uint8_t digest[32];
    if (lsh_sha256(out->manifest_bytes, out->manifest_size, digest) != lsh_ok) {
        return fail(lsh_err_argument, detail, detail_size, "sha256 unavailable in mbedTLS");
    }
    int signed_ok = 0;
    for (size_t i = 0; i < keys->count && i < LSH_TRUSTED_KEYS_MAX && !signed_ok; i++) {
        /* mbedtls_pk_verify casts away const on the context; it does not change a public key. */
        signed_ok = mbedtls_pk_verify((mbedtls_pk_context *)&keys->keys[i], MBEDTLS_MD_SHA256, digest, sizeof(digest),
                                      out->signature, out->signature_size) == 0;
    }
    if (!signed_ok) {
        return fail(lsh_err_pkg_signature, detail, detail_size, "signature: not signed by a trusted key, or the manifest was altered");
    }
    if ((uint64_t)out->module_size != out->manifest.module_size || lsh_sha256(out->module, out->module_size, digest) != lsh_ok ||
        memcmp(digest, out->manifest.module_sha256, sizeof(digest)) != 0) {
        return fail(lsh_err_pkg_hash, detail, detail_size, "hash: the module bytes do not match the signed manifest");
    }
    if (out->manifest.abi_version != LSH_ABI_VERSION) {
        return fail(lsh_err_pkg_abi, detail, detail_size, "abi: package is for ABI %llu, this host speaks %u",
                    (unsigned long long)out->manifest.abi_version, (unsigned)LSH_ABI_VERSION);
    }
    clear_detail(detail, detail_size);
    return lsh_ok;
}
