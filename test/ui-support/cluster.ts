// Three (or more) real `loadshare node` processes on 127.0.0.1 for the browser tests: free
// ports, temporary data dirs, mDNS off, short heartbeat timeouts. Waits poll real state
// (HTTP answers, log lines), never fixed sleeps.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, newest_ms } from '../helpers/dist.js';
import { free_port, wait_until, start_node as start_process } from '../helpers/node-proc.js';
import { with_admin } from '../helpers/admin.js';

export { root, free_port };

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

export async function wait_for(check: () => boolean | Promise<boolean>, timeout_ms: number, what: string): Promise<void> {
  await wait_until(check, timeout_ms, what);
}

export async function start_node(id: string, config: Record<string, unknown>, port?: number, data_dir?: string, fresh = false): Promise<UiNode> {
  const p = port ?? await free_port();
  const dir = data_dir ?? mkdtempSync(join(tmpdir(), `loadshare-ui-${id}-`));
  // Report-only config (no sync): the page's tests show a config difference between chargers
  // (docs/config-sync.md); with sync on, a change would reach the others within a second.
  const proc = await start_process({ id, port: p, data_dir: dir, config, fresh, extra_args: ['--no-mdns', '--no-config-sync'] });
  return { id, port: p, base: proc.base, host: `127.0.0.1:${p}`, data_dir: dir, child: proc.child, lines: proc.lines, exited: proc.exited.then((r) => r.code) };
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

// Writes carry the test admin's credentials unless `headers` has its own authorization ('' for none).
export async function http(node: UiNode, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const response = await fetch(`${node.base}${path}`, {
    method,
    headers: with_admin(method, body === undefined ? headers : { 'content-type': 'application/json', ...headers }),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(3000),
  });
  const text = await response.text();
  let json: unknown = null;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: response.status, json };
}
