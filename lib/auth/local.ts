import bcrypt from 'bcryptjs';
import type { LocalUserConfig } from '../config/schema';

// A real bcrypt hash (cost 12) of a random string: compared against when the
// username is unknown, so the answer takes as long as for a known user.
const DUMMY_HASH = '$2b$12$6nwbEL1D6SFl7ZejltHbluouc9kLdaBD4h0ODZaPaa.H3i38rRUeC';

/**
 * Checks a local user's password. Always performs one bcrypt comparison,
 * whether or not the user exists, so timing does not reveal usernames.
 */
export async function verifyLocalPassword(
  users: readonly LocalUserConfig[],
  username: string,
  password: string,
): Promise<LocalUserConfig | undefined> {
  const user = users.find((u) => u.username === username);
  const ok = await bcrypt.compare(password, user?.password_hash ?? DUMMY_HASH);
  return ok && user ? user : undefined;
}
