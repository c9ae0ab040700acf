#!/usr/bin/env node
// Writes the small bad (and one good) modules the native ESP32 tests load, from WAT text, with
// binaryen (already a dependency of AssemblyScript), into build/esp32/test-modules/. Each fake
// is a complete core ABI surface with exactly one thing wrong, so a refusal can only come from
// that one thing (fake-ok.wasm, with nothing wrong, must load).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import binaryen from 'binaryen';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out_dir = join(root, process.argv[2] ?? 'build/esp32/test-modules');
mkdirSync(out_dir, { recursive: true });

// Block offsets inside the 16 KiB memory cap: input 1024 (+5000), output 8192 (+616),
// config 9216 (+768), config_out 10240 (+2088), sha256 12800.
const OUTPUT = 8192;
// The ABI version the hosts speak (abi/layout.json): fakes speak it unless told otherwise.
const layout_abi_version = JSON.parse(readFileSync(join(root, 'abi/layout.json'), 'utf8')).abi_version;

function fake({ imports = '', abi_version = layout_abi_version, input_ptr = 1024, compute = '(i32.const 0)', compute_params = '', omit = [] } = {}) {
  const exports = {
    abi_version: `(func (export "abi_version") (result i32) (i32.const ${abi_version}))`,
    input_ptr: `(func (export "input_ptr") (result i32) (i32.const ${input_ptr}))`,
    output_ptr: `(func (export "output_ptr") (result i32) (i32.const ${OUTPUT}))`,
    config_ptr: '(func (export "config_ptr") (result i32) (i32.const 9216))',
    config_out_ptr: '(func (export "config_out_ptr") (result i32) (i32.const 10240))',
    sha256_input_ptr: '(func (export "sha256_input_ptr") (result i32) (i32.const 12800))',
    sha256_output_ptr: '(func (export "sha256_output_ptr") (result i32) (i32.const 16320))',
    compute: `(func $compute (export "compute") ${compute_params} (result i32) ${compute})`,
    config_hash: '(func (export "config_hash") (result i32) (i32.const 0))',
    sha256: '(func (export "sha256") (param i32) (result i32) (i32.const 0))',
    demand_cap_update: '(func (export "demand_cap_update") (param f64 f64 f64 f64) (result f64) (f64.const 0))',
  };
  const body = Object.entries(exports).filter(([name]) => !omit.includes(name)).map(([, text]) => text).join('\n  ');
  return `(module\n  ${imports}\n  (memory (export "memory") 1 1)\n  ${body}\n)`;
}

const modules = {
  'fake-ok': fake(),
  'wrong-abi': fake({ abi_version: layout_abi_version + 1 }),
  'extra-import': fake({ imports: '(import "env" "abort" (func $abort (param i32 i32 i32 i32)))' }),
  'traps': fake({ compute: '(unreachable)' }),
  'stack-overflow': fake({ compute: '(call $compute)' }),
  // Inside the declared 64 KiB page, outside the 16 KiB the host actually allocates.
  // A loop without calls: wasm3 cannot interrupt it; only the watchdog can (the hot-swap tests).
  'never-returns': fake({ compute: '(loop $spin (br $spin)) (i32.const 0)' }),
  'out-of-bounds': fake({ compute: '(i32.load (i32.const 60000))' }),
  'missing-export': fake({ omit: ['compute'] }),
  'wrong-signature': fake({ compute_params: '(param i32)' }),
  'bad-layout': fake({ input_ptr: 15000 }),
  // Answers applied 30 A over a target of 10 A: the guard must not believe it.
  'applied-above-target': fake({
    compute: `(f64.store (i32.const ${OUTPUT}) (f64.const 10)) (f64.store (i32.const ${OUTPUT + 8}) (f64.const 30))
      (f64.store (i32.const ${OUTPUT + 24}) (f64.const 32)) (f64.store (i32.const ${OUTPUT + 32}) (f64.const 32)) (i32.const 0)`,
  }),
};

for (const [name, text] of Object.entries(modules)) {
  const module = binaryen.parseText(text);
  if (!module.validate()) throw new Error(`${name}: invalid WAT`);
  writeFileSync(join(out_dir, `${name}.wasm`), module.emitBinary());
  module.dispose();
}
writeFileSync(join(out_dir, 'not-wasm.wasm'), 'this is a text file, not a WebAssembly module\n');
const core = readFileSync(join(root, 'build/loadsharing.wasm'));
writeFileSync(join(out_dir, 'truncated.wasm'), core.subarray(0, Math.floor(core.length / 2)));
console.log(`gen-esp32-test-modules: ${Object.keys(modules).length + 2} modules in ${out_dir}`);
