import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FULL_CONFIG_YAML, LOCAL_PASSWORD_HASH, minimalYaml, TEST_CA_PEM } from '../../test/support/fixtures';
import { credentialSpec, kubeconfigYaml, renderAllShells } from '../portal/cluster-view';
import { ConfigError, formatPath, loadConfigFile, parseConfig, type ResolvedConfig } from './load';

/** server.* as documented in the README when nothing is set. */
const SERVER_DEFAULTS = {
  trust_proxy: false,
  timeouts: { headers: 10, body: 10, request: 30 },
  max_connections: 1000,
  token_rate_limit: { per_credential: { burst: 30, per_minute: 30 }, per_address_failures: { burst: 120, per_minute: 120 } },
  shutdown_grace: 10,
};

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-config-'));
  fs.writeFileSync(path.join(dir, 'ca.pem'), TEST_CA_PEM + '\n');
  fs.writeFileSync(path.join(dir, 'not-pem.txt'), 'just some text\n');
  fs.writeFileSync(
    path.join(dir, 'bundle-with-key.pem'),
    `${TEST_CA_PEM}\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n`,
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function parse(text: string, env: Record<string, string> = {}): ResolvedConfig {
  return parseConfig(text, { source: 'kubegate.yaml', env, baseDir: dir });
}

/** The problems a ConfigError lists, or fails the test when the text parses. */
function problemsOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    parse(text, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError, but the config parsed');
}

const cluster = (fields: string) => `  - {name: a, server: "https://a.example.com", client_id: a, ${fields}}\n`;
const localUpstream = 'upstreams:\n  - {id: local, type: local}\n';
const user = (name: string, hash = LOCAL_PASSWORD_HASH) => `  - {username: ${name}, password_hash: "${hash}"}\n`;

describe('parseConfig: the full example', () => {
  it('accepts every section and resolves files and env', () => {
    const c = parse(FULL_CONFIG_YAML, { STAGING_SECRET: 'from-env' });
    expect(c.issuer).toMatchObject({
      url: 'https://kubegate.example.com',
      id_token_lifetime: 120,
      refresh_idle_timeout: 1800,
      session_lifetime: 8 * 3600,
      refresh_reuse_grace: 5,
    });
    expect(c.signing).toEqual({ algorithm: 'ES256', rotation_period: 7 * 86400, jwks_max_age: 60, publish_ahead: 15 * 60 });
    expect(c.secrets).toEqual({});
    expect(c.storage).toEqual({ sqlite: { path: path.join(dir, 'state/kubegate.db'), synchronous: 'normal', busy_timeout: 3 } });
    expect(c.server).toEqual({ ...SERVER_DEFAULTS, trust_proxy: true });
    expect(c.clusters.map((x) => x.name)).toEqual(['prod', 'staging']);
    const [prod, staging] = c.clusters;
    expect(prod).toMatchObject({
      display_name: 'Production',
      server: 'https://prod.k8s.example.com:6443',
      client_id: 'kubernetes',
      default_namespace: 'apps',
      allowed_groups: ['ops', 'sre'],
      ca_pem: TEST_CA_PEM + '\n',
    });
    expect(prod!.client_secret).toBeUndefined();
    expect(staging).toMatchObject({ client_id: 'staging', client_secret: 'from-env', ca_pem: TEST_CA_PEM + '\n', default_namespace: 'default', allowed_groups: [] });
    expect(c.upstreams).toEqual([
      expect.objectContaining({ id: 'corp', type: 'oidc', username_claim: 'email', groups_claim: 'roles', username_prefix: 'corp:', allow_insecure_http: false }),
      expect.objectContaining({ id: 'local', type: 'local', username_prefix: '', groups_prefix: '' }),
    ]);
    expect(c.users).toEqual([
      { username: 'alice', email: 'alice@example.com', name: 'Alice Admin', password_hash: LOCAL_PASSWORD_HASH, groups: ['ops'] },
    ]);
    expect(c.branding).toEqual({ title: 'Example Corp Kubernetes', tagline: 'Sign in to get a kubeconfig.' });
  });

  it('fills in the defaults: 60 s id_token, 15 min idle, 12 h session, 1 h web idle, 10 s grace, RS256', () => {
    const c = parse(minimalYaml());
    expect(c.issuer).toEqual({
      url: 'https://kubegate.example.com',
      id_token_lifetime: 60,
      refresh_idle_timeout: 15 * 60,
      session_lifetime: 12 * 3600,
      web_session_idle_timeout: 3600,
      refresh_reuse_grace: 10,
    });
    expect(c.signing).toEqual({ algorithm: 'RS256', rotation_period: 30 * 86400, jwks_max_age: 60, publish_ahead: 15 * 60 });
    expect(c.storage).toEqual({ sqlite: { path: path.join(dir, 'kubegate.db'), synchronous: 'full', busy_timeout: 3 } });
    expect(c.audit).toEqual({ retention: 90 * 86400, stdout: true });
    expect(c.server).toEqual(SERVER_DEFAULTS);
    expect(c.log).toEqual({ access: true });
    expect(c.branding).toEqual({ title: 'Kubegate' });
    expect([c.clusters, c.upstreams, c.users]).toEqual([[], [], []]);
  });

  it.each([
    ['a short max-age, which allows a short publish_ahead', 'jwks_max_age: 5s, publish_ahead: 20s', { jwks_max_age: 5, publish_ahead: 20 }],
    ['a short max-age alone: publish_ahead keeps its 15 min default', 'jwks_max_age: 1s', { jwks_max_age: 1, publish_ahead: 15 * 60 }],
    // 15 min would be shorter than the cache: the default becomes the minimum instead of an error for a field nobody set.
    ['a max-age of an hour alone: publish_ahead defaults to its minimum', 'jwks_max_age: 1h', { jwks_max_age: 3600, publish_ahead: 3600 + 15 }],
    ['the bounds of jwks_max_age', 'jwks_max_age: 1h, publish_ahead: 1h1m', { jwks_max_age: 3600, publish_ahead: 3660 }],
  ])('accepts signing with %s', (_, yaml, expected) => {
    expect(parse(minimalYaml(`signing: {${yaml}}\n`)).signing).toEqual({ algorithm: 'RS256', rotation_period: 30 * 86400, ...expected });
  });

  it('defaults storage to an SQLite file kubegate.db beside the config file', () => {
    const c = parse('issuer: {url: "https://kubegate.example.com"}\n');
    expect(c.storage).toEqual({ sqlite: { path: path.join(dir, 'kubegate.db'), synchronous: 'full', busy_timeout: 3 } });
  });

  it.each([
    ['true (one proxy)', 'true', true],
    ['a hop count', '2', 2],
    ['a list of proxies', '[10.0.0.0/8, "2001:db8::/32", loopback, 192.0.2.5]', ['10.0.0.0/8', '2001:db8::/32', 'loopback', '192.0.2.5']],
  ])('accepts server.trust_proxy as %s', (_, yaml, value) => {
    expect(parse(minimalYaml(`server: {trust_proxy: ${yaml}}\n`)).server.trust_proxy).toEqual(value);
  });

  it('takes server timeouts as durations and fills in what is not given', () => {
    const c = parse(minimalYaml('server:\n  timeouts: {headers: 5s}\n  token_rate_limit: {per_credential: {burst: 100}}\n'));
    expect(c.server.timeouts).toEqual({ headers: 5, body: 10, request: 30 });
    expect(c.server.token_rate_limit).toEqual({ per_credential: { burst: 100, per_minute: 30 }, per_address_failures: { burst: 120, per_minute: 120 } });
  });

  it('defaults a cluster to namespace "default", to every signed-in user, and to no group mappings or extra groups', () => {
    const c = parse(minimalYaml('clusters:\n' + cluster('')));
    expect(c.clusters[0]).toEqual({ name: 'a', server: 'https://a.example.com', client_id: 'a', default_namespace: 'default', allowed_groups: [], group_mappings: {}, extra_groups: [], require_mfa: false });
  });

  it.each([
    ['http on localhost', 'http://localhost:3000'],
    ['http on 127.0.0.1', 'http://127.0.0.1:8080'],
    ['http on [::1]', 'http://[::1]:3000'],
    ['https with a port', 'https://kubegate.example.com:8443'],
  ])('accepts an issuer %s', (_, url) => {
    expect(parse(minimalYaml().replace('https://kubegate.example.com', url)).issuer.url).toBe(url);
  });

  it.each([
    ['a string of seconds', '"90"', 90],
    ['a bare number', 90, 90],
    ['combined units', '1m30s', 90],
    ['minutes', '5m', 300],
    ['zero', '0s', 0],
  ])('reads a duration given as %s', (_, value, seconds) => {
    const c = parse(minimalYaml().replace('issuer:\n', `issuer:\n  refresh_reuse_grace: ${value}\n`));
    expect(c.issuer.refresh_reuse_grace).toBe(seconds);
  });
});

describe('parseConfig: every error names the bad path', () => {
  const cases: Array<{ name: string; yaml: string; expected: string[] }> = [
    // Structure and unknown keys: a typo must not silently switch a setting off.
    { name: 'unknown top-level key', yaml: minimalYaml('clustres: []\n'), expected: ['clustres: unknown key'] },
    { name: 'unknown key in issuer', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  foo: 1\n'), expected: ['issuer.foo: unknown key'] },
    { name: 'unknown key in a cluster', yaml: minimalYaml('clusters:\n' + cluster('insecure_skip_tls_verify: true')), expected: ['clusters[0].insecure_skip_tls_verify: unknown key'] },
    { name: 'unknown key in storage.sqlite', yaml: minimalYaml('    journal: wal\n'), expected: ['storage.sqlite.journal: unknown key'] },
    { name: 'two unknown keys, each named', yaml: minimalYaml('foo: 1\nbar: 2\n'), expected: ['foo: unknown key', 'bar: unknown key'] },
    { name: 'issuer missing', yaml: 'storage: {sqlite: {path: x.db}}\n', expected: ['issuer: '] },
    { name: 'issuer.url missing', yaml: 'issuer: {}\nstorage: {sqlite: {path: x.db}}\n', expected: ['issuer.url: '] },
    { name: 'storage with neither backend', yaml: 'issuer: {url: "https://kubegate.example.com"}\nstorage: {}\n', expected: ['storage: give exactly one of "sqlite" or "postgres"'] },
    { name: 'storage with both backends', yaml: minimalYaml('  postgres: {url: "postgres://db/kubegate"}\n'), expected: ['storage: give exactly one of "sqlite" or "postgres"'] },
    { name: 'postgres URL of another scheme', yaml: 'issuer: {url: "https://kubegate.example.com"}\nstorage: {postgres: {url: "mysql://db"}}\n', expected: ['storage.postgres.url: must be a postgres:// URL'] },
    { name: 'sqlite synchronous off', yaml: minimalYaml('    synchronous: "off"\n'), expected: ['storage.sqlite.synchronous: '] },
    { name: 'sqlite busy_timeout too long', yaml: minimalYaml('    busy_timeout: 2m\n'), expected: ['storage.sqlite.busy_timeout: must be between 0s and 30s (got 120s)'] },
    { name: 'sqlite busy_timeout not a duration', yaml: minimalYaml('    busy_timeout: soon\n'), expected: ['storage.sqlite.busy_timeout: must be a duration'] },
    { name: 'sqlite watermark_file empty', yaml: minimalYaml('    watermark_file: ""\n'), expected: ['storage.sqlite.watermark_file: '] },
    { name: 'audit retention under a day', yaml: minimalYaml('audit: {retention: 1h}\n'), expected: ['audit.retention: must be between 86400s and 315360000s (got 3600s)'] },
    { name: 'unknown key in audit', yaml: minimalYaml('audit: {keep: 1d}\n'), expected: ['audit.keep: unknown key'] },
    { name: 'clusters not a list', yaml: minimalYaml('clusters: {a: 1}\n'), expected: ['clusters: '] },
    { name: 'signing algorithm HS256', yaml: minimalYaml('signing: {algorithm: HS256}\n'), expected: ['signing.algorithm: '] },

    // The issuer URL: kube-apiserver compares it as a string and accepts only https.
    { name: 'http issuer on a public host', yaml: minimalYaml().replace('https://kubegate', 'http://kubegate'), expected: ['issuer.url: must be an https URL'] },
    { name: 'http issuer on a host that starts with localhost', yaml: minimalYaml().replace('https://kubegate.example.com', 'http://localhost.example.com'), expected: ['issuer.url: must be an https URL'] },
    { name: 'issuer with a trailing slash', yaml: minimalYaml().replace('example.com', 'example.com/'), expected: ["issuer.url: must not end with '/'"] },
    { name: 'issuer with a path', yaml: minimalYaml().replace('example.com', 'example.com/kubegate'), expected: ['issuer.url: must have no path'] },
    { name: 'issuer with a path and trailing slash', yaml: minimalYaml().replace('example.com', 'example.com/kubegate/'), expected: ['issuer.url: must not end with'] },
    { name: 'issuer with a query', yaml: minimalYaml().replace('example.com', 'example.com?x=1'), expected: ['issuer.url: must not carry a query or fragment'] },
    // Regression: an empty "?" or "#" parses to an empty search/hash but would end up in every endpoint URL.
    { name: 'issuer ending in a bare "?"', yaml: minimalYaml().replace('example.com', 'example.com?'), expected: ['issuer.url: must not carry a query or fragment'] },
    { name: 'issuer ending in a bare "#"', yaml: minimalYaml().replace('https://kubegate.example.com', '"https://kubegate.example.com#"'), expected: ['issuer.url: must not carry a query or fragment'] },
    { name: 'issuer with credentials', yaml: minimalYaml().replace('https://', 'https://user:pw@'), expected: ['issuer.url: must not carry credentials'] },
    { name: 'issuer not a URL', yaml: minimalYaml().replace('https://kubegate.example.com', 'kubegate.example.com'), expected: ['issuer.url: must be an absolute URL'] },

    // Durations.
    { name: 'duration with an unknown unit', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  id_token_lifetime: 60x\n'), expected: ['issuer.id_token_lifetime: must be a duration such as'] },
    { name: 'fractional duration', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  id_token_lifetime: 1.5\n'), expected: ['issuer.id_token_lifetime: must be a duration such as'] },
    { name: 'negative duration', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  refresh_reuse_grace: -5\n'), expected: ['issuer.refresh_reuse_grace: must be a duration such as'] },
    { name: 'empty duration', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  session_lifetime: ""\n'), expected: ['issuer.session_lifetime: must be a duration such as'] },
    { name: 'duration of the wrong type', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  id_token_lifetime: [60]\n'), expected: ['issuer.id_token_lifetime: id_token_lifetime must be a duration'] },
    { name: 'id_token_lifetime zero', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  id_token_lifetime: 0s\n'), expected: ['issuer.id_token_lifetime: must be between 1s and 3600s (got 0s)'] },
    { name: 'id_token_lifetime over an hour', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  id_token_lifetime: 2h\n'), expected: ['issuer.id_token_lifetime: must be between 1s and 3600s (got 7200s)'] },
    { name: 'reuse grace over 5 minutes', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  refresh_reuse_grace: 6m\n'), expected: ['issuer.refresh_reuse_grace: must be between 0s and 300s'] },
    { name: 'rotation period under an hour', yaml: minimalYaml('signing: {rotation_period: 10m}\n'), expected: ['signing.rotation_period: must be between 3600s'] },
    // A new key must be published for longer than the JWKS cache lifetime plus the key-sync interval before it signs.
    {
      name: 'publish_ahead under the default JWKS cache lifetime',
      yaml: minimalYaml('signing: {publish_ahead: 60s}\n'),
      expected: ['signing.publish_ahead: must be at least 75s (got 60s): signing.jwks_max_age (60s) + the 5s key sync + a 10s margin, or a verifier caching the JWKS'],
    },
    { name: 'publish_ahead one second short of a short max-age', yaml: minimalYaml('signing: {jwks_max_age: 5s, publish_ahead: 19s}\n'), expected: ['signing.publish_ahead: must be at least 20s (got 19s): signing.jwks_max_age (5s)'] },
    { name: 'publish_ahead given, shorter than a long max-age', yaml: minimalYaml('signing: {jwks_max_age: 1h, publish_ahead: 15m}\n'), expected: ['signing.publish_ahead: must be at least 3615s (got 900s): signing.jwks_max_age (3600s)'] },
    { name: 'publish_ahead over a day', yaml: minimalYaml('signing: {publish_ahead: 25h}\n'), expected: ['signing.publish_ahead: must be between 0s and 86400s (got 90000s)'] },
    { name: 'jwks_max_age zero (every verification a fetch)', yaml: minimalYaml('signing: {jwks_max_age: 0s}\n'), expected: ['signing.jwks_max_age: must be between 1s and 3600s (got 0s)'] },
    { name: 'jwks_max_age over an hour', yaml: minimalYaml('signing: {jwks_max_age: 2h}\n'), expected: ['signing.jwks_max_age: must be between 1s and 3600s (got 7200s)'] },
    { name: 'jwks_max_age not a duration', yaml: minimalYaml('signing: {jwks_max_age: short}\n'), expected: ['signing.jwks_max_age: must be a duration such as'] },
    // The derived default (max-age + 15 s) still has to fit in the rotation period.
    { name: 'a max-age that leaves no room in the rotation period', yaml: minimalYaml('signing: {jwks_max_age: 1h, rotation_period: 1h}\n'), expected: ['signing.publish_ahead: must be shorter than rotation_period'] },
    { name: 'publish_ahead not shorter than the rotation period', yaml: minimalYaml('signing: {rotation_period: 1h, publish_ahead: 1h}\n'), expected: ['signing.publish_ahead: must be shorter than rotation_period'] },
    { name: 'empty key_encryption_key_file', yaml: minimalYaml('secrets: {key_encryption_key_file: ""}\n'), expected: ['secrets.key_encryption_key_file: must be the path of a file'] },
    { name: 'unknown key in secrets', yaml: minimalYaml('secrets: {key_encryption_key: abc}\n'), expected: ['secrets.key_encryption_key: unknown key'] },
    { name: 'idle timeout equal to id_token lifetime', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  id_token_lifetime: 10m\n  refresh_idle_timeout: 10m\n'), expected: ['issuer.refresh_idle_timeout: must be longer than id_token_lifetime'] },
    { name: 'idle timeout shorter than id_token lifetime', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  id_token_lifetime: 20m\n'), expected: ['issuer.refresh_idle_timeout: must be longer than id_token_lifetime'] },
    { name: 'web idle timeout under a minute', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  web_session_idle_timeout: 30s\n'), expected: ['issuer.web_session_idle_timeout: must be between 60s'] },
    { name: 'session shorter than idle timeout', yaml: minimalYaml().replace('issuer:\n', 'issuer:\n  session_lifetime: 10m\n'), expected: ['issuer.session_lifetime: must not be shorter than refresh_idle_timeout'] },

    // Clusters.
    { name: 'cluster server over http', yaml: minimalYaml('clusters:\n' + cluster('') + '  - {name: b, server: "http://b.example.com", client_id: b}\n'), expected: ['clusters[1].server: must be an https URL'] },
    { name: 'cluster server not a URL', yaml: minimalYaml('clusters:\n  - {name: a, server: "a.example.com:6443", client_id: a}\n'), expected: ['clusters[0].server: must be an https URL'] },
    { name: 'cluster name not a DNS label', yaml: minimalYaml('clusters:\n  - {name: "Prod_1", server: "https://a.example.com", client_id: a}\n'), expected: ['clusters[0].name: must be lower-case letters'] },
    { name: 'client_id with a space', yaml: minimalYaml('clusters:\n  - {name: a, server: "https://a.example.com", client_id: "a b"}\n'), expected: ['clusters[0].client_id: must be printable ASCII without spaces'] },
    { name: 'default_namespace not a DNS label', yaml: minimalYaml('clusters:\n' + cluster('default_namespace: "kube system"')), expected: ['clusters[0].default_namespace: must be lower-case letters'] },
    { name: 'duplicate cluster names', yaml: minimalYaml('clusters:\n' + cluster('') + '  - {name: a, server: "https://b.example.com", client_id: b}\n'), expected: ['clusters[1].name: duplicate cluster name "a" (also clusters[0])'] },
    { name: 'duplicate client_ids (audience binding)', yaml: minimalYaml('clusters:\n' + cluster('') + '  - {name: b, server: "https://b.example.com", client_id: a}\n'), expected: ['clusters[1].client_id: duplicate client_id "a" (also clusters[0])'] },
    { name: 'CA given as both data and file', yaml: minimalYaml('clusters:\n' + cluster(`certificate_authority: {data: ${JSON.stringify(TEST_CA_PEM)}, file: ca.pem}`)), expected: ['clusters[0].certificate_authority: give exactly one of "data"'] },
    { name: 'CA given as neither', yaml: minimalYaml('clusters:\n' + cluster('certificate_authority: {}')), expected: ['clusters[0].certificate_authority: give exactly one of "data"'] },
    { name: 'CA data that is not PEM', yaml: minimalYaml('clusters:\n' + cluster('certificate_authority: {data: "LS0tLS1CRUdJTg=="}')), expected: ['clusters[0].certificate_authority.data: must be one or more PEM certificates'] },
    // Regression: a CA bundle is copied into every user's kubeconfig; a private key in it would leak to all of them.
    { name: 'CA data holding a private key', yaml: minimalYaml('clusters:\n' + cluster(`certificate_authority: {data: ${JSON.stringify(`${TEST_CA_PEM}\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n${TEST_CA_PEM}`)}}`)), expected: ['clusters[0].certificate_authority.data: holds a private key'] },

    // Upstreams and users.
    { name: 'unknown upstream type', yaml: minimalYaml('upstreams:\n  - {id: corp, type: kerberos}\n'), expected: ['upstreams[0].type: type must be one of "local", "oidc"'] },
    { name: 'oidc upstream without client_id', yaml: minimalYaml('upstreams:\n  - {id: corp, type: oidc, issuer: "https://sso.example.com"}\n'), expected: ['upstreams[0].client_id: '] },
    { name: 'duplicate upstream ids', yaml: minimalYaml('upstreams:\n  - {id: local, type: local}\n  - {id: local, type: local}\n'), expected: ['upstreams[1].id: duplicate upstream id "local" (also upstreams[0])'] },
    { name: 'duplicate usernames', yaml: minimalYaml(localUpstream + 'users:\n' + user('alice') + user('bob') + user('alice')), expected: ['users[2].username: duplicate username "alice" (also users[0])'] },
    { name: 'password that is not a bcrypt hash', yaml: minimalYaml(localUpstream + 'users:\n' + user('alice', 'hunter2')), expected: ['users[0].password_hash: must be a bcrypt hash'] },
    { name: 'truncated bcrypt hash', yaml: minimalYaml(localUpstream + 'users:\n' + user('alice', LOCAL_PASSWORD_HASH.slice(0, -1))), expected: ['users[0].password_hash: must be a bcrypt hash'] },
    { name: 'username with a space', yaml: minimalYaml(localUpstream + 'users:\n' + user('"al ice"')), expected: ['users[0].username: must be letters, digits'] },
    { name: 'users without a local upstream', yaml: minimalYaml('upstreams:\n  - {id: corp, type: oidc, issuer: "https://sso.example.com", client_id: k}\nusers:\n' + user('alice')), expected: ['users: local users are configured but no upstream of type "local"'] },

    { name: 'oidc upstream over http', yaml: minimalYaml('upstreams:\n  - {id: corp, type: oidc, issuer: "http://sso.example.com", client_id: k}\n'), expected: ['upstreams[0].issuer: must be an https URL'] },
    { name: 'issuer CA given as both data and file', yaml: minimalYaml().replace('issuer:\n', `issuer:\n  certificate_authority: {data: ${JSON.stringify(TEST_CA_PEM)}, file: ca.pem}\n`), expected: ['issuer.certificate_authority: give exactly one of "data"'] },

    // Not a config at all.
    { name: 'invalid YAML', yaml: 'issuer: {url: "https://kubegate.example.com"\nstorage: [', expected: ['not valid YAML: '] },
    { name: 'tab-indented YAML', yaml: 'issuer:\n\turl: x\n', expected: ['not valid YAML: '] },
    { name: 'empty file', yaml: '', expected: ['(root): must be a YAML mapping'] },
    { name: 'only comments', yaml: '# nothing here\n', expected: ['(root): must be a YAML mapping'] },
    { name: 'a YAML list', yaml: '- issuer\n', expected: ['(root): must be a YAML mapping'] },
    { name: 'a YAML scalar', yaml: 'kubegate\n', expected: ['(root): must be a YAML mapping'] },
    { name: 'trust_proxy a string', yaml: minimalYaml('server: {trust_proxy: "yes"}\n'), expected: ['server.trust_proxy: must be true, false, a number of proxy hops (0-10), or a list'] },
    { name: 'trust_proxy too many hops', yaml: minimalYaml('server: {trust_proxy: 11}\n'), expected: ['server.trust_proxy: must be 0 to 10 proxy hops'] },
    { name: 'trust_proxy a bad CIDR', yaml: minimalYaml('server: {trust_proxy: [10.0.0.0/8, 10.0.0.0/33, proxy.example.com]}\n'), expected: ['server.trust_proxy[1]: must be an IP address, a CIDR', 'server.trust_proxy[2]: must be an IP address, a CIDR'] },
    { name: 'headers timeout zero', yaml: minimalYaml('server: {timeouts: {headers: 0s}}\n'), expected: ['server.timeouts.headers: must be between 1s and 120s'] },
    { name: 'request timeout shorter than headers', yaml: minimalYaml('server: {timeouts: {headers: 20s, request: 10s}}\n'), expected: ['server.timeouts.request: must not be shorter than timeouts.headers'] },
    { name: 'max_connections zero', yaml: minimalYaml('server: {max_connections: 0}\n'), expected: ['server.max_connections: '] },
    { name: 'rate limit burst zero', yaml: minimalYaml('server: {token_rate_limit: {per_credential: {burst: 0}}}\n'), expected: ['server.token_rate_limit.per_credential.burst: '] },
    { name: 'rate limit unknown key', yaml: minimalYaml('server: {token_rate_limit: {per_user: {burst: 1}}}\n'), expected: ['server.token_rate_limit.per_user: unknown key'] },
  ];

  it.each(cases)('$name', ({ yaml, expected }) => {
    const problems = problemsOf(yaml);
    for (const prefix of expected) {
      expect(problems, `no problem starts with ${JSON.stringify(prefix)}`).toEqual(
        expect.arrayContaining([expect.stringMatching(new RegExp('^' + prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))]),
      );
    }
    // Only the problem at hand is reported: no noise from fields that are fine.
    expect(problems).toHaveLength(expected.length);
  });

  it.each([
    ['missing', 'nope.pem', /^clusters\[0\]\.certificate_authority\.file: cannot read .*nope\.pem: ENOENT$/],
    ['a directory', '.', /^clusters\[0\]\.certificate_authority\.file: cannot read .*: EISDIR$/],
    ['not PEM', 'not-pem.txt', /^clusters\[0\]\.certificate_authority\.file: .*not-pem\.txt holds no PEM certificate$/],
    ['a bundle with a private key', 'bundle-with-key.pem', /^clusters\[0\]\.certificate_authority\.file: .*bundle-with-key\.pem holds a private key/],
  ])('CA file %s', (_, file, pattern) => {
    const problems = problemsOf(minimalYaml('clusters:\n' + cluster(`certificate_authority: {file: ${JSON.stringify(file)}}`)));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(pattern);
  });

  it('accepts an oidc upstream over http only with allow_insecure_http (labs)', () => {
    const c = parse(minimalYaml('upstreams:\n  - {id: lab, type: oidc, issuer: "http://127.0.0.1:9000", client_id: k, allow_insecure_http: true}\n'));
    expect(c.upstreams[0]).toMatchObject({ type: 'oidc', allow_insecure_http: true });
  });

  it.each([
    ['a readable PEM file', 'ca.pem', undefined],
    ['a missing file', 'nope.pem', /^issuer\.certificate_authority\.file: cannot read .*nope\.pem: ENOENT$/],
    ['a bundle with a private key', 'bundle-with-key.pem', /^issuer\.certificate_authority\.file: .* holds a private key/],
  ])('reads the issuer CA from %s', (_, file, pattern) => {
    const yaml = minimalYaml().replace('issuer:\n', `issuer:\n  certificate_authority: {file: ${file}}\n`);
    if (!pattern) {
      expect(parse(yaml).issuer.ca_pem).toBe(TEST_CA_PEM + '\n');
      return;
    }
    const problems = problemsOf(yaml);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(pattern);
  });

  it('reads a CA file relative to the config directory and names it in absolute form', () => {
    const c = parse(minimalYaml('clusters:\n' + cluster('certificate_authority: {file: ca.pem}')));
    expect(c.clusters[0]!.ca_pem).toBe(TEST_CA_PEM + '\n');
    const problems = problemsOf(minimalYaml('clusters:\n' + cluster('certificate_authority: {file: missing/ca.pem}')));
    expect(problems[0]).toContain(path.join(dir, 'missing/ca.pem'));
  });

  it('reports several problems at once, each with its path', () => {
    const yaml = `
issuer:
  url: http://kubegate.example.com/
  id_token_lifetime: forever
  colour: blue
storage:
  sqlite: {path: x.db}
clusters:
  - {name: a, server: "https://a.example.com", client_id: a}
  - {name: a, server: "http://b.example.com", client_id: b, client_secret: "\${MISSING}"}
users:
  - {username: alice, password_hash: nope}
`;
    let error: ConfigError | undefined;
    try {
      parse(yaml);
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const starts = error!.problems.map((p) => p.slice(0, p.indexOf(':', p.indexOf(': ') - 1)));
    expect(starts).toEqual(
      expect.arrayContaining([
        'clusters[1].client_secret',
        'issuer.url',
        'issuer.id_token_lifetime',
        'issuer.colour',
        'clusters[1].server',
        'users[0].password_hash',
      ]),
    );
    expect(error!.problems).toContain('clusters[1].client_secret: environment variable MISSING is not set');
    // The message lists every problem, and names the file.
    expect(error!.message).toMatch(/^invalid configuration in kubegate\.yaml:/);
    for (const p of error!.problems) expect(error!.message).toContain(`  - ${p}`);
  });
});

describe('parseConfig: every problem in one run', () => {
  // Regression: schema errors stopped the run before CA files were read, and a field error anywhere
  // made zod skip the duplicate checks, so a config needed several restarts to fix.
  it('reports field errors, duplicates, cross-field rules and unreadable CA files together', () => {
    const yaml = `
issuer:
  url: https://kubegate.example.com
  id_token_lifetime: 20m
  certificate_authority: {file: missing-issuer-ca.pem}
clusters:
  - {name: a, server: "https://a.example.com", client_id: a, certificate_authority: {file: nope.pem}}
  - {name: a, server: "http://b.example.com", client_id: a, certificate_authority: {file: not-pem.txt}}
upstreams:
  - {id: corp, type: oidc, issuer: "http://sso.example.com", client_id: k, colour: blue}
  - {id: corp, type: oidc, issuer: "https://sso.example.com"}
users:
  - {username: alice, password_hash: nope}
  - {username: alice, password_hash: "${LOCAL_PASSWORD_HASH}"}
`;
    const problems = problemsOf(yaml);
    const paths = problems.map((p) => p.slice(0, p.indexOf(': ')));
    expect(paths.sort()).toEqual(
      [
        // field errors
        'clusters[1].server',
        'upstreams[0].colour',
        'upstreams[1].client_id',
        'users[0].password_hash',
        // the https rule of an upstream that has another error too
        'upstreams[0].issuer',
        // duplicates, although fields elsewhere are wrong
        'clusters[1].name',
        'clusters[1].client_id',
        'upstreams[1].id',
        'users[1].username',
        // cross-field rules
        'users',
        'issuer.refresh_idle_timeout',
        // CA files
        'issuer.certificate_authority.file',
        'clusters[0].certificate_authority.file',
        'clusters[1].certificate_authority.file',
      ].sort(),
    );
    expect(problems).toContain('clusters[1].name: duplicate cluster name "a" (also clusters[0])');
    expect(problems.find((p) => p.startsWith('clusters[0].certificate_authority.file'))).toMatch(/nope\.pem: ENOENT$/);
    expect(problems.find((p) => p.startsWith('clusters[1].certificate_authority.file'))).toMatch(/holds no PEM certificate$/);
  });

  it('stays quiet about rules whose inputs are themselves wrong', () => {
    // A duration that does not parse is reported once, not again as "shorter than".
    expect(problemsOf(minimalYaml().replace('issuer:\n', 'issuer:\n  refresh_idle_timeout: soon\n'))).toEqual([
      expect.stringMatching(/^issuer\.refresh_idle_timeout: must be a duration/),
    ]);
    // A list that is not a list gets its type error, and nothing from the duplicate checks.
    expect(problemsOf(minimalYaml('users: nobody\n'))).toEqual([expect.stringMatching(/^users: /)]);
  });
});

describe('parseConfig: values the commands and kubeconfig cannot carry', () => {
  // Regression: a client_secret with a line break passed validation, and its cluster page answered 500
  // for every user, after minting a credential.
  const withSecret = (secret: string) => minimalYaml(`clusters:\n  - {name: a, server: "https://a.example.com", client_id: a, client_secret: ${JSON.stringify(secret)}}\n`);

  it.each([
    ['a line break', 'abc\ndef', 'contains a line break'],
    ['a carriage return', 'abc\r', 'contains a line break'],
    ['a tab', 'abc\tdef', 'U+0009'],
    ['an escape sequence', 'abc\u001b]0;pwned\u0007', 'U+001B'],
    ['NUL', 'a\u0000b', 'contains NUL'],
    ['DEL', 'a\u007fb', 'U+007F'],
    ['a C1 control', 'a\u009bb', 'U+009B'],
    ['a bidi override', 'abc\u202edef', 'U+202E'],
    ['a line separator', 'abc\u2028def', 'U+2028'],
  ])('refuses a client_secret with %s, naming the field', (_, secret, what) => {
    const problems = problemsOf(withSecret(secret));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^clusters\[0\]\.client_secret: /);
    expect(problems[0]).toContain(what);
    expect(problems[0]).toContain('kubectl commands and kubeconfigs cannot carry it');
  });

  it.each([
    ['a CSV quote and comma', 'a"b,c'],
    ['shell syntax', "$(id) `id` 'x' ; & | %PATH% ^ !"],
    ['spaces and =', ' pass = word '],
    ['non-ASCII letters', 'pässwörd-秘密'],
  ])('accepts a client_secret with %s, and its page renders: commands where the shell can carry it, the kubeconfig always', (_, secret) => {
    const c = parse(withSecret(secret));
    const cluster = c.clusters[0]!;
    expect(cluster.client_secret).toBe(secret);
    const spec = credentialSpec(c.issuer, cluster, 'alice', { idToken: 'eyJ.x.y', refreshToken: 'kgr_x' });
    const shells = renderAllShells(spec);
    // bash and fish carry every accepted secret; cmd.exe and PowerShell may offer the download instead.
    expect(shells.filter((s) => s.script !== undefined).map((s) => s.shell)).toEqual(expect.arrayContaining(['bash', 'fish']));
    expect(kubeconfigYaml([spec])).toContain('client-secret');
  });

  it.each([
    ['a line break', 'https://a.example.com/\nx', 'contains a line break'],
    ['a tab', 'https://a.ex\tample.com', 'U+0009'],
    ['a bidi control', 'https://a.example.com/\u202e', 'U+202E'],
  ])('refuses a cluster server URL with %s (the URL parser would silently drop it)', (_, server, what) => {
    const problems = problemsOf(minimalYaml(`clusters:\n  - {name: a, server: ${JSON.stringify(server)}, client_id: a}\n`));
    expect(problems).toEqual([expect.stringMatching(/^clusters\[0\]\.server: /)]);
    expect(problems[0]).toContain(what);
  });

  it('refuses an issuer URL with a line break', () => {
    const problems = problemsOf(minimalYaml().replace('https://kubegate.example.com', '"https://kubegate.example.com\\n"'));
    expect(problems).toEqual([expect.stringMatching(/^issuer\.url: contains a line break/)]);
  });

  it('refuses a username or groups prefix with a control character', () => {
    const problems = problemsOf(minimalYaml('upstreams:\n  - {id: local, type: local, username_prefix: "a\\u001b", groups_prefix: "b\\n"}\n'));
    expect(problems.map((p) => p.slice(0, p.indexOf(': '))).sort()).toEqual(['upstreams[0].groups_prefix', 'upstreams[0].username_prefix']);
  });

  it('keeps client_id to printable ASCII without spaces, as kube-apiserver compares it', () => {
    expect(problemsOf(minimalYaml('clusters:\n  - {name: a, server: "https://a.example.com", client_id: "a\\u202eb"}\n'))).toEqual([
      expect.stringMatching(/^clusters\[0\]\.client_id: must be printable ASCII/),
    ]);
  });
});

describe('parseConfig: storage and audit settings', () => {
  it('reads the write bound, the watermark file (against the config directory) and the audit retention', () => {
    const c = parse(minimalYaml('    busy_timeout: 5s\n    watermark_file: ../elsewhere/kubegate.watermark\naudit:\n  retention: 30d\n  stdout: false\n'));
    expect(c.storage.sqlite).toEqual({
      path: path.join(dir, 'kubegate.db'),
      synchronous: 'full',
      busy_timeout: 5,
      watermark_file: path.resolve(dir, '../elsewhere/kubegate.watermark'),
    });
    expect(c.audit).toEqual({ retention: 30 * 86400, stdout: false });
  });

  it('accepts a zero write bound (refuse at once when the database is locked)', () => {
    expect(parse(minimalYaml('    busy_timeout: 0\n')).storage.sqlite!.busy_timeout).toBe(0);
  });
});

describe('parseConfig: server TLS, shutdown and logs', () => {
  it('resolves the TLS files against the config directory and fills in the defaults', () => {
    const c = parse(minimalYaml('server:\n  tls: {cert_file: tls/tls.crt, key_file: /etc/kubegate/tls.key}\n  shutdown_grace: 20s\nlog: {access: false}\n'));
    expect(c.server.tls).toEqual({ cert_file: path.join(dir, 'tls/tls.crt'), key_file: '/etc/kubegate/tls.key', min_version: 'TLSv1.2', reload_interval: 5 });
    expect(c.server.shutdown_grace).toBe(20);
    expect(c.log).toEqual({ access: false });
  });

  it('names the TLS and shutdown fields that are wrong', () => {
    expect(problemsOf(minimalYaml('server:\n  tls: {cert_file: "", min_version: TLSv1.1, reload_interval: 0}\n  shutdown_grace: 10m\nlog: {acces: true}\n'))).toEqual([
      'server.shutdown_grace: must be between 0s and 300s (got 600s)',
      'server.tls.cert_file: must be the path of a PEM certificate file',
      'server.tls.key_file: Invalid input: expected string, received undefined',
      'server.tls.min_version: Invalid option: expected one of "TLSv1.2"|"TLSv1.3"',
      'server.tls.reload_interval: must be between 1s and 3600s (got 0s)',
      'log.acces: unknown key',
    ]);
  });

  it('refuses TLS with an http issuer: the server would answer https at an http URL', () => {
    const text = minimalYaml('server:\n  tls: {cert_file: a.crt, key_file: a.key}\n').replace('https://kubegate.example.com', 'http://127.0.0.1:8443');
    expect(problemsOf(text)).toEqual([expect.stringMatching(/^server\.tls: is set but issuer\.url is http:\/\//)]);
  });
});

describe('parseConfig: storage backends', () => {
  const withPostgres = (block: string) => minimalYaml('').replace(/storage:[\s\S]*?(?=\n\S|$)/, `storage:\n  postgres:\n${block}`);

  it('takes PostgreSQL with its defaults, the password from the environment', () => {
    const c = parse(withPostgres('    url: postgres://kubegate:${PGPASSWORD}@db/kubegate\n'), { PGPASSWORD: 's3cret' });
    expect(c.storage.sqlite).toBeUndefined();
    expect(c.storage.postgres).toEqual({ url: 'postgres://kubegate:s3cret@db/kubegate', pool_size: 10, connect_timeout: 5, statement_timeout: 5 });
  });

  it('resolves the TLS CA file against the config file directory', () => {
    const c = parse(withPostgres('    url: postgres://db/kubegate\n    pool_size: 4\n    statement_timeout: 10s\n    ssl:\n      ca_file: certs/db-ca.pem\n'));
    expect(c.storage.postgres).toMatchObject({ pool_size: 4, statement_timeout: 10, ssl: { ca_file: path.join(dir, 'certs/db-ca.pem'), reject_unauthorized: true } });
  });

  it('names the PostgreSQL field that is wrong', () => {
    expect(problemsOf(withPostgres('    url: postgres://db/kubegate\n    pool_size: 0\n    ssl: {verify: no}\n'))).toEqual([
      'storage.postgres.pool_size: Too small: expected number to be >=1',
      'storage.postgres.ssl.verify: unknown key',
    ]);
  });
});

describe('parseConfig: environment substitution', () => {
  /** A block-style cluster, as people write it (a flow mapping cannot hold a bare `${...}`). */
  const withName = (value: string) =>
    minimalYaml(`clusters:\n  - name: a\n    server: https://a.example.com\n    client_id: a\n    display_name: ${value}\n`);

  it('replaces ${VAR} in string values', () => {
    const c = parse(withName('"${NAME} (${REGION})"'), { NAME: 'Prod', REGION: 'eu-1' });
    expect(c.clusters[0]!.display_name).toBe('Prod (eu-1)');
  });

  it('reports a missing variable with the path where it is used', () => {
    expect(problemsOf(minimalYaml('clusters:\n' + cluster('description: "${DESC}"')))).toEqual([
      'clusters[0].description: environment variable DESC is not set',
    ]);
    // Reported once (not again as "too short"), and the file is refused: never a silent public client.
    expect(problemsOf(FULL_CONFIG_YAML)).toEqual(['clusters[1].client_secret: environment variable STAGING_SECRET is not set']);
  });

  it('treats an empty variable as set', () => {
    expect(parse(minimalYaml('clusters:\n' + cluster('description: "${EMPTY}"')), { EMPTY: '' }).clusters[0]!.description).toBe('');
  });

  it.each([
    ['"a$$b"', 'a$b'],
    ['"$${NAME}"', '${NAME}'],
    ['"$$$$"', '$$'],
    ['"cost: $5"', 'cost: $5'],
    ['"$NAME"', '$NAME'],
  ])('keeps %s as %s (no variable needed)', (yaml, expected) => {
    expect(parse(withName(yaml)).clusters[0]!.display_name).toBe(expected);
  });

  it.each([
    ['a mapping', 'x\nclient_secret: injected'],
    ['a flow list', '[a, b]'],
    ['a flow mapping', '{client_secret: injected}'],
    ['an alias', '*anchor'],
    ['a document marker', '---\nfoo: bar'],
    ['a quote', '" \' \\"'],
  ])("keeps a variable's value holding %s a plain string", (_, value) => {
    const c = parse(withName('${NAME}'), { NAME: value });
    expect(c.clusters[0]!.display_name).toBe(value);
    expect(c.clusters[0]!.client_secret).toBeUndefined();
  });

  it('does not turn a list item into several items', () => {
    const c = parse(minimalYaml('clusters:\n' + cluster('allowed_groups: ["${GROUPS}"]')), { GROUPS: 'a, b' });
    expect(c.clusters[0]!.allowed_groups).toEqual(['a, b']);
  });

  it('feeds a substituted number to a duration', () => {
    const c = parse(minimalYaml().replace('issuer:\n', 'issuer:\n  id_token_lifetime: ${LIFETIME}\n'), { LIFETIME: '90' });
    expect(c.issuer.id_token_lifetime).toBe(90);
  });

  it('never substitutes in keys', () => {
    expect(problemsOf(minimalYaml('${KEY}: 1\n'), { KEY: 'branding' })).toEqual(['${KEY}: unknown key']);
  });
});

describe('loadConfigFile', () => {
  it('resolves relative paths against the directory of the file', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'etc-'));
    fs.copyFileSync(path.join(dir, 'ca.pem'), path.join(sub, 'cluster-ca.pem'));
    const file = path.join(sub, 'kubegate.yaml');
    fs.writeFileSync(file, minimalYaml('clusters:\n' + cluster('certificate_authority: {file: cluster-ca.pem}') + 'secrets: {key_encryption_key_file: keys/kubegate.key}\n'));
    const c = loadConfigFile(file, {});
    expect(c.storage.sqlite!.path).toBe(path.join(sub, 'kubegate.db'));
    expect(c.secrets.key_encryption_key_file).toBe(path.join(sub, 'keys', 'kubegate.key'));
    expect(c.clusters[0]!.ca_pem).toBe(TEST_CA_PEM + '\n');
  });

  it('reads ${VAR} from the given environment', () => {
    const file = path.join(dir, 'with-env.yaml');
    fs.writeFileSync(file, minimalYaml().replace('https://kubegate.example.com', '${ISSUER}'));
    expect(loadConfigFile(file, { ISSUER: 'https://k.example.org' }).issuer.url).toBe('https://k.example.org');
  });

  it('reports a missing file as a ConfigError naming it', () => {
    const file = path.join(dir, 'absent.yaml');
    expect(() => loadConfigFile(file, {})).toThrow(ConfigError);
    try {
      loadConfigFile(file, {});
    } catch (err) {
      expect((err as ConfigError).problems).toEqual(['cannot read the file: ENOENT']);
      expect((err as ConfigError).message).toContain(file);
    }
  });
});

describe('formatPath', () => {
  it.each([
    [[], '(root)'],
    [['issuer'], 'issuer'],
    [['issuer', 'url'], 'issuer.url'],
    [['clusters', 1, 'server'], 'clusters[1].server'],
    [['clusters', 0, 'allowed_groups', 2], 'clusters[0].allowed_groups[2]'],
  ] as const)('%j → %s', (p, expected) => {
    expect(formatPath(p)).toBe(expected);
  });
});
