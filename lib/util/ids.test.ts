import { describe, expect, it } from 'vitest';
import { processUniqueId, timeOrderedId } from './ids';

describe('ids', () => {
  it('never repeats within a process', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => processUniqueId()));
    expect(ids.size).toBe(10_000);
  });

  it('sorts by time as text, across the digit-count boundary of base 36', () => {
    const times = [1, 35, 36, Date.UTC(2026, 0, 1), Date.UTC(2031, 0, 1)];
    const ids = times.map((t) => timeOrderedId(t));
    expect([...ids].sort()).toEqual(ids);
  });
});
