// The group key: HMAC-SHA256 over peer-to-peer traffic (docs/config-sync.md, "Authentication").
// Three shapes, all keyed by the same secret (loadsharing_group_key):
//   - a request (a config push, a config or status fetch, the /ws handshake, a reciprocal join
//     or leave): headers carry the sender's id, the destination (the receiver's id, or its
//     address while the sender has not learned the id), a timestamp, a fresh random nonce and
//     the MAC over method, path (with query), sender, destination, timestamp, nonce and the
//     exact body bytes. The receiver refuses a request meant for another charger, a stale
//     timestamp (outside +-window) and a nonce it has already seen inside the window (replay).
//   - a response to a signed request: the MAC covers the request's nonce, the status code,
//     a timestamp and the exact body, so a recorded answer cannot be served for a new request.
//   - a /ws frame to a peer whose handshake was signed: the MAC covers the handshake nonce (the
//     session), the subscriber's id (the handshake's sender), a counter that must grow, a
//     timestamp and the exact document text.
// Nothing here logs or returns the key.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../engine/types.js';

export const h_id = 'x-loadshare-id';
export const h_ts = 'x-loadshare-ts';
export const h_nonce = 'x-loadshare-nonce';
export const h_mac = 'x-loadshare-mac';
export const h_to = 'x-loadshare-to';

// The tags name the layout of what is signed: v2 added the destination (requests) and the
// subscriber (frames), so a message signed for one charger is refused by every other.
const req_tag = 'loadshare-req-v2';
const res_tag = 'loadshare-res-v1';
const ws_tag = 'loadshare-ws-v2';

export const auth_window_ms = 30000;
const nonce_cache_max = 8192;

// A refusal says whether the request carried no signature at all ('unsigned') or one that is
// wrong, stale or replayed ('invalid'); the HTTP layer answers 401 and 403 for them.
export type AuthResult = { ok: true; sender: string; nonce: string } | { ok: false; refusal: 'unsigned' | 'invalid'; reason: string };

export interface SignedFrame {
  ls_sig: { ctr: number; ts: number; mac: string };
  ls_doc: string;
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function same_hex(a: string, b: string): boolean {
  if (a.length !== b.length || !/^[0-9a-f]*$/.test(a)) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

export class GroupAuth {
  private readonly seen = new Map<string, number>(); // nonce -> expiry (ms)

  constructor(private readonly key: string, private readonly clock: Clock, readonly window_ms = auth_window_ms) {}

  // Timestamps are whole milliseconds on the wire, whatever the clock's resolution.
  private stamp_ms(): number {
    return Math.floor(this.clock.now_ms());
  }

  private mac(parts: Array<string | number>, body: string): string {
    return createHmac('sha256', this.key).update(`${parts.join('\n')}\n`).update(body, 'utf8').digest('hex');
  }

  // to: the receiver's id, or its host:port while the sender does not know the id yet.
  sign_request(method: string, path: string, body: string, sender: string, to: string): { headers: Record<string, string>; nonce: string } {
    const ts = this.stamp_ms();
    const nonce = randomBytes(16).toString('hex');
    const mac = this.mac([req_tag, method.toUpperCase(), path, sender, to, ts, nonce], body);
    return { headers: { [h_id]: sender, [h_to]: to, [h_ts]: String(ts), [h_nonce]: nonce, [h_mac]: mac }, nonce };
  }

  // is_me: whether the request's destination names this charger (its id or one of its addresses).
  verify_request(headers: Headers, method: string, path: string, body: string, is_me: (to: string) => boolean): AuthResult {
    const sender = header(headers, h_id);
    const to = header(headers, h_to);
    const ts_text = header(headers, h_ts);
    const nonce = header(headers, h_nonce);
    const mac = header(headers, h_mac);
    if (sender === undefined && mac === undefined) return { ok: false, refusal: 'unsigned', reason: 'not signed' };
    if (!sender || !to || !ts_text || !nonce || !mac || !/^\d{1,16}$/.test(ts_text) || !/^[0-9a-f]{32}$/.test(nonce)) {
      return { ok: false, refusal: 'invalid', reason: 'malformed signature headers' };
    }
    const expected = this.mac([req_tag, method.toUpperCase(), path, sender, to, ts_text, nonce], body);
    if (!same_hex(mac, expected)) return { ok: false, refusal: 'invalid', reason: 'bad signature' };
    if (!is_me(to)) return { ok: false, refusal: 'invalid', reason: 'signed for another charger' };
    const now_ms = this.clock.now_ms();
    if (Math.abs(now_ms - Number(ts_text)) > this.window_ms) return { ok: false, refusal: 'invalid', reason: 'stale timestamp' };
    this.prune(now_ms);
    if (this.seen.has(nonce)) return { ok: false, refusal: 'invalid', reason: 'replayed nonce' };
    // Only correctly signed requests reach the cache, so a stranger cannot fill it.
    this.seen.set(nonce, Number(ts_text) + 2 * this.window_ms);
    return { ok: true, sender, nonce };
  }

  sign_response(request_nonce: string, status: number, body: string): Record<string, string> {
    const ts = this.stamp_ms();
    return { [h_ts]: String(ts), [h_mac]: this.mac([res_tag, request_nonce, status, ts], body) };
  }

  verify_response(headers: Headers, request_nonce: string, status: number, body: string): string | null {
    const ts_text = header(headers, h_ts);
    const mac = header(headers, h_mac);
    if (!ts_text || !mac) return 'response not signed';
    if (!/^\d{1,16}$/.test(ts_text)) return 'malformed response signature';
    if (!same_hex(mac, this.mac([res_tag, request_nonce, status, ts_text], body))) return 'bad response signature';
    if (Math.abs(this.clock.now_ms() - Number(ts_text)) > this.window_ms) return 'stale response';
    return null;
  }

  // to: the subscriber's id (the sender of the signed handshake).
  sign_frame(session_nonce: string, ctr: number, text: string, to: string): string {
    const ts = this.stamp_ms();
    const frame: SignedFrame = { ls_sig: { ctr, ts, mac: this.mac([ws_tag, session_nonce, to, ctr, ts], text) }, ls_doc: text };
    return JSON.stringify(frame);
  }

  // Returns the document text, or the reason the frame is refused. last_ctr: the counter of
  // the last frame accepted on this session (frames must count up: no replay, no reorder);
  // me: this charger's id (a frame signed for another subscriber fails the MAC).
  verify_frame(session_nonce: string, last_ctr: number, frame: unknown, me: string): { text: string; ctr: number } | string {
    const f = frame as Partial<SignedFrame> | null;
    const sig = f?.ls_sig;
    if (typeof f !== 'object' || f === null || typeof f.ls_doc !== 'string' || typeof sig !== 'object' || sig === null) return 'frame not signed';
    if (!Number.isSafeInteger(sig.ctr) || !Number.isSafeInteger(sig.ts) || typeof sig.mac !== 'string') return 'malformed frame signature';
    if (!same_hex(sig.mac, this.mac([ws_tag, session_nonce, me, sig.ctr, sig.ts], f.ls_doc))) return 'bad frame signature';
    if (sig.ctr <= last_ctr) return 'replayed frame';
    if (Math.abs(this.clock.now_ms() - sig.ts) > this.window_ms) return 'stale frame';
    return { text: f.ls_doc, ctr: sig.ctr };
  }

  private prune(now_ms: number): void {
    for (const [nonce, expiry_ms] of this.seen) {
      if (expiry_ms > now_ms && this.seen.size < nonce_cache_max) break; // insertion order ~ time order
      this.seen.delete(nonce);
    }
  }
}

export function is_signed(headers: Headers): boolean {
  return header(headers, h_mac) !== undefined || header(headers, h_id) !== undefined;
}
