// The joined-peer list: what is stored ({"peers": [{host, id}]}), how hosts are checked, and
// the member id the engine knows a peer by before its own id is known.
import { createHash } from 'node:crypto';
import { ID_BYTES_MAX } from '../abi.js';

export interface StoredPeer {
  host: string;
  id: string | null;
}

// Upstream's rule: a host is a hostname or an IP address, and must contain '.' or ':'.
// We also want something we can put in a URL: no scheme, path, user or spaces.
export function check_host(host: string): string | null {
  if (host.trim() === '') return 'Host cannot be empty';
  if (!host.includes('.') && !host.includes(':')) return 'Invalid host format - must contain domain or IP';
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(host)) return 'Invalid host format - must contain domain or IP';
  const port = host.match(/:(\d{1,5})$/);
  if (port && (Number(port[1]) < 1 || Number(port[1]) > 65535)) return 'Invalid host format - bad port';
  return null;
}

// The core's id rule (assembly/blocks.ts id_valid): 1..32 bytes of printable ASCII without
// space or comma. '?' is reserved for placeholders.
export function check_peer_id(id: unknown): id is string {
  return typeof id === 'string' && /^[\x21-\x2b\x2d-\x7e]{1,32}$/.test(id) && id.length <= ID_BYTES_MAX && !id.startsWith('?');
}

// A peer joined by host whose id we have not learned yet still counts as a member: never
// heard, hence offline, hence reserved failsafe_peer_assumed_current. '?' cannot start a real
// id (check_peer_id), so a placeholder never collides with one.
export function placeholder_id(host: string): string {
  const candidate = `?${host}`;
  if (Buffer.byteLength(candidate, 'utf8') <= ID_BYTES_MAX) return candidate;
  return `?${createHash('sha256').update(host).digest('hex').slice(0, 16)}`;
}

// Whether a person set this charger up on its own, as stored with the peers (null: not
// stored, as in files from before it was: the charger then counts as alone when it has no
// members, as it did then).
export function parse_stored_alone(stored: unknown): boolean | null {
  const value = (stored as { alone_confirmed?: unknown } | null)?.alone_confirmed;
  return typeof value === 'boolean' ? value : null;
}

// Removed members that had fallen silent (rule 8: still reserved), as stored with the peers;
// only those with a known id (a bad entry is dropped with a note).
export function parse_stored_leaving(stored: unknown, note: (message: string) => void): StoredPeer[] {
  const list = (stored as { leaving?: unknown } | null)?.leaving;
  return Array.isArray(list) ? parse_entries(list, 'leaving entry', true, note) : [];
}

export function parse_stored_peers(stored: unknown, note: (message: string) => void): StoredPeer[] {
  if (stored === null) return [];
  const list = (stored as { peers?: unknown })?.peers;
  if (!Array.isArray(list)) {
    note('peers file has no "peers" array; starting with no peers');
    return [];
  }
  return parse_entries(list, 'entry', false, note);
}

// One list of stored peers: upstream's plain host strings or our {host, id} records; a bad
// entry is dropped with a note, a repeated host counts once. id_required: an entry without a
// valid id is bad (a leaving member is reserved by its id); otherwise its id is learned later.
function parse_entries(list: unknown[], what: string, id_required: boolean, note: (message: string) => void): StoredPeer[] {
  const out: StoredPeer[] = [];
  for (const item of list) {
    const host = typeof item === 'string' ? item : (item as { host?: unknown } | null)?.host;
    const id = typeof item === 'object' && item !== null ? (item as { id?: unknown }).id : null;
    if (typeof host !== 'string' || check_host(host) !== null || (id_required && !check_peer_id(id))) {
      note(`peers file: bad ${what} ${JSON.stringify(item)} dropped`);
      continue;
    }
    if (out.some((p) => p.host === host)) continue;
    out.push({ host, id: check_peer_id(id) ? id : null });
  }
  return out;
}
