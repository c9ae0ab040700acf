// V8 flags a charger node sets on itself (`loadshare node`; bin/loadshare.js applies them
// before the rest of the program loads). A charger's JavaScript and its decision module run
// a few small calls a second (about 1 % of a core with 8 peers at 1 Hz), which the first
// two tiers run well; the optimizing compilers cost memory instead: with them the node
// touches 7.5 MB more of the node binary's code (TurboFan's and Maglev's own pages, which
// count in RSS) and keeps their compiled code and metadata. Measured on Node 24 with 8 peers
// (bench row 4, docs/performance.md "Where a charger node's memory goes"): peak RSS 89.7 ->
// 78 MB, CPU unchanged within noise.
//   --no-maglev --no-turbofan   JavaScript stops at Sparkplug, the baseline compiler (the
//                               interpreter and Sparkplug are always there).
//   --no-wasm-dynamic-tiering --no-wasm-tier-up   the WebAssembly core stays on Liftoff,
//                               V8's baseline wasm compiler (no tier-up to TurboFan).
//   --wasm-wrapper-tiering-budget=2147483647   the calls from JavaScript into the core keep
//                               V8's generic entry wrapper; by default V8 compiles a
//                               specialised one with its optimizing compiler after 1,000 calls
//                               of an export (2.8 MB of the binary's pages touched, about a
//                               minute into a node's life). At the node's few calls a second
//                               this budget lasts years.
// These are the flags the command-line --max-opt=1 and --liftoff-only imply; they are set
// here rather than those because V8 resolves flag implications once, at start-up: set later,
// --max-opt and --liftoff-only change nothing (test/node-memory.test.ts checks that these do,
// on the running Node). Not --jitless or --lite-mode: they drop Sparkplug and WebAssembly
// compilation (the core would not run), or cost CPU for nothing in memory.
import { setFlagsFromString } from 'node:v8';

export const node_v8_flags = ['--no-maglev', '--no-turbofan', '--no-wasm-dynamic-tiering', '--no-wasm-tier-up', '--wasm-wrapper-tiering-budget=2147483647', '--semi-space-growth-factor=1'] as const;

// Process-wide, and best before any function is hot or any module is compiled: a function
// already optimized stays so. LOADSHARE_FULL_JIT=1 leaves V8's defaults (a comparison, or a
// machine where CPU matters more than memory).
export function apply_node_v8_flags(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.LOADSHARE_FULL_JIT === '1') return false;
  for (const flag of node_v8_flags) setFlagsFromString(flag);
  return true;
}
