import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKeyPair } from '../../../test/support/saml-idp';
import { IdpMetadataError, loadIdpMetadata, parseIdpMetadata } from './idp-metadata';

const keys = makeKeyPair();
const other = makeKeyPair('second');
const body = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s/g, '');

const md = (opts: { use?: string | null; certs?: string[]; binding?: string; entityId?: string; wrap?: boolean; location?: string } = {}) => {
  const use = opts.use === null ? '' : ` use="${opts.use ?? 'signing'}"`;
  const kd = (opts.certs ?? [body(keys.certPem)])
    .map((c) => `<md:KeyDescriptor${use}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>\n${c.match(/.{1,64}/g)!.join('\n')}\n</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`)
    .join('');
  const entity =
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${opts.entityId ?? 'https://idp.test/entity'}">` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${kd}` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.test/post"/>` +
    `<md:SingleSignOnService Binding="${opts.binding ?? 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect'}" Location="${opts.location ?? 'https://idp.test/sso'}"/>` +
    `</md:IDPSSODescriptor></md:EntityDescriptor>`;
  return opts.wrap ? `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">${entity}</md:EntitiesDescriptor>` : entity;
};

describe('parseIdpMetadata', () => {
  it('takes the entityID, the HTTP-Redirect SSO URL and the signing certificates', () => {
    const m = parseIdpMetadata(md({ certs: [body(keys.certPem), body(other.certPem)] }));
    expect(m.entityId).toBe('https://idp.test/entity');
    expect(m.ssoRedirectUrl).toBe('https://idp.test/sso');
    expect(m.signingCerts).toHaveLength(2);
    expect(m.signingCerts[0]).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(body(m.signingCerts[0]!)).toBe(body(keys.certPem));
  });

  it('counts a KeyDescriptor without use as signing, and skips encryption keys', () => {
    expect(parseIdpMetadata(md({ use: null })).signingCerts).toHaveLength(1);
    expect(() => parseIdpMetadata(md({ use: 'encryption' }))).toThrow(/no signing certificate/);
  });

  it('reads one IdP out of an EntitiesDescriptor', () => {
    expect(parseIdpMetadata(md({ wrap: true })).entityId).toBe('https://idp.test/entity');
  });

  it.each([
    ['no redirect binding', md({ binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST' }), /HTTP-Redirect/],
    ['a certificate that is not X.509', md({ certs: ['AAAA'] }), /does not parse/],
    ['not XML', 'hello', /not well-formed|EntityDescriptor/],
    ['a DOCTYPE', `<!DOCTYPE x [<!ENTITY e "e">]>${md()}`, /DOCTYPE/],
    ['no entityID', md({ entityId: '' }), /no entityID/],
    ['a javascript: SSO URL', md({ location: 'javascript:alert(1)' }), /not an http\(s\) URL/],
    ['an SP descriptor', '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><md:SPSSODescriptor/></md:EntityDescriptor>', /IDPSSODescriptor/],
  ])('refuses %s', (_what, xml, message) => {
    expect(() => parseIdpMetadata(xml)).toThrow(IdpMetadataError);
    expect(() => parseIdpMetadata(xml)).toThrow(message);
  });
});

describe('loadIdpMetadata', () => {
  let url = '';
  let slowUrl = '';
  const server = createServer((req, res) => {
    if (req.url === '/slow') return; // never answers
    if (req.url === '/missing') {
      res.writeHead(404);
      return res.end();
    }
    res.end(md());
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    url = `${base}/md`;
    slowUrl = `${base}/slow`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('reads inline XML, a file, or a URL', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'saml-md-')), 'idp.xml');
    fs.writeFileSync(file, md());
    for (const source of [{ idp_metadata: md() }, { idp_metadata_file: file }, { idp_metadata_url: url }]) {
      expect((await loadIdpMetadata({ ...source, idp_metadata_timeout: 5 })).entityId).toBe('https://idp.test/entity');
    }
  });

  it('gives up on a URL that does not answer within the timeout, saying so', async () => {
    const started = Date.now();
    await expect(loadIdpMetadata({ idp_metadata_url: slowUrl, idp_metadata_timeout: 1 })).rejects.toThrow(/no answer within 1s/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('names an HTTP error and a missing file', async () => {
    await expect(loadIdpMetadata({ idp_metadata_url: url.replace('/md', '/missing'), idp_metadata_timeout: 5 })).rejects.toThrow(/HTTP 404/);
    await expect(loadIdpMetadata({ idp_metadata_file: '/nonexistent/idp.xml', idp_metadata_timeout: 5 })).rejects.toThrow(/ENOENT/);
  });
});
