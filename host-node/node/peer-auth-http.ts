// The HTTP side of the group key (peer-auth.ts): keeps each JSON body's exact bytes (the MAC
// covers bytes, not a re-serialisation), checks the signature of every signed request
// (request.loadshare_auth; the routes decide what must be signed: config pushes), and signs
// the response to a correctly signed request so the peer can trust what it reads (GET /config,
// GET /status). Registered once in app.ts, unencapsulated so that it covers every route.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Charger } from './charger.js';
import { is_signed, type AuthResult } from './peer-auth.js';
import { check_text, decode_utf8_strict } from './text.js';

declare module 'fastify' {
  interface FastifyRequest {
    loadshare_raw_body?: string;
    loadshare_auth?: AuthResult | null; // null: the group has no key
  }
}

// The request's authentication as a config push needs it: null when the group has no key.
export function push_auth(charger: Charger, request: FastifyRequest): AuthResult | null {
  if (charger.group_auth() === null) return null;
  return request.loadshare_auth ?? { ok: false, code: 401, reason: 'not signed' };
}

export function peer_auth_plugin(charger: Charger) {
  const plugin = async (app: FastifyInstance): Promise<void> => {
    const parse_json = app.getDefaultJsonParser('error', 'error');
    // Bytes, so that invalid UTF-8 is refused rather than silently replaced (text.ts).
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      let text: string;
      try {
        text = decode_utf8_strict(body as Buffer);
      } catch (error) {
        done(error as Error, undefined);
        return;
      }
      request.loadshare_raw_body = text;
      parse_json(request, text, (error, value) => {
        if (error) { done(error, undefined); return; }
        try { check_text(value); } catch (text_error) { done(text_error as Error, undefined); return; }
        done(null, value);
      });
    });
    // preValidation: the write check (auth.ts) needs the result before the schema runs.
    app.addHook('preValidation', async (request) => {
      const auth = charger.group_auth();
      if (auth === null) { request.loadshare_auth = null; return; }
      if (!is_signed(request.headers)) return;
      request.loadshare_auth = auth.verify_request(request.headers, request.method, request.url, request.loadshare_raw_body ?? '');
    });
    app.addHook('onSend', async (request, reply, payload) => {
      const result = request.loadshare_auth;
      const auth = charger.group_auth();
      if (!result || !result.ok || auth === null) return payload;
      const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : null;
      if (text === null) return payload; // streams are not signed (no route of ours streams)
      for (const [name, value] of Object.entries(auth.sign_response(result.nonce, reply.statusCode, text))) reply.header(name, value);
      return text;
    });
  };
  // Like fastify-plugin: the parser and hooks apply to the routes registered beside it.
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}
