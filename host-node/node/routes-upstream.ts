// Upstream OpenEVSE's control endpoints with upstream's semantics and replies: /override,
// /claims, /claims/target, /claims/{client}, /limit and /r (RAPI). Every effect goes through
// upstream.ts, whose result is one more term of the pilot's minimum: a client can lower a
// charger's current, never lift it above the load-sharing limit (docs/api.md).
import type { FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import type { Charger } from './charger.js';
import { error_responses, message_schema } from './schemas.js';
import { RapiError } from './upstream.js';
import { claims_max, priorities, type EvseProperties, type LimitProperties } from '../evse/claims.js';

export const properties_schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    state: { type: 'string', enum: ['active', 'disabled'] },
    charge_current: { type: 'integer', minimum: 0, maximum: 80, description: 'amps' },
    max_current: { type: 'integer', minimum: 0, maximum: 80, description: 'amps' },
    auto_release: { type: 'boolean', description: 'released when the car leaves' },
  },
} as const;

const claim_body_schema = {
  ...properties_schema,
  properties: {
    ...properties_schema.properties,
    priority: { type: 'integer', minimum: 1, maximum: priorities.manual, description: 'not upstream (always 500 there); at most the manual override\'s 1000' },
  },
} as const;

const properties_reply = {
  type: 'object',
  properties: {
    state: { type: 'string' }, charge_current: { type: 'number' }, max_current: { type: 'number' },
    auto_release: { type: 'boolean' }, priority: { type: 'integer' },
  },
} as const;

export const limit_schema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'value'],
  properties: {
    type: { type: 'string', enum: ['time', 'energy', 'soc', 'range'] },
    value: { type: 'integer', minimum: 0, maximum: 10000000, description: 'time: minutes; energy: Wh; soc: %; range: km' },
    auto_release: { type: 'boolean' },
    release: { type: 'boolean', description: 'python-openevse-http spelling of auto_release' },
  },
} as const;

const client_param = {
  type: 'object',
  properties: { client: { type: 'string', pattern: '^[0-9]{1,10}$' } },
  required: ['client'],
} as const;

// Upstream accepts a 32-bit client id; the all-ones value means "no client" there.
function client_id(text: string): number | null {
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 1 && n < 0xffffffff ? n : null;
}

export function upstream_routes(charger: Charger) {
  const u = charger.upstream;
  return async (app: FastifyInstance): Promise<void> => {
    // Clients send PATCH /override and DELETEs with a content type and no body (aiohttp does):
    // an empty body of any type is no body; anything else still meets the route's schema.
    app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body === '' ? undefined : body));
    // /claims/target is GET only (as upstream); other methods would match /claims/{client}.
    // Answered before the write check, as the app answers any other method a path lacks.
    app.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.url === '/claims/:client' && (request.params as { client?: string }).client === 'target' && request.method !== 'GET') {
        await reply.code(405).header('allow', 'GET, HEAD').header('cache-control', 'no-store').send({ msg: 'Method Not Allowed' });
      }
    });
    // ---- /override ----
    app.get('/override', { schema: { response: { 200: properties_reply } } }, async () => u.override() ?? {});
    app.post('/override', { schema: { body: properties_schema, response: { 201: message_schema, ...error_responses } } }, async (request, reply) => {
      u.set_override(request.body as EvseProperties);
      return reply.code(201).send({ msg: 'Created' });
    });
    app.patch('/override', { schema: { response: { 200: message_schema, ...error_responses } } }, async () => {
      u.toggle_override();
      return { msg: 'Updated' };
    });
    app.delete('/override', { schema: { response: { 200: message_schema, ...error_responses } } }, async () => {
      // Upstream answers "Deleted" whether or not there was one to release.
      u.clear_override();
      return { msg: 'Deleted' };
    });

    // ---- /claims ----
    app.get('/claims', { schema: { response: { 200: { type: 'array', items: { ...properties_reply, properties: { ...properties_reply.properties, client: { type: 'integer' } } } } } } }, async () => u.list_claims());
    app.get('/claims/target', {
      schema: { response: { 200: { type: 'object', properties: { properties: properties_reply, claims: { type: 'object', additionalProperties: { type: 'integer' } } } } } },
    }, async () => u.target_doc());
    app.get('/claims/:client', { schema: { params: client_param, response: { 200: properties_reply, ...error_responses } } }, async (request, reply) => {
      const id = client_id((request.params as { client: string }).client);
      const doc = id === null ? null : u.claim_doc(id);
      return doc ?? reply.code(404).send({ msg: 'Not found' });
    });
    app.post('/claims/:client', { schema: { params: client_param, body: claim_body_schema, response: { 200: message_schema, ...error_responses } } }, async (request, reply) => {
      const id = client_id((request.params as { client: string }).client);
      if (id === null) return reply.code(400).send({ msg: 'client must be an integer from 1 to 4294967294' });
      const { priority, ...props } = request.body as EvseProperties & { priority?: number };
      try {
        if (!u.make_claim(id, props, priority)) return reply.code(400).send({ msg: `Could not make claim: all ${claims_max} claim slots are taken` });
      } catch (error) {
        if (error instanceof RapiError) return reply.code(400).send({ msg: error.message });
        throw error;
      }
      return { msg: 'done' };
    });
    app.delete('/claims/:client', { schema: { params: client_param, response: { 200: message_schema, ...error_responses } } }, async (request, reply) => {
      const id = client_id((request.params as { client: string }).client);
      try {
        if (id === null || !u.release_claim(id)) return reply.code(404).send({ msg: 'Not found' });
      } catch (error) {
        if (error instanceof RapiError) return reply.code(400).send({ msg: error.message });
        throw error;
      }
      return { msg: 'done' };
    });

    // ---- /limit ----
    app.get('/limit', {
      schema: { response: { 200: { type: 'object', properties: { type: { type: 'string' }, value: { type: 'number' }, auto_release: { type: 'boolean' } } } } },
    }, async () => u.get_limit() ?? {});
    app.post('/limit', { schema: { body: limit_schema, response: { 201: message_schema, ...error_responses } } }, async (request, reply) => {
      const body = request.body as { type: LimitProperties['type']; value: number; auto_release?: boolean; release?: boolean };
      if (body.auto_release !== undefined && body.release !== undefined && body.auto_release !== body.release) {
        return reply.code(400).send({ msg: 'auto_release and release disagree' });
      }
      if (body.type === 'range') return reply.code(400).send({ msg: 'a range limit needs the vehicle\'s range, which this charger does not know' });
      if (body.type === 'soc' && body.value > 100) return reply.code(400).send({ msg: 'value must be <= 100 for a soc limit' });
      u.set_limit({ type: body.type, value: body.value, auto_release: body.auto_release ?? body.release ?? true });
      return reply.code(201).send({ msg: 'done' });
    });
    app.delete('/limit', { schema: { response: { 200: message_schema, ...error_responses } } }, async () => ({ msg: u.clear_limit() ? 'done' : 'no limit' }));

    // ---- /r (RAPI) ----
    // python-openevse-http posts a form (json=1&rapi=...); a query string or JSON works too.
    await app.register(async (scope) => {
      await scope.register(formbody);
      const rapi_schema = {
        type: 'object',
        properties: { rapi: { type: 'string', minLength: 1, maxLength: 64 }, json: { anyOf: [{ type: 'string' }, { type: 'integer' }] } },
      } as const;
      const reply_schema = { type: 'object', properties: { cmd: { type: 'string' }, ret: { type: 'string' } }, required: ['cmd', 'ret'] } as const;
      const handle = (command: string | undefined, method: string) => {
        if (command === undefined) throw new RapiError(400, "Missing required 'rapi' parameter");
        // A command that changes the charger is a write: POST (so Basic auth applies as on every write).
        if (method === 'GET' && !/^\$G[A-Z0-9]/.test(command.trim())) throw new RapiError(405, 'use POST for RAPI commands that change the charger');
        return { cmd: command, ret: u.rapi(command) };
      };
      const run = async (command: string | undefined, method: string, reply: import('fastify').FastifyReply) => {
        try {
          return handle(command, method);
        } catch (error) {
          if (error instanceof RapiError) return reply.code(error.status_code).send(error.status_code === 400 && error.message.startsWith('RAPI_') ? { cmd: command ?? '', error: error.message, msg: error.message } : { msg: error.message });
          throw error;
        }
      };
      for (const path of ['/r', '/rapi']) { // upstream serves both
        scope.get(path, { schema: { querystring: rapi_schema, response: { 200: reply_schema, ...error_responses, 405: message_schema } } }, async (request, reply) => run((request.query as { rapi?: string }).rapi, 'GET', reply));
        scope.post(path, {
          schema: { body: { ...rapi_schema, additionalProperties: false }, response: { 200: reply_schema, ...error_responses } },
        }, async (request, reply) => run((request.body as { rapi?: string } | undefined)?.rapi ?? (request.query as { rapi?: string }).rapi, 'POST', reply));
      }
    });
  };
}
