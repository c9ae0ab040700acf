// GET /loadsharing/module and POST /loadsharing/module: the module slots and hot swap
// (docs/hot-swap.md). The package is sent as application/octet-stream; the write is
// authenticated like every write, and size-limited.
import type { FastifyInstance } from 'fastify';
import type { Charger } from './charger.js';
import { error_responses, message_schema } from './schemas.js';
import { PackageError, package_bytes_max } from '../modules/package.js';

const module_info = {
  type: 'object',
  properties: {
    ref: { type: 'string' }, version: { type: 'string' }, counter: { type: 'integer' },
    policy: { type: 'string' }, sha256: { type: 'string' },
  },
  required: ['ref', 'version', 'counter', 'policy', 'sha256'],
} as const;

export function module_routes(charger: Charger) {
  return async (app: FastifyInstance): Promise<void> => {
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: package_bytes_max }, (_request, body, done) => done(null, body));
    app.get('/loadsharing/module', {
      schema: {
        response: {
          200: {
            type: 'object',
            properties: {
              running: module_info, active: module_info, pending: { anyOf: [module_info, { type: 'null' }] },
              previous: { anyOf: [module_info, { type: 'null' }] }, builtin: module_info, counter: { type: 'integer' },
              probation_left: { type: 'integer' }, hot_swap: { type: 'boolean' },
              last_failure: {
                anyOf: [{ type: 'null' }, {
                  type: 'object',
                  properties: { at_ms: { type: 'number' }, module: { type: 'string' }, version: { type: 'string' }, reason: { type: 'string' } },
                }],
              },
            },
            required: ['running', 'builtin', 'hot_swap'],
          },
        },
      },
    }, async () => {
      const status = charger.module_status();
      if (status) return { ...status, hot_swap: true };
      const builtin = { ref: 'builtin', version: 'built-in', counter: 0, policy: 'equal_share', sha256: charger.engine.current_module_hash() };
      return { running: builtin, active: builtin, pending: null, previous: null, builtin, counter: 0, probation_left: 0, hot_swap: false, last_failure: null };
    });
    app.post('/loadsharing/module', {
      schema: {
        consumes: ['application/octet-stream'], // openapi.ts: a binary request body
        response: {
          200: {
            type: 'object',
            properties: { msg: { type: 'string' }, version: { type: 'string' }, counter: { type: 'integer' }, policy: { type: 'string' }, sha256: { type: 'string' } },
            required: ['msg', 'version', 'counter', 'sha256'],
          },
          400: { type: 'object', properties: { msg: { type: 'string' }, code: { type: 'string' } }, required: ['msg'] },
          401: message_schema,
          413: message_schema,
          415: message_schema,
          404: error_responses[404],
        },
      },
    }, async (request, reply) => {
      const body = request.body;
      if (!Buffer.isBuffer(body)) return reply.code(415).send({ msg: 'Unsupported content type: send the package as application/octet-stream' });
      try {
        const manifest = await charger.install_module(body);
        return { msg: 'done: running on probation', version: manifest.version, counter: manifest.counter, policy: manifest.policy, sha256: manifest.module_sha256 };
      } catch (error) {
        if (error instanceof PackageError) {
          charger.log.warn('module', `package refused (${error.code}): ${error.message}`);
          return reply.code(400).send({ msg: error.message, code: error.code });
        }
        throw error;
      }
    });
  };
}
