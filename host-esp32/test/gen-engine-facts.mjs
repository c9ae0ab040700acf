#!/usr/bin/env node
// Writes host-esp32/test/engine-facts.txt: a history run through the real Node engine
// (host-node/engine/engine.ts with the release module) on two virtual clocks, and every block
// each computing tick produced: the input block the engine wrote, the output block and the
// carry the module left. The native test (lsh_test_facts.c) replays the same events through
// lsh_engine.c under wasm3 and requires the same bytes: both engines record the same facts,
// hand the module the same carry and publish the same numbers.
//
// A peer status appears as what the firmware's JSON parser hands the C engine
// (lsh_member_status_t, docs/esp32.md): the merged document (first full document and every
// delta since) read field by field with Node's defaults for absent base fields, optional
// fields present when the document has them as numbers (the engine checks their values).
//
// The story (self "a", peers "b" and "c"; heartbeat 10 s, rotation every 60 s):
// - b is heard every second with deltas until 40 s, then falls silent (offline at 50 s, in
//   its hold after); on the way it reports a negative current, a minimum above its maximum,
//   a safety factor of 1.5, a demand cap of 0 then 12 A, a fractional priority;
// - c is never heard for 5 s, then runs upstream firmware (no load-sharing block: a charger without
//   load sharing, rule 3, its pilot 16 A, lowered to 12 A at 10 s, raised to 20 A at 13 s) until 15 s,
//   then publishes a full block: its config hash, safety settings, a seen-set with a stranger
//   (until 17 s), an allocation vector with a stranger and a negative share, degraded from
//   30 s to 33 s;
// - a's car follows its limit, except that from 20 s to 30 s it takes at most 9 A (a demand
//   cap); its maximum changes at 20 s and 25 s, it wants nothing from 35 s to 38 s, the user
//   switches load sharing off from 44 s to 47 s;
// - at 55 s the wall clock steps back an hour (an NTP correction): the monotonic clock, which
//   every protocol timer runs on, does not;
// - members leave and join (rule 8): c is removed at 61 s while heard (leaving: still reserved,
//   its statuses still read), b at 63 s while silent (leaving, reserved like an offline
//   member); d comes back at 66 s as a member removed before a restart (leaving, never heard);
//   c says at 70 s that a person set it up on its own (forgotten at the next tick), a person
//   says d is gone at 75 s; b is a member again at 78 s, e joins at 80 s and is heard from
//   82 s; f joins at 84 s and is removed at 86 s never heard (leaving: reserved like an
//   offline member, as one heard; seed 12209538);
// - left alone (rule 8): b (silent) and e (heard) are removed at 88 s, so a has no members and
//   no person set it up on its own (left_alone: its failsafe current); a person confirms it is
//   on its own at 94 s (alone_confirmed: the whole limit but what b, e and f still hold).
// Needs `npm run build` (dist/, build/loadsharing.wasm). `--check` exits 1 when stale.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Core } from '../../dist/host-node/core.js';
import { Engine } from '../../dist/host-node/engine/engine.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const out_path = join(root, 'host-esp32/test/engine-facts.txt');
const mono0_ms = 1000000; // the monotonic clock's origin is the boot, not 1970
const wall0_ms = 1767225600000;
const clock_epoch = 0x1234abcd;

// The used prefix of a block as hex: everything up to the last non-zero byte.
function used_hex(bytes) {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return Buffer.from(bytes.subarray(0, end)).toString('hex');
}

const num = (value) => String(value);
const is_number = (value) => typeof value === 'number' && Number.isFinite(value);
const finite_or = (value, fallback) => (is_number(value) ? value : fallback);

// What the firmware's parser makes of a merged status document (lsh_member_status_t).
function firmware_fields(id, doc) {
  const fields = [`id=${id}`];
  const b = doc.loadsharing;
  fields.push(`vehicle=${finite_or(doc.vehicle, 0) >>> 0}`, `state=${finite_or(doc.state, 1) >>> 0}`);
  fields.push(`amp=${num(finite_or(doc.amp, 0))}`, `voltage=${num(finite_or(doc.voltage, 240))}`);
  if (b !== undefined && b.alone_confirmed === true) fields.push('alone=1');
  if (b === undefined) {
    fields.push(`max=${num(finite_or(doc.max_current, 32))}`, 'noblock=1');
    // A charger without load sharing (rule 3): whether it states its maximum, and its pilot.
    if (is_number(doc.max_current)) fields.push('smax=1');
    if (is_number(doc.pilot)) fields.push(`upilot=${num(doc.pilot)}`);
    return fields;
  }
  fields.push(`min=${num(finite_or(b.min_current, 6))}`, `max=${num(finite_or(b.max_current, finite_or(doc.max_current, 32)))}`);
  fields.push(`priority=${Math.trunc(finite_or(b.priority, 0))}`);
  fields.push(`demand=${typeof b.demand === 'boolean' ? (b.demand ? 1 : 0) : -1}`, `degraded=${b.degraded === true ? 1 : 0}`);
  const optional = { applied: b.applied_current, committed: b.committed_current, demand_cap: b.demand_cap, gmc: b.group_max_current, sf: b.safety_factor };
  for (const [key, value] of Object.entries(optional)) if (is_number(value)) fields.push(`${key}=${num(value)}`);
  if (typeof b.config_hash === 'string' && /^[0-9a-f]{64}$/.test(b.config_hash)) fields.push(`hash=${b.config_hash}`);
  if (is_number(b.heartbeat_timeout) && is_number(b.failsafe_safe_current) && is_number(b.failsafe_peer_assumed_current)) {
    fields.push(`safety=${num(b.heartbeat_timeout)},${num(b.failsafe_safe_current)},${num(b.failsafe_peer_assumed_current)}`);
  }
  if (Array.isArray(b.seen)) fields.push(`seen=${b.seen.filter((x) => typeof x === 'string').join(',')}`);
  if (b.alloc && typeof b.alloc === 'object') {
    fields.push(`alloc=${Object.entries(b.alloc).filter(([, v]) => is_number(v)).map(([k, v]) => `${k}:${num(v)}`).join(',')}`);
  }
  return fields;
}

export async function build_fixture() {
  const core = await Core.load(readFileSync(join(root, 'build/loadsharing.wasm')));
  // Captures each compute(): the input block as the engine wrote it (taken before the call:
  // the module fills in its own row during it), the output block and the carry it left.
  let fed = null;
  const compute = core.compute.bind(core);
  core.compute = (group, options) => {
    core.write_input(group, options);
    const input = core.input_bytes();
    const decision = compute(group, options);
    fed = { input, output: core.output_bytes(), carry: decision.carry };
    return decision;
  };
  const mono = { t_ms: mono0_ms, now_ms() { return this.t_ms; } };
  const wall = { offset_ms: wall0_ms - mono0_ms, now_ms() { return mono.t_ms + this.offset_ms; } };
  let shaper_a = null;
  const config = {
    enabled: true, group_id: 'garage', group_max_current: 40, safety_factor: 1, heartbeat_timeout: 10,
    failsafe_mode: 'safe_current', failsafe_safe_current: 6, failsafe_peer_assumed_current: 6, priority: 0,
    rotation_interval: 60, config_version: 0, config_updated_at: 0,
  };
  const timing = { ev_response_ms: 5000, seen_grace_ms: 3000, message_delay_max_ms: 2000, tick_interval_ms: 1000 };
  let local = { vehicle: 1, state: 3, amp_ma: 0, voltage: 240, pilot: 32, min_current: 6, max_current: 32, demand: true };
  const engine = new Engine({
    id: 'a', core, clock: wall, monotonic: mono, clock_epoch, config, local, members: ['b', 'c'], timing,
    shaper: { set_loadsharing_limit_a: (a) => { shaper_a = a; } },
  });
  const lines = [
    '# Generated by host-esp32/test/gen-engine-facts.mjs from the Node engine; do not edit.',
    `config group=${config.group_id} gmc=${config.group_max_current} sf=${config.safety_factor} hb=${config.heartbeat_timeout} mode=${config.failsafe_mode} safe=${config.failsafe_safe_current} peer=${config.failsafe_peer_assumed_current} rot=${config.rotation_interval} ev=${timing.ev_response_ms} grace=${timing.seen_grace_ms} delay=${timing.message_delay_max_ms}`,
    'members self=a ids=a,b,c',
    `init epoch=${clock_epoch}`,
  ];
  const status = (id, at_ms, doc, full) => {
    mono.t_ms = at_ms;
    engine.handle_peer_status(id, doc, full);
    const merged = engine.peer_entries().find((p) => p.id === id).status;
    lines.push(`status mono=${at_ms} ${firmware_fields(id, merged).join(' ')}`);
  };
  let ticks = 0;
  const tick = (at_ms) => {
    mono.t_ms = at_ms;
    fed = null;
    engine.tick();
    if (fed === null) return; // nothing changed and nothing was due: Node did not call the module
    ticks++;
    const p = engine.poll_status();
    lines.push(`tick mono=${at_ms} wall=${wall.now_ms()} vehicle=${local.vehicle} state=${local.state} amp=${num(local.amp_ma)} voltage=${local.voltage} min=${local.min_current} max=${local.max_current} priority=${config.priority} demand=${local.demand ? 1 : 0} pilot=${local.pilot} limit=${shaper_a} applied=${p.applied_current} committed=${p.committed_current} demand_cap=${p.demand_cap} left_alone=${p.left_alone ? 1 : 0}`);
    if (p.left_alone) left_alone_ticks++;
    lines.push(`in ${used_hex(fed.input)}`, `out ${used_hex(fed.output)}`, `carry ${used_hex(fed.carry)}`);
  };
  const local_change = (change) => {
    local = { ...local, ...change };
    engine.handle_local_status(change);
  };

  const c_block = (k) => ({
    min_current: 6, max_current: 32, priority: 0, demand: true, applied_current: 10, committed_current: 12,
    group_max_current: 40, safety_factor: 0.9, config_hash: engine.current_config_hash(),
    heartbeat_timeout: 10, failsafe_safe_current: 6, failsafe_peer_assumed_current: 6,
    seen: ['a', 'c', ...(k < 17 ? ['zz'] : []), ...(k < 40 ? ['b'] : [])], alloc: { a: 12, b: 14, c: 10, zz: 5, d: -3 },
    degraded: k >= 30 && k < 34,
  });
  // Members joining and leaving: the same call on both engines (a line the C replay acts on).
  const membership = (word, id) => {
    ({ add: () => engine.add_member(id), remove: () => engine.remove_member(id), restore: () => engine.restore_leaving(id), forget: () => engine.forget_member(id) })[word]();
    lines.push(`${word} id=${id}`);
  };
  const held = (id) => engine.peer_entries().some((p) => p.id === id);
  let left_alone_ticks = 0;
  for (let k = 0; k <= 100; k++) {
    const at_ms = mono0_ms + k * 1000;
    if (k === 55) wall.offset_ms -= 3600 * 1000;
    // b: a full document first, deltas after (what it applied follows my view of it).
    if (k === 0) {
      status('b', at_ms - 1, {
        amp: 0, voltage: 240, state: 3, vehicle: 1, pilot: 32,
        loadsharing: { min_current: 6, max_current: 32, priority: 0, demand: true, applied_current: 0, committed_current: 0, seen: ['a', 'b'] },
      }, true);
    } else if (k < 40) {
      const share_a = engine.poll_status().alloc.b ?? 0;
      const delta = { amp: share_a * 1000, loadsharing: { applied_current: share_a, committed_current: share_a, seen: ['a', 'b', ...(k >= 5 ? ['c'] : [])], alloc: engine.poll_status().alloc } };
      if (k === 12) delta.amp = -500;
      if (k === 13) Object.assign(delta.loadsharing, { min_current: 20, max_current: 10 });
      if (k === 14) Object.assign(delta.loadsharing, { min_current: 6, max_current: 32, safety_factor: 1.5 });
      if (k === 15) Object.assign(delta.loadsharing, { safety_factor: 1, demand_cap: 0 });
      if (k === 16) Object.assign(delta.loadsharing, { demand_cap: 12 });
      if (k === 17) Object.assign(delta.loadsharing, { priority: 1.7 });
      if (k === 18) Object.assign(delta.loadsharing, { priority: 0 });
      status('b', at_ms - 1, delta, false);
    }
    // c: never heard, then upstream firmware, then the load-sharing block.
    if (k >= 5 && k < 15) status('c', at_ms - 300, { amp: 8000 + k * 100, voltage: 230, state: 3, vehicle: 1, max_current: 24, pilot: k < 10 ? 16 : k < 13 ? 12 : 20 }, true);
    if (k >= 15 && held('c')) {
      status('c', at_ms - 300, { amp: 10000, voltage: 230, state: 3, vehicle: 1, loadsharing: { ...c_block(k), ...(k >= 70 ? { alone_confirmed: true } : {}) } }, true);
    }
    if (k === 24) {
      // Finding I: c says a lower limit, then (an older frame, reordered) its old one, between
      // the same two ticks: the lower one is kept for this tick.
      status('c', at_ms - 250, { amp: 10000, voltage: 230, state: 3, vehicle: 1, loadsharing: { ...c_block(k), group_max_current: 30 } }, true);
      status('c', at_ms - 200, { amp: 10000, voltage: 230, state: 3, vehicle: 1, loadsharing: c_block(k) }, true);
    }
    if (k === 61 || k === 63) membership('remove', k === 61 ? 'c' : 'b');
    if (k === 66) membership('restore', 'd');
    if (k === 75) membership('forget', 'd');
    if (k === 78 || k === 80 || k === 84) membership('add', k === 78 ? 'b' : k === 80 ? 'e' : 'f');
    if (k === 86) membership('remove', 'f');
    if (k === 88) { membership('remove', 'b'); membership('remove', 'e'); }
    if (k === 94) {
      engine.confirm_alone(true);
      lines.push('alone value=1');
    }
    if (k >= 82) {
      status('e', at_ms - 200, {
        amp: 0, voltage: 240, state: 3, vehicle: 1,
        loadsharing: { min_current: 6, max_current: 16, priority: 0, demand: true, applied_current: 0, committed_current: 0, seen: ['a', 'e'], alloc: { a: 6, e: 6 } },
      }, true);
    }
    if (k === 90 || k === 92) {
      // Finding I across a renumbering: e says a lower limit, a member joins (d, before e:
      // e's row moves up) or is forgotten (e's row moves down), then e (a reordered frame) says a higher one, all before
      // the tick: the lower one is still kept for e (the C engine's bit follows e's row).
      const e_block = { min_current: 6, max_current: 16, priority: 0, demand: true, applied_current: 0, committed_current: 0, seen: ['a', 'e'], alloc: { a: 6, e: 6 } };
      status('e', at_ms - 150, { amp: 0, voltage: 240, state: 3, vehicle: 1, loadsharing: { ...e_block, group_max_current: 20 } }, true);
      membership(k === 90 ? 'add' : 'forget', 'd');
      status('e', at_ms - 100, { amp: 0, voltage: 240, state: 3, vehicle: 1, loadsharing: { ...e_block, group_max_current: 40 } }, true);
    }
    // a: the car follows its limit (from 20 s to 30 s it takes at most 9 A: a demand cap); the
    // user and the car change things.
    const offered_a = engine.poll_status().applied_current ?? 0;
    local_change({ amp_ma: (k >= 20 && k < 30 ? Math.min(offered_a, 9) : offered_a) * 1000, pilot: offered_a });
    if (k === 20) local_change({ max_current: 16 });
    if (k === 25) local_change({ max_current: 32 });
    if (k === 35) local_change({ demand: false });
    if (k === 38) local_change({ demand: true });
    if (k === 44 || k === 48) {
      engine.handle_config({ ...engine.current_config(), enabled: k === 48 });
      lines.push(`disabled value=${k === 44 ? 1 : 0}`);
    }
    tick(at_ms);
    if (k === 8 || k === 30 || k === 52) {
      // A status between two periodic ticks: the engine computes again at once.
      status(k === 52 ? 'c' : 'b', at_ms + 400, k === 52 ? { amp: 9000, voltage: 230, state: 3, vehicle: 1, loadsharing: c_block(k) } : { amp: 2000 }, k === 52);
      tick(at_ms + 500);
    }
    tick(at_ms + 600); // nothing new and nothing due: no call (unless the module asked for one)
  }
  if (ticks < 60) throw new Error(`only ${ticks} ticks computed`);
  if (left_alone_ticks < 3) throw new Error(`left alone in only ${left_alone_ticks} ticks`);
  return `${lines.join('\n')}\n`;
}

const text = await build_fixture();
if (process.argv.includes('--check')) {
  const current = existsSync(out_path) ? readFileSync(out_path, 'utf8') : '';
  if (current !== text) {
    console.error('gen-engine-facts: host-esp32/test/engine-facts.txt is stale (run node host-esp32/test/gen-engine-facts.mjs)');
    process.exit(1);
  }
  console.log('gen-engine-facts: up to date');
} else {
  writeFileSync(out_path, text);
  console.log(`gen-engine-facts: wrote ${out_path}`);
}
