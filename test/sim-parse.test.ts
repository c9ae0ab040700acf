// Scenario files are validated strictly; the CLI answers a bad file with exit 2 and one sentence.
import { describe, expect, test } from 'vitest';
import { parse_sim_scenario, SimScenarioError } from '../host-node/sim/scenario.js';
import { main } from '../host-node/cli.js';
import { writeFileSync, mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = { name: 'x', duration_s: 10, chargers: [{ id: 'a' }, { id: 'b' }] };
const bad = (patch: Record<string, unknown>) => JSON.stringify({ ...base, ...patch });

describe('simulation scenario validation', () => {
  test('a minimal file gets the documented defaults', () => {
    const s = parse_sim_scenario(JSON.stringify(base));
    expect(s.tick_ms).toBe(100);
    expect(s.status_period_ms).toBe(1000);
    expect(s.chargers[0].members).toEqual(['b']);
    expect(s.chargers[0].heartbeat_interval_ms).toBe(5000); // the shipping hosts' interval, not the 30 s timeout
    expect(s.chargers[0].heartbeat_current).toBe(6);
    expect(s.network.transport).toBe('ws');
  });

  test.each([
    ['malformed JSON', '{', /malformed JSON/],
    ['unknown top-level field', bad({ speed: 1 }), /unknown field "speed"/],
    ['unknown charger field', bad({ chargers: [{ id: 'a', colour: 'red' }] }), /chargers\.0: unknown field "colour"/],
    ['negative duration', bad({ duration_s: -1 }), /duration_s/],
    ['bad transport', bad({ network: { transport: 'udp' } }), /network\.transport: must be one of "ws", "http"/],
    ['loss above 1', bad({ network: { loss: 1.5 } }), /network\.loss/],
    ['duplicate ids', bad({ chargers: [{ id: 'a' }, { id: 'a' }] }), /duplicate id "a"/],
    ['car on unknown charger', bad({ cars: [{ charger: 'z', plug_at_s: 0 }] }), /cars\.0\.charger: unknown charger "z"/],
    ['overlapping cars', bad({ cars: [{ charger: 'a', plug_at_s: 0 }, { charger: 'a', plug_at_s: 5 }] }), /overlap/],
    ['unknown event kind', bad({ events: [{ at_s: 1, kind: 'explode' }] }), /events\.0\.kind: must be one of/],
    ['unknown fault field', bad({ faults: [{ at_s: 1, kind: 'crash', charger: 'a', reason: 'x' }] }), /faults\.0: unknown field "reason"/],
    ['partition with a charger on both sides', bad({ faults: [{ at_s: 1, kind: 'partition', a: ['a'], b: ['a', 'b'] }] }), /both sides/],
    ['unsafe reserve', bad({ config: { failsafe_peer_assumed_current: 4, failsafe_safe_current: 6 } }), /unsafe/],
    ['limit change without a limit', bad({ limits: [{ at_s: 1 }] }), /limits\.0: set group_max_current or safety_factor/],
    ['expectation after the end', bad({ expect: { at: [{ at_s: 20 }] } }), /after the end/],
    ['min above max', bad({ chargers: [{ id: 'a', min_current: 20, max_current: 10 }] }), /min_current/],
  ])('%s is refused with a clear error', (_name, text, message) => {
    expect(() => parse_sim_scenario(text)).toThrow(SimScenarioError);
    expect(() => parse_sim_scenario(text)).toThrow(message);
  });
});

describe('loadshare simulate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loadshare-sim-'));
  const file = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };

  test('exit 0 and a summary when every check holds', async () => {
    const out: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) => { out.push(String(chunk)); return true; }) as typeof process.stdout.write;
    try {
      const code = await main(['simulate', 'test/sim-scenarios/plan-8.3-2-two-equal.json', '--seed', '3']);
      expect(code).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    const text = out.join('');
    expect(text).toMatch(/peak over-draw 0\.000 A, integral 0\.000 A·s/);
    expect(text).toMatch(/utilisation/);
    expect(text).toMatch(/fairness/);
    expect(text).toMatch(/every check holds/);
  });

  test('--out writes CSV, summary.json, JUnit XML and a report with the naive run beside', async () => {
    const out = join(dir, 'out');
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      expect(await main(['simulate', 'test/sim-scenarios/plan-8.6-2-failure-recovery.json', '--out', out, '--compare-naive'])).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    for (const name of ['default-chargers.csv', 'default-group.csv', 'naive-chargers.csv', 'naive-group.csv', 'summary.json', 'junit.xml', 'report.html']) {
      expect(existsSync(join(out, name)), name).toBe(true);
    }
    const csv = readFileSync(join(out, 'default-chargers.csv'), 'utf8').split('\n');
    expect(csv[0]).toBe('t_s,charger,up,degraded,target_a,applied_a,pilot_a,draw_a,reason');
    expect(csv.length).toBeGreaterThan(3 * 2000); // 3 chargers, every 100 ms for 240 s
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.map((r: { policy: string; ok: boolean }) => [r.policy, r.ok])).toEqual([['default', true], ['naive', false]]);
    const junit = readFileSync(join(out, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<testsuite name="plan-8.6-2-failure-recovery \[default\]" tests="3" failures="0"/);
    expect(junit).toMatch(/<testsuite name="plan-8.6-2-failure-recovery \[naive\]" tests="3" failures="3"/);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html.match(/<svg /g)?.length).toBe(2 * 4); // per run: the group and 3 chargers
    expect(html).toMatch(/policy naive, seed 1: <b style="color:#d62728">FAILED/);
  });

  test('loadshare fuzz: a small campaign, the scenario of one seed, and a bad option', async () => {
    const out: string[] = [];
    const write = process.stdout.write;
    const errwrite = process.stderr.write;
    process.stdout.write = ((chunk: string) => { out.push(String(chunk)); return true; }) as typeof process.stdout.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      expect(await main(['fuzz', '--seeds', '3', '--duration', '30', '--jobs', '1'])).toBe(0);
      expect(out.join('')).toMatch(/^3 runs \(default, seeds 1-3, 2-6 chargers, 30 s, generator 3\).*: 0 broke a check/);
      out.length = 0;
      expect(await main(['fuzz', '--show', '5'])).toBe(0);
      expect(parse_sim_scenario(out.join('')).name).toBe('fuzz seed 5');
      expect(await main(['fuzz', '--chargers', '0-20'])).toBe(2);
    } finally {
      process.stdout.write = write;
      process.stderr.write = errwrite;
    }
  });

  test('exit 1 when a check fails (a bug reproduction), exit 2 for a bad file or option', async () => {
    const write = process.stdout.write;
    const errwrite = process.stderr.write;
    const err: string[] = [];
    process.stdout.write = (() => true) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string) => { err.push(String(chunk)); return true; }) as typeof process.stderr.write;
    try {
      expect(await main(['simulate', 'test/sim-scenarios/regression-clock-forward-step-after-decrease.json', '--json', '--policy', 'naive'])).toBe(1);
      expect(await main(['simulate', file('bad.json', bad({ nope: 1 }))])).toBe(2);
      expect(await main(['simulate', 'test/sim-scenarios/plan-8.3-2-two-equal.json', '--seed', 'x'])).toBe(2);
      expect(await main(['simulate', join(dir, 'missing.json')])).toBe(2);
    } finally {
      process.stdout.write = write;
      process.stderr.write = errwrite;
    }
    expect(err.join('')).toMatch(/unknown field "nope"/);
  });
});
