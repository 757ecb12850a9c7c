'use client';

import './globals.css';

/**
 * Last resort, when the root layout itself fails: it replaces the whole
 * document, so it brings its own <html> and <body>.
 */
export default function GlobalError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <html lang="en">
      <body className="flex min-h-screen items-center justify-center bg-slate-50 px-4 text-slate-900 antialiased dark:bg-slate-950 dark:text-slate-100">
        <main className="w-full max-w-md space-y-4 rounded-xl border border-slate-200 bg-white p-5 text-center shadow-sm dark:border-slate-700 dark:bg-slate-900" role="alert">
          <h1 className="text-xl font-semibold">Something went wrong</h1>
          <p className="text-sm text-slate-600 dark:text-slate-400">
            Kubegate could not show this page. Try again in a moment; if it keeps happening, tell your platform team
            {error.digest ? ' and give them this reference' : ''}.
          </p>
          {error.digest && <p className="font-mono text-xs text-slate-500">Reference: {error.digest}</p>}
          <button type="button" onClick={reset} className="rounded-lg bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-500">
            Try again
          </button>
        </main>
      </body>
    </html>
  );
}
