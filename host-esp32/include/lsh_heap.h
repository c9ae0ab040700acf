/* Counting allocator for wasm3: every byte the interpreter takes (runtime, compiled code,
 * module, linear memory, stack) passes through here, so the host can report its peak heap and
 * cap it. wasm3 v0.5.0 has no allocator hook; the build renames calloc/realloc/free to these
 * functions in m3_core.c only (the one wasm3 file that calls them), see CMakeLists.txt.
 * Not thread-safe: one task owns the runtime (docs/esp32.md). */
#ifndef LSH_HEAP_H
#define LSH_HEAP_H

#include <stddef.h>

void *lsh_heap_calloc(size_t count, size_t size);
void *lsh_heap_realloc(void *ptr, size_t size);
void lsh_heap_free(void *ptr);

/* Bytes requested and not yet freed (allocator overhead excluded), and the highest value since
 * the last reset. */
size_t lsh_heap_current_bytes(void);
size_t lsh_heap_peak_bytes(void);
void lsh_heap_reset_peak(void);
/* Allocations that would push current bytes above limit_bytes fail (wasm3 then reports
 * "memory allocation failed"). 0 = no limit. */
void lsh_heap_set_limit_bytes(size_t limit_bytes);
/* 1 when wasm3 was built with the hook (the native build), 0 when it uses the plain C heap
 * (e.g. the PlatformIO wasm3 library): then the counters stay 0. */
int lsh_heap_hooked(void);

#endif /* LSH_HEAP_H */
