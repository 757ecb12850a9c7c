/**
 * A stand-in for GitHub (github.com or GitHub Enterprise Server) on loopback,
 * serving the documented OAuth app endpoints and REST payload shapes the
 * connector reads. GitHub itself cannot be reached from the test machines.
 *
 *   GET  /login/oauth/authorize      a small sign-in + consent page; POST picks the user and
 *                                    redirects to redirect_uri?code=…&state=… (docs: "Authorizing
 *                                    OAuth apps", web application flow, step 1)
 *   POST /login/oauth/access_token   form or JSON body, client credentials in the body or HTTP
 *                                    Basic; answers form-encoded, or JSON with Accept:
 *                                    application/json; errors are 200 with `error` (as GitHub);
 *                                    codes are single use, 10 minutes, bound to client_id and
 *                                    redirect_uri; PKCE (S256) checked when a challenge was sent
 *   GET  <api>/user, /user/emails, /user/orgs, /user/teams
 *                                    `Authorization: Bearer|token <t>`; 401 "Bad credentials" for
 *                                    unknown or revoked tokens; 403 without a User-Agent (as
 *                                    GitHub); per_page (default 30, at most `maxPerPage`) and page,
 *                                    with a `Link` header (next, last, first, prev)
 *
 * The API sits under `apiPrefix` (default `/api/v3`, as on GHES), so the same
 * stand-in exercises a configurable base URL. Users, orgs and teams are plain
 * arrays the test edits; `fail()` makes every request answer 503 or hang.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandinUser {
  /** GitHub's numeric account id: the stable subject. */
  id: number;
  login: string;
  name?: string | null;
  /** The public profile address (null when the person keeps it private). */
  email?: string | null;
  /** What /user/emails lists; default: the public address, primary and verified. */
  emails?: Array<{ email: string; primary: boolean; verified: boolean }>;
}

export interface StandinOrg {
  login: string;
  id?: number;
  /** Member logins. */
  members: string[];
}

export interface StandinTeam {
  org: string;
  slug: string;
  name?: string;
  members: string[];
}

export interface StandinApp {
  client_id: string;
  client_secret: string;
  /** The registered "Authorization callback URL". */
  callback_url: string;
}

export interface StandinRequest {
  method: string;
  path: string;
  query: string;
  headers: http.IncomingHttpHeaders;
  status: number;
}

export interface GitHubStandin {
  /** The base URL (what `base_url` points at), e.g. http://127.0.0.1:PORT. */
  url: string;
  /** Where the REST API answers: url + apiPrefix. */
  apiUrl: string;
  users: StandinUser[];
  orgs: StandinOrg[];
  teams: StandinTeam[];
  apps: StandinApp[];
  /** The largest page the API serves (GitHub: 100); lower it to make pagination happen. */
  maxPerPage: number;
  /** Every request, in arrival order (status 0 until answered). */
  requests: StandinRequest[];
  /** Tokens handed out (by the code exchange or `issueToken`), newest last. */
  tokens: Array<{ token: string; login: string; client_id: string; scope: string; revoked: boolean }>;
  /** Mint a token directly, as if the person had authorized `client_id` (tests of the API side). */
  issueToken(login: string, opts?: { client_id?: string; scope?: string }): string;
  /** Revoke one token, or every token of a login (the person revoked the app, or an admin did). */
  revoke(tokenOrLogin: string): void;
  /** While set, every request (or only the REST API's, or only the code exchange) answers 503 ('error') or never answers ('hang'). */
  fail(mode: 'error' | 'hang' | false, where?: 'all' | 'api' | 'token'): void;
  close(): Promise<void>;
}

export interface StartGitHubStandinOptions {
  apps: StandinApp[];
  users?: StandinUser[];
  orgs?: StandinOrg[];
  teams?: StandinTeam[];
  /** '' for github.com's shape at the root; default '/api/v3' (GitHub Enterprise Server). */
  apiPrefix?: string;
  port?: number;
}

const CODE_TTL_MS = 10 * 60 * 1000;
const DOCS = 'https://docs.github.com/rest';

interface PendingCode {
  client_id: string;
  redirect_uri: string | null;
  login: string;
  scope: string;
  code_challenge: string | null;
  code_challenge_method: string | null;
  expires: number;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startGitHubStandin(opts: StartGitHubStandinOptions): Promise<GitHubStandin> {
  const apiPrefix = opts.apiPrefix ?? '/api/v3';
  const codes = new Map<string, PendingCode>();
  const hanging = new Set<http.ServerResponse>();
  let failMode: 'error' | 'hang' | false = false;
  let failWhere: 'all' | 'api' | 'token' = 'all';
  let origin = '';

  const s: GitHubStandin = {
    url: '',
    apiUrl: '',
    users: opts.users ?? [],
    orgs: opts.orgs ?? [],
    teams: opts.teams ?? [],
    apps: opts.apps,
    maxPerPage: 100,
    requests: [],
    tokens: [],
    issueToken(login, o = {}) {
      const token = `gho_${randomBytes(18).toString('base64url')}`;
      s.tokens.push({ token, login, client_id: o.client_id ?? s.apps[0]?.client_id ?? '', scope: o.scope ?? 'read:org,read:user,user:email', revoked: false });
      return token;
    },
    revoke(tokenOrLogin) {
      for (const t of s.tokens) if (t.token === tokenOrLogin || t.login === tokenOrLogin) t.revoked = true;
    },
    fail(mode, where = 'all') {
      failMode = mode;
      failWhere = where;
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': typeof body === 'string' ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...headers,
    });
    res.end(text);
  };

  const page = (title: string, body: string) =>
    `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><main>${body}</main></body></html>`;

  const readBody = (req: http.IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let data = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        data += chunk;
        if (data.length > 64 * 1024) reject(new Error('body too large'));
      });
      req.on('end', () => resolve(data));
      req.on('error', reject);
    });

  const parseBody = (req: http.IncomingMessage, raw: string): Record<string, string> => {
    if ((req.headers['content-type'] ?? '').includes('application/json')) {
      try {
        const parsed = JSON.parse(raw) as Record<string, unknown>;
        return Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
      } catch {
        return {};
      }
    }
    return Object.fromEntries(new URLSearchParams(raw));
  };

  // ---- OAuth web application flow -----------------------------------------------------------

  const authorizeParams = ['client_id', 'redirect_uri', 'scope', 'state', 'code_challenge', 'code_challenge_method', 'login', 'allow_signup'];

  function checkAuthorize(params: URLSearchParams): { app: StandinApp; redirect: string } | { error: string } {
    const app = s.apps.find((a) => a.client_id === params.get('client_id'));
    if (!app) return { error: 'Unknown OAuth application (client_id).' };
    const redirect = params.get('redirect_uri') ?? app.callback_url;
    // GitHub lets the redirect_uri be a subdirectory of the registered one; the stand-in is stricter.
    if (redirect !== app.callback_url) return { error: 'The redirect_uri is not associated with this application.' };
    const method = params.get('code_challenge_method');
    if (params.get('code_challenge') && method !== 'S256') return { error: 'code_challenge_method must be S256.' };
    return { app, redirect };
  }

  function authorizePage(params: URLSearchParams, error?: string): string {
    const hidden = authorizeParams
      .filter((k) => params.has(k) && k !== 'login')
      .map((k) => `<input type="hidden" name="${k}" value="${esc(params.get(k) ?? '')}">`)
      .join('');
    const scopes = (params.get('scope') ?? '').split(/[\s,]+/).filter(Boolean);
    return page(
      'Authorize application',
      `<h1>Sign in to GitHub stand-in</h1>
       ${error ? `<p role="alert">${esc(error)}</p>` : ''}
       <p>The application wants: ${scopes.map((x) => `<code>${esc(x)}</code>`).join(' ') || 'public information'}</p>
       <form method="post" action="/login/oauth/authorize">${hidden}
         <label>Username or email address <input name="login" autocomplete="username" value="${esc(params.get('login') ?? '')}"></label>
         <button type="submit" name="decision" value="authorize">Authorize</button>
         <button type="submit" name="decision" value="cancel">Cancel</button>
       </form>`,
    );
  }

  async function authorize(req: http.IncomingMessage, res: http.ServerResponse, url: URL) {
    const params = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const checked = checkAuthorize(params);
    if ('error' in checked) return send(res, 400, page('Error', `<h1>Error</h1><p role="alert">${esc(checked.error)}</p>`));
    const back = new URL(checked.redirect);
    const state = params.get('state');
    if (req.method === 'GET') return send(res, 200, authorizePage(params));
    if (params.get('decision') === 'cancel') {
      back.searchParams.set('error', 'access_denied');
      back.searchParams.set('error_description', 'The user has denied your application access.');
      if (state !== null) back.searchParams.set('state', state);
      res.writeHead(302, { location: back.href }).end();
      return;
    }
    const login = (params.get('login') ?? '').trim().toLowerCase();
    const user = s.users.find((u) => u.login.toLowerCase() === login || u.email?.toLowerCase() === login);
    if (!user) return send(res, 200, authorizePage(params, 'Incorrect username or password.'));
    const code = randomBytes(10).toString('hex');
    codes.set(code, {
      client_id: checked.app.client_id,
      redirect_uri: params.get('redirect_uri'),
      login: user.login,
      scope: (params.get('scope') ?? '').split(/[\s,]+/).filter(Boolean).join(','),
      code_challenge: params.get('code_challenge'),
      code_challenge_method: params.get('code_challenge_method'),
      expires: Date.now() + CODE_TTL_MS,
    });
    back.searchParams.set('code', code);
    if (state !== null) back.searchParams.set('state', state);
    res.writeHead(302, { location: back.href }).end();
  }

  async function accessToken(req: http.IncomingMessage, res: http.ServerResponse) {
    const body = parseBody(req, await readBody(req));
    const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
    let clientId = body.client_id;
    let clientSecret = body.client_secret;
    if (basic) {
      const [id, secret] = Buffer.from(basic[1] ?? '', 'base64').toString('utf8').split(':').map((x) => decodeURIComponent(x.replace(/\+/g, ' ')));
      clientId ??= id;
      clientSecret ??= secret;
    }
    const json = (req.headers.accept ?? '').includes('application/json');
    const answer = (fields: Record<string, string>) =>
      json ? send(res, 200, fields) : (res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }), res.end(new URLSearchParams(fields).toString()));
    const error = (error: string, description: string) =>
      answer({ error, error_description: description, error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors' });

    const app = s.apps.find((a) => a.client_id === clientId);
    if (!app || app.client_secret !== clientSecret) return error('incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.');
    const pending = body.code ? codes.get(body.code) : undefined;
    if (body.code) codes.delete(body.code);
    if (!pending || pending.expires < Date.now() || pending.client_id !== app.client_id) {
      return error('bad_verification_code', 'The code passed is incorrect or expired.');
    }
    if (body.redirect_uri !== undefined && body.redirect_uri !== (pending.redirect_uri ?? app.callback_url)) {
      return error('redirect_uri_mismatch', 'The redirect_uri MUST match the registered callback URL for this application.');
    }
    if (pending.code_challenge) {
      const verifier = body.code_verifier ?? '';
      const expected = createHash('sha256').update(verifier).digest('base64url');
      if (verifier.length < 43 || expected !== pending.code_challenge) return error('bad_verification_code', 'The code_verifier does not match the code_challenge.');
    }
    const token = s.issueToken(pending.login, { client_id: app.client_id, scope: pending.scope });
    answer({ access_token: token, token_type: 'bearer', scope: pending.scope });
  }

  // ---- REST API -----------------------------------------------------------------------------

  const orgJson = (o: StandinOrg, i: number) => {
    const id = o.id ?? 1000 + i;
    const url = `${s.apiUrl}/orgs/${o.login}`;
    return {
      login: o.login,
      id,
      node_id: Buffer.from(`04:Organization${id}`).toString('base64'),
      url,
      repos_url: `${url}/repos`,
      events_url: `${url}/events`,
      hooks_url: `${url}/hooks`,
      issues_url: `${url}/issues`,
      members_url: `${url}/members{/member}`,
      public_members_url: `${url}/public_members{/member}`,
      avatar_url: `${origin}/avatars/${o.login}`,
      description: null,
    };
  };

  const teamJson = (t: StandinTeam, i: number) => {
    const orgIndex = s.orgs.findIndex((o) => o.login === t.org);
    const org = s.orgs[orgIndex];
    const id = 5000 + i;
    return {
      id,
      node_id: Buffer.from(`04:Team${id}`).toString('base64'),
      url: `${s.apiUrl}/teams/${id}`,
      html_url: `${origin}/orgs/${t.org}/teams/${t.slug}`,
      name: t.name ?? t.slug,
      slug: t.slug,
      description: null,
      privacy: 'closed',
      notification_setting: 'notifications_enabled',
      permission: 'pull',
      members_url: `${s.apiUrl}/teams/${id}/members{/member}`,
      repositories_url: `${s.apiUrl}/teams/${id}/repos`,
      parent: null,
      members_count: t.members.length,
      repos_count: 0,
      created_at: '2020-01-01T00:00:00Z',
      updated_at: '2020-01-01T00:00:00Z',
      organization: { ...(org ? orgJson(org, orgIndex) : { login: t.org, id: 0 }), name: t.org, type: 'Organization' },
    };
  };

  const userJson = (u: StandinUser) => ({
    login: u.login,
    id: u.id,
    node_id: Buffer.from(`04:User${u.id}`).toString('base64'),
    avatar_url: `${origin}/avatars/${u.login}`,
    gravatar_id: '',
    url: `${s.apiUrl}/users/${u.login}`,
    html_url: `${origin}/${u.login}`,
    type: 'User',
    site_admin: false,
    name: u.name ?? null,
    company: null,
    blog: '',
    location: null,
    email: u.email ?? null,
    hireable: null,
    bio: null,
    twitter_username: null,
    public_repos: 0,
    public_gists: 0,
    followers: 0,
    following: 0,
    created_at: '2015-01-01T00:00:00Z',
    updated_at: '2025-01-01T00:00:00Z',
  });

  /** GitHub's pagination: per_page (default 30, capped), page from 1, Link with next/last/first/prev. */
  function paginate(res: http.ServerResponse, url: URL, items: unknown[], headers: Record<string, string>) {
    const perPage = Math.max(1, Math.min(Number(url.searchParams.get('per_page') ?? 30) || 30, s.maxPerPage));
    const pageNo = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (n: number) => {
      const u = new URL(url.pathname, origin);
      u.searchParams.set('per_page', String(perPage));
      u.searchParams.set('page', String(n));
      return `<${u.href}>`;
    };
    const rels: string[] = [];
    if (pageNo > 1) rels.push(`${link(pageNo - 1)}; rel="prev"`);
    if (pageNo < last) rels.push(`${link(pageNo + 1)}; rel="next"`, `${link(last)}; rel="last"`);
    if (pageNo > 1) rels.push(`${link(1)}; rel="first"`);
    send(res, 200, items.slice((pageNo - 1) * perPage, pageNo * perPage), { ...headers, ...(rels.length ? { link: rels.join(', ') } : {}) });
  }

  function api(req: http.IncomingMessage, res: http.ServerResponse, url: URL, path: string) {
    const common = { 'x-github-media-type': 'github.v3; format=json', 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '4999' };
    if (req.method !== 'GET') return send(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' }, common);
    if (!req.headers['user-agent']) {
      return send(res, 403, { message: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).' }, common);
    }
    const m = /^(?:Bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const grant = m ? s.tokens.find((t) => t.token === m[1]) : undefined;
    const user = grant && !grant.revoked ? s.users.find((u) => u.login === grant.login) : undefined;
    if (!grant || grant.revoked || !user) return send(res, 401, { message: 'Bad credentials', documentation_url: DOCS, status: '401' }, common);
    const headers = { ...common, 'x-oauth-scopes': grant.scope.split(',').join(', '), 'x-accepted-oauth-scopes': '' };
    const scopes = new Set(grant.scope.split(','));
    switch (path) {
      case '/user':
        return send(res, 200, userJson(user), headers);
      case '/user/emails': {
        // Without user:email GitHub answers 404 here.
        if (!scopes.has('user:email') && !scopes.has('user')) return send(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' }, headers);
        const emails = user.emails ?? (user.email ? [{ email: user.email, primary: true, verified: true }] : []);
        return paginate(res, url, emails.map((e) => ({ ...e, visibility: e.primary ? 'public' : null })), headers);
      }
      case '/user/orgs':
        return paginate(res, url, s.orgs.map(orgJson).filter((_, i) => s.orgs[i]?.members.includes(user.login)), headers);
      case '/user/teams':
        return paginate(res, url, s.teams.map(teamJson).filter((_, i) => s.teams[i]?.members.includes(user.login)), headers);
      default:
        return send(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' }, headers);
    }
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    const record: StandinRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.search, headers: req.headers, status: 0 };
    s.requests.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    const failing =
      failMode &&
      (failWhere === 'all' || (failWhere === 'api' && url.pathname.startsWith(`${apiPrefix}/`)) || (failWhere === 'token' && url.pathname === '/login/oauth/access_token'));
    if (failing && failMode === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (failing) return send(res, 503, { message: 'Service Unavailable' });
    const handle = async () => {
      if (url.pathname === '/login/oauth/authorize' && (req.method === 'GET' || req.method === 'POST')) return authorize(req, res, url);
      if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') return accessToken(req, res);
      if (url.pathname.startsWith(`${apiPrefix}/`) || url.pathname === apiPrefix) return api(req, res, url, url.pathname.slice(apiPrefix.length) || '/');
      send(res, 404, page('Not Found', '<h1>Not Found</h1>'));
    };
    handle().catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { message: String(err) });
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  s.url = origin;
  s.apiUrl = `${origin}${apiPrefix}`;
  return s;
}
