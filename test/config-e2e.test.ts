// Three real `loadshare node` processes on loopback sharing a group key: a change made on any
// of them reaches all three; a member stopped during a change catches up when it restarts;
// forged pushes (unsigned, wrong key, replayed) from the LAN are refused and change nothing;
// the key appears in no response and no log line.
import { describe, expect, test, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensure_dist } from './helpers/dist.js';
import { free_port, start_node, stop_node, wait_until, http, type NodeProc } from './helpers/node-proc.js';
import { GroupAuth } from '../host-node/station/peer-auth.js';

const key = 'e2e group key, sixteen+ chars';
const config = { loadsharing_group_id: 'garage', loadsharing_heartbeat_timeout: 5, loadsharing_group_key: key };
const ids = ['a', 'b', 'c'];
let work: string;
const nodes = new Map<string, NodeProc>();
const ports = new Map<string, number>();
const host_of = (id: string) => `127.0.0.1:${ports.get(id)}`;
const logs = () => [...nodes.values()].map((p) => `--- ${p.id}\n${p.lines.slice(-30).join('\n')}`).join('\n');
const cfg = async (id: string) => (await http(nodes.get(id)!.base, 'GET', '/config')).json;
const ls = async (id: string) => (await http(nodes.get(id)!.base, 'GET', '/loadsharing/status')).json;

async function launch(id: string): Promise<NodeProc> {
  const peers = ids.filter((x) => x !== id).flatMap((x) => ['--peer', host_of(x)]);
  const p = await start_node({ id, port: ports.get(id)!, data_dir: join(work, id), config, extra_args: ['--no-mdns', ...peers] });
  nodes.set(id, p);
  return p;
}

let last_seen = '';
async function converged(max_a: number, on: string[] = ids): Promise<void> {
  await wait_until(async () => {
    const cs = await Promise.all(on.map(cfg));
    const ss = await Promise.all(on.map(ls));
    last_seen = JSON.stringify(ss.map((s, i) => ({ id: on[i], v: cs[i].loadsharing_config_version, max: cs[i].loadsharing_group_max_current, consistent: s.config_consistent, issues: s.config_issues, sync: s.config_sync })), null, 1);
    // With a member down, its last status (older config) is still reported: only the live
    // members' own configs are compared then.
    const whole = on.length === ids.length;
    return cs.every((c) => c.loadsharing_group_max_current === max_a && c.loadsharing_config_version === cs[0].loadsharing_config_version)
      && ss.every((s) => s.config_hash === ss[0].config_hash && (!whole || (s.config_consistent && s.effective_limit === max_a)));
  }, 20000, `all at ${max_a} A, one version, one hash`, () => `${logs()}\n${last_seen}`);
}

beforeAll(async () => {
  ensure_dist();
  work = mkdtempSync(join(tmpdir(), 'loadshare-cfg-e2e-'));
  for (const id of ids) ports.set(id, await free_port());
  for (const id of ids) await launch(id);
});

afterAll(async () => {
  for (const p of nodes.values()) await stop_node(p);
  rmSync(work, { recursive: true, force: true });
});

describe('three processes, one keyed group', () => {
  test('a change on any node reaches every node', async () => {
    await converged(32);
    expect((await http(nodes.get('b')!.base, 'POST', '/config', { loadsharing_group_max_current: 40 })).status).toBe(200);
    await converged(40);
    expect((await cfg('a')).loadsharing_config_origin).toBe('b');
    expect((await http(nodes.get('c')!.base, 'POST', '/config', { loadsharing_group_max_current: 36 })).status).toBe(200);
    await converged(36);
    expect((await cfg('a')).loadsharing_config_origin).toBe('c');
  });

  test('a node down during a change catches up when it comes back', async () => {
    await stop_node(nodes.get('c')!);
    expect((await http(nodes.get('a')!.base, 'POST', '/config', { loadsharing_group_max_current: 30 })).status).toBe(200);
    await converged(30, ['a', 'b']);
    await wait_until(async () => (await ls('a')).config_sync.members.find((m: any) => m.host === host_of('c'))?.state === 'retrying', 10000, 'a retrying c', logs);
    await launch('c');
    await converged(30);
  });

  test('forged pushes are refused and change nothing; the key is in no response and no log line', async () => {
    const base = nodes.get('a')!.base;
    const before = await cfg('a');
    const forged = {
      loadsharing_group_id: 'garage', loadsharing_group_max_current: 200, loadsharing_safety_factor: 1, loadsharing_heartbeat_timeout: 5,
      loadsharing_failsafe_mode: 'safe_current', loadsharing_failsafe_safe_current: 6, loadsharing_failsafe_peer_assumed_current: 6,
      loadsharing_rotation_interval: 1800, loadsharing_config_version: before.loadsharing_config_version + 100,
      loadsharing_config_updated_at: 2000000000, loadsharing_config_origin: 'b', loadsharing_members: before.loadsharing_members,
    };
    const text = JSON.stringify(forged);
    expect((await http(base, 'POST', '/config', text)).status).toBe(401);
    const wrong = new GroupAuth('not the key, but long', { now_ms: () => Date.now() }).sign_request('POST', '/config', text, 'b', 'a');
    expect((await http(base, 'POST', '/config', text, wrong.headers)).status).toBe(403);
    // A valid signature on other bytes (a captured push, edited): refused.
    const right = new GroupAuth(key, { now_ms: () => Date.now() });
    const captured = right.sign_request('POST', '/config', text.replace('200', '20'), 'b', 'a');
    expect((await http(base, 'POST', '/config', text, captured.headers)).status).toBe(403);
    // A captured valid push replayed: the first copy is taken (it was genuine), the replay refused.
    const genuine_text = JSON.stringify({ ...forged, loadsharing_group_max_current: 31, loadsharing_config_version: before.loadsharing_config_version + 1, loadsharing_config_updated_at: before.loadsharing_config_updated_at + 1 });
    const genuine = right.sign_request('POST', '/config', genuine_text, 'b', 'a');
    expect((await http(base, 'POST', '/config', genuine_text, genuine.headers)).status).toBe(200);
    const replay = await http(base, 'POST', '/config', genuine_text, genuine.headers);
    expect(replay.status).toBe(403);
    expect(replay.json.msg).toMatch(/replayed/);
    expect((await cfg('a')).loadsharing_group_max_current).toBe(31);
    await converged(31);
    for (const id of ids) {
      for (const path of ['/config', '/status', '/loadsharing/status', '/loadsharing/peers']) {
        expect((await http(nodes.get(id)!.base, 'GET', path)).text).not.toContain(key);
      }
      expect(nodes.get(id)!.lines.join('\n')).not.toContain(key);
    }
    expect((await ls('a')).auth.rejected_total).toBeGreaterThanOrEqual(3);
  });
});
