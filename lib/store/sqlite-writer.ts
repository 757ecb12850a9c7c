import fs from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { storeErrorFrom, storeUnavailable } from './errors';
import {
  COMMIT_ALLOWANCE_MS,
  inlineEngine,
  WORKER_SOURCE,
  type EngineError,
  type EngineReply,
  type EngineRequest,
  type ExecResult,
  type GroupedWrite,
  type GroupResult,
} from './write-engine';

/** Wall-clock milliseconds at a monotonic rate; comparable with the writer thread's clock. */
const clock = () => performance.timeOrigin + performance.now();

/** How much later than the engine's own deadline check a reply may arrive before the caller stops waiting. */
const REPLY_SLACK_MS = COMMIT_ALLOWANCE_MS + 1000;

/**
 * However small the bound (busy_timeout 0: never wait for another process),
 * a write may wait this long behind this process's own earlier writes. Less
 * than half the commit allowance, so a write that waited it can still commit.
 */
const MIN_QUEUE_WAIT_MS = 200;

/** Until when a write may wait in this process's queue, for a bound ending at `deadline`. */
const queueDeadline = (deadline: number) => Math.max(deadline, clock() + MIN_QUEUE_WAIT_MS);

/** A failure the engine reported that is not a storage condition (a constraint, a bug): SQLite's code and message. */
export class SqliteWriteError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'SqliteWriteError';
  }
}

function fromEngine(e: EngineError): unknown {
  return storeErrorFrom(new SqliteWriteError(e.code, e.message));
}

/** Where requests go: the writer thread, or the engine on this thread. */
interface Channel {
  send(req: EngineRequest, replyBy: number): Promise<unknown>;
  close(): Promise<void>;
}

function settle(reply: EngineReply): unknown {
  if (reply.ok) return reply.value;
  throw fromEngine(reply.error);
}

class InlineChannel implements Channel {
  private readonly engine;
  constructor(db: Database.Database, warn: (message: string) => void) {
    this.engine = inlineEngine(db, { fs, clock, warn });
  }
  async send(req: EngineRequest): Promise<unknown> {
    return settle(this.engine.handle(req));
  }
  async close(): Promise<void> {
    this.engine.handle({ op: 'close' });
  }
}

interface PendingReply {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * A group as it crosses to the writer thread: one flat array of numbers,
 * strings and parameter values, each statement's SQL text by number after
 * its first crossing. Cloning nested step objects, and every statement's
 * text, for each write cost the event loop (and the writer thread) more than
 * the rotation's SQL itself. Layout (decoded by WORKER_SOURCE):
 *   id, deadline, nDefs, (sqlId, sql)×nDefs, nItems, (guard, nSteps, (sqlId, nParams, ...params)×nSteps)×nItems
 */
export function encodeGroup(id: number, req: Extract<EngineRequest, { op: 'group' }>, sqlIds: Map<string, number>): unknown[] {
  const defs: unknown[] = [];
  const body: unknown[] = [req.items.length];
  for (const item of req.items) {
    body.push(item.guard ? 1 : 0, item.steps.length);
    for (const step of item.steps) {
      let sid = sqlIds.get(step.sql);
      if (sid === undefined) {
        sid = sqlIds.size;
        sqlIds.set(step.sql, sid);
        defs.push(sid, step.sql);
      }
      body.push(sid, step.parameters.length);
      for (const p of step.parameters) body.push(p);
    }
  }
  return [id, req.deadline, defs.length / 2, ...defs, ...body];
}

/** A group's reply from the writer thread: [id, then per write `applied` (boolean) or its error]. */
type GroupReplyMessage = [number, ...Array<boolean | { error: EngineError }>];

function decodeGroupReply(m: GroupReplyMessage): EngineReply {
  const value: GroupResult[] = [];
  for (let i = 1; i < m.length; i++) {
    const r = m[i] as boolean | { error: EngineError };
    value.push(typeof r === 'boolean' ? { applied: r } : r);
  }
  return { ok: true, value };
}

/**
 * The writer thread. It holds the process only while a request is in
 * flight (so a forgotten close never keeps a CLI alive), and it is started
 * again, with its watermark settings, if it ever dies.
 */
class ThreadChannel implements Channel {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private readonly pending = new Map<number, PendingReply>();
  private nextId = 1;
  /** Replayed to a restarted thread before anything else. */
  private mark: EngineRequest | undefined;
  /** Statements the thread knows by number (each SQL text crosses once per thread, not with every write). */
  private sqlIds = new Map<string, number>();

  constructor(
    private readonly opts: { file: string; synchronous: 'FULL' | 'NORMAL'; busyTimeoutMs: number; warn: (message: string) => void },
  ) {}

  start(): Promise<void> {
    if (this.ready) return this.ready;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        file: this.opts.file,
        synchronous: this.opts.synchronous,
        busyTimeoutMs: this.opts.busyTimeoutMs,
      },
    });
    // Referenced until it is ready (a CLI awaiting the open must not exit meanwhile).
    this.worker = worker;
    this.sqlIds = new Map();
    const ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: { ready?: boolean; error?: EngineError; warn?: string; id?: number; reply?: EngineReply } | GroupReplyMessage) => {
        if (Array.isArray(m)) this.answer(m[0], decodeGroupReply(m));
        else if (m.ready === true) {
          if (this.pending.size === 0) worker.unref();
          resolve();
        } else if (m.ready === false) reject(fromEngine(m.error!));
        else if (m.warn !== undefined) this.opts.warn(m.warn);
        else if (m.id !== undefined) this.answer(m.id, m.reply!);
      });
      const stopped = (err: unknown) => {
        if (this.worker !== worker) return;
        this.worker = undefined;
        this.ready = undefined;
        const failure = storeUnavailable('io', `the writer thread stopped (${err instanceof Error ? err.message : String(err)})`);
        reject(failure);
        for (const [id, p] of this.pending) {
          clearTimeout(p.timer);
          this.pending.delete(id);
          p.reject(failure);
        }
        worker.unref();
      };
      worker.on('error', stopped);
      worker.on('exit', (code) => stopped(new Error(`exit code ${code}`)));
    });
    this.ready = ready;
    if (this.mark) this.post(this.mark, clock() + 30_000).catch(() => {});
    return ready;
  }

  private answer(id: number, reply: EngineReply): void {
    const p = this.pending.get(id);
    if (!p) return; // the caller stopped waiting (timeout)
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (this.pending.size === 0) this.worker?.unref();
    try {
      p.resolve(settle(reply));
    } catch (err) {
      p.reject(err);
    }
  }

  private post(req: EngineRequest, replyBy: number): Promise<unknown> {
    const worker = this.worker!;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.pending.delete(id);
          if (this.pending.size === 0) this.worker?.unref();
          reject(storeUnavailable('timeout', `no answer from the writer thread (${req.op})`));
        },
        Math.max(0, replyBy - clock()),
      );
      this.pending.set(id, { resolve, reject, timer });
      worker.ref();
      worker.postMessage(req.op === 'group' ? encodeGroup(id, req, this.sqlIds) : { id, req });
    });
  }

  async send(req: EngineRequest, replyBy: number): Promise<unknown> {
    if (req.op === 'mark') this.mark = req;
    await this.start();
    return this.post(req, replyBy);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    try {
      await this.post({ op: 'close' }, clock() + 5000);
    } catch {
      // terminated below either way
    }
    this.worker = undefined;
    await worker.terminate();
  }
}

/**
 * The write lock of this process: one write (a transaction, a statement or
 * a group) at a time on the one write connection, first come first served.
 * A waiter gives up at its deadline: its write is refused as `busy`, having
 * changed nothing.
 */
class WriteLock {
  private held = false;
  private readonly waiters: Array<() => void> = [];

  get busy(): boolean {
    return this.held;
  }

  acquire(deadline: number): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer);
        resolve();
      };
      const wait = deadline - clock();
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(storeUnavailable('busy', `this process's earlier writes still wait for the database`));
      }, Math.max(0, Math.min(wait, 2 ** 31 - 1)));
      this.waiters.push(grant);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held = false;
  }
}

/** A write transaction on the write connection; commit or roll back exactly once. */
export interface WriteTransaction {
  exec(sql: string, parameters: readonly unknown[]): Promise<ExecResult>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

interface GroupWaiter {
  write: GroupedWrite;
  /** The bound: the engine waits for another process's lock until then. */
  deadline: number;
  /** Until when it may wait in this process's queue. */
  queueDeadline: number;
  resolve: (applied: boolean) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

export interface WriterOptions {
  /** The bound on any write's wait for the database (SQLite busy_timeout), in ms. */
  busyTimeoutMs: number;
  /** A non-fatal problem of the writer (the watermark file could not be written). */
  warn?: (message: string) => void;
}

/**
 * The one write path of a SQLite store. Every write (Kysely transactions and
 * statements through the dialect, and grouped writes) runs on one
 * connection, one at a time, with a bounded wait:
 *
 * - on a file database that connection lives on a writer thread, so neither
 *   a lock held by another process nor an fsync ever blocks the event loop;
 * - grouped writes (a refresh rotation, an audit row, ...) queue while the
 *   previous group commits, and the next group takes everything queued: one
 *   transaction and one fsync for many (group commit);
 * - a write that cannot start within its bound is refused with
 *   StoreUnavailableError('busy') and has changed nothing.
 */
export class SqliteWriter {
  private readonly lock = new WriteLock();
  private pending: GroupWaiter[] = [];
  private pumping = false;
  private closed = false;

  private constructor(
    private readonly channel: Channel,
    readonly busyTimeoutMs: number,
  ) {}

  /** The writer thread for a file database; resolves once the file is open in WAL mode. */
  static async threaded(file: string, synchronous: 'FULL' | 'NORMAL', opts: WriterOptions): Promise<SqliteWriter> {
    const channel = new ThreadChannel({ file, synchronous, busyTimeoutMs: opts.busyTimeoutMs, warn: opts.warn ?? (() => {}) });
    await channel.start();
    return new SqliteWriter(channel, opts.busyTimeoutMs);
  }

  /** The engine on this thread, sharing `db` (in-memory databases: no other process can hold their lock). */
  static inline(db: Database.Database, opts: WriterOptions): SqliteWriter {
    return new SqliteWriter(new InlineChannel(db, opts.warn ?? (() => {})), opts.busyTimeoutMs);
  }

  private assertOpen(): void {
    if (this.closed) throw storeUnavailable('closed');
  }

  /** Opens a write transaction (BEGIN IMMEDIATE) within `budgetMs`; the transaction holds the write lock until it ends. */
  async transaction(budgetMs = this.busyTimeoutMs): Promise<WriteTransaction> {
    this.assertOpen();
    const deadline = clock() + budgetMs;
    await this.lock.acquire(queueDeadline(deadline));
    try {
      await this.channel.send({ op: 'begin', deadline }, deadline + REPLY_SLACK_MS);
    } catch (err) {
      this.lock.release();
      throw err;
    }
    let open = true;
    const end = async (op: 'commit' | 'rollback') => {
      if (!open) return;
      open = false;
      try {
        await this.channel.send({ op }, deadline + REPLY_SLACK_MS);
      } finally {
        this.lock.release();
      }
    };
    return {
      exec: async (sql, parameters) => {
        if (!open) throw new Error('the write transaction has ended');
        return (await this.channel.send({ op: 'exec', sql, parameters }, deadline + REPLY_SLACK_MS)) as ExecResult;
      },
      commit: () => end('commit'),
      rollback: () => end('rollback'),
    };
  }

  /** One statement in its own transaction. */
  async statement(sql: string, parameters: readonly unknown[], budgetMs = this.busyTimeoutMs): Promise<ExecResult> {
    this.assertOpen();
    const deadline = clock() + budgetMs;
    await this.lock.acquire(queueDeadline(deadline));
    try {
      return (await this.channel.send({ op: 'statement', sql, parameters, deadline }, deadline + REPLY_SLACK_MS)) as ExecResult;
    } finally {
      this.lock.release();
    }
  }

  /** A grouped write, committed with whatever else queued meanwhile. Resolves after COMMIT. */
  group(write: GroupedWrite, budgetMs = this.busyTimeoutMs): Promise<boolean> {
    if (this.closed) return Promise.reject(storeUnavailable('closed'));
    const deadline = clock() + budgetMs;
    const queueBy = queueDeadline(deadline);
    return new Promise((resolve, reject) => {
      const waiter: GroupWaiter = {
        write,
        deadline,
        queueDeadline: queueBy,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.pending.indexOf(waiter);
          if (i < 0) return; // already sent: the engine's deadline applies
          this.pending.splice(i, 1);
          reject(storeUnavailable('busy', 'the write could not start in time'));
        }, Math.min(queueBy - clock(), 2 ** 31 - 1)),
      };
      this.pending.push(waiter);
      // setImmediate, not a microtask: every request handled in this turn of
      // the event loop joins the first group.
      if (!this.pumping) {
        this.pumping = true;
        setImmediate(() => void this.pump());
      }
    });
  }

  private async pump(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        let latest = -Infinity;
        for (const w of this.pending) latest = Math.max(latest, w.queueDeadline);
        try {
          await this.lock.acquire(latest);
        } catch (err) {
          // Every waiter's deadline has passed.
          for (const w of this.pending.splice(0)) {
            clearTimeout(w.timer);
            w.reject(err);
          }
          continue;
        }
        const batch = this.pending;
        this.pending = [];
        if (batch.length === 0) {
          this.lock.release();
          continue;
        }
        let deadline = Infinity;
        for (const w of batch) {
          clearTimeout(w.timer);
          deadline = Math.min(deadline, w.deadline);
        }
        try {
          const results = (await this.channel.send(
            { op: 'group', items: batch.map((w) => w.write), deadline },
            deadline + REPLY_SLACK_MS,
          )) as GroupResult[];
          batch.forEach((w, i) => {
            const r = results[i]!;
            if ('error' in r) w.reject(fromEngine(r.error));
            else w.resolve(r.applied);
          });
        } catch (err) {
          for (const w of batch) w.reject(err);
        } finally {
          this.lock.release();
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * From now on, every commit bumps `kubegate_meta.write_seq` and records it
   * in `file` (written now with the current value). Returns that value.
   */
  async mark(file: string, instanceId: string): Promise<number> {
    return (await this.channel.send({ op: 'mark', file, instanceId }, clock() + 30_000)) as number;
  }

  /**
   * TEST HOOK: caps the database's size on the write connection
   * (`PRAGMA max_page_count`), so a test can make the disk "full" and clear
   * it again. `null` only reads the current figures.
   */
  async testingSetMaxPageCount(pages: number | null): Promise<{ max: number; used: number }> {
    return (await this.channel.send({ op: 'testing_max_page_count', pages }, clock() + 30_000)) as { max: number; used: number };
  }

  /** Lets queued writes finish (up to the bound), then closes the write connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const giveUp = clock() + this.busyTimeoutMs + REPLY_SLACK_MS;
    while ((this.pumping || this.pending.length > 0 || this.lock.busy) && clock() < giveUp) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await this.channel.close();
  }
}
