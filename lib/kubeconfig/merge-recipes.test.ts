import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Parser from 'tree-sitter';
import PowerShell from 'tree-sitter-powershell';
import { afterEach, describe, expect, test } from 'vitest';
import { buildKubeconfig, toYaml } from './build';
import { mergeRecipe, UnsafeFileNameError } from './merge-recipes';
import { makeSpec } from '../../test/kubeconfig/fixtures';
import { run, sandbox, viewConfig, type Sandbox } from '../../test/kubeconfig/kubectl';
import type { Shell } from './types';

const FILE = 'kubeconfig-prod.yaml';
const SHELL_BINARIES = { bash: '/bin/bash', zsh: '/usr/bin/zsh', fish: '/usr/bin/fish' } as const;
const RECIPE_FOR: Record<keyof typeof SHELL_BINARIES, Shell> = { bash: 'bash', zsh: 'bash', fish: 'fish' };

const NEW_ID_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJuZXcifQ.bmV3LXNpZw';
const OLD_ID_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJvbGQifQ.b2xkLXNpZw';

/** The real kubectl, found on PATH before the shim goes in front of it. */
const REAL_KUBECTL = execFileSync('/bin/sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();

const mode = (file: string) => statSync(file).mode & 0o777;

interface Home {
  box: Sandbox;
  home: string;
  tmpdir: string;
  /** One line per `kubectl config view` run: "<octal mode of its stdout file> <path>". */
  log: string;
}

/**
 * A throwaway HOME with the download in ~/Downloads, an empty TMPDIR to prove
 * nothing goes through it, and a kubectl shim first on PATH that records the
 * mode and path of the file `kubectl config view` writes the merged tokens to,
 * at the moment it writes, before handing over to the real kubectl.
 */
function makeHome(existing: 'none' | 'other-context'): Home {
  const box = sandbox();
  const home = box.dir;
  const tmpdir = path.join(home, 'tmp');
  const bin = path.join(home, 'bin');
  const log = path.join(home, 'kubectl-view.log');
  for (const dir of [tmpdir, bin, path.join(home, 'Downloads')]) mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(bin, 'kubectl'),
    [
      '#!/bin/sh',
      'if [ "$1" = config ] && [ "$2" = view ]; then',
      '  out=$(readlink -f /proc/$$/fd/1)',
      '  printf "%s %s\\n" "$(stat -c %a "$out" 2>/dev/null || echo none)" "$out" >> "$KUBEGATE_VIEW_LOG"',
      'fi',
      `exec '${REAL_KUBECTL}' "$@"`,
    ].join('\n'),
    { mode: 0o755 },
  );
  box.env.PATH = `${bin}:${process.env.PATH}`;
  writeFileSync(path.join(home, 'Downloads', FILE), toYaml(buildKubeconfig([makeSpec({ idToken: NEW_ID_TOKEN, refreshToken: 'kgr_new' })])));
  if (existing === 'other-context') {
    mkdirSync(path.join(home, '.kube'), { recursive: true });
    const other = makeSpec({ username: 'ops', cluster: 'elsewhere', idToken: 'eyJ.b3Bz.c2ln' });
    // The same person's older credentials for prod, from an earlier download: the new ones must win.
    const stale = makeSpec({ idToken: OLD_ID_TOKEN, refreshToken: 'kgr_old' });
    writeFileSync(path.join(home, '.kube', 'config'), toYaml(buildKubeconfig([other, stale], other.context.name)), { mode: 0o600 });
  }
  // Everything else the shells and kubectl get: HOME and TMPDIR here, no KUBECONFIG (the default file).
  box.env.HOME = home;
  box.env.TMPDIR = tmpdir;
  box.env.KUBEGATE_VIEW_LOG = log;
  delete box.env.KUBECONFIG;
  return { box, home, tmpdir, log };
}

let current: Home | undefined;
afterEach(() => current?.box.cleanup());

/** Runs the recipe under umask 022, as a typical login shell has it. */
function paste(sh: keyof typeof SHELL_BINARIES, h: Home) {
  const script = mergeRecipe(RECIPE_FOR[sh], FILE).script;
  return run('/bin/sh', ['-c', 'umask 022 && exec "$@"', 'sh', SHELL_BINARIES[sh], '-c', script], h.box.env);
}

const kubeconfigView = (h: Home) => viewConfig({ ...h.box.env, KUBECONFIG: path.join(h.home, '.kube', 'config') });

describe('merge recipes, run in real shells with real kubectl', () => {
  for (const sh of ['bash', 'zsh', 'fish'] as const) {
    test(`${sh}: merges beside another context, switches to the new one, and writes tokens only to private files`, () => {
      const h = (current = makeHome('other-context'));
      const before = readFileSync(path.join(h.home, '.kube', 'config'), 'utf8');
      const result = paste(sh, h);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const writes = readFileSync(h.log, 'utf8').trim().split('\n');

      const config = kubeconfigView(h);
      expect(config['current-context']).toBe('alice@prod');
      expect(config.contexts!.map((c) => c.name).sort()).toEqual(['alice@prod', 'ops@elsewhere']);
      const alice = config.users!.find((u) => u.name === 'alice@prod')!;
      expect(alice.user['auth-provider']!.config['id-token']).toBe(NEW_ID_TOKEN);

      // The merged tokens were written to a file that was 0600 at the time, inside ~/.kube.
      expect(writes).toHaveLength(1);
      const [writtenMode, writtenPath] = writes[0]!.split(' ');
      expect(writtenMode).toBe('600');
      expect(path.dirname(writtenPath!)).toBe(path.join(h.home, '.kube'));
      expect(mode(path.join(h.home, '.kube', 'config'))).toBe(0o600);
      // Nothing left behind, nothing in TMPDIR, the previous file kept as the backup.
      expect(readdirSync(path.join(h.home, '.kube')).sort()).toEqual(['config', 'config.bak']);
      expect(readdirSync(h.tmpdir)).toEqual([]);
      expect(readFileSync(path.join(h.home, '.kube', 'config.bak'), 'utf8')).toBe(before);
    });

    test(`${sh}: into a HOME without ~/.kube, the download becomes the config, private`, () => {
      const h = (current = makeHome('none'));
      const result = paste(sh, h);
      expect(result.status, result.stderr).toBe(0);
      expect(kubeconfigView(h)['current-context']).toBe('alice@prod');
      expect(mode(path.join(h.home, '.kube'))).toBe(0o700);
      expect(mode(path.join(h.home, '.kube', 'config'))).toBe(0o600);
      expect(readdirSync(path.join(h.home, '.kube'))).toEqual(['config']);
    });

    test(`${sh}: a download that is not where the recipe looks changes nothing and says so`, () => {
      const h = (current = makeHome('other-context'));
      const before = readFileSync(path.join(h.home, '.kube', 'config'), 'utf8');
      rmSync(path.join(h.home, 'Downloads', FILE));
      const result = paste(sh, h);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(`Not found: ${path.join(h.home, 'Downloads', FILE)}`);
      expect(readFileSync(path.join(h.home, '.kube', 'config'), 'utf8')).toBe(before);
      expect(readdirSync(path.join(h.home, '.kube'))).toEqual(['config']);
    });
  }
});

describe('merge recipes, as text', () => {
  const shells: Shell[] = ['bash', 'fish', 'powershell', 'cmd'];

  test.each(shells)('%s: the download comes first (its entries and current-context win), and nothing goes through /tmp', (shell) => {
    const { script } = mergeRecipe(shell, FILE);
    expect(script).not.toMatch(/\/tmp|%TEMP%|\$env:TEMP|GetTempFileName/);
    const downloads = script.search(/Downloads[\\/]kubeconfig-prod\.yaml/);
    const kubeconfigVar = /KUBECONFIG ?=/.exec(script)!;
    expect(downloads).toBeGreaterThanOrEqual(0);
    // In every shell the KUBECONFIG list names the download before ~/.kube/config.
    const list = script.slice(kubeconfigVar.index).split('\n')[0]!;
    const first = list.search(/\$new|Downloads/);
    const second = list.search(/\.kube[\\/]config|\$cfg/);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(second);
  });

  test('PowerShell: parses without error', () => {
    const parser = new Parser();
    parser.setLanguage(PowerShell);
    expect(parser.parse(mergeRecipe('powershell', FILE).script).rootNode.hasError).toBe(false);
  });

  test('cmd.exe: the exact lines', () => {
    expect(mergeRecipe('cmd', FILE).script.split('\n')).toEqual([
      'if not exist "%USERPROFILE%\\.kube" mkdir "%USERPROFILE%\\.kube"',
      'if exist "%USERPROFILE%\\.kube\\config" copy /Y "%USERPROFILE%\\.kube\\config" "%USERPROFILE%\\.kube\\config.bak" >nul',
      'set "KUBECONFIG=%USERPROFILE%\\Downloads\\kubeconfig-prod.yaml;%USERPROFILE%\\.kube\\config"',
      'if exist "%USERPROFILE%\\Downloads\\kubeconfig-prod.yaml" (kubectl config view --flatten > "%USERPROFILE%\\.kube\\config.merging" && move /Y "%USERPROFILE%\\.kube\\config.merging" "%USERPROFILE%\\.kube\\config" >nul) else (echo Not found: %USERPROFILE%\\Downloads\\kubeconfig-prod.yaml)',
      'set KUBECONFIG=',
    ]);
  });

  test.each(['kubeconfig-$(id).yaml', 'kubeconfig-a b.yaml', '../kubeconfig-x.yaml', 'kubeconfig-x.yaml"', 'kubeconfig-%PATH%.yaml', 'x.yaml'])(
    'refuses a file name it did not make: %s',
    (name) => {
      for (const shell of shells) expect(() => mergeRecipe(shell, name)).toThrow(UnsafeFileNameError);
    },
  );
});
