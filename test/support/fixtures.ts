/**
 * Shared unit-test fixtures: an injected clock, a valid config, a runtime on
 * an in-memory SQLite store, and request builders shaped like kubectl's.
 * Never imported by application code.
 */
import { randomUUID } from 'node:crypto';
import { parseConfig, type ResolvedCluster, type ResolvedConfig } from '../../lib/config/load';
import { KeyEncryptionKey } from '../../lib/crypto/kek';
import { mintCredential, type MintedCredential } from '../../lib/oidc/mint';
import type { IssuerRequest, IssuerResponse } from '../../lib/oidc/http';
import { generateSigningKey, type SigningAlg } from '../../lib/oidc/keys';
import { handleTokenRequest } from '../../lib/oidc/token-endpoint';
import { createRuntime, type Runtime } from '../../lib/runtime';
import { openSqliteStore } from '../../lib/store/sqlite';
import type { LoginSession, SigningKeyRow, Store, User, UserProfile } from '../../lib/store/types';
import type { RecheckDeps } from '../../lib/upstream/recheck';
import { silentLogger } from '../../lib/util/log';

/** 2031-01-01T00:00:00Z: far from any real "now", so a stray Date.now() shows up. */
export const T0 = Date.UTC(2031, 0, 1);

/** The injected clock: time moves only when a test moves it. */
export class TestClock {
  constructor(public t: number = T0) {}
  readonly now = (): number => this.t;
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
  set(ms: number): number {
    this.t = ms;
    return this.t;
  }
}

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

/** Only the PEM framing is checked by the config loader; the body is not a real certificate. */
export const TEST_CA_PEM = [
  '-----BEGIN CERTIFICATE-----',
  'MIIBdzCCAR2gAwIBAgIUKubegateTestCertificateOnlyForUnitTestsMAoGCCqGSM49BAMC',
  'MBExDzANBgNVBAMMBnRlc3RjYTAeFw0yNTAxMDEwMDAwMDBaFw0zNTAxMDEwMDAwMDBa',
  '-----END CERTIFICATE-----',
].join('\n');

/** bcrypt (cost 4, fast) of LOCAL_PASSWORD. */
export const LOCAL_PASSWORD = 'correct horse battery staple';
export const LOCAL_PASSWORD_HASH = '$2b$04$1Wl10NHjfLO8kEjRmGddveMjt0Weg3nqJHGBrSNBOUQgsdh9zCF7K';

/**
 * A config exercising every section. `ca.pem` (for clusters[1]) is resolved
 * against the parse's baseDir, so callers pass a readFile or a directory
 * that holds it.
 */
export const FULL_CONFIG_YAML = `
issuer:
  url: https://kubegate.example.com
  id_token_lifetime: 2m
  refresh_idle_timeout: 30m
  session_lifetime: 8h
  refresh_reuse_grace: 5s
signing:
  algorithm: ES256
  rotation_period: 7d
storage:
  sqlite:
    path: state/kubegate.db
    synchronous: normal
server:
  trust_proxy: true
clusters:
  - name: prod
    display_name: Production
    description: The one that pays the bills.
    server: https://prod.k8s.example.com:6443
    certificate_authority:
      data: |
${TEST_CA_PEM.split('\n').map((l) => '        ' + l).join('\n')}
    client_id: kubernetes
    default_namespace: apps
    allowed_groups: [ops, sre]
  - name: staging
    server: https://staging.k8s.example.com
    certificate_authority:
      file: ca.pem
    client_id: staging
    client_secret: \${STAGING_SECRET}
upstreams:
  - id: corp
    type: oidc
    display_name: Corporate SSO
    issuer: https://sso.example.com
    client_id: kubegate
    client_secret: sso-secret
    scopes: [openid, profile, email, groups]
    username_claim: email
    groups_claim: roles
    username_prefix: "corp:"
    groups_prefix: "corp:"
  - id: local
    type: local
users:
  - username: alice
    email: alice@example.com
    name: Alice Admin
    password_hash: "${LOCAL_PASSWORD_HASH}"
    groups: [ops]
branding:
  title: Example Corp Kubernetes
  tagline: Sign in to get a kubeconfig.
`;

/** A small valid config: issuer, storage and the given extra YAML. */
export function minimalYaml(extra = ''): string {
  return `issuer:\n  url: https://kubegate.example.com\nstorage:\n  sqlite:\n    path: kubegate.db\n${extra}`;
}

/**
 * The config the token-endpoint tests run against:
 * - prod: public client `kubernetes` (what kubectl sends with no client-secret), only for group ops;
 * - staging: confidential client with a secret holding characters form-encoding changes;
 * - lab: a client_id with a colon, which must be urlencoded inside Basic;
 * - upstreams `local` (alice, whose entitlements a refresh reads from here)
 *   and `corp` (OIDC: its users keep the groups recorded at sign-in).
 */
export const ENDPOINT_CONFIG_YAML = `
issuer:
  url: https://kubegate.example.com
storage:
  sqlite:
    path: unused.db
clusters:
  - name: prod
    server: https://prod.example.com
    client_id: kubernetes
    allowed_groups: [ops]
  - name: staging
    server: https://staging.example.com
    client_id: staging
    client_secret: "s3cret +/%="
  - name: lab
    server: https://lab.example.com
    client_id: "a:b"
    client_secret: "lab secret"
upstreams:
  - id: local
    type: local
  - id: corp
    type: oidc
    issuer: https://sso.example.com
    client_id: kubegate
users:
  - username: alice
    email: alice@example.com
    name: Alice Admin
    password_hash: "${LOCAL_PASSWORD_HASH}"
    groups: [ops, dev]
`;

export const STAGING_SECRET = 's3cret +/%=';

export function parseTestConfig(yaml: string = ENDPOINT_CONFIG_YAML, env: Record<string, string> = {}): ResolvedConfig {
  return parseConfig(yaml, { source: 'test.yaml', env, baseDir: '/nonexistent-kubegate-test' });
}

/** The key-encryption key every unit test's runtime uses (base64 of 32 bytes). */
export const TEST_KEK_BASE64 = Buffer.alloc(32, 7).toString('base64');
let kekCache: Promise<KeyEncryptionKey> | undefined;
export function testKek(): Promise<KeyEncryptionKey> {
  return (kekCache ??= KeyEncryptionKey.parse(TEST_KEK_BASE64, 'test').then((k) => {
    if (typeof k === 'string') throw new Error(k);
    return k;
  }));
}

const keyCache = new Map<SigningAlg, Promise<SigningKeyRow>>();
/** One signing key per algorithm per test file: RSA key generation is slow. Encrypted with testKek(). */
export function cachedSigningKey(alg: SigningAlg): Promise<SigningKeyRow> {
  let p = keyCache.get(alg);
  if (!p) {
    p = testKek().then((kek) => generateSigningKey(alg, 0, kek));
    keyCache.set(alg, p);
  }
  return p;
}

/** Puts a ready signing key into the store, so KeyManager.open has nothing to generate. */
export async function seedSigningKey(store: Store, alg: SigningAlg, now: number): Promise<string> {
  const row = await cachedSigningKey(alg);
  await store.activateSigningKey({ ...row, created_at: now, activates_at: now }, now, now);
  return row.kid;
}

/** A local user (in ENDPOINT_CONFIG_YAML's users): a local user's subject is their username. */
export const ALICE: UserProfile = {
  upstream: 'local',
  subject: 'alice',
  username: 'alice',
  email: 'alice@example.com',
  name: 'Alice Admin',
  groups: ['ops', 'dev'],
};

export interface TestEnv {
  rt: Runtime;
  clock: TestClock;
  store: Store;
  config: ResolvedConfig;
  cluster(name: string): ResolvedCluster;
  /** Upserts the user and opens a login session at the clock's time. */
  signIn(profile?: UserProfile, opts?: { lifetimeMs?: number; amr?: string[] }): Promise<{ user: User; session: LoginSession }>;
  /** Mints a credential for `cluster` (default prod) on a fresh or given sign-in. */
  mint(cluster?: string, signin?: { user: User; session: LoginSession }): Promise<MintedCredential & { user: User; session: LoginSession }>;
  /** POSTs a refresh grant the way kubectl does for this cluster's client. */
  refresh(refreshToken: string, cluster?: string, opts?: { style?: 'basic' | 'form' }): Promise<IssuerResponse>;
  token(req: IssuerRequest): Promise<IssuerResponse>;
  close(): Promise<void>;
}

/** A runtime (createRuntime) over `store` (default: a fresh in-memory SQLite) and a TestClock. */
export async function openTestEnv(
  opts: { yaml?: string; store?: Store; clock?: TestClock; alg?: SigningAlg; connectorFor?: RecheckDeps['connectorFor'] } = {},
): Promise<TestEnv> {
  const clock = opts.clock ?? new TestClock();
  const config = parseTestConfig(opts.yaml ?? ENDPOINT_CONFIG_YAML);
  const store = opts.store ?? (await openSqliteStore(':memory:'));
  if ((await store.listSigningKeys()).length === 0) await seedSigningKey(store, opts.alg ?? config.signing.algorithm, clock.now());
  const rt = await createRuntime(config, { kek: await testKek(), store, now: clock.now, log: silentLogger, keySyncIntervalMs: 24 * HOUR, connectorFor: opts.connectorFor });
  const cluster = (name: string) => {
    const c = rt.clusters.get(name);
    if (!c) throw new Error(`no cluster ${name} in the test config`);
    return c;
  };
  const signIn: TestEnv['signIn'] = async (profile = ALICE, o = {}) => {
    const user = await store.upsertUser(profile, clock.now());
    const session = await store.createLoginSession(
      {
        id: randomUUID(),
        user_id: user.id,
        upstream: profile.upstream,
        amr: o.amr ?? ['pwd'],
        auth_time: clock.now(),
        expires_at: clock.now() + (o.lifetimeMs ?? config.issuer.session_lifetime * 1000),
        client_ip: '192.0.2.10',
        user_agent: 'test',
      },
      clock.now(),
    );
    return { user, session };
  };
  const env: TestEnv = {
    rt,
    clock,
    store,
    config,
    cluster,
    signIn,
    async mint(name = 'prod', given) {
      const s = given ?? (await signIn());
      const minted = await mintCredential(
        { issuer: config.issuer.url, store, keys: rt.keys, idTokenLifetimeSeconds: config.issuer.id_token_lifetime, now: clock.now },
        { ...s, cluster: cluster(name), origin: 'page' },
      );
      return { ...minted, ...s };
    },
    refresh(refreshToken, name = 'prod', o = {}) {
      const c = cluster(name);
      return env.token(refreshRequest(refreshToken, { clientId: c.client_id, secret: c.client_secret, style: o.style }));
    },
    token: (req) => handleTokenRequest(req, rt.issuerDeps),
    close: () => rt.close(),
  };
  return env;
}

/** application/x-www-form-urlencoded, as Go's url.QueryEscape does it (space → '+'). */
export function formEncode(s: string): string {
  return new URLSearchParams({ x: s }).toString().slice(2);
}

/** `Authorization: Basic` per RFC 6749 §2.3.1, as golang.org/x/oauth2 (kubectl) sends it. */
export function basicAuth(clientId: string, secret = ''): string {
  return 'Basic ' + Buffer.from(`${formEncode(clientId)}:${formEncode(secret)}`).toString('base64');
}

/**
 * A refresh grant as kubectl sends it: first Basic (`kubernetes:` for a
 * public client), or on its retry the id and secret in the form.
 */
export function refreshRequest(
  refreshToken: string,
  o: { clientId: string; secret?: string; style?: 'basic' | 'form' },
): IssuerRequest {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if ((o.style ?? 'basic') === 'basic') headers.authorization = basicAuth(o.clientId, o.secret);
  else {
    form.set('client_id', o.clientId);
    if (o.secret) form.set('client_secret', o.secret);
  }
  return { method: 'POST', headers, body: form.toString(), clientIp: '192.0.2.20', requestId: 'req-test' };
}

export interface TokenSuccess {
  access_token: string;
  id_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

export function bodyOf<T = Record<string, unknown>>(res: IssuerResponse): T {
  return JSON.parse(res.body) as T;
}

/**
 * Everything the Store interface can list: compared before and after a
 * request that must write nothing.
 */
export async function storeSnapshot(store: Store): Promise<string> {
  const [audit, families, sessions, keys] = await Promise.all([
    store.listAudit({ limit: 100_000 }),
    store.listFamilies({}),
    store.listLoginSessions({}),
    store.listSigningKeys(),
  ]);
  return JSON.stringify({ audit, families, sessions, keys: keys.map((k) => [k.kid, k.retired_at, k.expires_at]) });
}
