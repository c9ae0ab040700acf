// One client per joined peer: GET http://peer/status first (node:http: http-client.ts), then follow ws://peer/ws (the
// full document on connect, then changed keys). Every failure schedules the next attempt
// with exponential backoff, 1 s doubling to 60 s, reset once a socket opens; the first three
// retries of the initial GET are therefore at 1, 2 and 4 s. While disconnected the caller
// keeps the peer's last status (the engine ages it out by last_seen).
import WebSocket from 'ws';
import { http_text } from './http-client.js';
import type { Logger } from './log.js';
import type { Station } from '../station/station.js';

// What a link asks of its station: the signed headers of its requests, and the judgement of
// what comes back (group key, parsing, id binding, merging: station.ts).
export type LinkStation = Pick<Station, 'link_request' | 'handle_link_status' | 'open_session' | 'handle_link_frame' | 'handle_link_state'>;

export interface PeerLinkOptions {
  host: string; // host:port
  station: LinkStation;
  log: Logger;
  backoff_initial_ms?: number;
  backoff_max_ms?: number;
  silence_timeout_ms: () => number; // no frame for this long: the socket is presumed dead
  request_timeout_ms?: number;
  max_payload_bytes?: number;
}

export class PeerLink {
  private socket: WebSocket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private silence_timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private stopped = false;
  private connected = false;
  private abort: AbortController | null = null;

  constructor(private readonly options: PeerLinkOptions) {}

  get host(): string {
    return this.options.host;
  }

  is_connected(): boolean {
    return this.connected;
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.silence_timer) clearTimeout(this.silence_timer);
    this.timer = null;
    this.abort?.abort();
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.on('error', () => {});
      this.socket.terminate();
    }
    this.socket = null;
    this.set_connected(false);
  }

  // The delay before attempt number `attempt` (0-based): 1, 2, 4, ... 60 s.
  static backoff_ms(attempt: number, initial_ms = 1000, max_ms = 60000): number {
    return Math.min(max_ms, initial_ms * 2 ** Math.min(attempt, 16));
  }

  private schedule_retry(why: string): void {
    if (this.stopped) return;
    const delay_ms = PeerLink.backoff_ms(this.attempt, this.options.backoff_initial_ms, this.options.backoff_max_ms);
    this.attempt += 1;
    this.options.log.info('peer', `${this.options.host}: ${why}; retry in ${delay_ms / 1000} s`);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = null; void this.connect(); }, delay_ms);
  }

  // The peer just reached us (it restarted, or its network came back): our link to it need
  // not sit out the rest of its backoff.
  retry_now(): void {
    if (this.stopped || this.connected || this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.options.log.info('peer', `${this.options.host}: it reached us; retrying now`);
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const taken = await this.fetch_status();
    if (this.stopped) return; // the station may drop this peer (a duplicate)
    if (!taken) return; // fetch_status scheduled the retry
    this.open_socket();
  }

  // GET /status: the peer's whole document, judged by the station. True when it was taken.
  private async fetch_status(): Promise<boolean> {
    const request = this.options.station.link_request(this.options.host, '/status');
    if (request === null) return false; // no longer a member
    this.abort = new AbortController();
    try {
      const answer = await http_text(this.options.host, '/status', { headers: request.headers, signal: this.abort.signal, timeout_ms: this.options.request_timeout_ms ?? 3000 });
      if (this.stopped) return false;
      const problem = this.options.station.handle_link_status(request.check, answer);
      if (problem !== null) {
        this.schedule_retry(problem);
        return false;
      }
      return true;
    } catch (error) {
      if (!this.stopped) this.schedule_retry(`GET /status failed (${describe(error)})`);
      return false;
    }
  }

  private open_socket(): void {
    const request = this.options.station.link_request(this.options.host, '/ws');
    if (request === null) return;
    const session = this.options.station.open_session(request.check);
    const keyed = request.check.auth !== null;
    const socket = new WebSocket(`ws://${this.options.host}/ws`, {
      headers: request.headers,
      maxPayload: this.options.max_payload_bytes ?? 256 * 1024,
      handshakeTimeout: this.options.request_timeout_ms ?? 3000,
    });
    this.socket = socket;
    let authentic = false;
    socket.on('open', () => {
      // Success: the backoff starts again from 1 s (with a key: at the first authentic frame,
      // so that a peer without the key is not retried every second).
      if (!keyed) this.attempt = 0;
      this.set_connected(true);
      this.arm_silence_timer();
    });
    socket.on('message', (data, is_binary) => {
      this.arm_silence_timer();
      const text = is_binary ? null : frame_text(data);
      const result = this.options.station.handle_link_frame(session, text ?? '');
      if (result === 'refused') {
        // Dropped, and the socket with it: a session that was opened before a key change
        // (or to a charger without our key) can only be mended by a new signed handshake.
        socket.terminate();
        return;
      }
      if (result === 'ok' && keyed && !authentic) { authentic = true; this.attempt = 0; }
    });
    socket.on('error', (error) => {
      this.options.log.warn('peer', `${this.options.host}: socket error (${describe(error)})`);
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.silence_timer) clearTimeout(this.silence_timer);
      this.set_connected(false);
      this.schedule_retry('socket closed');
    });
  }

  // A peer that stops talking without closing (a dead host, a cut cable) is dropped so that
  // the reconnect loop can find it again; the engine already ages its status by last_seen.
  private arm_silence_timer(): void {
    if (this.silence_timer) clearTimeout(this.silence_timer);
    this.silence_timer = setTimeout(() => {
      this.options.log.warn('peer', `${this.options.host}: silent for ${this.options.silence_timeout_ms() / 1000} s; reconnecting`);
      this.socket?.terminate();
    }, this.options.silence_timeout_ms());
  }

  private set_connected(connected: boolean): void {
    if (connected === this.connected) return;
    this.connected = connected;
    this.options.station.handle_link_state(this.options.host, connected);
  }
}

function frame_text(data: WebSocket.RawData): string {
  return Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
}

function describe(error: unknown): string {
  const e = error as { cause?: { code?: string }; code?: string; name?: string; message?: string };
  return e?.cause?.code ?? e?.code ?? (e?.name === 'AbortError' || e?.name === 'TimeoutError' ? 'timeout' : e?.message ?? String(error));
}
