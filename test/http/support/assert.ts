import { expect } from 'vitest';
import type { TokenCall } from './client';

/**
 * An OAuth error as the token endpoint must send it: the status, a body that
 * is exactly {error, error_description} (no stack, no extra fields), and
 * Cache-Control: no-store.
 */
export function expectOAuthError(r: TokenCall, status: number, error: string, description?: RegExp): void {
  const where = `${r.status} ${r.text}`;
  expect(r.status, where).toBe(status);
  expect(r.headers.get('content-type'), where).toMatch(/^application\/json/);
  expect(r.headers.get('cache-control'), where).toBe('no-store');
  expect(Object.keys(r.json).sort(), where).toEqual(['error', 'error_description']);
  expect(r.json.error, where).toBe(error);
  expect(r.json.error_description, where).toBeTypeOf('string');
  expect((r.json.error_description as string).length, where).toBeGreaterThan(0);
  if (description) expect(r.json.error_description, where).toMatch(description);
  // Nothing internal leaks: no stack frames, file paths or exception names.
  expect(r.text, where).not.toMatch(/\n\s+at |node_modules|\.ts:\d|\.mjs:\d|TypeError|ZodError|SqliteError/);
}
