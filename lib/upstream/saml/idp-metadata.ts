import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DOMParser } from '@xmldom/xmldom';

export const MD_NS = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS_NS = 'http://www.w3.org/2000/09/xmldsig#';
const SAML2_PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';
export const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';

/** What we take from the IdP's metadata, and nothing else. */
export interface IdpMetadata {
  entityId: string;
  /** SingleSignOnService with the HTTP-Redirect binding. */
  ssoRedirectUrl: string;
  /** PEM certificates from the signing KeyDescriptors: the only keys a response may be signed with. */
  signingCerts: string[];
}

export class IdpMetadataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdpMetadataError';
  }
}

function children(parent: Element, ns: string, localName: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === localName) out.push(n as Element);
  }
  return out;
}

function descendants(parent: Element, ns: string, localName: string): Element[] {
  return Array.from(parent.getElementsByTagNameNS(ns, localName));
}

/** Parses IdP metadata (an EntityDescriptor, or an EntitiesDescriptor holding exactly one IdP). */
export function parseIdpMetadata(xml: string): IdpMetadata {
  if (/<!DOCTYPE/i.test(xml)) throw new IdpMetadataError('IdP metadata must not carry a DOCTYPE');
  const errors: string[] = [];
  const doc = new DOMParser({
    errorHandler: (level: string, msg: string) => {
      if (level !== 'warning') errors.push(msg);
    },
  }).parseFromString(xml, 'text/xml');
  const root = doc.documentElement;
  if (errors.length > 0 || !root) throw new IdpMetadataError(`IdP metadata is not well-formed XML${errors[0] ? `: ${errors[0]}` : ''}`);

  let entity: Element;
  if (root.namespaceURI === MD_NS && root.localName === 'EntityDescriptor') {
    entity = root;
  } else if (root.namespaceURI === MD_NS && root.localName === 'EntitiesDescriptor') {
    const idps = descendants(root, MD_NS, 'EntityDescriptor').filter((e) => children(e, MD_NS, 'IDPSSODescriptor').length > 0);
    if (idps.length !== 1) throw new IdpMetadataError(`IdP metadata lists ${idps.length} identity providers; give the one to use`);
    entity = idps[0]!;
  } else {
    throw new IdpMetadataError('IdP metadata must be an md:EntityDescriptor');
  }

  const entityId = entity.getAttribute('entityID')?.trim();
  if (!entityId) throw new IdpMetadataError('IdP metadata has no entityID');
  const idp = children(entity, MD_NS, 'IDPSSODescriptor').find((d) =>
    (d.getAttribute('protocolSupportEnumeration') ?? '').split(/\s+/).includes(SAML2_PROTOCOL),
  );
  if (!idp) throw new IdpMetadataError('IdP metadata has no IDPSSODescriptor supporting SAML 2.0');

  const sso = children(idp, MD_NS, 'SingleSignOnService').find((s) => s.getAttribute('Binding') === BINDING_REDIRECT);
  const ssoRedirectUrl = sso?.getAttribute('Location')?.trim();
  if (!ssoRedirectUrl) throw new IdpMetadataError('IdP metadata has no SingleSignOnService with the HTTP-Redirect binding');
  try {
    const u = new URL(ssoRedirectUrl);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error();
  } catch {
    throw new IdpMetadataError(`IdP metadata's SingleSignOnService Location is not an http(s) URL: ${ssoRedirectUrl.slice(0, 200)}`);
  }

  const signingCerts: string[] = [];
  for (const kd of children(idp, MD_NS, 'KeyDescriptor')) {
    const use = kd.getAttribute('use');
    // A KeyDescriptor without `use` is for both signing and encryption (SAML metadata §2.4.1.1).
    if (use && use !== 'signing') continue;
    for (const c of descendants(kd, DS_NS, 'X509Certificate')) {
      const b64 = (c.textContent ?? '').replace(/\s+/g, '');
      if (b64 === '') continue;
      signingCerts.push(toPem(b64));
    }
  }
  if (signingCerts.length === 0) throw new IdpMetadataError('IdP metadata has no signing certificate (KeyDescriptor use="signing" with an X509Certificate)');
  return { entityId, ssoRedirectUrl, signingCerts: [...new Set(signingCerts)] };
}

function toPem(b64: string): string {
  const pem = `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  try {
    new X509Certificate(pem);
  } catch {
    throw new IdpMetadataError('IdP metadata holds a signing certificate that does not parse as X.509');
  }
  return pem;
}

export interface MetadataSource {
  idp_metadata_url?: string;
  idp_metadata_file?: string;
  idp_metadata?: string;
  idp_metadata_timeout: number;
}

/** Reads the metadata from wherever the config says; a URL is fetched within the timeout. */
export async function loadIdpMetadata(source: MetadataSource, fetchImpl: typeof fetch = fetch): Promise<IdpMetadata> {
  if (source.idp_metadata !== undefined) return parseIdpMetadata(source.idp_metadata);
  if (source.idp_metadata_file !== undefined) {
    let xml: string;
    try {
      xml = await readFile(source.idp_metadata_file, 'utf8');
    } catch (e) {
      throw new IdpMetadataError(`cannot read idp_metadata_file ${source.idp_metadata_file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    return parseIdpMetadata(xml);
  }
  const url = source.idp_metadata_url!;
  let res: Response;
  try {
    res = await fetchImpl(url, { signal: AbortSignal.timeout(source.idp_metadata_timeout * 1000), redirect: 'error' });
  } catch (e) {
    const why = (e as Error).name === 'TimeoutError' ? `no answer within ${source.idp_metadata_timeout}s` : (e as Error).message;
    throw new IdpMetadataError(`cannot fetch idp_metadata_url ${url}: ${why}`);
  }
  if (!res.ok) throw new IdpMetadataError(`cannot fetch idp_metadata_url ${url}: HTTP ${res.status}`);
  const text = await res.text();
  if (text.length > 1_000_000) throw new IdpMetadataError(`idp_metadata_url ${url} answered more than 1 MB`);
  return parseIdpMetadata(text);
}
