// POST /sim/ev: plug, unplug and shape the simulated car (not an upstream endpoint).
import type { FastifyInstance } from 'fastify';
import type { Charger } from './charger.js';
import { error_responses } from './schemas.js';

export function sim_routes(charger: Charger) {
  return async (app: FastifyInstance): Promise<void> => {
    app.post('/sim/ev', {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            connected: { type: 'boolean' },
            soc: { type: 'number', minimum: 0, maximum: 100, description: 'state of charge, %' },
            max_current: { type: 'number', minimum: 0, maximum: 80, description: 'onboard charger limit, amps' },
            lag_ms: { type: 'integer', minimum: 0, maximum: 5000, description: 'pilot-follow lag (IEC 61851: at most 5 s)' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { connected: { type: 'boolean' }, soc: { type: 'number' }, max_current: { type: 'number' }, lag_ms: { type: 'integer' } },
            required: ['connected', 'soc', 'max_current', 'lag_ms'],
          },
          ...error_responses,
        },
      },
    }, async (request) => {
      const car = charger.set_car(request.body as { connected?: boolean; soc?: number; max_current?: number; lag_ms?: number });
      return { connected: car.connected, soc: car.soc_pct, max_current: car.max_current_a, lag_ms: car.lag_ms };
    });
  };
}
