/**
 * A REAL upstream OpenID Provider (node-oidc-provider v9) for e2e tests: the "corporate IdP"
 * that Kubegate federates to. Plain http on loopback, authorization code + PKCE, its own
 * HTML login form driven by oidc-provider interactions, consent granted automatically.
 *
 * Settings that matter for http-on-loopback:
 *  - cookies are only marked Secure when the Koa request is secure, so plain http works as long
 *    as `provider.proxy` stays false (no X-Forwarded-Proto tricks needed);
 *  - web clients may register http:// redirect URIs for the code flow (v9 only forbids http for
 *    implicit), so redirect URIs like http://127.0.0.1:3700/... and https://127.0.0.1:3443/...
 *    both work with application_type 'web' (native clients would forbid https://127.0.0.1);
 *  - cookie names are prefixed (`upstream_`): browsers do not isolate cookies by port, so an
 *    oidc-provider-based Kubegate on the same host (127.0.0.1) would otherwise clobber our
 *    `_session`/`_interaction` cookies and vice versa;
 *  - `conformIdTokenClaims: false` so the id_token from the token endpoint carries profile/email/
 *    groups claims (the default puts them only in userinfo for the code flow).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import type {
  Adapter,
  AdapterPayload,
  ClientAuthMethod,
  ClientMetadata,
  Configuration,
  FindAccount,
  KoaContextWithOIDC,
} from 'oidc-provider';

export interface UpstreamUser {
  username: string;
  password: string;
  email: string;
  name: string;
  groups: string[];
  /** `sub` claim; defaults to the username. */
  sub?: string;
  /** Defaults to true. */
  email_verified?: boolean;
  /**
   * More claims, released with the `openid` scope in both the id_token and
   * userinfo: nested (`realm_access: { roles }`), namespaced
   * (`'https://example.com/groups'`), `hd`, `amr`, …
   */
  claims?: Record<string, unknown>;
  /** Claim names left out of the id_token, so only userinfo has them (e.g. `groups`). */
  userinfoOnly?: string[];
  /**
   * Entra ID group overage: the id_token and userinfo carry no `groups`, only
   * `_claim_names`/`_claim_sources` pointing elsewhere; the Graph stand-in
   * (`graph` option) serves the groups.
   */
  overage?: boolean;
}

export interface UpstreamClient {
  client_id: string;
  /** Omit for a public client (token_endpoint_auth_method 'none'). */
  client_secret?: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  /** Defaults to 'client_secret_basic' with a secret, 'none' without. */
  token_endpoint_auth_method?: ClientAuthMethod;
}

export interface StartUpstreamIdpOptions {
  port?: number;
  /** Host name used in the issuer URL (the server always listens on 127.0.0.1). Default '127.0.0.1'. */
  host?: '127.0.0.1' | 'localhost';
  clients: UpstreamClient[];
  users: UpstreamUser[];
  /** Require PKCE (S256) for every client, confidential ones too. Default true. */
  requirePkce?: boolean;
  /** Title shown on the login page. */
  title?: string;
  /**
   * Issue a refresh token on every code exchange of a client allowed the
   * refresh_token grant, without the `offline_access` + `prompt=consent`
   * dance. Default false (oidc-provider's own rule).
   */
  refreshTokens?: boolean;
  /** Rotate refresh tokens on every use. Default: oidc-provider's rule (public clients, or past 70% of their life). */
  rotateRefreshTokens?: boolean;
  /**
   * Serve a Microsoft Graph stand-in under `<issuer>/graph`:
   * `GET /graph/v1.0/me/transitiveMemberOf/microsoft.graph.group` answers the
   * access token's owner's groups (`id` = the group, `displayName` =
   * `Group <group>`), `pageSize` per page with `@odata.nextLink`.
   */
  graph?: { pageSize?: number };
}

export interface UpstreamRequestRecord {
  method: string;
  path: string;
  status: number;
}

export interface LoginAttempt {
  username: string;
  ok: boolean;
}

export interface UpstreamIdp {
  url: string;
  issuer: string;
  provider: Provider;
  /** Every request seen, in arrival order (method, path without query, status; status is 0 until the response is finished). */
  requests: UpstreamRequestRecord[];
  /** Query parameters of every /auth request (state, nonce, code_challenge, scope, ...). */
  authorizationRequests: Array<Record<string, string>>;
  loginAttempts: LoginAttempt[];
  cookieNames: { session: string; interaction: string; resume: string };
  /** While down, every request (discovery, JWKS, /auth, /token, login form) answers 503. */
  setDown(down: boolean): void;
  /** Change a user's attributes (groups, claims…) as an admin would upstream; later tokens and userinfo show it. */
  updateUser(username: string, patch: Partial<Omit<UpstreamUser, 'username' | 'sub'>>): void;
  /** Delete a user upstream: their refresh tokens then fail with invalid_grant. */
  removeUser(username: string): void;
  /** The Graph stand-in's base URL (with the `graph` option). */
  graphUrl: string;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// A per-instance in-memory adapter (the bundled one shares a module-global store between
// Provider instances and prints a "development-only" warning).

interface Stored {
  payload: AdapterPayload;
  expiresAt: number;
}

function createAdapterFactory(): (name: string) => Adapter {
  const store = new Map<string, Stored>();
  const grants = new Map<string, Set<string>>();
  const sessionUids = new Map<string, string>();
  const userCodes = new Map<string, string>();

  const get = (key: string): AdapterPayload | undefined => {
    const s = store.get(key);
    if (!s) return undefined;
    if (s.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return s.payload;
  };

  return (model: string): Adapter => {
    const key = (id: string) => `${model}:${id}`;
    return {
      async upsert(id, payload, expiresIn) {
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
        store.set(key(id), { payload, expiresAt });
        if (model === 'Session' && payload.uid) sessionUids.set(payload.uid, id);
        if (payload.userCode) userCodes.set(payload.userCode, id);
        if (payload.grantId) {
          let set = grants.get(payload.grantId);
          if (!set) grants.set(payload.grantId, (set = new Set()));
          set.add(key(id));
        }
      },
      async find(id) {
        return get(key(id));
      },
      async findByUid(uid) {
        const id = sessionUids.get(uid);
        return id ? get(key(id)) : undefined;
      },
      async findByUserCode(userCode) {
        const id = userCodes.get(userCode);
        return id ? get(key(id)) : undefined;
      },
      async consume(id) {
        const p = get(key(id));
        if (p) p.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        store.delete(key(id));
      },
      async revokeByGrantId(grantId) {
        for (const k of grants.get(grantId) ?? []) store.delete(k);
        grants.delete(grantId);
      },
    };
  };
}

// ---------------------------------------------------------------------------------------------

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font-family:system-ui,sans-serif;background:#f3f4f6;margin:0}
 main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:.5rem;box-shadow:0 1px 3px #0002}
 label{display:block;margin-top:1rem;font-weight:600}
 input{width:100%;box-sizing:border-box;padding:.5rem;margin-top:.25rem}
 button{margin-top:1.5rem;padding:.5rem 1rem}
 .error{color:#b91c1c;background:#fee2e2;padding:.5rem;border-radius:.25rem}
</style></head>
<body><main>${body}</main></body></html>`;
}

function loginPage(opts: {
  title: string;
  uid: string;
  clientId: string;
  username?: string;
  error?: string;
}): string {
  const { title, uid, clientId, username, error } = opts;
  return page(
    title,
    `<h1>${esc(title)}</h1>
<p>Sign in to continue to <strong>${esc(clientId)}</strong>.</p>
${error ? `<p class="error" role="alert" id="login-error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label for="username">Username</label>
  <input id="username" name="username" type="text" required autofocus value="${esc(username ?? '')}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required>
  <button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort">
  <button type="submit" id="cancel">Cancel</button>
</form>`,
  );
}

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > 64 * 1024) throw new Error('form body too large');
    chunks.push(b);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startUpstreamIdp(opts: StartUpstreamIdpOptions): Promise<UpstreamIdp> {
  const title = opts.title ?? 'Corp Identity';
  const requirePkce = opts.requirePkce ?? true;
  const users = new Map<string, UpstreamUser>();
  const usersBySub = new Map<string, UpstreamUser>();
  for (const given of opts.users) {
    const u = { ...given };
    users.set(u.username, u);
    usersBySub.set(u.sub ?? u.username, u);
  }
  // Extra claims are released with `openid`; oidc-provider drops claim names it was not told about.
  const extraClaimNames = [...new Set(opts.users.flatMap((u) => Object.keys(u.claims ?? {})))];

  let down = false;
  // eslint-disable-next-line prefer-const -- assigned once the provider exists, below
  let handler: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  const requests: UpstreamRequestRecord[] = [];
  const authorizationRequests: Array<Record<string, string>> = [];
  const loginAttempts: LoginAttempt[] = [];

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const record: UpstreamRequestRecord = { method: req.method ?? 'GET', path, status: 0 };
    requests.push(record);
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    if (down || !handler) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '1' });
      res.end('503 Service Unavailable: upstream identity provider is down\n');
      return;
    }
    handler(req, res);
  });
  const port = await listen(server, opts.port ?? 0);
  const issuer = `http://${opts.host ?? '127.0.0.1'}:${port}`;

  // Signing key: RS256 (what nearly every real IdP uses; also Auth.js' default expectation).
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingJwk = { ...(await exportJWK(privateKey)), kid: `upstream-${randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };

  const findAccount: FindAccount = async (_ctx, sub) => {
    const u = usersBySub.get(sub);
    if (!u) return undefined;
    return {
      accountId: sub,
      async claims(use) {
        // Read at call time: updateUser() changes what the next token or userinfo says.
        const current = usersBySub.get(sub) ?? u;
        const claims: Record<string, unknown> = {
          ...current.claims,
          sub,
          preferred_username: current.username,
          name: current.name,
          email: current.email,
          email_verified: current.email_verified ?? true,
          groups: [...current.groups],
        };
        if (current.overage) {
          // What Entra ID sends past 200 groups: a distributed claim instead of the list.
          delete claims.groups;
          claims._claim_names = { groups: 'src1' };
          claims._claim_sources = { src1: { endpoint: `${issuer}/graph-legacy/users/${encodeURIComponent(sub)}/getMemberObjects` } };
        }
        if (use === 'id_token') for (const name of current.userinfoOnly ?? []) delete claims[name];
        return claims as { sub: string };
      },
    };
  };

  const clients: ClientMetadata[] = opts.clients.map((c) => ({
    client_id: c.client_id,
    ...(c.client_secret ? { client_secret: c.client_secret } : {}),
    redirect_uris: c.redirect_uris,
    ...(c.post_logout_redirect_uris ? { post_logout_redirect_uris: c.post_logout_redirect_uris } : {}),
    application_type: 'web',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: c.token_endpoint_auth_method ?? (c.client_secret ? 'client_secret_basic' : 'none'),
  }));

  const cookieNames = {
    session: 'upstream_session',
    interaction: 'upstream_interaction',
    resume: 'upstream_interaction_resume',
  };

  const configuration: Configuration = {
    adapter: createAdapterFactory(),
    clients,
    findAccount,
    jwks: { keys: [signingJwk as never] },
    cookies: {
      keys: [randomBytes(32).toString('hex')],
      names: cookieNames,
    },
    claims: {
      openid: ['sub', ...extraClaimNames],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    responseTypes: ['code'],
    conformIdTokenClaims: false,
    pkce: { required: () => requirePkce },
    ...(opts.refreshTokens ? { issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token') } : {}),
    ...(opts.rotateRefreshTokens !== undefined ? { rotateRefreshToken: () => opts.rotateRefreshTokens === true } : {}),
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    clientBasedCORS: () => true,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 24 * 3600,
      Interaction: 3600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
    },
    async renderError(ctx: KoaContextWithOIDC, out) {
      ctx.type = 'html';
      ctx.body = page(
        `${title}: error`,
        `<h1>Error</h1><p role="alert" class="error">${esc(String(out.error))}: ${esc(String(out.error_description ?? ''))}</p>`,
      );
    },
  };

  const provider = new Provider(issuer, configuration);
  provider.proxy = false;
  // Expected errors (bad password is ours; these are e.g. invalid_grant on replayed codes) must not spam.
  provider.on('server_error', (_ctx, err) => console.error('[upstream-idp] server_error', err));

  const oidcCallback = provider.callback();

  async function grantFor(details: Awaited<ReturnType<Provider['interactionDetails']>>, accountId: string) {
    const { params, prompt } = details;
    const clientId = String(params.client_id);
    const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    const grant = existing ?? new provider.Grant({ accountId, clientId });
    // Grant everything that was asked for: the requested scopes, any claims requested via the
    // `claims` parameter, and whatever the consent prompt reports as missing.
    if (typeof params.scope === 'string') grant.addOIDCScope(params.scope);
    if (typeof params.claims === 'string') {
      try {
        const c = JSON.parse(params.claims) as { id_token?: object; userinfo?: object };
        grant.addOIDCClaims([...Object.keys(c.id_token ?? {}), ...Object.keys(c.userinfo ?? {})]);
      } catch {
        /* oidc-provider already rejected malformed claims */
      }
    }
    const d = prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    return grant.save();
  }

  function sendHtml(res: http.ServerResponse, status: number, html: string) {
    res.writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
    });
    res.end(html);
  }

  async function interactionRoute(req: http.IncomingMessage, res: http.ServerResponse, uid: string, action?: string) {
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      sendHtml(res, 400, page(title, '<h1>Error</h1><p role="alert" class="error">Your sign-in session has expired. Go back to the application and try again.</p>'));
      return;
    }
    if (details.uid !== uid) {
      sendHtml(res, 400, page(title, '<h1>Error</h1><p role="alert" class="error">Interaction mismatch.</p>'));
      return;
    }
    const clientId = String(details.params.client_id);

    if (req.method === 'GET' && !action) {
      if (details.prompt.name === 'login') {
        sendHtml(res, 200, loginPage({ title, uid, clientId }));
        return;
      }
      // Any other prompt (consent): grant automatically, no consent screen.
      const accountId = details.session?.accountId;
      if (!accountId) {
        sendHtml(res, 400, page(title, '<h1>Error</h1><p class="error" role="alert">No session.</p>'));
        return;
      }
      const grantId = await grantFor(details, accountId);
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }

    if (req.method === 'POST' && action === 'login') {
      const form = await readForm(req);
      const username = form.get('username') ?? '';
      const password = form.get('password') ?? '';
      const user = users.get(username);
      const ok = !!user && user.password === password;
      loginAttempts.push({ username, ok });
      if (!user || !ok) {
        sendHtml(res, 200, loginPage({ title, uid, clientId, username, error: 'Invalid username or password.' }));
        return;
      }
      const accountId = user.sub ?? user.username;
      const grantId = await grantFor(details, accountId);
      await provider.interactionFinished(
        req,
        res,
        // oidc-provider takes amr/acr from the login result, not from the account's claims.
        {
          login: {
            accountId,
            ...(Array.isArray(user.claims?.amr) ? { amr: user.claims.amr as string[] } : {}),
            ...(typeof user.claims?.acr === 'string' ? { acr: user.claims.acr } : {}),
          },
          consent: { grantId },
        },
        { mergeWithLastSubmission: false },
      );
      return;
    }

    if (req.method === 'POST' && action === 'abort') {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
      return;
    }

    sendHtml(res, 405, page(title, '<h1>Method not allowed</h1>'));
  }

  async function graphRoute(req: http.IncomingMessage, res: http.ServerResponse, url: URL) {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/graph/v1.0/me/transitiveMemberOf/microsoft.graph.group' || req.method !== 'GET') {
      json(404, { error: { code: 'Request_ResourceNotFound', message: 'not served by the stand-in' } });
      return;
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    // A real check: the access token must be one this provider issued and still holds.
    const token = bearer ? await provider.AccessToken.find(bearer) : undefined;
    const user = token ? usersBySub.get(token.accountId) : undefined;
    if (!user) {
      json(401, { error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty or invalid.' } });
      return;
    }
    const pageSize = Math.min(Number(url.searchParams.get('$top') ?? 100), opts.graph?.pageSize ?? 100);
    const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
    const all = user.groups.map((g) => ({ '@odata.type': '#microsoft.graph.group', id: g, displayName: `Group ${g}` }));
    const page = all.slice(skip, skip + pageSize);
    const body: Record<string, unknown> = { '@odata.context': `${issuer}/graph/v1.0/$metadata#groups(id,displayName)`, value: page };
    if (skip + pageSize < all.length) {
      const next = new URL(url.href);
      next.searchParams.set('$skiptoken', String(skip + pageSize));
      body['@odata.nextLink'] = next.href;
    }
    json(200, body);
  }

  handler = (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    if (opts.graph && url.pathname.startsWith('/graph/')) {
      graphRoute(req, res, url).catch((err: unknown) => {
        console.error('[upstream-idp] graph error', err);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      return;
    }
    const m = /^\/interaction\/([^/]+)(?:\/(login|abort))?\/?$/.exec(url.pathname);
    if (m) {
      interactionRoute(req, res, decodeURIComponent(m[1] ?? ''), m[2]).catch((err: unknown) => {
        console.error('[upstream-idp] interaction error', err);
        if (!res.headersSent) sendHtml(res, 500, page(title, '<h1>Internal error</h1>'));
        else res.end();
      });
      return;
    }
    if (url.pathname === '/auth') {
      authorizationRequests.push(Object.fromEntries(url.searchParams));
    }
    oidcCallback(req, res);
  };

  return {
    url: issuer,
    issuer,
    provider,
    requests,
    authorizationRequests,
    loginAttempts,
    cookieNames,
    setDown(d: boolean) {
      down = d;
    },
    updateUser(username, patch) {
      const u = users.get(username);
      if (!u) throw new Error(`no upstream user ${username}`);
      Object.assign(u, patch);
    },
    removeUser(username) {
      const u = users.get(username);
      if (!u) return;
      users.delete(username);
      usersBySub.delete(u.sub ?? u.username);
    },
    graphUrl: `${issuer}/graph`,
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
