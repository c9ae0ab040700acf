// What the page shows, derived from three documents: this node's live status (/ws: full doc,
// then deltas), GET /loadsharing/status (the group as this node sees it) and GET /config.
// Pure functions, so they are tested without a browser (test/ui-model.test.ts).
// Units: the firmware's `amp` is in milliamps; everything here is in amps.
import { reason_words, format_amps } from './reasons';
import { merge_status as merge_wire_status } from '../../../host-node/station/wire.js';

export interface Block {
  id?: string; degraded?: boolean; failsafe_active?: boolean; alloc?: Record<string, number>;
  applied_current?: number; committed_current?: number; target_current?: number; reason?: string;
  module_hash?: string; config_hash?: string; group_max_current?: number; safety_factor?: number;
  demand?: boolean; seen?: string[];
  left_alone?: boolean; // its members all left by another charger's doing: it waits for a person (rule 8)
}

export interface StatusDoc {
  amp?: number; pilot?: number; state?: number; vehicle?: number; config_version?: number;
  ipaddress?: string; loadsharing?: Block; [key: string]: unknown;
}

export interface Peer {
  id: string; name: string; host: string; online: boolean; joined: boolean; connected: boolean;
  last_seen_age_ms: number | null; degraded: boolean; applied: number | null; committed: number | null;
  reason: string; status?: { amp?: number; vehicle?: number; max_current?: number; min_current?: number; pilot?: number };
  // A charger without load sharing (upstream firmware): what the group keeps for it, and why.
  uncontrolled?: boolean; uncontrolled_reserve?: number; reserve_basis?: string;
  // Why its last message was refused (not paired: no or another group key; a refused id).
  refused?: string | null;
}

export interface Allocation {
  id: string; target_current: number; reason: string; online: boolean; degraded: boolean; demanding: boolean;
  reserved_current: number; in_hold: boolean; applied: number | null; committed: number | null;
}

export interface ConfigIssue { peer_id: string; issue: string; local_value: string | number | null; peer_value: string | number | null }

export interface GroupStatus {
  enabled: boolean; group_id: string; computed_at: string | null; failsafe_active: boolean; degraded: boolean;
  online_count: number; offline_count: number; config_consistent: boolean; config_issues: ConfigIssue[];
  config_version: number; config_hash: string; module_hash: string; effective_limit: number;
  budget_current: number; reserved_current: number; uncontrolled_current?: number;
  self: { id: string; target_current: number; own_view_current: number; applied_current: number; committed_current: number; reason: string; views: Array<{ id: string; current: number }> };
  peers: Peer[]; allocations: Allocation[];
  // Config sync and the group key (docs/config-sync.md); absent on older nodes.
  auth?: { mode: 'hmac-sha256' | 'none'; rejected_total: number; rejected_strangers: number };
  config_sync?: { enabled: boolean; active?: boolean; members: Array<{ host: string; id: string | null; state: string; member: boolean }> };
}

// How peer traffic is protected, in words for the group card (docs/security.md): without a
// group key anyone on the network could pose as a charger, and the page says so.
export function peer_auth_words(status: GroupStatus | null): { words: string; warn: boolean } | null {
  if (!status?.auth) return null;
  if (status.auth.mode === 'none') return { words: 'not paired: no group key, so this charger is report-only', warn: true };
  const refused = status.auth.rejected_total;
  return { words: `group key${refused > 0 ? `; ${refused} message${refused === 1 ? '' : 's'} refused` : ''}`, warn: refused > 0 };
}

// Settings sync with the other chargers, in words: how many are still being sent the settings.
export function config_sync_words(status: GroupStatus | null): string | null {
  const sync = status?.config_sync;
  if (!sync) return null;
  if (!sync.enabled) return 'off (each charger keeps its own settings)';
  if (sync.active === false) return 'report-only: nothing is taken from other chargers until this one is paired';
  const members = sync.members.filter((m) => m.member);
  const pending = members.filter((m) => m.state === 'pushing' || m.state === 'retrying' || m.state === 'refused');
  if (pending.length === 0) return 'shared with every charger';
  return `sending to ${pending.map((m) => m.id ?? m.host).join(', ')}`;
}

export type Config = Record<string, unknown>;

export type MemberState = 'online' | 'offline' | 'degraded' | 'never heard' | 'not paired' | 'discovered' | 'no load sharing';

export interface MemberRow {
  key: string; // the member id in the group (or "?host" until its id is known)
  name: string;
  host: string;
  kind: 'self' | 'peer' | 'discovered';
  state: MemberState;
  measured_a: number | null;
  alloc_a: number | null;
  applied_a: number | null;
  reserved_a: number;
  min_a: number; // the lowest pilot the car accepts: a limit set below it pauses the car
  reason_code: string;
  reason: string;
  module_hash: string | null;
  refused: string | null; // a peer whose messages are refused (not paired, a refused id): why
}

// Members that still hold more than this view allocates them: an increase elsewhere waits
// for them (decrease before increase).
export function must_reduce(status: GroupStatus, except: string): string[] {
  return status.allocations
    .filter((a) => a.id !== except && a.online && !a.degraded && a.committed !== null && a.committed > a.target_current)
    .map((a) => display_name(status, a.id));
}

export function display_name(status: GroupStatus | null, member: string): string {
  if (!member.startsWith('?')) return member;
  const host = member.slice(1);
  const peer = status?.peers.find((p) => p.host === host);
  return peer && peer.name !== '' ? peer.name : host;
}

function module_of(status: GroupStatus, peer_id: string, online: boolean): string | null {
  const issue = status.config_issues.find((i) => i.peer_id === peer_id && i.issue === 'module_hash');
  if (issue) return typeof issue.peer_value === 'string' ? issue.peer_value : null;
  // No module_hash issue for a member we hear: it runs the same module as this node.
  return online ? status.module_hash : null;
}

export function member_rows(doc: StatusDoc, status: GroupStatus | null, config: Config | null, self_host = ''): MemberRow[] {
  const rows: MemberRow[] = [];
  const block = doc.loadsharing ?? {};
  const self_id = block.id ?? status?.self.id ?? '';
  const allocations = new Map((status?.allocations ?? []).map((a) => [a.id, a]));
  const failsafe_current_a = typeof config?.loadsharing_failsafe_safe_current === 'number' ? config.loadsharing_failsafe_safe_current : undefined;

  const own = allocations.get(self_id);
  const self_reason = block.reason ?? status?.self.reason ?? '';
  rows.push({
    key: self_id,
    name: self_id,
    host: self_host !== '' ? self_host : typeof doc.ipaddress === 'string' ? doc.ipaddress : '',
    kind: 'self',
    state: block.degraded ? 'degraded' : 'online',
    measured_a: typeof doc.amp === 'number' ? doc.amp / 1000 : null,
    alloc_a: own?.target_current ?? block.target_current ?? null,
    applied_a: block.applied_current ?? status?.self.applied_current ?? null,
    reserved_a: 0,
    min_a: typeof doc.min_current === 'number' ? doc.min_current : 6,
    reason_code: self_reason,
    reason: reason_words(self_reason, {
      waiting_for: status ? must_reduce(status, self_id) : [], failsafe_current_a,
    }),
    module_hash: block.module_hash ?? status?.module_hash ?? null,
    refused: null,
  });
  if (status === null) return rows;

  for (const peer of status.peers) {
    if (!peer.joined) {
      rows.push({
        key: `discovered:${peer.host}`, name: peer.name || peer.host, host: peer.host, kind: 'discovered', state: 'discovered',
        measured_a: null, alloc_a: null, applied_a: null, reserved_a: 0, min_a: 6, reason_code: 'not_joined', reason: reason_words('not_joined'),
        module_hash: null, refused: null,
      });
      continue;
    }
    const member = peer.id !== '' ? peer.id : `?${peer.host}`;
    if (peer.uncontrolled) {
      // It follows no allocation: what it may draw is kept for it, whatever it draws now.
      const reserve_a = peer.uncontrolled_reserve ?? 0;
      rows.push({
        key: member, name: peer.id !== '' ? peer.id : (peer.name || peer.host), host: peer.host, kind: 'peer', state: 'no load sharing',
        measured_a: typeof peer.status?.amp === 'number' ? peer.status.amp / 1000 : null, alloc_a: null, applied_a: null,
        reserved_a: reserve_a, min_a: 6, reason_code: 'uncontrolled',
        reason: reason_words('uncontrolled', { reserved_current_a: reserve_a, reserve_basis: peer.reserve_basis }),
        module_hash: null, refused: peer.refused ?? null,
      });
      continue;
    }
    const a = allocations.get(member);
    const online = a?.online ?? peer.online;
    const degraded = online && (a?.degraded ?? peer.degraded);
    // Its messages are refused (not paired, or a refused id): it counts as unheard, reserved.
    const refused = !online && typeof peer.refused === 'string' && peer.refused !== '';
    const state: MemberState = degraded ? 'degraded' : online ? 'online' : refused ? 'not paired' : peer.last_seen_age_ms === null ? 'never heard' : 'offline';
    let code = a?.reason ?? peer.reason;
    const target = a?.target_current ?? null;
    const waiting = online && !degraded && target !== null && peer.applied !== null && peer.applied < target ? must_reduce(status, member) : [];
    if (waiting.length > 0) code = 'waiting_for_peers';
    rows.push({
      key: member,
      name: peer.id !== '' ? peer.id : (peer.name || peer.host),
      host: peer.host,
      kind: 'peer',
      state,
      measured_a: online && typeof peer.status?.amp === 'number' ? peer.status.amp / 1000 : null,
      alloc_a: target,
      applied_a: online ? peer.applied : null,
      reserved_a: a?.reserved_current ?? 0,
      min_a: typeof peer.status?.min_current === 'number' && peer.status.min_current > 0 ? peer.status.min_current : 6,
      reason_code: code,
      reason: reason_words(code, { reserved_current_a: a?.reserved_current, in_hold: a?.in_hold, waiting_for: waiting, failsafe_current_a }),
      module_hash: module_of(status, member, online),
      refused: peer.refused ?? null,
    });
  }
  return rows;
}

export interface LimitPart { label: string; value_a: number }

export interface GroupSummary {
  total_draw_a: number;
  effective_limit_a: number | null;
  configured_limit_a: number | null; // this node's own group_max_current × safety_factor
  budget_a: number | null;
  reserved_a: number;
  uncontrolled_a: number; // kept for chargers without load sharing (their maximum, or a fresh lower pilot)
  lowered_by: string[]; // plain-words reasons the effective limit is below the breaker limit
  failsafe: { active: boolean; degraded: boolean; words: string };
  // Its group removed it: it stays at its failsafe current until a person confirms it is on
  // its own on its breaker (POST /loadsharing/alone).
  left_alone: boolean;
  config_warnings: string[];
  module_mismatch: boolean;
  failsafe_overcommit: string | null; // members × safe current > limit
  computed_at_ms: number | null;
}

export function group_summary(doc: StatusDoc, status: GroupStatus | null, config: Config | null, rows: MemberRow[]): GroupSummary {
  const num = (key: string): number | null => (typeof config?.[key] === 'number' ? (config[key] as number) : null);
  const gmc = num('loadsharing_group_max_current');
  const sf = num('loadsharing_safety_factor');
  const configured = gmc !== null && sf !== null ? round1(gmc * sf) : null;
  const lowered_by: string[] = [];
  if (gmc !== null && sf !== null && sf < 1) lowered_by.push(`safety factor ${sf}: ${gmc} A × ${sf} = ${configured} A`);
  if (status && gmc !== null && sf !== null) {
    const by_peer = new Map<string, { gmc: number; sf: number }>();
    for (const issue of status.config_issues) {
      if (issue.issue !== 'group_max_current' && issue.issue !== 'safety_factor') continue;
      const entry = by_peer.get(issue.peer_id) ?? { gmc, sf };
      if (typeof issue.peer_value === 'number') {
        if (issue.issue === 'group_max_current') entry.gmc = issue.peer_value; else entry.sf = issue.peer_value;
      }
      by_peer.set(issue.peer_id, entry);
    }
    for (const [peer, c] of by_peer) {
      const limit = round1(c.gmc * c.sf);
      if (configured !== null && limit < configured) lowered_by.push(`stricter config on ${display_name(status, peer)}: ${c.gmc} A × ${c.sf} = ${limit} A`);
    }
  }
  const reserved = status?.reserved_current ?? 0;
  if (status && reserved > 0) {
    const who = status.allocations.filter((a) => a.reserved_current > 0).map((a) => `${display_name(status, a.id)} ${a.reserved_current} A`);
    // A reserve the core keeps without a member row (a member removed in its hold, this
    // charger's own failsafe) is said as a total rather than as an empty list.
    lowered_by.push(who.length > 0 ? `reserves for offline or degraded chargers: ${who.join(', ')}` : `reserves held by the failsafe: ${format_amps(reserved)} A`);
  }
  const uncontrolled = rows.filter((r) => r.state === 'no load sharing');
  if (uncontrolled.length > 0) {
    lowered_by.push(`chargers without load sharing on this breaker: ${uncontrolled.map((r) => `${r.name} ${format_amps(r.reserved_a)} A`).join(', ')}`);
  }

  const block = doc.loadsharing ?? {};
  const active = block.failsafe_active ?? status?.failsafe_active ?? false;
  const degraded = block.degraded ?? status?.degraded ?? false;
  const mode = config?.loadsharing_failsafe_mode;
  const safe = num('loadsharing_failsafe_safe_current');
  let words = 'normal: sharing with the group';
  const left_alone = block.left_alone === true;
  if (left_alone) words = `left by its group: limited to ${mode === 'disable' ? '0 A (stopped)' : `the failsafe current (${safe ?? '?'} A)`} until you confirm it is alone on its breaker`;
  else if (degraded) words = `degraded: this charger cannot confirm the group and limits itself to ${mode === 'disable' ? '0 A (stopped)' : `${safe ?? '?'} A`}. Every charger must list every other one (see the user guide).`;
  else if (active && (status?.offline_count ?? 0) > 0) {
    // The core's failsafe flag is also up while a member is offline: its reserve is in force.
    const n = status!.offline_count;
    words = `failsafe: holding a reserve for ${n} offline charger${n === 1 ? '' : 's'}`;
  } else if (active) words = `failsafe active: ${reason_words(block.reason ?? status?.self.reason ?? '')}`;
  if (status && !status.enabled) words = 'load sharing is off on this charger';

  const config_warnings: string[] = [];
  const issues = status?.config_issues ?? [];
  for (const issue of issues) {
    if (issue.issue === 'module_hash') continue; // shown in the module list
    // The hash differs whenever anything does: named only when no named value explains it.
    if (issue.issue === 'config_hash' && issues.some((i) => i.peer_id === issue.peer_id && i.issue !== 'config_hash' && i.issue !== 'module_hash' && i.issue !== 'config_version')) continue;
    const what = issue.issue === 'config_hash' ? 'config hash' : issue.issue === 'config_version' ? 'config version' : issue.issue;
    config_warnings.push(`${display_name(status, issue.peer_id)}: ${what} is ${show(issue.peer_value)} there, ${show(issue.local_value)} here`);
  }
  const hashes = new Set(rows.filter((r) => r.kind !== 'discovered' && r.module_hash !== null).map((r) => r.module_hash));

  const members = rows.filter((r) => r.kind !== 'discovered').length;
  const limit_for_check = configured ?? gmc;
  const overcommit = safe !== null && limit_for_check !== null && members * safe > limit_for_check
    ? `${members} chargers × safe current ${safe} A = ${round1(members * safe)} A is more than the limit of ${limit_for_check} A: if all fall back to the failsafe together, the breaker may trip. Lower the safe current or choose "stop charging".`
    : null;

  const total = rows.reduce((sum, r) => sum + (r.kind !== 'discovered' && r.measured_a !== null ? r.measured_a : 0), 0);
  return {
    total_draw_a: round1(total),
    effective_limit_a: status ? status.effective_limit : configured,
    configured_limit_a: configured,
    budget_a: status ? status.budget_current : null,
    reserved_a: reserved,
    uncontrolled_a: round1(uncontrolled.reduce((sum, r) => sum + r.reserved_a, 0)),
    lowered_by,
    failsafe: { active, degraded, words },
    left_alone,
    config_warnings,
    module_mismatch: hashes.size > 1,
    failsafe_overcommit: overcommit,
    computed_at_ms: status?.computed_at ? Date.parse(status.computed_at) : null,
  };
}

function show(value: string | number | null): string {
  if (value === null) return 'unknown';
  if (typeof value === 'string' && /^[0-9a-f]{16,}$/.test(value)) return value.slice(0, 12);
  return String(value);
}

export function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

export function ago(ms: number | null, now_ms: number): string {
  if (ms === null || Number.isNaN(ms)) return 'never';
  const s = Math.max(0, Math.round((now_ms - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ago` : `${Math.floor(m / 60)} h ago`;
}

// Applies a /ws message: top-level keys replace, `loadsharing` fields merge (OpenEVSE deltas).
// The one merge the node, its peers and this page share (host-node/station/wire.ts).
export function merge_status(doc: StatusDoc, message: Record<string, unknown>): StatusDoc {
  return merge_wire_status(doc, message);
}
