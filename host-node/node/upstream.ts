// The upstream OpenEVSE side of one charger: claims, the manual override, the charge limit,
// solar divert (charge mode "eco"), the configured maximum (max_current_soft, RAPI $SC), the
// service level and the RAPI commands clients send over HTTP (/r) or MQTT (rapi/in). The
// arbitration itself is pure (host-node/evse/claims.ts); this class keeps its state and turns it
// into one number for the current shaper (claimed_limit_a), which takes the minimum with the
// load-sharing limit: nothing here can raise a charger above what its group allows.
import {
  ClaimSet, clients, priorities, claimed_limit_a, pilot_limit_a, serialize_properties, limit_reached,
  divert_available_a, divert_properties, type EvseProperties, type LimitProperties, type SessionFacts, type Target,
} from '../evse/claims.js';
import type { NodeConfig } from './config.js';
import { loadshare_version, upstream_api_version } from './config.js';

export interface UpstreamHost {
  config(): NodeConfig;
  // A write of the user's config (RAPI $SC without V, $SL): the same path as POST /config.
  write_config(changes: Partial<NodeConfig>): void;
  now_ms(): number;
  evse(): { state: number; vehicle: number; amp_ma: number; voltage: number; pilot: number; min_current: number; max_current: number; elapsed_s: number; session_wh: number; total_wh: number };
  loadsharing_limit_a(): number;
  changed(): void; // something that moves the pilot changed: apply it now
}

export class RapiError extends Error {
  constructor(readonly status_code: 400 | 405, message: string) {
    super(message);
  }
}

const reading_fresh_ms = 5 * 60 * 1000; // a divert reading older than this counts as none

export class UpstreamEvse {
  readonly claims = new ClaimSet();
  private limit: LimitProperties | null = null;
  private limit_counter = 0;
  private override_counter = 0;
  private volatile_soft_max_a: number | null = null; // RAPI $SC amps V: until restart
  private pause_code: 254 | 255 = 254; // upstream sleeps to pause ($FD disables)
  private solar: { w: number; at_ms: number } | null = null;
  private grid_ie: { w: number; at_ms: number } | null = null;
  private divert_a = 0;

  constructor(private readonly host: UpstreamHost) {}

  // ---- what the pilot may be (the user's side) ----

  service_level(): 1 | 2 {
    return this.host.config().service === 1 ? 1 : 2;
  }

  hard_max_a(): number {
    const evse_max_a = this.host.evse().max_current;
    return this.service_level() === 1 ? Math.min(16, evse_max_a) : evse_max_a; // L1: 16 A (open_evse MAX_CURRENT_CAPACITY_L1)
  }

  soft_max_a(): number {
    return Math.min(this.volatile_soft_max_a ?? this.host.config().max_current_soft, this.hard_max_a());
  }

  target(): Target {
    return this.claims.target();
  }

  claimed_limit_a(): number {
    const e = this.host.evse();
    return claimed_limit_a(this.target(), { min_current_a: e.min_current, hard_max_a: this.hard_max_a(), soft_max_a: this.soft_max_a() });
  }

  paused(): boolean {
    return this.target().state === 'disabled';
  }

  // The J1772 code /status reports while a claim pauses the charger (upstream sleeps: 254).
  paused_state(): number {
    return this.pause_code;
  }

  // Once per tick: the limit and solar divert become claims (or stop being claims).
  evaluate(session: SessionFacts): void {
    const before = this.claims.version();
    if (this.limit !== null && limit_reached(this.limit, session)) {
      this.claims.claim(clients.limit, priorities.limit, { state: 'disabled', auto_release: true });
    } else {
      this.claims.release(clients.limit);
    }
    if (this.host.config().charge_mode === 'eco') {
      const e = this.host.evse();
      const now_ms = this.host.now_ms();
      const fresh = (r: { w: number; at_ms: number } | null) => (r !== null && now_ms - r.at_ms <= reading_fresh_ms ? r.w : null);
      this.divert_a = divert_available_a({ voltage_v: e.voltage, min_current_a: e.min_current, solar_w: fresh(this.solar), grid_ie_w: fresh(this.grid_ie), charge_a: e.amp_ma / 1000 });
      this.claims.claim(clients.divert, priorities.divert, divert_properties(this.divert_a, e.min_current));
    } else {
      this.divert_a = 0;
      this.claims.release(clients.divert);
    }
    if (this.claims.version() !== before) this.host.changed();
  }

  // The car left: auto-release claims and limits go (upstream releaseAutoReleaseClaims).
  session_ended(): void {
    const released = this.claims.release_auto();
    if (released.includes(clients.manual)) this.override_counter += 1;
    if (this.limit?.auto_release) { this.limit = null; this.limit_counter += 1; }
    this.host.changed();
  }

  set_divert_input(kind: 'solar' | 'grid_ie', w: number): void {
    const reading = { w, at_ms: this.host.now_ms() };
    if (kind === 'solar') this.solar = reading; else this.grid_ie = reading;
    this.host.changed();
  }

  // ---- the manual override (/override, MQTT override/set) ----

  override(): EvseProperties | null {
    return this.claims.get(clients.manual)?.properties ?? null;
  }

  set_override(props: EvseProperties): void {
    // Upstream's manual override ends with the session unless told otherwise.
    this.claims.claim(clients.manual, priorities.manual, { auto_release: true, ...props });
    if (props.state === 'disabled') this.pause_code = 254;
    this.override_counter += 1;
    this.host.changed();
  }

  clear_override(): boolean {
    const released = this.claims.release(clients.manual);
    if (released) { this.override_counter += 1; this.host.changed(); }
    return released;
  }

  // Upstream manual.toggle(): an active override is released; otherwise one is made with the
  // opposite of the state the claims give now.
  toggle_override(): void {
    if (this.override() !== null) { this.clear_override(); return; }
    this.set_override({ state: this.target().state === 'active' ? 'disabled' : 'active' });
  }

  // ---- claims (/claims, MQTT claim/set) ----

  make_claim(client: number, props: EvseProperties, priority: number = priorities.api): boolean {
    if (client === clients.loadsharing) throw new RapiError(400, 'client 65550 is the load-sharing limit: it is set by the group, not by a claim');
    const ok = this.claims.claim(client, priority, props);
    if (ok) {
      if (client === clients.manual) this.override_counter += 1;
      if (props.state === 'disabled') this.pause_code = 254;
      this.host.changed();
    }
    return ok;
  }

  release_claim(client: number): boolean {
    if (client === clients.loadsharing) throw new RapiError(400, 'client 65550 is the load-sharing limit: the group holds it, it cannot be released');
    const released = this.claims.release(client);
    if (released) {
      if (client === clients.manual) this.override_counter += 1;
      this.host.changed();
    }
    return released;
  }

  // GET /claims: every claim, and the load-sharing limit as the claimant it is.
  list_claims(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = this.claims.list().map((c) => ({ client: c.client, priority: c.priority, ...serialize_properties(c.properties) }));
    out.push({ client: clients.loadsharing, priority: priorities.safety, max_current: this.host.loadsharing_limit_a(), auto_release: false });
    return out;
  }

  claim_doc(client: number): Record<string, unknown> | null {
    if (client === clients.loadsharing) return { priority: priorities.safety, max_current: this.host.loadsharing_limit_a(), auto_release: false };
    const c = this.claims.get(client);
    return c ? { priority: c.priority, ...serialize_properties(c.properties) } : null;
  }

  // GET /claims/target: the winning properties and who set each; max_current includes the
  // group's limit when that is what binds (client 65550).
  target_doc(): { properties: Record<string, unknown>; claims: Record<string, number> } {
    const t = this.target();
    const group = pilot_limit_a(this.claimed_limit_a(), this.host.loadsharing_limit_a());
    const properties: Record<string, unknown> = { state: t.state };
    const claims: Record<string, number> = {};
    if (t.clients.state !== null) claims.state = t.clients.state;
    if (t.charge_current !== null) { properties.charge_current = t.charge_current; claims.charge_current = t.clients.charge_current!; }
    if (group.capped_by_group || t.max_current !== null) {
      properties.max_current = group.capped_by_group ? group.limit_a : t.max_current;
      claims.max_current = group.capped_by_group ? clients.loadsharing : t.clients.max_current!;
    }
    return { properties, claims };
  }

  // ---- the charge limit (/limit, MQTT limit/set) ----

  get_limit(): LimitProperties | null {
    return this.limit === null ? null : { ...this.limit };
  }

  set_limit(limit: LimitProperties): void {
    this.limit = { ...limit };
    this.limit_counter += 1;
    this.host.changed();
  }

  clear_limit(): boolean {
    if (this.limit === null) return false;
    this.limit = null;
    this.limit_counter += 1;
    this.host.changed();
    return true;
  }

  // ---- RAPI (/r, MQTT rapi/in) ----

  // One command, e.g. "$SC 16 V"; the reply as the controller gives it ("$OK 16^2C"). A
  // checksum or sequence id the client added is checked and dropped first.
  rapi(line: string): string {
    const text = line.trim().replace(/\r$/, '');
    const checksum = /^(.*)\^([0-9A-Fa-f]{2})$/.exec(text);
    let command = text;
    if (checksum) {
      if (xor_checksum(checksum[1]) !== parseInt(checksum[2], 16)) return reply('$NK');
      command = checksum[1];
    }
    command = command.replace(/\s+:[0-9A-Fa-f]{2}$/, '');
    const [op, ...args] = command.split(/\s+/);
    if (!/^\$[A-Z0-9]{2}$/.test(op ?? '')) return reply('$NK');
    const e = this.host.evse();
    switch (op) {
      case '$GS': {
        const pilot_state = e.vehicle === 0 ? 1 : e.amp_ma > 0 ? 3 : 2;
        const vflags = e.vehicle === 1 ? 0x0100 : 0; // ECVF_EV_CONNECTED
        const state = this.paused() && e.vehicle === 1 ? this.pause_code : e.state;
        return reply(`$OK ${hex(state)} ${Math.floor(e.elapsed_s)} ${hex(pilot_state)} ${hex(vflags)}`);
      }
      case '$GG': return reply(`$OK ${Math.round(e.amp_ma)} ${Math.round(e.voltage * 1000)}`);
      case '$GC': return reply(`$OK ${e.min_current} ${this.hard_max_a()} ${e.pilot} ${this.soft_max_a()}`);
      case '$GE': return reply(`$OK ${this.soft_max_a()} 0`);
      case '$G0': return reply(`$OK ${e.vehicle === 1 ? 1 : 0}`);
      case '$GU': return reply(`$OK ${Math.round(e.session_wh * 3600)} ${Math.round(e.total_wh)}`);
      case '$GV': return reply(`$OK ${controller_firmware} 5.0.1`);
      case '$GP': return reply('$OK -2560 -2560 -2560'); // no temperature sensor on the simulated controller
      case '$GF': return reply('$OK 0 0 0');
      case '$SC': return this.rapi_set_current(args);
      case '$SL': {
        const level = { 1: 1, 2: 2, A: 0 }[args[0] as '1' | '2' | 'A'];
        if (level === undefined) return reply('$NK');
        this.host.write_config({ service: level as 0 | 1 | 2 });
        return reply('$OK');
      }
      case '$FE': this.rapi_state('active', 254); return reply('$OK');
      case '$FS': this.rapi_state('disabled', 254); return reply('$OK');
      case '$FD': this.rapi_state('disabled', 255); return reply('$OK');
      case '$ST': throw new RapiError(400, 'RAPI_RESPONSE_BLOCKED'); // upstream blocks the controller's timer
      default: return reply('$NK');
    }
  }

  private rapi_set_current(args: string[]): string {
    const amps = Number(args[0]);
    const mode = args[1] ?? '';
    if (!/^\d+$/.test(args[0] ?? '') || !['', 'V', 'N', 'M'].includes(mode)) return reply('$NK');
    if (mode === 'M') return reply(`$NK ${this.hard_max_a()}`); // the hardware maximum is not settable here
    const e = this.host.evse();
    const set_a = Math.min(Math.max(amps, e.min_current), this.hard_max_a());
    if (mode === 'V') {
      this.volatile_soft_max_a = set_a;
      this.host.changed();
    } else {
      this.volatile_soft_max_a = null;
      this.host.write_config({ max_current_soft: set_a });
    }
    return reply(`${set_a === amps ? '$OK' : '$NK'} ${set_a}`);
  }

  // $FE/$FS/$FD act through the manual override, so they rank like it (a reached limit still
  // stops the car; the group's limit still caps it) and end with the session.
  private rapi_state(state: 'active' | 'disabled', code: 254 | 255): void {
    this.set_override({ ...(this.override() ?? {}), state });
    if (state === 'disabled') this.pause_code = code;
  }

  // ---- documents ----

  status_fields(): Record<string, unknown> {
    const config = this.host.config();
    const e = this.host.evse();
    const { local, offset } = local_time(this.host.now_ms());
    return {
      wattsec: Math.round(e.session_wh * 3600), // this session, W·s (upstream's unit)
      watthour: Math.round(e.total_wh), // since this process started (not persisted)
      gfcicount: 0, nogndcount: 0, stuckcount: 0, // the simulated controller has no faults to count
      ota_update: 0,
      local_time: local,
      offset,
      manual_override: this.override() !== null ? 1 : 0,
      divertmode: config.charge_mode === 'eco' ? 2 : 1,
      divert_active: config.charge_mode === 'eco',
      charge_rate: Math.floor(this.divert_a),
      available_current: Math.round(this.divert_a * 100) / 100,
      solar: this.solar?.w ?? 0,
      grid_ie: this.grid_ie?.w ?? 0,
      service_level: this.service_level(),
      limit: this.limit !== null,
      claims_version: this.claims.version(),
      override_version: this.override_counter,
      limit_version: this.limit_counter,
      loadshare_version,
    };
  }

  config_fields(): Record<string, unknown> {
    return {
      version: upstream_api_version,
      loadshare_version,
      firmware: controller_firmware,
      buildenv: 'loadshare-node',
      protocol: '-',
      evse_serial: '',
      min_current_hard: this.host.evse().min_current,
      max_current_hard: this.hard_max_a(),
      max_current_soft: this.soft_max_a(),
      divert_enabled: this.host.config().charge_mode === 'eco',
      mqtt_supported_protocols: ['mqtt', 'mqtts'],
      http_supported_protocols: ['http'],
    };
  }
}

// What the simulated charge controller calls itself ($GV, /config firmware).
export const controller_firmware = 'sim-1.0.0';

function hex(n: number): string {
  return Math.max(0, Math.trunc(n)).toString(16);
}

function xor_checksum(text: string): number {
  let x = 0;
  for (const ch of Buffer.from(text, 'latin1')) x ^= ch;
  return x;
}

// A controller's reply with its XOR checksum (RAPI v2+: "$OK 16^2C").
export function reply(text: string): string {
  return `${text}^${xor_checksum(text).toString(16).toUpperCase().padStart(2, '0')}`;
}

// upstream's local_time and offset for a wall time. Kept for the whole second: every status
// document asks (each charger of a simulated group, every second).
let local_cache: { s: number; local: string; offset: string } | null = null;
function local_time(now_ms: number): { local: string; offset: string } {
  const s = Math.floor(now_ms / 1000);
  if (local_cache?.s === s) return local_cache;
  const now = new Date(now_ms);
  const offset_min = -now.getTimezoneOffset();
  const offset = `${offset_min < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offset_min) / 60)).padStart(2, '0')}${String(Math.abs(offset_min) % 60).padStart(2, '0')}`;
  const local = new Date(now.getTime() + offset_min * 60000).toISOString().replace(/\.\d{3}Z$/, offset);
  local_cache = { s, local, offset };
  return local_cache;
}
