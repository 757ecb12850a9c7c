import type { OidcLoginView } from '@/lib/portal/cluster-view';
import { LazyDetails } from '../ui/lazy-details';
import { buttonStyles } from '../ui/styles';
import { CommandBlock } from './command-block';
import { ShellTabs } from './shell-tabs';

/**
 * The exec-plugin offer on a cluster page: install kubelogin, then per login
 * flow the commands (built and tested in lib/kubeconfig) and a download of
 * the same setup as a file. Nothing here holds a token, so it is shown
 * without a button press; the download still POSTs with the CSRF token, like
 * every download. A folded flow is rendered once unfolded (LazyDetails).
 */
export function OidcLoginPanel({ views, krewInstall, downloadAction, csrf }: { views: readonly OidcLoginView[]; krewInstall: string; downloadAction: string; csrf: string }) {
  return (
    <div className="space-y-6">
      <div>
        <p className="mb-2 text-sm text-slate-600 dark:text-slate-400">
          Install the <code className="font-mono">oidc-login</code> plugin (int128/kubelogin) once, with{' '}
          <a href="https://krew.sigs.k8s.io/docs/user-guide/setup/install/" className="text-indigo-700 hover:underline dark:text-indigo-300">
            krew
          </a>
          :
        </p>
        <CommandBlock text={krewInstall} testId="krew-install" />
      </div>
      {views.map((view, i) => (
        <LazyDetails
          key={view.flow}
          defaultOpen={i === 0}
          className="rounded-lg border border-slate-200 dark:border-slate-700"
          summaryClassName="cursor-pointer px-4 py-2 text-sm font-medium text-slate-700 dark:text-slate-200"
          summary={view.label}
          testId={`oidc-login-${view.flow}`}
        >
          <div className="space-y-4 px-4 pb-4">
            <p className="text-sm text-slate-600 dark:text-slate-400">
              {view.flow === 'browser'
                ? 'kubectl opens your browser to sign in whenever it needs a new token, and renews it by itself meanwhile.'
                : 'For SSH sessions and jump hosts: kubectl prints a web address and a code; open the address on any device, sign in and approve the code.'}{' '}
              The commands add context <code className="font-mono">{view.contextName}</code> and switch to it. They hold no token: GUI tools (Lens, VS
              Code, k9s, Headlamp) that read your kubeconfig log in through the plugin too.
            </p>
            <ShellTabs renderings={view.compactRenderings} label={`kubelogin commands: ${view.label.toLowerCase()}`} variant="oidc-login" />
            <form method="post" action={downloadAction}>
              <input type="hidden" name="csrf" value={csrf} />
              <input type="hidden" name="login" value={view.flow} />
              <button type="submit" className={buttonStyles.secondary} data-testid={`download-oidc-login-${view.flow}`}>
                Download {view.fileName}
              </button>
            </form>
          </div>
        </LazyDetails>
      ))}
    </div>
  );
}
