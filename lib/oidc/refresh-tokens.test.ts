import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashRefreshToken, isWellFormedRefreshToken, newRefreshToken, REFRESH_TOKEN_PREFIX, successorOf } from './refresh-tokens';

const key = Buffer.alloc(32, 1);

describe('refresh tokens', () => {
  it('are kgr_ plus 256 random bits, and never repeat', () => {
    const tokens = new Set(Array.from({ length: 200 }, newRefreshToken));
    expect(tokens.size).toBe(200);
    for (const t of tokens) {
      expect(t.startsWith(REFRESH_TOKEN_PREFIX)).toBe(true);
      expect(isWellFormedRefreshToken(t)).toBe(true);
      expect(Buffer.from(t.slice(4), 'base64url')).toHaveLength(32);
    }
  });

  it('derive one successor per token and server key, itself well formed', () => {
    const t = newRefreshToken();
    const s = successorOf(t, key);
    expect(successorOf(t, key)).toBe(s);
    expect(isWellFormedRefreshToken(s)).toBe(true);
    expect(s).not.toBe(t);
    expect(successorOf(t, Buffer.alloc(32, 2))).not.toBe(s);
    expect(successorOf(s, key)).not.toBe(s);
  });

  it('are stored as an unsalted SHA-256, never as themselves', () => {
    const t = newRefreshToken();
    const h = hashRefreshToken(t);
    expect(h).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(h).toBe(hashRefreshToken(t));
    // The stored form is the plain SHA-256 (base64url) of the token: rows written before stay valid.
    expect(h).toBe(createHash('sha256').update(t).digest('base64url'));
    expect(hashRefreshToken('kgr_' + 'A'.repeat(43))).toBe('v9sI9r5wMbAhU5VkISLdseLFjHgDdmdKepkgrJd8dLw');
    expect(h).not.toContain(t.slice(4));
  });

  it.each(['', 'kgr_', 'kgr_' + 'A'.repeat(42), 'kgr_' + 'A'.repeat(44), 'KGR_' + 'A'.repeat(43), 'kgr_' + 'A'.repeat(42) + '=', 'kgr_' + 'A'.repeat(42) + '\n', ' kgr_' + 'A'.repeat(43)])(
    '%j is not well formed',
    (t) => {
      expect(isWellFormedRefreshToken(t)).toBe(false);
    },
  );
});
