/** Runs the built admin command (`node scripts/kubegate.mjs ...`) against a config, as an operator would. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { PROJECT_DIR } from './kubegate';

export interface AdminRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runKubegate(configPath: string, ...args: string[]): Promise<AdminRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(PROJECT_DIR, 'scripts/kubegate.mjs'), ...args], { env: { ...process.env, KUBEGATE_CONFIG: configPath } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
