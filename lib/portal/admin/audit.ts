/**
 * The console's audit trail: filters from the query string, the store
 * query they make, and the CSV and JSON exports.
 */
import { z } from 'zod';
import { AUDIT_KINDS, type AuditEvent, type AuditFilter, type AuditKind } from '../../store/types';
import { parseFields, text, time, type Parsed, type SearchParams } from './filters';

const shape = {
  kind: z.enum(AUDIT_KINDS, { message: 'is not an audit event kind' }),
  user: text,
  cluster: text,
  from: time,
  to: time,
  before: z.string().regex(/^[0-9a-z-]{1,80}$/, 'is not an event id'),
};

export interface AuditFilters {
  kind?: AuditKind;
  /** The exact username. */
  user?: string;
  cluster?: string;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
  /** Page on from this event id (older ones). */
  before?: string;
}

export function parseAuditFilters(params: SearchParams): Parsed<AuditFilters> {
  return parseFields(shape, params);
}

export const AUDIT_PAGE_SIZE = 100;

export function storeAuditFilter(f: AuditFilters, limit: number): AuditFilter {
  return { limit, kind: f.kind, username: f.user, cluster: f.cluster, since: f.from, until: f.to, before: f.before };
}

/**
 * One page of events: asks the store for one more than a page, so the page
 * knows whether an older one exists (`next`: the `before` for it).
 */
export async function auditPage(
  list: (filter: AuditFilter) => Promise<AuditEvent[]>,
  f: AuditFilters,
  size = AUDIT_PAGE_SIZE,
): Promise<{ events: AuditEvent[]; next?: string }> {
  const got = await list(storeAuditFilter(f, size + 1));
  const events = got.slice(0, size);
  return got.length > size ? { events, next: events.at(-1)!.id } : { events };
}

/** The most an export holds; a larger trail is exported in time ranges. */
export const EXPORT_LIMIT = 50_000;

/** Every matching event, newest first, read in pages; `truncated` when EXPORT_LIMIT cut it. */
export async function auditForExport(
  list: (filter: AuditFilter) => Promise<AuditEvent[]>,
  f: AuditFilters,
  limit = EXPORT_LIMIT,
  chunk = 1000,
): Promise<{ events: AuditEvent[]; truncated: boolean }> {
  const events: AuditEvent[] = [];
  let before = f.before;
  for (;;) {
    const page = await auditPage(list, { ...f, before }, Math.min(chunk, limit - events.length));
    events.push(...page.events);
    if (!page.next) return { events, truncated: false };
    if (events.length >= limit) return { events, truncated: true };
    before = page.next;
  }
}

export const CSV_COLUMNS = ['id', 'at', 'kind', 'username', 'user_id', 'cluster', 'family_id', 'session_id', 'client_ip', 'request_id', 'details'] as const;

/**
 * One CSV cell (RFC 4180 quoting). A cell a spreadsheet would read as a
 * formula (=, +, -, @, and tab or carriage return, which some treat alike)
 * gets a leading apostrophe: an audit row holds text people chose, such as
 * usernames, and opening the export must not run it (OWASP "CSV injection").
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let s = String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function auditCsv(events: readonly AuditEvent[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const e of events) {
    const row: Record<(typeof CSV_COLUMNS)[number], string | number | null> = {
      ...e,
      at: new Date(e.at).toISOString(),
      details: JSON.stringify(e.details),
    };
    lines.push(CSV_COLUMNS.map((c) => csvCell(row[c])).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

/** JSON export: the events as stored, with `at` also as an ISO time for readers. */
export function auditJson(events: readonly AuditEvent[], meta: { exported_at: number; truncated: boolean }): string {
  return JSON.stringify(
    {
      exported_at: new Date(meta.exported_at).toISOString(),
      truncated: meta.truncated,
      events: events.map((e) => ({ ...e, at_iso: new Date(e.at).toISOString() })),
    },
    null,
    2,
  );
}

export const EXPORT_FORMATS = ['csv', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The export's response: a download, never cached (it names people, addresses and sessions). */
export function exportResponse(format: ExportFormat, events: readonly AuditEvent[], meta: { exported_at: number; truncated: boolean }): Response {
  const stamp = new Date(meta.exported_at).toISOString().replace(/[:.]/g, '-');
  const body = format === 'csv' ? auditCsv(events) : auditJson(events, meta);
  return new Response(body, {
    headers: {
      'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
      'content-disposition': `attachment; filename="kubegate-audit-${stamp}.${format}"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...(meta.truncated && { 'x-kubegate-truncated': 'true' }),
    },
  });
}
