// GET /setup (does this charger still need its first-run step?) and POST /setup (set the
// admin password, proving presence with the setup code: first-run.ts). After it, every write
// needs the password (auth.ts); the password can then be changed through POST /config.
import type { FastifyInstance } from 'fastify';
import type { Charger } from './charger.js';
import { message_schema } from './schemas.js';
import { ConfigError, no_nul_pattern, password_min_chars, username_pattern } from './config.js';
import type { FirstRun } from './first-run.js';
import { refuse_too_many, setup_challenge, type LoginLimiter } from './auth.js';
import { LogThrottle, times } from './log-throttle.js';

export const setup_code_header = 'x-loadshare-setup-code';

export function setup_routes(charger: Charger, first_run: FirstRun, limiter: LoginLimiter) {
  const refusals = new LogThrottle();
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/setup', {
      schema: {
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            properties: {
              admin_password_set: { type: 'boolean' },
              loadsharing_enabled: { type: 'boolean' },
            },
            required: ['admin_password_set', 'loadsharing_enabled'],
          },
        },
      },
    }, async () => ({ admin_password_set: !first_run.needed(), loadsharing_enabled: charger.raw_config().loadsharing_enabled }));

    app.post('/setup', {
      schema: {
        description: `The first-run step: sets the admin password. The setup code (shown on the charger's display; the node logs it at start) goes in the ${setup_code_header} header.`,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['www_username', 'www_password'],
          properties: {
            www_username: { type: 'string', minLength: 1, maxLength: 64, pattern: username_pattern },
            www_password: { type: 'string', minLength: password_min_chars, maxLength: 64, pattern: no_nul_pattern },
          },
        },
        response: {
          200: message_schema,
          400: message_schema,
          401: message_schema,
          403: message_schema,
          409: message_schema,
          413: message_schema,
          415: message_schema,
          429: message_schema,
        },
      },
    }, async (request, reply) => {
      const given = request.headers[setup_code_header];
      if (typeof given !== 'string' || given.trim() === '') {
        return reply.code(401).header('www-authenticate', setup_challenge).send({ msg: `Missing setup code (header ${setup_code_header}): it is shown on the charger's display and in its log` });
      }
      if (!first_run.needed()) {
        return reply.code(409).send({ msg: 'An admin password is already set: change it in the settings (POST /config with the current credentials)' });
      }
      const wait_s = await limiter.blocked_for_s(request);
      if (wait_s !== null) return await refuse_too_many(reply, wait_s);
      if (!first_run.code_matches(given)) {
        await limiter.failed(request);
        const count = refusals.note(request.ip);
        if (count !== null) charger.log.warn('setup', `wrong setup code from ${request.ip}${times(count)}`);
        return reply.code(403).send({ msg: 'Wrong setup code' });
      }
      const body = request.body as { www_username: string; www_password: string };
      try {
        charger.apply_config({ www_username: body.www_username, www_password: body.www_password });
      } catch (error) {
        if (error instanceof ConfigError) return reply.code(400).send({ msg: error.message });
        throw error;
      }
      first_run.forget_code();
      charger.log.info('setup', `admin password set (user ${JSON.stringify(body.www_username)}); writes now need it`);
      return { msg: 'done' };
    });
  };
}
