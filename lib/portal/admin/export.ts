import 'server-only';
import { z } from 'zod';
import { auditForExport, EXPORT_FORMATS, exportResponse, parseAuditFilters } from './audit';
import { adminForRoute } from './context';

const Format = z.enum(EXPORT_FORMATS);

/**
 * The audit export. A GET, so a plain link downloads it: it changes nothing,
 * and another site can make a browser request it but never read the answer.
 * The same gate as the console's pages (404 for non-admins, recent sign-in, MFA).
 */
export async function auditExport(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const admin = await adminForRoute(`/admin/audit?${url.searchParams}`);
  if (admin instanceof Response) return admin;
  const params = Object.fromEntries(url.searchParams);
  const format = Format.safeParse(params.format ?? 'csv');
  const { filters, errors } = parseAuditFilters(params);
  if (!format.success) errors.unshift(`format: must be one of ${EXPORT_FORMATS.join(', ')}`);
  // An export that silently dropped a filter would hold more than asked for: refuse instead.
  if (errors.length > 0 || !format.success) {
    return new Response(`Not exported: ${errors.join('; ')}\n`, { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
  }
  const { events, truncated } = await auditForExport((f) => admin.rt.store.listAudit(f), filters);
  const now = admin.rt.now();
  // Who took a copy of the trail, and of what, is itself part of the trail.
  await admin.rt.store.appendAudit(
    {
      kind: 'admin.audit_exported',
      user_id: admin.user.id,
      username: admin.user.username,
      session_id: admin.session.id,
      client_ip: req.headers.get('x-kubegate-client-ip'),
      details: { by: admin.actor.by, format: format.data, filters: exportedFilters(url.searchParams), events: events.length, truncated },
    },
    now,
  );
  return exportResponse(format.data, events, { exported_at: now, truncated });
}

/** The filters as the admin gave them (known fields only, short), for the export's audit event. */
function exportedFilters(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['kind', 'user', 'cluster', 'from', 'to', 'before']) {
    const v = params.get(key);
    if (v) out[key] = v.slice(0, 200);
  }
  return out;
}
