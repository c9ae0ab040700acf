// One charger's wall clock in the simulator: the virtual time plus an offset (a constant skew,
// or a step when a `skew` fault sets it) plus drift at a rate (ppm: a quartz clock is off by
// tens to hundreds of ppm; 1 % = 10,000 ppm is pathological). Engines read it; the world
// converts the instants an engine asks to be woken at back to virtual time.
export class ChargerClock {
  private offset_ms: number; // reading - virtual time at ref_ms
  private ref_ms: number;
  private rate = 0; // drift, as a fraction (ppm / 1e6)

  constructor(now_ms: number, skew_ms: number, drift_ppm = 0) {
    this.offset_ms = skew_ms;
    this.ref_ms = now_ms;
    this.rate = drift_ppm / 1e6;
  }

  read(now_ms: number): number {
    return now_ms + this.offset_ms + this.rate * (now_ms - this.ref_ms);
  }

  // The virtual instant at which this clock reads clock_ms (the clock runs forward: rate > -1).
  to_virtual(clock_ms: number): number {
    return (clock_ms - this.offset_ms + this.rate * this.ref_ms) / (1 + this.rate);
  }

  // A step: from now on the clock reads now + skew_ms (drift continues from here).
  set_skew(now_ms: number, skew_ms: number): void {
    this.offset_ms = skew_ms;
    this.ref_ms = now_ms;
  }

  // The drift rate changes now; what it has drifted so far stays.
  set_drift(now_ms: number, drift_ppm: number): void {
    this.offset_ms = this.read(now_ms) - now_ms;
    this.ref_ms = now_ms;
    this.rate = drift_ppm / 1e6;
  }

  skew_ms(now_ms: number): number {
    return this.read(now_ms) - now_ms;
  }
}
