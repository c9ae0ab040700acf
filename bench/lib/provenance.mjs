// What code a run of the bench describes: the release module's SHA-256 and a hash of every
// source that shapes the figures (the hosts, the ESP32 build, the bench itself, the pinned
// Node lines and the lock file). `npm run bench` records it in bench/results/latest.json;
// `npm run bench:check` recomputes it and fails when the committed results describe other
// code (docs/performance.md: "When bench:check says the results are stale").
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

// Paths relative to the project root: directories are walked (files with these endings).
export const source_paths = [
  'host-node',
  'host-esp32/src',
  'host-esp32/include',
  'host-esp32/tools',
  'host-esp32/CMakeLists.txt',
  'host-esp32/wasm3.lock.json',
  'bench',
  'bin',
  'asconfig.json',
  'package-lock.json',
  'scripts/build-esp32.mjs',
  'scripts/wasm3-patches.mjs',
  'scripts/fetch-wasm3.mjs',
  'scripts/node-versions.json',
];
const source_endings = ['.ts', '.mjs', '.js', '.c', '.h', '.json', '.txt'];
// Not sources of the figures: the recorded results themselves, and the files that only check
// or render them (bench:check renders the text again from the recorded JSON and compares, so a
// change there is caught without measuring again: `npm run bench:render`).
export const excluded = ['bench/results', 'bench/check.mjs', 'bench/render.mjs', 'bench/lib/report.mjs', 'bench/lib/readme.mjs', 'bench/lib/targets.mjs', 'bench/lib/provenance.mjs'];

function is_source(path) {
  return source_paths.some((root) => path === root || path.startsWith(`${root}/`)) &&
    !excluded.some((root) => path === root || path.startsWith(`${root}/`)) &&
    source_endings.some((ending) => path.endsWith(ending));
}

function walk(root, path, files) {
  const full = join(root, path);
  if (!existsSync(full)) return;
  if (statSync(full).isDirectory()) {
    if (excluded.includes(path)) return;
    for (const name of readdirSync(full).sort()) walk(root, `${path}/${name}`, files);
  } else if (is_source(path)) {
    files.push(path);
  }
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

// { module_sha256, module_bytes, sources_sha256, sources: { path: sha256 prefix } }
export function code_fingerprint(root, module_path) {
  const files = [];
  for (const path of source_paths) walk(root, path, files);
  const sources = {};
  for (const file of files) sources[file.split(sep).join('/')] = sha256(readFileSync(join(root, file))).slice(0, 16);
  const module = readFileSync(module_path);
  return {
    module_path: relative(root, module_path).split(sep).join('/'),
    module_sha256: sha256(module),
    module_bytes: module.length,
    sources_sha256: sha256(JSON.stringify(sources)),
    sources,
  };
}

// One sentence per difference between a recorded fingerprint and the current one; none means
// the recorded results describe this code.
export function fingerprint_differences(recorded, current) {
  if (!recorded) return ['it records no code fingerprint (made before bench:check compared them)'];
  const out = [];
  if (recorded.module_sha256 !== current.module_sha256) {
    out.push(`the release module changed (sha256 ${recorded.module_sha256.slice(0, 12)}..., ${recorded.module_bytes} B recorded; ${current.module_sha256.slice(0, 12)}..., ${current.module_bytes} B built)`);
  }
  // Per file, over what counts as a source today: a file no longer counted (say, a renderer
  // moved out of the list) does not make old results stale; one added, changed or deleted does.
  const paths = new Set([...Object.keys(recorded.sources ?? {}).filter(is_source), ...Object.keys(current.sources)]);
  const changed = [...paths].filter((p) => recorded.sources?.[p] !== current.sources[p]).sort();
  if (changed.length > 0) {
    const shown = changed.slice(0, 6).join(', ') + (changed.length > 6 ? ` and ${changed.length - 6} more` : '');
    out.push(`the sources it measures changed (${shown})`);
  }
  return out;
}
