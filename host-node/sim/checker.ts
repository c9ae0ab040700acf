// The checks a simulation run is judged by, evaluated on every sample (every tick_ms and at
// every instant a car's current can change): INV-1 (the sum of the currents the cars
// physically draw never exceeds the effective limit), permission (no engine raised its
// applied limit above what rule 6 allows), and the measures (utilisation, fairness,
// convergence after each event, limit-change windows).
import type { Decision, GroupView } from '../core.js';

export interface ChargerProbe {
  id: string;
  draw_a(now_ms: number): number;
  acceptable_a(now_ms: number): number; // what its car would take now (0: wants nothing)
  up(): boolean; // its engine runs
  decision(): Decision | null;
  // For a charger that is down: when its controller's heartbeat supervision fires (its pilot
  // falls to the heartbeat current), or null when it never will.
  supervision_fires_ms(): number | null;
}

export interface Overdraw {
  at_s: number;
  total_a: number;
  limit_a: number;
  draws_a: Record<string, number>;
}

export interface PermissionViolation {
  at_s: number;
  charger: string;
  from_a: number;
  to_a: number;
  allowed_a: number;
  why: string;
}

export interface LimitWindow {
  at_s: number;
  charger: string;
  from_a: number;
  to_a: number;
  known_s: number | null; // when every running engine decided with the new limit
  window_s: number | null; // from the change until the new limit is checked (null: never)
}

export interface Convergence {
  label: string;
  at_s: number;
  after_s: number | null; // null: not settled before the next event or the end
}

const epsilon_a = 1e-6;

interface PendingDecrease {
  window: LimitWindow;
  charger_index: number;
  value_a: number;
  changed_ms: number;
  close_ms: number | null;
}

export class Checker {
  // Per charger: the limit the checker holds it to (a decrease binds only after its window).
  private readonly binding_a: number[];
  private readonly pending: PendingDecrease[] = [];
  readonly windows: LimitWindow[] = [];
  readonly permission_violations: PermissionViolation[] = [];
  readonly convergence: Convergence[] = [];
  // The event being measured, and since when the group has been settled without a break.
  private open_convergence: { at_ms: number; entry: Convergence; settled_since_ms: number | null } | null = null;

  peak_overdraw_a = 0;
  overdraw_integral_as = 0;
  first_overdraw: Overdraw | null = null;
  worst_overdraw: Overdraw | null = null;
  peak_total_a = 0;
  sample_count = 0;

  // Bumped by the world whenever any engine's decision may have changed.
  decisions_version = 0;
  private converged_version = -1;
  private converged_now = false;
  private last_ms: number | null = null;
  private last_over_a = 0;
  private last_total_a = 0;
  private last_possible_a = 0;
  private last_draws_a: number[];
  private last_demanding: boolean[];
  delivered_as = 0;
  possible_as = 0;
  scarce_delivered_as = 0;
  scarce_possible_as = 0;
  private last_scarce = false;
  readonly energy_as: number[];
  readonly demand_time_ms: number[];
  // The longest stretch each car wanted current and drew none (a turn that never comes).
  readonly max_starved_ms: number[];
  private readonly starved_since_ms: Array<number | null>;

  constructor(
    private readonly start_ms: number,
    private readonly probes: ChargerProbe[],
    initial_limits_a: number[],
    private readonly ev_response_ms: number,
  ) {
    this.binding_a = [...initial_limits_a];
    this.energy_as = probes.map(() => 0);
    this.demand_time_ms = probes.map(() => 0);
    this.last_draws_a = probes.map(() => 0);
    this.last_demanding = probes.map(() => false);
    this.max_starved_ms = probes.map(() => 0);
    this.starved_since_ms = probes.map(() => null);
  }

  private s(at_ms: number): number {
    return (at_ms - this.start_ms) / 1000;
  }

  // The limit INV-1 is checked against now: the smallest binding limit over all chargers.
  limit_a(): number {
    let limit_a = Infinity;
    for (const l of this.binding_a) limit_a = Math.min(limit_a, l);
    return limit_a;
  }

  // A charger's configured limit (group_max_current x safety_factor) changed. A raise binds
  // at once (the smallest configured limit still rules until every charger has the raise);
  // a decrease binds ev_response after every running engine decides with it (docs).
  on_limit_change(now_ms: number, charger_index: number, from_a: number, to_a: number): void {
    // A newer change on this charger supersedes its pending decrease.
    for (let i = this.pending.length - 1; i >= 0; i--) {
      if (this.pending[i].charger_index === charger_index) this.pending.splice(i, 1);
    }
    if (to_a >= from_a) {
      this.binding_a[charger_index] = to_a;
      return;
    }
    const window: LimitWindow = { at_s: this.s(now_ms), charger: this.probes[charger_index].id, from_a, to_a, known_s: null, window_s: null };
    this.windows.push(window);
    this.pending.push({ window, charger_index, value_a: to_a, changed_ms: now_ms, close_ms: null });
    this.on_engine_tick(now_ms);
  }

  // After any engine decided (and on every sample): does every charger now act on a pending
  // decrease? A running engine does once it decided with it; a charger that is down cannot
  // act on anything: its car keeps the last pilot until the controller's supervision drops it.
  on_engine_tick(now_ms: number): void {
    for (const p of this.pending) {
      if (p.close_ms !== null) continue;
      const all = this.probes.every((probe) => {
        if (!probe.up()) {
          const fires_ms = probe.supervision_fires_ms();
          return fires_ms !== null && fires_ms <= now_ms;
        }
        const d = probe.decision();
        return d !== null && d.effective_limit <= p.value_a + epsilon_a;
      });
      if (all) {
        p.close_ms = now_ms + this.ev_response_ms;
        p.window.known_s = this.s(now_ms);
        p.window.window_s = (p.close_ms - p.changed_ms) / 1000;
      }
    }
  }

  private close_windows(now_ms: number): void {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const p = this.pending[i];
      if (p.close_ms !== null && now_ms >= p.close_ms) {
        this.binding_a[p.charger_index] = p.value_a;
        this.pending.splice(i, 1);
      }
    }
  }

  // Rule 6 re-derived outside the core: an increase of the applied limit must fit the
  // target and the headroom the healthy others leave (each counted at the larger of its
  // share in this view, its committed and its applied current), and a degraded engine may
  // not exceed the failsafe current.
  check_permission(now_ms: number, charger: string, from_a: number, to_a: number, decision: Decision, view: GroupView): void {
    if (to_a <= from_a) return;
    const by_id = new Map(view.members.map((m) => [m.id, m]));
    let others_a = 0;
    for (const a of decision.allocations) {
      if (a.id === charger || !a.online || a.degraded) continue;
      const m = by_id.get(a.id);
      others_a += Math.max(a.target_current, m?.committed ?? 0, m?.applied ?? 0);
    }
    const headroom_a = Math.floor(decision.budget_current - others_a + epsilon_a);
    let allowed_a = Math.min(decision.self.target_current, headroom_a);
    let why = 'above min(target, headroom)';
    if (decision.self.degraded) {
      // Rule 9: a degraded charger may rise to its failsafe current (held to an equal part of
      // the limit) once every other member must reserve it: heartbeat_timeout +
      // message_delay_max + ev_response after it became degraded; before, never above what it had.
      const s = decision.settings;
      const failsafe_a = view.config.failsafe_mode === 'disable' ? 0 : Math.min(Math.floor(s.failsafe_safe_current), Math.floor(decision.effective_limit / view.members.length));
      const since_ms = decision.degraded_since_ms ?? view.now_ms;
      const c = view.config;
      const waited = view.now_ms - since_ms >= s.heartbeat_timeout_ms + (c.message_delay_max_ms ?? 2000) + (c.ev_response_ms ?? 5000);
      allowed_a = waited ? failsafe_a : Math.min(failsafe_a, from_a);
      why = waited ? 'degraded but above the failsafe current' : 'degraded and rose before the others must have reserved it';
    }
    if (to_a > allowed_a + epsilon_a) {
      this.permission_violations.push({ at_s: this.s(now_ms), charger, from_a, to_a, allowed_a, why });
    }
  }

  // One sample: integrates the interval since the last sample with the values it started
  // with (currents only change at sampled instants, except taper, which only lowers them,
  // so this is exact or errs toward over-draw), then takes the new values.
  sample(now_ms: number): void {
    if (this.pending.length > 0) this.on_engine_tick(now_ms);
    this.close_windows(now_ms);
    if (this.last_ms !== null && now_ms > this.last_ms) {
      const dt_s = (now_ms - this.last_ms) / 1000;
      this.overdraw_integral_as += this.last_over_a * dt_s;
      this.delivered_as += this.last_total_a * dt_s;
      this.possible_as += this.last_possible_a * dt_s;
      if (this.last_scarce) {
        this.scarce_delivered_as += this.last_total_a * dt_s;
        this.scarce_possible_as += this.last_possible_a * dt_s;
      }
      for (let i = 0; i < this.probes.length; i++) {
        this.energy_as[i] += this.last_draws_a[i] * dt_s;
        if (this.last_demanding[i]) this.demand_time_ms[i] += now_ms - this.last_ms;
      }
    }
    this.sample_count++;
    const limit_a = this.limit_a();
    let total_a = 0;
    let acceptable_sum_a = 0;
    for (let i = 0; i < this.probes.length; i++) {
      const draw_a = this.probes[i].draw_a(now_ms);
      const acceptable_a = this.probes[i].acceptable_a(now_ms);
      this.last_draws_a[i] = draw_a;
      this.last_demanding[i] = acceptable_a > 0;
      if (acceptable_a > 0 && draw_a <= 0) {
        this.starved_since_ms[i] ??= now_ms;
        this.max_starved_ms[i] = Math.max(this.max_starved_ms[i], now_ms - this.starved_since_ms[i]!);
      } else {
        this.starved_since_ms[i] = null;
      }
      total_a += draw_a;
      acceptable_sum_a += acceptable_a;
    }
    const over_a = total_a - limit_a > epsilon_a ? total_a - limit_a : 0;
    if (over_a > 0) {
      const record: Overdraw = {
        at_s: this.s(now_ms), total_a, limit_a,
        draws_a: Object.fromEntries(this.probes.map((p, i) => [p.id, this.last_draws_a[i]])),
      };
      if (!this.first_overdraw) this.first_overdraw = record;
      if (over_a > this.peak_overdraw_a) this.worst_overdraw = record;
    }
    this.peak_overdraw_a = Math.max(this.peak_overdraw_a, over_a);
    this.peak_total_a = Math.max(this.peak_total_a, total_a);
    this.last_over_a = over_a;
    this.last_total_a = total_a;
    this.last_possible_a = Math.min(Math.max(0, limit_a), acceptable_sum_a);
    this.last_scarce = acceptable_sum_a > limit_a;
    this.last_ms = now_ms;
    const open = this.open_convergence;
    if (open) {
      // Decisions only change when an engine recomputes, crashes or boots: reuse the answer.
      if (this.decisions_version !== this.converged_version) {
        this.converged_now = this.converged();
        this.converged_version = this.decisions_version;
      }
      if (!this.converged_now) open.settled_since_ms = null;
      else if (open.settled_since_ms === null) open.settled_since_ms = now_ms;
    }
  }

  private close_convergence(): void {
    const open = this.open_convergence;
    if (open && open.settled_since_ms !== null) open.entry.after_s = (open.settled_since_ms - open.at_ms) / 1000;
    this.open_convergence = null;
  }

  // The end of the run: the last event's convergence is known now.
  finish(now_ms: number): void {
    this.sample(now_ms);
    this.close_convergence();
  }

  // Something happened (a scenario event or fault): measure how long until the group settles.
  // The time to converge after it: from the event until the group is settled and stays
  // settled up to the next event (null when it never was by then).
  on_event(now_ms: number, label: string): void {
    this.close_convergence();
    const entry: Convergence = { label, at_s: this.s(now_ms), after_s: null };
    this.convergence.push(entry);
    this.open_convergence = { at_ms: now_ms, entry, settled_since_ms: null };
  }

  // Settled: every running engine applies its target (or is degraded and applies its
  // failsafe), and every engine it hears online computed the same allocation vector.
  converged(): boolean {
    const vectors = new Map<string, string>();
    const decisions = new Map<string, Decision>();
    for (const p of this.probes) {
      if (!p.up()) continue;
      const d = p.decision();
      if (!d) return false;
      if (!d.self.degraded && d.self.applied_current !== d.self.target_current) return false;
      decisions.set(p.id, d);
      vectors.set(p.id, d.allocations.map((a) => `${a.id}=${a.target_current}`).join(','));
    }
    for (const [id, d] of decisions) {
      for (const a of d.allocations) {
        if (a.id === id || !a.online) continue;
        const other = vectors.get(a.id);
        if (other !== undefined && other !== vectors.get(id)) return false;
      }
    }
    return true;
  }

  utilisation(): number | null {
    return this.possible_as > 0 ? Math.min(1, this.delivered_as / this.possible_as) : null;
  }

  scarce_utilisation(): number | null {
    return this.scarce_possible_as > 0 ? Math.min(1, this.scarce_delivered_as / this.scarce_possible_as) : null;
  }

  // Jain's index over the mean current of each car while it wanted current.
  fairness(): number | null {
    const xs: number[] = [];
    for (let i = 0; i < this.probes.length; i++) {
      if (this.demand_time_ms[i] > 0) xs.push(this.energy_as[i] / (this.demand_time_ms[i] / 1000));
    }
    if (xs.length < 2) return null;
    const sum = xs.reduce((a, b) => a + b, 0);
    const squares = xs.reduce((a, b) => a + b * b, 0);
    return squares > 0 ? (sum * sum) / (xs.length * squares) : 1;
  }
}
