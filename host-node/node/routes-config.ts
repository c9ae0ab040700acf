// GET /config and POST /config. A write is checked as a whole (schema, then the cross-field
// rules on the resulting config); on any error nothing is applied and the reply names the field.
import type { FastifyInstance } from 'fastify';
import type { Charger } from './charger.js';
import { error_responses } from './schemas.js';
import { ConfigError, config_read_schema, config_write_schema, upstream_read_only_properties, type NodeConfig } from './config.js';
import { push_auth, push_status_code } from '../station/peer-http.js';
import { is_push, user_write_hook } from './config-user-write.js';

export function config_routes(charger: Charger) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/config', { schema: { response: { 200: config_read_schema } } }, async () => charger.config_doc());
    app.post('/config', {
      // A push is authenticated before it is judged (401/403 before 400), and its invalid
      // values count against the peer: the handler sees schema errors and decides.
      attachValidation: true,
      preValidation: user_write_hook(charger), // a posted-back GET /config is a user's write (config-user-write.ts)
      schema: {
        body: {
          ...config_write_schema,
          // Listed so that the refusal says "read-only" rather than "unknown key".
          properties: {
            ...config_write_schema.properties,
            loadsharing_config_version: {},
            loadsharing_config_updated_at: {},
            // A peer's config push (config-sync.ts) carries these with the group fields.
            loadsharing_config_origin: {},
            loadsharing_members: {},
            ...Object.fromEntries(Object.keys(upstream_read_only_properties).map((k) => [k, {}])),
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { config_version: { type: 'integer' }, msg: { type: 'string' } },
            required: ['config_version', 'msg'],
          },
          ...error_responses,
          403: { type: 'object', properties: { msg: { type: 'string' }, config_version: { type: 'integer' } }, required: ['msg'] },
          409: { type: 'object', properties: { msg: { type: 'string' }, config_version: { type: 'integer' } }, required: ['msg'] },
        },
      },
    }, async (request, reply) => {
      const body = request.body as Record<string, unknown>;
      const is_object = typeof body === 'object' && body !== null && !Array.isArray(body);
      // A push is marked by its sender (config-user-write.ts); a user's write never is.
      if (is_object && is_push(request.headers, body)) {
        // A peer's push: signed with the group key (when there is one), then checked like a
        // local write, then adopted only if newer (docs/config-sync.md).
        const result = charger.station.handle_config_push(body, push_auth(request.loadshare_auth), request.ip);
        const code = push_status_code(result.outcome);
        if (code === 401) void reply.header('www-authenticate', 'LoadshareHMAC');
        return reply.code(code).send({ msg: result.msg, config_version: result.config_version });
      }
      if (request.validationError) throw request.validationError; // the usual 400 naming the field
      try {
        return charger.apply_config(request.body as Partial<NodeConfig>);
      } catch (error) {
        if (error instanceof ConfigError) return reply.code(400).send({ msg: error.message });
        throw error;
      }
    });
  };
}
