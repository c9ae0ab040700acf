// `loadshare allocate`: one scenario in, one decision out, as JSON (docs/scenario-format.md).
import { type Core, type Decision, type GroupView, self_config_hash } from './core.js';
import type { ScenarioView } from './scenario.js';
import { guarded_compute } from './guard.js';

export interface AllocateOutput {
  self: Decision['self'];
  budget_current: number;
  effective_limit: number;
  reserved_current: number;
  online_count: number;
  offline_count: number;
  config_consistent: boolean;
  config_hash: string;
  mismatch_since_ms: number | null;
  degraded_since_ms: number | null;
  guard?: { reason: string };
  allocations: Array<{ id: string; target_current: number; reason: string; online: boolean; degraded: boolean; reserved_current: number }>;
}

// The hash of the config this charger holds, as the core defines it (docs/config-hash.md).
export { self_config_hash };

export function format_decision(view: GroupView, decision: Decision, config_hash: string, trip_reason: string | null): AllocateOutput {
  const by_id = new Map(decision.allocations.map((a) => [a.id, a]));
  const output: AllocateOutput = {
    self: { ...decision.self },
    budget_current: decision.budget_current,
    effective_limit: decision.effective_limit,
    reserved_current: decision.reserved_current,
    online_count: decision.online_count,
    offline_count: decision.offline_count,
    config_consistent: decision.config_consistent,
    config_hash,
    mismatch_since_ms: decision.mismatch_since_ms,
    degraded_since_ms: decision.degraded_since_ms,
    allocations: view.members.map((m) => {
      const a = by_id.get(m.id);
      return {
        id: m.id,
        target_current: a?.target_current ?? 0,
        reason: a?.reason ?? 'input_error',
        online: a?.online ?? false,
        degraded: a?.degraded ?? false,
        reserved_current: a?.reserved_current ?? 0,
      };
    }),
  };
  if (trip_reason) output.guard = { reason: trip_reason };
  return output;
}

// The carry a scenario's decision starts from: the same facts decided at each of its
// earlier times first (scenario.ts, earlier_ms), the carry passing along; null: none.
export function scenario_carry(core: Core, view: ScenarioView): Uint8Array | null {
  let carry: Uint8Array | null = view.carry ?? null;
  for (const t of view.earlier_ms ?? []) carry = core.compute({ ...view, now_ms: t, wall_ms: t, carry }).carry;
  return carry;
}

// The view a scenario is decided with: its config hash and the carry of its earlier calls.
export function scenario_call(core: Core, view: ScenarioView): GroupView {
  const config_hash = view.config_hash ?? self_config_hash(core, view);
  const { earlier_ms: _earlier, ...facts } = view;
  return { ...facts, config_hash, carry: scenario_carry(core, { ...view, config_hash }) };
}

export function allocate_with_node(core: Core, view: ScenarioView): AllocateOutput {
  const with_hash = scenario_call(core, view);
  const config_hash = with_hash.config_hash!;
  const guarded = guarded_compute(core, with_hash, view.self_limit_a ?? 0);
  return format_decision(view, guarded.decision, config_hash, guarded.trip_reason);
}
