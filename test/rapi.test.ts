// The RAPI controller adapter (host-node/evse/rapi.ts, docs/rapi.md): the framing, then a
// real charger node driving the RAPI controller simulator (host-node/evse/rapi-sim.ts) over
// TCP on 127.0.0.1 and over a pseudo-terminal (socat), end to end: the car plugs in, the pilot
// follows the group's decision, the supervision is set from the config and pulsed, bad
// checksums are refused and counted, a silent controller falls to its heartbeat current by
// itself while the node reports it unreachable, and everything recovers when it answers.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../host-node/core.js';
import {
  rapi_checksum, encode_command, parse_frame, RapiFrameError, LineSplitter, parse_rapi_target, RapiTargetError,
} from '../host-node/evse/rapi.js';
import { RapiControllerSim } from '../host-node/evse/rapi-sim.js';
import { Fleet, get, post, until, type Live } from './helpers/chargers.js';
import { root, ensure_dist } from './helpers/dist.js';
import { free_port, start_node, stop_node, wait_until, type NodeProc } from './helpers/node-proc.js';

describe('RAPI framing', () => {
  it('computes the XOR checksums of the firmware documentation (rapi_proc.h)', () => {
    // The examples rapi_proc.h gives with their `^xk` checksums.
    expect(rapi_checksum('$GS')).toBe('30');
    expect(rapi_checksum('$GG')).toBe('24');
    expect(rapi_checksum('$GC')).toBe('20');
    expect(rapi_checksum('$F0 1')).toBe('43');
    expect(rapi_checksum('$F0 0')).toBe('42');
    expect(rapi_checksum('$SK 0')).toBe('2C');
    expect(rapi_checksum('$ST 0 0 0 0')).toBe('23');
    expect(rapi_checksum('$GV')).toBe('35');
  });

  it('encodes commands with an optional sequence id before the checksum', () => {
    expect(encode_command('GS')).toBe('$GS^30\r');
    const line = encode_command('SC', [16, 'V'], 0x2a);
    expect(line.startsWith('$SC 16 V :2A^')).toBe(true);
    expect(line.endsWith('\r')).toBe(true);
    expect(line.slice(-3, -1)).toBe(rapi_checksum('$SC 16 V :2A'));
    expect(() => encode_command('SC', [16], 0)).toThrow(/1\.\.255/);
    expect(() => encode_command('sc')).toThrow(/command name/);
  });

  it('parses $OK / $NK replies with their sequence id and async notifications', () => {
    const ok = parse_frame(`$OK 16 :2A^${rapi_checksum('$OK 16 :2A')}`);
    expect(ok).toEqual({ kind: 'ok', name: 'OK', args: ['16'], seq_id: 0x2a });
    const nk = parse_frame(`$NK^${rapi_checksum('$NK')}`);
    expect(nk).toEqual({ kind: 'nk', name: 'NK', args: [], seq_id: null });
    const at = parse_frame(`$AT 03 03 16 0140^${rapi_checksum('$AT 03 03 16 0140')}`);
    expect(at).toEqual({ kind: 'async', name: 'AT', args: ['03', '03', '16', '0140'], seq_id: null });
    // Lower-case hex in the checksum is accepted (the firmware's htou8 accepts both).
    expect(parse_frame(`$OK 1^${rapi_checksum('$OK 1').toLowerCase()}`).args).toEqual(['1']);
  });

  it('refuses a wrong checksum, a missing one, and lines that are not RAPI', () => {
    const good = `$OK 16^${rapi_checksum('$OK 16')}`;
    const bad = good.replace('16', '17');
    expect(() => parse_frame(bad)).toThrow(RapiFrameError);
    try { parse_frame(bad); } catch (e) { expect((e as RapiFrameError).reason).toBe('checksum'); }
    try { parse_frame('$OK 16'); } catch (e) { expect((e as RapiFrameError).reason).toBe('no_checksum'); }
    expect(() => parse_frame('OK 16^00')).toThrow(/starts with \$/);
    expect(() => parse_frame('$OK^ZZ')).toThrow(/bad checksum field/);
  });

  it('splits a byte stream into lines across chunks, skips noise and bounds a line', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l), 24);
    s.push('garbage$OK 1');
    s.push('^20\r\n$AT 01');
    s.push(' 01 6 0000^00\r');
    s.push('$' + 'x'.repeat(40) + '\r$GS^30\r');
    expect(lines).toEqual(['$OK 1^20', '$AT 01 01 6 0000^00', '$GS^30']);
    expect(s.dropped).toBe(1);
  });

  it('parses --controller targets and refuses bad ones with a sentence', () => {
    expect(parse_rapi_target('rapi:/dev/ttyUSB0')).toEqual({ kind: 'serial', path: '/dev/ttyUSB0' });
    expect(parse_rapi_target('rapi:tcp://192.168.1.20:23')).toEqual({ kind: 'tcp', host: '192.168.1.20', port: 23 });
    expect(parse_rapi_target('rapi:tcp://[::1]:2323')).toEqual({ kind: 'tcp', host: '::1', port: 2323 });
    for (const bad of ['serial:/dev/ttyUSB0', 'rapi:', 'rapi:dev/tty', 'rapi:tcp://evse.local:23', 'rapi:tcp://10.0.0.1', 'rapi:tcp://10.0.0.1:70000']) {
      expect(() => parse_rapi_target(bad), bad).toThrow(RapiTargetError);
    }
  });
});

describe('RAPI controller simulator (the firmware semantics the adapter relies on)', () => {
  const send = (sim: RapiControllerSim, cmd: string, args: Array<string | number> = []) => {
    const answer = sim.handle_line(encode_command(cmd, args, 7).slice(0, -1))!;
    return parse_frame(answer.slice(0, -1));
  };

  it('answers with checksums, echoes sequence ids, refuses bad checksums, clamps $SC', () => {
    const sim = new RapiControllerSim({ now_ms: () => 0 });
    expect(send(sim, 'GC')).toMatchObject({ kind: 'ok', args: ['6', '32', '32', '32'], seq_id: 7 });
    expect(send(sim, 'SC', [16, 'V'])).toMatchObject({ kind: 'ok', args: ['16'] });
    // Below the minimum the firmware sets its minimum and says $NK: never a way to pause.
    expect(send(sim, 'SC', [3, 'V'])).toMatchObject({ kind: 'nk', args: ['6'] });
    expect(send(sim, 'SC', [40, 'V'])).toMatchObject({ kind: 'nk', args: ['32'] });
    const refused = sim.handle_line('$SC 10 V^00')!;
    expect(parse_frame(refused.slice(0, -1)).kind).toBe('nk');
    expect(sim.stats.bad_checksums).toBe(1);
    expect(sim.capacity()).toBe(32);
  });

  it('falls to the heartbeat current without pulses, answers $NK until re-armed; $SY 165 restores the maximum', () => {
    let t = 0;
    const sim = new RapiControllerSim({ now_ms: () => t, car: { connected: true, lag_ms: 0 } });
    send(sim, 'SC', [20, 'V']);
    expect(send(sim, 'SY', [5, 6])).toMatchObject({ kind: 'ok', args: ['5', '6', '0'] });
    t = 4000;
    expect(send(sim, 'SY')).toMatchObject({ kind: 'ok' });
    t = 9000;
    expect(sim.pilot_a()).toBe(20); // 5 s since the last pulse, not more
    t = 9100;
    expect(sim.pilot_a()).toBe(6);
    expect(send(sim, 'SY')).toMatchObject({ kind: 'nk', args: ['5', '6', '2'] });
    // The acknowledgement raises to the maximum: why the adapter re-arms with $SY i c instead.
    expect(send(sim, 'SY', [165])).toMatchObject({ kind: 'ok', args: ['5', '6', '1'] });
    expect(sim.capacity()).toBe(32);
    t = 20000;
    expect(sim.capacity()).toBe(6);
    expect(send(sim, 'SY', [5, 6])).toMatchObject({ kind: 'ok', args: ['5', '6', '0'] });
    expect(sim.capacity()).toBe(6);
    // A heartbeat current of 0 cannot pause: the firmware clamps it to its minimum.
    send(sim, 'SC', [20, 'V']);
    send(sim, 'SY', [5, 0]);
    t = 25100;
    expect(sim.capacity()).toBe(6);
  });
});

// ---- end to end ----

let core: Core;
beforeAll(async () => {
  core = await Core.load();
});

// Short intervals so that a test sees several pulses and polls per second; the supervision
// interval is whole seconds in RAPI (1 s here, 5 s in the field).
const fast_rapi = { heartbeat_interval_s: 1, poll_interval_ms: 100, timeout_ms: 300, backoff_initial_ms: 100, backoff_max_ms: 400 };

async function status(live: Live): Promise<any> {
  return await get(live, '/status');
}

describe('a node drives the RAPI simulator over TCP on 127.0.0.1', () => {
  let fleet: Fleet;
  let sim: RapiControllerSim;
  let port: number;
  let node: Live;

  beforeAll(async () => {
    fleet = new Fleet(core);
    sim = new RapiControllerSim({ max_current_a: 32, capacity_a: 32 });
    port = await sim.listen('127.0.0.1', 0);
    node = await fleet.make('r1', {
      controller: { kind: 'tcp', host: '127.0.0.1', port },
      rapi: fast_rapi,
      config_overrides: { loadsharing_group_max_current: 20, loadsharing_failsafe_safe_current: 6 },
    });
  });

  afterAll(async () => {
    await fleet.close();
    await sim.close();
  });

  it('arms the supervision from the config, pulses it, and keeps a car asleep until it plugs in', async () => {
    await until('supervision armed with the config values', () => sim.supervision().interval_s === 1 && sim.supervision().current_a === 6, [node]);
    const pulses = sim.stats.pulses;
    await until('pulses', () => sim.stats.pulses >= pulses + 3, [node]);
    // No car: the group gives this charger nothing it could use; the controller is asleep or
    // offers no more than the group limit.
    expect(sim.state_code() === 0xfe || sim.capacity() <= 20).toBe(true);
    expect((await status(node)).controller_reachable).toBe(true);
  });

  it('follows the group: the car plugs in, the pilot goes to the group limit and the car charges', async () => {
    sim.set_car({ connected: true, lag_ms: 0 });
    await until('pilot 20 A', () => sim.pilot_a() === 20 && sim.state_code() === 3, [node]);
    // `$SC` is always volatile: never `$SC n` alone (EEPROM) nor `$SC n M`.
    const sc = sim.stats.log.filter((l) => l.startsWith('$SC'));
    expect(sc.length).toBeGreaterThan(0);
    expect(sc.every((l) => /^\$SC \d+ V :[0-9A-F]{2}\^[0-9A-F]{2}$/.test(l))).toBe(true);
    // Never woken ($FE) at a capacity above what the group allows: the simulator started at
    // its EEPROM maximum (32 A), so `$SC 20 V` had to come first.
    expect(sim.stats.wake_capacities.length).toBeGreaterThan(0);
    expect(Math.max(...sim.stats.wake_capacities)).toBeLessThanOrEqual(20);
    await until('the node reads the car', async () => {
      const s = await status(node);
      return s.vehicle === 1 && s.state === 3 && s.amp >= 19000 && s.pilot === 20;
    }, [node]);
  });

  it('a lower group limit lowers the pilot; a config change re-sets the supervision', async () => {
    const sets = sim.stats.supervision_sets.length;
    const r = await post(node, '/config', { loadsharing_group_max_current: 12, loadsharing_failsafe_safe_current: 8, loadsharing_failsafe_peer_assumed_current: 8 });
    expect(r.status).toBe(200);
    await until('pilot 12 A', () => sim.pilot_a() === 12, [node]);
    await until('supervision re-set to 8 A', () => sim.supervision().current_a === 8, [node]);
    expect(sim.stats.supervision_sets.slice(sets)).toContainEqual({ interval_s: 1, current_a: 8 });
  });

  it('a user pause sleeps the controller ($FS) and a resume wakes it at the group pilot', async () => {
    const r = await post(node, '/claims/65540', { state: 'disabled' });
    expect(r.status).toBeLessThan(300);
    await until('sleeping', () => sim.state_code() === 0xfe && sim.pilot_a() === 0, [node]);
    const d = await node.app.inject({ method: 'DELETE', url: '/claims/65540', headers: { authorization: `Basic ${Buffer.from('admin:test-admin-password').toString('base64')}` } });
    expect(d.statusCode).toBeLessThan(300);
    await until('awake at 12 A', () => sim.state_code() === 3 && sim.pilot_a() === 12, [node]);
  });

  it('refuses and counts replies with a bad checksum, and takes none of their data', async () => {
    const before = (await status(node)).rapi_bad_checksums;
    const seen: number[] = [];
    const watch = setInterval(() => { void status(node).then((s) => { if (s.controller_reachable) seen.push(s.pilot); }); }, 20);
    sim.faults.bad_checksums = 3;
    await until('three refused', async () => (await status(node)).rapi_bad_checksums >= before + 3, [node]);
    expect(sim.faults.bad_checksums).toBe(0);
    // Three garbled answers in a row: the node could not read its controller for a moment.
    await until('readable again', async () => (await status(node)).controller_reachable === true, [node]);
    await new Promise((r) => setTimeout(r, 300));
    clearInterval(watch);
    // Corrupted replies changed a digit (a pilot of 12 read as 22, a state of 03 as 13):
    // none of them reached the status.
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((p) => p === 12)).toBe(true);
    const s = await status(node);
    expect(s.pilot).toBe(12);
    expect(s.state).toBe(3);
    expect(sim.pilot_a()).toBe(12);
  });

  it('a controller that stops answering falls to its heartbeat current by itself; the node reports it unreachable and counts the car at its last pilot; both recover', async () => {
    const lines_before = node.lines.length;
    sim.faults.silent = true;
    await until('node reports unreachable', async () => (await status(node)).controller_reachable === false, [node]);
    const s = await status(node);
    // Not reachable: the node counts the car at the most the controller may offer (12 A),
    // never at 0 and never at a stale measurement.
    expect(s.amp).toBeGreaterThanOrEqual(12000);
    expect(s.vehicle).toBe(1);
    expect(s.rapi_connected).toBe(0);
    expect(s.evse_connected).toBe(0);
    // One clear message for the outage, not one per failed command.
    await new Promise((r) => setTimeout(r, 1000));
    expect(node.lines.slice(lines_before).filter((l) => /unreachable/.test(l)), node.lines.slice(lines_before).join('\n')).toHaveLength(1);
    // The controller's own supervision: no pulse for 1 s -> the heartbeat current (8 A).
    await wait_until(() => sim.pilot_a() === 8, 5000, 'the controller to fall to 8 A');
    expect(sim.supervision().trigger).toBe(2);
    sim.faults.silent = false;
    await until('answers again, re-armed, pilot re-applied', async () => {
      const st = await status(node);
      return st.controller_reachable === true && sim.supervision().trigger === 0 && sim.pilot_a() === 12;
    }, [node]);
    expect(node.lines.some((l) => /answers again/.test(l))).toBe(true);
    // Never acknowledged with `$SY 165` (it would restore the controller's maximum first).
    expect(sim.stats.acks).toBe(0);
  });

  // docs/rapi.md: a decrease decided while the controller is silent cannot reach it; what the
  // node publishes as committed (what its peers must leave it) stays at what the controller may
  // still offer until it answers and takes the decrease.
  it('a decrease decided while the controller is silent is not counted applied: the node keeps publishing what the controller may offer', async () => {
    sim.faults.silent = true;
    await until('node reports unreachable', async () => (await status(node)).controller_reachable === false, [node]);
    expect((await post(node, '/config', { loadsharing_group_max_current: 9 })).status).toBe(200);
    await until('decided 9 A', async () => (await status(node)).loadsharing.applied_current === 9, [node]);
    // Past ev_response (5 s) after the decrease: without the controller's word it is not applied.
    await new Promise((r) => setTimeout(r, 6000));
    let s = await status(node);
    expect(s.loadsharing.applied_current).toBe(9);
    expect(s.loadsharing.committed_current).toBeGreaterThanOrEqual(12);
    sim.faults.silent = false;
    await until('answers again and takes 9 A', () => sim.pilot_a() === 9, [node]);
    await until('committed falls to 9 A once the controller offers it', async () => (await status(node)).loadsharing.committed_current === 9, [node], 15000);
    s = await status(node);
    expect(s.pilot).toBe(9);
    expect((await post(node, '/config', { loadsharing_group_max_current: 12 })).status).toBe(200);
    await until('pilot 12 A again', () => sim.pilot_a() === 12, [node]);
  }, 600000);

  it('a lost port: reconnects with backoff and sets everything again', async () => {
    const sets = sim.stats.supervision_sets.length;
    sim.drop_clients();
    await until('reconnected and re-armed', () => sim.stats.supervision_sets.length > sets && sim.pilot_a() === 12, [node]);
    expect(node.lines.some((l) => /port .* (open|closed)/.test(l) || /unreachable: the port closed/.test(l))).toBe(true);
  });

  it('a rebooted controller ($AB) gets its pilot back from the node, not its EEPROM maximum', async () => {
    sim.reboot();
    expect(sim.capacity()).toBe(32);
    await until('pilot back to 12 A', () => sim.pilot_a() === 12, [node]);
  });
});

describe('a `loadshare node` process drives the simulator over a pseudo-terminal', () => {
  let work: string;
  let sim: RapiControllerSim;
  let socat: ChildProcess | null = null;
  let proc: NodeProc | null = null;
  let tty_path: string;
  let sim_port: number;

  beforeAll(async () => {
    ensure_dist();
    execFileSync('bash', [join(root, 'scripts', 'ensure-system-packages.sh'), 'socat'], { stdio: 'inherit', timeout: 900000 });
    work = mkdtempSync(join(tmpdir(), 'loadshare-rapi-'));
    sim = new RapiControllerSim({ max_current_a: 32 });
    sim_port = await sim.listen('127.0.0.1', 0);
    tty_path = join(work, 'ttyRAPI');
    // socat: a pseudo-terminal (raw, no echo) on one side, the simulator's TCP port on the other.
    socat = spawn('socat', [`pty,raw,echo=0,link=${tty_path}`, `tcp:127.0.0.1:${sim_port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    await wait_until(() => existsSync(tty_path), 10000, 'socat to create the pseudo-terminal');
  }, 900000);

  afterAll(async () => {
    if (proc) await stop_node(proc);
    socat?.kill('SIGTERM');
    await sim.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('refuses bad --controller values with exit code 2 and one sentence', () => {
    for (const [value, message] of [['usb0', /--controller must be sim, rapi:DEVICE/], ['rapi:tcp://evse.local:23', /needs an IP address/], [`rapi:${join(work ?? '/tmp', 'nope')}`, /does not exist/]] as const) {
      let out = '';
      let code = 0;
      try {
        execFileSync(process.execPath, [join(root, 'bin/loadshare.js'), 'node', '--id', 'x', '--http-port', '1', '--data-dir', join(work, 'bad'), '--controller', value], { stdio: 'pipe' });
      } catch (error) {
        const e = error as { status: number; stderr: Buffer };
        code = e.status;
        out = e.stderr.toString();
      }
      expect(code, value).toBe(2);
      expect(out.trim().split('\n').length, out).toBe(1);
      expect(out).toMatch(message);
    }
  });

  it('end to end: car plugs in, the pilot follows the group, supervision set and pulsed; a silent controller -> the node fails safe', async () => {
    const port = await free_port();
    proc = await start_node({
      id: 'pty1', port, data_dir: join(work, 'pty1'), extra_args: ['--controller', `rapi:${tty_path}`, '--no-mdns'],
      config: { loadsharing_group_max_current: 16, loadsharing_failsafe_safe_current: 6 },
    });
    const logs = () => proc!.lines.slice(-30).join('\n');
    await wait_until(() => sim.supervision().interval_s === 5 && sim.supervision().current_a === 6, 15000, 'supervision $SY 5 6 over the pty', logs);
    sim.set_car({ connected: true, lag_ms: 0 });
    await wait_until(() => sim.pilot_a() === 16 && sim.state_code() === 3, 15000, 'pilot 16 A', logs);
    const pulses = sim.stats.pulses;
    await wait_until(() => sim.stats.pulses >= pulses + 2, 10000, 'pulses over the pty', logs);
    let doc: Record<string, unknown> = {};
    await wait_until(async () => {
      doc = await (await fetch(`${proc!.base}/status`)).json() as Record<string, unknown>;
      return doc.vehicle === 1 && doc.state === 3 && doc.pilot === 16 && doc.controller_reachable === true && (doc.amp as number) >= 15000;
    }, 10000, 'the node to read the charging car', () => JSON.stringify(doc));
    expect(doc.controller).toBe(`rapi:${tty_path}`);

    sim.faults.silent = true;
    await wait_until(async () => ((await (await fetch(`${proc!.base}/status`)).json()) as any).controller_reachable === false, 15000, 'the node to report the controller unreachable', logs);
    const lost = await (await fetch(`${proc.base}/status`)).json() as { amp: number };
    expect(lost.amp).toBeGreaterThanOrEqual(16000);
    // The controller's own supervision (5 s without a pulse) drops it to 6 A.
    await wait_until(() => sim.pilot_a() === 6, 15000, 'the controller to fall to 6 A', logs);
    expect(proc.lines.filter((l) => /controller at .* unreachable/.test(l)).length).toBe(1);
    sim.faults.silent = false;
    await wait_until(() => sim.pilot_a() === 16 && sim.supervision().trigger === 0, 15000, 'recovery over the pty', logs);
  }, 600000);

  it('the pseudo-terminal goes away and comes back: the node says so once, retries with backoff, and sets everything again', async () => {
    const logs = () => proc!.lines.slice(-30).join('\n');
    const lines_before = proc!.lines.length;
    const sets = sim.stats.supervision_sets.length;
    const gone = new Promise((resolve) => socat!.once('exit', resolve));
    socat!.kill('SIGTERM');
    await gone;
    await wait_until(() => proc!.lines.slice(lines_before).some((l) => /unreachable: the port closed/.test(l)), 10000, 'the node to notice the lost port', logs);
    await wait_until(() => proc!.lines.slice(lines_before).some((l) => /cannot use the controller's port .* trying again/.test(l)), 10000, 'a retry', logs);
    socat = spawn('socat', [`pty,raw,echo=0,link=${tty_path}`, `tcp:127.0.0.1:${sim_port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    await wait_until(() => sim.stats.supervision_sets.length > sets && sim.pilot_a() === 16, 30000, 'the node back on the new pty', logs);
    const doc = await (await fetch(`${proc!.base}/status`)).json() as Record<string, unknown>;
    expect(doc.controller_reachable).toBe(true);
    // One message per outage, not one per attempt.
    expect(proc!.lines.slice(lines_before).filter((l) => /unreachable|trying again/.test(l)).length, logs()).toBeLessThanOrEqual(2);
  }, 600000);
});

