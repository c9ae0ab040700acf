// Files that are always whole: write a temporary file, fsync it, rename it over the old one,
// fsync the directory. A crash at any point leaves the old file or the new one, never half.
import { openSync, writeSync, fsyncSync, closeSync, renameSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

export function write_file_atomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temp, 'w', 0o644);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temp, path);
  const dir_fd = openSync(dir, 'r');
  try {
    fsyncSync(dir_fd);
  } finally {
    closeSync(dir_fd);
  }
}
