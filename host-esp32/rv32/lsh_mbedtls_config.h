/* mbedTLS 2.28 configuration for the bare-metal rv32 build: only what lsh_package.c needs to
 * verify a signed module package (SHA-256 through the md layer; a PEM ECDSA P-256 public key;
 * a DER ECDSA signature). ESP-IDF builds use ESP-IDF's own mbedTLS configuration instead, which
 * has all of these. No entropy, no RNG, no TLS: verification is deterministic. */
#ifndef LSH_MBEDTLS_CONFIG_H
#define LSH_MBEDTLS_CONFIG_H

/* No OS: no time, no file system, no threads. */
#define MBEDTLS_NO_PLATFORM_ENTROPY

#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
/* Verification only: the internal RNG blinds computations with secrets, and a public-key check
 * has none (ESP-IDF keeps it, with its hardware RNG). */
#define MBEDTLS_ECP_NO_INTERNAL_RNG

#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C /* a prerequisite of MBEDTLS_ECDSA_C */
#define MBEDTLS_BASE64_C
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECP_C
#define MBEDTLS_MD_C
#define MBEDTLS_OID_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER /* smaller code: the hash runs once per install, not per tick */

#include "mbedtls/check_config.h"

#endif /* LSH_MBEDTLS_CONFIG_H */
