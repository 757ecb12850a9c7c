import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { RotateResult } from './types';

/** One rotation, as the writer applies it: plain data, so it crosses to the worker thread as is. */
export interface RotationWrite {
  now: number;
  tokenHash: string;
  successorHash: string;
  familyId: string;
  generation: number;
  /** The audit_events row (auditRow()), written in the same transaction. */
  audit: Record<string, unknown>;
}

/**
 * The statements of a rotation batch. Defined once, as text, because the
 * same function runs on the main thread (in-memory databases) and inside the
 * writer thread (below), where only plain JavaScript can travel.
 */
const APPLY_BATCH_SOURCE = `(db) => {
  const markUsed = db.prepare('UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL');
  const insertSuccessor = db.prepare('INSERT INTO refresh_tokens (hash, family_id, generation, created_at, used_at) VALUES (?, ?, ?, ?, NULL)');
  const touchFamily = db.prepare('UPDATE families SET last_used_at = ?, generation = ? WHERE id = ?');
  const insertAudit = db.prepare('INSERT INTO audit_events (id, at, kind, user_id, username, cluster, family_id, session_id, client_ip, request_id, details) VALUES (@id, @at, @kind, @user_id, @username, @cluster, @family_id, @session_id, @client_ip, @request_id, @details)');
  // Each rotation is its own compare-and-set; one COMMIT (one fsync) covers the batch.
  return db.transaction((batch) => batch.map((w) => {
    if (markUsed.run(w.now, w.tokenHash).changes === 0) return 'already_used';
    insertSuccessor.run(w.successorHash, w.familyId, w.generation + 1, w.now);
    touchFamily.run(w.now, w.generation + 1, w.familyId);
    insertAudit.run(w.audit);
    return 'rotated';
  }));
}`;

type ApplyBatch = (batch: RotationWrite[]) => RotateResult[];

/** Compiles the batch function for a connection on this thread. */
export function batchApplier(db: Database.Database): ApplyBatch {
  return (0, eval)(APPLY_BATCH_SOURCE)(db) as ApplyBatch;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = ' + workerData.synchronous);
db.pragma('busy_timeout = 5000');
db.pragma('foreign_keys = ON');
const apply = (${APPLY_BATCH_SOURCE})(db);
parentPort.on('message', ({ id, batch }) => {
  try {
    parentPort.postMessage({ id, results: apply(batch) });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  }
});
`;

interface Waiter {
  write: RotationWrite;
  resolve: (r: RotateResult) => void;
  reject: (e: unknown) => void;
}

/**
 * Applies rotations with group commit. Writes queue up while a batch is
 * being committed; the next batch takes everything queued. On a file
 * database the batches run on a writer thread with its own connection, so
 * the commit's fsync (synchronous=FULL) never blocks the event loop that
 * serves requests. The caller's promise resolves only after COMMIT.
 */
export class RotationWriter {
  private queue: Waiter[] = [];
  private inFlight: Waiter[] | undefined;
  private worker: Worker | undefined;
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly mode: { kind: 'thread'; file: string; synchronous: string } | { kind: 'inline'; apply: ApplyBatch; lock: <T>(fn: () => T) => Promise<T> },
  ) {}

  /** Writer thread for a file database. */
  static threaded(file: string, synchronous: 'FULL' | 'NORMAL'): RotationWriter {
    return new RotationWriter({ kind: 'thread', file, synchronous });
  }

  /** Same thread (in-memory databases, which another connection cannot see). `lock` serializes with other users of the connection. */
  static inline(db: Database.Database, lock: <T>(fn: () => T) => Promise<T>): RotationWriter {
    return new RotationWriter({ kind: 'inline', apply: batchApplier(db), lock });
  }

  write(write: RotationWrite): Promise<RotateResult> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      if (!this.inFlight) setImmediate(() => this.pump());
    });
  }

  private pump(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const batch = (this.inFlight = this.queue);
    this.queue = [];
    const done = (results: RotateResult[] | undefined, error?: unknown) => {
      this.inFlight = undefined;
      batch.forEach((w, i) => (error === undefined ? w.resolve(results![i]!) : w.reject(error)));
      this.pump();
    };
    if (this.mode.kind === 'inline') {
      const { apply, lock } = this.mode;
      lock(() => apply(batch.map((w) => w.write))).then((r) => done(r), (e: unknown) => done(undefined, e));
      return;
    }
    const worker = this.ensureWorker();
    const id = this.nextId++;
    const onMessage = (m: { id: number; results?: RotateResult[]; error?: string }) => {
      if (m.id !== id) return;
      worker.off('message', onMessage);
      done(m.results, m.error === undefined ? undefined : new Error(`rotation batch failed: ${m.error}`));
    };
    worker.on('message', onMessage);
    worker.postMessage({ id, batch: batch.map((w) => w.write) });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    if (this.mode.kind !== 'thread') throw new Error('no writer thread in inline mode');
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, file: this.mode.file, synchronous: this.mode.synchronous },
    });
    const fail = (err: unknown) => {
      // The batch in flight may or may not have committed; its callers get an
      // error (a 500), and kubectl's retry of the same token lands in the grace window.
      if (this.worker === worker) this.worker = undefined;
      const batch = this.inFlight;
      this.inFlight = undefined;
      batch?.forEach((w) => w.reject(err));
      if (!this.closed) this.pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`rotation writer exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  /** Waits for queued writes, then stops the writer thread. */
  async close(): Promise<void> {
    while (this.inFlight || this.queue.length) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}
