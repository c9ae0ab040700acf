// The module slots of one charger (docs/hot-swap.md): the built-in module, and two slots A/B
// for signed packages. A new package is verified, self-tested, staged into the slot that is
// not active, and runs on probation; it becomes the active module only after enough good
// decisions. Any failure (trap, error code, guard violation) on probation or later rolls back
// to the module before it; a package still on probation when the charger restarts is never
// activated again. State is one JSON file written atomically next to the slot files.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { Core, CoreLoadError } from '../core.js';
import { write_file_atomic } from '../atomic-file.js';
import { verify_package, sha256_hex, PackageError, type Manifest } from './package.js';
import type { SelfTestOptions } from './selftest.js';

export type SlotName = 'a' | 'b';
export type ModuleRef = SlotName | 'builtin';

interface SlotState {
  format: 1;
  active: ModuleRef;
  previous: ModuleRef | null;
  pending: SlotName | null;
  counter: number; // highest counter ever accepted: no downgrade, not even after a rollback
  last_failure: { at_ms: number; module: ModuleRef; version: string; reason: string } | null;
}

const fresh_state = (): SlotState => ({ format: 1, active: 'builtin', previous: null, pending: null, counter: 0, last_failure: null });

export interface ModuleInfo {
  ref: ModuleRef;
  version: string;
  counter: number;
  policy: string;
  sha256: string;
}

export interface ModuleStatus {
  running: ModuleInfo;
  active: ModuleInfo;
  pending: ModuleInfo | null;
  previous: ModuleInfo | null;
  builtin: ModuleInfo;
  counter: number;
  probation_left: number;
  last_failure: SlotState['last_failure'];
}

export interface ModuleManagerOptions {
  data_dir: string;
  trusted_keys: KeyObject[];
  builtin: Core;
  now_ms: () => number;
  probation_computes?: number;
  self_test?: SelfTestOptions;
  log?: (line: string) => void;
}

export class ModuleManager {
  private state: SlotState = fresh_state();
  private running: { ref: ModuleRef; core: Core; manifest: Manifest | null };
  private probation_left = 0;
  private readonly dir: string;
  private readonly log: (line: string) => void;

  constructor(private readonly options: ModuleManagerOptions) {
    this.dir = join(options.data_dir, 'modules');
    this.log = options.log ?? (() => {});
    this.running = { ref: 'builtin', core: options.builtin, manifest: null };
  }

  // Loads the persisted state and the module to run. Never throws: any problem means the
  // built-in module, with the reason recorded.
  async init(): Promise<Core> {
    this.state = this.read_state();
    if (this.state.pending !== null) {
      this.fail(this.state.pending, this.slot_version(this.state.pending), 'was on probation when the charger restarted; not activated again');
      this.state.pending = null;
      this.write_state();
    }
    const loaded = await this.load_ref(this.state.active);
    if (loaded) {
      this.running = loaded;
    } else {
      this.fail(this.state.active, this.slot_version(this.state.active), 'the active slot no longer verifies');
      this.state.active = 'builtin';
      this.write_state();
      this.running = { ref: 'builtin', core: this.options.builtin, manifest: null };
    }
    return this.running.core;
  }

  current(): Core {
    return this.running.core;
  }

  // Which module runs now, without reading or verifying the slot files (status() does).
  running_ref(): ModuleRef {
    return this.running.ref;
  }

  // Verifies, self-tests and stages a package; returns the core to run on probation.
  // Throws PackageError with a stable code; nothing changes on a refusal.
  async install(bytes: Uint8Array): Promise<{ core: Core; manifest: Manifest }> {
    const p = verify_package(bytes, this.options.trusted_keys);
    if (p.manifest.counter <= this.state.counter) {
      throw new PackageError('downgrade', `downgrade: counter ${p.manifest.counter} is not above the highest accepted (${this.state.counter})`);
    }
    try {
      await Core.inspect(p.module);
    } catch (error) {
      throw new PackageError('module', `module: ${(error as Error).message}`);
    }
    // Loaded with the first package to install: a worker thread and gunzip that a charger
    // running its module does not keep in memory (docs/performance.md).
    const { self_test } = await import('./selftest.js');
    await self_test(p.module, this.options.builtin, this.options.self_test);
    let core: Core;
    try {
      core = await Core.load(p.module);
    } catch (error) {
      throw new PackageError('module', `module: ${(error as CoreLoadError).message}`);
    }
    const slot: SlotName = this.state.active === 'a' ? 'b' : 'a';
    // The slot written over may hold the previous module: it is gone, so is the way back to it.
    if (this.state.previous === slot) this.state.previous = null;
    write_file_atomic(this.slot_path(slot), bytes);
    this.state.pending = slot;
    this.state.counter = p.manifest.counter;
    this.write_state();
    this.running = { ref: slot, core, manifest: p.manifest };
    this.probation_left = this.options.probation_computes ?? 30;
    this.log(`module ${p.manifest.version} (counter ${p.manifest.counter}) staged in slot ${slot}, on probation`);
    return { core, manifest: p.manifest };
  }

  // One decision went through the guard cleanly. Ends probation after enough of them.
  note_good_decision(): void {
    if (this.state.pending === null || this.running.ref !== this.state.pending) return;
    this.probation_left -= 1;
    if (this.probation_left > 0) return;
    this.state.previous = this.state.active;
    this.state.active = this.state.pending;
    this.state.pending = null;
    this.write_state();
    this.log(`module ${this.running.manifest?.version} is now the active module`);
  }

  // The running module trapped, refused a valid view or broke an invariant: roll back.
  // Returns the core to run from now on.
  async report_failure(reason: string): Promise<Core> {
    const failed = this.running.ref;
    if (failed === 'builtin') return this.running.core; // nothing to fall back to; the guard keeps it safe
    this.fail(failed, this.running.manifest?.version ?? '?', reason);
    let back: ModuleRef;
    if (this.state.pending === failed) {
      this.state.pending = null;
      back = this.state.active;
    } else {
      back = this.state.previous ?? 'builtin';
      this.state.active = back;
      this.state.previous = null;
    }
    const loaded = (await this.load_ref(back)) ?? { ref: 'builtin' as const, core: this.options.builtin, manifest: null };
    if (loaded.ref !== back) this.state.active = 'builtin';
    this.write_state();
    this.running = loaded;
    this.log(`module rolled back to ${loaded.ref} after: ${reason}`);
    return loaded.core;
  }

  status(): ModuleStatus {
    const info = (ref: ModuleRef | null): ModuleInfo | null => {
      if (ref === null) return null;
      if (ref === 'builtin') return { ref, version: 'built-in', counter: 0, policy: 'equal_share', sha256: sha256_hex(this.options.builtin.module_bytes) };
      const m = this.slot_manifest(ref);
      return m ? { ref, version: m.version, counter: m.counter, policy: m.policy, sha256: m.module_sha256 } : null;
    };
    return {
      running: info(this.running.ref)!,
      active: info(this.state.active) ?? info('builtin')!,
      pending: info(this.state.pending),
      previous: info(this.state.previous),
      builtin: info('builtin')!,
      counter: this.state.counter,
      probation_left: this.state.pending ? this.probation_left : 0,
      last_failure: this.state.last_failure,
    };
  }

  private fail(ref: ModuleRef, version: string, reason: string): void {
    this.state.last_failure = { at_ms: this.options.now_ms(), module: ref, version, reason };
    this.log(`module ${ref} (${version}) failed: ${reason}`);
  }

  private slot_path(slot: SlotName): string {
    return join(this.dir, `slot-${slot}.lspk`);
  }

  private slot_manifest(slot: SlotName): Manifest | null {
    try {
      return verify_package(readFileSync(this.slot_path(slot)), this.options.trusted_keys).manifest;
    } catch {
      return null;
    }
  }

  private slot_version(ref: ModuleRef): string {
    return ref === 'builtin' ? 'built-in' : this.slot_manifest(ref)?.version ?? '?';
  }

  private async load_ref(ref: ModuleRef): Promise<ModuleManager['running'] | null> {
    if (ref === 'builtin') return { ref, core: this.options.builtin, manifest: null };
    try {
      const p = verify_package(readFileSync(this.slot_path(ref)), this.options.trusted_keys);
      return { ref, core: await Core.load(p.module), manifest: p.manifest };
    } catch {
      return null;
    }
  }

  private read_state(): SlotState {
    const path = join(this.dir, 'state.json');
    if (!existsSync(path)) return fresh_state();
    try {
      const s = JSON.parse(readFileSync(path, 'utf8')) as SlotState;
      const refs = ['a', 'b', 'builtin'];
      if (s.format !== 1 || !refs.includes(s.active) || (s.previous !== null && !refs.includes(s.previous))
        || (s.pending !== null && !['a', 'b'].includes(s.pending)) || !Number.isInteger(s.counter) || s.counter < 0) {
        throw new Error('unexpected contents');
      }
      return s;
    } catch (error) {
      // The counter must not fall back to 0 (that would reopen downgrades): take the highest
      // counter of the slots that still verify.
      const fresh = fresh_state();
      fresh.counter = Math.max(0, ...(['a', 'b'] as const).map((slot) => this.slot_manifest(slot)?.counter ?? 0));
      this.log(`module state ${path} is unreadable (${(error as Error).message}); using the built-in module, counter ${fresh.counter}`);
      return fresh;
    }
  }

  private write_state(): void {
    write_file_atomic(join(this.dir, 'state.json'), `${JSON.stringify(this.state, null, 2)}\n`);
  }
}
