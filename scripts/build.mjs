#!/usr/bin/env node
// npm run build: the ABI check, the release and debug modules, the TypeScript, and the Load
// Sharing page (ui/, Svelte + Vite) into build/ui/, which every node serves at /.
// Prints the module's size and fails if the module imports anything.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args) => {
  try {
    execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
  } catch {
    console.error(`build: ${args.find((a) => !a.startsWith('-')) ?? cmd} failed (its output is above)`);
    process.exit(1);
  }
};

mkdirSync(join(root, 'build'), { recursive: true });
run(process.execPath, [join(root, 'scripts/gen-abi.mjs'), '--check']);
run(bin('asc'), ['assembly/index.ts', '--target', 'release']);
run(bin('asc'), ['assembly/index.ts', '--target', 'debug']);
// The second policy (priority first), a real module for the hot-swap pipeline.
run(bin('asc'), ['assembly/index.ts', '--target', 'priority_first']);
// The same policy with the next carry format (a changed layout): delivering it by hot swap
// shows that a change to the carried state reaches the field safely (docs/hot-swap.md).
run(bin('asc'), ['assembly/index.ts', '--target', 'carry_next']);
run(bin('tsc'), ['-p', 'tsconfig.json']);
run(bin('tsc'), ['-p', 'ui/tsconfig.json']); // the page's logic (ui/src/lib), type-checked strictly
run(bin('vite'), ['build', '--config', 'ui/vite.config.ts']);

const wasm_path = join(root, 'build/loadsharing.wasm');
const bytes = readFileSync(wasm_path);
const module = new WebAssembly.Module(bytes);
const imports = WebAssembly.Module.imports(module);
if (imports.length > 0) {
  console.error(`build: the core imports ${imports.map((i) => `${i.module}.${i.name}`).join(', ')}; it must import nothing`);
  process.exit(1);
}
const exports = WebAssembly.Module.exports(module).length;
console.log(`build: build/loadsharing.wasm ${statSync(wasm_path).size} bytes (gzip ${gzipSync(bytes, { level: 9 }).length}), ${exports} exports, 0 imports`);
