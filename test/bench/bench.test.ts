// The benchmark's deterministic parts: statistics, the wasm2c name reader, the results
// schema, and bench:check failing on an oversized or importing module. No timing is
// asserted anywhere here: timings are only printed by `npm run bench`.
import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error plain ES module without types
import { percentile, summarize } from '../../bench/lib/stats.mjs';
// @ts-expect-error plain ES module without types
import { w2c_names } from '../../bench/engines/native.mjs';
// @ts-expect-error plain ES module without types
import { deterministic_failures } from '../../bench/lib/targets.mjs';
// @ts-expect-error plain ES module without types
import { bench_inputs, member_counts } from '../../bench/lib/groups.mjs';
// @ts-expect-error plain ES module without types
import { flash_by_archive, rv32_wasm3_heap_bound_bytes } from '../../bench/rows/rv32.mjs';
// @ts-expect-error plain ES module without types
import { code_fingerprint, fingerprint_differences } from '../../bench/lib/provenance.mjs';
// @ts-expect-error plain ES module without types
import { readme_paragraph, readme_markers, docs_section, docs_markers, replace_between_markers, between_markers } from '../../bench/lib/readme.mjs';
// @ts-expect-error plain ES module without types
import { render_markdown } from '../../bench/lib/report.mjs';
// @ts-expect-error plain ES module without types
import { recorded_results_failures } from '../../bench/check.mjs';

const root = join(__dirname, '..', '..');
const module_path = join(root, 'build/loadsharing.wasm');

function run(script: string, args: string[]) {
  const result = spawnSync(process.execPath, [join(root, script), ...args], { cwd: root, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function leb128(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

// A copy of the module with a custom section appended (ignored by every engine), to push
// the size to exactly `size_bytes` without touching the code.
function module_padded_to(size_bytes: number): Buffer {
  const original = readFileSync(module_path);
  const name = Buffer.from('pad');
  for (let payload = 0; payload < size_bytes; payload++) {
    const content = 1 + name.length + payload;
    const section = Buffer.concat([Buffer.from([0x00, ...leb128(content), name.length]), name, Buffer.alloc(payload)]);
    if (original.length + section.length === size_bytes) return Buffer.concat([original, section]);
  }
  throw new Error(`cannot pad the module to ${size_bytes} bytes`);
}

describe('statistics', () => {
  test('percentiles interpolate between ranks', () => {
    expect(percentile([1, 2, 3, 4, 5], 0.5)).toBe(3);
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(percentile([10, 20], 0.1)).toBeCloseTo(11);
  });
  test('summary: median, spread and MAD ignore order', () => {
    const s = summarize([5, 1, 4, 2, 3, 100]);
    expect(s).toMatchObject({ count: 6, median: 3.5, min: 1, max: 100, mad: 1.5 });
    expect(s.p10).toBeLessThan(s.median);
    expect(s.p90).toBeGreaterThan(s.median);
  });
});

describe('wasm2c names', () => {
  test('wabt 1.0.32 style', () => {
    const header = [
      'typedef struct Z_loadsharing_instance_t {',
      'void Z_loadsharing_init_module(void);',
      'void Z_loadsharing_instantiate(Z_loadsharing_instance_t*);',
      'void Z_loadsharing_free(Z_loadsharing_instance_t*);',
      'u32 Z_loadsharingZ_input_ptr(Z_loadsharing_instance_t*);',
      'u32 Z_loadsharingZ_compute(Z_loadsharing_instance_t*);',
      'wasm_rt_memory_t* Z_loadsharingZ_memory(Z_loadsharing_instance_t* instance);',
    ].join('\n');
    expect(w2c_names(header)).toEqual({
      LSH_W2C_INSTANCE: 'Z_loadsharing_instance_t',
      LSH_W2C_COMPUTE: 'Z_loadsharingZ_compute',
      LSH_W2C_INPUT_PTR: 'Z_loadsharingZ_input_ptr',
      LSH_W2C_OUTPUT_PTR: 'Z_loadsharingZ_output_ptr',
      LSH_W2C_CARRY_PTR: 'Z_loadsharingZ_carry_ptr',
      LSH_W2C_MEMORY: 'Z_loadsharingZ_memory',
      LSH_W2C_INSTANTIATE: 'Z_loadsharing_instantiate',
      LSH_W2C_INIT_MODULE: 'Z_loadsharing_init_module',
      LSH_W2C_FREE: 'Z_loadsharing_free',
    });
  });
  test('later wabt style (w2c_ prefix, no init_module)', () => {
    const header = [
      'void wasm2c_loadsharing_instantiate(w2c_loadsharing*);',
      'void wasm2c_loadsharing_free(w2c_loadsharing*);',
      'u32 w2c_loadsharing_compute(w2c_loadsharing*);',
      'wasm_rt_memory_t* w2c_loadsharing_memory(w2c_loadsharing* instance);',
    ].join('\n');
    const names = w2c_names(header);
    expect(names).toMatchObject({ LSH_W2C_INSTANCE: 'w2c_loadsharing', LSH_W2C_COMPUTE: 'w2c_loadsharing_compute', LSH_W2C_INSTANTIATE: 'wasm2c_loadsharing_instantiate' });
    expect(names.LSH_W2C_INIT_MODULE).toBeUndefined();
  });
  test('a header without compute is refused with a clear error', () => {
    expect(() => w2c_names('u32 w2c_x_other(w2c_x*);')).toThrow(/compute export/);
  });
});

describe('bench groups', () => {
  test('the same input block bytes every time, and every member gets current', async () => {
    const bytes = readFileSync(module_path);
    const [a, b] = [await bench_inputs(bytes), await bench_inputs(bytes)];
    expect(a.map((c: { member_count: number }) => c.member_count)).toEqual(member_counts);
    a.forEach((c: { input: Uint8Array; output: Uint8Array }, i: number) => {
      expect(Buffer.from(c.input).equals(Buffer.from(b[i].input))).toBe(true);
      expect(Buffer.from(c.output).equals(Buffer.from(b[i].output))).toBe(true);
    });
  });
});

describe('deterministic targets', () => {
  const base = { module_path: 'build/loadsharing.wasm', rows: { module: { status: 'measured', size_raw_bytes: 12000, import_count: 0, imports: [] } } };
  test('a module within the limit and a pending memory row pass', () => {
    expect(deterministic_failures({ ...base, rows: { ...base.rows, wasm3_memory: { status: 'pending', reason: 'x' } } })).toEqual([]);
  });
  test('size over 16384 bytes, imports, heap over the regression bound and heap growth each fail', () => {
    const failures = deterministic_failures({
      module_path: 'm.wasm',
      rows: {
        module: { status: 'measured', size_raw_bytes: 16385, import_count: 1, imports: ['env.abort'] },
        wasm3_memory: { status: 'measured', peak_heap_bytes: 152 * 1024 + 1, growth_bytes: 16 },
      },
    });
    expect(failures).toHaveLength(4);
    expect(failures.join(' ')).toMatch(/16385 bytes.*16384.*env\.abort.*155649.*regression bound.*grew by 16/);
  });
  test('a missing module row fails', () => {
    expect(deterministic_failures({ module_path: 'm', rows: {} })).toEqual(['the module row did not run']);
  });
  // The rv32 row's figures as lsh_rv32_measure / lsh_rv32_aot report them (bench/rows/rv32.mjs).
  const rv32_row = (aot_heap_bytes: number, wasm3_peak_heap_bytes: number, tick_stack_bytes: number, recursion_trap: number) => ({
    status: 'measured',
    module_bytes: 8119,
    aot_heap_bytes,
    wasm3_peak_heap_bytes,
    wasm3_peak_heap_bound_bytes: rv32_wasm3_heap_bound_bytes(8119),
    wasm3: { stack_high_water_bytes: { load: 2000, compute_16: 1000, engine_tick_16: tick_stack_bytes, selftest: 1300, recursion_trap } },
  });
  test('rv32: the ahead-of-time module within 48 KiB, wasm3 within its bound and the stacks within the task stacks pass', () => {
    expect(deterministic_failures({ ...base, rows: { ...base.rows, rv32: rv32_row(16384, 52735, 1500, 24724) } })).toEqual([]);
  });
  test('rv32: the goal, the wasm3 bound, each task stack and a failed row each fail', () => {
    const failures = deterministic_failures({ ...base, rows: { ...base.rows, rv32: rv32_row(48 * 1024 + 1, rv32_wasm3_heap_bound_bytes(8119) + 1, 16384, 26 * 1024) } });
    expect(failures).toHaveLength(4);
    expect(failures.join(' ')).toMatch(/49153 bytes of heap on rv32.*49152-byte goal.*regression bound for a 8119-byte module.*16384-byte task stack.*26624 bytes of rv32 stack.*32768-byte task stack/);
    expect(deterministic_failures({ ...base, rows: { ...base.rows, rv32: { status: 'error', reason: 'qemu died' } } })).toEqual(['the rv32 row failed (qemu died)']);
  });
  test('rv32: the wasm3 bound follows the module size and the memory cap (room for growth, not for waste)', () => {
    expect(rv32_wasm3_heap_bound_bytes(8119, 16384)).toBeGreaterThan(52735);
    expect(rv32_wasm3_heap_bound_bytes(8119, 16384)).toBeLessThan(52735 * 1.15);
    expect(rv32_wasm3_heap_bound_bytes(16384, 16384)).toBeGreaterThan(rv32_wasm3_heap_bound_bytes(8119, 16384) + 3 * 8265);
    expect(rv32_wasm3_heap_bound_bytes(8119, 24576)).toBe(rv32_wasm3_heap_bound_bytes(8119, 16384) + 8192);
  });
});

describe('flash per library from a linker map', () => {
  const map = [
    'Discarded input sections',
    '',
    ' .text.unused   0x00000000       0x40 liblsh_wasm3.a(m3_env.c.obj)',
    '',
    'Linker script and memory map',
    '',
    ' .text.m3_Call  0x80001000      0x104 /b/liblsh_wasm3.a(m3_env.c.obj)',
    ' .text.a_function_with_a_long_name',
    '                0x80001104       0x20 /b/liblsh_aot.a(loadsharing.c.obj)',
    ' .rodata.table  0x80002000      0x100 /b/liblsh_aot.a(loadsharing.c.obj)',
    ' .data.counter  0x80400000        0x4 /b/liblsh_aot.a(loadsharing.c.obj)',
    ' .text.main     0x80003000       0x10 CMakeFiles/x.dir/tools/main.c.obj',
  ].join('\n');
  test('counts .text and .rodata after the memory map starts, per archive', () => {
    expect(flash_by_archive(map)).toEqual({ 'liblsh_wasm3.a': 0x104, 'liblsh_aot.a': 0x120, program: 0x10 });
  });
  test('a file that is not a linker map is refused', () => {
    expect(() => flash_by_archive('hello')).toThrow(/not a GNU ld map/);
  });
});

describe('bench CLI', () => {
  test('results JSON: schema, machine, module figures, the simulator row (quick: 1 h, extrapolated)', () => {
    const out = mkdtempSync(join(tmpdir(), 'bench-'));
    const result = run('bench/run.mjs', ['--quick', '--rows', 'module,wasm3_memory,simulator', '--out', out]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
    expect(json).toMatchObject({ schema: 'loadshare-bench/1', mode: 'quick', module_path: 'build/loadsharing.wasm' });
    expect(Object.keys(json.machine).sort()).toEqual(['available_parallelism', 'cpu_count', 'cpu_model', 'memory_total_mb', 'node', 'os', 'v8']);
    expect(Object.keys(json.rows)).toEqual(['module', 'wasm3_memory', 'simulator']);
    const module = json.rows.module;
    expect(module.size_raw_bytes).toBe(readFileSync(module_path).length);
    expect(module).toMatchObject({ number: 2, status: 'measured', import_count: 0, size_max_bytes: 16384 });
    expect(module.size_gzip_bytes).toBeLessThan(module.size_raw_bytes);
    expect(module.v8.compile_instantiate_ms.count).toBe(30);
    // Row 6's shape, not its speed (timings are never asserted): one 1-hour run of the 8-charger day.
    const sim = json.rows.simulator;
    expect(sim).toMatchObject({ number: 6, status: 'measured', simulated_hours: 1, repeats: 1, extrapolated: true, target_sim_s_per_wall_s: 17000 });
    expect(sim.runs).toHaveLength(1);
    expect(sim.runs[0].inv1_peak_overdraw_a).toBe(0);
    expect(sim.runs[0].engine_ticks).toBeGreaterThan(0);
    expect(sim.sim_s_per_wall_s.count).toBe(1);
    const markdown = readFileSync(join(out, 'latest.md'), 'utf8');
    expect(result.stdout).toBe(markdown);
    expect(markdown).toMatch(/\| 2 \| module size, raw \| \d+ B \| <= 16384 B \| pass \|/);
    expect(markdown).toMatch(/\| 6 \| simulator: simulated s per wall s, 8 chargers \(1 h simulated, 24 h extrapolated: .*\| >= 17,000 \| (pass|miss) \|/);
  });

  test('an unknown option is a usage error (exit 2, one sentence)', () => {
    const result = run('bench/run.mjs', ['--fast']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^bench: unknown option --fast/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('bench:check passes the release module and fails a padded copy over 16384 bytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-check-'));
    // A copy, so that this test is about the size check alone (the recorded results are
    // compared only for the release module itself; the tests below cover that comparison).
    const copy_path = join(dir, 'release-copy.wasm');
    writeFileSync(copy_path, readFileSync(module_path));
    const ok = run('bench/check.mjs', ['--rows', 'module', '--module', copy_path, '--out', dir]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/bench:check: recorded results not compared \(--module\); module \d+ B <= 16384 B, 0 imports/);

    const padded_path = join(dir, 'padded.wasm');
    writeFileSync(padded_path, module_padded_to(16385));
    expect(readFileSync(padded_path).length).toBe(16385);
    const bad = run('bench/check.mjs', ['--rows', 'module', '--module', padded_path, '--out', dir]);
    expect(bad.code).toBe(1);
    const sentence = bad.stderr.trim();
    expect(sentence.split('\n')).toHaveLength(1);
    expect(sentence).toMatch(/^bench:check: .*padded\.wasm is \d+ bytes, over the 16384-byte limit\.$/);
  });
});

// A tiny project tree: what bench:check reads when it compares the recorded results with the
// code (the release module, one host source, README.md, docs/performance.md, bench/results).
function recorded_project() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-recorded-'));
  mkdirSync(join(dir, 'host-node'), { recursive: true });
  mkdirSync(join(dir, 'build'), { recursive: true });
  mkdirSync(join(dir, 'docs'), { recursive: true });
  mkdirSync(join(dir, 'bench/results'), { recursive: true });
  writeFileSync(join(dir, 'host-node/core.ts'), 'export const a = 1;\n');
  writeFileSync(join(dir, 'build/loadsharing.wasm'), readFileSync(module_path));
  const results = {
    schema: 'loadshare-bench/1', generated_at: '2026-01-01T00:00:00.000Z', mode: 'full', module_path: 'build/loadsharing.wasm',
    code: code_fingerprint(dir, join(dir, 'build/loadsharing.wasm')),
    machine: { cpu_model: 'Test CPU', cpu_count: 2, memory_total_mb: 1, os: 'Linux', node: 'v24.0.0', v8: '13' },
    load_average: { start: [0.1, 0, 0], end: [0.2, 0, 0] },
    rows: { module: { number: 2, title: 'Module', status: 'measured', size_raw_bytes: 8119, size_gzip_bytes: 4000, v8: { compile_instantiate_ms: { median: 0.1 } }, summary: [{ figure: 'module size, raw', value: '8119 B', target: '<= 8192 B', result: 'pass' }] } },
  };
  const markdown = render_markdown(results);
  writeFileSync(join(dir, 'bench/results/latest.json'), JSON.stringify(results, null, 2));
  writeFileSync(join(dir, 'bench/results/latest.md'), markdown);
  writeFileSync(join(dir, 'README.md'), replace_between_markers(`# x\n\n${readme_markers.join('\n')}\n\nmore\n`, readme_markers, readme_paragraph(results)));
  writeFileSync(join(dir, 'docs/performance.md'), replace_between_markers(`# p\n${docs_markers.join('\n')}\n`, docs_markers, docs_section(markdown)));
  return dir;
}

describe('recorded results describe the code (bench:check)', () => {
  test('results written from one run over the same code pass', () => {
    const dir = recorded_project();
    expect(recorded_results_failures(dir, join(dir, 'build/loadsharing.wasm'))).toEqual([]);
    expect(between_markers(readFileSync(join(dir, 'README.md'), 'utf8'), readme_markers)).toMatch(/The module is 8119 bytes \(4000 gzipped\)/);
  });
  test('a changed module or host source makes them stale, naming what changed and how to fix it', () => {
    const dir = recorded_project();
    writeFileSync(join(dir, 'host-node/core.ts'), 'export const a = 2;\n');
    writeFileSync(join(dir, 'build/loadsharing.wasm'), module_padded_to(16000));
    const failures = recorded_results_failures(dir, join(dir, 'build/loadsharing.wasm'));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/older than the code it describes: the release module changed .*\d+ B recorded.*16000 B built.*the sources it measures changed \(host-node\/core\.ts\): re-run `npm run bench`/);
  });
  test('a README paragraph or docs section edited by hand, or a latest.md from another run, fail', () => {
    const dir = recorded_project();
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    writeFileSync(join(dir, 'README.md'), readme.replace('8119 bytes', '7000 bytes'));
    writeFileSync(join(dir, 'bench/results/latest.md'), `${readFileSync(join(dir, 'bench/results/latest.md'), 'utf8')}\nextra\n`);
    const failures = recorded_results_failures(dir, join(dir, 'build/loadsharing.wasm')).join(' | ');
    expect(failures).toMatch(/latest\.md does not come from the run in latest\.json/);
    expect(failures).toMatch(/README\.md's performance paragraph does not come from bench\/results\/latest\.json/);
    expect(failures).toMatch(/docs\/performance\.md's latest results do not come from bench\/results\/latest\.md/);
  });
  test('a quick run is not a record; missing markers are named', () => {
    const dir = recorded_project();
    const json = JSON.parse(readFileSync(join(dir, 'bench/results/latest.json'), 'utf8'));
    writeFileSync(join(dir, 'bench/results/latest.json'), JSON.stringify({ ...json, mode: 'quick' }));
    writeFileSync(join(dir, 'README.md'), '# no markers\n');
    const failures = recorded_results_failures(dir, join(dir, 'build/loadsharing.wasm')).join(' | ');
    expect(failures).toMatch(/comes from a quick run, not a full one/);
    expect(failures).toMatch(/README\.md lacks the markers/);
  });
  test('fingerprints differ by module and by source file only', () => {
    const dir = recorded_project();
    const a = code_fingerprint(dir, join(dir, 'build/loadsharing.wasm'));
    expect(fingerprint_differences(a, code_fingerprint(dir, join(dir, 'build/loadsharing.wasm')))).toEqual([]);
    expect(a.sources).toHaveProperty(['host-node/core.ts']);
    expect(a.module_bytes).toBe(readFileSync(module_path).length);
  });
});
