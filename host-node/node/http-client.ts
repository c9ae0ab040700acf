// Requests from a charger to its peers (GET /status of a link, config reads and pushes, joins),
// on node:http rather than fetch. Node's fetch is undici: its first call loads undici's
// JavaScript and compiles its WebAssembly HTTP parser, about 15 MB of resident memory for a
// process that sends a few small requests a minute (docs/performance.md, "Where a charger
// node's memory goes"). The answer has what the callers read of a fetch Response: the status,
// the headers (lower-case names, repeated ones joined with ", ") and the body as UTF-8 text.
import { createRequire } from 'node:module';
import type { IncomingHttpHeaders } from 'node:http';

// Required, not imported: an ES import of a built-in module reads every export, and node:http's
// WebSocket, CloseEvent and MessageEvent getters load undici (Node 22+), the 14 MB this file
// is here to avoid.
const { request: http_request } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export interface HttpTextRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string; // '' or undefined: no body
  timeout_ms: number; // for the whole exchange, as AbortSignal.timeout gave fetch
  signal?: AbortSignal; // the caller's own cancel
}

export interface HttpTextAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

// Failures carry the same names the fetch-based callers told apart: a socket error keeps its
// code (ECONNREFUSED...), the timeout is a TimeoutError and a cancel an AbortError.
function named_error(name: 'TimeoutError' | 'AbortError', message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

function flat_headers(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

// host is "address:port" ("[v6]:port" for IPv6), as peers are stored.
export function http_text(host: string, path: string, o: HttpTextRequest): Promise<HttpTextAnswer> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(`http://${host}${path}`);
    } catch (error) {
      reject(error);
      return;
    }
    const body = o.body === undefined || o.body === '' ? null : Buffer.from(o.body, 'utf8');
    const headers: Record<string, string> = { ...o.headers };
    if (body !== null) {
      headers['content-length'] = String(body.length);
      // fetch's default for a string body, kept for a caller that gives none.
      if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'text/plain;charset=UTF-8';
    }
    let settled = false;
    const finish = (error: Error | null, answer?: HttpTextAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', on_abort);
      if (error) {
        req.destroy();
        reject(error);
      } else {
        resolve(answer!);
      }
    };
    const req = http_request(url, { method: o.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        // fetch's text() drops a byte order mark; the same here.
        const text = Buffer.concat(chunks).toString('utf8').replace(/^\uFEFF/, '');
        finish(null, { status: res.statusCode ?? 0, headers: flat_headers(res.headers), text });
      });
      res.on('error', (error) => finish(error));
      res.on('close', () => { if (!res.complete) finish(new Error('the answer was cut off')); });
    });
    const timer = setTimeout(() => finish(named_error('TimeoutError', `no answer within ${o.timeout_ms} ms`)), o.timeout_ms);
    const on_abort = () => finish(named_error('AbortError', 'cancelled'));
    if (o.signal?.aborted) {
      on_abort();
      return;
    }
    o.signal?.addEventListener('abort', on_abort, { once: true });
    req.on('error', (error) => finish(error));
    req.end(body ?? undefined);
  });
}
