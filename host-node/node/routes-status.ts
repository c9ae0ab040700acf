// GET /status (the firmware's status document plus the load-sharing block) and POST /status
// (voltage and the current shaper's live power, as upstream).
import type { FastifyInstance } from 'fastify';
import type { Charger } from './charger.js';
import { error_responses, message_schema } from './schemas.js';

export const loadsharing_block_schema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'string' },
    seen: { type: 'array', items: { type: 'string' } },
    degraded: { type: 'boolean' },
    failsafe_active: { type: 'boolean' },
    alloc: { type: 'object', additionalProperties: { type: 'number' } },
    applied_current: { type: 'number' },
    committed_current: { type: 'number' },
    target_current: { type: 'number' },
    demand: { type: 'boolean' },
    demand_cap: { type: 'number' },
    min_current: { type: 'number' },
    max_current: { type: 'number' },
    priority: { type: 'integer' },
    group_max_current: { type: 'number' },
    safety_factor: { type: 'number' },
    heartbeat_timeout: { type: 'number' },
    failsafe_safe_current: { type: 'number' },
    failsafe_peer_assumed_current: { type: 'number' },
    config_version: { type: 'integer' },
    config_hash: { type: 'string' },
    module_hash: { type: 'string' },
    reason: { type: 'string' },
  },
} as const;

export const status_schema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    amp: { type: 'integer', description: 'measured current, milliamps' },
    voltage: { type: 'number' },
    power: { type: 'number', description: 'watts' },
    pilot: { type: 'integer', description: 'amps' },
    max_current: { type: 'integer' },
    min_current: { type: 'integer' },
    state: { type: 'integer' },
    status: { type: 'string' },
    vehicle: { type: 'integer' },
    time: { type: 'string' },
    uptime: { type: 'integer' },
    shaper: { type: 'integer' },
    shaper_live_pwr: { type: 'number' },
    shaper_cur: { type: 'number' },
    shaper_updated: { type: 'boolean' },
    config_version: { type: 'integer' },
    loadsharing: loadsharing_block_schema,
  },
} as const;

export function status_routes(charger: Charger) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/status', { schema: { response: { 200: status_schema } } }, async () => charger.status_doc());
    app.post('/status', {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            voltage: { type: 'number', minimum: 50, maximum: 500 },
            shaper_live_pwr: { type: 'number', minimum: -1000000, maximum: 1000000, description: 'watts' },
            solar: { type: 'number', minimum: 0, maximum: 1000000, description: 'watts of solar production (charge_mode eco)' },
            grid_ie: { type: 'number', minimum: -1000000, maximum: 1000000, description: 'watts imported (+) or exported (-) (charge_mode eco)' },
          },
        },
        response: { 200: message_schema, ...error_responses },
      },
    }, async (request) => {
      charger.set_status_inputs(request.body as { voltage?: number; shaper_live_pwr?: number; solar?: number; grid_ie?: number });
      return { msg: 'done' };
    });
  };
}
