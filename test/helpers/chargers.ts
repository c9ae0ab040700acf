// In-process chargers on loopback for the config-sync tests: each a real Charger with its
// real HTTP app and /ws server listening on 127.0.0.1, so peers talk over real sockets.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../host-node/core.js';
import { Charger, type ChargerOptions } from '../../host-node/node/charger.js';
import { build_app } from '../../host-node/node/app.js';
import { StatusStream } from '../../host-node/node/ws-server.js';
import { make_logger, type Logger } from '../../host-node/node/log.js';
import { free_port, wait_until } from './node-proc.js';
import { admin_auth, admin_config } from './admin.js';

export interface Live {
  id: string;
  charger: Charger;
  app: FastifyInstance;
  stream: StatusStream | null;
  port: number;
  host: string; // 127.0.0.1:port
  base: string;
  dir: string;
  lines: string[];
  running: boolean;
}

export interface LiveOptions extends Partial<ChargerOptions> {
  stored_config?: Record<string, unknown>; // written as config.json before the charger starts
  fresh?: boolean; // true: no admin password; else set up with test/helpers/admin.ts
  listen?: boolean; // default true
}

export function capture_logger(id: string, lines: string[]): Logger {
  return make_logger({ json: false, id, write: (line) => { lines.push(line.trimEnd()); } });
}

export class Fleet {
  readonly all: Live[] = [];
  private readonly root = mkdtempSync(join(tmpdir(), 'loadshare-sync-'));

  constructor(private readonly core: Core) {}

  async port(): Promise<number> {
    return await free_port();
  }

  async make(id: string, options: LiveOptions = {}, port?: number): Promise<Live> {
    const p = port ?? await free_port();
    const dir = join(this.root, id);
    mkdirSync(dir, { recursive: true });
    if (options.stored_config) writeFileSync(join(dir, 'config.json'), JSON.stringify(options.stored_config));
    const lines: string[] = [];
    const { fresh, stored_config: _stored, listen: _listen, ...charger_options } = options;
    const charger = await Charger.create({
      id, host: '127.0.0.1', http_port: p, data_dir: dir, core: this.core, mdns: false,
      log: capture_logger(id, lines), backoff_initial_ms: 100, backoff_max_ms: 1000,
      timing: { tick_interval_ms: 200 },
      ...charger_options,
      config_overrides: fresh ? options.config_overrides : { ...admin_config, ...options.config_overrides },
    });
    const app = await build_app(charger);
    const live: Live = { id, charger, app, stream: null, port: p, host: `127.0.0.1:${p}`, base: `http://127.0.0.1:${p}`, dir, lines, running: false };
    this.all.push(live);
    if (options.listen ?? true) await this.listen(live);
    return live;
  }

  async listen(live: Live): Promise<void> {
    live.stream = new StatusStream(live.app.server, live.charger);
    await live.app.listen({ host: '127.0.0.1', port: live.port });
    live.charger.start();
    live.running = true;
  }

  async stop(live: Live): Promise<void> {
    if (!live.running) { await live.charger.stop(); return; }
    live.running = false;
    await live.charger.stop();
    live.stream?.close();
    await live.app.close();
  }

  async close(): Promise<void> {
    for (const live of this.all) {
      try { await this.stop(live); } catch { /* already stopped */ }
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

export async function get(live: Live, path: string): Promise<any> {
  return (await live.app.inject({ method: 'GET', url: path })).json();
}

// With the test admin's credentials (a person at the page).
export async function post(live: Live, path: string, body: unknown): Promise<{ status: number; json: any }> {
  const r = await live.app.inject({ method: 'POST', url: path, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...admin_auth } });
  return { status: r.statusCode, json: r.json() };
}

export async function until(what: string, check: () => boolean | Promise<boolean>, lives: Live[], timeout_ms = 15000): Promise<void> {
  await wait_until(check, timeout_ms, what, () => lives.map((l) => `--- ${l.id}\n${l.lines.slice(-25).join('\n')}`).join('\n'));
}
