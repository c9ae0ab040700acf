// The fault campaign, campaigns at scale, and the proof that the checker can fail.
//
// The campaign draws from every fault and event kind the scenario format has (the first
// test counts them in its own scenarios) and must find nothing, except the seeds listed in
// open_bug_seeds: real findings of the ground-truth oracle against the protocol as built.
// The naive policy (the seed plan as written) must break both INV-1 and the oracle's
// permission check on the same campaign, and an unsafe controller configuration must show
// over-draw: a checker that cannot fail proves nothing.
import { describe, expect, test, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load_campaign_cores, random_scenario, random_scenario_json, type CampaignCores } from '../host-node/sim/fuzz.js';
import { run_campaign_parallel, merge_summaries, type CampaignSpec, type CampaignSummary } from '../host-node/sim/campaign.js';
import { to_sim_scenario } from '../host-node/sim/scenario.js';
import { run_simulation } from '../host-node/sim/world.js';
import { cli } from './helpers.js';

let cores: CampaignCores;
beforeAll(async () => { cores = await load_campaign_cores(); });

// 500 runs of 60 s: short runs keep npm test's time reasonable on 2 cores (about 70 CPU-s
// when the machine is idle); longer runs and larger groups are for `loadshare fuzz` by hand
// (docs/simulation.md, "Results").
const campaign: CampaignSpec = { first: 1, seeds: 500, chargers_min: 2, chargers_max: 6, duration_s: 60, policy: 'default' };
const fuzz = { chargers_min: campaign.chargers_min, chargers_max: campaign.chargers_max, duration_s: campaign.duration_s };
// Seeds of this campaign that break a check through a bug not yet fixed in the core
// (docs/simulation.md, "Open findings" and "Results"). Anything else breaking is a new
// finding. With the core's fix of finding B (view_fresh; merged after generator 3's first
// campaign broke 20, 78, 100, 276, 334, 339 and 471) only 339 remained, a raise without room,
// no over-draw: c1 booted at 19 s, the instant c5 was removed from its list, so its engine
// marked c5 leaving before it had ever heard it and forgot it at the next tick; its views then
// granted the others more than their own views (which reserved c5) let them take. Two changes
// clear it, each on its own: both hosts keep a removed member leaving, heard or not
// (docs/simulation.md, "Removed before it was ever heard"), and the judge caps a grant by the
// grantee's own published view (protocol rule 9: every member rises only within its own view;
// "A grant is capped by the grantee's own view"). None is open now.
// A seed the core fixes is not noticed here (the list is "may break").
const open_bug_seeds: number[] = [];

const without_timing = (s: CampaignSummary) => ({ ...s, timing: null });

describe('randomized fault campaign', () => {
  test('the campaign draws every fault and event kind, limits on one, some and all members, and the models', () => {
    const seen = new Map<string, number>();
    const count = (key: string) => seen.set(key, (seen.get(key) ?? 0) + 1);
    for (let seed = campaign.first; seed < campaign.first + campaign.seeds; seed++) {
      const s = random_scenario_json(seed, fuzz) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      for (const f of s.faults) {
        count(`fault ${f.kind}`);
        if (f.kind === 'partition') count(f.one_way ? 'partition one-way' : 'partition two-way');
        if (f.kind === 'link' && f.duplicate) count('link fault duplicating');
        if (f.kind === 'link' && f.reorder) count('link fault reordering');
        if (f.kind === 'link' && f.latency_ms > 2000) count('link beyond message_delay_max');
        if (f.kind === 'crash' && f.duration_s === undefined) count('crash without restart');
      }
      for (const e of s.events) {
        count(`event ${e.kind}`);
        if (e.kind === 'module') count(`module ${e.module}`);
        if (e.kind === 'config') for (const key of Object.keys(e.set)) count(`config ${key}`);
        if (e.kind === 'config') {
          const during_cut = s.faults.some((f: any) => (f.kind === 'partition' || f.kind === 'isolate') && e.at_s >= f.at_s && e.at_s < f.at_s + (f.duration_s ?? Infinity)); // eslint-disable-line @typescript-eslint/no-explicit-any
          if (during_cut) count('config during a partition');
        }
      }
      for (const l of s.limits) {
        count(l.chargers === undefined ? 'limit on all' : l.chargers.length === 1 ? 'limit on one' : 'limit on some');
        if (l.safety_factor !== undefined) count('limit safety_factor');
      }
      if (s.chargers.some((c: any) => c.boot_at_s > 0)) count('staggered boots'); // eslint-disable-line @typescript-eslint/no-explicit-any
      if (s.chargers.some((c: any) => c.drift_ppm)) count('drift from the start'); // eslint-disable-line @typescript-eslint/no-explicit-any
      if (s.chargers.some((c: any) => Math.abs(c.drift_ppm ?? 0) >= 10000)) count('pathological drift'); // eslint-disable-line @typescript-eslint/no-explicit-any
      if (s.chargers.some((c: any) => c.amp_offset_a || c.amp_noise_a)) count('meter offset or noise'); // eslint-disable-line @typescript-eslint/no-explicit-any
      if ((s.network.links ?? []).length > 0) count('per-link latency');
      if (s.network.duplicate) count('duplicated messages');
      if (s.network.reorder) count('reordered messages');
      if (s.network.transport === 'http') count('http transport');
      if (s.group_key) count('keyed group');
      if (s.cars.some((c: any) => c.lag_up_ms !== undefined)) count('fast up, slow down'); // eslint-disable-line @typescript-eslint/no-explicit-any
      if (s.cars.some((c: any) => c.ramp_a_per_s !== undefined)) count('ramp'); // eslint-disable-line @typescript-eslint/no-explicit-any
      if (s.cars.some((c: any) => c.draw_ratio !== undefined)) count('draws less than offered'); // eslint-disable-line @typescript-eslint/no-explicit-any
      if (s.config.failsafe_mode === 'disable') count('disable mode');
    }
    const wanted = [
      'fault partition', 'partition one-way', 'partition two-way', 'fault isolate', 'fault crash', 'crash without restart', 'fault skew', 'fault drift', 'fault link', 'fault flap',
      'link fault duplicating', 'link fault reordering', 'link beyond message_delay_max',
      'event pause', 'event resume', 'event car', 'event config', 'event add_member', 'event remove_member', 'event module',
      'module priority_first', 'module carry_next', 'module builtin',
      'config heartbeat_timeout', 'config failsafe_safe_current', 'config failsafe_peer_assumed_current', 'config failsafe_mode', 'config safety_factor', 'config priority', 'config rotation_interval', 'config during a partition',
      'limit on all', 'limit on one', 'limit on some', 'limit safety_factor',
      'staggered boots', 'drift from the start', 'pathological drift', 'meter offset or noise', 'per-link latency', 'duplicated messages', 'reordered messages', 'http transport', 'keyed group',
      'fast up, slow down', 'ramp', 'draws less than offered', 'disable mode',
    ];
    const missing = wanted.filter((k) => !seen.has(k));
    expect(missing, JSON.stringify(Object.fromEntries(seen))).toEqual([]);
    // groups up to 16 (not drawn in this campaign's 2-6, to keep it short)
    const sizes = Array.from({ length: 200 }, (_, k) => (random_scenario_json(k, { chargers_min: 2, chargers_max: 16 }).chargers as unknown[]).length);
    expect(Math.max(...sizes)).toBe(16);
  });

  let summary: CampaignSummary;
  test('500 random groups with random faults and events: INV-1 and permission hold (known open bugs aside)', async () => {
    summary = await run_campaign_parallel(campaign, { jobs: 1, cores: async () => cores });
    expect(summary.runs).toBe(500);
    expect(summary.part).toBeNull();
    // exactly the runs that slowed a link beyond message_delay_max are reported apart
    const beyond = Array.from({ length: campaign.seeds }, (_, k) => campaign.first + k)
      .filter((seed) => (random_scenario_json(seed, fuzz).faults as Array<{ kind: string; latency_ms?: number; jitter_ms?: number }>).some((f) => f.kind === 'link' && (f.latency_ms ?? 0) > 2000));
    expect(beyond.length).toBeGreaterThan(0);
    expect(summary.assumption_violated.map((a) => a.seed)).toEqual(beyond);
    const unexpected = summary.broken.filter((b) => !open_bug_seeds.includes(b.seed));
    expect(unexpected, JSON.stringify(unexpected, null, 1)).toEqual([]);
    // the open findings are raises without room, never over-draw
    expect(summary.broken_inv1).toBe(0);
    expect(summary.worst_overdraw).toBeNull();
    expect(summary.broken.every((b) => b.failures.every((f) => f.startsWith('permission:')))).toBe(true);
    // the measures are there for every run with a car that wanted current
    expect(summary.utilisation.runs).toBeGreaterThan(400);
    expect(summary.utilisation.mean).toBeGreaterThan(0.3);
    expect(summary.fairness.runs).toBeGreaterThan(400);
  });

  test('the naive policy on the same campaign breaks INV-1 and the oracle\'s permission check', async () => {
    const naive = await run_campaign_parallel({ ...campaign, seeds: 60, policy: 'naive' }, { jobs: 1, cores: async () => cores });
    const inv1 = naive.broken.filter((b) => b.failures.some((f) => f.startsWith('INV-1 broken')));
    const permission = naive.broken.filter((b) => b.failures.some((f) => f.startsWith('permission:')));
    expect(naive.broken_inv1).toBe(inv1.length);
    expect(inv1.length).toBeGreaterThanOrEqual(5);
    expect(permission.length).toBeGreaterThanOrEqual(20);
    expect(naive.worst_overdraw!.peak_a).toBeGreaterThan(1);
    // every run whose cars over-drew also raised without room first: the oracle sees it coming
    for (const b of inv1) expect(b.failures.some((f) => f.startsWith('permission:')), `seed ${b.seed}`).toBe(true);
    expect(naive.broken[0].reproduce).toMatch(/^loadshare fuzz --show \d+ --chargers 2-6 --duration 60 > seed-\d+\.json && loadshare simulate seed-\d+\.json --policy naive$/);
  });

  test('campaign scenarios are valid scenario files and reproducible by seed', () => {
    const a = run_simulation(random_scenario(11, fuzz), { core: cores.core, modules: cores.modules });
    const b = run_simulation(random_scenario(11, fuzz), { core: cores.core, modules: cores.modules });
    expect({ ...a, wall_ms: 0 }).toEqual({ ...b, wall_ms: 0 });
  });
});

describe('campaigns at scale: shards, merge, worker threads', () => {
  const small: CampaignSpec = { first: 40, seeds: 12, chargers_min: 2, chargers_max: 5, duration_s: 30, policy: 'naive' };

  test('a campaign split into 3 shards and merged gives the summary of the whole campaign (timing aside)', async () => {
    const progress: Array<{ done: number; broken: number; broken_seeds: number[] }> = [];
    const whole = await run_campaign_parallel(small, { jobs: 1, cores: async () => cores, on_progress: (p) => progress.push(p) });
    expect(whole.broken.length).toBeGreaterThan(0); // naive: something to merge
    // The progress names the broken seeds as they are found (the first ten), before the end.
    const last = progress.at(-1)!;
    expect(last.broken).toBe(whole.broken.length);
    expect([...last.broken_seeds].sort((x, y) => x - y)).toEqual(whole.broken.slice(0, 10).map((b) => b.seed));
    const first = progress.find((p) => p.broken > 0)!;
    expect(first.done).toBeLessThan(small.seeds);
    expect(first.broken_seeds).toEqual([whole.broken[0].seed]); // one thread: seeds in order
    const shards = [];
    for (const index of [3, 1, 2]) shards.push(await run_campaign_parallel(small, { jobs: 1, shard: { index, count: 3 }, cores: async () => cores }));
    expect(shards.map((s) => s.runs)).toEqual([4, 4, 4]);
    expect(shards[0].part).toEqual({ shards: [3], of: 3 });
    const merged = merge_summaries(shards.map((summary, k) => ({ name: `shard ${k}`, summary })));
    expect(without_timing(merged)).toEqual(without_timing(whole));
    // two of three: a partial summary that says so
    expect(merge_summaries(shards.slice(0, 2).map((summary, k) => ({ name: `s${k}`, summary }))).part).toEqual({ shards: [1, 3], of: 3 });
    expect(() => merge_summaries([{ name: 'a', summary: shards[0] }, { name: 'b', summary: shards[0] }])).toThrow('b: shard 3/3 is also in a');
    expect(() => merge_summaries([{ name: 'a', summary: shards[0] }, { name: 'b', summary: { ...shards[1], campaign: { ...small, seeds: 13 } } }])).toThrow(/b: another campaign/);
    expect(() => merge_summaries([{ name: 'x.json', summary: { runs: 3 } }])).toThrow('x.json: not a loadshare fuzz summary');
  });

  // Campaign seed 9086540: the limit fell to 3.5 A while a dead charger's controller held 6 A
  // (docs/simulation.md, "A limit below what dead controllers hold"). Such a run holds INV-1
  // against what the dead controllers hold, and the summary lists it rather than hiding it.
  test('a run whose limit fell below what dead controllers hold is listed in the summary, shards merged too', async () => {
    const spec: CampaignSpec = { first: 9086539, seeds: 3, chargers_min: 2, chargers_max: 6, duration_s: 60, policy: 'default' };
    const whole = await run_campaign_parallel(spec, { jobs: 1, cores: async () => cores });
    expect(whole.broken).toEqual([]);
    expect(whole.limit_below_held).toEqual([9086540]);
    const shards = [];
    for (const index of [2, 1]) shards.push(await run_campaign_parallel(spec, { jobs: 1, shard: { index, count: 2 }, cores: async () => cores }));
    expect(merge_summaries(shards.map((summary, k) => ({ name: `shard ${k}`, summary }))).limit_below_held).toEqual([9086540]);
    // a summary written before the field existed merges as none
    const { limit_below_held: _, ...old } = shards[0];
    expect(merge_summaries([{ name: 'old', summary: old }, { name: 'new', summary: shards[1] }]).limit_below_held).toEqual(shards[1].limit_below_held);
  });

  test('loadshare fuzz on 2 worker threads, and 3 shards merged by loadshare fuzz merge, give the same summary as this thread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
    const args = ['fuzz', '--seeds', String(small.seeds), '--first', String(small.first), '--chargers', `${small.chargers_min}-${small.chargers_max}`, '--duration', String(small.duration_s), '--policy', 'naive'];
    const whole = cli([...args, '--jobs', '2', '--json', join(dir, 'whole.json')]);
    expect(whole.code, whole.stderr).toBe(1); // naive runs broke checks
    expect(whole.stdout).toMatch(/^12 runs \(naive, seeds 40-51, 2-5 chargers, 30 s, generator 3\), 360 s simulated in [\d.]+ s on 2 workers/);
    expect(whole.stdout).toMatch(/reproduce: loadshare fuzz --show \d+ --chargers 2-5 --duration 30 > seed-\d+\.json && loadshare simulate seed-\d+\.json --policy naive/);
    for (const i of [1, 2, 3]) expect(cli([...args, '--jobs', '1', '--shard', `${i}/3`, '--json', join(dir, `s${i}.json`)]).code).toBe(1);
    const merged = cli(['fuzz', 'merge', join(dir, 's1.json'), join(dir, 's2.json'), join(dir, 's3.json'), '--json', join(dir, 'merged.json')]);
    expect(merged.code).toBe(1);
    const read = (name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as CampaignSummary;
    const here = await run_campaign_parallel(small, { jobs: 1, cores: async () => cores });
    expect(read('whole.json').timing.jobs).toBe(2);
    expect(without_timing(read('whole.json'))).toEqual(without_timing(here));
    expect(without_timing(read('merged.json'))).toEqual(without_timing(here));
    writeFileSync(join(dir, 'bad.json'), '{"format": "x"}');
    const bad = cli(['fuzz', 'merge', join(dir, 's1.json'), join(dir, 'bad.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.json: not a loadshare fuzz summary/);
  });

  test('bad campaign options are refused with a sentence; --known-bugs is gone', () => {
    for (const [args, message] of [
      [['fuzz', '--known-bugs', 'include'], /--known-bugs was removed: every campaign draws from every fault and event kind/],
      [['fuzz', '--shard', '4/3'], /--shard must be I\/N with 1 <= I <= N, not "4\/3"/],
      [['fuzz', '--shard', 'x'], /--shard must be I\/N/],
      [['fuzz', '--jobs', '0'], /--jobs must be an integer from 1 to 1024, not "0"/],
      [['fuzz', 'merge', '/nonexistent/summary.json'], /cannot read \/nonexistent\/summary\.json: ENOENT/],
    ] as Array<[string[], RegExp]>) {
      const r = cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});

describe('unsafe variants are caught', () => {
  const crash_group = (charger: Record<string, unknown>) => to_sim_scenario({
    name: 'crash with an unsafe controller', duration_s: 120,
    config: { group_max_current: 48, heartbeat_timeout: 10, rotation_interval: 0 },
    chargers: [{ id: 'a' }, { id: 'b' }, { id: 'c', ...charger }],
    cars: ['a', 'b', 'c'].map((id) => ({ charger: id, plug_at_s: 5 })),
    faults: [{ at_s: 40, kind: 'crash', charger: 'c' }],
  });

  test('a controller without heartbeat supervision keeps a crashed charger\'s car at 16 A: over-draw', () => {
    const result = run_simulation(crash_group({ heartbeat_interval_ms: 0 }), { core: cores.core });
    expect(result.inv1.peak_overdraw_a).toBeGreaterThan(0);
    expect(result.inv1.overdraw_integral_as).toBeGreaterThan(0);
    expect(result.ok).toBe(false);
  });

  test('supervision that falls to more than peer_assumed_current (10 A > 6 A): over-draw', () => {
    const result = run_simulation(crash_group({ heartbeat_current: 10 }), { core: cores.core });
    expect(result.inv1.peak_overdraw_a).toBeGreaterThanOrEqual(3.9);
    expect(result.ok).toBe(false);
  });

  test('the same crash with the supervision the hosts set is safe', () => {
    const result = run_simulation(crash_group({}), { core: cores.core });
    expect(result.failures).toEqual([]);
    expect(result.inv1.peak_overdraw_a).toBe(0);
  });

  test('the naive policy overshoots when a second car arrives (no decrease before increase)', () => {
    const scenario = to_sim_scenario({
      name: 'newcomer', duration_s: 90, config: { group_max_current: 40 },
      chargers: [{ id: 'a' }, { id: 'b' }],
      cars: [{ charger: 'a', plug_at_s: 5, lag_ms: 5000 }, { charger: 'b', plug_at_s: 40, lag_ms: 0 }],
    });
    expect(run_simulation(scenario, { core: cores.core }).inv1.peak_overdraw_a).toBe(0);
    const naive = run_simulation(scenario, { core: cores.core, policy: 'naive' });
    expect(naive.inv1.peak_overdraw_a).toBeGreaterThan(0);
  });
});
