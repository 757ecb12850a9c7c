'use client';

import { useId, useState, type KeyboardEvent } from 'react';
import type { DisplayPart } from '@/lib/portal/cluster-view';
import { displayOf, scriptOf, type CompactRendering } from '@/lib/portal/shell-script';
import { LazyDetails } from '../ui/lazy-details';
import { cn } from '../ui/styles';
import { CopyButton } from './copy-button';

/** Text with its shortened long values marked, so they read as placeholders for what Copy copies. */
function Shown({ parts }: { parts: DisplayPart[] }) {
  return parts.map((p, i) =>
    p.shortened ? (
      <span key={i} className="rounded-sm bg-slate-700/60 px-0.5 text-amber-200 dark:text-amber-200" title="Shortened on screen; Copy copies the whole value">
        {p.text}
      </span>
    ) : (
      p.text
    ),
  );
}

/** What a tab set holds: minted credentials, or the token-free kubectl oidc-login setup (several of those share a page). */
const VARIANTS = {
  credentials: {
    attr: 'data-shell',
    shortened: 'Tokens and certificate data are shortened on screen; Copy copies them whole.',
    show: 'Show full tokens',
    hide: 'Shorten tokens',
  },
  'oidc-login': {
    attr: 'data-login-shell',
    shortened: 'Certificate data is shortened on screen; Copy copies it whole.',
    show: 'Show in full',
    hide: 'Shorten',
  },
} as const;

/**
 * Commands per shell as accessible tabs (WAI-ARIA tabs pattern: arrow keys
 * move between tabs). Each panel shows the whole script, with tokens and
 * certificate data shortened on screen (Copy copies them whole; a toggle
 * shows them), one copy button for all of it, and the same commands step by
 * step, explained, for people who read before they paste.
 *
 * Only the selected shell's panel has content, on the server too: the other
 * panels are there (empty, hidden) for the tabs to point at, and are filled
 * from `renderings` when their tab is chosen. A cluster page carries eight
 * such panels (two flows × four shells), and rendering the hidden ones into
 * HTML was most of that page's server time (docs/architecture.md, "Browser side").
 */
export function ShellTabs({
  renderings,
  label = 'Shell',
  variant = 'credentials',
}: {
  /** Steps per shell; the whole script and its display form are put together here (lib/portal/shell-script.ts). */
  renderings: readonly CompactRendering[];
  label?: string;
  variant?: keyof typeof VARIANTS;
}) {
  const v = VARIANTS[variant];
  const [active, setActive] = useState(0);
  const [full, setFull] = useState(false);
  const base = useId();
  const onKey = (e: KeyboardEvent<HTMLButtonElement>) => {
    const delta = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!delta) return;
    e.preventDefault();
    const next = (active + delta + renderings.length) % renderings.length;
    setActive(next);
    document.getElementById(`${base}-tab-${next}`)?.focus();
  };
  return (
    <div>
      <div role="tablist" aria-label={label} className="flex flex-wrap gap-1 border-b border-slate-200 dark:border-slate-700">
        {renderings.map((r, i) => (
          <button
            key={r.shell}
            id={`${base}-tab-${i}`}
            role="tab"
            type="button"
            aria-selected={i === active}
            aria-controls={`${base}-panel-${i}`}
            tabIndex={i === active ? 0 : -1}
            onClick={() => setActive(i)}
            onKeyDown={onKey}
            {...{ [v.attr]: r.shell }}
            className={cn(
              '-mb-px rounded-t-lg border-b-2 px-4 py-2 text-sm font-medium focus-visible:outline-2 focus-visible:outline-indigo-500',
              i === active
                ? 'border-indigo-600 text-indigo-700 dark:border-indigo-400 dark:text-indigo-300'
                : 'border-transparent text-slate-600 hover:text-slate-900 dark:text-slate-400 dark:hover:text-slate-100',
            )}
          >
            {r.label}
          </button>
        ))}
      </div>
      {renderings.map(panel)}
    </div>
  );

  // A plain function, not a component: the panels' state (copy buttons, folds) survives re-renders.
  function panel(r: CompactRendering, i: number) {
    const script = i === active ? scriptOf(r) : undefined;
    const display = script === undefined ? undefined : displayOf(r);
    return (
      <div
        key={r.shell}
        id={`${base}-panel-${i}`}
        role="tabpanel"
        aria-labelledby={`${base}-tab-${i}`}
        hidden={i !== active}
        {...{ [v.attr]: r.shell }}
        className="pt-4"
      >
        {i !== active ? null : script === undefined ? (
          <p className="rounded-lg bg-amber-50 p-4 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-100">{r.unavailable}</p>
        ) : (
          <>
            <div className="relative">
              <pre
                className="overflow-x-auto rounded-lg bg-slate-950 p-4 pt-12 font-mono text-xs leading-relaxed whitespace-pre-wrap text-slate-100 wrap-anywhere"
                data-testid={variant === 'credentials' ? `script-${r.shell}` : undefined}
              >
                <code>{full || !display ? script : <Shown parts={display} />}</code>
              </pre>
              <CopyButton text={script} label="Copy all" className="absolute top-2 right-2" />
            </div>
            {display?.some((p) => p.shortened) && (
              <div className="mt-2 flex flex-wrap items-center justify-between gap-2 text-xs text-slate-600 dark:text-slate-400">
                <p>{v.shortened}</p>
                <button
                  type="button"
                  aria-pressed={full}
                  onClick={() => setFull(!full)}
                  className="rounded px-1 font-medium text-indigo-700 underline-offset-2 hover:underline focus-visible:outline-2 focus-visible:outline-indigo-500 dark:text-indigo-300"
                >
                  {full ? v.hide : v.show}
                </button>
              </div>
            )}
            <LazyDetails
              className="mt-4 rounded-lg border border-slate-200 dark:border-slate-700"
              summaryClassName="cursor-pointer px-4 py-2 text-sm font-medium text-slate-700 dark:text-slate-200"
              summary={`Step by step (${r.steps?.length} commands)`}
            >
              <ol className="space-y-4 px-4 pb-4">
                {r.steps?.map((s, n) => (
                  <li key={n}>
                    <div className="mb-1 flex items-center justify-between gap-2">
                      <span className="text-sm font-medium text-slate-700 dark:text-slate-300">
                        {n + 1}. {s.title}
                      </span>
                      <CopyButton text={s.command} />
                    </div>
                    <pre className="overflow-x-auto rounded-md bg-slate-950 p-2 font-mono text-xs whitespace-pre-wrap text-slate-100 wrap-anywhere">
                      <code>{full || !s.display ? s.command : <Shown parts={s.display} />}</code>
                    </pre>
                    {s.note && (
                      <p className="mt-1 text-xs text-slate-600 dark:text-slate-400" data-testid="step-note">
                        {s.note}
                      </p>
                    )}
                  </li>
                ))}
              </ol>
            </LazyDetails>
          </>
        )}
      </div>
    );
  }
}
