// The loadshare decision core. Exports only plain numbers: the host writes a block, calls,
// and reads a block (see docs/abi.md). No imports, no allocation, every loop bounded.
import { ABI_VERSION } from './abi';
import { input_base, output_base, config_base, config_out_base } from './blocks';
import { compute_decision } from './decide';
import { compute_config_hash } from './config_hash';
import { demand_cap_next } from './demand_cap';

export function abi_version(): u32 { return ABI_VERSION; }
export function input_ptr(): usize { return input_base; }
export function output_ptr(): usize { return output_base; }
export function config_ptr(): usize { return config_base; }
export function config_out_ptr(): usize { return config_out_base; }

// Decides for the input block; returns the error code (0 = ok) also found in the output.
export function compute(): u32 { return compute_decision(); }

// Hashes the config block; returns the error code (0 = ok).
export function config_hash(): u32 { return compute_config_hash(); }

export function demand_cap_update(offered_a: f64, measured_a: f64, previous_cap_a: f64, elapsed_ms: f64): f64 {
  return demand_cap_next(offered_a, measured_a, previous_cap_a, elapsed_ms);
}
