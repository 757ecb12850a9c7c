import fs from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { inlineEngine, type GroupedWrite } from './write-engine';

function engineOn() {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL); CREATE TABLE log (k TEXT NOT NULL)');
  db.exec("INSERT INTO t VALUES ('taken', 0)");
  const engine = inlineEngine(db, { fs, clock: () => performance.timeOrigin + performance.now(), warn: () => {} });
  const group = (items: GroupedWrite[]) => engine.handle({ op: 'group', items, deadline: performance.timeOrigin + performance.now() + 1000 });
  return { db, group };
}

const step = (sql: string, ...parameters: unknown[]) => ({ sql, parameters });

describe('write engine: a group of writes in one transaction', () => {
  it('applies every write, and a guard that changes no row applies nothing of its write', () => {
    const { db, group } = engineOn();
    const reply = group([
      { guard: false, steps: [step("INSERT INTO t VALUES ('a', 1)"), step("INSERT INTO log VALUES ('a')")] },
      { guard: true, steps: [step("UPDATE t SET v = 9 WHERE k = 'missing'"), step("INSERT INTO log VALUES ('guarded')")] },
      { guard: true, steps: [step("UPDATE t SET v = 2 WHERE k = 'a'"), step("INSERT INTO log VALUES ('a2')")] },
    ]);
    expect(reply).toEqual({ ok: true, value: [{ applied: true }, { applied: false }, { applied: true }] });
    expect(db.prepare('SELECT k, v FROM t ORDER BY k').all()).toEqual([{ k: 'a', v: 2 }, { k: 'taken', v: 0 }]);
    expect(db.prepare('SELECT k FROM log ORDER BY rowid').all()).toEqual([{ k: 'a' }, { k: 'a2' }]);
    expect(db.inTransaction).toBe(false);
  });

  it('a write that fails midway fails alone: none of its steps stay, the others of the group commit', () => {
    const { db, group } = engineOn();
    const reply = group([
      { guard: false, steps: [step("INSERT INTO t VALUES ('a', 1)"), step("INSERT INTO log VALUES ('a')")] },
      // Its first step applies, its second breaks the primary key: the first must be undone too.
      { guard: true, steps: [step("UPDATE t SET v = 5 WHERE k = 'a'"), step("INSERT INTO log VALUES ('b')"), step("INSERT INTO t VALUES ('taken', 1)")] },
      { guard: false, steps: [step("INSERT INTO t VALUES ('c', 3)"), step("INSERT INTO log VALUES ('c')")] },
    ]);
    expect(reply.ok).toBe(true);
    const value = (reply as { value: unknown[] }).value;
    expect(value[0]).toEqual({ applied: true });
    expect(value[1]).toMatchObject({ error: { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' } });
    expect(value[2]).toEqual({ applied: true });
    expect(db.prepare('SELECT k, v FROM t ORDER BY k').all()).toEqual([{ k: 'a', v: 1 }, { k: 'c', v: 3 }, { k: 'taken', v: 0 }]);
    expect(db.prepare('SELECT k FROM log ORDER BY rowid').all()).toEqual([{ k: 'a' }, { k: 'c' }]);
    expect(db.inTransaction).toBe(false);
  });
});
