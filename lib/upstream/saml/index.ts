/**
 * SAML 2.0 service provider (Web Browser SSO profile): an AuthnRequest by the
 * HTTP-Redirect binding, the Response by HTTP-POST to our ACS. node-saml
 * verifies the XML signature against the certificates pinned from the IdP's
 * metadata and hands back the signed assertion's bytes; everything we then
 * read comes from those bytes (assertion.ts). Served at
 * /api/upstream/<id>/{login,acs,metadata} by the seam's route.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { generateServiceProviderMetadata, SAML, SamlStatusError, ValidateInResponseTo } from '@node-saml/node-saml';
import { finalizeIdentity } from '../base';
import { UpstreamRefusal, type ConnectorContext, type RedirectConnector, type RedirectStep, type UpstreamSignIn } from '../types';
import type { Store } from '../../store/types';
import { checkAssertion, inspectResponse, readAssertion } from './assertion';
import { amrFor, mapAttributes } from './attributes';
import { IdpMetadataError, loadIdpMetadata, parseIdpMetadata, type IdpMetadata } from './idp-metadata';
import { firstUse, rememberRequest, takeRequest } from './request-store';
import { SamlUpstreamSchema, type SamlUpstreamConfig } from './schema';

export { SamlUpstreamSchema, type SamlUpstreamConfig } from './schema';

type HandleContext = ConnectorContext & { store: Store; issuerUrl: string };

/** Base64 of a large signed response with many groups stays well under this. */
const MAX_ACS_BODY = 512 * 1024;

export function spUrls(config: SamlUpstreamConfig, issuerUrl: string) {
  const base = `${issuerUrl}/api/upstream/${config.id}`;
  return { entityId: config.sp_entity_id ?? `${base}/metadata`, acsUrl: `${base}/acs`, loginUrl: `${base}/login` };
}

// IdP metadata, read once per config object (so per process start and config
// reload): its certificates are pinned for the life of that config. A failed
// fetch is not remembered, so the next sign-in tries again.
const metadataCache = new WeakMap<SamlUpstreamConfig, Promise<IdpMetadata>>();

export function idpMetadataFor(config: SamlUpstreamConfig, fetchImpl: typeof fetch = fetch): Promise<IdpMetadata> {
  let p = metadataCache.get(config);
  if (!p) {
    p = loadIdpMetadata(config, fetchImpl);
    metadataCache.set(config, p);
    p.catch(() => metadataCache.delete(config));
  }
  return p;
}

async function metadataOrRefuse(config: SamlUpstreamConfig): Promise<IdpMetadata> {
  try {
    return await idpMetadataFor(config);
  } catch (e) {
    const detail = e instanceof IdpMetadataError ? e.message : `IdP metadata: ${(e as Error).message}`;
    throw new UpstreamRefusal('unavailable', detail);
  }
}

function samlFor(config: SamlUpstreamConfig, md: IdpMetadata, issuerUrl: string, requestId = '_unused') {
  const { entityId, acsUrl } = spUrls(config, issuerUrl);
  return new SAML({
    entryPoint: md.ssoRedirectUrl,
    issuer: entityId,
    callbackUrl: acsUrl,
    idpCert: md.signingCerts,
    idpIssuer: md.entityId,
    audience: entityId,
    identifierFormat: config.name_id_format,
    wantAssertionsSigned: config.want_assertions_signed,
    // Either a signed response or a signed assertion will do (node-saml then
    // requires the assertion's own signature when the response has none).
    wantAuthnResponseSigned: false,
    acceptedClockSkewMs: config.clock_skew * 1000,
    // InResponseTo is ours to check, against the shared store (below).
    validateInResponseTo: ValidateInResponseTo.never,
    disableRequestedAuthnContext: !config.authn_context,
    authnContext: config.authn_context ?? [],
    racComparison: 'minimum',
    forceAuthn: config.force_authn,
    generateUniqueId: () => requestId,
  });
}

const refuse = (detail: string): never => {
  throw new UpstreamRefusal('invalid_response', detail);
};

const plain = (status: number, text: string, headers: Record<string, string> = {}): RedirectStep => ({
  type: 'response',
  response: new Response(text, { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers } }),
});

async function login(config: SamlUpstreamConfig, ctx: HandleContext): Promise<RedirectStep> {
  const md = await metadataOrRefuse(config);
  // xs:ID must not start with a digit.
  const requestId = `_${randomBytes(20).toString('hex')}`;
  const binding = randomBytes(32).toString('base64url');
  const location = await samlFor(config, md, ctx.issuerUrl, requestId).getAuthorizeUrlAsync('', undefined, {});
  await rememberRequest(ctx.store, config.id, requestId, binding, ctx.now());
  return { type: 'start', location, binding };
}

async function readSamlResponse(request: Request): Promise<string> {
  const type = request.headers.get('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) refuse('the ACS expects an HTTP-POST binding form');
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_ACS_BODY) refuse('the SAML response is too large');
  const body = await request.text();
  if (body.length > MAX_ACS_BODY) refuse('the SAML response is too large');
  const value = new URLSearchParams(body).get('SAMLResponse');
  if (!value) refuse('the POST carries no SAMLResponse');
  return value!;
}

async function acs(config: SamlUpstreamConfig, request: Request, ctx: HandleContext): Promise<RedirectStep> {
  const md = await metadataOrRefuse(config);
  const { entityId, acsUrl } = spUrls(config, ctx.issuerUrl);
  const samlResponse = await readSamlResponse(request);
  if (!/^[A-Za-z0-9+/=\s]+$/.test(samlResponse)) refuse('the SAMLResponse is not base64');
  const xml = Buffer.from(samlResponse, 'base64').toString('utf8');

  const envelope = inspectResponse(xml);
  if (envelope.sha1Algorithms.length > 0 && !config.allow_sha1) {
    refuse(`the response is signed with SHA-1 (${envelope.sha1Algorithms.join(', ')}); refused unless allow_sha1 is set`);
  }
  if (envelope.destination !== undefined && envelope.destination !== acsUrl) {
    refuse(`the response's Destination ${JSON.stringify(envelope.destination)} is not our ACS URL ${JSON.stringify(acsUrl)}`);
  }
  if (envelope.issuer !== undefined && envelope.issuer !== md.entityId) {
    refuse(`the response's Issuer ${JSON.stringify(envelope.issuer)} is not the IdP ${JSON.stringify(md.entityId)}`);
  }

  let verifiedXml: string;
  try {
    const { profile } = await samlFor(config, md, ctx.issuerUrl).validatePostResponseAsync({ SAMLResponse: samlResponse });
    const assertionXml = profile?.getAssertionXml?.();
    if (!assertionXml) refuse('the response carries no signed assertion');
    verifiedXml = assertionXml!;
  } catch (e) {
    if (e instanceof UpstreamRefusal) throw e;
    if (e instanceof SamlStatusError) refuse(`the IdP answered: ${e.message}`);
    refuse(`signature or condition check failed: ${(e as Error).message}`);
  }

  const now = ctx.now();
  const assertion = readAssertion(verifiedXml!);
  const accepted = checkAssertion(assertion, { idpEntityId: md.entityId, spEntityId: entityId, acsUrl, skewMs: config.clock_skew * 1000, now });

  const requestId = accepted.inResponseTo ?? envelope.inResponseTo;
  if (accepted.inResponseTo && envelope.inResponseTo && accepted.inResponseTo !== envelope.inResponseTo) {
    refuse('the response and its assertion answer different requests (InResponseTo differs)');
  }
  if (!requestId) refuse('unsolicited response (IdP-initiated, no InResponseTo): refused; start the sign-in at Kubegate');

  // The replay cache first: a response seen before is named a replay even
  // though its request was consumed by the first use.
  if (!(await firstUse(ctx.store, config.id, assertion.id!, accepted.usableUntil, now))) {
    refuse(`replayed assertion ${assertion.id!.slice(0, 80)}: it was already used to sign in`);
  }
  const binding = await takeRequest(ctx.store, config.id, requestId!, now);
  if (binding === undefined) refuse(`InResponseTo ${requestId!.slice(0, 80)} is no pending request of ours (never sent, expired, or already answered)`);

  const identity = finalizeIdentity(config, mapAttributes(assertion, config));
  const signIn: UpstreamSignIn = {
    identity,
    amr: amrFor(assertion.authnContextClassRef),
    acr: assertion.authnContextClassRef,
    authTime: accepted.authTime,
    recheckState: null,
  };
  ctx.log.info('saml assertion accepted', { upstream: config.id, assertion_id: assertion.id, subject: identity.subject });
  return { type: 'signed_in', signIn, binding: binding! };
}

function metadata(config: SamlUpstreamConfig, ctx: HandleContext): RedirectStep {
  const { entityId, acsUrl } = spUrls(config, ctx.issuerUrl);
  const xml = generateServiceProviderMetadata({
    issuer: entityId,
    callbackUrl: acsUrl,
    identifierFormat: config.name_id_format,
    wantAssertionsSigned: config.want_assertions_signed,
  });
  return {
    type: 'response',
    response: new Response(xml, { status: 200, headers: { 'content-type': 'application/samlmetadata+xml; charset=utf-8', 'cache-control': 'no-cache' } }),
  };
}

// Origins for CSP form-action: where the login redirect sends the browser.
const originsCache = new WeakMap<SamlUpstreamConfig, string[]>();
function ssoOrigins(config: SamlUpstreamConfig): string[] {
  const cached = originsCache.get(config);
  if (cached) return cached;
  const origins = new Set<string>();
  try {
    if (config.idp_metadata !== undefined) origins.add(new URL(parseIdpMetadata(config.idp_metadata).ssoRedirectUrl).origin);
    else if (config.idp_metadata_file !== undefined) origins.add(new URL(parseIdpMetadata(readFileSync(config.idp_metadata_file, 'utf8')).ssoRedirectUrl).origin);
    // A fetched document is not at hand synchronously; Okta and Entra ID serve metadata and SSO from one origin.
    else origins.add(new URL(config.idp_metadata_url!).origin);
  } catch {
    return [];
  }
  const list = [...origins];
  originsCache.set(config, list);
  return list;
}

export const samlConnector: RedirectConnector<SamlUpstreamConfig> = {
  type: 'saml',
  schema: SamlUpstreamSchema,
  flow: 'redirect',
  presentation: (config) => ({ kind: 'button', label: config.display_name ?? config.id }),
  formActionOrigins: ssoOrigins,
  async handle(config, action, request, ctx) {
    switch (action) {
      case 'login':
        if (request.method !== 'GET') return plain(405, 'method not allowed', { allow: 'GET' });
        return login(config, ctx);
      case 'acs':
        if (request.method !== 'POST') return plain(405, 'method not allowed', { allow: 'POST' });
        return acs(config, request, ctx);
      case 'metadata':
        if (request.method !== 'GET') return plain(405, 'method not allowed', { allow: 'GET' });
        return metadata(config, ctx);
      default:
        return plain(404, 'not found');
    }
  },
  // SAML has no way to ask the IdP about a person later: the session's absolute lifetime applies.
  recheck: async () => ({ status: 'not_supported' }),
};
