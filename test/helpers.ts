// Shared by the host tests: scenario files and the CLI, run as a user runs them.
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { scenario_to_view } from '../host-node/scenario.js';
import type { GroupView } from '../host-node/core.js';

export const root = join(import.meta.dirname, '..');

export function scenario(name: string): GroupView {
  return scenario_to_view(JSON.parse(readFileSync(join(root, 'test/scenarios', `${name}.json`), 'utf8')));
}

export function cli(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin/loadshare.js'), ...args], { input, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
