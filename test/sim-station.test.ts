// The simulator runs the charger's own Station: its chargers exchange the node's real /ws
// frames (a whole document when a session opens, deltas after), sign them with the group
// key, and sync their config with requests over the virtual network. These tests look at the
// frames on the wire and at what the group key and config sync do in a run.
import { describe, expect, test, beforeAll } from 'vitest';
import { Core } from '../host-node/core.js';
import { to_sim_scenario, SimScenarioError } from '../host-node/sim/scenario.js';
import { run_simulation, type FrameSeen } from '../host-node/sim/world.js';
import { merge_status } from '../host-node/station/wire.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); });

const key = 'correct horse battery staple';

function three(extra: Record<string, unknown> = {}) {
  return to_sim_scenario({
    name: 'three', duration_s: 120, config: { group_max_current: 32 },
    chargers: [{ id: 'a' }, { id: 'b' }, { id: 'c' }],
    cars: ['a', 'b', 'c'].map((id) => ({ charger: id, plug_at_s: 5 })),
    ...extra,
  });
}

function run_with_frames(scenario: ReturnType<typeof three>) {
  const frames: FrameSeen[] = [];
  const result = run_simulation(scenario, { core, on_frame: (f) => frames.push(f), record: true });
  return { result, frames };
}

describe('status frames on the simulated wire', () => {
  test('each session opens with the whole document; after that the chargers exchange deltas', () => {
    const { result, frames } = run_with_frames(three());
    expect(result.failures).toEqual([]);
    expect(frames.length).toBe(result.frames.full + result.frames.delta);
    expect(result.frames.sessions).toBe(6); // one per ordered pair: no frame was lost
    expect(result.frames.delta).toBeGreaterThan(20 * result.frames.full);
    for (const from of ['a', 'b', 'c']) {
      for (const to of ['a', 'b', 'c'].filter((x) => x !== from)) {
        const link = frames.filter((f) => f.from === from && f.to === to);
        const docs = link.map((f) => JSON.parse(f.text) as Record<string, unknown>);
        expect(link[0].opens_session).toBe(true);
        expect(docs[0]).toMatchObject({ mode: 'STA', ipaddress: expect.any(String), loadsharing: { id: from } });
        expect(docs.slice(1).every((d) => !('mode' in d) && !('ipaddress' in d))).toBe(true);
        // Most deltas carry a few keys (the clock, a current), not the document.
        const small = docs.slice(1).filter((d) => Object.keys(d).length <= 4).length;
        expect(small).toBeGreaterThan(0.8 * (docs.length - 1));
        // The deltas merged onto the first document give a whole, current document.
        const merged = docs.slice(1).reduce((doc, d) => merge_status(doc, d), docs[0]);
        expect(Object.keys(merged).sort()).toEqual(Object.keys(docs[0]).sort());
        expect(merged.uptime).toBe(docs.filter((d) => 'uptime' in d).at(-1)!.uptime);
        expect((merged.loadsharing as Record<string, unknown>).applied_current).toBe(result.chargers.find((c) => c.id === from)!.final_applied_a);
      }
    }
  });

  test('a lost frame breaks its session: the next one opens a new session with the whole document', () => {
    const { result, frames } = run_with_frames(three({ network: { loss: 0.05 } }));
    expect(result.failures).toEqual([]);
    expect(result.network.lost_count).toBeGreaterThan(10);
    expect(result.frames.sessions).toBeGreaterThan(6 + 10);
    for (const f of frames.filter((x) => x.opens_session)) expect(JSON.parse(f.text)).toHaveProperty('mode', 'STA');
    expect(frames.filter((x) => !x.opens_session).every((f) => !('mode' in JSON.parse(f.text)))).toBe(true);
  });

  test('with a group key every frame is signed (its delta inside), and every charger is heard', () => {
    const { result, frames } = run_with_frames(three({ group_key: key, expect: { at: [{ at_s: 110, online: { a: { b: true, c: true }, b: { a: true, c: true }, c: { a: true, b: true } } }] } }));
    expect(result.failures).toEqual([]);
    expect(result.chargers.map((c) => c.final_applied_a).sort()).toEqual([10, 11, 11]);
    expect(result.chargers.map((c) => c.auth_failures)).toEqual([0, 0, 0]);
    const outer = frames.map((f) => JSON.parse(f.text) as { ls_sig: { ctr: number }; ls_doc: string });
    expect(outer.every((o) => typeof o.ls_doc === 'string' && o.ls_sig.ctr >= 1)).toBe(true);
    const inner = outer.map((o) => JSON.parse(o.ls_doc) as Record<string, unknown>);
    expect(inner.filter((d) => !('mode' in d)).length).toBeGreaterThan(20 * inner.filter((d) => 'mode' in d).length);
  });
});

describe('a group key mismatch in a run', () => {
  test('the charger with the wrong key is not heard: counted offline and reserved by the others, the run reports it', () => {
    const scenario = three({
      group_key: key,
      chargers: [{ id: 'a' }, { id: 'b' }, { id: 'c', group_key: 'the key of another group' }],
      expect: { at: [{ at_s: 110, online: { a: { b: true, c: false }, b: { a: true, c: false }, c: { a: false, b: false } }, degraded: { a: false, b: false, c: true } }] },
    });
    const { result } = run_with_frames(scenario);
    expect(result.failures).toEqual([]);
    expect(result.inv1.peak_overdraw_a).toBe(0);
    const by_id = Object.fromEntries(result.chargers.map((c) => [c.id, c]));
    for (const id of ['a', 'b', 'c']) expect(by_id[id].auth_failures).toBeGreaterThan(50);
    expect(result.warnings.filter((w) => w.startsWith('group key:')).length).toBe(3);
    expect(result.warnings.find((w) => w.startsWith('group key: a'))).toMatch(/refused \d+ messages from peers \(last: .*(signature|not signed)/);
    // a and b hold failsafe_peer_assumed_current (6 A) for c and share the rest; c, alone
    // and degraded, is held at its failsafe current.
    expect(by_id.a.final_applied_a).toBe(13);
    expect(by_id.b.final_applied_a).toBe(13);
    expect(by_id.c.final_applied_a).toBeLessThanOrEqual(6);
  });
});

describe('config sync in a run', () => {
  const limit_on_a = { limits: [{ at_s: 60, chargers: ['a'], group_max_current: 20 }] };
  const shares = (result: ReturnType<typeof run_simulation>) => result.chargers.map((c) => c.final_applied_a).sort();

  test('a limit written on one charger reaches the others by sync, and the group follows it', () => {
    const { result } = run_with_frames(three({ ...limit_on_a, group_key: key }));
    expect(result.failures).toEqual([]);
    expect(new Set(result.chargers.map((c) => c.final_config_version)).size).toBe(1);
    expect(result.chargers[0].final_config_version).toBe(2);
    expect(shares(result)).toEqual([6, 7, 7]);
    // b and c took the lower limit too: a decrease window per charger.
    expect(result.limit_windows.map((w) => w.charger).sort()).toEqual(['a', 'b', 'c']);
  });

  test('without config sync only that charger holds it (the others follow it through its reported limit)', () => {
    const { result } = run_with_frames(three({ ...limit_on_a, config_sync: false }));
    expect(result.failures).toEqual([]);
    expect(result.chargers.map((c) => c.final_config_version)).toEqual([2, 1, 1]);
    expect(shares(result)).toEqual([6, 7, 7]);
    expect(result.limit_windows.map((w) => w.charger)).toEqual(['a']);
  });

  test('a group key shorter than 16 characters is refused with the field named', () => {
    expect(() => three({ chargers: [{ id: 'a', group_key: 'short' }, { id: 'b' }, { id: 'c' }] })).toThrow(SimScenarioError);
    expect(() => three({ group_key: 'short' })).toThrow(/^group_key: must be empty or at least 16 characters$/);
  });
});
