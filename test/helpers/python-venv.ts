// A Python venv under build/ with python-openevse-http (the library Home Assistant's OpenEVSE
// integration uses) and awesomeversion (which its packaging forgets), built on the newest Python
// this machine has: python3.14/3.13/python3 on PATH or a pyenv version (pyenv root, or
// ~/.pyenv). The library's newest release needs Python >= 3.13; with an older Python pip picks
// the newest release that supports it. Created once, quietly; any failure is an Error that says
// what to install, never a skip.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { root } from './dist.js';

export interface PythonClient {
  python: string; // the venv's interpreter
  base_python: string;
  base_version: string;
  library_version: string;
}

function version_of(python: string): number[] | null {
  const r = spawnSync(python, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'], { encoding: 'utf8', timeout: 20000 });
  if (r.status !== 0) return null;
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(r.stdout.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

function candidates(): string[] {
  const out = ['python3.14', 'python3.13', 'python3'];
  const pyenv_roots = new Set<string>();
  const r = spawnSync('pyenv', ['root'], { encoding: 'utf8', timeout: 20000 });
  if (r.status === 0 && r.stdout.trim() !== '') pyenv_roots.add(r.stdout.trim());
  pyenv_roots.add(process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'));
  for (const pyenv of pyenv_roots) {
    const versions = join(pyenv, 'versions');
    if (!existsSync(versions)) continue;
    for (const v of readdirSync(versions)) if (/^3\.\d+/.test(v)) out.push(join(versions, v, 'bin', 'python3'));
  }
  return out;
}

// The newest CPython 3 found, with its version.
export function newest_python(): { python: string; version: number[] } {
  let best: { python: string; version: number[] } | null = null;
  for (const python of candidates()) {
    const version = version_of(python);
    if (version && version[0] === 3 && (best === null || compare(version, best.version) > 0)) best = { python, version };
  }
  if (best === null) throw new Error('no Python 3 found (tried python3.14, python3.13, python3 and pyenv versions): install python3 and python3-venv');
  return best;
}

function run(command: string, args: string[], what: string, timeout_ms: number): string {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: timeout_ms });
  if (r.status !== 0) {
    throw new Error(`${what} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr || r.stdout || '').trim().split('\n').slice(-5).join(' | ')}`);
  }
  return r.stdout;
}

export function ensure_python_client(): PythonClient {
  const base = newest_python();
  const base_version = base.version.join('.');
  const dir = join(root, 'build', `pyclient-${base.version[0]}.${base.version[1]}`);
  const python = join(dir, 'bin', 'python');
  const probe = () => spawnSync(python, ['-c', 'import openevsehttp, awesomeversion, aiohttp; from importlib.metadata import version; print(version("python-openevse-http"))'], { encoding: 'utf8', timeout: 60000 });
  let found = existsSync(python) ? probe() : null;
  if (!found || found.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    run(base.python, ['-m', 'venv', dir], `creating a venv with ${base.python} (${base_version}; on Debian's system Python install python3-venv)`, 120000);
    run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-input', 'python-openevse-http', 'awesomeversion'],
      'pip install python-openevse-http awesomeversion (needs PyPI)', 600000);
    found = probe();
    if (found.status !== 0) throw new Error(`python-openevse-http is not importable after installing it: ${found.stderr.trim()}`);
  }
  return { python, base_python: base.python, base_version, library_version: found.stdout.trim() };
}
