// `loadshare allocate`: one scenario in, one decision out, as JSON (docs/scenario-format.md).
import type { Core, Decision, GroupView } from './core.js';
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
export function self_config_hash(core: Core, view: GroupView): string {
  return core.config_hash({ ...view.config, group_id: view.config.group_id ?? '', members: view.members.map((m) => m.id) }).hash;
}

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

export function allocate_with_node(core: Core, view: GroupView): AllocateOutput {
  const config_hash = view.config_hash ?? self_config_hash(core, view);
  const with_hash: GroupView = { ...view, config_hash };
  const self = view.members.find((m) => m.id === view.self);
  const previous_applied_a = self?.applied ?? 0;
  const guarded = guarded_compute(core, with_hash, previous_applied_a);
  return format_decision(view, guarded.decision, config_hash, guarded.trip_reason);
}
