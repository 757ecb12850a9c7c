import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../store/errors';
import { AppError } from '../util/errors';
import { silentLogger, type Logger } from '../util/log';
import {
  InvalidClientError,
  InvalidGrantError,
  InvalidRequestError,
  MethodNotAllowedError,
  OAuthError,
  printable,
  renderOAuthError,
  RequestTimeoutError,
  RequestTooLargeError,
  SlowDownError,
  TemporarilyUnavailableError,
  UnsupportedGrantTypeError,
} from './errors';

const ctx = { requestId: 'req-42', log: silentLogger, where: 'test' };
const RFC6749_DESCRIPTION = /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/;

describe('renderOAuthError', () => {
  it.each([
    [new InvalidRequestError('refresh_token is required'), 400, 'invalid_request', {}],
    [new MethodNotAllowedError(['POST']), 405, 'invalid_request', { allow: 'POST' }],
    [new MethodNotAllowedError(['GET', 'HEAD']), 405, 'invalid_request', { allow: 'GET, HEAD' }],
    [new RequestTooLargeError(16384), 413, 'invalid_request', { connection: 'close' }],
    [new RequestTimeoutError(10_000), 408, 'invalid_request', { connection: 'close' }],
    [new InvalidClientError('unknown client', true), 401, 'invalid_client', { 'www-authenticate': 'Basic realm="kubegate"' }],
    [new InvalidClientError('unknown client', false), 401, 'invalid_client', {}],
    [new InvalidGrantError('the refresh token is malformed'), 400, 'invalid_grant', {}],
    [new UnsupportedGrantTypeError('password'), 400, 'unsupported_grant_type', {}],
    [new SlowDownError('credential', 2), 429, 'slow_down', { 'retry-after': '2' }],
    [new SlowDownError('address', 1), 429, 'slow_down', { 'retry-after': '1' }],
    [new TemporarilyUnavailableError(2), 503, 'temporarily_unavailable', { 'retry-after': '2' }],
  ] as const)('%s → %i %s', (err, status, error, headers) => {
    const res = renderOAuthError(err, ctx);
    expect(res.status).toBe(status);
    expect(res.headers).toEqual({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', pragma: 'no-cache', ...headers });
    const body = JSON.parse(res.body) as { error: string; error_description: string };
    expect(Object.keys(body)).toEqual(['error', 'error_description']);
    expect(body.error).toBe(error);
    expect(body.error_description).toMatch(RFC6749_DESCRIPTION);
    expect(err).toBeInstanceOf(AppError);
    expect((err as OAuthError).code).toBe(error);
  });

  it.each([
    ['busy', '2'],
    ['timeout', '2'],
    ['full', '30'],
    ['readonly', '30'],
    ['io', '30'],
    ['closed', '30'],
  ] as const)('answers storage that is %s with 503 temporarily_unavailable, Retry-After %s, and says nothing was changed', (reason, retry) => {
    const warned: unknown[] = [];
    const log: Logger = { ...silentLogger, warn: (_m, f) => void warned.push(f) };
    const res = renderOAuthError(new StoreUnavailableError(reason, 'SQLITE_BUSY: database is locked (/var/lib/kubegate/kubegate.db)'), { ...ctx, log });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe(retry);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(res.body)).toEqual({
      error: 'temporarily_unavailable',
      error_description: `the token service cannot reach its storage right now; nothing was changed, retry in ${retry} seconds`,
    });
    expect(res.body).not.toContain('SQLITE');
    expect(warned).toEqual([expect.objectContaining({ request_id: 'req-42', reason })]);
  });

  it('turns anything else into a generic 500 naming only the request id, and logs it', () => {
    const lines: Array<[string, Record<string, unknown> | undefined]> = [];
    const log: Logger = { ...silentLogger, error: (m, f) => void lines.push([m, f]) };
    const res = renderOAuthError(new TypeError("Cannot read properties of undefined (reading 'kid') at /app/lib/oidc/keys.ts:71"), { ...ctx, log });
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body)).toEqual({ error: 'server_error', error_description: 'internal error (request id req-42)' });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(lines).toEqual([['test failed', expect.objectContaining({ request_id: 'req-42' })]]);
    expect(renderOAuthError('a string', { ...ctx, requestId: undefined }).body).toBe('{"error":"server_error","error_description":"internal error"}');
  });
});

describe('printable', () => {
  it('keeps RFC 6749 description characters and replaces the rest', () => {
    expect(printable('urn:ietf:params:oauth:grant-type:device_code')).toBe('urn:ietf:params:oauth:grant-type:device_code');
    expect(printable('a"b\\c\nd\u00e9')).toBe('a?b?c?d?');
    expect(printable('x'.repeat(100))).toHaveLength(64);
  });
});
