import Link from 'next/link';
import { buttonStyles, cn } from '@/components/ui/styles';

/** Three header actions fit a phone's width only with tighter padding. */
const PHONE = 'max-sm:px-2';
import { isAdmin } from '@/lib/portal/admin/access';
import { requirePortalSession } from '@/lib/portal/session';
import { signOutAction } from './actions';

export default async function PortalLayout({ children }: { children: React.ReactNode }) {
  const { rt, user } = await requirePortalSession();
  return (
    <div className="min-h-screen">
      <header className="border-b border-slate-200 bg-white/80 dark:border-slate-800 dark:bg-slate-900/80">
        {/* Wraps on a phone when an admin's fourth action does not fit beside the title. */}
        <div className="mx-auto flex max-w-5xl flex-wrap items-center justify-between gap-x-4 gap-y-2 px-4 py-3">
          <Link href="/" className="text-lg font-semibold tracking-tight focus-visible:outline-2 focus-visible:outline-indigo-500">
            {rt.config.branding.title}
          </Link>
          <div className="flex items-center gap-1 sm:gap-3">
            <Link href="/sessions" className={cn(buttonStyles.ghost, PHONE)}>
              Sessions
            </Link>
            <Link href="/security" className={cn(buttonStyles.ghost, PHONE)}>
              Security
            </Link>
            {isAdmin(rt.config.admin, user.groups) && (
              <Link href="/admin" className={cn(buttonStyles.ghost, PHONE)} data-testid="header-admin">
                Admin
              </Link>
            )}
            <span className="hidden text-sm text-slate-600 sm:inline dark:text-slate-300" data-testid="header-username">
              {user.username}
            </span>
            <form action={signOutAction}>
              <button type="submit" className={cn(buttonStyles.ghost, PHONE, 'whitespace-nowrap')}>
                Sign out
              </button>
            </form>
          </div>
        </div>
      </header>
      <main className="mx-auto max-w-5xl px-4 py-8">{children}</main>
    </div>
  );
}
