import type { Store } from '../store/types';
import { discoveryDocument, ISSUER_PATHS } from './discovery';
import { MethodNotAllowedError, renderOAuthError } from './errors';
import { json, NO_STORE, type IssuerRequest, type IssuerResponse } from './http';
import { jwksCacheControl } from './key-timing';
import type { KeyManager, SigningAlg } from './keys';
import { handleAuthorizeRequest } from './authorize';
import { handleDeviceAuthorization } from './device';
import { createReadinessCheck } from './readiness';
import { handleRevocationRequest } from './revocation';
import { handleTokenRequest, type TokenEndpointDeps } from './token-endpoint';

export interface IssuerRoutesDeps extends TokenEndpointDeps {
  alg: SigningAlg;
  store: Store;
  keys: KeyManager;
  /** `signing.jwks_max_age`: how long verifiers may cache the JWKS (lib/oidc/key-timing.ts). */
  jwksMaxAgeSeconds: number;
  /** /readyz: how long the write probe may take (default 2 s). */
  readinessTimeoutMs?: number;
  /** True once the process is shutting down (lib/http/shutdown.ts): /readyz says so at once. */
  shuttingDown?: () => boolean;
}

export type IssuerHandler = (req: IssuerRequest) => Promise<IssuerResponse> | IssuerResponse;

const METADATA_CACHE = 'public, max-age=300';

function onlyGet(deps: Pick<IssuerRoutesDeps, 'log'>, handler: IssuerHandler): IssuerHandler {
  return (req) => {
    if (req.method === 'GET' || req.method === 'HEAD') return handler(req);
    return renderOAuthError(new MethodNotAllowedError(['GET', 'HEAD']), { requestId: req.requestId, log: deps.log, where: 'issuer route' });
  };
}

function signingKeyLoaded(keys: Pick<KeyManager, 'current'>): boolean {
  try {
    return keys.current()?.key !== undefined;
  } catch {
    return false;
  }
}

/**
 * The issuer's paths and their handlers. Discovery is serialized once; the
 * JWKS body comes pre-serialized from the KeyManager. Returns undefined for
 * any other path, which then belongs to the portal (Next.js).
 *
 * `/healthz` is liveness: the process answers (no database, so a locked or
 * full disk does not get a healthy process restarted). `/readyz` is
 * readiness: a signing key is loaded and the database takes a write now,
 * and the process is not shutting down (a load balancer drains it).
 */
export function createIssuerRoutes(deps: IssuerRoutesDeps): (path: string) => IssuerHandler | undefined {
  const discoveryBody = JSON.stringify(discoveryDocument(deps.issuer, deps.alg));
  const jwksCache = jwksCacheControl(deps.jwksMaxAgeSeconds);
  const ready = createReadinessCheck({
    store: deps.store,
    signingKeyLoaded: () => signingKeyLoaded(deps.keys),
    now: deps.now,
    timeoutMs: deps.readinessTimeoutMs ?? 2000,
    cacheMs: 1000,
  });
  const routes = new Map<string, IssuerHandler>([
    [ISSUER_PATHS.discovery, onlyGet(deps, () => json(200, discoveryBody, { 'cache-control': METADATA_CACHE }))],
    [ISSUER_PATHS.jwks, onlyGet(deps, () => json(200, deps.keys.jwksJson(), { 'cache-control': jwksCache, 'content-type': 'application/jwk-set+json' }))],
    [ISSUER_PATHS.token, (req) => handleTokenRequest(req, deps)],
    [ISSUER_PATHS.revocation, (req) => handleRevocationRequest(req, deps)],
    [ISSUER_PATHS.authorize, (req) => handleAuthorizeRequest(req, deps)],
    [ISSUER_PATHS.deviceAuthorization, (req) => handleDeviceAuthorization(req, deps)],
    ['/healthz', onlyGet(deps, () => json(200, { status: 'ok' }, NO_STORE))],
    [
      '/readyz',
      onlyGet(deps, async () => {
        if (deps.shuttingDown?.()) return json(503, { status: 'unavailable', reason: 'shutting_down' }, { ...NO_STORE, 'retry-after': '5' });
        const r = await ready();
        if (r.ready) return json(200, { status: 'ready' }, NO_STORE);
        return json(503, { status: 'unavailable', reason: r.reason, ...(r.detail ? { detail: r.detail } : {}) }, { ...NO_STORE, 'retry-after': '5' });
      }),
    ],
  ]);
  return (path) => routes.get(path);
}
