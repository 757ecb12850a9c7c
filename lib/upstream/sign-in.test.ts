import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SignInThrottle } from '../auth/rate-limit';
import { openSqliteStore } from '../store/sqlite';
import type { Store } from '../store/types';
import { silentLogger } from '../util/log';
import { T0, TestClock } from '../../test/support/fixtures';
import { UpstreamSchema, type BoundUpstream } from './registry';
import { redeemTicket, handleUpstreamAction, readBindingCookie, BINDING_COOKIE, safeNext } from './redirect-flow';
import { oauthSignIn, passwordSignIn, SignInRefused, type SignInDeps } from './sign-in';
import { UpstreamRefusal, type Connector, type UpstreamSignIn } from './types';

const meta = { clientIp: '192.0.2.7', userAgent: 'test' };
const base = UpstreamSchema.parse({ id: 'corp', type: 'local' });
const signInOf = (subject: string): UpstreamSignIn => ({
  identity: { upstream: 'corp', subject, username: subject, email: null, name: null, groups: ['dev'] },
  amr: ['pwd'],
});

let store: Store;
let clock: TestClock;
let deps: SignInDeps;
beforeEach(async () => {
  store = await openSqliteStore(':memory:');
  clock = new TestClock(T0);
  deps = { store, now: clock.now, log: silentLogger, sessionLifetimeMs: 3_600_000, throttle: new SignInThrottle(clock.now) };
});
afterEach(() => store.close());

const bind = (connector: Partial<Connector> & Pick<Connector, 'flow'>): BoundUpstream => ({
  config: base,
  connector: { type: 'test', schema: undefined as never, presentation: () => ({ kind: 'button', label: 'x' }), formActionOrigins: () => [], ...connector } as Connector,
});

const failures = async () => (await store.listAudit({ limit: 50, kind: 'session.login_failed' })).map((e) => e.details);

describe('password sign-in through a connector', () => {
  it('opens a login session for what the connector verified, and audits it', async () => {
    const bound = bind({ flow: 'password', authenticate: async (_, { username }) => signInOf(username) });
    const sid = await passwordSignIn(deps, bound, { username: 'alice', password: 'pw' }, meta);
    const opened = await store.getLoginSession(sid);
    expect(opened?.user).toMatchObject({ upstream: 'corp', subject: 'alice', groups: ['dev'] });
    expect(opened?.session).toMatchObject({ amr: ['pwd'], client_ip: '192.0.2.7' });
    expect(await store.listAudit({ limit: 5, kind: 'session.login' })).toHaveLength(1);
  });

  it('never asks the connector about an empty password (an anonymous LDAP bind is not a login)', async () => {
    let asked = 0;
    const bound = bind({ flow: 'password', authenticate: async () => (asked++, signInOf('x')) });
    await expect(passwordSignIn(deps, bound, { username: 'alice', password: '' }, meta)).rejects.toMatchObject({ code: 'bad_credentials' });
    await expect(passwordSignIn(deps, bound, { username: '', password: 'pw' }, meta)).rejects.toBeInstanceOf(SignInRefused);
    expect(asked).toBe(0);
  });

  it('audits a refusal with its reason, and throttles repeated wrong passwords before the connector is asked', async () => {
    let asked = 0;
    const bound = bind({
      flow: 'password',
      authenticate: async () => {
        asked++;
        throw new UpstreamRefusal('bad_credentials', 'invalid credentials');
      },
    });
    const codes: string[] = [];
    for (let i = 0; i < 30; i++) {
      codes.push(await passwordSignIn(deps, bound, { username: 'Alice', password: `guess-${i}` }, meta).catch((e: SignInRefused) => e.code));
    }
    expect(codes[0]).toBe('bad_credentials');
    expect(codes.at(-1)).toBe('rate_limited');
    expect(asked).toBeLessThan(30);
    expect((await failures()).map((d) => d.reason)).toContain('bad_credentials');
  });

  it('does not count an unreachable directory as a guess, and says it was unavailable', async () => {
    const bound = bind({
      flow: 'password',
      authenticate: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:389');
      },
    });
    for (let i = 0; i < 30; i++) {
      await expect(passwordSignIn(deps, bound, { username: 'alice', password: 'pw' }, meta)).rejects.toMatchObject({ code: 'unavailable' });
    }
    expect((await failures())[0]).toMatchObject({ upstream: 'corp', reason: 'unavailable', detail: expect.stringContaining('ECONNREFUSED') });
  });
});

describe('OAuth sign-in through a connector', () => {
  it('refuses what the connector refuses, with its code, and opens nothing', async () => {
    const bound = bind({
      flow: 'oauth',
      complete: async () => {
        throw new UpstreamRefusal('not_allowed', 'not a member of any allowed organisation');
      },
    });
    await expect(oauthSignIn(deps, bound, { account: {}, profile: {} }, meta)).rejects.toMatchObject({ code: 'not_allowed' });
    expect(await store.listLoginSessions({})).toEqual([]);
    expect((await failures())[0]).toMatchObject({ reason: 'not_allowed', detail: 'not a member of any allowed organisation' });
  });
});

describe('redirect flows: binding and one-time tickets', () => {
  const deps2 = () => ({ ...deps, issuerUrl: 'https://kubegate.example.com' });
  const samlLike = (signIn = signInOf('s-1')) =>
    bind({
      flow: 'redirect',
      handle: async (_c, action) => {
        if (action === 'login') return { type: 'start', location: 'https://idp.example.com/sso?SAMLRequest=x', binding: 'b'.repeat(32) };
        if (action === 'acs') return { type: 'signed_in', signIn, binding: 'b'.repeat(32) };
        throw new UpstreamRefusal('invalid_response', 'unsolicited response');
      },
    });

  it('start: redirects to the IdP and binds the browser with a __Host- cookie carrying a safe return path', async () => {
    const res = await handleUpstreamAction(deps2(), samlLike(), 'login', new Request('https://kubegate.example.com/api/upstream/corp/login?next=//evil.example'), meta);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('https://idp.example.com/sso?SAMLRequest=x');
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(new RegExp(`^${BINDING_COOKIE}=[^;]+; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax$`));
    expect(readBindingCookie(cookie.split(';')[0]!.split('=')[1])).toEqual({ b: 'b'.repeat(32), u: 'corp', n: '/' });
  });

  it('answer: a ticket redeemable once, only with the matching binding', async () => {
    const res = await handleUpstreamAction(deps2(), samlLike(), 'acs', new Request('https://kubegate.example.com/api/upstream/corp/acs', { method: 'POST' }), meta);
    const location = new URL(res.headers.get('location')!);
    expect(location.pathname).toBe('/api/upstream/corp/complete');
    const ticket = location.searchParams.get('ticket')!;
    // Someone else's browser (no or another binding) gets nothing, and the ticket is spent.
    await expect(redeemTicket(deps, bind({ flow: 'redirect' }), { ticket, binding: 'c'.repeat(32) }, meta)).rejects.toMatchObject({ code: 'invalid_response' });
    await expect(redeemTicket(deps, bind({ flow: 'redirect' }), { ticket, binding: 'b'.repeat(32) }, meta)).rejects.toMatchObject({ code: 'invalid_response' });
    expect(await store.listLoginSessions({})).toEqual([]);
  });

  it('answer: the binding browser gets its session; a replayed ticket or another upstream does not', async () => {
    const res = await handleUpstreamAction(deps2(), samlLike(), 'acs', new Request('https://k.example/api/upstream/corp/acs', { method: 'POST' }), meta);
    const ticket = new URL(res.headers.get('location')!).searchParams.get('ticket')!;
    await expect(redeemTicket(deps, { ...bind({ flow: 'redirect' }), config: { ...base, id: 'other' } }, { ticket, binding: 'b'.repeat(32) }, meta)).rejects.toBeInstanceOf(UpstreamRefusal);
    const res2 = await handleUpstreamAction(deps2(), samlLike(), 'acs', new Request('https://k.example/api/upstream/corp/acs', { method: 'POST' }), meta);
    const ticket2 = new URL(res2.headers.get('location')!).searchParams.get('ticket')!;
    const sid = await redeemTicket(deps, bind({ flow: 'redirect' }), { ticket: ticket2, binding: 'b'.repeat(32) }, meta);
    expect((await store.getLoginSession(sid))?.user.subject).toBe('s-1');
    await expect(redeemTicket(deps, bind({ flow: 'redirect' }), { ticket: ticket2, binding: 'b'.repeat(32) }, meta)).rejects.toBeInstanceOf(UpstreamRefusal);
  });

  it('answer: a ticket expires after a minute', async () => {
    const res = await handleUpstreamAction(deps2(), samlLike(), 'acs', new Request('https://k.example/api/upstream/corp/acs', { method: 'POST' }), meta);
    const ticket = new URL(res.headers.get('location')!).searchParams.get('ticket')!;
    clock.advance(61_000);
    await expect(redeemTicket(deps, bind({ flow: 'redirect' }), { ticket, binding: 'b'.repeat(32) }, meta)).rejects.toBeInstanceOf(UpstreamRefusal);
  });

  it('a refused answer goes back to the sign-in page with its reason, audited', async () => {
    const res = await handleUpstreamAction(deps2(), samlLike(), 'bogus', new Request('https://k.example/api/upstream/corp/bogus'), meta);
    expect(res.headers.get('location')).toBe('https://kubegate.example.com/login?error=invalid_response');
    expect((await failures())[0]).toMatchObject({ upstream: 'corp', reason: 'invalid_response', detail: 'unsolicited response' });
  });

  it.each([
    ['/clusters/prod', '/clusters/prod'],
    ['/device?user_code=ABCD-EFGH', '/device?user_code=ABCD-EFGH'],
    ['//evil.example/x', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['javascript:alert(1)', '/'],
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
    [undefined, '/'],
  ])('safeNext(%j) is %j', (raw, expected) => {
    expect(safeNext(raw)).toBe(expected);
  });
});
