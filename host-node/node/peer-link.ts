// One client per joined peer: GET http://peer/status first, then follow ws://peer/ws (the
// full document on connect, then changed keys). Every failure schedules the next attempt
// with exponential backoff, 1 s doubling to 60 s, reset once a socket opens; the first three
// retries of the initial GET are therefore at 1, 2 and 4 s. While disconnected the caller
// keeps the peer's last status (the engine ages it out by last_seen).
import WebSocket from 'ws';
import type { Logger } from './log.js';
import type { GroupAuth } from './peer-auth.js';

export interface PeerLinkHandlers {
  // A status document (full: replaces the previous one; otherwise a delta to merge).
  on_status(doc: Record<string, unknown>, full: boolean): void;
  on_connected(connected: boolean): void;
  // With a group key: a status or frame that failed authentication (it was dropped).
  on_auth_failure?(reason: string): void;
}

export interface PeerLinkOptions {
  host: string; // host:port
  auth_header: () => string | null; // this node's credentials, sent to every peer
  // The group key (peer-auth.ts), or null: then status is taken unauthenticated, as upstream.
  // With a key, only a signed GET /status answer and signed /ws frames reach on_status.
  group_auth?: () => GroupAuth | null;
  self_id?: string;
  self_address: string; // sent as x-loadshare-host so the peer can retry its own link to us at once
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
  malformed_count = 0;

  constructor(private readonly options: PeerLinkOptions, private readonly handlers: PeerLinkHandlers) {}

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

  private headers(path: string): { headers: Record<string, string>; auth: GroupAuth | null; nonce: string } {
    const basic = this.options.auth_header();
    const headers: Record<string, string> = { 'x-loadshare-host': this.options.self_address };
    if (basic) headers.authorization = basic;
    const auth = this.options.group_auth?.() ?? null;
    let nonce = '';
    if (auth) {
      const signed = auth.sign_request('GET', path, '', this.options.self_id ?? '');
      Object.assign(headers, signed.headers);
      nonce = signed.nonce;
    }
    return { headers, auth, nonce };
  }

  private auth_failed(reason: string): void {
    this.handlers.on_auth_failure?.(reason);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const doc = await this.fetch_status();
    if (this.stopped) return;
    if (doc === null) return; // fetch_status scheduled the retry
    this.handlers.on_status(doc, true);
    if (this.stopped) return; // the handler may drop this peer (a duplicate)
    this.open_socket();
  }

  private async fetch_status(): Promise<Record<string, unknown> | null> {
    this.abort = new AbortController();
    const timeout = setTimeout(() => this.abort?.abort(), this.options.request_timeout_ms ?? 3000);
    try {
      const { headers, auth, nonce } = this.headers('/status');
      const response = await fetch(`http://${this.options.host}/status`, { headers, signal: this.abort.signal });
      if (!response.ok) {
        this.schedule_retry(`GET /status answered ${response.status}`);
        return null;
      }
      const text = await response.text();
      if (auth) {
        const problem = auth.verify_response(Object.fromEntries(response.headers), nonce, response.status, text);
        if (problem) {
          // Not from a member of the group (or tampered with): ignored, the peer stays offline.
          this.auth_failed(`GET /status: ${problem}`);
          this.schedule_retry(`GET /status not authenticated (${problem})`);
          return null;
        }
      }
      const doc = JSON.parse(text) as unknown;
      if (!is_object(doc)) {
        this.malformed_count += 1;
        this.schedule_retry('GET /status is not a JSON object');
        return null;
      }
      return doc;
    } catch (error) {
      if (!this.stopped) this.schedule_retry(`GET /status failed (${describe(error)})`);
      return null;
    } finally {
      clearTimeout(timeout);
    }
  }

  private open_socket(): void {
    const { headers, auth, nonce } = this.headers('/ws');
    let last_ctr = 0;
    const socket = new WebSocket(`ws://${this.options.host}/ws`, {
      headers,
      maxPayload: this.options.max_payload_bytes ?? 256 * 1024,
      handshakeTimeout: this.options.request_timeout_ms ?? 3000,
    });
    this.socket = socket;
    let first = true;
    socket.on('open', () => {
      // Success: the backoff starts again from 1 s (with a key: at the first authentic frame,
      // so that a peer without the key is not retried every second).
      if (!auth) this.attempt = 0;
      this.set_connected(true);
      this.arm_silence_timer();
    });
    socket.on('message', (data, is_binary) => {
      this.arm_silence_timer();
      let doc = parse_frame(data, is_binary);
      if (doc === null) {
        this.malformed_count += 1;
        this.options.log.warn('peer', `${this.options.host}: malformed frame ignored (${frame_preview(data)})`);
        return;
      }
      if ('pong' in doc && Object.keys(doc).length === 1) return;
      if (auth) {
        const verified = auth.verify_frame(nonce, last_ctr, doc);
        if (typeof verified === 'string') {
          // Dropped, and the socket with it: a session that was opened before a key change
          // (or to a charger without our key) can only be mended by a new signed handshake.
          this.auth_failed(`/ws: ${verified}`);
          socket.terminate();
          return;
        }
        if (last_ctr === 0) this.attempt = 0;
        last_ctr = verified.ctr;
        try { doc = JSON.parse(verified.text) as Record<string, unknown>; } catch { doc = null; }
        if (!is_object(doc)) { this.malformed_count += 1; return; }
      }
      // The server's first frame is its full document.
      this.handlers.on_status(doc, first);
      first = false;
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
    this.handlers.on_connected(connected);
  }
}

function is_object(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parse_frame(data: WebSocket.RawData, is_binary: boolean): Record<string, unknown> | null {
  if (is_binary) return null;
  try {
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    const doc = JSON.parse(text) as unknown;
    return is_object(doc) ? doc : null;
  } catch {
    return null;
  }
}

function frame_preview(data: WebSocket.RawData): string {
  const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);
}

function describe(error: unknown): string {
  const e = error as { cause?: { code?: string }; code?: string; name?: string; message?: string };
  return e?.cause?.code ?? e?.code ?? (e?.name === 'AbortError' ? 'timeout' : e?.message ?? String(error));
}
