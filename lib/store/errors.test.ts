import { describe, expect, it } from 'vitest';
import { storeErrorFrom, StoreUnavailableError } from './errors';

const sqliteError = (code: string) => Object.assign(new Error(`sqlite says ${code}`), { code });

describe('storeErrorFrom', () => {
  it.each([
    ['SQLITE_BUSY', 'busy'],
    ['SQLITE_BUSY_SNAPSHOT', 'busy'],
    ['SQLITE_BUSY_RECOVERY', 'busy'],
    ['SQLITE_LOCKED', 'busy'],
    ['SQLITE_LOCKED_SHAREDCACHE', 'busy'],
    ['SQLITE_PROTOCOL', 'busy'],
    ['SQLITE_FULL', 'full'],
    ['SQLITE_READONLY', 'readonly'],
    ['SQLITE_READONLY_DBMOVED', 'readonly'],
    ['SQLITE_READONLY_DIRECTORY', 'readonly'],
    ['SQLITE_IOERR', 'io'],
    ['SQLITE_IOERR_WRITE', 'io'],
    ['SQLITE_IOERR_FSYNC', 'io'],
    ['SQLITE_CANTOPEN', 'io'],
    ['KUBEGATE_TIMEOUT', 'timeout'],
  ] as const)('maps %s to StoreUnavailableError(%s), keeping the cause', (code, reason) => {
    const cause = sqliteError(code);
    const err = storeErrorFrom(cause);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err).toMatchObject({ reason, code: 'store_unavailable', cause });
    expect((err as Error).message).toContain(code);
  });

  it.each(['SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_FOREIGNKEY', 'SQLITE_ERROR', 'SQLITE_CORRUPT', 'SQLITE_BUSYNESS'])(
    'leaves %s alone: not a passing condition',
    (code) => {
      const err = sqliteError(code);
      expect(storeErrorFrom(err)).toBe(err);
    },
  );

  it('leaves errors without a SQLite code alone', () => {
    const err = new TypeError('bug');
    expect(storeErrorFrom(err)).toBe(err);
    expect(storeErrorFrom(undefined)).toBeUndefined();
  });
});
