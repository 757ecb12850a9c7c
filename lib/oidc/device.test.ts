import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basicAuth, bodyOf, openTestEnv, type TestEnv } from '../../test/support/fixtures';
import {
  formatUserCode,
  handleDeviceAuthorization,
  lookupUserCode,
  newUserCode,
  normalizeUserCode,
  USER_CODE_ALPHABET,
  UserCodeThrottle,
} from './device';

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv();
});
afterEach(async () => {
  await env.close();
});

const ISSUER = 'https://kubegate.example.com';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

interface DeviceStart {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

async function start(body = 'client_id=kubernetes&scope=openid'): Promise<DeviceStart> {
  const res = await handleDeviceAuthorization({ method: 'POST', headers: FORM, body, clientIp: '192.0.2.40' }, env.rt.issuerDeps);
  expect(res.status, res.body).toBe(200);
  expect(res.headers['cache-control']).toBe('no-store');
  return bodyOf<DeviceStart>(res);
}

describe('user codes (RFC 8628 §6.1)', () => {
  it('are 8 consonants, shown as XXXX-XXXX, typed in any case with or without the dash', () => {
    for (let i = 0; i < 200; i++) {
      const c = newUserCode();
      expect(c).toMatch(new RegExp(`^[${USER_CODE_ALPHABET}]{8}$`));
      expect(normalizeUserCode(formatUserCode(c).toLowerCase())).toBe(c);
      expect(normalizeUserCode(` ${c.slice(0, 4)} ${c.slice(4)} `)).toBe(c);
    }
    expect(USER_CODE_ALPHABET).not.toMatch(/[AEIOU01]/);
    for (const bad of ['', 'BCDF-GHJ', 'BCDF-GHJKL', 'ABCD-EFGH', '0000-0000', 'BCDF_GHJK']) expect(normalizeUserCode(bad)).toBeUndefined();
  });
});

describe('POST /oidc/device_authorization', () => {
  it('answers every field kubelogin reads', async () => {
    const s = await start();
    expect(s.device_code).toMatch(/^kgd_[A-Za-z0-9_-]{43}$/);
    expect(s.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(s.verification_uri).toBe(`${ISSUER}/device`);
    expect(s.verification_uri_complete).toBe(`${ISSUER}/device?user_code=${s.user_code}`);
    expect(s).toMatchObject({ expires_in: 600, interval: 5 });
  });

  it.each([
    ['an unknown client', 'client_id=intruder', 401, 'invalid_client'],
    ['no client', 'scope=openid', 401, 'invalid_client'],
    ['a confidential client without its secret', 'client_id=staging', 401, 'invalid_client'],
    ['a scope without openid', 'client_id=kubernetes&scope=profile', 400, 'invalid_scope'],
  ])('%s → %s %s', async (_, body, status, error) => {
    const res = await handleDeviceAuthorization({ method: 'POST', headers: FORM, body }, env.rt.issuerDeps);
    expect(res.status).toBe(status);
    expect(bodyOf(res)).toMatchObject({ error });
  });

  it('each request spends from the address bucket: a flood from one address is refused with 429 before anything is stored', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 125; i++) {
      const res = await handleDeviceAuthorization({ method: 'POST', headers: FORM, body: 'client_id=kubernetes', clientIp: '198.51.100.77' }, env.rt.issuerDeps);
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 120).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(120)).toEqual([429, 429, 429, 429, 429]);
    const other = await handleDeviceAuthorization({ method: 'POST', headers: FORM, body: 'client_id=kubernetes', clientIp: '198.51.100.78' }, env.rt.issuerDeps);
    expect(other.status).toBe(200);
  });

  it('a confidential client authenticates with Basic', async () => {
    const res = await handleDeviceAuthorization(
      { method: 'POST', headers: { ...FORM, authorization: basicAuth('staging', 's3cret +/%=') }, body: 'scope=openid' },
      env.rt.issuerDeps,
    );
    expect(res.status, res.body).toBe(200);
  });
});

describe('user-code entry is rate limited', () => {
  it('per address: ten tries a minute', async () => {
    const who = await env.signIn();
    const results = [];
    for (let i = 0; i < 12; i++) results.push((await lookupUserCode(env.rt.authzDeps, 'BCDF-GHJK', { user: who.user, clientIp: '198.51.100.7' })).status);
    expect(results.slice(0, 10).every((r) => r === 'not_found')).toBe(true);
    expect(results.slice(10)).toEqual(['rate_limited', 'rate_limited']);
    // Another address is not affected.
    expect((await lookupUserCode(env.rt.authzDeps, 'BCDF-GHJK', { user: who.user, clientIp: '198.51.100.8' })).status).toBe('not_found');
  });

  it('globally: failures from many addresses meet one limit', () => {
    const t = new UserCodeThrottle({ perAddress: { burst: 10, perMinute: 10 }, globalFailures: { burst: 3, perMinute: 3 } });
    for (let i = 0; i < 3; i++) {
      expect(t.admit(`203.0.113.${i}`, 0).ok).toBe(true);
      t.failed(0);
    }
    expect(t.admit('203.0.113.99', 0).ok).toBe(false);
    expect(t.admit('203.0.113.99', 60_000).ok).toBe(true);
  });
});
