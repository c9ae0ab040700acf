// The host-side guard: the core's invariants re-checked after every call (a pair assertion).
// A module that traps, reports an error or breaks an invariant is not believed: this charger
// falls to the failsafe current at once, never above what it already had, and says why.
import type { Core, Decision, GroupView } from './core.js';

export interface Guarded {
  decision: Decision;
  tripped: boolean;
  trip_reason: string | null;
}

const epsilon_a = 1e-9;

// The current a charger falls back to when it cannot trust its module: 0 in disable mode,
// otherwise the failsafe current, but never more than it already applied (an increase needs
// the protocol's permission, which a broken module cannot give).
export function fallback_current_a(view: GroupView, previous_applied_a: number): number {
  if (view.config.failsafe_mode === 'disable') return 0;
  const safe_a = Math.floor(view.config.failsafe_safe_current);
  return Math.max(0, Math.min(safe_a, Number.isFinite(previous_applied_a) ? previous_applied_a : 0));
}

// Returns a description of the first broken invariant, or null.
export function check_decision(decision: Decision, view: GroupView): string | null {
  const self = decision.self;
  // Every amount is a number and not negative (checked in this order; named only when broken:
  // this runs after every call).
  const amount = (name: string, value: number): string | null => {
    if (!Number.isFinite(value)) return `${name} is not a number`;
    if (value < 0) return `${name} is negative`;
    return null;
  };
  const broken_amount = amount('target_current', self.target_current) ?? amount('applied_current', self.applied_current)
    ?? amount('budget_current', decision.budget_current) ?? amount('effective_limit', decision.effective_limit);
  if (broken_amount !== null) return broken_amount;
  for (const a of decision.allocations) {
    if (!Number.isFinite(a.target_current) || a.target_current < 0) return amount(`allocation of ${a.id}`, a.target_current);
  }
  if (self.applied_current > self.target_current + epsilon_a) return 'applied above target';
  if (!Number.isInteger(self.applied_current)) return 'applied current is not whole amps';
  const own_limit_a = view.config.group_max_current * view.config.safety_factor;
  if (decision.effective_limit > own_limit_a + epsilon_a) return 'effective limit above the configured limit';
  if (decision.budget_current > decision.effective_limit + epsilon_a) return 'budget above the effective limit';
  let sum_a = 0;
  for (const a of decision.allocations) sum_a += a.target_current;
  if (sum_a > decision.budget_current + epsilon_a) return `allocations sum ${sum_a} A above budget ${decision.budget_current} A`;
  for (const a of decision.allocations) {
    const member = member_by_id(view.members, a.id);
    if (!member) return `allocation for unknown member ${a.id}`;
    if (a.target_current > Math.floor(member.max_current) + epsilon_a) return `allocation of ${a.id} above its max_current`;
  }
  if (self.degraded) {
    // A degraded charger charges at most at its failsafe current, which every other member
    // reserves for it; its own budget does not bound it (docs/protocol.md, rule 9).
    const limit_a = view.config.failsafe_mode === 'disable' ? 0 : view.config.failsafe_safe_current;
    if (self.applied_current > limit_a + epsilon_a) return 'degraded but above the failsafe current';
  } else if (self.applied_current > decision.budget_current + epsilon_a) {
    return 'applied above budget';
  }
  return null;
}

// The member with this id (the last one, as a map built from the list would give): a
// group has at most 16 members, a scan is cheaper than a map per call.
function member_by_id(members: GroupView['members'], id: string): GroupView['members'][number] | undefined {
  for (let i = members.length - 1; i >= 0; i--) if (members[i].id === id) return members[i];
  return undefined;
}

function tripped(decision: Decision | null, view: GroupView, previous_applied_a: number, reason: string): Guarded {
  const fallback_a = fallback_current_a(view, previous_applied_a);
  const base: Decision = decision ?? {
    error: 'ok', error_member: null,
    self: { id: view.self, target_current: 0, applied_current: 0, own_view_current: 0, degraded: true, failsafe_active: true, reason: 'guard_failsafe' },
    budget_current: 0, effective_limit: 0, reserved_current: 0, allocated_sum: 0, online_count: 0, offline_count: 0,
    demanding_count: 0, config_consistent: false, seen_mismatch: false, no_quorum: false, mismatch_since_ms: null, degraded_since_ms: null,
    offline_hold_ms: 0, committed_current: previous_applied_a, demand_cap: 0, next_call_ms: null, carry_status: 'fresh',
    settings: { heartbeat_timeout_ms: view.config.heartbeat_timeout * 1000, failsafe_safe_current: view.config.failsafe_safe_current, failsafe_peer_assumed_current: view.config.failsafe_peer_assumed_current },
    settings_differ: false, left_alone: false,
    allocations: [], carry: view.carry ?? new Uint8Array(0),
  };
  return {
    decision: {
      ...base,
      self: { ...base.self, target_current: fallback_a, applied_current: fallback_a, degraded: true, failsafe_active: true, reason: 'guard_failsafe' },
    },
    tripped: true,
    trip_reason: reason,
  };
}

// A trap reported by another engine (the native wasm3 host), treated like V8's RuntimeError.
export class ModuleTrap extends Error {}

// compute() behind the guard. previous_applied_a is what this charger applies now.
export function guarded_compute(core: Core, view: GroupView, previous_applied_a: number): Guarded {
  return guard_decision(() => core.compute(view), view, previous_applied_a);
}

// The guard around any engine's compute: `compute` returns the decision or throws a trap.
export function guard_decision(compute: () => Decision, view: GroupView, previous_applied_a: number): Guarded {
  let decision: Decision;
  try {
    decision = compute();
  } catch (error) {
    if (error instanceof WebAssembly.RuntimeError || error instanceof ModuleTrap) {
      return tripped(null, view, previous_applied_a, `module trapped: ${error.message}`);
    }
    throw error;
  }
  if (decision.error !== 'ok') {
    // The core refused the view and answered its own safe default (0 A); keep it.
    return { decision, tripped: true, trip_reason: `core refused the view: ${decision.error}${decision.error_member ? ` (member ${decision.error_member})` : ''}` };
  }
  const broken = check_decision(decision, view);
  if (broken) return tripped(decision, view, previous_applied_a, `invariant broken: ${broken}`);
  return { decision, tripped: false, trip_reason: null };
}
