// mDNS for real: two `loadshare node` processes in two network namespaces joined by a veth
// pair (made and removed here, as root). Each advertises _openevse._tcp and browses; each must
// find the other (not itself, once), and a group can then be formed from the discovered host.
// Where network namespaces cannot be made, the test reports itself skipped with the reason.
import { describe, expect, test, beforeAll, afterAll } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensure_dist, root } from './helpers/dist.js';
import { start_node, stop_node, wait_until, type NodeProc } from './helpers/node-proc.js';
import { admin, with_admin } from './helpers/admin.js';

const tag = String(process.pid % 100000);
const ns = [`lsh-${tag}-1`, `lsh-${tag}-2`];
const veth = [`lsv${tag}a`, `lsv${tag}b`];
const addr = ['10.231.0.1', '10.231.0.2'];
const port = 8080;

function sh(args: string[]): void {
  execFileSync(args[0], args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
}

function netns_unavailable(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const tools = spawnSync('bash', [join(root, 'scripts/ensure-system-packages.sh'), 'iproute2'], { encoding: 'utf8' });
  if (tools.status !== 0) return `ip is missing and could not be installed: ${tools.stderr.trim()}`;
  const probe = `lsh-${tag}-probe`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.status !== 0) return `ip netns add failed: ${(add.stderr || add.error?.message || '').trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

const reason = netns_unavailable();
if (reason) console.log(`node-mdns: skipped: ${reason}`);

let work: string;
const nodes: NodeProc[] = [];

// An HTTP request from inside a namespace (the test itself runs outside both).
function ns_http(index: number, method: string, path: string, body?: unknown): { status: number; json: any } {
  const headers = with_admin(method, body ? { 'content-type': 'application/json' } : {});
  const script = `fetch(${JSON.stringify(`http://${addr[index]}:${port}${path}`)}, ${JSON.stringify({ method, headers, body: body ? JSON.stringify(body) : undefined })})` +
    '.then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, text: await r.text() })))' +
    '.catch((e) => { process.stdout.write(JSON.stringify({ status: 0, text: String(e) })); })';
  const out = execFileSync('ip', ['netns', 'exec', ns[index], process.execPath, '-e', script], { encoding: 'utf8', timeout: 10000 });
  const r = JSON.parse(out) as { status: number; text: string };
  let json: any = null;
  try { json = JSON.parse(r.text); } catch { /* not JSON */ }
  return { status: r.status, json };
}

describe.skipIf(reason !== null)(`mDNS across network namespaces${reason ? ` (skipped: ${reason})` : ''}`, () => {
  beforeAll(async () => {
    ensure_dist();
    work = mkdtempSync(join(tmpdir(), 'loadshare-mdns-'));
    for (const n of ns) sh(['ip', 'netns', 'add', n]);
    sh(['ip', 'link', 'add', veth[0], 'netns', ns[0], 'type', 'veth', 'peer', 'name', veth[1], 'netns', ns[1]]);
    for (let i = 0; i < 2; i++) {
      sh(['ip', '-n', ns[i], 'link', 'set', 'lo', 'up']);
      sh(['ip', '-n', ns[i], 'addr', 'add', `${addr[i]}/24`, 'dev', veth[i]]);
      sh(['ip', '-n', ns[i], 'link', 'set', veth[i], 'up', 'multicast', 'on']);
      // Multicast (224.0.0.251) leaves by the veth: there is no default route in here.
      sh(['ip', '-n', ns[i], 'route', 'add', '224.0.0.0/4', 'dev', veth[i]]);
    }
    for (let i = 0; i < 2; i++) {
      nodes.push(await start_node({
        id: `m${i + 1}`, port, host: addr[i], data_dir: join(work, `m${i + 1}`),
        extra_args: ['--mdns-interval', '2'], config: { hostname: `charger-m${i + 1}`, loadsharing_heartbeat_timeout: 5 },
        command_prefix: ['ip', 'netns', 'exec', ns[i]],
      }));
    }
  });

  afterAll(async () => {
    await Promise.all(nodes.map((p) => stop_node(p)));
    for (const n of ns) spawnSync('ip', ['netns', 'del', n]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('each finds the other (itself never, each peer once), then they join through the discovered host', async () => {
    const logs = () => nodes.map((p) => p.lines.slice(-20).join('\n')).join('\n---\n');
    expect(ns_http(0, 'POST', '/loadsharing/discover').json).toEqual({ msg: 'done' });
    for (let i = 0; i < 2; i++) {
      const other = 1 - i;
      await wait_until(() => {
        const list = ns_http(i, 'GET', '/loadsharing/peers').json as Array<{ id: string; host: string; joined: boolean; name: string }>;
        return list.some((p) => p.id === `m${other + 1}` && p.host === `${addr[other]}:${port}` && !p.joined && p.name === `charger-m${other + 1}`);
      }, 20000, `m${i + 1} to discover m${other + 1}`, logs);
    }
    for (let i = 0; i < 2; i++) {
      const list = ns_http(i, 'GET', '/loadsharing/peers').json as Array<{ id: string }>;
      expect(list.map((p) => p.id)).toEqual([`m${2 - i}`]);
    }
    const discovered = (ns_http(0, 'GET', '/loadsharing/peers').json as Array<{ host: string }>)[0].host;
    // Pairing: the discovered charger's admin password hands it the group key.
    expect(ns_http(0, 'POST', '/loadsharing/peers', { host: discovered, username: admin.username, password: admin.password }).json).toEqual({ msg: 'paired' });
    await wait_until(() => {
      for (let i = 0; i < 2; i++) {
        const b = ns_http(i, 'GET', '/status').json.loadsharing;
        if (b.seen.join() !== 'm1,m2' || b.degraded) return false;
      }
      return true;
    }, 20000, 'm1 and m2 in one group', logs);
  });
});

if (reason !== null) test.skip(`mDNS across network namespaces: skipped (${reason})`, () => {});
