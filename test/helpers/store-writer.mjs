// Child process for the crash-safety test: writes the store as fast as it can until killed.
// Each document is self-checking (its checksum field covers the rest).
import { createHash } from 'node:crypto';
const [, , dist_store, dir, start] = process.argv;
const { JsonStore } = await import(dist_store);
const quiet = { info() {}, warn() {}, error() {} };
const store = new JsonStore(dir, quiet);
const parent = process.ppid;
for (let seq = Number(start); ; seq++) {
  // Orphaned (the test died before killing us): stop rather than write forever.
  if (process.ppid !== parent) process.exit(3);
  const body = { seq, pad: 'x'.repeat(20000 + (seq % 7) * 5000) };
  const checksum = createHash('sha256').update(JSON.stringify(body)).digest('hex');
  store.write('config', { ...body, checksum });
  if (seq === Number(start)) process.stdout.write('wrote\n');
}
