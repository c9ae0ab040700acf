// The group key: HMAC-SHA256 over peer-to-peer traffic (docs/config-sync.md, "Authentication").
// Three shapes, all keyed by the same secret (loadsharing_group_key):
//   - a request (a config push, a config or status fetch, the /ws handshake): headers carry
//     the sender's id, a timestamp, a fresh random nonce and the MAC over method, path (with
//     query), sender, timestamp, nonce and the exact body bytes. The receiver refuses a stale
//     timestamp (outside +-window) and a nonce it has already seen inside the window (replay).
//   - a response to a signed request: the MAC covers the request's nonce, the status code,
//     a timestamp and the exact body, so a recorded answer cannot be served for a new request.
//   - a /ws frame to a peer whose handshake was signed: the MAC covers the handshake nonce (the
//     session), a counter that must grow, a timestamp and the exact document text.
// Nothing here logs or returns the key.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../engine/types.js';

export const h_id = 'x-loadshare-id';
export const h_ts = 'x-loadshare-ts';
export const h_nonce = 'x-loadshare-nonce';
export const h_mac = 'x-loadshare-mac';

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

  sign_request(method: string, path: string, body: string, sender: string): { headers: Record<string, string>; nonce: string } {
    const ts = this.stamp_ms();
    const nonce = randomBytes(16).toString('hex');
    const mac = this.mac(['loadshare-req-v1', method.toUpperCase(), path, sender, ts, nonce], body);
    return { headers: { [h_id]: sender, [h_ts]: String(ts), [h_nonce]: nonce, [h_mac]: mac }, nonce };
  }

  verify_request(headers: Headers, method: string, path: string, body: string): AuthResult {
    const sender = header(headers, h_id);
    const ts_text = header(headers, h_ts);
    const nonce = header(headers, h_nonce);
    const mac = header(headers, h_mac);
    if (sender === undefined && mac === undefined) return { ok: false, refusal: 'unsigned', reason: 'not signed' };
    if (!sender || !ts_text || !nonce || !mac || !/^\d{1,16}$/.test(ts_text) || !/^[0-9a-f]{32}$/.test(nonce)) {
      return { ok: false, refusal: 'invalid', reason: 'malformed signature headers' };
    }
    const expected = this.mac(['loadshare-req-v1', method.toUpperCase(), path, sender, ts_text, nonce], body);
    if (!same_hex(mac, expected)) return { ok: false, refusal: 'invalid', reason: 'bad signature' };
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
    return { [h_ts]: String(ts), [h_mac]: this.mac(['loadshare-res-v1', request_nonce, status, ts], body) };
  }

  verify_response(headers: Headers, request_nonce: string, status: number, body: string): string | null {
    const ts_text = header(headers, h_ts);
    const mac = header(headers, h_mac);
    if (!ts_text || !mac) return 'response not signed';
    if (!/^\d{1,16}$/.test(ts_text)) return 'malformed response signature';
    if (!same_hex(mac, this.mac(['loadshare-res-v1', request_nonce, status, ts_text], body))) return 'bad response signature';
    if (Math.abs(this.clock.now_ms() - Number(ts_text)) > this.window_ms) return 'stale response';
    return null;
  }

  sign_frame(session_nonce: string, ctr: number, text: string): string {
    const ts = this.stamp_ms();
    const frame: SignedFrame = { ls_sig: { ctr, ts, mac: this.mac(['loadshare-ws-v1', session_nonce, ctr, ts], text) }, ls_doc: text };
    return JSON.stringify(frame);
  }

  // Returns the document text, or the reason the frame is refused. last_ctr: the counter of
  // the last frame accepted on this session (frames must count up: no replay, no reorder).
  verify_frame(session_nonce: string, last_ctr: number, frame: unknown): { text: string; ctr: number } | string {
    const f = frame as Partial<SignedFrame> | null;
    const sig = f?.ls_sig;
    if (typeof f !== 'object' || f === null || typeof f.ls_doc !== 'string' || typeof sig !== 'object' || sig === null) return 'frame not signed';
    if (!Number.isSafeInteger(sig.ctr) || !Number.isSafeInteger(sig.ts) || typeof sig.mac !== 'string') return 'malformed frame signature';
    if (!same_hex(sig.mac, this.mac(['loadshare-ws-v1', session_nonce, sig.ctr, sig.ts], f.ls_doc))) return 'bad frame signature';
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
