import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../store/errors';
import type { AuditInput } from '../store/types';
import { createTokenEndpointGuards } from './guards';

const T = Date.UTC(2031, 0, 1);
const LIMITS = { per_credential: { burst: 10, per_minute: 60 }, per_address_failures: { burst: 10, per_minute: 60 } };

function capturingLog() {
  const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = [];
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => void lines.push({ level, msg, fields });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

const denial = { reason: 'family_revoked', family_id: 'fam-1', user_id: 'u-1', username: 'alice', cluster: 'prod', session_id: 's-1', client_ip: '192.0.2.7', request_id: 'r-1', generation: 4 };

describe('token endpoint guards at shutdown', () => {
  it('write the pending denial rows', async () => {
    const rows: AuditInput[] = [];
    const { lines, log } = capturingLog();
    const guards = createTokenEndpointGuards(LIMITS, { store: { appendAudit: async (e) => void rows.push(e) }, now: () => T, log });
    guards.denials.record(denial, T);
    guards.denials.record(denial, T + 1);
    await guards.stop();
    expect(rows).toMatchObject([{ kind: 'token.refresh_denied', family_id: 'fam-1', details: { count: 2 } }]);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('put rows the store refuses (disk full) into an error log line instead of dropping them silently', async () => {
    const { lines, log } = capturingLog();
    const full = async () => {
      throw new StoreUnavailableError('full', 'database or disk is full');
    };
    const guards = createTokenEndpointGuards(LIMITS, { store: { appendAudit: full }, now: () => T, log });
    guards.denials.record(denial, T);
    guards.denials.record({ ...denial, reason: 'rate_limited' }, T + 1);
    await guards.stop();
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toMatch(/not audited.*shutdown/);
    expect(errors[0]!.fields).toMatchObject({
      count: 1,
      rows: [{ kind: 'token.refresh_denied', family_id: 'fam-1', username: 'alice', details: { count: 2, reasons: { family_revoked: 1, rate_limited: 1 } } }],
    });
    expect(guards.denials.size).toBe(0);
  });
});
