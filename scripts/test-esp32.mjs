#!/usr/bin/env node
// npm run test:esp32: builds the ESP32 host natively (plain and ASan+UBSan) and bare metal for
// rv32imc (the ESP32-C3's instruction set), checks the embedded module and self-test vectors
// are current, runs the three test runners (the rv32 one under qemu-system-riscv32), and
// prints `esp32: N passed, N failed` last (all runs added up; a runner that dies without its
// count line counts as one failure).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run_rv32 } from './rv32-qemu.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let passed = 0;
let failed = 0;

const build = spawnSync(process.execPath, [join(root, 'scripts/build-esp32.mjs'), '--asan', '--rv32'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.log('esp32: 0 passed, 1 failed');
  process.exit(1);
}
for (const generator of ['scripts/gen-embedded-module.mjs', 'scripts/gen-selftest-vectors.mjs', 'host-esp32/test/gen-engine-facts.mjs',
  'host-esp32/test/gen-auth-vectors.mjs']) {
  const stale = spawnSync(process.execPath, [join(root, generator), '--check'], { cwd: root, stdio: 'inherit' });
  if (stale.status === 0) passed += 1;
  else failed += 1;
}
// The ESP-IDF / PlatformIO manifests and the docs' wasm3 settings against what the builds compile.
const component = spawnSync(process.execPath, [join(root, 'scripts/check-esp32-component.mjs')], { cwd: root, stdio: 'inherit' });
if (component.status === 0) passed += 1;
else failed += 1;

const test_args = ['--root', root, '--modules', join(root, 'build/esp32/test-modules'), '--packages', join(root, 'build/esp32/packages')];
const runners = [
  ['build/esp32/lsh_test', () => native('build/esp32')],
  ['build/esp32-asan/lsh_test', () => native('build/esp32-asan')],
  // Bare metal under QEMU: its stdout and stderr both reach QEMU's stderr (semihosting).
  ['build/esp32-rv32/lsh_test.elf (qemu-system-riscv32)', () => {
    const result = run_rv32(join(root, 'build/esp32-rv32/lsh_test.elf'), test_args, { cwd: root });
    if (result.error) console.error(`test-esp32: ${result.command}: ${result.error.message}`);
    return { ...result, stdout: `${result.stdout}${result.stderr}`, stderr: '' };
  }],
  // The built-in module compiled ahead of time (wasm2c) on rv32: every vector, and wasm3's answers.
  ['build/esp32-rv32/lsh_rv32_aot.elf (qemu-system-riscv32)', () => {
    const result = run_rv32(join(root, 'build/esp32-rv32/lsh_rv32_aot.elf'), ['--root', root], { cwd: root, timeout_ms: 120000 });
    if (result.error) console.error(`test-esp32: ${result.command}: ${result.error.message}`);
    return { ...result, stdout: `${result.stdout}${result.stderr}`, stderr: '' };
  }],
];

function native(dir) {
  return spawnSync(join(root, dir, 'lsh_test'), test_args, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, LSH_LOG_QUIET: '1', ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0', UBSAN_OPTIONS: 'print_stacktrace=1' },
    maxBuffer: 64 * 1024 * 1024,
  });
}

for (const [dir, run] of runners) {
  console.log(`--- ${dir}`);
  const started_ms = Date.now();
  const result = run();
  process.stdout.write(result.stdout ?? '');
  process.stderr.write(result.stderr ?? '');
  console.log(`(${((Date.now() - started_ms) / 1000).toFixed(1)} s)`);
  const counts = /esp32: (\d+) passed, (\d+) failed/.exec(result.stdout ?? '');
  if (!counts) {
    console.error(`test-esp32: ${dir} reported no counts (exit ${result.status ?? result.signal})`);
    failed += 1;
    continue;
  }
  passed += Number(counts[1]);
  failed += Number(counts[2]);
  // A sanitizer report after the count line (leaks are reported at exit) fails the run.
  if (result.status !== 0 && Number(counts[2]) === 0) {
    console.error(`test-esp32: ${dir} exited ${result.status ?? result.signal} after reporting no failures`);
    failed += 1;
  }
}
console.log(`esp32: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
