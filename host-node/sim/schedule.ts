// The scenario's schedule on the event queue: boots, cars, limit changes, events and faults.
// Each is what a user, a car or the network would do to the chargers; everything else
// follows from the stations themselves.
import type { LoadSharingConfig } from '../engine/types.js';
import type { EventQueue } from './event-queue.js';
import type { Network } from './network.js';
import { sim_defaults, type SimScenario } from './scenario.js';
import type { SimCharger } from './sim-charger.js';

export function schedule_scenario(scenario: SimScenario, queue: EventQueue, network: Network, chargers: SimCharger[], note: (label: string) => void): void {
  const at = (s: number) => scenario.start_ms + s * 1000;
  const by_id = new Map(chargers.map((c) => [c.id, c]));
  const get = (id: string) => by_id.get(id)!;
  const all_ids = () => chargers.map((c) => c.id);

  for (const c of chargers) queue.at(at(c.plan.boot_at_s), () => { c.boot(); if (c.plan.boot_at_s > 0) note(`${c.id} boots`); });

  for (const car of scenario.cars) {
    const c = get(car.charger);
    queue.at(at(car.plug_at_s), () => {
      c.evse.set_car(queue.now_ms, {
        connected: true,
        soc_pct: car.soc_pct ?? 20,
        battery_kwh: car.battery_kwh ?? 60,
        max_current_a: car.max_current ?? sim_defaults.car.max_current,
        lag_ms: car.lag_ms ?? sim_defaults.car.lag_ms,
        lag_up_ms: car.lag_up_ms,
        ramp_a_per_s: car.ramp_a_per_s,
        draw_ratio: car.draw_ratio,
      });
      note(`car plugged into ${c.id}`);
      c.evse_changed();
    });
    if (car.unplug_at_s !== undefined) {
      queue.at(at(car.unplug_at_s), () => {
        c.evse.set_car(queue.now_ms, { connected: false });
        note(`car unplugged from ${c.id}`);
        c.evse_changed();
      });
    }
  }

  for (const l of scenario.limits) {
    queue.at(at(l.at_s), () => {
      const targets = l.chargers ?? all_ids();
      const patch: Partial<LoadSharingConfig> = {};
      if (l.group_max_current !== undefined) patch.group_max_current = l.group_max_current;
      if (l.safety_factor !== undefined) patch.safety_factor = l.safety_factor;
      for (const id of targets) get(id).write_config(patch);
      note(`limit ${JSON.stringify(patch)} on ${targets.join(',')}`);
    });
  }

  for (const e of scenario.events) {
    queue.at(at(e.at_s), () => {
      switch (e.kind) {
        case 'pause':
        case 'resume': {
          const c = get(e.charger);
          c.evse.set_user_paused(queue.now_ms, e.kind === 'pause');
          c.evse_changed();
          break;
        }
        case 'car': {
          const c = get(e.charger);
          const patch: Record<string, number> = {};
          if (e.soc_pct !== undefined) patch.soc_pct = e.soc_pct;
          if (e.battery_kwh !== undefined) patch.battery_kwh = e.battery_kwh;
          if (e.max_current !== undefined) patch.max_current_a = e.max_current;
          if (e.lag_ms !== undefined) patch.lag_ms = e.lag_ms;
          if (e.lag_up_ms !== undefined) patch.lag_up_ms = e.lag_up_ms;
          if (e.ramp_a_per_s !== undefined) patch.ramp_a_per_s = e.ramp_a_per_s;
          if (e.draw_ratio !== undefined) patch.draw_ratio = e.draw_ratio;
          c.evse.set_car(queue.now_ms, patch);
          c.evse_changed();
          break;
        }
        case 'config':
          for (const id of e.chargers ?? all_ids()) get(id).write_config(e.set);
          break;
        case 'module':
          get(e.charger).swap_module(e.module);
          break;
        case 'add_member':
        case 'remove_member': {
          const member = get(e.member);
          for (const id of e.chargers ?? all_ids()) {
            if (id === e.member) continue;
            if (e.kind === 'add_member') get(id).join(member.host);
            else get(id).leave(member.host);
          }
          break;
        }
      }
      note(`${e.kind}${'charger' in e ? ` ${e.charger}` : ''}`);
    });
  }

  const cut_pairs = (pairs: Array<[string, string]>, duration_s: number | undefined, label: string) => {
    for (const [a, b] of pairs) network.cut(a, b);
    note(label);
    if (duration_s !== undefined) {
      queue.after(duration_s * 1000, () => {
        for (const [a, b] of pairs) network.heal(a, b);
        note(`healed: ${label}`);
      });
    }
  };
  const isolation_pairs = (id: string): Array<[string, string]> =>
    chargers.filter((o) => o.id !== id).flatMap((o): Array<[string, string]> => [[id, o.id], [o.id, id]]);

  for (const f of scenario.faults) {
    queue.at(at(f.at_s), () => {
      switch (f.kind) {
        case 'partition': {
          const pairs: Array<[string, string]> = [];
          for (const a of f.a) for (const b of f.b) { pairs.push([a, b]); if (!f.one_way) pairs.push([b, a]); }
          cut_pairs(pairs, f.duration_s, `partition ${f.a.join(',')}${f.one_way ? ' -/-> ' : ' <-/-> '}${f.b.join(',')}`);
          break;
        }
        case 'isolate':
          cut_pairs(isolation_pairs(f.charger), f.duration_s, `isolate ${f.charger}`);
          break;
        case 'crash': {
          const c = get(f.charger);
          c.crash();
          note(`crash ${f.charger}`);
          if (f.duration_s !== undefined) queue.after(f.duration_s * 1000, () => { if (!c.up()) c.boot(); note(`restart ${f.charger}`); });
          break;
        }
        case 'skew':
          // hook: a charger's clock steps
          get(f.charger).set_skew(f.skew_ms);
          note(`skew ${f.charger} ${f.skew_ms} ms`);
          break;
        case 'drift':
          // hook: a charger's oscillator changes its rate
          get(f.charger).set_drift(f.drift_ppm);
          note(`drift ${f.charger} ${f.drift_ppm} ppm`);
          break;
        case 'link': {
          const saved = { ...scenario.network, ...(scenario.network.links.find((l) => l.from === f.from && l.to === f.to) ?? {}) };
          const patch: Record<string, number> = {};
          if (f.latency_ms !== undefined) patch.latency_ms = f.latency_ms;
          if (f.jitter_ms !== undefined) patch.jitter_ms = f.jitter_ms;
          if (f.loss !== undefined) patch.loss = f.loss;
          if (f.duplicate !== undefined) patch.duplicate = f.duplicate;
          if (f.reorder !== undefined) patch.reorder = f.reorder;
          network.set_link(f.from, f.to, patch);
          note(`link ${f.from}->${f.to} ${JSON.stringify(patch)}`);
          if (f.duration_s !== undefined) {
            queue.after(f.duration_s * 1000, () => {
              network.set_link(f.from, f.to, { latency_ms: saved.latency_ms, jitter_ms: saved.jitter_ms, loss: saved.loss, duplicate: saved.duplicate, reorder: saved.reorder });
              note(`link ${f.from}->${f.to} restored`);
            });
          }
          break;
        }
        case 'flap':
          for (let k = 0; k < f.count; k++) {
            queue.after(k * f.period_s * 1000, () => cut_pairs(isolation_pairs(f.charger), f.down_s, `flap ${f.charger}`));
          }
          break;
      }
    });
  }
}
