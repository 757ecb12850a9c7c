/**
 * Seeds users, login sessions and refresh-token families THROUGH THE LIBRARY,
 * in the test (or bench) process, on the same SQLite file the server uses
 * (WAL lets both processes work on it) or the same PostgreSQL schema. Tokens are minted exactly as the
 * portal mints them: mintCredential with a KeyManager on the same store.
 */
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { loadConfigFile, type ResolvedCluster, type ResolvedConfig } from '../../../lib/config/load';
import { loadKek } from '../../../lib/crypto/kek';
import { KeyManager } from '../../../lib/oidc/keys';
import { mintCredential, type MintedCredential } from '../../../lib/oidc/mint';
import { hashRefreshToken } from '../../../lib/oidc/refresh-tokens';
import { keyPolicy, openStore } from '../../../lib/runtime';
import { openSqliteStore } from '../../../lib/store/sqlite';
import type { LoginSession, Store, User } from '../../../lib/store/types';

export interface Seeder {
  config: ResolvedConfig;
  store: Store;
  keys: KeyManager;
  /** A user with a fresh login session (distinct per call). */
  signIn(username?: string, groups?: string[]): Promise<{ user: User; session: LoginSession }>;
  /** A new family for `cluster` (by name) and its generation-0 refresh token. */
  mint(cluster: string, who?: { user: User; session: LoginSession }): Promise<MintedCredential>;
  close(): Promise<void>;
}

export async function openSeeder(configPath: string): Promise<Seeder> {
  const config = loadConfigFile(configPath, {});
  const { kek } = await loadKek({ env: {}, file: config.secrets.key_encryption_key_file, configFile: configPath });
  const store = config.storage.sqlite
    ? await openSqliteStore(config.storage.sqlite.path, { synchronous: config.storage.sqlite.synchronous })
    : await openStore(config);
  const keys = await KeyManager.open(store, keyPolicy(config), kek, Date.now());
  const clusters = new Map<string, ResolvedCluster>(config.clusters.map((c) => [c.name, c]));
  let defaultWho: { user: User; session: LoginSession } | undefined;

  const signIn: Seeder['signIn'] = async (username = 'alice', groups = ['developers', 'system:authenticated-extra']) => {
    const now = Date.now();
    const user = await store.upsertUser(
      { upstream: 'local', subject: username, username, email: `${username}@example.com`, name: `Test ${username}`, groups },
      now,
    );
    const session = await store.createLoginSession(
      {
        id: randomUUID(),
        user_id: user.id,
        upstream: 'local',
        amr: ['pwd'],
        auth_time: now,
        expires_at: now + config.issuer.session_lifetime * 1000,
        client_ip: '127.0.0.1',
        user_agent: 'kubegate-http-test',
      },
      now,
    );
    return { user, session };
  };

  return {
    config,
    store,
    keys,
    signIn,
    async mint(name, who) {
      const cluster = clusters.get(name);
      if (!cluster) throw new Error(`no cluster ${name} in ${configPath}`);
      who ??= defaultWho ??= await signIn();
      return mintCredential(
        { issuer: config.issuer.url, store, keys, idTokenLifetimeSeconds: config.issuer.id_token_lifetime, now: Date.now },
        { ...who, cluster, origin: 'page' },
      );
    },
    close: () => store.close(),
  };
}

export interface TokenRow {
  hash: string;
  family_id: string;
  generation: number;
  created_at: number;
  used_at: number | null;
}

/**
 * Reads a refresh token's row straight from the SQLite file with a fresh,
 * read-only connection: what a crash right now would leave behind.
 */
export function readTokenRow(dbPath: string, token: string): TokenRow | undefined {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('select hash, family_id, generation, created_at, used_at from refresh_tokens where hash = ?').get(hashRefreshToken(token)) as
      | TokenRow
      | undefined;
  } finally {
    db.close();
  }
}

export function readFamilyRow(dbPath: string, familyId: string): { generation: number; revoked_at: number | null; revoke_reason: string | null } | undefined {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('select generation, revoked_at, revoke_reason from families where id = ?').get(familyId) as
      | { generation: number; revoked_at: number | null; revoke_reason: string | null }
      | undefined;
  } finally {
    db.close();
  }
}
