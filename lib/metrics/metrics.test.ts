import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SignInThrottle } from '../auth/rate-limit';
import { upstreamsOf } from '../upstream/registry';
import { passwordSignIn, type SignInDeps } from '../upstream/sign-in';
import { bodyOf, LOCAL_PASSWORD, MINUTE, minimalYaml, openTestEnv, parseTestConfig, SECOND, type TestEnv, type TokenSuccess } from '../../test/support/fixtures';
import { parseExposition } from './exposition';
import { Metrics } from '.';

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv();
});
afterEach(() => env.close());

/** The value of one series in this runtime's registry (0 when it was never touched). */
async function sample(name: string, labels: Record<string, string>): Promise<number> {
  const series = parseExposition(await env.rt.metrics.registry.metrics());
  return series.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? 0;
}

const refreshes = (result: string, cluster = 'prod') => sample('kubegate_refreshes_total', { result, cluster });

describe('refresh metrics through the token endpoint', () => {
  it('counts an issued refresh, a replay within the grace and a reuse after it, by cluster', async () => {
    const { refreshToken } = await env.mint('prod');
    const first = await env.refresh(refreshToken);
    expect(first.status).toBe(200);
    expect(await refreshes('issued')).toBe(1);
    expect(await sample('kubegate_token_requests_total', { grant_type: 'refresh_token', status: '200' })).toBe(1);
    expect(await sample('kubegate_token_request_duration_seconds_count', { grant_type: 'refresh_token' })).toBe(1);
    expect(await sample('kubegate_store_operation_duration_seconds_count', { operation: 'findRefreshContext' })).toBe(1);
    expect(await sample('kubegate_store_operation_duration_seconds_count', { operation: 'rotateRefreshToken' })).toBe(1);

    // The same token again at once: kubectl's retry, answered with the head.
    const again = await env.refresh(refreshToken);
    expect(bodyOf<TokenSuccess>(again).refresh_token).toBe(bodyOf<TokenSuccess>(first).refresh_token);
    expect(await refreshes('replayed_in_grace')).toBe(1);
    expect(await refreshes('issued')).toBe(1);

    env.clock.advance(MINUTE);
    expect((await env.refresh(refreshToken)).status).toBe(400);
    expect(await refreshes('reuse_detected')).toBe(1);
    // The family is revoked now: its head is refused with that reason.
    expect((await env.refresh(bodyOf<TokenSuccess>(first).refresh_token)).status).toBe(400);
    expect(await refreshes('family_revoked')).toBe(1);
    expect(await sample('kubegate_token_requests_total', { grant_type: 'refresh_token', status: '400' })).toBe(2);
    expect(await refreshes('issued', 'staging')).toBe(0);
  });

  it('counts refusals by reason: idle timeout, another cluster\'s client, an unknown token (no cluster)', async () => {
    const idle = await env.mint('prod');
    env.clock.advance(env.config.issuer.refresh_idle_timeout * 1000 + SECOND);
    expect((await env.refresh(idle.refreshToken)).status).toBe(400);
    expect(await refreshes('idle_timeout')).toBe(1);

    const prod = await env.mint('prod');
    expect((await env.refresh(prod.refreshToken, 'staging')).status).toBe(400);
    expect(await refreshes('client_mismatch')).toBe(1);

    expect((await env.refresh('kgr_' + 'A'.repeat(43))).status).toBe(400);
    expect(await refreshes('invalid_token', '_none')).toBe(1);
  });

  it('counts the credential limiter as a rate-limited refresh', async () => {
    const { refreshToken } = await env.mint('prod');
    let token = refreshToken;
    let limited = 0;
    for (let i = 0; i < 40 && limited === 0; i++) {
      const r = await env.refresh(token);
      if (r.status === 200) token = bodyOf<TokenSuccess>(r).refresh_token;
      else limited = r.status;
    }
    expect(limited).toBe(429);
    expect(await refreshes('rate_limited')).toBe(1);
    expect(await sample('kubegate_token_requests_total', { grant_type: 'refresh_token', status: '429' })).toBe(1);
    expect(await sample('kubegate_rate_limited_requests_total', { limiter: 'token_per_credential' })).toBe(1);
  });

  it('reports the active families, counted in the store and cached between scrapes', async () => {
    await env.mint('prod');
    const revoked = await env.mint('staging');
    expect(await sample('kubegate_active_refresh_token_families', {})).toBe(2);
    await env.store.revokeFamily(revoked.family.id, 'revoked_by_user', env.clock.now(), { kind: 'family.revoked' });
    // Within the cache the last count stands; a fresh registry with no cache sees the revocation.
    expect(await sample('kubegate_active_refresh_token_families', {})).toBe(2);
    const fresh = new Metrics({ clusters: ['prod'], activeFamiliesCacheMs: 0 });
    fresh.countActiveFamiliesWith(() => env.store.countActiveFamilies(env.clock.now(), env.clock.now() - 15 * MINUTE));
    expect(parseExposition(await fresh.registry.metrics()).find((s) => s.name === 'kubegate_active_refresh_token_families')?.value).toBe(1);
  });

  it('never labels a cluster the config does not have', () => {
    const m = new Metrics({ clusters: ['prod'] });
    m.refresh('issued', 'removed-since');
    m.refresh('issued', 'prod');
    return m.registry.metrics().then((text) => {
      const labels = parseExposition(text)
        .filter((s) => s.name === 'kubegate_refreshes_total')
        .map((s) => s.labels.cluster);
      expect(labels.sort()).toEqual(['_unconfigured', 'prod']);
    });
  });
});

describe('sign-in metrics', () => {
  const meta = { clientIp: '192.0.2.7', userAgent: 'test' };
  const deps = (): SignInDeps => ({ store: env.store, now: env.clock.now, log: env.rt.log, sessionLifetimeMs: 3_600_000, throttle: new SignInThrottle(env.clock.now), metrics: env.rt.metrics });

  it('counts a wrong password as bad_credentials and a good one as success, by upstream', async () => {
    const local = upstreamsOf(env.config).get('local')!;
    const d = deps();
    await expect(passwordSignIn(d, local, { username: 'alice', password: 'wrong' }, meta)).rejects.toMatchObject({ code: 'bad_credentials' });
    expect(await sample('kubegate_sign_ins_total', { upstream: 'local', result: 'bad_credentials' })).toBe(1);
    expect(await sample('kubegate_sign_ins_total', { upstream: 'local', result: 'success' })).toBe(0);
    await passwordSignIn(d, local, { username: 'alice', password: LOCAL_PASSWORD }, meta);
    expect(await sample('kubegate_sign_ins_total', { upstream: 'local', result: 'success' })).toBe(1);
  });

  it('counts throttled attempts as rate_limited, and the limiter that refused them', async () => {
    const local = upstreamsOf(env.config).get('local')!;
    const d = deps();
    let refused: unknown;
    for (let i = 0; i < 50 && !refused; i++) {
      await passwordSignIn(d, local, { username: 'alice', password: 'wrong' }, meta).catch((err: { code?: string }) => {
        if (err.code === 'rate_limited') refused = err;
      });
    }
    expect(refused).toBeDefined();
    expect(await sample('kubegate_sign_ins_total', { upstream: 'local', result: 'rate_limited' })).toBe(1);
    const limiters = parseExposition(await env.rt.metrics.registry.metrics()).filter((s) => s.name === 'kubegate_rate_limited_requests_total');
    expect(limiters.map((s) => [s.labels.limiter?.startsWith('sign_in_'), s.value])).toEqual([[true, 1]]);
  });
});

describe('parseExposition', () => {
  it('reads names, escaped label values and values, and skips comments', () => {
    const text = ['# HELP x_total help', '# TYPE x_total counter', 'x_total{a="1",b="q\\"uo\\\\te"} 3', 'y 4.5e-3', 'z{le="+Inf"} +Inf', ''].join('\n');
    expect(parseExposition(text)).toEqual([
      { name: 'x_total', labels: { a: '1', b: 'q"uo\\te' }, value: 3 },
      { name: 'y', labels: {}, value: 0.0045 },
      { name: 'z', labels: { le: '+Inf' }, value: Infinity },
    ]);
  });
});

describe('the metrics config block', () => {
  it('is off when omitted, listens on all addresses by default, and names a bad field', () => {
    expect(parseTestConfig(minimalYaml()).metrics).toBeUndefined();
    expect(parseTestConfig(minimalYaml('metrics:\n  port: 9464\n')).metrics).toEqual({ port: 9464, host: '0.0.0.0' });
    expect(() => parseTestConfig(minimalYaml('metrics:\n  port: 70000\n'))).toThrow(/metrics\.port: must be a port number \(1-65535\)/);
    expect(() => parseTestConfig(minimalYaml('metrics:\n  port: 9464\n  path: /m\n'))).toThrow(/metrics.*path/);
  });
});
