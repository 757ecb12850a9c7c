'use client';

import Link from 'next/link';
import { buttonStyles, cardStyles, cn } from '@/components/ui/styles';

/**
 * What a page shows when it fails on the server, instead of Next.js's bare
 * error page. Production builds hide the error's message from the browser;
 * `digest` is the reference Next.js logs with the error on the server.
 */
export default function ErrorPage({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <main className="flex min-h-screen items-center justify-center px-4 py-12">
      <div className={cn(cardStyles, 'w-full max-w-md space-y-4 text-center')} role="alert" data-testid="error-page">
        <h1 className="text-xl font-semibold">Something went wrong</h1>
        <p className="text-sm text-slate-600 dark:text-slate-400">
          Kubegate could not finish this request. Try again in a moment; if it keeps happening, tell your platform team
          {error.digest ? ' and give them this reference' : ''}.
        </p>
        {error.digest && (
          <p className="font-mono text-xs text-slate-500 dark:text-slate-400" data-testid="error-reference">
            Reference: {error.digest}
          </p>
        )}
        <div className="flex flex-wrap justify-center gap-3">
          <button type="button" onClick={reset} className={buttonStyles.primary}>
            Try again
          </button>
          <Link href="/" className={buttonStyles.secondary}>
            Back to your clusters
          </Link>
        </div>
      </div>
    </main>
  );
}
