// POST /config: making the document GET /config returned a valid user's write (issue 16).
// Telling a peer's push from a user's write is write-rules.ts's is_push.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Charger } from './charger.js';
import { upstream_read_only_properties, read_only_keys } from './config.js';
import { is_push } from './write-rules.js';

export { push_header, is_push } from './write-rules.js';

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
