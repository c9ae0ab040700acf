// Group configuration synchronisation (docs/config-sync.md): versions, pushes with backoff,
// adoption of a newer config seen in a peer's status, conflict order, member-list changes,
// and the per-member sync state /loadsharing/status shows.
//
// Order of configs: higher loadsharing_config_version wins; equal versions: later
// loadsharing_config_updated_at wins; then the bytewise smaller loadsharing_config_origin (the
// id of the charger whose write made the version). Equal (version, updated_at, origin) is the
// same config: nothing is adopted.
//
// Safety: adoption only ever follows an authenticated document, so a charger without a group
// key is report-only: it pushes nothing and adopts nothing (issue 15 D2; its differences are
// reported). With a key, PeerLink drops unsigned status, pushes must be signed, fetched
// configs must carry a valid response MAC; every config is checked with the local POST
// /config rules before it is installed; while configs differ the core uses the smallest
// limit anyway.
//
// No I/O here: requests go out through the host (the station signs them and hands them to its
// transport: fetch in the charger node, the virtual network in the simulator) and come back
// through a callback; retries wait on the injected timers. So the simulator drives the same
// decisions with virtual time and a faulty network.
import { Ajv } from 'ajv';
import type { Clock } from '../engine/types.js';
import type { Logger } from '../node/log.js';
import { type NodeConfig, ConfigError, group_keys, check_config_rules, config_write_schema } from '../node/config.js';
import { check_host, check_peer_id } from '../node/peers.js';
import type { GroupAuth, AuthResult } from './peer-auth.js';
import { MEMBERS_MAX } from '../abi.js';

export interface MemberRef {
  host: string;
  id: string | null;
}

export type GroupFields = Pick<NodeConfig, (typeof group_keys)[number]>;

export interface ConfigMeta {
  version: number;
  updated_at: number;
  origin: string;
}

export interface GroupDoc extends ConfigMeta {
  fields: GroupFields;
  members: MemberRef[]; // as the sender knows the group, the sender included
}

export type SyncState = 'in_sync' | 'pushing' | 'retrying' | 'refused' | 'out_of_sync' | 'unknown';

// A peer's answer to a request: its status code and body, and when the request was signed
// with the group key, why the answer's signature did not check out (null: it did).
export interface PeerAnswer {
  status: number;
  text: string;
  auth_error: string | null;
}

// The request did not get an answer: refused connection, timeout, a cut network.
export interface PeerFailure {
  error: string;
}

// What the sync needs from its station (station.ts implements it).
export interface SyncHost {
  readonly id: string;
  readonly wall: Clock; // config timestamps (updated_at), shared by the group
  readonly monotonic: Clock; // backoff and recency
  readonly log: Logger;
  self_address(): string;
  raw_config(): NodeConfig;
  config_hash(): string;
  members(): MemberRef[]; // the joined peers, self excluded
  is_self_ref(ref: MemberRef): boolean;
  // Installs a config (already checked) and, when given, the member list; persists both.
  adopt_group(next: NodeConfig, members: MemberRef[] | null, why: string): void;
  group_auth(): GroupAuth | null;
  // One request to a peer, signed when the group has a key; done is called once.
  request(host: string, method: 'GET' | 'POST', path: string, body: string, timeout_ms: number, done: (result: PeerAnswer | PeerFailure) => void): void;
}

// How a peer's push was judged (the HTTP layer maps it to a status code).
export type PushOutcome = 'adopted' | 'unchanged' | 'older' | 'invalid' | 'unsigned' | 'forged' | 'disabled';

export interface PushReply {
  outcome: PushOutcome;
  msg: string;
  config_version: number;
}

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface SyncOptions {
  enabled?: boolean; // false: report differences only, adopt nothing, refuse pushes (upstream behaviour)
  timers: Timers;
  backoff_initial_ms?: number;
  backoff_max_ms?: number;
  request_timeout_ms?: number;
  leaving_attempts_max?: number; // pushes to a removed member before it is forgotten
}

interface Target {
  host: string;
  id: string | null;
  leaving: boolean;
  // outbound: the version this member still has to receive
  owed_version: number | null;
  in_flight: boolean;
  attempts: number;
  timer: unknown;
  next_attempt_ms: number | null;
  last_result: 'ok' | 'offline' | 'refused' | 'newer_there' | null;
  last_error: string | null;
  // inbound
  peer_version: number | null;
  peer_hash: string | null;
  auth_failures: number;
  last_auth_failure: string | null;
  last_auth_failure_ms: number;
  invalid_configs: number;
  last_invalid: string | null;
  last_invalid_ms: number;
  last_refused_key: string | null; // the version|hash whose config we refused last
  fetch_in_flight: boolean;
  fetch_done_key: string | null;
  fetch_attempts: number;
  fetch_not_before_ms: number;
}

const meta_keys = ['loadsharing_config_version', 'loadsharing_config_updated_at', 'loadsharing_config_origin', 'loadsharing_members'] as const;

const ajv = new Ajv({ coerceTypes: false, removeAdditional: false, allErrors: false });
const validate_fields = ajv.compile({
  type: 'object',
  properties: Object.fromEntries(group_keys.map((k) => [k, config_write_schema.properties[k]])),
  required: [...group_keys],
});

// A group document from a peer (a push body or its GET /config), checked with the same schema
// and cross-field rules as a local POST /config. Throws ConfigError.
export function parse_group_doc(doc: unknown, local: NodeConfig, strict_keys: boolean): GroupDoc {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ConfigError('body', 'config is not an object');
  const d = doc as Record<string, unknown>;
  if (strict_keys) {
    for (const key of Object.keys(d)) {
      if (!(group_keys as readonly string[]).includes(key) && !(meta_keys as readonly string[]).includes(key)) {
        throw new ConfigError(key, `a config push carries only group fields; ${key} refused`);
      }
    }
  }
  const picked = Object.fromEntries(group_keys.filter((k) => k in d).map((k) => [k, d[k]]));
  if (!validate_fields(picked)) {
    const e = validate_fields.errors![0];
    const field = e.instancePath.replace(/^\//, '') || String((e.params as { missingProperty?: string }).missingProperty ?? 'config');
    throw new ConfigError(field, `${field} ${e.keyword === 'required' ? 'is missing' : e.message ?? 'is invalid'}`);
  }
  const version = d.loadsharing_config_version;
  const updated_at = d.loadsharing_config_updated_at;
  const origin = d.loadsharing_config_origin ?? '';
  if (!Number.isSafeInteger(version) || (version as number) < 0) throw new ConfigError('loadsharing_config_version', 'loadsharing_config_version must be a non-negative integer');
  if (!Number.isSafeInteger(updated_at) || (updated_at as number) < 0) throw new ConfigError('loadsharing_config_updated_at', 'loadsharing_config_updated_at must be a non-negative integer');
  if (typeof origin !== 'string' || (origin !== '' && !check_peer_id(origin))) throw new ConfigError('loadsharing_config_origin', 'loadsharing_config_origin must be a member id');
  const members = parse_members(d.loadsharing_members);
  const fields = picked as unknown as GroupFields;
  check_config_rules({ ...local, ...fields });
  return { fields, version: version as number, updated_at: updated_at as number, origin, members };
}

function parse_members(value: unknown): MemberRef[] {
  if (!Array.isArray(value)) throw new ConfigError('loadsharing_members', 'loadsharing_members must be an array');
  if (value.length > MEMBERS_MAX) throw new ConfigError('loadsharing_members', `loadsharing_members has more than ${MEMBERS_MAX} members`);
  const out: MemberRef[] = [];
  for (const item of value) {
    const host = (item as { host?: unknown })?.host;
    const id = (item as { id?: unknown })?.id ?? null;
    if (typeof host !== 'string' || check_host(host) !== null) throw new ConfigError('loadsharing_members', `loadsharing_members: bad host ${JSON.stringify(host)}`);
    if (id !== null && !check_peer_id(id)) throw new ConfigError('loadsharing_members', `loadsharing_members: bad id ${JSON.stringify(id)}`);
    out.push({ host, id: id as string | null });
  }
  return out;
}

export function meta_of(c: NodeConfig): ConfigMeta {
  return { version: c.loadsharing_config_version, updated_at: c.loadsharing_config_updated_at, origin: c.loadsharing_config_origin };
}

// a is newer than b (the order at the top of this file).
export function newer(a: ConfigMeta, b: ConfigMeta): boolean {
  if (a.version !== b.version) return a.version > b.version;
  if (a.updated_at !== b.updated_at) return a.updated_at > b.updated_at;
  return a.origin !== b.origin && Buffer.compare(Buffer.from(a.origin), Buffer.from(b.origin)) < 0;
}

export function group_fields(c: NodeConfig): GroupFields {
  return Object.fromEntries(group_keys.map((k) => [k, c[k]])) as unknown as GroupFields;
}

export function same_member(a: MemberRef, b: MemberRef): boolean {
  return a.host === b.host || (a.id !== null && a.id === b.id);
}

export class ConfigSync {
  readonly enabled: boolean;
  private readonly timers: Timers;
  private readonly targets = new Map<string, Target>(); // by host
  private readonly strangers = new Map<string, number>(); // auth failures from senders that are not members
  // Hosts a person is joining here (begin_join until local_member_change has fetched them).
  private readonly joining = new Set<string>();
  private highest_peer_version = 0;
  private stopped = false;

  constructor(private readonly host: SyncHost, private readonly options: SyncOptions) {
    this.enabled = options.enabled ?? true;
    this.timers = options.timers;
  }

  // Whether this charger takes part in sync now: sync is on and the group has a key. Without a
  // key nothing from a peer can be told from a forgery, so nothing is adopted, and pushes
  // (which no keyed charger would take unsigned) are not sent: report-only.
  active(): boolean {
    return this.enabled && this.host.group_auth() !== null;
  }

  // The id config sync knows for a host (a member, or a removed one it still tells).
  known_id(host: string): string | null {
    return this.targets.get(host)?.id ?? null;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.targets.values()) if (t.timer !== null) this.timers.clear(t.timer);
  }

  backoff_ms(attempt: number): number {
    return Math.min(this.options.backoff_max_ms ?? 60000, (this.options.backoff_initial_ms ?? 1000) * 2 ** Math.min(attempt, 16));
  }

  // A local write would bump to at least this version, so it wins over anything seen.
  next_local_version(current: number): number {
    return Math.max(current, this.highest_peer_version) + 1;
  }

  // The document this charger pushes and serves: group fields, version metadata, members.
  group_doc(): Record<string, unknown> {
    const c = this.host.raw_config();
    return {
      ...group_fields(c),
      loadsharing_config_version: c.loadsharing_config_version,
      loadsharing_config_updated_at: c.loadsharing_config_updated_at,
      loadsharing_config_origin: c.loadsharing_config_origin,
      loadsharing_members: this.member_list(),
    };
  }

  member_list(): MemberRef[] {
    return [{ host: this.host.self_address(), id: this.host.id }, ...this.host.members()];
  }

  private target(host: string): Target {
    let t = this.targets.get(host);
    if (!t) {
      t = {
        host, id: null, leaving: false, owed_version: null, in_flight: false, attempts: 0, timer: null, next_attempt_ms: null,
        last_result: null, last_error: null, peer_version: null, peer_hash: null, auth_failures: 0, last_auth_failure: null, last_auth_failure_ms: 0,
        invalid_configs: 0, last_invalid: null, last_invalid_ms: 0, last_refused_key: null, fetch_in_flight: false, fetch_done_key: null,
        fetch_attempts: 0, fetch_not_before_ms: 0,
      };
      this.targets.set(host, t);
    }
    return t;
  }

  // ---- outbound: a local change goes to every member ----

  // After a local group change (POST /config, a member added or removed here): push to every
  // member, and to members just removed (so they leave too).
  push_all(removed: MemberRef[] = []): void {
    if (this.stopped || !this.active()) return;
    const version = this.host.raw_config().loadsharing_config_version;
    const hosts = new Set<string>();
    for (const m of this.host.members()) {
      const t = this.target(m.host);
      t.id = m.id;
      t.leaving = false;
      hosts.add(m.host);
      this.owe(t, version);
    }
    for (const m of removed) {
      if (hosts.has(m.host)) continue;
      const t = this.target(m.host);
      t.id = m.id;
      t.leaving = true;
      this.owe(t, version);
    }
  }

  private owe(t: Target, version: number): void {
    t.owed_version = version;
    t.attempts = 0;
    if (t.timer !== null) { this.timers.clear(t.timer); t.timer = null; }
    t.next_attempt_ms = null;
    if (!t.in_flight) this.push(t);
  }

  private push(t: Target): void {
    if (this.stopped || t.owed_version === null) return;
    const doc = this.group_doc();
    const version = doc.loadsharing_config_version as number;
    if (t.leaving) doc.loadsharing_members = (doc.loadsharing_members as MemberRef[]).filter((m) => m.host !== t.host);
    t.in_flight = true;
    this.host.request(t.host, 'POST', '/config', JSON.stringify(doc), this.request_timeout_ms(), (result) => {
      let outcome: Target['last_result'];
      let error: string | null = null;
      if ('error' in result) {
        outcome = 'offline';
        error = result.error;
      } else if (result.auth_error !== null && (result.status === 200 || result.status === 409)) {
        // "Taken" or "newer there" not from a key holder (a stranger at that address): not a
        // delivery. (A refusal is unsigned when the receiver refused our signature.)
        outcome = 'refused';
        error = `answer not authenticated (${result.auth_error})`;
        this.count_auth_failure(t.host, `POST /config: ${result.auth_error}`);
      } else if (result.status === 200) outcome = 'ok';
      else if (result.status === 409) outcome = 'newer_there';
      else { outcome = 'refused'; error = `${result.status} ${result.text.slice(0, 120)}`; }
      this.pushed(t, version, outcome, error);
    });
  }

  private pushed(t: Target, version: number, outcome: NonNullable<Target['last_result']>, error: string | null): void {
    t.in_flight = false;
    if (this.stopped || this.targets.get(t.host) !== t) return;
    t.last_result = outcome;
    t.last_error = error;
    const current = this.host.raw_config().loadsharing_config_version;
    if (outcome === 'ok' || outcome === 'newer_there') {
      if (outcome === 'newer_there') this.host.log.info('sync', `${t.host} has a newer config than version ${version}; fetching it`);
      else this.host.log.info('sync', `version ${version} delivered to ${t.host}`);
      if (t.leaving) { this.targets.delete(t.host); return; }
      if (current !== version) { this.push(t); return; } // changed meanwhile: send the new one
      t.owed_version = null;
      t.attempts = 0;
      t.next_attempt_ms = null;
      if (outcome === 'newer_there') { t.fetch_done_key = null; t.fetch_not_before_ms = 0; this.fetch_and_maybe_adopt(t, 'push answered 409'); }
      return;
    }
    if (t.leaving && t.attempts + 1 >= (this.options.leaving_attempts_max ?? 6)) {
      this.host.log.warn('sync', `${t.host} (removed) not told after ${t.attempts + 1} attempts (${error}); forgotten`);
      this.targets.delete(t.host);
      return;
    }
    const delay_ms = this.backoff_ms(t.attempts);
    t.attempts += 1;
    t.next_attempt_ms = this.host.monotonic.now_ms() + delay_ms;
    this.host.log.warn('sync', `push of version ${version} to ${t.host} ${outcome === 'offline' ? 'failed' : 'refused'} (${error}); retry in ${delay_ms / 1000} s`);
    t.timer = this.timers.set(() => { t.timer = null; t.next_attempt_ms = null; this.push(t); }, delay_ms);
  }

  // A member was added or removed here by the user (the member list is group config). A
  // newcomer's config is fetched first: if it is newer its group fields win, and its members
  // join too. Then this charger makes a new version (above both) and pushes it to everyone.
  // done: called once the new version is installed and its pushes have started.
  local_member_change(joined: string | null, removed: MemberRef[], done: () => void = () => {}): void {
    if (this.stopped) { if (joined !== null) this.joining.delete(joined); done(); return; }
    if (joined === null || !this.active()) {
      if (joined !== null) this.joining.delete(joined);
      this.finish_member_change(joined, removed, null, []);
      done();
      return;
    }
    this.joining.add(joined); // pairing comes here straight from add_record
    this.fetch_doc(joined, (doc) => {
      this.joining.delete(joined);
      let taken: GroupDoc | null = null;
      let extra: MemberRef[] = [];
      if (typeof doc === 'string') {
        this.host.log.info('sync', `${joined}: its config could not be read (${doc}); ours is pushed to it`);
      } else {
        this.highest_peer_version = Math.max(this.highest_peer_version, doc.version);
        if (newer(doc, meta_of(this.host.raw_config()))) taken = doc;
        extra = doc.members;
      }
      try {
        if (!this.stopped) this.finish_member_change(joined, removed, taken, extra);
      } finally {
        done();
      }
    });
  }

  // A person's join of host has started (the station's handle_join, before its reciprocal
  // request): until local_member_change has fetched the newcomer's config, a status from it
  // adopts nothing. Its config may sit at our version with a later date, and adopting it whole
  // would take its member list (itself and us) for the group's: the CI run of stop 23 dropped
  // a member that way. The join itself takes its group fields when newer and the union of the
  // members.
  begin_join(host: string): void {
    if (!this.stopped && this.active()) this.joining.add(host);
  }

  private finish_member_change(joined: string | null, removed: MemberRef[], taken: GroupDoc | null, extra: MemberRef[]): void {
    // Built from the config as it is now (a write may have landed during the fetch).
    const now = this.host.raw_config();
    const meta = {
      loadsharing_config_version: this.next_local_version(now.loadsharing_config_version),
      loadsharing_config_updated_at: Math.max(Math.floor(this.host.wall.now_ms() / 1000), now.loadsharing_config_updated_at),
      loadsharing_config_origin: this.host.id,
    };
    let next: NodeConfig = { ...now, ...meta };
    if (taken !== null) {
      try {
        check_config_rules({ ...next, ...taken.fields });
        this.host.log.info('sync', `${joined} has the newer group config (version ${taken.version}); taking its group fields`);
        next = { ...next, ...taken.fields };
      } catch (error) {
        this.host.log.warn('sync', `newcomer's config not taken: ${(error as Error).message}`);
      }
    }
    const members = this.member_list();
    for (const m of extra) if (!members.some((x) => same_member(x, m))) members.push(m);
    this.host.adopt_group(next, members.slice(0, MEMBERS_MAX), joined !== null ? `joined ${joined}` : 'member removed');
    this.push_all(removed);
  }

  // ---- inbound: a push ----

  // POST /config carrying loadsharing_config_version. auth: the request's signature check
  // (null when the group has no key). Nothing is applied unless authenticated and valid.
  receive_push(body: unknown, auth: AuthResult | null, remote: string): PushReply {
    const local = this.host.raw_config();
    const sender = auth?.ok ? auth.sender : null;
    const reply = (outcome: PushOutcome, msg: string): PushReply => ({ outcome, msg, config_version: this.host.raw_config().loadsharing_config_version });
    if (auth !== null && !auth.ok) {
      this.count_auth_failure_from(remote, auth.reason);
      return reply(auth.refusal === 'unsigned' ? 'unsigned' : 'forged', `config push refused: ${auth.reason}`);
    }
    if (!this.enabled) return reply('disabled', 'config sync is disabled on this charger');
    if (!this.active()) return reply('disabled', 'this charger has no group key: it is report-only and takes no config from peers (pair it: docs/user-guide.md)');
    let doc: GroupDoc;
    try {
      doc = parse_group_doc(body, local, true);
    } catch (error) {
      const t = this.target_for_sender(sender, remote);
      const msg = (error as Error).message;
      if (t) { t.invalid_configs += 1; t.last_invalid = msg; t.last_invalid_ms = this.host.monotonic.now_ms(); }
      this.host.log.warn('sync', `invalid config push from ${sender ?? remote} refused: ${msg}`);
      return reply('invalid', `invalid config: ${msg}`);
    }
    const mine = meta_of(local);
    if (!newer(doc, mine)) {
      const same = doc.version === mine.version && doc.updated_at === mine.updated_at && doc.origin === mine.origin;
      return same ? reply('unchanged', 'no change') : reply('older', 'a newer config is in force here');
    }
    this.adopt(doc, `push from ${sender ?? remote}`);
    return reply('adopted', 'done');
  }

  // Whose request was it? The authenticated sender's id, else the remote address when exactly
  // one member lives there (several chargers behind one address cannot be told apart).
  private target_for_sender(sender: string | null, remote: string): Target | null {
    const members = this.host.members();
    const by_id = sender === null ? undefined : members.find((r) => r.id === sender);
    if (by_id) return this.target(by_id.host);
    const by_ip = members.filter((r) => r.host.replace(/:\d+$/, '') === remote);
    return by_ip.length === 1 ? this.target(by_ip[0].host) : null;
  }

  private count_auth_failure_from(remote: string, reason: string): void {
    const t = this.target_for_sender(null, remote);
    if (t) { this.count_auth_failure(t.host, reason); return; }
    const n = (this.strangers.get(remote) ?? 0) + 1;
    this.strangers.set(remote, n);
    if (this.strangers.size > 64) this.strangers.delete(this.strangers.keys().next().value!);
    if (is_log_step(n)) this.host.log.warn('auth', `request from ${remote} refused (${reason}); ${n} so far`);
  }

  // A peer's status or response failed authentication (PeerLink, a fetch, a push).
  count_auth_failure(host: string, reason: string): void {
    const t = this.target(host);
    t.auth_failures += 1;
    t.last_auth_failure = reason;
    t.last_auth_failure_ms = this.host.monotonic.now_ms();
    if (is_log_step(t.auth_failures)) this.host.log.warn('auth', `${host}: ${reason}; its data is ignored (${t.auth_failures} refused so far)`);
  }

  private adopt(doc: GroupDoc, why: string): void {
    const local = this.host.raw_config();
    const next: NodeConfig = {
      ...local, ...doc.fields,
      loadsharing_config_version: doc.version,
      loadsharing_config_updated_at: doc.updated_at,
      loadsharing_config_origin: doc.origin,
    };
    check_config_rules(next);
    this.host.log.info('sync', `adopting group config version ${doc.version} (${why}); was ${local.loadsharing_config_version}`);
    this.host.adopt_group(next, doc.members, why);
    // Anything we still owed is older now: the newer one reached everybody from its origin.
    for (const t of this.targets.values()) {
      if (t.owed_version !== null && t.owed_version < doc.version && !t.leaving) {
        t.owed_version = null;
        if (t.timer !== null) { this.timers.clear(t.timer); t.timer = null; }
        t.next_attempt_ms = null;
      }
    }
  }

  // ---- inbound: a peer's (authenticated) status ----

  on_peer_status(host: string, id: string | null, block: { config_version?: unknown; config_hash?: unknown } | undefined): void {
    if (this.stopped || block === undefined) return;
    const t = this.target(host);
    t.id = id;
    const version = Number.isSafeInteger(block.config_version) ? (block.config_version as number) : null;
    const hash = typeof block.config_hash === 'string' ? block.config_hash : null;
    if (version !== null) { t.peer_version = version; this.highest_peer_version = Math.max(this.highest_peer_version, version); }
    if (hash !== null) t.peer_hash = hash;
    if (version === null || !this.active() || this.joining.has(host)) return;
    const local = this.host.raw_config();
    // A pending push that the peer has already got (by a fetch) is done.
    if (t.owed_version !== null && version >= t.owed_version && hash === this.host.config_hash()) {
      t.owed_version = null;
      t.attempts = 0;
      if (t.timer !== null) { this.timers.clear(t.timer); t.timer = null; }
      t.next_attempt_ms = null;
    }
    const differs = version > local.loadsharing_config_version || (version === local.loadsharing_config_version && hash !== null && hash !== this.host.config_hash());
    if (differs) this.fetch_and_maybe_adopt(t, `its status says version ${version}`);
  }

  // Also used after a join: the newcomer's config, if newer, wins.
  fetch_and_maybe_adopt(t: Target, why: string): void {
    const key = `${t.peer_version}|${t.peer_hash}`;
    if (this.joining.has(t.host) || t.fetch_in_flight || t.fetch_done_key === key || this.host.monotonic.now_ms() < t.fetch_not_before_ms) return;
    t.fetch_in_flight = true;
    this.fetch_doc(t.host, (result) => {
      t.fetch_in_flight = false;
      if (this.stopped) return;
      if (typeof result === 'string') {
        const delay_ms = this.backoff_ms(t.fetch_attempts++);
        t.fetch_not_before_ms = this.host.monotonic.now_ms() + delay_ms;
        this.host.log.warn('sync', `${t.host}: its config (${why}) not taken: ${result}; next try after ${delay_ms / 1000} s`);
        return;
      }
      t.fetch_attempts = 0;
      if (this.joining.has(t.host)) return; // the join takes it (begin_join)
      t.fetch_done_key = key;
      try {
        if (newer(result, meta_of(this.host.raw_config()))) this.adopt(result, `${t.host}: ${why}`);
      } catch (error) {
        // A store that cannot be written (disk full): nothing was applied; tried again later.
        t.fetch_done_key = null;
        t.fetch_not_before_ms = this.host.monotonic.now_ms() + this.backoff_ms(t.fetch_attempts++);
        this.host.log.error('sync', `${t.host}: adopting its config failed: ${(error as Error).message}`);
      }
    });
  }

  // GET /config from a peer, authenticated and validated. A string: why it was not usable.
  fetch_doc(host: string, done: (result: GroupDoc | string) => void): void {
    this.host.request(host, 'GET', '/config', '', this.request_timeout_ms(), (response) => {
      if ('error' in response) { done(`GET /config failed (${response.error})`); return; }
      if (response.status !== 200) { done(`GET /config answered ${response.status}`); return; }
      if (response.auth_error) {
        this.count_auth_failure(host, `GET /config: ${response.auth_error}`);
        done(response.auth_error);
        return;
      }
      let doc: GroupDoc;
      try {
        doc = parse_group_doc(JSON.parse(response.text), this.host.raw_config(), false);
      } catch (error) {
        const t = this.target(host);
        const msg = (error as Error).message;
        t.invalid_configs += 1;
        t.last_invalid = msg;
        t.last_invalid_ms = this.host.monotonic.now_ms();
        t.last_refused_key = `${t.peer_version}|${t.peer_hash}`;
        this.host.log.warn('sync', `invalid config from ${host} refused: ${msg} (${t.invalid_configs} so far)`);
        done(msg);
        return;
      }
      done(doc);
    });
  }

  private request_timeout_ms(): number {
    return this.options.request_timeout_ms ?? 3000;
  }

  // ---- status ----

  forget(host: string): void {
    const t = this.targets.get(host);
    if (!t || t.owed_version !== null) return; // a removed member still owed a push keeps its entry
    if (t.timer !== null) this.timers.clear(t.timer);
    this.targets.delete(host);
  }

  member_state(t: Target): SyncState {
    if (t.owed_version !== null) {
      if (t.in_flight && t.attempts === 0) return 'pushing';
      return t.last_result === 'refused' ? 'refused' : t.attempts > 0 ? 'retrying' : 'pushing';
    }
    if (t.last_refused_key !== null && t.last_refused_key === `${t.peer_version}|${t.peer_hash}`) return 'refused';
    if (t.peer_hash === null) return 'unknown';
    return t.peer_hash === this.host.config_hash() ? 'in_sync' : 'out_of_sync';
  }

  status(): Array<Record<string, unknown>> {
    const now_ms = this.host.monotonic.now_ms();
    const out: Array<Record<string, unknown>> = [];
    const hosts = new Set(this.host.members().map((m) => m.host));
    for (const t of this.targets.values()) hosts.add(t.host);
    for (const host of hosts) {
      const t = this.target(host);
      out.push({
        host,
        id: this.host.members().find((m) => m.host === host)?.id ?? t.id,
        member: !t.leaving && this.host.members().some((m) => m.host === host),
        state: this.member_state(t),
        pending_version: t.owed_version,
        attempts: t.attempts,
        next_retry_in_ms: t.next_attempt_ms === null ? null : Math.max(0, Math.ceil(t.next_attempt_ms - now_ms)),
        last_error: t.last_error,
        peer_config_version: t.peer_version,
        peer_config_hash: t.peer_hash,
        auth_failures: t.auth_failures,
        last_auth_failure: t.last_auth_failure,
        invalid_configs: t.invalid_configs,
        last_invalid: t.last_invalid,
      });
    }
    return out;
  }

  // Issues for config_issues: refused configs and refused authentication, per peer.
  issues(): Array<{ peer_id: string; issue: string; local_value: string | number | null; peer_value: string | number | null }> {
    const out: Array<{ peer_id: string; issue: string; local_value: string | number | null; peer_value: string | number | null }> = [];
    const version = this.host.raw_config().loadsharing_config_version;
    for (const t of this.targets.values()) {
      const peer_id = t.id ?? t.host;
      // While its current config is the refused one, or it pushed an invalid one lately.
      const recent = this.host.monotonic.now_ms() - t.last_invalid_ms < 120000;
      if (t.invalid_configs > 0 && (this.member_state(t) === 'refused' || recent)) {
        out.push({ peer_id, issue: 'invalid_config', local_value: version, peer_value: t.last_invalid });
      }
      // Shown while failures keep coming (within the last two minutes); the count stays in sync[].
      if (t.auth_failures > 0 && this.host.monotonic.now_ms() - t.last_auth_failure_ms < 120000) out.push({ peer_id, issue: 'auth_failed', local_value: t.auth_failures, peer_value: t.last_auth_failure });
    }
    return out;
  }

  auth_summary(): { mode: 'hmac-sha256' | 'none'; rejected_total: number; rejected_strangers: number } {
    let total = 0;
    for (const t of this.targets.values()) total += t.auth_failures;
    let strangers = 0;
    for (const n of this.strangers.values()) strangers += n;
    return { mode: this.host.group_auth() ? 'hmac-sha256' : 'none', rejected_total: total + strangers, rejected_strangers: strangers };
  }
}

function is_log_step(n: number): boolean {
  return (n & (n - 1)) === 0; // 1, 2, 4, 8 ...: a flood does not flood the log
}
