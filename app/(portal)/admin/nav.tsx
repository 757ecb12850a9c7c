import Link from 'next/link';
import { cn } from '@/components/ui/styles';

const TABS = [
  { href: '/admin', label: 'Sessions', key: 'sessions' },
  { href: '/admin/audit', label: 'Audit trail', key: 'audit' },
  { href: '/admin/clusters', label: 'API servers', key: 'clusters' },
] as const;

/** The console's own tabs, under its heading. */
export function AdminNav({ current }: { current: (typeof TABS)[number]['key'] }) {
  return (
    <nav aria-label="Admin console" className="flex flex-wrap gap-1 border-b border-slate-200 dark:border-slate-800">
      {TABS.map((t) => (
        <Link
          key={t.key}
          href={t.href}
          aria-current={t.key === current ? 'page' : undefined}
          className={cn(
            '-mb-px border-b-2 px-3 py-2 text-sm',
            t.key === current ? 'border-indigo-500 font-medium text-slate-900 dark:text-slate-100' : 'border-transparent text-slate-600 hover:text-slate-900 dark:text-slate-400',
          )}
        >
          {t.label}
        </Link>
      ))}
    </nav>
  );
}

export const time = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';

/** Unusable filter values, each naming its field; the rest of the filters still apply. */
export function FilterErrors({ errors }: { errors: string[] }) {
  if (errors.length === 0) return null;
  return (
    <div role="alert" className="rounded-lg border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100" data-testid="filter-errors">
      Ignored: {errors.join('; ')}
    </div>
  );
}
