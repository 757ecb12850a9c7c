import fs from 'node:fs';
import type Database from 'better-sqlite3';

/**
 * The one write connection's engine: what runs every write of a SQLite
 * store. It lives on the writer thread (file databases) or, for `:memory:`
 * (which another connection cannot see), on the caller's thread. Both run
 * the same source below: only plain JavaScript crosses to a worker, so it is
 * kept as text and evaluated in place.
 *
 * Every write is a transaction opened with `BEGIN IMMEDIATE` under a
 * deadline: `busy_timeout` is set to what is left of the caller's bound (or up to 50 ms less), so
 * a lock held by another process is waited for on this thread, never on the
 * event loop, and never longer than the bound. A transaction past its
 * deadline (plus COMMIT_ALLOWANCE_MS) is rolled back instead of committed:
 * a caller that was already told "unavailable" never has its write land
 * later.
 *
 * Once `mark` is sent (after the restore check at open), every commit also
 * bumps `kubegate_meta.write_seq` in the same transaction and records the new
 * value in the watermark file (a fixed-size pwrite; see watermark.ts).
 */

/** One compiled statement. */
export interface WriteStep {
  sql: string;
  parameters: readonly unknown[];
}

/**
 * Statements applied atomically. With `guard`, the first statement is a
 * compare-and-set: when it changes no row, nothing else runs and the write
 * reports `applied: false`.
 */
export interface GroupedWrite {
  steps: WriteStep[];
  guard: boolean;
}

export interface ExecResult {
  rows?: unknown[];
  changes?: number;
  lastInsertRowid?: number;
}

/** An error as it crosses from the engine: SQLite's code and message. */
export interface EngineError {
  code: string;
  message: string;
}

export type GroupResult = { applied: boolean } | { error: EngineError };

export type EngineRequest =
  | { op: 'begin'; deadline: number }
  | { op: 'exec'; sql: string; parameters: readonly unknown[] }
  | { op: 'commit' }
  | { op: 'rollback' }
  | { op: 'statement'; sql: string; parameters: readonly unknown[]; deadline: number }
  | { op: 'group'; items: GroupedWrite[]; deadline: number }
  | { op: 'mark'; file: string; instanceId: string }
  | { op: 'testing_max_page_count'; pages: number | null }
  | { op: 'close' };

export type EngineReply = { ok: true; value: unknown } | { ok: false; error: EngineError };

/** How long past its deadline a transaction that did get the lock may still commit. */
export const COMMIT_ALLOWANCE_MS = 1000;

/** The watermark file's fixed size: every record overwrites the whole file in one pwrite. */
export const WATERMARK_RECORD_BYTES = 128;

export interface EngineDeps {
  fs: Pick<typeof fs, 'openSync' | 'writeSync' | 'closeSync' | 'fchmodSync'>;
  /** Wall-clock milliseconds (performance.timeOrigin + performance.now()). */
  clock: () => number;
  /** A problem that does not fail the write (the watermark file could not be written). */
  warn: (message: string) => void;
}

export interface Engine {
  handle(req: EngineRequest): EngineReply;
}

export const ENGINE_SOURCE = `(db, deps) => {
  const ALLOWANCE = ${COMMIT_ALLOWANCE_MS};
  const RECORD = ${WATERMARK_RECORD_BYTES};
  const cache = new Map();
  const prep = (sql) => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      if (cache.size >= 512) cache.delete(cache.keys().next().value);
      cache.set(sql, s);
    }
    return s;
  };
  const fail = (code, message) => Object.assign(new Error(message), { code });
  // Storage conditions abort a whole group; anything else (a constraint) fails only its own write.
  const STORAGE = /^SQLITE_(BUSY|LOCKED|FULL|READONLY|IOERR|CANTOPEN|PROTOCOL|NOMEM|CORRUPT|NOTADB)/;
  // A PRAGMA is compiled anew each time: the timeout set is kept while it is within
  // BUSY_SLACK below what is left (never above it), so most transactions set nothing.
  const BUSY_SLACK = 50;
  let busyMs = -1;
  const setBusy = (ms) => {
    ms = Math.max(0, Math.floor(ms));
    if (busyMs > ms || busyMs < ms - BUSY_SLACK) { db.pragma('busy_timeout = ' + ms); busyMs = ms; }
  };
  let tx = null;
  let mark = null;

  const run = (sql, parameters) => {
    const s = prep(sql);
    if (s.reader) return { rows: s.all(parameters) };
    const r = s.run(parameters);
    return { changes: r.changes, lastInsertRowid: Number(r.lastInsertRowid) };
  };
  const begin = (deadline) => {
    if (db.inTransaction) throw fail('KUBEGATE_STATE', 'a write transaction is already open');
    setBusy(deadline - deps.clock());
    prep('BEGIN IMMEDIATE').run();
    tx = { deadline };
  };
  const rollback = () => {
    tx = null;
    if (db.inTransaction) prep('ROLLBACK').run();
  };
  const writeMark = (seq) => {
    const text = JSON.stringify({ kubegate_watermark: 1, instance_id: mark.instanceId, write_seq: seq });
    const buf = (mark.buf ??= Buffer.alloc(RECORD));
    buf.fill(0x20);
    buf.write(text, 0, 'utf8');
    buf[RECORD - 1] = 0x0a;
    try {
      if (mark.fd === undefined) {
        mark.fd = deps.fs.openSync(mark.file, 'w', 0o600);
        deps.fs.fchmodSync(mark.fd, 0o600);
      }
      deps.fs.writeSync(mark.fd, buf, 0, RECORD, 0);
    } catch (err) {
      deps.warn('could not write the restore watermark file ' + mark.file + ': ' + (err && err.message || err));
      if (mark.fd !== undefined) { try { deps.fs.closeSync(mark.fd); } catch {} mark.fd = undefined; }
    }
  };
  const commit = () => {
    const deadline = tx ? tx.deadline : Infinity;
    if (deps.clock() > deadline + ALLOWANCE / 2) {
      rollback();
      throw fail('KUBEGATE_TIMEOUT', 'the write missed its deadline and was rolled back');
    }
    let seq;
    try {
      if (mark) {
        const row = prep("UPDATE kubegate_meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'write_seq' RETURNING value").get();
        if (row) seq = Number(row.value);
      }
      prep('COMMIT').run();
      tx = null;
    } catch (err) {
      rollback();
      throw err;
    }
    if (seq !== undefined) writeMark(seq);
  };
  // First without savepoints (two statements less per write, and no page copies into the
  // statement journal): a guard that changes no row leaves nothing to undo. Should any write fail,
  // the whole transaction is rolled back and the group run again with a savepoint per write, so a
  // failing write still fails alone.
  const OPTIMISTIC = {};
  const groupOnce = (items, savepoints) => {
    const results = [];
    for (const item of items) {
      const savepoint = savepoints && item.steps.length > 1;
      if (savepoint) prep('SAVEPOINT kubegate_write').run();
      try {
        let applied = true;
        for (let i = 0; i < item.steps.length; i++) {
          const r = run(item.steps[i].sql, item.steps[i].parameters);
          if (i === 0 && item.guard && r.changes === 0) { applied = false; break; }
        }
        if (savepoint) prep('RELEASE kubegate_write').run();
        results.push({ applied });
      } catch (err) {
        if (!db.inTransaction || STORAGE.test(String(err && err.code))) throw err;
        if (!savepoints) throw OPTIMISTIC;
        if (savepoint) { prep('ROLLBACK TO kubegate_write').run(); prep('RELEASE kubegate_write').run(); }
        results.push({ error: { code: String(err.code || 'ERROR'), message: String(err.message || err) } });
      }
    }
    return results;
  };
  const group = (items, deadline) => {
    begin(deadline);
    let results;
    try {
      try {
        results = groupOnce(items, false);
      } catch (err) {
        if (err !== OPTIMISTIC) throw err;
        prep('ROLLBACK').run();
        prep('BEGIN IMMEDIATE').run();
        results = groupOnce(items, true);
      }
      commit();
    } catch (err) {
      rollback();
      throw err;
    }
    return results;
  };
  const ops = {
    begin: (m) => begin(m.deadline),
    exec: (m) => {
      if (!tx) throw fail('KUBEGATE_STATE', 'no write transaction is open');
      return run(m.sql, m.parameters);
    },
    commit: () => commit(),
    rollback: () => rollback(),
    statement: (m) => {
      begin(m.deadline);
      try {
        const r = run(m.sql, m.parameters);
        commit();
        return r;
      } catch (err) {
        rollback();
        throw err;
      }
    },
    group: (m) => group(m.items, m.deadline),
    mark: (m) => {
      mark = { file: m.file, instanceId: m.instanceId, fd: undefined };
      const row = prep("SELECT value FROM kubegate_meta WHERE name = 'write_seq'").get();
      const seq = row ? Number(row.value) : 0;
      writeMark(seq);
      return seq;
    },
    testing_max_page_count: (m) => {
      if (m.pages !== null) db.pragma('max_page_count = ' + Math.floor(m.pages));
      return { max: db.pragma('max_page_count', { simple: true }), used: db.pragma('page_count', { simple: true }) };
    },
    close: () => {
      rollback();
      if (mark && mark.fd !== undefined) { try { deps.fs.closeSync(mark.fd); } catch {} }
      db.close();
    },
  };
  return {
    handle(m) {
      try {
        const value = ops[m.op](m);
        return { ok: true, value: value === undefined ? null : value };
      } catch (err) {
        return { ok: false, error: { code: String((err && err.code) || 'ERROR'), message: String((err && err.message) || err) } };
      }
    },
  };
}`;

/** The engine on this thread, over `db` (in-memory databases). */
export function inlineEngine(db: Database.Database, deps: EngineDeps): Engine {
  return (0, eval)(ENGINE_SOURCE)(db, deps) as Engine;
}

/** Source of the writer thread: opens the file, sets the pragmas, and serves EngineRequests. */
export const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { performance } = require('node:perf_hooks');
const Database = require(workerData.driver);
let db;
let failure;
try {
  db = new Database(workerData.file);
  // Switching a new file to WAL takes a lock: wait for it up to the bound, here, off the event loop.
  db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = ' + workerData.synchronous);
  db.pragma('foreign_keys = ON');
} catch (err) {
  failure = { code: String(err.code || 'ERROR'), message: String(err.message || err) };
}
if (failure) {
  parentPort.postMessage({ ready: false, error: failure });
} else {
  const clock = () => performance.timeOrigin + performance.now();
  const engine = (${ENGINE_SOURCE})(db, { fs, clock, warn: (message) => parentPort.postMessage({ warn: message }) });
  // Statements by number, as the channel defined them (encodeGroup in sqlite-writer.ts).
  const sqls = [];
  const group = (m) => {
    let i = 0;
    const id = m[i++];
    const deadline = m[i++];
    for (let d = m[i++]; d > 0; d--) { const sid = m[i++]; sqls[sid] = m[i++]; }
    const items = [];
    for (let n = m[i++]; n > 0; n--) {
      const guard = m[i++] === 1;
      const steps = [];
      for (let k = m[i++]; k > 0; k--) {
        const sql = sqls[m[i++]];
        const np = m[i++];
        steps.push({ sql, parameters: m.slice(i, i + np) });
        i += np;
      }
      items.push({ guard, steps });
    }
    const reply = engine.handle({ op: 'group', items, deadline });
    if (!reply.ok) return parentPort.postMessage({ id, reply });
    const out = [id];
    for (const r of reply.value) out.push(r.error ? r : r.applied);
    parentPort.postMessage(out);
  };
  parentPort.on('message', (m) => {
    if (Array.isArray(m)) return group(m);
    parentPort.postMessage({ id: m.id, reply: engine.handle(m.req) });
  });
  parentPort.postMessage({ ready: true });
}
`;
