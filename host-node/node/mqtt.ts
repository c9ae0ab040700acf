// MQTT like upstream OpenEVSE (openevse_esp32_firmware src/mqtt.cpp), with the `mqtt` client
// library: with mqtt_enabled and a broker, every /status field goes to <mqtt_topic>/<field> as
// text (changed fields after the first full set), override, claim, limit and config as JSON
// (retained), an announce document with a last will; upstream's set topics are accepted
// (override/set, claim/set, limit/set, divertmode/set, shaper/set, config/set, rapi/in/$XX) and
// the input topics (mqtt_vrms, mqtt_live_pwr, mqtt_solar, mqtt_grid_ie) are read. Added here:
// the load-sharing state under <mqtt_topic>/loadsharing/... and Home Assistant MQTT discovery.
// Every set topic goes through the same claims as HTTP (upstream.ts): it can lower the pilot,
// never lift it over the group's limit.
import type { MqttClient, IClientOptions } from 'mqtt';
import { Ajv } from 'ajv';
import type { Charger } from './charger.js';
import { config_write_schema, loadshare_version, type NodeConfig } from './config.js';
import { normalize_user_write } from './config-user-write.js';
import { properties_schema, limit_schema } from './routes-upstream.js';
import { clients, priorities, type EvseProperties, type LimitProperties } from '../evse/claims.js';
import { RapiError } from './upstream.js';
import { loadsharing_status } from './loadsharing-status.js';

// config/set: only this charger's own charging settings. A broker's client may not take the
// admin password, the group key, the broker settings or any group setting (a raised group
// limit would reach every member): those need the admin password over HTTP (docs/security.md).
const config_set_allowed = ['max_current_soft', 'service', 'charge_mode', 'divert_enabled', 'current_shaper_enabled', 'current_shaper_max_pwr', 'current_shaper_data_maxinterval'];

// The validators of what a broker sends, compiled when the first message arrives: most
// chargers have no broker, and a compiled validator set stays in memory for good.
let validators: ReturnType<typeof compile_validators> | null = null;
function compile_validators() {
  const ajv = new Ajv({ coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true });
  return {
    ajv,
    valid_properties: ajv.compile(properties_schema),
    valid_limit: ajv.compile(limit_schema),
    valid_config: ajv.compile({
      ...config_write_schema,
      properties: Object.fromEntries(Object.entries(config_write_schema.properties).filter(([k]) => config_set_allowed.includes(k))),
    }),
  };
}
const mqtt_validators = () => (validators ??= compile_validators());

const settings_keys = ['mqtt_enabled', 'mqtt_server', 'mqtt_port', 'mqtt_protocol', 'mqtt_reject_unauthorized', 'mqtt_topic', 'mqtt_user', 'mqtt_pass',
  'mqtt_announce_topic', 'mqtt_vrms', 'mqtt_live_pwr', 'mqtt_solar', 'mqtt_grid_ie', 'mqtt_discovery_prefix', 'hostname'] as const;

export interface MqttBridgeOptions {
  reconnect_ms?: number;
}

export class MqttBridge {
  private client: MqttClient | null = null;
  private settings_key = '';
  private settings: NodeConfig | null = null;
  private connected = false;
  private last = new Map<string, string>(); // topic -> last payload published
  private last_error = '';
  private stopped = false;
  private generation = 0; // of the broker settings; a connect that loaded late under older ones is dropped
  private readonly on_status = (doc: Record<string, unknown>) => this.on_status_doc(doc);

  constructor(private readonly charger: Charger, private readonly options: MqttBridgeOptions = {}) {
    charger.add_status_fields(() => ({ mqtt_connected: this.connected ? 1 : 0 }));
    charger.on('status', this.on_status);
  }

  is_connected(): boolean {
    return this.connected;
  }

  start(): void {
    this.reconcile();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.charger.off('status', this.on_status);
    await this.disconnect();
  }

  // The broker settings changed (a /config write): reconnect with the new ones.
  private reconcile(): void {
    if (this.stopped) return;
    const config = this.charger.raw_config();
    const key = JSON.stringify(settings_keys.map((k) => config[k]));
    if (key === this.settings_key) return;
    this.settings_key = key;
    const generation = ++this.generation;
    void this.disconnect().then(async () => {
      if (this.stopped || !config.mqtt_enabled || config.mqtt_server === '') return;
      // The MQTT client library is loaded with the first broker (about 2 MB a charger
      // without one does not keep); the settings may change while it loads.
      const { connect } = await import('mqtt');
      if (this.stopped || generation !== this.generation) return;
      this.settings = config;
      this.open(config, connect);
    });
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = null;
    this.connected = false;
    if (!client) return;
    client.removeAllListeners();
    client.on('error', () => {});
    // The broker publishes the last will only for a lost connection: say goodbye ourselves.
    const c = this.settings;
    if (c && client.connected) {
      await client.publishAsync(c.mqtt_announce_topic, JSON.stringify({ state: 'disconnected', id: this.charger.id, name: c.hostname }), { retain: true, qos: 1 }).catch(() => {});
    }
    await client.endAsync(false).catch(() => {});
  }

  private open(c: NodeConfig, connect: typeof import('mqtt').connect): void {
    const options: IClientOptions = {
      protocol: c.mqtt_protocol,
      host: c.mqtt_server,
      port: c.mqtt_port,
      clientId: `loadshare-${this.charger.id}`.slice(0, 64),
      username: c.mqtt_user === '' ? undefined : c.mqtt_user,
      password: c.mqtt_pass === '' ? undefined : c.mqtt_pass,
      rejectUnauthorized: c.mqtt_reject_unauthorized,
      reconnectPeriod: this.options.reconnect_ms ?? 5000,
      connectTimeout: 10000,
      will: { topic: c.mqtt_announce_topic, payload: Buffer.from(JSON.stringify({ state: 'disconnected', id: this.charger.id, name: c.hostname })), retain: true, qos: 1 },
    };
    const client = connect(options);
    this.client = client;
    client.on('connect', () => {
      this.connected = true;
      this.last_error = '';
      this.charger.log.info('mqtt', `connected to ${c.mqtt_protocol}://${c.mqtt_server}:${c.mqtt_port} as ${c.mqtt_topic}`);
      void this.on_connect(client, c);
    });
    client.on('close', () => {
      if (this.connected) this.charger.log.warn('mqtt', 'connection to the broker lost; retrying');
      this.connected = false;
    });
    client.on('error', (error) => {
      if (error.message !== this.last_error) this.charger.log.warn('mqtt', `broker ${c.mqtt_server}:${c.mqtt_port}: ${error.message}`);
      this.last_error = error.message;
    });
    client.on('message', (topic, payload) => this.on_message(c, topic, payload.toString('utf8')));
  }

  private async on_connect(client: MqttClient, c: NodeConfig): Promise<void> {
    const t = c.mqtt_topic;
    const subscriptions = [`${t}/rapi/in/#`, `${t}/override/set`, `${t}/claim/set`, `${t}/limit/set`, `${t}/divertmode/set`, `${t}/shaper/set`, `${t}/config/set`,
      ...[c.mqtt_vrms, c.mqtt_live_pwr, c.mqtt_solar, c.mqtt_grid_ie].filter((x) => x !== '')];
    try {
      await client.subscribeAsync(subscriptions, { qos: 0 });
      await client.publishAsync(c.mqtt_announce_topic, JSON.stringify({
        state: 'connected', id: this.charger.id, name: c.hostname, mqtt: t, http: `http://${this.charger.self_address()}/`,
      }), { retain: true, qos: 1 });
      if (c.mqtt_discovery_prefix !== '') {
        for (const [topic, doc] of discovery_documents(this.charger, c)) await client.publishAsync(topic, JSON.stringify(doc), { retain: true, qos: 1 });
      }
    } catch (error) {
      this.charger.log.warn('mqtt', `setting up the session failed: ${(error as Error).message}`);
    }
    this.last.clear(); // everything again on a new session, as upstream's publishInitialState
    this.on_status_doc(this.charger.status_doc());
  }

  // Changed fields only (upstream publishes each event's fields); retained when mqtt_retained.
  private on_status_doc(doc: Record<string, unknown>): void {
    this.reconcile();
    const client = this.client;
    const c = this.settings;
    if (!client || !this.connected || !c) return;
    const t = c.mqtt_topic;
    const retain = c.mqtt_retained;
    const out: Array<[string, string, boolean]> = [];
    for (const [key, value] of Object.entries(doc)) {
      if (key === 'loadsharing' || value === null || typeof value === 'object') continue;
      out.push([`${t}/${key}`, String(value), retain]);
    }
    for (const [key, value] of Object.entries(loadsharing_fields(this.charger))) out.push([`${t}/loadsharing/${key}`, String(value), retain]);
    const u = this.charger.upstream;
    out.push([`${t}/override`, JSON.stringify(u.override() ?? { state: 'null' }), true]);
    const claim = u.claim_doc(clients.mqtt);
    out.push([`${t}/claim`, JSON.stringify(claim ?? { state: 'null' }), true]);
    out.push([`${t}/limit`, JSON.stringify(u.get_limit() ?? {}), true]);
    out.push([`${t}/config`, JSON.stringify(public_mqtt_config(this.charger)), true]);
    for (const [topic, payload, r] of out) {
      if (this.last.get(topic) === payload) continue;
      this.last.set(topic, payload);
      client.publish(topic, payload, { retain: r, qos: 0 });
    }
  }

  private on_message(c: NodeConfig, topic: string, payload: string): void {
    const t = c.mqtt_topic;
    const warn = (msg: string) => this.charger.log.warn('mqtt', `${topic}: ${msg}`);
    const { ajv, valid_properties, valid_limit, valid_config } = mqtt_validators();
    const number = (min: number, max: number): number | null => {
      const n = Number(payload.trim());
      if (payload.trim() === '' || !Number.isFinite(n) || n < min || n > max) { warn(`not a number from ${min} to ${max}: ${JSON.stringify(payload.slice(0, 40))}`); return null; }
      return n;
    };
    const json = (): unknown => {
      try { return JSON.parse(payload); } catch { warn('not JSON'); return undefined; }
    };
    const u = this.charger.upstream;
    // Inputs first: a topic may be both (upstream checks them first too).
    if (topic === c.mqtt_vrms) { const v = number(50, 500); if (v !== null) this.charger.set_status_inputs({ voltage: v }); return; }
    if (topic === c.mqtt_live_pwr) { const w = number(-1e6, 1e6); if (w !== null) this.charger.set_status_inputs({ shaper_live_pwr: w }); return; }
    if (topic === c.mqtt_solar) { const w = number(0, 1e6); if (w !== null) this.charger.set_status_inputs({ solar: w }); return; }
    if (topic === c.mqtt_grid_ie) { const w = number(-1e6, 1e6); if (w !== null) this.charger.set_status_inputs({ grid_ie: w }); return; }
    try {
      switch (topic) {
        case `${t}/override/set`: {
          if (payload === 'clear') { u.clear_override(); return; }
          if (payload === 'toggle') { u.toggle_override(); return; }
          const props = json();
          if (props !== undefined && !valid_properties(props)) { warn(ajv.errorsText(valid_properties.errors)); return; }
          if (props !== undefined) u.set_override(props as EvseProperties);
          return;
        }
        case `${t}/claim/set`: {
          if (payload === 'release') { u.release_claim(clients.mqtt); return; }
          const props = json();
          if (props !== undefined && !valid_properties(props)) { warn(ajv.errorsText(valid_properties.errors)); return; }
          if (props !== undefined && !u.make_claim(clients.mqtt, props as EvseProperties, priorities.mqtt)) warn('all claim slots are taken');
          return;
        }
        case `${t}/limit/set`: {
          if (payload === 'clear') { u.clear_limit(); return; }
          const limit = json() as { type: LimitProperties['type']; value: number; auto_release?: boolean; release?: boolean } | undefined;
          if (limit === undefined) return;
          if (!valid_limit(limit)) { warn(ajv.errorsText(valid_limit.errors)); return; }
          if (limit.type === 'range' || (limit.type === 'soc' && limit.value > 100)) { warn(`a ${limit.type} limit of ${limit.value} is refused`); return; }
          u.set_limit({ type: limit.type, value: limit.value, auto_release: limit.auto_release ?? limit.release ?? true });
          return;
        }
        case `${t}/divertmode/set`: {
          const mode = number(1, 2);
          if (mode !== null && Number.isInteger(mode)) this.charger.apply_config({ charge_mode: mode === 2 ? 'eco' : 'fast' });
          return;
        }
        case `${t}/shaper/set`: {
          const on = number(0, 1);
          if (on !== null && Number.isInteger(on)) this.charger.apply_config({ current_shaper_enabled: on === 1 });
          return;
        }
        case `${t}/config/set`: {
          const body = json();
          if (typeof body !== 'object' || body === null || Array.isArray(body)) { if (body !== undefined) warn('config/set takes a JSON object'); return; }
          const refused = Object.keys(body).find((k) => !config_set_allowed.includes(k));
          if (refused) { warn(`${refused} cannot be set over MQTT (only ${config_set_allowed.join(', ')})`); return; }
          const normalized = normalize_user_write(this.charger, body as Record<string, unknown>);
          if ('error' in normalized) { warn(normalized.error); return; }
          if (!valid_config(normalized.body)) { warn(ajv.errorsText(valid_config.errors)); return; }
          this.charger.apply_config(normalized.body as Partial<NodeConfig>);
          return;
        }
      }
      const rapi = topic.startsWith(`${t}/rapi/in/`) ? topic.slice(`${t}/rapi/in/`.length) : null;
      if (rapi !== null && /^\$[A-Z0-9]{2}$/.test(rapi)) {
        const reply = u.rapi(payload === '' ? rapi : `${rapi} ${payload}`);
        this.client?.publish(`${t}/rapi/out`, reply, { qos: 0 });
      }
    } catch (error) {
      if (error instanceof RapiError || (error as { field?: unknown }).field !== undefined) { warn((error as Error).message); return; }
      this.charger.log.error('mqtt', `${topic}: ${(error as Error).stack ?? error}`);
    }
  }
}

// The load-sharing state for MQTT and Home Assistant: what this charger is allowed and why,
// whether it is in failsafe, and the group's draw against its limit (amps).
export function loadsharing_fields(charger: Charger): Record<string, string | number | boolean> {
  const block = charger.engine.poll_status();
  const status = loadsharing_status(charger);
  // A real controller's (RAPI) measured current; the simulated car's physical one.
  const self_amp_a = charger.sim_evse ? charger.sim_evse.current_a(charger.clock.now_ms()) : charger.station.evse.status(charger.monotonic.now_ms()).amp_ma / 1000;
  const peers = status.peers as Array<{ online: boolean; joined: boolean; status?: { amp?: number } }>;
  const group_draw_a = self_amp_a + peers.filter((p) => p.joined && p.online).reduce((sum, p) => sum + (p.status?.amp ?? 0) / 1000, 0);
  return {
    allocation: block.applied_current,
    target_current: block.target_current,
    reason: block.reason,
    failsafe: block.failsafe_active,
    degraded: block.degraded,
    group_draw: Math.round(group_draw_a * 100) / 100,
    group_limit: status.effective_limit as number,
    uncontrolled: status.uncontrolled_current as number, // kept for chargers without load sharing
    online_count: status.online_count as number,
    config_consistent: status.config_consistent as boolean,
  };
}

// GET /config's document (passwords masked, no group key), without the member list.
function public_mqtt_config(charger: Charger): Record<string, unknown> {
  const { loadsharing_members: _members, ...doc } = charger.config_doc();
  return doc;
}

// Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
// one retained config document per entity, all under one device.
export function discovery_documents(charger: Charger, c: NodeConfig): Array<[string, Record<string, unknown>]> {
  const t = c.mqtt_topic;
  const node = charger.id.replace(/[^A-Za-z0-9_-]/g, '_');
  const device = {
    identifiers: [`loadshare_${node}`], name: c.hostname, manufacturer: 'loadshare',
    model: 'OpenEVSE-compatible charger node', sw_version: loadshare_version,
    configuration_url: `http://${charger.self_address()}/`,
  };
  const availability = { availability_topic: c.mqtt_announce_topic, availability_template: '{{ value_json.state }}', payload_available: 'connected', payload_not_available: 'disconnected' };
  const entity = (component: string, object: string, name: string, extra: Record<string, unknown>): [string, Record<string, unknown>] =>
    [`${c.mqtt_discovery_prefix}/${component}/${node}/${object}/config`, { name, unique_id: `loadshare_${node}_${object}`, object_id: `${node}_${object}`, device, ...availability, ...extra }];
  const state_names = "{% set s = {'1': 'not connected', '2': 'connected', '3': 'charging', '254': 'sleeping', '255': 'disabled'} %}{{ s[value] if value in s else 'error ' ~ value }}";
  return [
    entity('sensor', 'charging_current', 'Charging current', { state_topic: `${t}/amp`, value_template: '{{ (value | float / 1000) | round(1) }}', unit_of_measurement: 'A', device_class: 'current', state_class: 'measurement' }),
    entity('sensor', 'pilot', 'Pilot', { state_topic: `${t}/pilot`, unit_of_measurement: 'A', device_class: 'current', state_class: 'measurement' }),
    entity('sensor', 'power', 'Power', { state_topic: `${t}/power`, unit_of_measurement: 'W', device_class: 'power', state_class: 'measurement' }),
    entity('sensor', 'voltage', 'Voltage', { state_topic: `${t}/voltage`, unit_of_measurement: 'V', device_class: 'voltage', state_class: 'measurement' }),
    entity('sensor', 'session_energy', 'Session energy', { state_topic: `${t}/session_energy`, unit_of_measurement: 'Wh', device_class: 'energy', state_class: 'total_increasing' }),
    entity('sensor', 'state', 'State', { state_topic: `${t}/state`, value_template: state_names }),
    entity('binary_sensor', 'vehicle', 'Vehicle connected', { state_topic: `${t}/vehicle`, payload_on: '1', payload_off: '0', device_class: 'plug' }),
    entity('sensor', 'loadsharing_allocation', 'Load sharing allocation', { state_topic: `${t}/loadsharing/allocation`, unit_of_measurement: 'A', device_class: 'current', state_class: 'measurement' }),
    entity('sensor', 'loadsharing_reason', 'Load sharing reason', { state_topic: `${t}/loadsharing/reason` }),
    entity('binary_sensor', 'loadsharing_failsafe', 'Load sharing failsafe', { state_topic: `${t}/loadsharing/failsafe`, payload_on: 'true', payload_off: 'false', device_class: 'problem' }),
    entity('sensor', 'group_draw', 'Group draw', { state_topic: `${t}/loadsharing/group_draw`, unit_of_measurement: 'A', device_class: 'current', state_class: 'measurement' }),
    entity('sensor', 'group_limit', 'Group limit', { state_topic: `${t}/loadsharing/group_limit`, unit_of_measurement: 'A', device_class: 'current', state_class: 'measurement' }),
    // Controls: both are claims, so they lower the pilot and never lift it over the group's limit.
    entity('number', 'charge_current', 'Charge current', {
      command_topic: `${t}/claim/set`, command_template: '{"charge_current": {{ value | int }}}', state_topic: `${t}/pilot`,
      min: 6, max: 32, step: 1, unit_of_measurement: 'A', mode: 'slider',
    }),
    entity('switch', 'pause', 'Pause charging', {
      command_topic: `${t}/override/set`, payload_on: '{"state": "disabled"}', payload_off: 'clear',
      state_topic: `${t}/state`, value_template: "{{ 'ON' if value in ['254', '255'] else 'OFF' }}", state_on: 'ON', state_off: 'OFF',
    }),
  ];
}
