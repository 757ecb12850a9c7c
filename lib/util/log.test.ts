import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, parseLevel, redact, routeConsoleToLog, type Level } from './log';

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

describe('log redaction on pino: what reaches the output', () => {
  const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl';

  it('an error object: its own fields, its cause and its message never carry a token out', () => {
    const { log, lines, parsed } = capture();
    const cause = Object.assign(new Error('upstream said no'), { response: { headers: { authorization: `Bearer ${SECRET}` } } });
    const err = Object.assign(new Error(`refresh failed for ${SECRET}`, { cause }), { refresh_token: SECRET, status: 400 });
    log.error('refresh failed', { error: err, err });
    const out = lines.join('\n');
    expect(out).not.toContain(SECRET);
    const line = parsed()[0]!;
    expect(line).toMatchObject({
      msg: 'refresh failed',
      error: { type: 'Error', refresh_token: '[redacted]', status: 400, cause: { message: 'upstream said no', response: { headers: { authorization: '[redacted]' } } } },
    });
    expect((line.error as { message: string }).message).toBe('refresh failed for [redacted]');
    expect(typeof (line.err as { stack: unknown }).stack).toBe('string');
  });

  it('token-shaped values are replaced under any field name, a JWT too', () => {
    const { log, lines } = capture();
    log.warn(`bad grant ${SECRET}`, { detail: `got ${SECRET}`, list: [JWT], code: 'kgc_' + 'B'.repeat(43) });
    const out = lines.join('\n');
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(JWT);
    expect(out).not.toContain('B'.repeat(43));
    expect(JSON.parse(out)).toMatchObject({ msg: 'bad grant [redacted]', detail: 'got [redacted]', list: ['[redacted]'] });
  });

  it('a flat line (written without pino) and a nested one have the same shape: level, msg, time, then the fields in order', () => {
    const { log, lines } = capture();
    log.info('flat', { a: 'x', n: 1, ok: true, none: null, gone: undefined, token: SECRET, ua: `curl ${SECRET}` });
    log.info('nested', { a: 'x', n: 1, ok: true, none: null, gone: undefined, token: SECRET, ua: `curl ${SECRET}`, o: { b: 1 } });
    log.info('odd number', { n: Number.NaN });
    const [flat, nested, odd] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(flat!)).toEqual(['level', 'msg', 'time', 'a', 'n', 'ok', 'none', 'token', 'ua']);
    expect(Object.keys(nested!)).toEqual(['level', 'msg', 'time', 'a', 'n', 'ok', 'none', 'token', 'ua', 'o']);
    expect(flat).toMatchObject({ level: 'info', msg: 'flat', a: 'x', n: 1, ok: true, none: null, token: '[redacted]', ua: 'curl [redacted]' });
    expect(flat!.time).toBe(flat!.time && new Date(flat!.time as string).toISOString());
    expect(odd).toMatchObject({ level: 'info', msg: 'odd number' });
    expect(lines.join('\n')).not.toContain(SECRET);
  });

  it('deeply nested secrets are redacted, and nothing recursive escapes the depth bound', () => {
    const { log, lines } = capture();
    let deep: Record<string, unknown> = { client_secret: 'plain-secret-value' };
    for (let i = 0; i < 20; i++) deep = { next: deep };
    log.info('deep', { deep, shallow: { a: { b: { c: { password: 'plain-secret-value' } } } } });
    expect(lines.join('\n')).not.toContain('plain-secret-value');
  });

  it('lines have the shape log shippers and the audit lines share: level label, ISO time, msg, no pid/hostname', () => {
    const { log, parsed } = capture();
    log.info('hello', { n: 1 });
    const line = parsed()[0]!;
    expect(Object.keys(line).sort()).toEqual(['level', 'msg', 'n', 'time']);
    expect(line.level).toBe('info');
    expect(new Date(line.time as string).toISOString()).toBe(line.time);
  });

  it('parseLevel reads LOG_LEVEL: the four levels in any case, unset means info, anything else is refused', () => {
    expect(parseLevel(undefined)).toBe('info');
    expect(parseLevel('')).toBe('info');
    expect(parseLevel('DEBUG')).toBe('debug');
    expect(parseLevel('warn')).toBe('warn');
    expect(parseLevel('verbose')).toBeUndefined();
  });
});

describe('routeConsoleToLog', () => {
  it('turns console.log and console.info into JSON info lines without colour codes', () => {
    const saved = { log: console.log, info: console.info };
    const { log, parsed } = capture();
    try {
      routeConsoleToLog(log);
      console.log('\u001b[32m✓\u001b[39m Running next.config.js took %dms', 115);
      console.info({ a: 1 });
    } finally {
      Object.assign(console, saved);
    }
    expect(parsed()).toEqual([
      expect.objectContaining({ level: 'info', msg: '✓ Running next.config.js took 115ms', source: 'console' }),
      expect.objectContaining({ level: 'info', msg: '{ a: 1 }', source: 'console' }),
    ]);
  });
});

describe('stdout: the lines of one event-loop turn go out together', () => {
  it('in the order logged, scrubbed, and all of them even when the process exits right after logging', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-log-'));
    const script = path.join(dir, 'log-stdout.ts');
    fs.writeFileSync(
      script,
      [
        `import { createLogger, writeStdoutLine } from ${JSON.stringify(path.resolve(import.meta.dirname, 'log.ts'))};`,
        `const log = createLogger();`,
        `log.info('first', { n: 1 });`,
        `writeStdoutLine('{"audit":true,"ua":"${SECRET}"}');`,
        `log.warn('nested', { o: { refresh_token: 'x' } });`,
        `setImmediate(() => { log.info('next turn', { n: 2 }); log.info('exit now', { n: 3 }); process.exit(0); });`,
      ].join('\n'),
    );
    try {
      const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: path.resolve(import.meta.dirname, '../..') });
      expect(run.status).toBe(0);
      expect(run.stdout).not.toContain(SECRET);
      const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.msg ?? (l.audit ? 'audit' : '?'))).toEqual(['first', 'audit', 'nested', 'next turn', 'exit now']);
      expect(lines[1]).toEqual({ audit: true, ua: '[redacted]' });
      expect(lines[2]).toMatchObject({ level: 'warn', o: { refresh_token: '[redacted]' } });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
