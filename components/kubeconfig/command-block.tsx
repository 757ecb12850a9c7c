import { cn } from '../ui/styles';
import { CopyButton } from './copy-button';

const PRE = 'overflow-x-auto rounded-md bg-slate-100 p-3 font-mono text-xs leading-relaxed text-slate-800 dark:bg-slate-800 dark:text-slate-100';

/**
 * A command or recipe with its own Copy button, never on top of the text:
 * beside a one-liner, above a titled recipe.
 */
export function CommandBlock({ text, title, testId, className }: { text: string; title?: string; testId?: string; className?: string }) {
  if (title === undefined) {
    return (
      <div className={cn('flex items-center gap-2', className)} data-testid={testId}>
        <pre className={cn(PRE, 'min-w-0 flex-1')}>
          <code>{text}</code>
        </pre>
        <CopyButton text={text} label="Copy" />
      </div>
    );
  }
  return (
    <div className={className} data-testid={testId}>
      <div className="mb-1 flex items-center justify-between gap-2">
        <h3 className="text-sm font-medium">{title}</h3>
        <CopyButton text={text} label="Copy" />
      </div>
      <pre className={PRE}>
        <code>{text}</code>
      </pre>
    </div>
  );
}
