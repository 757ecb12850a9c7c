import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startUpstreamIdp, type UpstreamIdp } from './upstream-idp';

/** Minimal cookie jar honouring Path and deletion, enough for oidc-provider's cookies. */
class CookieJar {
  private cookies = new Map<string, { value: string; path: string }>();

  store(res: Response, requestPath: string) {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = requestPath.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const a of attrs) {
        const [k = '', v = ''] = a.split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      const key = `${name}\u0000${path}`;
      if (expired || value === '') this.cookies.delete(key);
      else this.cookies.set(key, { value, path });
    }
  }

  header(path: string): string {
    const out: string[] = [];
    for (const [key, c] of this.cookies) {
      const name = key.split('\u0000')[0];
      if (path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/') {
        out.push(`${name}=${c.value}`);
      }
    }
    return out.join('; ');
  }
}

const b64url = (b: Buffer) => b.toString('base64url');

describe('upstream IdP (real oidc-provider)', () => {
  let idp: UpstreamIdp;
  const redirectUri = 'http://127.0.0.1:3700/api/auth/callback/corp';

  beforeAll(async () => {
    idp = await startUpstreamIdp({
      clients: [
        { client_id: 'kubegate', client_secret: 'kubegate-secret', redirect_uris: [redirectUri] },
        { client_id: 'kubegate-tls', client_secret: 's3cret', redirect_uris: ['https://127.0.0.1:3443/api/auth/callback/corp'] },
        { client_id: 'public-app', redirect_uris: ['http://127.0.0.1:3701/cb'] },
      ],
      users: [
        { username: 'alice', password: 'wonderland', email: 'alice@corp.example', name: 'Alice Liddell', groups: ['dev', 'ops'] },
      ],
    });
  });
  afterAll(async () => {
    await idp?.close();
  });

  async function go(jar: CookieJar, url: string, init: RequestInit = {}) {
    const u = new URL(url, idp.url);
    const headers = new Headers(init.headers);
    const cookie = jar.header(u.pathname);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    jar.store(res, u.pathname);
    return res;
  }

  it('serves discovery with groups claim/scope and S256 PKCE', async () => {
    const res = await fetch(`${idp.url}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const d = (await res.json()) as Record<string, unknown>;
    expect(d.issuer).toBe(idp.issuer);
    expect(d.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(d.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'groups']));
    expect(d.claims_supported).toEqual(expect.arrayContaining(['groups', 'preferred_username', 'email', 'name']));
    expect(d.code_challenge_methods_supported).toEqual(['S256']);
  });

  it('runs a full authorization code + PKCE flow through its own login form', async () => {
    const jar = new CookieJar();
    const verifier = b64url(randomBytes(32));
    const challenge = b64url(createHash('sha256').update(verifier).digest());
    const state = b64url(randomBytes(8));
    const nonce = b64url(randomBytes(8));

    const auth = new URL('/auth', idp.url);
    auth.search = new URLSearchParams({
      client_id: 'kubegate',
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid profile email groups',
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();

    let res = await go(jar, auth.href);
    expect(res.status).toBe(303);
    const interactionPath = res.headers.get('location')!;
    expect(interactionPath).toMatch(/^\/interaction\/[\w-]+$/);

    res = await go(jar, interactionPath);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<label for="username">Username</label>');
    expect(html).toContain('<label for="password">Password</label>');
    expect(html).toMatch(/<button type="submit">Sign in<\/button>/);
    expect(html).not.toContain('Invalid username or password');

    const form = (username: string, password: string) => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username, password }).toString(),
    });

    // wrong password: stays on the form with a visible error
    res = await go(jar, `${interactionPath}/login`, form('alice', 'nope'));
    expect(res.status).toBe(200);
    const errHtml = await res.text();
    expect(errHtml).toContain('role="alert"');
    expect(errHtml).toContain('Invalid username or password.');
    expect(idp.loginAttempts.at(-1)).toEqual({ username: 'alice', ok: false });

    // right password: back to /auth/<uid> and then to the client's redirect_uri with a code
    res = await go(jar, `${interactionPath}/login`, form('alice', 'wonderland'));
    expect(res.status).toBe(303);
    let location = res.headers.get('location')!;
    expect(new URL(location, idp.url).pathname).toMatch(/^\/auth\//);
    // follow until we leave the IdP (no consent screen expected)
    for (let i = 0; i < 5 && (location.startsWith('/') || location.startsWith(idp.url)); i++) {
      res = await go(jar, location);
      expect([302, 303]).toContain(res.status);
      location = res.headers.get('location')!;
    }
    const cb = new URL(location);
    expect(`${cb.origin}${cb.pathname}`).toBe(redirectUri);
    expect(cb.searchParams.get('state')).toBe(state);
    expect(cb.searchParams.get('iss')).toBe(idp.issuer);
    const code = cb.searchParams.get('code');
    expect(code).toBeTruthy();

    // token exchange (client_secret_basic + code_verifier)
    const tokenRes = await fetch(`${idp.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('kubegate:kubegate-secret').toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: code!,
        redirect_uri: redirectUri,
        code_verifier: verifier,
      }).toString(),
    });
    expect(tokenRes.status).toBe(200);
    const tokens = (await tokenRes.json()) as { id_token: string; access_token: string; token_type: string };
    expect(tokens.token_type).toBe('Bearer');

    const jwks = createRemoteJWKSet(new URL(`${idp.url}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(tokens.id_token, jwks, {
      issuer: idp.issuer,
      audience: 'kubegate',
    });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload).toMatchObject({
      sub: 'alice',
      preferred_username: 'alice',
      email: 'alice@corp.example',
      email_verified: true,
      name: 'Alice Liddell',
      groups: ['dev', 'ops'],
      nonce,
    });

    // the recorded /auth request shows what the RP sent
    expect(idp.authorizationRequests.at(-1)).toMatchObject({ code_challenge_method: 'S256', client_id: 'kubegate' });

    // the session cookie now lets a second authorization skip the form (SSO) without consent
    const again = new URL(auth.href);
    again.searchParams.set('state', 'second');
    res = await go(jar, again.href);
    let loc = res.headers.get('location')!;
    for (let i = 0; i < 5 && !loc.startsWith(redirectUri); i++) {
      res = await go(jar, loc);
      loc = res.headers.get('location')!;
    }
    expect(new URL(loc).searchParams.get('code')).toBeTruthy();
  });

  it('requires PKCE and rejects unregistered redirect URIs', async () => {
    const res = await fetch(
      `${idp.url}/auth?${new URLSearchParams({
        client_id: 'kubegate',
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: 'openid',
        state: 'x',
      })}`,
      { redirect: 'manual' },
    );
    expect(res.status).toBe(303);
    const cb = new URL(res.headers.get('location')!);
    expect(cb.searchParams.get('error')).toBe('invalid_request');
    expect(cb.searchParams.get('error_description')).toMatch(/PKCE/);

    const bad = await fetch(
      `${idp.url}/auth?${new URLSearchParams({
        client_id: 'kubegate',
        redirect_uri: 'http://127.0.0.1:9999/evil',
        response_type: 'code',
        scope: 'openid',
        code_challenge: 'x'.repeat(43),
        code_challenge_method: 'S256',
      })}`,
      { redirect: 'manual' },
    );
    expect(bad.status).toBe(400);
  });

  it('accepts https loopback redirect URIs for web clients', async () => {
    const res = await fetch(
      `${idp.url}/auth?${new URLSearchParams({
        client_id: 'kubegate-tls',
        redirect_uri: 'https://127.0.0.1:3443/api/auth/callback/corp',
        response_type: 'code',
        scope: 'openid',
        code_challenge: b64url(createHash('sha256').update('v'.repeat(43)).digest()),
        code_challenge_method: 'S256',
      })}`,
      { redirect: 'manual' },
    );
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^\/interaction\//);
  });

  it('answers 503 everywhere while down', async () => {
    idp.setDown(true);
    try {
      const d = await fetch(`${idp.url}/.well-known/openid-configuration`);
      expect(d.status).toBe(503);
      const t = await fetch(`${idp.url}/token`, { method: 'POST' });
      expect(t.status).toBe(503);
    } finally {
      idp.setDown(false);
    }
    const ok = await fetch(`${idp.url}/.well-known/openid-configuration`);
    expect(ok.status).toBe(200);
  });
});
