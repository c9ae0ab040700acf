// GET /loadsharing/status and GET /loadsharing/peers: upstream's LoadSharingStatus and
// LoadSharingPeer documents, plus what the masterless protocol adds (per-member degraded,
// applied, committed and reason; config consistency with the differing values; this node's
// own view of its share next to the minimum over every view it heard).
import type { Charger } from './charger.js';
import type { LoadSharingBlock, PeerStatusDoc } from '../engine/types.js';
import { uncontrolled_reserve } from './uncontrolled.js';
import { default_timing } from '../engine/types.js';

export interface ConfigIssue {
  peer_id: string;
  issue: string;
  local_value: string | number | null;
  peer_value: string | number | null;
}

function block_of(status: PeerStatusDoc): Partial<LoadSharingBlock> {
  const b = status.loadsharing;
  return typeof b === 'object' && b !== null && !Array.isArray(b) ? b : {};
}

function num_or_null(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function str_or_null(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

export function peer_list(charger: Charger): Array<Record<string, unknown>> {
  const now_ms = charger.clock.now_ms();
  const mono_now_ms = charger.monotonic.now_ms(); // the engine's times (last_seen) are monotonic
  const decision = charger.engine.last_decision();
  const entries = new Map(charger.engine.peer_entries().map((e) => [e.id, e]));
  const out: Array<Record<string, unknown>> = [];
  for (const record of charger.peer_records()) {
    const entry = entries.get(record.member_id);
    const status = entry?.status ?? {};
    const b = block_of(status);
    const alloc = decision?.allocations.find((a) => a.id === record.member_id);
    const host_ip = record.host.replace(/:\d+$/, '');
    // A charger without load sharing (uncontrolled.ts): what the group must keep for it.
    let reserve = record.uncontrolled ? uncontrolled_reserve({
      max_current: status.max_current, pilot: status.pilot, amp: status.amp, connected: record.connected,
      heard_age_ms: entry?.last_seen_ms == null ? null : mono_now_ms - entry.last_seen_ms,
    }, charger.raw_config().loadsharing_group_max_current, default_timing.message_delay_max_ms) : null;
    // What the module keeps is what counts (rule 3): after a rise of its pilot it keeps the
    // maximum a while longer than the pilot alone would say.
    if (reserve && alloc?.uncontrolled && alloc.reserved_current !== reserve.reserve_a) {
      const kept_a = alloc.reserved_current;
      const basis = kept_a === reserve.max_a ? (reserve.basis === 'group_max_current' ? 'group_max_current' : 'max_current') : kept_a === reserve.pilot_a ? 'pilot' : 'measured';
      reserve = { ...reserve, reserve_a: kept_a, basis };
    }
    out.push({
      id: record.id ?? '',
      name: record.id ?? record.host,
      host: record.host,
      ip: /^\d+\.\d+\.\d+\.\d+$/.test(host_ip) ? host_ip : '',
      version: '',
      online: alloc?.online ?? false,
      joined: true,
      connected: record.connected,
      // Why its last message was refused (not paired, a foreign id): it is not heard meanwhile.
      refused: record.refused,
      // Upstream: seconds since this node booted (millis/1000) when the peer was last heard.
      last_seen: entry?.last_seen_ms == null ? 0 : Math.floor((entry.last_seen_ms - charger.station.started_ms) / 1000),
      last_seen_age_ms: entry?.last_seen_ms == null ? null : mono_now_ms - entry.last_seen_ms,
      status: {
        amp: num_or_null(status.amp) ?? 0, // milliamps, as in the peer's /status
        voltage: num_or_null(status.voltage) ?? 0,
        pilot: num_or_null(status.pilot) ?? 0,
        vehicle: num_or_null(status.vehicle) ?? 0,
        state: num_or_null(status.state) ?? 0,
        min_current: num_or_null(b.min_current) ?? 0,
        max_current: num_or_null(b.max_current) ?? num_or_null(status.max_current) ?? 0,
        priority: num_or_null(b.priority) ?? 0,
      },
      degraded: b.degraded === true,
      applied: num_or_null(b.applied_current),
      committed: num_or_null(b.committed_current),
      reason: reserve ? 'uncontrolled' : alloc?.reason ?? 'offline',
      uncontrolled: reserve !== null,
      ...(reserve ? { uncontrolled_reserve: reserve.reserve_a, reserve_basis: reserve.basis } : {}),
    });
  }
  const joined_ids = new Set(charger.peer_records().map((r) => r.id).filter((x) => x !== null));
  const joined_hosts = new Set(charger.peer_records().map((r) => r.host));
  for (const found of charger.discovered()) {
    if ((found.id !== null && joined_ids.has(found.id)) || joined_hosts.has(found.host)) continue;
    out.push({
      id: found.id ?? '', name: found.name, host: found.host, ip: found.ip, version: found.version ?? '',
      online: false, joined: false, connected: false,
      last_seen: Math.floor((found.seen_at_ms - charger_started_ms(charger)) / 1000),
      last_seen_age_ms: now_ms - found.seen_at_ms,
      degraded: false, applied: null, committed: null, reason: 'not_joined',
    });
  }
  return out;
}

function charger_started_ms(charger: Charger): number {
  return charger.started_at_ms();
}

export function config_issues(charger: Charger): ConfigIssue[] {
  const mine = charger.engine.poll_status();
  const issues: ConfigIssue[] = [];
  for (const entry of charger.engine.peer_entries()) {
    if (entry.last_seen_ms === null) continue;
    const b = block_of(entry.status);
    const compare = (issue: string, local: string | number, peer: string | number | null) => {
      if (peer !== null && peer !== local) issues.push({ peer_id: entry.id, issue, local_value: local, peer_value: peer });
    };
    // Versions legitimately differ between equal configs (each node counts its own writes):
    // the fields are compared only when the hashes say the configs differ.
    const peer_hash = str_or_null(b.config_hash);
    if (peer_hash !== null && peer_hash !== mine.config_hash) {
      compare('config_hash', mine.config_hash, peer_hash);
      compare('group_max_current', mine.group_max_current, num_or_null(b.group_max_current));
      compare('safety_factor', mine.safety_factor, num_or_null(b.safety_factor));
      compare('config_version', mine.config_version, num_or_null(b.config_version));
    }
    compare('module_hash', mine.module_hash, str_or_null(b.module_hash));
  }
  // From the config sync: a peer whose configs we keep refusing, or whose traffic fails the
  // group key (config-sync.ts).
  issues.push(...charger.sync.issues());
  return issues;
}

export function loadsharing_status(charger: Charger): Record<string, unknown> {
  const config = charger.raw_config();
  const decision = charger.engine.last_decision();
  const block = charger.engine.poll_status();
  const computed_at_ms = charger.engine.computed_at();
  const entries = new Map(charger.engine.peer_entries().map((e) => [e.id, e]));
  const issues = config_issues(charger);
  const peers = peer_list(charger);
  const uncontrolled = new Set(peers.filter((p) => p.uncontrolled === true).map((p) => (p.id === '' ? `?${p.host}` : p.id)));
  // What each view I heard allocates to me (rule 5: my target is their minimum).
  const views: Array<{ id: string; current: number }> = [];
  for (const a of decision?.allocations ?? []) {
    if (a.id === charger.id) continue;
    const alloc = block_of(entries.get(a.id)?.status ?? {}).alloc;
    const mine = alloc && typeof alloc === 'object' ? (alloc as Record<string, unknown>)[charger.id] : undefined;
    if (a.online && !a.degraded && typeof mine === 'number') views.push({ id: a.id, current: mine });
  }
  return {
    enabled: config.loadsharing_enabled,
    group_id: config.loadsharing_group_id,
    // The engine's monotonic time of its last decision, shown as wall time.
    computed_at: computed_at_ms === null ? null : new Date(charger.clock.now_ms() - (charger.monotonic.now_ms() - computed_at_ms)).toISOString(),
    failsafe_active: block.failsafe_active,
    degraded: block.degraded,
    online_count: decision?.online_count ?? 0,
    offline_count: decision?.offline_count ?? 0,
    config_consistent: (decision?.config_consistent ?? true) && issues.every((i) => i.issue === 'module_hash'),
    config_issues: issues,
    config_version: config.loadsharing_config_version,
    config_updated_at: config.loadsharing_config_updated_at,
    config_origin: config.loadsharing_config_origin,
    config_hash: block.config_hash,
    // enabled: sync is configured on; active: and the group has a key (else report-only).
    config_sync: { enabled: charger.sync.enabled, active: charger.sync.active(), members: charger.sync.status() },
    auth: charger.sync.auth_summary(),
    module_hash: block.module_hash,
    effective_limit: decision?.effective_limit ?? 0,
    // Chargers without load sharing on this breaker and what they may draw (uncontrolled.ts).
    uncontrolled_current: peers.filter((p) => p.uncontrolled === true).reduce((sum, p) => sum + (p.uncontrolled_reserve as number), 0),
    budget_current: decision?.budget_current ?? 0,
    reserved_current: decision?.reserved_current ?? 0,
    self: {
      id: charger.id,
      own_view_current: decision?.self.own_view_current ?? 0,
      views,
      min_over_views_current: decision?.self.target_current ?? 0,
      target_current: decision?.self.target_current ?? 0,
      applied_current: block.applied_current,
      committed_current: block.committed_current,
      reason: block.reason,
    },
    peers,
    allocations: (decision?.allocations ?? []).map((a) => {
      const b = a.id === charger.id ? block : block_of(entries.get(a.id)?.status ?? {});
      return {
        id: a.id,
        target_current: a.target_current,
        reason: a.reason,
        online: a.online,
        degraded: a.degraded,
        demanding: a.demanding,
        reserved_current: a.reserved_current,
        in_hold: a.in_hold,
        applied: num_or_null(b.applied_current),
        committed: num_or_null(b.committed_current),
        uncontrolled: uncontrolled.has(a.id),
      };
    }),
  };
}
