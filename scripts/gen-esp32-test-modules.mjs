#!/usr/bin/env node
// Writes the small bad (and two good) modules the native ESP32 tests load, from WAT text, with
// binaryen (already a dependency of AssemblyScript), into build/esp32/test-modules/. Each fake
// is a complete core ABI surface with exactly one thing wrong, so a refusal can only come from
// that one thing (fake-ok.wasm, with nothing wrong, must load).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import binaryen from 'binaryen';
import * as abi from '../dist/host-node/abi.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out_dir = join(root, process.argv[2] ?? 'build/esp32/test-modules');
mkdirSync(out_dir, { recursive: true });

// Block offsets inside the host's 24 KiB memory cap (LSH_MEMORY_LIMIT_BYTES): input 1024
// (+5408), output 8192 (+656), carry 9216 (+4096), config 13312 (+768), config_out 14336 (+2088).
const OUTPUT = 8192;
// The ABI version the hosts speak (abi/layout.json): fakes speak it unless told otherwise.
const layout_abi_version = JSON.parse(readFileSync(join(root, 'abi/layout.json'), 'utf8')).abi_version;

function fake({ imports = '', abi_version = layout_abi_version, input_ptr = 1024, compute = '(i32.const 0)', compute_params = '', omit = [] } = {}) {
  const exports = {
    abi_version: `(func (export "abi_version") (result i32) (i32.const ${abi_version}))`,
    input_ptr: `(func (export "input_ptr") (result i32) (i32.const ${input_ptr}))`,
    output_ptr: `(func (export "output_ptr") (result i32) (i32.const ${OUTPUT}))`,
    carry_ptr: '(func (export "carry_ptr") (result i32) (i32.const 9216))',
    config_ptr: '(func (export "config_ptr") (result i32) (i32.const 13312))',
    config_out_ptr: '(func (export "config_out_ptr") (result i32) (i32.const 14336))',
    compute: `(func $compute (export "compute") ${compute_params} (result i32) ${compute})`,
    config_hash: '(func (export "config_hash") (result i32) (i32.const 0))',
  };
  const body = Object.entries(exports).filter(([name]) => !omit.includes(name)).map(([, text]) => text).join('\n  ');
  return `(module\n  ${imports}\n  (memory (export "memory") 1 1)\n  ${body}\n)`;
}

// Long enough to fill several code pages on both builds: a select with one operand in a
// register takes 3 code lines (4 bytes each on rv32, 8 natively) of a 1 KiB page.
const SELECT_CHAIN_LENGTH = 600;

function select_chain(length) {
  let text = '(local.get $a)';
  for (let i = 0; i < length; i++) text = `(select ${text} (local.get $b) (local.get $c))`;
  return text;
}

const modules = {
  'fake-ok': fake(),
  'wrong-abi': fake({ abi_version: layout_abi_version + 1 }),
  'extra-import': fake({ imports: '(import "env" "abort" (func $abort (param i32 i32 i32 i32)))' }),
  'traps': fake({ compute: '(unreachable)' }),
  'stack-overflow': fake({ compute: '(call $compute)' }),
  // A loop without calls: wasm3 cannot interrupt it; only the watchdog can (the hot-swap tests).
  'never-returns': fake({ compute: '(loop $spin (br $spin)) (i32.const 0)' }),
  // Inside the declared 64 KiB page, outside the 24 KiB the host actually allocates.
  'out-of-bounds': fake({ compute: '(i32.load (i32.const 60000))' }),
  'missing-export': fake({ omit: ['compute'] }),
  'missing-carry': fake({ omit: ['carry_ptr'] }),
  'wrong-signature': fake({ compute_params: '(param i32)' }),
  // The input block would end past the 24 KiB cap.
  'bad-layout': fake({ input_ptr: 20000 }),
  // Scribbles over the carry it was handed, then traps: the host must keep the carry it had.
  'scribbles-then-traps': fake({ compute: '(i64.store (i32.const 9216) (i64.const -1)) (i64.store (i32.const 9224) (i64.const -1)) (unreachable)' }),
  // Answers applied 30 A over a target of 10 A and leaves a carry of its own: the guard must
  // believe neither.
  'applied-above-target': fake({
    compute: `(f64.store (i32.const ${OUTPUT}) (f64.const 10)) (f64.store (i32.const ${OUTPUT + 8}) (f64.const 30))
      (f64.store (i32.const ${OUTPUT + 24}) (f64.const 32)) (f64.store (i32.const ${OUTPUT + 32}) (f64.const 32))
      (i64.store (i32.const 9216) (i64.const -1)) (i32.const 0)`,
  }),
  // A valid module whose compute is one long chain of selects (each takes the one before it
  // as its first operand): wasm3 emits nothing for local.get, so every operation the chain
  // emits is a select, and each of its code pages must be bridged in the middle of the chain.
  // The heap-budget sweep (lsh_test_runtime.c) makes those page allocations fail; wasm3 once
  // went on emitting a select's operands after such a failure and ran off the end of its 1 KiB
  // code page (scripts/wasm3-patches.mjs).
  'select-chain': fake({ compute: `(local $a i32) (local $b i32) (local $c i32) ${select_chain(SELECT_CHAIN_LENGTH)}` }),
};

for (const [name, text] of Object.entries(modules)) {
  const module = binaryen.parseText(text);
  if (!module.validate()) throw new Error(`${name}: invalid WAT`);
  writeFileSync(join(out_dir, `${name}.wasm`), module.emitBinary());
  module.dispose();
}
writeFileSync(join(out_dir, 'not-wasm.wasm'), 'this is a text file, not a WebAssembly module\n');
const core = readFileSync(join(root, 'build/loadsharing.wasm'));

// The real module with its compute() wrapped: right on every fresh call, wrong about the carry
// only, so the self-test's carry checks are what refuses it.
function wrapped_core(name, wrap) {
  const module = binaryen.readBinary(core);
  module.setFeatures(binaryen.Features.All);
  const fn = (export_name) => binaryen.getExportInfo(module.getExport(export_name)).value;
  const compute = fn('compute');
  module.removeExport('compute');
  const i32 = binaryen.i32;
  module.addFunction('wrapped_compute', binaryen.none, i32, [i32, i32], wrap(module, {
    compute: () => module.call(compute, [], i32),
    carry_ptr: () => module.call(fn('carry_ptr'), [], i32),
    output_ptr: () => module.call(fn('output_ptr'), [], i32),
  }));
  module.addFunctionExport('wrapped_compute', 'compute');
  if (!module.validate()) throw new Error(`${name}: invalid wrapper`);
  writeFileSync(join(out_dir, `${name}.wasm`), module.emitBinary());
  module.dispose();
}
// Starts every call from a zero carry: it forgets what the protocol remembered.
wrapped_core('forgets-carry', (m, f) => m.block(null, [
  m.memory.fill(f.carry_ptr(), m.i32.const(0), m.i32.const(4096)),
  m.return(f.compute()),
], binaryen.i32));
// The carry's format tag, as the real module writes it (its first u32).
const carry_tag = await (async () => {
  const { instance } = await WebAssembly.instantiate(core, {});
  instance.exports.compute();
  return new DataView(instance.exports.memory.buffer).getUint32(instance.exports.carry_ptr(), true);
})();
// Reports a carry that has neither zeros nor its own tag as continued.
wrapped_core('continues-foreign-carry', (m, f) => m.block(null, [
  m.local.set(0, m.i32.load(0, 4, f.carry_ptr())),
  m.local.set(1, f.compute()),
  m.if(m.i32.and(m.i32.ne(m.local.get(0, binaryen.i32), m.i32.const(0)), m.i32.ne(m.local.get(0, binaryen.i32), m.i32.const(carry_tag | 0))),
    m.i32.store(abi.OUT_CARRY_STATUS, 4, f.output_ptr(), m.i32.const(0))),
  m.return(m.local.get(1, binaryen.i32)),
], binaryen.i32));
writeFileSync(join(out_dir, 'truncated.wasm'), core.subarray(0, Math.floor(core.length / 2)));
console.log(`gen-esp32-test-modules: ${Object.keys(modules).length + 4} modules in ${out_dir}`);
