// Every reason code the core gives a number (host-node/abi.ts REASON_NAMES) in plain words.
// The member-level codes explain an allocation; the self-level ones (view_minimum,
// waiting_for_peers, degraded, guard_failsafe) explain why the applied limit is lower.
// test/ui-model.test.ts fails when the core gains a code that has no words here.

export interface ReasonContext {
  reserved_current_a?: number; // what this node reserves for the member (offline/degraded)
  in_hold?: boolean; // offline, but still within the hold that reserves its last committed current
  waiting_for?: string[]; // members that must give current up before this one may increase
  failsafe_current_a?: number;
  reserve_basis?: string; // uncontrolled: what the reserve is based on (host-node/node/uncontrolled.ts)
}

export const REASON_WORDS: Record<string, (c: ReasonContext) => string> = {
  idle: () => 'not charging',
  equal_share: () => 'equal share',
  capped_max: () => 'at its maximum',
  demand_cap: () => 'car takes less than offered',
  min_subset: () => 'minimum only: not enough for more',
  insufficient: () => 'paused: not enough for its minimum (takes turns)',
  offline: (c) => c.in_hold
    ? `offline: reserving its last ${amps(c.reserved_current_a)}`
    : `offline: reserving ${amps(c.reserved_current_a)}`,
  failsafe_disabled: () => 'failsafe: charging stopped',
  reserved: (c) => `degraded: reserving ${amps(c.reserved_current_a)}`,
  degraded: (c) => `degraded: limited to the failsafe current${c.failsafe_current_a === undefined ? '' : ` (${amps(c.failsafe_current_a)})`}`,
  waiting_for_peers: (c) => c.waiting_for && c.waiting_for.length > 0
    ? `waiting for ${c.waiting_for.join(', ')} to reduce`
    : 'waiting for others to reduce',
  view_minimum: () => 'another charger allows less (lowest view wins)',
  input_error: () => 'failsafe: the decision had bad input',
  guard_failsafe: () => 'failsafe: the decision failed a safety check',
  not_joined: () => 'discovered, not in the group',
  uncontrolled: (c) => c.reserve_basis === 'pilot'
    ? `no load sharing: reserving its pilot, ${amps(c.reserved_current_a)}`
    : c.reserve_basis === 'measured'
      ? `no load sharing: reserving what it draws, ${amps(c.reserved_current_a)}`
      : c.reserve_basis === 'group_max_current'
        ? `no load sharing, maximum unknown: reserving ${amps(c.reserved_current_a)}`
        : `no load sharing: reserving its maximum, ${amps(c.reserved_current_a)}`,
};

export function reason_words(code: string | null | undefined, context: ReasonContext = {}): string {
  if (code === null || code === undefined || code === '') return '';
  const words = REASON_WORDS[code];
  return words ? words(context) : code.replace(/_/g, ' ');
}

function amps(value: number | undefined): string {
  return value === undefined ? 'its share' : `${format_amps(value)} A`;
}

export function format_amps(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
