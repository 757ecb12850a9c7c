/**
 * Test-side helpers around the kubelogin stand-in: the environment that puts
 * `kubectl oidc-login` on PATH with a "browser" that writes the URL it is
 * asked to open into a file, and a watcher for that file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** This directory: kubectl finds ./kubectl-oidc_login here as the `oidc-login` plugin. */
export const PLUGIN_DIR = import.meta.dirname;
export const OPEN_URL = path.join(PLUGIN_DIR, 'open-url');

export interface LoginEnv {
  home: string;
  kubeconfig: string;
  /** Where the stand-in's browser writes each URL it opens, one per line. */
  urlFile: string;
  env: NodeJS.ProcessEnv;
}

/** A private HOME (so a private token cache) with the plugin on PATH and the file "browser". */
export function loginEnv(dir: string, options: { browser?: boolean } = {}): LoginEnv {
  const home = path.join(dir, 'home');
  fs.mkdirSync(path.join(home, '.kube'), { recursive: true });
  const kubeconfig = path.join(home, '.kube', 'config');
  const urlFile = path.join(dir, 'opened-urls');
  fs.writeFileSync(urlFile, '');
  const env = {
    PATH: `${PLUGIN_DIR}:${process.env.PATH ?? ''}`,
    HOME: home,
    KUBECONFIG: kubeconfig,
    CLOUDSDK_CONFIG: path.join(home, '.config', 'gcloud'),
    LANG: 'C.UTF-8',
    KUBELOGIN_URL_FILE: urlFile,
    ...((options.browser ?? true) && { BROWSER: OPEN_URL }),
  } as unknown as NodeJS.ProcessEnv;
  return { home, kubeconfig, urlFile, env };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The URLs opened so far. */
export function openedUrls(env: LoginEnv): string[] {
  return fs.readFileSync(env.urlFile, 'utf8').split('\n').filter(Boolean);
}

/** Waits until the stand-in has opened a URL beyond the first `seen` ones, and returns it. */
export async function nextOpenedUrl(env: LoginEnv, seen: number, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const urls = openedUrls(env);
    if (urls.length > seen) return urls[seen]!;
    await sleep(100);
  }
  throw new Error(`no URL was opened within ${timeoutMs} ms`);
}

export interface Running {
  child: ChildProcess;
  /** stderr so far. */
  stderr(): string;
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}

const live = new Set<ChildProcess>();

/**
 * Ends whatever start() began that still runs: a plugin left waiting on its
 * loopback port would hold 8000/18000 for every later test. Call it after each test.
 */
export function stopAll(): void {
  for (const child of live) child.kill('SIGTERM');
  live.clear();
}

/** Starts a command (kubectl, or the plugin itself) in the login environment without waiting for it. */
export function start(command: string, args: readonly string[], env: LoginEnv, timeoutMs = 120_000): Running {
  const child = spawn(command, args, { env: env.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  live.add(child);
  child.on('exit', () => live.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  return { child, stderr: () => stderr, done };
}

/** Waits until `running` printed text matching `pattern` on stderr. */
export async function waitForStderr(running: Running, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = pattern.exec(running.stderr());
    if (m) return m;
    await sleep(100);
  }
  throw new Error(`stderr never matched ${pattern}:\n${running.stderr()}`);
}
