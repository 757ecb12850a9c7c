import type { Metadata } from 'next';
import Link from 'next/link';
import { buttonStyles, cn, inputStyles } from '@/components/ui/styles';
import { auditPage, parseAuditFilters } from '@/lib/portal/admin/audit';
import { requireAdmin } from '@/lib/portal/admin/context';
import { consoleHref, type SearchParams } from '@/lib/portal/admin/filters';
import { AUDIT_KINDS } from '@/lib/store/types';
import { AdminNav, FilterErrors, time } from '../nav';

export const metadata: Metadata = { title: 'Admin: audit trail' };

/** datetime-local's value for a time (UTC). */
const local = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString().slice(0, 16));

export default async function AdminAuditPage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const { filters, errors } = parseAuditFilters(await searchParams);
  const query = { kind: filters.kind, user: filters.user, cluster: filters.cluster, from: local(filters.from), to: local(filters.to) };
  const { rt } = await requireAdmin(consoleHref('/admin/audit', { ...query, before: filters.before }));
  const { events, next } = await auditPage((f) => rt.store.listAudit(f), filters);
  return (
    <div className="space-y-6">
      <header className="space-y-3">
        <h1 className="text-2xl font-semibold tracking-tight">Admin console</h1>
        <AdminNav current="audit" />
      </header>
      <FilterErrors errors={errors} />
      <form method="get" className="grid grid-cols-2 gap-3 sm:grid-cols-6" aria-label="Filter the audit trail">
        <label className="text-sm">
          Kind
          <select name="kind" defaultValue={filters.kind ?? ''} className={inputStyles}>
            <option value="">any</option>
            {AUDIT_KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          User
          <input name="user" defaultValue={filters.user ?? ''} className={inputStyles} />
        </label>
        <label className="text-sm">
          Cluster
          <input name="cluster" defaultValue={filters.cluster ?? ''} className={inputStyles} />
        </label>
        <label className="text-sm">
          From (UTC)
          <input type="datetime-local" name="from" defaultValue={query.from} className={inputStyles} />
        </label>
        <label className="text-sm">
          To (UTC)
          <input type="datetime-local" name="to" defaultValue={query.to} className={inputStyles} />
        </label>
        <div className="flex items-end">
          <button type="submit" className={cn(buttonStyles.secondary, 'w-full')}>
            Filter
          </button>
        </div>
      </form>
      <p className="flex flex-wrap gap-3 text-sm">
        Export with these filters:
        <a href={consoleHref('/admin/audit/export', { ...query, format: 'csv' })} download data-testid="audit-export-csv" className="underline">
          CSV
        </a>
        <a href={consoleHref('/admin/audit/export', { ...query, format: 'json' })} download data-testid="audit-export-json" className="underline">
          JSON
        </a>
      </p>
      <div className="overflow-x-auto">
        <table className="w-full text-left text-sm" data-testid="audit-events">
          <thead className="text-slate-500 dark:text-slate-400">
            <tr>
              <th className="py-1 pr-3 font-normal">Time</th>
              <th className="py-1 pr-3 font-normal">Kind</th>
              <th className="py-1 pr-3 font-normal">User</th>
              <th className="py-1 pr-3 font-normal">Cluster</th>
              <th className="py-1 font-normal">Details</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <tr key={e.id} className="border-t border-slate-100 align-top dark:border-slate-800" data-testid="audit-row" data-kind={e.kind}>
                <td className="py-1 pr-3 whitespace-nowrap">{time(e.at)}</td>
                <td className="py-1 pr-3 font-mono">{e.kind}</td>
                <td className="py-1 pr-3 break-all">{e.username ?? ''}</td>
                <td className="py-1 pr-3 font-mono">{e.cluster ?? ''}</td>
                <td className="py-1 font-mono text-xs break-all">{JSON.stringify(e.details)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {events.length === 0 && <p className="text-sm text-slate-600 dark:text-slate-400">No events match.</p>}
      <nav aria-label="Pages" className="flex gap-3 text-sm">
        {filters.before && <Link href={consoleHref('/admin/audit', query)}>Newest</Link>}
        {next && <Link href={consoleHref('/admin/audit', { ...query, before: next })}>Older</Link>}
      </nav>
    </div>
  );
}
