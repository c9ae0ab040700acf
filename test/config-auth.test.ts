// The group key between real chargers on loopback: a keyed group syncs over signed status,
// signed frames and signed pushes; a charger with the wrong key (a forger on the LAN serving a
// "higher version, 100 A" config and status) changes nothing: no adoption, no allocation from
// its data (it stays offline), its pushes are refused, and every refusal is counted.
import { describe, expect, test, beforeAll, afterEach } from 'vitest';
import WebSocket from 'ws';
import { Core } from '../host-node/core.js';
import { Fleet, get, post, until, type Live } from './helpers/chargers.js';

let core: Core;
let fleet: Fleet;
beforeAll(async () => { core = await Core.load(); });
afterEach(async () => { await fleet?.close(); });

const key = 'the group key of the garage';
const group = { loadsharing_group_id: 'garage', loadsharing_heartbeat_timeout: 5 };
const cfg = async (l: Live) => await get(l, '/config');
const ls = async (l: Live) => await get(l, '/loadsharing/status');

describe('a keyed group', () => {
  test('syncs over signed traffic; a wrong-key charger is kept offline, never adopted, its pushes refused', async () => {
    fleet = new Fleet(core);
    const [pa, pb, px] = [await fleet.port(), await fleet.port(), await fleet.port()];
    const h = (p: number) => `127.0.0.1:${p}`;
    const a = await fleet.make('a', { peers: [h(pb), h(px)], config_overrides: { ...group, loadsharing_group_key: key } }, pa);
    const b = await fleet.make('b', { peers: [h(pa), h(px)], config_overrides: { ...group, loadsharing_group_key: key } }, pb);
    // The forger: a real charger with another key, a far newer config and a 100 A limit.
    const x = await fleet.make('x', {
      peers: [h(pa)],
      stored_config: { ...group, loadsharing_group_max_current: 100, loadsharing_config_version: 50, loadsharing_config_updated_at: 1900000000, loadsharing_config_origin: 'x', loadsharing_group_key: 'a guessed wrong key!!' },
    }, px);

    await until('a and b consistent, b online in a', async () => {
      const s = await ls(a);
      return s.config_consistent === false // x's refusals are an issue...
        && s.allocations.find((al: any) => al.id === 'b')?.online === true
        && s.config_issues.some((i: any) => i.issue === 'auth_failed');
    }, [a, b, x]);
    // b's update reaches a over the signed push.
    expect((await post(b, '/config', { loadsharing_group_max_current: 28 })).status).toBe(200);
    await until('a has 28 A', async () => (await cfg(a)).loadsharing_group_max_current === 28, [a, b]);
    await until('a and b at 28 A effective', async () => (await ls(a)).effective_limit === 28 && (await ls(b)).effective_limit === 28, [a, b]);
    // x's update: its push to a is refused (403), a is unchanged.
    expect((await post(x, '/config', { loadsharing_group_max_current: 99 })).status).toBe(200);
    await until('x sees its push refused', async () => {
      const m = (await ls(x)).config_sync.members.find((mm: any) => mm.host === a.host);
      return m?.state === 'refused' && /^403/.test(m.last_error ?? '');
    }, [a, x]);
    const sa = await ls(a);
    expect((await cfg(a)).loadsharing_group_max_current).toBe(28);
    expect((await cfg(a)).loadsharing_config_version).toBeLessThan(50);
    // x's data never reached a's engine: it is offline there (reserved, not trusted).
    const xa = sa.allocations.find((al: any) => al.id !== 'a' && al.id !== 'b');
    expect(xa.online).toBe(false);
    expect(sa.effective_limit).toBe(28);
    const xm = sa.config_sync.members.find((mm: any) => mm.host === x.host);
    expect(xm.auth_failures).toBeGreaterThan(0);
    expect(xm.last_auth_failure).toMatch(/signature|not signed/);
    expect(sa.auth.mode).toBe('hmac-sha256');
    expect(sa.auth.rejected_total).toBeGreaterThan(0);
    // Nobody logged a key.
    for (const l of [a, b, x]) {
      expect(l.lines.join('\n')).not.toContain(key);
      expect(l.lines.join('\n')).not.toContain('a guessed wrong key!!');
    }
  });

  test('a browser (unsigned /ws client) still gets plain frames; a keyless peer stays offline for a keyed charger', async () => {
    fleet = new Fleet(core);
    const [pa, pb] = [await fleet.port(), await fleet.port()];
    const a = await fleet.make('a', { peers: [`127.0.0.1:${pb}`], config_overrides: { ...group, loadsharing_group_key: key } }, pa);
    const b = await fleet.make('b', { peers: [`127.0.0.1:${pa}`], config_overrides: { ...group, loadsharing_group_max_current: 20 } }, pb);
    const ws = new WebSocket(`ws://127.0.0.1:${pa}/ws`);
    const frames: any[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await until('a plain frame', () => frames.length > 0, [a]);
    expect(frames[0].loadsharing.id).toBe('a');
    expect(frames[0].ls_sig).toBeUndefined();
    ws.close();
    await until('a refuses b (unsigned)', async () => ((await ls(a)).config_sync.members.find((m: any) => m.host === b.host)?.auth_failures ?? 0) >= 2, [a, b]);
    const s = await ls(a);
    expect(s.allocations.find((al: any) => al.id !== 'a').online).toBe(false);
    expect((await cfg(a)).loadsharing_group_max_current).toBe(32);
  });

  test('a key set at runtime: the peer goes offline until it has the same key, then comes back', async () => {
    fleet = new Fleet(core);
    const [pa, pb] = [await fleet.port(), await fleet.port()];
    const a = await fleet.make('a', { peers: [`127.0.0.1:${pb}`], config_overrides: group }, pa);
    const b = await fleet.make('b', { peers: [`127.0.0.1:${pa}`], config_overrides: group }, pb);
    const b_online_in_a = async () => (await ls(a)).allocations.find((al: any) => al.id === 'b')?.online === true;
    const a_online_in_b = async () => (await ls(b)).allocations.find((al: any) => al.id === 'a')?.online === true;
    await until('online both ways (no key)', async () => await b_online_in_a() && await a_online_in_b(), [a, b]);
    expect((await post(a, '/config', { loadsharing_group_key: key })).status).toBe(200);
    await until('b offline in a (b has no key)', async () => !(await b_online_in_a()), [a, b]);
    expect((await post(b, '/config', { loadsharing_group_key: key })).status).toBe(200);
    await until('online both ways again (same key)', async () => await b_online_in_a() && await a_online_in_b(), [a, b], 20000);
    // And sync works over the new signed links.
    expect((await post(a, '/config', { loadsharing_group_max_current: 24 })).status).toBe(200);
    await until('b has 24 A', async () => (await cfg(b)).loadsharing_group_max_current === 24, [a, b]);
  });
});
