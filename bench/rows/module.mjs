// Row 2: the module itself. Size raw and gzip (deterministic, checked in CI), exports and
// imports, and how long V8 takes to compile and instantiate it.
import { gzipSync } from 'node:zlib';
import { find_wasm3 } from '../engines/wasm3.mjs';
import { summarize, round_summary } from '../lib/stats.mjs';
import { median_spread } from '../lib/format.mjs';
import { measure_module_parts } from '../lib/module-parts.mjs';

export const module_size_max_bytes = 16384; // the whole protocol (ABI 4) within 16 KiB raw
// The same budget, as the build-variant row (row 8) reads its table against it.
export const module_size_budget_bytes = module_size_max_bytes;

// V8 keeps compiled modules keyed by their bytes (its native module cache), so compiling the
// same bytes again would time a cache hit. Each repeat appends a distinct custom section
// (ignored by every engine) to get fresh bytes with the same code.
function with_custom_section(bytes, name) {
  const name_bytes = Buffer.from(name, 'utf8');
  if (name_bytes.length > 100) throw new Error('custom section name too long for a one-byte length');
  return Buffer.concat([bytes, Buffer.from([0x00, name_bytes.length + 1, name_bytes.length]), name_bytes]);
}

function v8_load_times(bytes, repeats) {
  const compile_ms = [];
  const instantiate_ms = [];
  for (let i = 0; i < repeats; i++) {
    const fresh = with_custom_section(bytes, `bench-load-${process.pid}-${Date.now()}-${i}`);
    const t0 = process.hrtime.bigint();
    const module = new WebAssembly.Module(fresh);
    const t1 = process.hrtime.bigint();
    new WebAssembly.Instance(module, {});
    const t2 = process.hrtime.bigint();
    compile_ms.push(Number(t1 - t0) / 1e6);
    instantiate_ms.push(Number(t2 - t1) / 1e6);
  }
  const total_ms = compile_ms.map((c, i) => c + instantiate_ms[i]);
  return {
    compile_ms: round_summary(summarize(compile_ms), 3),
    instantiate_ms: round_summary(summarize(instantiate_ms), 3),
    compile_instantiate_ms: round_summary(summarize(total_ms), 3),
  };
}

// wasm3's parse + load + link + instantiate time, from the ESP32 host's --measure answer
// (`load_ns`, see bench/engines/wasm3.mjs). Pending until that host lands.
function wasm3_load(ctx) {
  const wasm3 = find_wasm3(ctx.root);
  if (wasm3.pending) return { status: 'pending', reason: wasm3.pending };
  const answer = ctx.wasm3_answers?.[0];
  if (!answer?.load_ns) return { status: 'unavailable', reason: 'the wasm3 --measure answer has no load_ns' };
  return { status: 'measured', load_ms: round_summary(summarize(answer.load_ns.map((ns) => ns / 1e6)), 3) };
}

function module_parts(ctx, bytes) {
  try {
    return measure_module_parts(ctx.root, bytes);
  } catch (error) {
    return { status: 'unavailable', reason: error.message };
  }
}

// Input: ctx.module_bytes (the release module, or --module FILE), ctx.settings.module.repeats.
export async function module_figures(ctx) {
  const bytes = Buffer.from(ctx.module_bytes);
  let module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (error) {
    const reason = `not a valid WebAssembly module: ${error.message}`;
    return { status: 'error', reason, size_raw_bytes: bytes.length, summary: [{ figure: 'module', value: reason, target: '-', result: 'error' }] };
  }
  const imports = WebAssembly.Module.imports(module);
  const data = {
    status: 'measured',
    size_raw_bytes: bytes.length,
    size_gzip_bytes: gzipSync(bytes, { level: 9 }).length,
    size_max_bytes: module_size_max_bytes,
    size_result: bytes.length <= module_size_max_bytes ? 'pass' : 'miss',
    export_count: WebAssembly.Module.exports(module).length,
    import_count: imports.length,
    imports: imports.map((i) => `${i.module}.${i.name}`),
    v8: v8_load_times(bytes, ctx.settings.module.repeats),
    wasm3: wasm3_load(ctx),
    parts: module_parts(ctx, bytes),
  };
  return { ...data, summary: summary_lines(data) };
}

function summary_lines(data) {
  return [
    { figure: 'module size, raw', value: `${data.size_raw_bytes} B`, target: `<= ${data.size_max_bytes} B`, result: data.size_result },
    { figure: 'module size, gzip -9', value: `${data.size_gzip_bytes} B`, target: '-', result: 'info' },
    {
      figure: 'module code by part (function bodies; inlined code counts where inlined)',
      value: data.parts.status === 'measured'
        ? `${data.parts.parts.map((p) => `${p.part} ${p.code_bytes} B`).join(', ')}; other sections ${data.parts.rest_bytes} B`
        : `${data.parts.status}: ${data.parts.reason}`,
      target: '-',
      result: data.parts.status === 'measured' ? 'info' : data.parts.status,
    },
    { figure: 'module exports / imports', value: `${data.export_count} / ${data.import_count}`, target: '0 imports', result: data.import_count === 0 ? 'pass' : 'miss' },
    { figure: 'V8 compile + instantiate (ms)', value: median_spread(data.v8.compile_instantiate_ms), target: '-', result: 'info' },
    {
      figure: 'wasm3 parse + load + instantiate (ms)',
      value: data.wasm3.status === 'measured' ? median_spread(data.wasm3.load_ms) : `${data.wasm3.status}: ${data.wasm3.reason}`,
      target: '-',
      result: data.wasm3.status === 'measured' ? 'info' : data.wasm3.status,
    },
  ];
}
