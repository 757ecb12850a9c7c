/**
 * The built server's stdout: one access line per issuer request with the
 * fields an operator needs, every line JSON (logs, access and audit lines
 * never mixed inside a line), and no token, code, client secret,
 * Authorization header or query value anywhere in it.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, form } from './support/client';
import { KubegateServer, prepareKubegate, STAGE_SECRET } from './support/kubegate';
import { openSeeder, type Seeder } from './support/seed';

let server: KubegateServer;
let seeder: Seeder;

beforeAll(async () => {
  server = new KubegateServer(await prepareKubegate({ idTokenLifetime: 60, reuseGrace: 2 }, 'kubegate-access-log-'));
  await server.start();
  seeder = await openSeeder(server.files.configPath);
});

afterAll(async () => {
  await seeder?.close();
  await server?.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
});

type Line = Record<string, unknown>;

/** stdout's lines once `done` holds for them (the log is written asynchronously). */
async function stdoutLines(done: (lines: Line[]) => boolean, timeoutMs = 10_000): Promise<{ text: string; lines: Line[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = fs.existsSync(server.stdoutFile) ? fs.readFileSync(server.stdoutFile, 'utf8') : '';
    const lines = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Line);
    if (done(lines) || Date.now() > deadline) return { text, lines };
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('access log on stdout', () => {
  it('writes one line per issuer request, with its fields, and never a token or secret', async () => {
    const secrets: string[] = [STAGE_SECRET, basic('stage-cluster', STAGE_SECRET)];
    const ids: string[] = [];
    const rid = (what: string) => {
      const id = `access-${what}-${ids.length}`;
      ids.push(id);
      return id;
    };
    const refresh = async (token: string, shape: 'basic' | 'form', id: string) => {
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': id, 'user-agent': 'kubectl/v1.34.1 (linux/amd64)' };
      const params: Record<string, string> = { grant_type: 'refresh_token', refresh_token: token };
      if (shape === 'basic') headers.authorization = basic('stage-cluster', STAGE_SECRET);
      else Object.assign(params, { client_id: 'stage-cluster', client_secret: STAGE_SECRET });
      const res = await fetch(`${server.url}/oidc/token`, { method: 'POST', headers, body: form(params) });
      const json = (await res.json()) as Record<string, string>;
      return { status: res.status, json, bytes: Number(res.headers.get('content-length')) };
    };

    // A chain of real refreshes, in both of kubectl's request shapes.
    const { refreshToken } = await seeder.mint('stage');
    secrets.push(refreshToken);
    let token = refreshToken;
    const expected: Array<{ id: string; fields: Line }> = [];
    for (let i = 0; i < 6; i++) {
      const id = rid('refresh');
      const r = await refresh(token, i % 2 === 0 ? 'basic' : 'form', id);
      expect(r.status).toBe(200);
      secrets.push(r.json.refresh_token!, r.json.id_token!);
      expected.push({ id, fields: { method: 'POST', path: '/oidc/token', status: 200, bytes: r.bytes, grant_type: 'refresh_token', client_ip: '127.0.0.1', user_agent: 'kubectl/v1.34.1 (linux/amd64)' } });
      token = r.json.refresh_token!;
    }
    // A refused one: its OAuth error code, still no token.
    const bogus = 'kgr_' + 'Z'.repeat(43);
    secrets.push(bogus);
    const badId = rid('bad');
    expect((await refresh(bogus, 'basic', badId)).status).toBe(400);
    expected.push({ id: badId, fields: { path: '/oidc/token', status: 400, grant_type: 'refresh_token', oauth_error: 'invalid_grant' } });

    // The authorization endpoint's query carries state and the PKCE challenge: the path only.
    const state = 'state-' + 'S'.repeat(30);
    const challenge = 'C'.repeat(43);
    secrets.push(state, challenge);
    const authzId = rid('authorize');
    const authz = await fetch(`${server.url}/oidc/authorize?response_type=code&client_id=kubernetes&redirect_uri=http://127.0.0.1:8000&state=${state}&code_challenge=${challenge}&code_challenge_method=S256&scope=openid`, {
      redirect: 'manual',
      headers: { 'x-request-id': authzId },
    });
    await authz.arrayBuffer();
    expected.push({ id: authzId, fields: { method: 'GET', path: '/oidc/authorize', status: authz.status } });

    // Metadata, keys, health, and a revocation of the live token.
    for (const [path, method] of [
      ['/.well-known/openid-configuration', 'GET'],
      ['/oidc/jwks', 'GET'],
      ['/healthz', 'HEAD'],
      ['/readyz', 'GET'],
    ] as const) {
      const id = rid('get');
      const res = await fetch(server.url + path, { method, headers: { 'x-request-id': id } });
      await res.arrayBuffer();
      expected.push({ id, fields: { method, path, status: 200, ...(method === 'HEAD' ? { bytes: 0 } : {}) } });
    }
    const revokeId = rid('revoke');
    const revoke = await fetch(`${server.url}/oidc/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('stage-cluster', STAGE_SECRET), 'x-request-id': revokeId },
      body: form({ token, token_type_hint: 'refresh_token' }),
    });
    await revoke.arrayBuffer();
    expect(revoke.status).toBe(200);
    expected.push({ id: revokeId, fields: { method: 'POST', path: '/oidc/revoke', status: 200 } });

    const refreshed = (ls: Line[]) => ls.filter((l) => l.audit === true && l.kind === 'token.refreshed' && String(l.request_id).startsWith('access-refresh-'));
    const { text, lines } = await stdoutLines((ls) => refreshed(ls).length >= 6 && ids.every((id) => ls.some((l) => l.access === true && l.request_id === id)));
    for (const { id, fields } of expected) {
      const mine = lines.filter((l) => l.access === true && l.request_id === id);
      expect(mine, id).toHaveLength(1);
      expect(mine[0]).toMatchObject({ level: 'info', msg: 'access', ...fields });
      expect(typeof mine[0]!.duration_ms).toBe('number');
      expect(Object.keys(mine[0]!).every((k) => !/query|body|authorization|secret|token|code/i.test(k))).toBe(true);
    }
    // The refreshes' audit lines sit beside them, whole.
    expect(refreshed(lines)).toHaveLength(6);

    // Nothing the server wrote, on stdout or stderr, holds a secret.
    const everything = text + fs.readFileSync(server.logFile, 'utf8');
    for (const s of secrets) expect(everything.includes(s), `output contains ${s.slice(0, 12)}…`).toBe(false);
  });
});
