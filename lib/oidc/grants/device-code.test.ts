import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basicAuth, bodyOf, MINUTE, openTestEnv, SECOND, type TestEnv, type TokenSuccess } from '../../../test/support/fixtures';
import { decideUserCode, handleDeviceAuthorization, lookupUserCode } from '../device';
import type { IssuerResponse } from '../http';

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv();
});
afterEach(async () => {
  await env.close();
});

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

async function start(body = 'client_id=kubernetes&scope=openid'): Promise<{ device_code: string; user_code: string }> {
  const res = await handleDeviceAuthorization({ method: 'POST', headers: FORM, body, clientIp: '192.0.2.40' }, env.rt.issuerDeps);
  expect(res.status, res.body).toBe(200);
  return bodyOf(res);
}

function poll(deviceCode: string, clientId = 'kubernetes'): Promise<IssuerResponse> {
  return env.token({ method: 'POST', headers: FORM, body: new URLSearchParams({ grant_type: GRANT, device_code: deviceCode, client_id: clientId }).toString() });
}

function errorOf(res: IssuerResponse): string {
  expect(res.status, res.body).toBe(400);
  return bodyOf<{ error: string }>(res).error;
}

describe('grant_type=urn:ietf:params:oauth:grant-type:device_code: polling, approval, denial, expiry', () => {
  it('pending, slow_down (+5 s for good), approve on the page, then tokens once', async () => {
    const s = await start();
    expect(errorOf(await poll(s.device_code))).toBe('authorization_pending');
    env.clock.advance(2 * SECOND);
    expect(errorOf(await poll(s.device_code))).toBe('slow_down');
    // The interval is now 10 s: 6 s later is still too fast.
    env.clock.advance(6 * SECOND);
    expect(errorOf(await poll(s.device_code))).toBe('slow_down');
    env.clock.advance(15 * SECOND);
    expect(errorOf(await poll(s.device_code))).toBe('authorization_pending');

    const who = await env.signIn();
    const seen = await lookupUserCode(env.rt.authzDeps, s.user_code.toLowerCase(), { user: who.user, clientIp: '192.0.2.41' });
    expect(seen).toEqual({
      status: 'found',
      view: { userCode: s.user_code, clientId: 'kubernetes', cluster: 'prod', clusterDisplayName: 'prod', allowed: true, expiresAt: expect.any(Number) },
    });
    expect(await decideUserCode(env.rt.authzDeps, s.user_code, 'approve', { ...who, clientIp: '192.0.2.41' })).toBe('approved');
    // The user code is used up.
    expect(await decideUserCode(env.rt.authzDeps, s.user_code, 'approve', who)).toBe('not_found');

    env.clock.advance(15 * SECOND);
    const res = await poll(s.device_code);
    expect(res.status, res.body).toBe(200);
    const tokens = bodyOf<TokenSuccess>(res);
    expect(tokens.id_token).toBeTruthy();
    expect(tokens.refresh_token).toMatch(/^kgr_/);
    const [family] = await env.store.listFamilies({ loginSessionId: who.session.id });
    expect(family).toMatchObject({ origin: 'cli', cluster: 'prod', client_id: 'kubernetes' });
    expect((await env.store.listAudit({ limit: 5, kind: 'device.approved' }))[0]).toMatchObject({ username: 'alice', cluster: 'prod' });

    env.clock.advance(15 * SECOND);
    expect(errorOf(await poll(s.device_code))).toBe('invalid_grant');
  });

  it('denied: access_denied, and nothing is minted', async () => {
    const s = await start();
    const who = await env.signIn();
    expect(await decideUserCode(env.rt.authzDeps, s.user_code, 'deny', who)).toBe('denied');
    expect(errorOf(await poll(s.device_code))).toBe('access_denied');
    expect(await env.store.listFamilies({ loginSessionId: who.session.id })).toEqual([]);
  });

  it('a person whose groups do not open the cluster cannot approve', async () => {
    const s = await start();
    const bob = await env.signIn({ upstream: 'corp', subject: 'bob', username: 'bob', groups: ['interns'] });
    const seen = await lookupUserCode(env.rt.authzDeps, s.user_code, { user: bob.user });
    expect(seen).toMatchObject({ status: 'found', view: { allowed: false } });
    expect(await decideUserCode(env.rt.authzDeps, s.user_code, 'approve', bob)).toBe('not_allowed');
  });

  it('after ten minutes: expired_token, and the code can no longer be approved', async () => {
    const s = await start();
    env.clock.advance(10 * MINUTE);
    expect(errorOf(await poll(s.device_code))).toBe('expired_token');
    expect(await decideUserCode(env.rt.authzDeps, s.user_code, 'approve', await env.signIn())).toBe('not_found');
  });

  it('another client cannot poll the code', async () => {
    const s = await start();
    const res = await env.token({
      method: 'POST',
      headers: { ...FORM, authorization: basicAuth('staging', 's3cret +/%=') },
      body: new URLSearchParams({ grant_type: GRANT, device_code: s.device_code }).toString(),
    });
    expect(errorOf(res)).toBe('invalid_grant');
  });
});


describe('malformed polls', () => {
  it.each([
    ['no device_code', { grant_type: GRANT, client_id: 'kubernetes' }, 'invalid_request'],
    ['a malformed device_code', { grant_type: GRANT, client_id: 'kubernetes', device_code: 'kgd_x' }, 'invalid_grant'],
    ['an unknown device_code', { grant_type: GRANT, client_id: 'kubernetes', device_code: 'kgd_' + 'A'.repeat(43) }, 'invalid_grant'],
  ])('%s → %s', async (_, fields, error) => {
    const res = await env.token({ method: 'POST', headers: FORM, body: new URLSearchParams(fields).toString() });
    expect(errorOf(res)).toBe(error);
  });
});
