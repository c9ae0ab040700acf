#!/usr/bin/env node
// Fetches the wasm3 v0.5.0 C sources for the ESP32 host into .cache/wasm3/ (never committed).
// They come from the PyPI sdist pywasm3==0.5.0 (its wasm3/ folder holds the interpreter);
// the tarball's SHA-256 must equal the one pinned in host-esp32/wasm3.lock.json, so a
// changed upload can never slip into the build. Idempotent: a valid cache is left alone.
// Prints the source folder on success. Exit 1 with one sentence on failure.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wasm3_patches } from './wasm3-patches.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lock = JSON.parse(readFileSync(join(root, 'host-esp32/wasm3.lock.json'), 'utf8'));
const cache = join(root, '.cache/wasm3');
const tarball = join(cache, lock.file);
const source_dir = join(cache, 'wasm3');
const stamp = join(source_dir, '.stamp');
// The cache is tied to the tarball and to the patches applied to it.
const stamp_text = `${lock.sha256} ${createHash('sha256').update(JSON.stringify(wasm3_patches)).digest('hex')}`;

function fail(message) {
  console.error(`fetch-wasm3: ${message}`);
  process.exit(1);
}

const sha256_of = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

// The cache is valid when the extracted folder says it came from the pinned tarball and patches.
if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === stamp_text && existsSync(join(source_dir, 'wasm3.h'))) {
  console.log(source_dir);
  process.exit(0);
}

mkdirSync(cache, { recursive: true });
if (!existsSync(tarball) || sha256_of(tarball) !== lock.sha256) {
  rmSync(tarball, { force: true });
  const pip = ['pip3', 'pip'].find((name) => {
    try { execFileSync(name, ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
  });
  const python = pip ? null : ['python3'].find((name) => {
    try { execFileSync(name, ['-m', 'pip', '--version'], { stdio: 'ignore' }); return true; } catch { return false; }
  });
  if (!pip && !python) fail('pip is not installed (run scripts/ensure-native-tools.sh as root)');
  const args = ['download', '--no-deps', '--no-binary', ':all:', `${lock.package}==${lock.version}`, '-d', cache, '--quiet'];
  try {
    execFileSync(pip ?? python, pip ? args : ['-m', 'pip', ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    fail(`pip download ${lock.package}==${lock.version} failed`);
  }
  if (!existsSync(tarball)) fail(`pip did not produce ${lock.file}`);
}
const actual = sha256_of(tarball);
if (actual !== lock.sha256) {
  rmSync(tarball, { force: true });
  fail(`${lock.file} has SHA-256 ${actual}, expected ${lock.sha256} (host-esp32/wasm3.lock.json); refusing it`);
}

// Extract into a fresh temporary folder, then move the wasm3/ folder into place in one rename.
const staging = join(cache, 'staging');
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
execFileSync('tar', ['-xzf', tarball, '-C', staging, lock.folder], { stdio: 'inherit' });
const extracted = join(staging, lock.folder);
const c_files = readdirSync(extracted).filter((name) => name.endsWith('.c'));
if (c_files.length === 0 || !existsSync(join(extracted, 'wasm3.h'))) fail(`${lock.file} has no wasm3 C sources in ${lock.folder}`);
for (const patch of wasm3_patches) {
  const path = join(extracted, patch.file);
  const text = readFileSync(path, 'utf8');
  const at = text.indexOf(patch.old);
  if (at < 0 || text.indexOf(patch.old, at + 1) >= 0) fail(`patch for ${patch.file} does not apply exactly once`);
  writeFileSync(path, text.slice(0, at) + patch.new + text.slice(at + patch.old.length));
}
writeFileSync(join(extracted, '.stamp'), `${stamp_text}\n`);
rmSync(source_dir, { recursive: true, force: true });
renameSync(extracted, source_dir);
rmSync(staging, { recursive: true, force: true });
console.log(source_dir);
