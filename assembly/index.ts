// The loadshare decision core: the whole group safety protocol. Exports only plain numbers:
// the host writes the facts and the carry, calls, and reads the decision and the new carry
// (see docs/abi.md). Keeps nothing between calls; no imports, no allocation, bounded loops.
import { ABI_VERSION } from './abi';
import { input_base, output_base, carry_base, config_base, config_out_base } from './blocks';
import { compute_decision } from './decide';
import { compute_config_hash } from './config_hash';

export function abi_version(): u32 { return ABI_VERSION; }
export function input_ptr(): usize { return input_base; }
export function output_ptr(): usize { return output_base; }
export function carry_ptr(): usize { return carry_base; }
export function config_ptr(): usize { return config_base; }
export function config_out_ptr(): usize { return config_out_base; }

// Decides for the input block and the carry the host handed back; rewrites the carry;
// returns the error code (0 = ok) also found in the output.
export function compute(): u32 { return compute_decision(); }

// Hashes the config block; returns the error code (0 = ok).
export function config_hash(): u32 { return compute_config_hash(); }

