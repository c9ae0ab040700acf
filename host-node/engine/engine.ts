// The engine: one charger's facts and its calls into the decision module, sans I/O.
//
// The module is the whole protocol (ABI 4): every rule and everything the rules remember
// (committed currents, the shares my views gave each member, degraded and mismatch timers,
// the demand cap) lives in the module and its carry block. The engine only records facts —
// each member's latest status and the monotonic time it arrived, this charger's own
// controller, its config — hands them and the carry to the module, keeps the carry it gets
// back, and applies the decision. Two clocks come in: `monotonic` for every protocol timer,
// `clock` (wall) for the group's rotation epochs and display only.
//
// Call order (documented once): the adapters hand in events with handle_* (a peer's status
// or delta arrived, the local EVSE changed, the config or member list changed), then call
// tick(); tick() calls the module when something changed, the tick interval passed, or the
// module asked to be called again (next_call_ms), and applies the result to the shaper. The
// adapters then take out what to publish with poll_status() and what happened with
// poll_events(), and wake the engine again after wake_in_ms() at the latest.
//
// Where the engine itself decides (docs/architecture.md): load sharing switched off by the
// user (the charger applies its own maximum; the module is told so as a fact), and the
// guard's fallback when the module traps or breaks an invariant.
import { createHash, randomInt } from 'node:crypto';
import { type Core, type Decision, type GroupView, type MemberView, self_config_hash } from '../core.js';
import { guarded_compute } from '../guard.js';
import { MEMBERS_MAX } from '../abi.js';
// The wire's merge (a block older than the one taken keeps the taken config, wire.ts).
import { merge_status } from '../station/wire.js';
import {
  type Clock, type Shaper, type LoadSharingConfig, type ProtocolTiming, type LocalEvseStatus,
  type LoadSharingBlock, type PeerStatusDoc, type EngineEvent, default_timing,
} from './types.js';

export interface PeerEntry {
  id: string;
  status: PeerStatusDoc; // merged from the first full document and every delta since
  last_seen_ms: number | null; // monotonic; changes only when a message arrives
  // Removed from the group (rule 8), heard or not: the module keeps it reserved while it may
  // charge here; it is forgotten once it says a person set it up on its own, or a person
  // says it is gone (forget_member).
  leaving: boolean;
  // Its last full document had no loadsharing block: a charger without load sharing on the
  // same breaker (upstream firmware, another brand behind an adapter; docs/protocol.md rule 3).
  uncontrolled?: boolean;
  // The lowest limit it reported since the last tick (finding I): a lower limit told binds at
  // least one call (then the carry keeps it until the group agrees, rule 7), even when a later
  // status between the same two ticks (an older frame that a link reordered) says a higher one.
  told_low?: { limit_a: number; group_max_current: number; safety_factor?: number };
}

// The checked fields of a member's load-sharing block (peer_member), with what they came from.
interface BlockPart {
  block: unknown;
  status_max_current: unknown;
  min_current: number;
  max_current: number;
  priority: number;
  degraded: boolean;
  demand?: boolean;
  seen?: string[];
  alloc?: Record<string, number>;
  applied?: number;
  committed?: number;
  demand_cap?: number;
  group_max_current?: number;
  safety_factor?: number;
  config_hash?: string;
  safety?: MemberView['safety'];
}

export interface EngineOptions {
  id: string;
  core: Core;
  clock: Clock; // wall clock: rotation epochs, display
  monotonic?: Clock; // every protocol timer (default: clock, for tests on one virtual time)
  clock_epoch?: number; // identifies the monotonic clock's origin (default: random per engine)
  shaper: Shaper;
  config: LoadSharingConfig;
  local: LocalEvseStatus;
  members?: string[]; // peer ids (self is always a member)
  alone_confirmed?: boolean; // a person set this charger up on its own (default: it starts with no members)
  timing?: Partial<ProtocolTiming>;
  carry?: Uint8Array | null; // a carry kept from before (e.g. persisted); the module decides whether it continues
}

// A member's facts for the module, every field present (undefined where absent) and in one
// order: the core's input writer reads them for every member of every call, and objects of
// one shape keep its property reads monomorphic (mixed shapes made it three times slower).
function member_view(id: string): MemberView {
  return {
    id, last_seen_ms: undefined, vehicle: 0, state: 1, amp_ma: 0, voltage: 240, min_current: 6, max_current: 32, priority: 0,
    demand: undefined, seen: undefined, degraded: undefined, alloc: undefined, applied: undefined, committed: undefined,
    demand_cap: undefined, group_max_current: undefined, safety_factor: undefined, config_hash: undefined, leaving: undefined,
    uncontrolled: undefined, pilot: undefined, safety: undefined,
  };
}

export class Engine {
  readonly id: string;
  private core: Core;
  private module_hash: string;
  private readonly clock: Clock;
  private readonly monotonic: Clock;
  private readonly clock_epoch: number;
  private readonly shaper: Shaper;
  private readonly timing: ProtocolTiming;
  private config: LoadSharingConfig;
  private config_hash = '';
  private local: LocalEvseStatus;
  private readonly peers = new Map<string, PeerEntry>();
  private carry: Uint8Array | null;
  private decision: Decision | null = null;
  private applied_a = 0; // what this engine gave the shaper last (a fact for the next call)
  private committed_a = 0; // published: the module's committed current, never below applied
  private demand_cap_a = 0;
  private stale = true;
  private last_compute_ms: number | null = null;
  private events: EngineEvent[] = [];
  private guard_reason: string | null = null;
  private alone_confirmed: boolean;
  private readonly block_parts = new WeakMap<PeerEntry, BlockPart>(); // peer_member's, per member
  private readonly unticked = new Set<PeerEntry>(); // members heard since the last tick (told_low)

  constructor(options: EngineOptions) {
    this.id = options.id;
    this.core = options.core;
    this.module_hash = sha256_hex(options.core.module_bytes);
    this.clock = options.clock;
    this.monotonic = options.monotonic ?? options.clock;
    this.clock_epoch = options.clock_epoch ?? randomInt(0, 2 ** 32 - 1);
    this.shaper = options.shaper;
    this.timing = { ...default_timing, ...options.timing };
    this.config = { ...options.config };
    this.local = { ...options.local };
    this.carry = options.carry ?? null;
    // A charger set up with no members is on its own by a person's choice.
    this.alone_confirmed = options.alone_confirmed ?? (options.members ?? []).length === 0;
    // Before its first decision a (re)started charger does not know what its car still
    // follows: it publishes what the module's safe start will assume (its maximum, or the
    // pilot its controller still offers).
    this.committed_a = Math.max(this.local.max_current, this.local.pilot);
    for (const peer of options.members ?? []) this.add_member(peer);
    this.rehash();
    // Until the first decision this charger allows nothing.
    this.shaper.set_loadsharing_limit_a(0);
  }

  // ---- handle_*: inputs ----

  // The engine keeps the document's loadsharing block as it is handed (a changed block comes
  // as a new object, as the station's merge makes it): it is not to be changed afterwards.
  handle_peer_status(peer_id: string, doc: PeerStatusDoc, full = false): void {
    const entry = this.peers.get(peer_id);
    if (!entry) return; // not a member: ignored (the adapter logs it)
    const before = entry.last_seen_ms !== null ? this.reported_limit(entry) : null;
    if (before !== null && this.unticked.has(entry) && (entry.told_low === undefined || before.limit_a < entry.told_low.limit_a)) entry.told_low = before;
    this.unticked.add(entry);
    entry.status = full ? { ...doc } : merge_status(entry.status, doc);
    if (full) entry.uncontrolled = doc.loadsharing === undefined;
    entry.last_seen_ms = this.monotonic.now_ms();
    this.stale = true;
  }

  handle_local_status(local: Partial<LocalEvseStatus>): void {
    this.local = { ...this.local, ...local };
    this.stale = true;
  }

  handle_config(config: LoadSharingConfig): void {
    this.config = { ...config };
    this.rehash();
    this.stale = true;
  }

  // Replaces the core (a verified module swap); the next tick uses it.
  handle_core(core: Core): void {
    this.core = core;
    this.module_hash = sha256_hex(core.module_bytes);
    this.rehash();
    this.stale = true;
  }

  add_member(peer_id: string): void {
    if (peer_id === this.id) return;
    const known = this.peers.get(peer_id);
    if (known) {
      if (known.leaving) { known.leaving = false; this.rehash(); this.stale = true; }
      return;
    }
    // The member table holds members_max entries: a leaving member makes room first.
    if (this.peers.size + 1 >= MEMBERS_MAX) {
      const leaving = [...this.peers.values()].filter((p) => p.leaving).sort((a, b) => (a.last_seen_ms ?? -Infinity) - (b.last_seen_ms ?? -Infinity))[0];
      if (leaving) this.peers.delete(leaving.id);
    }
    this.peers.set(peer_id, { id: peer_id, status: {}, last_seen_ms: null, leaving: false });
    this.rehash();
    this.stale = true;
  }

  // A member removed from the group stays in the table as leaving (rule 8), heard or not: it
  // may still charge here, and a charger that never heard it (booted after the removal, or
  // cut off from it) still shares the breaker with it (fuzz seed 9040976: c2, down when c3
  // was removed, never reserved it and kept 13 A of a 38.5 A limit the others shared as
  // 11 A beside c3's 6 A). A person frees the reserve by saying it is gone (?gone=true).
  remove_member(peer_id: string): void {
    const entry = this.peers.get(peer_id);
    if (!entry || entry.leaving) return;
    entry.leaving = true;
    this.rehash();
    this.stale = true;
  }

  // A removed member that had fallen silent, from before a restart (stored with the peers):
  // kept as leaving and reserved like any silent one until it says a person set it up on its
  // own, or a person says it is gone (rule 8).
  restore_leaving(peer_id: string): void {
    if (peer_id === this.id || this.peers.has(peer_id) || this.peers.size + 1 >= MEMBERS_MAX) return;
    this.peers.set(peer_id, { id: peer_id, status: {}, last_seen_ms: null, leaving: true });
    this.rehash();
    this.stale = true;
  }

  // A person says a member no longer draws from this breaker (switched off, taken away): it is
  // forgotten at once, leaving or not. The carry still keeps what it may draw through its hold
  // after it was last heard.
  forget_member(peer_id: string): void {
    if (!this.peers.delete(peer_id)) return;
    this.rehash();
    this.stale = true;
  }

  // A person set this charger up on its own (no members): it may use the whole limit. Until
  // then a charger whose members all left stays at its failsafe current (rule 8).
  is_alone_confirmed(): boolean {
    return this.alone_confirmed;
  }

  confirm_alone(confirmed: boolean): void {
    if (this.alone_confirmed === confirmed) return;
    this.alone_confirmed = confirmed;
    this.stale = true;
  }

  // Leaving members that said a person set them up on their own are forgotten (the module
  // reserves nothing for them any more). One that stays silent is not: it may be cut off and
  // never have heard of its removal, or crashed, and sit at its failsafe current on this
  // breaker; the module reserves it like an offline member (campaign seed 7000059). Nor is
  // one this charger never heard (campaign seed 12209538: c5, up since 8 s, had not yet heard
  // c1, which booted at 18 s, when c1 was removed at 13 s; it forgot c1 at its next tick,
  // and after the limit fell to 39.2 A it rose to 31 A beside c4's 7 A and c1's 6 A failsafe
  // current, cut off and never told of its removal).
  private forget_left_members(_now_ms: number): void {
    for (const entry of [...this.peers.values()]) {
      if (!entry.leaving) continue;
      if (entry.status.loadsharing?.alone_confirmed === true) this.peers.delete(entry.id);
    }
  }

  // ---- tick ----

  tick(): Decision {
    const now_ms = this.monotonic.now_ms();
    const due = this.last_compute_ms === null || now_ms - this.last_compute_ms >= this.timing.tick_interval_ms;
    const asked = this.decision?.next_call_ms !== null && this.decision !== null && this.decision.next_call_ms! <= now_ms;
    if (this.decision && !this.stale && !due && !asked) return this.decision;
    this.stale = false;
    this.last_compute_ms = now_ms;
    this.forget_left_members(now_ms);
    const view = this.build_view(now_ms);
    for (const entry of this.unticked) entry.told_low = undefined;
    this.unticked.clear();
    const previous = this.decision;
    const previous_applied_a = this.applied_a;
    const guarded = guarded_compute(this.core, view, previous_applied_a);
    const decision = guarded.decision;
    if (guarded.tripped && guarded.trip_reason !== this.guard_reason) {
      this.events.push({ kind: 'guard_tripped', at_ms: this.clock.now_ms(), reason: guarded.trip_reason! });
    }
    this.guard_reason = guarded.trip_reason;
    // A module that trapped or broke an invariant leaves no memory behind: the carry it was
    // handed stays, and the next call learns the fallback as a fact (self_limit_a).
    if (!guarded.tripped) this.carry = decision.carry;
    // Load sharing switched off by the user: this charger is no longer limited by the group
    // (its own max_current still applies); the module learns it as a fact on the next call.
    const applied_a = this.config.enabled ? decision.self.applied_current : this.local.max_current;
    if (applied_a !== previous_applied_a) {
      this.events.push({ kind: 'applied_changed', at_ms: this.clock.now_ms(), from_a: previous_applied_a, to_a: applied_a, reason: decision.self.reason });
    }
    this.applied_a = applied_a;
    this.committed_a = Math.max(applied_a, guarded.tripped ? Math.max(this.committed_a, previous_applied_a) : decision.committed_current);
    if (!guarded.tripped) this.demand_cap_a = decision.demand_cap;
    this.shaper.set_loadsharing_limit_a(applied_a);
    this.record_events(previous, decision, this.clock.now_ms());
    if (!guarded.tripped && decision.carry_status !== 'continued' && decision.carry_status !== 'fresh') {
      this.events.push({ kind: 'carry_safe_start', at_ms: this.clock.now_ms(), status: decision.carry_status });
    }
    this.decision = decision;
    return decision;
  }

  // ---- poll_*: outputs ----

  // When the engine wants its next tick (monotonic ms): the periodic interval, or sooner
  // when the module asked to be called again (a protocol timer expires).
  next_wake_ms(): number {
    const now_ms = this.monotonic.now_ms();
    const periodic = (this.last_compute_ms ?? now_ms) + this.timing.tick_interval_ms;
    return Math.min(periodic, this.decision?.next_call_ms ?? Infinity);
  }

  // The same as a delay from now (for hosts whose timers take delays).
  wake_in_ms(): number {
    return Math.max(0, this.next_wake_ms() - this.monotonic.now_ms());
  }

  poll_events(): EngineEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  // The block this charger publishes (inside its /status document, key `loadsharing`).
  poll_status(): LoadSharingBlock {
    const d = this.decision;
    const seen = [this.id];
    const alloc: Record<string, number> = {};
    if (d) {
      for (const a of d.allocations) {
        if (a.leaving) continue;
        // A charger without load sharing is no member of anyone's seen-set (rule 3).
        if (a.online && a.id !== this.id && !a.uncontrolled) seen.push(a.id);
        alloc[a.id] = a.target_current;
      }
    }
    return {
      id: this.id,
      seen: seen.sort(),
      degraded: d?.self.degraded ?? true,
      failsafe_active: d?.self.failsafe_active ?? true,
      alloc,
      applied_current: this.applied_a,
      committed_current: this.committed_a,
      target_current: d?.self.target_current ?? 0,
      demand: this.local.demand,
      demand_cap: this.demand_cap_a,
      min_current: this.local.min_current,
      max_current: this.local.max_current,
      priority: this.config.priority,
      group_max_current: this.config.group_max_current,
      safety_factor: this.config.safety_factor,
      heartbeat_timeout: this.config.heartbeat_timeout,
      failsafe_safe_current: this.config.failsafe_safe_current,
      failsafe_peer_assumed_current: this.config.failsafe_peer_assumed_current,
      config_version: this.config.config_version,
      config_hash: this.config_hash,
      module_hash: this.module_hash,
      reason: d?.self.reason ?? 'idle',
      left_alone: d?.left_alone ?? false,
      alone_confirmed: this.alone_confirmed,
    };
  }

  last_decision(): Decision | null {
    return this.decision;
  }

  // The carry the module left (what a host persists with the charger's state).
  carry_bytes(): Uint8Array | null {
    return this.carry;
  }

  computed_at(): number | null {
    return this.last_compute_ms;
  }

  peer_entries(): PeerEntry[] {
    return [...this.peers.values()];
  }

  current_config(): LoadSharingConfig {
    return { ...this.config };
  }

  current_config_hash(): string {
    return this.config_hash;
  }

  current_module_hash(): string {
    return this.module_hash;
  }

  local_status(): LocalEvseStatus {
    return { ...this.local };
  }

  guard_trip_reason(): string | null {
    return this.guard_reason;
  }

  // ---- internals ----

  private rehash(): void {
    try {
      // The group's members: those leaving it are not part of its config.
      const view = this.build_view(this.monotonic.now_ms());
      this.config_hash = self_config_hash(this.core, { ...view, members: view.members.filter((m) => !m.leaving) });
    } catch {
      this.config_hash = '';
    }
  }

  // This charger's own facts; its applied and committed currents and its demand cap are the
  // module's (from the carry), not the host's.
  private self_member(now_ms: number): MemberView {
    const m = member_view(this.id);
    m.last_seen_ms = now_ms;
    m.vehicle = this.local.vehicle;
    m.state = this.local.state;
    m.amp_ma = this.local.amp_ma;
    m.voltage = this.local.voltage;
    m.min_current = this.local.min_current;
    m.max_current = this.local.max_current;
    m.priority = this.config.priority;
    m.demand = this.local.demand;
    return m;
  }

  private peer_member(entry: PeerEntry): MemberView {
    const s = entry.status;
    const part = this.block_part(entry);
    const m = member_view(entry.id);
    m.vehicle = finite_or(s.vehicle, 0);
    m.state = finite_or(s.state, 1);
    m.amp_ma = Math.max(0, finite_or(s.amp, 0));
    m.voltage = Math.max(0, finite_or(s.voltage, 240));
    m.min_current = part.min_current;
    m.max_current = part.max_current;
    m.priority = part.priority;
    if (entry.last_seen_ms !== null) m.last_seen_ms = entry.last_seen_ms;
    if (entry.leaving) m.leaving = true;
    if (part.demand !== undefined) m.demand = part.demand;
    if (part.seen !== undefined) m.seen = part.seen;
    if (part.degraded) m.degraded = true;
    if (part.alloc !== undefined) m.alloc = part.alloc;
    if (part.applied !== undefined) m.applied = part.applied;
    if (part.committed !== undefined) m.committed = part.committed;
    if (part.demand_cap !== undefined) m.demand_cap = part.demand_cap;
    if (part.group_max_current !== undefined) m.group_max_current = part.group_max_current;
    if (part.safety_factor !== undefined) m.safety_factor = part.safety_factor;
    const low = entry.told_low;
    if (low !== undefined && low.limit_a < this.limit_of(part)) {
      m.group_max_current = low.group_max_current;
      m.safety_factor = low.safety_factor;
    }
    if (part.config_hash !== undefined) m.config_hash = part.config_hash;
    if (part.safety !== undefined) m.safety = part.safety;
    // A peer that publishes no load-sharing block (e.g. upstream firmware) still draws what
    // it draws: it counts as settled at its measured current at least.
    if (s.loadsharing === undefined && m.applied === undefined) m.applied = m.amp_ma / 1000;
    // Rule 3: the module reserves it, min(max_current, its pilot while fresh), at least what
    // it draws; a maximum it does not say is the whole breaker.
    if (entry.uncontrolled) {
      m.uncontrolled = true;
      m.max_current = is_amount(s.max_current) && s.max_current > 0 ? s.max_current : this.config.group_max_current;
      if (m.min_current > m.max_current) m.min_current = m.max_current;
      if (is_amount(s.pilot)) m.pilot = s.pilot;
    }
    return m;
  }

  // The limit a member's block reports (group_max_current x its safety factor, ours when it
  // reports none), or null when it reports none.
  private reported_limit(entry: PeerEntry): NonNullable<PeerEntry['told_low']> | null {
    const part = this.block_part(entry);
    if (part.group_max_current === undefined) return null;
    return { limit_a: this.limit_of(part), group_max_current: part.group_max_current, safety_factor: part.safety_factor };
  }

  private limit_of(part: BlockPart): number {
    if (part.group_max_current === undefined) return Infinity;
    return part.group_max_current * (part.safety_factor ?? this.config.safety_factor);
  }

  // What a member's view takes from its load-sharing block, checked. A block changes far less
  // often than the document around it (the clock and the current move every second; the
  // station replaces the block object whenever a message brings a new one, never edits it),
  // so the checked part is kept per member while its block object (and the top-level
  // max_current it falls back on) stays the same.
  private block_part(entry: PeerEntry): BlockPart {
    const s = entry.status;
    const known = this.block_parts.get(entry);
    if (known !== undefined && known.block === s.loadsharing && known.status_max_current === s.max_current) return known;
    const b = s.loadsharing ?? {};
    const part: BlockPart = {
      block: s.loadsharing,
      status_max_current: s.max_current,
      min_current: Math.max(0, finite_or(b.min_current, 6)),
      max_current: Math.max(0, finite_or(b.max_current, finite_or(s.max_current, 32))),
      priority: Math.trunc(finite_or(b.priority, 0)),
      degraded: b.degraded === true,
    };
    if (part.min_current > part.max_current) part.min_current = part.max_current;
    if (typeof b.demand === 'boolean') part.demand = b.demand;
    if (Array.isArray(b.seen)) part.seen = Object.freeze(b.seen.filter((x): x is string => typeof x === 'string')) as string[];
    if (b.alloc && typeof b.alloc === 'object') {
      part.alloc = Object.freeze(Object.fromEntries(Object.entries(b.alloc).filter(([, v]) => typeof v === 'number' && Number.isFinite(v) && v >= 0)));
    }
    if (is_amount(b.applied_current)) part.applied = b.applied_current;
    if (is_amount(b.committed_current)) part.committed = b.committed_current;
    if (is_amount(b.demand_cap) && b.demand_cap > 0) part.demand_cap = b.demand_cap;
    if (is_amount(b.group_max_current)) part.group_max_current = b.group_max_current;
    if (typeof b.safety_factor === 'number' && b.safety_factor > 0 && b.safety_factor <= 1) part.safety_factor = b.safety_factor;
    if (typeof b.config_hash === 'string' && /^[0-9a-f]{64}$/.test(b.config_hash)) part.config_hash = b.config_hash;
    if (is_amount(b.heartbeat_timeout) && b.heartbeat_timeout > 0 && is_amount(b.failsafe_safe_current) && is_amount(b.failsafe_peer_assumed_current)) {
      part.safety = {
        heartbeat_timeout_ms: b.heartbeat_timeout * 1000,
        failsafe_safe_current: b.failsafe_safe_current,
        failsafe_peer_assumed_current: b.failsafe_peer_assumed_current,
      };
    }
    this.block_parts.set(entry, part);
    return part;
  }

  // The facts of one call (now_ms is the monotonic clock).
  build_view(now_ms: number): GroupView {
    const c = this.config;
    const members = [this.self_member(now_ms), ...[...this.peers.values()].map((p) => this.peer_member(p))];
    const view: GroupView = {
      now_ms,
      wall_ms: this.clock.now_ms(),
      clock_epoch: this.clock_epoch,
      self: this.id,
      config: {
        group_id: c.group_id,
        group_max_current: c.group_max_current,
        safety_factor: c.safety_factor,
        heartbeat_timeout: c.heartbeat_timeout,
        failsafe_mode: c.failsafe_mode,
        failsafe_safe_current: c.failsafe_safe_current,
        failsafe_peer_assumed_current: c.failsafe_peer_assumed_current,
        rotation_interval: c.rotation_interval,
        ev_response_ms: this.timing.ev_response_ms,
        seen_grace_ms: this.timing.seen_grace_ms,
        message_delay_max_ms: this.timing.message_delay_max_ms,
      },
      members,
      self_pilot_a: this.local.pilot,
      alone_confirmed: this.alone_confirmed,
      self_limit_a: this.decision ? this.applied_a : null,
      carry: this.carry,
    };
    if (this.config_hash) view.config_hash = this.config_hash;
    return view;
  }

  private record_events(previous: Decision | null, next: Decision, now_ms: number): void {
    const before = previous?.allocations ?? [];
    for (const a of next.allocations) {
      const b = allocation_of(before, a.id);
      if (a.id !== this.id && a.online !== (b?.online ?? false)) {
        this.events.push({ kind: a.online ? 'peer_online' : 'peer_offline', at_ms: now_ms, peer: a.id });
      }
      const from_a = b?.target_current ?? 0;
      if (Math.abs(a.target_current - from_a) >= 1) {
        this.events.push({ kind: 'allocation_changed', at_ms: now_ms, member: a.id, from_a, to_a: a.target_current, reason: a.reason });
      }
    }
    const was_failsafe = previous?.self.failsafe_active ?? false;
    if (next.self.failsafe_active && !was_failsafe) this.events.push({ kind: 'failsafe_entered', at_ms: now_ms, reason: next.self.reason });
    if (!next.self.failsafe_active && was_failsafe) this.events.push({ kind: 'failsafe_left', at_ms: now_ms });
    const was_degraded = previous?.self.degraded ?? false;
    if (next.self.degraded && !was_degraded) this.events.push({ kind: 'degraded_entered', at_ms: now_ms });
    if (!next.self.degraded && was_degraded) this.events.push({ kind: 'degraded_left', at_ms: now_ms });
    const was_inconsistent = previous ? !previous.config_consistent : false;
    if (!next.config_consistent && !was_inconsistent) {
      this.events.push({ kind: 'config_inconsistent', at_ms: now_ms, peers: next.allocations.filter((a) => a.config_mismatch).map((a) => a.id) });
    }
  }
}

// A member's allocation in a decision (the last with that id, as a map of them would give):
// at most 16, scanned once per member and tick.
function allocation_of(allocations: Decision['allocations'], id: string): Decision['allocations'][number] | undefined {
  for (let i = allocations.length - 1; i >= 0; i--) if (allocations[i].id === id) return allocations[i];
  return undefined;
}

function finite_or(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function is_amount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

export function sha256_hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
