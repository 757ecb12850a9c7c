/**
 * Test-only helpers for running the real shells and kubectl in a throwaway
 * HOME, with KUBECONFIG pointing at an initially absent file.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Not NodeJS.ProcessEnv: Next's types make NODE_ENV required there. */
export type Env = Record<string, string | undefined>;

export interface Sandbox {
  dir: string;
  kubeconfig: string;
  env: Env;
  cleanup(): void;
}

export function sandbox(): Sandbox {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubegate-kubeconfig-'));
  const kubeconfig = path.join(dir, 'config');
  const env: Env = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: path.join(dir, '.config'),
    XDG_DATA_HOME: path.join(dir, '.local/share'),
    XDG_CACHE_HOME: path.join(dir, '.cache'),
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    KUBECONFIG: kubeconfig,
  };
  return { dir, kubeconfig, env, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `program` without a shell. `input`, if given, becomes its stdin through
 * a regular file: fish -i rejects the socket node uses for `input` ("Unable to
 * read input file: Is a directory").
 */
export function run(program: string, args: readonly string[], env: Env, input?: string): Run {
  let stdin: number | 'ignore' = 'ignore';
  let inputDir: string | undefined;
  if (input !== undefined) {
    inputDir = mkdtempSync(path.join(tmpdir(), 'kubegate-stdin-'));
    const file = path.join(inputDir, 'stdin');
    writeFileSync(file, input);
    stdin = openSync(file, 'r');
  }
  const result = spawnSync(program, args, { env: env as NodeJS.ProcessEnv, stdio: [stdin, 'pipe', 'pipe'], encoding: 'utf8', timeout: 20_000 });
  if (typeof stdin === 'number') closeSync(stdin);
  if (inputDir !== undefined) rmSync(inputDir, { recursive: true, force: true });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `kubectl config view --raw -o json` for the sandbox's KUBECONFIG, parsed. */
export function viewConfig(env: Env): KubectlView {
  const result = run('kubectl', ['config', 'view', '--raw', '-o', 'json'], env);
  if (result.status !== 0) throw new Error(`kubectl config view failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as KubectlView;
}

export interface KubectlView {
  clusters: { name: string; cluster: Record<string, unknown> }[] | null;
  users: { name: string; user: { 'auth-provider'?: { name: string; config: Record<string, string> } } }[] | null;
  contexts: { name: string; context: Record<string, unknown> }[] | null;
  'current-context': string;
  [key: string]: unknown;
}

/** kubectl keeps clusters/users/contexts in maps and prints them sorted by name; sort ours the same way to compare. */
export function sortedByName<T extends { clusters: { name: string }[] | null; users: { name: string }[] | null; contexts: { name: string }[] | null }>(config: T): T {
  const sort = <E extends { name: string }>(list: E[] | null) => (list === null ? null : [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
  return { ...config, clusters: sort(config.clusters), users: sort(config.users), contexts: sort(config.contexts) };
}
