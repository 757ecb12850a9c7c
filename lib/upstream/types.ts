/**
 * The connector seam (in the spirit of Dex's connectors). Each upstream kind
 * (local, oidc, ldap, saml, github) is one module under lib/upstream/<kind>/
 * exporting a `Connector`: its config schema, how it appears on the sign-in
 * page, how it authenticates, how it maps the upstream's answer to our
 * identity, and how it re-checks a person later. Nothing outside
 * lib/upstream/ branches on an upstream's `type`: the sign-in page, the CSP's
 * form-action, next-auth's providers and login-session creation all loop
 * over `connectorFor(upstream)` (lib/upstream/registry.ts).
 *
 * Three flows cover every kind:
 *   - 'password': a username/password form posted to us (local, ldap);
 *   - 'oauth':    an OAuth 2.0 / OIDC redirect that next-auth runs (oidc, github);
 *   - 'redirect': a redirect protocol next-auth does not speak (saml), served
 *                 by the connector's own routes under /api/upstream/<id>/<action>,
 *                 which hand the verified identity back through a one-time ticket.
 */
import type { z } from 'zod';
import type { Store, User, UserProfile } from '../store/types';
import type { Logger } from '../util/log';

/** A verified first factor: who this is, and how the upstream says they proved it. */
export interface UpstreamSignIn {
  /** Already mapped: prefixes applied, groups filtered (lib/upstream/base.ts finalizeIdentity). */
  identity: UserProfile;
  /** RFC 8176 method references as the upstream reported them ('pwd' for our own password forms). */
  amr: string[];
  /** The upstream's authentication context class (OIDC `acr`, SAML AuthnContextClassRef), when it said. */
  acr?: string;
  /** Epoch ms of the upstream authentication, when it said. */
  authTime?: number;
  /**
   * What the connector needs to re-check this person later (an upstream
   * refresh token, a GitHub access token), as an opaque string. The caller
   * seals it with the key-encryption key before it is stored; it never
   * reaches the browser or a log.
   */
  recheckState?: string | null;
}

/** Why a first factor was refused; `code` picks the sign-in page's message, `detail` goes to the audit trail. */
export type RefusalCode =
  | 'bad_credentials' // wrong or unknown username/password (never say which)
  | 'disabled' // the account exists but is disabled upstream
  | 'not_allowed' // authenticated, but outside the configured orgs/groups/claim rules
  | 'claims' // the upstream's answer lacks what we need (subject, username)
  | 'invalid_response' // a protocol message failed validation (signature, audience, replay…)
  | 'unavailable' // the upstream could not be reached in time
  | 'rate_limited';

export class UpstreamRefusal extends Error {
  constructor(
    readonly code: RefusalCode,
    /** For logs and the audit trail; never shown verbatim to the browser, never a secret. */
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'UpstreamRefusal';
  }
}

/** A later look at the same person, by their stable subject. */
export type RecheckOutcome =
  | { status: 'active'; identity: UserProfile; recheckState?: string | null }
  /** Deleted or disabled upstream: every family of theirs is revoked. */
  | { status: 'gone'; reason: string }
  /** The upstream did not answer: keep the last known identity within the grace, then fail closed. */
  | { status: 'unavailable'; reason: string }
  /** The protocol cannot be re-queried (SAML): the session's absolute lifetime applies. */
  | { status: 'not_supported' };

export interface ConnectorContext {
  now(): number;
  log: Logger;
  /** The client address the server entry stamped on the request, when there is one. */
  clientIp?: string | null;
}

/** How an upstream appears on the sign-in page. */
export type Presentation =
  | { kind: 'button'; label: string }
  | { kind: 'password'; label: string; usernameLabel: string };

/** Fields every upstream config has (lib/upstream/base.ts upstreamBase). */
export interface UpstreamBaseConfig {
  id: string;
  type: string;
  display_name?: string;
  username_prefix: string;
  groups_prefix: string;
  /** Only these upstream groups (exact, or a `prefix*` pattern) reach tokens; omitted: all. */
  group_allowlist?: string[];
  /** Re-check at a refresh when the last check is older than this (seconds). */
  recheck_interval: number;
  /** How long an unreachable upstream is tolerated before its users are refused (seconds). */
  recheck_grace: number;
  /** Upstream `amr` / `acr` values that prove a second factor there. */
  mfa_amr_values: string[];
  mfa_acr_values: string[];
}

interface ConnectorBase<C extends UpstreamBaseConfig> {
  type: C['type'];
  /** The strict zod schema of this kind's upstream entry (lib/config/schema.ts unions them). */
  schema: z.ZodType<C, unknown>;
  presentation(config: C): Presentation;
  /** Origins the browser is sent to from our pages (CSP form-action), e.g. the IdP's authorize endpoint. */
  formActionOrigins(config: C): string[];
  /** Re-check a person by their stable subject; omitted means 'not_supported'. */
  recheck?(config: C, user: User, recheckState: string | null, ctx: ConnectorContext): Promise<RecheckOutcome>;
}

export interface PasswordConnector<C extends UpstreamBaseConfig> extends ConnectorBase<C> {
  flow: 'password';
  /** Throws UpstreamRefusal for every refusal (bad_credentials, disabled, unavailable…). */
  authenticate(config: C, credentials: { username: string; password: string }, ctx: ConnectorContext): Promise<UpstreamSignIn>;
}

/** What next-auth hands back after an OAuth/OIDC callback (its `account` and `profile`). */
export interface OAuthCallback {
  /** The upstream's token response: access_token, refresh_token, id_token, expires_at, scope… */
  account: Record<string, unknown>;
  /** For OIDC: the verified id_token claims; for plain OAuth: the profile endpoint's answer. */
  profile: Record<string, unknown>;
}

export interface OAuthConnector<C extends UpstreamBaseConfig> extends ConnectorBase<C> {
  flow: 'oauth';
  /** The next-auth provider (an OIDCConfig/OAuthConfig object) with `id` = the upstream id. */
  provider(config: C): Record<string, unknown> & { id: string };
  /** Map (and, if needed, enrich through the upstream's API) the callback; throws UpstreamRefusal. */
  complete(config: C, callback: OAuthCallback, ctx: ConnectorContext): Promise<UpstreamSignIn>;
}

/** What a redirect connector's route handler decided. */
export type RedirectStep =
  /** Answer as is (SP metadata, an error page). */
  | { type: 'response'; response: Response }
  /**
   * Send the browser to the upstream. The seam sets `binding` in a short-lived
   * __Host- cookie, so the answer can only be completed by the browser that asked.
   */
  | { type: 'start'; location: string; binding: string }
  /**
   * A verified answer (e.g. the SAML ACS POST, which arrives cross-site without
   * our SameSite cookies). The seam keeps it under a one-time ticket and sends
   * the browser to a same-site GET, where the binding cookie must match before
   * a login session is opened.
   */
  | { type: 'signed_in'; signIn: UpstreamSignIn; binding: string };

export interface RedirectConnector<C extends UpstreamBaseConfig> extends ConnectorBase<C> {
  flow: 'redirect';
  /** Serves /api/upstream/<id>/<action> (GET or POST); throws UpstreamRefusal for a refused answer. */
  handle(config: C, action: string, request: Request, ctx: ConnectorContext & { store: Store; issuerUrl: string }): Promise<RedirectStep>;
}

export type Connector<C extends UpstreamBaseConfig = UpstreamBaseConfig> = PasswordConnector<C> | OAuthConnector<C> | RedirectConnector<C>;
