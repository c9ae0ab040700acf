// MQTT against a real broker: Debian's Mosquitto, started here on a free loopback port with a
// password file, stopped after. A charger with its MQTT bridge publishes upstream's topics,
// the load-sharing state and Home Assistant discovery; upstream's set topics act through the
// claims (lower, never above the group's limit); input topics feed the charger.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { Core } from '../host-node/core.js';
import { Charger } from '../host-node/node/charger.js';
import { MqttBridge } from '../host-node/node/mqtt.js';
import { reply } from '../host-node/node/upstream.js';
import { root } from './helpers/dist.js';
import { free_port, wait_until } from './helpers/node-proc.js';
import { capture_logger } from './helpers/chargers.js';
import { admin_config } from './helpers/admin.js';

let work: string;
let broker: ChildProcess;
let broker_log = '';
let port: number;
let core: Core;
let watcher: MqttClient;
const seen = new Map<string, { payload: string; retain: boolean }>();
const user = 'evse';
const pass = 'secret-broker-pass';

beforeAll(async () => {
  execFileSync('bash', [join(root, 'scripts', 'ensure-system-packages.sh'), 'mosquitto'], { stdio: 'inherit', timeout: 900000 });
  core = await Core.load();
  work = mkdtempSync(join(tmpdir(), 'loadshare-mqtt-'));
  port = await free_port();
  const passwd = join(work, 'passwd');
  writeFileSync(passwd, '');
  execFileSync('mosquitto_passwd', ['-b', passwd, user, pass]);
  const conf = join(work, 'mosquitto.conf');
  // Started as root, Mosquitto drops to its own user, which cannot read our private temp dir.
  const as_root = process.getuid?.() === 0 ? ['user root'] : [];
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${passwd}`, 'persistence false', 'log_dest stderr', ...as_root, ''].join('\n'));
  broker = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  broker.stderr!.on('data', (d: Buffer) => { broker_log += d.toString(); });
  await wait_until(() => /running/.test(broker_log), 15000, 'mosquitto to start', () => broker_log);
  watcher = await connectAsync({ host: '127.0.0.1', port, username: user, password: pass, clientId: 'test-watcher' });
  watcher.on('message', (topic, payload, packet) => seen.set(topic, { payload: payload.toString(), retain: packet.retain }));
  await watcher.subscribeAsync('#');
}, 900000);

afterAll(async () => {
  await watcher?.endAsync();
  broker?.kill('SIGTERM');
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Made { charger: Charger; bridge: MqttBridge; lines: string[] }
const made: Made[] = [];
afterAll(async () => { for (const m of made) { await m.bridge.stop(); await m.charger.stop(); } });

async function make(id: string, config: Record<string, unknown>): Promise<Made> {
  const lines: string[] = [];
  const charger = await Charger.create({ id, host: '127.0.0.1', http_port: 8001, data_dir: join(work, id), core, mdns: false, log: capture_logger(id, lines), car: { lag_ms: 0 } });
  charger.apply_config({ ...admin_config, mqtt_enabled: true, mqtt_server: '127.0.0.1', mqtt_port: port, mqtt_user: user, mqtt_pass: pass, ...config });
  const bridge = new MqttBridge(charger, { reconnect_ms: 500 });
  charger.start();
  bridge.start();
  const m = { charger, bridge, lines };
  made.push(m);
  return m;
}

const value = (topic: string) => seen.get(topic)?.payload;
const until = (topic: string, expected: string | RegExp, what = topic) =>
  wait_until(() => { const v = value(topic); return v !== undefined && (typeof expected === 'string' ? v === expected : expected.test(v)); }, 15000,
    `${what} = ${expected}`, () => `${topic} = ${value(topic)}`);
const send = (topic: string, payload: string) => watcher.publishAsync(topic, payload);

describe('a charger on a real Mosquitto', () => {
  let m: Made;
  beforeAll(async () => {
    m = await make('garage', { mqtt_topic: 'evse1', mqtt_vrms: 'home/vrms' });
    await wait_until(() => m.bridge.is_connected(), 15000, 'the bridge to connect', () => m.lines.join('\n'));
    m.charger.set_car({ connected: true, soc: 30, max_current: 32 });
  });

  test('announce (retained, with a last will), status under the upstream layout, load-sharing state', async () => {
    await until('evse1/pilot', '32');
    const announce = JSON.parse(value('openevse/announce/garage')!);
    expect(announce).toMatchObject({ state: 'connected', id: 'garage', name: 'garage', mqtt: 'evse1' });
    expect(seen.get('openevse/announce/garage')!.retain).toBe(false); // live delivery; the broker keeps it retained for later subscribers
    await until('evse1/amp', '32000');
    await until('evse1/state', '3');
    expect(value('evse1/vehicle')).toBe('1');
    expect(value('evse1/voltage')).toBe('240');
    expect(value('evse1/mqtt_connected')).toBe('1');
    await until('evse1/loadsharing/allocation', '32');
    await until('evse1/loadsharing/group_draw', '32');
    expect(value('evse1/loadsharing/group_limit')).toBe('32');
    expect(value('evse1/loadsharing/failsafe')).toBe('false');
    expect(value('evse1/loadsharing/reason')).toMatch(/^[a-z_]+$/);
    const config = JSON.parse(value('evse1/config')!);
    expect(config).toMatchObject({ mqtt_topic: 'evse1', mqtt_pass: '_DUMMY_PASSWORD', version: '5.0.0' });
    expect(value('evse1/config')).not.toContain(pass);
    expect((await fetch_status(m)).mqtt_connected).toBe(1);
  });

  test('Home Assistant discovery: one retained document per entity, each pointing at a topic that is published', async () => {
    await until('evse1/pilot', /\d+/);
    const docs = [...seen.entries()].filter(([t]) => t.startsWith('homeassistant/'));
    const objects = docs.map(([t]) => t.replace(/^homeassistant\/([a-z_]+)\/garage\/([a-z_]+)\/config$/, '$1:$2')).sort();
    expect(objects).toEqual(['binary_sensor:loadsharing_failsafe', 'binary_sensor:vehicle', 'number:charge_current', 'sensor:charging_current', 'sensor:group_draw',
      'sensor:group_limit', 'sensor:loadsharing_allocation', 'sensor:loadsharing_reason', 'sensor:pilot', 'sensor:power', 'sensor:session_energy', 'sensor:state',
      'sensor:voltage', 'switch:pause']);
    for (const [, { payload }] of docs) {
      const doc = JSON.parse(payload);
      expect(doc.unique_id).toMatch(/^loadshare_garage_/);
      expect(doc.device.identifiers).toEqual(['loadshare_garage']);
      expect(doc.availability_topic).toBe('openevse/announce/garage');
      expect(value(doc.state_topic), doc.state_topic).toBeDefined();
    }
    // The Home Assistant number entity, used as HA would: its command template rendered.
    const number = JSON.parse(value('homeassistant/number/garage/charge_current/config')!);
    await send(number.command_topic, number.command_template.replace('{{ value | int }}', '14'));
    await until('evse1/pilot', '14', 'HA number -> pilot');
    await send('evse1/claim/set', 'release');
    await until('evse1/pilot', '32');
  });

  test('set topics act through the claims: claim, override, limit, divert mode, RAPI, config', async () => {
    await send('evse1/claim/set', '{"charge_current": 10}');
    await until('evse1/pilot', '10');
    expect(JSON.parse(value('evse1/claim')!)).toEqual({ priority: 500, charge_current: 10 });
    expect(m.charger.evse.pilot_a(Date.now())).toBe(10);
    await send('evse1/claim/set', 'release');
    await until('evse1/claim', '{"state":"null"}');
    await until('evse1/pilot', '32');

    await send('evse1/override/set', '{"state": "disabled"}');
    await until('evse1/state', '254');
    expect(value('evse1/pilot')).toBe('0');
    await send('evse1/override/set', 'toggle');
    await until('evse1/override', '{"state":"null"}');
    await until('evse1/pilot', '32');

    await send('evse1/limit/set', '{"type": "soc", "value": 10}');
    await until('evse1/limit', '{"type":"soc","value":10,"auto_release":true}');
    await until('evse1/pilot', '0', 'a reached soc limit');
    await send('evse1/limit/set', 'clear');
    await until('evse1/pilot', '32');

    await send('evse1/divertmode/set', '2');
    await until('evse1/divertmode', '2');
    await until('evse1/pilot', '0', 'eco without sun');
    await send('evse1/divertmode/set', '1');
    await until('evse1/pilot', '32');

    await send('evse1/rapi/in/$SC', '12 V');
    await until('evse1/rapi/out', reply('$OK 12'));
    await until('evse1/pilot', '12');
    await send('evse1/rapi/in/$SC', '32 V');
    await until('evse1/pilot', '32');

    await send('evse1/config/set', '{"service": 1}');
    await until('evse1/pilot', '16', 'config/set service 1');
    await send('evse1/config/set', '{"service": 2, "www_password": "taken-over"}');
    await wait_until(() => m.lines.some((l) => l.includes('www_password cannot be set over MQTT')), 5000, 'the refusal');
    await send('evse1/config/set', '{"loadsharing_group_max_current": 100}');
    await wait_until(() => m.lines.some((l) => l.includes('loadsharing_group_max_current cannot be set over MQTT')), 5000, 'the refusal');
    expect(m.charger.raw_config()).toMatchObject({ service: 1, www_password: admin_config.www_password, loadsharing_group_max_current: 32 });
    await send('evse1/config/set', '{"service": 2}');
    await until('evse1/pilot', '32');
  });

  test('nothing set over MQTT lifts the pilot above the group\'s limit', async () => {
    m.charger.apply_config({ loadsharing_group_max_current: 8 });
    await until('evse1/pilot', '8');
    await until('evse1/loadsharing/group_limit', '8');
    await send('evse1/claim/set', '{"charge_current": 32, "max_current": 32}');
    await send('evse1/override/set', '{"state": "active", "charge_current": 32}');
    await send('evse1/rapi/in/$SC', '32 V');
    await until('evse1/rapi/out', reply('$OK 32'));
    await new Promise((r) => setTimeout(r, 1500));
    expect(value('evse1/pilot')).toBe('8');
    expect(m.charger.evse.pilot_a(Date.now())).toBe(8);
    await send('evse1/claim/set', 'release');
    await send('evse1/override/set', 'clear');
    m.charger.apply_config({ loadsharing_group_max_current: 32 });
    await until('evse1/pilot', '32');
  });

  test('input topics feed the charger; bad payloads are refused with a log line', async () => {
    await send('home/vrms', '230');
    await until('evse1/voltage', '230');
    await send('home/vrms', 'lots');
    await wait_until(() => m.lines.some((l) => l.includes('home/vrms: not a number')), 5000, 'the refusal');
    await send('evse1/override/set', '{"state": "off"}');
    await wait_until(() => m.lines.some((l) => l.includes('evse1/override/set') && l.includes('state')), 5000, 'the refusal');
    expect(value('evse1/voltage')).toBe('230');
    expect(value('evse1/override')).toBe('{"state":"null"}');
  });
});

test('wrong broker credentials: not connected, said once in the log, mqtt_connected 0; stopping says goodbye on the announce topic', async () => {
  const bad = await make('shed', { mqtt_topic: 'evse2', mqtt_pass: 'wrong' });
  await wait_until(() => bad.lines.some((l) => /mqtt.*(Not authorized|Bad username)/i.test(l)), 15000, 'the refusal', () => bad.lines.join('\n'));
  expect(bad.bridge.is_connected()).toBe(false);
  expect(bad.charger.status_doc().mqtt_connected).toBe(0);
  bad.charger.apply_config({ mqtt_pass: pass }); // fixed: the bridge reconnects with the new settings
  await until('openevse/announce/shed', /"state":"connected"/);
  await until('evse2/mqtt_connected', '1');
  await bad.bridge.stop();
  await until('openevse/announce/shed', /"state":"disconnected"/);
});

async function fetch_status(m: Made): Promise<Record<string, unknown>> {
  return m.charger.status_doc();
}
