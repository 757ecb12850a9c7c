/**
 * The kubelogin stand-in against a real OpenID Provider (oidc-provider, over
 * https with a private CA, PKCE required, loopback redirects for a native
 * client, the device flow), and through real kubectl against the API-server
 * stand-in: proof that the stand-in speaks the protocol before Kubegate's
 * own endpoints are in the picture. The "browser" is a small fetch loop with
 * a cookie jar; the provider signs in whoever arrives as `alice`.
 */
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import Provider from 'oidc-provider';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startApiServer, type ApiServer } from '../apiserver';
import { createTestPki, type TestPki } from '../certs';
import { freePort } from '../kubegate';
import { cacheFile, parseOptions } from './get-token';
import { loginEnv, nextOpenedUrl, openedUrls, PLUGIN_DIR, start, stopAll, waitForStderr, type LoginEnv } from './harness';

const PLUGIN = path.join(PLUGIN_DIR, 'kubectl-oidc_login');
const ID_TOKEN_TTL = 4;

interface Op {
  issuer: string;
  /** Every token request's grant_type, in order. */
  grants: string[];
  /** Query of every authorization request. */
  authorizations: URLSearchParams[];
  close(): Promise<void>;
}

async function startOp(pki: TestPki): Promise<Op> {
  const port = await freePort();
  const issuer = `https://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'kubectl',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://localhost'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] },
    features: { devInteractions: { enabled: false }, deviceFlow: { enabled: true } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    // kubelogin sends no offline_access; Kubegate issues a refresh token anyway, and so does this provider.
    issueRefreshToken: () => true,
    ttl: { IdToken: ID_TOKEN_TTL, AccessToken: 60, DeviceCode: 60, RefreshToken: 600, Interaction: 60, Session: 600, Grant: 600 },
    cookies: { keys: ['kubelogin-stand-in-test'] },
    pkce: { required: () => true },
  });
  const grants: string[] = [];
  const authorizations: URLSearchParams[] = [];
  provider.use(async (ctx, next) => {
    if (ctx.path === '/auth') authorizations.push(new URLSearchParams(ctx.querystring));
    if (ctx.path === '/token' && ctx.method === 'POST') {
      await next();
      grants.push(String((ctx.oidc?.params as { grant_type?: string } | undefined)?.grant_type));
      return;
    }
    await next();
  });
  const callback = provider.callback();
  const tls = pki.issue('op');
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    // Whoever arrives signs in as alice and grants openid: sign-in and consent pages are not what these tests are about.
    if (req.url?.startsWith('/interaction/')) {
      void (async () => {
        const details = await provider.interactionDetails(req, res);
        if (details.prompt.name === 'login') {
          await provider.interactionFinished(req, res, { login: { accountId: 'alice' } }, { mergeWithLastSubmission: true });
          return;
        }
        const grant = new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
        grant.addOIDCScope(String(details.params.scope ?? 'openid'));
        await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
      })();
      return;
    }
    void callback(req, res);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer,
    grants,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A minimal browser: follows redirects with a cookie jar, trusting the test CA. */
class FetchBrowser {
  private jar = new Map<string, string>();
  constructor(private readonly caPem: string) {}

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<{ url: string; status: number; body: string }> {
    let current = new URL(url);
    let method = init.method ?? 'GET';
    let body = init.form ? new URLSearchParams(init.form).toString() : undefined;
    for (let hops = 0; hops < 20; hops++) {
      // The loopback callback is plain http: hand it over like a browser would, and stop there.
      const res = await this.send(current, method, body);
      const location = res.headers.location;
      if (res.status >= 300 && res.status < 400 && location) {
        current = new URL(location, current);
        method = 'GET';
        body = undefined;
        continue;
      }
      return { url: current.href, status: res.status, body: res.body };
    }
    throw new Error('too many redirects');
  }

  private async send(url: URL, method: string, body: string | undefined): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const headers: Record<string, string> = { ...(cookie && url.protocol === 'https:' && { cookie }), ...(body && { 'content-type': 'application/x-www-form-urlencoded' }) };
    if (url.protocol === 'http:') {
      const res = await fetch(url, { method, headers, body, redirect: 'manual' });
      return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
    }
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, headers, ca: this.caPem }, (res) => {
        for (const c of res.headers['set-cookie'] ?? []) {
          const [pair] = c.split(';');
          const at = pair!.indexOf('=');
          this.jar.set(pair!.slice(0, at), pair!.slice(at + 1));
        }
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Fills the page's first form's hidden fields (plus `extra`) and submits it. */
  async submit(page: { url: string; body: string }, extra: Record<string, string> = {}) {
    const action = /<form[^>]*action="([^"]+)"/.exec(page.body)?.[1];
    if (!action) throw new Error(`no form on ${page.url}:\n${page.body.slice(0, 500)}`);
    const fields: Record<string, string> = {};
    for (const m of page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields[m[1]!] = m[2]!;
    return this.request(new URL(action, page.url).href, { method: 'POST', form: { ...fields, ...extra } });
  }
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('kubelogin stand-in: flags as kubelogin reads them', () => {
  test('defaults: auto grant, 8000 then 18000, the cache under ~/.kube, $BROWSER', () => {
    expect(parseOptions(['get-token', '--oidc-issuer-url=https://i', '--oidc-client-id=c'], { HOME: '/h', BROWSER: '/b' })).toMatchObject({
      grantType: 'auto',
      listenAddresses: ['127.0.0.1:8000', '127.0.0.1:18000'],
      cacheDir: '/h/.kube/cache/oidc-login',
      browserCommand: '/b',
      extraScopes: [],
    });
  });

  test('extra scopes repeat and split on commas; the CA is base64 PEM; values may follow as separate words', () => {
    const o = parseOptions(
      ['get-token', '--oidc-issuer-url', 'https://i', '--oidc-client-id=c', '--oidc-extra-scope=email,groups', '--oidc-extra-scope=profile', `--certificate-authority-data=${b64('PEM')}`, '--token-cache-dir=~/c'],
      { HOME: '/h' },
    );
    expect(o).toMatchObject({ issuerUrl: 'https://i', extraScopes: ['email', 'groups', 'profile'], caPem: 'PEM', cacheDir: '/h/c' });
  });

  test.each([
    [['get-token', '--oidc-client-id=c'], '--oidc-issuer-url is missing'],
    [['get-token', '--oidc-issuer-url=https://i'], '--oidc-client-id is missing'],
    [['get-token', '--oidc-issuer-url=https://i', '--oidc-client-id=c', '--grant-type=password'], 'not implemented'],
    [['get-token', '--oidc-issuer-url=https://i', '--oidc-client-id=c', '--no-such-flag'], 'Unknown option'],
    [['setup'], 'implements get-token'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseOptions(argv, {})).toThrow(message);
  });
});

describe('kubelogin stand-in against oidc-provider', () => {
  let pki: TestPki;
  let op: Op;
  let api: ApiServer;
  let root: string;
  let n = 0;
  const fresh = (browser = true): LoginEnv => loginEnv(path.join(root, `case-${++n}`), { browser });
  const args = (extra: string[] = []) => ['get-token', `--oidc-issuer-url=${op.issuer}`, '--oidc-client-id=kubectl', `--certificate-authority-data=${b64(pki.caPem)}`, ...extra];

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubelogin-stand-in-'));
    pki = await createTestPki(path.join(root, 'pki'));
    op = await startOp(pki);
    api = await startApiServer({ tls: pki.issue('apiserver'), caPem: pki.caPem, oidc: { issuerUrl: op.issuer, clientId: 'kubectl', caPem: pki.caPem, usernameClaim: 'sub' } });
  }, 60_000);

  afterEach(stopAll);

  afterAll(async () => {
    await Promise.allSettled([op?.close(), api?.close()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** Runs the plugin; when it opens a URL, the fetch browser follows it to the loopback callback. */
  async function loginWithBrowser(env: LoginEnv, extra: string[] = []) {
    const seen = openedUrls(env).length;
    const running = start(PLUGIN, args(extra), env);
    const url = await nextOpenedUrl(env, seen);
    const landed = await new FetchBrowser(pki.caPem).request(url);
    return { url: new URL(url), landed, result: await running.done };
  }

  test('authorization code + PKCE over a loopback redirect; the ExecCredential carries the id_token', { timeout: 60_000 }, async () => {
    const env = fresh();
    const { url, landed, result } = await loginWithBrowser(env);
    expect(result.code, result.stderr).toBe(0);
    // The request kubelogin makes, parameter by parameter.
    expect(Object.fromEntries(url.searchParams)).toMatchObject({ response_type: 'code', client_id: 'kubectl', scope: 'openid', access_type: 'offline', code_challenge_method: 'S256' });
    expect(url.searchParams.get('redirect_uri')).toMatch(/^http:\/\/localhost:(8000|18000)$/);
    for (const p of ['state', 'nonce', 'code_challenge']) expect(url.searchParams.get(p)).toBeTruthy();
    expect(landed).toMatchObject({ status: 200, body: expect.stringContaining('Authenticated') });
    const cred = JSON.parse(result.stdout) as { apiVersion: string; kind: string; status: { token: string; expirationTimestamp: string } };
    expect(cred.kind).toBe('ExecCredential');
    expect(cred.apiVersion).toBe('client.authentication.k8s.io/v1beta1');
    expect(decodeJwt(cred.status.token)).toMatchObject({ iss: op.issuer, aud: 'kubectl', sub: 'alice' });
    expect(Date.parse(cred.status.expirationTimestamp) / 1000).toBe(decodeJwt(cred.status.token).exp);
  });

  test('a second run answers from the cache; after exp it refreshes, with no leeway', { timeout: 60_000 }, async () => {
    const env = fresh();
    expect((await loginWithBrowser(env)).result.code).toBe(0);
    const cacheDir = path.join(env.home, '.kube/cache/oidc-login');
    expect(fs.readdirSync(cacheDir)).toHaveLength(1);
    expect(fs.statSync(path.join(cacheDir, fs.readdirSync(cacheDir)[0]!)).mode & 0o777).toBe(0o600);
    const grantsBefore = op.grants.length;
    const cached = await start(PLUGIN, args(), env).done;
    expect(cached.code, cached.stderr).toBe(0);
    expect(op.grants.length).toBe(grantsBefore);
    const first = (JSON.parse(cached.stdout) as { status: { token: string } }).status.token;

    await new Promise((r) => setTimeout(r, (decodeJwt(first).exp! * 1000 - Date.now()) + 50));
    const refreshed = await start(PLUGIN, args(), env).done;
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(op.grants.slice(grantsBefore)).toEqual(['refresh_token']);
    expect(openedUrls(env)).toHaveLength(1);
    expect((JSON.parse(refreshed.stdout) as { status: { token: string } }).status.token).not.toBe(first);
  });

  test('the device flow: URL and code on stderr, polling until the code is approved', { timeout: 90_000 }, async () => {
    const env = fresh(false);
    const running = start(PLUGIN, args(['--grant-type=device-code']), env);
    const [, verification] = await waitForStderr(running, /Please visit the following URL in your browser: (\S+)/);
    const [, userCode] = await waitForStderr(running, /enter the code: (\S+)/);
    const browser = new FetchBrowser(pki.caPem);
    const form = await browser.request(verification!);
    const confirm = await browser.submit(form, { user_code: userCode! });
    const done = await browser.submit(confirm);
    expect(done.body).toContain('Sign-in Success');
    const result = await running.done;
    expect(result.code, result.stderr).toBe(0);
    expect(decodeJwt((JSON.parse(result.stdout) as { status: { token: string } }).status.token).sub).toBe('alice');
  });

  test('refuses an issuer that differs from --oidc-issuer-url by a trailing slash', async () => {
    const result = await start(PLUGIN, ['get-token', `--oidc-issuer-url=${op.issuer}/`, '--oidc-client-id=kubectl', `--certificate-authority-data=${b64(pki.caPem)}`], fresh()).done;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('issuer did not match the issuer returned by provider');
  });

  test('refuses an issuer whose certificate the given CA did not sign', async () => {
    const result = await start(PLUGIN, ['get-token', `--oidc-issuer-url=${op.issuer}`, '--oidc-client-id=kubectl'], fresh()).done;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: get-token: /);
  });

  test('real kubectl runs the stand-in as its exec plugin and the API server accepts the token', { timeout: 90_000 }, async () => {
    const env = fresh();
    const kubeconfig = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: api.url, 'certificate-authority-data': b64(pki.caPem) } }],
      users: [{ name: 'u', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'kubectl', args: ['oidc-login', ...args()], interactiveMode: 'IfAvailable', provideClusterInfo: false } } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    };
    fs.writeFileSync(env.kubeconfig, JSON.stringify(kubeconfig));
    const running = start('kubectl', ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], env);
    const url = await nextOpenedUrl(env, 0);
    await new FetchBrowser(pki.caPem).request(url);
    const result = await running.done;
    expect(result.code, result.stderr).toBe(0);
    // kube-apiserver prefixes a non-email username claim with the issuer URL and '#'.
    expect(result.stdout).toBe(`${op.issuer}#alice`);
  });
});

/**
 * What no conforming provider does on request, from a scripted one: a
 * refresh answered without an id_token, and a device grant that says
 * authorization_pending, then slow_down, then issues.
 */
describe('kubelogin stand-in against a scripted provider', () => {
  let root: string;
  let pki: TestPki;
  let server: https.Server;
  let issuer: string;
  const polls: { at: number; grant: string }[] = [];
  let sign: (claims: Record<string, unknown>) => Promise<string>;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubelogin-scripted-'));
    pki = await createTestPki(path.join(root, 'pki'));
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k', alg: 'RS256', use: 'sig' };
    const port = await freePort();
    issuer = `https://127.0.0.1:${port}`;
    sign = (claims) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k' }).setIssuer(issuer).setAudience('c').setSubject('alice').setIssuedAt().setExpirationTime('1m').sign(privateKey);
    const tls = pki.issue('scripted');
    server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(value));
        const form = new URLSearchParams(body);
        if (req.url === '/.well-known/openid-configuration') {
          return json(200, {
            issuer,
            authorization_endpoint: `${issuer}/authorize`,
            token_endpoint: `${issuer}/token`,
            device_authorization_endpoint: `${issuer}/device`,
            jwks_uri: `${issuer}/jwks`,
            response_types_supported: ['code'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['RS256'],
          });
        }
        if (req.url === '/jwks') return json(200, { keys: [jwk] });
        if (req.url === '/device') return json(200, { device_code: 'dc', user_code: 'ABCD-EFGH', verification_uri: `${issuer}/verify`, expires_in: 60, interval: 1 });
        if (req.url === '/token') {
          const grant = form.get('grant_type') ?? '';
          polls.push({ at: Date.now(), grant });
          if (grant === 'refresh_token') return json(200, { access_token: 'at', token_type: 'Bearer', expires_in: 60, refresh_token: 'rt2' });
          const n = polls.filter((p) => p.grant === grant).length;
          if (n === 1) return json(400, { error: 'authorization_pending' });
          if (n === 2) return json(400, { error: 'slow_down' });
          void sign({}).then((id_token) => json(200, { access_token: 'at', token_type: 'Bearer', expires_in: 60, id_token }));
          return;
        }
        res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  }, 60_000);

  afterEach(stopAll);

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    fs.rmSync(root, { recursive: true, force: true });
  });

  const args = (extra: string[] = []) => ['get-token', `--oidc-issuer-url=${issuer}`, '--oidc-client-id=c', `--certificate-authority-data=${b64(pki.caPem)}`, ...extra];

  test('a refresh answered without an id_token is refused ("id_token is missing")', { timeout: 30_000 }, async () => {
    const env = loginEnv(path.join(root, 'refresh'), { browser: false });
    const options = parseOptions(args(), { HOME: env.home });
    // An expired id_token and a refresh token in the cache: the stand-in must refresh.
    const idToken = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) - 1 })).toString('base64url')}.`;
    fs.mkdirSync(options.cacheDir, { recursive: true });
    fs.writeFileSync(cacheFile(options), JSON.stringify({ id_token: idToken, refresh_token: 'rt1' }));
    const result = await start(PLUGIN, args(['--authentication-timeout-sec=1']), env).done;
    expect(polls.map((p) => p.grant)).toContain('refresh_token');
    expect(result.stderr).toContain('could not refresh the token: id_token is missing');
    // And it does not print a credential: it falls back to a new login, which nobody completes here.
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
  });

  test('the device grant honours authorization_pending and slow_down (+5 s)', { timeout: 30_000 }, async () => {
    const env = loginEnv(path.join(root, 'device'), { browser: false });
    const result = await start(PLUGIN, args(['--grant-type=device-code']), env).done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('and enter the code: ABCD-EFGH');
    const device = polls.filter((p) => p.grant === 'urn:ietf:params:oauth:grant-type:device_code').map((p) => p.at);
    expect(device).toHaveLength(3);
    // interval 1 s after authorization_pending; 1 + 5 s after slow_down.
    expect(device[1]! - device[0]!).toBeGreaterThanOrEqual(950);
    expect(device[1]! - device[0]!).toBeLessThan(3000);
    expect(device[2]! - device[1]!).toBeGreaterThanOrEqual(5950);
  });
});
