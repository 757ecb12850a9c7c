import { randomBytes } from 'node:crypto';
import type { ResolvedCluster, ResolvedConfig } from './config/load';
import { openServerSecret, type KeyEncryptionKey } from './crypto/kek';
import { clientsFromConfig } from './oidc/client-auth';
import { createTokenEndpointGuards } from './oidc/guards';
import { KEY_SYNC_INTERVAL_SECONDS } from './oidc/key-timing';
import { assertKeysSealedWith, KeyManager, type KeyPolicy, type SigningAlg } from './oidc/keys';
import type { IssuerRoutesDeps } from './oidc/issuer-routes';
import type { MintDeps } from './oidc/mint';
import { UserCodeThrottle, type DeviceDeps } from './oidc/device';
import { mfaPolicyOf } from './mfa/config';
import { startMaintenance } from './store/maintenance';
import { printAuditEvent } from './store/audit-stdout';
import type { AuditListener } from './store/kysely-store';
import { openPostgresStore } from './store/postgres';
import { openSqliteStore } from './store/sqlite';
import type { Store } from './store/types';
import { createLogger, type Logger } from './util/log';
import { upstreamsOf } from './upstream/registry';
import { Rechecker, type RecheckDeps } from './upstream/recheck';

/** Everything both layers (issuer endpoints and portal) share, created once per process. */
export interface Runtime {
  config: ResolvedConfig;
  store: Store;
  keys: KeyManager;
  log: Logger;
  now: () => number;
  /** Secret from which next-auth derives its cookie keys; shared by every replica through the store. */
  authSecret: string;
  /** Seals secrets kept in the store (TOTP secrets, upstream refresh tokens): lib/crypto/kek.ts. */
  kek: KeyEncryptionKey;
  issuerDeps: IssuerRoutesDeps;
  /** What minting a credential needs (cluster pages, downloads). */
  mintDeps: MintDeps;
  /** The portal's half of the authorization endpoint and the /device page (lib/oidc/authorize.ts, device.ts). */
  authzDeps: DeviceDeps;
  clusters: ReadonlyMap<string, ResolvedCluster>;
  /** Re-checks upstream people at refreshes and page views (lib/upstream/recheck.ts); one per process, so checks coalesce. */
  rechecker: Rechecker;
  close(): Promise<void>;
}

/** `onAudit`: told of every committed audit event (the server prints them: lib/store/audit-stdout.ts). */
export async function openStore(config: ResolvedConfig, opts: { now?: () => number; log?: Logger; onAudit?: AuditListener } = {}): Promise<Store> {
  const sqlite = config.storage.sqlite;
  if (sqlite) {
    const log = opts.log;
    return openSqliteStore(sqlite.path, {
      synchronous: sqlite.synchronous,
      busyTimeoutMs: sqlite.busy_timeout * 1000,
      watermarkFile: sqlite.watermark_file,
      now: opts.now,
      warn: (message, fields) => log?.warn(message, fields),
      onAudit: opts.onAudit,
    });
  }
  const postgres = config.storage.postgres;
  if (postgres) {
    const log = opts.log;
    return openPostgresStore(postgres.url, {
      poolSize: postgres.pool_size,
      connectTimeoutMs: postgres.connect_timeout * 1000,
      statementTimeoutMs: postgres.statement_timeout * 1000,
      ...(postgres.ssl ? { ssl: { caFile: postgres.ssl.ca_file, rejectUnauthorized: postgres.ssl.reject_unauthorized } } : {}),
      warn: (message, fields) => log?.warn(message, fields),
      onAudit: opts.onAudit,
    });
  }
  throw new Error('give storage.sqlite or storage.postgres');
}

const secret = () => randomBytes(32).toString('base64url');

/** The signing-key schedule the config asks for. */
export function keyPolicy(config: ResolvedConfig): KeyPolicy {
  return {
    alg: config.signing.algorithm,
    rotationPeriodMs: config.signing.rotation_period * 1000,
    publishAheadMs: config.signing.publish_ahead * 1000,
    // Longest id_token + JWKS caches + generous skew.
    retainMs: (config.issuer.id_token_lifetime + 600) * 1000,
  };
}

/**
 * Opens the runtime. `kek` decrypts the signing keys and server secrets the
 * store holds (lib/crypto/kek.ts); rows an earlier version wrote in clear
 * are encrypted in place here, and logged.
 */
export async function createRuntime(
  config: ResolvedConfig,
  opts: {
    kek: KeyEncryptionKey;
    now?: () => number;
    log?: Logger;
    store?: Store;
    keySyncIntervalMs?: number;
    pruneIntervalMs?: number;
    /**
     * Print committed audit events to stdout when `audit.stdout` asks (default true). The admin
     * command passes false: its stdout is the operator's answer, and its events are in the database.
     */
    printAudit?: boolean;
    /** Tests only: the connectors re-checks go to (default: the registry's). */
    connectorFor?: RecheckDeps['connectorFor'];
  },
): Promise<Runtime> {
  const now = opts.now ?? Date.now;
  const log = opts.log ?? createLogger();
  // The server's store prints its audit trail to stdout too (audit.stdout); a store handed in (tests) is left as it is.
  const store = opts.store ?? (await openStore(config, { now, log, onAudit: config.audit.stdout && opts.printAudit !== false ? printAuditEvent : undefined }));
  const { kek } = opts;
  const alg: SigningAlg = config.signing.algorithm;
  let keys: KeyManager;
  let refreshKey: Buffer;
  let authSecret: string;
  try {
    // A wrong KEK is refused before anything is written: the keys' headers first (read only), then the
    // secrets, which are only created (with this KEK) when absent.
    await assertKeysSealedWith(store, kek);
    const successor = await openServerSecret(store, kek, 'refresh_successor_key', secret, now());
    const auth = await openServerSecret(store, kek, 'auth_secret', secret, now());
    keys = await KeyManager.open(store, keyPolicy(config), kek, now(), log);
    for (const [name, s] of [['refresh_successor_key', successor], ['auth_secret', auth]] as const) {
      if (s.encryptedInPlace) log.warn('server secret was stored in clear; encrypted it in place', { name });
    }
    refreshKey = Buffer.from(successor.value, 'base64url');
    authSecret = auth.value;
  } catch (err) {
    if (!opts.store) await store.close();
    throw err;
  }
  log.info('secrets at rest encrypted with the key-encryption key', { kek: kek.kid, from: kek.source });
  const clients = clientsFromConfig(config);
  const rechecker = new Rechecker({
    store,
    kek,
    now,
    log,
    connectorFor: opts.connectorFor ?? ((u) => upstreamsOf(config).get(u.id)?.connector),
  });
  const guards = createTokenEndpointGuards(config.server.token_rate_limit, { store, now, log });
  // One sync at a time: a sync that waits on a busy database may outlast the
  // interval, and two overlapping ones could each schedule a next key.
  let syncing = false;
  const timer = setInterval(() => {
    if (syncing) return;
    syncing = true;
    keys
      .sync(now())
      .catch((err: unknown) => log.error('signing key sync failed', { error: String(err) }))
      .finally(() => (syncing = false));
  }, opts.keySyncIntervalMs ?? KEY_SYNC_INTERVAL_SECONDS * 1000);
  timer.unref();
  // Spent tokens of ended credentials, and audit rows and sign-ins past the retention.
  const maintenance = startMaintenance(store, {
    now,
    log,
    retentionMs: config.audit.retention * 1000,
    intervalMs: opts.pruneIntervalMs ?? 10 * 60_000,
    firstDelayMs: Math.min(opts.pruneIntervalMs ?? 60_000, 60_000),
  });
  const clusters = new Map(config.clusters.map((c) => [c.name, c]));
  return {
    config,
    store,
    keys,
    log,
    now,
    authSecret,
    kek,
    clusters,
    rechecker,
    authzDeps: { issuer: config.issuer.url, store, clients, clusters, userCodes: new UserCodeThrottle(), mfaPolicy: mfaPolicyOf(config), now, log },
    mintDeps: { issuer: config.issuer.url, store, keys, idTokenLifetimeSeconds: config.issuer.id_token_lifetime, now, mfaPolicy: mfaPolicyOf(config) },
    issuerDeps: {
      issuer: config.issuer.url,
      alg,
      store,
      keys,
      jwksMaxAgeSeconds: config.signing.jwks_max_age,
      clients,
      policy: { idleTimeoutMs: config.issuer.refresh_idle_timeout * 1000, reuseGraceMs: config.issuer.refresh_reuse_grace * 1000 },
      idTokenLifetimeSeconds: config.issuer.id_token_lifetime,
      refreshKey,
      config,
      rechecker,
      mfaPolicy: mfaPolicyOf(config),
      throttle: guards.throttle,
      denials: guards.denials,
      now,
      log,
    },
    async close() {
      clearInterval(timer);
      await maintenance.stop();
      await guards.stop();
      await store.close();
    },
  };
}
