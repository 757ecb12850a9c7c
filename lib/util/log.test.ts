import { describe, expect, it } from 'vitest';
import { createLogger, redact, type Level } from './log';

function capture(level?: Level) {
  const lines: string[] = [];
  const log = createLogger({ level, write: (line) => lines.push(line) });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const SECRET = 'kgr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

describe('log redaction', () => {
  it.each([
    'refresh_token',
    'id_token',
    'access_token',
    'token',
    'password',
    'password_hash',
    'client_secret',
    'authorization',
    'Authorization',
    'cookie',
    'private_jwk',
    'credential',
  ])('writes a field named %s as [redacted]', (field) => {
    const { log, lines, parsed } = capture();
    log.info('refresh', { [field]: SECRET, family_id: 'f-1' });
    expect(parsed()[0]).toMatchObject({ level: 'info', msg: 'refresh', [field]: '[redacted]', family_id: 'f-1' });
    expect(lines.join('\n')).not.toContain(SECRET);
  });

  it('redacts secrets nested in objects and arrays', () => {
    const { log, lines, parsed } = capture();
    log.error('upstream call failed', {
      request: { headers: { authorization: `Basic ${SECRET}`, accept: 'application/json' } },
      attempts: [{ refresh_token: SECRET, n: 1 }],
    });
    expect(lines.join('\n')).not.toContain(SECRET);
    expect(parsed()[0]).toMatchObject({
      request: { headers: { authorization: '[redacted]', accept: 'application/json' } },
      attempts: [{ refresh_token: '[redacted]', n: 1 }],
    });
  });

  it('keeps other fields, drops undefined ones, and does not change the caller object', () => {
    const fields = { user: 'alice', request_id: 'r1', gone: undefined, password: 'pw' };
    expect(redact(fields)).toEqual({ user: 'alice', request_id: 'r1', password: '[redacted]' });
    expect(fields.password).toBe('pw');
  });

  it('writes one JSON line per call at or above the level', () => {
    const { log, parsed } = capture('warn');
    log.debug('d');
    log.info('i');
    log.warn('w', { n: 1 });
    log.error('e');
    expect(parsed().map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
    expect(typeof parsed()[0]!.time).toBe('string');
  });
});
