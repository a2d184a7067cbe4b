/**
 * The embedded backend: Kysely over better-sqlite3, tuned for durability and one writer.
 *
 * - WAL + synchronous=FULL: an acknowledged commit survives power loss and SIGKILL.
 * - Every transaction starts with BEGIN IMMEDIATE, taking the write lock up front; a
 *   deferred BEGIN that later upgrades can fail with SQLITE_BUSY no timeout can fix.
 * - busy_timeout makes other processes wait for the lock instead of failing.
 * - One connection per process (Kysely's SqliteDriver serialises on it) = one writer.
 * - Prepared statements are cached: preparing costs more than running a small insert.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type DialectAdapter,
  type SqliteDatabase,
  type SqliteStatement,
  CompiledQuery,
} from 'kysely';

/** How long a writer waits for another process's write lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 30_000;

/** Prepared statements kept per connection; queries beyond that are re-prepared. */
const STATEMENT_CACHE_SIZE = 500;

/** Opens (creating if needed) the SQLite file at `path` with Mobius' pragmas. */
export function openSqliteDatabase(path: string): BetterSqlite3.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('foreign_keys = ON');
  // PostgreSQL's LIKE is case-sensitive; make SQLite's agree so search behaves the same
  // on both backends (ILIKE is spelled lower(x) LIKE lower(y) on SQLite).
  db.pragma('case_sensitive_like = ON');
  return db;
}

/** The Kysely dialect for a better-sqlite3 database. */
export class MobiusSqliteDialect extends SqliteDialect {
  readonly #database: BetterSqlite3.Database;

  constructor(database: BetterSqlite3.Database) {
    super({ database: withStatementCache(database) });
    this.#database = database;
  }

  /** The raw handle, for pragmas and integrity checks. */
  get database(): BetterSqlite3.Database {
    return this.#database;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: withStatementCache(this.#database) });
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/**
 * SQLite runs DDL inside transactions fine; Kysely's default adapter says it doesn't,
 * which would make its migrator run without a transaction and without a lock. With
 * this, a migration runs in one BEGIN IMMEDIATE transaction: a second process waits
 * for the first to commit, then finds nothing left to do.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

function withStatementCache(db: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => db.close(),
    prepare(sql: string): SqliteStatement {
      let statement = cache.get(sql);
      if (statement !== undefined) {
        // Re-insert to keep the map in least-recently-used order.
        cache.delete(sql);
      } else {
        statement = db.prepare(sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) {
          const oldest = cache.keys().next();
          if (oldest.done !== true) cache.delete(oldest.value);
        }
      }
      cache.set(sql, statement);
      return statement;
    },
  };
}
