// Real `loadshare node` processes for end-to-end tests: start, talk HTTP, kill, restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './dist.js';
import { admin_config, with_admin } from './admin.js';

export interface NodeProc {
  id: string;
  host: string;
  port: number;
  data_dir: string;
  child: ChildProcess;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  base: string;
}

export async function free_port(host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  id: string;
  port: number;
  data_dir: string;
  host?: string;
  config?: Record<string, unknown>;
  fresh?: boolean; // true: no admin password (as from the box); else set up with test/helpers/admin.ts
  extra_args?: string[];
  command_prefix?: string[]; // e.g. ['ip', 'netns', 'exec', 'ns1']
}

export async function start_node(o: StartOptions): Promise<NodeProc> {
  const host = o.host ?? '127.0.0.1';
  const args = [join(root, 'bin/loadshare.js'), 'node', '--id', o.id, '--http-port', String(o.port), '--host', host, '--data-dir', o.data_dir, ...(o.extra_args ?? [])];
  const config = o.fresh ? o.config : { ...admin_config, ...o.config };
  if (config) {
    const file = join(o.data_dir + '.config.json');
    writeFileSync(file, JSON.stringify(config));
    args.push('--config', file);
  }
  const [command, ...prefix] = o.command_prefix ? [...o.command_prefix, process.execPath] : [process.execPath];
  const child = spawn(command, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = collect_lines(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const proc: NodeProc = { id: o.id, host, port: o.port, data_dir: o.data_dir, child, lines, exited, base: `http://${host}:${o.port}` };
  await wait_until(() => lines.some((l) => l.includes('listening on')), 15000, `${o.id} to listen`, () => lines.join('\n'));
  return proc;
}

// Every whole line a child writes to stdout or stderr, in order, as it arrives.
export function collect_lines(child: ChildProcess): string[] {
  const lines: string[] = [];
  let buffer = '';
  const on_data = (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
  };
  child.stdout!.on('data', on_data);
  child.stderr!.on('data', on_data);
  return lines;
}

// A wait's deadline is a hang guard for a condition that real processes reach on their own
// time, not a speed check (bench/ measures speed): it is stretched by `patience` so that a
// loaded CI machine (several suites on 2 cores) does not fail a test that would have passed a
// moment later. No test relies on a wait running out.
const patience = 3;

export async function wait_until(check: () => boolean | Promise<boolean>, given_timeout_ms: number, what: string, context?: () => string): Promise<void> {
  const timeout_ms = given_timeout_ms * patience;
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout_ms} ms waiting for ${what}${context ? `\n${context()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Writes carry the test admin's credentials unless `headers` has its own authorization ('' for none).
export async function http(base: string, method: string, path: string, body?: unknown, given_headers: Record<string, string> = {}, timeout_ms = 3000): Promise<{ status: number; json: any; text: string }> {
  const headers = with_admin(method, given_headers);
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout_ms),
  });
  const text = await response.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, json, text };
}

export async function stop_node(p: NodeProc, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  return await p.exited;
}
