// The store under crashes: 200+ child processes each write the file in a loop and are killed
// with SIGKILL at a random instant; after every kill the file is whole and self-consistent
// (the old or a new version, never a torn one). Also: missing and corrupt files give defaults.
import { describe, expect, test, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensure_dist, root, seeded } from './helpers/dist.js';
import { JsonStore } from '../host-node/node/store.js';
import { restore_config, default_node_config } from '../host-node/node/config.js';
import { parse_stored_peers } from '../host-node/node/peers.js';

beforeAll(() => ensure_dist());

const quiet = { info() {}, warn() {}, error() {} };

function check_doc(text: string): number {
  const doc = JSON.parse(text) as { seq: number; pad: string; checksum: string };
  const { checksum, ...body } = doc;
  expect(createHash('sha256').update(JSON.stringify(body)).digest('hex')).toBe(checksum);
  return doc.seq;
}

const cleanup_dirs: string[] = [];
afterAll(() => { for (const dir of cleanup_dirs) rmSync(dir, { recursive: true, force: true }); });
const live_children = new Set<import('node:child_process').ChildProcess>();
afterAll(() => { for (const child of live_children) child.kill('SIGKILL'); });

function kill_one(dir: string, start: number, delay_ms: number, early_kill: boolean): Promise<'killed_after_write' | 'killed_early'> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'test/helpers/store-writer.mjs'), pathToFileURL(join(root, 'dist/host-node/node/store.js')).href, dir, String(start)], { stdio: ['ignore', 'pipe', 'inherit'] });
    live_children.add(child);
    let wrote = false;
    child.stdout.on('data', () => {
      if (wrote || early_kill) return;
      wrote = true;
      // Killed a random time after its first complete write: somewhere inside a later write.
      setTimeout(() => child.kill('SIGKILL'), delay_ms);
    });
    // One in ten is killed at a random instant after spawning, wherever it is (start-up or the
    // first write); the others get up to 10 s for their first write (a loaded machine is slow).
    const early = setTimeout(() => { if (!wrote) child.kill('SIGKILL'); }, early_kill ? delay_ms * 12 : 10000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      live_children.delete(child);
      clearTimeout(early);
      if (signal !== 'SIGKILL') reject(new Error(`writer exited on its own (${code})`));
      else resolve(wrote ? 'killed_after_write' : 'killed_early');
    });
  });
}

describe('store crash safety', () => {
  test('210 writers killed at random points: the file is always whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loadshare-store-'));
    cleanup_dirs.push(dir);
    const random = seeded(20261127);
    const store = new JsonStore(dir, quiet);
    store.write('config', (() => { const body = { seq: 0, pad: 'x' }; return { ...body, checksum: createHash('sha256').update(JSON.stringify(body)).digest('hex') }; })());
    const kills = 210;
    const parallel = 3;
    let next = 0;
    let after_write = 0;
    let last_seq = 0;
    const worker = async () => {
      while (next < kills) {
        const i = next++;
        const result = await kill_one(dir, (i + 1) * 1000000, Math.floor(random() * 25), i % 10 === 9);
        if (result === 'killed_after_write') after_write += 1;
        last_seq = check_doc(readFileSync(join(dir, 'config.json'), 'utf8'));
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    expect(after_write).toBeGreaterThanOrEqual(kills / 2);
    expect(last_seq).toBeGreaterThan(0);
    // Leftover temp files are cleaned when the store opens, and the file still reads.
    const reopened = new JsonStore(dir, quiet);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    check_doc(JSON.stringify(reopened.read('config')));
  });
});

describe('missing and corrupt files', () => {
  test('missing: defaults, no crash; corrupt: logged, defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loadshare-store-'));
    const notes: string[] = [];
    const log = { info() {}, warn: (_t: string, m: string) => notes.push(m), error() {} };
    const store = new JsonStore(dir, log);
    expect(store.read('config')).toBeNull();
    expect(notes).toEqual([]);
    writeFileSync(join(dir, 'config.json'), '{"loadsharing_group_max_current": 4');
    expect(store.read('config')).toBeNull();
    expect(notes[0]).toMatch(/corrupt/);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a stored config with wrong types or unsafe values falls back field by field or to defaults', () => {
    const notes: string[] = [];
    const c = restore_config('a', { loadsharing_group_max_current: '40', loadsharing_priority: 2, bogus: 1 }, (m) => notes.push(m));
    expect(c.loadsharing_group_max_current).toBe(32);
    expect(c.loadsharing_priority).toBe(2);
    expect(notes.length).toBe(2);
    // A stored config existed, so the charger was set up: its fallback keeps load sharing on
    // (limiting is the safe direction), unlike a charger fresh from the box.
    const set_up_defaults = { ...default_node_config('a'), loadsharing_enabled: true };
    const unsafe = restore_config('a', { loadsharing_failsafe_peer_assumed_current: 0 }, (m) => notes.push(m));
    expect(unsafe).toEqual(set_up_defaults);
    expect(restore_config('a', [1, 2], () => {})).toEqual(set_up_defaults);
    expect(restore_config('a', null, () => {})).toEqual(default_node_config('a'));
    expect(default_node_config('a').loadsharing_enabled).toBe(false);
  });

  test('a config stored before load sharing defaulted to off keeps it on after an update', () => {
    const before_update = { loadsharing_group_id: 'garage', loadsharing_group_max_current: 24, www_username: '', www_password: '' };
    const c = restore_config('a', before_update, () => {});
    expect(c.loadsharing_enabled).toBe(true);
    expect(c.loadsharing_group_max_current).toBe(24);
    expect(restore_config('a', { ...before_update, loadsharing_enabled: false }, () => {}).loadsharing_enabled).toBe(false);
  });

  test('a stored peer list keeps the good entries', () => {
    const notes: string[] = [];
    const peers = parse_stored_peers({ peers: ['10.0.0.2:80', { host: '10.0.0.3:80', id: 'b' }, { host: 'nohost' }, 7, { host: '10.0.0.3:80', id: 'c' }] }, (m) => notes.push(m));
    expect(peers).toEqual([{ host: '10.0.0.2:80', id: null }, { host: '10.0.0.3:80', id: 'b' }]);
    expect(notes.length).toBe(2);
    expect(parse_stored_peers({ nope: 1 }, () => {})).toEqual([]);
  });
});
