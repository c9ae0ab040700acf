// Runs a bare-metal rv32 program of the ESP32 host (build/esp32-rv32/*.elf) under
// qemu-system-riscv32 -machine virt -bios none: semihosting carries its stdio, its files (the
// vectors, modules and packages it reads by absolute path) and its arguments; it stops QEMU
// through the virt machine's test device, whose code becomes QEMU's exit status.
// With icount, QEMU counts one instruction per nanosecond of virtual time, so the guest's
// instret CSR gives exact instruction counts (lsh_rv32_measure).
import { spawnSync } from 'node:child_process';

// wabt: wasm2c, for the ahead-of-time measurement (scripts/gen-rv32-aot.mjs).
export const rv32_packages = ['gcc-riscv64-unknown-elf', 'picolibc-riscv64-unknown-elf', 'qemu-system-misc', 'wabt'];

// QEMU option values escape a comma by doubling it.
const option_value = (text) => String(text).replace(/,/g, ',,');

export function run_rv32(elf, args, { icount = false, timeout_ms = 600000, cwd } = {}) {
  const semihosting = ['enable=on', 'target=native', ...args.map((arg) => `arg=${option_value(arg)}`)].join(',');
  const qemu_args = [
    '-machine', 'virt', '-bios', 'none', '-m', '16M',
    '-nographic', '-monitor', 'none', '-serial', 'none',
    ...(icount ? ['-icount', 'shift=0'] : []),
    '-kernel', elf,
    '-semihosting-config', semihosting,
  ];
  const result = spawnSync('qemu-system-riscv32', qemu_args, { cwd, encoding: 'utf8', timeout: timeout_ms, maxBuffer: 64 * 1024 * 1024 });
  return {
    status: result.status,
    signal: result.signal,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    error: result.error,
    command: ['qemu-system-riscv32', ...qemu_args].join(' '),
  };
}
