// Same-origin JSON requests. Writes carry the browser's Basic-auth credentials for this
// origin (the browser asks for them on the first 401); reads are open, as on the firmware.
export interface ApiResult<T> {
  ok: boolean;
  status: number;
  json: T | null;
  message: string; // the server's {"msg"} or a description of the failure
}

export async function api<T = unknown>(method: string, path: string, body?: unknown, extra_headers: Record<string, string> = {}): Promise<ApiResult<T>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? extra_headers : { 'content-type': 'application/json', ...extra_headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (error) {
    return { ok: false, status: 0, json: null, message: `cannot reach the charger (${(error as Error).message})` };
  }
  let json: unknown = null;
  try { json = await response.json(); } catch { json = null; }
  const msg = json !== null && typeof json === 'object' && typeof (json as { msg?: unknown }).msg === 'string' ? (json as { msg: string }).msg : '';
  let message = msg || `${response.status} ${response.statusText}`;
  // A charger without a password says so (challenge LoadshareSetup: the first-run step);
  // one with a password wants the browser's sign-in.
  const challenge = response.headers.get('www-authenticate') ?? '';
  if (response.status === 401 && /^basic/i.test(challenge)) message = 'this charger has a password: reload the page and sign in when the browser asks';
  else if (response.status === 401 && /^LoadshareSetup/i.test(challenge)) message = 'set the admin password first (the first-run step at the top of the page)';
  return { ok: response.ok, status: response.status, json: json as T, message };
}
