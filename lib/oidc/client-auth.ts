import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClusterGroupRules } from './cluster-groups';
import { InvalidClientError, InvalidRequestError } from './errors';

/** A cluster as an OAuth client of the token endpoint. */
export interface OAuthClient {
  clientId: string;
  /** Absent for a public client (kubectl with no client-secret). */
  clientSecret?: string;
  cluster: string;
  /** The cluster's allowed_groups (empty: everyone), re-checked on every refresh. */
  allowedGroups: readonly string[];
  /** The cluster's group_mappings and extra_groups, applied to the groups of its tokens (lib/oidc/cluster-groups.ts). */
  groupRules?: ClusterGroupRules;
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
