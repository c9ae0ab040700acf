// The station's answers in HTTP terms: which status code each domain outcome gets (the
// fastify routes use the same table), and the peer-facing requests served without a server
// (GET /status, GET /config, a config push), which the simulator's virtual network carries.
import type { PushOutcome } from './config-sync.js';
import type { AuthResult } from './peer-auth.js';
import type { PeerError, PeerResponse, Station } from './station.js';
import { write_rule, credentials_match, no_password_msg } from '../node/write-rules.js';
import { has_admin_password } from '../node/config.js';

export function push_status_code(outcome: PushOutcome): 200 | 400 | 401 | 403 | 409 {
  switch (outcome) {
    case 'adopted': case 'unchanged': return 200;
    case 'older': return 409;
    case 'invalid': return 400;
    case 'unsigned': return 401;
    case 'forged': case 'disabled': return 403;
  }
}

export function peer_error_status_code(error: PeerError): 400 | 404 | 409 {
  return error.kind === 'not_found' ? 404 : error.kind === 'conflict' ? 409 : 400;
}

// The authentication a config push needs: null when the group has no key; a request without
// a signature is refused as unsigned.
export function push_auth(check: AuthResult | null | undefined): AuthResult | null {
  if (check === null) return null;
  return check ?? { ok: false, refusal: 'unsigned', reason: 'not signed' };
}

export interface PeerRequestIn {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  remote: string; // the sender's address (no port)
}

// A peer's request to this station, as the node's routes answer it (docs/api.md), for the
// requests peers make of each other: the status, the config, a config push. Signed answers
// to correctly signed requests, as peer-auth-http.ts does for the server.
export function serve_peer(station: Station, request: PeerRequestIn): PeerResponse {
  const check = station.check_request(request.headers, request.method, request.path, request.body);
  const answer = (status: number, text: string): PeerResponse => ({ status, text, headers: station.sign_response(check, status, text) });
  if (request.method === 'GET' && request.path === '/status') return answer(200, station.status_text());
  if (request.method === 'GET' && request.path === '/config') return answer(200, JSON.stringify(station.config_document()));
  if (request.method === 'POST' && request.path === '/config') {
    let body: unknown;
    try { body = JSON.parse(request.body); } catch { return answer(400, JSON.stringify({ msg: 'Invalid JSON' })); }
    if (write_rule('POST', '/config', body, {}, request.headers) !== 'push') return answer(404, JSON.stringify({ msg: 'Not found' })); // a person's write: not a peer request
    // Who may push (write-rules.ts, as auth.ts applies it): with a group key the signature
    // (checked with the push); without one, a person's credentials (the admin password).
    if (station.group_auth() === null && !credentials_match(request.headers.authorization, station.raw_config())) {
      return answer(401, JSON.stringify({ msg: has_admin_password(station.raw_config()) ? 'Unauthorized' : no_password_msg }));
    }
    const reply = station.handle_config_push(body, push_auth(check), request.remote);
    return answer(push_status_code(reply.outcome), JSON.stringify({ msg: reply.msg, config_version: reply.config_version }));
  }
  return answer(404, JSON.stringify({ msg: 'Not found' }));
}
