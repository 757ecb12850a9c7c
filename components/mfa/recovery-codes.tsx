import { CopyButton } from '../kubeconfig/copy-button';

/** Recovery codes, shown once: each works a single time when the authenticator is not at hand. */
export function RecoveryCodes({ codes }: { codes: string[] }) {
  return (
    <div className="space-y-2">
      <p className="text-sm">
        Keep these recovery codes somewhere safe (a password manager). Each works once, in place of a code from your app. They are shown only
        now.
      </p>
      <ol className="grid grid-cols-2 gap-2 rounded-lg bg-slate-50 p-4 font-mono text-sm dark:bg-slate-800" data-testid="recovery-codes">
        {codes.map((c) => (
          <li key={c}>{c}</li>
        ))}
      </ol>
      <CopyButton text={codes.join('\n')} label="Copy recovery codes" />
    </div>
  );
}
