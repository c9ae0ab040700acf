// How a run is judged: when the checker samples (every tick_ms, and at every instant a car's
// current can change), the time series for reports, the scenario's expectations at given
// instants, and the verdict at the end (checker.ts holds the measures themselves).
import type { Decision } from '../core.js';
import type { EventQueue } from './event-queue.js';
import type { Checker } from './checker.js';
import type { Oracle } from './oracle.js';
import type { SimScenario, ExpectAt } from './scenario.js';
import type { SimEvse } from '../evse/sim-evse.js';
import { series_interval_ms, type RunSeries } from './record.js';

// A charger as the checks see it (sim-charger.ts implements it).
export interface CheckedCharger {
  readonly id: string;
  readonly evse: SimEvse;
  readonly granted_a: number; // the load-sharing limit its controller was last given
  readonly reversals: number;
  up(): boolean;
  decision(): Decision | null;
  config_limit_a(): number; // group_max_current x safety_factor of its config in force
  config_priority(): number;
  config_rotation_interval_s(): number;
}

export class Sampling {
  private readonly times = new Set<number>();

  constructor(private readonly queue: EventQueue, private readonly checker: Checker, private readonly end_ms: number) {}

  // One extra sample at t_ms (once per instant).
  at(t_ms: number): void {
    if (t_ms > this.end_ms || this.times.has(t_ms)) return;
    this.times.add(t_ms);
    this.queue.at(t_ms, () => {
      this.times.delete(t_ms);
      this.checker.sample(this.queue.now_ms);
    });
  }

  // The car's current can change now, when it perceives the pilot, and when a ramp ends.
  car_changes(evse: SimEvse): void {
    this.at(this.queue.now_ms);
    for (const t_ms of evse.next_changes_ms(this.queue.now_ms)) this.at(t_ms);
  }
}

// The periodic sample, the recorded series and the progress callback.
export function start_periodic_sampling(
  queue: EventQueue, checker: Checker, scenario: SimScenario, chargers: CheckedCharger[], record: boolean, on_progress?: (fraction: number) => void,
): RunSeries | undefined {
  const end_ms = scenario.start_ms + scenario.duration_s * 1000;
  const series: RunSeries | undefined = record ? {
    interval_ms: series_interval_ms(scenario.duration_s, scenario.tick_ms), t_s: [], limit_a: [], total_a: [], reserved_a: [],
    chargers: chargers.map((c) => ({ id: c.id, up: [], degraded: [], target_a: [], applied_a: [], pilot_a: [], draw_a: [], reason: [] })),
  } : undefined;
  let next_record_ms = scenario.start_ms;
  const record_now = (now_ms: number) => {
    if (!series || now_ms < next_record_ms) return;
    next_record_ms = now_ms + series.interval_ms;
    series.t_s.push((now_ms - scenario.start_ms) / 1000);
    series.limit_a.push(checker.limit_a());
    let total_a = 0;
    let reserved_a = 0;
    chargers.forEach((c, i) => {
      const d = c.decision();
      const draw_a = c.evse.current_a(now_ms);
      total_a += draw_a;
      if (d) reserved_a = Math.max(reserved_a, d.reserved_current);
      const out = series.chargers[i];
      out.up.push(c.up());
      out.degraded.push(d?.self.degraded ?? false);
      out.target_a.push(d?.self.target_current ?? 0);
      out.applied_a.push(c.granted_a);
      out.pilot_a.push(c.evse.pilot_a(now_ms));
      out.draw_a.push(draw_a);
      out.reason.push(c.up() ? (d?.self.reason ?? 'idle') : 'down');
    });
    series.total_a.push(total_a);
    series.reserved_a.push(reserved_a);
  };
  const progress_step_ms = (end_ms - scenario.start_ms) / 100;
  let next_progress_ms = scenario.start_ms + progress_step_ms;
  const periodic_sample = () => {
    checker.sample(queue.now_ms);
    record_now(queue.now_ms);
    if (on_progress && queue.now_ms >= next_progress_ms) {
      next_progress_ms += progress_step_ms;
      on_progress((queue.now_ms - scenario.start_ms) / (end_ms - scenario.start_ms));
    }
    if (queue.now_ms + scenario.tick_ms <= end_ms) queue.after(scenario.tick_ms, periodic_sample);
  };
  queue.at(scenario.start_ms, periodic_sample);
  return series;
}

// The scenario's expectations at one instant; each miss is one sentence in failures.
export function check_expect_at(x: ExpectAt, now_ms: number, get: (id: string) => CheckedCharger, chargers: CheckedCharger[], failures: string[]): void {
  const where = `at ${x.at_s} s`;
  const tol_a = x.tolerance_a ?? 0.5;
  for (const [id, want_a] of Object.entries(x.applied ?? {})) {
    const c = get(id);
    const got_a = c.up() ? c.granted_a : null;
    if (got_a !== want_a) failures.push(`${where}: ${id} applies ${got_a} A, expected ${want_a} A`);
  }
  let total_a = 0;
  for (const c of chargers) total_a += c.evse.current_a(now_ms);
  for (const [id, want_a] of Object.entries(x.draw ?? {})) {
    const got_a = get(id).evse.current_a(now_ms);
    if (Math.abs(got_a - want_a) > tol_a) failures.push(`${where}: ${id}'s car draws ${got_a.toFixed(2)} A, expected ${want_a} A ± ${tol_a}`);
  }
  if (x.total_draw_max !== undefined && total_a > x.total_draw_max + 1e-6) failures.push(`${where}: the cars draw ${total_a.toFixed(2)} A in total, expected at most ${x.total_draw_max} A`);
  const self_flag = (id: string, key: 'degraded' | 'failsafe_active'): boolean | null => {
    const d = get(id).decision();
    return d ? d.self[key] : null;
  };
  for (const [id, want] of Object.entries(x.degraded ?? {})) {
    const got = self_flag(id, 'degraded');
    if (got !== want) failures.push(`${where}: ${id} degraded is ${got}, expected ${want}`);
  }
  for (const [id, want] of Object.entries(x.failsafe ?? {})) {
    const got = self_flag(id, 'failsafe_active');
    if (got !== want) failures.push(`${where}: ${id} failsafe_active is ${got}, expected ${want}`);
  }
  for (const [viewer, members] of Object.entries(x.online ?? {})) {
    const d = get(viewer).decision();
    for (const [id, want] of Object.entries(members)) {
      const got = d ? (d.allocations.find((a) => a.id === id)?.online ?? null) : null;
      if (got !== want) failures.push(`${where}: ${viewer} sees ${id} online=${got}, expected ${want}`);
    }
  }
}

// The end of a run: INV-1, permission (the oracle's), and the scenario's measures, as failure
// sentences. INV-1 and permission are the protocol's promise within its assumptions: outside
// them (assumption_violated) they are measured and shown apart from the verdict.
export function verdict(
  scenario: SimScenario, checker: Checker, oracle: Oracle, chargers: CheckedCharger[], failures: string[], assumption_violated: string[],
): { utilisation: number | null; fairness: number | null; max_convergence_s: number | null; reversals: number; beyond_assumptions: string[] } {
  const safety = assumption_violated.length > 0 ? [] as string[] : failures;
  const inv1_peak_a = checker.peak_overdraw_a;
  if (inv1_peak_a > 0) {
    const f = checker.first_overdraw!;
    safety.push(`INV-1 broken: peak over-draw ${inv1_peak_a.toFixed(3)} A, integral ${checker.overdraw_integral_as.toFixed(3)} A·s; first at ${f.at_s.toFixed(3)} s: ${f.total_a.toFixed(2)} A drawn against a limit of ${f.limit_a} A (${Object.entries(f.draws_a).map(([k, v]) => `${k}=${v.toFixed(1)}`).join(' ')})`);
  }
  for (const v of oracle.violations.slice(0, 5)) {
    safety.push(`permission: ${v.charger} raised its pilot ${v.from_a} -> ${v.to_a} A at ${v.at_s.toFixed(3)} s; room for ${v.allowed_a} A (${v.why})`);
  }
  if (oracle.violations.length > 5) safety.push(`permission: ${oracle.violations.length - 5} more raises without room`);
  const beyond_assumptions = safety === failures ? [] : safety;
  const utilisation = checker.utilisation();
  const fairness = checker.fairness();
  const e = scenario.expect;
  if (e.min_utilisation !== undefined && (utilisation ?? 0) < e.min_utilisation) failures.push(`utilisation ${utilisation?.toFixed(3)} below ${e.min_utilisation}`);
  if (e.min_fairness !== undefined && (fairness ?? 0) < e.min_fairness) failures.push(`fairness ${fairness?.toFixed(3)} below ${e.min_fairness}`);
  const converged = checker.convergence.filter((c) => c.after_s !== null).map((c) => c.after_s!);
  const max_convergence_s = converged.length > 0 ? Math.max(...converged) : null;
  if (e.converge_within_s !== undefined) {
    const last = checker.convergence[checker.convergence.length - 1];
    for (const c of checker.convergence) {
      if (c.after_s !== null && c.after_s > e.converge_within_s) failures.push(`converged ${c.after_s.toFixed(1)} s after "${c.label}" (at ${c.at_s} s), expected within ${e.converge_within_s} s`);
    }
    if (last && last.after_s === null) failures.push(`never converged after the last event "${last.label}" (at ${last.at_s} s)`);
  }
  const reversal_window_ms = 2 * scenario.status_period_ms;
  const reversals = chargers.reduce((sum, c) => sum + c.reversals, 0);
  if (e.max_reversals !== undefined && reversals > e.max_reversals) {
    const worst = [...chargers].sort((a, b) => b.reversals - a.reversals)[0];
    failures.push(`oscillation: ${reversals} reversals (an applied limit returning to a value it left within ${reversal_window_ms / 1000} s), most on ${worst.id} (${worst.reversals}); expected at most ${e.max_reversals}`);
  }
  if (e.rotation_turns) {
    // Every car of an equal-priority run waits at most one rotation cycle (run length x
    // interval) for its turn, plus the time a hand-over takes (rule 6 makes the newcomer wait
    // for the leaver's car: ev_response, a status period and a tick).
    for (let i = 0; i < chargers.length; i++) {
      const c = chargers[i];
      const run = chargers.filter((o) => o.config_priority() === c.config_priority()).length;
      const cycle_ms = run * c.config_rotation_interval_s() * 1000;
      const handover_ms = scenario.timing.ev_response_ms + scenario.status_period_ms + scenario.timing.tick_interval_ms + 5000;
      if (checker.demand_time_ms[i] > 0 && checker.energy_as[i] <= 0) failures.push(`rotation: ${c.id}'s car wanted current but never got a turn`);
      else if (checker.max_starved_ms[i] > cycle_ms + handover_ms) failures.push(`rotation: ${c.id}'s car waited ${(checker.max_starved_ms[i] / 1000).toFixed(1)} s for a turn, more than one cycle (${cycle_ms / 1000} s) plus a hand-over`);
    }
  }
  return { utilisation, fairness, max_convergence_s, reversals, beyond_assumptions };
}
