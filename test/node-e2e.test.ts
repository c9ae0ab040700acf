// Three real `loadshare node` processes on loopback with real HTTP and WebSockets and short
// timeouts (heartbeat_timeout 5 s): they form a group through the peers API, share 32 A
// between the cars plugged in through /sim/ev, survive a SIGKILL (the others reserve and
// recompute within heartbeat_timeout), take the node back when it restarts from its stored
// peers, and a node that hears nobody degrades to the failsafe current. Throughout, a sampler
// reads every node's measured current (`amp`, mA) and the sum must stay within 32 A.
import { describe, expect, test, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { admin } from './helpers/admin.js';
import { ensure_dist } from './helpers/dist.js';
import { free_port, start_node, stop_node, wait_until, http, type NodeProc } from './helpers/node-proc.js';

const limit_ma = 32000;
const heartbeat_timeout_s = 5;
const config = { loadsharing_group_id: 'garage', loadsharing_group_max_current: 32, loadsharing_heartbeat_timeout: heartbeat_timeout_s };

let work: string;
const nodes = new Map<string, NodeProc>();
const ports = new Map<string, number>();
// Physical draw while a process is frozen (SIGSTOP): its car keeps drawing what it drew.
const last_amp_ma = new Map<string, number>();
const frozen = new Set<string>();
let sampling = true;
let peak_ma = 0;
let samples = 0;
let sampler: Promise<void>;

async function sample_forever(): Promise<void> {
  while (sampling) {
    let sum_ma = 0;
    await Promise.all([...nodes.values()].map(async (p) => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) return; // dead: its (simulated) car is gone with it
      if (!frozen.has(p.id)) {
        try {
          const r = await http(p.base, 'GET', '/status', undefined, {}, 1000);
          last_amp_ma.set(p.id, r.json.amp);
        } catch { /* keep the last reading */ }
      }
      sum_ma += last_amp_ma.get(p.id) ?? 0;
    }));
    peak_ma = Math.max(peak_ma, sum_ma);
    samples += 1;
    await new Promise((r) => setTimeout(r, 150));
  }
}

const status = async (id: string) => (await http(nodes.get(id)!.base, 'GET', '/status')).json;
const ls_status = async (id: string) => (await http(nodes.get(id)!.base, 'GET', '/loadsharing/status')).json;
const host_of = (id: string) => `127.0.0.1:${ports.get(id)}`;
const logs = () => [...nodes.values()].map((p) => `--- ${p.id}\n${p.lines.slice(-30).join('\n')}`).join('\n');

async function launch(id: string): Promise<NodeProc> {
  const p = await start_node({ id, port: ports.get(id)!, data_dir: join(work, id), config, extra_args: ['--no-mdns'] });
  nodes.set(id, p);
  return p;
}

beforeAll(async () => {
  ensure_dist();
  work = mkdtempSync(join(tmpdir(), 'loadshare-e2e-'));
  for (const id of ['a', 'b', 'c']) ports.set(id, await free_port());
  await Promise.all(['a', 'b', 'c'].map(launch));
  sampler = sample_forever();
});

afterAll(async () => {
  sampling = false;
  await sampler;
  for (const id of frozen) nodes.get(id)!.child.kill('SIGCONT');
  await Promise.all([...nodes.values()].map((p) => stop_node(p)));
  rmSync(work, { recursive: true, force: true });
});

describe('three processes, one 32 A group', () => {
  test('they form a group through the peers API (pairing: the newcomer\'s admin password hands it the group key)', async () => {
    // a creates the group (a key) and pairs b and c; the member list spreads by config sync.
    const pairing = (host: string) => ({ host, username: admin.username, password: admin.password });
    expect((await http(nodes.get('a')!.base, 'POST', '/loadsharing/peers', pairing(host_of('b')))).json).toEqual({ msg: 'paired' });
    expect((await http(nodes.get('a')!.base, 'POST', '/loadsharing/peers', pairing(host_of('c')))).json).toEqual({ msg: 'paired' });
    await wait_until(async () => {
      for (const id of ['a', 'b', 'c']) {
        const b = (await status(id)).loadsharing;
        if (b.seen.join() !== 'a,b,c' || b.degraded) return false;
      }
      return true;
    }, 15000, 'every node to see a,b,c and be healthy', logs);
    const c_peers = (await http(nodes.get('c')!.base, 'GET', '/loadsharing/peers')).json;
    expect(c_peers.map((p: { id: string }) => p.id).sort()).toEqual(['a', 'b']);
    const s = await ls_status('a');
    expect(s.config_consistent).toBe(true);
    expect(s.online_count).toBe(3);
  });

  test('two cars converge to 16 A each; the sum stays within the limit', async () => {
    for (const id of ['a', 'b']) expect((await http(nodes.get(id)!.base, 'POST', '/sim/ev', { connected: true, lag_ms: 1000 })).status).toBe(200);
    await wait_until(async () => (await status('a')).amp === 16000 && (await status('b')).amp === 16000, 30000, 'a and b to draw 16 A', logs);
    expect((await status('c')).loadsharing.applied_current).toBe(0);
    // Rule 5 in the status: a's own view and every healthy view it hears give it 16 A.
    const s = await ls_status('a');
    expect(s.self.own_view_current).toBe(16);
    expect(s.self.views).toEqual([{ id: 'b', current: 16 }, { id: 'c', current: 16 }]);
    expect(s.self.min_over_views_current).toBe(16);
    expect(peak_ma).toBeLessThanOrEqual(limit_ma);
  });

  // With config sync (docs/config-sync.md) a change on one node is pushed to the others; the
  // mismatch itself (report + smallest limit, sync off) is test/config-sync.test.ts 8.5 1+2.
  test('a config change on one node reaches the others, and the smallest limit rules', async () => {
    expect((await http(nodes.get('a')!.base, 'POST', '/config', { loadsharing_group_max_current: 30 })).json.msg).toBe('done');
    await wait_until(async () => {
      const s = await ls_status('b');
      const c = (await http(nodes.get('b')!.base, 'GET', '/config')).json;
      return s.config_consistent && s.effective_limit === 30 && c.loadsharing_group_max_current === 30;
    }, 10000, 'b to adopt a\'s config', logs);
    await wait_until(async () => (await status('a')).amp + (await status('b')).amp <= 30000, 15000, 'a + b within 30 A', logs);
    expect((await http(nodes.get('a')!.base, 'POST', '/config', { loadsharing_group_max_current: 32 })).json.msg).toBe('done');
    await wait_until(async () => {
      for (const id of ['a', 'b', 'c']) if (!(await ls_status(id)).config_consistent) return false;
      return true;
    }, 10000, 'configs consistent again', logs);
    expect(peak_ma).toBeLessThanOrEqual(limit_ma);
  });

  test('a third car: 11 + 11 + 10 A', async () => {
    await http(nodes.get('c')!.base, 'POST', '/sim/ev', { connected: true, lag_ms: 1000 });
    await wait_until(async () => {
      const amps = await Promise.all(['a', 'b', 'c'].map(async (id) => (await status(id)).amp));
      return amps.reduce((x, y) => x + y, 0) >= 31000 && amps.every((a) => a >= 10000);
    }, 40000, 'three cars sharing', logs);
    expect(peak_ma).toBeLessThanOrEqual(limit_ma);
  });

  test('SIGKILL c: a and b mark it offline and reserve for it within heartbeat_timeout', async () => {
    const killed_at = Date.now();
    await stop_node(nodes.get('c')!, 'SIGKILL');
    // The bound under test: heartbeat_timeout, plus one tick and one status read of slack.
    await wait_until(async () => {
      for (const id of ['a', 'b']) {
        const s = await ls_status(id);
        const c = s.allocations.find((x: { id: string }) => x.id === 'c');
        if (!c || c.online || c.reserved_current < 6) return false;
      }
      return true;
    }, heartbeat_timeout_s * 1000 + 2500, 'a and b to reserve for c', logs);
    expect(Date.now() - killed_at).toBeLessThanOrEqual(heartbeat_timeout_s * 1000 + 2500);
    // After the hold, the reserve is the assumed current: (32 - 6) / 2 = 13 A each.
    await wait_until(async () => (await status('a')).loadsharing.applied_current === 13 && (await status('b')).loadsharing.applied_current === 13, 30000, 'a and b at 13 A', logs);
    expect(nodes.get('a')!.lines.some((l) => l.includes('peer c offline'))).toBe(true);
    expect(peak_ma).toBeLessThanOrEqual(limit_ma);
  });

  test('c restarts, reloads its peers from disk and rejoins', async () => {
    const stored = JSON.parse(readFileSync(join(work, 'c', 'peers.json'), 'utf8'));
    expect(stored.peers.map((p: { id: string }) => p.id).sort()).toEqual(['a', 'b']);
    await launch('c');
    await wait_until(async () => {
      for (const id of ['a', 'b', 'c']) {
        const b = (await status(id)).loadsharing;
        if (b.seen.join() !== 'a,b,c' || b.degraded) return false;
      }
      return true;
    }, 40000, 'c back in the group', logs);
    // Its car was in the process that died; a and b go back to 16 A each.
    await wait_until(async () => (await status('a')).loadsharing.applied_current === 16 && (await status('b')).loadsharing.applied_current === 16, 30000, 'a and b at 16 A', logs);
    expect(peak_ma).toBeLessThanOrEqual(limit_ma);
  });

  test('a node whose links all fail degrades to the failsafe current', async () => {
    await http(nodes.get('c')!.base, 'POST', '/sim/ev', { connected: true, lag_ms: 1000 });
    await wait_until(async () => (await status('c')).amp >= 10000, 40000, 'c charging', logs);
    // Freeze a and b: their sockets stay open but go silent, the hardest failure to notice.
    for (const id of ['a', 'b']) { frozen.add(id); nodes.get(id)!.child.kill('SIGSTOP'); }
    await wait_until(async () => {
      const b = (await status('c')).loadsharing;
      return b.degraded && b.applied_current === 6;
    }, heartbeat_timeout_s * 1000 + 10000, 'c degraded at 6 A', logs);
    await wait_until(async () => (await status('c')).amp === 6000, 10000, 'c drawing 6 A', logs);
    expect(nodes.get('c')!.lines.some((l) => l.includes('degraded'))).toBe(true);
    for (const id of ['a', 'b']) { nodes.get(id)!.child.kill('SIGCONT'); frozen.delete(id); }
    await wait_until(async () => !(await status('c')).loadsharing.degraded, 40000, 'c healthy again', logs);
    expect(peak_ma).toBeLessThanOrEqual(limit_ma);
    expect(samples).toBeGreaterThan(50);
  });

  test('SIGTERM: a clean exit with the files in place', async () => {
    const b = nodes.get('b')!;
    const result = await stop_node(b, 'SIGTERM');
    expect(result.code).toBe(0);
    expect(b.lines.some((l) => l.includes('files flushed'))).toBe(true);
    expect(JSON.parse(readFileSync(join(work, 'b', 'peers.json'), 'utf8')).peers).toHaveLength(2);
    expect(JSON.parse(readFileSync(join(work, 'b', 'config.json'), 'utf8')).loadsharing_heartbeat_timeout).toBe(5);
  });
});
