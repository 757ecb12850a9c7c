import { describe, expect, it } from 'vitest';
import { basicAuth, parseTestConfig } from '../../test/support/fixtures';
import { authenticateClient, clientsFromConfig, parseBasic, type OAuthClient } from './client-auth';
import { InvalidClientError, InvalidRequestError, OAuthError } from './errors';

const clients = new Map<string, OAuthClient>([
  ['kubernetes', { clientId: 'kubernetes', cluster: 'prod', allowedGroups: [] }],
  ['staging', { clientId: 'staging', clientSecret: 's3cret +/%=', cluster: 'staging', allowedGroups: [] }],
  ['a:b', { clientId: 'a:b', clientSecret: 'lab secret', cluster: 'lab', allowedGroups: [] }],
]);

const b64 = (s: string) => 'Basic ' + Buffer.from(s).toString('base64');

describe('parseBasic', () => {
  it.each([
    ['kubectl, public client', basicAuth('kubernetes'), 'kubernetes', ''],
    ['literal "kubernetes:"', b64('kubernetes:'), 'kubernetes', ''],
    ['a urlencoded colon in the id', b64('a%3Ab:lab+secret'), 'a:b', 'lab secret'],
    ['"+" is a space', b64('x:a+b'), 'x', 'a b'],
    ['"%2B" is a plus', b64('x:a%2Bb'), 'x', 'a+b'],
    ['a raw colon in the secret', b64('x:a:b'), 'x', 'a:b'],
    ['utf-8', b64('x:p%C3%A4ss'), 'x', 'päss'],
    ['lower-case scheme, extra spaces', 'basic   ' + Buffer.from('x:y').toString('base64') + ' ', 'x', 'y'],
    ['unpadded base64', 'Basic ' + Buffer.from('ab:c').toString('base64').replace(/=+$/, ''), 'ab', 'c'],
  ])('%s', (_, header, clientId, secret) => {
    expect(parseBasic(header)).toEqual({ clientId, secret });
  });

  it.each([
    ['no credentials', 'Basic '],
    ['not base64', 'Basic !!!notbase64'],
    ['url-safe base64 alphabet', 'Basic ' + Buffer.from('??>:x').toString('base64url')],
    ['no colon', b64('kubernetes')],
    ['bad percent escape', b64('x:%zz')],
    ['truncated percent escape', b64('x%:y')],
    ['two tokens', 'Basic a2Vy b3Jr'],
    ['another scheme', 'Bearer abc'],
  ])('rejects %s as a malformed header (invalid_client, with a challenge)', (_, header) => {
    let err: unknown;
    try {
      parseBasic(header);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidClientError);
    expect(err).toMatchObject({ error: 'invalid_client', status: 401, headers: { 'www-authenticate': 'Basic realm="kubegate"' } });
  });
});

describe('authenticateClient', () => {
  type Form = { client_id?: string; client_secret?: string };
  const ok: Array<[string, string | undefined, Form, string]> = [
    ["kubectl's first try for a public client: Basic kubernetes:", basicAuth('kubernetes'), {}, 'prod'],
    ["kubectl's retry for a public client: client_id in the form", undefined, { client_id: 'kubernetes' }, 'prod'],
    ['public client with an empty client_secret in the form', undefined, { client_id: 'kubernetes', client_secret: '' }, 'prod'],
    ['Basic with a matching client_id in the form', basicAuth('kubernetes'), { client_id: 'kubernetes' }, 'prod'],
    ['confidential client, Basic with a form-encoded secret', basicAuth('staging', 's3cret +/%='), {}, 'staging'],
    ["confidential client, kubectl's retry with the secret in the form", undefined, { client_id: 'staging', client_secret: 's3cret +/%=' }, 'staging'],
    ['urlencoded id and secret: a%3Ab / lab+secret', b64('a%3Ab:lab+secret'), {}, 'lab'],
    ['urlencoded id, %20 for the space', b64('a%3Ab:lab%20secret'), {}, 'lab'],
  ];
  it.each(ok)('accepts %s', (_, authorization, form, cluster) => {
    expect(authenticateClient(authorization, form, clients).cluster).toBe(cluster);
  });

  const bad: Array<[string, string | undefined, Form, 'invalid_request' | 'invalid_client', boolean]> = [
    ['Basic and a client_secret in the form', basicAuth('staging', 's3cret +/%='), { client_secret: 's3cret +/%=' }, 'invalid_request', false],
    ['Basic and an empty client_secret in the form', basicAuth('kubernetes'), { client_secret: '' }, 'invalid_request', false],
    ['Basic id and form client_id differ', basicAuth('kubernetes'), { client_id: 'staging' }, 'invalid_request', false],
    ['wrong secret via Basic', basicAuth('staging', 'wrong'), {}, 'invalid_client', true],
    ['wrong secret via the form', undefined, { client_id: 'staging', client_secret: 'wrong' }, 'invalid_client', false],
    ['missing secret via Basic', basicAuth('staging'), {}, 'invalid_client', true],
    ['missing secret via the form', undefined, { client_id: 'staging' }, 'invalid_client', false],
    ['a secret that is a prefix of the right one', basicAuth('staging', 's3cret'), {}, 'invalid_client', true],
    ['a raw "+" where a space was meant', b64('a%3Ab:lab%2Bsecret'), {}, 'invalid_client', true],
    ['public client given a secret via Basic', basicAuth('kubernetes', 'guess'), {}, 'invalid_client', true],
    ['public client given a secret via the form', undefined, { client_id: 'kubernetes', client_secret: 'guess' }, 'invalid_client', false],
    ['unknown client via Basic', basicAuth('nobody'), {}, 'invalid_client', true],
    ['unknown client via the form', undefined, { client_id: 'nobody' }, 'invalid_client', false],
    ['client id differing only in case', basicAuth('Kubernetes'), {}, 'invalid_client', true],
    ['no client authentication at all', undefined, {}, 'invalid_client', false],
    ['malformed base64', 'Basic %%%', {}, 'invalid_client', true],
    ['a Bearer header', 'Bearer abc', {}, 'invalid_client', true],
  ];
  it.each(bad)('refuses %s', (_, authorization, form, error, challenge) => {
    let err: unknown;
    try {
      authenticateClient(authorization, form, clients);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OAuthError);
    const e = err as OAuthError;
    expect(e.error).toBe(error);
    if (error === 'invalid_request') {
      expect(e).toBeInstanceOf(InvalidRequestError);
      expect(e.status).toBe(400);
    } else {
      // RFC 6749 §5.2: 401, and a challenge only for a client that tried Basic.
      expect(e.status).toBe(401);
      expect(e.headers['www-authenticate']).toBe(challenge ? 'Basic realm="kubegate"' : undefined);
    }
    // Never echo a secret back.
    expect(e.description).not.toMatch(/s3cret|wrong|guess/);
  });
});

describe('clientsFromConfig', () => {
  const yaml = `
issuer:
  url: https://kubegate.example.com
storage:
  sqlite:
    path: unused.db
clusters:
  - name: prod
    server: https://prod.example.com
    client_id: kubernetes
    allowed_groups: [ops]
clients:
  - client_id: headlamp
    cluster: prod
    redirect_uris: [https://headlamp.example.com/oidc-callback]
  - client_id: lens
    cluster: prod
    native: true
    client_secret: lens-secret
`;

  it("makes each cluster's client_id a native public client and maps extra clients to their cluster's audience", async () => {
    const clients = clientsFromConfig(parseTestConfig(yaml));
    expect(clients.get('kubernetes')).toMatchObject({ cluster: 'prod', audience: 'kubernetes', native: true, redirectUris: [], allowedGroups: ['ops'] });
    expect(clients.get('headlamp')).toMatchObject({ cluster: 'prod', audience: 'kubernetes', native: false, redirectUris: ['https://headlamp.example.com/oidc-callback'] });
    expect(clients.get('headlamp')!.clientSecret).toBeUndefined();
    expect(clients.get('lens')).toMatchObject({ native: true, clientSecret: 'lens-secret', allowedGroups: ['ops'] });
  });

  it.each([
    ['an unknown cluster', 'clients:\n  - client_id: x\n    cluster: nope\n', /clients\[0\]\.cluster: no cluster is named "nope"/],
    ["a cluster's client_id", 'clients:\n  - client_id: kubernetes\n    cluster: prod\n', /clients\[0\]\.client_id: duplicate client_id/],
    ['a redirect URI with a fragment', 'clients:\n  - client_id: x\n    cluster: prod\n    redirect_uris: ["https://a.example/cb#f"]\n', /fragment/],
    ['a relative redirect URI', 'clients:\n  - client_id: x\n    cluster: prod\n    redirect_uris: [/cb]\n', /absolute URL/],
  ])('refuses %s in clients', async (_, extra, message) => {
    const base = yaml.slice(0, yaml.indexOf('clients:'));
    expect(() => parseTestConfig(base + extra)).toThrow(message);
  });
});
