// A simulated OpenEVSE charge controller with a car: J1772 states, the pilot it offers, and
// the current the car physically draws. Pure: every method takes now_ms; the node host and
// the simulator drive it with a real or a virtual clock.
//
// Physics that matter for safety:
// - the car follows the pilot after lag_ms (IEC 61851 allows up to 5 s): what it draws at t
//   is bounded by the pilot that was offered at t - lag_ms;
// - the controller keeps its last pilot when the WiFi side dies, until its heartbeat
//   supervision (OpenEVSE RAPI heartbeat: heartbeat_interval / heartbeat_current) fires and
//   drops the pilot to heartbeat_current.
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
  lag_ms: number; // how long the car takes to follow a pilot change (<= 5000)
}

export interface EvseSpec {
  id: string;
  min_current_a: number;
  max_current_a: number; // hardware / service limit
  voltage_v: number;
  heartbeat_interval_ms: number; // 0 disables the controller's supervision
  heartbeat_current_a: number;
}

export const default_car: CarSpec = { connected: false, soc_pct: 20, battery_kwh: 60, max_current_a: 32, lag_ms: 3000 };

const taper_start_pct = 80;

export class SimEvse {
  readonly spec: EvseSpec;
  private car: CarSpec;
  private limit_a = 0; // the shaper's limit (load sharing included)
  private pilot_history: Array<{ from_ms: number; pilot_a: number }> = [{ from_ms: -Infinity, pilot_a: 0 }];
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

  set_limit_a(now_ms: number, limit_a: number): void {
    this.step(now_ms);
    this.limit_a = Math.max(0, limit_a);
    this.update_pilot(now_ms);
  }

  set_car(now_ms: number, car: Partial<CarSpec>): void {
    this.step(now_ms);
    this.car = { ...this.car, ...car };
    this.car.soc_pct = Math.min(100, Math.max(0, this.car.soc_pct));
    this.car.lag_ms = Math.min(5000, Math.max(0, this.car.lag_ms));
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
    const dt_h = (now_ms - this.last_step_ms) / 3600000;
    if (this.car.connected && this.car.battery_kwh > 0) {
      const kwh = (this.draw_a * this.spec.voltage_v * dt_h) / 1000;
      this.car.soc_pct = Math.min(100, this.car.soc_pct + (100 * kwh) / this.car.battery_kwh);
    }
    this.last_step_ms = now_ms;
    this.update_pilot(now_ms);
    this.draw_a = this.draw_at(now_ms);
  }

  supervision_fired(now_ms: number): boolean {
    return this.spec.heartbeat_interval_ms > 0 && now_ms - this.last_heartbeat_ms > this.spec.heartbeat_interval_ms;
  }

  pilot_a(now_ms: number): number {
    this.update_pilot(now_ms);
    return this.pilot_history[this.pilot_history.length - 1].pilot_a;
  }

  // What the car physically draws, amps.
  current_a(now_ms: number): number {
    this.step(now_ms);
    return this.draw_a;
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
    return this.wants_current() ? Math.min(this.car_limit_a(), this.spec.max_current_a) : 0;
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
      amp_ma: Math.round(this.draw_a * 1000),
      voltage: this.spec.voltage_v,
      pilot: pilot_a,
      min_current: this.spec.min_current_a,
      max_current: this.spec.max_current_a,
      demand: this.wants_current(),
    };
  }

  private car_limit_a(): number {
    if (!this.car.connected || this.car.soc_pct >= 100) return 0;
    let limit_a = this.car.max_current_a;
    if (this.car.soc_pct > taper_start_pct) {
      limit_a *= Math.max(0.1, (100 - this.car.soc_pct) / (100 - taper_start_pct));
    }
    return limit_a;
  }

  private update_pilot(now_ms: number): void {
    let pilot_a = Math.min(this.limit_a, this.spec.max_current_a);
    if (this.supervision_fired(now_ms)) pilot_a = Math.min(pilot_a, this.spec.heartbeat_current_a);
    // Below the minimum a J1772 pilot cannot offer current: the controller pauses (0 A).
    if (pilot_a < this.spec.min_current_a || !this.car.connected || this.user_paused) pilot_a = 0;
    pilot_a = Math.floor(pilot_a);
    const last = this.pilot_history[this.pilot_history.length - 1];
    if (last.pilot_a !== pilot_a) {
      // Supervision fires at a known instant: date the change then, not when we noticed.
      const from_ms = this.supervision_fired(now_ms) && pilot_a < last.pilot_a
        ? Math.min(now_ms, this.last_heartbeat_ms + this.spec.heartbeat_interval_ms)
        : now_ms;
      this.pilot_history.push({ from_ms: Math.max(from_ms, last.from_ms), pilot_a });
    }
    this.prune(now_ms);
  }

  // The car draws the pilot it saw lag_ms ago, never more than it can take. Decreases and
  // pauses follow with the same lag (the worst case IEC 61851 allows), so the simulation
  // never assumes a car faster than a real one.
  private draw_at(now_ms: number): number {
    const seen_at_ms = now_ms - this.car.lag_ms;
    let pilot_seen_a = 0;
    for (const h of this.pilot_history) if (h.from_ms <= seen_at_ms) pilot_seen_a = h.pilot_a;
    return Math.min(pilot_seen_a, this.car_limit_a());
  }

  private prune(now_ms: number): void {
    const keep_after_ms = now_ms - 5000 - 1;
    while (this.pilot_history.length > 1 && this.pilot_history[1].from_ms <= keep_after_ms) this.pilot_history.shift();
  }
}
