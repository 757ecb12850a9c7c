import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration';

describe('parseDuration', () => {
  it.each([
    ['60s', 60],
    ['15m', 900],
    ['12h', 43200],
    ['30d', 30 * 86400],
    ['1h30m', 5400],
    ['1d2h3m4s', 86400 + 7200 + 180 + 4],
    ['90', 90],
    ['0', 0],
    ['0s', 0],
    [' 60s ', 60],
    ['007', 7],
    [60, 60],
    [0, 0],
  ] as const)('%j → %d seconds', (value, seconds) => {
    expect(parseDuration(value)).toBe(seconds);
  });

  it.each([
    '',
    '   ',
    's',
    '60x',
    '60S',
    '1.5h',
    '-5s',
    '-5',
    '1m1h', // units out of order
    '1h1h',
    '60 s',
    '1h 30m',
    'PT60S',
    '1e3',
    '0x10',
    1.5,
    -1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
  ])('%j is not a duration', (value) => {
    expect(parseDuration(value)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [59, '59s'],
    [60, '1m'],
    [90, '1m 30s'],
    [3600, '1h'],
    [43200, '12h'],
    [86400 + 3661, '1d 1h 1m 1s'],
    [89.6, '1m 30s'],
    [-5, '0s'],
  ])('%d → %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  it('round-trips through parseDuration once spaces are removed', () => {
    for (const s of [1, 59, 61, 3599, 3601, 86399, 90061]) {
      expect(parseDuration(formatDuration(s).replace(/ /g, ''))).toBe(s);
    }
  });
});
