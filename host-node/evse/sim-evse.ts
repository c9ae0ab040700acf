// A simulated OpenEVSE charge controller with a car: J1772 states, the pilot it offers, and
// the current the car physically draws. Pure: every method takes now_ms; the node host and
// the simulator drive it with a real or a virtual clock.
//
// Physics that matter for safety:
// - the car follows a pilot decrease after lag_ms (IEC 61851 allows up to 5 s; the default is
//   that worst case): what it draws at t is bounded by the newest pilot it has perceived;
// - it may follow an increase sooner (lag_up_ms: "fast up, slow down") and ramp up at a
//   limited rate (ramp_a_per_s); a ramp only ever lowers what it draws, a decrease is a step
//   at the end of its lag (the latest and largest a compliant car may draw);
// - the controller keeps its last pilot when the WiFi side dies, until its heartbeat
//   supervision (OpenEVSE RAPI heartbeat: heartbeat_interval / heartbeat_current) fires and
//   drops the pilot to heartbeat_current. The host sets the supervision from its current
//   config (set_supervision), not once at start.
// - what the controller reports (`amp`) may be off by a constant offset and noise; the car's
//   physical current is what current_a() returns.
import type { LocalEvseStatus } from '../engine/types.js';

// OpenEVSE J1772 state codes (the `state` field of /status).
export const evse_state = {
  not_connected: 1,
  connected: 2,
  charging: 3,
  sleeping: 254,
  disabled: 255,
} as const;

export interface CarSpec {
  connected: boolean;
  soc_pct: number; // 0..100
  battery_kwh: number;
  max_current_a: number; // onboard charger limit
  lag_ms: number; // how long the car takes to follow a pilot decrease (<= 5000); increases too unless lag_up_ms
  lag_up_ms?: number; // how long it takes to follow a pilot increase (fast up: shorter than lag_ms)
  ramp_a_per_s?: number; // once it follows an increase, its current rises at most this fast (absent: at once)
  draw_ratio?: number; // it draws this fraction of what it may (a car that draws less than offered); 1 when absent
}

export interface EvseSpec {
  id: string;
  min_current_a: number;
  max_current_a: number; // hardware / service limit
  voltage_v: number;
  heartbeat_interval_ms: number; // 0 disables the controller's supervision
  heartbeat_current_a: number;
  amp_offset_a?: number; // the controller's measurement error: added to what `amp` reports
  amp_noise_a?: number; // uniform noise in [-amp_noise_a, +amp_noise_a] on what `amp` reports
  noise?: () => number; // a uniform [0, 1) source for that noise (seeded in the simulator)
}

export const max_lag_ms = 5000; // IEC 61851: a car follows a lower pilot within 5 s

export const default_car: CarSpec = { connected: false, soc_pct: 20, battery_kwh: 60, max_current_a: 32, lag_ms: max_lag_ms };

const taper_start_pct = 80;

interface PilotChange {
  from_ms: number; // when the controller offered it
  pilot_a: number;
  seen_ms: number; // when the car follows it (from_ms + its lag for this direction)
}

export class SimEvse {
  readonly spec: EvseSpec;
  private car: CarSpec;
  private limit_a = 0; // the shaper's limit (load sharing included)
  private pilot_history: PilotChange[] = [{ from_ms: -Infinity, pilot_a: 0, seen_ms: -Infinity }];
  private last_heartbeat_ms: number;
  private last_step_ms: number;
  private draw_a = 0;
  private user_paused = false;

  constructor(spec: EvseSpec, car: CarSpec, now_ms: number) {
    this.spec = spec;
    this.car = { ...car };
    this.last_heartbeat_ms = now_ms;
    this.last_step_ms = now_ms;
  }

  // The WiFi side (the engine's host) is alive.
  heartbeat(now_ms: number): void {
    this.last_heartbeat_ms = now_ms;
  }

  // The host (re)sets the controller's supervision, as it does whenever its config changes.
  set_supervision(now_ms: number, interval_ms: number, current_a: number): void {
    this.step(now_ms);
    this.spec.heartbeat_interval_ms = interval_ms;
    this.spec.heartbeat_current_a = current_a;
    this.update_pilot(now_ms);
  }

  set_limit_a(now_ms: number, limit_a: number): void {
    this.step(now_ms);
    this.limit_a = Math.max(0, limit_a);
    this.update_pilot(now_ms);
  }

  set_car(now_ms: number, car: Partial<CarSpec>): void {
    this.step(now_ms);
    this.car = { ...this.car, ...car };
    this.car.soc_pct = Math.min(100, Math.max(0, this.car.soc_pct));
    this.car.lag_ms = Math.min(max_lag_ms, Math.max(0, this.car.lag_ms));
    if (this.car.lag_up_ms !== undefined) this.car.lag_up_ms = Math.max(0, this.car.lag_up_ms);
    if (this.car.draw_ratio !== undefined) this.car.draw_ratio = Math.min(1, Math.max(0, this.car.draw_ratio));
    this.update_pilot(now_ms);
  }

  set_user_paused(now_ms: number, paused: boolean): void {
    this.step(now_ms);
    this.user_paused = paused;
    this.update_pilot(now_ms);
  }

  car_spec(): CarSpec {
    return { ...this.car };
  }

  // Advances the car to now_ms: energy into the battery, supervision, the current it draws.
  step(now_ms: number): void {
    if (now_ms < this.last_step_ms) return;
    this.update_pilot(now_ms, true);
    // Between the instants the car perceives a pilot change its target is constant; the
    // current follows it (a step down, a ramp or a step up).
    let t = this.last_step_ms;
    // (no array unless a change is perceived in between: step runs at every reading)
    let points: number[] | null = null;
    for (const h of this.pilot_history) if (h.seen_ms > t && h.seen_ms < now_ms) (points ??= []).push(h.seen_ms);
    if (points !== null) {
      points.sort((a, b) => a - b);
      for (const b of points) {
        this.advance(t, b);
        t = b;
      }
    }
    this.advance(t, now_ms);
    this.draw_a = this.follow(this.draw_a, this.target_at(now_ms), 0);
    this.last_step_ms = now_ms;
  }

  supervision_fired(now_ms: number): boolean {
    return this.spec.heartbeat_interval_ms > 0 && now_ms - this.last_heartbeat_ms > this.spec.heartbeat_interval_ms;
  }

  // When the supervision fires if no heartbeat comes (null: it never does).
  supervision_fires_ms(): number | null {
    return this.spec.heartbeat_interval_ms > 0 ? this.last_heartbeat_ms + this.spec.heartbeat_interval_ms : null;
  }

  pilot_a(now_ms: number): number {
    this.update_pilot(now_ms, true);
    return this.pilot_history[this.pilot_history.length - 1].pilot_a;
  }

  // What the controller offers a connected car that wants current: the pilot it would show
  // if a car were plugged in or the user resumed (the pilot can reach it without any
  // decision). Whole amps, 0 below the minimum.
  offer_a(now_ms: number): number {
    let offer_a = Math.min(this.limit_a, this.spec.max_current_a);
    if (this.supervision_fired(now_ms)) offer_a = Math.min(offer_a, this.spec.heartbeat_current_a);
    offer_a = Math.floor(offer_a);
    return offer_a < this.spec.min_current_a ? 0 : offer_a;
  }

  // What the car physically draws, amps.
  current_a(now_ms: number): number {
    this.step(now_ms);
    return this.draw_a;
  }

  // The instants after now_ms at which the car's current changes if the pilot stays as it is:
  // when it perceives a pending pilot change, and when a ramp reaches its target.
  next_changes_ms(now_ms: number): number[] {
    this.step(now_ms);
    const out: number[] = [];
    const rate = this.ramp_rate();
    let t = now_ms;
    let d = this.draw_a;
    const points = this.pilot_history.filter((h) => h.seen_ms > now_ms).map((h) => h.seen_ms).sort((a, b) => a - b);
    points.push(Infinity);
    for (const b of points) {
      const target_a = this.target_at(t);
      if (target_a > d && Number.isFinite(rate)) {
        const end_ms = t + ((target_a - d) / rate) * 1000;
        if (end_ms < b) out.push(end_ms);
      }
      if (!Number.isFinite(b)) break;
      d = this.follow(d, target_a, b - t);
      out.push(b);
      t = b;
      d = this.follow(d, this.target_at(t), 0);
    }
    return out;
  }

  // A car is connected, not full, and the user has not paused the charger.
  wants_current(): boolean {
    return this.car.connected && this.car.soc_pct < 100 && !this.user_paused;
  }

  // What the car would take right now if offered without limit (onboard maximum and taper,
  // bounded by the EVSE's own maximum); 0 when it wants nothing. The simulator's utilisation
  // measure uses it as the car's share of what was possible.
  acceptable_current_a(now_ms: number): number {
    this.step(now_ms);
    return this.wants_current() ? Math.min(this.car_limit_a(), this.spec.max_current_a) * this.ratio() : 0;
  }

  status(now_ms: number): LocalEvseStatus {
    this.step(now_ms);
    const pilot_a = this.pilot_a(now_ms);
    let state: number = evse_state.not_connected;
    if (this.car.connected) {
      if (this.user_paused) state = evse_state.disabled;
      else if (pilot_a <= 0) state = evse_state.sleeping;
      else if (this.draw_a > 0) state = evse_state.charging;
      else state = evse_state.connected;
    }
    return {
      vehicle: this.car.connected ? 1 : 0,
      state,
      amp_ma: Math.round(this.measured_a() * 1000),
      voltage: this.spec.voltage_v,
      pilot: pilot_a,
      min_current: this.spec.min_current_a,
      max_current: this.spec.max_current_a,
      demand: this.wants_current(),
    };
  }

  // What the controller's current sensor reports: the physical current, off by the
  // configured offset and noise, never negative.
  private measured_a(): number {
    let a = this.draw_a + (this.spec.amp_offset_a ?? 0);
    const noise_a = this.spec.amp_noise_a ?? 0;
    if (noise_a > 0 && this.spec.noise) a += (2 * this.spec.noise() - 1) * noise_a;
    return Math.max(0, a);
  }

  // One stretch [from, to] with a constant target: a decrease at once, then a ramp or a step
  // up; the energy it delivers goes into the battery.
  private advance(from_ms: number, to_ms: number): void {
    const dt_ms = to_ms - from_ms;
    const target_a = this.target_at(from_ms);
    const start_a = this.follow(this.draw_a, target_a, 0);
    const rate = this.ramp_rate();
    let mean_a = target_a;
    let end_a = target_a;
    if (start_a < target_a && Number.isFinite(rate)) {
      const ramp_ms = ((target_a - start_a) / rate) * 1000;
      if (ramp_ms >= dt_ms) {
        end_a = start_a + (rate * dt_ms) / 1000;
        mean_a = (start_a + end_a) / 2;
      } else {
        mean_a = dt_ms > 0 ? (((start_a + target_a) / 2) * ramp_ms + target_a * (dt_ms - ramp_ms)) / dt_ms : target_a;
      }
    }
    this.charge(mean_a, dt_ms);
    this.draw_a = end_a;
  }

  private charge(draw_a: number, dt_ms: number): void {
    if (!this.car.connected || this.car.battery_kwh <= 0 || dt_ms <= 0) return;
    const kwh = (draw_a * this.spec.voltage_v * dt_ms) / 3600000 / 1000;
    this.car.soc_pct = Math.min(100, this.car.soc_pct + (100 * kwh) / this.car.battery_kwh);
  }

  private ratio(): number {
    return this.car.draw_ratio ?? 1;
  }

  private ramp_rate(): number {
    const r = this.car.ramp_a_per_s;
    return r !== undefined && r > 0 ? r : Infinity;
  }

  // From draw_a towards target_a over dt_ms: a decrease at once, an increase at the ramp rate.
  private follow(draw_a: number, target_a: number, dt_ms: number): number {
    if (target_a <= draw_a) return target_a;
    const rate = this.ramp_rate();
    return Number.isFinite(rate) ? Math.min(target_a, draw_a + (rate * dt_ms) / 1000) : target_a;
  }

  private car_limit_a(): number {
    if (!this.car.connected || this.car.soc_pct >= 100) return 0;
    let limit_a = this.car.max_current_a;
    if (this.car.soc_pct > taper_start_pct) {
      limit_a *= Math.max(0.1, (100 - this.car.soc_pct) / (100 - taper_start_pct));
    }
    return limit_a;
  }

  // by_time: nothing was set, only time passed (a reading, the start of a step), so a change
  // found now is the supervision firing, dated when it fired. A change after something was set
  // (a limit, the supervision, the car) is dated now: the mutators step first, which records a
  // fire before they change anything. (Dating every decrease after a fire back to the fire let
  // a car that a restarted host paused, or whose heartbeat current it lowered, drop at once
  // instead of lag_ms later.)
  private update_pilot(now_ms: number, by_time = false): void {
    let pilot_a = Math.min(this.limit_a, this.spec.max_current_a);
    if (this.supervision_fired(now_ms)) pilot_a = Math.min(pilot_a, this.spec.heartbeat_current_a);
    // Below the minimum a J1772 pilot cannot offer current: the controller pauses (0 A).
    if (pilot_a < this.spec.min_current_a || !this.car.connected || this.user_paused) pilot_a = 0;
    pilot_a = Math.floor(pilot_a);
    const last = this.pilot_history[this.pilot_history.length - 1];
    if (last.pilot_a !== pilot_a) {
      // Supervision fires at a known instant: date the change then, not when we noticed.
      const fired_ms = by_time && this.supervision_fired(now_ms) && pilot_a < last.pilot_a
        ? Math.min(now_ms, this.last_heartbeat_ms + this.spec.heartbeat_interval_ms)
        : now_ms;
      const from_ms = Math.max(fired_ms, last.from_ms);
      const lag_ms = pilot_a > last.pilot_a ? (this.car.lag_up_ms ?? this.car.lag_ms) : this.car.lag_ms;
      this.pilot_history.push({ from_ms, pilot_a, seen_ms: from_ms + lag_ms });
    }
    this.prune();
  }

  // The car's target at t: the newest pilot it has perceived by then (a later decrease
  // perceived after an earlier increase does not undo that increase), never more than it
  // can take, times what it draws of what it may.
  private target_at(t_ms: number): number {
    let newest: PilotChange = this.pilot_history[0];
    for (const h of this.pilot_history) if (h.seen_ms <= t_ms && h.from_ms >= newest.from_ms) newest = h;
    return Math.min(newest.pilot_a, this.car_limit_a()) * this.ratio();
  }

  // Keeps every change the car may not have perceived yet, and the newest one it has: the
  // car is only ever evaluated from last_step_ms on.
  private prune(): void {
    while (this.pilot_history.length > 1 && this.pilot_history[1].seen_ms <= this.last_step_ms) this.pilot_history.shift();
  }
}
