import type { Store } from '../store/types';
import { discoveryDocument, ISSUER_PATHS } from './discovery';
import { json, NO_STORE, type IssuerRequest, type IssuerResponse } from './http';
import { JWKS_CACHE_CONTROL as JWKS_CACHE } from './key-timing';
import type { KeyManager, SigningAlg } from './keys';
import { handleTokenRequest, type TokenEndpointDeps } from './token-endpoint';

export interface IssuerRoutesDeps extends TokenEndpointDeps {
  alg: SigningAlg;
  store: Store;
  keys: KeyManager;
}

export type IssuerHandler = (req: IssuerRequest) => Promise<IssuerResponse> | IssuerResponse;

const METADATA_CACHE = 'public, max-age=300';

function onlyGet(handler: IssuerHandler): IssuerHandler {
  return (req) => {
    if (req.method === 'GET' || req.method === 'HEAD') return handler(req);
    return json(405, { error: 'invalid_request', error_description: 'use GET' }, { allow: 'GET, HEAD', ...NO_STORE });
  };
}

/**
 * The issuer's paths and their handlers. Discovery is serialized once; the
 * JWKS body comes pre-serialized from the KeyManager. Returns undefined for
 * any other path, which then belongs to the portal (Next.js).
 */
export function createIssuerRoutes(deps: IssuerRoutesDeps): (path: string) => IssuerHandler | undefined {
  const discoveryBody = JSON.stringify(discoveryDocument(deps.issuer, deps.alg));
  const routes = new Map<string, IssuerHandler>([
    [ISSUER_PATHS.discovery, onlyGet(() => json(200, discoveryBody, { 'cache-control': METADATA_CACHE }))],
    [ISSUER_PATHS.jwks, onlyGet(() => json(200, deps.keys.jwksJson(), { 'cache-control': JWKS_CACHE, 'content-type': 'application/jwk-set+json' }))],
    [ISSUER_PATHS.token, (req) => handleTokenRequest(req, deps)],
    // Credentials are handed out by the portal; a person who lands here is sent there.
    [ISSUER_PATHS.authorize, onlyGet(() => ({ status: 302, headers: { location: '/', ...NO_STORE }, body: '' }))],
    [
      '/healthz',
      onlyGet(async () => {
        try {
          await deps.store.ping();
          return json(200, { status: 'ok' }, NO_STORE);
        } catch {
          return json(503, { status: 'unavailable', reason: 'database unreachable' }, NO_STORE);
        }
      }),
    ],
  ]);
  return (path) => routes.get(path);
}
