'use client';

import { useEffect, useRef, useState, type ReactNode } from 'react';

/**
 * A `<details>` whose content is rendered once it is opened, not before: the
 * server sends its summary only, while the content's data travels with the
 * page's React payload as it did. The cluster page is mostly such folded
 * content (commands per shell and flow, step by step, merge recipes), and
 * rendering it into HTML nobody reads cost most of that page's render time.
 * Opened once, the content stays rendered (its state is kept when folded
 * again). Opening it before the page's JavaScript runs shows the content as
 * soon as it does.
 */
export function LazyDetails({
  summary,
  children,
  defaultOpen = false,
  className,
  summaryClassName,
  testId,
}: {
  summary: ReactNode;
  children: ReactNode;
  defaultOpen?: boolean;
  className?: string;
  summaryClassName?: string;
  testId?: string;
}) {
  const ref = useRef<HTMLDetailsElement>(null);
  const [seen, setSeen] = useState(defaultOpen);
  // Opened before hydration: the toggle event came before React listened.
  useEffect(() => {
    if (ref.current?.open) setSeen(true);
  }, []);
  return (
    <details ref={ref} open={defaultOpen} onToggle={(e) => e.currentTarget.open && setSeen(true)} className={className} data-testid={testId}>
      <summary className={summaryClassName}>{summary}</summary>
      {seen && children}
    </details>
  );
}
