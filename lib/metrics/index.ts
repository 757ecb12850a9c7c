import http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DenyReason } from '../oidc/refresh-policy';
import type { Store } from '../store/types';
import type { RefusalCode } from '../upstream/types';
import type { Logger } from '../util/log';

/**
 * Kubegate's Prometheus metrics: one registry per runtime (tests read a
 * fresh one), every metric defined here, and small recording methods the
 * hot paths call. Label values come only from closed sets or the config
 * (clusters, upstreams): a person, an address or a token never becomes a
 * label, so the series count is bounded whatever clients send.
 */

/** How one refresh ended: issued, answered again within the reuse grace, or why it was refused. */
export type RefreshResult =
  | 'issued'
  | 'replayed_in_grace'
  | DenyReason
  /** A spent token presented after the grace: the family was revoked. */
  | 'reuse_detected'
  /** The person is gone from their source: the family was revoked. */
  | 'offboarded'
  | 'rate_limited'
  /** Malformed, or never issued here (no cluster is known for it). */
  | 'invalid_token';

export type SignInResult = 'success' | RefusalCode;

/** Which limiter refused a request (lib/oidc/token-throttle.ts, lib/auth/rate-limit.ts). */
export type Limiter = 'token_per_address' | 'token_per_credential' | 'sign_in_account_address' | 'sign_in_address' | 'sign_in_account';

/** The store calls timed on the refresh path. */
export const TIMED_STORE_OPERATIONS = ['findRefreshContext', 'rotateRefreshToken', 'revokeFamily', 'appendAudit'] as const;
type TimedOperation = (typeof TIMED_STORE_OPERATIONS)[number];

const GRANT_TYPES = new Set(['refresh_token', 'authorization_code', 'urn:ietf:params:oauth:grant-type:device_code']);

/** Label for a refresh whose family names a cluster the config no longer has (removed since it was minted). */
const UNCONFIGURED = '_unconfigured';
/** Label for a refresh whose token named no family. */
const NO_CLUSTER = '_none';

// 1 ms to 0.5 s is where a token request lives (a refresh is a few ms); the
// upper buckets catch a stalled database (busy_timeout is seconds).
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 3];

export interface MetricsOptions {
  /** Configured cluster names: the only values the `cluster` label takes (plus two markers). */
  clusters: readonly string[];
  /** Also export process metrics (CPU, memory, event loop lag, GC): only where they are served. */
  processMetrics?: boolean;
  /** How long the active-families count is reused between scrapes. */
  activeFamiliesCacheMs?: number;
}

/**
 * Bound children per label combination: prom-client hashes the labels on
 * every call otherwise, which is most of a recording's cost on the hot path.
 * The key sets are bounded like the labels themselves.
 */
function childCache<C>(bind: (...values: string[]) => C): (...values: string[]) => C {
  const children = new Map<string, C>();
  return (...values) => {
    const key = values.join('\u0000');
    let child = children.get(key);
    if (!child) children.set(key, (child = bind(...values)));
    return child;
  };
}

export class Metrics {
  readonly registry = new Registry();
  private readonly clusters: ReadonlySet<string>;
  private readonly refreshes: Counter<'result' | 'cluster'>;
  private readonly tokenRequests: Counter<'grant_type' | 'status'>;
  private readonly tokenLatency: Histogram<'grant_type'>;
  private readonly signIns: Counter<'upstream' | 'result'>;
  private readonly rateLimited: Counter<'limiter'>;
  private readonly storeLatency: Histogram<'operation'>;
  private activeFamiliesSource: (() => Promise<number>) | undefined;
  private readonly refreshChild = childCache((result, cluster) => this.refreshes.labels({ result, cluster }));
  private readonly tokenRequestChild = childCache((grant_type, status) => this.tokenRequests.labels({ grant_type, status }));
  private readonly tokenLatencyChild = childCache((grant_type) => this.tokenLatency.labels({ grant_type }));
  private readonly storeLatencyChild = childCache((operation) => this.storeLatency.labels({ operation }));

  constructor(opts: MetricsOptions) {
    const registers = [this.registry];
    this.clusters = new Set(opts.clusters);
    this.refreshes = new Counter({
      name: 'kubegate_refreshes_total',
      help: 'Refresh-token grants by result (issued, replayed_in_grace, or the refusal reason) and cluster.',
      labelNames: ['result', 'cluster'],
      registers,
    });
    this.tokenRequests = new Counter({
      name: 'kubegate_token_requests_total',
      help: 'Requests to the token endpoint by grant_type and HTTP status.',
      labelNames: ['grant_type', 'status'],
      registers,
    });
    this.tokenLatency = new Histogram({
      name: 'kubegate_token_request_duration_seconds',
      help: 'Time the token endpoint took to answer, from a complete request body to the response, by grant_type.',
      labelNames: ['grant_type'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.signIns = new Counter({
      name: 'kubegate_sign_ins_total',
      help: 'Portal sign-ins by upstream and result (success or the refusal code).',
      labelNames: ['upstream', 'result'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'kubegate_rate_limited_requests_total',
      help: 'Requests refused by a rate limiter, by limiter.',
      labelNames: ['limiter'],
      registers,
    });
    this.storeLatency = new Histogram({
      name: 'kubegate_store_operation_duration_seconds',
      help: 'Duration of the store calls on the refresh path, by operation.',
      labelNames: ['operation'],
      buckets: STORE_BUCKETS,
      registers,
    });
    const cacheMs = opts.activeFamiliesCacheMs ?? 5000;
    let cached: { at: number; value: number } | undefined;
    let pending: Promise<number> | undefined;
    const sourceOf = () => this.activeFamiliesSource;
    new Gauge({
      name: 'kubegate_active_refresh_token_families',
      help: 'Refresh-token families (kubectl credentials) that could still refresh: not revoked, not expired, used within the idle timeout. Shared by replicas.',
      registers,
      // Computed at scrape time with one COUNT, reused for a few seconds so several scrapers (or replicas) cost one query.
      async collect() {
        const source = sourceOf();
        if (!source) return;
        const at = Date.now();
        if (!cached || at - cached.at >= cacheMs) {
          pending ??= source().finally(() => (pending = undefined));
          try {
            cached = { at, value: await pending };
          } catch {
            // The database is down: the rest of the scrape still answers, without this gauge's sample.
            cached = undefined;
            this.reset();
            return;
          }
        }
        this.set(cached.value);
      },
    });
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'kubegate_' });
  }

  /** Where the active-families gauge reads its count (the runtime's store and clock). */
  countActiveFamiliesWith(source: () => Promise<number>): void {
    this.activeFamiliesSource = source;
  }

  /** `cluster` undefined: the token named no family. */
  refresh(result: RefreshResult, cluster: string | undefined): void {
    this.refreshChild(result, cluster === undefined ? NO_CLUSTER : this.clusters.has(cluster) ? cluster : UNCONFIGURED).inc();
  }

  /** `grantType` undefined: the request was refused before its form was read. */
  tokenRequest(grantType: string | undefined, status: number, seconds: number): void {
    const grant_type = grantType === undefined ? 'none' : GRANT_TYPES.has(grantType) ? grantType : 'other';
    this.tokenRequestChild(grant_type, String(status)).inc();
    this.tokenLatencyChild(grant_type).observe(seconds);
  }

  /** `upstream` is a configured upstream's id (the caller only has bound ones). */
  signIn(upstream: string, result: SignInResult): void {
    this.signIns.inc({ upstream, result });
  }

  rateLimitedRequest(limiter: Limiter): void {
    this.rateLimited.inc({ limiter });
  }

  storeOperation(operation: TimedOperation, seconds: number): void {
    this.storeLatencyChild(operation).observe(seconds);
  }

  /** The exposition text, and its content type. */
  async exposition(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

/**
 * The store, with the refresh path's calls timed into `metrics`; every other
 * call goes straight through. Only the issuer's dependencies get this view.
 */
export function timedStore(store: Store, metrics: Metrics): Store {
  const timed = new Map<PropertyKey, unknown>();
  for (const op of TIMED_STORE_OPERATIONS) {
    const fn = store[op] as (...args: unknown[]) => Promise<unknown>;
    // No async wrapper of its own: one promise reaction on the refresh path, not a second async frame.
    timed.set(op, (...args: unknown[]) => {
      const start = performance.now();
      const done = () => metrics.storeOperation(op, secondsSince(start));
      return fn.apply(store, args).then(
        (value) => {
          done();
          return value;
        },
        (err: unknown) => {
          done();
          throw err;
        },
      );
    });
  }
  // Other methods are bound once, not at every call.
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const t = timed.get(prop);
      if (t !== undefined) return t;
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      let b = bound.get(prop) as { fn: unknown; bound: unknown } | undefined;
      if (b?.fn !== v) bound.set(prop, (b = { fn: v, bound: (v as (...a: unknown[]) => unknown).bind(target) }));
      return b.bound;
    },
  });
}

/** Seconds since `start` (a performance.now() reading). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}

/**
 * The metrics listener (`metrics.port`): GET /metrics and nothing else. It
 * is a separate socket so the public listener (behind the ingress) never
 * serves metrics; keep the port off the ingress and, where it matters, limit
 * it with a NetworkPolicy to the scrapers.
 */
export function createMetricsServer(metrics: Metrics, log: Logger): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    metrics
      .exposition()
      .then(({ body, contentType }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      })
      .catch((err: unknown) => {
        log.error('metrics scrape failed', { error: String(err) });
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('metrics unavailable\n');
      });
  });
}
