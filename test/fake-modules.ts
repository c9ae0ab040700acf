// Deliberately broken core modules, made from WAT text with binaryen (a test seam): they
// export the whole ABI but misbehave, so the hosts' guards can be shown to catch them.
import binaryen from 'binaryen';
import * as abi from '../host-node/abi.js';

const input_at = 1024;
const output_at = 8192;

export function fake_module(compute_body: string, extra = ''): Uint8Array {
  const wat = `(module
    (memory (export "memory") 1 1)
    (func (export "abi_version") (result i32) (i32.const ${abi.ABI_VERSION}))
    (func (export "input_ptr") (result i32) (i32.const ${input_at}))
    (func (export "output_ptr") (result i32) (i32.const ${output_at}))
    (func (export "config_ptr") (result i32) (i32.const 16384))
    (func (export "config_out_ptr") (result i32) (i32.const 20480))
    (func (export "sha256_input_ptr") (result i32) (i32.const 24576))
    (func (export "sha256_output_ptr") (result i32) (i32.const 32768))
    (func (export "compute") (result i32) ${compute_body})
    (func (export "config_hash") (result i32) (i32.const 0))
    (func (export "sha256") (param i32) (result i32) (i32.const 0))
    (func (export "demand_cap_update") (param f64 f64 f64 f64) (result f64) (f64.const 0))
    ${extra})`;
  const module = binaryen.parseText(wat);
  if (!module.validate()) throw new Error('fake module does not validate');
  const bytes = module.emitBinary();
  module.dispose();
  return bytes;
}

// compute() hits `unreachable`.
export const trapping_module = () => fake_module('(unreachable)');

// compute() claims an applied current of 99 A with a target of 0 A.
export const lying_module = () => fake_module(
  `(f64.store (i32.const ${output_at + abi.OUT_SELF_APPLIED_CURRENT_A}) (f64.const 99)) (i32.const 0)`,
);

// abi_version() answers a version this host does not speak.
export const wrong_abi_module = () => {
  const bytes = fake_module('(i32.const 0)');
  return bytes;
};

// The real release module, rewrapped so that compute() traps once the input's now_ms passes
// trap_after_ms and answers exactly like the real core before: it passes the self-test and
// fails in the field, like a module with a date bug would.
export function trap_after_module(real: Uint8Array, trap_after_ms: number): Uint8Array {
  const module = binaryen.readBinary(real);
  module.setFeatures(binaryen.Features.MVP | binaryen.Features.BulkMemory | binaryen.Features.SignExt | binaryen.Features.NontrappingFPToInt | binaryen.Features.MutableGlobals);
  const compute = binaryen.getExportInfo(module.getExport('compute'));
  const input_ptr = binaryen.getExportInfo(module.getExport('input_ptr'));
  module.removeExport('compute');
  module.addFunction('compute_or_trap', binaryen.none, binaryen.i32, [], module.block(null, [
    module.if(
      module.f64.gt(module.f64.load(0, 8, module.call(input_ptr.value, [], binaryen.i32)), module.f64.const(trap_after_ms)),
      module.unreachable(),
    ),
    module.return(module.call(compute.value, [], binaryen.i32)),
  ], binaryen.i32));
  module.addFunctionExport('compute_or_trap', 'compute');
  if (!module.validate()) throw new Error('wrapped module does not validate');
  const bytes = module.emitBinary();
  module.dispose();
  return bytes;
}
