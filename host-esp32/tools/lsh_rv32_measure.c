/* lsh_rv32_measure: the ESP32 host's figures on the bare-metal rv32 build, where they matter
 * (run under `qemu-system-riscv32 -icount shift=0`, so the instret CSR counts exactly one per
 * instruction executed). Prints one JSON object (docs/performance.md lists the keys):
 *
 * - heap: the peak and the loaded heap of one runtime with the built-in module, counted by the
 *   wasm3 allocator hook (lsh_heap.c: bytes requested), and picolibc's own count (allocator
 *   overhead included); broken down by load step. The steps are those of lsh_runtime_load
 *   (environment, runtime with its interpreter stack, parse, load with linear memory, compile
 *   every function), made here one at a time so the heap can be read between them; their sum
 *   is checked against lsh_runtime_load's own figure. Compiled code is the sum of wasm3's code
 *   pages. (The ABI blocks inside the linear memory: bench/ reads them from abi/layout.json.)
 * - lazy: the same with functions compiled on first call (wasm3's default; lsh_runtime_load
 *   compiles all up front), after every self-test vector and the 2/8/16-member groups ran.
 * - stack: the main stack's high-water mark below the caller during a load, a compute, an
 *   engine tick (16 members) and the self-test.
 * - instructions: per lsh_runtime_compute (input copy, compute(), output copy) and per
 *   lsh_engine_tick for synthetic groups of 2, 8 and 16 charging members (lsh_bench.c's), per
 *   load, and per self-test.
 * The flash figures (code size) come from the ELF (bench/, with riscv64-unknown-elf-size). */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "lsh_bench_group.h"
#include "lsh_board.h"
#include "lsh_engine.h"
#include "lsh_heap.h"
#include "lsh_module_default.h"
#include "lsh_runtime.h"
#include "lsh_selftest.h"
#include "m3_code.h"
#include "m3_env.h"

static lsh_runtime_t rt;
static lsh_engine_t engine;
static uint8_t input[LSH_IN_SIZE];
static uint8_t output[LSH_OUT_SIZE];
static uint8_t carry[LSH_CARRY_SIZE];

#define GROUP_SIZES 3
static const uint32_t group_sizes[GROUP_SIZES] = {2, 8, 16};
static const double t0_ms = 1767225600000.0;

static void no_limit(void *context, double limit_a) {
    (void)context;
    (void)limit_a;
}

static int build_group(uint32_t members, lsh_runtime_t *runtime) {
    const lsh_shaper_t shaper = {NULL, no_limit};
    return lsh_bench_group_init(&engine, runtime, members, t0_ms, &shaper);
}



static size_t heap_now(void) { return lsh_heap_current_bytes(); }
static size_t picolibc_in_use(void) { return (size_t)mallinfo().uordblks; }

static uintptr_t stack_depth(void) {
    uintptr_t sp = 0;
    __asm__ volatile("mv %0, sp" : "=r"(sp));
    extern char __stack[];
    return (uintptr_t)__stack - sp;
}

/* The stack used below the caller by what ran since lsh_board_stack_paint. */
static size_t stack_used_since_paint(uintptr_t depth_at_call) { return lsh_board_stack_high_water_bytes() - depth_at_call; }

typedef struct code_pages {
    uint32_t count;
    size_t bytes;      /* allocated: header + every line */
    size_t used_bytes; /* lines written */
} code_pages_t;

static void add_pages(code_pages_t *sum, IM3CodePage page) {
    for (; page != NULL; page = page->info.next) {
        sum->count++;
        sum->bytes += sizeof(M3CodePageHeader) + (size_t)page->info.numLines * sizeof(code_t);
        sum->used_bytes += (size_t)page->info.lineIndex * sizeof(code_t);
    }
}

static code_pages_t pages_of(IM3Runtime runtime) {
    code_pages_t sum = {0, 0, 0};
    add_pages(&sum, runtime->pagesOpen);
    add_pages(&sum, runtime->pagesFull);
    return sum;
}

/* Code pages wasm3 released to the environment's pool (kept for reuse until the environment goes). */
static size_t pooled_bytes(IM3Environment env) {
    code_pages_t sum = {0, 0, 0};
    add_pages(&sum, env->pagesReleased);
    return sum.bytes;
}

typedef struct phased_load {
    /* other: function types, globals, the compiled functions' constants: what the rest leaves */
    size_t environment, runtime_struct, interpreter_stack, module, linear_memory, compiled_code, pooled_pages, other;
    size_t total, peak;
    code_pages_t pages;
    uint32_t functions, functions_compiled;
} phased_load_t;

static uint32_t count_compiled(IM3Module module, uint32_t *functions_out) {
    uint32_t compiled = 0;
    for (uint32_t i = 0; i < module->numFunctions; i++) compiled += module->functions[i].compiled != NULL ? 1u : 0u;
    *functions_out = module->numFunctions;
    return compiled;
}

/* lsh_runtime_load's wasm3 steps, one at a time (same stack size, memory cap and checks
 * skipped: the built-in module passes them). compile_all 0: wasm3 compiles on first call. */
static int phased_load(phased_load_t *out, IM3Environment *env_out, IM3Runtime *runtime_out, IM3Module *module_out, int compile_all) {
    memset(out, 0, sizeof(*out));
    const size_t base = heap_now();
    lsh_heap_reset_peak();
    IM3Environment env = m3_NewEnvironment();
    if (env == NULL) return 0;
    out->environment = heap_now() - base;
    size_t mark = heap_now();
    IM3Runtime runtime = m3_NewRuntime(env, LSH_STACK_BYTES, NULL);
    if (runtime == NULL) return 0;
    runtime->memoryLimit = LSH_MEMORY_LIMIT_BYTES;
    out->runtime_struct = sizeof(M3Runtime);
    out->interpreter_stack = heap_now() - mark - sizeof(M3Runtime);
    mark = heap_now();
    IM3Module module = NULL;
    if (m3_ParseModule(env, &module, lsh_module_default, (uint32_t)lsh_module_default_size) != m3Err_none) return 0;
    out->module = heap_now() - mark;
    mark = heap_now();
    if (m3_LoadModule(runtime, module) != m3Err_none) return 0;
    out->linear_memory = runtime->memory.mallocated != NULL ? sizeof(M3MemoryHeader) + runtime->memory.mallocated->length : 0;
    mark = heap_now();
    if (compile_all && m3_CompileModule(module) != m3Err_none) return 0;
    /* lsh_runtime_load then finds the exports (compiling any not compiled yet) and calls the
     * layout exports: do the same, so lazy compilation starts from the same point. */
    static const char *const exports[] = {"abi_version", "input_ptr", "output_ptr", "carry_ptr", "config_ptr", "config_out_ptr", "compute", "config_hash"};
    for (size_t e = 0; e < sizeof(exports) / sizeof(exports[0]); e++) {
        IM3Function function = NULL;
        if (m3_FindFunction(&function, runtime, exports[e]) != m3Err_none) return 0;
        if (e < 6) {
            uint32_t value = 0;
            if (m3_CallV(function) != m3Err_none || m3_GetResultsV(function, &value) != m3Err_none) return 0;
        }
    }
    (void)mark;
    out->pages = pages_of(runtime);
    out->compiled_code = out->pages.bytes;
    out->total = heap_now() - base;
    out->pooled_pages = pooled_bytes(env);
    out->other = out->total - out->environment - out->runtime_struct - out->interpreter_stack - out->module - out->linear_memory -
                 out->compiled_code - out->pooled_pages;
    out->peak = lsh_heap_peak_bytes() - base;
    out->functions_compiled = count_compiled(module, &out->functions);
    *env_out = env;
    *runtime_out = runtime;
    *module_out = module;
    return 1;
}

static void print_phased(const char *name, const phased_load_t *p) {
    printf("\"%s\":{\"environment\":%zu,\"runtime_struct\":%zu,\"interpreter_stack\":%zu,\"module\":%zu,\"linear_memory\":%zu,"
           "\"compiled_code\":%zu,\"pooled_pages\":%zu,\"other\":%zu,\"total\":%zu,\"peak\":%zu,"
           "\"code_pages\":%u,\"code_bytes_used\":%zu,\"functions\":%u,\"functions_compiled\":%u}",
           name, p->environment, p->runtime_struct, p->interpreter_stack, p->module, p->linear_memory, p->compiled_code,
           p->pooled_pages, p->other, p->total, p->peak, (unsigned)p->pages.count, p->pages.used_bytes, (unsigned)p->functions,
           (unsigned)p->functions_compiled);
}

/* A module whose only function calls itself: (module (func $f (export "f") (call $f))). */
static const uint8_t recursing_module[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,             /* header */
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00,                         /* type 0: [] -> [] */
    0x03, 0x02, 0x01, 0x00,                                     /* function 0 has type 0 */
    0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00,                   /* export "f" = function 0 */
    0x0a, 0x06, 0x01, 0x04, 0x00, 0x10, 0x00, 0x0b,             /* body: call 0, end */
};

/* wasm3 runs each wasm call on the native stack too, so a module that recurses until the
 * interpreter stack (stack_bytes) overflows also takes native stack for every level: the main
 * stack's high-water mark (below this frame) until the trap. 0 when the call did not trap. */
static size_t recursion_stack_bytes(uint32_t stack_bytes) {
    IM3Environment env = m3_NewEnvironment();
    IM3Runtime runtime = env != NULL ? m3_NewRuntime(env, stack_bytes, NULL) : NULL;
    IM3Module module = NULL;
    IM3Function f = NULL;
    size_t used = 0;
    if (runtime != NULL && m3_ParseModule(env, &module, recursing_module, sizeof(recursing_module)) == m3Err_none) {
        if (m3_LoadModule(runtime, module) != m3Err_none) m3_FreeModule(module);
        else if (m3_FindFunction(&f, runtime, "f") == m3Err_none) {
            lsh_board_stack_paint();
            const uintptr_t depth = stack_depth();
            if (m3_CallV(f) == m3Err_trapStackOverflow) used = stack_used_since_paint(depth);
        }
    }
    if (runtime != NULL) m3_FreeRuntime(runtime);
    if (env != NULL) m3_FreeEnvironment(env);
    return used;
}

static int fail(const char *what) {
    printf("{\"error\":\"%s\",\"detail\":\"%s\"}\n", what, lsh_runtime_detail(&rt));
    lsh_board_exit(1);
}

int main(void) {
    /* ---- heap, all compiled up front (as lsh_runtime_load does) ---- */
    const size_t picolibc_before = picolibc_in_use();
    lsh_heap_reset_peak();
    const size_t heap_base = heap_now();
    lsh_board_stack_paint();
    uintptr_t depth = stack_depth();
    uint64_t start = lsh_board_instret();
    if (lsh_runtime_load(&rt, lsh_module_default, lsh_module_default_size) != lsh_ok) return fail("load");
    const uint64_t load_instructions = lsh_board_instret() - start;
    const size_t stack_load = stack_used_since_paint(depth);
    const size_t loaded_bytes = rt.heap_bytes_loaded;
    const size_t picolibc_loaded = picolibc_in_use() - picolibc_before;
    /* The interpreter stack (heap, grows upwards from runtime->stack): painted now, read after
     * every compute, tick and self-test vector below. */
    uint32_t *const wasm_stack = (uint32_t *)rt.runtime->stack;
    const size_t wasm_stack_words = rt.runtime->numStackSlots * sizeof(m3slot_t) / sizeof(uint32_t);
    for (size_t i = 0; i < wasm_stack_words; i++) wasm_stack[i] = 0x5aa5c33cu;

    /* ---- compute and tick: instructions, stack, and the peak over the first computes ---- */
    uint64_t compute_instructions[GROUP_SIZES], tick_instructions[GROUP_SIZES];
    double limit_a[GROUP_SIZES];
    size_t stack_compute = 0, stack_tick = 0;
    for (int k = 0; k < GROUP_SIZES; k++) {
        if (!build_group(group_sizes[k], &rt)) return fail("group");
        if (lsh_engine_build_input(&engine, t0_ms, t0_ms, &lsh_bench_self, input) != lsh_ok) return fail("input");
        lsh_board_stack_paint();
        depth = stack_depth();
        start = lsh_board_instret();
        if (lsh_runtime_compute(&rt, input, NULL, output, carry) != lsh_ok) return fail("compute");
        compute_instructions[k] = lsh_board_instret() - start;
        if (k == GROUP_SIZES - 1) stack_compute = stack_used_since_paint(depth);
        lsh_tick_result_t tick;
        lsh_board_stack_paint();
        depth = stack_depth();
        start = lsh_board_instret();
        if (lsh_engine_tick(&engine, t0_ms + 1000.0, t0_ms + 1000.0, &lsh_bench_self, &tick) != lsh_ok) return fail("tick");
        tick_instructions[k] = lsh_board_instret() - start;
        if (k == GROUP_SIZES - 1) stack_tick = stack_used_since_paint(depth);
        limit_a[k] = tick.limit_a;
    }
    const size_t peak_bytes = lsh_heap_peak_bytes() - heap_base;
    const size_t picolibc_peak = (size_t)mallinfo().arena;

    lsh_board_stack_paint();
    depth = stack_depth();
    start = lsh_board_instret();
    if (lsh_selftest_run(&rt) != lsh_ok) return fail("selftest");
    const uint64_t selftest_instructions = lsh_board_instret() - start;
    const size_t stack_selftest = stack_used_since_paint(depth);
    size_t wasm_stack_used = wasm_stack_words;
    while (wasm_stack_used > 0 && wasm_stack[wasm_stack_used - 1] == 0x5aa5c33cu) wasm_stack_used--;
    wasm_stack_used *= sizeof(uint32_t);
    lsh_runtime_unload(&rt);
    if (heap_now() != heap_base) return fail("unload left heap behind");

    const size_t stack_recursion = recursion_stack_bytes(LSH_STACK_BYTES);
    const size_t stack_recursion_half = recursion_stack_bytes(LSH_STACK_BYTES / 2u);
    if (stack_recursion == 0 || stack_recursion_half == 0) return fail("the recursing module did not trap with a stack overflow");

    /* ---- the same load, step by step ---- */
    phased_load_t eager, lazy;
    IM3Environment env = NULL;
    IM3Runtime runtime = NULL;
    IM3Module module = NULL;
    if (!phased_load(&eager, &env, &runtime, &module, 1)) return fail("phased load");
    m3_FreeRuntime(runtime);
    m3_FreeEnvironment(env);
    if (eager.total != loaded_bytes) {
        printf("{\"error\":\"the step-by-step load holds %zu bytes, lsh_runtime_load %zu\"}\n", eager.total, loaded_bytes);
        lsh_board_exit(1);
    }
    /* Lazy: load without compiling, then run what a charger runs (every self-test vector and
     * the three groups) through the same runtime, and see what got compiled. */
    if (!phased_load(&lazy, &env, &runtime, &module, 0)) return fail("lazy load");
    const size_t lazy_loaded = lazy.total;
    {
        lsh_runtime_t lazy_rt;
        memset(&lazy_rt, 0, sizeof(lazy_rt));
        lazy_rt.environment = env;
        lazy_rt.runtime = runtime;
        lazy_rt.loaded = 1;
        if (m3_FindFunction(&lazy_rt.fn_compute, runtime, "compute") != m3Err_none) return fail("lazy compute export");
        if (m3_FindFunction(&lazy_rt.fn_config_hash, runtime, "config_hash") != m3Err_none) return fail("lazy config_hash export");
        IM3Function f = NULL;
        uint32_t v = 0;
        const char *const layout[] = {"input_ptr", "output_ptr", "carry_ptr", "config_ptr", "config_out_ptr"};
        uint32_t *const offsets[] = {&lazy_rt.input_offset, &lazy_rt.output_offset, &lazy_rt.carry_offset, &lazy_rt.config_offset, &lazy_rt.config_out_offset};
        for (int i = 0; i < 5; i++) {
            if (m3_FindFunction(&f, runtime, layout[i]) != m3Err_none || m3_CallV(f) != m3Err_none || m3_GetResultsV(f, &v) != m3Err_none) return fail("lazy layout");
            *offsets[i] = v;
        }
        if (lsh_selftest_run(&lazy_rt) != lsh_ok) return fail("lazy selftest");
        for (int k = 0; k < GROUP_SIZES; k++) {
            if (!build_group(group_sizes[k], &lazy_rt)) return fail("lazy group");
            lsh_tick_result_t tick;
            if (lsh_engine_tick(&engine, t0_ms + 1000.0, t0_ms + 1000.0, &lsh_bench_self, &tick) != lsh_ok || tick.tripped) return fail("lazy tick");
        }
        lazy.pages = pages_of(runtime);
        lazy.compiled_code = lazy.pages.bytes;
        lazy.functions_compiled = count_compiled(module, &lazy.functions);
        lazy.total = heap_now() - heap_base;
        lazy.peak = lsh_heap_peak_bytes() - heap_base;
        lazy.pooled_pages = pooled_bytes(env);
        lazy.other = lazy.total - lazy.environment - lazy.runtime_struct - lazy.interpreter_stack - lazy.module - lazy.linear_memory -
                     lazy.compiled_code - lazy.pooled_pages;
        lsh_runtime_unload(&lazy_rt);
    }

    printf("{\"target\":\"rv32imc bare metal (qemu-system-riscv32 virt, picolibc)\",\"pointer_bits\":%u,"
           "\"module_bytes\":%zu,\"module_sha256\":\"%s\",\"abi_version\":%u,"
           "\"settings\":{\"memory_limit_bytes\":%u,\"stack_bytes\":%u,\"code_page_align_bytes\":%u,\"max_function_stack_height\":%u,"
           "\"max_constant_table_size\":%u,\"verbose_errors\":%u,\"code_t_bytes\":%u,\"slot_bytes\":%u},",
           (unsigned)(sizeof(void *) * 8u), lsh_module_default_size, lsh_module_default_sha256, (unsigned)LSH_ABI_VERSION,
           (unsigned)LSH_MEMORY_LIMIT_BYTES, (unsigned)LSH_STACK_BYTES, (unsigned)d_m3CodePageAlignSize, (unsigned)d_m3MaxFunctionStackHeight,
           (unsigned)d_m3MaxConstantTableSize, (unsigned)d_m3VerboseErrorMessages, (unsigned)sizeof(code_t), (unsigned)sizeof(m3slot_t));
    printf("\"heap\":{\"peak_bytes\":%zu,\"loaded_bytes\":%zu,\"picolibc_loaded_bytes\":%zu,\"picolibc_arena_bytes\":%zu,\"fixed_heap_bytes\":%zu,",
           peak_bytes, loaded_bytes, picolibc_loaded, picolibc_peak, lsh_board_heap_size_bytes());
    print_phased("eager", &eager);
    printf(",");
    print_phased("lazy", &lazy);
    printf(",\"lazy_loaded_before_first_call_bytes\":%zu", lazy_loaded);
    printf("},");

    printf("\"static_bytes\":{\"lsh_engine_t\":%u,\"lsh_runtime_t\":%u},", (unsigned)sizeof(lsh_engine_t), (unsigned)sizeof(lsh_runtime_t));
    printf("\"stack_high_water_bytes\":{\"load\":%zu,\"compute_16\":%zu,\"engine_tick_16\":%zu,\"selftest\":%zu,\"main_stack_bytes\":%zu,"
           "\"interpreter\":%zu,\"recursion_trap\":%zu,\"recursion_trap_half_interpreter_stack\":%zu},",
           stack_load, stack_compute, stack_tick, stack_selftest, lsh_board_stack_size_bytes(), wasm_stack_used, stack_recursion,
           stack_recursion_half);
    printf("\"instructions\":{\"load\":%llu,\"selftest\":%llu,\"selftest_vectors\":%u,\"compute\":{", (unsigned long long)load_instructions,
           (unsigned long long)selftest_instructions, (unsigned)lsh_selftest_vector_count);
    for (int k = 0; k < GROUP_SIZES; k++) printf("%s\"%u\":%llu", k ? "," : "", (unsigned)group_sizes[k], (unsigned long long)compute_instructions[k]);
    printf("},\"engine_tick\":{");
    for (int k = 0; k < GROUP_SIZES; k++) printf("%s\"%u\":%llu", k ? "," : "", (unsigned)group_sizes[k], (unsigned long long)tick_instructions[k]);
    printf("}},\"limit_a\":{");
    for (int k = 0; k < GROUP_SIZES; k++) printf("%s\"%u\":%g", k ? "," : "", (unsigned)group_sizes[k], limit_a[k]);
    printf("}}\n");
    lsh_board_exit(0);
}
