// The /ws status stream: the full status document on connect, then changed keys only.
// Reconnects with backoff; a ping every 20 s keeps idle proxies from closing the socket and
// tells a dead connection apart (no pong within 10 s: reconnect).
import { merge_status, type StatusDoc } from './model';

export interface LiveCallbacks {
  on_doc: (doc: StatusDoc, changed: Record<string, unknown>) => void;
  on_connected: (connected: boolean) => void;
}

export class LiveStatus {
  private socket: WebSocket | null = null;
  private doc: StatusDoc = {};
  private fresh = true; // the next message is a full document
  private retry_ms = 1000;
  private retry_timer: ReturnType<typeof setTimeout> | null = null;
  private ping_timer: ReturnType<typeof setInterval> | null = null;
  private pong_deadline_ms: number | null = null;
  private stopped = false;

  constructor(private readonly url: string, private readonly callbacks: LiveCallbacks) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry_timer) clearTimeout(this.retry_timer);
    if (this.ping_timer) clearInterval(this.ping_timer);
    this.socket?.close();
    this.socket = null;
  }

  private open(): void {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.fresh = true;
    socket.onopen = () => {
      this.retry_ms = 1000;
      this.callbacks.on_connected(true);
      this.pong_deadline_ms = null;
      if (this.ping_timer) clearInterval(this.ping_timer);
      this.ping_timer = setInterval(() => this.ping(), 20000);
    };
    socket.onmessage = (event) => {
      let message: unknown;
      try { message = JSON.parse(String(event.data)); } catch { return; }
      if (message === null || typeof message !== 'object' || Array.isArray(message)) return;
      const m = message as Record<string, unknown>;
      if ('pong' in m) { this.pong_deadline_ms = null; return; }
      this.doc = this.fresh ? merge_status({}, m) : merge_status(this.doc, m);
      this.fresh = false;
      this.callbacks.on_doc(this.doc, m);
    };
    socket.onclose = () => this.closed(socket);
    socket.onerror = () => socket.close();
  }

  private ping(): void {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    if (this.pong_deadline_ms !== null && Date.now() > this.pong_deadline_ms) {
      this.socket.close();
      return;
    }
    this.socket.send(JSON.stringify({ ping: 1 }));
    if (this.pong_deadline_ms === null) this.pong_deadline_ms = Date.now() + 10000;
  }

  private closed(socket: WebSocket): void {
    if (socket !== this.socket) return;
    this.socket = null;
    if (this.ping_timer) clearInterval(this.ping_timer);
    this.ping_timer = null;
    this.callbacks.on_connected(false);
    if (this.stopped) return;
    this.retry_timer = setTimeout(() => this.open(), this.retry_ms);
    this.retry_ms = Math.min(this.retry_ms * 2, 10000);
  }
}

export function ws_url(location: Location): string {
  const base = new URL('ws', location.href.replace(/[^/]*$/, ''));
  base.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return base.toString();
}
