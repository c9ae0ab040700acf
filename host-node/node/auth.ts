// Who may write (docs/security.md). Reads stay open, as on the firmware. Every write needs a
// person (HTTP Basic with the charger's admin password) or, for the requests peers make to
// each other, the group key (peer-auth.ts):
//
//   - a config push (POST /config carrying a version and the member list): with a group key
//     the route itself requires the signature (401/403 with the reason); without one, a person;
//   - a peer's echo of a join or leave (reciprocal false): a valid group-key signature or a person;
//   - everything else: a person. Exceptions: POST /setup (the first-run step, which proves
//     presence with the setup code: routes-setup.ts) and POST /sim/ev (the simulated car: it
//     stands in for someone plugging a cable in, and exists on no real charger).
//
// A charger without an admin password refuses every such write with 401 until the first-run
// step sets one (no default password, ETSI EN 303 645 provision 5.1-1). Failed sign-ins (a
// wrong password, a wrong setup code) are limited per client address by @fastify/rate-limit:
// past the limit every sign-in from that address is answered 429, right or wrong, so that
// the answer does not tell a guesser when it guessed right.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import rate_limit from '@fastify/rate-limit';
import type { Charger } from './charger.js';
import { has_admin_password } from './config.js';
import { LogThrottle, times } from './log-throttle.js';
import { write_methods, write_rule, credentials_match, setup_challenge, no_password_msg } from './write-rules.js';

// The rules themselves are in write-rules.ts (no fastify there: the station's peer-facing
// answers in the simulator use the same rules).
export { write_methods, write_rule, route_security, parse_basic, same_secret, credentials_match, setup_challenge, no_password_msg, type WriteRule } from './write-rules.js';

export interface LoginLimitOptions {
  failures_max?: number; // failed sign-ins per address per window before every sign-in is refused
  window_ms?: number;
}

// Failed sign-ins per client address (the plugin's key: the address, IPv4-mapped IPv6 as
// IPv4, IPv6 by /64). A peek never counts; only failures do.
export class LoginLimiter {
  readonly failures_max: number;
  readonly window_ms: number;
  private check: ((request: FastifyRequest, options?: { increment?: boolean }) => Promise<{ isAllowed: boolean; remaining?: number; ttlInSeconds?: number }>) | null = null;

  constructor(options: LoginLimitOptions = {}) {
    this.failures_max = options.failures_max ?? 10;
    this.window_ms = options.window_ms ?? 60000;
  }

  async register(app: FastifyInstance): Promise<void> {
    await app.register(rate_limit, { global: false });
    this.check = app.createRateLimit({ max: this.failures_max, timeWindow: this.window_ms });
  }

  // Seconds to wait when this address may not try now, else null.
  async blocked_for_s(request: FastifyRequest): Promise<number | null> {
    const status = await this.check!(request, { increment: false });
    if (status.isAllowed || (status.remaining ?? 1) > 0) return null;
    return Math.max(1, status.ttlInSeconds ?? 1);
  }

  async failed(request: FastifyRequest): Promise<void> {
    await this.check!(request);
  }
}

export async function refuse_too_many(reply: FastifyReply, wait_s: number): Promise<void> {
  await reply.code(429).header('retry-after', String(wait_s))
    .send({ msg: `Too many failed sign-ins from this address: try again in ${wait_s} s` });
}

// The write check, as a preValidation hook (after the body is parsed and the group-key
// signature checked by peer-auth-http.ts, before the schema): nothing a refused request
// carries reaches a handler.
export function write_auth_hook(charger: Charger, limiter: LoginLimiter) {
  const refusals = new LogThrottle();
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!write_methods.has(request.method)) return;
    const route = request.routeOptions.url;
    if (route === undefined) return; // no such route: the 404 handler answers
    const rule = write_rule(request.method, route, request.body, request.query, request.headers);
    if (rule === 'open' || rule === 'setup') return;
    const group_key = charger.group_auth();
    if (rule === 'push' && group_key !== null) return; // the route requires the signature
    if (rule === 'person_or_peer' && group_key !== null && request.loadshare_auth?.ok === true) return;

    const config = charger.raw_config();
    if (!has_admin_password(config)) {
      const count = refusals.note(`nopw ${request.ip}`);
      if (count !== null) charger.log.warn('http', `${request.method} ${request.url} from ${request.ip}: refused, no admin password set yet${times(count)}`);
      // 401 with a challenge no browser prompts for: the way in is the first-run step.
      await reply.code(401).header('www-authenticate', setup_challenge).send({ msg: no_password_msg });
      return;
    }
    const header = request.headers.authorization;
    if (header !== undefined) {
      const wait_s = await limiter.blocked_for_s(request);
      if (wait_s !== null) {
        const count = refusals.note(`limit ${request.ip}`);
        if (count !== null) charger.log.warn('http', `${request.method} ${request.url} from ${request.ip}: too many failed sign-ins, refused for ${wait_s} s${times(count)}`);
        await refuse_too_many(reply, wait_s);
        return;
      }
      if (credentials_match(header, config)) return;
      await limiter.failed(request);
    }
    const count = refusals.note(`cred ${request.ip}`);
    if (count !== null) charger.log.warn('http', `${request.method} ${request.url} from ${request.ip}: refused, ${header === undefined ? 'no' : 'wrong'} credentials${times(count)}`);
    await reply.code(401).header('www-authenticate', 'Basic realm="openevse", charset="UTF-8"').send({ msg: 'Unauthorized' });
  };
}
