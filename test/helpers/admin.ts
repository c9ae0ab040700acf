// The admin password the test chargers are set up with. A charger fresh from the box has none
// and refuses every write until its first-run step (docs/security.md): tests that are not
// about that start their chargers set up, with load sharing on, as an installer would leave them.
export const admin = { username: 'admin', password: 'test-admin-password' };

export const admin_config = { www_username: admin.username, www_password: admin.password, loadsharing_enabled: true } as const;

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export const admin_auth: Record<string, string> = { authorization: basic(admin.username, admin.password) };

// Headers for a request: the admin's credentials on writes unless the caller gave an
// `authorization` header of its own ('' sends none).
export function with_admin(method: string, headers: Record<string, string> = {}): Record<string, string> {
  if (method === 'GET' || method === 'HEAD') return headers;
  if ('authorization' in headers) {
    const { authorization, ...rest } = headers;
    return authorization === '' ? rest : headers;
  }
  return { ...admin_auth, ...headers };
}
