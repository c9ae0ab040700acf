/* Signed module packages (docs/hot-swap.md), read exactly as host-node/modules/package.ts reads
 * them, with the signature checked by mbedTLS (Debian's libmbedtls-dev natively, the `mbedtls`
 * component on ESP-IDF):
 *
 *   "LSPK" | u8 format (1) | u8 0 | u16 manifest_len | manifest | u16 signature_len |
 *   signature (DER) | u32 module_len | module          (integers little-endian)
 *
 * The signature is ECDSA P-256 over SHA-256 of the manifest bytes; the manifest names the
 * module's SHA-256 and size and the ABI version. Parsing never allocates; the parsed package
 * points into the caller's bytes. Trusted keys are parsed once (mbedTLS allocates them). */
#ifndef LSH_PACKAGE_H
#define LSH_PACKAGE_H

#include <stddef.h>
#include <stdint.h>

#include "lsh_result.h"
#include "mbedtls/pk.h"

#define LSH_PACKAGE_FORMAT 1u
#define LSH_PACKAGE_NODE_BYTES_MAX (256u * 1024u) /* package_bytes_max in package.ts */
#define LSH_MANIFEST_BYTES_MAX 1024u
#define LSH_SIGNATURE_BYTES_MAX 80u
#define LSH_MANIFEST_TEXT_MAX 64u               /* version and policy: 1..64 printable characters */
#define LSH_MANIFEST_INTEGER_MAX 999999999999999ull /* 15 digits, as \d{1,15} in package.ts */

#ifndef LSH_TRUSTED_KEYS_MAX
#define LSH_TRUSTED_KEYS_MAX 4u
#endif

/* The refusal codes, the same words as PackageError.code in package.ts. A result is one of
 * these constants (compared by identity); lsh_package_code names it. */
extern const char lsh_err_pkg_malformed[];  /* "malformed": not a package, truncated, trailing bytes, too large */
extern const char lsh_err_pkg_manifest[];   /* "manifest": not a canonical loadshare-module-v1 manifest */
extern const char lsh_err_pkg_signature[];  /* "signature": no trusted key signed this manifest */
extern const char lsh_err_pkg_hash[];       /* "hash": the module bytes differ from the signed manifest */
extern const char lsh_err_pkg_downgrade[];  /* "downgrade": counter not above the highest accepted */
extern const char lsh_err_pkg_abi[];        /* "abi": the manifest names another ABI version */
extern const char lsh_err_pkg_module[];     /* "module": wasm3 refused it (imports, exports, ABI, layout) */
extern const char lsh_err_pkg_self_test[];  /* "self_test": a vector differed, it trapped, or an invariant broke */
extern const char lsh_err_pkg_key[];        /* "key": a configured public key is not an ECDSA P-256 key */

/* "malformed", "manifest", ... for the constants above; "store" for lsh_err_store, "ok" for
 * lsh_ok, "error" for anything else. */
const char *lsh_package_code(lsh_result_t result);

typedef struct lsh_manifest {
    uint64_t abi_version;
    char module_sha256_hex[65];
    uint8_t module_sha256[32];
    uint64_t module_size;
    uint64_t counter;
    char version[LSH_MANIFEST_TEXT_MAX + 1];
    char policy[LSH_MANIFEST_TEXT_MAX + 1];
} lsh_manifest_t;

typedef struct lsh_package {
    lsh_manifest_t manifest;
    const uint8_t *manifest_bytes; /* into the caller's bytes */
    size_t manifest_size;
    const uint8_t *signature;
    size_t signature_size;
    const uint8_t *module;
    size_t module_size;
} lsh_package_t;

typedef struct lsh_trusted_keys {
    mbedtls_pk_context keys[LSH_TRUSTED_KEYS_MAX];
    size_t count;
} lsh_trusted_keys_t;

/* Parses PEM public keys (SubjectPublicKeyInfo, as `loadshare module keygen` writes them); each
 * must be ECDSA P-256. On error nothing is kept (lsh_err_pkg_key, or lsh_err_argument for more
 * than LSH_TRUSTED_KEYS_MAX keys) and detail says which key. */
lsh_result_t lsh_trusted_keys_init(lsh_trusted_keys_t *keys, const char *const pems[], size_t count,
                                   char *detail, size_t detail_size);
void lsh_trusted_keys_free(lsh_trusted_keys_t *keys);

/* The manifest text, canonical as manifest_text() in package.ts; lsh_err_pkg_manifest otherwise. */
lsh_result_t lsh_manifest_parse(const uint8_t *bytes, size_t size, lsh_manifest_t *out, char *detail, size_t detail_size);

/* Splits a package into its parts and parses the manifest (parse_package in package.ts).
 * bytes_max: the largest package accepted (LSH_PACKAGE_NODE_BYTES_MAX or a smaller buffer). */
lsh_result_t lsh_package_parse(const uint8_t *bytes, size_t size, size_t bytes_max, lsh_package_t *out,
                               char *detail, size_t detail_size);

/* parse + signature (any trusted key) + the module's size and SHA-256 + the ABI version, in
 * that order (verify_package in package.ts). The counter and the module itself are the
 * installer's job (lsh_slots.c). */
lsh_result_t lsh_package_verify(const uint8_t *bytes, size_t size, size_t bytes_max, const lsh_trusted_keys_t *keys,
                                lsh_package_t *out, char *detail, size_t detail_size);

/* SHA-256 through mbedTLS; lsh_err_argument when mbedTLS fails. */
lsh_result_t lsh_sha256(const uint8_t *bytes, size_t size, uint8_t digest_out[32]);
void lsh_hex(const uint8_t *bytes, size_t size, char *hex_out /* 2*size+1 */);

#endif /* LSH_PACKAGE_H */
