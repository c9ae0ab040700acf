/* The decision core under wasm3: load a module from bytes, compute one call, unload.
 * Calling sequence: lsh_runtime_load once (everything is compiled up front, so compute never
 * compiles or allocates except linear memory that is already there), then lsh_runtime_compute
 * per tick (input and carry blocks in, output and carry blocks out: the module keeps nothing
 * between calls, ABI 4), lsh_runtime_unload to free the whole runtime. The module bytes must stay valid
 * until unload (wasm3 keeps pointers into them). One task owns a runtime. */
#ifndef LSH_RUNTIME_H
#define LSH_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "lsh_abi.h"
#include "lsh_result.h"
#include "wasm3.h"

/* Linear memory actually allocated, whatever the module declares (wasm3's memoryLimit).
 * Bytes; range 4096..65536. The ABI 4 core's blocks (input 5,408, output 656, carry 4,096,
 * config 768, config_out 2,088), its working copy of the carry (4,096) and its tables end at
 * about 20,200 bytes; 24 KiB leaves room for a module that needs a little more. */
#ifndef LSH_MEMORY_LIMIT_BYTES
#define LSH_MEMORY_LIMIT_BYTES 24576u
#endif

/* wasm3 interpreter stack (value slots and call frames), bytes; the core's deepest call
 * chain needs well under 2 KiB; a module that recurses deeper traps with a stack overflow. */
#ifndef LSH_STACK_BYTES
#define LSH_STACK_BYTES 4096u
#endif

/* Room for one detail sentence (which import, which trap), bytes including the NUL. */
#ifndef LSH_DETAIL_BYTES
#define LSH_DETAIL_BYTES 160u
#endif

_Static_assert(LSH_MEMORY_LIMIT_BYTES >= 4096u && LSH_MEMORY_LIMIT_BYTES <= 65536u, "memory limit within one wasm page");
_Static_assert(LSH_STACK_BYTES >= 1024u, "interpreter stack too small for any call");
_Static_assert(LSH_IN_SIZE + LSH_OUT_SIZE + LSH_CARRY_SIZE < LSH_MEMORY_LIMIT_BYTES, "the blocks fit the memory cap");

typedef struct lsh_runtime {
    IM3Environment environment;
    IM3Runtime runtime;
    IM3Function fn_compute;
    IM3Function fn_config_hash;
    uint32_t input_offset;
    uint32_t output_offset;
    uint32_t carry_offset;
    uint32_t config_offset;
    uint32_t config_out_offset;
    uint32_t memory_size_bytes;
    size_t heap_bytes_loaded; /* heap held by the loaded runtime (0 when wasm3 is not hooked) */
    int loaded;
    char detail[LSH_DETAIL_BYTES];
} lsh_runtime_t;

/* Parses, checks (wasm header, no imports, every export, ABI version, block layout), loads and
 * compiles every function. rt must be zeroed (static) or unloaded; a loaded one is refused.
 * On error the runtime is left unloaded and detail says why. */
lsh_result_t lsh_runtime_load(lsh_runtime_t *rt, const uint8_t *module_bytes, size_t module_size);

/* One call: writes the input block and the carry block (carry_in NULL: zeros, the safe start),
 * calls compute(), reads the output block and the carry the module left. carry_out may be
 * carry_in (the carry is copied into the module before the call). A trap returns lsh_err_trap
 * with the wasm3 message in detail; output_block and carry_out are then left untouched, so a
 * caller that passes its own carry as carry_out keeps the old one. */
lsh_result_t lsh_runtime_compute(lsh_runtime_t *rt, const uint8_t input_block[LSH_IN_SIZE], const uint8_t *carry_in,
                                 uint8_t output_block[LSH_OUT_SIZE], uint8_t carry_out[LSH_CARRY_SIZE]);

/* The config hash (docs/config-hash.md) over a filled config block (LSH_CFG_*): the core's
 * config_hash export, so every host hashes alike. */
lsh_result_t lsh_runtime_config_hash(lsh_runtime_t *rt, const uint8_t config_block[LSH_CFG_SIZE],
                                     uint8_t hash_out[LSH_HASH_BYTES]);

/* Frees the whole runtime (environment, runtime, module, memory). Safe to call twice. */
void lsh_runtime_unload(lsh_runtime_t *rt);

/* The last error's detail sentence ("" after success). */
const char *lsh_runtime_detail(const lsh_runtime_t *rt);

#endif /* LSH_RUNTIME_H */
