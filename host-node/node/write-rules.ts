// Who may write, as rules without a server (docs/security.md): which requests need a person
// (HTTP Basic with the charger's admin password), which a peer may make with the group key,
// and the credential check. auth.ts applies them to fastify requests; the station's
// peer-facing answers (station/peer-http.ts, the simulator's network) apply the same rules.
import { timingSafeEqual, createHash } from 'node:crypto';
import { has_admin_password, group_keys, type NodeConfig } from './config.js';
import { is_signed } from '../station/peer-auth.js';

export const write_methods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export const setup_challenge = 'LoadshareSetup realm="openevse"';
export const no_password_msg = 'No admin password is set on this charger yet: set one first (the page\'s first-run step, POST /setup with the setup code)';

// The scheme is case-insensitive (RFC 9110 11.1): `basic` and `BASIC` work as `Basic`.
// Returns the decoded "user:password" bytes, or null when the header is not Basic.
export function parse_basic(header: string | undefined): Buffer | null {
  if (typeof header !== 'string') return null;
  const match = /^[ \t]*basic[ \t]+([A-Za-z0-9+/]+=*)[ \t]*$/i.exec(header);
  return match ? Buffer.from(match[1], 'base64') : null;
}

// Constant time in the secret's length and content.
export function same_secret(a: Buffer | string, b: Buffer | string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export function credentials_match(header: string | undefined, config: NodeConfig): boolean {
  const given = parse_basic(header);
  if (given === null || !has_admin_password(config)) return false;
  return same_secret(given, Buffer.from(`${config.www_username}:${config.www_password}`, 'utf8'));
}

// POST /config: a peer's push or a user's write. A user's write is never taken for a push: a
// push is marked by its sender (the x-loadshare-push header config sync sends, or the group
// key's signature headers), or has exactly a push's shape (the group fields and the version
// metadata, nothing else, as nodes before the header sent it); the document GET /config
// returns has other keys (hostname, ...) and no such header, so posted back it is a user's write.
export const push_header = 'x-loadshare-push';

const push_meta_keys = ['loadsharing_config_version', 'loadsharing_config_updated_at', 'loadsharing_config_origin', 'loadsharing_members'];

export function is_push(headers: Record<string, unknown>, body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  if (headers[push_header] !== undefined || is_signed(headers as Record<string, string | string[] | undefined>)) return true;
  const keys = Object.keys(body);
  return 'loadsharing_config_version' in body && 'loadsharing_members' in body
    && keys.every((k) => (group_keys as readonly string[]).includes(k) || push_meta_keys.includes(k));
}

export type WriteRule = 'open' | 'setup' | 'person' | 'person_or_peer' | 'push';

export function write_rule(method: string, route: string, body: unknown, query: unknown, headers: Record<string, unknown> = {}): WriteRule {
  const b = typeof body === 'object' && body !== null && !Array.isArray(body) ? body as Record<string, unknown> : {};
  const q = typeof query === 'object' && query !== null ? query as Record<string, unknown> : {};
  if (method === 'POST' && route === '/sim/ev') return 'open';
  if (method === 'POST' && route === '/setup') return 'setup';
  // A push as the route tells it: a user posting back GET /config, which carries the version
  // and the member list too, is a person's write and needs the password.
  if (method === 'POST' && route === '/config' && is_push(headers, b)) return 'push';
  if (method === 'POST' && route === '/loadsharing/peers' && b.reciprocal === false) return 'person_or_peer';
  if (method === 'DELETE' && route === '/loadsharing/peers/:host' && q.reciprocal === 'false') return 'person_or_peer';
  return 'person';
}

// The same rules as OpenAPI security requirements (openapi.ts): what a client must send.
export function route_security(method: string, route: string): Array<Record<string, string[]>> {
  if (!write_methods.has(method.toUpperCase())) return [];
  const rule = write_rule(method.toUpperCase(), route, {}, {});
  if (rule === 'open') return [];
  if (rule === 'setup') return [{ setupCode: [] }];
  const peer_variant = ['POST /config', 'POST /loadsharing/peers', 'DELETE /loadsharing/peers/:host'].includes(`${method.toUpperCase()} ${route}`);
  return peer_variant ? [{ basic: [] }, { groupKey: [] }] : [{ basic: [] }];
}

