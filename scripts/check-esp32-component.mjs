#!/usr/bin/env node
// Checks that the ESP32 component's manifests describe what the native and rv32 builds compile
// (run by npm run test:esp32; ESP-IDF itself cannot be installed here, so these files are
// never compiled by it on this machine, and nothing else would notice them drifting):
// - CMakeLists.txt's ESP-IDF branch lists every src/*.c except the other platforms' shims;
// - library.json (PlatformIO) compiles src/*.c except exactly those shims;
// - the wasm3 settings the docs give the firmware (PlatformIO build_flags, the ESP-IDF wasm3
//   component) are those the native and rv32 builds use (LSH_WASM3_BOARD_DEFINES);
// - the component versions agree.
// Prints one line per problem; exit 1 when there is any.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const host = join(root, 'host-esp32');
const problems = [];
const read = (path) => readFileSync(join(root, path), 'utf8');

// The platform shims: one per platform, each compiled only by its own build.
const platform_shims = { esp: 'lsh_platform_esp.c', posix: 'lsh_platform_posix.c', baremetal: 'lsh_platform_baremetal.c' };
const sources = readdirSync(join(host, 'src')).filter((name) => name.endsWith('.c')).sort();
const portable = sources.filter((name) => !Object.values(platform_shims).includes(name));

const cmake = read('host-esp32/CMakeLists.txt');
const idf = /idf_component_register\(\s*SRCS([\s\S]*?)INCLUDE_DIRS/.exec(cmake);
if (!idf) problems.push('CMakeLists.txt: no idf_component_register(SRCS ... INCLUDE_DIRS ...) in the ESP-IDF branch');
else {
  const listed = idf[1].split(/\s+/).filter(Boolean).map((path) => path.replace(/^src\//, '')).sort();
  const expected = [...portable, platform_shims.esp].sort();
  const missing = expected.filter((name) => !listed.includes(name));
  const extra = listed.filter((name) => !expected.includes(name));
  if (missing.length) problems.push(`CMakeLists.txt (ESP-IDF): SRCS lacks ${missing.join(', ')}`);
  if (extra.length) problems.push(`CMakeLists.txt (ESP-IDF): SRCS has ${extra.join(', ')}, which the ESP-IDF build must not compile`);
}
// The plain build: every portable source goes into lsh or lsh_swap.
for (const name of portable) {
  if (!cmake.includes(`src/${name}`)) problems.push(`CMakeLists.txt: the native/rv32 build does not compile src/${name}`);
}

const library = JSON.parse(read('host-esp32/library.json'));
const filter = library.build?.srcFilter ?? [];
const excluded = filter.filter((f) => f.startsWith('-<')).map((f) => f.slice(2, -1)).sort();
const expected_excluded = [platform_shims.posix, platform_shims.baremetal].sort();
if (!filter.includes('+<*.c>')) problems.push('library.json: srcFilter does not include +<*.c>');
if (JSON.stringify(excluded) !== JSON.stringify(expected_excluded)) {
  problems.push(`library.json: srcFilter excludes ${excluded.join(', ') || 'nothing'}, expected exactly ${expected_excluded.join(', ')}`);
}

const board = /set\(LSH_WASM3_BOARD_DEFINES ([^)]*)\)/.exec(cmake);
if (!board) problems.push('CMakeLists.txt: no set(LSH_WASM3_BOARD_DEFINES ...)');
else {
  const defines = board[1].trim().split(/\s+/);
  const docs = read('docs/esp32.md');
  const pio = /build_flags =\n((?:\s+-D\S+.*\n)+)/.exec(docs);
  const pio_defines = pio ? [...pio[1].matchAll(/-D(\S+)/g)].map((m) => m[1]) : [];
  const idf_wasm3 = /target_compile_options\(\$\{COMPONENT_LIB\} PRIVATE -O2 -w -fwrapv([\s\S]*?)\)/.exec(docs);
  const idf_defines = idf_wasm3 ? [...idf_wasm3[1].matchAll(/-D(\S+)/g)].map((m) => m[1]) : [];
  for (const [where, given] of [['docs/esp32.md PlatformIO build_flags', pio_defines], ['docs/esp32.md ESP-IDF wasm3 component', idf_defines]]) {
    const missing = defines.filter((d) => !given.includes(d));
    const other = given.filter((d) => d.startsWith('d_m3') && !defines.includes(d));
    if (missing.length || other.length) {
      problems.push(`${where}: wasm3 settings ${given.join(' ') || '(none found)'} differ from the builds' ${defines.join(' ')}`);
    }
  }
}

const manifest_version = /^version:\s*"([^"]+)"/m.exec(read('host-esp32/idf_component.yml'))?.[1];
if (manifest_version !== library.version) problems.push(`idf_component.yml version ${manifest_version} differs from library.json ${library.version}`);

for (const problem of problems) console.error(`check-esp32-component: ${problem}`);
if (problems.length === 0) console.log(`check-esp32-component: ESP-IDF and PlatformIO manifests match the builds (${portable.length} portable sources + the ESP-IDF shim)`);
process.exit(problems.length === 0 ? 0 : 1);
