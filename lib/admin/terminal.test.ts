import { describe, expect, it } from 'vitest';
import { escapeForTerminal, jsonLine } from './terminal';

// Anything a terminal would act on or display out of order; none of it may survive escaping.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe('escapeForTerminal', () => {
  it.each([
    ['an OSC title sequence', '\u001b]0;pwned\u0007', '\\x1b]0;pwned\\x07'],
    ['a CSI cursor move', 'a\u001b[2Ab', 'a\\x1b[2Ab'],
    ['an 8-bit CSI (C1)', 'a\u009b2Jb', 'a\\x9b2Jb'],
    ['DEL', 'a\u007f', 'a\\x7f'],
    ['a line break and a tab (fake rows and columns)', 'a\nb\tc\r', 'a\\x0ab\\x09c\\x0d'],
    ['a bidi override (Trojan Source)', 'admin\u202enimda', 'admin\\u202enimda'],
    ['an isolate and a mark', '\u2066x\u2069\u200f', '\\u2066x\\u2069\\u200f'],
    ['a line separator', 'a\u2028b', 'a\\u2028b'],
    ['a lone surrogate', 'a\ud800b', 'a\\ud800b'],
    ['a backslash, so escapes are unambiguous', 'CORP\\alice', 'CORP\\\\alice'],
  ])('shows %s as visible escapes', (_, raw, shown) => {
    expect(escapeForTerminal(raw)).toBe(shown);
    expect(escapeForTerminal(raw)).not.toMatch(UNSAFE);
  });

  it('leaves ordinary text alone, non-ASCII letters and emoji included', () => {
    for (const s of ['alice', 'corp:bob@example.com', 'Zoë Ångström', '李雷', 'deploy 🚀', '192.0.2.1', '{"a":1}']) expect(escapeForTerminal(s)).toBe(s);
  });
});

describe('jsonLine', () => {
  it('is one line of JSON that reads back exactly, with no character a terminal acts on', () => {
    const value = { user: '\u001b]0;pwned\u0007', c1: 'a\u009bb', bidi: 'x\u202ey', sep: 'a\u2028b', nl: 'a\nb', ok: 'Zoë' };
    const line = jsonLine(value);
    expect(line).not.toContain('\n');
    expect(line).not.toMatch(UNSAFE);
    expect(JSON.parse(line)).toEqual(value);
  });
});
