import { createHash, timingSafeEqual } from 'node:crypto';
import type { ResolvedConfig } from '../config/load';
import type { ClusterGroupRules } from './cluster-groups';
import { InvalidClientError, InvalidRequestError } from './errors';

/** A cluster (or an extra client configured for one) as an OAuth client. */
export interface OAuthClient {
  clientId: string;
  /** Absent for a public client (kubectl with no client-secret). */
  clientSecret?: string;
  cluster: string;
  /** The cluster's allowed_groups (empty: everyone), re-checked on every refresh. */
  allowedGroups: readonly string[];
  /** The cluster's group_mappings and extra_groups, applied to the groups of its tokens (lib/oidc/cluster-groups.ts). */
  groupRules?: ClusterGroupRules;
  /**
   * The id_token `aud`: the cluster's client_id, which kube-apiserver checks
   * (its --oidc-client-id). Omitted: the client's own id (a cluster's client).
   */
  audience?: string;
  /** Redirect URIs the authorization endpoint accepts, compared exactly. */
  redirectUris?: readonly string[];
  /** A native application (RFC 8252 §7.3): loopback redirect URIs on any port are accepted too. */
  native?: boolean;
}

/**
 * Every client the issuer knows: each cluster's client_id (a native
 * client, as kubelogin is: loopback redirects, PKCE when public) and the
 * config's extra `clients`, whose tokens are for their cluster's audience.
 */
export function clientsFromConfig(config: Pick<ResolvedConfig, 'clusters' | 'clients'>): Map<string, OAuthClient> {
  const clients = new Map<string, OAuthClient>(
    config.clusters.map((c) => [
      c.client_id,
      {
        clientId: c.client_id,
        clientSecret: c.client_secret,
        cluster: c.name,
        allowedGroups: c.allowed_groups,
        groupRules: { group_mappings: c.group_mappings, extra_groups: c.extra_groups },
        audience: c.client_id,
        redirectUris: [],
        native: true,
      },
    ]),
  );
  for (const extra of config.clients ?? []) {
    const cluster = config.clusters.find((c) => c.name === extra.cluster);
    if (!cluster) continue; // the config loader refuses this; nothing to serve
    clients.set(extra.client_id, {
      clientId: extra.client_id,
      clientSecret: extra.client_secret,
      cluster: cluster.name,
      allowedGroups: cluster.allowed_groups,
      groupRules: { group_mappings: cluster.group_mappings, extra_groups: cluster.extra_groups },
      audience: cluster.client_id,
      redirectUris: extra.redirect_uris,
      native: extra.native,
    });
  }
  return clients;
}

interface Presented {
  clientId: string;
  secret: string | undefined;
  viaBasic: boolean;
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding. */
function formDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

export function parseBasic(headerValue: string): { clientId: string; secret: string } {
  const m = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(headerValue);
  if (!m) throw new InvalidClientError('malformed Basic authorization header', true);
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new InvalidClientError('malformed Basic authorization header', true);
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw new InvalidClientError('malformed Basic authorization header', true);
  }
}

function presented(authorization: string | undefined, form: { client_id?: string; client_secret?: string }): Presented | undefined {
  if (authorization !== undefined && /^basic /i.test(authorization)) {
    if (form.client_secret !== undefined) {
      throw new InvalidRequestError('use one client authentication method: Basic header or client_secret in the body, not both');
    }
    const basic = parseBasic(authorization);
    if (form.client_id !== undefined && form.client_id !== basic.clientId) {
      throw new InvalidRequestError('client_id in the body does not match the Authorization header');
    }
    return { clientId: basic.clientId, secret: basic.secret, viaBasic: true };
  }
  if (authorization !== undefined) throw new InvalidClientError('unsupported authorization scheme; use Basic', true);
  if (form.client_id === undefined) return undefined;
  return { clientId: form.client_id, secret: form.client_secret, viaBasic: false };
}

function secretsEqual(a: string, b: string): boolean {
  // Hash first so the comparison takes the same time whatever the lengths.
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * Authenticates the client of a token request: client_secret_basic,
 * client_secret_post, or none for a public client. kubectl sends Basic even
 * for a public client, with an empty secret (`kubernetes:`), and on any error
 * retries with the id and secret in the form; both shapes are accepted.
 */
export function authenticateClient(
  authorization: string | undefined,
  form: { client_id?: string; client_secret?: string },
  clients: ReadonlyMap<string, OAuthClient>,
): OAuthClient {
  const p = presented(authorization, form);
  if (!p) throw new InvalidClientError('client authentication is required: send client_id', false);
  const client = clients.get(p.clientId);
  if (!client) throw new InvalidClientError('unknown client: no cluster has this client_id', p.viaBasic);
  if (client.clientSecret === undefined) {
    // Public client: nothing to check, but a secret it does not have is a misconfiguration.
    if (p.secret) throw new InvalidClientError('this client is public: send no client_secret', p.viaBasic);
    return client;
  }
  if (!p.secret) throw new InvalidClientError('this client is confidential: send its client_secret', p.viaBasic);
  if (!secretsEqual(p.secret, client.clientSecret)) throw new InvalidClientError('client authentication failed: the client_secret does not match', p.viaBasic);
  return client;
}
