// The current shaper, as OpenEVSE's firmware computes it (src/current_shaper.cpp):
//
//   shaper_cur = (max_pwr - live_pwr) / voltage + evse_amps
//
// max_pwr (W, setMaxPwr) is the house's allowed power, live_pwr (W, setLivePwr, POSTed to
// /status as shaper_live_pwr) the house's measured power including this charger, so the
// charger may take what it draws now plus the headroom. Below the EVSE's minimum current the
// shaper pauses (0 A), and when no live_pwr arrived for data_maxinterval seconds it pauses
// too (stale data must not let a charger rise).
//
// As upstream, the formula runs when live power arrives (shapeCurrent on setLivePwr), not
// continuously: between two meter readings the car's own rise would otherwise be counted as
// headroom again and again.
//
// Load sharing adds one cap: the pilot is min(max_current, shaper_cur if the shaper is on,
// loadsharing_limit, claimed). A min can only lower the current, so the shaper can never raise
// a charger above what the group allowed, and load sharing can never override the shaper.
// `claimed` is what the user's side asks for (claims, override, limit, max_current_soft,
// service level: host-node/evse/claims.ts claimed_limit_a); it enters the same min, so a
// claim can only lower the pilot, never lift it over the group's limit.
export interface ShaperInputs {
  enabled: boolean;
  max_pwr_w: number;
  data_maxinterval_s: number;
}

export interface EvseNow { amp_ma: number; voltage: number; min_current: number; max_current: number }

export class CurrentShaper {
  private live_pwr_w = 0;
  private live_pwr_at_ms: number | null = null;
  private loadsharing_limit_a = 0;
  private shaper_cur_a = 0;
  private claimed_limit_a = Infinity;

  constructor(private inputs: ShaperInputs) {}

  configure(inputs: ShaperInputs, evse: EvseNow): void {
    this.inputs = { ...inputs };
    if (this.live_pwr_at_ms !== null) this.shaper_cur_a = this.compute_shaper_cur_a(evse);
  }

  set_live_pwr(now_ms: number, live_pwr_w: number, evse: EvseNow): void {
    this.live_pwr_w = live_pwr_w;
    this.live_pwr_at_ms = now_ms;
    this.shaper_cur_a = this.compute_shaper_cur_a(evse);
  }

  set_loadsharing_limit_a(limit_a: number): void {
    this.loadsharing_limit_a = Math.max(0, limit_a);
  }

  set_claimed_limit_a(limit_a: number): void {
    this.claimed_limit_a = Math.max(0, limit_a);
  }

  // The pilot limit for the controller, in amps.
  limit_a(now_ms: number, evse: EvseNow): number {
    let limit_a = Math.min(evse.max_current, this.loadsharing_limit_a, this.claimed_limit_a);
    if (this.inputs.enabled) limit_a = Math.min(limit_a, this.stale(now_ms) ? 0 : this.shaper_cur_a);
    return Math.max(0, limit_a);
  }

  status(now_ms: number): { shaper: number; shaper_live_pwr: number; shaper_max_pwr: number; shaper_cur: number; shaper_updated: boolean } {
    return {
      shaper: this.inputs.enabled ? 1 : 0,
      shaper_live_pwr: this.live_pwr_w,
      shaper_max_pwr: this.inputs.max_pwr_w,
      shaper_cur: Math.round(this.shaper_cur_a * 100) / 100,
      shaper_updated: !this.stale(now_ms),
    };
  }

  loadsharing_limit(): number {
    return this.loadsharing_limit_a;
  }

  private stale(now_ms: number): boolean {
    return this.live_pwr_at_ms === null || now_ms - this.live_pwr_at_ms > this.inputs.data_maxinterval_s * 1000;
  }

  private compute_shaper_cur_a(evse: EvseNow): number {
    if (evse.voltage <= 0) return 0;
    const cur_a = (this.inputs.max_pwr_w - this.live_pwr_w) / evse.voltage + evse.amp_ma / 1000;
    return cur_a < evse.min_current ? 0 : cur_a;
  }
}
