'use client';

import type { MergeRecipeView } from '@/lib/portal/cluster-view';
import { LazyDetails } from '../ui/lazy-details';
import { CommandBlock } from './command-block';

/**
 * How to merge a downloaded kubeconfig into ~/.kube/config, per shell: built
 * and tested in lib/kubeconfig/merge-recipes.ts; this only shows them,
 * folded, and renders them once unfolded (components/ui/lazy-details.tsx).
 */
export function MergeRecipes({ recipes, fileName }: { recipes: readonly MergeRecipeView[]; fileName: string }) {
  return (
    <LazyDetails
      className="mt-4 rounded-lg border border-slate-200 dark:border-slate-700"
      summaryClassName="cursor-pointer px-4 py-2 text-sm font-medium text-slate-700 dark:text-slate-200"
      summary="Merge it into your existing ~/.kube/config"
      testId="merge-recipes"
    >
      <div className="space-y-4 px-4 pb-4">
        <p className="text-sm text-slate-600 dark:text-slate-400">
          Each recipe reads <code className="font-mono">{fileName}</code> from your Downloads folder (change the path if your browser saved
          it elsewhere), keeps your other contexts, replaces older credentials of the same name, switches to the new context and keeps the
          previous file as <code className="font-mono">config.bak</code>. The merged file, which holds your tokens, is written only inside
          your private <code className="font-mono">.kube</code> folder and then moved into place.
        </p>
        {recipes.map((r) => (
          <CommandBlock key={r.shell} title={r.label} text={r.script} testId={`merge-recipe-${r.shell}`} />
        ))}
      </div>
    </LazyDetails>
  );
}
