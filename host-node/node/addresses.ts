// Is HOST[:PORT] this node? Compared after normalising both sides the way a client connecting
// to it would (WHATWG URL, as fetch and ws do: `127.1`, `2130706433`, `0x7f.1` are 127.0.0.1;
// `[0:0::ffff:7f00:1]` is ::ffff:127.0.0.1) and with node:net (an IPv4-mapped IPv6 address is
// its IPv4 address). A self-join through an alias would make a phantom member that is never
// heard: reserved for ever, or, once it answers with our own status, an idle twin.
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

export interface Endpoint {
  address: string; // an IP address (IPv4 dotted, IPv6 without brackets, IPv4-mapped as IPv4) or a lower-case name
  family: 0 | 4 | 6; // 0: a name
  port: number | null; // null: none given
}

// null when the text is not a host a client could connect to.
export function parse_endpoint(text: string): Endpoint | null {
  let url: URL;
  try {
    url = new URL(`http://${text.trim()}`);
  } catch {
    return null;
  }
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') return null;
  const port = url.port === '' ? (/:\d+$/.test(text.trim()) ? 80 : null) : Number(url.port);
  let address = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  let family = isIP(address) as 0 | 4 | 6;
  if (family === 6) {
    const mapped = ipv4_of_mapped(address);
    if (mapped !== null) { address = mapped; family = 4; }
  }
  if (family === 0) address = address.replace(/\.$/, '');
  return { address, family, port };
}

// '::ffff:7f00:1' (as URL writes it) -> '127.0.0.1'; null if not IPv4-mapped.
function ipv4_of_mapped(v6: string): string | null {
  const match = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6) ?? null;
  if (match) {
    const hi = parseInt(match[1], 16);
    const lo = parseInt(match[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v6);
  return dotted ? dotted[1] : null;
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

function is_unspecified(e: Endpoint): boolean {
  return (e.family === 4 && e.address === '0.0.0.0') || (e.family === 6 && e.address === '::');
}

function is_loopback(e: Endpoint): boolean {
  return e.family !== 0 && loopback.check(e.address, e.family === 4 ? 'ipv4' : 'ipv6');
}

// This machine's own interface addresses (normalised), for a node listening on 0.0.0.0 / ::.
function own_addresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const e = parse_endpoint(a.family === 'IPv6' ? `[${a.address.replace(/%.*$/, '')}]` : a.address);
      if (e) out.add(e.address);
    }
  }
  return out;
}

export interface SelfDescription {
  listen_host: string; // what the node listens on (--host)
  port: number;
  names: string[]; // host names that mean this node (its hostname, hostname.local); 'localhost' is added
}

// True when connecting to `host` would reach this node. A host without a port is compared by
// address only (the conservative reading: it may be meant with our port).
export function is_self_host(host: string, self: SelfDescription): boolean {
  const candidate = parse_endpoint(host);
  if (candidate === null) return false;
  if (candidate.port !== null && candidate.port !== self.port) return false;
  const listen = parse_endpoint(self.listen_host);
  if (candidate.family === 0) {
    const names = [...self.names, 'localhost'].map((n) => n.toLowerCase().replace(/\.$/, ''));
    if (names.includes(candidate.address)) return true;
    return listen !== null && listen.family === 0 && listen.address === candidate.address;
  }
  if (listen === null) return false;
  if (listen.family !== 0 && listen.address === candidate.address) return true;
  // A connection to 0.0.0.0 or :: goes to this machine.
  if (is_unspecified(candidate)) return true;
  // Listening on every address: any loopback or interface address of this machine is us.
  if (is_unspecified(listen)) return is_loopback(candidate) || own_addresses().has(candidate.address);
  return false;
}
