// Real `loadshare node` processes for rows 4 and 5 (the bench's copy of
// test/helpers/node-proc.ts, in plain JS): start on 127.0.0.1 with --no-mdns, talk HTTP, read
// /proc figures, stop by pid. Every process started here is registered and stopped by
// stop_all(), also when a row throws.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const started = new Set();

export async function free_port(host = '127.0.0.1') {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function wait_until(check, timeout_ms, what, context) {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout_ms} ms waiting for ${what}${context ? `: ${context()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The bench's throwaway nodes are set up like an installer's (a charger fresh from the box
// refuses every write until it has an admin password: docs/security.md); writes sign in.
const admin = { www_username: 'admin', www_password: 'bench-admin-password' };
const admin_auth = `Basic ${Buffer.from(`${admin.www_username}:${admin.www_password}`).toString('base64')}`;

export async function http(base, method, path, body, timeout_ms = 3000) {
  const auth = method === 'GET' ? {} : { authorization: admin_auth };
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? auth : { 'content-type': 'application/json', ...auth },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout_ms),
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 200)}`);
  return json;
}

// o: { root, id, port, data_dir, config }
export async function start_node(o) {
  const host = '127.0.0.1';
  const config_file = `${o.data_dir}.config.json`;
  writeFileSync(config_file, JSON.stringify({ ...admin, loadsharing_enabled: true, ...o.config }));
  const args = [join(o.root, 'bin/loadshare.js'), 'node', '--id', o.id, '--http-port', String(o.port), '--host', host,
    '--data-dir', o.data_dir, '--no-mdns', '--config', config_file];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let buffer = '';
  const on_data = (chunk) => {
    buffer += chunk.toString('utf8');
    const parts = buffer.split('\n');
    buffer = parts.pop();
    lines.push(...parts);
    if (lines.length > 400) lines.splice(0, lines.length - 200);
  };
  child.stdout.on('data', on_data);
  child.stderr.on('data', on_data);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const proc = { id: o.id, host, port: o.port, pid: child.pid, child, lines, exited, base: `http://${host}:${o.port}`, address: `${host}:${o.port}` };
  started.add(proc);
  exited.then(() => started.delete(proc));
  await wait_until(() => lines.some((l) => l.includes('listening on')) || child.exitCode !== null, 15000, `${o.id} to listen`, () => lines.slice(-5).join(' / '));
  if (child.exitCode !== null) throw new Error(`${o.id} exited with ${child.exitCode}: ${lines.slice(-3).join(' / ')}`);
  return proc;
}

export async function stop_node(proc) {
  const { child } = proc;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); }, 5000);
  await proc.exited;
  clearTimeout(timer);
}

export async function stop_all() {
  await Promise.all([...started].map(stop_node));
}

let clock_ticks_per_s = null;
function clk_tck() {
  if (clock_ticks_per_s === null) {
    try { clock_ticks_per_s = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { clock_ticks_per_s = 100; }
  }
  return clock_ticks_per_s;
}

// utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15, after the comm).
export function cpu_seconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clk_tck();
}

// Resident set size in MB (VmRSS, kB in /proc/PID/status).
export function rss_mb(pid) {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) / 1024;
}
