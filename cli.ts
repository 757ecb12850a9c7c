/**
 * `npm run kubegate -- <command>`: administration against the configured
 * store, safe to run while Kubegate serves (SQLite WAL; servers pick up a
 * key change within 5 s, and revocations at the next refresh).
 *
 *   sessions [--user NAME] [--json]        active sign-ins
 *   revoke-session ID                      end one sign-in and all its credentials
 *   revoke-user NAME                       end every sign-in of a user (offboarding)
 *   reset-mfa NAME                         remove a user's second factors and recovery codes
 *   audit [--limit N] [--kind K] [--json]  the newest audit events, oldest first
 *   keys                                   signing keys: which signs, which is next, which are published
 *   rotate-key                             publish the next signing key now; it signs after signing.publish_ahead
 *   revoke-key KID                         withdraw a compromised key at once; a new key signs now
 *   backup FILE                            a consistent copy of the database, while serving
 *   restore                                after restoring a copy: revoke everything issued before
 *   apiserver-config CLUSTER [--format F]  the kube-apiserver flags, AuthenticationConfiguration and RBAC for a cluster
 *
 * Text output escapes control and bidi characters (a username is whatever
 * someone typed at the sign-in form); `--json` prints JSON lines: one JSON
 * object per session or event, one per line.
 */
import { parseArgs } from 'node:util';
import { API_SERVER_SETUP_FORMATS, apiServerSetup, parseKubernetesVersion, renderApiServerSetup, type ApiServerSetupFormat } from './lib/admin/apiserver-config';
import { backupCommand, resetAfterRestore } from './lib/admin/backup';
import { AdminError, listSessions, parseAuditKind, resetMfa, revokeSession, revokeUser, showAudit } from './lib/admin/commands';
import { listKeys, revokeKey, rotateKey } from './lib/admin/keys';
import { escapeForTerminal } from './lib/admin/terminal';
import { locateConfig } from './lib/config/bootstrap';
import { ConfigError, loadConfigFile } from './lib/config/load';
import { openStore } from './lib/runtime';
import { bootRuntime } from './lib/runtime-global';
import { AppError } from './lib/util/errors';
import { silentLogger } from './lib/util/log';

const USAGE = `usage: kubegate <command>
  sessions [--user NAME] [--json]        list active sign-ins
  revoke-session ID                      end one sign-in and every credential minted from it
  revoke-user NAME                       end every sign-in of a user
  reset-mfa NAME                         remove a user's second factors and recovery codes
  audit [--limit N] [--kind K] [--json]  show the newest audit events, oldest first
  keys                                   list signing keys: which signs, which is next, which are published
  rotate-key                             publish the next signing key now; it signs after signing.publish_ahead
  revoke-key KID                         withdraw a compromised signing key at once; a new key signs now
  backup FILE                            copy the database to FILE, consistently, while Kubegate serves
  restore                                after restoring a copy: revoke every sign-in, credential and key issued before
  apiserver-config CLUSTER               what kube-apiserver needs to trust Kubegate for CLUSTER: its flags, the
                                         AuthenticationConfiguration and RBAC bindings for the allowed groups
      [--format text|flags|authentication-config|rbac] [--json]  all (default), or one part as it stands
      [--kube-version 1.34]              the cluster's version: v1 from 1.34, v1beta1 on 1.30-1.33
      [--username-prefix P] [--groups-prefix P]  prefixes the API server adds (default kubegate:, '' for none)
      [--ca-file PATH]                   where the issuer's CA goes on the API server host (private CA only)
--json prints JSON lines: one object per session or event, one per line.`;

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        user: { type: 'string' },
        limit: { type: 'string', default: '50' },
        kind: { type: 'string' },
        json: { type: 'boolean', default: false },
        format: { type: 'string' },
        'kube-version': { type: 'string' },
        'username-prefix': { type: 'string' },
        'groups-prefix': { type: 'string' },
        'ca-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    // node:util's parse errors (unknown option, missing value) are usage errors, not crashes.
    throw new AdminError('usage', `${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv);
  const [command, arg] = positionals;
  if (values.help || !command || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command || values.help ? 0 : 2; // bare `kubegate` is a usage error
  }
  // Arguments are checked before the store is opened: a typo costs nothing.
  const format = values.json ? 'json' : 'text';
  const kind = command === 'audit' ? parseAuditKind(values.kind) : undefined;
  const limit = Number(values.limit);
  if (command === 'audit' && (!Number.isInteger(limit) || limit < 1 || limit > 10_000)) throw new AdminError('usage', '--limit must be a whole number from 1 to 10000');
  if (command === 'apiserver-config') {
    // The config alone: nothing is opened, so it also runs where the database is not reachable.
    if (!arg) throw new AdminError('usage', 'apiserver-config needs a cluster name (clusters[].name in the config)');
    const formatName = values.json ? 'json' : (values.format ?? 'text');
    if (!(API_SERVER_SETUP_FORMATS as readonly string[]).includes(formatName) || (values.json && values.format !== undefined)) {
      throw new AdminError('usage', `--format must be one of ${API_SERVER_SETUP_FORMATS.filter((f) => f !== 'json').join(', ')} (or --json alone)`);
    }
    const kubernetesMinor = values['kube-version'] === undefined ? undefined : parseKubernetesVersion(values['kube-version']);
    const config = loadConfigFile(locateConfig(process.env, process.cwd()).file);
    const setup = apiServerSetup(config, arg, {
      ...(kubernetesMinor === undefined ? {} : { kubernetesMinor }),
      ...(values['username-prefix'] === undefined ? {} : { usernamePrefix: values['username-prefix'] }),
      ...(values['groups-prefix'] === undefined ? {} : { groupsPrefix: values['groups-prefix'] }),
      ...(values['ca-file'] === undefined ? {} : { caFile: values['ca-file'] }),
    });
    const lines = renderApiServerSetup(setup, formatName as ApiServerSetupFormat);
    if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n');
    return 0;
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
  const { rt } = await bootRuntime({ log: silentLogger, printAudit: false });
  const now = rt.now();
  try {
    let lines: string[];
    switch (command) {
      case 'sessions':
        lines = await listSessions(rt.store, { username: values.user, now, format });
        break;
      case 'revoke-session':
        if (!arg) throw new AdminError('usage', 'revoke-session needs a session id (see `kubegate sessions`)');
        lines = await revokeSession(rt.store, arg, now);
        break;
      case 'revoke-user':
        if (!arg) throw new AdminError('usage', 'revoke-user needs a username');
        lines = await revokeUser(rt.store, arg, now);
        break;
      case 'reset-mfa':
        if (!arg) throw new AdminError('usage', 'reset-mfa needs a username');
        lines = await resetMfa(rt.store, arg, now);
        break;
      case 'audit':
        lines = await showAudit(rt.store, { limit, kind, format });
        break;
      case 'keys':
        lines = listKeys(rt.keys, now);
        break;
      case 'rotate-key':
        lines = await rotateKey(rt.keys, now);
        break;
      case 'revoke-key':
        if (!arg) throw new AdminError('usage', 'revoke-key needs a key id (see `kubegate keys`)');
        lines = await revokeKey(rt.keys, arg, now, rt.config.signing.jwks_max_age);
        break;
      default:
        throw new AdminError('usage', `unknown command "${command}"\n${USAGE}`);
    }
    if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    await rt.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Expected failures (AppError: bad arguments, an unknown id, an invalid config, the store unavailable)
    // show their message; anything else is a bug and shows its stack. Either way escaped, line by line:
    // a message may quote what someone typed.
    const text = err instanceof AppError ? err.message : String(err instanceof Error ? err.stack : err);
    process.stderr.write(`kubegate: ${text.split('\n').map(escapeForTerminal).join('\n')}\n`);
    const usage = err instanceof ConfigError || (err instanceof AdminError && (err.code === 'usage' || err.code === 'unknown_kind'));
    process.exit(usage ? 2 : 1);
  },
);
