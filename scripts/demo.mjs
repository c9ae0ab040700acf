#!/usr/bin/env node
// npm start: three chargers on 127.0.0.1:8001-8003 form one 32 A group through the peers API,
// two cars plug in, and a summary line shows how the 32 A are shared. Ctrl-C stops them all.
// Data lives in a temporary folder that is removed on exit.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'dist/host-node/cli.js'))) {
  console.error('demo: dist/ is missing; run `npm ci` (or `npm run build`) first');
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), 'loadshare-demo-'));
const config_file = join(work, 'group.json');
// No default password (docs/security.md): the demo's chargers get a fresh random one each run,
// the same on all three (until peers authenticate by the group key alone, a join is passed on
// with the joining charger's credentials), and load sharing on, as an installer leaves them.
const admin = { user: 'admin', password: randomBytes(9).toString('base64url') };
writeFileSync(config_file, JSON.stringify({
  www_username: admin.user, www_password: admin.password, loadsharing_enabled: true,
  loadsharing_group_id: 'demo', loadsharing_group_max_current: 32, loadsharing_heartbeat_timeout: 10,
}), { mode: 0o600 });
const authorization = `Basic ${Buffer.from(`${admin.user}:${admin.password}`).toString('base64')}`;
const chargers = [1, 2, 3].map((n) => ({ id: `charger-${n}`, port: 8000 + n }));

// Hot swap in the demo: a throwaway signing key (never a production key) that the chargers
// trust, and the second policy module packed with it, ready to push.
const { generate_keys, load_private_key, pack } = await import(join(root, 'dist/host-node/modules/package.js'));
const keys = generate_keys();
const public_key_file = join(work, 'demo-module-signing.pub.pem');
writeFileSync(public_key_file, keys.public_pem);
const package_file = join(work, 'priority-first.lspk');
const priority_first_wasm = join(root, 'build/loadsharing-priority-first.wasm');
if (existsSync(priority_first_wasm)) {
  writeFileSync(package_file, pack(readFileSync(priority_first_wasm), { counter: 2, version: '1.1-priority-first', policy: 'priority_first' }, load_private_key(keys.private_pem)));
}
const children = [];
let stopping = false;

function stop(code) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  Promise.all(children.map((c) => c.exitCode !== null ? null : new Promise((r) => c.once('exit', r)))).then(() => {
    rmSync(work, { recursive: true, force: true });
    process.exit(code);
  });
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

const base = (c) => `http://127.0.0.1:${c.port}`;
async function call(c, method, path, body) {
  const headers = { ...(method === 'GET' ? {} : { authorization }), ...(body ? { 'content-type': 'application/json' } : {}) };
  const r = await fetch(`${base(c)}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (!r.ok) throw new Error(`${c.id}: ${method} ${path} answered ${r.status}: ${(await r.text()).slice(0, 200)}`);
  return r.json();
}

function launch(c) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bin/loadshare.js'), 'node', '--id', c.id, '--http-port', String(c.port), '--data-dir', join(work, c.id), '--config', config_file, '--no-mdns', '--module-key', public_key_file], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let ready = false;
    const relay = (chunk) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        if (!ready && line.includes('listening on')) { ready = true; resolve(); }
        process.stdout.write(`${line}\n`);
      }
    };
    child.stdout.on('data', relay);
    child.stderr.on('data', relay);
    child.on('exit', (code) => {
      if (!ready) reject(new Error(`${c.id} exited (${code}) before listening; is port ${c.port} free?`));
      else if (!stopping) { console.error(`demo: ${c.id} exited (${code})`); stop(1); }
    });
  });
}

try {
  await Promise.all(chargers.map(launch));
  await call(chargers[0], 'POST', '/loadsharing/peers', { host: `127.0.0.1:${chargers[1].port}` });
  await call(chargers[0], 'POST', '/loadsharing/peers', { host: `127.0.0.1:${chargers[2].port}` });
  await call(chargers[1], 'POST', '/loadsharing/peers', { host: `127.0.0.1:${chargers[2].port}` });
  await call(chargers[0], 'POST', '/sim/ev', { connected: true, soc: 30 });
  await call(chargers[1], 'POST', '/sim/ev', { connected: true, soc: 55 });
} catch (error) {
  console.error(`demo: ${error.message}`);
  stop(1);
}

console.log('\nloadshare demo: three chargers, one 32 A group, cars on charger-1 and charger-2');
console.log(`  the Load Sharing page: ${base(chargers[0])}/  (any charger's address shows the group)`);
console.log(`  to change settings, sign in when the browser asks: user ${admin.user}, password ${admin.password}`);
for (const c of chargers) console.log(`  ${c.id}: ${base(c)}/status  ${base(c)}/loadsharing/status  ws://127.0.0.1:${c.port}/ws`);
console.log(`  plug in the third car:  curl -X POST ${base(chargers[2])}/sim/ev -H 'content-type: application/json' -d '{"connected":true}'`);
if (existsSync(package_file)) {
  console.log(`  swap in the priority-first module (signed with a throwaway demo key):`);
  for (const c of chargers) console.log(`    npx loadshare module push ${package_file} --to 127.0.0.1:${c.port} --user ${admin.user} --password ${admin.password}`);
  console.log(`    then see ${base(chargers[0])}/loadsharing/module`);
}
console.log('  Ctrl-C stops all three\n');

setInterval(async () => {
  if (stopping) return;
  try {
    const docs = await Promise.all(chargers.map((c) => call(c, 'GET', '/status')));
    const parts = docs.map((d, i) => `${chargers[i].id} ${(d.amp / 1000).toFixed(1)} A (limit ${d.loadsharing.applied_current} A)`);
    const sum_a = docs.reduce((s, d) => s + d.amp / 1000, 0);
    console.log(`[demo] ${parts.join(' | ')} | sum ${sum_a.toFixed(1)} / 32 A`);
  } catch { /* a charger is restarting */ }
}, 5000);
