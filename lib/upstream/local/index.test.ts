import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { UpstreamRefusal } from '../types';
import { localConnector, LocalUpstreamSchema } from './index';

const hash = bcrypt.hashSync('right password', 4);
const users = [{ username: 'root', password_hash: hash, groups: ['sre', 'sre', ''], email: 'root@example.com' }];
const config = LocalUpstreamSchema.parse({ id: 'local', type: 'local', username_prefix: 'l:', groups_prefix: 'l:' });
const ctx = { now: () => 0, log: console as never };

describe('local upstream connector', () => {
  it('signs in with the right password: the username is the subject, prefixes applied, amr pwd', async () => {
    const signIn = await localConnector(users).authenticate(config, { username: 'root', password: 'right password' }, ctx);
    expect(signIn).toEqual({
      identity: { upstream: 'local', subject: 'root', username: 'l:root', email: 'root@example.com', name: null, groups: ['l:sre'] },
      amr: ['pwd'],
    });
  });

  it.each([
    ['a wrong password', 'root', 'wrong'],
    ['an unknown user', 'nobody', 'right password'],
    ['a username in another case', 'ROOT', 'right password'],
  ])('refuses %s as bad credentials, without saying which', async (_, username, password) => {
    const refused = localConnector(users).authenticate(config, { username, password }, ctx);
    await expect(refused).rejects.toBeInstanceOf(UpstreamRefusal);
    await expect(refused).rejects.toMatchObject({ code: 'bad_credentials' });
  });

  it('re-checks against the config: present is active with current groups, removed is gone', async () => {
    const user = { upstream: 'local', subject: 'root' } as never;
    await expect(localConnector(users).recheck!(config, user, null, ctx)).resolves.toMatchObject({ status: 'active', identity: { groups: ['l:sre'] } });
    await expect(localConnector([]).recheck!(config, user, null, ctx)).resolves.toEqual({ status: 'gone', reason: 'user_removed' });
  });
});
