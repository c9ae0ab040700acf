// The first-run step (docs/security.md "First run"): a charger without an admin password
// refuses every write (auth.ts) until a person sets one with POST /setup, proving that they
// are at the charger with its setup code. The code is what a real charger shows on its
// display (or prints on its label): here the node logs it at start and keeps it in the data
// directory (setup-code.json, mode 0600) until a password is set, so it survives restarts.
// 10 characters from 32 (50 bits); with the failed-sign-in limit (10 a minute per address) a
// guesser on the LAN needs longer than the charger's life.
import { randomInt } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Charger } from './charger.js';
import { JsonStore } from './store.js';
import { has_admin_password } from './config.js';
import { same_secret } from './auth.js';

const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'; // no 0/O, 1/I: read off a display
const code_chars = 10;

export function new_setup_code(): string {
  let code = '';
  for (let i = 0; i < code_chars; i++) code += alphabet[randomInt(alphabet.length)];
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

// Typed by a person: case, spaces and dashes do not matter.
export function normalise_code(text: string): string {
  return text.toUpperCase().replace(/[\s-]/g, '');
}

export class FirstRun {
  private code: string | null = null;
  private readonly store: JsonStore | null;

  constructor(private readonly charger: Charger) {
    const dir = charger.options.data_dir;
    this.store = dir === null ? null : new JsonStore(dir, charger.log);
  }

  needed(): boolean {
    return !has_admin_password(this.charger.raw_config());
  }

  // The code, created (and stored) the first time it is needed.
  setup_code(): string {
    if (this.code !== null) return this.code;
    const stored = this.store?.read('setup-code') as { code?: unknown } | null;
    if (stored && typeof stored.code === 'string' && normalise_code(stored.code).length === code_chars) {
      this.code = stored.code;
    } else {
      this.code = new_setup_code();
      this.store?.write('setup-code', { code: this.code });
    }
    return this.code;
  }

  // Says at start what a person must do (the simulated display).
  announce(): void {
    if (!this.needed()) { this.forget_code(); return; }
    const shared = this.charger.raw_config().loadsharing_enabled;
    this.charger.log.warn('setup', `no admin password yet: ${shared ? 'load sharing stays on as stored, but every change is refused' : 'load sharing is off and every change is refused'} until one is set. Setup code: ${this.setup_code()} (the page asks for it)`);
  }

  code_matches(given: string): boolean {
    return same_secret(normalise_code(given), normalise_code(this.setup_code()));
  }

  // The password is set: the code has done its job.
  forget_code(): void {
    this.code = null;
    const dir = this.charger.options.data_dir;
    if (dir !== null && existsSync(join(dir, 'setup-code.json'))) rmSync(join(dir, 'setup-code.json'), { force: true });
  }
}
