// A real OpenEVSE charge controller over RAPI (docs/rapi.md), as the station's EvseAdapter.
//
// RAPI is OpenEVSE's line protocol on the controller's serial port (115200 8N1): a command is
// `$XX arg arg ... :SS^CK\r` (SS an optional sequence id the reply echoes, CK the XOR of every
// character before `^` in two hex digits); the controller answers `$OK ... :SS^CK\r` or
// `$NK ... :SS^CK\r` and may send asynchronous lines (`$AT` state change, `$AB` boot, `$WF`
// WiFi mode, `$AN` button) at any time.
//
// Three layers here: the framing (pure functions), RapiLink (one port: one command in flight,
// a timeout, reconnects with backoff), and RapiEvse (the adapter: a reconciler that brings
// the controller to what the station wants, in an order that never raises the current first,
// and a cache of polled state because EvseAdapter.status() is synchronous).
import { constants, openSync, closeSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import tty from 'node:tty';
import type { LocalEvseStatus } from '../engine/types.js';
import type { EvseAdapter } from '../station/evse.js';
import { silent_logger, type Logger } from '../node/log.js';

// ---- framing ----

export function rapi_checksum(text: string): string {
  let x = 0;
  for (let i = 0; i < text.length; i++) x ^= text.charCodeAt(i) & 0xff;
  return x.toString(16).toUpperCase().padStart(2, '0');
}

// `$SC 16 V` with sequence id 0x2a -> `$SC 16 V :2A^XX\r`. Sequence ids are 1..255 (0 is
// reserved by the firmware as "none").
export function encode_command(command: string, args: Array<string | number> = [], seq_id: number | null = null): string {
  if (!/^[A-Z0-9]{2}$/.test(command)) throw new Error(`not a RAPI command name: ${command}`);
  let body = `$${command}`;
  for (const a of args) body += ` ${a}`;
  if (seq_id !== null) {
    if (!Number.isInteger(seq_id) || seq_id < 1 || seq_id > 255) throw new Error(`sequence id ${seq_id} outside 1..255`);
    body += ` :${seq_id.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return `${body}^${rapi_checksum(body)}\r`;
}

export interface RapiFrame {
  kind: 'ok' | 'nk' | 'async';
  name: string; // OK, NK, AT, AB, WF, AN, ...
  args: string[];
  seq_id: number | null;
}

export class RapiFrameError extends Error {
  constructor(readonly reason: 'checksum' | 'no_checksum' | 'syntax', message: string) {
    super(message);
  }
}

// One line without its `\r`. Only the XOR form is accepted from a controller: every firmware
// since RAPI 2.0.0 appends it, and a line without one cannot be told from line noise.
export function parse_frame(line: string): RapiFrame {
  const caret = line.lastIndexOf('^');
  if (!line.startsWith('$')) throw new RapiFrameError('syntax', 'a RAPI line starts with $');
  if (caret < 0) throw new RapiFrameError('no_checksum', `no ^checksum in "${line}"`);
  const body = line.slice(0, caret);
  const check = line.slice(caret + 1);
  if (!/^[0-9A-Fa-f]{2}$/.test(check)) throw new RapiFrameError('syntax', `bad checksum field "${check}"`);
  if (check.toUpperCase() !== rapi_checksum(body)) throw new RapiFrameError('checksum', `checksum ${check} does not match "${body}" (${rapi_checksum(body)})`);
  const tokens = body.slice(1).split(' ').filter((t) => t !== '');
  const name = tokens.shift() ?? '';
  if (!/^[A-Z0-9]{2}$/.test(name)) throw new RapiFrameError('syntax', `bad RAPI name "${name}"`);
  let seq_id: number | null = null;
  const last = tokens[tokens.length - 1];
  if (last !== undefined && /^:[0-9A-Fa-f]{2}$/.test(last)) {
    seq_id = parseInt(last.slice(1), 16);
    tokens.pop();
  }
  const kind = name === 'OK' ? 'ok' : name === 'NK' ? 'nk' : 'async';
  return { kind, name, args: tokens, seq_id };
}

// Splits a byte stream into lines: from a `$` to a `\r` (a `\n` also ends one: the
// controller's echo mode adds it). Bytes before a `$` are noise; a line longer than
// max_line_bytes is dropped, so a babbling port cannot grow our memory.
export class LineSplitter {
  private buffer = '';
  private in_line = false;
  dropped = 0;

  constructor(private readonly on_line: (line: string) => void, private readonly max_line_bytes = 128) {}

  push(chunk: string): void {
    for (const c of chunk) {
      if (c === '$') {
        if (this.in_line && this.buffer.length > 0) this.dropped += 1;
        this.buffer = '$';
        this.in_line = true;
      } else if (c === '\r' || c === '\n') {
        if (this.in_line) this.on_line(this.buffer);
        this.buffer = '';
        this.in_line = false;
      } else if (this.in_line) {
        if (this.buffer.length >= this.max_line_bytes) {
          this.dropped += 1;
          this.buffer = '';
          this.in_line = false;
        } else {
          this.buffer += c;
        }
      }
    }
  }
}

// ---- transports ----

export type RapiTarget = { kind: 'serial'; path: string } | { kind: 'tcp'; host: string; port: number };

export class RapiTargetError extends Error {}

// `rapi:/dev/ttyUSB0` or `rapi:tcp://192.168.1.20:23`. Host names are refused on purpose:
// a charger must not depend on DNS to reach its own controller.
export function parse_rapi_target(value: string): RapiTarget {
  if (!value.startsWith('rapi:')) throw new RapiTargetError(`--controller must be sim, rapi:DEVICE or rapi:tcp://HOST:PORT, not "${value}"`);
  const rest = value.slice(5);
  if (rest.startsWith('tcp://')) {
    const m = /^tcp:\/\/(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(rest);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) throw new RapiTargetError(`--controller rapi:tcp:// needs an IP address and a port (rapi:tcp://192.168.1.20:23), not "${value}"`);
    return { kind: 'tcp', host: m[1].replace(/^\[|\]$/g, ''), port };
  }
  if (!rest.startsWith('/') || rest.length < 2 || /[\s\0]/.test(rest)) throw new RapiTargetError(`--controller rapi: needs an absolute device path (rapi:/dev/ttyUSB0), not "${value}"`);
  return { kind: 'serial', path: rest };
}

export function describe_target(t: RapiTarget): string {
  return t.kind === 'tcp' ? `tcp://${t.host}:${t.port}` : t.path;
}

// An open port: bytes in, bytes out, one close.
export interface RapiPort {
  write(text: string): void;
  close(): void;
  on_data: (text: string) => void;
  on_close: (reason: string) => void;
}

export type PortOpener = (target: RapiTarget) => Promise<RapiPort>;

function error_code(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e?.code ?? e?.message ?? String(error);
}

// TCP (a serial-to-network bridge such as ser2net, or the simulator).
function open_tcp(host: string, port: number): Promise<RapiPort> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    let opened = false;
    let closed = false;
    const p: RapiPort = {
      write: (text) => { if (!closed) socket.write(text, 'latin1'); },
      close: () => { socket.destroy(); },
      on_data: () => {},
      on_close: () => {},
    };
    let reason = 'closed by the other end';
    socket.setTimeout(5000, () => { if (!opened) socket.destroy(new Error('ETIMEDOUT')); });
    socket.once('connect', () => { opened = true; socket.setTimeout(0); resolve(p); });
    socket.on('data', (text: string) => p.on_data(text));
    socket.on('error', (error) => { reason = error_code(error); if (!opened) reject(error); });
    socket.on('close', () => { closed = true; if (opened) p.on_close(reason); });
  });
}

function run_stty(path: string): Promise<void> {
  // 115200 8N1, raw (no line editing, no CR/LF translation, no echo), ignore modem lines.
  return new Promise((resolve, reject) => {
    execFile('stty', ['-F', path, '115200', 'raw', '-echo', 'cs8', '-cstopb', '-parenb', 'clocal', 'cread', '-crtscts'], { timeout: 5000 }, (error, _out, stderr) => {
      if (error) reject(Object.assign(new Error(`stty: ${(stderr || error.message).trim()}`), { code: (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'ENOSTTY' : 'ESTTY' }));
      else resolve();
    });
  });
}

// A serial device or pseudo-terminal, without native modules: stty configures it, and
// Node's TTY streams read and write it without blocking the thread pool.
async function open_serial(path: string): Promise<RapiPort> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
  } catch (error) {
    throw error;
  }
  if (!tty.isatty(fd)) {
    closeSync(fd);
    throw Object.assign(new Error(`${path} is not a terminal device`), { code: 'ENOTTY' });
  }
  try {
    await run_stty(path);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  const input = new tty.ReadStream(fd);
  const output = new tty.WriteStream(fd);
  input.setEncoding('latin1');
  let closed = false;
  const p: RapiPort = {
    write: (text) => { if (!closed) output.write(text, 'latin1'); },
    close: () => finish('closed'),
    on_data: () => {},
    on_close: () => {},
  };
  const finish = (reason: string) => {
    if (closed) return;
    closed = true;
    input.destroy();
    output.destroy();
    p.on_close(reason);
  };
  input.on('data', (text: string) => p.on_data(text));
  input.on('error', (error) => finish(error_code(error)));
  output.on('error', (error) => finish(error_code(error)));
  input.on('end', () => finish('end of file'));
  input.on('close', () => finish('closed'));
  return p;
}

export const open_rapi_port: PortOpener = (target) => target.kind === 'tcp' ? open_tcp(target.host, target.port) : open_serial(target.path);

// ---- the link: one command in flight ----

export interface RapiReply {
  ok: boolean; // $OK (true) or $NK (false)
  args: string[];
}

export type RapiOutcome = { reply: RapiReply } | { error: 'timeout' | 'closed' | 'garbled' };

export interface RapiLinkStats {
  sent: number;
  replies: number;
  timeouts: number;
  bad_checksums: number; // lines refused for a wrong or missing checksum
  stale_replies: number; // replies to a command that had already timed out (another sequence id)
  noise_lines: number; // lines that are not RAPI at all
  async_lines: number;
  reconnects: number;
}

export interface RapiLinkOptions {
  target: RapiTarget;
  opener?: PortOpener;
  timeout_ms?: number;
  backoff_initial_ms?: number;
  backoff_max_ms?: number;
  log?: Logger;
  on_async?: (frame: RapiFrame) => void;
  on_open?: () => void; // a port opened: the controller's volatile state must be set again
  on_close?: (reason: string) => void;
}

interface InFlight {
  line: string;
  seq_id: number;
  done: (outcome: RapiOutcome) => void;
  timer: NodeJS.Timeout;
}

export class RapiLink {
  readonly stats: RapiLinkStats = { sent: 0, replies: 0, timeouts: 0, bad_checksums: 0, stale_replies: 0, noise_lines: 0, async_lines: 0, reconnects: 0 };
  private port: RapiPort | null = null;
  private opening = false;
  private stopped = false;
  private in_flight: InFlight | null = null;
  private next_seq = 1;
  private backoff_ms: number;
  private retry_timer: NodeJS.Timeout | null = null;
  private retry_logged = false;
  private readonly splitter: LineSplitter;
  private readonly log: Logger;
  readonly where: string;

  constructor(private readonly options: RapiLinkOptions) {
    this.backoff_ms = options.backoff_initial_ms ?? 1000;
    this.log = options.log ?? silent_logger;
    this.where = describe_target(options.target);
    this.splitter = new LineSplitter((line) => this.on_line(line));
  }

  connected(): boolean {
    return this.port !== null;
  }

  busy(): boolean {
    return this.in_flight !== null;
  }

  start(): void {
    this.stopped = false;
    void this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry_timer) clearTimeout(this.retry_timer);
    this.retry_timer = null;
    const port = this.port;
    this.port = null;
    port?.close();
    this.finish({ error: 'closed' });
  }

  // Sends one command; the caller sends the next only after this one's outcome.
  send(command: string, args: Array<string | number>, done: (outcome: RapiOutcome) => void): void {
    if (this.in_flight) throw new Error('RapiLink.send while a command is in flight');
    if (!this.port) { done({ error: 'closed' }); return; }
    const seq_id = this.next_seq;
    this.next_seq = this.next_seq >= 255 ? 1 : this.next_seq + 1;
    const line = encode_command(command, args, seq_id);
    const timer = setTimeout(() => {
      this.stats.timeouts += 1;
      this.finish({ error: 'timeout' });
    }, this.options.timeout_ms ?? 1000);
    this.in_flight = { line, seq_id, done, timer };
    this.stats.sent += 1;
    this.port.write(line);
  }

  private finish(outcome: RapiOutcome): void {
    const f = this.in_flight;
    if (!f) return;
    clearTimeout(f.timer);
    this.in_flight = null;
    f.done(outcome);
  }

  private on_line(line: string): void {
    let frame: RapiFrame;
    try {
      frame = parse_frame(line);
    } catch (error) {
      if (error instanceof RapiFrameError && error.reason !== 'syntax') {
        // Most likely the answer in flight, garbled: its data cannot be trusted, and waiting
        // for the timeout would only delay the next command.
        this.stats.bad_checksums += 1;
        this.finish({ error: 'garbled' });
      } else {
        this.stats.noise_lines += 1;
      }
      return;
    }
    if (frame.kind === 'async') {
      this.stats.async_lines += 1;
      this.options.on_async?.(frame);
      return;
    }
    const f = this.in_flight;
    // A reply without a sequence id comes from firmware older than RAPI 3.0.0: taken as the
    // answer to the command in flight. One with another id answers a command that timed out.
    if (!f || (frame.seq_id !== null && frame.seq_id !== f.seq_id)) {
      this.stats.stale_replies += 1;
      return;
    }
    this.stats.replies += 1;
    this.finish({ reply: { ok: frame.kind === 'ok', args: frame.args } });
  }

  private async open(): Promise<void> {
    if (this.opening || this.port || this.stopped) return;
    this.opening = true;
    try {
      const port = await (this.options.opener ?? open_rapi_port)(this.options.target);
      this.opening = false;
      if (this.stopped) { port.close(); return; }
      this.port = port;
      this.backoff_ms = this.options.backoff_initial_ms ?? 1000;
      this.retry_logged = false;
      port.on_data = (text) => this.splitter.push(text);
      port.on_close = (reason) => this.lost(reason);
      this.options.on_open?.();
    } catch (error) {
      this.opening = false;
      this.retry(error_code(error));
    }
  }

  private lost(reason: string): void {
    if (!this.port) return;
    this.port = null;
    this.finish({ error: 'closed' });
    this.options.on_close?.(reason);
    this.retry(reason);
  }

  private retry(reason: string): void {
    if (this.stopped) return;
    const wait_ms = this.backoff_ms;
    this.backoff_ms = Math.min(this.backoff_ms * 2, this.options.backoff_max_ms ?? 60000);
    this.stats.reconnects += 1;
    this.retry_timer = setTimeout(() => { this.retry_timer = null; void this.open(); }, wait_ms);
    if (this.retry_logged) return;
    this.retry_logged = true;
    this.log.warn('rapi', `cannot use the controller's port ${this.where} (${reason}): trying again in ${Math.round(wait_ms / 100) / 10} s, then with a growing backoff (up to ${Math.round((this.options.backoff_max_ms ?? 60000) / 1000)} s)`, { reason, retry_ms: wait_ms });
  }
}

// ---- the adapter ----

// OpenEVSE's state codes ($GS, $AT) and the EV-connected bit of its flags.
const state_sleeping = 0xfe;
const state_disabled = 0xff;
const vflag_ev_connected = 0x0100;
// The cookie for `$SY 165`, and the trigger value meaning "fell back, not acknowledged".
const hs_trigger_missed_noack = 2;

export interface RapiEvseOptions {
  target: RapiTarget;
  opener?: PortOpener;
  log?: Logger;
  // The controller's supervision: without a pulse for this long it falls to the heartbeat
  // current (whole seconds in RAPI). 5 s, as the simulated controller (docs/architecture.md).
  heartbeat_interval_s?: number;
  poll_interval_ms?: number; // $GS, $GG, $GC
  timeout_ms?: number; // per command
  unreachable_after?: number; // this many commands in a row without an answer
  backoff_initial_ms?: number;
  backoff_max_ms?: number;
  // Until the controller has told us, assume the worst: a car drawing this much.
  assumed_max_current_a?: number;
  voltage_v?: number; // when the controller has no voltmeter ($GG reports -1 mV)
}

export interface RapiEvseStatus {
  target: string;
  reachable: boolean;
  contacted: boolean; // has answered at least once since start
  supervision: { interval_s: number; current_a: number; armed: boolean; missed_pulses: number };
  link: RapiLinkStats;
}

type Step = { command: string; args: Array<string | number>; on: (r: RapiReply) => void };

export class RapiEvse implements EvseAdapter {
  readonly link: RapiLink;
  private readonly log: Logger;
  private readonly interval_s: number;
  private readonly unreachable_after: number;
  private readonly poll_timer: NodeJS.Timeout | null = null;
  private readonly voltage_v: number;
  private readonly assumed_max_a: number;

  // What the station wants.
  private desired_a = 0;
  private user_paused = false;
  private heartbeat_current_a = 0;
  private pulse_due = false;
  private poll_due: string[] = [];

  // What the controller was told and confirmed (null: unknown, send again).
  private supervision_applied: string | null = null;
  private capacity_applied: number | null = null;
  private sleep_applied: boolean | null = null;
  private supervision_refused = false;

  // What the controller reported.
  private contacted = false;
  private reachable = false;
  private failures_in_row = 0;
  private evse_state = 0;
  private vflags = 0;
  private amp_ma = 0;
  private voltage_mv = -1;
  private min_current_a = 6;
  private max_current_a: number;
  private capacity_a: number | null = null; // the pilot capacity it reported ($GC, $AT, $SC)
  private highest_commanded_a = 0; // the highest capacity sent since the last confirmation
  missed_pulses = 0;
  private warned_floor = false;
  private unreachable_logged = false;
  private refused_retry: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(options: RapiEvseOptions) {
    this.log = options.log ?? silent_logger;
    this.interval_s = Math.max(1, Math.round(options.heartbeat_interval_s ?? 5));
    this.unreachable_after = options.unreachable_after ?? 2;
    this.voltage_v = options.voltage_v ?? 240;
    this.assumed_max_a = options.assumed_max_current_a ?? 32;
    this.max_current_a = this.assumed_max_a;
    this.link = new RapiLink({
      target: options.target, opener: options.opener, timeout_ms: options.timeout_ms,
      backoff_initial_ms: options.backoff_initial_ms, backoff_max_ms: options.backoff_max_ms, log: this.log,
      on_async: (frame) => this.on_async(frame),
      on_open: () => { this.log.info('rapi', `port ${this.link.where} open`); this.resync(); this.kick(); },
      on_close: (reason) => this.on_lost(`the port closed (${reason})`),
    });
    const poll_ms = options.poll_interval_ms ?? 1000;
    this.poll_timer = setInterval(() => {
      if (this.poll_due.length === 0) this.poll_due = ['GS', 'GG', 'GC'];
      this.kick();
    }, poll_ms);
    this.poll_timer.unref?.();
    this.poll_due = ['GS', 'GG', 'GC'];
  }

  start(): void {
    this.link.start();
  }

  stop(): void {
    this.stopped = true;
    if (this.poll_timer) clearInterval(this.poll_timer);
    if (this.refused_retry) clearTimeout(this.refused_retry);
    this.link.stop();
  }

  // ---- EvseAdapter ----

  status(_now_ms: number): LocalEvseStatus {
    if (!this.reachable) {
      // Unknown: the controller may still offer its last pilot (or more, before we ever
      // reached it) until its own supervision drops it. Report a car drawing all of it, so
      // that nothing here frees current the car may still take.
      const may_a = this.contacted ? Math.max(this.capacity_a ?? this.assumed_max_a, this.highest_commanded_a) : this.assumed_max_a;
      return {
        vehicle: 1, state: this.contacted ? this.evse_state : 0, amp_ma: may_a * 1000, voltage: this.voltage(),
        pilot: may_a, min_current: this.min_current_a, max_current: this.max_current_a, demand: true,
      };
    }
    const asleep = this.evse_state === state_sleeping || this.evse_state === state_disabled;
    const vehicle = (this.vflags & vflag_ev_connected) !== 0 || this.evse_state === 2 || this.evse_state === 3 ? 1 : 0;
    return {
      vehicle,
      state: this.evse_state,
      amp_ma: Math.max(0, this.amp_ma),
      voltage: this.voltage(),
      // What it may offer: its capacity, or anything we sent and it has not confirmed yet.
      pilot: asleep && this.sleep_applied === true ? 0 : Math.max(this.capacity_a ?? 0, this.highest_commanded_a),
      min_current: this.min_current_a,
      max_current: this.max_current_a,
      // A car that load sharing (or the user) put to sleep still wants current.
      demand: vehicle === 1 && !this.user_paused,
    };
  }

  set_pilot_a(_now_ms: number, limit_a: number): void {
    const a = Math.max(0, Math.floor(limit_a));
    if (a === this.desired_a) return;
    this.desired_a = a;
    this.kick();
  }

  heartbeat(_now_ms: number): void {
    this.pulse_due = true;
    this.kick();
  }

  set_heartbeat_current_a(current_a: number): void {
    const a = Math.max(0, Math.floor(current_a));
    if (a === this.heartbeat_current_a && this.supervision_applied !== null) return;
    this.heartbeat_current_a = a;
    this.kick();
  }

  set_user_paused(_now_ms: number, paused: boolean): void {
    this.user_paused = paused;
    this.kick();
  }

  battery_level_pct(): number | null {
    return null; // RAPI does not know the car's state of charge
  }

  // ---- for /status, logs and tests ----

  controller_status(): RapiEvseStatus {
    return {
      target: this.link.where, reachable: this.reachable, contacted: this.contacted,
      supervision: { interval_s: this.interval_s, current_a: this.heartbeat_current_a, armed: this.supervision_applied === this.supervision_args().join(' '), missed_pulses: this.missed_pulses },
      link: { ...this.link.stats },
    };
  }

  private voltage(): number {
    return this.voltage_mv > 0 ? Math.round(this.voltage_mv / 100) / 10 : this.voltage_v;
  }

  private supervision_args(): [number, number] {
    return [this.interval_s, this.heartbeat_current_a];
  }

  private want_sleep(): boolean {
    return this.user_paused || this.supervision_refused || this.desired_a < this.min_current_a;
  }

  private capacity_wanted(): number {
    return Math.min(this.desired_a, this.max_current_a);
  }

  // Everything volatile must be told again (a new port, a rebooted controller, one that
  // answers again after a silence whose supervision may have fired).
  private resync(): void {
    this.supervision_applied = null;
    this.capacity_applied = null;
    this.sleep_applied = null;
    this.poll_due = ['GC', 'GS', 'GG'];
  }

  // The next command, in safety order: supervision armed, a pause before anything, a
  // capacity before a wake-up, then the pulse, then the polls.
  private next_step(): Step | null {
    const [interval_s, current_a] = this.supervision_args();
    const supervision = `${interval_s} ${current_a}`;
    if (this.supervision_applied !== supervision) {
      return { command: 'SY', args: [interval_s, current_a], on: (r) => this.on_supervision_set(r, supervision) };
    }
    const sleep = this.want_sleep();
    if (sleep && this.sleep_applied !== true) {
      return { command: 'FS', args: [], on: (r) => { if (r.ok) { this.sleep_applied = true; this.evse_state = state_sleeping; } } };
    }
    if (!sleep) {
      const want_a = this.capacity_wanted();
      if (this.capacity_applied !== want_a) {
        this.highest_commanded_a = Math.max(this.highest_commanded_a, want_a);
        return { command: 'SC', args: [want_a, 'V'], on: (r) => this.on_capacity_set(r, want_a) };
      }
      if (this.sleep_applied !== false) {
        return { command: 'FE', args: [], on: (r) => { if (r.ok) this.sleep_applied = false; } };
      }
    }
    if (this.pulse_due) {
      this.pulse_due = false;
      return { command: 'SY', args: [], on: (r) => this.on_pulse(r) };
    }
    const poll = this.poll_due.shift();
    if (poll === 'GS') return { command: 'GS', args: [], on: (r) => this.on_state(r) };
    if (poll === 'GG') return { command: 'GG', args: [], on: (r) => this.on_current(r) };
    if (poll === 'GC') return { command: 'GC', args: [], on: (r) => this.on_capacity(r) };
    return null;
  }

  private kick(): void {
    if (this.stopped || !this.link.connected() || this.link.busy()) return;
    const step = this.next_step();
    if (!step) return;
    this.link.send(step.command, step.args, (outcome) => {
      if ('reply' in outcome) {
        this.answered();
        step.on(outcome.reply);
      } else if (outcome.error !== 'closed') {
        this.failed(`$${step.command} ${outcome.error === 'timeout' ? 'timed out' : 'answer had a bad checksum'}`);
      }
      // Outside this callback: a chain of answers must not grow the stack.
      setImmediate(() => this.kick());
    });
  }

  private answered(): void {
    this.failures_in_row = 0;
    if (!this.reachable) {
      const again = this.contacted;
      this.reachable = true;
      this.contacted = true;
      this.unreachable_logged = false;
      if (again) {
        this.log.info('rapi', `controller at ${this.link.where} answers again: re-arming its supervision and re-applying the pilot`);
        this.resync();
      } else {
        this.log.info('rapi', `controller at ${this.link.where} answers`);
      }
    }
  }

  private failed(what: string): void {
    this.failures_in_row += 1;
    if (this.failures_in_row >= this.unreachable_after) this.on_lost(`${this.failures_in_row} commands in a row without an answer (last: ${what})`);
  }

  // One message per outage: the port closed, or the controller stopped answering.
  private on_lost(why: string): void {
    this.reachable = false;
    if (this.unreachable_logged) return;
    this.unreachable_logged = true;
    const may_a = this.contacted ? Math.max(this.capacity_a ?? this.assumed_max_a, this.highest_commanded_a) : this.assumed_max_a;
    this.log.error('rapi', `controller at ${this.link.where} unreachable: ${why}. Counting its car at ${may_a} A (the most it may offer) until it answers; its own supervision drops the pilot to ${Math.max(this.heartbeat_current_a, this.min_current_a)} A within ${this.interval_s} s of the last pulse`, { event: 'controller_unreachable', may_a });
  }

  private on_supervision_set(r: RapiReply, supervision: string): void {
    if (!r.ok) {
      if (!this.supervision_refused) this.log.error('rapi', `the controller refused heartbeat supervision ($SY ${supervision}): without it a crashed node would leave the car at its last pilot, so the charger stays asleep`);
      this.supervision_refused = true;
      // Asked again in 30 s, not in a tight loop (the pause above goes first meanwhile).
      this.supervision_applied = supervision;
      if (this.refused_retry) clearTimeout(this.refused_retry);
      this.refused_retry = setTimeout(() => { this.refused_retry = null; this.supervision_applied = null; this.kick(); }, 30000);
      this.refused_retry.unref?.();
      return;
    }
    this.supervision_refused = false;
    this.supervision_applied = supervision;
    if (this.heartbeat_current_a < this.min_current_a && !this.warned_floor) {
      this.warned_floor = true;
      // The firmware clamps the heartbeat current to its minimum (SetCurrentCapacity).
      this.log.warn('rapi', `the controller's supervision cannot go below its minimum: without pulses it falls to ${this.min_current_a} A, not the failsafe ${this.heartbeat_current_a} A; peers count a crashed charger right only with loadsharing_failsafe_peer_assumed_current at least ${this.min_current_a} A (docs/rapi.md)`);
    }
  }

  private on_pulse(r: RapiReply): void {
    const trigger = Number(r.args[2]);
    if (!r.ok || trigger === hs_trigger_missed_noack) {
      // The supervision fired: the controller dropped its capacity to the heartbeat current
      // and reports it until acknowledged. `$SY 165` would acknowledge it but also restore
      // the capacity to the controller's maximum before our `$SC`; setting the supervision
      // again clears the flag without raising anything, then the pilot is applied again.
      this.missed_pulses += 1;
      this.log.warn('rapi', `the controller's supervision fired (no pulse for ${this.interval_s} s): it fell to its heartbeat current; re-arming it and re-applying the pilot`);
      this.supervision_applied = null;
      this.capacity_applied = null;
    }
  }

  private on_capacity_set(r: RapiReply, want_a: number): void {
    const set_a = Number(r.args[0]);
    if (!Number.isFinite(set_a)) return;
    this.capacity_a = set_a;
    this.highest_commanded_a = set_a;
    if (set_a > want_a) {
      // The controller raised it (below its minimum, or a firmware that ignores V): not ours to offer.
      this.log.error('rapi', `the controller set ${set_a} A when asked for ${want_a} A: putting it to sleep`);
      this.sleep_applied = null;
      this.min_current_a = Math.max(this.min_current_a, want_a + 1);
      this.capacity_applied = want_a;
      return;
    }
    // A lower answer (its maximum, or over temperature) is taken as it is.
    this.capacity_applied = want_a;
  }

  private on_state(r: RapiReply): void {
    if (!r.ok || r.args.length < 4) return;
    const state = parseInt(r.args[0], 16);
    const vflags = parseInt(r.args[3], 16);
    if (Number.isFinite(state)) this.evse_state = state;
    if (Number.isFinite(vflags)) this.vflags = vflags;
    if (this.sleep_applied === true && state !== state_sleeping && state !== state_disabled) {
      // Something woke it (its button, a timer): put it back to sleep.
      this.sleep_applied = null;
    }
  }

  private on_current(r: RapiReply): void {
    if (!r.ok || r.args.length < 2) return;
    const ma = Number(r.args[0]);
    const mv = Number(r.args[1]);
    if (Number.isFinite(ma)) this.amp_ma = ma;
    if (Number.isFinite(mv)) this.voltage_mv = mv;
  }

  private on_capacity(r: RapiReply): void {
    if (!r.ok || r.args.length < 4) return;
    const [min_a, hmax_a, pilot_a, cmax_a] = r.args.map(Number);
    if ([min_a, hmax_a, pilot_a, cmax_a].some((v) => !Number.isFinite(v))) return;
    this.min_current_a = min_a;
    this.max_current_a = Math.min(hmax_a, cmax_a);
    this.capacity_a = pilot_a;
    this.highest_commanded_a = pilot_a;
    // Anything else changed it (its supervision, a button, a reboot): set ours again.
    if (this.capacity_applied !== null && pilot_a !== this.capacity_applied) this.capacity_applied = null;
  }

  private on_async(frame: RapiFrame): void {
    if (frame.name === 'AT' && frame.args.length >= 4) {
      const state = parseInt(frame.args[0], 16);
      const capacity = Number(frame.args[2]);
      const vflags = parseInt(frame.args[3], 16);
      if (Number.isFinite(state)) this.evse_state = state;
      if (Number.isFinite(vflags)) this.vflags = vflags;
      if (Number.isFinite(capacity)) {
        this.capacity_a = capacity;
        if (this.capacity_applied !== null && capacity !== this.capacity_applied) this.capacity_applied = null;
      }
    } else if (frame.name === 'AB') {
      this.log.warn('rapi', `the controller restarted (${frame.args.join(' ')}): setting its supervision and pilot again`);
      this.resync();
    }
    this.kick();
  }
}
