import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditFilter } from '../../store/types';
import { auditCsv, auditForExport, auditPage, csvCell, exportResponse, parseAuditFilters, storeAuditFilter } from './audit';

const T0 = Date.UTC(2026, 0, 1, 12);

function event(i: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: `id-${String(i).padStart(4, '0')}`,
    at: T0 + i * 1000,
    kind: 'session.revoked',
    user_id: 'u1',
    username: 'alice',
    cluster: null,
    family_id: null,
    session_id: 's1',
    client_ip: null,
    request_id: null,
    details: { by: 'root' },
    ...over,
  };
}

/** An in-memory listAudit with the store's semantics (newest first, `before` by id). */
function fakeList(events: AuditEvent[]) {
  const calls: AuditFilter[] = [];
  const list = async (f: AuditFilter) => {
    calls.push(f);
    return [...events]
      .sort((a, b) => (a.id < b.id ? 1 : -1))
      .filter((e) => (f.before === undefined || e.id < f.before) && (f.kind === undefined || e.kind === f.kind))
      .slice(0, f.limit);
  };
  return { list, calls };
}

describe('csvCell', () => {
  it.each([
    ['plain', 'plain'],
    ['=HYPERLINK("http://evil")', `"'=HYPERLINK(""http://evil"")"`],
    ['+1+2', "'+1+2"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tcmd', "'\tcmd"],
    ['\r=cmd', `"'\r=cmd"`],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['a=b', 'a=b'],
  ])('%j → %j', (input, expected) => expect(csvCell(input)).toBe(expected));
  it('leaves null empty and numbers as they are', () => {
    expect(csvCell(null)).toBe('');
    expect(csvCell(42)).toBe('42');
  });
});

describe('auditCsv', () => {
  it('has a header and one row per event, with an ISO time, JSON details, and hostile usernames defused', () => {
    const csv = auditCsv([event(1, { username: '=cmd|"/c calc"!A1', cluster: 'prod', details: { by: '@admin', note: 'a,b' } })]);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('id,at,kind,username,user_id,cluster,family_id,session_id,client_ip,request_id,details');
    expect(lines[1]).toBe(`id-0001,2026-01-01T12:00:01.000Z,session.revoked,"'=cmd|""/c calc""!A1",u1,prod,,s1,,,"{""by"":""@admin"",""note"":""a,b""}"`);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
  });
});

describe('parseAuditFilters', () => {
  it('reads every filter, times as UTC', () => {
    expect(parseAuditFilters({ kind: 'family.revoked', user: ' alice ', cluster: 'prod', from: '2026-01-01', to: '2026-01-02T09:30', before: 'abc-1' })).toEqual({
      filters: { kind: 'family.revoked', user: 'alice', cluster: 'prod', from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 2, 9, 30), before: 'abc-1' },
      errors: [],
    });
  });
  it('drops an unusable field with a message naming it, keeping the others', () => {
    const r = parseAuditFilters({ kind: 'no.such', user: 'bob', from: 'yesterday', to: '2026-02-30', before: "'; drop" });
    expect(r.filters).toEqual({ user: 'bob' });
    expect(r.errors).toEqual([
      'kind: is not an audit event kind',
      expect.stringMatching(/^from: must be a date/),
      'to: is not a valid date',
      'before: is not an event id',
    ]);
  });
  it('ignores empty fields and takes the first of a repeated one', () => {
    expect(parseAuditFilters({ kind: '', user: ['alice', 'bob'] })).toEqual({ filters: { user: 'alice' }, errors: [] });
  });
  it('maps to the store filter', () => {
    expect(storeAuditFilter({ user: 'alice', from: 1, to: 2, cluster: 'c', kind: 'token.issued', before: 'x' }, 10)).toEqual({
      limit: 10,
      username: 'alice',
      since: 1,
      until: 2,
      cluster: 'c',
      kind: 'token.issued',
      before: 'x',
    });
  });
});

describe('auditPage and auditForExport', () => {
  const events = Array.from({ length: 7 }, (_, i) => event(i));

  it('pages newest first and says where the next page starts', async () => {
    const { list } = fakeList(events);
    const first = await auditPage(list, {}, 3);
    expect(first.events.map((e) => e.id)).toEqual(['id-0006', 'id-0005', 'id-0004']);
    expect(first.next).toBe('id-0004');
    const last = await auditPage(list, { before: 'id-0001' }, 3);
    expect(last).toEqual({ events: [events[0]] });
  });

  it('exports every matching event across chunks, and says when the limit cut it', async () => {
    const { list, calls } = fakeList([...events, event(7, { kind: 'token.issued' })]);
    const all = await auditForExport(list, { kind: 'session.revoked' }, 100, 2);
    expect(all.truncated).toBe(false);
    expect(all.events.map((e) => e.id)).toEqual(['id-0006', 'id-0005', 'id-0004', 'id-0003', 'id-0002', 'id-0001', 'id-0000']);
    expect(calls.every((c) => c.kind === 'session.revoked')).toBe(true);
    const cut = await auditForExport(list, {}, 5, 2);
    expect(cut.truncated).toBe(true);
    expect(cut.events).toHaveLength(5);
  });
});

describe('exportResponse', () => {
  it('is a download that is never cached', async () => {
    const res = exportResponse('csv', [event(1)], { exported_at: T0, truncated: false });
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="kubegate-audit-2026-01-01T12-00-00-000Z.csv"');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(await res.text()).toContain('session.revoked');
    const json = exportResponse('json', [event(1)], { exported_at: T0, truncated: true });
    expect(json.headers.get('content-disposition')).toMatch(/attachment; filename=".*\.json"/);
    expect(json.headers.get('cache-control')).toBe('no-store');
    expect(json.headers.get('x-kubegate-truncated')).toBe('true');
    const body = JSON.parse(await json.text());
    expect(body).toMatchObject({ truncated: true, events: [{ id: 'id-0001', at_iso: '2026-01-01T12:00:01.000Z', details: { by: 'root' } }] });
  });
});
