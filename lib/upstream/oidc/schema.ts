import { z } from 'zod';
import { carriable, duration } from '../../config/fields';
import { upstreamBase } from '../base';
import { CLAIM_PATH_MAX } from './claims';

/** A claim path (lib/upstream/oidc/claims.ts readClaim): `groups`, `https://example.com/groups`, `realm_access.roles`. */
const claimPath = z
  .string()
  .min(1, 'must name a claim')
  .max(CLAIM_PATH_MAX)
  .superRefine(carriable);

const claimValue = z.union([z.string(), z.number(), z.boolean()], { error: 'must be a string, number or boolean (or a list of them)' });

/**
 * The fields of an upstream OpenID Provider (Keycloak, Entra ID, Okta, Google, …).
 * Spread into lib/config/schema.ts's union of upstream kinds.
 */
export const OidcUpstreamSchema = z
  .strictObject({
    ...upstreamBase,
    type: z.literal('oidc'),
    issuer: z.string().url('must be the upstream issuer URL'),
    client_id: z.string().min(1),
    client_secret: z.string().min(1).optional(),
    /** How the client authenticates at the token endpoint (with a secret). */
    token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    /** Asked for in addition to `openid profile email`; add `offline_access` for re-checks (Keycloak, Okta, Entra ID). */
    scopes: z.array(z.string().min(1)).default([]),
    username_claim: claimPath.default('preferred_username'),
    groups_claim: claimPath.default('groups'),
    /**
     * Where the groups claim is read: `id_token`; `userinfo` (fetched with the
     * access token); `auto`: the id_token when it carries the claim, else the
     * userinfo endpoint when the provider has one.
     */
    groups_source: z.enum(['id_token', 'userinfo', 'auto']).default('auto'),
    /**
     * Claims that must hold for a sign-in (and every re-check), by claim path:
     * an exact value, or a list of accepted values. A list-valued claim passes
     * when one of its items is accepted (`amr: mfa`).
     */
    required_claims: z.record(claimPath, z.union([claimValue, z.array(claimValue).min(1, 'must accept at least one value')])).default({}),
    /**
     * Entra ID leaves the groups out of the id_token when a person has more
     * than fit (group overage: `_claim_names`/`_claim_sources`, `hasgroups`).
     * Configured: the groups are read from Microsoft Graph with the access
     * token; omitted: such a sign-in is refused with a message saying so.
     */
    entra_overage: z
      .strictObject({
        /** Microsoft Graph's base URL (national clouds differ; a test stand-in serves it on loopback). */
        graph_url: z
          .string()
          .url('must be the Microsoft Graph base URL such as https://graph.microsoft.com')
          .refine((u) => !/[?#]/.test(u), 'must not carry a query or fragment')
          .default('https://graph.microsoft.com'),
        /** What names the groups: their object ids (what the groups claim carries) or their display names. */
        group_name: z.enum(['id', 'display_name']).default('id'),
      })
      .optional(),
    /** Bound on each call to the upstream (discovery, userinfo, token, Graph). */
    http_timeout: duration('http_timeout', 1, 60).default(10),
    /** Accept http issuers and skip nothing else: for tests and labs only. */
    allow_insecure_http: z.boolean().default(false),
  })
  .superRefine(
    (u, ctx) => {
      // Also when another field is wrong (then values may still be raw input): one run, every problem.
      if (u.allow_insecure_http === false && typeof u.issuer === 'string' && URL.canParse(u.issuer) && !u.issuer.startsWith('https://')) {
        ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'must be an https URL (set allow_insecure_http: true only for a lab)' });
      }
      const graph = (u.entra_overage as { graph_url?: unknown } | undefined)?.graph_url;
      if (u.allow_insecure_http === false && typeof graph === 'string' && URL.canParse(graph) && !graph.startsWith('https://')) {
        ctx.addIssue({ code: 'custom', path: ['entra_overage', 'graph_url'], message: 'must be an https URL (set allow_insecure_http: true only for a lab)' });
      }
    },
    { when: () => true },
  );

export type OidcUpstreamConfig = z.infer<typeof OidcUpstreamSchema>;
