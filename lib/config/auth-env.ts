import type { ResolvedConfig } from './load';

/**
 * Auth.js derives its callback and action URLs from AUTH_URL when it is set,
 * and otherwise from the request's Host, which differs between the sign-in
 * request and the callback when the portal is reached by several names
 * (127.0.0.1 vs localhost, or a proxy). Pinning it to the configured issuer
 * makes the upstream see one redirect_uri, always.
 */
export function exportAuthEnvironment(config: ResolvedConfig, env: NodeJS.ProcessEnv = process.env): void {
  env.AUTH_URL = `${config.issuer.url}/api/auth`;
  env.AUTH_TRUST_HOST = 'true';
}
