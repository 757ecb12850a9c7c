'use client';

import { useId, useState, type KeyboardEvent } from 'react';
import type { ShellRendering } from '@/lib/portal/cluster-view';
import { cn } from '../ui/styles';
import { CopyButton } from './copy-button';

/**
 * Commands per shell as accessible tabs (WAI-ARIA tabs pattern: arrow keys
 * move between tabs). Each panel has one copy button for the whole script
 * and the same commands step by step for people who read before they paste.
 */
export function ShellTabs({ renderings }: { renderings: ShellRendering[] }) {
  const [active, setActive] = useState(0);
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
      <div role="tablist" aria-label="Shell" className="flex flex-wrap gap-1 border-b border-slate-200 dark:border-slate-700">
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
            data-shell={r.shell}
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
      {renderings.map((r, i) => (
        <div
          key={r.shell}
          id={`${base}-panel-${i}`}
          role="tabpanel"
          aria-labelledby={`${base}-tab-${i}`}
          hidden={i !== active}
          data-shell={r.shell}
          className="pt-4"
        >
          {r.script === undefined ? (
            <p className="rounded-lg bg-amber-50 p-4 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-100">{r.unavailable}</p>
          ) : (
            <>
              <div className="relative">
                <pre
                  className="max-h-80 overflow-auto rounded-lg bg-slate-950 p-4 pt-12 font-mono text-xs leading-relaxed break-all whitespace-pre-wrap text-slate-100"
                  data-testid={`script-${r.shell}`}
                >
                  <code>{r.script}</code>
                </pre>
                <CopyButton text={r.script} label="Copy all" className="absolute top-2 right-2" />
              </div>
              <details className="mt-4 rounded-lg border border-slate-200 dark:border-slate-700">
                <summary className="cursor-pointer px-4 py-2 text-sm font-medium text-slate-700 dark:text-slate-200">
                  Step by step ({r.steps?.length} commands)
                </summary>
                <ol className="space-y-3 px-4 pb-4">
                  {r.steps?.map((s, n) => (
                    <li key={n}>
                      <div className="mb-1 flex items-center justify-between gap-2">
                        <span className="text-sm text-slate-700 dark:text-slate-300">
                          {n + 1}. {s.title}
                        </span>
                        <CopyButton text={s.command} />
                      </div>
                      <pre className="overflow-x-auto rounded-md bg-slate-100 p-2 font-mono text-xs text-slate-800 dark:bg-slate-800 dark:text-slate-100">
                        <code>{s.command}</code>
                      </pre>
                    </li>
                  ))}
                </ol>
              </details>
            </>
          )}
        </div>
      ))}
    </div>
  );
}
