/* Error results, wasm3 style: a result is a pointer to a named constant string, compared by
 * identity; NULL is success. Details (which import, which version) go to a separate buffer. */
#ifndef LSH_RESULT_H
#define LSH_RESULT_H

typedef const char *lsh_result_t;

#define lsh_ok ((lsh_result_t)0)

extern const char lsh_err_not_wasm[];        /* no "\0asm" header or an unknown binary version */
extern const char lsh_err_malformed[];       /* truncated or malformed (our section walk or wasm3's parser) */
extern const char lsh_err_imports[];         /* the module imports something; a core imports nothing */
extern const char lsh_err_exports[];         /* a required export is missing or has the wrong signature */
extern const char lsh_err_abi_version[];     /* abi_version() differs from LSH_ABI_VERSION */
extern const char lsh_err_layout[];          /* an ABI block lies outside the capped linear memory */
extern const char lsh_err_out_of_memory[];   /* wasm3 could not get heap (see lsh_heap_set_limit_bytes) */
extern const char lsh_err_load[];            /* wasm3 refused to load or compile the module */
extern const char lsh_err_trap[];            /* the module trapped (unreachable, bounds, stack overflow) */
extern const char lsh_err_not_loaded[];      /* compute on a runtime with no module */
extern const char lsh_err_argument[];        /* a NULL or out-of-range argument from the caller */
extern const char lsh_err_store[];           /* platform storage failed */
extern const char lsh_err_selftest[];        /* a candidate module missed a conformance vector (lsh_selftest.c) */

#endif /* LSH_RESULT_H */
