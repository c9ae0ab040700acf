// Deliberately broken core modules, made from WAT text with binaryen (a test seam): they
// export the whole ABI but misbehave, so the hosts' guards can be shown to catch them.
import binaryen from 'binaryen';
import * as abi from '../host-node/abi.js';

const input_at = 1024;
const output_at = 8192;
const carry_at = 40960;

export function fake_module(compute_body: string, extra = '', input_block_at = input_at): Uint8Array {
  const wat = `(module
    (memory (export "memory") 1 1)
    (func (export "abi_version") (result i32) (i32.const ${abi.ABI_VERSION}))
    (func (export "input_ptr") (result i32) (i32.const ${input_block_at}))
    (func (export "output_ptr") (result i32) (i32.const ${output_at}))
    (func (export "carry_ptr") (result i32) (i32.const ${carry_at}))
    (func (export "config_ptr") (result i32) (i32.const 16384))
    (func (export "config_out_ptr") (result i32) (i32.const 20480))
    (func (export "compute") (result i32) ${compute_body})
    (func (export "config_hash") (result i32) (i32.const 0))
    ${extra})`;
  const module = binaryen.parseText(wat);
  if (!module.validate()) throw new Error('fake module does not validate');
  const bytes = module.emitBinary();
  module.dispose();
  return bytes;
}

// The input block starts 4 bytes past an 8-byte boundary (the ABI asks for one: docs/abi.md).
export const misaligned_input_module = () => fake_module('(i32.const 0)', '', input_at + 4);

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

// The real release module, rewrapped so that after each compute() the first member's
// allocation in the output block reads 500 A: a module that lies about allocations.
export function lying_real_module(real: Uint8Array): Uint8Array {
  return wrap_compute(real, (module, compute, ptrs) => module.block(null, [
    module.local.set(0, module.call(compute, [], binaryen.i32)),
    module.f64.store(abi.OUT_MEMBER_BASE + abi.OUT_MEMBER_TARGET_CURRENT_A, 8, module.call(ptrs.output, [], binaryen.i32), module.f64.const(500)),
    module.return(module.local.get(0, binaryen.i32)),
  ], binaryen.i32));
}

// The real release module, rewrapped so that it forgets its carry before every compute():
// every call is a safe start, so nothing it should remember between calls is remembered.
export function forgetful_real_module(real: Uint8Array): Uint8Array {
  return wrap_compute(real, (module, compute, ptrs) => module.block(null, [
    module.memory.fill(module.call(ptrs.carry, [], binaryen.i32), module.i32.const(0), module.i32.const(abi.CARRY_SIZE)),
    module.return(module.call(compute, [], binaryen.i32)),
  ], binaryen.i32));
}

function wrap_compute(
  real: Uint8Array,
  body: (module: binaryen.Module, compute: string, ptrs: { output: string; carry: string }) => binaryen.ExpressionRef,
): Uint8Array {
  const module = binaryen.readBinary(real);
  module.setFeatures(binaryen.Features.MVP | binaryen.Features.BulkMemory | binaryen.Features.SignExt | binaryen.Features.NontrappingFPToInt | binaryen.Features.MutableGlobals);
  const compute = binaryen.getExportInfo(module.getExport('compute')).value;
  const output = binaryen.getExportInfo(module.getExport('output_ptr')).value;
  const carry = binaryen.getExportInfo(module.getExport('carry_ptr')).value;
  module.removeExport('compute');
  module.addFunction('compute_wrapped', binaryen.none, binaryen.i32, [binaryen.i32], body(module, compute, { output, carry }));
  module.addFunctionExport('compute_wrapped', 'compute');
  if (!module.validate()) throw new Error('wrapped module does not validate');
  const bytes = module.emitBinary();
  module.dispose();
  return bytes;
}
