/**
 * Everything the end-to-end tests run against, started on loopback:
 *
 *   chromium ─► TLS proxy (https) ─► Kubegate "tls" ─► upstream IdP (oidc-provider, http)
 *   chromium ─► Kubegate "direct" (http, its own issuer URL) ─┘
 *   kubectl ─► API server stand-ins "prod" and "stage" (https), which trust
 *              Kubegate "tls" as their OIDC issuer (discovery + JWKS over the proxy)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { startApiServer, type ApiServer } from './apiserver';
import { createTestPki, type TestPki } from './certs';
import { freePort, startKubegate, type KubegateProcess } from './kubegate';
import { startTlsProxy } from './tls-proxy';
import { startUpstreamIdp, type UpstreamIdp, type UpstreamUser } from './upstream-idp';

export const USERS = {
  alice: { username: 'alice', password: 'correct horse battery', email: 'alice@example.com', name: 'Alice Liddell', groups: ['developers', 'platform'] },
  bob: { username: 'bob', password: 'bob password 1', email: 'bob@example.com', name: 'Bob Intern', groups: ['interns'] },
  // A hostile username and group: must reach the API server verbatim and break out of no shell.
  eve: {
    username: `eve'; touch /tmp/kubegate-pwned #`,
    sub: 'eve-0001',
    password: 'eve password 1',
    email: 'eve@example.com',
    name: 'Eve $(id)',
    groups: ['developers', '$(touch /tmp/kubegate-pwned)', '`id`'],
  },
} satisfies Record<string, UpstreamUser>;

export const LOCAL_ADMIN = { username: 'breakglass', password: 'local admin pass 1' };
export const STAGE_SECRET = 'st@ge secret/+%:';
/** kube-apiserver flags the stand-ins mirror: --oidc-username-prefix / --oidc-groups-prefix. */
export const PREFIX = 'kubegate:';
export const ID_TOKEN_LIFETIME = 15;
export const REUSE_GRACE = 3;

export interface Topology {
  root: string;
  pki: TestPki;
  idp: UpstreamIdp;
  /** Kubegate behind the TLS proxy: the issuer the API servers trust. */
  kubegate: KubegateProcess;
  /** Public https URL of `kubegate` (its issuer URL). */
  portal: string;
  /** A second Kubegate, reached directly over http at its own issuer URL. */
  direct: KubegateProcess;
  apiProd: ApiServer;
  apiStage: ApiServer;
  close(): Promise<void>;
}

export async function startTopology(): Promise<Topology> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-e2e-'));
  const pki = await createTestPki(path.join(root, 'pki'));
  const [idpPort, tlsPort, backendPort, directPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const portal = `https://127.0.0.1:${tlsPort}`;
  const direct = `http://127.0.0.1:${directPort}`;
  const idp = await startUpstreamIdp({
    port: idpPort,
    title: 'Corp SSO',
    clients: [
      {
        client_id: 'kubegate',
        client_secret: 'upstream-secret',
        redirect_uris: [`${portal}/api/auth/callback/corp`, `${direct}/api/auth/callback/corp`],
      },
    ],
    users: Object.values(USERS),
  });
  const oidc = (clientId: string) => ({
    issuerUrl: portal,
    clientId,
    caPem: pki.caPem,
    usernameClaim: 'preferred_username',
    usernamePrefix: PREFIX,
    groupsClaim: 'groups',
    groupsPrefix: PREFIX,
  });
  const apiProd = await startApiServer({ tls: pki.issue('apiserver-prod'), caPem: pki.caPem, oidc: oidc('kubernetes') });
  const apiStage = await startApiServer({ tls: pki.issue('apiserver-stage'), caPem: pki.caPem, oidc: oidc('stage-cluster') });

  const upstreams = [
    {
      id: 'corp',
      type: 'oidc',
      display_name: 'Corp SSO',
      issuer: idp.issuer,
      client_id: 'kubegate',
      client_secret: 'upstream-secret',
      scopes: ['groups'],
      username_claim: 'preferred_username',
      groups_claim: 'groups',
      allow_insecure_http: true,
    },
    { id: 'local', type: 'local', display_name: 'Break-glass account' },
  ];
  const users = [{ username: LOCAL_ADMIN.username, password_hash: bcrypt.hashSync(LOCAL_ADMIN.password, 4), groups: ['admins'] }];
  const clusters = [
    {
      name: 'prod',
      display_name: 'Production',
      description: 'Customer-facing workloads.',
      server: apiProd.url,
      certificate_authority: { data: pki.caPem },
      client_id: 'kubernetes',
      default_namespace: 'team-a',
      allowed_groups: ['developers'],
    },
    {
      name: 'stage',
      display_name: 'Staging',
      server: apiStage.url,
      certificate_authority: { data: pki.caPem },
      client_id: 'stage-cluster',
      client_secret: STAGE_SECRET,
      allowed_groups: ['developers', 'qa'],
    },
    { name: 'vault', display_name: 'Vault cluster', server: 'https://127.0.0.1:1', client_id: 'vault', allowed_groups: ['admins'] },
  ];
  const kubegate = await startKubegate({
    dir: path.join(root, 'kubegate'),
    port: backendPort,
    config: {
      issuer: {
        url: portal,
        certificate_authority: { data: pki.caPem },
        id_token_lifetime: `${ID_TOKEN_LIFETIME}s`,
        refresh_reuse_grace: `${REUSE_GRACE}s`,
        refresh_idle_timeout: '10m',
      },
      server: { trust_proxy: true },
      upstreams,
      users,
      clusters,
      branding: { title: 'Kubegate', tagline: 'Acme platform team' },
    },
  });
  const proxy = await startTlsProxy({ target: kubegate.url, tls: pki.issue('kubegate'), port: tlsPort });
  const directKubegate = await startKubegate({
    dir: path.join(root, 'direct'),
    port: directPort,
    // A branding title of its own: page titles must follow it.
    config: { issuer: { url: direct }, upstreams, users, clusters, branding: { title: 'Acme Kubernetes' } },
  });
  return {
    root,
    pki,
    idp,
    kubegate,
    portal,
    direct: directKubegate,
    apiProd,
    apiStage,
    async close() {
      await Promise.allSettled([kubegate.close(), directKubegate.close(), proxy.close(), apiProd.close(), apiStage.close(), idp.close()]);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
