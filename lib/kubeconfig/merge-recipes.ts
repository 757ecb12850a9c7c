import type { Shell } from './types';

/**
 * How to merge a downloaded kubeconfig into the default one (~/.kube/config),
 * per shell. Each recipe:
 *
 * - lists the downloaded file FIRST in KUBECONFIG: kubectl's merge keeps the
 *   first file's value for a name both files hold and takes current-context
 *   from the first file that sets it, so the new credentials replace stale
 *   ones of the same name and the new context becomes the current one (the
 *   next command, `kubectl auth whoami`, checks the new cluster);
 * - writes the merged file, which holds tokens, only to a private temp file
 *   beside the target (mktemp creates it with mode 0600 inside ~/.kube; on
 *   Windows the profile folder is private to the user) and then moves it over
 *   the target in one step, so no reader ever sees a half-written or
 *   world-readable file, and nothing goes through a shared /tmp;
 * - keeps a backup of the previous file as config.bak.
 *
 * The only variable part is the download's file name, which is ours
 * (kubeconfigFileName); it is checked, not trusted.
 */

/** What kubeconfigFileName produces: `kubeconfig-<cluster>.yaml` with [a-z0-9-] only. */
const FILE_NAME = /^kubeconfig-[a-z0-9-]+\.yaml$/;

export class UnsafeFileNameError extends Error {
  constructor() {
    super('merge recipes take a kubeconfig file name of the form kubeconfig-<name>.yaml');
    this.name = 'UnsafeFileNameError';
  }
}

export interface MergeRecipe {
  shell: Shell;
  /** The lines to paste, joined with '\n'. */
  script: string;
}

/** Each recipe is fixed text around the one value, the download's file name (already checked). */
type Recipe = (file: string) => string[];

/**
 * bash and zsh: a subshell, so `umask 077` and the variables do not outlive
 * the paste. No comments: zsh reads `#` as a word unless interactivecomments is set.
 */
const posix: Recipe = (file) => [
  '(',
  `  new="$HOME/Downloads/${file}"`,
  '  [ -f "$new" ] || { echo "Not found: $new (use the path your browser saved it to)" >&2; exit 1; }',
  '  umask 077 && mkdir -p "$HOME/.kube" || exit',
  '  [ ! -e "$HOME/.kube/config" ] || cp "$HOME/.kube/config" "$HOME/.kube/config.bak" || exit',
  '  tmp=$(mktemp "$HOME/.kube/config.XXXXXX") || exit',
  '  KUBECONFIG="$new:$HOME/.kube/config" kubectl config view --flatten > "$tmp" &&',
  '    mv "$tmp" "$HOME/.kube/config" || { rm -f "$tmp"; exit 1; }',
  ')',
];

/**
 * fish has no subshell and its umask is not scoped to a block, so the
 * recipe relies on mktemp's 0600 file; `begin … end` runs the paste as one
 * unit and keeps `set -l` variables local to it.
 */
const fish: Recipe = (file) => [
  'begin',
  `  set -l new ~/Downloads/${file}`,
  '  test -f $new; or begin; echo "Not found: $new (use the path your browser saved it to)" >&2; false; end',
  '  and mkdir -p -m 700 ~/.kube',
  '  and begin; test ! -e ~/.kube/config; or cp ~/.kube/config ~/.kube/config.bak; end',
  '  and set -l tmp (mktemp ~/.kube/config.XXXXXX)',
  '  and env KUBECONFIG=$new:$HOME/.kube/config kubectl config view --flatten > $tmp',
  '  and mv $tmp ~/.kube/config',
  '  or begin; rm -f $tmp; false; end',
  'end',
];

/**
 * PowerShell: the merged text is written with .NET (UTF-8 without the BOM
 * that Windows PowerShell 5.1's Set-Content -Encoding utf8 adds) to a temp
 * file in the private .kube folder, then File.Replace swaps it in and keeps
 * the backup. KUBECONFIG is put back afterwards, whatever it was.
 */
const powershell: Recipe = (file) => [
  `$new = Join-Path $HOME 'Downloads\\${file}'; $kube = Join-Path $HOME '.kube'; $cfg = Join-Path $kube 'config'`,
  'if (-not (Test-Path $new)) { Write-Warning "Not found: $new (use the path your browser saved it to)" } else {',
  '  New-Item -ItemType Directory -Force -Path $kube | Out-Null',
  '  $saved = $env:KUBECONFIG; $env:KUBECONFIG = $new + [IO.Path]::PathSeparator + $cfg',
  '  $merged = kubectl config view --flatten; $ok = $LASTEXITCODE -eq 0',
  '  $env:KUBECONFIG = $saved',
  '  if ($ok) {',
  "    $tmp = Join-Path $kube ('config.' + [IO.Path]::GetRandomFileName())",
  '    [IO.File]::WriteAllLines($tmp, [string[]]$merged)',
  '    if (Test-Path $cfg) { [IO.File]::Replace($tmp, $cfg, "$cfg.bak") } else { Move-Item $tmp $cfg }',
  '  }',
  '}',
];

/**
 * cmd.exe (at the prompt): `move /Y` replaces the file in one step, and
 * %USERPROFILE%\.kube is private to the user. cmd cannot save and restore an
 * unset variable at the prompt, so KUBECONFIG is cleared at the end.
 */
const cmd: Recipe = (file) => [
  'if not exist "%USERPROFILE%\\.kube" mkdir "%USERPROFILE%\\.kube"',
  'if exist "%USERPROFILE%\\.kube\\config" copy /Y "%USERPROFILE%\\.kube\\config" "%USERPROFILE%\\.kube\\config.bak" >nul',
  `set "KUBECONFIG=%USERPROFILE%\\Downloads\\${file};%USERPROFILE%\\.kube\\config"`,
  `if exist "%USERPROFILE%\\Downloads\\${file}" (kubectl config view --flatten > "%USERPROFILE%\\.kube\\config.merging" && move /Y "%USERPROFILE%\\.kube\\config.merging" "%USERPROFILE%\\.kube\\config" >nul) else (echo Not found: %USERPROFILE%\\Downloads\\${file})`,
  'set KUBECONFIG=',
];

const RECIPES: Record<Shell, Recipe> = { bash: posix, fish, powershell, cmd };

/** The merge recipe for `shell`, for a download named `fileName` (in the browser's Downloads folder). */
export function mergeRecipe(shell: Shell, fileName: string): MergeRecipe {
  if (!FILE_NAME.test(fileName)) throw new UnsafeFileNameError();
  return { shell, script: RECIPES[shell](fileName).join('\n') };
}
