// The native engine: build/loadsharing.wasm translated to C by wasm2c (Debian package
// wabt), compiled with gcc -O2 together with wabt's runtime (wasm-rt-impl.c) and the timing
// driver (native-driver.c). Memory bounds are checked with guard pages, as in V8, so the
// comparison is like for like: same module, same safety, ahead-of-time compiled.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const packages = ['wabt', 'gcc', 'libc6-dev'];
// Where Debian's wabt puts the wasm2c runtime (1.0.32: both; other releases: either).
const runtime_dirs = ['/usr/share/wabt/wasm2c', '/usr/src/wasm2c'];

function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).status === 0;
}

function tool_version(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim().split('\n')[0] : null;
}

// The generated names change between wabt releases; read them from the header instead of
// guessing: the function that takes the instance and is named ...compute is our export.
export function w2c_names(header) {
  const find = (pattern, what) => {
    const match = header.match(pattern);
    if (!match) throw new Error(`wasm2c header: cannot find ${what}`);
    return match;
  };
  const [, compute, instance] = find(/^u32\s+(\w*compute)\((\w+)\s*\*\s*\w*\)\s*;/m, 'the compute export');
  const prefix = compute.slice(0, -'compute'.length);
  const names = {
    LSH_W2C_INSTANCE: instance,
    LSH_W2C_COMPUTE: compute,
    LSH_W2C_INPUT_PTR: `${prefix}input_ptr`,
    LSH_W2C_OUTPUT_PTR: `${prefix}output_ptr`,
    LSH_W2C_CARRY_PTR: `${prefix}carry_ptr`,
    LSH_W2C_MEMORY: find(/^wasm_rt_memory_t\s*\*\s*(\w*memory)\(/m, 'the memory export')[1],
    LSH_W2C_INSTANTIATE: find(/^void\s+(\w+_instantiate)\(/m, 'the instantiate function')[1],
  };
  const init = header.match(/^void\s+(\w+_init_module)\(void\)/m);
  if (init) names.LSH_W2C_INIT_MODULE = init[1];
  const free = header.match(/^void\s+(\w+_free)\(\w+\s*\*/m);
  if (free) names.LSH_W2C_FREE = free[1];
  return names;
}

// Builds the driver for one module, once per run. Returns { binary, versions } or { unavailable: reason }.
export function prepare_native(root, module_path, work_dir) {
  if (!have('wasm2c') || !have('gcc')) {
    const install = spawnSync(join(root, 'scripts/ensure-system-packages.sh'), packages, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (install.status !== 0 || !have('wasm2c') || !have('gcc')) {
      return { unavailable: `wasm2c and gcc are needed (scripts/ensure-system-packages.sh ${packages.join(' ')})` };
    }
  }
  const runtime_dir = runtime_dirs.find((dir) => existsSync(join(dir, 'wasm-rt-impl.c')));
  if (!runtime_dir) return { unavailable: `wabt's wasm2c runtime (wasm-rt-impl.c) is not in ${runtime_dirs.join(' or ')}` };
  mkdirSync(work_dir, { recursive: true });
  const c_path = join(work_dir, 'loadsharing.c');
  execFileSync('wasm2c', [module_path, '-n', 'loadsharing', '-o', c_path]);
  const names = w2c_names(readFileSync(join(work_dir, 'loadsharing.h'), 'utf8'));
  const binary = join(work_dir, 'lsh_bench_native');
  const defines = Object.entries(names).map(([macro, symbol]) => `-D${macro}=${symbol}`);
  execFileSync('gcc', [
    '-O2', '-std=gnu11', ...defines,
    '-I', work_dir, '-I', runtime_dir, '-I', join(root, 'host-esp32/include'),
    join(root, 'bench/engines/native-driver.c'), c_path, join(runtime_dir, 'wasm-rt-impl.c'),
    '-o', binary, '-lm',
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  return {
    binary,
    versions: { wasm2c: tool_version('wasm2c', ['--version']), gcc: tool_version('gcc', ['-dumpfullversion']), flags: '-O2' },
  };
}

// Runs the plan (bench/engines/timing-plan.md) through the native driver, one process per case.
export function run_native(native, plan, work_dir) {
  const results = plan.cases.map((test_case) => {
    const input_path = join(work_dir, `input-${test_case.member_count}.bin`);
    writeFileSync(input_path, Buffer.from(test_case.input_hex, 'hex'));
    const out = execFileSync(native.binary, [input_path, String(plan.warmup_ns), String(plan.sample_target_ns), String(plan.samples), plan.mode ?? 'compute'], { encoding: 'utf8' });
    return { member_count: test_case.member_count, ...JSON.parse(out) };
  });
  return { engine: 'native', results };
}
