// GET /openapi.json: an OpenAPI 3 document assembled from the schemas the routes are
// validated and serialised with, so it cannot drift from what the server enforces.
// docs/api.md says the same in prose.
import type { FastifyInstance, RouteOptions } from 'fastify';
import { node_version } from './config.js';

interface Collected {
  method: string;
  url: string;
  schema: Record<string, unknown>;
}

// Must be called before the routes are registered (it listens for them).
export function collect_routes(app: FastifyInstance): Collected[] {
  const routes: Collected[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD') continue;
      routes.push({ method: method.toLowerCase(), url: route.url, schema: (route.schema ?? {}) as Record<string, unknown> });
    }
  });
  return routes;
}

export function openapi_document(routes: Collected[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const operation: Record<string, unknown> = { operationId: `${r.method} ${path}` };
    const parameters: unknown[] = [];
    for (const [where, key] of [['path', 'params'], ['query', 'querystring']] as const) {
      const s = r.schema[key] as { properties?: Record<string, unknown>; required?: string[] } | undefined;
      for (const [name, schema] of Object.entries(s?.properties ?? {})) {
        parameters.push({ in: where, name, required: where === 'path' || (s?.required ?? []).includes(name), schema });
      }
    }
    if (parameters.length > 0) operation.parameters = parameters;
    if (r.schema.body) operation.requestBody = { required: true, content: { 'application/json': { schema: r.schema.body } } };
    const responses: Record<string, unknown> = {};
    for (const [code, schema] of Object.entries((r.schema.response ?? {}) as Record<string, unknown>)) {
      responses[code] = { description: code === '200' ? 'OK' : 'Error: {"msg": "..."}', content: { 'application/json': { schema } } };
    }
    if (Object.keys(responses).length === 0) responses['200'] = { description: 'OK' };
    operation.responses = responses;
    (paths[path] ??= {})[r.method] = operation;
  }
  paths['/ws'] = {
    get: {
      operationId: 'get /ws',
      description: 'WebSocket: the full /status document on connect, then changed keys only; send {"ping":1} to get {"pong":1}.',
      responses: { '101': { description: 'Switching protocols' } },
    },
  };
  return {
    openapi: '3.0.3',
    info: { title: 'loadshare charger node (OpenEVSE-compatible)', version: node_version, description: 'See docs/api.md. amp is in milliamps; currents in amps.' },
    components: { securitySchemes: { basic: { type: 'http', scheme: 'basic', description: 'required on writes when www_username/www_password are set' } } },
    paths,
  };
}
