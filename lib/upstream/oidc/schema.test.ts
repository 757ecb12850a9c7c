import { describe, expect, it } from 'vitest';
import { OidcUpstreamSchema } from './schema';

const base = { id: 'corp', type: 'oidc', issuer: 'https://idp.example.com', client_id: 'kubegate' };

const problems = (input: unknown) => {
  const r = OidcUpstreamSchema.safeParse(input);
  if (r.success) return [];
  return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('OidcUpstreamSchema', () => {
  it('fills the defaults', () => {
    expect(OidcUpstreamSchema.parse(base)).toEqual({
      ...base,
      username_prefix: '',
      groups_prefix: '',
      recheck_interval: 300,
      recheck_grace: 900,
      mfa_amr_values: ['mfa'],
      mfa_acr_values: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scopes: [],
      username_claim: 'preferred_username',
      groups_claim: 'groups',
      groups_source: 'auto',
      required_claims: {},
      http_timeout: 10,
      allow_insecure_http: false,
    });
  });

  it('takes every claim rule', () => {
    const parsed = OidcUpstreamSchema.parse({
      ...base,
      groups_claim: 'realm_access.roles',
      username_claim: 'https://example.com/login',
      groups_source: 'userinfo',
      required_claims: { email_verified: true, hd: ['example.com', 'example.org'], 'org.tier': 3 },
      group_allowlist: ['k8s-*'],
      entra_overage: {},
      http_timeout: '5s',
    });
    expect(parsed.required_claims).toEqual({ email_verified: true, hd: ['example.com', 'example.org'], 'org.tier': 3 });
    expect(parsed.entra_overage).toEqual({ graph_url: 'https://graph.microsoft.com', group_name: 'id' });
    expect(parsed.http_timeout).toBe(5);
  });

  it('reports every bad field at once, by path', () => {
    expect(
      problems({
        ...base,
        issuer: 'http://idp.example.com',
        groups_source: 'access_token',
        required_claims: { email_verified: { is: true }, hd: [] },
        entra_overage: { graph_url: 'http://graph.example', extra: 1 },
        username_claim: '',
        http_timeout: '2h',
      }),
    ).toEqual(
      expect.arrayContaining([
        'issuer: must be an https URL (set allow_insecure_http: true only for a lab)',
        expect.stringMatching(/^groups_source: /),
        expect.stringMatching(/^required_claims\.email_verified: /),
        'required_claims.hd: must accept at least one value',
        expect.stringMatching(/^entra_overage: .*extra/),
        'username_claim: must name a claim',
        expect.stringMatching(/^http_timeout: must be between 1s and 60s/),
      ]),
    );
  });

  it('refuses an http Graph URL unless the lab flag is set', () => {
    expect(problems({ ...base, entra_overage: { graph_url: 'http://127.0.0.1:9/graph' } })).toEqual([
      'entra_overage.graph_url: must be an https URL (set allow_insecure_http: true only for a lab)',
    ]);
    expect(problems({ ...base, issuer: 'http://127.0.0.1:9', allow_insecure_http: true, entra_overage: { graph_url: 'http://127.0.0.1:9/graph' } })).toEqual([]);
    expect(problems({ ...base, entra_overage: { graph_url: 'https://graph.example/?x=1' } })).toEqual(['entra_overage.graph_url: must not carry a query or fragment']);
  });

  it('is strict: a typo is an error, not a silently ignored rule', () => {
    expect(problems({ ...base, required_claim: { hd: 'example.com' } })).toEqual([expect.stringContaining('required_claim')]);
  });
});
