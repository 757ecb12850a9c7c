import { z } from 'zod';
import { verifyLocalPassword } from '../../auth/local';
import { finalizeIdentity, upstreamBase } from '../base';
import { UpstreamRefusal, type PasswordConnector, type RecheckOutcome } from '../types';

/** Accounts listed in the config file (`users:`), with bcrypt password hashes. */
export const LocalUpstreamSchema = z.strictObject({
  ...upstreamBase,
  type: z.literal('local'),
});
export type LocalUpstreamConfig = z.infer<typeof LocalUpstreamSchema>;

export interface LocalUser {
  username: string;
  email?: string;
  name?: string;
  password_hash: string;
  groups: string[];
}

/** The subject is the username: unique in the config, and local users have no other id. */
export function localIdentity(config: Pick<LocalUpstreamConfig, 'id' | 'username_prefix' | 'groups_prefix' | 'group_allowlist'>, user: LocalUser) {
  return finalizeIdentity(config, { subject: user.username, username: user.username, email: user.email, name: user.name, groups: user.groups });
}

/**
 * The config's user list is this upstream's directory. It is not part of the
 * upstream entry (users predate the seam and a list of people is not a
 * sign-in method), so the connector is built over it.
 */
export function localConnector(users: readonly LocalUser[]): PasswordConnector<LocalUpstreamConfig> {
  const byName = new Map(users.map((u) => [u.username, u]));
  const identityOf = localIdentity;
  return {
    type: 'local',
    flow: 'password',
    schema: LocalUpstreamSchema,
    presentation: (config) => ({ kind: 'password', label: config.display_name ?? 'a local account', usernameLabel: 'Username' }),
    formActionOrigins: () => [],
    async authenticate(config, { username, password }) {
      const user = await verifyLocalPassword(users, username, password);
      if (!user) throw new UpstreamRefusal('bad_credentials', 'wrong username or password');
      return { identity: identityOf(config, user), amr: ['pwd'] };
    },
    // The config file is read at every check: a user removed from it, or a group taken away, bites at once.
    async recheck(config, user): Promise<RecheckOutcome> {
      const local = byName.get(user.subject);
      return local ? { status: 'active', identity: identityOf(config, local) } : { status: 'gone', reason: 'user_removed' };
    },
  };
}
