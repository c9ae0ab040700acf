// The HTTP app, built without listening (tests use inject; run-node.ts listens). One plugin
// per concern; every body, query, param and response has a schema; validation never coerces
// types or strips unknown keys, so a wrong type or an unknown key is a 400 naming the field.
import Fastify, { type FastifyInstance, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import helmet from '@fastify/helmet';
import type { Charger } from './charger.js';
import { LoginLimiter, write_auth_hook, type LoginLimitOptions } from './auth.js';
import { FirstRun } from './first-run.js';
import { setup_routes } from './routes-setup.js';
import { no_nul_pattern, username_pattern } from './config.js';
import { status_routes } from './routes-status.js';
import { config_routes } from './routes-config.js';
import { loadsharing_routes } from './routes-loadsharing.js';
import { sim_routes } from './routes-sim.js';
import { module_routes } from './routes-module.js';
import { upstream_routes } from './routes-upstream.js';
import { ui_routes } from './routes-ui.js';
import { collect_routes, openapi_document } from './openapi.js';
import { peer_auth_plugin } from './peer-auth-http.js';
import { message_schema } from './schemas.js';

export interface AppOptions {
  body_limit_bytes?: number;
  ui_dir?: string; // the built Load Sharing page (default: build/ui of this package)
  login_limit?: LoginLimitOptions; // failed sign-ins per client address (auth.ts)
}

// The page's policy: its own scripts, styles and API only; no framing (clickjacking: a page
// on the LAN could otherwise overlay "Save" buttons); no plugins, no base or form targets
// elsewhere. Svelte sets inline style attributes (the gauge's width), hence 'unsafe-inline'
// for styles only. Plain HTTP on a LAN: no HSTS, no upgrade-insecure-requests (it would
// break the page), no COOP (ignored on an untrustworthy origin, with a console warning).
export const content_security_policy = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'", "'unsafe-inline'"],
  'img-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'font-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

export async function build_app(charger: Charger, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: options.body_limit_bytes ?? 64 * 1024,
    // Above the longest path parameter the schemas allow (a host: 253), so that the schema
    // answers 400 naming it; far longer is 414, in our error format (frameworkErrors).
    routerOptions: { maxParamLength: 512 },
    frameworkErrors: (error, _request, reply) => {
      const too_long = error.statusCode === 414;
      void (reply as FastifyReply).code(too_long ? 414 : 400).send({ msg: too_long ? 'URI Too Long' : 'Bad URL' });
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    // No such route: the body parser of the not-found route may fail first (a method fastify
    // expects a body with, such as QUERY, without a content type); the answer is still 404/405.
    if (request.is404) return not_found(request, reply);
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
  // An unknown path is an error document only: never a page or a default object a client
  // could read as data (no SPA fallback; the page's files are exact routes). A known path
  // asked with a method it does not have is 405 with the methods it has.
  const known = route_table(app);
  const not_found = (request: FastifyRequest, reply: FastifyReply) => {
    const allow = known.methods_of(request.url);
    if (allow.length > 0) return reply.code(405).header('allow', allow.join(', ')).header('cache-control', 'no-store').send({ msg: 'Method Not Allowed' });
    return reply.code(404).header('cache-control', 'no-store').send({ msg: 'Not found' });
  };
  app.setNotFoundHandler(not_found);
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: content_security_policy },
    frameguard: { action: 'deny' },
    strictTransportSecurity: false,
    crossOriginOpenerPolicy: false,
  });
  const limiter = new LoginLimiter(options.login_limit);
  await limiter.register(app);
  const first_run = new FirstRun(charger);
  first_run.announce();
  // The page's static files first, so the OpenAPI document (collected from here on) lists
  // only the API.
  await app.register(ui_routes(options.ui_dir));
  const routes = collect_routes(app);
  await app.register(peer_auth_plugin(charger)); // group-key signatures (config-sync); before the routes
  app.addHook('preValidation', write_auth_hook(charger, limiter)); // after the signature check
  await app.register(setup_routes(charger, first_run, limiter));
  await app.register(status_routes(charger));
  await app.register(config_routes(charger));
  await app.register(loadsharing_routes(charger));
  await app.register(sim_routes(charger));
  await app.register(module_routes(charger));
  // The status stream (ws-server.ts) takes upgrade requests before they reach fastify; a
  // plain GET of /ws is told what it is.
  app.get('/ws', {
    schema: {
      description: 'WebSocket: the full /status document on connect, then changed keys only; send {"ping":1} to get {"pong":1}. Without an Upgrade header: 426.',
      response: { 101: { description: 'Switching protocols' }, 426: message_schema },
    },
  }, async (_request, reply) => reply.code(426).header('upgrade', 'websocket').header('connection', 'Upgrade')
    .send({ msg: 'Upgrade Required: /ws is a WebSocket (connect with ws://)' }));
  await app.register(upstream_routes(charger)); // /override, /claims, /limit, /r (issue 16)
  app.get('/openapi.json', { schema: { response: { 200: { type: 'object', additionalProperties: true } } } }, async () => openapi_document(routes));
  return app;
}

// Every route's method and path pattern (listened for from the start), to tell an unknown
// path (404) from a known path asked with the wrong method (405).
function route_table(app: FastifyInstance) {
  const routes: Array<{ method: string; pattern: RegExp; is_static: boolean }> = [];
  app.addHook('onRoute', (route) => {
    const pattern = new RegExp(`^${route.url.split('/').map((part) => part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('/')}$`);
    const is_static = !route.url.includes(':');
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) routes.push({ method, pattern, is_static });
  });
  return {
    methods_of(url: string): string[] {
      const path = url.split('?')[0];
      const matches = routes.filter((r) => r.pattern.test(path));
      // A path that is a resource of its own (/claims/target) has its own methods, not those
      // of the parametric route it also matches (/claims/{client}).
      const statics = matches.filter((r) => r.is_static);
      return [...new Set((statics.length > 0 ? statics : matches).map((r) => r.method))].sort();
    },
  };
}

// "loadsharing_heartbeat_timeout: must be >= 5", "unknown key foo", "Missing required 'host' parameter".
function describe_validation(error: FastifyError): string {
  const v = error.validation![0];
  const params = v.params as Record<string, unknown>;
  if (v.keyword === 'additionalProperties') return `unknown key ${String(params.additionalProperty)}`;
  if (v.keyword === 'required') return `Missing required '${String(params.missingProperty)}' parameter`;
  const field = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (field === '') return `${error.validationContext ?? 'body'} ${v.message ?? 'is invalid'}`;
  if (v.keyword === 'pattern' && params.pattern === no_nul_pattern) return `${field} must not contain NUL characters`;
  if (v.keyword === 'pattern' && params.pattern === username_pattern) return `${field} must not contain ':' or NUL characters`;
  if (v.keyword === 'enum') return `${field} must be one of ${(params.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}`;
  return `${field} ${v.message ?? 'is invalid'}`;
}
