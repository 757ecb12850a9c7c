import { describe, expect, it } from 'vitest';
import { DEFAULT_THROTTLE_LIMITS, SignInThrottle, type ThrottleDecision } from './rate-limit';

const SECOND = 1000;
const WINDOW = DEFAULT_THROTTLE_LIMITS.windowMs;

function setup() {
  let t = Date.UTC(2031, 0, 1);
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  return { clock, throttle: new SignInThrottle(clock.now) };
}

/** One sign-in attempt with a wrong password: the throttle's decision, and a failure recorded when it was allowed. */
function guess(throttle: SignInThrottle, account: string, address: string): ThrottleDecision {
  const d = throttle.attempt(account, address);
  if (d.allowed) throttle.failed(account, address);
  return d;
}

/** One attempt with the right password. */
function signIn(throttle: SignInThrottle, account: string, address: string): ThrottleDecision {
  const d = throttle.attempt(account, address);
  if (d.allowed) throttle.succeeded(account, address);
  return d;
}

describe('SignInThrottle', () => {
  it('an attacker at one address cannot lock the account: the real user from another address still signs in', () => {
    const { throttle } = setup();
    for (let i = 0; i < 5; i++) expect(guess(throttle, 'local:root', '203.0.113.9').allowed).toBe(true);
    // The attacker's address is refused for this account, even with the right password.
    const refused = throttle.attempt('local:root', '203.0.113.9');
    expect(refused).toMatchObject({ allowed: false, scope: 'account_address' });
    // The owner, elsewhere, is not.
    expect(signIn(throttle, 'local:root', '198.51.100.7')).toEqual({ allowed: true });
    // The attacker's address may still sign in to another account (its own, say).
    expect(throttle.attempt('local:other', '203.0.113.9')).toEqual({ allowed: true });
  });

  it('a refused (account, address) opens again when its oldest failure leaves the window', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 5; i++) {
      guess(throttle, 'local:root', '203.0.113.9');
      clock.advance(SECOND);
    }
    const d = throttle.attempt('local:root', '203.0.113.9');
    expect(d).toMatchObject({ allowed: false, retryAfterMs: WINDOW - 5 * SECOND });
    clock.advance(WINDOW - 5 * SECOND);
    expect(throttle.attempt('local:root', '203.0.113.9')).toEqual({ allowed: true });
  });

  it('one address guessing across many accounts is refused for every account', () => {
    const { throttle } = setup();
    for (let i = 0; i < 30; i++) expect(guess(throttle, `local:user${i}`, '203.0.113.9').allowed).toBe(true);
    expect(throttle.attempt('local:fresh', '203.0.113.9')).toMatchObject({ allowed: false, scope: 'address' });
    expect(throttle.attempt('local:fresh', '198.51.100.7')).toEqual({ allowed: true });
  });

  it('an attacker at many addresses is slowed down on the account, never locks it, and its guess rate is bounded', () => {
    const { clock, throttle } = setup();
    // The owner signed in from home yesterday.
    expect(signIn(throttle, 'local:root', '198.51.100.7').allowed).toBe(true);
    clock.advance(86_400_000);

    // A botnet: a fresh address for every guess, one guess every 100 ms for a whole window.
    let tried = 0;
    let maxRetry = 0;
    for (let i = 0; i < WINDOW / 100; i++) {
      const d = guess(throttle, 'local:root', `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      if (d.allowed) tried++;
      else maxRetry = Math.max(maxRetry, d.retryAfterMs);
      clock.advance(100);
    }
    // 9 000 requests; 10 free guesses, then one per growing delay (1+2+4+8+16 s, then 30 s each).
    expect(tried).toBeLessThanOrEqual(10 + 5 + Math.ceil(WINDOW / DEFAULT_THROTTLE_LIMITS.accountMaxDelayMs));
    expect(tried).toBeGreaterThan(10);
    // Slowed, not locked: never more than the longest delay.
    expect(maxRetry).toBeLessThanOrEqual(DEFAULT_THROTTLE_LIMITS.accountMaxDelayMs);

    // In the middle of the attack, the owner from their usual address signs in at once.
    expect(signIn(throttle, 'local:root', '198.51.100.7')).toEqual({ allowed: true });
    // Someone at a new address waits seconds, then gets a turn.
    const newcomer = throttle.attempt('local:root', '192.0.2.44');
    expect(newcomer).toMatchObject({ allowed: false, scope: 'account' });
    if (newcomer.allowed) throw new Error('unreachable');
    clock.advance(newcomer.retryAfterMs);
    expect(signIn(throttle, 'local:root', '192.0.2.44')).toEqual({ allowed: true });
  });

  it('the delay grows with each failure past the threshold: 1 s, 2 s, 4 s … up to 30 s', () => {
    const { throttle } = setup();
    expect([9, 10, 11, 12, 13, 14, 15, 16, 40].map((n) => throttle.accountDelay(n))).toEqual([
      0, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
  });

  it('the account slow-down ends when the failures leave the window', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 12; i++) {
      guess(throttle, 'local:root', `10.0.0.${i}`);
      clock.advance(10 * SECOND);
    }
    expect(throttle.attempt('local:root', '10.0.1.1').allowed).toBe(true);
    throttle.failed('local:root', '10.0.1.1');
    expect(throttle.attempt('local:root', '10.0.1.2').allowed).toBe(false);
    clock.advance(WINDOW);
    expect(throttle.attempt('local:root', '10.0.1.2')).toEqual({ allowed: true });
  });

  it('reports each throttled key once per window, with the count of refusals it did not report', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 5; i++) guess(throttle, 'local:root', '203.0.113.9');
    const decisions = Array.from({ length: 50 }, () => throttle.attempt('local:root', '203.0.113.9'));
    expect(decisions.every((d) => !d.allowed)).toBe(true);
    expect(decisions.filter((d) => !d.allowed && d.audit)).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ audit: true, suppressed: 0 });

    // Another key is reported on its own.
    for (let i = 0; i < 5; i++) guess(throttle, 'local:admin', '203.0.113.9');
    expect(throttle.attempt('local:admin', '203.0.113.9')).toMatchObject({ allowed: false, audit: true });

    // Next window: the attacker is back, fails again, and the first refusal reports the 49 not reported before.
    clock.advance(WINDOW);
    for (let i = 0; i < 5; i++) expect(guess(throttle, 'local:root', '203.0.113.9').allowed).toBe(true);
    expect(throttle.attempt('local:root', '203.0.113.9')).toMatchObject({ allowed: false, audit: true, suppressed: 49 });
    expect(throttle.attempt('local:root', '203.0.113.9')).toMatchObject({ allowed: false, audit: false });
  });

  it('a success forgets that pair\'s failures (a typo or two does not add up over the day)', () => {
    const { throttle } = setup();
    for (let i = 0; i < 4; i++) guess(throttle, 'local:root', '198.51.100.7');
    signIn(throttle, 'local:root', '198.51.100.7');
    for (let i = 0; i < 4; i++) expect(guess(throttle, 'local:root', '198.51.100.7').allowed).toBe(true);
  });

  it('a missing client address is one shared address, not a way around the limits', () => {
    const { throttle } = setup();
    for (let i = 0; i < 5; i++) guess(throttle, 'local:root', '');
    expect(throttle.attempt('local:root', null)).toMatchObject({ allowed: false, scope: 'account_address' });
  });

  it('keeps its memory bounded under a flood of names', () => {
    const throttle = new SignInThrottle(() => Date.UTC(2031, 0, 1), { maxKeys: 100 });
    for (let i = 0; i < 1000; i++) guess(throttle, `local:u${i}`, `10.0.${i >> 8}.${i & 255}`);
    const sizes = ['pairs', 'addresses', 'accounts'].map((k) => (throttle as unknown as Record<string, Map<string, unknown>>)[k]!.size);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(100);
  });
});
