/**
 * `npm run kubegate -- <command>`: administration against the configured
 * store, safe to run while Kubegate serves (SQLite WAL; servers pick up a
 * key change within 5 s, and revocations at the next refresh).
 *
 *   sessions [--user NAME]        active sign-ins
 *   revoke-session ID             end one sign-in and all its credentials
 *   revoke-user NAME              end every sign-in of a user (offboarding)
 *   audit [--limit N] [--kind K]  the newest audit events, oldest first
 *   keys                          signing keys: which signs, which is next, which are published
 *   rotate-key                    publish the next signing key now; it signs after signing.publish_ahead
 *   revoke-key KID                withdraw a compromised key at once; a new key signs now
 */
import { parseArgs } from 'node:util';
import { AdminError, listSessions, revokeSession, revokeUser, showAudit } from './lib/admin/commands';
import { listKeys, revokeKey, rotateKey } from './lib/admin/keys';
import { ConfigError } from './lib/config/load';
import { bootRuntime } from './lib/runtime-global';
import type { AuditKind } from './lib/store/types';
import { silentLogger } from './lib/util/log';

const USAGE = `usage: kubegate <command>
  sessions [--user NAME]        list active sign-ins
  revoke-session ID             end one sign-in and every credential minted from it
  revoke-user NAME              end every sign-in of a user
  audit [--limit N] [--kind K]  show the newest audit events
  keys                          list signing keys: which signs, which is next, which are published
  rotate-key                    publish the next signing key now; it signs after signing.publish_ahead
  revoke-key KID                withdraw a compromised signing key at once; a new key signs now`;

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
      case 'keys':
        lines = listKeys(rt.keys, now);
        break;
      case 'rotate-key':
        lines = await rotateKey(rt.keys, now);
        break;
      case 'revoke-key':
        if (!arg) throw new AdminError('revoke-key needs a key id (see `kubegate keys`)');
        lines = await revokeKey(rt.keys, arg, now);
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
