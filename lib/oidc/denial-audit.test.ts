import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../store/errors';
import type { AuditInput } from '../store/types';
import { silentLogger, type Logger } from '../util/log';
import { DenialAudit, type Denial } from './denial-audit';

const T = Date.UTC(2031, 0, 1);
const S = 1000;

function denial(o: Partial<Denial> = {}): Denial {
  return {
    reason: 'family_revoked',
    family_id: 'fam-1',
    user_id: 'u-1',
    username: 'alice',
    cluster: 'prod',
    session_id: 's-1',
    client_ip: '192.0.2.7',
    request_id: 'req-1',
    generation: 3,
    ...o,
  };
}

function recordingStore() {
  const rows: Array<{ event: AuditInput; at: number }> = [];
  return { rows, appendAudit: async (event: AuditInput, at: number) => void rows.push({ event, at }) };
}

describe('DenialAudit', () => {
  it('coalesces repeated denials of one family into one row with counts, written only at flush', async () => {
    const audit = new DenialAudit();
    const store = recordingStore();
    for (let i = 0; i < 30; i++) audit.record(denial({ request_id: `req-${i}` }), T + i * S);
    for (let i = 0; i < 2794; i++) audit.record(denial({ reason: 'rate_limited', client_ip: i % 2 ? '192.0.2.8' : '192.0.2.7' }), T + 40 * S);
    expect(store.rows).toEqual([]); // nothing written on the request path
    await audit.flush(store, T + 45 * S, silentLogger);
    expect(store.rows).toEqual([
      {
        at: T + 45 * S,
        event: {
          kind: 'token.refresh_denied',
          user_id: 'u-1',
          username: 'alice',
          cluster: 'prod',
          family_id: 'fam-1',
          session_id: 's-1',
          client_ip: '192.0.2.7',
          request_id: 'req-0',
          details: {
            reason: 'family_revoked',
            count: 2824,
            reasons: { family_revoked: 30, rate_limited: 2794 },
            first_at: T,
            last_at: T + 40 * S,
            generation: 3,
            client_ips: ['192.0.2.7', '192.0.2.8'],
          },
        },
      },
    ]);
    // Flushed rows are gone; an empty flush writes nothing.
    await audit.flush(store, T + 50 * S, silentLogger);
    expect(store.rows).toHaveLength(1);
  });

  it('keeps families apart, and denials that name no family apart per address', async () => {
    const audit = new DenialAudit();
    const store = recordingStore();
    audit.record(denial({ family_id: 'a' }), T);
    audit.record(denial({ family_id: 'b' }), T);
    audit.record(denial({ family_id: null, reason: 'rate_limited', client_ip: '203.0.113.1' }), T);
    audit.record(denial({ family_id: null, reason: 'rate_limited', client_ip: '203.0.113.1' }), T);
    audit.record(denial({ family_id: null, reason: 'rate_limited', client_ip: '203.0.113.2' }), T);
    await audit.flush(store, T, silentLogger);
    expect(store.rows.map((r) => [r.event.family_id, r.event.client_ip, r.event.details!.count])).toEqual([
      ['a', '192.0.2.7', 1],
      ['b', '192.0.2.7', 1],
      [null, '203.0.113.1', 2],
      [null, '203.0.113.2', 1],
    ]);
  });

  it('keeps rows the store refuses for the next flush, merged with newer denials', async () => {
    const audit = new DenialAudit();
    const store = recordingStore();
    let down = true;
    const flaky = {
      appendAudit: (e: AuditInput, at: number) => (down ? Promise.reject(new StoreUnavailableError('busy', 'database is locked')) : store.appendAudit(e, at)),
    };
    const warnings: string[] = [];
    const log: Logger = { ...silentLogger, warn: (msg) => void warnings.push(msg) };
    audit.record(denial({ family_id: 'a' }), T);
    audit.record(denial({ family_id: 'b' }), T);
    await audit.flush(flaky, T + S, log);
    expect(audit.size).toBe(2);
    expect(warnings).toHaveLength(1); // once per flush, not once per row
    audit.record(denial({ family_id: 'a', reason: 'rate_limited' }), T + 2 * S);
    down = false;
    await audit.flush(flaky, T + 3 * S, log);
    expect(store.rows.map((r) => [r.event.family_id, r.event.details])).toEqual([
      ['a', expect.objectContaining({ count: 2, reasons: { family_revoked: 1, rate_limited: 1 }, first_at: T, last_at: T + 2 * S })],
      ['b', expect.objectContaining({ count: 1 })],
    ]);
  });

  it('holds a bounded number of keys and reports what it could not hold', async () => {
    const audit = new DenialAudit(2);
    const warned: Array<Record<string, unknown> | undefined> = [];
    for (const f of ['a', 'b', 'c', 'd']) audit.record(denial({ family_id: f }), T);
    audit.record(denial({ family_id: 'a' }), T); // an existing key still counts
    expect(audit.size).toBe(2);
    const store = recordingStore();
    await audit.flush(store, T, { ...silentLogger, warn: (_m, f) => void warned.push(f) });
    expect(store.rows.map((r) => [r.event.family_id, r.event.details!.count])).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    expect(warned).toEqual([{ dropped: 2 }]);
  });

  it('runs flushes one at a time, so a row is never written twice', async () => {
    const audit = new DenialAudit();
    const store = recordingStore();
    audit.record(denial(), T);
    await Promise.all([audit.flush(store, T, silentLogger), audit.flush(store, T, silentLogger)]);
    expect(store.rows).toHaveLength(1);
  });
});
