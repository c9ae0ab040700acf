#!/usr/bin/env node
// Fetches the mbedTLS C sources for the bare-metal rv32 build into .cache/mbedtls/ (never
// committed). Debian's libmbedtls-dev holds x86-64 binaries only, so the rv32 build compiles
// the same version from Debian's source package: `apt-get source --download-only` with a
// private sources list and state folder under .cache/ (the machine's apt configuration is
// left alone; no root needed). The upstream tarball's SHA-256 must equal the one pinned in
// host-esp32/rv32/mbedtls.lock.json. Idempotent: a valid cache is left alone.
// Prints the source folder on success. Exit 1 with one sentence on failure.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lock = JSON.parse(readFileSync(join(root, 'host-esp32/rv32/mbedtls.lock.json'), 'utf8'));
const cache = join(root, '.cache/mbedtls');
const tarball = join(cache, lock.file);
const source_dir = join(cache, 'mbedtls');
const stamp = join(source_dir, '.stamp');

function fail(message) {
  console.error(`fetch-mbedtls: ${message}`);
  process.exit(1);
}

const sha256_of = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === lock.sha256 && existsSync(join(source_dir, 'library/ecdsa.c'))) {
  console.log(source_dir);
  process.exit(0);
}

mkdirSync(cache, { recursive: true });
if (!existsSync(tarball) || sha256_of(tarball) !== lock.sha256) {
  rmSync(tarball, { force: true });
  const apt = join(cache, 'apt');
  for (const dir of ['parts', 'lists/partial', 'archives/partial']) mkdirSync(join(apt, dir), { recursive: true });
  writeFileSync(join(apt, 'parts/debian-src.sources'), [
    'Types: deb-src',
    'URIs: http://deb.debian.org/debian',
    `Suites: ${lock.suite}`,
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
  ].join('\n'));
  const options = [
    '-o', 'Dir::Etc::SourceList=/dev/null',
    '-o', `Dir::Etc::SourceParts=${join(apt, 'parts')}`,
    '-o', `Dir::State::Lists=${join(apt, 'lists')}`,
    '-o', `Dir::Cache=${apt}`,
    '-o', 'Debug::NoLocking=1',
    '-o', 'APT::Sandbox::User=root',
  ];
  try {
    execFileSync('apt-get', [...options, '-qq', 'update'], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('apt-get', [...options, '-qq', 'source', '--download-only', `${lock.source_package}=${lock.version}`], { cwd: cache, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    fail(`apt-get source ${lock.source_package}=${lock.version} failed (needs apt and Debian's ${lock.suite} sources; if Debian replaced the version, update host-esp32/rv32/mbedtls.lock.json)`);
  }
  if (!existsSync(tarball)) fail(`apt-get source did not produce ${lock.file}`);
}
const actual = sha256_of(tarball);
if (actual !== lock.sha256) {
  rmSync(tarball, { force: true });
  fail(`${lock.file} has SHA-256 ${actual}, expected ${lock.sha256} (host-esp32/rv32/mbedtls.lock.json); refusing it`);
}

const staging = join(cache, 'staging');
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
execFileSync('tar', ['-xzf', tarball, '-C', staging], { stdio: 'inherit' });
const top = readdirSync(staging);
if (top.length !== 1 || !existsSync(join(staging, top[0], 'library/ecdsa.c'))) fail(`${lock.file} has no mbedTLS library sources`);
writeFileSync(join(staging, top[0], '.stamp'), `${lock.sha256}\n`);
rmSync(source_dir, { recursive: true, force: true });
renameSync(join(staging, top[0]), source_dir);
rmSync(staging, { recursive: true, force: true });
rmSync(join(cache, 'apt'), { recursive: true, force: true });
for (const name of readdirSync(cache)) {
  if (name.startsWith(`${lock.source_package}_`) && name !== lock.file) rmSync(join(cache, name), { force: true });
}
console.log(source_dir);
