import { z } from 'zod';
import {
  DEFAULT_JWKS_MAX_AGE_SECONDS,
  defaultPublishAheadSeconds,
  JWKS_MAX_AGE_BOUNDS,
  KEY_SYNC_INTERVAL_SECONDS,
  MAX_PUBLISH_AHEAD_SECONDS,
  minPublishAheadSeconds,
  PUBLISH_AHEAD_MARGIN_SECONDS,
} from '../oidc/key-timing';
import { trustEntryProblem } from '../http/client-address';
import { UpstreamSchema } from '../upstream/registry';
import { carriable, certificateAuthority, dnsLabel, duration, httpsUrl, issuerUrl } from './fields';

/**
 * The one configuration file, validated at the boundary. Every object is
 * strict: an unknown key is an error (a typo must not silently turn a
 * security setting off).
 */

export const ClusterSchema = z.strictObject({
  name: dnsLabel,
  display_name: z.string().min(1).max(100).optional(),
  description: z.string().max(500).optional(),
  server: httpsUrl,
  certificate_authority: certificateAuthority.optional(),
  client_id: z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  client_secret: z.string().min(1).superRefine(carriable).optional(),
  default_namespace: dnsLabel.default('default'),
  /** Groups that may see and use this cluster; omitted or empty means every signed-in user. */
  allowed_groups: z.array(z.string().min(1)).default([]),
  /** Opening this cluster, or minting for it, needs a second factor on the session (step-up). */
  require_mfa: z.boolean().default(false),
  /**
   * Group names in this cluster's tokens (lib/oidc/cluster-groups.ts): each
   * group as Kubegate knows it (after the upstream's groups_prefix) is renamed
   * by `group_mappings` (unlisted groups pass unchanged), then `extra_groups`
   * are added. allowed_groups is checked before either: on the person's groups.
   */
  group_mappings: z.record(z.string().min(1).max(256), z.string().min(1).max(256).superRefine(carriable)).default({}),
  extra_groups: z.array(z.string().min(1).max(256).superRefine(carriable)).default([]),
});

/**
 * An extra OAuth client of the authorization endpoint (a GUI tool, a web
 * dashboard): its tokens are for one cluster (the id_token audience is that
 * cluster's client_id), its redirect URIs match exactly. Each cluster's own
 * client_id is a client already (native: loopback redirects, PKCE).
 */
export const ClientSchema = z.strictObject({
  client_id: z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  /** Omitted: a public client, which must use PKCE. */
  client_secret: z.string().min(1).superRefine(carriable).optional(),
  /** The cluster (by name) its tokens are for. */
  cluster: dnsLabel,
  redirect_uris: z
    .array(
      z.string().superRefine((u, ctx) => {
        if (!URL.canParse(u)) ctx.addIssue({ code: 'custom', message: 'must be an absolute URL' });
        else if (u.includes('#')) ctx.addIssue({ code: 'custom', message: 'must not carry a fragment (RFC 6749 §3.1.2)' });
      }),
    )
    .default([]),
  /** A native application (RFC 8252): also accepts http://localhost, 127.0.0.1 and [::1] on any port. */
  native: z.boolean().default(false),
});

const BCRYPT_RE = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

export const LocalUserSchema = z.strictObject({
  username: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9._@-]+$/, 'must be letters, digits and . _ @ -'),
  email: z.string().email().optional(),
  name: z.string().min(1).max(200).optional(),
  /** A bcrypt hash, as Dex's static passwords use (`htpasswd -nbBC 12 "" pw | tr -d ':\n'`). */
  password_hash: z.string().regex(BCRYPT_RE, 'must be a bcrypt hash ($2a$/$2b$/$2y$...)'),
  groups: z.array(z.string().min(1)).default([]),
});

/**
 * Which peers are reverse proxies (lib/http/client-address.ts): `false`; a
 * number of hops (`true` is 1: the socket peer is the one proxy); or a list
 * of proxy addresses and CIDRs.
 */
const trustProxy = z.union(
  [
    z.boolean(),
    z.number().int('must be a whole number of proxy hops').min(0, 'must be 0 to 10 proxy hops').max(10, 'must be 0 to 10 proxy hops'),
    z.array(
      z.string().superRefine((entry, ctx) => {
        const problem = trustEntryProblem(entry);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    ),
  ],
  { error: 'must be true, false, a number of proxy hops (0-10), or a list of proxy addresses/CIDRs' },
);

const bucket = (burst: number, perMinute: number) =>
  z
    .strictObject({
      burst: z.number().int().min(1).max(1_000_000).default(burst),
      per_minute: z.number().int().min(1).max(1_000_000).default(perMinute),
    })
    .default({ burst, per_minute: perMinute });

const TIMEOUT_DEFAULTS = { headers: 10, body: 10, request: 30 };
const RATE_LIMIT_DEFAULTS = {
  per_credential: { burst: 30, per_minute: 30 },
  per_address_failures: { burst: 120, per_minute: 120 },
};
const SERVER_DEFAULTS = {
  trust_proxy: false,
  timeouts: TIMEOUT_DEFAULTS,
  max_connections: 1000,
  token_rate_limit: RATE_LIMIT_DEFAULTS,
  shutdown_grace: 10,
};

/**
 * Native TLS (lib/http/tls.ts), for installs without an ingress: the portal
 * and issuer listener serves https with this certificate and key, reloaded
 * when the files change. Paths are relative to the config file.
 */
const TlsSchema = z.strictObject({
  /** PEM certificate chain: the server's certificate first, then intermediates. */
  cert_file: z.string().min(1, 'must be the path of a PEM certificate file'),
  /** PEM private key of that certificate. */
  key_file: z.string().min(1, 'must be the path of a PEM private key file'),
  min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  /** How often the files are read to see whether they changed. */
  reload_interval: duration('reload_interval', 1, 3600).default(5),
});

const ServerSchema = z.strictObject({
  trust_proxy: trustProxy.default(false),
  /** Slow clients: how long a request may take to arrive (Node's defaults are 60 s and 300 s). */
  timeouts: z
    .strictObject({
      /** The request line and headers. */
      headers: duration('headers', 1, 120).default(TIMEOUT_DEFAULTS.headers),
      /** An issuer endpoint's body (a refresh grant is ~200 bytes). */
      body: duration('body', 1, 120).default(TIMEOUT_DEFAULTS.body),
      /** The whole request, any path. */
      request: duration('request', 1, 600).default(TIMEOUT_DEFAULTS.request),
    })
    .default(TIMEOUT_DEFAULTS)
    .superRefine((t, ctx) => {
      if (t.request < t.headers) ctx.addIssue({ code: 'custom', path: ['request'], message: 'must not be shorter than timeouts.headers' });
    }),
  /** Open connections at most; more are refused until some close. */
  max_connections: z.number().int().min(1).max(1_000_000).default(SERVER_DEFAULTS.max_connections),
  /** The token endpoint's limits: per credential (refresh-token family) and failed requests per client address. */
  token_rate_limit: z
    .strictObject({
      per_credential: bucket(RATE_LIMIT_DEFAULTS.per_credential.burst, RATE_LIMIT_DEFAULTS.per_credential.per_minute),
      per_address_failures: bucket(RATE_LIMIT_DEFAULTS.per_address_failures.burst, RATE_LIMIT_DEFAULTS.per_address_failures.per_minute),
    })
    .default(RATE_LIMIT_DEFAULTS),
  /**
   * On SIGTERM/SIGINT, how long open requests get to finish (lib/http/shutdown.ts): below
   * Kubernetes' default terminationGracePeriodSeconds (30 s), with room for the runtime to close.
   */
  shutdown_grace: duration('shutdown_grace', 0, 300).default(SERVER_DEFAULTS.shutdown_grace),
  tls: TlsSchema.optional(),
});

export const ConfigSchema = z
  .strictObject({
    issuer: z.strictObject({
      url: issuerUrl,
      /**
       * The CA that signed the issuer's TLS certificate, when it is private:
       * written into kubeconfigs as idp-certificate-authority-data.
       */
      certificate_authority: certificateAuthority.optional(),
      id_token_lifetime: duration('id_token_lifetime', 1, 3600).default(60),
      refresh_idle_timeout: duration('refresh_idle_timeout', 10, 30 * 86400).default(15 * 60),
      session_lifetime: duration('session_lifetime', 60, 90 * 86400).default(12 * 3600),
      /** A browser session unused this long is signed out (kubectl credentials keep refresh_idle_timeout). */
      web_session_idle_timeout: duration('web_session_idle_timeout', 60, 90 * 86400).default(3600),
      refresh_reuse_grace: duration('refresh_reuse_grace', 0, 300).default(10),
    }),
    signing: z
      .strictObject({
        algorithm: z.enum(['RS256', 'ES256']).default('RS256'),
        /** How often a new signing key replaces the current one. */
        rotation_period: duration('rotation_period', 3600, 365 * 86400).default(30 * 86400),
        /** The JWKS `Cache-Control: max-age`; publish_ahead must outlast it (lib/oidc/key-timing.ts). */
        jwks_max_age: duration('jwks_max_age', JWKS_MAX_AGE_BOUNDS.min, JWKS_MAX_AGE_BOUNDS.max).default(DEFAULT_JWKS_MAX_AGE_SECONDS),
        /** How long a new key is in the JWKS before it signs; omitted: 15 min, or the minimum if jwks_max_age needs more. */
        publish_ahead: duration('publish_ahead', 0, MAX_PUBLISH_AHEAD_SECONDS).optional(),
      })
      .default({ algorithm: 'RS256', rotation_period: 30 * 86400, jwks_max_age: DEFAULT_JWKS_MAX_AGE_SECONDS })
      .transform((s, ctx) => {
        const publish_ahead = s.publish_ahead ?? defaultPublishAheadSeconds(s.jwks_max_age);
        const min = minPublishAheadSeconds(s.jwks_max_age);
        if (publish_ahead < min) {
          ctx.addIssue({
            code: 'custom',
            path: ['publish_ahead'],
            message:
              `must be at least ${min}s (got ${publish_ahead}s): signing.jwks_max_age (${s.jwks_max_age}s) + the ${KEY_SYNC_INTERVAL_SECONDS}s key sync + a ` +
              `${PUBLISH_AHEAD_MARGIN_SECONDS}s margin, or a verifier caching the JWKS could get a token signed by a key it has not seen`,
          });
        } else if (publish_ahead >= s.rotation_period) {
          ctx.addIssue({ code: 'custom', path: ['publish_ahead'], message: 'must be shorter than rotation_period' });
        }
        return { ...s, publish_ahead };
      }),
    /** Where the key-encryption key comes from (or $KUBEGATE_KEY_ENCRYPTION_KEY): lib/crypto/kek.ts. */
    secrets: z
      .strictObject({
        /** A file holding base64 of 32 random bytes; relative to the config file's directory. */
        key_encryption_key_file: z.string().min(1, 'must be the path of a file').optional(),
      })
      .default({}),
    storage: z
      .strictObject({
        sqlite: z
          .strictObject({
            path: z.string().min(1),
            synchronous: z.enum(['full', 'normal']).default('full'),
            /** Longest a write waits for another process's lock on the database; past it the request is refused (503). */
            busy_timeout: duration('busy_timeout', 0, 30).default(3),
            /** Restore detection's watermark, kept outside the database (default: `<path>.watermark`). */
            watermark_file: z.string().min(1).optional(),
          })
          .optional(),
        /** Shared by every replica (lib/store/postgres.ts); `url` takes `${VAR}` for the password. */
        postgres: z
          .strictObject({
            url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
            /** Connections this process keeps open at most (each replica has its own pool). */
            pool_size: z.number().int().min(1).max(200).default(10),
            /** Longest wait for a connection (opening one, or a free one from the pool); past it the request is refused (503). */
            connect_timeout: duration('connect_timeout', 1, 60).default(5),
            /** Longest any request's statement runs; migrations and the restore reset get 60 s or this, whichever is longer. */
            statement_timeout: duration('statement_timeout', 1, 300).default(5),
            /** TLS to the server. Omitted: as the URL's `sslmode` says (none by default). */
            ssl: z
              .strictObject({
                /** PEM file of the CA that signed the server's certificate (relative to the config file); omitted: the system's CAs. */
                ca_file: z.string().min(1, 'must be the path of a file').optional(),
                /** false accepts any server certificate: encrypted but not authenticated. Only for tests. */
                reject_unauthorized: z.boolean().default(true),
              })
              .optional(),
          })
          .optional(),
      })
      .refine((s) => (s.sqlite === undefined) !== (s.postgres === undefined), {
        message: 'give exactly one of "sqlite" or "postgres"',
        when: () => true,
      })
      // Omitted: an SQLite file beside the config file.
      .default({ sqlite: { path: 'kubegate.db', synchronous: 'full', busy_timeout: 3 } }),
    audit: z
      .strictObject({
        /** Audit events, and sign-ins and credentials that ended, are deleted this long after. */
        retention: duration('retention', 86400, 10 * 365 * 86400).default(90 * 86400),
        /** Every audit event is also printed to stdout as one JSON line (`"audit": true`), for log shippers. */
        stdout: z.boolean().default(true),
      })
      .default({ retention: 90 * 86400, stdout: true }),
    server: ServerSchema.default(SERVER_DEFAULTS),
    /** Process logs (lib/util/log.ts): JSON lines on stdout; the level is LOG_LEVEL's. */
    log: z
      .strictObject({
        /** One access-log line per issuer request (lib/http/access-log.ts). */
        access: z.boolean().default(true),
      })
      .default({ access: true }),
    /** Who must show a second factor (lib/mfa/policy.ts); clusters can ask too (`require_mfa`). */
    mfa: z
      .strictObject({
        /** Everyone, whatever their groups. */
        required: z.boolean().default(false),
        /** Members of these groups (final names, as in tokens). */
        required_groups: z.array(z.string().min(1)).default([]),
        /** The name authenticator apps show for Kubegate's TOTP entries (default: branding.title). */
        totp_issuer: z.string().min(1).max(60).optional(),
        /** Local accounts may sign in with a passkey alone (it proves two factors: lib/mfa/passkey-login.ts). */
        passwordless_local: z.boolean().default(false),
      })
      .default({ required: false, required_groups: [], passwordless_local: false }),
    /**
     * Prometheus metrics on their own listener (lib/metrics): never on the public one, so the
     * ingress cannot expose them. Omitted: no metrics listener.
     */
    metrics: z
      .strictObject({
        port: z.number({ error: 'must be a port number' }).int('must be a port number').min(1, 'must be a port number (1-65535)').max(65535, 'must be a port number (1-65535)'),
        host: z.string().min(1).default('0.0.0.0'),
      })
      .optional(),
    /**
     * The admin console in the portal (app/(portal)/admin): members of these groups (final names, as in
     * tokens) see every session, credential and the audit trail. None: no console.
     */
    admin: z
      .strictObject({
        groups: z.array(z.string().min(1)).default([]),
        /** Admin pages and actions need a sign-in at most this old; older: sign in again. */
        reauth_after: duration('reauth_after', 60, 86400).default(15 * 60),
      })
      .default({ groups: [], reauth_after: 15 * 60 }),
    clusters: z.array(ClusterSchema).default([]),
    clients: z.array(ClientSchema).default([]),
    upstreams: z.array(UpstreamSchema).default([]),
    users: z.array(LocalUserSchema).default([]),
    branding: z
      .strictObject({
        title: z.string().min(1).max(60).default('Kubegate'),
        tagline: z.string().max(200).optional(),
      })
      .default({ title: 'Kubegate' }),
  })
  // Cross-field checks run even when some field is wrong (`when`), so one run reports every problem. The
  // value they see is then only partly parsed: a field that failed still holds its raw input, so each
  // check looks only at values of the type it expects.
  .superRefine(crossFieldChecks, { when: () => true });

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const field = (v: unknown, key: string): unknown => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined);

function crossFieldChecks(config: unknown, ctx: z.core.$RefinementCtx<unknown>): void {
  const unique = (items: unknown[], key: string, path: string, what: string) => {
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      const k = field(item, key);
      if (typeof k !== 'string') return;
      const first = seen.get(k);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [path, i, key],
          message: `duplicate ${what} ${JSON.stringify(k)} (also ${path}[${first}])`,
        });
      } else seen.set(k, i);
    });
  };
  const clusters = list(field(config, 'clusters'));
  const upstreams = list(field(config, 'upstreams'));
  const users = list(field(config, 'users'));
  unique(clusters, 'name', 'clusters', 'cluster name');
  // Audience binding: a token for one cluster must be refused by another.
  unique(clusters, 'client_id', 'clusters', 'client_id');
  const clients = list(field(config, 'clients'));
  const clusterNames = new Set(clusters.map((c) => field(c, 'name')));
  const clusterClientIds = new Set(clusters.map((c) => field(c, 'client_id')));
  unique(clients, 'client_id', 'clients', 'client_id');
  clients.forEach((c, i) => {
    const id = field(c, 'client_id');
    const cluster = field(c, 'cluster');
    if (typeof id === 'string' && clusterClientIds.has(id)) {
      ctx.addIssue({ code: 'custom', path: ['clients', i, 'client_id'], message: `duplicate client_id ${JSON.stringify(id)} (a cluster's client_id is a client already)` });
    }
    if (typeof cluster === 'string' && Array.isArray(field(config, 'clusters')) && !clusterNames.has(cluster)) {
      ctx.addIssue({ code: 'custom', path: ['clients', i, 'cluster'], message: `no cluster is named ${JSON.stringify(cluster)}` });
    }
  });
  unique(upstreams, 'id', 'upstreams', 'upstream id');
  unique(users, 'username', 'users', 'username');
  if (users.length > 0 && Array.isArray(field(config, 'upstreams')) && !upstreams.some((u) => field(u, 'type') === 'local')) {
    ctx.addIssue({
      code: 'custom',
      path: ['users'],
      message: 'local users are configured but no upstream of type "local" lets them sign in',
    });
  }
  const tls = field(field(config, 'server'), 'tls');
  const issuerRaw = field(field(config, 'issuer'), 'url');
  if (tls !== undefined && typeof issuerRaw === 'string' && issuerRaw.startsWith('http:')) {
    ctx.addIssue({
      code: 'custom',
      path: ['server', 'tls'],
      message: 'is set but issuer.url is http://: with TLS the server answers https only, so issuer.url must be https://',
    });
  }
  const issuer = field(config, 'issuer');
  const [idToken, refreshIdle, sessionLifetime] = ['id_token_lifetime', 'refresh_idle_timeout', 'session_lifetime'].map((k) => field(issuer, k));
  if (typeof refreshIdle === 'number' && typeof idToken === 'number' && refreshIdle <= idToken) {
    ctx.addIssue({
      code: 'custom',
      path: ['issuer', 'refresh_idle_timeout'],
      message: 'must be longer than id_token_lifetime, or every idle kubectl would be signed out',
    });
  }
  if (typeof sessionLifetime === 'number' && typeof refreshIdle === 'number' && sessionLifetime < refreshIdle) {
    ctx.addIssue({
      code: 'custom',
      path: ['issuer', 'session_lifetime'],
      message: 'must not be shorter than refresh_idle_timeout',
    });
  }
}

export type Config = z.infer<typeof ConfigSchema>;
export type ClusterConfig = z.infer<typeof ClusterSchema>;
export type ClientConfig = z.infer<typeof ClientSchema>;
export type { UpstreamConfig } from '../upstream/registry';
export type LocalUserConfig = z.infer<typeof LocalUserSchema>;
