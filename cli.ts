/**
 * `npm run kubegate -- <command>`: administration against the configured
 * store, safe to run while Kubegate serves (SQLite WAL; servers pick up a
 * rotated key within 30 s, and revocations at the next refresh).
 *
 *   sessions [--user NAME]        active sign-ins
 *   revoke-session ID             end one sign-in and all its credentials
 *   revoke-user NAME              end every sign-in of a user (offboarding)
 *   audit [--limit N] [--kind K]  the newest audit events, oldest first
 *   rotate-key                    a new signing key, now
 *   backup FILE                   a consistent copy of the database, while serving
 *   restore                       after restoring a copy: revoke everything issued before
 */
import { parseArgs } from 'node:util';
import { backupCommand, resetAfterRestore } from './lib/admin/backup';
import { AdminError, listSessions, revokeSession, revokeUser, rotateKeys, showAudit } from './lib/admin/commands';
import { locateConfig } from './lib/config/bootstrap';
import { ConfigError, loadConfigFile } from './lib/config/load';
import { openStore } from './lib/runtime';
import { bootRuntime } from './lib/runtime-global';
import type { AuditKind } from './lib/store/types';
import { silentLogger } from './lib/util/log';

const USAGE = `usage: kubegate <command>
  sessions [--user NAME]        list active sign-ins
  revoke-session ID             end one sign-in and every credential minted from it
  revoke-user NAME              end every sign-in of a user
  audit [--limit N] [--kind K]  show the newest audit events
  rotate-key                    replace the signing key now
  backup FILE                   copy the database to FILE, consistently, while Kubegate serves
  restore                       after restoring a copy: revoke every sign-in, credential and key issued before`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { user: { type: 'string' }, limit: { type: 'string', default: '50' }, kind: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, arg] = positionals;
  if (values.help || !command || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command || values.help ? 0 : 2; // bare `kubegate` is a usage error
  }
  if (command === 'backup' || command === 'restore') {
    // The store alone: no signing key is created or loaded.
    const config = loadConfigFile(locateConfig(process.env, process.cwd()).file);
    if (command === 'backup') process.stdout.write((await backupCommand(config, arg)).join('\n') + '\n');
    else {
      const store = await openStore(config);
      try {
        process.stdout.write((await resetAfterRestore(store, Date.now())).join('\n') + '\n');
      } finally {
        await store.close();
      }
    }
    return 0;
  }
  const { rt } = await bootRuntime({ log: silentLogger });
  const now = rt.now();
  try {
    let lines: string[];
    switch (command) {
      case 'sessions':
        lines = await listSessions(rt.store, { username: values.user, now });
        break;
      case 'revoke-session':
        if (!arg) throw new AdminError('revoke-session needs a session id (see `kubegate sessions`)');
        lines = await revokeSession(rt.store, arg, now);
        break;
      case 'revoke-user':
        if (!arg) throw new AdminError('revoke-user needs a username');
        lines = await revokeUser(rt.store, arg, now);
        break;
      case 'audit': {
        const limit = Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new AdminError('--limit must be a whole number from 1 to 10000');
        lines = await showAudit(rt.store, { limit, kind: values.kind as AuditKind | undefined });
        break;
      }
      case 'rotate-key':
        lines = await rotateKeys(rt.keys, now);
        break;
      default:
        throw new AdminError(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    await rt.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const known = err instanceof AdminError || err instanceof ConfigError || (err instanceof TypeError && 'code' in err);
    process.stderr.write(`kubegate: ${known ? (err as Error).message : String(err instanceof Error ? err.stack : err)}\n`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  },
);
