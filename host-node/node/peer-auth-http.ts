// The HTTP side of the group key (station/peer-auth.ts): keeps each JSON body's exact bytes
// (the MAC covers bytes, not a re-serialisation), has the station check the signature of
// every signed request (request.loadshare_auth; the routes decide what must be signed: config
// pushes), and signs the response to a correctly signed request so the peer can trust what it
// reads (GET /config, GET /status). Registered once in app.ts, unencapsulated so that it
// covers every route.
import type { FastifyInstance } from 'fastify';
import type { Charger } from './charger.js';
import type { AuthResult } from '../station/peer-auth.js';
import { check_text, decode_utf8_strict } from './text.js';

declare module 'fastify' {
  interface FastifyRequest {
    loadshare_raw_body?: string;
    // null: the group has no key; undefined: the request is not signed
    loadshare_auth?: AuthResult | null;
  }
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
      request.loadshare_auth = charger.station.check_request(request.headers, request.method, request.url, request.loadshare_raw_body ?? '');
    });
    app.addHook('onSend', async (request, reply, payload) => {
      const check = request.loadshare_auth;
      if (!check || !check.ok) return payload;
      const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : null;
      if (text === null) return payload; // streams are not signed (no route of ours streams)
      for (const [name, value] of Object.entries(charger.station.sign_response(check, reply.statusCode, text))) reply.header(name, value);
      return text;
    });
  };
  // Like fastify-plugin: the parser and hooks apply to the routes registered beside it.
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}
