#!/usr/bin/env node
// npm test: builds what the suites need, runs every suite, and ends with one line
// `summary: N passed, N failed` over all of them. Exits non-zero on any failure.
// A suite that dies without reporting counts is counted as one failure.
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const strip_ansi = (text) => text.replace(/\x1b\[[0-9;]*m/g, '');

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...options });
  process.stdout.write(result.stdout ?? '');
  process.stderr.write(result.stderr ?? '');
  return { code: result.status ?? 1, out: strip_ansi(`${result.stdout ?? ''}\n${result.stderr ?? ''}`) };
}

// Each suite: a name, how to run it, and how to read its counts from what it printed.
const suites = [
  {
    name: 'core (as-pect)',
    run: () => run(bin('asp'), ['--config', 'as-pect.config.js', '--as-config', 'as-pect.asconfig.json', '--no-logo']),
    counts: ({ out }) => {
      const m = out.match(/\[Tests\]:\s*(\d+)\s*\/\s*(\d+)/);
      return m ? { passed: Number(m[1]), failed: Number(m[2]) - Number(m[1]) } : null;
    },
  },
  {
    // Before vitest: it builds build/esp32/lsh_run, which test/wasm3.test.ts drives.
    name: 'esp32 (wasm3: native and rv32 under QEMU)',
    run: () => run(process.execPath, [join(root, 'scripts/test-esp32.mjs')]),
    counts: ({ out }) => {
      const m = [...out.matchAll(/^esp32: (\d+) passed, (\d+) failed$/gm)].pop();
      return m ? { passed: Number(m[1]), failed: Number(m[2]) } : null;
    },
  },
  {
    name: 'host (vitest)',
    run: () => {
      const report = join(root, 'build/vitest-report.json');
      rmSync(report, { force: true });
      const result = run(bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`]);
      return { ...result, report };
    },
    counts: ({ report }) => {
      if (!existsSync(report)) return null;
      const json = JSON.parse(readFileSync(report, 'utf8'));
      // A test file that fails before running any test (an import error) counts as one failure.
      const broken_files = (json.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
      return { passed: json.numPassedTests, failed: json.numFailedTests + broken_files };
    },
  },
  {
    // The deterministic benchmark targets (module size, imports, wasm3 memory): one check.
    name: 'bench targets (bench:check)',
    run: () => run(process.execPath, [join(root, 'bench/check.mjs')]),
    counts: ({ code, out }) => (/bench:check:/.test(out) ? { passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1 } : null),
  },
];

const build = run(process.execPath, [join(root, 'scripts/build.mjs')]);
let passed = 0;
let failed = 0;
if (build.code !== 0) {
  console.error('test: the build failed');
  failed += 1;
} else {
  for (const suite of suites) {
    console.log(`\n=== ${suite.name} ===`);
    const result = suite.run();
    const counts = suite.counts(result);
    if (!counts) {
      console.error(`test: ${suite.name} reported no counts (exit ${result.code}); counted as 1 failure`);
      failed += 1;
      continue;
    }
    if (result.code !== 0 && counts.failed === 0) counts.failed = 1;
    console.log(`--- ${suite.name}: ${counts.passed} passed, ${counts.failed} failed`);
    passed += counts.passed;
    failed += counts.failed;
  }
}
console.log(`summary: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
