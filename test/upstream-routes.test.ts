// Upstream's control endpoints on one charger (fastify inject, virtual clock): /override,
// /claims, /limit, /r, charge mode and service level, each asserted by its effect on the pilot
// and the state, and none able to lift the pilot over the group's limit.
import { describe, expect, test, beforeAll, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Core } from '../host-node/core.js';
import { Charger } from '../host-node/node/charger.js';
import { build_app } from '../host-node/node/app.js';
import { reply } from '../host-node/node/upstream.js';
import { admin_config, with_admin } from './helpers/admin.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { while (cleanups.length > 0) await cleanups.pop()!(); });

interface Made { charger: Charger; app: FastifyInstance; clock: { t_ms: number; now_ms(): number } }

async function make(): Promise<Made> {
  const dir = mkdtempSync(join(tmpdir(), 'loadshare-upstream-'));
  const clock = { t_ms: 1767225600000, now_ms() { return this.t_ms; } };
  const charger = await Charger.create({ id: 'a', host: '127.0.0.1', http_port: 8001, data_dir: dir, core, mdns: false, clock, car: { lag_ms: 0 }, config_overrides: admin_config });
  const app = await build_app(charger);
  cleanups.push(async () => { await charger.stop(); await app.close(); rmSync(dir, { recursive: true, force: true }); });
  charger.tick();
  return { charger, app, clock };
}

// Writes carry the test admin's credentials (a charger refuses writes without its admin password).
const call = (app: FastifyInstance, method: 'GET' | 'POST' | 'DELETE' | 'PATCH', url: string, payload?: unknown) =>
  app.inject({ method, url, payload: payload === undefined ? undefined : JSON.stringify(payload), headers: with_admin(method, payload === undefined ? {} : { 'content-type': 'application/json' }) });

async function status(m: Made): Promise<Record<string, any>> {
  m.clock.t_ms += 1000;
  m.charger.tick();
  return (await call(m.app, 'GET', '/status')).json();
}

// Virtual seconds until the status meets `ok`: an increase is the group's to give, and the
// decision module raises a charger whose car took less than offered in steps (demand cap).
async function settled(m: Made, ok: (s: Record<string, any>) => boolean, max_s = 300): Promise<Record<string, any>> {
  let s = await status(m);
  for (let i = 0; i < max_s && !ok(s); i++) s = await status(m);
  if (!ok(s)) throw new Error(`not settled after ${max_s} s: pilot ${s.pilot}, state ${s.state}, loadsharing limit ${m.charger.shaper.loadsharing_limit()}`);
  return s;
}

async function plugged(): Promise<Made> {
  const m = await make();
  await call(m.app, 'POST', '/sim/ev', { connected: true, soc: 30, max_current: 32, lag_ms: 0 });
  expect((await status(m)).pilot).toBe(32);
  return m;
}

describe('/override', () => {
  test('none: {}; set: the pilot follows and manual_override is 1; toggle releases; toggle again pauses; delete resumes', async () => {
    const m = await plugged();
    expect((await call(m.app, 'GET', '/override')).json()).toEqual({});
    const set = await call(m.app, 'POST', '/override', { state: 'active', charge_current: 12 });
    expect(set.statusCode).toBe(201);
    expect(set.json()).toEqual({ msg: 'Created' });
    let s = await status(m);
    expect(s).toMatchObject({ pilot: 12, amp: 12000, manual_override: 1, override_version: 1 });
    expect((await call(m.app, 'GET', '/override')).json()).toEqual({ state: 'active', charge_current: 12, auto_release: true });
    expect((await call(m.app, 'PATCH', '/override')).json()).toEqual({ msg: 'Updated' }); // active override: released
    s = await settled(m, (x) => x.pilot === 32);
    expect(s).toMatchObject({ pilot: 32, manual_override: 0 });
    await call(m.app, 'PATCH', '/override'); // none: one with the opposite state (pause)
    s = await status(m);
    expect(s).toMatchObject({ pilot: 0, state: 254, status: 'disabled', manual_override: 1, amp: 0 });
    expect(m.charger.engine.poll_status().demand).toBe(false); // a paused charger asks its group for nothing
    expect((await call(m.app, 'DELETE', '/override')).json()).toEqual({ msg: 'Deleted' });
    await settled(m, (x) => x.pilot === 32);
  });

  test('an override cannot lift the pilot over the group\'s limit; it can lower it below', async () => {
    const m = await plugged();
    await call(m.app, 'POST', '/config', { loadsharing_group_max_current: 10, loadsharing_failsafe_safe_current: 6 });
    expect((await status(m)).pilot).toBe(10);
    await call(m.app, 'POST', '/override', { state: 'active', charge_current: 32, max_current: 32 });
    expect((await status(m)).pilot).toBe(10);
    const target = (await call(m.app, 'GET', '/claims/target')).json();
    expect(target).toEqual({ properties: { state: 'active', charge_current: 32, max_current: 10 }, claims: { state: 65537, charge_current: 65537, max_current: 65550 } });
    await call(m.app, 'POST', '/override', { charge_current: 7 });
    expect((await status(m)).pilot).toBe(7);
  });

  test.each([
    [{ state: 'on' }, 'state must be one of "active", "disabled"'],
    [{ charge_current: '16' }, 'charge_current must be integer'],
    [{ colour: 1 }, 'unknown key colour'],
  ])('POST /override %j is refused: %s', async (body, msg) => {
    const m = await plugged();
    const r = await call(m.app, 'POST', '/override', body);
    expect(r.statusCode).toBe(400);
    expect(r.json().msg).toBe(msg);
    expect((await call(m.app, 'GET', '/override')).json()).toEqual({});
  });
});

describe('/claims', () => {
  test('claims with client ids and priorities; the highest wins; the group is listed as a claimant; release', async () => {
    const m = await plugged();
    expect((await call(m.app, 'POST', '/claims/20', { charge_current: 16 })).json()).toEqual({ msg: 'done' });
    expect((await call(m.app, 'POST', '/claims/21', { charge_current: 9, priority: 600 })).statusCode).toBe(200);
    expect((await status(m)).pilot).toBe(9);
    const list = (await call(m.app, 'GET', '/claims')).json();
    expect(list).toEqual([
      { client: 20, priority: 500, charge_current: 16 },
      { client: 21, priority: 600, charge_current: 9 },
      { client: 65550, priority: 5000, max_current: m.charger.shaper.loadsharing_limit(), auto_release: false },
    ]);
    expect(list[2].max_current).toBeGreaterThanOrEqual(9);
    expect((await call(m.app, 'GET', '/claims/21')).json()).toEqual({ priority: 600, charge_current: 9 });
    expect((await call(m.app, 'GET', '/claims/target')).json().claims).toEqual({ charge_current: 21 });
    expect((await call(m.app, 'DELETE', '/claims/21')).json()).toEqual({ msg: 'done' });
    const s = await settled(m, (x) => x.pilot === 16);
    expect(s.claims_version).toBe(3);
    expect((await call(m.app, 'DELETE', '/claims/21')).statusCode).toBe(404);
    expect((await call(m.app, 'GET', '/claims/21')).statusCode).toBe(404);
    const group = await call(m.app, 'DELETE', '/claims/65550');
    expect(group.statusCode).toBe(400);
    expect(group.json().msg).toMatch(/load-sharing limit/);
    expect((await call(m.app, 'POST', '/claims/65550', { max_current: 40 })).statusCode).toBe(400);
  });

  test('a claim with auto_release ends with the session (the car leaves)', async () => {
    const m = await plugged();
    await call(m.app, 'POST', '/claims/20', { state: 'disabled', auto_release: true });
    await call(m.app, 'POST', '/claims/22', { charge_current: 8, auto_release: false });
    expect((await status(m)).pilot).toBe(0);
    await call(m.app, 'POST', '/sim/ev', { connected: false });
    await call(m.app, 'POST', '/sim/ev', { connected: true });
    expect((await status(m)).pilot).toBe(8);
    expect((await call(m.app, 'GET', '/claims')).json().map((c: { client: number }) => c.client)).toEqual([22, 65550]);
  });

  test('bad ids, bodies and priorities are refused', async () => {
    const m = await make();
    expect((await call(m.app, 'POST', '/claims/abc', {})).json().msg).toBe('client must match pattern "^[0-9]{1,10}$"');
    expect((await call(m.app, 'POST', '/claims/0', {})).json().msg).toBe('client must be an integer from 1 to 4294967294');
    expect((await call(m.app, 'POST', '/claims/20', { priority: 5000 })).json().msg).toBe('priority must be <= 1000');
    expect((await call(m.app, 'POST', '/claims/20', { max_current: -1 })).json().msg).toBe('max_current must be >= 0');
  });
});

describe('/limit', () => {
  test('none: {}; an energy limit pauses the charger when reached and clears with the session', async () => {
    const m = await plugged();
    expect((await call(m.app, 'GET', '/limit')).json()).toEqual({});
    expect((await call(m.app, 'POST', '/limit', { type: 'energy', value: 100 })).statusCode).toBe(201);
    expect((await call(m.app, 'GET', '/limit')).json()).toEqual({ type: 'energy', value: 100, auto_release: true });
    let s = await status(m);
    expect(s).toMatchObject({ limit: true, limit_version: 1, pilot: 32 });
    // 32 A at 240 V is 7680 W: 100 Wh take about 47 s.
    for (let i = 0; i < 50; i++) await status(m);
    s = await status(m);
    expect(s.session_energy).toBeGreaterThanOrEqual(100);
    expect(s).toMatchObject({ pilot: 0, state: 254 });
    expect((await call(m.app, 'GET', '/claims/target')).json().claims.state).toBe(65542);
    // A manual override (1000) cannot overrule a reached limit (1100).
    await call(m.app, 'POST', '/override', { state: 'active' });
    expect((await status(m)).pilot).toBe(0);
    await call(m.app, 'POST', '/sim/ev', { connected: false });
    await call(m.app, 'POST', '/sim/ev', { connected: true });
    s = await settled(m, (x) => x.pilot === 32);
    expect(s).toMatchObject({ limit: false, pilot: 32 });
    expect((await call(m.app, 'DELETE', '/limit')).json()).toEqual({ msg: 'no limit' });
  });

  test('release is accepted for auto_release (python-openevse-http); range and bad values are refused', async () => {
    const m = await make();
    await call(m.app, 'POST', '/limit', { type: 'time', value: 30, release: false });
    expect((await call(m.app, 'GET', '/limit')).json()).toEqual({ type: 'time', value: 30, auto_release: false });
    expect((await call(m.app, 'DELETE', '/limit')).json()).toEqual({ msg: 'done' });
    expect((await call(m.app, 'POST', '/limit', { type: 'range', value: 100 })).json().msg).toMatch(/range/);
    expect((await call(m.app, 'POST', '/limit', { type: 'soc', value: 120 })).json().msg).toBe('value must be <= 100 for a soc limit');
    expect((await call(m.app, 'POST', '/limit', { type: 'watts', value: 1 })).statusCode).toBe(400);
    expect((await call(m.app, 'GET', '/limit')).json()).toEqual({});
  });
});

describe('/r (RAPI)', () => {
  const rapi = (m: Made, cmd: string, method: 'GET' | 'POST' = 'POST') => method === 'GET'
    ? m.app.inject({ method, url: `/r?json=1&rapi=${encodeURIComponent(cmd)}` })
    : m.app.inject({ method, url: '/r', payload: `json=1&rapi=${encodeURIComponent(cmd)}`, headers: with_admin('POST', { 'content-type': 'application/x-www-form-urlencoded' }) });

  test('$SC sets the configured maximum (volatile with V), capped by the group; $GS, $GG, $GC read; $FS/$FE/$FD pause and resume', async () => {
    const m = await plugged();
    expect((await rapi(m, '$SC 16 V')).json()).toEqual({ cmd: '$SC 16 V', ret: reply('$OK 16') });
    expect((await status(m)).pilot).toBe(16);
    expect((await call(m.app, 'GET', '/config')).json().max_current_soft).toBe(16);
    expect((await rapi(m, '$SC 40')).json().ret).toBe(reply('$NK 32')); // above the hardware: set to it, NK
    expect((await call(m.app, 'GET', '/config')).json().max_current_soft).toBe(32);
    await call(m.app, 'POST', '/config', { loadsharing_group_max_current: 10 });
    expect((await rapi(m, '$SC 20 V')).json().ret).toBe(reply('$OK 20'));
    expect((await status(m)).pilot).toBe(10); // the group's limit stays the cap
    expect((await rapi(m, '$GC', 'GET')).json().ret).toBe(reply('$OK 6 32 10 20'));
    expect((await rapi(m, '$GG', 'GET')).json().ret).toBe(reply('$OK 10000 240000'));
    expect((await rapi(m, '$GS', 'GET')).json().ret).toMatch(/^\$OK 3 \d+ 3 100\^[0-9A-F]{2}$/);
    await rapi(m, '$FS');
    let s = await status(m);
    expect(s).toMatchObject({ pilot: 0, state: 254 });
    expect((await rapi(m, '$GS', 'GET')).json().ret).toMatch(/^\$OK fe /);
    await rapi(m, '$FE');
    await settled(m, (x) => x.pilot === 10);
    await rapi(m, '$FD');
    s = await status(m);
    expect(s).toMatchObject({ pilot: 0, state: 255 });
  });

  test('checksums are checked; unknown commands are NK; $ST is blocked; a write over GET is refused', async () => {
    const m = await plugged();
    const good = reply('$GG');
    expect((await rapi(m, good, 'GET')).json().ret).toMatch(/^\$OK /);
    expect((await rapi(m, '$GG^00', 'GET')).json().ret).toBe(reply('$NK'));
    expect((await rapi(m, '$ZZ')).json().ret).toBe(reply('$NK'));
    expect((await rapi(m, '$ST 0 0 0 0')).statusCode).toBe(400);
    const write_over_get = await rapi(m, '$SC 6', 'GET');
    expect(write_over_get.statusCode).toBe(405);
    expect((await status(m)).pilot).toBe(32);
    expect((await m.app.inject({ method: 'POST', url: '/r', payload: 'json=1', headers: with_admin('POST', { 'content-type': 'application/x-www-form-urlencoded' }) })).json().msg).toBe("Missing required 'rapi' parameter");
    // Without the admin's password a RAPI write is refused like any write.
    const anonymous = await m.app.inject({ method: 'POST', url: '/r', payload: 'json=1&rapi=%24SC+6', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(anonymous.statusCode).toBe(401);
    expect((await status(m)).pilot).toBe(32);
  });
});

describe('charge mode and service level in /config', () => {
  test('eco charges from the solar surplus only, fast at full current; divert_enabled is the same switch', async () => {
    const m = await plugged();
    expect((await call(m.app, 'POST', '/config', { charge_mode: 'eco' })).json().msg).toBe('done');
    let s = await status(m);
    expect(s).toMatchObject({ divertmode: 2, pilot: 0, state: 254 }); // no solar reading: no charge
    await call(m.app, 'POST', '/status', { solar: 3000 });
    s = await settled(m, (x) => x.pilot === 12);
    expect(s).toMatchObject({ pilot: 12, charge_rate: 12 });
    await call(m.app, 'POST', '/config', { divert_enabled: false });
    s = await settled(m, (x) => x.pilot === 32);
    expect(s).toMatchObject({ divertmode: 1, pilot: 32 });
    expect((await call(m.app, 'GET', '/config')).json()).toMatchObject({ charge_mode: 'fast', divert_enabled: false });
  });

  test('service 1 caps at the L1 maximum (16 A); "A" is auto; 3 is refused', async () => {
    const m = await plugged();
    await call(m.app, 'POST', '/config', { service: 1 });
    let s = await status(m);
    expect(s).toMatchObject({ service_level: 1, pilot: 16 });
    expect((await call(m.app, 'GET', '/config')).json()).toMatchObject({ service: 1, max_current_hard: 16 });
    await call(m.app, 'POST', '/config', { service: 'A' });
    s = await settled(m, (x) => x.pilot === 32);
    expect(s).toMatchObject({ service_level: 2, pilot: 32 });
    expect((await call(m.app, 'POST', '/config', { service: 3 })).json().msg).toBe('service must be one of 0, 1, 2');
  });

  test('GET /config speaks upstream: an upstream version for clients, the loadshare version beside it', async () => {
    const m = await make();
    const c = (await call(m.app, 'GET', '/config')).json();
    expect(c).toMatchObject({ version: '5.0.0', loadshare_version: '0.1.0', min_current_hard: 6, max_current_hard: 32, max_current_soft: 32, charge_mode: 'fast', service: 0, mqtt_enabled: false });
    const s = (await call(m.app, 'GET', '/status')).json();
    expect(s).toMatchObject({ manual_override: 0, claims_version: 0, override_version: 0, limit_version: 0, limit: false, mqtt_connected: 0, loadshare_version: '0.1.0' });
  });
});
