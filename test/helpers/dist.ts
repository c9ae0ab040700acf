// Tests that run real `loadshare` processes need the compiled JavaScript in dist/. npm test
// builds first; when a test file is run alone, this rebuilds dist/ if any source is newer.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function newest_ms(dir: string, ext: string): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const s = statSync(path);
    if (s.isDirectory()) newest = Math.max(newest, newest_ms(path, ext));
    else if (name.endsWith(ext)) newest = Math.max(newest, s.mtimeMs);
  }
  return newest;
}

export function ensure_dist(): void {
  const dist = join(root, 'dist', 'host-node');
  if (existsSync(dist) && newest_ms(dist, '.js') >= newest_ms(join(root, 'host-node'), '.ts')) return;
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
}

// A small seeded generator (mulberry32): the same seed gives the same run. The runtime's own.
export { prng as seeded } from '../../host-node/random-group.js';
