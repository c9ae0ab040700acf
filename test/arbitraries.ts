// fast-check generators of whole groups as one charger sees them.
import fc from 'fast-check';
import type { GroupView, MemberView, FailsafeMode } from '../host-node/core.js';

export const now_ms = 1767225600000;

const id_arb = fc.tuple(fc.constantFrom('a', 'b', 'c', 'evse', 'openevse'), fc.integer({ min: 0, max: 4095 })).map(([p, n]) => `${p}-${n.toString(16)}`);

export interface GroupOptions {
  healthy?: boolean; // everyone online, nobody degraded, no foreign views or commitments
}

export function group_arb(options: GroupOptions = {}): fc.Arbitrary<GroupView> {
  return fc.uniqueArray(id_arb, { minLength: 1, maxLength: 16 }).chain((ids) => {
    const member = (id: string) => fc.record({
      min_current: fc.constantFrom(0, 6, 6, 6, 8, 10, 6.5),
      extra_a: fc.integer({ min: 0, max: 42 }),
      vehicle: fc.constantFrom(0, 1, 1, 1),
      state: fc.constantFrom(1, 2, 3, 3, 254),
      amp_ma: fc.integer({ min: 0, max: 40000 }),
      priority: fc.constantFrom(0, 0, 0, 1, -1),
      age_s: options.healthy ? fc.constant(0) : fc.constantFrom(0, 0, 1, 10, 30, 31, 40, 600, -1),
      demand: fc.option(fc.boolean(), { nil: undefined }),
      committed: options.healthy ? fc.constant(undefined) : fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
      applied: options.healthy ? fc.constant(undefined) : fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
      degraded: options.healthy ? fc.constant(false) : fc.boolean(),
      demand_cap: fc.option(fc.integer({ min: 0, max: 32 }), { nil: undefined }),
      group_max_current: options.healthy ? fc.constant(undefined) : fc.option(fc.constantFrom(16, 32, 50, 100), { nil: undefined }),
      seen: options.healthy ? fc.constant(undefined) : fc.option(fc.subarray(ids), { nil: undefined }),
      alloc: options.healthy ? fc.constant(undefined) : fc.option(fc.dictionary(fc.constantFrom(...ids), fc.integer({ min: 0, max: 40 })), { nil: undefined }),
    }).map((r): MemberView => {
      const m: MemberView = {
        id, vehicle: r.vehicle, state: r.state, amp_ma: r.amp_ma, voltage: 240,
        min_current: r.min_current, max_current: r.min_current + r.extra_a, priority: r.priority,
      };
      if (r.age_s >= 0) m.last_seen_ms = now_ms - r.age_s * 1000;
      if (r.demand !== undefined) m.demand = r.demand;
      if (r.committed !== undefined) m.committed = r.committed;
      if (r.applied !== undefined) m.applied = r.applied;
      if (r.degraded) m.degraded = true;
      if (r.demand_cap !== undefined) m.demand_cap = r.demand_cap;
      if (r.group_max_current !== undefined) m.group_max_current = r.group_max_current;
      if (r.seen !== undefined) m.seen = r.seen;
      if (r.alloc !== undefined) m.alloc = r.alloc;
      return m;
    });
    return fc.record({
      members: fc.tuple(...ids.map(member)),
      self_index: fc.integer({ min: 0, max: ids.length - 1 }),
      group_max_current: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.double({ min: 0, max: 200, noNaN: true })),
      safety_factor: fc.constantFrom(1, 0.9, 0.8, 0.5),
      failsafe_mode: fc.constantFrom<FailsafeMode>('safe_current', 'safe_current', 'disable'),
      safe_a: fc.constantFrom(0, 6, 8),
      assumed_extra_a: fc.constantFrom(0, 0, 2, 10),
      rotation_interval: fc.constantFrom(0, 60, 1800),
      now_offset_s: fc.integer({ min: 0, max: 86400 }),
      self_limit_a: fc.option(fc.integer({ min: 0, max: 40 }), { nil: null }),
    }).map((g): GroupView => {
      const t = now_ms + g.now_offset_s * 1000;
      const members = g.members.map((m) => (m.last_seen_ms === undefined ? m : { ...m, last_seen_ms: m.last_seen_ms + g.now_offset_s * 1000 }));
      return {
        now_ms: t,
        self: ids[g.self_index],
        config: {
          group_max_current: g.group_max_current,
          safety_factor: g.safety_factor,
          heartbeat_timeout: 30,
          failsafe_mode: g.failsafe_mode,
          failsafe_safe_current: g.safe_a,
          failsafe_peer_assumed_current: g.safe_a + g.assumed_extra_a,
          rotation_interval: g.rotation_interval,
        },
        members,
        self_limit_a: g.self_limit_a,
      };
    });
  });
}
