// The /ws status stream, OpenEVSE style: the full status document when a client connects,
// then only the keys that changed (a changed `loadsharing` block whole, see status_delta). {"ping":1} is answered {"pong":1}; anything else a client
// sends is ignored with a log line.
import type { Server, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Charger } from './charger.js';
import { is_signed } from './peer-auth.js';
import { LogThrottle, log_this_time, times } from './log-throttle.js';
import { ReconnectHints } from './reconnect-hints.js';

// A peer that signed its handshake with the group key gets every frame signed (peer-auth.ts):
// bound to its handshake nonce, counting up. Other clients (a browser) get plain frames.
interface Session { nonce: string; ctr: number }

export class StatusStream {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private last_doc: Record<string, unknown> | null = null;
  private readonly sessions = new WeakMap<WebSocket, Session>();
  private readonly on_status = (doc: Record<string, unknown>) => this.publish(doc);
  private readonly on_upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(request, socket, head);
  private readonly hints: ReconnectHints;
  private readonly refused_handshakes = new LogThrottle();

  constructor(private readonly server: Server, private readonly charger: Charger) {
    this.hints = new ReconnectHints(() => charger.clock.now_ms());
    server.on('upgrade', this.on_upgrade);
    charger.on('status', this.on_status);
    this.wss.on('connection', (socket, request: IncomingMessage) => {
      const auth = this.charger.group_auth();
      let signed = false;
      if (auth && is_signed(request.headers)) {
        const result = auth.verify_request(request.headers, 'GET', request.url ?? '/ws', '');
        if (result.ok) { this.sessions.set(socket, { nonce: result.nonce, ctr: 0 }); signed = true; }
        else this.log_refused(request, result.reason);
      }
      // Signed or rate-limited (reconnect-hints.ts).
      const host = request.headers['x-loadshare-host'];
      if (typeof host === 'string' && this.hints.accept(host, auth !== null, signed)) this.charger.peer_contacted(host);
      this.connection(socket);
    });
  }

  client_count(): number {
    return this.wss.clients.size;
  }

  close(): void {
    this.charger.off('status', this.on_status);
    this.server.off('upgrade', this.on_upgrade);
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.wss.emit('connection', ws, request));
  }

  private log_refused(request: IncomingMessage, reason: string): void {
    const count = this.refused_handshakes.note(request.socket.remoteAddress ?? '?');
    if (count !== null) this.charger.log.warn('ws', `signed handshake refused (${reason}); plain frames only${times(count)}`);
  }

  private connection(socket: WebSocket): void {
    this.send(socket, JSON.stringify(this.charger.status_doc()));
    // One log line per junk frame would let a client flood the log: 1st, 2nd, 4th … per connection.
    let junk = 0;
    let errors = 0;
    socket.on('message', (data, is_binary) => {
      let message: unknown = null;
      if (!is_binary) {
        try { message = JSON.parse(data.toString()); } catch { message = null; }
      }
      if (typeof message === 'object' && message !== null && (message as { ping?: unknown }).ping !== undefined) {
        socket.send(JSON.stringify({ pong: 1 }));
        return;
      }
      junk += 1;
      if (log_this_time(junk)) this.charger.log.warn('ws', `client frame ignored (${is_binary ? 'binary' : JSON.stringify(data.toString().slice(0, 40))})${times(junk)}`);
    });
    socket.on('error', (error) => { errors += 1; if (log_this_time(errors)) this.charger.log.warn('ws', `client socket error: ${error.message}${times(errors)}`); });
  }

  private publish(doc: Record<string, unknown>): void {
    const delta = this.last_doc === null ? doc : status_delta(this.last_doc, doc);
    this.last_doc = doc;
    if (Object.keys(delta).length === 0) return;
    const text = JSON.stringify(delta);
    for (const client of this.wss.clients) if (client.readyState === client.OPEN) this.send(client, text);
  }

  private send(socket: WebSocket, text: string): void {
    const session = this.sessions.get(socket);
    const auth = session ? this.charger.group_auth() : null;
    if (session && auth) {
      session.ctr += 1;
      socket.send(auth.sign_frame(session.nonce, session.ctr, text));
    } else {
      socket.send(text);
    }
  }
}

// The changed top-level keys. A changed `loadsharing` block is sent whole: clients merge frames
// shallowly (python-openevse-http does `status.update(frame)`), so a block in pieces would
// leave them with only its last changed fields (issue 16).
export function status_delta(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, unknown> {
  const delta: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(after)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(value)) delta[key] = value;
  }
  return delta;
}
