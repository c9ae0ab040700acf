// A simulated OpenEVSE controller that speaks RAPI (docs/rapi.md): the simulated controller
// and car (SimEvse) behind the command set the RAPI adapter uses, answered as OpenEVSE's
// firmware does (rapi_proc.h): XOR or additive checksums checked, sequence ids echoed,
// `$SC amps V` clamped to the controller's limits, sleep/enable/disable, and its heartbeat
// supervision (`$SY interval current`, pulses `$SY`, the `$SY 165` acknowledgement) with the
// firmware's semantics: when no pulse comes for the interval the capacity falls to the
// heartbeat current (never below the controller's minimum: the firmware clamps it), and
// pulses are answered `$NK` until the miss is acknowledged or the supervision set again.
//
// Test seams, named: `faults.bad_checksums` corrupts that many replies (data changed, checksum
// kept), `faults.silent` stops answering (commands are read and dropped, as a hung RAPI task
// would), and `drop_clients()` closes the connections.
import { createServer, type Server, type Socket } from 'node:net';
import { SimEvse, default_car, evse_state, type CarSpec } from './sim-evse.js';
import { LineSplitter, rapi_checksum } from './rapi.js';

const hs_cookie = 165;
const hs_missed_noack = 2;
const hs_missed_acked = 1;
const state_sleeping = 0xfe;
const state_disabled = 0xff;
const vflag_ev_connected = 0x0100;
const vflag_charging_on = 0x0040;

export interface RapiSimOptions {
  min_current_a?: number;
  max_current_a?: number; // hardware and configured maximum ($GC hmax and cmax)
  capacity_a?: number; // the capacity after boot (the firmware's EEPROM value)
  voltage_v?: number;
  car?: Partial<CarSpec>;
  now_ms?: () => number; // real time by default
  // The supervision stored in the controller's EEPROM: it survives a reboot.
  heartbeat_interval_s?: number;
  heartbeat_current_a?: number;
}

export interface RapiSimStats {
  commands: number;
  bad_checksums: number; // commands refused for a wrong checksum
  pulses: number;
  supervision_sets: Array<{ interval_s: number; current_a: number }>;
  fired: number; // times the supervision dropped the capacity
  acks: number;
  wake_capacities: number[]; // the capacity each `$FE` woke the controller at
  log: string[]; // every command line received (the last 500)
}

export class RapiControllerSim {
  readonly evse: SimEvse;
  readonly stats: RapiSimStats = { commands: 0, bad_checksums: 0, pulses: 0, supervision_sets: [], fired: 0, acks: 0, wake_capacities: [], log: [] };
  readonly faults = { bad_checksums: 0, silent: false };
  private readonly now: () => number;
  private readonly min_a: number;
  private readonly max_a: number;
  private capacity_a: number;
  private mode: 'enabled' | 'sleeping' | 'disabled' = 'enabled';
  private hs_interval_s: number;
  private hs_current_a: number;
  private hs_trigger = 0;
  private hs_last_pulse_ms: number;
  private server: Server | null = null;
  private readonly clients = new Set<Socket>();
  private check_timer: NodeJS.Timeout | null = null;

  constructor(options: RapiSimOptions = {}) {
    const origin_ms = performance.now();
    this.now = options.now_ms ?? (() => Math.floor(performance.now() - origin_ms));
    this.min_a = options.min_current_a ?? 6;
    this.max_a = options.max_current_a ?? 32;
    this.capacity_a = Math.min(this.max_a, Math.max(this.min_a, options.capacity_a ?? this.max_a));
    this.hs_interval_s = options.heartbeat_interval_s ?? 0;
    this.hs_current_a = options.heartbeat_current_a ?? 0;
    const now_ms = this.now();
    this.hs_last_pulse_ms = now_ms;
    // SimEvse's own supervision is off: the firmware's, below, is the one modelled here.
    this.evse = new SimEvse({
      id: 'rapi-sim', min_current_a: this.min_a, max_current_a: this.max_a, voltage_v: options.voltage_v ?? 240,
      heartbeat_interval_ms: 0, heartbeat_current_a: 0,
    }, { ...default_car, ...options.car }, now_ms);
    this.evse.set_limit_a(now_ms, this.capacity_a);
  }

  // ---- what a test looks at or changes ----

  pilot_a(): number {
    this.check_supervision();
    return this.evse.pilot_a(this.now());
  }

  capacity(): number {
    this.check_supervision();
    return this.capacity_a;
  }

  current_a(): number {
    return this.evse.current_a(this.now());
  }

  set_car(change: Partial<CarSpec>): void {
    this.evse.set_car(this.now(), change);
  }

  supervision(): { interval_s: number; current_a: number; trigger: number } {
    this.check_supervision();
    return { interval_s: this.hs_interval_s, current_a: this.hs_current_a, trigger: this.hs_trigger };
  }

  state_code(): number {
    this.check_supervision();
    if (this.mode === 'sleeping') return state_sleeping;
    if (this.mode === 'disabled') return state_disabled;
    return this.evse.status(this.now()).state;
  }

  // A power cycle: volatile settings are lost, the EEPROM's stay; `$AB` tells the WiFi side.
  reboot(): void {
    const now_ms = this.now();
    this.capacity_a = this.max_a;
    this.mode = 'enabled';
    this.hs_trigger = 0;
    this.hs_last_pulse_ms = now_ms;
    this.apply(now_ms);
    this.broadcast(this.with_checksum(`$AB 00 8.2.3`));
  }

  // ---- the line protocol ----

  // Answers one command line (without the `\r`); null when nothing is sent back.
  handle_line(line: string): string | null {
    if (this.faults.silent) return null;
    this.stats.commands += 1;
    this.stats.log.push(line);
    if (this.stats.log.length > 500) this.stats.log.shift();
    this.check_supervision();
    const parsed = this.parse(line);
    if (parsed === null) {
      this.stats.bad_checksums += 1;
      return this.reply(false, [], null);
    }
    const { name, args, seq } = parsed;
    const result = this.execute(name, args);
    return this.reply(result.ok, result.out, seq);
  }

  private parse(line: string): { name: string; args: string[]; seq: number | null } | null {
    let body = line;
    const xor = line.lastIndexOf('^');
    const add = line.lastIndexOf('*');
    if (xor >= 0) {
      body = line.slice(0, xor);
      if (line.slice(xor + 1).toUpperCase() !== rapi_checksum(body)) return null;
    } else if (add >= 0) {
      body = line.slice(0, add);
      let sum = 0;
      for (const c of body) sum = (sum + c.charCodeAt(0)) & 0xff;
      if (parseInt(line.slice(add + 1), 16) !== sum) return null;
    }
    const tokens = body.slice(1).split(' ').filter((t) => t !== '');
    const name = tokens.shift() ?? '';
    let seq: number | null = null;
    const last = tokens[tokens.length - 1];
    if (tokens.length > 0 && last.startsWith(':')) {
      seq = parseInt(last.slice(1), 16) || null;
      tokens.pop();
    }
    return { name, args: tokens, seq };
  }

  private execute(name: string, args: string[]): { ok: boolean; out: Array<string | number> } {
    const now_ms = this.now();
    const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
    switch (name) {
      case 'GS': {
        const s = this.evse.status(now_ms);
        const flags = (this.evse.car_spec().connected ? vflag_ev_connected : 0) | (s.state === evse_state.charging ? vflag_charging_on : 0);
        return { ok: true, out: [hex(this.state_code(), 2), 0, hex(s.state === evse_state.charging ? 3 : s.vehicle ? 2 : 1, 2), hex(flags, 4)] };
      }
      case 'GG': {
        const s = this.evse.status(now_ms);
        return { ok: true, out: [s.amp_ma, Math.round(s.voltage * 1000)] };
      }
      case 'GC':
        return { ok: true, out: [this.min_a, this.max_a, this.capacity_a, this.max_a] };
      case 'GV':
        return { ok: true, out: ['8.2.3', '5.2.1'] };
      case 'G0':
        return { ok: true, out: [this.evse.car_spec().connected ? 1 : 0] };
      case 'GY':
        return { ok: true, out: [this.hs_interval_s, this.hs_current_a, this.hs_trigger] };
      case 'SC': {
        if (args.length < 1 || args.length > 2 || !/^\d+$/.test(args[0])) return { ok: false, out: [] };
        const rc = this.set_capacity(Number(args[0]));
        return { ok: rc === 0, out: [this.capacity_a] };
      }
      case 'FS': this.mode = 'sleeping'; this.apply(now_ms); return { ok: true, out: [] };
      case 'FD': this.mode = 'disabled'; this.apply(now_ms); return { ok: true, out: [] };
      case 'FE': this.stats.wake_capacities.push(this.capacity_a); this.mode = 'enabled'; this.apply(now_ms); return { ok: true, out: [] };
      case 'SY': return this.supervise(args, now_ms);
      default:
        return { ok: false, out: [] };
    }
  }

  // The firmware's SetCurrentCapacity with nosave: clamped into [min, max]; 1 below, 2 above.
  private set_capacity(amps: number): number {
    let rc = 0;
    if (amps < this.min_a) { this.capacity_a = this.min_a; rc = 1; }
    else if (amps > this.max_a) { this.capacity_a = this.max_a; rc = 2; }
    else this.capacity_a = amps;
    this.apply(this.now());
    return rc;
  }

  private supervise(args: string[], now_ms: number): { ok: boolean; out: Array<string | number> } {
    let rc = 0;
    if (args.length === 0) {
      // A pulse: the timer restarts; an unacknowledged miss makes the answer $NK.
      this.stats.pulses += 1;
      rc = this.hs_trigger === hs_missed_noack ? 1 : 0;
      this.hs_last_pulse_ms = now_ms;
    } else if (args.length === 2) {
      const interval_s = Number(args[0]);
      const current_a = Number(args[1]);
      if (interval_s === 0) rc = this.restore_capacity();
      this.hs_interval_s = interval_s;
      this.hs_current_a = current_a;
      this.hs_trigger = 0;
      this.hs_last_pulse_ms = now_ms;
      this.stats.supervision_sets.push({ interval_s, current_a });
    } else if (args.length === 1) {
      rc = 1;
      if (Number(args[0]) === hs_cookie) {
        this.stats.acks += 1;
        if (this.hs_trigger === hs_missed_noack) {
          rc = this.restore_capacity();
          if (rc === 0) this.hs_trigger = hs_missed_acked;
        } else {
          rc = 0;
        }
      }
    } else {
      rc = 1;
    }
    return { ok: rc === 0, out: [this.hs_interval_s, this.hs_current_a, this.hs_trigger] };
  }

  // The firmware's HsRestoreAmpacity: after a miss, back to the maximum (not to what it was).
  private restore_capacity(): number {
    if (this.hs_trigger !== 0) this.set_capacity(this.max_a);
    return 0;
  }

  // The firmware's HsExpirationCheck, run before anything is read or answered.
  private check_supervision(): void {
    const now_ms = this.now();
    if (this.hs_interval_s === 0 || now_ms - this.hs_last_pulse_ms <= this.hs_interval_s * 1000) return;
    if (this.hs_current_a < this.capacity_a) {
      this.stats.fired += 1;
      this.set_capacity(this.hs_current_a);
    }
    this.hs_trigger = hs_missed_noack;
    this.hs_last_pulse_ms = now_ms;
  }

  private apply(now_ms: number): void {
    this.evse.set_limit_a(now_ms, this.capacity_a);
    this.evse.set_user_paused(now_ms, this.mode !== 'enabled');
  }

  private with_checksum(body: string): string {
    return `${body}^${rapi_checksum(body)}\r`;
  }

  private reply(ok: boolean, out: Array<string | number>, seq: number | null): string {
    let body = ok ? '$OK' : '$NK';
    for (const o of out) body += ` ${o}`;
    if (seq !== null) body += ` :${seq.toString(16).toUpperCase().padStart(2, '0')}`;
    let text = this.with_checksum(body);
    if (this.faults.bad_checksums > 0 && out.length > 0) {
      // Line noise: the data changes, the checksum does not.
      this.faults.bad_checksums -= 1;
      text = text.replace(/ (\d)/, (_m, d: string) => ` ${(Number(d) + 1) % 10}`);
    }
    return text;
  }

  // ---- serving it ----

  // Serves any byte stream (a TCP connection, or a pseudo-terminal through socat).
  attach(socket: Socket): void {
    this.clients.add(socket);
    socket.setEncoding('latin1');
    const splitter = new LineSplitter((line) => {
      const answer = this.handle_line(line);
      if (answer !== null && !socket.destroyed) socket.write(answer, 'latin1');
    });
    socket.on('data', (text: string) => splitter.push(text));
    socket.on('error', () => {});
    socket.on('close', () => this.clients.delete(socket));
  }

  // Listens on host:port (port 0: any free one); resolves the port.
  async listen(host = '127.0.0.1', port = 0): Promise<number> {
    const server = createServer((socket) => this.attach(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    // The firmware checks its supervision in its main loop; so does the simulator, every 100 ms.
    this.check_timer = setInterval(() => this.check_supervision(), 100);
    this.check_timer.unref?.();
    return (server.address() as { port: number }).port;
  }

  drop_clients(): void {
    for (const c of this.clients) c.destroy();
    this.clients.clear();
  }

  async close(): Promise<void> {
    if (this.check_timer) clearInterval(this.check_timer);
    this.drop_clients();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private broadcast(text: string): void {
    for (const c of this.clients) if (!c.destroyed) c.write(text, 'latin1');
  }
}
