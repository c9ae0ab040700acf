// GET /config and POST /config. A write is checked as a whole (schema, then the cross-field
// rules on the resulting config); on any error nothing is applied and the reply names the field.
import type { FastifyInstance } from 'fastify';
import type { Charger } from './charger.js';
import { error_responses } from './app.js';
import { ConfigError, config_read_schema, config_write_schema, type NodeConfig } from './config.js';

export function config_routes(charger: Charger) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/config', { schema: { response: { 200: config_read_schema } } }, async () => charger.config_doc());
    app.post('/config', {
      schema: {
        body: {
          ...config_write_schema,
          // Listed so that the refusal says "read-only" rather than "unknown key".
          properties: {
            ...config_write_schema.properties,
            loadsharing_config_version: {},
            loadsharing_config_updated_at: {},
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { config_version: { type: 'integer' }, msg: { type: 'string', enum: ['done', 'no change'] } },
            required: ['config_version', 'msg'],
          },
          ...error_responses,
        },
      },
    }, async (request, reply) => {
      try {
        return charger.apply_config(request.body as Partial<NodeConfig>);
      } catch (error) {
        if (error instanceof ConfigError) return reply.code(400).send({ msg: error.message });
        throw error;
      }
    });
  };
}
