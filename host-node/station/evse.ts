// The charge controller as the station sees it: what it measures, the pilot it is told to
// offer, and the heartbeat that keeps its own supervision from dropping the pilot. The
// simulated controller (evse/sim-evse.ts) is one implementation; a RAPI adapter for a real
// OpenEVSE controller implements the same interface.
import type { LoadSharingConfig, LocalEvseStatus, ProtocolTiming } from '../engine/types.js';
import { SimEvse, type CarSpec } from '../evse/sim-evse.js';

// The supervision interval a host sets on its controller ($SY, whole seconds, 1-255): never
// longer than the heartbeat timeout, and never longer than seen_grace + message_delay_max, so
// that a dead host's car is down well inside the others' offline hold whatever timeout the
// config holds (5 s with the default timing). A longer heartbeat_timeout written during a
// partition must not lengthen it: the others may time this charger out on the shorter one they
// were told (campaign seed 12203044, docs/simulation.md). The ESP32 host's
// lsh_supervisor_settings computes the same value; the simulator's hosts use this function.
export function supervision_interval_s(heartbeat_timeout_s: number, timing: Pick<ProtocolTiming, 'seen_grace_ms' | 'message_delay_max_ms'>): number {
  let seconds = Math.floor((timing.seen_grace_ms + timing.message_delay_max_ms) / 1000);
  if (heartbeat_timeout_s > 0 && heartbeat_timeout_s < seconds) seconds = Math.floor(heartbeat_timeout_s);
  return Math.min(255, Math.max(1, seconds));
}

// The current a controller falls to when its host stops (the heartbeat current): the failsafe
// current held to an equal part of the limit over the members (self and those leaving
// included), as the module holds a degraded charger's (rule 11), so that if every member
// crashed, their controllers together stay within the limit (campaign seed 3004527: a crashed
// charger held 6 A of a limit that was then lowered to 4.8 A). 0 in disable mode. A smaller
// failsafe current the group told (the module's settings in force) lowers it. The one
// function for it: the Node host (station.ts) sets it on its controller, and the simulator
// reads it as the most a degraded charger may draw (sim-charger.ts failsafe_a) and as each
// simulated controller's heartbeat current (scenario.ts).
export function heartbeat_current_a(
  config: Pick<LoadSharingConfig, 'failsafe_mode' | 'group_max_current' | 'safety_factor' | 'failsafe_safe_current'>,
  members: number,
  told_failsafe_safe_current_a = Infinity,
): number {
  if (config.failsafe_mode === 'disable') return 0;
  const failsafe_a = Math.min(config.failsafe_safe_current, told_failsafe_safe_current_a);
  const equal_part_a = Math.floor((config.group_max_current * config.safety_factor) / Math.max(1, members));
  return Math.max(0, Math.min(failsafe_a, equal_part_a));
}

export interface EvseAdapter {
  // What the controller reports now (OpenEVSE units: amp_ma in milliamps, pilot in amps).
  status(now_ms: number): LocalEvseStatus;
  // The pilot limit to offer (amps); the controller floors it and pauses below its minimum.
  set_pilot_a(now_ms: number, limit_a: number): void;
  // The WiFi side is alive: without it the controller falls to its heartbeat current.
  heartbeat(now_ms: number): void;
  // The current the controller falls to when heartbeats stop (0 in disable mode).
  set_heartbeat_current_a(current_a: number): void;
  // A user's claim pauses the charger (upstream sleeps it; RAPI $FS / $FD), or resumes it.
  set_user_paused(now_ms: number, paused: boolean): void;
  // The car's state of charge in %, when the controller knows it (null otherwise).
  battery_level_pct(now_ms: number): number | null;
  // The simulated car (POST /sim/ev); absent on a real controller.
  car?: SimCar;
}

export interface SimCar {
  spec(): CarSpec;
  set(now_ms: number, change: Partial<CarSpec>): void;
}

// The simulated controller and car behind the adapter interface.
export class SimEvseAdapter implements EvseAdapter {
  readonly car: SimCar;

  constructor(readonly evse: SimEvse) {
    this.car = {
      spec: () => evse.car_spec(),
      set: (now_ms, change) => evse.set_car(now_ms, change),
    };
  }

  status(now_ms: number): LocalEvseStatus {
    return this.evse.status(now_ms);
  }

  set_pilot_a(now_ms: number, limit_a: number): void {
    this.evse.set_limit_a(now_ms, limit_a);
  }

  heartbeat(now_ms: number): void {
    this.evse.heartbeat(now_ms);
  }

  set_heartbeat_current_a(current_a: number): void {
    this.evse.spec.heartbeat_current_a = current_a;
  }

  set_user_paused(now_ms: number, paused: boolean): void {
    this.evse.set_user_paused(now_ms, paused);
  }

  battery_level_pct(): number | null {
    const car = this.evse.car_spec();
    return car.connected ? car.soc_pct : null;
  }
}
