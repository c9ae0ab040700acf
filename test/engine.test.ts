// The engine through the release module: engines exchange their published blocks over a
// fake link on virtual time (a deliberate test seam), driving simulated EVSEs.
import { describe, expect, test, beforeAll } from 'vitest';
import { Core } from '../host-node/core.js';
import { Engine } from '../host-node/engine/engine.js';
import { default_loadsharing_config, type LoadSharingConfig } from '../host-node/engine/types.js';
import { SimEvse, default_car } from '../host-node/evse/sim-evse.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); });

class VirtualClock {
  constructor(public t_ms: number) {}
  now_ms(): number { return this.t_ms; }
}

interface Charger { id: string; engine: Engine; evse: SimEvse; up: boolean }

function make_group(ids: string[], config: Partial<LoadSharingConfig>, start_ms = 1767225600000) {
  const clock = new VirtualClock(start_ms);
  const cfg = { ...default_loadsharing_config, group_id: 'garage', ...config };
  const chargers: Charger[] = ids.map((id) => {
    const evse = new SimEvse({ id, min_current_a: 6, max_current_a: 32, voltage_v: 240, heartbeat_interval_ms: 10000, heartbeat_current_a: 6 }, { ...default_car }, start_ms);
    const engine = new Engine({
      id, core, clock, config: cfg, local: evse.status(start_ms), members: ids.filter((x) => x !== id),
      shaper: { set_loadsharing_limit_a: (a) => evse.set_limit_a(clock.now_ms(), a) },
    });
    return { id, engine, evse, up: true };
  });
  // One step: every charger ticks, then every live charger's block reaches every other live one.
  const step = (dt_ms: number) => {
    clock.t_ms += dt_ms;
    for (const c of chargers) {
      if (!c.up) continue;
      c.evse.heartbeat(clock.t_ms);
      c.engine.handle_local_status(c.evse.status(clock.t_ms));
      c.engine.tick();
    }
    for (const from of chargers) {
      if (!from.up) continue;
      const s = from.evse.status(clock.t_ms);
      const doc = { amp: s.amp_ma, voltage: s.voltage, pilot: s.pilot, state: s.state, vehicle: s.vehicle, loadsharing: from.engine.poll_status() };
      for (const to of chargers) if (to !== from && to.up) to.engine.handle_peer_status(from.id, doc);
    }
  };
  const total_draw_a = () => chargers.reduce((sum, c) => sum + c.evse.current_a(clock.t_ms), 0);
  return { clock, chargers, step, total_draw_a };
}

describe('engine start', () => {
  test('a (re)started engine publishes its maximum as committed for ev_response', () => {
    const g = make_group(['a', 'b'], { group_max_current: 32 });
    const block = g.chargers[0].engine.poll_status();
    expect(block.applied_current).toBe(0);
    expect(block.committed_current).toBe(32);
    g.step(1000); // the first decision: the module's safe start assumes the same until now
    expect(g.chargers[0].engine.poll_status().committed_current).toBe(32);
    g.step(4000);
    expect(g.chargers[0].engine.poll_status().committed_current).toBe(32);
    g.step(1000); // ev_response after the first decision: the module's window is 1 % longer (clock rate margin)
    expect(g.chargers[0].engine.poll_status().committed_current).toBe(32);
    g.step(100);
    expect(g.chargers[0].engine.poll_status().committed_current).toBe(0);
  });
});

describe('engines over a fake link', () => {
  test('three chargers with two cars converge to an equal share and never exceed 32 A', () => {
    const g = make_group(['a', 'b', 'c'], { group_max_current: 32 });
    g.chargers[0].evse.set_car(g.clock.t_ms, { connected: true });
    g.chargers[1].evse.set_car(g.clock.t_ms, { connected: true });
    let peak_a = 0;
    for (let i = 0; i < 120; i++) {
      g.step(500);
      peak_a = Math.max(peak_a, g.total_draw_a());
    }
    expect(peak_a).toBeLessThanOrEqual(32);
    expect(g.chargers[0].engine.poll_status().applied_current).toBe(16);
    expect(g.chargers[1].engine.poll_status().applied_current).toBe(16);
    expect(g.chargers[2].engine.poll_status().applied_current).toBe(0);
    expect(g.chargers[0].evse.current_a(g.clock.t_ms)).toBe(16);
  });

  test('a newcomer waits for the others to reduce; the sum never exceeds the limit', () => {
    const g = make_group(['a', 'b'], { group_max_current: 32 });
    g.chargers[0].evse.set_car(g.clock.t_ms, { connected: true });
    for (let i = 0; i < 60; i++) g.step(500);
    expect(g.chargers[0].evse.current_a(g.clock.t_ms)).toBe(32);
    g.chargers[1].evse.set_car(g.clock.t_ms, { connected: true });
    let peak_a = 0;
    for (let i = 0; i < 60; i++) {
      g.step(250);
      peak_a = Math.max(peak_a, g.total_draw_a());
    }
    expect(peak_a).toBeLessThanOrEqual(32);
    expect(g.chargers[1].evse.current_a(g.clock.t_ms)).toBe(16);
    expect(g.chargers[0].evse.current_a(g.clock.t_ms)).toBe(16);
  });

  test('a crashed peer is reserved; its controller supervision drops its car; the sum stays safe', () => {
    const g = make_group(['a', 'b', 'c'], { group_max_current: 40, heartbeat_timeout: 5 });
    for (const c of g.chargers) c.evse.set_car(g.clock.t_ms, { connected: true });
    for (let i = 0; i < 60; i++) g.step(500);
    g.chargers[2].up = false; // crash: its EVSE keeps its last pilot until supervision fires
    let peak_a = 0;
    const events: string[] = [];
    for (let i = 0; i < 120; i++) {
      g.step(250);
      peak_a = Math.max(peak_a, g.total_draw_a());
      for (const e of g.chargers[0].engine.poll_events()) events.push(e.kind);
    }
    expect(peak_a).toBeLessThanOrEqual(40);
    expect(events).toContain('peer_offline');
    const d = g.chargers[0].engine.last_decision()!;
    expect(d.allocations.find((a) => a.id === 'c')!.reserved_current).toBe(6);
    expect(d.self.applied_current).toBe(17);
  });

  test('a charger that hears nobody degrades to the failsafe current', () => {
    const g = make_group(['a', 'b'], { group_max_current: 32, heartbeat_timeout: 5 });
    g.chargers[0].evse.set_car(g.clock.t_ms, { connected: true });
    for (let i = 0; i < 20; i++) g.step(500);
    g.chargers[1].up = false;
    for (let i = 0; i < 40; i++) g.step(500);
    const block = g.chargers[0].engine.poll_status();
    expect(block.degraded).toBe(true);
    expect(block.applied_current).toBe(6);
  });
});

describe('finding I: a lower limit told between two ticks', () => {
  test('binds at the next tick even when a later status (a reordered older frame) says the old one', () => {
    const g = make_group(['a', 'b'], { group_max_current: 40 });
    for (let i = 0; i < 4; i++) g.step(500);
    const [a, b] = g.chargers;
    expect(a.engine.tick().effective_limit).toBe(40);
    const block = b.engine.poll_status();
    g.clock.t_ms += 100;
    a.engine.handle_peer_status('b', { amp: 0, voltage: 240, state: 1, vehicle: 0, loadsharing: { ...block, group_max_current: 30 } });
    a.engine.handle_peer_status('b', { amp: 0, voltage: 240, state: 1, vehicle: 0, loadsharing: { ...block, group_max_current: 40 } });
    expect(a.engine.tick().effective_limit).toBe(30);
    // the carry keeps it (rule 7) until the group agrees; the lower report is not kept past one tick
    g.clock.t_ms += 1000;
    a.engine.handle_peer_status('b', { amp: 0, voltage: 240, state: 1, vehicle: 0, loadsharing: { ...block, group_max_current: 40 } });
    expect(a.engine.tick().effective_limit).toBe(30);
  });
});
