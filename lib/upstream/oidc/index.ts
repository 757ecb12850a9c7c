import { z } from 'zod';
import { finalizeIdentity, upstreamBase } from '../base';
import { UpstreamRefusal, type OAuthConnector } from '../types';

export const OidcUpstreamSchema = z
  .strictObject({
    ...upstreamBase,
    type: z.literal('oidc'),
    issuer: z.string().url('must be the upstream issuer URL'),
    client_id: z.string().min(1),
    client_secret: z.string().min(1).optional(),
    scopes: z.array(z.string().min(1)).default([]),
    username_claim: z.string().min(1).default('preferred_username'),
    groups_claim: z.string().min(1).default('groups'),
    /** Accept http issuers and skip nothing else: for tests and labs only. */
    allow_insecure_http: z.boolean().default(false),
  })
  .superRefine(
    (u, ctx) => {
      // Also when another field is wrong (then values may still be raw input): one run, every problem.
      if (u.allow_insecure_http === false && typeof u.issuer === 'string' && URL.canParse(u.issuer) && !u.issuer.startsWith('https://')) {
        ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'must be an https URL (set allow_insecure_http: true only for a lab)' });
      }
    },
    { when: () => true },
  );
export type OidcUpstreamConfig = z.infer<typeof OidcUpstreamSchema>;

const stringList = z.union([z.string().transform((s) => [s]), z.array(z.string())]);

/**
 * Maps the upstream's verified id_token claims to our identity, per the
 * upstream's config: which claim is the username, which the groups.
 * A missing or malformed claim is refused, naming it, never "undefined".
 */
export function identityFromClaims(upstream: OidcUpstreamConfig, claims: Record<string, unknown>) {
  const sub = claims.sub;
  if (typeof sub !== 'string' || sub === '') throw new UpstreamRefusal('claims', 'the upstream sent no subject (sub)');
  const username = claims[upstream.username_claim];
  if (typeof username !== 'string' || username.trim() === '') {
    throw new UpstreamRefusal('claims', `the upstream sent no "${upstream.username_claim}" claim to use as the username`);
  }
  const rawGroups = claims[upstream.groups_claim];
  let groups: string[] = [];
  if (rawGroups !== undefined && rawGroups !== null) {
    const parsed = stringList.safeParse(rawGroups);
    if (!parsed.success) throw new UpstreamRefusal('claims', `the "${upstream.groups_claim}" claim is neither a string nor a list of strings`);
    groups = parsed.data;
  }
  return finalizeIdentity(upstream, {
    subject: sub,
    username,
    email: typeof claims.email === 'string' ? claims.email : null,
    name: typeof claims.name === 'string' ? claims.name : null,
    groups,
  });
}

/** RFC 8176 authentication method references from the upstream, if it sent a usable list. */
export function amrFromClaims(claims: Record<string, unknown>): string[] {
  const amr = claims.amr;
  return Array.isArray(amr) ? amr.filter((v): v is string => typeof v === 'string').slice(0, 10) : [];
}

function origin(url: string): string[] {
  try {
    return [new URL(url).origin];
  } catch {
    return [];
  }
}

/** A generic OpenID Connect provider (Keycloak, Okta, Entra ID, Google, Dex…), run by next-auth. */
export const oidcConnector: OAuthConnector<OidcUpstreamConfig> = {
  type: 'oidc',
  flow: 'oauth',
  schema: OidcUpstreamSchema,
  presentation: (u) => ({ kind: 'button', label: u.display_name ?? u.id }),
  // The sign-in form's action redirects to the issuer's authorization endpoint (same origin in practice).
  formActionOrigins: (u) => origin(u.issuer),
  provider: (u) => ({
    id: u.id,
    name: u.display_name ?? u.id,
    type: 'oidc' as const,
    issuer: u.issuer,
    clientId: u.client_id,
    clientSecret: u.client_secret,
    // Authorization code + PKCE, with state and nonce checked on return.
    checks: ['pkce', 'state', 'nonce'],
    authorization: { params: { scope: [...new Set(['openid', 'profile', 'email', ...u.scopes])].join(' ') } },
    ...(u.client_secret ? {} : { client: { token_endpoint_auth_method: 'none' as const } }),
    // Identity mapping happens in complete(), from the raw claims.
    profile: (claims: Record<string, unknown>) => ({ id: String(claims.sub) }),
  }),
  async complete(u, { profile }) {
    const authTime = typeof profile.auth_time === 'number' ? profile.auth_time * 1000 : undefined;
    const acr = typeof profile.acr === 'string' ? profile.acr : undefined;
    return { identity: identityFromClaims(u, profile), amr: amrFromClaims(profile), authTime, acr };
  },
};
