// How bearable the failsafe is, measured on a recorded run (RunResult.series): the three
// things that push people to switch load sharing off or remove members, as numbers.
//
// - time to safe current: from the moment a charger degrades until its pilot reaches its
//   failsafe current (safe_current mode, a car that wants it); the goal is at most
//   heartbeat_timeout + message_delay_max + ev_response;
// - pauses: a charger whose car was charging and whose share stays at or above the minimum
//   must never be paused (pilot 0) by a limit decrease;
// - dips: when the group merely regains members (a partition heals), no pilot goes below the
//   lower of what it had before and what it settles at after.
import type { RunResult } from './world.js';
import type { SimScenario } from './scenario.js';

export interface DegradedEpisode {
  charger: string;
  degraded_at_s: number;
  safe_at_s: number | null; // first sample at or above the failsafe current while degraded; null: never
  time_to_safe_s: number | null;
  bound_s: number;
}

export function time_to_safe_current(scenario: SimScenario, result: RunResult): DegradedEpisode[] {
  const series = need_series(result);
  const out: DegradedEpisode[] = [];
  for (const c of series.chargers) {
    const plan = scenario.chargers.find((p) => p.id === c.id)!;
    const safe_a = Math.min(plan.config.failsafe_safe_current, plan.max_current);
    const bound_s = plan.config.heartbeat_timeout + (scenario.timing.message_delay_max_ms + scenario.timing.ev_response_ms) / 1000;
    for (let k = 1; k < series.t_s.length; k++) {
      if (!c.degraded[k] || c.degraded[k - 1] || !c.up[k]) continue;
      let safe_at_s: number | null = null;
      for (let j = k; j < series.t_s.length && c.degraded[j]; j++) {
        if (c.pilot_a[j] >= safe_a) { safe_at_s = series.t_s[j]; break; }
      }
      out.push({ charger: c.id, degraded_at_s: series.t_s[k], safe_at_s, time_to_safe_s: safe_at_s === null ? null : round3(safe_at_s - series.t_s[k]), bound_s });
    }
  }
  return out;
}

export interface Pause {
  charger: string;
  from_s: number;
  to_s: number;
}

// Pilots that fell to 0 in [from_s, until_s) while the car had been charging just before.
export function pauses(result: RunResult, from_s: number, until_s: number): Pause[] {
  const series = need_series(result);
  const out: Pause[] = [];
  const start = series.t_s.findIndex((t) => t >= from_s);
  for (const c of series.chargers) {
    if (start <= 0 || c.pilot_a[start - 1] <= 0) continue;
    let k = start;
    while (k < series.t_s.length && series.t_s[k] < until_s) {
      if (c.up[k] && c.pilot_a[k] <= 0) {
        const from = series.t_s[k];
        while (k < series.t_s.length && c.pilot_a[k] <= 0) k++;
        out.push({ charger: c.id, from_s: from, to_s: series.t_s[Math.min(k, series.t_s.length - 1)] });
      }
      k++;
    }
  }
  return out;
}

export interface Dip {
  charger: string;
  before_a: number;
  settled_a: number;
  lowest_a: number;
  dip_a: number; // how far below min(before, settled) it went (0: none)
  dip_s: number; // for how long (recorded samples below that floor x the sample interval)
  degraded_before: boolean; // it was degraded just before the heal
}

// Around a heal at heal_s: each charger's pilot just before, the lowest in the window, and
// what it settled at window_s later.
export function dips_at_heal(result: RunResult, heal_s: number, window_s: number): Dip[] {
  const series = need_series(result);
  const at = (t: number) => Math.max(0, series.t_s.findIndex((x) => x >= t));
  const before = at(heal_s) - 1;
  const end = at(heal_s + window_s);
  return series.chargers.map((c) => {
    let lowest_a = Infinity;
    let below = 0;
    const floor_a = Math.min(c.pilot_a[before], c.pilot_a[end]);
    for (let k = before + 1; k <= end; k++) {
      lowest_a = Math.min(lowest_a, c.pilot_a[k]);
      if (c.pilot_a[k] < floor_a) below++;
    }
    return {
      charger: c.id, before_a: c.pilot_a[before], settled_a: c.pilot_a[end], lowest_a, dip_a: round3(Math.max(0, floor_a - lowest_a)),
      dip_s: round3((below * series.interval_ms) / 1000), degraded_before: c.degraded[before],
    };
  });
}

function need_series(result: RunResult) {
  if (!result.series) throw new Error('run the simulation with record: true');
  return result.series;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
