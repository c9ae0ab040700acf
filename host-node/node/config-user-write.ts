// POST /config: telling a peer's push from a user's write, and making the document GET /config
// returned a valid user's write (issue 16). A user's write is never taken for a push: a push is
// marked by its sender (the x-loadshare-push header config-sync.ts sends, or the group key's
// signature headers), or has exactly a push's shape (the group fields and the version metadata,
// nothing else, as nodes before the header sent it); the document GET /config returns has other
// keys (hostname, ...) and no such header, so it is a user's write.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Charger } from './charger.js';
import { group_keys, upstream_read_only_properties, read_only_keys } from './config.js';
import { is_signed } from './peer-auth.js';

export const push_header = 'x-loadshare-push';

const push_meta_keys = ['loadsharing_config_version', 'loadsharing_config_updated_at', 'loadsharing_config_origin', 'loadsharing_members'];

export function is_push(headers: Record<string, unknown>, body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  if (headers[push_header] !== undefined || is_signed(headers as Record<string, string | string[] | undefined>)) return true;
  const keys = Object.keys(body);
  return 'loadsharing_config_version' in body && 'loadsharing_members' in body
    && keys.every((k) => (group_keys as readonly string[]).includes(k) || push_meta_keys.includes(k));
}

// Keys GET /config returns that a user cannot write: posted back with the value GET returned,
// they are dropped (the write is the same without them); with another value, 400 naming the key.
const echo_only_keys = [...read_only_keys, 'loadsharing_members', ...Object.keys(upstream_read_only_properties)];

// Upstream spellings: service "A" (auto) is 0; divert_enabled is charge_mode eco/fast.
export function normalize_user_write(charger: Charger, body: Record<string, unknown>): { body: Record<string, unknown> } | { error: string } {
  const out: Record<string, unknown> = { ...body };
  const current = charger.config_doc();
  if (out.service === 'A') out.service = 0;
  if ('divert_enabled' in out && typeof out.divert_enabled === 'boolean' && out.divert_enabled !== current.divert_enabled) {
    const mode = out.divert_enabled ? 'eco' : 'fast';
    if ('charge_mode' in out && out.charge_mode !== mode) return { error: 'divert_enabled and charge_mode disagree' };
    out.charge_mode = mode;
    delete out.divert_enabled;
  }
  // GET shows the effective maximum (capped by the hardware's); the same value back changes nothing.
  if (out.max_current_soft === current.max_current_soft) delete out.max_current_soft;
  for (const key of echo_only_keys) {
    if (!(key in out)) continue;
    if (JSON.stringify(out[key]) !== JSON.stringify(current[key])) {
      return { error: key === 'loadsharing_members' ? 'loadsharing_members is read-only here: join or remove peers with /loadsharing/peers' : `${key} is read-only` };
    }
    delete out[key];
  }
  return { body: out };
}

// A preValidation hook for POST /config: a user's write is normalised before the schema sees it.
export function user_write_hook(charger: Charger) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
    if (is_push(request.headers, body)) return;
    const result = normalize_user_write(charger, body as Record<string, unknown>);
    if ('error' in result) {
      await reply.code(400).send({ msg: result.error });
      return;
    }
    request.body = result.body;
  };
}
