// The Load Sharing page's pure parts, without a browser: every reason code has words, server
// refusals land on the right field, and the rows and group summary read the node's documents
// the way the page shows them (amp in milliamps, reserves, stricter peers, module versions).
import { describe, expect, test } from 'vitest';
import { REASON_NAMES } from '../host-node/abi.js';
import { REASON_WORDS, reason_words } from '../ui/src/lib/reasons';
import { FIELDS, field_of_message, changed_fields } from '../ui/src/lib/fields';
import { member_rows, group_summary, merge_status, type GroupStatus, type StatusDoc } from '../ui/src/lib/model';
import { History, WINDOW_MS } from '../ui/src/lib/history';
import { config_write_schema, default_node_config } from '../host-node/node/config.js';

describe('reasons', () => {
  test('every reason code of the core has plain words', () => {
    for (const code of REASON_NAMES) {
      expect(REASON_WORDS[code], code).toBeTypeOf('function');
      const words = reason_words(code, { reserved_current_a: 6 });
      expect(words).not.toContain('_');
      expect(words.length).toBeGreaterThan(3);
    }
  });

  test('offline and waiting name the current and the chargers', () => {
    expect(reason_words('offline', { reserved_current_a: 6 })).toBe('offline: reserving 6 A');
    expect(reason_words('offline', { reserved_current_a: 16, in_hold: true })).toBe('offline: reserving its last 16 A');
    expect(reason_words('waiting_for_peers', { waiting_for: ['openevse-2'] })).toBe('waiting for openevse-2 to reduce');
    expect(reason_words('equal_share')).toBe('equal share');
    expect(reason_words('something_new')).toBe('something new');
  });
});

describe('settings fields', () => {
  test('the form covers every writable loadsharing_* key of /config, and only those', () => {
    // The write-only group key is not a form field: GET /config never returns it (config-sync).
    const keys = Object.keys(config_write_schema.properties).filter((k) => k.startsWith('loadsharing_') && k !== 'loadsharing_group_key').sort();
    expect(FIELDS.map((f) => f.key).sort()).toEqual(keys);
    for (const f of FIELDS) expect(f.help.length, f.key).toBeGreaterThan(10);
  });

  test('a server message is matched to the first field it names', () => {
    expect(field_of_message('loadsharing_heartbeat_timeout must be >= 5')).toBe('loadsharing_heartbeat_timeout');
    expect(field_of_message('loadsharing_failsafe_peer_assumed_current (5) must be at least loadsharing_failsafe_safe_current (6)'))
      .toBe('loadsharing_failsafe_peer_assumed_current');
    expect(field_of_message('loadsharing_failsafe_safe_current (40) must not exceed loadsharing_group_max_current (32)'))
      .toBe('loadsharing_failsafe_safe_current');
    expect(field_of_message('Invalid JSON')).toBeNull();
  });

  test('only changed keys are sent, as numbers; text that is no number stays in the page', () => {
    const config = default_node_config('a') as unknown as Record<string, unknown>;
    const form: Record<string, unknown> = {};
    for (const f of FIELDS) form[f.key] = f.kind === 'number' || f.kind === 'integer' ? String(config[f.key]) : config[f.key];
    expect(changed_fields(config, form)).toEqual({ changes: {}, errors: {} });
    form.loadsharing_group_max_current = '24';
    form.loadsharing_failsafe_mode = 'disable';
    expect(changed_fields(config, form)).toEqual({ changes: { loadsharing_group_max_current: 24, loadsharing_failsafe_mode: 'disable' }, errors: {} });
    form.loadsharing_priority = 'high';
    expect(changed_fields(config, form).errors).toEqual({ loadsharing_priority: 'enter a number' });
  });
});

function group_status(over: Partial<GroupStatus> = {}): GroupStatus {
  return {
    enabled: true, group_id: 'home', computed_at: '2026-01-01T00:00:00.000Z', failsafe_active: false, degraded: false,
    online_count: 2, offline_count: 1, config_consistent: false, config_issues: [], config_version: 3, config_hash: 'c'.repeat(64),
    module_hash: 'a'.repeat(64), effective_limit: 28.8, budget_current: 22.8, reserved_current: 6,
    self: { id: 'evse-1', target_current: 11, own_view_current: 11, applied_current: 8, committed_current: 8, reason: 'waiting_for_peers', views: [] },
    peers: [
      { id: 'evse-2', name: 'evse-2', host: '10.0.0.2', online: true, joined: true, connected: true, last_seen_age_ms: 500, degraded: false,
        applied: 14, committed: 14, reason: 'equal_share', status: { amp: 13500 } },
      { id: 'evse-3', name: 'evse-3', host: '10.0.0.3', online: false, joined: true, connected: false, last_seen_age_ms: 60000, degraded: false,
        applied: null, committed: null, reason: 'offline', status: { amp: 16000 } },
      { id: '', name: '', host: '10.0.0.9', online: false, joined: true, connected: false, last_seen_age_ms: null, degraded: false,
        applied: null, committed: null, reason: 'offline' },
      { id: 'evse-4', name: 'evse-4', host: '10.0.0.4', online: false, joined: false, connected: false, last_seen_age_ms: 1000, degraded: false,
        applied: null, committed: null, reason: 'not_joined' },
    ],
    allocations: [
      { id: 'evse-1', target_current: 11, reason: 'equal_share', online: true, degraded: false, demanding: true, reserved_current: 0, in_hold: false, applied: 8, committed: 8 },
      { id: 'evse-2', target_current: 11, reason: 'equal_share', online: true, degraded: false, demanding: true, reserved_current: 0, in_hold: false, applied: 14, committed: 14 },
      { id: 'evse-3', target_current: 0, reason: 'offline', online: false, degraded: false, demanding: false, reserved_current: 6, in_hold: false, applied: null, committed: null },
      { id: '?10.0.0.9', target_current: 0, reason: 'offline', online: false, degraded: false, demanding: false, reserved_current: 0, in_hold: false, applied: null, committed: null },
    ],
    ...over,
  };
}

const doc: StatusDoc = { amp: 8200, ipaddress: '10.0.0.1', config_version: 4, loadsharing: { id: 'evse-1', applied_current: 8, reason: 'waiting_for_peers', module_hash: 'a'.repeat(64), degraded: false, failsafe_active: false } };
const config = { ...default_node_config('evse-1'), loadsharing_group_max_current: 32, loadsharing_safety_factor: 0.9 } as unknown as Record<string, unknown>;

describe('rows', () => {
  test('measured current is read in milliamps; reasons in words; offline reserve shown', () => {
    const rows = member_rows(doc, group_status(), config, '10.0.0.1:80');
    expect(rows.map((r) => [r.name, r.kind, r.state])).toEqual([
      ['evse-1', 'self', 'online'], ['evse-2', 'peer', 'online'], ['evse-3', 'peer', 'offline'],
      ['10.0.0.9', 'peer', 'never heard'], ['evse-4', 'discovered', 'discovered'],
    ]);
    expect(rows[0].measured_a).toBe(8.2);
    expect(rows[0].host).toBe('10.0.0.1:80');
    expect(rows[0].reason).toBe('waiting for evse-2 to reduce');
    expect(rows[1].measured_a).toBe(13.5);
    expect(rows[2].measured_a).toBeNull(); // an offline charger's last report is not shown as live
    expect(rows[2].reason).toBe('offline: reserving 6 A');
    expect(rows[4].reason).toBe('discovered, not in the group');
    expect(rows.map((r) => r.min_a)).toEqual([6, 6, 6, 6, 6]);
  });

  test('a module version that differs is shown per member', () => {
    const s = group_status({ config_issues: [{ peer_id: 'evse-2', issue: 'module_hash', local_value: 'a'.repeat(64), peer_value: 'b'.repeat(64) }] });
    const rows = member_rows(doc, s, config);
    expect(rows.find((r) => r.name === 'evse-2')!.module_hash).toBe('b'.repeat(64));
    expect(rows.find((r) => r.name === 'evse-3')!.module_hash).toBeNull();
    expect(group_summary(doc, s, config, rows).module_mismatch).toBe(true);
    expect(group_summary(doc, group_status(), config, member_rows(doc, group_status(), config)).module_mismatch).toBe(false);
  });
});

describe('group summary', () => {
  test('total, what lowers the limit, config warnings with both values', () => {
    const s = group_status({
      config_issues: [{ peer_id: 'evse-2', issue: 'group_max_current', local_value: 32, peer_value: 25 }],
    });
    const rows = member_rows(doc, s, config);
    const g = group_summary(doc, s, config, rows);
    expect(g.total_draw_a).toBe(21.7);
    expect(g.configured_limit_a).toBe(28.8);
    expect(g.lowered_by).toEqual([
      'safety factor 0.9: 32 A × 0.9 = 28.8 A',
      'stricter config on evse-2: 25 A × 0.9 = 22.5 A',
      'reserves for offline or degraded chargers: evse-3 6 A',
    ]);
    expect(g.config_warnings).toEqual(['evse-2: group_max_current is 25 there, 32 here']);
    expect(g.failsafe.words).toBe('normal: sharing with the group');
  });

  test('a config hash difference is named only when no value explains it; the version is named', () => {
    const s = group_status({
      config_issues: [
        { peer_id: 'evse-2', issue: 'config_hash', local_value: 'c'.repeat(64), peer_value: 'd'.repeat(64) },
        { peer_id: 'evse-2', issue: 'config_version', local_value: 3, peer_value: 2 },
        { peer_id: 'evse-2', issue: 'safety_factor', local_value: 0.9, peer_value: 1 },
        { peer_id: 'evse-3', issue: 'config_hash', local_value: 'c'.repeat(64), peer_value: 'e'.repeat(64) },
      ],
    });
    expect(group_summary(doc, s, config, member_rows(doc, s, config)).config_warnings).toEqual([
      'evse-2: config version is 2 there, 3 here',
      'evse-2: safety_factor is 1 there, 0.9 here',
      'evse-3: config hash is eeeeeeeeeeee there, cccccccccccc here',
    ]);
  });

  test('with a charger offline the failsafe line says a reserve is held', () => {
    const d = { ...doc, loadsharing: { ...doc.loadsharing, failsafe_active: true } };
    expect(group_summary(d, group_status(), config, []).failsafe.words).toBe('failsafe: holding a reserve for 1 offline charger');
  });

  test('members × safe current above the limit is warned about', () => {
    const s = group_status();
    const rows = member_rows(doc, s, config);
    expect(group_summary(doc, s, config, rows).failsafe_overcommit).toBeNull(); // 4 × 6 = 24 <= 28.8
    const strict = { ...config, loadsharing_failsafe_safe_current: 8 };
    expect(group_summary(doc, s, strict, rows).failsafe_overcommit).toContain('4 chargers × safe current 8 A = 32 A');
  });

  test('degraded says what this charger limits itself to', () => {
    const d = { ...doc, loadsharing: { ...doc.loadsharing, degraded: true, failsafe_active: true } };
    expect(group_summary(d, group_status(), config, []).failsafe.words).toContain('limits itself to 6 A');
  });

  test('a charger its group removed says it waits for a person, at its failsafe current', () => {
    expect(group_summary(doc, group_status(), config, []).left_alone).toBe(false);
    // The module counts it degraded too (rule 8); the page says why in the person's terms.
    const d = { ...doc, loadsharing: { ...doc.loadsharing, degraded: true, failsafe_active: true, left_alone: true } };
    const g = group_summary(d, group_status(), config, []);
    expect(g.left_alone).toBe(true);
    expect(g.failsafe.words).toBe('left by its group: limited to the failsafe current (6 A) until you confirm it is alone on its breaker');
    expect(group_summary(d, group_status(), { ...config, loadsharing_failsafe_mode: 'disable' }, []).failsafe.words).toContain('limited to 0 A (stopped)');
  });
});

describe('live status and history', () => {
  test('ws deltas replace top-level keys and merge loadsharing fields', () => {
    const first = merge_status({}, { amp: 6000, loadsharing: { id: 'a', applied_current: 6, reason: 'equal_share' } });
    const next = merge_status(first, { amp: 7000, loadsharing: { applied_current: 7 } });
    expect(next).toEqual({ amp: 7000, loadsharing: { id: 'a', applied_current: 7, reason: 'equal_share' } });
    expect(first.amp).toBe(6000);
  });

  test('history keeps 10 minutes', () => {
    const h = new History();
    for (let i = 0; i <= 400; i++) h.add({ at_ms: i * 2000, currents_a: { a: i }, total_a: i, limit_a: 32 });
    expect(h.samples[h.samples.length - 1].at_ms - h.samples[0].at_ms).toBeLessThanOrEqual(WINDOW_MS);
    expect(h.samples.length).toBe(301);
    h.add({ at_ms: 0, currents_a: {}, total_a: 0, limit_a: null }); // out of order: ignored
    expect(h.samples.length).toBe(301);
    expect(h.members()).toEqual(['a']);
  });
});
