import { describe, expect, it } from 'vitest';
import { TestClock } from '../../test/support/fixtures';
import { StoreUnavailableError } from '../store/errors';
import { createReadinessCheck, type ReadinessDeps } from './readiness';

/** A sleep the test releases by hand: no real timers. */
function manualSleep() {
  const waiting: Array<() => void> = [];
  return { sleep: () => new Promise<void>((r) => waiting.push(r)), fire: () => waiting.splice(0).forEach((r) => r()) };
}

function setup(probe: ReadinessDeps['store']['probeWrite'], o: { keyLoaded?: boolean } = {}) {
  const clock = new TestClock();
  const timer = manualSleep();
  let probes = 0;
  const check = createReadinessCheck({
    store: {
      probeWrite: (now) => {
        probes++;
        return probe(now);
      },
    },
    signingKeyLoaded: () => o.keyLoaded ?? true,
    now: clock.now,
    timeoutMs: 2000,
    cacheMs: 1000,
    sleep: timer.sleep,
  });
  return { check, clock, timer, probes: () => probes };
}

describe('readiness', () => {
  it('is ready when the database takes a write and a signing key is loaded', async () => {
    const { check } = setup(async () => {});
    expect(await check()).toEqual({ ready: true });
  });

  it.each([
    ['locked', 'busy'],
    ['full', 'full'],
    ['read-only', 'readonly'],
    ['broken', 'io'],
  ] as const)('is not ready while the database is %s', async (_, reason) => {
    const { check } = setup(() => Promise.reject(new StoreUnavailableError(reason, `database ${reason}`)));
    expect(await check()).toEqual({ ready: false, reason: 'database_not_writable', detail: reason });
  });

  it('says nothing of an unexpected error but that it happened', async () => {
    const { check } = setup(() => Promise.reject(new Error('SQLITE_CORRUPT /var/lib/kubegate/kubegate.db')));
    expect(await check()).toEqual({ ready: false, reason: 'database_error' });
  });

  it('is not ready without a signing key, and then does not even probe', async () => {
    const { check, probes } = setup(async () => {}, { keyLoaded: false });
    expect(await check()).toEqual({ ready: false, reason: 'signing_key_not_loaded' });
    expect(probes()).toBe(0);
  });

  it('bounds a probe that hangs, and starts no second probe while it hangs', async () => {
    let release!: () => void;
    const hanging = new Promise<void>((r) => (release = r));
    let calls = 0;
    const { check, clock, timer, probes } = setup(() => (++calls === 1 ? hanging : Promise.resolve()));
    const first = check();
    timer.fire();
    expect(await first).toEqual({ ready: false, reason: 'database_timeout' });
    clock.advance(5000);
    const second = check();
    timer.fire();
    expect(await second).toEqual({ ready: false, reason: 'database_timeout' });
    expect(probes()).toBe(1);
    release();
    await new Promise((r) => setImmediate(r));
    clock.advance(5000);
    const third = check();
    expect(await third).toEqual({ ready: true });
    expect(probes()).toBe(2);
  });

  it('caches a result for a second, so a flood of probes costs one write', async () => {
    const { check, clock, probes } = setup(async () => {});
    await Promise.all(Array.from({ length: 100 }, () => check()));
    clock.advance(999);
    await check();
    expect(probes()).toBe(1);
    clock.advance(1);
    await check();
    expect(probes()).toBe(2);
  });
});
