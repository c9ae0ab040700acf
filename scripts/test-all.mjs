#!/usr/bin/env node
// npm test: builds what the suites need, runs every suite, and ends with one line
// `summary: N passed, N failed` over all of them. Exits non-zero on any failure.
// A suite that dies without reporting counts is counted as one failure. The names of the failed
// tests are repeated just above the summary, so the end of a long log says what failed.
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const strip_ansi = (text) => text.replace(/\x1b\[[0-9;]*m/g, '');
const first_line = (text) => strip_ansi(String(text ?? '')).split('\n').find((line) => line.trim() !== '')?.trim().slice(0, 300) ?? '';

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
    failures: ({ out }) => [...out.matchAll(/\[Fail\]: ✖ (.*)$/gm)].map((m) => m[1].trim()),
  },
  {
    // Before vitest: it builds build/esp32/lsh_run, which test/wasm3.test.ts drives.
    name: 'esp32 (wasm3: native and rv32 under QEMU)',
    run: () => run(process.execPath, [join(root, 'scripts/test-esp32.mjs')]),
    counts: ({ out }) => {
      const m = [...out.matchAll(/^esp32: (\d+) passed, (\d+) failed$/gm)].pop();
      return m ? { passed: Number(m[1]), failed: Number(m[2]) } : null;
    },
    failures: ({ out }) => [...out.matchAll(/^(?:FAIL |test-esp32: ).*$/gm)].map((m) => m[0].trim()),
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
    failures: ({ report }) => {
      if (!existsSync(report)) return [];
      const json = JSON.parse(readFileSync(report, 'utf8'));
      const names = [];
      for (const file of json.testResults ?? []) {
        const where = relative(root, file.name ?? '');
        if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) names.push(`${where}: ${first_line(file.message)}`);
        for (const test of file.assertionResults ?? []) {
          if (test.status === 'failed') names.push(`${where} > ${test.fullName}: ${first_line(test.failureMessages?.[0])}`);
        }
      }
      return names;
    },
  },
  {
    // The deterministic benchmark targets (module size, imports, wasm3 memory): one check.
    name: 'bench targets (bench:check)',
    run: () => run(process.execPath, [join(root, 'bench/check.mjs')]),
    counts: ({ code, out }) => (/bench:check:/.test(out) ? { passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1 } : null),
    failures: ({ code, out }) => (code === 0 ? [] : [...out.matchAll(/^bench:check:.*$/gm)].map((m) => m[0])),
  },
];

const build = run(process.execPath, [join(root, 'scripts/build.mjs')]);
let passed = 0;
let failed = 0;
const failures = [];
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
      failures.push(`${suite.name}: reported no counts (exit ${result.code})`);
      failed += 1;
      continue;
    }
    if (result.code !== 0 && counts.failed === 0) counts.failed = 1;
    if (counts.failed > 0) {
      const names = suite.failures(result);
      failures.push(...(names.length > 0 ? names.map((name) => `${suite.name}: ${name}`) : [`${suite.name}: exit ${result.code}`]));
    }
    console.log(`--- ${suite.name}: ${counts.passed} passed, ${counts.failed} failed`);
    passed += counts.passed;
    failed += counts.failed;
  }
}
if (build.code !== 0) failures.push('build: scripts/build.mjs failed');
if (failures.length > 0) {
  console.log('\nfailed:');
  for (const name of failures) console.log(`  ${name}`);
}
console.log(`summary: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
