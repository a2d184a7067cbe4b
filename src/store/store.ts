/**
 * The metadata store: one interface over SQLite (embedded) and PostgreSQL (scale-out),
 * with the same schema, migrations and semantics on both.
 */
import {
  CompiledQuery,
  Kysely,
  Migrator,
  sql,
  type MigrationResult,
  type Transaction,
} from 'kysely';
import { MobiusError, limits } from '../core/index.js';
import { MIGRATIONS, type MigrationContext } from './migrations/index.js';
import {
  constraintViolation,
  isCatalogRace,
  isTransientConflict,
  withConflictRetry,
} from './retry.js';
import type { Database, NewRow } from './schema.js';
import { MobiusSqliteDialect, openSqliteDatabase } from './sqlite/index.js';

export type StoreDialect = 'sqlite' | 'postgres';

/** A migration's outcome, as `mobius migrate` reports it. */
export interface MigrationStep {
  name: string;
  status: 'applied' | 'failed' | 'skipped';
  ms: number | undefined;
}

/** Everything `migrate` did: applied migrations in order, or the one that failed. */
export interface MigrationReport {
  steps: MigrationStep[];
  /** Migrations already applied before this call. */
  alreadyApplied: number;
}

export interface WriteOptions {
  /** PostgreSQL isolation; SQLite transactions are always serializable. */
  isolation?: 'read committed' | 'serializable';
}

/** The metadata store every service receives. */
export interface Store {
  readonly dialect: StoreDialect;
  /** Kysely over the spine, for reads and for statements that need no transaction. */
  readonly db: Kysely<Database>;
  /**
   * Runs `fn` in one write transaction, retried on transient conflicts (SQLITE_BUSY,
   * serialization failures, deadlocks); `fn` must therefore be safe to run again.
   *
   * @example
   * await store.write((trx) => trx.insertInto('tag').values(row).execute());
   */
  write<T>(fn: (trx: Transaction<Database>) => Promise<T>, options?: WriteOptions): Promise<T>;
  /**
   * Inserts rows in as few statements as the backend's parameter limit allows, inside
   * the transaction or Kysely instance given. A column some rows omit is NULL in those
   * rows (not its default).
   */
  insertMany<T extends keyof Database>(
    trx: Kysely<Database>,
    table: T,
    rows: readonly NewRow<T>[],
  ): Promise<void>;
  /**
   * Applies pending migrations under a cross-process lock, up to `to` (default: all);
   * reports each one.
   */
  migrate(options?: { to?: string }): Promise<MigrationReport>;
  /** `ok`, or the problems SQLite's integrity_check found; PostgreSQL answers `ok`. */
  integrityCheck(): Promise<string>;
  close(): Promise<void>;
}

/** Bound parameters per statement: SQLite allows 32766, PostgreSQL 65535. */
const MAX_PARAMETERS: Record<StoreDialect, number> = { sqlite: 32_766, postgres: 65_535 };

/** Committed writes between two `PRAGMA optimize` runs on SQLite (see openStore). */
const SQLITE_OPTIMIZE_EVERY_WRITES = 2000;

const MIGRATION_TABLE = 'mobius_migration';
const MIGRATION_LOCK_TABLE = 'mobius_migration_lock';

/**
 * Opens the store at `location`: `sqlite:<path>` or `postgres://…[?schema=name]`.
 * Does not migrate; call `migrate()` (the server and `mobius migrate` do).
 *
 * @example
 * const store = await openStore('sqlite:.mobius/mobius.db');
 */
export async function openStore(location: string): Promise<Store> {
  if (location.startsWith('sqlite:')) {
    const dialect = new MobiusSqliteDialect(openSqliteDatabase(location.slice('sqlite:'.length)));
    // SQLite plans queries from the statistics ANALYZE gathers; without them it guesses,
    // and run search picks a scan of the experiment over the param index (7.4 vs 4.3 ms on
    // 10,000 runs). SQLite's advice for long-lived connections is to run PRAGMA optimize
    // now and then: it analyzes only tables that changed enough, so most calls are no-ops.
    // Run through Kysely so it waits its turn on the one connection instead of landing
    // inside another caller's open transaction.
    const db = new Kysely<Database>({ dialect });
    let writes = 0;
    const optimize = async () => {
      if (++writes % SQLITE_OPTIMIZE_EVERY_WRITES === 0) await sql`pragma optimize`.execute(db);
    };
    return new KyselyStore(
      'sqlite',
      db,
      async () => {
        const rows = dialect.database.pragma('integrity_check') as { integrity_check: string }[];
        return rows.map((r) => r.integrity_check).join('; ');
      },
      undefined,
      optimize,
    );
  }
  if (/^postgres(ql)?:\/\//.test(location)) {
    // Loaded only when used: the embedded default should not pay pg's start-up cost.
    const { createPostgresDialect, createPostgresPool, parsePostgresLocation, redact } =
      await import('./postgres/index.js');
    const parsed = parsePostgresLocation(location);
    const pool = createPostgresPool(parsed);
    let schema: string;
    try {
      if (parsed.schema !== undefined) {
        await pool
          .query(`create schema if not exists "${parsed.schema}"`)
          .catch((error: unknown) => {
            // Two processes creating the schema at once: one loses the race on the catalog's
            // unique index even with IF NOT EXISTS. The schema exists either way.
            if (constraintViolation(error) !== 'unique') throw error;
          });
      }
      const result = await pool.query<{ schema: string | null }>(
        'select current_schema() as schema',
      );
      schema = result.rows[0]?.schema ?? 'public';
    } catch (cause) {
      await pool.end();
      throw new MobiusError(
        'UNAVAILABLE',
        `cannot reach PostgreSQL at ${redact(location)}: ${(cause as Error).message}; is the server running and the URL right?`,
        { cause },
      );
    }
    const db = new Kysely<Database>({ dialect: createPostgresDialect(pool) });
    return new KyselyStore('postgres', db, () => Promise.resolve('ok'), schema);
  }
  throw new MobiusError(
    'INVALID_ARGUMENT',
    `store '${location}' is not understood: use sqlite:<path> or postgres://user@host/db`,
  );
}

class KyselyStore implements Store {
  readonly #insertSqlCache = new Map<string, string>();

  constructor(
    readonly dialect: StoreDialect,
    readonly db: Kysely<Database>,
    readonly integrityCheck: () => Promise<string>,
    /**
     * The PostgreSQL schema Mobius lives in. Kysely's migrator looks for its tables in
     * every schema unless told which one, so another Mobius schema in the same database
     * would make it skip creating its own.
     */
    private readonly pgSchema?: string,
    /** Upkeep after each committed write (SQLite: statistics now and then). */
    private readonly afterCommit?: () => Promise<void>,
  ) {}

  async write<T>(
    fn: (trx: Transaction<Database>) => Promise<T>,
    options: WriteOptions = {},
  ): Promise<T> {
    const result = await withConflictRetry(() => {
      let builder = this.db.transaction();
      if (this.dialect === 'postgres' && options.isolation !== undefined) {
        builder = builder.setIsolationLevel(options.isolation);
      }
      return builder.execute(fn);
    });
    await this.afterCommit?.();
    return result;
  }

  async insertMany<T extends keyof Database>(
    db: Kysely<Database>,
    table: T,
    rows: readonly NewRow<T>[],
  ): Promise<void> {
    if (rows.length === 0) return;
    // Rows may omit optional columns; the statement covers every column any row gives.
    const columnSet = new Set<string>();
    for (const row of rows) for (const column in row) columnSet.add(column);
    const columns = [...columnSet];
    const perStatement = Math.max(
      1,
      Math.min(
        limits.MAX_ROWS_PER_INSERT,
        Math.floor(MAX_PARAMETERS[this.dialect] / columns.length),
      ),
    );
    for (let i = 0; i < rows.length; i += perStatement) {
      const chunk = rows.slice(i, i + perStatement);
      const parameters: unknown[] = [];
      for (const row of chunk) {
        const record = row as Record<string, unknown>;
        for (const column of columns) parameters.push(record[column] ?? null);
      }
      await db.executeQuery(
        CompiledQuery.raw(this.#insertSql(table, columns, chunk.length), parameters),
      );
    }
  }

  /**
   * The INSERT text for one (table, columns, row count) shape, built once. Metric ingest
   * is the hot path: composing a 1000-row insert through Kysely's builder cost ~30% over
   * the raw driver on SQLite (bench/store-insert.ts), while the text itself never changes.
   * Table and column names come from the typed schema, never from users.
   */
  #insertSql(table: string, columns: string[], rowCount: number): string {
    const key = `${table}|${columns.join(',')}|${rowCount}`;
    let text = this.#insertSqlCache.get(key);
    if (text === undefined) {
      const width = columns.length;
      const values = Array.from({ length: rowCount }, (_, r) =>
        this.dialect === 'sqlite'
          ? `(${columns.map(() => '?').join(', ')})`
          : `(${columns.map((_c, j) => `$${r * width + j + 1}`).join(', ')})`,
      );
      text = `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values ${values.join(', ')}`;
      if (this.#insertSqlCache.size > 256) this.#insertSqlCache.clear();
      this.#insertSqlCache.set(key, text);
    }
    return text;
  }

  async migrate(options: { to?: string } = {}): Promise<MigrationReport> {
    const target = options.to;
    if (target !== undefined && !(target in MIGRATIONS)) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `no migration named '${target}'; known: ${Object.keys(MIGRATIONS).join(', ')}`,
      );
    }
    const context = migrationContext(this.dialect);
    const timings = new Map<string, number>();
    const migrator = new Migrator({
      db: this.db,
      migrationTableName: MIGRATION_TABLE,
      migrationLockTableName: MIGRATION_LOCK_TABLE,
      ...(this.pgSchema === undefined ? {} : { migrationTableSchema: this.pgSchema }),
      provider: {
        getMigrations: () =>
          Promise.resolve(
            Object.fromEntries(
              Object.entries(MIGRATIONS).map(([name, migration]) => [
                name,
                {
                  up: async (db: Kysely<unknown>) => {
                    const started = performance.now();
                    await migration.up(db, context);
                    timings.set(name, Math.round(performance.now() - started));
                  },
                },
              ]),
            ),
          ),
      },
    });
    // Kysely reports failures in the result instead of throwing; a catalog race is
    // thrown so the retry below runs the (rolled-back, idempotent) migration again.
    const { error, results = [] } = await withConflictRetry(
      async () => {
        const result = await (target === undefined
          ? migrator.migrateToLatest()
          : migrator.migrateTo(target));
        if (result.error instanceof Error && isCatalogRace(result.error)) throw result.error;
        return result;
      },
      (e) => isTransientConflict(e) || isCatalogRace(e),
    );
    const steps = results.map((r: MigrationResult) => ({
      name: r.migrationName,
      status: r.status === 'Success' ? 'applied' : r.status === 'Error' ? 'failed' : 'skipped',
      ms: timings.get(r.migrationName),
    })) satisfies MigrationStep[];
    if (error !== undefined) {
      const failed = steps.find((s) => s.status === 'failed')?.name ?? 'setup';
      throw new MobiusError(
        'INTERNAL',
        `migration ${failed} failed and was rolled back: ${(error as Error).message}`,
        { cause: error, details: { steps } },
      );
    }
    // getMigrations scans every schema's tables too, so it meets the same catalog race;
    // it only reads, so it is always safe to ask again.
    const executed = await withConflictRetry(() => migrator.getMigrations(), isCatalogRace);
    return {
      steps,
      alreadyApplied: executed.filter((m) => m.executedAt !== undefined).length - steps.length,
    };
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

function migrationContext(dialect: StoreDialect): MigrationContext {
  return dialect === 'sqlite'
    ? {
        dialect,
        serialPk: { type: 'integer', build: (c) => c.primaryKey().autoIncrement() },
      }
    : {
        dialect,
        serialPk: { type: 'bigint', build: (c) => c.primaryKey().generatedAlwaysAsIdentity() },
      };
}
