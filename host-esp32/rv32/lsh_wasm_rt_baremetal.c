/* A bare-metal runtime for wasm2c output (wabt's wasm-rt.h API), for measuring the built-in
 * module compiled ahead of time on rv32 (tools/lsh_rv32_aot.c; docs/esp32.md, "wasm3 or
 * ahead-of-time"). wabt's own wasm-rt-impl.c needs signals and mmap; this one needs neither:
 *
 * - Linear memory comes from the counting heap (lsh_heap.c) and is capped at
 *   LSH_MEMORY_LIMIT_BYTES, as wasm3's memoryLimit caps it: the module still sees its declared
 *   page, and an access beyond the cap traps (wasm2c checks every access against `size`).
 * - A trap longjmps back to lsh_wasm_rt_try (one level, one task).
 * - Calls are counted against WASM_RT_MAX_CALL_STACK_DEPTH (wasm2c's FUNC_PROLOGUE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "wasm-rt.h"
#include "lsh_heap.h"
#include "lsh_runtime.h" /* LSH_MEMORY_LIMIT_BYTES */
#include "lsh_wasm_rt_baremetal.h"

uint32_t wasm_rt_call_stack_depth;

static jmp_buf *trap_jump;

void wasm_rt_init(void) {}
bool wasm_rt_is_initialized(void) { return true; }
void wasm_rt_free(void) {}

void wasm_rt_trap(wasm_rt_trap_t trap) {
    wasm_rt_call_stack_depth = 0;
    if (trap_jump != NULL) longjmp(*trap_jump, (int)trap);
    for (;;) {
    }
}

int lsh_wasm_rt_try(void (*fn)(void *), void *arg) {
    jmp_buf here;
    jmp_buf *outer = trap_jump;
    trap_jump = &here;
    const int trap = setjmp(here);
    if (trap == 0) fn(arg);
    trap_jump = outer;
    return trap;
}

#define FUNC_TYPES_MAX 32u
#define FUNC_TYPE_VALUES_MAX 16u

typedef struct func_type {
    uint32_t params, results;
    wasm_rt_type_t types[FUNC_TYPE_VALUES_MAX];
} func_type_t;

static func_type_t func_types[FUNC_TYPES_MAX];
static uint32_t func_type_count;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
    func_type_t type;
    memset(&type, 0, sizeof(type));
    type.params = params;
    type.results = results;
    va_list args;
    va_start(args, results);
    for (uint32_t i = 0; i < params + results && i < FUNC_TYPE_VALUES_MAX; i++) type.types[i] = (wasm_rt_type_t)va_arg(args, int);
    va_end(args);
    for (uint32_t i = 0; i < func_type_count; i++) {
        if (memcmp(&func_types[i], &type, sizeof(type)) == 0) return i + 1;
    }
    if (func_type_count >= FUNC_TYPES_MAX || params + results > FUNC_TYPE_VALUES_MAX) wasm_rt_trap(WASM_RT_TRAP_CALL_INDIRECT);
    func_types[func_type_count++] = type;
    return func_type_count;
}

void wasm_rt_allocate_memory(wasm_rt_memory_t *memory, uint32_t initial_pages, uint32_t max_pages) {
    const uint64_t declared_bytes = (uint64_t)initial_pages * 65536u;
    const uint32_t bytes = declared_bytes < LSH_MEMORY_LIMIT_BYTES ? (uint32_t)declared_bytes : LSH_MEMORY_LIMIT_BYTES;
    memory->data = lsh_heap_calloc(1, bytes);
    memory->pages = initial_pages;
    memory->max_pages = max_pages;
    memory->size = memory->data != NULL ? bytes : 0; /* no memory: every access traps */
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t *memory, uint32_t pages) {
    (void)memory;
    (void)pages;
    return (uint32_t)-1; /* the cap is the cap: memory.grow fails, as under wasm3's memoryLimit */
}

void wasm_rt_free_memory(wasm_rt_memory_t *memory) {
    lsh_heap_free(memory->data);
    memset(memory, 0, sizeof(*memory));
}

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t *table, uint32_t elements, uint32_t max_elements) {
    table->data = lsh_heap_calloc(elements, sizeof(wasm_rt_funcref_t));
    table->size = table->data != NULL ? elements : 0;
    table->max_size = max_elements;
}

void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t *table) {
    lsh_heap_free(table->data);
    memset(table, 0, sizeof(*table));
}

void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t *table, uint32_t elements, uint32_t max_elements) {
    table->data = lsh_heap_calloc(elements, sizeof(wasm_rt_externref_t));
    table->size = table->data != NULL ? elements : 0;
    table->max_size = max_elements;
}

void wasm_rt_free_externref_table(wasm_rt_externref_table_t *table) {
    lsh_heap_free(table->data);
    memset(table, 0, sizeof(*table));
}

uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t *table, uint32_t delta, wasm_rt_funcref_t init) {
    (void)table;
    (void)delta;
    (void)init;
    return (uint32_t)-1;
}

uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t *table, uint32_t delta, wasm_rt_externref_t init) {
    (void)table;
    (void)delta;
    (void)init;
    return (uint32_t)-1;
}
