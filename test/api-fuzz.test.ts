// The API against its own contract, by a property-based fuzzer: Schemathesis (PyPI, pinned in
// test/fuzz/requirements.txt, installed into build/schemathesis-venv on first use) reads the
// node's GET /openapi.json and sends generated requests, valid and invalid, to a real node on
// a loopback socket. It fails on any 5xx, any answer whose status, content type, headers or
// body the document does not describe, any unsupported method not answered 405, and, through
// our own check (test/fuzz/hooks.py), any refused write that changed the node's state. Each
// run is bounded by a fixed number of examples per operation and a seed (each took 20-25 s
// on a quiet 2-core machine, up to 100 s at a load of 15; printed, not asserted).
//
// Two nodes: a set-up one (admin password, group key) fuzzed with its credentials, and one
// fresh from the box fuzzed without any (the default setup: every write must be refused and
// change nothing, the first-run step included).
import { describe, expect, test, beforeAll, afterAll } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { Core } from '../host-node/core.js';
import { Charger } from '../host-node/node/charger.js';
import { build_app } from '../host-node/node/app.js';
import { StatusStream } from '../host-node/node/ws-server.js';
import { root } from './helpers/dist.js';
import { free_port } from './helpers/node-proc.js';

const run_file = promisify(execFile);
const venv = join(root, 'build', 'schemathesis-venv');
const requirements = join(root, 'test', 'fuzz', 'requirements.txt');
const st_bin = join(venv, 'bin', 'schemathesis');
const pinned = /^schemathesis==(\S+)$/m.exec(readFileSync(requirements, 'utf8'))![1];
const seed = 20260101;
const max_examples = 20;
const password = 'fuzz-admin-password';

// Debian's python3 (with its venv module) when present, else the python3 on PATH.
function ensure_schemathesis(): void {
  if (existsSync(st_bin)) {
    const version = execFileSync(st_bin, ['--version'], { encoding: 'utf8' });
    if (version.includes(pinned)) return;
  }
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  if (python === '/usr/bin/python3') {
    execFileSync('bash', [join(root, 'scripts', 'ensure-system-packages.sh'), 'python3-venv'], { stdio: 'inherit', timeout: 600000 });
  }
  rmSync(venv, { recursive: true, force: true });
  execFileSync(python, ['-m', 'venv', venv], { stdio: 'inherit', timeout: 120000 });
  execFileSync(join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '-r', requirements], { stdio: 'inherit', timeout: 600000 });
}

interface Node { charger: Charger; app: FastifyInstance; stream: StatusStream; base: string; dir: string }

async function start(id: string, config: Record<string, unknown> | undefined, failures_max?: number): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), `loadshare-fuzz-${id}-`));
  const port = await free_port();
  const charger = await Charger.create({ id, host: '127.0.0.1', http_port: port, data_dir: dir, core: await Core.load(), mdns: false, config_overrides: config });
  // The set-up node allows many failed sign-ins: Schemathesis's auth check sends wrong
  // credentials on purpose, once per operation (the limit itself is tested in node-security).
  const app = await build_app(charger, failures_max === undefined ? {} : { login_limit: { failures_max } });
  const stream = new StatusStream(app.server, charger);
  await app.listen({ host: '127.0.0.1', port });
  charger.start();
  return { charger, app, stream, base: `http://127.0.0.1:${port}`, dir };
}

async function stop(node: Node | undefined): Promise<void> {
  if (!node) return;
  await node.charger.stop();
  node.stream.close();
  await node.app.close();
  rmSync(node.dir, { recursive: true, force: true });
}

// One bounded run; resolves with its exit code and output.
async function fuzz(base: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const report = mkdtempSync(join(tmpdir(), 'loadshare-st-'));
  try {
    const { stdout, stderr } = await run_file(st_bin, [
      'run', `${base}/openapi.json`, '--checks', 'all',
      // A schema cannot say "peer-assumed ≥ safe current", "not this charger", "a module
      // signed by a trusted key": valid-looking requests are refused with 400 by design.
      '--exclude-checks', 'positive_data_acceptance',
      '--max-examples', String(max_examples), '--seed', String(seed), '--workers', '1',
      '--request-timeout', '10', '--report-dir', report, '--no-color', ...args,
    ], { cwd: report, env: { ...process.env, SCHEMATHESIS_HOOKS: join(root, 'test', 'fuzz', 'hooks.py'), LOADSHARE_FUZZ_BASE: base, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 120000 });
    return { code: 0, out: `${stdout}\n${stderr}` };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}\n${e.stderr ?? ''}` };
  } finally {
    rmSync(report, { recursive: true, force: true });
  }
}

function generated(out: string): number {
  return Number(/(\d+) generated/.exec(out)?.[1] ?? 0);
}

// The phases and their times, for the log.
function phases(out: string): string {
  return out.split('\n').filter((l) => /^\s*(✅|❌|⏭)\s+(Examples|Coverage|Fuzzing|Stateful) \(in /.test(l)).map((l) => l.trim().replace(/\s+/g, ' ')).join('; ');
}

let set_up: Node | undefined;
let fresh: Node | undefined;

beforeAll(async () => {
  ensure_schemathesis();
  set_up = await start('fuzz-a', { www_username: 'admin', www_password: password, loadsharing_enabled: true, loadsharing_group_key: 'the fuzzed group key, 32 chars' }, 100000);
  fresh = await start('fuzz-b', undefined);
}, 900000);

afterAll(async () => {
  await stop(set_up);
  await stop(fresh);
});

describe('the API holds up to its OpenAPI document under Schemathesis', () => {
  test('a set-up node, with its credentials: no 5xx, every answer as documented, refused writes change nothing', async () => {
    const started_ms = Date.now();
    // Joining generated host names would send DNS queries off this machine: the join route is
    // fuzzed without credentials below (refused before it does anything) and tested on loopback elsewhere.
    const result = await fuzz(set_up!.base, ['--auth', `admin:${password}`, '--exclude-operation-id', 'post_loadsharing_peers'],
      { LOADSHARE_FUZZ_DROP_KEYS: 'www_username,www_password' });
    const took_ms = Date.now() - started_ms;
    console.log(`schemathesis (set-up node): ${generated(result.out)} test cases in ${took_ms} ms (${phases(result.out)})`);
    expect(result.code, result.out.slice(-6000)).toBe(0);
    expect(generated(result.out)).toBeGreaterThan(200);
    // Still the same password: the fuzzer never changed it (nor locked itself out).
    const still = await set_up!.app.inject({ method: 'POST', url: '/config', payload: { loadsharing_priority: 7 }, headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } });
    expect(still.statusCode).toBe(200);
  }, 600000);

  test('a fresh node, without credentials: every write but the simulated car is refused and changes nothing', async () => {
    const before = (await fresh!.app.inject({ method: 'GET', url: '/config' })).json();
    const started_ms = Date.now();
    const result = await fuzz(fresh!.base, []);
    const took_ms = Date.now() - started_ms;
    console.log(`schemathesis (fresh node): ${generated(result.out)} test cases in ${took_ms} ms (${phases(result.out)})`);
    expect(result.code, result.out.slice(-6000)).toBe(0);
    expect(generated(result.out)).toBeGreaterThan(200);
    const after = (await fresh!.app.inject({ method: 'GET', url: '/config' })).json();
    expect(after).toEqual(before);
    expect((await fresh!.app.inject({ method: 'GET', url: '/setup' })).json().admin_password_set).toBe(false);
  }, 600000);
});
