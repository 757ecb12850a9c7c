/**
 * An https stand-in for kube-apiserver whose ONLY real logic is bearer-token authentication,
 * reproducing the OIDC authenticator of kube-apiserver 1.32 configured with the legacy
 * --oidc-* flags:
 *   k8s.io/apiserver/plugin/pkg/authenticator/token/oidc (oidc.go) on top of
 *   github.com/coreos/go-oidc v2.2.1 (verify.go, jwks.go) and go-jose v2.
 *
 * Behaviour reproduced (in the same order as the Go code):
 *  - bearer parsing as k8s' bearertoken authenticator ("Bearer <token>", case-insensitive
 *    scheme, empty token is an error); anonymous auth is treated as DISABLED, so requests
 *    without credentials get 401 (the real default would map them to system:anonymous);
 *  - untrusted `iss` pre-check (compact JWT, RawURL base64 payload, iss === issuerUrl);
 *  - discovery: GET <issuer>/.well-known/openid-configuration must answer 200 and its `issuer`
 *    must equal issuerUrl exactly; kicked off at start and retried lazily until it succeeds
 *    (the real server retries every 10 s in the background), then never fetched again;
 *  - go-oidc claim typing (iss/sub/nonce/at_hash strings, aud string-or-array, exp/iat/nbf
 *    numbers, exp truncated to whole seconds, missing or null exp => expired);
 *  - iss exact match, aud contains clientId, expired iff exp < now (no skew), nbf rejected iff
 *    now + 1 minute < nbf (go-oidc v2's leeway; go-oidc v3 uses 5 minutes), iat not required;
 *  - alg must be in signingAlgs (default RS256; HS*, none and other symmetric algs are refused
 *    at configuration time, like kube-apiserver);
 *  - go-oidc RemoteKeySet: keys with a matching kid (all keys if the token has no kid) are
 *    tried; on failure the JWKS is re-fetched only if the cached set has expired per the JWKS
 *    response's Cache-Control (no cache headers => expires immediately, so an unknown kid
 *    triggers a re-fetch; `max-age=3600` means a rotated key is NOT seen for ~an hour);
 *  - username/groups/required-claims mapping exactly as oidc.go (see authenticateClaims);
 *  - system:authenticated is added to the groups.
 *
 * Past authentication it behaves like an RBAC cluster where the user has no bindings except
 * `opts.grants`: discovery (/api, /apis, /openapi/v2|v3, /version, /healthz...) and creating
 * SelfSubjectReview / SelfSubjectAccessReview / SelfSubjectRulesReview are allowed (the default
 * system:discovery, system:public-info-viewer and system:basic-user roles); everything else gets
 * the real 403 Forbidden Status message ("pods is forbidden: User \"x\" cannot list resource
 * \"pods\" in API group \"\" in the namespace \"team-a\""). Enough discovery and OpenAPI is
 * served for `kubectl auth whoami`, `kubectl create -f - -o yaml` (SelfSubjectReview),
 * `kubectl auth can-i [--list]` and `kubectl get pods` to work. kubectl's typed clients POST
 * protobuf bodies; the review specs are decoded from protobuf or JSON.
 *
 * Not reproduced: distributed claims (rejected), CEL mappings (structured config), anonymous
 * auth, the 10 s background retry cadence of discovery (here: retried on the next token).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { compactVerify, importJWK, type JWK } from 'jose';

export interface ApiServerOidcOptions {
  issuerUrl: string;
  clientId: string;
  /** CA bundle for an https issuer (replaces the system roots, as --oidc-ca-file does). */
  caPem?: string;
  /** Default 'sub'. */
  usernameClaim?: string;
  /** undefined/'' => `${issuerUrl}#` unless usernameClaim is 'email'; '-' => no prefix. */
  usernamePrefix?: string;
  groupsClaim?: string;
  groupsPrefix?: string;
  /** Default ['RS256']. Only RS/ES/PS 256/384/512 are accepted (as kube-apiserver). */
  signingAlgs?: string[];
  /** --oidc-required-claim key=value pairs. */
  requiredClaims?: Record<string, string>;
  /** Structured-config only (not a legacy flag): claim to use as the user's UID. */
  uidClaim?: string;
  /** kube-apiserver refuses non-https issuer URLs; set true to allow http for a test. */
  allowInsecureIssuer?: boolean;
  /** nbf leeway in seconds. Default 60 (go-oidc v2.2.1 vendored by k8s 1.32). */
  nbfLeewaySeconds?: number;
}

export interface StartApiServerOptions {
  tls: { certPem: string; keyPem: string; caPem?: string };
  oidc: ApiServerOidcOptions;
  /** CA that signed tls.certPem, exposed as `caPem` for kubeconfigs. */
  caPem?: string;
  port?: number;
  /** Minor version reported by /version (the gcloud kubectl dispatcher picks its kubectl by it). Default 32. */
  minorVersion?: number;
  /**
   * RBAC stand-in. Without grants a user can only do what the default ClusterRoles give every
   * authenticated user (discovery, /version, SelfSubject{,Access,Rules}Review). A grant that
   * allows get/list/watch on a core resource makes the request succeed with an empty list /
   * 404 NotFound (there are no objects); allowed writes answer 405 (not implemented here).
   */
  grants?: RbacGrant[];
}

export interface RbacGrant {
  /** Final usernames (after --oidc-username-prefix). */
  users?: string[];
  /** Final group names (after --oidc-groups-prefix). */
  groups?: string[];
  verbs: string[];
  /** Default [''] (core). '*' matches any. */
  apiGroups?: string[];
  resources: string[];
  /** Omitted: cluster-wide (ClusterRoleBinding); else only these namespaces (RoleBinding). */
  namespaces?: string[];
}

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

export interface ApiRequestRecord {
  time: string;
  method: string;
  path: string;
  /** Query string (without '?'), '' if none. Never contains credentials. */
  query: string;
  status: number;
  userAgent?: string;
  /** Authenticated username, if the request authenticated. */
  user?: string;
  groups?: string[];
  /** Why authentication failed (never the token itself). */
  reason?: string;
}

export interface ApiServer {
  url: string;
  caPem: string | undefined;
  requests: ApiRequestRecord[];
  /** Authenticate a raw token exactly as the HTTP path does (handy for unit tests). */
  authenticate(token: string): Promise<AuthResult>;
  /** How often discovery and the JWKS were fetched from the issuer. */
  oidcStats: { discoveryFetches: number; jwksFetches: number };
  close(): Promise<void>;
}

export type AuthResult = { ok: true; user: UserInfo } | { ok: false; reason: string };

const ALLOWED_ALGS = new Set(['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512']);
const KEYS_EXPIRY_DELTA_MS = 30_000; // go-oidc keysExpiryDelta

class AuthError extends Error {}

// ------------------------------------------------------------------------------------------
// HTTP GET with an optional CA (node:https; global fetch cannot take a CA without undici).

interface GetResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function httpGet(url: string, caPem: string | undefined): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
    if (!mod) {
      reject(new Error(`unsupported protocol scheme "${u.protocol.replace(/:$/, '')}"`));
      return;
    }
    const req = mod.request(
      u,
      {
        method: 'GET',
        headers: { accept: 'application/json', 'user-agent': 'kube-apiserver-standin/oidc' },
        ...(u.protocol === 'https:' && caPem ? { ca: caPem } : {}),
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Expiry of a JWKS response per its caching headers, like pquerna/cachecontrol (simplified). */
function cacheExpiry(headers: http.IncomingHttpHeaders, now: number): number {
  const cc = String(headers['cache-control'] ?? '').toLowerCase();
  const directives = new Map<string, string>();
  for (const part of cc.split(',')) {
    const [k = '', v = ''] = part.trim().split('=');
    if (k) directives.set(k, v.replace(/^"|"$/g, ''));
  }
  if (directives.has('no-store') || directives.has('no-cache') || directives.has('private')) return now;
  const age = Number(headers['age'] ?? 0) || 0;
  const sMax = directives.get('s-maxage');
  const max = directives.get('max-age');
  const secs = sMax !== undefined ? Number(sMax) : max !== undefined ? Number(max) : undefined;
  if (secs !== undefined && Number.isFinite(secs)) return now + (secs - age) * 1000;
  if (headers.expires) {
    const exp = Date.parse(String(headers.expires));
    const date = headers.date ? Date.parse(String(headers.date)) : now;
    if (Number.isFinite(exp) && Number.isFinite(date)) return now + (exp - date);
  }
  return now;
}

// ------------------------------------------------------------------------------------------
// Go encoding/json-ish type checks.

const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** go-oidc jsonTime: a JSON number (or a string holding one); returns unix seconds (truncated). */
function goJsonTime(v: unknown, name: string): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && JSON_NUMBER.test(v)) n = Number(v);
  else throw new AuthError(`oidc: failed to unmarshal claims: bad ${name}`);
  return Math.trunc(n);
}

function goString(v: unknown, what: string): string {
  if (v === null) return '';
  if (typeof v !== 'string') throw new AuthError(`${what}: json: cannot unmarshal into Go value of type string`);
  return v;
}

function b64urlDecodeStrict(s: string): Buffer {
  // base64.RawURLEncoding: URL alphabet, no padding.
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw new AuthError('illegal base64 data');
  return Buffer.from(s, 'base64url');
}

function parseJsonObject(buf: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch {
    throw new AuthError(`${what}: invalid JSON`);
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new AuthError(`${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

// ------------------------------------------------------------------------------------------

interface Discovered {
  jwksUri: string;
}

export class OidcTokenAuthenticator {
  private readonly issuer: string;
  private readonly clientId: string;
  private readonly caPem?: string;
  private readonly usernameClaim: string;
  private readonly usernamePrefix: string;
  private readonly groupsClaim?: string;
  private readonly groupsPrefix: string;
  private readonly algs: string[];
  private readonly requiredClaims: Record<string, string>;
  private readonly uidClaim?: string;
  private readonly nbfLeewayMs: number;

  private discovered?: Discovered;
  private discovering?: Promise<Discovered>;
  private keys: JWK[] = [];
  private keysExpiry = 0;
  private inflight?: Promise<JWK[]>;
  /** Counters for tests. */
  readonly stats = { discoveryFetches: 0, jwksFetches: 0 };

  constructor(o: ApiServerOidcOptions) {
    if (!o.issuerUrl) throw new Error('oidc-issuer-url is required');
    if (!o.clientId) throw new Error('oidc-client-id is required');
    const u = new URL(o.issuerUrl);
    if (u.protocol !== 'https:' && !o.allowInsecureIssuer) {
      throw new Error(
        `kube-apiserver refuses --oidc-issuer-url ${o.issuerUrl}: URL scheme must be https ` +
          '(pass oidc.allowInsecureIssuer: true to allow http in a test)',
      );
    }
    if (u.hash || u.search || u.username || u.password) {
      throw new Error('oidc-issuer-url must not contain a fragment, query or user info');
    }
    this.issuer = o.issuerUrl;
    this.clientId = o.clientId;
    this.caPem = o.caPem;
    this.usernameClaim = o.usernameClaim || 'sub';
    // pkg/kubeapiserver/options/authentication.go (legacy flag conversion)
    let prefix = o.usernamePrefix ?? '';
    if (prefix === '' && this.usernameClaim !== 'email') prefix = `${o.issuerUrl}#`;
    if (prefix === '-') prefix = '';
    this.usernamePrefix = prefix;
    this.groupsClaim = o.groupsClaim || undefined;
    this.groupsPrefix = o.groupsPrefix ?? '';
    this.algs = o.signingAlgs?.length ? [...o.signingAlgs] : ['RS256'];
    for (const alg of this.algs) {
      if (!ALLOWED_ALGS.has(alg)) throw new Error(`oidc: unsupported signing alg: "${alg}"`);
    }
    this.requiredClaims = { ...(o.requiredClaims ?? {}) };
    this.uidClaim = o.uidClaim || undefined;
    this.nbfLeewayMs = (o.nbfLeewaySeconds ?? 60) * 1000;
  }

  /** Start discovery in the background (errors are swallowed and retried on the next token). */
  warmUp(): void {
    this.discover().catch(() => undefined);
  }

  private discover(): Promise<Discovered> {
    if (this.discovered) return Promise.resolve(this.discovered);
    if (!this.discovering) {
      this.discovering = (async () => {
        this.stats.discoveryFetches++;
        const wellKnown = `${this.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
        const res = await httpGet(wellKnown, this.caPem);
        if (res.status !== 200) throw new Error(`${res.status}: ${res.body.slice(0, 200)}`);
        const p = parseJsonObject(Buffer.from(res.body), 'oidc: failed to decode provider discovery object');
        if (p.issuer !== this.issuer) {
          throw new Error(
            `oidc: issuer did not match the issuer returned by provider, expected "${this.issuer}" got "${String(p.issuer)}"`,
          );
        }
        const d = { jwksUri: typeof p.jwks_uri === 'string' ? p.jwks_uri : '' };
        this.discovered = d;
        return d;
      })().finally(() => {
        this.discovering = undefined;
      });
    }
    return this.discovering;
  }

  private keysFromRemote(jwksUri: string): Promise<JWK[]> {
    if (!this.inflight) {
      this.inflight = (async () => {
        this.stats.jwksFetches++;
        const res = await httpGet(jwksUri, this.caPem);
        if (res.status !== 200) throw new Error(`oidc: get keys failed: ${res.status}`);
        const set = parseJsonObject(Buffer.from(res.body), 'oidc: failed to decode keys');
        if (!Array.isArray(set.keys)) throw new Error('oidc: failed to decode keys');
        const keys = set.keys as JWK[];
        this.keys = keys;
        this.keysExpiry = cacheExpiry(res.headers, Date.now());
        return keys;
      })().finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  private async tryKeys(keys: JWK[], token: string, kid: string | undefined, alg: string): Promise<boolean> {
    for (const key of keys) {
      if (kid !== undefined && kid !== '' && key.kid !== kid) continue;
      let pub: JWK;
      if (key.kty === 'RSA' && key.n && key.e) pub = { kty: 'RSA', n: key.n, e: key.e };
      else if (key.kty === 'EC' && key.crv && key.x && key.y) pub = { kty: 'EC', crv: key.crv, x: key.x, y: key.y };
      else continue;
      try {
        const k = await importJWK(pub, alg);
        await compactVerify(token, k, { algorithms: [alg] });
        return true;
      } catch {
        /* next key */
      }
    }
    return false;
  }

  async authenticate(token: string): Promise<AuthResult> {
    try {
      return { ok: true, user: await this.authenticateOrThrow(token) };
    } catch (err) {
      return { ok: false, reason: err instanceof Error ? err.message : String(err) };
    }
  }

  private async authenticateOrThrow(token: string): Promise<UserInfo> {
    // ---- oidc.go hasCorrectIssuer / untrustedIssuer
    if (token.trim().startsWith('{')) throw new AuthError('invalid bearer token (token is not compact JWT)');
    const parts = token.split('.');
    if (parts.length !== 3) throw new AuthError('invalid bearer token (malformed token)');
    const [h64 = '', p64 = '', s64 = ''] = parts;
    let payloadBuf: Buffer;
    let untrusted: Record<string, unknown>;
    try {
      payloadBuf = b64urlDecodeStrict(p64);
      untrusted = parseJsonObject(payloadBuf, 'while unmarshaling token');
    } catch {
      throw new AuthError('invalid bearer token (undecodable payload)');
    }
    if (untrusted.iss !== undefined && untrusted.iss !== null && typeof untrusted.iss !== 'string') {
      throw new AuthError('invalid bearer token (iss is not a string)');
    }
    if ((untrusted.iss ?? '') !== this.issuer) {
      throw new AuthError(`invalid bearer token (untrusted issuer "${String(untrusted.iss ?? '')}")`);
    }

    // ---- verifier initialised?
    let discovered: Discovered;
    try {
      discovered = await this.discover();
    } catch (err) {
      throw new AuthError(`oidc: authenticator not initialized (${err instanceof Error ? err.message : String(err)})`);
    }

    // ---- go-oidc Verify: jose.ParseSigned
    let header: Record<string, unknown>;
    try {
      header = parseJsonObject(b64urlDecodeStrict(h64), 'header');
      b64urlDecodeStrict(s64);
    } catch {
      throw new AuthError('oidc: malformed jwt');
    }
    if (typeof header.alg !== 'string') throw new AuthError('oidc: malformed jwt: missing alg');

    // ---- idToken struct unmarshal
    const c = untrusted;
    goString(c.iss ?? null, 'oidc: failed to unmarshal claims: iss');
    goString(c.sub ?? null, 'oidc: failed to unmarshal claims: sub');
    goString(c.nonce ?? null, 'oidc: failed to unmarshal claims: nonce');
    goString(c.at_hash ?? null, 'oidc: failed to unmarshal claims: at_hash');
    let aud: string[];
    if (c.aud === undefined) aud = [];
    else if (c.aud === null) aud = [''];
    else if (typeof c.aud === 'string') aud = [c.aud];
    else if (Array.isArray(c.aud) && c.aud.every((a) => typeof a === 'string' || a === null)) {
      aud = c.aud.map((a) => (a === null ? '' : (a as string)));
    } else throw new AuthError('oidc: failed to unmarshal claims: aud');
    const exp = c.exp === undefined ? undefined : goJsonTime(c.exp, 'exp');
    if (c.iat !== undefined) goJsonTime(c.iat, 'iat');
    const nbf = c.nbf === undefined || c.nbf === null ? undefined : goJsonTime(c.nbf, 'nbf');
    if (c._claim_names !== undefined && c._claim_names !== null) {
      const names = c._claim_names;
      if (typeof names !== 'object' || Array.isArray(names)) throw new AuthError('oidc: failed to unmarshal claims: _claim_names');
      const sources = (c._claim_sources ?? {}) as Record<string, unknown>;
      if (typeof sources !== 'object' || Array.isArray(sources)) throw new AuthError('oidc: failed to unmarshal claims: _claim_sources');
      for (const src of Object.values(names as Record<string, unknown>)) {
        if (typeof src !== 'string') throw new AuthError('oidc: failed to unmarshal claims: _claim_names');
        if (src === '') throw new AuthError('oidc: failed to obtain source from claim name');
        if (!(src in sources)) throw new AuthError('oidc: source does not exist');
      }
    }

    // ---- issuer, audience, expiry, nbf
    if (c.iss !== this.issuer) throw new AuthError('oidc: id token issued by a different provider');
    if (!aud.includes(this.clientId)) {
      throw new AuthError(`oidc: expected audience "${this.clientId}" got ${JSON.stringify(aud)}`);
    }
    const now = Date.now();
    const expMs = exp === undefined ? Number.NEGATIVE_INFINITY : exp * 1000;
    if (expMs < now) throw new AuthError('oidc: token is expired');
    if (nbf !== undefined && now + this.nbfLeewayMs < nbf * 1000) {
      throw new AuthError('oidc: current time before the nbf (not before) time');
    }

    // ---- signature
    const alg = header.alg;
    if (!this.algs.includes(alg)) {
      throw new AuthError(`oidc: id token signed with unsupported algorithm, expected ${JSON.stringify(this.algs)} got "${alg}"`);
    }
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    let verified = await this.tryKeys(this.keys, token, kid, alg);
    if (!verified) {
      if (!(Date.now() + KEYS_EXPIRY_DELTA_MS > this.keysExpiry)) {
        throw new AuthError('failed to verify signature: failed to verify id token signature (cached keys not expired)');
      }
      let keys: JWK[];
      try {
        keys = await this.keysFromRemote(discovered.jwksUri);
      } catch (err) {
        throw new AuthError(`failed to verify signature: fetching keys ${err instanceof Error ? err.message : String(err)}`);
      }
      verified = await this.tryKeys(keys, token, kid, alg);
    }
    if (!verified) throw new AuthError('failed to verify signature: failed to verify id token signature');

    return this.mapClaims(c);
  }

  private mapClaims(c: Record<string, unknown>): UserInfo {
    // distributed groups claim (_claim_names/_claim_sources): not implemented by the stand-in
    if (this.groupsClaim && !(this.groupsClaim in c) && c._claim_names && typeof c._claim_names === 'object') {
      const src = (c._claim_names as Record<string, string>)[this.groupsClaim];
      if (src) {
        const ep = ((c._claim_sources ?? {}) as Record<string, { endpoint?: string }>)[src];
        if (!ep) throw new AuthError(`id token _claim_names contained a source ${src} missing in _claims_sources`);
        if (ep.endpoint) throw new AuthError('oidc: distributed claims are not supported by the kube-apiserver stand-in');
      }
    }

    // getUsername
    if (!(this.usernameClaim in c)) {
      throw new AuthError(`oidc: parse username claims "${this.usernameClaim}": claim not present`);
    }
    const username = goString(c[this.usernameClaim], `oidc: parse username claims "${this.usernameClaim}"`);
    if (this.usernameClaim === 'email' && 'email_verified' in c) {
      const ev = c.email_verified;
      if (ev !== null && typeof ev !== 'boolean') throw new AuthError("oidc: parse 'email_verified' claim");
      if (ev !== true) throw new AuthError('oidc: email not verified');
    }
    const name = this.usernamePrefix ? this.usernamePrefix + username : username;

    // getGroups
    let groups: string[] = [];
    if (this.groupsClaim && this.groupsClaim in c) {
      const g = c[this.groupsClaim];
      if (g === null) groups = [];
      else if (typeof g === 'string') groups = [g];
      else if (Array.isArray(g) && g.every((x) => typeof x === 'string' || x === null)) {
        groups = g.map((x) => (x === null ? '' : (x as string)));
      } else throw new AuthError(`oidc: parse groups claim "${this.groupsClaim}"`);
      if (this.groupsPrefix) groups = groups.map((x) => this.groupsPrefix + x);
    }

    // getUID
    let uid: string | undefined;
    if (this.uidClaim) {
      if (!(this.uidClaim in c)) throw new AuthError(`oidc: parse uid claim "${this.uidClaim}": claim not present`);
      uid = goString(c[this.uidClaim], `oidc: parse uid claim "${this.uidClaim}"`) || undefined;
    }

    // required claims
    for (const [claim, value] of Object.entries(this.requiredClaims)) {
      if (!(claim in c)) throw new AuthError(`oidc: required claim ${claim} not present in ID token`);
      const got = goString(c[claim], `oidc: parse claim ${claim}`);
      if (got !== value) throw new AuthError(`oidc: required claim ${claim} value does not match`);
    }

    // group.AuthenticatedGroupAdder
    if (!groups.includes('system:authenticated')) groups = [...groups, 'system:authenticated'];
    return { username: name, ...(uid ? { uid } : {}), groups };
  }
}

// ------------------------------------------------------------------------------------------

function listen(server: https.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

interface RequestInfo {
  isResource: boolean;
  verb: string;
  group: string;
  version: string;
  namespace?: string;
  resource: string;
  name?: string;
  subresource?: string;
}

/** A simplified k8s.io/apiserver RequestInfoFactory: which verb/resource a request is about. */
function requestInfo(method: string, path: string, query: URLSearchParams): RequestInfo {
  const nonResource = (): RequestInfo => ({
    isResource: false,
    verb: method.toLowerCase(),
    group: '',
    version: '',
    resource: '',
  });
  const segs = path.split('/').filter(Boolean);
  let group = '';
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 2) rest = segs.slice(1);
  else if (segs[0] === 'apis' && segs.length >= 3) {
    group = segs[1] ?? '';
    rest = segs.slice(2);
  } else return nonResource();
  const version = rest[0] ?? '';
  let parts = rest.slice(1);
  if (parts.length === 0) return nonResource(); // discovery of a group version
  let namespace: string | undefined;
  if (parts[0] === 'namespaces' && parts.length > 1) {
    // as k8s: /namespaces/<ns> is the namespace object, *in* namespace <ns>
    namespace = parts[1];
    if (parts.length > 2 && parts[2] !== 'status' && parts[2] !== 'finalize') parts = parts.slice(2);
  }
  const resource = parts[0] ?? '';
  const name = parts[1];
  const subresource = parts[2];
  const watch = query.get('watch') === 'true' || query.get('watch') === '1';
  let verb: string;
  switch (method) {
    case 'GET':
    case 'HEAD':
      verb = name ? 'get' : watch ? 'watch' : 'list';
      break;
    case 'POST':
      verb = 'create';
      break;
    case 'PUT':
      verb = 'update';
      break;
    case 'PATCH':
      verb = 'patch';
      break;
    case 'DELETE':
      verb = name ? 'delete' : 'deletecollection';
      break;
    default:
      verb = method.toLowerCase();
  }
  return { isResource: true, verb, group, version, namespace, resource, name, subresource };
}

// ------------------------------------------------------------------------------------------
// Minimal protobuf reading: kubectl's typed clients (auth whoami / can-i) POST
// application/vnd.kubernetes.protobuf: "k8s\0" + runtime.Unknown{typeMeta=1, raw=2, ...}.

type ProtoFields = Map<number, Array<Buffer | number>>;

function protoFields(buf: Buffer): ProtoFields {
  const out: ProtoFields = new Map();
  let i = 0;
  const varint = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++] ?? 0;
      result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    let value: Buffer | number;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = varint();
      value = buf.subarray(i, i + len);
      i += len;
    } else if (wire === 1) {
      value = buf.subarray(i, i + 8);
      i += 8;
    } else if (wire === 5) {
      value = buf.subarray(i, i + 4);
      i += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

const protoStr = (f: ProtoFields, n: number): string | undefined => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
};
const protoMsg = (f: ProtoFields, n: number): ProtoFields | undefined => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? protoFields(v) : undefined;
};

/** Decode the `spec` of a SelfSubject{Access,Rules}Review from JSON or k8s protobuf. */
function decodeReviewSpec(body: Buffer, contentType: string, kind: string): Record<string, unknown> {
  if (contentType.includes('protobuf')) {
    if (body.subarray(0, 4).toString('latin1') !== 'k8s\0') throw new Error('missing k8s protobuf magic');
    const unknown = protoFields(body.subarray(4));
    const raw = unknown.get(2)?.[0];
    if (!Buffer.isBuffer(raw)) throw new Error('no raw object');
    const spec = protoMsg(protoFields(raw), 2);
    if (!spec) return {};
    if (kind === 'SelfSubjectRulesReview') {
      const ns = protoStr(spec, 1);
      return ns ? { namespace: ns } : {};
    }
    const ra = protoMsg(spec, 1);
    const nra = protoMsg(spec, 2);
    const out: Record<string, unknown> = {};
    if (ra) {
      const names = ['', 'namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'];
      const attrs: Record<string, string> = {};
      names.forEach((name, idx) => {
        const v = idx ? protoStr(ra, idx) : undefined;
        if (v) attrs[name] = v;
      });
      out.resourceAttributes = attrs;
    }
    if (nra) {
      const attrs: Record<string, string> = {};
      const path = protoStr(nra, 1);
      const verb = protoStr(nra, 2);
      if (path) attrs.path = path;
      if (verb) attrs.verb = verb;
      out.nonResourceAttributes = attrs;
    }
    return out;
  }
  const obj = JSON.parse(body.toString('utf8') || '{}') as { spec?: Record<string, unknown> };
  return obj.spec ?? {};
}

interface ResourceAttrs {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const DISCOVERY_PATHS = ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/readyz', '/openapi', '/openapi/*', '/version', '/version/'];

/** system:basic-user */
const BASIC_USER_RULES = [
  { verbs: ['create'], apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'] },
  { verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] },
];

function nonResourceAllowed(verb: string, path: string): boolean {
  if (verb !== 'get') return false;
  return DISCOVERY_PATHS.some((p) => (p.endsWith('*') ? path.startsWith(p.slice(0, -1)) : path === p));
}

function grantApplies(g: RbacGrant, user: UserInfo, namespace: string | undefined): boolean {
  const subject = (g.users ?? []).includes(user.username) || (g.groups ?? []).some((x) => user.groups.includes(x));
  if (!subject) return false;
  if (g.namespaces === undefined) return true;
  return namespace !== undefined && g.namespaces.includes(namespace);
}

function resourceAllowed(a: ResourceAttrs, user: UserInfo, grants: RbacGrant[]): boolean {
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const matches = (r: { verbs: string[]; apiGroups?: string[]; resources: string[] }) =>
    (r.verbs.includes(a.verb) || r.verbs.includes('*')) &&
    (r.apiGroups ?? ['']).some((g) => g === '*' || g === a.group) &&
    r.resources.some((x) => x === '*' || x === res);
  if (BASIC_USER_RULES.some(matches)) return true; // ClusterRoleBinding: every namespace too
  return grants.some((g) => grantApplies(g, user, a.namespace) && matches(g));
}

const CORE_RESOURCES = [
  { name: 'namespaces', singularName: 'namespace', kind: 'Namespace', namespaced: false, shortNames: ['ns'] },
  { name: 'pods', singularName: 'pod', kind: 'Pod', namespaced: true, shortNames: ['po'] },
  { name: 'secrets', singularName: 'secret', kind: 'Secret', namespaced: true, shortNames: [] as string[] },
  { name: 'configmaps', singularName: 'configmap', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] },
];

const OPENAPI_HASH = 'A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90';

/** Just enough of kube-apiserver's OpenAPI v3 document for authentication.k8s.io/<version>. */
function openApiV3AuthDoc(version: string, minor: number) {
  const gvk = { group: 'authentication.k8s.io', version, kind: 'SelfSubjectReview' };
  const schemaName = `io.k8s.api.authentication.${version}.SelfSubjectReview`;
  const ref = { $ref: `#/components/schemas/${schemaName}` };
  const queryParam = (name: string, description: string) => ({
    name,
    in: 'query',
    description,
    schema: { type: 'string', uniqueItems: true },
  });
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: `v1.${minor}.0` },
    paths: {
      [`/apis/authentication.k8s.io/${version}/selfsubjectreviews`]: {
        post: {
          tags: [`authentication_${version}`],
          description: 'create a SelfSubjectReview',
          operationId: `createAuthentication${version === 'v1' ? 'V1' : 'V1beta1'}SelfSubjectReview`,
          parameters: [
            queryParam('dryRun', 'When present, indicates that modifications should not be persisted.'),
            queryParam('fieldManager', 'fieldManager is a name associated with the actor or entity that is making these changes.'),
            queryParam('fieldValidation', 'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.'),
            queryParam('pretty', "If 'true', then the output is pretty printed."),
          ],
          requestBody: { content: { '*/*': { schema: ref } }, required: true },
          responses: {
            '200': { description: 'OK', content: { 'application/json': { schema: ref } } },
            '201': { description: 'Created', content: { 'application/json': { schema: ref } } },
            '401': { description: 'Unauthorized' },
          },
          'x-kubernetes-action': 'post',
          'x-kubernetes-group-version-kind': gvk,
        },
      },
    },
    components: {
      schemas: {
        [schemaName]: {
          description: 'SelfSubjectReview contains the user information that the kube-apiserver has about the user making this request.',
          type: 'object',
          properties: {
            apiVersion: { type: 'string' },
            kind: { type: 'string' },
            metadata: { type: 'object' },
            status: { type: 'object' },
          },
          'x-kubernetes-group-version-kind': [gvk],
        },
      },
    },
  };
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(code === 404 ? { details: {} } : {}), code };
}

export async function startApiServer(opts: StartApiServerOptions): Promise<ApiServer> {
  const authn = new OidcTokenAuthenticator(opts.oidc);
  const minor = opts.minorVersion ?? 32;
  const requests: ApiRequestRecord[] = [];

  const versionInfo = {
    major: '1',
    minor: String(minor),
    emulationMajor: '1',
    emulationMinor: String(minor),
    minCompatibilityMajor: '1',
    minCompatibilityMinor: String(minor - 1),
    gitVersion: `v1.${minor}.0`,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2024-12-11T18:04:20Z',
    goVersion: 'go1.23.3',
    compiler: 'gc',
    platform: 'linux/amd64',
  };

  const authGroup = {
    name: 'authentication.k8s.io',
    versions: [
      { groupVersion: 'authentication.k8s.io/v1', version: 'v1' },
      { groupVersion: 'authentication.k8s.io/v1beta1', version: 'v1beta1' },
    ],
    preferredVersion: { groupVersion: 'authentication.k8s.io/v1', version: 'v1' },
  };

  const authzGroup = {
    name: 'authorization.k8s.io',
    versions: [{ groupVersion: 'authorization.k8s.io/v1', version: 'v1' }],
    preferredVersion: { groupVersion: 'authorization.k8s.io/v1', version: 'v1' },
  };
  const grants = opts.grants ?? [];

  const resourceList = (gv: string) => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: gv,
    resources:
      gv === 'v1'
        ? CORE_RESOURCES.map(({ name, kind, namespaced, singularName, shortNames }) => ({
            name,
            singularName,
            namespaced,
            kind,
            verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
            shortNames,
          }))
        : gv === 'authorization.k8s.io/v1'
          ? [
              { name: 'selfsubjectaccessreviews', singularName: 'selfsubjectaccessreview', namespaced: false, kind: 'SelfSubjectAccessReview', verbs: ['create'] },
              { name: 'selfsubjectrulesreviews', singularName: 'selfsubjectrulesreview', namespaced: false, kind: 'SelfSubjectRulesReview', verbs: ['create'] },
            ]
          : [
            {
              name: 'selfsubjectreviews',
              singularName: 'selfsubjectreview',
              namespaced: false,
              kind: 'SelfSubjectReview',
              verbs: ['create'],
            },
          ],
  });

  let serverAddress = '127.0.0.1:0';
  const records = new WeakMap<http.ServerResponse, ApiRequestRecord>();

  const server = https.createServer(
    { cert: opts.tls.certPem, key: opts.tls.keyPem, keepAlive: true },
    (req, res) => {
      const rawUrl = req.url ?? '/';
      const qi = rawUrl.indexOf('?');
      const path = qi === -1 ? rawUrl : rawUrl.slice(0, qi);
      const record: ApiRequestRecord = {
        time: new Date().toISOString(),
        method: req.method ?? 'GET',
        path,
        query: qi === -1 ? '' : rawUrl.slice(qi + 1),
        status: 0,
        ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
      };
      // Recorded on arrival (so the log is in arrival order and complete by the time the client
      // has read the response); status is filled in when the response head is written.
      requests.push(record);
      records.set(res, record);
      res.on('finish', () => {
        record.status = res.statusCode;
      });
      handle(req, res, path, record).catch((err: unknown) => {
        record.reason = `internal error: ${err instanceof Error ? err.message : String(err)}`;
        if (!res.headersSent) send(res, 500, status(500, 'InternalError', 'internal error'));
        else res.end();
      });
    },
  );

  function send(res: http.ServerResponse, code: number, body: unknown) {
    const text = JSON.stringify(body);
    const rec = records.get(res);
    if (rec) rec.status = code;
    res.writeHead(code, {
      'content-type': 'application/json',
      'cache-control': 'no-cache, private',
      'audit-id': randomUUID(),
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  async function readBody(req: http.IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, path: string, record: ApiRequestRecord) {
    // ---- authentication (bearertoken.Authenticator)
    const auth = String(req.headers.authorization ?? '').trim();
    let reason: string | undefined;
    let user: UserInfo | undefined;
    if (auth === '') {
      reason = 'no credentials (anonymous auth disabled)';
    } else {
      const parts = auth.split(' ');
      if (parts.length < 2 || (parts[0] ?? '').toLowerCase() !== 'bearer') {
        reason = 'no bearer token (unsupported Authorization scheme)';
      } else {
        const token = auth.slice((parts[0] ?? '').length + 1).split(' ')[0] ?? '';
        if (token === '') reason = 'invalid bearer token (empty)';
        else {
          const r = await authn.authenticate(token);
          if (r.ok) user = r.user;
          else reason = r.reason;
        }
      }
    }
    if (!user) {
      record.reason = reason;
      await readBody(req).catch(() => undefined);
      send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    record.user = user.username;
    record.groups = user.groups;

    const method = req.method ?? 'GET';
    const p = path.length > 1 ? path.replace(/\/+$/, '') : path;
    const ri = requestInfo(method, p, new URLSearchParams(record.query));

    // ---- authorization (RBAC stand-in): what the default ClusterRoles give every authenticated
    // user (system:discovery, system:public-info-viewer, system:basic-user) plus opts.grants.
    const isSsr =
      ri.isResource &&
      ri.verb === 'create' &&
      ri.group === 'authentication.k8s.io' &&
      (ri.version === 'v1' || ri.version === 'v1beta1') &&
      ri.resource === 'selfsubjectreviews' &&
      !ri.name &&
      !ri.namespace;
    const allowed = ri.isResource ? resourceAllowed(ri, user, grants) : nonResourceAllowed(ri.verb, p);
    if (!allowed) {
      await readBody(req).catch(() => undefined);
      const who = JSON.stringify(user.username);
      let message: string;
      if (!ri.isResource) {
        message = `forbidden: User ${who} cannot ${ri.verb} path ${JSON.stringify(p)}`;
      } else {
        const resource = ri.subresource ? `${ri.resource}/${ri.subresource}` : ri.resource;
        const qualified = ri.group ? `${ri.resource}.${ri.group}` : ri.resource;
        const scope = ri.namespace ? `in the namespace ${JSON.stringify(ri.namespace)}` : 'at the cluster scope';
        message =
          `${qualified}${ri.name ? ` ${JSON.stringify(ri.name)}` : ''} is forbidden: User ${who} cannot ${ri.verb} ` +
          `resource ${JSON.stringify(resource)} in API group ${JSON.stringify(ri.group)} ${scope}`;
      }
      record.reason = `forbidden (${ri.isResource ? `${ri.verb} ${ri.resource}` : `${ri.verb} ${p}`})`;
      send(res, 403, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        reason: 'Forbidden',
        details: ri.isResource
          ? { ...(ri.name ? { name: ri.name } : {}), ...(ri.group ? { group: ri.group } : {}), kind: ri.resource }
          : {},
        code: 403,
      });
      return;
    }

    if (ri.isResource && ri.group === 'authorization.k8s.io' && ri.version === 'v1' && ri.verb === 'create') {
      const body = await readBody(req);
      let spec: Record<string, unknown>;
      try {
        spec = decodeReviewSpec(
          body,
          String(req.headers['content-type'] ?? ''),
          ri.resource === 'selfsubjectrulesreviews' ? 'SelfSubjectRulesReview' : 'SelfSubjectAccessReview',
        );
      } catch {
        send(res, 400, status(400, 'BadRequest', 'the object provided is unrecognized'));
        return;
      }
      if (ri.resource === 'selfsubjectaccessreviews') {
        const ra = spec.resourceAttributes as Record<string, string> | undefined;
        const nra = spec.nonResourceAttributes as Record<string, string> | undefined;
        const ok = ra
          ? resourceAllowed(
              {
                verb: ra.verb ?? '',
                group: ra.group ?? '',
                resource: ra.resource ?? '',
                namespace: ra.namespace || undefined,
                name: ra.name || undefined,
                subresource: ra.subresource || undefined,
              },
              user,
              grants,
            )
          : nra
            ? nonResourceAllowed(nra.verb ?? '', nra.path ?? '')
            : false;
        send(res, 201, {
          kind: 'SelfSubjectAccessReview',
          apiVersion: 'authorization.k8s.io/v1',
          metadata: { creationTimestamp: null },
          spec,
          status: ok ? { allowed: true, reason: 'allowed by the kube-apiserver stand-in' } : { allowed: false },
        });
        return;
      }
      if (ri.resource === 'selfsubjectrulesreviews') {
        const ns = typeof spec.namespace === 'string' && spec.namespace ? spec.namespace : undefined;
        const resourceRules = [
          ...BASIC_USER_RULES.map((r) => ({ ...r })),
          ...grants
            .filter((g) => grantApplies(g, user, ns))
            .map((g) => ({ verbs: g.verbs, apiGroups: g.apiGroups ?? [''], resources: g.resources })),
        ];
        send(res, 201, {
          kind: 'SelfSubjectRulesReview',
          apiVersion: 'authorization.k8s.io/v1',
          metadata: { creationTimestamp: null },
          spec,
          status: {
            resourceRules,
            nonResourceRules: [{ verbs: ['get'], nonResourceURLs: DISCOVERY_PATHS }],
            incomplete: false,
          },
        });
        return;
      }
    }

    // allowed by a grant: core resources have no objects
    if (ri.isResource && !isSsr) {
      await readBody(req).catch(() => undefined);
      const def = ri.group === '' ? CORE_RESOURCES.find((r) => r.name === ri.resource) : undefined;
      if (!def) {
        send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      } else if (ri.verb === 'list' || ri.verb === 'watch') {
        send(res, 200, { kind: `${def.kind}List`, apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] });
      } else if (ri.verb === 'get') {
        send(res, 404, {
          ...status(404, 'NotFound', `${def.name} ${JSON.stringify(ri.name)} not found`),
          details: { name: ri.name, kind: def.name },
        });
      } else {
        send(res, 405, status(405, 'MethodNotAllowed', 'the kube-apiserver stand-in does not implement writes'));
      }
      return;
    }

    if (isSsr) {
      const version = ri.version;
      const body = await readBody(req);
      const ct = String(req.headers['content-type'] ?? '');
      if (ct.includes('json') && body.length) {
        let obj: { kind?: unknown; apiVersion?: unknown } | undefined;
        try {
          obj = JSON.parse(body.toString('utf8')) as typeof obj;
        } catch {
          send(res, 400, status(400, 'BadRequest', 'the object provided is unrecognized'));
          return;
        }
        if (obj && obj.kind !== undefined && obj.kind !== 'SelfSubjectReview') {
          send(res, 400, status(400, 'BadRequest', `the object provided is unrecognized (wrong kind ${String(obj.kind)})`));
          return;
        }
      }
      send(res, 201, {
        kind: 'SelfSubjectReview',
        apiVersion: `authentication.k8s.io/${version}`,
        metadata: { creationTimestamp: null },
        status: {
          userInfo: { username: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups },
        },
      });
      return;
    }

    const oapiGv = /^\/openapi\/v3\/apis\/authentication\.k8s\.io\/(v1|v1beta1)$/.exec(p);
    if (oapiGv) return send(res, 200, openApiV3AuthDoc(oapiGv[1] ?? 'v1', minor));

    switch (p) {
      case '/openapi/v3':
        // kubectl create/apply (--validate=strict, the default) first asks OpenAPI v3 whether the
        // GVK's PATCH operation supports ?fieldValidation; SelfSubjectReview has no PATCH, so
        // kubectl 1.32 falls back to the v2 verifier and client-side validation, which download
        // /openapi/v2 (below).
        return send(res, 200, {
          paths: Object.fromEntries(
            ['v1', 'v1beta1'].map((v) => [
              `apis/authentication.k8s.io/${v}`,
              { serverRelativeURL: `/openapi/v3/apis/authentication.k8s.io/${v}?hash=${OPENAPI_HASH}` },
            ]),
          ),
        });
      case '/openapi/v2':
        // Protobuf-encoded openapi_v2.Document; an empty message is a valid, empty document, for
        // which kubectl's client-side validation finds no model and skips validating. (The
        // content type must be the dotted form: '@' makes Go's mime parser fail.)
        records.get(res)!.status = 200;
        res.writeHead(200, { 'content-type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf', 'content-length': 0 });
        res.end();
        return;
      case '/version':
        return send(res, 200, versionInfo);
      case '/healthz':
      case '/livez':
      case '/readyz':
        records.get(res)!.status = 200;
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('ok');
        return;
      case '/api':
        return send(res, 200, {
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
        });
      case '/api/v1':
        return send(res, 200, resourceList('v1'));
      case '/apis':
        return send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [authGroup, authzGroup] });
      case '/apis/authentication.k8s.io':
        return send(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...authGroup });
      case '/apis/authentication.k8s.io/v1':
        return send(res, 200, resourceList('authentication.k8s.io/v1'));
      case '/apis/authentication.k8s.io/v1beta1':
        return send(res, 200, resourceList('authentication.k8s.io/v1beta1'));
      case '/apis/authorization.k8s.io':
        return send(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...authzGroup });
      case '/apis/authorization.k8s.io/v1':
        return send(res, 200, resourceList('authorization.k8s.io/v1'));
      default:
        // allowed discovery path that doesn't exist (e.g. /apis/apps/v1 or a resource-less GET)
        await readBody(req).catch(() => undefined);
        send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    }
  }

  const port = await listen(server, opts.port ?? 0);
  serverAddress = `127.0.0.1:${port}`;
  authn.warmUp();

  return {
    url: `https://127.0.0.1:${port}`,
    caPem: opts.caPem ?? opts.tls.caPem,
    requests,
    authenticate: (token: string) => authn.authenticate(token),
    oidcStats: authn.stats,
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
