import type Database from 'better-sqlite3';
import {
  SelectQueryNode,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';
import { storeErrorFrom, storeUnavailable } from './errors';
import type { SqliteWriter, WriteTransaction } from './sqlite-writer';
import type { ExecResult } from './write-engine';

/**
 * The read connection of a SQLite store, on the caller's thread. In WAL mode
 * readers never wait for writers, and this one never waits on a lock at all
 * (busy_timeout 0): a read that meets one fails at once with
 * StoreUnavailableError('busy'). It is `query_only`, so a write routed here
 * by mistake fails instead of blocking the event loop.
 */
export class SqliteReader {
  private readonly cache = new Map<string, Database.Statement>();
  private closed = false;

  constructor(private readonly db: Database.Database, opts: { shared?: boolean } = {}) {
    // Shared with the inline write engine (`:memory:`): that one writes through it.
    if (!opts.shared) {
      db.pragma('busy_timeout = 0');
      db.pragma('query_only = ON');
    }
  }

  /** A statement kept prepared (the store runs a small, fixed set). */
  prepare(sql: string): Database.Statement {
    if (this.closed) throw storeUnavailable('closed');
    let stmt = this.cache.get(sql);
    if (!stmt) {
      try {
        stmt = this.db.prepare(sql);
      } catch (err) {
        throw storeErrorFrom(err);
      }
      if (this.cache.size >= 256) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(sql, stmt);
    }
    return stmt;
  }

  /**
   * A statement of its own (not shared through the cache) that returns rows
   * as arrays, in the select list's order, with the column names: building
   * a row object in the driver costs twice what reading the row does, on the
   * widest read of all (the refresh context).
   */
  prepareRaw(sql: string): { stmt: Database.Statement; columns: string[] } {
    if (this.closed) throw storeUnavailable('closed');
    try {
      const stmt = this.db.prepare(sql).raw(true);
      return { stmt, columns: stmt.columns().map((c) => c.name) };
    } catch (err) {
      throw storeErrorFrom(err);
    }
  }

  all(sql: string, parameters: readonly unknown[]): unknown[] {
    const stmt = this.prepare(sql);
    try {
      return stmt.all(parameters);
    } catch (err) {
      throw storeErrorFrom(err);
    }
  }

  get(stmt: Database.Statement, parameters: readonly unknown[]): unknown {
    if (this.closed) throw storeUnavailable('closed');
    try {
      return stmt.get(parameters);
    } catch (err) {
      throw storeErrorFrom(err);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    this.db.close();
  }
}

/** SQLite does transactional DDL: migrations run in one IMMEDIATE transaction, so two processes cannot interleave them. */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

function toQueryResult<R>(r: ExecResult): QueryResult<R> {
  return {
    rows: (r.rows ?? []) as R[],
    numAffectedRows: r.changes === undefined ? undefined : BigInt(r.changes),
    insertId: r.lastInsertRowid === undefined ? undefined : BigInt(r.lastInsertRowid),
  };
}

interface Paths {
  reader: SqliteReader;
  writer: SqliteWriter;
  /** Bound on each write's wait, ms (default: the writer's busy timeout). */
  budgetMs?: number;
}

/**
 * Routes each query: inside a transaction, to that transaction on the write
 * connection; a SELECT outside one, to the read connection; any other
 * statement, to the write connection as its own transaction.
 */
class RoutingConnection implements DatabaseConnection {
  tx: WriteTransaction | undefined;

  constructor(private readonly paths: Paths) {}

  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    if (this.tx) return toQueryResult(await this.tx.exec(q.sql, q.parameters));
    if (SelectQueryNode.is(q.query)) return { rows: this.paths.reader.all(q.sql, q.parameters) as R[] };
    return toQueryResult(await this.paths.writer.statement(q.sql, q.parameters, this.paths.budgetMs));
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported by the SQLite store');
  }
}

class RoutingDriver implements Driver {
  constructor(private readonly paths: Paths) {}
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    return new RoutingConnection(this.paths);
  }
  async beginTransaction(c: DatabaseConnection): Promise<void> {
    const conn = c as RoutingConnection;
    if (conn.tx) throw new Error('nested transactions are not supported');
    conn.tx = await this.paths.writer.transaction(this.paths.budgetMs);
  }
  async commitTransaction(c: DatabaseConnection): Promise<void> {
    const conn = c as RoutingConnection;
    const tx = conn.tx;
    conn.tx = undefined;
    await tx?.commit();
  }
  async rollbackTransaction(c: DatabaseConnection): Promise<void> {
    const conn = c as RoutingConnection;
    const tx = conn.tx;
    conn.tx = undefined;
    await tx?.rollback();
  }
  async releaseConnection(c: DatabaseConnection): Promise<void> {
    await this.rollbackTransaction(c);
  }
  async destroy(): Promise<void> {
    // The reader and writer belong to the store, which closes them.
  }
}

/**
 * Kysely over a SQLite store's two paths: reads on the caller's thread,
 * every write through the SqliteWriter (the writer thread, with a bounded
 * wait). Errors arrive already mapped (StoreUnavailableError for storage
 * conditions).
 */
export class SqliteRoutingDialect implements Dialect {
  constructor(private readonly paths: Paths) {}
  createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
  createDriver(): Driver {
    return new RoutingDriver(this.paths);
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
