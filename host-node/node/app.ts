// The HTTP app, built without listening (tests use inject; run-node.ts listens). One plugin
// per concern; every body, query, param and response has a schema; validation never coerces
// types or strips unknown keys, so a wrong type or an unknown key is a 400 naming the field.
import Fastify, { type FastifyInstance, type FastifyError } from 'fastify';
import type { Charger } from './charger.js';
import { basic_auth_hook } from './auth.js';
import { status_routes } from './routes-status.js';
import { config_routes } from './routes-config.js';
import { loadsharing_routes } from './routes-loadsharing.js';
import { sim_routes } from './routes-sim.js';
import { module_routes } from './routes-module.js';
import { ui_routes } from './routes-ui.js';
import { collect_routes, openapi_document } from './openapi.js';
import { peer_auth_plugin } from './peer-auth-http.js';

export interface AppOptions {
  body_limit_bytes?: number;
  ui_dir?: string; // the built Load Sharing page (default: build/ui of this package)
}

export async function build_app(charger: Charger, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: options.body_limit_bytes ?? 64 * 1024,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation && error.validation.length > 0) {
      return reply.code(400).send({ msg: describe_validation(error) });
    }
    const status = error.statusCode ?? 500;
    if (status === 400 && /JSON/i.test(error.code ?? '') || error instanceof SyntaxError) {
      return reply.code(400).send({ msg: error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'Empty JSON body' : 'Invalid JSON' });
    }
    if (status === 413) return reply.code(413).send({ msg: 'Request body too large' });
    if (status === 415) return reply.code(415).send({ msg: 'Unsupported content type: send application/json' });
    if (status >= 400 && status < 500) return reply.code(status).send({ msg: error.message });
    charger.log.error('http', `${request.method} ${request.url}: ${error.stack ?? error.message}`);
    return reply.code(500).send({ msg: 'Internal error' });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ msg: 'Not found' }));
  app.addHook('onRequest', basic_auth_hook(charger));
  // The page's static files first, so the OpenAPI document (collected from here on) lists
  // only the API.
  await app.register(ui_routes(options.ui_dir));
  const routes = collect_routes(app);
  await app.register(peer_auth_plugin(charger)); // group-key signatures (config-sync); before the routes
  await app.register(status_routes(charger));
  await app.register(config_routes(charger));
  await app.register(loadsharing_routes(charger));
  await app.register(sim_routes(charger));
  await app.register(module_routes(charger));
  app.get('/openapi.json', { schema: { response: { 200: { type: 'object', additionalProperties: true } } } }, async () => openapi_document(routes));
  return app;
}

// "loadsharing_heartbeat_timeout: must be >= 5", "unknown key foo", "Missing required 'host' parameter".
function describe_validation(error: FastifyError): string {
  const v = error.validation![0];
  const params = v.params as Record<string, unknown>;
  if (v.keyword === 'additionalProperties') return `unknown key ${String(params.additionalProperty)}`;
  if (v.keyword === 'required') return `Missing required '${String(params.missingProperty)}' parameter`;
  const field = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (field === '') return `${error.validationContext ?? 'body'} ${v.message ?? 'is invalid'}`;
  if (v.keyword === 'enum') return `${field} must be one of ${(params.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}`;
  return `${field} ${v.message ?? 'is invalid'}`;
}
