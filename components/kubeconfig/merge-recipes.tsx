/** How to merge a downloaded kubeconfig into the default one, per OS. Static text: no values from the user. */
export function MergeRecipes({ fileName }: { fileName: string }) {
  const recipes = [
    {
      os: 'Linux / macOS (bash, zsh)',
      text: `cp ~/.kube/config ~/.kube/config.bak 2>/dev/null\nKUBECONFIG=~/.kube/config:~/Downloads/${fileName} kubectl config view --flatten > /tmp/kubeconfig.merged\nmv /tmp/kubeconfig.merged ~/.kube/config && chmod 600 ~/.kube/config`,
    },
    {
      os: 'fish',
      text: `cp ~/.kube/config ~/.kube/config.bak 2>/dev/null\nKUBECONFIG=~/.kube/config:~/Downloads/${fileName} kubectl config view --flatten > /tmp/kubeconfig.merged\nmv /tmp/kubeconfig.merged ~/.kube/config; and chmod 600 ~/.kube/config`,
    },
    {
      os: 'Windows (PowerShell)',
      text: `Copy-Item $HOME\\.kube\\config $HOME\\.kube\\config.bak -ErrorAction SilentlyContinue\n$env:KUBECONFIG = "$HOME\\.kube\\config;$HOME\\Downloads\\${fileName}"\nkubectl config view --flatten | Set-Content -Encoding utf8 $HOME\\.kube\\config.merged\nMove-Item -Force $HOME\\.kube\\config.merged $HOME\\.kube\\config\nRemove-Item Env:KUBECONFIG`,
    },
    {
      os: 'Windows (cmd.exe)',
      text: `copy %USERPROFILE%\\.kube\\config %USERPROFILE%\\.kube\\config.bak\nset KUBECONFIG=%USERPROFILE%\\.kube\\config;%USERPROFILE%\\Downloads\\${fileName}\nkubectl config view --flatten > %USERPROFILE%\\.kube\\config.merged\nmove /Y %USERPROFILE%\\.kube\\config.merged %USERPROFILE%\\.kube\\config\nset KUBECONFIG=`,
    },
  ];
  return (
    <details className="mt-4 rounded-lg border border-slate-200 dark:border-slate-700">
      <summary className="cursor-pointer px-4 py-2 text-sm font-medium text-slate-700 dark:text-slate-200">
        Merge it into your existing ~/.kube/config
      </summary>
      <div className="space-y-4 px-4 pb-4">
        {recipes.map((r) => (
          <div key={r.os}>
            <h3 className="mb-1 text-sm font-medium">{r.os}</h3>
            <pre className="overflow-x-auto rounded-md bg-slate-100 p-3 font-mono text-xs text-slate-800 dark:bg-slate-800 dark:text-slate-100">
              <code>{r.text}</code>
            </pre>
          </div>
        ))}
      </div>
    </details>
  );
}
