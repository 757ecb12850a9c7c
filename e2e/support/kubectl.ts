/**
 * Real kubectl, run as a person would: its own HOME and KUBECONFIG, nothing
 * inherited. `whoami` uses `kubectl auth whoami` where kubectl has it, and
 * creates a SelfSubjectReview where it does not (Debian's kubectl 1.20).
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';

export const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlEnv {
  home: string;
  kubeconfig: string;
}

export function kubectlEnv(dir: string): KubectlEnv {
  const home = path.join(dir, 'home');
  fs.mkdirSync(home, { recursive: true });
  return { home, kubeconfig: path.join(home, '.kube', 'config') };
}

function baseEnv(env: KubectlEnv): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: env.home,
    KUBECONFIG: env.kubeconfig,
    // The Google Cloud SDK dispatcher would otherwise look for gcloud settings.
    CLOUDSDK_CONFIG: path.join(env.home, '.config', 'gcloud'),
    LANG: 'C.UTF-8',
  } as unknown as NodeJS.ProcessEnv;
}

export function run(cmd: string, args: string[], env: KubectlEnv, input?: string, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: baseEnv(env), stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

export const kubectl = (env: KubectlEnv, args: string[]) => run(KUBECTL, args, env);

const SHELLS = { bash: '/bin/bash', zsh: '/usr/bin/zsh', fish: '/usr/bin/fish' } as const;

/** Runs a script with the real shell (`bash -c`, `zsh -c`, `fish -c`), as a pasted block would run. */
export const shell = (sh: keyof typeof SHELLS, script: string, env: KubectlEnv) => run(SHELLS[sh], ['-c', script], env);

let hasWhoami: boolean | undefined;
async function supportsWhoami(env: KubectlEnv): Promise<boolean> {
  if (hasWhoami === undefined) {
    const r = await new Promise<RunResult>((resolve) =>
      execFile(KUBECTL, ['auth', 'whoami', '--help'], { env: baseEnv(env) }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, stdout, stderr }),
      ),
    );
    hasWhoami = r.code === 0;
  }
  return hasWhoami;
}

export interface WhoAmI {
  ok: boolean;
  username?: string;
  groups?: string[];
  result: RunResult;
}

/** `kubectl auth whoami` (or its SelfSubjectReview equivalent), parsed. */
export async function whoami(env: KubectlEnv, extraArgs: string[] = []): Promise<WhoAmI> {
  const result = (await supportsWhoami(env))
    ? await kubectl(env, ['auth', 'whoami', '-o', 'json', ...extraArgs])
    : await run(
        KUBECTL,
        ['create', '-f', '-', '-o', 'json', ...extraArgs],
        env,
        JSON.stringify({ apiVersion: 'authentication.k8s.io/v1beta1', kind: 'SelfSubjectReview' }),
      );
  if (result.code !== 0) return { ok: false, result };
  const review = JSON.parse(result.stdout) as { status?: { userInfo?: { username?: string; groups?: string[] } } };
  return { ok: true, username: review.status?.userInfo?.username, groups: review.status?.userInfo?.groups, result };
}

/** The oidc auth-provider config kubectl holds for `user` in a kubeconfig file. */
export function authProviderConfig(kubeconfig: string, user?: string): Record<string, string> {
  const doc = yaml.load(fs.readFileSync(kubeconfig, 'utf8')) as {
    users: { name: string; user: { 'auth-provider': { config: Record<string, string> } } }[];
  };
  const entry = user ? doc.users.find((u) => u.name === user) : doc.users[0];
  if (!entry) throw new Error(`no user ${user ?? ''} in ${kubeconfig}`);
  return entry.user['auth-provider'].config;
}
