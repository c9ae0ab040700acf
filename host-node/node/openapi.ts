// GET /openapi.json: an OpenAPI 3.1 document assembled from the schemas the routes are
// validated and serialised with, so it cannot drift from what the server enforces, and with
// the write rules of auth.ts as security requirements. docs/api.md says the same in prose;
// test/openapi.test.ts validates it and test/api-fuzz.test.ts fuzzes a real node from it.
import type { FastifyInstance, RouteOptions } from 'fastify';
import { node_version } from './config.js';
import { route_security } from './auth.js';
import { setup_code_header } from './routes-setup.js';

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

const message = {
  type: 'object',
  properties: { msg: { type: 'string' } },
  required: ['msg'],
};

// What the write check (auth.ts) may answer before a handler runs.
const refusals: Record<string, { description: string; headers?: Record<string, unknown> }> = {
  401: { description: 'No or wrong credentials; or no admin password is set yet (first run: challenge LoadshareSetup)', headers: { 'www-authenticate': { schema: { type: 'string' } } } },
  403: { description: 'Refused: a wrong setup code, or a group-key signature that fails' },
  429: { description: 'Too many failed sign-ins from this address', headers: { 'retry-after': { schema: { type: 'integer' } } } },
};

export function openapi_document(routes: Collected[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const operation: Record<string, unknown> = { operationId: `${r.method}${path.replace(/[^A-Za-z0-9]+/g, '_').replace(/_$/, '')}` };
    if (typeof r.schema.description === 'string') operation.description = r.schema.description;
    const parameters: unknown[] = [];
    for (const [where, key] of [['path', 'params'], ['query', 'querystring']] as const) {
      const s = r.schema[key] as { properties?: Record<string, unknown>; required?: string[] } | undefined;
      for (const [name, schema] of Object.entries(s?.properties ?? {})) {
        parameters.push({ in: where, name, required: where === 'path' || (s?.required ?? []).includes(name), schema });
      }
    }
    if (parameters.length > 0) operation.parameters = parameters;
    if (r.schema.body) {
      operation.requestBody = { required: r.schema.body_optional !== true, content: { 'application/json': { schema: r.schema.body } } };
    } else if (Array.isArray(r.schema.consumes)) {
      operation.requestBody = {
        required: true,
        content: Object.fromEntries((r.schema.consumes as string[]).map((type) => [type, { schema: { type: 'string', contentMediaType: type } }])),
      };
    }
    const responses: Record<string, unknown> = {};
    for (const [code, schema] of Object.entries((r.schema.response ?? {}) as Record<string, unknown>)) {
      const described = schema as Record<string, unknown>;
      const bare = Object.keys(described).every((k) => k === 'description'); // no body (101)
      responses[code] = bare
        ? { description: described.description ?? code }
        : { description: code === '200' ? 'OK' : 'Error: {"msg": "..."}', content: { 'application/json': { schema } } };
    }
    const security = route_security(r.method, r.url);
    operation.security = security;
    if (security.length > 0) {
      for (const [code, extra] of Object.entries(refusals)) {
        const documented = responses[code] as Record<string, unknown> | undefined;
        responses[code] = { ...extra, content: { 'application/json': { schema: message } }, ...(documented ?? {}), description: extra.description, ...(extra.headers ? { headers: extra.headers } : {}) };
      }
    }
    if (path.includes('{')) {
      responses['414'] = { description: 'A path parameter far longer than allowed', content: { 'application/json': { schema: message } } };
    }
    if (Object.keys(responses).length === 0) responses['200'] = { description: 'OK' };
    operation.responses = responses;
    (paths[path] ??= {})[r.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'loadshare charger node (OpenEVSE-compatible)',
      version: node_version,
      description: 'See docs/api.md. amp is in milliamps; currents in amps. Reads are open; every write needs the admin password (HTTP Basic) or, for peer traffic, the group key. A charger without an admin password refuses writes with 403 until POST /setup sets one.',
    },
    components: {
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic', description: 'the charger\'s admin password (www_username / www_password); the scheme name is case-insensitive' },
        groupKey: {
          type: 'apiKey', in: 'header', name: 'x-loadshare-mac',
          description: 'peer traffic: HMAC-SHA256 with the group key over method, path, body, x-loadshare-ts and x-loadshare-nonce (docs/config-sync.md); config pushes and the echoes of joins and leaves',
        },
        setupCode: { type: 'apiKey', in: 'header', name: setup_code_header, description: 'the first-run setup code, shown on the charger\'s display (the node logs it at start)' },
      },
    },
    paths,
  };
}
