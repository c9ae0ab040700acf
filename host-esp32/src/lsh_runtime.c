/* The decision core under wasm3 (see lsh_runtime.h). Checks that Node's Core.load makes are
 * made here too, in the same order, so a module one host refuses the other refuses as well. */
#include "lsh_runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lsh_heap.h"
#include "m3_env.h" /* memoryLimit is a field of the runtime; wasm3's own CLI sets it the same way */

const char lsh_err_not_wasm[] = "not a WebAssembly module";
const char lsh_err_malformed[] = "malformed or truncated WebAssembly module";
const char lsh_err_imports[] = "module has imports";
const char lsh_err_exports[] = "module lacks a required export";
const char lsh_err_abi_version[] = "module speaks another ABI version";
const char lsh_err_layout[] = "module's ABI blocks lie outside linear memory";
const char lsh_err_out_of_memory[] = "out of heap for the wasm3 runtime";
const char lsh_err_load[] = "wasm3 could not load the module";
const char lsh_err_trap[] = "module trapped";
const char lsh_err_not_loaded[] = "no module loaded";
const char lsh_err_argument[] = "bad argument";
const char lsh_err_store[] = "storage failed";

/* Function exports the host needs, with their signatures ('i' i32, 'F' f64; result last). */
typedef struct lsh_export_spec {
    const char *name;
    const char *args;
    char result;
} lsh_export_spec_t;

static const lsh_export_spec_t required_exports[] = {
    {"abi_version", "", 'i'},       {"input_ptr", "", 'i'},         {"output_ptr", "", 'i'},
    {"carry_ptr", "", 'i'},         {"config_ptr", "", 'i'},        {"config_out_ptr", "", 'i'},
    {"compute", "", 'i'},           {"config_hash", "", 'i'},
};
#define LSH_EXPORTS_REQUIRED_COUNT (sizeof(required_exports) / sizeof(required_exports[0]))

/* Bounds for the section walk, so a hostile module cannot make it spin. */
#define LSH_SECTIONS_MAX 64u
#define LSH_EXPORTS_MAX 256u

static lsh_result_t fail(lsh_runtime_t *rt, lsh_result_t result, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(rt->detail, sizeof(rt->detail), format, args);
    va_end(args);
    return result;
}

/* ---- a minimal walk over the binary: header, section bounds, imports, exports ---- */

typedef struct lsh_reader {
    const uint8_t *at;
    const uint8_t *end;
} lsh_reader_t;

static int read_u32_leb(lsh_reader_t *r, uint32_t *value_out) {
    uint32_t value = 0;
    for (uint32_t shift = 0; shift < 35u; shift += 7u) {
        if (r->at >= r->end) return 0;
        const uint8_t byte = *r->at++;
        value |= (uint32_t)(byte & 0x7fu) << shift;
        if ((byte & 0x80u) == 0) {
            *value_out = value;
            return 1;
        }
    }
    return 0;
}

static int read_name(lsh_reader_t *r, const uint8_t **name_out, uint32_t *len_out) {
    if (!read_u32_leb(r, len_out)) return 0;
    if ((size_t)(r->end - r->at) < *len_out) return 0;
    *name_out = r->at;
    r->at += *len_out;
    return 1;
}

static int name_is(const uint8_t *name, uint32_t len, const char *expected) {
    return strlen(expected) == len && memcmp(name, expected, len) == 0;
}

static lsh_result_t check_imports(lsh_runtime_t *rt, lsh_reader_t section) {
    uint32_t count = 0;
    if (!read_u32_leb(&section, &count)) return fail(rt, lsh_err_malformed, "import section is malformed");
    if (count == 0) return lsh_ok;
    const uint8_t *module_name = NULL;
    const uint8_t *field_name = NULL;
    uint32_t module_len = 0;
    uint32_t field_len = 0;
    if (!read_name(&section, &module_name, &module_len) || !read_name(&section, &field_name, &field_len)) {
        return fail(rt, lsh_err_imports, "module has %u imports; a core module must import nothing", (unsigned)count);
    }
    return fail(rt, lsh_err_imports, "module imports %.*s.%.*s%s; a core module must import nothing",
                (int)(module_len > 32u ? 32u : module_len), (const char *)module_name,
                (int)(field_len > 32u ? 32u : field_len), (const char *)field_name,
                count > 1u ? " and more" : "");
}

static lsh_result_t check_exports(lsh_runtime_t *rt, lsh_reader_t section, uint32_t *found_mask_out, int *memory_out) {
    uint32_t count = 0;
    if (!read_u32_leb(&section, &count) || count > LSH_EXPORTS_MAX) return fail(rt, lsh_err_malformed, "export section is malformed");
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *name = NULL;
        uint32_t len = 0;
        uint32_t index = 0;
        if (!read_name(&section, &name, &len) || section.at >= section.end) return fail(rt, lsh_err_malformed, "export section is malformed");
        const uint8_t kind = *section.at++;
        if (!read_u32_leb(&section, &index)) return fail(rt, lsh_err_malformed, "export section is malformed");
        if (kind == 2u && name_is(name, len, "memory")) *memory_out = 1;
        if (kind != 0u) continue;
        for (uint32_t e = 0; e < LSH_EXPORTS_REQUIRED_COUNT; e++) {
            if (name_is(name, len, required_exports[e].name)) *found_mask_out |= 1u << e;
        }
    }
    return lsh_ok;
}

static lsh_result_t check_binary(lsh_runtime_t *rt, const uint8_t *bytes, size_t size) {
    static const uint8_t magic[4] = {0x00, 0x61, 0x73, 0x6d};
    static const uint8_t version[4] = {0x01, 0x00, 0x00, 0x00};
    if (size < 8u || memcmp(bytes, magic, sizeof(magic)) != 0) {
        return fail(rt, lsh_err_not_wasm, "no WebAssembly header (\\0asm) in %u bytes", (unsigned)size);
    }
    if (memcmp(bytes + 4, version, sizeof(version)) != 0) return fail(rt, lsh_err_not_wasm, "unsupported WebAssembly binary version");
    lsh_reader_t r = {bytes + 8, bytes + size};
    uint32_t found_mask = 0;
    int memory_exported = 0;
    for (uint32_t n = 0; r.at < r.end; n++) {
        if (n >= LSH_SECTIONS_MAX) return fail(rt, lsh_err_malformed, "more than %u sections", (unsigned)LSH_SECTIONS_MAX);
        const uint8_t id = *r.at++;
        uint32_t section_size = 0;
        if (!read_u32_leb(&r, &section_size) || (size_t)(r.end - r.at) < section_size) {
            return fail(rt, lsh_err_malformed, "section %u runs past the end of the module (truncated?)", (unsigned)id);
        }
        const lsh_reader_t section = {r.at, r.at + section_size};
        lsh_result_t result = lsh_ok;
        if (id == 2u) result = check_imports(rt, section);
        if (id == 7u) result = check_exports(rt, section, &found_mask, &memory_exported);
        if (result != lsh_ok) return result;
        r.at += section_size;
    }
    for (uint32_t e = 0; e < LSH_EXPORTS_REQUIRED_COUNT; e++) {
        if ((found_mask & (1u << e)) == 0) return fail(rt, lsh_err_exports, "module lacks the export %s", required_exports[e].name);
    }
    if (!memory_exported) return fail(rt, lsh_err_exports, "module lacks the export memory");
    return lsh_ok;
}

/* ---- wasm3 ---- */

static lsh_result_t from_wasm3(lsh_runtime_t *rt, M3Result m3_result, lsh_result_t otherwise, const char *stage) {
    if (m3_result == m3Err_mallocFailed || m3_result == m3Err_mallocFailedCodePage || m3_result == m3Err_wasmMemoryOverflow) {
        return fail(rt, lsh_err_out_of_memory, "%s: %s", stage, m3_result);
    }
    return fail(rt, otherwise, "%s: %s", stage, m3_result);
}

static int signature_matches(IM3Function function, const lsh_export_spec_t *spec) {
    const uint32_t argc = (uint32_t)strlen(spec->args);
    if (m3_GetArgCount(function) != argc || m3_GetRetCount(function) != 1u) return 0;
    for (uint32_t i = 0; i < argc; i++) {
        const M3ValueType want = spec->args[i] == 'F' ? c_m3Type_f64 : c_m3Type_i32;
        if (m3_GetArgType(function, i) != want) return 0;
    }
    return m3_GetRetType(function, 0) == (spec->result == 'F' ? c_m3Type_f64 : c_m3Type_i32);
}

static lsh_result_t call_u32(lsh_runtime_t *rt, const char *name, uint32_t *value_out) {
    IM3Function function = NULL;
    M3Result m3_result = m3_FindFunction(&function, rt->runtime, name);
    if (m3_result != m3Err_none) return from_wasm3(rt, m3_result, lsh_err_exports, name);
    m3_result = m3_CallV(function);
    if (m3_result != m3Err_none) return fail(rt, lsh_err_trap, "%s(): %s", name, m3_result);
    m3_result = m3_GetResultsV(function, value_out);
    if (m3_result != m3Err_none) return from_wasm3(rt, m3_result, lsh_err_exports, name);
    return lsh_ok;
}

static lsh_result_t find_exports(lsh_runtime_t *rt) {
    for (uint32_t e = 0; e < LSH_EXPORTS_REQUIRED_COUNT; e++) {
        IM3Function function = NULL;
        const M3Result m3_result = m3_FindFunction(&function, rt->runtime, required_exports[e].name);
        if (m3_result != m3Err_none) return from_wasm3(rt, m3_result, lsh_err_exports, required_exports[e].name);
        if (!signature_matches(function, &required_exports[e])) {
            return fail(rt, lsh_err_exports, "export %s has the wrong signature", required_exports[e].name);
        }
        if (strcmp(required_exports[e].name, "compute") == 0) rt->fn_compute = function;
        if (strcmp(required_exports[e].name, "config_hash") == 0) rt->fn_config_hash = function;
    }
    return lsh_ok;
}

static lsh_result_t check_layout(lsh_runtime_t *rt) {
    uint32_t abi_version = 0;
    lsh_result_t result = call_u32(rt, "abi_version", &abi_version);
    if (result != lsh_ok) return result;
    if (abi_version != LSH_ABI_VERSION) {
        return fail(rt, lsh_err_abi_version, "module ABI version %u, this host speaks %u", (unsigned)abi_version, (unsigned)LSH_ABI_VERSION);
    }
    if ((result = call_u32(rt, "input_ptr", &rt->input_offset)) != lsh_ok) return result;
    if ((result = call_u32(rt, "output_ptr", &rt->output_offset)) != lsh_ok) return result;
    if ((result = call_u32(rt, "carry_ptr", &rt->carry_offset)) != lsh_ok) return result;
    if ((result = call_u32(rt, "config_ptr", &rt->config_offset)) != lsh_ok) return result;
    if ((result = call_u32(rt, "config_out_ptr", &rt->config_out_offset)) != lsh_ok) return result;
    uint32_t memory_size = 0;
    const uint8_t *memory = m3_GetMemory(rt->runtime, &memory_size, 0);
    rt->memory_size_bytes = memory_size;
    if (memory == NULL ||
        rt->input_offset > memory_size || memory_size - rt->input_offset < LSH_IN_SIZE ||
        rt->output_offset > memory_size || memory_size - rt->output_offset < LSH_OUT_SIZE ||
        rt->carry_offset > memory_size || memory_size - rt->carry_offset < LSH_CARRY_SIZE ||
        rt->config_offset > memory_size || memory_size - rt->config_offset < LSH_CFG_SIZE ||
        rt->config_out_offset > memory_size || memory_size - rt->config_out_offset < LSH_CFGOUT_SIZE) {
        return fail(rt, lsh_err_layout, "input block at %u, output at %u or carry at %u outside %u bytes of linear memory",
                    (unsigned)rt->input_offset, (unsigned)rt->output_offset, (unsigned)rt->carry_offset, (unsigned)memory_size);
    }
    return lsh_ok;
}

static lsh_result_t load_into_wasm3(lsh_runtime_t *rt, const uint8_t *bytes, size_t size) {
    rt->environment = m3_NewEnvironment();
    if (rt->environment == NULL) return fail(rt, lsh_err_out_of_memory, "cannot create the wasm3 environment");
    rt->runtime = m3_NewRuntime(rt->environment, LSH_STACK_BYTES, NULL);
    if (rt->runtime == NULL) return fail(rt, lsh_err_out_of_memory, "cannot create the wasm3 runtime");
    rt->runtime->memoryLimit = LSH_MEMORY_LIMIT_BYTES;
    IM3Module module = NULL;
    M3Result m3_result = m3_ParseModule(rt->environment, &module, bytes, (uint32_t)size);
    if (m3_result != m3Err_none) return from_wasm3(rt, m3_result, lsh_err_malformed, "parse");
    m3_result = m3_LoadModule(rt->runtime, module);
    if (m3_result != m3Err_none) {
        m3_FreeModule(module); /* a module the runtime refused is still ours */
        return from_wasm3(rt, m3_result, lsh_err_load, "load");
    }
    /* Compile every function now: no compiling (and no code-page allocation) during a tick. */
    m3_result = m3_CompileModule(module);
    if (m3_result != m3Err_none) return from_wasm3(rt, m3_result, lsh_err_load, "compile");
    return lsh_ok;
}

lsh_result_t lsh_runtime_load(lsh_runtime_t *rt, const uint8_t *module_bytes, size_t module_size) {
    if (rt == NULL) return lsh_err_argument;
    /* Loading over a loaded runtime would leak it; the caller unloads (or swaps) explicitly. */
    if (rt->loaded == 1) return fail(rt, lsh_err_argument, "runtime already holds a module: unload it first");
    memset(rt, 0, sizeof(*rt));
    if (module_bytes == NULL) return fail(rt, lsh_err_argument, "no module bytes");
    if (module_size > UINT32_MAX) return fail(rt, lsh_err_argument, "module larger than 4 GiB");
    const size_t heap_before = lsh_heap_current_bytes();
    lsh_result_t result = check_binary(rt, module_bytes, module_size);
    if (result == lsh_ok) result = load_into_wasm3(rt, module_bytes, module_size);
    if (result == lsh_ok) result = find_exports(rt);
    if (result == lsh_ok) result = check_layout(rt);
    if (result != lsh_ok) {
        char detail[LSH_DETAIL_BYTES];
        memcpy(detail, rt->detail, sizeof(detail));
        lsh_runtime_unload(rt);
        memcpy(rt->detail, detail, sizeof(detail));
        return result;
    }
    rt->heap_bytes_loaded = lsh_heap_current_bytes() - heap_before;
    rt->loaded = 1;
    return lsh_ok;
}

/* memory_in copies size bytes (zeros when from is NULL) into linear memory at offset,
 * memory_out copies them out; both give 0 when the range lies outside memory, which is asked
 * for anew each time (it may move or grow during a call). compute and config_hash share them. */
static int memory_in(lsh_runtime_t *rt, uint32_t offset, const uint8_t *from, uint32_t size) {
    uint32_t memory_size = 0;
    uint8_t *memory = m3_GetMemory(rt->runtime, &memory_size, 0);
    if (memory == NULL || offset > memory_size || memory_size - offset < size) return 0;
    if (from != NULL) memcpy(memory + offset, from, size);
    else memset(memory + offset, 0, size);
    return 1;
}

static int memory_out(lsh_runtime_t *rt, uint32_t offset, uint8_t *to, uint32_t size) {
    uint32_t memory_size = 0;
    const uint8_t *memory = m3_GetMemory(rt->runtime, &memory_size, 0);
    if (memory == NULL || offset > memory_size || memory_size - offset < size) return 0;
    memcpy(to, memory + offset, size);
    return 1;
}

/* Calls fn (no arguments, an i32 result) and returns that result in code_out. */
static lsh_result_t call_export(lsh_runtime_t *rt, IM3Function fn, const char *fn_name, uint32_t *code_out) {
    M3Result m3_result = m3_CallV(fn);
    if (m3_result != m3Err_none) return fail(rt, lsh_err_trap, "%s(): %s", fn_name, m3_result);
    m3_result = m3_GetResultsV(fn, code_out);
    if (m3_result != m3Err_none) return fail(rt, lsh_err_trap, "%s() result: %s", fn_name, m3_result);
    return lsh_ok;
}

lsh_result_t lsh_runtime_compute(lsh_runtime_t *rt, const uint8_t input_block[LSH_IN_SIZE], const uint8_t *carry_in,
                                 uint8_t output_block[LSH_OUT_SIZE], uint8_t carry_out[LSH_CARRY_SIZE]) {
    if (rt == NULL || input_block == NULL || output_block == NULL || carry_out == NULL) return lsh_err_argument;
    if (!rt->loaded) return fail(rt, lsh_err_not_loaded, "compute before a module was loaded");
    rt->detail[0] = '\0';
    if (!memory_in(rt, rt->input_offset, input_block, LSH_IN_SIZE)) return fail(rt, lsh_err_layout, "input block outside linear memory");
    if (!memory_in(rt, rt->carry_offset, carry_in, LSH_CARRY_SIZE)) return fail(rt, lsh_err_layout, "carry block outside linear memory");
    uint32_t code = 0;
    const lsh_result_t called = call_export(rt, rt->fn_compute, "compute", &code);
    if (called != lsh_ok) return called;
    /* Both blocks are checked before either is copied out: the caller gets both or neither. */
    uint32_t memory_size = 0;
    const uint8_t *memory = m3_GetMemory(rt->runtime, &memory_size, 0);
    if (memory == NULL || rt->output_offset > memory_size || memory_size - rt->output_offset < LSH_OUT_SIZE ||
        rt->carry_offset > memory_size || memory_size - rt->carry_offset < LSH_CARRY_SIZE) {
        return fail(rt, lsh_err_layout, "output or carry block outside linear memory after compute()");
    }
    memcpy(output_block, memory + rt->output_offset, LSH_OUT_SIZE);
    memcpy(carry_out, memory + rt->carry_offset, LSH_CARRY_SIZE);
    return lsh_ok;
}

lsh_result_t lsh_runtime_config_hash(lsh_runtime_t *rt, const uint8_t config_block[LSH_CFG_SIZE],
                                     uint8_t hash_out[LSH_HASH_BYTES]) {
    if (rt == NULL || config_block == NULL || hash_out == NULL) return lsh_err_argument;
    if (!rt->loaded) return fail(rt, lsh_err_not_loaded, "config_hash before a module was loaded");
    if (!memory_in(rt, rt->config_offset, config_block, LSH_CFG_SIZE)) return fail(rt, lsh_err_layout, "config block outside linear memory");
    uint32_t code = 0;
    const lsh_result_t called = call_export(rt, rt->fn_config_hash, "config_hash", &code);
    if (called != lsh_ok) return called;
    if (code != LSH_ERROR_OK) {
        return fail(rt, lsh_err_argument, "config hash refused the config: %s", code < LSH_ERROR_COUNT ? LSH_ERROR_NAMES[code] : "bad_enum");
    }
    if (!memory_out(rt, rt->config_out_offset + LSH_CFGOUT_HASH, hash_out, LSH_HASH_BYTES)) {
        return fail(rt, lsh_err_layout, "config_out block outside linear memory");
    }
    return lsh_ok;
}

void lsh_runtime_unload(lsh_runtime_t *rt) {
    if (rt == NULL) return;
    if (rt->runtime != NULL) m3_FreeRuntime(rt->runtime); /* frees the loaded module and its memory */
    if (rt->environment != NULL) m3_FreeEnvironment(rt->environment);
    memset(rt, 0, sizeof(*rt));
}

const char *lsh_runtime_detail(const lsh_runtime_t *rt) {
    return rt == NULL ? "" : rt->detail;
}
