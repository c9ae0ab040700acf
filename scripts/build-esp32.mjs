#!/usr/bin/env node
// Builds the native ESP32 host: installs missing native tools, fetches wasm3 (cached), writes
// the test modules and signed test packages, and builds build/esp32 (lsh_test, lsh_run, lsh_bench) and, with --asan,
// build/esp32-asan (the same, under AddressSanitizer + UndefinedBehaviorSanitizer), and, with
// --m32, build/esp32-m32 (a 32-bit x86 build: 4-byte pointers like the ESP32, so its heap
// numbers are the closer estimate of the board's; needs gcc-multilib, installed on demand), and,
// with --rv32, build/esp32-rv32 (bare metal for the ESP32-C3's rv32imc, run under
// qemu-system-riscv32: lsh_test.elf and lsh_rv32_measure.elf; installs the RISC-V toolchain,
// picolibc and QEMU on demand and fetches the mbedTLS sources; host-esp32/rv32/).
// Incremental: a second run only rebuilds what changed. Exit 1 with one sentence on failure.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rv32_packages } from './rv32-qemu.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const jobs = String(Math.max(1, Math.min(2, (await import('node:os')).availableParallelism())));

function step(what, command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) {
    console.error(`build-esp32: ${what} failed (${command} ${args.join(' ')})`);
    process.exit(1);
  }
}

function build_dirs() {
  const dirs = [['build/esp32', []]];
  if (process.argv.includes('--asan')) dirs.push(['build/esp32-asan', ['-DLSH_SANITIZE=ON', '-DCMAKE_BUILD_TYPE=Debug']]);
  if (process.argv.includes('--m32')) dirs.push(['build/esp32-m32', ['-DCMAKE_C_FLAGS=-m32', '-DCMAKE_EXE_LINKER_FLAGS=-m32', '-DLSH_HOT_SWAP=OFF']]);
  if (rv32) dirs.push(['build/esp32-rv32', [`-DCMAKE_TOOLCHAIN_FILE=${join(root, 'host-esp32/rv32/toolchain-rv32imc.cmake')}`, '-DCMAKE_BUILD_TYPE=RelWithDebInfo']]);
  return dirs;
}

step('installing native tools', 'bash', [join(root, 'scripts/ensure-native-tools.sh'), ...(process.argv.includes('--m32') ? ['--m32'] : [])]);
const rv32 = process.argv.includes('--rv32');
if (rv32) {
  step('installing the rv32 toolchain and QEMU', 'bash', [join(root, 'scripts/ensure-system-packages.sh'), ...rv32_packages]);
  step('fetching the mbedTLS sources', process.execPath, [join(root, 'scripts/fetch-mbedtls.mjs')]);
}
step('fetching wasm3', process.execPath, [join(root, 'scripts/fetch-wasm3.mjs')]);
if (!existsSync(join(root, 'build/loadsharing.wasm'))) step('building the core', process.execPath, [join(root, 'scripts/build.mjs')]);
step('writing the test modules', process.execPath, [join(root, 'scripts/gen-esp32-test-modules.mjs')]);
// Before CMake configures build/esp32-rv32: it compiles the translated module when present.
if (rv32) step('translating the module ahead of time (wasm2c)', process.execPath, [join(root, 'scripts/gen-rv32-aot.mjs')]);
// Signed test packages, made by the Node host's package code (dist/, built by npm run build).
if (!existsSync(join(root, 'dist/host-node/modules/package.js')) || !existsSync(join(root, 'build/loadsharing-priority-first.wasm'))) {
  step('building the core and the Node host', process.execPath, [join(root, 'scripts/build.mjs')]);
}
step('writing the test packages', process.execPath, [join(root, 'scripts/gen-esp32-test-packages.mjs')]);
for (const [dir, options] of build_dirs()) {
  // Configured every run (cheap when nothing changed), so an option added later (such as
  // -DLSH_HOT_SWAP=OFF for the 32-bit build) reaches a build folder made before it.
  step(`configuring ${dir}`, 'cmake', ['-S', 'host-esp32', '-B', dir, ...options]);
  step(`building ${dir}`, 'cmake', ['--build', dir, '-j', jobs]);
}
