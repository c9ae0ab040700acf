// The /ws status stream, OpenEVSE style: the document the station last published when a
// client connects, then only what changed (top-level keys, and inside `loadsharing` only the
// changed fields: station/wire.ts). {"ping":1} is answered {"pong":1}; anything else a client
// sends is ignored with a log line. A peer that signed its handshake with the group key gets
// every frame signed (station.ts: bound to its handshake nonce, counting up); other clients
// (a browser) get plain frames.
import type { Server, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Charger } from './charger.js';
import type { Subscriber } from '../station/station.js';

export class StatusStream {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly subscribers = new WeakMap<WebSocket, Subscriber>();
  private readonly on_frame = (text: string) => this.publish(text);
  private readonly on_upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(request, socket, head);

  constructor(private readonly server: Server, private readonly charger: Charger) {
    server.on('upgrade', this.on_upgrade);
    charger.on('frame', this.on_frame);
    this.wss.on('connection', (socket, request: IncomingMessage) => {
      const host = request.headers['x-loadshare-host'];
      if (typeof host === 'string') this.charger.peer_contacted(host);
      this.subscribers.set(socket, this.charger.station.open_subscriber(request.headers, request.url ?? '/ws'));
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

  private connection(socket: WebSocket): void {
    this.send(socket, this.charger.station.status_text());
    socket.on('message', (data, is_binary) => {
      let message: unknown = null;
      if (!is_binary) {
        try { message = JSON.parse(data.toString()); } catch { message = null; }
      }
      if (typeof message === 'object' && message !== null && (message as { ping?: unknown }).ping !== undefined) {
        socket.send(JSON.stringify({ pong: 1 }));
        return;
      }
      this.charger.log.warn('ws', `client frame ignored (${is_binary ? 'binary' : JSON.stringify(data.toString().slice(0, 40))})`);
    });
    socket.on('error', (error) => this.charger.log.warn('ws', `client socket error: ${error.message}`));
  }

  private publish(text: string): void {
    for (const client of this.wss.clients) if (client.readyState === client.OPEN) this.send(client, text);
  }

  private send(socket: WebSocket, text: string): void {
    const subscriber = this.subscribers.get(socket);
    socket.send(subscriber ? this.charger.station.frame_for(subscriber, text) : text);
  }
}
