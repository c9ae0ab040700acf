// Three (or more) real `loadshare node` processes on 127.0.0.1 for the browser tests: free
// ports, temporary data dirs, mDNS off, short heartbeat timeouts. Waits poll real state
// (HTTP answers, log lines), never fixed sleeps.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface UiNode {
  id: string;
  port: number;
  base: string;
  host: string; // host:port, as peers name it
  data_dir: string;
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

function newest_ms(dir: string, ext: string): number {
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

// npm test builds everything first; a test file run alone rebuilds what is stale.
export function ensure_built(): void {
  if (newest_ms(join(root, 'dist', 'host-node'), '.js') < newest_ms(join(root, 'host-node'), '.ts')) {
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
  }
  const built_ms = existsSync(join(root, 'build', 'ui', 'index.html')) ? statSync(join(root, 'build', 'ui', 'index.html')).mtimeMs : 0;
  if (built_ms < Math.max(newest_ms(join(root, 'ui', 'src'), ''), statSync(join(root, 'ui', 'index.html')).mtimeMs)) {
    execFileSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(root, 'ui', 'vite.config.ts')], { cwd: root, stdio: 'inherit' });
  }
}

export async function free_port(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export async function wait_for(check: () => boolean | Promise<boolean>, timeout_ms: number, what: string): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    try { if (await check()) return; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout_ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function start_node(id: string, config: Record<string, unknown>, port?: number, data_dir?: string): Promise<UiNode> {
  const p = port ?? await free_port();
  const dir = data_dir ?? mkdtempSync(join(tmpdir(), `loadshare-ui-${id}-`));
  const config_file = join(dir, '..', `${dir.split('/').pop()}.config.json`);
  writeFileSync(config_file, JSON.stringify(config));
  const child = spawn(process.execPath, [join(root, 'bin', 'loadshare.js'), 'node', '--id', id, '--http-port', String(p),
    // Report-only config (no sync): the page's tests show a config difference between chargers
    // (docs/config-sync.md); with sync on, a change would reach the others within a second.
    '--host', '127.0.0.1', '--data-dir', dir, '--no-mdns', '--no-config-sync', '--config', config_file], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const node: UiNode = { id, port: p, base: `http://127.0.0.1:${p}`, host: `127.0.0.1:${p}`, data_dir: dir, child, lines, exited };
  await wait_for(() => lines.some((l) => l.includes('listening on')) || child.exitCode !== null, 20000, `${id} to listen`);
  if (child.exitCode !== null) throw new Error(`${id} exited ${child.exitCode}:\n${lines.join('\n')}`);
  return node;
}

export async function stop_node(node: UiNode, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill(signal);
  await node.exited;
}

export function remove_dirs(nodes: UiNode[]): void {
  for (const n of nodes) {
    rmSync(n.data_dir, { recursive: true, force: true });
    rmSync(`${n.data_dir}.config.json`, { force: true });
  }
}

export async function http(node: UiNode, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${node.base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(3000),
  });
  const text = await response.text();
  let json: unknown = null;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: response.status, json };
}
