import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { decodeProtectedHeader, exportJWK, generateKeyPair, calculateJwkThumbprint } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../config/load';
import { createRuntime } from '../runtime';
import { openSqliteStore } from '../store/sqlite';
import { silentLogger } from '../util/log';
import { bodyOf, openTestEnv, parseTestConfig, seedSigningKey, T0, TestClock, testKek, type TokenSuccess } from '../../test/support/fixtures';
import { isSealed, KEK_ENV, KekError, KeyEncryptionKey, loadKek, openServerSecret, rowId, SealedValueError } from './kek';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-kek-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const B64 = Buffer.alloc(32, 1).toString('base64');
async function keyOf(text: string, source = 'test'): Promise<KeyEncryptionKey> {
  const k = await KeyEncryptionKey.parse(text, source);
  if (typeof k === 'string') throw new Error(k);
  return k;
}
async function errorOf(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('KeyEncryptionKey.parse', () => {
  it('takes base64 or base64url of 32 bytes, ignoring surrounding whitespace, and names the key by a thumbprint', async () => {
    const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => 250 - i));
    const a = await keyOf(bytes.toString('base64') + '\n');
    const b = await keyOf('  ' + bytes.toString('base64url'));
    expect(a.kid).toBe(b.kid);
    expect(a.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.kid).not.toContain(bytes.toString('base64url'));
  });

  it.each([
    ['empty', '', 'holds other characters or is empty'],
    ['16 bytes', Buffer.alloc(16, 1).toString('base64'), 'decodes to 16 bytes'],
    ['33 bytes', Buffer.alloc(33, 1).toString('base64'), 'decodes to 33 bytes'],
    ['hex', 'ab'.repeat(32) + '!', 'holds other characters'],
    ['a passphrase', 'correct horse battery staple', 'holds other characters'],
  ])('refuses %s', async (_, text, problem) => {
    const r = await KeyEncryptionKey.parse(text, 'test');
    expect(r).toEqual(expect.stringContaining(problem));
  });
});

describe('seal / open', () => {
  const row = rowId.serverSecret('auth_secret');

  it('round-trips, and the stored form is a dir/A256GCM compact JWE naming the KEK and the row, without the plaintext', async () => {
    const kek = await keyOf(B64);
    const sealed = await kek.seal(row, 'the-secret-value');
    expect(isSealed(sealed)).toBe(true);
    expect(isSealed('the-secret-value')).toBe(false);
    expect(isSealed('{"kty":"EC","d":"x"}')).toBe(false);
    expect(sealed).not.toContain('the-secret-value');
    expect(decodeProtectedHeader(sealed)).toEqual({ alg: 'dir', enc: 'A256GCM', kid: kek.kid, kubegate_row: row });
    expect(await kek.open(row, sealed)).toBe('the-secret-value');
    // A fresh IV each time.
    expect(await kek.seal(row, 'the-secret-value')).not.toBe(sealed);
  });

  it('refuses another KEK, naming the key the value expects and the key given', async () => {
    const sealed = await (await keyOf(B64)).seal(row, 'v');
    const other = await keyOf(Buffer.alloc(32, 2).toString('base64'), KEK_ENV);
    const err = await errorOf(other.open(row, sealed));
    expect(err).toBeInstanceOf(KekError);
    expect(err).toBeInstanceOf(ConfigError); // the entry points print it and exit 2
    expect(err.code).toBe('kek_mismatch');
    expect(err.message).toContain(`expects key ${(await keyOf(B64)).kid}`);
    expect(err.message).toContain(`the key given (${KEK_ENV}) is ${other.kid}`);
  });

  it('refuses a ciphertext moved from another row (the row is authenticated)', async () => {
    const kek = await keyOf(B64);
    const fromOther = await kek.seal(rowId.serverSecret('refresh_successor_key'), 'v');
    const err = await errorOf(kek.open(row, fromOther));
    expect(err).toBeInstanceOf(SealedValueError);
    expect(err.code).toBe('sealed_row_mismatch');
    expect(err.message).toBe('server_secrets/auth_secret holds the ciphertext of server_secrets/refresh_successor_key: the database was altered');
  });

  it('refuses a header rewritten to name the row (the protected header is authenticated), an altered ciphertext, and a value in clear', async () => {
    const kek = await keyOf(B64);
    const [, ...rest] = (await kek.seal(rowId.serverSecret('other'), 'v')).split('.');
    const forgedHeader = Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid: kek.kid, kubegate_row: row })).toString('base64url');
    expect((await errorOf(kek.open(row, [forgedHeader, ...rest].join('.')))).code).toBe('sealed_corrupt');

    const parts = (await kek.seal(row, 'value')).split('.');
    parts[3] = parts[3]!.slice(0, -2) + (parts[3]!.endsWith('AA') ? 'BB' : 'AA');
    expect((await errorOf(kek.open(row, parts.join('.')))).code).toBe('sealed_corrupt');
    expect((await errorOf(kek.open(row, 'in-clear'))).code).toBe('not_sealed');
  });
});

describe('loadKek', () => {
  const configFile = '/etc/kubegate/kubegate.yaml';

  it('takes the environment variable first, else the configured file', async () => {
    const file = path.join(tmp, 'k1.key');
    fs.writeFileSync(file, Buffer.alloc(32, 3).toString('base64') + '\n', { mode: 0o600 });
    const fromFile = await loadKek({ env: {}, file, configFile });
    expect(fromFile.warning).toBeUndefined();
    expect(fromFile.kek.source).toBe(`${file} (secrets.key_encryption_key_file)`);
    const fromEnv = await loadKek({ env: { [KEK_ENV]: B64 }, file, configFile });
    expect(fromEnv.kek.source).toBe(KEK_ENV);
    expect(fromEnv.kek.kid).toBe((await keyOf(B64)).kid);
  });

  it('refuses to go on without a key, saying how to make one', async () => {
    const err = await errorOf(loadKek({ env: { [KEK_ENV]: '' }, configFile }));
    expect(err).toBeInstanceOf(KekError);
    expect(err.code).toBe('kek_missing');
    expect((err as KekError).problems).toEqual([expect.stringMatching(/^secrets\.key_encryption_key_file: no key-encryption key is configured/)]);
    expect(err.message).toContain(`invalid configuration in ${configFile}`);
    expect(err.message).toContain(KEK_ENV);
    expect(err.message).toContain('openssl rand -base64 32');
  });

  it('names the field and the file when the file cannot be read or holds no key', async () => {
    const missing = path.join(tmp, 'absent.key');
    const e1 = await errorOf(loadKek({ env: {}, file: missing, configFile }));
    expect([e1.code, (e1 as KekError).problems]).toEqual(['kek_unreadable', [`secrets.key_encryption_key_file: cannot read ${missing}: ENOENT`]]);
    const junk = path.join(tmp, 'junk.key');
    fs.writeFileSync(junk, 'not a key\n');
    const e2 = await errorOf(loadKek({ env: {}, file: junk, configFile }));
    expect(e2.code).toBe('kek_malformed');
    expect((e2 as KekError).problems[0]).toMatch(new RegExp(`^secrets\\.key_encryption_key_file: ${junk} must be base64 of 32 random bytes`));
    const e3 = await errorOf(loadKek({ env: { [KEK_ENV]: 'c2hvcnQ=' }, configFile }));
    expect([e3.code, (e3 as KekError).problems]).toEqual(['kek_malformed', [`${KEK_ENV}: must be base64 of 32 random bytes (openssl rand -base64 32); it decodes to 5 bytes`]]);
  });

  it('warns about a key file others can read', async () => {
    const file = path.join(tmp, 'open.key');
    fs.writeFileSync(file, B64);
    fs.chmodSync(file, 0o644);
    expect((await loadKek({ env: {}, file, configFile })).warning).toBe(`${file} is readable by others (mode 644); chmod 600 it`);
  });
});

describe('openServerSecret', () => {
  it('creates the secret encrypted, and reads the same value back', async () => {
    const store = await openSqliteStore(':memory:');
    const kek = await testKek();
    const first = await openServerSecret(store, kek, 'auth_secret', () => 'generated', T0);
    expect(first).toEqual({ value: 'generated', encryptedInPlace: false });
    expect(await openServerSecret(store, kek, 'auth_secret', () => 'other', T0)).toEqual(first);
    const stored = await store.getOrCreateSecret('auth_secret', () => 'x', T0);
    expect(isSealed(stored)).toBe(true);
    await store.close();
  });

  it('encrypts a value stored in clear by an earlier version in place, keeping it', async () => {
    const store = await openSqliteStore(':memory:');
    await store.getOrCreateSecret('refresh_successor_key', () => 'old-clear-value', T0);
    const kek = await testKek();
    expect(await openServerSecret(store, kek, 'refresh_successor_key', () => 'new', T0)).toEqual({ value: 'old-clear-value', encryptedInPlace: true });
    expect(await openServerSecret(store, kek, 'refresh_successor_key', () => 'new', T0)).toEqual({ value: 'old-clear-value', encryptedInPlace: false });
    await store.close();
  });
});

/** Every text value in every row of every table of a SQLite file, read with a connection of its own. */
function rawText(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[];
    return tables
      .flatMap(({ name }) => db.prepare(`select * from "${name}"`).all() as Record<string, unknown>[])
      .flatMap((r) => Object.values(r).filter((v): v is string => typeof v === 'string'))
      .join('\n');
  } finally {
    db.close();
  }
}

describe('a database on disk', () => {
  const config = parseTestConfig();
  let n = 0;
  const dbFile = () => path.join(tmp, `db-${++n}`, 'kubegate.db');

  it('holds no private key material and no server secret in clear', async () => {
    const file = dbFile();
    const clock = new TestClock();
    const env = await openTestEnv({ store: await openSqliteStore(file), clock });
    // A rotation ahead, so a next key is stored too.
    await env.rt.keys.rotate(clock.now());
    const minted = await env.mint('prod');
    expect((await env.refresh(minted.refreshToken)).status).toBe(200);
    const { refreshKey, keys } = env.rt.issuerDeps;
    const authSecret = env.rt.authSecret;
    await env.close();

    const text = rawText(file);
    expect(text).not.toContain(refreshKey.toString('base64url'));
    expect(text).not.toContain(authSecret);
    expect(text).not.toMatch(/"d"\s*:/); // no private JWK member anywhere
    expect(text).not.toMatch(/"(p|q|dp|dq|qi)"\s*:/);
    const db = new Database(file, { readonly: true });
    const keyRows = db.prepare('select kid, private_jwk from signing_keys').all() as { kid: string; private_jwk: string }[];
    const secretRows = db.prepare('select name, value from server_secrets').all() as { name: string; value: string }[];
    db.close();
    expect(keyRows.length).toBe(2);
    expect(keys.current().kid).toBeDefined();
    for (const r of keyRows) expect(decodeProtectedHeader(r.private_jwk)).toMatchObject({ alg: 'dir', enc: 'A256GCM', kubegate_row: `signing_keys/${r.kid}` });
    expect(secretRows.map((r) => r.name).sort()).toEqual(['auth_secret', 'refresh_successor_key']);
    for (const r of secretRows) expect(decodeProtectedHeader(r.value)).toMatchObject({ alg: 'dir', enc: 'A256GCM', kubegate_row: `server_secrets/${r.name}` });
  });

  it('refuses to open with another KEK, and writes nothing', async () => {
    const file = dbFile();
    const first = await openTestEnv({ store: await openSqliteStore(file) });
    await first.close();
    const before = rawText(file);
    const wrong = await keyOf(Buffer.alloc(32, 5).toString('base64'), KEK_ENV);
    const err = await errorOf(createRuntime(config, { kek: wrong, store: await openSqliteStore(file), now: () => T0, log: silentLogger }));
    expect(err).toBeInstanceOf(KekError);
    expect(err.message).toContain(`expects key ${(await testKek()).kid}`);
    expect(err.message).toContain(`the key given (${KEK_ENV}) is ${wrong.kid}`);
    expect(rawText(file)).toBe(before);
  });

  it('refuses another KEK on a database that holds keys but no secrets yet, without creating any', async () => {
    const file = dbFile();
    const store = await openSqliteStore(file);
    await seedSigningKey(store, 'RS256', T0);
    await store.close();
    const wrong = await keyOf(Buffer.alloc(32, 6).toString('base64'), KEK_ENV);
    const err = await errorOf(createRuntime(config, { kek: wrong, now: () => T0, log: silentLogger, store: await openSqliteStore(file) }));
    expect((err as KekError).code).toBe('kek_mismatch');
    const db = new Database(file, { readonly: true });
    expect(db.prepare('select count(*) as n from server_secrets').get()).toEqual({ n: 0 });
    db.close();
  });

  it('refuses a database whose secrets were swapped between rows', async () => {
    const file = dbFile();
    const first = await openTestEnv({ store: await openSqliteStore(file) });
    await first.close();
    const db = new Database(file);
    const get = (name: string) => (db.prepare('select value from server_secrets where name = ?').get(name) as { value: string }).value;
    const [a, b] = [get('auth_secret'), get('refresh_successor_key')];
    db.prepare('update server_secrets set value = ? where name = ?').run(b, 'auth_secret');
    db.prepare('update server_secrets set value = ? where name = ?').run(a, 'refresh_successor_key');
    db.close();
    const err = await errorOf(openTestEnv({ store: await openSqliteStore(file) }));
    expect(err).toBeInstanceOf(SealedValueError);
    expect(err.code).toBe('sealed_row_mismatch');
  });

  it('upgrades a database the previous version wrote in clear: encrypted in place, same key, same secrets, tokens keep working', async () => {
    const file = dbFile();
    // What the previous version left: a private JWK and the two secrets in clear.
    const store = await openSqliteStore(file);
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
    const pub = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(pub);
    const clearJwk = JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: 'RS256' });
    await store.activateSigningKey(
      { kid, alg: 'RS256', private_jwk: clearJwk, public_jwk: JSON.stringify({ ...pub, kid, alg: 'RS256', use: 'sig' }), created_at: T0, activates_at: T0, retired_at: null, expires_at: null, revoked_at: null },
      T0,
      T0,
    );
    const successorKey = Buffer.alloc(32, 4).toString('base64url');
    await store.getOrCreateSecret('refresh_successor_key', () => successorKey, T0);
    await store.getOrCreateSecret('auth_secret', () => 'old-auth-secret', T0);
    await store.close();
    expect(rawText(file)).toContain(clearJwk);

    const logged: string[] = [];
    const log = { ...silentLogger, warn: (msg: string, f?: Record<string, unknown>) => logged.push(`${msg} ${JSON.stringify(f)}`) };
    const clock = new TestClock(T0 + 1000);
    const rt = await createRuntime(config, { kek: await testKek(), store: await openSqliteStore(file), now: clock.now, log, keySyncIntervalMs: 3_600_000 });
    expect(rt.keys.current().kid).toBe(kid);
    expect(rt.issuerDeps.refreshKey.toString('base64url')).toBe(successorKey);
    expect(rt.authSecret).toBe('old-auth-secret');
    await rt.close();
    expect(logged).toEqual([
      `signing key was stored in clear; encrypted it in place {"kid":"${kid}"}`,
      'server secret was stored in clear; encrypted it in place {"name":"refresh_successor_key"}',
      'server secret was stored in clear; encrypted it in place {"name":"auth_secret"}',
    ]);
    const text = rawText(file);
    expect(text).not.toContain(clearJwk);
    expect(text).not.toContain(successorKey);
    expect(text).not.toContain('old-auth-secret');

    // And it serves: a refresh signs with the upgraded key.
    const env = await openTestEnv({ store: await openSqliteStore(file), clock });
    const minted = await env.mint('prod');
    const res = await env.refresh(minted.refreshToken);
    expect(decodeProtectedHeader(bodyOf<TokenSuccess>(res).id_token).kid).toBe(kid);
    await env.close();
  });
});
