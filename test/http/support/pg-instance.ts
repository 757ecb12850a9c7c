/**
 * A PostgreSQL server of the test's own, to stop and start under load
 * without touching the machine's server (other suites use it): initdb and
 * pg_ctl from PG_BIN, in a temp directory, on a free port, listening on
 * 127.0.0.1 and on a unix socket in that directory. Tests run as root and
 * PostgreSQL refuses to, so as root every command runs as the `postgres` OS
 * user (`runuser -u postgres --`), which owns the directory.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './kubegate';

export const PG_BIN = process.env.KUBEGATE_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Why an own instance cannot be made here (binaries or the postgres user missing), or undefined when it can. */
export function pgInstanceUnavailable(): string | undefined {
  const missing = ['initdb', 'pg_ctl', 'postgres'].filter((b) => !fs.existsSync(path.join(PG_BIN, b)));
  if (missing.length) return `no PostgreSQL server binaries in ${PG_BIN} (missing ${missing.join(', ')}): install postgresql-15 or set KUBEGATE_TEST_PG_BIN`;
  if (process.getuid?.() === 0 && !fs.existsSync('/usr/sbin/runuser') && !fs.existsSync('/sbin/runuser')) return 'running as root without runuser';
  return undefined;
}

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ stdout: string; stderr: string }> {
  const asRoot = process.getuid?.() === 0;
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) =>
    execFile(file, argv, { timeout: timeoutMs, env: { PATH: process.env.PATH, LANG: 'C.UTF-8' } as unknown as NodeJS.ProcessEnv, encoding: 'utf8' }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`)) : resolve({ stdout, stderr }),
    ),
  );
}

export type StopMode = 'smart' | 'fast' | 'immediate';

export class PgInstance {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  private get data(): string {
    return path.join(this.dir, 'data');
  }

  /** A trust-auth server with superuser `postgres` and database `postgres`, started. */
  static async create(): Promise<PgInstance> {
    const why = pgInstanceUnavailable();
    if (why) throw new Error(why);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-pg-'));
    if (process.getuid?.() === 0) {
      const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
        execFile('id', ['-u', 'postgres'], (err, out) => (err ? reject(err) : resolve({ stdout: out }))),
      );
      const uid = Number(stdout.trim());
      const gid = Number((await new Promise<string>((resolve, reject) => execFile('id', ['-g', 'postgres'], (err, out) => (err ? reject(err) : resolve(out))))).trim());
      fs.chownSync(dir, uid, gid);
    }
    const pg = new PgInstance(dir, await freePort());
    await run(path.join(PG_BIN, 'initdb'), ['-D', pg.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    // The durability of this throwaway server is not what the tests look at; its own crash recovery (immediate stop) still runs.
    fs.appendFileSync(
      path.join(pg.data, 'postgresql.conf'),
      [`port = ${pg.port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`, 'fsync = off', 'max_connections = 60', ''].join('\n'),
    );
    await pg.start();
    return pg;
  }

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    await run(path.join(PG_BIN, 'pg_ctl'), ['-D', this.data, '-l', path.join(this.dir, 'server.log'), '-w', '-t', '60', 'start']);
  }

  /** `fast`: clients are disconnected, a clean shutdown; `immediate`: processes are killed, crash recovery at the next start. */
  async stop(mode: StopMode = 'fast'): Promise<void> {
    await run(path.join(PG_BIN, 'pg_ctl'), ['-D', this.data, '-m', mode, '-w', '-t', '60', 'stop']);
  }

  async running(): Promise<boolean> {
    try {
      await run(path.join(PG_BIN, 'pg_ctl'), ['-D', this.data, 'status']);
      return true;
    } catch {
      return false;
    }
  }

  /** Stops the server (if running) and deletes its directory. */
  async destroy(): Promise<void> {
    if (await this.running()) await this.stop('immediate').catch(() => {});
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }
}
