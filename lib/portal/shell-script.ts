import type { DisplayPart, ShellRendering, ShellStep } from './cluster-view';

/**
 * A shell rendering's whole script is its steps' commands, one per line,
 * and its display form the steps' display forms likewise (a shortened value
 * never spans two commands). So a page need not send either: `compact`
 * leaves them out of what travels to the browser (halving the cluster page's
 * React payload), and the tabs put them back together there with `scriptOf`
 * and `displayOf`. Pure and dependency-free: client components import it.
 */
export type CompactRendering = Omit<ShellRendering, 'script' | 'display'>;

export function compact(r: ShellRendering): CompactRendering {
  const { script: _script, display: _display, ...rest } = r;
  return rest;
}

/** The script to paste, exactly as `renderShells` builds it; undefined when the shell cannot carry the values. */
export function scriptOf(r: CompactRendering): string | undefined {
  return r.steps?.map((s) => s.command).join('\n');
}

/** The script with long values shortened, or undefined when nothing in it is shortened (the screen shows the script). */
export function displayOf(r: CompactRendering): DisplayPart[] | undefined {
  if (!r.steps?.some((s) => s.display)) return undefined;
  return r.steps.flatMap((s: ShellStep, i): DisplayPart[] => [...(i > 0 ? [{ text: '\n' }] : []), ...(s.display ?? [{ text: s.command }])]);
}
