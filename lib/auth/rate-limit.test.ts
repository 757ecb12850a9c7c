import { describe, expect, it } from 'vitest';
import { FailureLimiter } from './rate-limit';

describe('FailureLimiter', () => {
  const setup = () => {
    let t = 1_000_000;
    const clock = { now: () => t, advance: (ms: number) => (t += ms) };
    return { clock, limiter: new FailureLimiter({ limit: 3, windowMs: 60_000, now: clock.now }) };
  };

  it('refuses a key after `limit` failures until the oldest ages out of the window', () => {
    const { clock, limiter } = setup();
    for (let i = 0; i < 3; i++) {
      expect(limiter.retryAfter('alice')).toBe(0);
      limiter.fail('alice');
      clock.advance(1_000);
    }
    expect(limiter.retryAfter('alice')).toBe(57_000);
    expect(limiter.retryAfter('bob')).toBe(0);
    clock.advance(57_000);
    expect(limiter.retryAfter('alice')).toBe(0);
  });

  it('forgets a key on success', () => {
    const { limiter } = setup();
    limiter.fail('alice');
    limiter.fail('alice');
    limiter.reset('alice');
    limiter.fail('alice');
    limiter.fail('alice');
    expect(limiter.retryAfter('alice')).toBe(0);
  });
});
