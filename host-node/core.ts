// The Node binding of the decision core: plain WebAssembly, no loader. Writes one view into
// the input block, calls compute(), reads the output block into a typed result.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as abi from './abi.js';

export type FailsafeMode = 'safe_current' | 'disable';
export type Reason = (typeof abi.REASON_NAMES)[number];
export type ErrorName = (typeof abi.ERROR_NAMES)[number];

export interface GroupConfig {
  group_id?: string;
  group_max_current: number;
  safety_factor: number;
  heartbeat_timeout: number; // seconds
  failsafe_mode: FailsafeMode;
  failsafe_safe_current: number;
  failsafe_peer_assumed_current: number;
  rotation_interval: number; // seconds, 0 disables rotation
  ev_response_ms?: number;
  seen_grace_ms?: number;
  message_delay_max_ms?: number;
}

export interface MemberView {
  id: string;
  last_seen_ms?: number; // monotonic time its last message arrived; absent: never heard
  vehicle: number;
  state: number;
  amp_ma: number;
  voltage: number;
  min_current: number;
  max_current: number;
  priority: number;
  demand?: boolean;
  seen?: string[]; // absent: not reported (no seen-set check)
  degraded?: boolean;
  alloc?: Record<string, number>;
  applied?: number;
  committed?: number;
  demand_cap?: number;
  group_max_current?: number;
  safety_factor?: number;
  config_hash?: string; // 64 hex digits
  leaving?: boolean; // removed from the group but still heard (rule 8)
  // A charger without load sharing on the same breaker (rule 3): reserved, never allocated.
  uncontrolled?: boolean;
  pilot?: number; // the pilot an uncontrolled member reports (A); the module judges its freshness
  // The safety settings the member reports configured (rule 8).
  safety?: { heartbeat_timeout_ms: number; failsafe_safe_current: number; failsafe_peer_assumed_current: number };
}

// One call's facts. Two clocks: now_ms is this charger's monotonic clock (every protocol
// timer, every member's last_seen_ms); wall_ms is the wall clock (rotation epochs only;
// defaults to now_ms for one-off decisions).
export interface GroupView {
  now_ms: number;
  alone_confirmed?: boolean; // a person set this charger up on its own (rule 8: else a charger whose members all left stays at its failsafe current)
  wall_ms?: number;
  clock_epoch?: number; // identifies the monotonic clock's origin (u32); a carry from another is not continued
  self: string;
  config: GroupConfig;
  members: MemberView[];
  config_hash?: string; // this charger's config hash, 64 hex digits
  self_pilot_a?: number; // the pilot this charger's controller offers now
  self_limit_a?: number | null; // the load-sharing limit the host applied after the previous call
  carry?: Uint8Array | null; // what the previous call left in the carry block; absent: the safe start
}

export type CarryStatus = (typeof abi.CARRY_STATUS_NAMES)[number];

export interface MemberDecision {
  id: string;
  target_current: number;
  reason: Reason;
  online: boolean;
  degraded: boolean;
  demanding: boolean;
  reserved_current: number;
  seen_mismatch: boolean;
  config_mismatch: boolean;
  in_hold: boolean;
  leaving: boolean;
  uncontrolled: boolean; // a charger without load sharing (rule 3), reserved_current kept for it
  sort_rank: number;
}

export interface Decision {
  error: ErrorName;
  error_member: string | null;
  self: {
    id: string;
    target_current: number;
    applied_current: number;
    own_view_current: number;
    degraded: boolean;
    failsafe_active: boolean;
    reason: Reason;
  };
  budget_current: number;
  effective_limit: number;
  reserved_current: number;
  allocated_sum: number;
  online_count: number;
  offline_count: number;
  demanding_count: number;
  config_consistent: boolean;
  seen_mismatch: boolean;
  no_quorum: boolean;
  mismatch_since_ms: number | null; // monotonic, for display (the carry keeps it)
  degraded_since_ms: number | null; // monotonic, for display (the carry keeps it)
  offline_hold_ms: number;
  committed_current: number; // the highest limit allowed within ev_response (published)
  demand_cap: number; // this charger's own demand cap, 0 = none (published)
  next_call_ms: number | null; // monotonic time by which the module wants to be called again
  carry_status: CarryStatus;
  // Rule 8: the safety settings every rule used (the most conservative told until the group
  // agrees), whether they differ from this charger's own, and whether all members left.
  settings: { heartbeat_timeout_ms: number; failsafe_safe_current: number; failsafe_peer_assumed_current: number };
  settings_differ: boolean;
  left_alone: boolean;
  allocations: MemberDecision[];
  carry: Uint8Array; // hand it back on the next call
}

// The group-critical fields (docs/config-hash.md): the group config and every member id.
export type ConfigHashInput = Omit<GroupConfig, 'group_id' | 'ev_response_ms' | 'seen_grace_ms' | 'message_delay_max_ms'> & {
  group_id: string;
  members: string[];
};

export const defaults = {
  ev_response_ms: 5000,
  seen_grace_ms: 3000,
  message_delay_max_ms: 2000,
} as const;

interface CoreExports {
  memory: WebAssembly.Memory;
  abi_version(): number;
  input_ptr(): number;
  output_ptr(): number;
  carry_ptr(): number;
  config_ptr(): number;
  config_out_ptr(): number;
  compute(): number;
  config_hash(): number;
}

const required_exports = [
  'memory', 'abi_version', 'input_ptr', 'output_ptr', 'carry_ptr', 'config_ptr', 'config_out_ptr', 'compute', 'config_hash',
] as const;

export class CoreLoadError extends Error {}
export class CoreInputError extends Error {}


export function read_default_module(): Uint8Array {
  return readFileSync(resolve_module_path());
}

// The repository root, from host-node/ (vitest) and from dist/host-node/ (compiled CLI).
export function project_root(): string {
  const here = fileURLToPath(import.meta.url);
  return here.includes('/dist/host-node/') ? here.split('/dist/host-node/')[0] : here.split('/host-node/')[0];
}

function resolve_module_path(): string {
  return `${project_root()}/build/loadsharing.wasm`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Ids and hashes repeat on every call (the same members, tick after tick): their bytes are
// memoised so that encoding a view costs little next to compute() itself. Bounded: a cache
// that grows past memo_max entries is dropped and refilled.
const memo_max = 4096;
const id_bytes_memo = new Map<string, Uint8Array>();
const hash_bytes_memo = new Map<string, Uint8Array>();

function encode_id(id: string): Uint8Array {
  let bytes = id_bytes_memo.get(id);
  if (bytes === undefined) {
    if (id_bytes_memo.size >= memo_max) id_bytes_memo.clear();
    bytes = encoder.encode(id);
    id_bytes_memo.set(id, bytes);
  }
  return bytes;
}

export function compare_ids(a: string, b: string): number {
  const x = encode_id(a);
  const y = encode_id(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

function hex_to_bytes(hex: string, what: string): Uint8Array {
  const known = hash_bytes_memo.get(hex);
  if (known !== undefined) return known;
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new CoreInputError(`${what}: config hash must be 64 hex digits`);
  const bytes = Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)));
  if (hash_bytes_memo.size >= memo_max) hash_bytes_memo.clear();
  hash_bytes_memo.set(hex, bytes);
  return bytes;
}

export function bytes_to_hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

interface Typed { u8: Uint8Array; f64: Float64Array; u32: Uint32Array; i32: Int32Array }

const carry_slab_count = 16;
let carry_slab = new Uint8Array(0);
let carry_slab_used = carry_slab_count;

// The ABI is little-endian; typed arrays use the machine's order.
const little_endian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// A member's seen set as a mask over the table's order, and whether it names anyone outside
// it. Kept per seen array while the order is the same, for a frozen array only (one that
// cannot change behind the cache): the engine freezes a member's checked block, and keeps it
// until the block changes.
const seen_masks = new WeakMap<string[], { index_of: Map<string, number>; mask: number; extra: boolean }>();
function seen_mask(seen: string[], index_of: Map<string, number>): { mask: number; extra: boolean } {
  const frozen = Object.isFrozen(seen);
  const known = frozen ? seen_masks.get(seen) : undefined;
  if (known !== undefined && known.index_of === index_of) return known;
  let mask = 0;
  let extra = false;
  for (let k = 0; k < seen.length; k++) {
    const j = index_of.get(seen[k]);
    if (j === undefined) extra = true;
    else mask |= 1 << j;
  }
  const out = { index_of, mask: mask >>> 0, extra };
  if (frozen) seen_masks.set(seen, out);
  return out;
}

// A member's allocations by table index (a share for someone I do not know changes nothing
// for me), kept per frozen alloc object like seen_mask.
const alloc_masks = new WeakMap<Record<string, number>, { index_of: Map<string, number>; mask: number; index: number[]; value: number[] }>();
function alloc_slots(alloc: Record<string, number>, index_of: Map<string, number>): { mask: number; index: number[]; value: number[] } {
  const frozen = Object.isFrozen(alloc);
  const known = frozen ? alloc_masks.get(alloc) : undefined;
  if (known !== undefined && known.index_of === index_of) return known;
  let mask = 0;
  const index: number[] = [];
  const value: number[] = [];
  for (const id_alloc of Object.keys(alloc)) {
    const j = index_of.get(id_alloc);
    if (j === undefined) continue;
    mask |= 1 << j;
    index.push(j);
    value.push(alloc[id_alloc]);
  }
  const out = { index_of, mask: mask >>> 0, index, value };
  if (frozen) alloc_masks.set(alloc, out);
  return out;
}

export class Core {
  readonly module_bytes: Uint8Array;
  private readonly exports: CoreExports;
  private data_view: DataView | null = null; // over memory.buffer (view() renews it when memory grows)
  private typed_views: Typed | null = null;
  private index_cache: { ids: string[]; index_of: Map<string, number> } | null = null;

  private constructor(bytes: Uint8Array, exports: CoreExports) {
    this.module_bytes = bytes;
    this.exports = exports;
  }

  // Compiles a module without running any of it and checks its shape: no imports, every
  // export present. Safe for untrusted bytes.
  static async inspect(bytes: Uint8Array): Promise<WebAssembly.Module> {
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(bytes);
    } catch (error) {
      throw new CoreLoadError(`not a valid WebAssembly module: ${(error as Error).message}`);
    }
    const imports = WebAssembly.Module.imports(module);
    if (imports.length > 0) {
      throw new CoreLoadError(`module imports ${imports.map((i) => `${i.module}.${i.name}`).join(', ')}; a core module must import nothing`);
    }
    const names = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
    const missing = required_exports.filter((name) => !names.has(name));
    if (missing.length > 0) throw new CoreLoadError(`module lacks exports: ${missing.join(', ')}`);
    return module;
  }

  // Compiles, checks and instantiates a module: its shape, then our ABI version.
  static async load(bytes: Uint8Array = read_default_module()): Promise<Core> {
    const module = await Core.inspect(bytes);
    let instance: WebAssembly.Instance;
    try {
      instance = await WebAssembly.instantiate(module, {});
    } catch (error) {
      throw new CoreLoadError(`module failed to start: ${(error as Error).message}`);
    }
    const exports = instance.exports as unknown as CoreExports;
    const version = exports.abi_version();
    if (version !== abi.ABI_VERSION) {
      throw new CoreLoadError(`module ABI version ${version}, this host speaks ${abi.ABI_VERSION}`);
    }
    if (!little_endian) throw new CoreLoadError('this host writes the little-endian ABI with typed arrays and needs a little-endian machine');
    const input_at = exports.input_ptr();
    if (input_at % 8 !== 0) throw new CoreLoadError(`module's input block at ${input_at} does not start at an 8-byte boundary (docs/abi.md)`);
    return new Core(bytes, exports);
  }

  abi_version(): number {
    return this.exports.abi_version();
  }

  private view(): DataView {
    // Re-read after every call: memory.buffer is replaced if the module ever grows memory.
    const buffer = this.exports.memory.buffer;
    if (this.data_view === null || this.data_view.buffer !== buffer) this.data_view = new DataView(buffer);
    return this.data_view;
  }

  // Typed views over memory.buffer for the input block's writer (renewed when memory grows).
  // Every field of the input block sits at its size's alignment once the block starts at an
  // 8-byte boundary (docs/abi.md), and the ABI is little-endian like this machine: load()
  // refuses a module or a machine for which either is not so.
  private typed(): Typed {
    const buffer = this.exports.memory.buffer;
    if (this.typed_views === null || this.typed_views.u8.buffer !== buffer) {
      this.typed_views = { u8: new Uint8Array(buffer), f64: new Float64Array(buffer), u32: new Uint32Array(buffer), i32: new Int32Array(buffer) };
    }
    return this.typed_views;
  }

  // Writes a view into the input block; members are laid out in id order so that the same
  // group gives the same bytes whatever order the caller lists it in.
  // preserve_order keeps the caller's table order (tests use it to show the core itself does
  // not depend on the order).
  write_input(group: GroupView, options: { preserve_order?: boolean } = {}): { order: MemberView[] } {
    const count = group.members.length;
    if (count < 1 || count > abi.MEMBERS_MAX) {
      throw new CoreInputError(`members: ${count} given, 1..${abi.MEMBERS_MAX} allowed`);
    }
    const members = options.preserve_order ? group.members.slice() : group.members.slice().sort((a, b) => compare_ids(a.id, b.id));
    const index_of = this.index_map(members);
    if (index_of.size !== count) throw new CoreInputError('members: duplicate id');
    const self_index = index_of.get(group.self);
    if (self_index === undefined) throw new CoreInputError(`self: "${group.self}" is not in members`);
    const base = this.exports.input_ptr();
    const t = this.typed();
    t.u8.fill(0, base, base + abi.IN_SIZE);
    const f = base >> 3;
    const u = base >> 2;
    const c = group.config;
    t.f64[f + (abi.IN_MONO_MS >> 3)] = group.now_ms;
    t.f64[f + (abi.IN_WALL_MS >> 3)] = group.wall_ms ?? group.now_ms;
    t.f64[f + (abi.IN_SELF_PILOT_A >> 3)] = group.self_pilot_a ?? 0;
    t.u32[u + (abi.IN_CLOCK_EPOCH >> 2)] = (group.clock_epoch ?? 0) >>> 0;
    t.f64[f + (abi.IN_GROUP_MAX_CURRENT_A >> 3)] = c.group_max_current;
    t.f64[f + (abi.IN_SAFETY_FACTOR >> 3)] = c.safety_factor;
    t.f64[f + (abi.IN_HEARTBEAT_TIMEOUT_MS >> 3)] = c.heartbeat_timeout * 1000;
    t.f64[f + (abi.IN_FAILSAFE_SAFE_CURRENT_A >> 3)] = c.failsafe_safe_current;
    t.f64[f + (abi.IN_FAILSAFE_PEER_ASSUMED_CURRENT_A >> 3)] = c.failsafe_peer_assumed_current;
    t.f64[f + (abi.IN_ROTATION_INTERVAL_S >> 3)] = c.rotation_interval;
    t.f64[f + (abi.IN_EV_RESPONSE_MS >> 3)] = c.ev_response_ms ?? defaults.ev_response_ms;
    t.f64[f + (abi.IN_SEEN_GRACE_MS >> 3)] = c.seen_grace_ms ?? defaults.seen_grace_ms;
    t.f64[f + (abi.IN_MESSAGE_DELAY_MAX_MS >> 3)] = c.message_delay_max_ms ?? defaults.message_delay_max_ms;
    let flags = 0;
    if (group.alone_confirmed) flags |= abi.INPUT_FLAGS_ALONE_CONFIRMED;
    if (group.self_limit_a !== undefined && group.self_limit_a !== null) {
      t.f64[f + (abi.IN_SELF_LIMIT_A >> 3)] = group.self_limit_a;
      flags |= abi.INPUT_FLAGS_SELF_LIMIT_PRESENT;
    }
    if (group.config_hash !== undefined) {
      t.u8.set(hex_to_bytes(group.config_hash, 'config_hash'), base + abi.IN_CONFIG_HASH);
      flags |= abi.INPUT_FLAGS_CONFIG_HASH_PRESENT;
    }
    t.u32[u + (abi.IN_MEMBER_COUNT >> 2)] = count;
    t.u32[u + (abi.IN_SELF_INDEX >> 2)] = self_index;
    t.u32[u + (abi.IN_FAILSAFE_MODE >> 2)] = c.failsafe_mode === 'disable' ? abi.FAILSAFE_MODE_DISABLE : abi.FAILSAFE_MODE_SAFE_CURRENT;
    t.u32[u + (abi.IN_FLAGS >> 2)] = flags;
    for (let i = 0; i < count; i++) this.write_member(t, base + abi.IN_MEMBER_BASE + i * abi.IN_MEMBER_STRIDE, members[i], index_of);
    this.write_carry(group.carry ?? null);
    return { order: members };
  }

  // The index of each id in the table. Kept while the order stays the same (it does from one
  // call to the next unless a member comes or goes), so that a member's seen set and its
  // allocations, which change far less often, keep their masks (member_masks).
  private index_map(members: MemberView[]): Map<string, number> {
    const known = this.index_cache;
    if (known !== null && known.ids.length === members.length) {
      let same = true;
      for (let i = 0; i < members.length; i++) if (known.ids[i] !== members[i].id) { same = false; break; }
      if (same) return known.index_of;
    }
    const ids = members.map((m) => m.id);
    const index_of = new Map(ids.map((id, i) => [id, i]));
    this.index_cache = { ids, index_of };
    return index_of;
  }

  // One member's record at `at` (a byte offset in memory). Written field by field without
  // closures: it runs for every member of every call.
  private write_member(t: Typed, at: number, m: MemberView, index_of: Map<string, number>): void {
    const id = encode_id(m.id);
    if (id.length < 1 || id.length > abi.ID_BYTES_MAX) {
      throw new CoreInputError(`member "${m.id}": id must be 1..${abi.ID_BYTES_MAX} bytes`);
    }
    const f = at >> 3;
    const u = at >> 2;
    t.u8.set(id, at + abi.IN_MEMBER_ID);
    t.u32[u + (abi.IN_MEMBER_ID_LEN >> 2)] = id.length;
    let flags = 0;
    if (m.last_seen_ms !== undefined) { t.f64[f + (abi.IN_MEMBER_LAST_SEEN_MS >> 3)] = m.last_seen_ms; flags |= abi.MEMBER_FLAGS_LAST_SEEN; }
    if (m.degraded) flags |= abi.MEMBER_FLAGS_DEGRADED;
    if (m.leaving) flags |= abi.MEMBER_FLAGS_LEAVING;
    if (m.uncontrolled) flags |= abi.MEMBER_FLAGS_UNCONTROLLED;
    // Whole amps rounded up: a reserve is never below what the charger offers.
    if (m.pilot !== undefined && Number.isFinite(m.pilot) && m.pilot >= 0) {
      t.u32[u + (abi.IN_MEMBER_PILOT_A >> 2)] = Math.min(Math.ceil(m.pilot), 0xffffffff);
      flags |= abi.MEMBER_FLAGS_PILOT;
    }
    if (m.demand !== undefined) flags |= abi.MEMBER_FLAGS_DEMAND_PRESENT | (m.demand ? abi.MEMBER_FLAGS_DEMAND : 0);
    if (m.demand_cap !== undefined) { t.f64[f + (abi.IN_MEMBER_DEMAND_CAP_A >> 3)] = m.demand_cap; flags |= abi.MEMBER_FLAGS_DEMAND_CAP; }
    if (m.applied !== undefined) { t.f64[f + (abi.IN_MEMBER_APPLIED_A >> 3)] = m.applied; flags |= abi.MEMBER_FLAGS_APPLIED; }
    if (m.committed !== undefined) { t.f64[f + (abi.IN_MEMBER_COMMITTED_A >> 3)] = m.committed; flags |= abi.MEMBER_FLAGS_COMMITTED; }
    if (m.group_max_current !== undefined) { t.f64[f + (abi.IN_MEMBER_GROUP_MAX_CURRENT_A >> 3)] = m.group_max_current; flags |= abi.MEMBER_FLAGS_GROUP_MAX_CURRENT; }
    if (m.safety_factor !== undefined) { t.f64[f + (abi.IN_MEMBER_SAFETY_FACTOR >> 3)] = m.safety_factor; flags |= abi.MEMBER_FLAGS_SAFETY_FACTOR; }
    if (m.safety !== undefined) {
      t.f64[f + (abi.IN_MEMBER_HEARTBEAT_TIMEOUT_MS >> 3)] = m.safety.heartbeat_timeout_ms;
      t.f64[f + (abi.IN_MEMBER_FAILSAFE_SAFE_CURRENT_A >> 3)] = m.safety.failsafe_safe_current;
      t.f64[f + (abi.IN_MEMBER_FAILSAFE_PEER_ASSUMED_CURRENT_A >> 3)] = m.safety.failsafe_peer_assumed_current;
      flags |= abi.MEMBER_FLAGS_SAFETY_SETTINGS;
    }
    if (m.seen !== undefined) {
      const seen = seen_mask(m.seen, index_of);
      if (seen.extra) flags |= abi.MEMBER_FLAGS_SEEN_EXTRA;
      flags |= abi.MEMBER_FLAGS_SEEN;
      t.u32[u + (abi.IN_MEMBER_SEEN_MASK >> 2)] = seen.mask;
    }
    if (m.alloc !== undefined) {
      const alloc = alloc_slots(m.alloc, index_of);
      flags |= abi.MEMBER_FLAGS_ALLOC;
      for (let k = 0; k < alloc.index.length; k++) t.f64[f + (abi.IN_MEMBER_ALLOC_A >> 3) + alloc.index[k]] = alloc.value[k];
      t.u32[u + (abi.IN_MEMBER_ALLOC_MASK >> 2)] = alloc.mask;
    }
    if (m.config_hash !== undefined) {
      t.u8.set(hex_to_bytes(m.config_hash, `member "${m.id}"`), at + abi.IN_MEMBER_CONFIG_HASH);
      flags |= abi.MEMBER_FLAGS_CONFIG_HASH;
    }
    t.u32[u + (abi.IN_MEMBER_FLAGS >> 2)] = flags >>> 0;
    t.u32[u + (abi.IN_MEMBER_VEHICLE >> 2)] = m.vehicle >>> 0;
    t.u32[u + (abi.IN_MEMBER_STATE >> 2)] = m.state >>> 0;
    t.i32[u + (abi.IN_MEMBER_PRIORITY >> 2)] = m.priority;
    t.f64[f + (abi.IN_MEMBER_AMP_MA >> 3)] = m.amp_ma;
    t.f64[f + (abi.IN_MEMBER_VOLTAGE_V >> 3)] = m.voltage;
    t.f64[f + (abi.IN_MEMBER_MIN_CURRENT_A >> 3)] = m.min_current;
    t.f64[f + (abi.IN_MEMBER_MAX_CURRENT_A >> 3)] = m.max_current;
  }

  // The carry block: the bytes the previous call left (or zeros: the safe start).
  write_carry(carry: Uint8Array | null): void {
    const block = new Uint8Array(this.exports.memory.buffer, this.exports.carry_ptr(), abi.CARRY_SIZE);
    if (carry === null) { block.fill(0); return; }
    if (carry.length !== abi.CARRY_SIZE) throw new CoreInputError(`carry must be ${abi.CARRY_SIZE} bytes`);
    block.set(carry);
  }


  // A copy of the carry block. Copies are cut from slabs of 16 (a fresh ArrayBuffer for each
  // call's 4 KiB was a tenth of the simulator's time with the garbage it made); a copy keeps
  // its slab alive, so a host that keeps one carry keeps at most two slabs (128 KiB).
  carry_bytes(): Uint8Array {
    if (carry_slab_used === carry_slab_count) { carry_slab = new Uint8Array(carry_slab_count * abi.CARRY_SIZE); carry_slab_used = 0; }
    const copy = carry_slab.subarray(carry_slab_used * abi.CARRY_SIZE, (carry_slab_used + 1) * abi.CARRY_SIZE);
    carry_slab_used++;
    copy.set(new Uint8Array(this.exports.memory.buffer, this.exports.carry_ptr(), abi.CARRY_SIZE));
    return copy;
  }

  // Raw ABI access, for conformance vectors: input and carry bytes in, output and carry out.
  compute_raw(input: Uint8Array, carry: Uint8Array | null = null): { output: Uint8Array; carry: Uint8Array } {
    if (input.length !== abi.IN_SIZE) throw new CoreInputError(`input block must be ${abi.IN_SIZE} bytes`);
    new Uint8Array(this.exports.memory.buffer, this.exports.input_ptr(), abi.IN_SIZE).set(input);
    this.write_carry(carry);
    this.exports.compute();
    return { output: this.output_bytes(), carry: this.carry_bytes() };
  }

  input_bytes(): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer, this.exports.input_ptr(), abi.IN_SIZE).slice();
  }

  output_bytes(): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer, this.exports.output_ptr(), abi.OUT_SIZE).slice();
  }

  compute(group: GroupView, options: { preserve_order?: boolean } = {}): Decision {
    const { order } = this.write_input(group, options);
    this.exports.compute();
    return this.read_output(order, group.self, this.carry_bytes());
  }

  // Decodes an output block computed elsewhere (the native wasm3 host) exactly as our own.
  decode_output(order: MemberView[], self_id: string, output: Uint8Array, carry: Uint8Array): Decision {
    if (output.length !== abi.OUT_SIZE) throw new CoreInputError(`output block must be ${abi.OUT_SIZE} bytes`);
    new Uint8Array(this.exports.memory.buffer, this.exports.output_ptr(), abi.OUT_SIZE).set(output);
    return this.read_output(order, self_id, carry);
  }

  read_output(order: MemberView[], self_id: string, carry: Uint8Array): Decision {
    return decode_output(this.view(), this.exports.output_ptr(), order, self_id, carry);
  }

  // The config hash over the canonical bytes of docs/config-hash.md.
  config_hash(config: ConfigHashInput): { hash: string; canonical: string } {
    const base = this.exports.config_ptr();
    const block = new Uint8Array(this.exports.memory.buffer, base, abi.CFG_SIZE);
    block.fill(0);
    const v = this.view();
    const f64 = (offset: number, value: number) => v.setFloat64(base + offset, value, true);
    const u32 = (offset: number, value: number) => v.setUint32(base + offset, value >>> 0, true);
    const group_id = encoder.encode(config.group_id);
    if (group_id.length > abi.GROUP_ID_BYTES_MAX) throw new CoreInputError(`group_id: at most ${abi.GROUP_ID_BYTES_MAX} bytes`);
    if (config.members.length > abi.MEMBERS_MAX) throw new CoreInputError(`members: at most ${abi.MEMBERS_MAX}`);
    f64(abi.CFG_GROUP_MAX_CURRENT_A, config.group_max_current);
    f64(abi.CFG_SAFETY_FACTOR, config.safety_factor);
    f64(abi.CFG_HEARTBEAT_TIMEOUT_S, config.heartbeat_timeout);
    f64(abi.CFG_FAILSAFE_SAFE_CURRENT_A, config.failsafe_safe_current);
    f64(abi.CFG_FAILSAFE_PEER_ASSUMED_CURRENT_A, config.failsafe_peer_assumed_current);
    f64(abi.CFG_ROTATION_INTERVAL_S, config.rotation_interval);
    u32(abi.CFG_FAILSAFE_MODE, config.failsafe_mode === 'disable' ? abi.FAILSAFE_MODE_DISABLE : abi.FAILSAFE_MODE_SAFE_CURRENT);
    u32(abi.CFG_GROUP_ID_LEN, group_id.length);
    u32(abi.CFG_MEMBER_COUNT, config.members.length);
    block.set(group_id, abi.CFG_GROUP_ID);
    config.members.forEach((id, i) => {
      const bytes = encoder.encode(id);
      if (bytes.length < 1 || bytes.length > abi.ID_BYTES_MAX) throw new CoreInputError(`member "${id}": id must be 1..${abi.ID_BYTES_MAX} bytes`);
      const at = abi.CFG_MEMBER_BASE + i * abi.CFG_MEMBER_STRIDE;
      block.set(bytes, at + abi.CFG_MEMBER_ID);
      u32(at + abi.CFG_MEMBER_ID_LEN, bytes.length);
    });
    const code = this.exports.config_hash();
    if (code !== abi.ERROR_OK) throw new CoreInputError(`config hash refused the config: ${abi.ERROR_NAMES[code] ?? code}`);
    const out = this.exports.config_out_ptr();
    const memory = new Uint8Array(this.exports.memory.buffer);
    const len = new DataView(this.exports.memory.buffer).getUint32(out + abi.CFGOUT_CANONICAL_LEN, true);
    return {
      hash: bytes_to_hex(memory.slice(out + abi.CFGOUT_HASH, out + abi.CFGOUT_HASH + abi.HASH_BYTES)),
      canonical: decoder.decode(memory.slice(out + abi.CFGOUT_CANONICAL, out + abi.CFGOUT_CANONICAL + len)),
    };
  }
}

// This charger's config hash for a view: its group config and every member id.
export function self_config_hash(core: Core, view: GroupView): string {
  return core.config_hash({ ...view.config, group_id: view.config.group_id ?? '', members: view.members.map((m) => m.id) }).hash;
}

// Decodes an output block (from any instance or host: wasm3's output is decoded the same way).
export function decode_output(v: DataView, base: number, order: MemberView[], self_id: string, carry: Uint8Array): Decision {
  const f64 = (offset: number) => v.getFloat64(base + offset, true);
  const u32 = (offset: number) => v.getUint32(base + offset, true);
  const flags = u32(abi.OUT_FLAGS);
  const error_code = u32(abi.OUT_ERROR_CODE);
  const error_member_index = v.getInt32(base + abi.OUT_ERROR_MEMBER_INDEX, true);
  const allocations: MemberDecision[] = order.map((m, i) => {
    const at = base + abi.OUT_MEMBER_BASE + i * abi.OUT_MEMBER_STRIDE;
    const mf = v.getUint32(at + abi.OUT_MEMBER_FLAGS, true);
    return {
      id: m.id,
      target_current: v.getFloat64(at + abi.OUT_MEMBER_TARGET_CURRENT_A, true),
      reason: reason_name(v.getUint32(at + abi.OUT_MEMBER_REASON, true)),
      online: (mf & abi.MEMBER_OUT_FLAGS_ONLINE) !== 0,
      degraded: (mf & abi.MEMBER_OUT_FLAGS_DEGRADED) !== 0,
      demanding: (mf & abi.MEMBER_OUT_FLAGS_DEMANDING) !== 0,
      reserved_current: v.getFloat64(at + abi.OUT_MEMBER_RESERVED_A, true),
      seen_mismatch: (mf & abi.MEMBER_OUT_FLAGS_SEEN_MISMATCH) !== 0,
      config_mismatch: (mf & abi.MEMBER_OUT_FLAGS_CONFIG_MISMATCH) !== 0,
      in_hold: (mf & abi.MEMBER_OUT_FLAGS_IN_HOLD) !== 0,
      leaving: (mf & abi.MEMBER_OUT_FLAGS_LEAVING) !== 0,
      uncontrolled: (mf & abi.MEMBER_OUT_FLAGS_UNCONTROLLED) !== 0,
      sort_rank: v.getUint32(at + abi.OUT_MEMBER_SORT_RANK, true),
    };
  });
  return {
    error: abi.ERROR_NAMES[error_code] ?? 'bad_enum',
    error_member: error_member_index >= 0 && error_member_index < order.length ? order[error_member_index].id : null,
    self: {
      id: self_id,
      target_current: f64(abi.OUT_SELF_TARGET_CURRENT_A),
      applied_current: f64(abi.OUT_SELF_APPLIED_CURRENT_A),
      own_view_current: f64(abi.OUT_SELF_OWN_VIEW_CURRENT_A),
      degraded: (flags & abi.OUTPUT_FLAGS_SELF_DEGRADED) !== 0,
      failsafe_active: (flags & abi.OUTPUT_FLAGS_FAILSAFE_ACTIVE) !== 0,
      reason: reason_name(u32(abi.OUT_SELF_REASON)),
    },
    budget_current: f64(abi.OUT_BUDGET_CURRENT_A),
    effective_limit: f64(abi.OUT_EFFECTIVE_LIMIT_A),
    reserved_current: f64(abi.OUT_RESERVED_CURRENT_A),
    allocated_sum: f64(abi.OUT_ALLOCATED_SUM_A),
    online_count: u32(abi.OUT_ONLINE_COUNT),
    offline_count: u32(abi.OUT_OFFLINE_COUNT),
    demanding_count: u32(abi.OUT_DEMANDING_COUNT),
    config_consistent: (flags & abi.OUTPUT_FLAGS_CONFIG_CONSISTENT) !== 0,
    seen_mismatch: (flags & abi.OUTPUT_FLAGS_SEEN_MISMATCH) !== 0,
    no_quorum: (flags & abi.OUTPUT_FLAGS_NO_QUORUM) !== 0,
    mismatch_since_ms: (flags & abi.OUTPUT_FLAGS_MISMATCH_SINCE_PRESENT) !== 0 ? f64(abi.OUT_MISMATCH_SINCE_MS) : null,
    degraded_since_ms: (flags & abi.OUTPUT_FLAGS_DEGRADED_SINCE_PRESENT) !== 0 ? f64(abi.OUT_DEGRADED_SINCE_MS) : null,
    offline_hold_ms: f64(abi.OUT_OFFLINE_HOLD_MS),
    committed_current: f64(abi.OUT_SELF_COMMITTED_CURRENT_A),
    demand_cap: f64(abi.OUT_SELF_DEMAND_CAP_A),
    next_call_ms: f64(abi.OUT_NEXT_CALL_MS) >= 0 ? f64(abi.OUT_NEXT_CALL_MS) : null,
    carry_status: abi.CARRY_STATUS_NAMES[u32(abi.OUT_CARRY_STATUS)] ?? 'corrupt',
    settings: {
      heartbeat_timeout_ms: f64(abi.OUT_HEARTBEAT_TIMEOUT_MS),
      failsafe_safe_current: f64(abi.OUT_FAILSAFE_SAFE_CURRENT_A),
      failsafe_peer_assumed_current: f64(abi.OUT_FAILSAFE_PEER_ASSUMED_CURRENT_A),
    },
    settings_differ: (flags & abi.OUTPUT_FLAGS_SETTINGS_DIFFER) !== 0,
    left_alone: (flags & abi.OUTPUT_FLAGS_LEFT_ALONE) !== 0,
    allocations,
    carry,
  };
}

function reason_name(code: number): Reason {
  return abi.REASON_NAMES[code] ?? 'input_error';
}
