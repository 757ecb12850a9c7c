/**
 * `kubectl oidc-login get-token`, as int128/kubelogin does it, for tests:
 * kubelogin is in neither Debian nor npm, so the e2e suite runs this instead
 * (./kubectl-oidc_login puts it on kubectl's plugin path). The protocol is
 * oauth4webapi's, a strict client: what passes here is what a conforming
 * provider must answer.
 *
 * What it replays from kubelogin (pkg/cmd/get_token.go, pkg/oidc/client):
 * - flags --oidc-issuer-url, --oidc-client-id, --oidc-client-secret,
 *   --oidc-extra-scope (repeatable, comma-separated), --certificate-authority-data
 *   (base64 PEM), --grant-type (auto | authcode | device-code; auto = authcode),
 *   --listen-address (default 127.0.0.1:8000, then 127.0.0.1:18000),
 *   --token-cache-dir (default ~/.kube/cache/oidc-login), --browser-command,
 *   --skip-open-browser;
 * - discovery, with `issuer` required to equal --oidc-issuer-url byte for
 *   byte (go-oidc's check; oauth4webapi alone compares normalised URLs);
 * - authorization code: `response_type=code`, `state`, `nonce`, S256 PKCE only
 *   when discovery lists it, `access_type=offline`, `scope=openid` plus extra
 *   scopes (no offline_access), a loopback listener on 127.0.0.1 and
 *   `redirect_uri=http://localhost:<port>` (no path), the callback a GET;
 * - the device grant (RFC 8628): prints the verification URL and the user code
 *   to stderr, polls honouring `authorization_pending` and `slow_down` (+5 s);
 * - every token response must carry an id_token ("id_token is missing"); its
 *   signature is checked against the JWKS, `exp` with zero leeway;
 * - a token cache per issuer/client/secret/scopes; a cached id_token is used
 *   until `exp` (zero leeway), then the refresh token, then a new login;
 * - prints an ExecCredential whose apiVersion is the one in KUBERNETES_EXEC_INFO.
 *
 * Opening the browser: the command in --browser-command, else in $BROWSER,
 * is run with the URL as its only argument (the e2e points BROWSER at a
 * script that hands the URL to the test, which drives chromium there).
 * Without either, or with --skip-open-browser, the URL is printed to stderr.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oauth from 'oauth4webapi';

type Env = Record<string, string | undefined>;
type GrantType = 'auto' | 'authcode' | 'device-code';

export interface Options {
  issuerUrl: string;
  clientId: string;
  clientSecret?: string;
  extraScopes: string[];
  caPem?: string;
  grantType: GrantType;
  listenAddresses: string[];
  cacheDir: string;
  browserCommand?: string;
  skipOpenBrowser: boolean;
  /** kubelogin's --authentication-timeout-sec (default 180). */
  timeoutSec: number;
}

export class KubeloginError extends Error {}

const DEFAULT_LISTEN = ['127.0.0.1:8000', '127.0.0.1:18000'];

export function parseOptions(argv: readonly string[], env: Env): Options {
  if (argv[0] !== 'get-token') throw new KubeloginError(`unknown command ${JSON.stringify(argv[0] ?? '')} (this stand-in implements get-token)`);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv.slice(1),
      strict: true,
      allowPositionals: false,
      options: {
        'oidc-issuer-url': { type: 'string' },
        'oidc-client-id': { type: 'string' },
        'oidc-client-secret': { type: 'string' },
        'oidc-extra-scope': { type: 'string', multiple: true },
        'certificate-authority-data': { type: 'string' },
        'grant-type': { type: 'string' },
        'listen-address': { type: 'string', multiple: true },
        'token-cache-dir': { type: 'string' },
        'browser-command': { type: 'string' },
        'skip-open-browser': { type: 'boolean' },
        'authentication-timeout-sec': { type: 'string' },
      },
    });
  } catch (err) {
    throw new KubeloginError((err as Error).message);
  }
  const v = parsed.values;
  if (!v['oidc-issuer-url']) throw new KubeloginError('--oidc-issuer-url is missing');
  if (!v['oidc-client-id']) throw new KubeloginError('--oidc-client-id is missing');
  const grantType = v['grant-type'] ?? 'auto';
  if (grantType !== 'auto' && grantType !== 'authcode' && grantType !== 'device-code') {
    throw new KubeloginError(`--grant-type=${grantType} is not implemented by this stand-in (auto, authcode, device-code)`);
  }
  const home = env.HOME ?? os.homedir();
  const cacheDir = (v['token-cache-dir'] ?? '~/.kube/cache/oidc-login').replace(/^~(?=$|\/)/, home);
  const ca = v['certificate-authority-data'];
  return {
    issuerUrl: v['oidc-issuer-url'],
    clientId: v['oidc-client-id'],
    clientSecret: v['oidc-client-secret'],
    // pflag StringSlice: repeatable and comma-separated.
    extraScopes: (v['oidc-extra-scope'] ?? []).flatMap((s) => s.split(',')).filter(Boolean),
    caPem: ca === undefined ? undefined : Buffer.from(ca, 'base64').toString('utf8'),
    grantType,
    listenAddresses: v['listen-address'] ?? DEFAULT_LISTEN,
    cacheDir,
    browserCommand: v['browser-command'] ?? env.BROWSER,
    skipOpenBrowser: v['skip-open-browser'] ?? false,
    timeoutSec: Number(v['authentication-timeout-sec'] ?? 180),
  };
}

/**
 * fetch over node:https with the issuer's private CA (Node's fetch takes no
 * CA without undici's dispatcher). Enough for what oauth4webapi sends: a
 * method, headers and a string or form body; redirects are not followed.
 */
function fetchTrusting(caPem: string | undefined): typeof fetch {
  if (caPem === undefined) return fetch;
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const body = init?.body === undefined || init.body === null ? undefined : String(init.body);
      const headers = Object.fromEntries(new Headers(init?.headers).entries());
      const client = url.protocol === 'https:' ? https : http;
      const req = client.request(url, { method: init?.method ?? 'GET', headers, ca: caPem, signal: init?.signal ?? undefined }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 500;
          const h = new Headers();
          for (const [k, val] of Object.entries(res.headers)) {
            if (val !== undefined) for (const one of Array.isArray(val) ? val : [val]) h.append(k, one);
          }
          resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: h }));
        });
      });
      req.on('error', reject);
      req.end(body);
    });
}

interface TokenSet {
  idToken: string;
  refreshToken?: string;
}

interface Provider {
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  auth: oauth.ClientAuth;
  http: { [oauth.customFetch]: typeof fetch };
  fetch: typeof fetch;
}

async function discover(options: Options): Promise<Provider> {
  const f = fetchTrusting(options.caPem);
  const http = { [oauth.customFetch]: f };
  const issuer = new URL(options.issuerUrl);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...http }));
  // go-oidc compares the strings; oauth4webapi compares URL.href, which forgives a trailing '/'.
  if (as.issuer !== options.issuerUrl) {
    throw new KubeloginError(`oidc: issuer did not match the issuer returned by provider, expected ${JSON.stringify(options.issuerUrl)} got ${JSON.stringify(as.issuer)}`);
  }
  const client: oauth.Client = { client_id: options.clientId, [oauth.clockTolerance]: 0 };
  const auth = options.clientSecret === undefined ? oauth.None() : oauth.ClientSecretBasic(options.clientSecret);
  return { as, client, auth, http, fetch: f };
}

/** The id_token must be signed by a key in the issuer's JWKS, for this client, and not expired (zero leeway). */
async function verifyIdToken(p: Provider, options: Options, idToken: string | undefined): Promise<string> {
  if (!idToken) throw new KubeloginError('id_token is missing');
  if (!p.as.jwks_uri) throw new KubeloginError('discovery has no jwks_uri');
  const res = await p.fetch(p.as.jwks_uri);
  if (!res.ok) throw new KubeloginError(`JWKS answered ${res.status}`);
  const jwks = createLocalJWKSet((await res.json()) as JSONWebKeySet);
  await jwtVerify(idToken, jwks, {
    issuer: options.issuerUrl,
    audience: options.clientId,
    algorithms: p.as.id_token_signing_alg_values_supported ?? ['RS256'],
    clockTolerance: 0,
  });
  return idToken;
}

function describeError(err: unknown): string {
  if (err instanceof oauth.ResponseBodyError) return `${err.error}${err.error_description ? `: ${err.error_description}` : ''}`;
  if (err instanceof oauth.AuthorizationResponseError) return `${err.error}${err.error_description ? `: ${err.error_description}` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

function scope(options: Options): string {
  return ['openid', ...options.extraScopes].join(' ');
}

function openBrowser(options: Options, url: string, stderr: NodeJS.WritableStream): void {
  if (options.skipOpenBrowser || !options.browserCommand) {
    stderr.write(`Please visit the following URL in your browser: ${url}\n`);
    return;
  }
  const child = spawn(options.browserCommand, [url], { stdio: 'ignore', detached: true });
  // A browser command that cannot start must not end the login: the URL still works by hand.
  child.on('error', () => stderr.write(`Please visit the following URL in your browser: ${url}\n`));
  child.unref();
}

/** Binds the first free address of the list, as kubelogin does (8000, then 18000). */
async function listenLoopback(addresses: readonly string[]): Promise<http.Server> {
  let last: unknown;
  for (const address of addresses) {
    const at = address.lastIndexOf(':');
    const host = address.slice(0, at);
    const port = Number(address.slice(at + 1));
    const server = http.createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      return server;
    } catch (err) {
      last = err;
    }
  }
  throw new KubeloginError(`could not listen on ${addresses.join(', ')}: ${describeError(last)}`);
}

async function authorizationCode(p: Provider, options: Options, stderr: NodeJS.WritableStream): Promise<TokenSet> {
  const server = await listenLoopback(options.listenAddresses);
  try {
    const redirectUri = `http://localhost:${(server.address() as AddressInfo).port}`;
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const pkce = (p.as.code_challenge_methods_supported ?? []).includes('S256');
    const verifier = oauth.generateRandomCodeVerifier();
    if (!p.as.authorization_endpoint) throw new KubeloginError('discovery has no authorization_endpoint');
    const url = new URL(p.as.authorization_endpoint);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', options.clientId);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('scope', scope(options));
    url.searchParams.set('state', state);
    url.searchParams.set('nonce', nonce);
    url.searchParams.set('access_type', 'offline');
    if (pkce) {
      url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
      url.searchParams.set('code_challenge_method', 'S256');
    }
    const callback = new Promise<URL>((resolve, reject) => {
      const timer = setTimeout(() => reject(new KubeloginError(`authentication timed out after ${options.timeoutSec}s`)), options.timeoutSec * 1000);
      server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
        const got = new URL(req.url ?? '/', redirectUri);
        if (req.method !== 'GET' || got.pathname !== '/' || (!got.searchParams.has('code') && !got.searchParams.has('error'))) {
          res.writeHead(404).end();
          return;
        }
        const ok = got.searchParams.has('code');
        res.writeHead(ok ? 200 : 400, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
        res.end(ok ? '<!doctype html><title>Authenticated</title><p>Authenticated. You can close this window.</p>' : '<!doctype html><title>Error</title><p>Authentication failed.</p>');
        clearTimeout(timer);
        resolve(got);
      });
    });
    openBrowser(options, url.href, stderr);
    const params = oauth.validateAuthResponse(p.as, p.client, await callback, state);
    const res = await oauth.authorizationCodeGrantRequest(p.as, p.client, p.auth, params, redirectUri, pkce ? verifier : oauth.nopkce, p.http);
    const result = await oauth.processAuthorizationCodeResponse(p.as, p.client, res, { expectedNonce: nonce, requireIdToken: true });
    return { idToken: await verifyIdToken(p, options, result.id_token), refreshToken: result.refresh_token };
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function deviceCode(p: Provider, options: Options, stderr: NodeJS.WritableStream): Promise<TokenSet> {
  const start = await oauth.deviceAuthorizationRequest(p.as, p.client, p.auth, { scope: scope(options) }, p.http);
  const device = await oauth.processDeviceAuthorizationResponse(p.as, p.client, start);
  stderr.write(`Please visit the following URL in your browser: ${device.verification_uri}\n`);
  stderr.write(`and enter the code: ${device.user_code}\n`);
  // Like kubelogin, open the page with the code filled in when there is a browser to open it in.
  if (device.verification_uri_complete && options.browserCommand && !options.skipOpenBrowser) {
    openBrowser(options, device.verification_uri_complete, stderr);
  }
  let interval = device.interval ?? 5;
  const deadline = Date.now() + device.expires_in * 1000;
  for (;;) {
    await sleep(interval * 1000);
    if (Date.now() > deadline) throw new KubeloginError('device code expired');
    const res = await oauth.deviceCodeGrantRequest(p.as, p.client, p.auth, device.device_code, p.http);
    try {
      const result = await oauth.processDeviceCodeResponse(p.as, p.client, res);
      return { idToken: await verifyIdToken(p, options, result.id_token), refreshToken: result.refresh_token };
    } catch (err) {
      if (err instanceof oauth.ResponseBodyError && err.error === 'authorization_pending') continue;
      // RFC 8628 §3.5: slow down by 5 seconds, for this and every later poll.
      if (err instanceof oauth.ResponseBodyError && err.error === 'slow_down') {
        interval += 5;
        continue;
      }
      throw err;
    }
  }
}

async function refresh(p: Provider, options: Options, refreshToken: string): Promise<TokenSet> {
  const res = await oauth.refreshTokenGrantRequest(p.as, p.client, p.auth, refreshToken, p.http);
  const result = await oauth.processRefreshTokenResponse(p.as, p.client, res);
  // A server that sends no new refresh token leaves the old one valid (golang.org/x/oauth2 keeps it).
  return { idToken: await verifyIdToken(p, options, result.id_token), refreshToken: result.refresh_token ?? refreshToken };
}

export function cacheFile(options: Options): string {
  const key = JSON.stringify({ issuer: options.issuerUrl, clientId: options.clientId, clientSecret: options.clientSecret ?? '', scopes: options.extraScopes });
  return path.join(options.cacheDir, createHash('sha256').update(key).digest('hex'));
}

function readCache(options: Options): TokenSet | undefined {
  try {
    const raw = JSON.parse(fs.readFileSync(cacheFile(options), 'utf8')) as { id_token?: unknown; refresh_token?: unknown };
    if (typeof raw.id_token !== 'string') return undefined;
    return { idToken: raw.id_token, refreshToken: typeof raw.refresh_token === 'string' ? raw.refresh_token : undefined };
  } catch {
    return undefined;
  }
}

function writeCache(options: Options, tokens: TokenSet): void {
  fs.mkdirSync(options.cacheDir, { recursive: true, mode: 0o700 });
  const file = cacheFile(options);
  const tmp = `${file}.${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify({ id_token: tokens.idToken, refresh_token: tokens.refreshToken }), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function expiry(idToken: string): number {
  const { exp } = decodeJwt(idToken);
  if (typeof exp !== 'number') throw new KubeloginError('id_token has no exp');
  return exp;
}

/** kubelogin: valid while now < exp, with no leeway. */
const isValid = (idToken: string, now: number) => expiry(idToken) > now / 1000;

export async function getToken(options: Options, stderr: NodeJS.WritableStream, now: () => number = Date.now): Promise<string> {
  const cached = readCache(options);
  if (cached && isValid(cached.idToken, now())) return cached.idToken;
  const p = await discover(options);
  let tokens: TokenSet | undefined;
  if (cached?.refreshToken) {
    try {
      tokens = await refresh(p, options, cached.refreshToken);
    } catch (err) {
      stderr.write(`could not refresh the token: ${describeError(err)}\n`);
    }
  }
  tokens ??= options.grantType === 'device-code' ? await deviceCode(p, options, stderr) : await authorizationCode(p, options, stderr);
  writeCache(options, tokens);
  return tokens.idToken;
}

/** The ExecCredential kubectl reads on stdout, in the apiVersion it asked for. */
export function execCredential(env: Env, idToken: string): object {
  let apiVersion = 'client.authentication.k8s.io/v1beta1';
  if (env.KUBERNETES_EXEC_INFO) {
    const info = JSON.parse(env.KUBERNETES_EXEC_INFO) as { apiVersion?: unknown };
    if (typeof info.apiVersion === 'string') apiVersion = info.apiVersion;
  }
  const expirationTimestamp = new Date(expiry(idToken) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { kind: 'ExecCredential', apiVersion, spec: { interactive: false }, status: { token: idToken, expirationTimestamp } };
}

export async function main(argv: readonly string[], env: Env): Promise<number> {
  try {
    const options = parseOptions(argv, env);
    const idToken = await getToken(options, process.stderr);
    process.stdout.write(`${JSON.stringify(execCredential(env, idToken))}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`error: get-token: ${describeError(err)}\n`);
    return 1;
  }
}
