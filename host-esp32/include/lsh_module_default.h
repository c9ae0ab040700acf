/* The default decision core, embedded at build time (scripts/gen-embedded-module.mjs). It is
 * in flash (const), so wasm3 can keep pointers into it for the runtime's whole life. */
#ifndef LSH_MODULE_DEFAULT_H
#define LSH_MODULE_DEFAULT_H

#include <stddef.h>
#include <stdint.h>

extern const uint8_t lsh_module_default[];
extern const size_t lsh_module_default_size;
extern const char lsh_module_default_sha256[]; /* 64 hex digits */

#endif /* LSH_MODULE_DEFAULT_H */
