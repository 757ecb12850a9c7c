import { z } from 'zod';
import { duration, LOOPBACK_HOSTS } from '../../config/fields';
import { upstreamBase } from '../base';

export const NAMEID_PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

/** The IdP's metadata URL: https, or http on loopback (tests, a local IdP). */
const metadataUrl = z.string().superRefine((raw, ctx) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute https URL' });
    return;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    ctx.addIssue({ code: 'custom', message: 'must be an https URL (the signing certificate is pinned from it; http only on localhost)' });
  }
});

const attributeName = z.string().trim().min(1).max(512);

export const SamlUpstreamSchema = z
  .strictObject({
    ...upstreamBase,
    type: z.literal('saml'),
    /** Exactly one source of the IdP's metadata (entityID, SSO URL, signing certificates). */
    idp_metadata_url: metadataUrl.optional(),
    idp_metadata_file: z.string().min(1).optional(),
    idp_metadata: z.string().trim().startsWith('<', 'must be the IdP metadata XML').optional(),
    /** Bound on fetching idp_metadata_url. */
    idp_metadata_timeout: duration('idp_metadata_timeout', 1, 120).default(10),
    /** Our entity id; default `<issuer.url>/api/upstream/<id>/metadata`. */
    sp_entity_id: z.string().trim().min(1).max(1024).optional(),
    /** The NameID format asked for in the AuthnRequest. */
    name_id_format: z.string().trim().min(1).default(NAMEID_PERSISTENT),
    /** The stable subject: the persistent NameID (default), or this attribute (e.g. Entra's objectidentifier). */
    subject_attribute: attributeName.optional(),
    /** Default: the NameID value. */
    username_attribute: attributeName.optional(),
    email_attribute: attributeName.default('email'),
    name_attribute: attributeName.default('displayName'),
    /** A multi-valued attribute. */
    groups_attribute: attributeName.default('groups'),
    /** Require the assertion itself signed; otherwise a signed assertion or a signed response will do. */
    want_assertions_signed: z.boolean().default(false),
    /** RSA-SHA1 signatures and SHA-1 digests are refused unless this is set. */
    allow_sha1: z.boolean().default(false),
    /** Tolerated clock difference for NotBefore/NotOnOrAfter. */
    clock_skew: duration('clock_skew', 0, 300).default(60),
    /** Ask the IdP to authenticate again even with a session there. */
    force_authn: z.boolean().default(false),
    /** AuthnContextClassRefs to request (Comparison "minimum"); omitted: none requested. */
    authn_context: z.array(z.string().trim().min(1)).min(1).optional(),
  })
  .refine(
    (c) => [c.idp_metadata_url, c.idp_metadata_file, c.idp_metadata].filter((v) => v !== undefined).length === 1,
    { message: 'give exactly one of "idp_metadata_url", "idp_metadata_file" or "idp_metadata" (inline XML)' },
  );

export type SamlUpstreamConfig = z.infer<typeof SamlUpstreamSchema>;
