/**
 * Real kubectl, run as a person would: its own HOME and KUBECONFIG, nothing
 * inherited. `whoami` uses `kubectl auth whoami` where kubectl has it, and
 * creates a SelfSubjectReview where it does not (Debian's kubectl 1.20).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
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
/** kubectl 1.26+ has `auth whoami`; older ones print `auth`'s help for it and exit 0, so look at the list. */
async function supportsWhoami(env: KubectlEnv): Promise<boolean> {
  if (hasWhoami === undefined) {
    const help = await new Promise<string>((resolve) =>
      execFile(KUBECTL, ['auth', '--help'], { env: baseEnv(env) }, (_err, stdout) => resolve(stdout)),
    );
    hasWhoami = /^\s+whoami\s/m.test(help);
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

/**
 * Whether this kubectl can write refreshed tokens back to its kubeconfig.
 * Debian's kubernetes-client 1.20 is built with Go 1.19, and its vendored
 * reflect2 crashes (SIGSEGV in mapiterinit) when it serializes the refreshed
 * config: a defect of that build, not of the token it received. kubectl 1.21+
 * (and any kubectl built with the Go it was released with) is fine.
 */
export function kubectlPersistsRefresh(): { ok: boolean; why: string } {
  const out = execFileSync(KUBECTL, ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  const v = (JSON.parse(out) as { clientVersion: { minor: string; goVersion: string; gitVersion: string } }).clientVersion;
  const minor = parseInt(v.minor, 10);
  const go = /^go1\.(\d+)/.exec(v.goVersion);
  const broken = minor <= 20 && go !== null && Number(go[1]) >= 18;
  return { ok: !broken, why: `kubectl ${v.gitVersion} built with ${v.goVersion} crashes writing refreshed tokens back (reflect2 on Go >= 1.18)` };
}
