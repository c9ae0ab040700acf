#!/usr/bin/env node
// npm run test:esp32: builds the native ESP32 host (plain and ASan+UBSan), checks the embedded
// module and self-test vectors are current, runs both test runners, and prints `esp32: N passed, N failed` last
// (both runs added up; a runner that dies without its count line counts as one failure).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let passed = 0;
let failed = 0;

const build = spawnSync(process.execPath, [join(root, 'scripts/build-esp32.mjs'), '--asan'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.log('esp32: 0 passed, 1 failed');
  process.exit(1);
}
for (const generator of ['scripts/gen-embedded-module.mjs', 'scripts/gen-selftest-vectors.mjs', 'host-esp32/test/gen-engine-facts.mjs']) {
  const stale = spawnSync(process.execPath, [join(root, generator), '--check'], { cwd: root, stdio: 'inherit' });
  if (stale.status === 0) passed += 1;
  else failed += 1;
}

for (const dir of ['build/esp32', 'build/esp32-asan']) {
  console.log(`--- ${dir}/lsh_test`);
  const result = spawnSync(join(root, dir, 'lsh_test'), ['--root', root, '--modules', join(root, 'build/esp32/test-modules'), '--packages', join(root, 'build/esp32/packages')], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, LSH_LOG_QUIET: '1', ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0', UBSAN_OPTIONS: 'print_stacktrace=1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  process.stdout.write(result.stdout ?? '');
  process.stderr.write(result.stderr ?? '');
  const counts = /esp32: (\d+) passed, (\d+) failed/.exec(result.stdout ?? '');
  if (!counts) {
    console.error(`test-esp32: ${dir}/lsh_test reported no counts (exit ${result.status ?? result.signal})`);
    failed += 1;
    continue;
  }
  passed += Number(counts[1]);
  failed += Number(counts[2]);
  // A sanitizer report after the count line (leaks are reported at exit) fails the run.
  if (result.status !== 0 && Number(counts[2]) === 0) {
    console.error(`test-esp32: ${dir}/lsh_test exited ${result.status ?? result.signal} after reporting no failures`);
    failed += 1;
  }
}
console.log(`esp32: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
