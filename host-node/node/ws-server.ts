// The /ws status stream, OpenEVSE style: the document the station last published when a
// client connects, then only the top-level keys that changed (a changed `loadsharing` block
// whole: station/wire.ts). {"ping":1} is answered {"pong":1}; anything else a client
// sends is ignored with a log line. A peer that signed its handshake with the group key gets
// every frame signed (station.ts: bound to its handshake nonce, counting up); other clients
// (a browser) get plain frames.
import type { Server, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Charger } from './charger.js';
import type { Subscriber } from '../station/station.js';
import { LogThrottle, log_this_time, times } from './log-throttle.js';
import { ReconnectHints } from './reconnect-hints.js';

export class StatusStream {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly subscribers = new WeakMap<WebSocket, Subscriber>();
  private readonly on_frame = (text: string) => this.publish(text);
  private readonly on_upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(request, socket, head);
  private readonly hints: ReconnectHints;
  private readonly refused_handshakes = new LogThrottle();

  constructor(private readonly server: Server, private readonly charger: Charger) {
    this.hints = new ReconnectHints(() => charger.clock.now_ms());
    server.on('upgrade', this.on_upgrade);
    charger.on('frame', this.on_frame);
    this.wss.on('connection', (socket, request: IncomingMessage) => {
      const subscriber = this.charger.station.open_subscriber(request.headers, request.url ?? '/ws');
      if (subscriber.refused !== null) this.log_refused(request, subscriber.refused);
      this.subscribers.set(socket, subscriber);
      // Signed or rate-limited (reconnect-hints.ts).
      const host = request.headers['x-loadshare-host'];
      if (typeof host === 'string' && this.hints.accept(host, this.charger.group_auth() !== null, subscriber.nonce !== null)) this.charger.peer_contacted(host);
      this.connection(socket);
    });
  }

  client_count(): number {
    return this.wss.clients.size;
  }

  close(): void {
    this.charger.off('frame', this.on_frame);
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
    this.send(socket, this.charger.station.status_text());
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

  private publish(text: string): void {
    for (const client of this.wss.clients) if (client.readyState === client.OPEN) this.send(client, text);
  }

  private send(socket: WebSocket, text: string): void {
    const subscriber = this.subscribers.get(socket);
    socket.send(subscriber ? this.charger.station.frame_for(subscriber, text) : text);
  }
}
