// `loadshare allocate` as a user runs it: real process, files and standard input.
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, root } from './helpers.js';

const scenario_path = join(root, 'test/scenarios/two-chargers.json');
const base = JSON.parse(readFileSync(scenario_path, 'utf8'));
const with_change = (change: (s: any) => void) => { const s = structuredClone(base); change(s); return JSON.stringify(s); };

describe('loadshare allocate', () => {
  test('prints the decision as JSON and exits 0', () => {
    const r = cli(['allocate', scenario_path]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.self).toMatchObject({ id: 'a1', target_current: 25, applied_current: 25, degraded: false, failsafe_active: false, reason: 'equal_share' });
    expect(out.budget_current).toBe(50);
    expect(out.online_count).toBe(2);
    expect(out.config_consistent).toBe(true);
    expect(out.allocations).toEqual([
      expect.objectContaining({ id: 'a1', target_current: 25, reason: 'equal_share', online: true }),
      expect.objectContaining({ id: 'b2', target_current: 25, reason: 'equal_share', online: true }),
    ]);
  });
  test('reads standard input with -', () => {
    const r = cli(['allocate', '-'], JSON.stringify(base));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).self.applied_current).toBe(25);
  });
  test.each([
    ['malformed JSON', '{"now_ms": ', /malformed JSON/],
    ['an unknown field', with_change((s) => { s.members[0].colour = 'red'; }), /members\.0: unknown field "colour"/],
    ['an unknown config field', with_change((s) => { s.config.limit = 3; }), /config: unknown field "limit"/],
    ['a wrong type', with_change((s) => { s.config.group_max_current = '50'; }), /config\.group_max_current: must be number/],
    ['a negative current', with_change((s) => { s.members[1].max_current = -1; }), /members\.1\.max_current: must be >= 0/],
    ['a heartbeat timeout under 5 s', with_change((s) => { s.config.heartbeat_timeout = 2; }), /heartbeat_timeout: must be >= 5/],
    ['more than 16 members', with_change((s) => { s.members = Array.from({ length: 17 }, (_, i) => ({ ...base.members[0], id: `m${i}` })); s.self = 'm0'; }), /members: must NOT have more than 16 items/],
    ['no members', with_change((s) => { s.members = []; }), /members: must NOT have fewer than 1 items/],
    ['duplicate ids', with_change((s) => { s.members[1].id = 'a1'; }), /duplicate id "a1"/],
    ['self not a member', with_change((s) => { s.self = 'zz'; }), /self: "zz" is not one of the members/],
    ['min above max', with_change((s) => { s.members[0].min_current = 40; }), /min_current \(40 A\) is above max_current \(32 A\)/],
    ['an unsafe reserve', with_change((s) => { s.config.failsafe_peer_assumed_current = 4; }), /unsafe: failsafe_peer_assumed_current \(4 A\) is below failsafe_safe_current \(6 A\)/],
    ['an id with a comma', with_change((s) => { s.members[1].id = 'a,b'; }), /an id is 1\.\.32 printable ASCII/],
  ])('refuses %s with exit 2 and one line', (_name, input, message) => {
    const r = cli(['allocate', '-'], input as string);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
  test('a missing file is exit 2 with a sentence', () => {
    const r = cli(['allocate', '/nonexistent/scenario.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read \/nonexistent\/scenario\.json: ENOENT/);
  });
  test('an unknown engine is exit 2', () => {
    const r = cli(['allocate', '--engine', 'v8', scenario_path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--engine must be node or wasm3/);
  });
  test('an unknown command is exit 2', () => {
    expect(cli(['frobnicate']).code).toBe(2);
  });
});
