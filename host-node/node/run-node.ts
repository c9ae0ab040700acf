// `loadshare node`: one charger process. Listens on --host:--http-port until SIGINT/SIGTERM,
// then stops its timers and links, closes its sockets and exits (files are written durably
// at every change, so nothing is left to flush but the last peers file).
import { readFileSync, existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Ajv } from 'ajv';
import { Charger } from './charger.js';
import { build_app } from './app.js';
import { StatusStream } from './ws-server.js';
import { make_logger } from './log.js';
import { config_write_schema, ConfigError, type NodeConfig } from './config.js';
import { check_peer_id } from './peers.js';
import type { KeyObject } from 'node:crypto';
import { load_public_key } from '../modules/package.js';
import { MqttBridge } from './mqtt.js';
import type { RapiTarget } from '../evse/rapi.js';

export class NodeUsageError extends Error {}

export interface NodeCliOptions {
  id: string;
  httpPort: string;
  host: string;
  dataDir: string;
  peer: string[];
  mdns: boolean;
  config?: string;
  logJson: boolean;
  mdnsInterval: string;
  moduleKey?: string[];
  configSync?: boolean; // --no-config-sync: false (docs/config-sync.md)
  controller?: string; // sim (default), rapi:DEVICE or rapi:tcp://IP:PORT (docs/rapi.md)
}

// --controller: null for the simulated EVSE. A serial device must exist at start (a typo
// would otherwise only show as reconnect attempts in the log); it may come and go later.
// The RAPI driver is loaded only then (charger.ts).
async function read_controller(value: string | undefined): Promise<RapiTarget | null> {
  if (value === undefined || value === 'sim') return null;
  const { parse_rapi_target, RapiTargetError } = await import('../evse/rapi.js');
  let target: RapiTarget;
  try {
    target = parse_rapi_target(value);
  } catch (error) {
    if (error instanceof RapiTargetError) throw new NodeUsageError(error.message);
    throw error;
  }
  if (target.kind === 'serial' && !existsSync(target.path)) throw new NodeUsageError(`--controller ${value}: ${target.path} does not exist`);
  return target;
}

// The module-signing public keys this charger trusts for hot swap (docs/hot-swap.md).
function read_module_keys(files: string[]): KeyObject[] {
  return files.map((file) => {
    try {
      return load_public_key(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new NodeUsageError(`--module-key ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  });
}

function read_config_file(file: string): Partial<NodeConfig> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new NodeUsageError(`--config ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const ajv = new Ajv({ coerceTypes: false, removeAdditional: false, allErrors: false });
  const validate = ajv.compile(config_write_schema);
  if (!validate(doc)) {
    const e = validate.errors![0];
    const where = e.instancePath.replace(/^\//, '') || (e.params as { additionalProperty?: string }).additionalProperty || 'document';
    throw new NodeUsageError(`--config ${file}: ${where} ${e.keyword === 'additionalProperties' ? 'is not a known key' : e.message}`);
  }
  return doc as Partial<NodeConfig>;
}

// Start-up (loading Fastify, compiling every route's schemas, the wasm core) leaves garbage
// and makes V8 grow its young generation to 16 MB, which it keeps until its memory reducer
// runs many seconds later; a charger has nothing to keep from that burst. One full collection
// that reduces the footprint (V8's "last resort" flavour also shrinks the young generation)
// brings the idle node from about 91 to 79 MB on Node 24 (docs/performance.md). The gc
// function is exposed for that one call only. Best effort: if a Node release refuses it, the
// node runs as before and V8's memory reducer frees the same memory later.
export function release_startup_memory(): boolean {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (options?: object) => void;
    setFlagsFromString('--no-expose-gc');
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    return true;
  } catch {
    return false;
  }
}

export async function run_node(options: NodeCliOptions): Promise<number> {
  if (!check_peer_id(options.id)) throw new NodeUsageError('--id must be 1..32 printable characters without spaces or commas, not starting with "?"');
  const port = Number(options.httpPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new NodeUsageError(`--http-port must be a port number, not "${options.httpPort}"`);
  const mdns_interval_s = Number(options.mdnsInterval);
  if (!Number.isFinite(mdns_interval_s) || mdns_interval_s < 1) throw new NodeUsageError('--mdns-interval must be at least 1 second');
  const config_overrides = options.config ? read_config_file(options.config) : undefined;
  const module_keys = read_module_keys(options.moduleKey ?? []);
  const controller = await read_controller(options.controller);
  const log = make_logger({ json: options.logJson, id: options.id });

  let charger: Charger;
  try {
    charger = await Charger.create({
      id: options.id, host: options.host, http_port: port, data_dir: options.dataDir, peers: options.peer,
      config_overrides, mdns: options.mdns, mdns_interval_ms: mdns_interval_s * 1000, log, module_keys,
      config_sync: options.configSync ?? true, controller,
    });
  } catch (error) {
    if (error instanceof ConfigError) throw new NodeUsageError(`--config: ${error.message}`);
    const code = (error as NodeJS.ErrnoException).code;
    if (code && /^E[A-Z]+$/.test(code)) throw new NodeUsageError(`--data-dir ${options.dataDir}: ${code}`);
    throw error;
  }
  const app = await build_app(charger);
  const stream = new StatusStream(app.server, charger);
  try {
    await app.listen({ host: options.host, port });
  } catch (error) {
    throw new NodeUsageError(`cannot listen on ${options.host}:${port}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  charger.start();
  const mqtt = new MqttBridge(charger); // connects when mqtt_enabled and mqtt_server are set (docs/api.md, MQTT)
  mqtt.start();
  release_startup_memory();
  log.info('node', `listening on http://${options.host}:${port} (ws://${options.host}:${port}/ws), data in ${options.dataDir}, ${charger.peer_records().length} peer(s)`);

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info('node', `${signal}: shutting down`);
      void (async () => {
        await mqtt.stop();
        await charger.stop();
        stream.close();
        await app.close();
        log.info('node', 'stopped; files flushed');
        resolve(0);
      })();
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
}
