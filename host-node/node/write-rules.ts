// Who may write, as rules without a server (docs/security.md): which requests need a person
// (HTTP Basic with the charger's admin password), which a peer may make with the group key,
// and the credential check. auth.ts applies them to fastify requests; the station's
// peer-facing answers (station/peer-http.ts, the simulator's network) apply the same rules.
import { timingSafeEqual, createHash } from 'node:crypto';
import { has_admin_password, type NodeConfig } from './config.js';

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

export type WriteRule = 'open' | 'setup' | 'person' | 'person_or_peer' | 'push';

export function write_rule(method: string, route: string, body: unknown, query: unknown): WriteRule {
  const b = typeof body === 'object' && body !== null && !Array.isArray(body) ? body as Record<string, unknown> : {};
  const q = typeof query === 'object' && query !== null ? query as Record<string, unknown> : {};
  if (method === 'POST' && route === '/sim/ev') return 'open';
  if (method === 'POST' && route === '/setup') return 'setup';
  if (method === 'POST' && route === '/config' && 'loadsharing_config_version' in b && 'loadsharing_members' in b) return 'push';
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

