import { describe, expect, it } from 'vitest';
import { SamlUpstreamSchema } from './schema';

const base = { id: 'corp', type: 'saml' };
const issues = (input: unknown) => {
  const r = SamlUpstreamSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('SamlUpstreamSchema', () => {
  it('fills safe defaults', () => {
    expect(SamlUpstreamSchema.parse({ ...base, idp_metadata_url: 'https://idp.test/md' })).toMatchObject({
      name_id_format: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
      want_assertions_signed: false,
      allow_sha1: false,
      clock_skew: 60,
      idp_metadata_timeout: 10,
      groups_attribute: 'groups',
      email_attribute: 'email',
      force_authn: false,
    });
  });

  it('wants exactly one metadata source', () => {
    expect(issues(base)).toEqual([expect.stringMatching(/exactly one of "idp_metadata_url", "idp_metadata_file" or "idp_metadata"/)]);
    expect(issues({ ...base, idp_metadata_url: 'https://idp.test/md', idp_metadata_file: '/etc/idp.xml' })).toHaveLength(1);
  });

  it('refuses a plain-http metadata URL except on loopback (the signing key is pinned from it)', () => {
    expect(issues({ ...base, idp_metadata_url: 'http://idp.test/md' })).toEqual([expect.stringMatching(/^idp_metadata_url: must be an https URL/)]);
    expect(issues({ ...base, idp_metadata_url: 'http://127.0.0.1:8080/md' })).toEqual([]);
  });

  it('names bad fields', () => {
    expect(issues({ ...base, idp_metadata: '<x/>', clock_skew: '1h', unknown: 1 })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^clock_skew: must be between/), expect.stringMatching(/unknown/i)]),
    );
  });
});
