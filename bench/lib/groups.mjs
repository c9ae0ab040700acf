// The benchmark groups: 2, 4, 8 and 16 chargers that all have a car demanding current, on a
// breaker that cannot give everyone their maximum, with full views (seen sets, published
// allocation vectors, config hashes), so compute() walks every stage it has. Built once per
// run through the Node binding; every engine then gets the exact same input block bytes.
import { Core } from '../../dist/host-node/core.js';

export const member_counts = [2, 4, 8, 16];

const now_ms = 1767225600000; // 2026-01-01T00:00:00Z, fixed so the bytes never change
const member_max_current_a = 32;
const group_current_per_member_a = 10; // scarcity: 10 A each of a possible 32 A

export function bench_group(core, member_count) {
  const ids = Array.from({ length: member_count }, (_, i) => `charger-${String(i + 1).padStart(2, '0')}`);
  const config = {
    group_id: 'bench',
    group_max_current: group_current_per_member_a * member_count,
    safety_factor: 1,
    heartbeat_timeout: 30,
    failsafe_mode: 'safe_current',
    failsafe_safe_current: 6,
    failsafe_peer_assumed_current: 6,
    rotation_interval: 0,
  };
  const { hash } = core.config_hash({ ...config, members: ids });
  const share_a = group_current_per_member_a;
  const members = ids.map((id, i) => ({
    id,
    // heard at the first call (a zero carry: a safe start), so no member is "not heard since
    // the start" (rule 10 freezes the view then)
    last_seen_ms: now_ms,
    vehicle: 1,
    state: 3,
    amp_ma: share_a * 1000,
    voltage: 230,
    min_current: 6,
    max_current: member_max_current_a,
    priority: 0,
    demand: true,
    seen: ids,
    alloc: Object.fromEntries(ids.map((j) => [j, share_a])),
    applied: share_a,
    committed: share_a,
    group_max_current: config.group_max_current,
    safety_factor: 1,
    config_hash: hash,
  }));
  return { now_ms, self: ids[0], config, config_hash: hash, members };
}

// The input block bytes and the reference output block (the release module in V8 through
// the project's own binding; the input block and a zero carry, as every engine's calls start). Refuses a group that does not exercise the allocator, so a
// change in the core cannot silently turn the benchmark into timing an early error return.
export async function bench_inputs(module_bytes) {
  const core = await Core.load(module_bytes);
  return member_counts.map((member_count) => {
    const group = bench_group(core, member_count);
    const { order } = core.write_input(group);
    const input = core.input_bytes();
    // Every timed call starts from the same state: this input block and a zero carry (the
    // module works in both during a call, so each engine writes them before every call).
    const { output, carry } = core.compute_raw(input);
    const decision = core.read_output(order, group.self, carry);
    if (decision.error !== 'ok') throw new Error(`bench group of ${member_count}: core answered ${decision.error}`);
    if (decision.demanding_count !== member_count || decision.allocations.some((a) => !(a.target_current > 0))) {
      throw new Error(`bench group of ${member_count}: not every member demands and gets current`);
    }
    return { member_count, input, output };
  });
}
