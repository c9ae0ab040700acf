// One charger's clocks in the simulator. Its oscillator drifts at a rate (ppm: a quartz is off
// by tens to a couple of hundred ppm; 1 % = 10,000 ppm is pathological), and both clocks it
// keeps run at that rate:
// - the monotonic clock (every protocol timer) never steps;
// - the wall clock (rotation epochs, display) is the monotonic clock plus an offset: a
//   constant skew, and steps when a `skew` fault sets it (an SNTP correction, a clock set by
//   hand).
// Engines read both; the world converts the instants an engine asks to be woken at (on its
// monotonic clock) back to virtual time.
export class ChargerClock {
  private mono_at_ref_ms: number; // the monotonic reading at ref_ms
  private ref_ms: number;
  private rate = 0; // drift, as a fraction (ppm / 1e6)
  private wall_offset_ms: number; // wall - monotonic

  constructor(now_ms: number, skew_ms: number, drift_ppm = 0) {
    this.mono_at_ref_ms = now_ms;
    this.ref_ms = now_ms;
    this.rate = drift_ppm / 1e6;
    this.wall_offset_ms = skew_ms;
  }

  monotonic(now_ms: number): number {
    return this.mono_at_ref_ms + (1 + this.rate) * (now_ms - this.ref_ms);
  }

  // The wall clock.
  read(now_ms: number): number {
    return this.monotonic(now_ms) + this.wall_offset_ms;
  }

  // The virtual instant at which the monotonic clock reads clock_ms (it runs forward: rate > -1).
  monotonic_to_virtual(clock_ms: number): number {
    return this.ref_ms + (clock_ms - this.mono_at_ref_ms) / (1 + this.rate);
  }

  // The virtual instant at which the wall clock reads clock_ms (until its next step).
  wall_to_virtual(clock_ms: number): number {
    return this.monotonic_to_virtual(clock_ms - this.wall_offset_ms);
  }

  // A step of the wall clock: from now on it reads now + skew_ms (drift continues from here).
  set_skew(now_ms: number, skew_ms: number): void {
    this.wall_offset_ms = now_ms + skew_ms - this.monotonic(now_ms);
  }

  // The oscillator's rate changes now; what both clocks have drifted so far stays.
  set_drift(now_ms: number, drift_ppm: number): void {
    this.mono_at_ref_ms = this.monotonic(now_ms);
    this.ref_ms = now_ms;
    this.rate = drift_ppm / 1e6;
  }
}
