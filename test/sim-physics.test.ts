// Worst-case physics by default, and the models a scenario can ask for: cars that take the
// full 5 s to follow a decrease, fast up / slow down, ramps, a car that draws less than
// offered, measurement offset and noise, clock drift, duplicated and reordered messages, a
// controller supervision that follows the current config, and delays beyond the protocol's
// assumption (labelled, reported apart from the verdict).
import { describe, expect, test, beforeAll } from 'vitest';
import { Core } from '../host-node/core.js';
import { SimEvse, default_car, type CarSpec } from '../host-node/evse/sim-evse.js';
import { ChargerClock } from '../host-node/sim/clock.js';
import { Network } from '../host-node/sim/network.js';
import { EventQueue } from '../host-node/sim/event-queue.js';
import { Rng } from '../host-node/sim/prng.js';
import { to_sim_scenario, parse_sim_scenario, SimScenarioError } from '../host-node/sim/scenario.js';
import { random_scenario_json } from '../host-node/sim/fuzz.js';
import { run_simulation } from '../host-node/sim/world.js';
import { junit_xml } from '../host-node/sim/junit.js';
import { format_summary } from '../host-node/sim/summary.js';
import { supervision_interval_s } from '../host-node/station/evse.js';
import { default_timing } from '../host-node/engine/types.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); });

const evse = (car: Partial<CarSpec> = {}, extra: Record<string, unknown> = {}) => {
  const e = new SimEvse({ id: 'x', min_current_a: 6, max_current_a: 32, voltage_v: 240, heartbeat_interval_ms: 10000, heartbeat_current_a: 6, ...extra },
    { ...default_car, connected: true, ...car }, 0);
  e.heartbeat(0);
  return e;
};

describe('cars', () => {
  test('by default a car takes the full 5 s to follow a lower pilot (and a higher one)', () => {
    expect(default_car.lag_ms).toBe(5000);
    const e = evse();
    e.set_limit_a(0, 20);
    expect(e.current_a(4999)).toBe(0);
    expect(e.current_a(5000)).toBe(20);
    e.heartbeat(10000);
    e.set_limit_a(10000, 8);
    expect(e.current_a(14999)).toBe(20);
    expect(e.current_a(15000)).toBe(8);
  });

  test('fast up, slow down: an increase after lag_up_ms, a decrease after lag_ms; the car follows the newest pilot it has perceived', () => {
    const e = evse({ lag_up_ms: 500 });
    e.set_limit_a(0, 10);
    expect(e.current_a(500)).toBe(10);
    e.set_limit_a(1000, 30); // perceived at 1.5 s
    expect(e.current_a(1499)).toBe(10);
    expect(e.current_a(1500)).toBe(30);
    e.set_limit_a(1600, 10); // perceived at 6.6 s
    e.set_limit_a(1700, 30); // perceived at 2.2 s: newer than the decrease, which it undoes
    expect(e.current_a(6600)).toBe(30);
    e.set_limit_a(2000, 10); // perceived at 7 s
    e.heartbeat(5000);
    expect(e.current_a(6999)).toBe(30);
    expect(e.current_a(7000)).toBe(10);
    expect(e.next_changes_ms(7000)).toEqual([]);
  });

  test('a ramp: once it follows an increase the current rises at most ramp_a_per_s, and the ramp\'s end is a change instant', () => {
    const e = evse({ lag_ms: 1000, ramp_a_per_s: 2 });
    e.set_limit_a(0, 16);
    expect(e.next_changes_ms(0)).toEqual([1000, 9000]);
    expect(e.current_a(1000)).toBe(0);
    expect(e.current_a(3500)).toBeCloseTo(5, 9);
    expect(e.current_a(9000)).toBe(16);
    e.heartbeat(9000);
    e.set_limit_a(9000, 6); // a decrease is a step at the end of its lag
    expect(e.current_a(9999)).toBe(16);
    expect(e.current_a(10000)).toBe(6);
  });

  test('a car that draws less than offered', () => {
    const e = evse({ lag_ms: 0, draw_ratio: 0.9 });
    e.set_limit_a(0, 20);
    expect(e.current_a(0)).toBeCloseTo(18, 9);
    expect(e.acceptable_current_a(0)).toBeCloseTo(28.8, 9);
  });

  test('the controller\'s offer is what a car could take at once: the pilot when a car is plugged in, the limit when none is', () => {
    const e = evse({ connected: false });
    e.set_limit_a(0, 20);
    expect(e.pilot_a(0)).toBe(0);
    expect(e.offer_a(0)).toBe(20);
    e.set_limit_a(0, 5); // below the minimum: no pilot at all
    expect(e.offer_a(0)).toBe(0);
  });
});

describe('measurement and supervision', () => {
  test('amp reports the physical current off by the offset and bounded noise; the judge uses the physical current', () => {
    const rng = new Rng(3);
    const e = evse({ lag_ms: 0 }, { amp_offset_a: -2, amp_noise_a: 0.5, noise: () => rng.next() });
    e.set_limit_a(0, 16);
    const amps = Array.from({ length: 200 }, (_, k) => e.status(k).amp_ma / 1000);
    expect(e.current_a(200)).toBe(16);
    expect(Math.min(...amps)).toBeGreaterThanOrEqual(13.5);
    expect(Math.max(...amps)).toBeLessThanOrEqual(14.5);
    expect(new Set(amps).size).toBeGreaterThan(50);
  });

  test('set_supervision re-sets the controller\'s supervision', () => {
    const e = evse({ lag_ms: 0 });
    e.set_limit_a(0, 20);
    e.set_supervision(0, 3000, 0);
    expect(e.supervision_fires_ms()).toBe(3000);
    expect(e.offer_a(3001)).toBe(0);
    expect(e.current_a(3001)).toBe(0);
  });

  // The supervision's own drop is dated when it fired (the car follows lag_ms after that, however
  // late anyone looks); a pilot set after the fire is dated when it is set. Dating that one
  // back to the fire too let the car of a restarted host that paused it drop at once
  // (found with fuzz seed 9086540: the car drew 0 A the instant its host booted).
  test('after the supervision fired, the car follows its drop lag_ms after the fire, and a later pilot lag_ms after it was set', () => {
    const e = evse();
    e.set_limit_a(0, 20);
    expect(e.current_a(5000)).toBe(20);
    // no heartbeat after 0: fires at 10 s, the car follows at 15 s, read only at 30 s
    expect(e.current_a(30000)).toBe(6);
    e.set_limit_a(40000, 0); // a restarted host pauses it
    expect(e.current_a(44999)).toBe(6);
    expect(e.current_a(45000)).toBe(0);
  });

  const crash_after_config = (charger: Record<string, unknown>) => to_sim_scenario({
    name: 'supervision follows the config', duration_s: 90,
    config: { group_max_current: 48, heartbeat_timeout: 30, rotation_interval: 0 },
    chargers: [{ id: 'a' }, { id: 'b' }, { id: 'c', ...charger }],
    cars: ['a', 'b', 'c'].map((id) => ({ charger: id, plug_at_s: 2 })),
    events: [{ at_s: 20, kind: 'config', set: { heartbeat_timeout: 10 } }],
    faults: [{ at_s: 40, kind: 'crash', charger: 'c' }],
    expect: { at: [{ at_s: 56, draw: { c: 6 } }] },
  });

  test('a host re-sets its controller\'s supervision from its current config: after heartbeat_timeout drops to 10 s, a crashed charger\'s car is at the failsafe current within 10 s + its lag', () => {
    const result = run_simulation(crash_after_config({}), { core });
    expect(result.failures).toEqual([]);
  });

  // Campaign seed 12203044: a longer timeout written on a cut-off charger lengthened its
  // controller's supervision in the simulator (not on the shipping hosts), past the others' hold.
  test('a longer heartbeat_timeout does not lengthen the supervision: raised to 60 s, a crashed charger\'s car is at the failsafe current within 5 s + its lag', () => {
    const s = crash_after_config({});
    s.events[0].set = { heartbeat_timeout: 60 };
    s.expect.at = [{ at_s: 51, draw: { c: 6 } }];
    const result = run_simulation(s, { core });
    expect(result.failures).toEqual([]);
    expect(supervision_interval_s(60, default_timing)).toBe(5);
    expect(supervision_interval_s(5, { seen_grace_ms: 3000, message_delay_max_ms: 4000 })).toBe(5);
    expect(supervision_interval_s(30, { seen_grace_ms: 1000, message_delay_max_ms: 1500 })).toBe(2);
  });

  test('a controller whose supervision was set once at start (30 s) still holds the crashed charger\'s pilot then, past the others\' 10 s timeout and hold: over-draw', () => {
    const result = run_simulation(crash_after_config({ heartbeat_interval_ms: 30000 }), { core });
    expect(result.failures.some((f) => f.startsWith('at 56 s: c\'s car draws 16.00 A'))).toBe(true);
    expect(result.inv1.peak_overdraw_a).toBeGreaterThan(0);
  });
});

describe('clocks', () => {
  test('a drifting clock: both clocks run at its rate, only the wall clock steps', () => {
    const c = new ChargerClock(1000, 50, 200); // wall +50 ms, 200 ppm fast
    expect(c.read(1000)).toBe(1050);
    expect(c.monotonic(1001000) - c.monotonic(1000)).toBeCloseTo(1000200, 6);
    expect(c.read(1001000)).toBeCloseTo(1001000 + 50 + 200, 6);
    expect(c.monotonic_to_virtual(c.monotonic(123456))).toBeCloseTo(123456, 6);
    c.set_drift(1001000, -10000); // 1 % slow from here; what it drifted stays
    expect(c.read(1001000)).toBeCloseTo(1001250, 6);
    expect(c.read(1101000)).toBeCloseTo(1101250 - 1000, 6);
    const mono_ms = c.monotonic(1200000);
    c.set_skew(1200000, -60000); // an SNTP step
    expect(c.read(1200000)).toBe(1140000);
    expect(c.monotonic(1200000)).toBe(mono_ms); // timers do not see it
    expect(c.wall_to_virtual(c.read(1300000))).toBeCloseTo(1300000, 6);
  });

  // a's car charges alone at 32 A; b's arrives at 30 s and b waits for a's car (rule 8). A fast
  // network (1 ms, and message_delay_max 1 s: b's own recent views then hold it back less long)
  // and a quick host (10 ms) leave little margin after a's committed window.
  const newcomer = (drift_ppm: number) => to_sim_scenario({
    name: 'drift', duration_s: 60, react_ms: 10, config: { group_max_current: 32, rotation_interval: 0 },
    timing: { ev_response_ms: 5000, seen_grace_ms: 3000, message_delay_max_ms: 1000, tick_interval_ms: 1000 },
    network: { latency_ms: 1, jitter_ms: 0 },
    chargers: [{ id: 'a', drift_ppm }, { id: 'b' }],
    cars: [{ charger: 'a', plug_at_s: 2 }, { charger: 'b', plug_at_s: 30 }],
  });

  test('±200 ppm (a quartz clock) changes nothing', () => {
    for (const ppm of [200, -200]) expect(run_simulation(newcomer(ppm), { core }).failures).toEqual([]);
  });

  test('finding D: the module\'s windows assume a clock rate error of at most 1 %: at 1 % fast they hold, at 2 % fast b raises while a\'s car still draws 32 A', () => {
    for (const ppm of [10000, -10000]) expect(run_simulation(newcomer(ppm), { core }).failures).toEqual([]);
    // Beyond the assumption: a's 5 s x 1.01 committed window ends about 50 ms early in real time.
    const result = run_simulation(newcomer(20000), { core });
    expect(result.permission_violations).toHaveLength(1);
    const v = result.permission_violations[0];
    expect(v.charger).toBe('b');
    expect(v.others.a.draw_a).toBe(32);
    expect(v.at_s).toBeGreaterThan(34.9);
    expect(v.at_s).toBeLessThan(35.05);
    expect(result.inv1.peak_overdraw_a).toBe(0); // b's car is slower than a's
  });

  test('a drift fault changes the rate mid-run and is validated', () => {
    const s = to_sim_scenario({ name: 'd', duration_s: 30, chargers: [{ id: 'a' }], faults: [{ at_s: 10, kind: 'drift', charger: 'a', drift_ppm: 500 }] });
    expect(run_simulation(s, { core }).failures).toEqual([]);
    expect(() => to_sim_scenario({ name: 'd', duration_s: 30, chargers: [{ id: 'a' }], faults: [{ at_s: 10, kind: 'drift', charger: 'a', drift_ppm: 2e6 }] })).toThrow(SimScenarioError);
  });
});

describe('network: duplicated and reordered messages', () => {
  const deliveries = (spec: { duplicate?: number; reorder?: number }, transport: 'ws' | 'http' = 'ws') => {
    const queue = new EventQueue(0);
    const net = new Network(queue, new Rng(9), transport, { latency_ms: 10, jitter_ms: 500, loss: 0, ...spec });
    const got: number[] = [];
    let copies = 0;
    for (let k = 0; k < 200; k++) queue.at(k * 20, () => { copies += net.send('a', 'b', () => got.push(k)); });
    queue.run_until(100000);
    return { got, copies, stats: net.stats };
  };

  test('ws keeps a link in order unless a message is reordered', () => {
    const plain = deliveries({});
    expect(plain.got).toEqual([...plain.got].sort((x, y) => x - y));
    expect(plain.stats.reordered_count).toBe(0);
    const reordered = deliveries({ reorder: 0.5 });
    expect(reordered.got).toHaveLength(200);
    expect(reordered.stats.reordered_count).toBeGreaterThan(20);
    expect(reordered.stats.max_delay_ms).toBeLessThan(510);
  });

  test('a duplicated message arrives twice, each copy within the link\'s delay', () => {
    const d = deliveries({ duplicate: 1 });
    expect(d.copies).toBe(400);
    expect(d.got).toHaveLength(400);
    expect(d.stats.duplicated_count).toBe(200);
    expect(d.stats.max_delay_ms).toBeLessThan(510);
  });

  test('a group under duplicates and reordering within the assumed delay holds every check while its limit stays put', () => {
    // (with a limit lowered on one charger it does not: open finding A,
    // test/sim-scenarios/regression-stale-status-undoes-limit.json)
    const s = to_sim_scenario({
      name: 'dup', duration_s: 120, config: { group_max_current: 48 },
      network: { latency_ms: 100, jitter_ms: 1800, duplicate: 0.3, reorder: 0.5 },
      chargers: [{ id: 'a' }, { id: 'b' }, { id: 'c' }],
      cars: [{ charger: 'a', plug_at_s: 2 }, { charger: 'b', plug_at_s: 2 }, { charger: 'c', plug_at_s: 40, unplug_at_s: 80 }],
    });
    const result = run_simulation(s, { core });
    expect(result.failures).toEqual([]);
    expect(result.raises_checked).toBeGreaterThan(3);
    expect(result.network.duplicated_count).toBeGreaterThan(100);
    expect(result.network.reordered_count).toBeGreaterThan(100);
  });
});

describe('delays beyond message_delay_max: assumption violated, reported apart', () => {
  const slow = to_sim_scenario({
    name: 'slow network', duration_s: 90, config: { group_max_current: 32, rotation_interval: 0 },
    network: { latency_ms: 2500, jitter_ms: 0 },
    chargers: [{ id: 'a' }, { id: 'b' }],
    cars: [{ charger: 'a', plug_at_s: 2 }, { charger: 'b', plug_at_s: 30, lag_ms: 0 }],
  });

  test('the run is labelled, and what INV-1 and the oracle find is measured and shown but not the verdict', () => {
    const result = run_simulation(slow, { core, policy: 'naive' });
    expect(result.assumption_violated.length).toBeGreaterThan(0);
    expect(result.assumption_violated[0]).toMatch(/exceeds message_delay_max_ms \(2000 ms\)/);
    expect(result.inv1.peak_overdraw_a).toBeGreaterThan(0);
    expect(result.beyond_assumptions.some((f) => f.startsWith('INV-1 broken'))).toBe(true);
    expect(result.failures.filter((f) => f.startsWith('INV-1') || f.startsWith('permission'))).toEqual([]);
    expect(format_summary(result)).toMatch(/ASSUMPTION VIOLATED[\s\S]*outside the assumptions: INV-1 broken/);
    const junit = junit_xml([result]);
    expect(junit).toMatch(/name="INV-1 \(naive, seed 1\)">\s*<skipped message="assumption violated: /);
    expect(junit).not.toMatch(/<failure message="INV-1/);
  });

  test('within the assumption nothing is labelled', () => {
    const s = to_sim_scenario({ ...{ name: 'ok', duration_s: 30, chargers: [{ id: 'a' }, { id: 'b' }] }, network: { latency_ms: 1000, jitter_ms: 1000 } });
    const result = run_simulation(s, { core });
    expect(result.assumption_violated).toEqual([]);
    expect(result.beyond_assumptions).toEqual([]);
  });
});

describe('measurement error costs fairness, never safety', () => {
  test('a meter that under-reads by 3 A: its demand cap falls and its car loses its share, but INV-1 and the oracle hold', () => {
    const s = to_sim_scenario({
      name: 'under-reading meter', duration_s: 200, config: { group_max_current: 60 },
      chargers: [{ id: 'a', amp_offset_a: -3 }, { id: 'b' }, { id: 'c' }],
      cars: ['a', 'b', 'c'].map((id) => ({ charger: id, plug_at_s: 5 })),
    });
    const result = run_simulation(s, { core });
    expect(result.failures).toEqual([]);
    expect(result.inv1.peak_overdraw_a).toBe(0);
    expect(result.chargers[0].final_applied_a!).toBeLessThan(20); // not the equal share
  });
});

describe('scenario format: the new fields', () => {
  test('defaults: 5 s cars, supervision that follows the config unless it is fixed', () => {
    const s = parse_sim_scenario(JSON.stringify({ name: 'x', duration_s: 10, chargers: [{ id: 'a' }, { id: 'b', heartbeat_current: 0 }], cars: [{ charger: 'a', plug_at_s: 0 }] }));
    expect(s.chargers[0].supervision_follows_config).toBe(true);
    expect(s.chargers[1].supervision_follows_config).toBe(false);
    expect(s.chargers[0]).toMatchObject({ drift_ppm: 0, amp_offset_a: 0, amp_noise_a: 0 });
    const doc = { name: 'x', duration_s: 10, chargers: [{ id: 'a', drift_ppm: 10000, amp_offset_a: -1, amp_noise_a: 0.5 }],
      network: { duplicate: 0.1, reorder: 0.2, links: [] },
      cars: [{ charger: 'a', plug_at_s: 0, lag_ms: 5000, lag_up_ms: 200, ramp_a_per_s: 3, draw_ratio: 0.95 }] };
    expect(() => parse_sim_scenario(JSON.stringify(doc))).not.toThrow();
  });

  test.each([
    ['a decrease lag above 5 s', { cars: [{ charger: 'a', plug_at_s: 0, lag_ms: 6000 }] }, /cars\.0\.lag_ms/],
    ['a negative ramp', { cars: [{ charger: 'a', plug_at_s: 0, ramp_a_per_s: -1 }] }, /ramp_a_per_s/],
    ['a draw ratio above 1', { cars: [{ charger: 'a', plug_at_s: 0, draw_ratio: 1.5 }] }, /draw_ratio/],
    ['a duplicate probability above 1', { network: { duplicate: 2 } }, /network\.duplicate/],
  ])('%s is refused', (_name, patch, message) => {
    expect(() => parse_sim_scenario(JSON.stringify({ name: 'x', duration_s: 10, chargers: [{ id: 'a' }], ...patch }))).toThrow(message);
  });
});

describe('the fuzzer draws worst-case cars', () => {
  test('about half of the cars take exactly 5 s, the rest are uniform in 0-5 s', () => {
    const lags: number[] = [];
    for (let seed = 1; seed <= 200; seed++) for (const car of random_scenario_json(seed).cars as Array<{ lag_ms: number }>) lags.push(car.lag_ms);
    const worst = lags.filter((l) => l === 5000).length / lags.length;
    expect(worst).toBeGreaterThan(0.4);
    expect(worst).toBeLessThan(0.6);
    expect(lags.filter((l) => l < 2500).length / lags.length).toBeGreaterThan(0.15);
  });
});
