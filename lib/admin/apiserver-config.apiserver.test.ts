/**
 * What `kubegate apiserver-config` prints, given to the e2e kube-apiserver
 * stand-in (e2e/support/apiserver.ts, kube-apiserver 1.32's OIDC
 * authenticator) as an operator would give it to kube-apiserver, against a
 * real Kubegate issuer over https with a private CA and ES256: Kubegate's
 * id_tokens authenticate as the prefixed user and groups the RBAC bindings
 * name. The structured configuration's CEL rules are evaluated with a CEL
 * implementation (@bufbuild/cel) on the same token's claims.
 */
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { run as cel, type CelInput } from '@bufbuild/cel';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../../e2e/support/certs';
import { startApiServer, type ApiServer, type ApiServerOidcOptions } from '../../e2e/support/apiserver';
import { createProxyTrust } from '../http/client-address';
import { createIssuerListener } from '../http/node-adapter';
import { createIssuerRoutes } from '../oidc/issuer-routes';
import { silentLogger } from '../util/log';
import { openTestEnv, TestClock, type TestEnv } from '../../test/support/fixtures';
import { apiServerSetup, type AuthenticationConfiguration } from './apiserver-config';

/** kube-apiserver's reading of the printed flags (pkg/kubeapiserver/options/authentication.go), file paths read from disk. */
function optionsFromFlags(flags: string[]): ApiServerOidcOptions {
  const value = (name: string) => flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3);
  const caFile = value('oidc-ca-file');
  return {
    issuerUrl: value('oidc-issuer-url')!,
    clientId: value('oidc-client-id')!,
    usernameClaim: value('oidc-username-claim'),
    usernamePrefix: value('oidc-username-prefix'),
    groupsClaim: value('oidc-groups-claim'),
    groupsPrefix: value('oidc-groups-prefix'),
    signingAlgs: value('oidc-signing-algs')?.split(','),
    caPem: caFile === undefined ? undefined : fs.readFileSync(caFile, 'utf8'),
  };
}

/** The same for the structured configuration (which accepts every asymmetric algorithm). */
function optionsFromAuthenticationConfiguration(config: AuthenticationConfiguration): ApiServerOidcOptions {
  const jwt = config.jwt[0]!;
  // In the structured configuration '' is "no prefix"; the flag (and the stand-in) spell that '-'.
  const prefix = (p: string) => (p === '' ? '-' : p);
  return {
    issuerUrl: jwt.issuer.url,
    clientId: jwt.issuer.audiences[0]!,
    caPem: jwt.issuer.certificateAuthority,
    usernameClaim: jwt.claimMappings.username.claim,
    usernamePrefix: prefix(jwt.claimMappings.username.prefix),
    groupsClaim: jwt.claimMappings.groups.claim,
    groupsPrefix: jwt.claimMappings.groups.prefix,
    uidClaim: jwt.claimMappings.uid.claim,
    signingAlgs: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'],
  };
}

/** Every rule holds (an evaluation error, such as a missing claim, fails it, as in kube-apiserver). */
const rulesHold = (rules: { expression: string }[], vars: Record<string, CelInput>) => rules.every((r) => cel(r.expression, vars) === true);
// JSON claims as kube-apiserver hands them to CEL: a map of claim names to values (numbers are doubles).
const asCel = (o: Record<string, unknown>) => new Map(Object.entries(o).filter(([, v]) => v !== undefined)) as CelInput;

let dir: string;
let pki: TestPki;
let env: TestEnv;
let issuer: https.Server;
let caFile: string;
const apiServers: ApiServer[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-apiserver-setup-'));
  pki = await createTestPki(path.join(dir, 'pki'));
  const cert = pki.issue('kubegate', ['127.0.0.1']);
  let handle: (req: IncomingMessage, res: ServerResponse) => boolean = () => false;
  issuer = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    if (!handle(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => issuer.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(issuer.address() as AddressInfo).port}`;
  const yaml = `issuer:
  url: ${url}
  certificate_authority:
    data: |
${pki.caPem.trim().split('\n').map((l) => '      ' + l).join('\n')}
signing:
  algorithm: ES256
storage:
  sqlite:
    path: unused.db
clusters:
  - name: prod
    server: https://prod.k8s.example.com
    client_id: kubernetes
    allowed_groups: [ops]
  - name: staging
    server: https://staging.k8s.example.com
    client_id: staging
`;
  // Real time: the stand-in checks exp against its own clock.
  env = await openTestEnv({ yaml, clock: new TestClock(Date.now()) });
  handle = createIssuerListener(createIssuerRoutes(env.rt.issuerDeps), { log: silentLogger, proxy: createProxyTrust(false), bodyTimeoutMs: 10_000 });
  caFile = path.join(dir, 'kubegate-ca.crt');
});

afterAll(async () => {
  for (const s of apiServers) await s.close();
  await env?.close();
  await new Promise<void>((resolve) => (issuer ? issuer.close(() => resolve()) : resolve()));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function apiServer(oidc: ApiServerOidcOptions): Promise<ApiServer> {
  const cert = pki.issue(`apiserver-${apiServers.length}`, ['127.0.0.1']);
  const s = await startApiServer({ tls: { certPem: cert.certPem, keyPem: cert.keyPem }, oidc, caPem: pki.caPem });
  apiServers.push(s);
  return s;
}

describe('the printed API server settings, given to a kube-apiserver stand-in', () => {
  it('flags: a Kubegate id_token authenticates as the prefixed user and groups the RBAC bindings name; another cluster is refused', async () => {
    const setup = apiServerSetup(env.config, 'prod', { caFile });
    // What the operator does with the output: install the CA at the path the flag names.
    fs.writeFileSync(setup.caFile!.path, setup.caFile!.pem);
    const server = await apiServer(optionsFromFlags(setup.flags));
    const { idToken } = await env.mint('prod');
    const result = await server.authenticate(idToken);
    expect(result).toEqual({ ok: true, user: { username: 'kubegate:alice', groups: ['kubegate:ops', 'kubegate:dev', 'system:authenticated'] } });
    expect(setup.rbac.map((b) => b.subjects[0]!.name)).toEqual(['kubegate:ops']);

    const forStaging = await env.mint('staging');
    expect(await server.authenticate(forStaging.idToken)).toMatchObject({ ok: false, reason: expect.stringMatching(/audience/) });
    // Without --oidc-signing-algs=ES256 the API server refuses Kubegate's ES256 tokens: the flag is needed.
    const withoutAlgs = await apiServer(optionsFromFlags(setup.flags.filter((f) => !f.startsWith('--oidc-signing-algs'))));
    expect(await withoutAlgs.authenticate(idToken)).toMatchObject({ ok: false, reason: expect.stringMatching(/ES256/) });
  });

  it('AuthenticationConfiguration: the same identity (and the stable uid); its CEL rules pass Kubegate tokens and refuse a long-lived one', async () => {
    const config = apiServerSetup(env.config, 'prod').authenticationConfiguration!;
    const server = await apiServer(optionsFromAuthenticationConfiguration(config));
    const { idToken, user } = await env.mint('prod');
    const result = await server.authenticate(idToken);
    expect(result).toEqual({ ok: true, user: { username: 'kubegate:alice', uid: user.id, groups: ['kubegate:ops', 'kubegate:dev', 'system:authenticated'] } });

    const jwt = config.jwt[0]!;
    const claims = decodeJwt(idToken);
    expect(rulesHold(jwt.claimValidationRules, { claims: asCel(claims) })).toBe(true);
    expect(rulesHold(jwt.claimValidationRules, { claims: asCel({ ...claims, exp: claims.iat! + 3600 }) })).toBe(false);
    expect(rulesHold(jwt.claimValidationRules, { claims: asCel({ ...claims, iat: undefined }) })).toBe(false);
    if (!result.ok) throw new Error(result.reason);
    // The JWT authenticator checks its own user; system:authenticated is added after, by the authenticator chain.
    const jwtUser = { username: result.user.username, groups: result.user.groups.filter((g) => g !== 'system:authenticated') };
    expect(rulesHold(jwt.userValidationRules, { user: asCel(jwtUser) })).toBe(true);
    expect(rulesHold(jwt.userValidationRules, { user: asCel({ username: 'system:admin', groups: [] }) })).toBe(false);
    expect(rulesHold(jwt.userValidationRules, { user: asCel({ username: 'alice', groups: ['system:masters'] }) })).toBe(false);
  });
});
