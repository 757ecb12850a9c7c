import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { createTestPki, type IssuedCert, type TestPki } from './certs';
import { startApiServer, type ApiServer, type ApiServerOidcOptions, type RbacGrant } from './apiserver';

const execFileP = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// helpers

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function request(url: string, ca: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method ?? 'GET', headers: init.headers, ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

interface Key {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function makeKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** Tiny https OIDC issuer: discovery + JWKS; everything mutable for tests. */
async function startFakeIssuer(cert: IssuedCert) {
  const state = {
    keys: [] as Key[],
    jwksHeaders: {} as Record<string, string>,
    discoveryIssuer: undefined as string | undefined,
    hits: { discovery: 0, jwks: 0 },
  };
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (req.url === '/.well-known/openid-configuration') {
      state.hits.discovery++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          issuer: state.discoveryIssuer ?? url,
          jwks_uri: `${url}/jwks`,
          authorization_endpoint: `${url}/auth`,
          token_endpoint: `${url}/token`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
        }),
      );
    } else if (req.url === '/jwks') {
      state.hits.jwks++;
      res.writeHead(200, { 'content-type': 'application/json', ...state.jwksHeaders });
      res.end(JSON.stringify({ keys: state.keys.map((k) => k.publicJwk) }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    state,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------------------------------------

describe('kube-apiserver stand-in (OIDC authenticator)', () => {
  let dir: string;
  let pki: TestPki;
  let serverCert: IssuedCert;
  let issuer: Awaited<ReturnType<typeof startFakeIssuer>>;
  let key1: Key;
  const servers: ApiServer[] = [];
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kubegate-apiserver-test-'));
    pki = await createTestPki(dir);
    serverCert = pki.issue('apiserver');
    issuer = await startFakeIssuer(pki.issue('issuer'));
    key1 = await makeKey('key-1');
    issuer.state.keys = [key1];
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await issuer?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function api(oidc: Partial<ApiServerOidcOptions> = {}, grants?: RbacGrant[]): Promise<ApiServer> {
    const s = await startApiServer({
      tls: serverCert,
      caPem: pki.caPem,
      oidc: { issuerUrl: issuer.url, clientId: 'kubernetes', caPem: pki.caPem, groupsClaim: 'groups', ...oidc },
      grants,
    });
    servers.push(s);
    return s;
  }

  function claims(extra: JWTPayload = {}): JWTPayload {
    return {
      iss: issuer.url,
      aud: 'kubernetes',
      sub: 'alice-sub',
      email: 'alice@corp.example',
      email_verified: true,
      groups: ['dev', 'ops'],
      iat: now(),
      exp: now() + 300,
      ...extra,
    };
  }

  function sign(payload: JWTPayload, key: Key = key1, header: Record<string, unknown> = {}) {
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
  }

  async function whoami(s: ApiServer, token: string) {
    const r = await request(`${s.url}/apis/authentication.k8s.io/v1/selfsubjectreviews`, pki.caPem, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1', metadata: {} }),
    });
    return { status: r.status, body: JSON.parse(r.body) as { status?: { userInfo?: { username: string; groups: string[] } } } };
  }

  const UNAUTHORIZED = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'Unauthorized',
    reason: 'Unauthorized',
    code: 401,
  };

  it('accepts a valid token: /version, discovery and SelfSubjectReview with the default issuer# prefix', async () => {
    const s = await api();
    const token = await sign(claims());
    const v = await request(`${s.url}/version`, pki.caPem, { headers: { authorization: `Bearer ${token}` } });
    expect(v.status).toBe(200);
    expect(JSON.parse(v.body)).toMatchObject({ major: '1', minor: '32', gitVersion: 'v1.32.0' });

    const apis = await request(`${s.url}/apis`, pki.caPem, { headers: { authorization: `Bearer ${token}` } });
    expect(JSON.parse(apis.body).groups[0].name).toBe('authentication.k8s.io');

    const r = await whoami(s, token);
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      kind: 'SelfSubjectReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      status: { userInfo: { username: `${issuer.url}#alice-sub`, groups: ['dev', 'ops', 'system:authenticated'] } },
    });

    // the request log has the user but never the token
    const rec = s.requests.find((x) => x.path === '/apis/authentication.k8s.io/v1/selfsubjectreviews');
    expect(rec).toMatchObject({ method: 'POST', status: 201, user: `${issuer.url}#alice-sub` });
    expect(JSON.stringify(s.requests)).not.toContain(token);
    expect(JSON.stringify(s.requests)).not.toContain(token.split('.')[2]);
  });

  it('answers 401 with a Kubernetes Status body when unauthenticated', async () => {
    const s = await api();
    const none = await request(`${s.url}/version`, pki.caPem);
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toEqual(UNAUTHORIZED);
    expect(none.headers['content-type']).toBe('application/json');
    const garbage = await request(`${s.url}/version`, pki.caPem, { headers: { authorization: 'Bearer not-a-jwt' } });
    expect(garbage.status).toBe(401);
    expect(s.requests.at(-1)?.reason).toMatch(/malformed/);
  });

  it('honours usernamePrefix "-" and the email claim rules', async () => {
    const noPrefix = await api({ usernamePrefix: '-' });
    expect((await whoami(noPrefix, await sign(claims()))).body.status?.userInfo?.username).toBe('alice-sub');

    const custom = await api({ usernamePrefix: 'corp:' });
    expect((await whoami(custom, await sign(claims()))).body.status?.userInfo?.username).toBe('corp:alice-sub');

    const email = await api({ usernameClaim: 'email' });
    // no prefix by default for the email claim
    expect((await whoami(email, await sign(claims()))).body.status?.userInfo?.username).toBe('alice@corp.example');
    // email_verified absent: fine
    expect((await whoami(email, await sign(claims({ email_verified: undefined })))).status).toBe(201);
    // email_verified false: rejected
    const unverified = await whoami(email, await sign(claims({ email_verified: false })));
    expect(unverified.status).toBe(401);
    expect(unverified.body).toEqual(UNAUTHORIZED);
    expect(email.requests.at(-1)?.reason).toBe('oidc: email not verified');
    // email_verified as a string is a parse error, not "true"
    expect((await whoami(email, await sign(claims({ email_verified: 'true' })))).status).toBe(401);

    // missing / non-string username claim
    const pref = await api({ usernameClaim: 'preferred_username' });
    expect((await whoami(pref, await sign(claims()))).status).toBe(401);
    expect(pref.requests.at(-1)?.reason).toMatch(/claim not present/);
    expect((await whoami(pref, await sign(claims({ preferred_username: 42 })))).status).toBe(401);
    expect((await whoami(pref, await sign(claims({ preferred_username: 'alice' })))).body.status?.userInfo?.username).toBe(
      `${issuer.url}#alice`,
    );
  });

  it('maps groups from a string or an array, with groupsPrefix, and rejects other shapes', async () => {
    const s = await api({ groupsPrefix: 'oidc:' });
    expect((await whoami(s, await sign(claims({ groups: 'admins' })))).body.status?.userInfo?.groups).toEqual([
      'oidc:admins',
      'system:authenticated',
    ]);
    expect((await whoami(s, await sign(claims({ groups: ['a', 'b'] })))).body.status?.userInfo?.groups).toEqual([
      'oidc:a',
      'oidc:b',
      'system:authenticated',
    ]);
    expect((await whoami(s, await sign(claims({ groups: undefined })))).body.status?.userInfo?.groups).toEqual([
      'system:authenticated',
    ]);
    expect((await whoami(s, await sign(claims({ groups: [1, 2] })))).status).toBe(401);
    expect((await whoami(s, await sign(claims({ groups: { a: 1 } })))).status).toBe(401);

    const noGroupsClaim = await api({ groupsClaim: undefined });
    expect((await whoami(noGroupsClaim, await sign(claims()))).body.status?.userInfo?.groups).toEqual(['system:authenticated']);
  });

  it('rejects wrong aud, wrong iss, expired, future nbf, HS256, alg none and foreign keys', async () => {
    const s = await api();
    const expect401 = async (token: string, reason: RegExp) => {
      const r = await whoami(s, token);
      expect(r.status, reason.source).toBe(401);
      expect(r.body).toEqual(UNAUTHORIZED);
      expect(s.requests.at(-1)?.reason).toMatch(reason);
    };
    await expect401(await sign(claims({ aud: 'someone-else' })), /audience/);
    // aud as an array containing the client id is fine
    expect((await whoami(s, await sign(claims({ aud: ['other', 'kubernetes'] })))).status).toBe(201);
    await expect401(await sign(claims({ iss: `${issuer.url}/` })), /untrusted issuer/);
    await expect401(await sign(claims({ iss: 'https://evil.example' })), /untrusted issuer/);
    await expect401(await sign(claims({ exp: now() - 1 })), /expired/);
    await expect401(await sign(claims({ exp: undefined })), /expired/);
    // iat is not required (go-oidc doesn't check it)
    expect((await whoami(s, await sign(claims({ iat: undefined })))).status).toBe(201);

    // nbf: go-oidc v2 (k8s 1.32) allows 1 minute of skew
    expect((await whoami(s, await sign(claims({ nbf: now() + 30 })))).status).toBe(201);
    await expect401(await sign(claims({ nbf: now() + 120 })), /nbf/);
    await expect401(await sign(claims({ nbf: now() + 6 * 60 })), /nbf/);

    const hsSecret = new TextEncoder().encode('k'.repeat(32));
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: key1.kid }).sign(hsSecret);
    await expect401(hs, /unsupported algorithm/);

    const none = new UnsecuredJWT(claims()).encode();
    await expect401(none, /unsupported algorithm/);

    const foreign = await makeKey('key-1'); // same kid, different key
    await expect401(await sign(claims(), foreign), /failed to verify/);
    const foreign2 = await makeKey('unknown-kid');
    await expect401(await sign(claims(), foreign2), /failed to verify/);

    // ES256 is not accepted unless configured
    const ec = await makeKey('ec-1', 'ES256');
    issuer.state.keys = [key1, ec];
    try {
      const esToken = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', kid: 'ec-1' }).sign(ec.privateKey);
      await expect401(esToken, /unsupported algorithm/);
      const esOk = await api({ signingAlgs: ['ES256', 'RS256'] });
      expect((await whoami(esOk, esToken)).status).toBe(201);
    } finally {
      issuer.state.keys = [key1];
    }
  });

  it('uses a configurable nbf leeway (5 min like go-oidc v3)', async () => {
    const s = await api({ nbfLeewaySeconds: 300 });
    expect((await whoami(s, await sign(claims({ nbf: now() + 4 * 60 })))).status).toBe(201);
    expect((await whoami(s, await sign(claims({ nbf: now() + 6 * 60 })))).status).toBe(401);
  });

  it('refuses bad configuration like kube-apiserver', async () => {
    await expect(api({ signingAlgs: ['HS256'] })).rejects.toThrow(/unsupported signing alg/);
    await expect(api({ issuerUrl: 'http://127.0.0.1:1' })).rejects.toThrow(/https/);
  });

  it('rejects every token while the discovery issuer does not match, and recovers', async () => {
    issuer.state.discoveryIssuer = 'https://127.0.0.1:1/not-me';
    try {
      const s = await api();
      const r = await whoami(s, await sign(claims()));
      expect(r.status).toBe(401);
      expect(s.requests.at(-1)?.reason).toMatch(/not initialized.*issuer did not match/);
      issuer.state.discoveryIssuer = undefined;
      expect((await whoami(s, await sign(claims()))).status).toBe(201);
    } finally {
      issuer.state.discoveryIssuer = undefined;
    }
  });

  it('picks up a rotated key (new kid) by re-fetching the JWKS, like go-oidc RemoteKeySet', async () => {
    const s = await api();
    expect((await whoami(s, await sign(claims()))).status).toBe(201);
    const key2 = await makeKey('key-2');
    issuer.state.keys = [key1, key2];
    try {
      const before = issuer.state.hits.jwks;
      expect((await whoami(s, await sign(claims(), key2))).status).toBe(201);
      expect(issuer.state.hits.jwks).toBe(before + 1);
      // a known kid doesn't refetch
      expect((await whoami(s, await sign(claims(), key2))).status).toBe(201);
      expect(issuer.state.hits.jwks).toBe(before + 1);
    } finally {
      issuer.state.keys = [key1];
    }
  });

  it('respects JWKS Cache-Control like go-oidc: a rotated key is not seen while the cached set is fresh', async () => {
    issuer.state.jwksHeaders = { 'cache-control': 'public, max-age=3600' };
    try {
      const s = await api();
      expect((await whoami(s, await sign(claims()))).status).toBe(201);
      const key3 = await makeKey('key-3');
      issuer.state.keys = [key1, key3];
      const r = await whoami(s, await sign(claims(), key3));
      expect(r.status).toBe(401);
      expect(s.requests.at(-1)?.reason).toMatch(/cached keys not expired/);
    } finally {
      issuer.state.jwksHeaders = {};
      issuer.state.keys = [key1];
    }
  });

  it('answers like an RBAC cluster: 403 Status for ungranted requests, grants via groups', async () => {
    const s = await api({}, [{ groups: ['ops'], verbs: ['list'], resources: ['pods'], namespaces: ['team-a'] }]);
    const auth = { authorization: `Bearer ${await sign(claims())}` };
    const denied = await request(`${s.url}/api/v1/namespaces/team-b/pods`, pki.caPem, { headers: auth });
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `pods is forbidden: User "${issuer.url}#alice-sub" cannot list resource "pods" in API group "" in the namespace "team-b"`,
      reason: 'Forbidden',
      details: { kind: 'pods' },
      code: 403,
    });
    const ok = await request(`${s.url}/api/v1/namespaces/team-a/pods`, pki.caPem, { headers: auth });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ kind: 'PodList', items: [] });
    const path = await request(`${s.url}/metrics`, pki.caPem, { headers: auth });
    expect(path.status).toBe(403);
    expect(JSON.parse(path.body).message).toBe(`forbidden: User "${issuer.url}#alice-sub" cannot get path "/metrics"`);

    const ssar = await request(`${s.url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`, pki.caPem, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ spec: { resourceAttributes: { verb: 'list', resource: 'pods', namespace: 'team-a' } } }),
    });
    expect(ssar.status).toBe(201);
    expect(JSON.parse(ssar.body).status.allowed).toBe(true);
  });

  it('works with the real kubectl (auth whoami, create SelfSubjectReview, RBAC answers)', async () => {
    const s = await api({}, [{ groups: ['dev'], verbs: ['get', 'list', 'watch'], resources: ['pods'], namespaces: ['team-a'] }]);
    const token = await sign(claims({ exp: now() + 600 }));
    const home = mkdtempSync(join(tmpdir(), 'kubegate-kubectl-home-'));
    try {
      const kubeconfig = join(home, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          '- name: standin',
          '  cluster:',
          `    server: ${s.url}`,
          `    certificate-authority-data: ${Buffer.from(pki.caPem).toString('base64')}`,
          'users:',
          '- name: oidc',
          '  user:',
          `    token: ${token}`,
          'contexts:',
          '- name: standin',
          '  context:',
          '    cluster: standin',
          '    user: oidc',
          'current-context: standin',
          '',
        ].join('\n'),
      );
      const env = { ...process.env, HOME: home, KUBECONFIG: kubeconfig };
      const who = await execFileP('kubectl', ['auth', 'whoami', '-o', 'json'], { env, timeout: 30_000 });
      const review = JSON.parse(who.stdout) as { status: { userInfo: { username: string; groups: string[] } } };
      expect(review.status.userInfo.username).toBe(`${issuer.url}#alice-sub`);
      expect(review.status.userInfo.groups).toEqual(['dev', 'ops', 'system:authenticated']);

      const created = await new Promise<string>((resolve, reject) => {
        const child = execFile(
          'kubectl',
          ['create', '-f', '-', '-o', 'yaml'],
          { env, timeout: 30_000 },
          (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
        );
        child.stdin?.end('apiVersion: authentication.k8s.io/v1\nkind: SelfSubjectReview\n');
      });
      expect(created).toContain('kind: SelfSubjectReview');
      expect(created).toContain(`username: ${issuer.url}#alice-sub`);

      // RBAC stand-in: the grant covers team-a only
      const run = (args: string[]) =>
        execFileP('kubectl', args, { env, timeout: 30_000 }).then(
          (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
          (e: { code: number; stdout: string; stderr: string }) => e,
        );
      const podsB = await run(['get', 'pods', '-n', 'team-b']);
      expect(podsB.code).toBe(1);
      expect(podsB.stderr).toContain(
        `Error from server (Forbidden): pods is forbidden: User "${issuer.url}#alice-sub" cannot list resource "pods" in API group "" in the namespace "team-b"`,
      );
      const podsA = await run(['get', 'pods', '-n', 'team-a']);
      expect(podsA).toMatchObject({ code: 0, stderr: 'No resources found in team-a namespace.\n' });
      expect((await run(['auth', 'can-i', 'list', 'pods', '-n', 'team-a'])).stdout.trim()).toBe('yes');
      expect((await run(['auth', 'can-i', 'delete', 'pods', '-n', 'team-a'])).stdout.trim()).toBe('no');

      // a bad token: kubectl fails with the apiserver's Unauthorized
      writeFileSync(kubeconfig, readFileSync(kubeconfig, 'utf8').replace(token, `${token}x`));
      const bad = await execFileP('kubectl', ['auth', 'whoami'], { env, timeout: 30_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/Unauthorized|must be logged in/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
    // what did kubectl call?
    const paths = s.requests.map((r) => `${r.method} ${r.path} ${r.status}`);
    expect(paths).toContain('POST /apis/authentication.k8s.io/v1/selfsubjectreviews 201');
    expect(JSON.stringify(s.requests)).not.toContain(token);
    console.log(`kubectl requests:\n  ${paths.join('\n  ')}`);
  }, 60_000);

  it('never logs the token even for rejected requests', async () => {
    const s = await api();
    const token = await sign(claims({ aud: 'nope' }));
    await whoami(s, token);
    expect(JSON.stringify(s.requests)).not.toContain(token.slice(20, 60));
    expect(s.requests.at(-1)).toMatchObject({ status: 401, reason: expect.stringMatching(/audience/) });
  });
});
