/**
 * The tabular engine: DuckDB in-process (`@duckdb/node-api`), behind a narrow interface.
 *
 * One DuckDB instance per use, not a pool: a session is a fresh in-memory database that
 * lives for one job (one `data add`, one diff) and is closed after it. Creating one costs
 * ~30 ms, small next to any scan worth running, and it buys isolation: no temp tables or
 * settings leak between jobs, each job's memory is returned when it ends, and each
 * session may read only the paths its job was given (DuckDB's enable_external_access=false
 * with allowed_directories / allowed_paths), so SQL built from user input can never reach
 * other files. At most MAX_ENGINE_SESSIONS run at once per process; the rest wait.
 * Extensions are never installed or loaded at run time: parquet and json are built into
 * the binary the npm package ships, and nothing is downloaded.
 */
import { mkdirSync } from 'node:fs';
import { DuckDBInstance, version as duckdbVersion, type DuckDBConnection } from '@duckdb/node-api';
import { MobiusError, limits } from '../core/index.js';
import { sqlStringList } from './sql-text.js';

/** A JSON-safe cell as the engine returns it: big integers and decimals arrive as strings. */
export type Cell = string | number | boolean | null | Cell[] | { [key: string]: Cell };

/** What a session may touch on disk. */
export interface SessionAccess {
  /** Directories (and everything below them) the session may read and write. */
  directories?: readonly string[];
  /** Single files the session may read. */
  files?: readonly string[];
  /** Overrides the engine's memory limit for this session (wide files need more). */
  memoryLimitMb?: number;
  /** Overrides the engine's thread count for this session. */
  threads?: number;
}

/** One open DuckDB database for one job. */
export interface EngineSession {
  /** Runs statements whose results are not needed (COPY, CREATE TEMP TABLE…). */
  run(sql: string): Promise<void>;
  /**
   * Runs a query and returns its rows as JSON-safe objects. For small results only
   * (aggregates, samples): rows are materialised in JavaScript.
   */
  rows<T = Record<string, Cell>>(sql: string): Promise<T[]>;
}

/** How the engine runs; defaults from core/limits. */
export interface EngineOptions {
  /** Where DuckDB spills sorts, joins and aggregates that exceed the memory limit. */
  tempDirectory: string;
  memoryLimitMb?: number;
  threads?: number;
  maxSessions?: number;
}

/** The DuckDB engine every data job runs on. */
export class Engine {
  readonly #options: Required<EngineOptions>;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(options: EngineOptions) {
    this.#options = {
      memoryLimitMb: limits.ENGINE_MEMORY_LIMIT_MB,
      threads: 0,
      maxSessions: limits.MAX_ENGINE_SESSIONS,
      ...options,
    };
  }

  /** `DuckDB v1.5.5`: recorded with every profile, since statistics may change across versions. */
  get version(): string {
    return `DuckDB ${duckdbVersion()}`;
  }

  /** The memory limit sessions get unless they ask for more, in MiB. */
  get memoryLimitMb(): number {
    return this.#options.memoryLimitMb;
  }

  /** The directory sessions spill to; jobs also put their scratch files below it. */
  get tempDirectory(): string {
    return this.#options.tempDirectory;
  }

  /**
   * Opens a session limited to `access`, runs `fn`, and closes the session.
   *
   * @example
   * const [row] = await engine.withSession({ files: [path] }, (s) =>
   *   s.rows(`select count(*) as n from read_parquet(${sqlString(path)})`),
   * );
   */
  async withSession<T>(
    access: SessionAccess,
    fn: (session: EngineSession) => Promise<T>,
  ): Promise<T> {
    await this.#acquire();
    let instance: DuckDBInstance | undefined;
    try {
      mkdirSync(this.#options.tempDirectory, { recursive: true });
      const settings: Record<string, string> = {
        memory_limit: `${access.memoryLimitMb ?? this.#options.memoryLimitMb}MB`,
        temp_directory: this.#options.tempDirectory,
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
      };
      const threads = access.threads ?? this.#options.threads;
      if (threads > 0) settings.threads = String(threads);
      instance = await DuckDBInstance.create(':memory:', settings);
      const connection = await instance.connect();
      const directories = [...(access.directories ?? []), this.#options.tempDirectory].map((d) =>
        d.endsWith('/') ? d : `${d}/`,
      );
      // A profile reads the same Parquet file once per bundle of columns; parsing the
      // footer of a 5,000-column file each time would dominate. (A setting of the parquet
      // extension, so it is set once the instance has loaded it.)
      await connection.run('SET parquet_metadata_cache = true');
      await connection.run(`SET allowed_directories = ${sqlStringList(directories)}`);
      if ((access.files ?? []).length > 0)
        await connection.run(`SET allowed_paths = ${sqlStringList(access.files ?? [])}`);
      // Once off, it cannot be turned back on in this instance.
      await connection.run('SET enable_external_access = false');
      await connection.run('SET lock_configuration = true');
      return await fn(new DuckDBSession(connection));
    } finally {
      instance?.closeSync();
      this.#release();
    }
  }

  async #acquire(): Promise<void> {
    if (this.#running < this.#options.maxSessions) {
      this.#running++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#running--;
    else next();
  }
}

class DuckDBSession implements EngineSession {
  constructor(private readonly connection: DuckDBConnection) {}

  async run(sql: string): Promise<void> {
    await this.connection.run(sql).catch(rethrow);
  }

  async rows<T>(sql: string): Promise<T[]> {
    const reader = await this.connection.runAndReadAll(sql).catch(rethrow);
    return reader.getRowObjectsJson() as T[];
  }
}

/**
 * DuckDB's errors keep their message (callers map the ones users cause, such as CSV
 * errors, to INVALID_ARGUMENT with advice); anything else is an engine failure. The
 * engine's own text stays on the cause, not in `details`: it names server-side paths,
 * and `details` travel to HTTP clients.
 */
function rethrow(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  throw new MobiusError('INTERNAL', `DuckDB: ${message.split('\n')[0]}`, {
    cause: error instanceof Error ? error : new Error(message),
    details: { engine: 'duckdb' },
  });
}

/** The DuckDB message inside an engine error, or undefined for any other error. */
export function engineMessage(error: unknown): string | undefined {
  const e = error as { details?: { engine?: unknown }; cause?: unknown };
  return e.details?.engine === 'duckdb' && e.cause instanceof Error ? e.cause.message : undefined;
}
