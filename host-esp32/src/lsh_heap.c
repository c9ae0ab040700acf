/* Counting allocator behind wasm3 (see lsh_heap.h). Each block carries its size in a header
 * aligned like malloc's result, so free and realloc can keep the count exact. */
#include "lsh_heap.h"

#include <stdlib.h>
#include <string.h>

typedef union lsh_heap_header {
    size_t size_bytes;
    long double align_ld; /* the strictest alignment malloc promises, without C11's max_align_t */
    void *align_ptr;
    long long align_ll;
} lsh_heap_header_t;

static size_t heap_current_bytes = 0;
static size_t heap_peak_bytes = 0;
static size_t heap_limit_bytes = 0;

#ifdef LSH_HEAP_HOOKED
int lsh_heap_hooked(void) { return 1; }
#else
int lsh_heap_hooked(void) { return 0; }
#endif

size_t lsh_heap_current_bytes(void) { return heap_current_bytes; }
size_t lsh_heap_peak_bytes(void) { return heap_peak_bytes; }
void lsh_heap_reset_peak(void) { heap_peak_bytes = heap_current_bytes; }
void lsh_heap_set_limit_bytes(size_t limit_bytes) { heap_limit_bytes = limit_bytes; }

static int heap_would_exceed(size_t grow_bytes) {
    if (grow_bytes > (size_t)-1 - heap_current_bytes) return 1;
    return heap_limit_bytes != 0 && heap_current_bytes + grow_bytes > heap_limit_bytes;
}

static void heap_account(size_t freed_bytes, size_t taken_bytes) {
    heap_current_bytes -= freed_bytes;
    heap_current_bytes += taken_bytes;
    if (heap_current_bytes > heap_peak_bytes) heap_peak_bytes = heap_current_bytes;
}

void *lsh_heap_calloc(size_t count, size_t size) {
    if (size != 0 && count > ((size_t)-1 - sizeof(lsh_heap_header_t)) / size) return NULL;
    const size_t bytes = count * size;
    if (heap_would_exceed(bytes)) return NULL;
    lsh_heap_header_t *header = calloc(1, sizeof(lsh_heap_header_t) + bytes);
    if (header == NULL) return NULL;
    header->size_bytes = bytes;
    heap_account(0, bytes);
    return header + 1;
}

void lsh_heap_free(void *ptr) {
    if (ptr == NULL) return;
    lsh_heap_header_t *header = (lsh_heap_header_t *)ptr - 1;
    heap_account(header->size_bytes, 0);
    free(header);
}

void *lsh_heap_realloc(void *ptr, size_t size) {
    if (ptr == NULL) return lsh_heap_calloc(1, size);
    lsh_heap_header_t *header = (lsh_heap_header_t *)ptr - 1;
    const size_t old_bytes = header->size_bytes;
    if (size > old_bytes && heap_would_exceed(size - old_bytes)) return NULL;
    if (size > (size_t)-1 - sizeof(lsh_heap_header_t)) return NULL;
    lsh_heap_header_t *moved = realloc(header, sizeof(lsh_heap_header_t) + size);
    if (moved == NULL) return NULL; /* the old block stays valid and counted */
    moved->size_bytes = size;
    heap_account(old_bytes, size);
    return moved + 1;
}
