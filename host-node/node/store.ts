// The node's files: JSON documents in --data-dir, written atomically so that a crash at any
// instant leaves either the old or the new file, whole (write a temp file, fsync it, rename
// it over the old one, fsync the directory so the rename itself survives a power cut).
// A missing or corrupt file is logged and replaced by the caller's defaults, never a crash.
import { openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync, mkdirSync, unlinkSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './log.js';

export class JsonStore {
  private sequence = 0;

  constructor(readonly dir: string, private readonly log: Logger) {
    mkdirSync(dir, { recursive: true });
    this.remove_stale_temps();
  }

  // Reads NAME.json; returns null when it is missing or not valid JSON (logged).
  read(name: string): unknown | null {
    const path = join(this.dir, `${name}.json`);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') this.log.warn('store', `cannot read ${path}: ${code ?? (error as Error).message}; using defaults`);
      return null;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      this.log.warn('store', `${path} is corrupt (${(error as Error).message}); using defaults`);
      return null;
    }
  }

  // Writes NAME.json atomically and durably (synchronous: a write is finished when this returns,
  // which is what lets shutdown promise "files flushed").
  write(name: string, value: unknown): void {
    const path = join(this.dir, `${name}.json`);
    const temp = join(this.dir, `.${name}.json.${process.pid}.${this.sequence++}.tmp`);
    const bytes = Buffer.from(`${JSON.stringify(value, null, 2)}\n`, 'utf8');
    const fd = openSync(temp, 'w', 0o600);
    try {
      let offset = 0;
      while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    this.fsync_dir();
  }

  private fsync_dir(): void {
    let fd: number | null = null;
    try {
      fd = openSync(this.dir, 'r');
      fsyncSync(fd);
    } catch {
      // Some filesystems refuse fsync on a directory; the rename is still atomic.
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }

  // Temp files left by a crash mid-write are garbage: the real file is whole either way.
  // Only a dead writer's temps are removed (the pid is in the name), never a live one's.
  private remove_stale_temps(): void {
    for (const name of readdirSync(this.dir)) {
      const match = name.match(/^\..+\.(\d+)\.\d+\.tmp$/);
      if (!match || pid_alive(Number(match[1]))) continue;
      try { unlinkSync(join(this.dir, name)); } catch { /* removed meanwhile */ }
    }
  }
}

function pid_alive(pid: number): boolean {
  if (pid === process.pid) return false; // our own earlier life cannot be writing now
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
