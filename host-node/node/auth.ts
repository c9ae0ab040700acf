// HTTP Basic auth on every write, when www_username and www_password are set (upstream's
// rule). Reads stay open, as on the firmware. The comparison takes constant time.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Charger } from './charger.js';

const write_methods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function basic_auth_hook(charger: Charger) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!write_methods.has(request.method)) return;
    const expected = charger.auth_header();
    if (expected === null) return;
    const given = request.headers.authorization ?? '';
    if (!same(given, expected)) {
      charger.log.warn('http', `${request.method} ${request.url}: refused, bad or missing credentials`);
      await reply.code(401).header('www-authenticate', 'Basic realm="openevse"').send({ msg: 'Unauthorized' });
    }
  };
}

function same(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
