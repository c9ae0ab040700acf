// The failsafe people keep switched on (issue: INV-1 under every fault, usability goals),
// measured on recorded runs of shipped scenarios: time from degrading to the failsafe current,
// cars paused by a limit decrease that still fits everyone, and pilot dips when a partition
// heals. The numbers are printed and reported in docs/simulation.md ("Usability").
import { describe, expect, test, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Core } from '../host-node/core.js';
import { parse_sim_scenario } from '../host-node/sim/scenario.js';
import { run_simulation } from '../host-node/sim/world.js';
import { time_to_safe_current, pauses, dips_at_heal } from '../host-node/sim/usability.js';

let core: Core;
beforeAll(async () => { core = await Core.load(); });

const load = (file: string) => parse_sim_scenario(readFileSync(join(__dirname, 'sim-scenarios', file), 'utf8'));
const run = (file: string) => {
  const scenario = load(file);
  const result = run_simulation(scenario, { core, record: true });
  expect(result.failures, file).toEqual([]);
  return { scenario, result };
};

describe('time to the failsafe current once degraded (goal: heartbeat_timeout + message_delay_max + ev_response)', () => {
  test.each([
    ['bearable-one-way-link.json', ['a', 'b']], // one bad link direction degrades only its two chargers
    ['regression-split-brain-2-2.json', ['a', 'b', 'c', 'd']], // a 2 + 2 split
    ['bearable-heal-no-dip.json', ['c']], // an isolated charger
  ])('%s: only %j degrade, each reaches its failsafe current within the bound', (file, expected) => {
    const { scenario, result } = run(file);
    const episodes = time_to_safe_current(scenario, result);
    console.log(`${file}: ${episodes.map((e) => `${e.charger} degraded at ${e.degraded_at_s} s, safe after ${e.time_to_safe_s} s (bound ${e.bound_s} s)`).join('; ')}`);
    expect([...new Set(episodes.map((e) => e.charger))].sort()).toEqual(expected);
    for (const e of episodes) {
      expect(e.time_to_safe_s, `${e.charger} at ${e.degraded_at_s} s`).not.toBeNull();
      expect(e.time_to_safe_s!, `${e.charger} at ${e.degraded_at_s} s`).toBeLessThanOrEqual(e.bound_s);
    }
  });
});

describe('a limit decrease that still fits everyone pauses no car (goal: 0 pauses)', () => {
  test.each([
    ['bearable-limit-decrease-no-pause.json', 40, 60], // 48 -> 30 A with three cars: 10 A each
    ['limit-change-one-charger.json', 60, 200], // one charger lowers to 30 A; then 36 and 24 A on two
  ])('%s: no pilot falls to 0 between %i s and %i s', (file, from_s, until_s) => {
    const { result } = run(file);
    const found = pauses(result, from_s, until_s);
    console.log(`${file}: ${found.length} pause(s)${found.map((p) => ` ${p.charger} ${p.from_s}-${p.to_s} s`).join(',')}`);
    expect(found).toEqual([]);
  });
});

describe('a heal dips no pilot (goal: 0 A below the lower of before and after)', () => {
  test.each([
    ['bearable-heal-no-dip.json', 90], // c cut off for a minute comes back
    ['regression-split-brain-2-2.json', 150], // the 2 + 2 split heals
  ])('%s: heal at %i s: no charger dips, not even one that was degraded', (file, heal_s) => {
    const { result } = run(file);
    const dips = dips_at_heal(result, heal_s, 15);
    console.log(`${file}: ${dips.map((d) => `${d.charger}${d.degraded_before ? ' (degraded)' : ''} ${d.before_a} -> lowest ${d.lowest_a} -> ${d.settled_a} A, ${d.dip_s} s below`).join('; ')}`);
    // The heal must reach a charger that was degraded (else the check below would hold
    // trivially): one was, at its failsafe current, and ends above it with its share.
    expect(dips.some((d) => d.degraded_before && d.before_a === 6 && d.settled_a > 6), file).toBe(true);
    // Finding H (docs/simulation.md): a charger that was degraded, at its failsafe current,
    // used to drop to 0 for 0.1-0.2 s as it stopped being degraded (the first views it read
    // were made while the others reserved it apart and gave it 0). Rule 5a keeps its failsafe
    // current until its share is permitted: no pilot goes below the lower of before and after.
    expect(dips.filter((d) => d.dip_a > 0)).toEqual([]);
  });
});
