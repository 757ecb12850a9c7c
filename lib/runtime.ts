import { randomBytes } from 'node:crypto';
import type { ResolvedCluster, ResolvedConfig } from './config/load';
import type { OAuthClient } from './oidc/client-auth';
import { createTokenEndpointGuards } from './oidc/guards';
import { KeyManager, type SigningAlg } from './oidc/keys';
import type { IssuerRoutesDeps } from './oidc/issuer-routes';
import type { MintDeps } from './oidc/mint';
import { openSqliteStore } from './store/sqlite';
import type { Store } from './store/types';
import { createLogger, type Logger } from './util/log';

/** Everything both layers (issuer endpoints and portal) share, created once per process. */
export interface Runtime {
  config: ResolvedConfig;
  store: Store;
  keys: KeyManager;
  log: Logger;
  now: () => number;
  /** Secret from which next-auth derives its cookie keys; shared by every replica through the store. */
  authSecret: string;
  issuerDeps: IssuerRoutesDeps;
  /** What minting a credential needs (cluster pages, downloads). */
  mintDeps: MintDeps;
  clusters: ReadonlyMap<string, ResolvedCluster>;
  close(): Promise<void>;
}

export async function openStore(config: ResolvedConfig): Promise<Store> {
  if (config.storage.sqlite) return openSqliteStore(config.storage.sqlite.path, { synchronous: config.storage.sqlite.synchronous });
  throw new Error('storage.postgres is not available in this version; use storage.sqlite');
}

const secret = () => randomBytes(32).toString('base64url');

export async function createRuntime(
  config: ResolvedConfig,
  opts: { now?: () => number; log?: Logger; store?: Store; keySyncIntervalMs?: number } = {},
): Promise<Runtime> {
  const now = opts.now ?? Date.now;
  const log = opts.log ?? createLogger();
  const store = opts.store ?? (await openStore(config));
  const alg: SigningAlg = config.signing.algorithm;
  const keys = await KeyManager.open(
    store,
    {
      alg,
      rotationPeriodMs: config.signing.rotation_period * 1000,
      // Longest id_token + JWKS cache + generous skew.
      retainMs: (config.issuer.id_token_lifetime + 600) * 1000,
    },
    now(),
  );
  const refreshKey = Buffer.from(await store.getOrCreateSecret('refresh_successor_key', secret, now()), 'base64url');
  const authSecret = await store.getOrCreateSecret('auth_secret', secret, now());
  const clients = new Map<string, OAuthClient>(
    config.clusters.map((c) => [c.client_id, { clientId: c.client_id, clientSecret: c.client_secret, cluster: c.name, allowedGroups: c.allowed_groups }]),
  );
  const guards = createTokenEndpointGuards(config.server.token_rate_limit, { store, now, log });
  const timer = setInterval(() => {
    keys.sync(now()).catch((err: unknown) => log.error('signing key sync failed', { error: String(err) }));
  }, opts.keySyncIntervalMs ?? 30_000);
  timer.unref();
  return {
    config,
    store,
    keys,
    log,
    now,
    authSecret,
    clusters: new Map(config.clusters.map((c) => [c.name, c])),
    mintDeps: { issuer: config.issuer.url, store, keys, idTokenLifetimeSeconds: config.issuer.id_token_lifetime, now },
    issuerDeps: {
      issuer: config.issuer.url,
      alg,
      store,
      keys,
      clients,
      policy: { idleTimeoutMs: config.issuer.refresh_idle_timeout * 1000, reuseGraceMs: config.issuer.refresh_reuse_grace * 1000 },
      idTokenLifetimeSeconds: config.issuer.id_token_lifetime,
      refreshKey,
      config,
      throttle: guards.throttle,
      denials: guards.denials,
      now,
      log,
    },
    async close() {
      clearInterval(timer);
      await guards.stop();
      await store.close();
    },
  };
}
