import { z } from 'zod';
import type { LocalUserConfig, OidcUpstreamConfig } from '../config/schema';
import type { UserProfile } from '../store/types';

/** The upstream answered, but not with what we need to build a Kubernetes identity. */
export class IdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdentityError';
  }
}

const stringList = z.union([z.string().transform((s) => [s]), z.array(z.string())]);

/**
 * Maps an upstream OIDC provider's claims to our user profile, per the
 * upstream's config: which claim is the username, which the groups, and the
 * prefixes that keep two upstreams' names apart. Validated here, at the
 * boundary: a missing or non-string username is an error, not "undefined".
 */
export function identityFromOidcClaims(upstream: OidcUpstreamConfig, claims: Record<string, unknown>): UserProfile {
  const sub = claims.sub;
  if (typeof sub !== 'string' || sub === '') throw new IdentityError('the upstream sent no subject (sub)');
  const username = claims[upstream.username_claim];
  if (typeof username !== 'string' || username.trim() === '') {
    throw new IdentityError(`the upstream sent no "${upstream.username_claim}" claim to use as the username`);
  }
  const rawGroups = claims[upstream.groups_claim];
  let groups: string[] = [];
  if (rawGroups !== undefined && rawGroups !== null) {
    const parsed = stringList.safeParse(rawGroups);
    if (!parsed.success) throw new IdentityError(`the "${upstream.groups_claim}" claim is neither a string nor a list of strings`);
    groups = parsed.data;
  }
  return {
    upstream: upstream.id,
    subject: sub,
    username: upstream.username_prefix + username.trim(),
    email: typeof claims.email === 'string' ? claims.email : null,
    name: typeof claims.name === 'string' ? claims.name : null,
    groups: [...new Set(groups.filter((g) => g !== '').map((g) => upstream.groups_prefix + g))],
  };
}

/** Local users' subject is their username: it is unique in the config and they have no other id. */
export function identityFromLocalUser(upstream: { id: string; username_prefix: string; groups_prefix: string }, user: LocalUserConfig): UserProfile {
  return {
    upstream: upstream.id,
    subject: user.username,
    username: upstream.username_prefix + user.username,
    email: user.email ?? null,
    name: user.name ?? null,
    groups: user.groups.map((g) => upstream.groups_prefix + g),
  };
}

/** RFC 8176 authentication method references from the upstream, if it sent a usable list. */
export function amrFromClaims(claims: Record<string, unknown>): string[] {
  const amr = claims.amr;
  return Array.isArray(amr) ? amr.filter((v): v is string => typeof v === 'string').slice(0, 10) : [];
}
