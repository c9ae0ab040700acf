// The upstream /loadsharing/* endpoints: peers (list, join, leave), discovery, runtime status.
// Status codes and messages follow api.yml (400 invalid/self, 404 unknown, "already in group").
import type { FastifyInstance } from 'fastify';
import type { Charger } from './charger.js';
import { PeerError } from '../station/station.js';
import { peer_error_status_code } from '../station/peer-http.js';
import { error_responses, message_schema } from './schemas.js';
import { loadsharing_status, peer_list } from './loadsharing-status.js';
import { ConfigError, group_key_min_chars, no_nul_pattern } from './config.js';

const peer_schema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'string' }, name: { type: 'string' }, host: { type: 'string' }, ip: { type: 'string' },
    version: { type: 'string' }, online: { type: 'boolean' }, joined: { type: 'boolean' }, connected: { type: 'boolean' },
    refused: { type: ['string', 'null'], description: 'why its last message was refused (not paired: no or another group key; a refused id); it is not heard meanwhile' },
    last_seen: { type: 'integer' }, last_seen_age_ms: { type: ['integer', 'null'] },
    status: {
      type: 'object',
      properties: {
        amp: { type: 'number' }, voltage: { type: 'number' }, pilot: { type: 'number' }, vehicle: { type: 'integer' },
        state: { type: 'integer' }, min_current: { type: 'number' }, max_current: { type: 'number' }, priority: { type: 'integer' },
      },
    },
    degraded: { type: 'boolean' }, applied: { type: ['number', 'null'] }, committed: { type: ['number', 'null'] }, reason: { type: 'string' },
  },
} as const;

const allocation_schema = {
  type: 'object',
  properties: {
    id: { type: 'string' }, target_current: { type: 'number' }, reason: { type: 'string' }, online: { type: 'boolean' },
    degraded: { type: 'boolean' }, demanding: { type: 'boolean' }, reserved_current: { type: 'number' }, in_hold: { type: 'boolean' },
    applied: { type: ['number', 'null'] }, committed: { type: ['number', 'null'] },
    uncontrolled: { type: 'boolean', description: 'a charger without load sharing (docs/api.md)' },
  },
  required: ['target_current'],
} as const;

const status_schema = {
  type: 'object',
  properties: {
    enabled: { type: 'boolean' }, group_id: { type: 'string' }, computed_at: { type: ['string', 'null'] },
    failsafe_active: { type: 'boolean' }, degraded: { type: 'boolean' },
    online_count: { type: 'integer' }, offline_count: { type: 'integer' },
    config_consistent: { type: 'boolean' },
    config_issues: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          peer_id: { type: 'string' }, issue: { type: 'string' },
          local_value: { type: ['string', 'number', 'null'] }, peer_value: { type: ['string', 'number', 'null'] },
        },
      },
    },
    config_version: { type: 'integer' }, config_hash: { type: 'string' }, module_hash: { type: 'string' },
    config_updated_at: { type: 'integer' }, config_origin: { type: 'string' },
    config_sync: {
      type: 'object',
      properties: {
        enabled: { type: 'boolean' },
        active: { type: 'boolean', description: 'sync is on and the group has a key; false: report-only (nothing adopted, nothing pushed)' },
        members: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              host: { type: 'string' }, id: { type: ['string', 'null'] }, member: { type: 'boolean' },
              state: { type: 'string', enum: ['in_sync', 'pushing', 'retrying', 'refused', 'out_of_sync', 'unknown'] },
              pending_version: { type: ['integer', 'null'] }, attempts: { type: 'integer' },
              next_retry_in_ms: { type: ['integer', 'null'] }, last_error: { type: ['string', 'null'] },
              peer_config_version: { type: ['integer', 'null'] }, peer_config_hash: { type: ['string', 'null'] },
              auth_failures: { type: 'integer' }, last_auth_failure: { type: ['string', 'null'] },
              invalid_configs: { type: 'integer' }, last_invalid: { type: ['string', 'null'] },
            },
          },
        },
      },
    },
    auth: {
      type: 'object',
      properties: { mode: { type: 'string', enum: ['hmac-sha256', 'none'] }, rejected_total: { type: 'integer' }, rejected_strangers: { type: 'integer' } },
    },
    effective_limit: { type: 'number' }, budget_current: { type: 'number' }, reserved_current: { type: 'number' },
    uncontrolled_current: { type: 'number', description: 'what chargers without load sharing may draw (docs/api.md)' },
    self: {
      type: 'object',
      properties: {
        id: { type: 'string' }, own_view_current: { type: 'number' },
        views: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, current: { type: 'number' } } } },
        min_over_views_current: { type: 'number' }, target_current: { type: 'number' },
        applied_current: { type: 'number' }, committed_current: { type: 'number' }, reason: { type: 'string' },
      },
    },
    peers: { type: 'array', items: peer_schema },
    allocations: { type: 'array', items: allocation_schema },
  },
} as const;

export function loadsharing_routes(charger: Charger) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/loadsharing/peers', { schema: { response: { 200: { type: 'array', items: peer_schema } } } }, async () => peer_list(charger));

    app.post('/loadsharing/peers', {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['host'],
          properties: {
            host: { type: 'string', maxLength: 253 },
            reciprocal: { type: 'boolean' },
            // Pairing (docs/security.md): the newcomer's admin sign-in, used once to hand it the group key.
            username: { type: 'string', minLength: 1, maxLength: 64, description: "the new charger's admin user name (pairing; default admin)" },
            password: { type: 'string', minLength: 1, maxLength: 64, description: "the new charger's admin password: pairs it (hands it the group key); used for that one request, never stored" },
          },
        },
        response: { 200: message_schema, ...error_responses, 409: message_schema },
      },
    }, async (request, reply) => {
      const body = request.body as { host: string; reciprocal?: boolean; username?: string; password?: string };
      try {
        if (body.password !== undefined) {
          if (body.reciprocal === false) return await reply.code(400).send({ msg: 'password (pairing) is a person\'s join: reciprocal must not be false' });
          return { msg: await charger.pair_peer(body.host, { username: body.username ?? 'admin', password: body.password }) };
        }
        const auth = request.loadshare_auth;
        return { msg: await charger.add_peer(body.host, body.reciprocal ?? true, auth?.ok ? auth.sender : null) };
      } catch (error) {
        if (error instanceof PeerError) return reply.code(peer_error_status_code(error)).send({ msg: error.message });
        throw error;
      }
    });

    // The newcomer's side of pairing: a person's request (this charger's admin password, as
    // every write), made by the charger that pairs us on that person's behalf.
    app.post('/loadsharing/pair', {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['key', 'host', 'id'],
          properties: {
            key: { type: 'string', minLength: group_key_min_chars, maxLength: 128, pattern: no_nul_pattern, description: 'the group key to take' },
            host: { type: 'string', minLength: 1, maxLength: 253, description: 'the pairing charger, host:port' },
            id: { type: 'string', minLength: 1, maxLength: 64, description: "the pairing charger's id" },
          },
        },
        response: {
          200: { type: 'object', properties: { msg: { type: 'string' }, id: { type: 'string' } }, required: ['msg', 'id'] },
          ...error_responses, 409: message_schema,
        },
      },
    }, async (request, reply) => {
      try {
        return charger.station.handle_paired(request.body as { key: string; host: string; id: string });
      } catch (error) {
        if (error instanceof PeerError) return reply.code(peer_error_status_code(error)).send({ msg: error.message });
        if (error instanceof ConfigError) return reply.code(400).send({ msg: error.message });
        throw error;
      }
    });

    app.delete('/loadsharing/peers/:host', {
      schema: {
        params: { type: 'object', properties: { host: { type: 'string', minLength: 1, maxLength: 253 } }, required: ['host'] },
        // Query strings are text; coercion is off, so the boolean is spelled out.
        // gone=true: a person says it no longer draws from this breaker (switched off, taken
        // away): nothing stays reserved for it (rule 8).
        querystring: { type: 'object', additionalProperties: false, properties: { reciprocal: { type: 'string', enum: ['true', 'false'] }, gone: { type: 'string', enum: ['true', 'false'] } } },
        response: { 200: message_schema, ...error_responses, 409: message_schema },
      },
    }, async (request, reply) => {
      const { host } = request.params as { host: string };
      const { reciprocal, gone } = request.query as { reciprocal?: string; gone?: string };
      try {
        await charger.remove_peer(host, reciprocal !== 'false', gone === 'true');
        return { msg: 'done' };
      } catch (error) {
        if (error instanceof PeerError) return reply.code(peer_error_status_code(error)).send({ msg: error.message });
        throw error;
      }
    });

    // A person confirms this charger is on its own on its breaker (rule 8, docs/protocol.md):
    // a charger whose members all left by a peer's config or call stays at its failsafe current
    // until then.
    app.post('/loadsharing/alone', {
      schema: {
        body: { type: 'object', additionalProperties: false, properties: {} }, body_optional: true,
        response: { 200: message_schema, ...error_responses, 409: message_schema },
      },
      preValidation: async (request) => { if (request.body === undefined) request.body = {}; },
    }, async (_request, reply) => {
      try {
        charger.confirm_alone();
        return { msg: 'done' };
      } catch (error) {
        if (error instanceof PeerError) return reply.code(peer_error_status_code(error)).send({ msg: error.message });
        throw error;
      }
    });

    app.post('/loadsharing/discover', {
      // No parameters: an empty object at most (upstream sends no body at all).
      schema: { body: { type: 'object', additionalProperties: false, properties: {} }, body_optional: true, response: { 200: message_schema, ...error_responses } },
      preValidation: async (request) => { if (request.body === undefined) request.body = {}; },
    }, async () => {
      const scanned = await charger.discover();
      return { msg: scanned ? 'done' : 'discovery disabled (--no-mdns)' };
    });

    app.get('/loadsharing/status', { schema: { response: { 200: status_schema } } }, async () => loadsharing_status(charger));
  };
}
