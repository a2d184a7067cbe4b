/**
 * Where the queue lives: the store's PostgreSQL database. Mobius' own tables (worker,
 * step_attempt, step_commit) are in the store's schema; graphile-worker keeps its jobs in
 * a schema of its own, named after the store's so that two Mobius stores in one database
 * (tests, staging next to production) never share a queue.
 */
import pg from 'pg';
import { Logger as QueueLogger, runMigrations, type LogFunctionFactory } from 'graphile-worker';
import { MobiusError, type Logger } from '../../core/index.js';
import { sql, type Database, type Kysely, type Store } from '../../store/index.js';

/** The connection and names the queue executor and workers share. */
export interface QueueLocation {
  /** The store URL without Mobius' `schema` parameter. */
  connectionString: string;
  /** The store's schema (search_path), `public` by default. */
  schema: string;
  /** graphile-worker's schema: `mobius_queue`, or `<schema>_queue` for a named store schema. */
  queueSchema: string;
  /** LISTEN/NOTIFY channel on which commits are announced (database-wide, so per schema). */
  channel: string;
}

/**
 * A queue name: what `mobius worker --queue` takes and a step is sent to. Short and plain
 * because it becomes part of a graphile-worker task identifier.
 */
const QUEUE_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;

/** Checks a queue name and returns it. */
export function checkQueueName(queue: string): string {
  if (!QUEUE_NAME.test(queue))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `queue name '${queue}' is not allowed: use 1–40 lower-case letters, digits, '_' or '-', starting with a letter or digit`,
    );
  return queue;
}

/** The graphile-worker task identifier that carries step attempts for `queue`. */
export function taskIdentifier(queue: string): string {
  return `mobius_step:${checkQueueName(queue)}`;
}

/** The queue location of a `postgres://` store location; refuses SQLite with what to do. */
export function queueLocation(storeLocation: string): QueueLocation {
  if (!/^postgres(ql)?:\/\//.test(storeLocation))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'distributed workers need a PostgreSQL store: the queue, heartbeats and commits live in it. Set MOBIUS_STORE=postgres://user@host:5432/db (SQLite stores run pipelines with the local executor only)',
    );
  const url = new URL(storeLocation);
  const schema = url.searchParams.get('schema') ?? 'public';
  url.searchParams.delete('schema');
  const queueSchema = schema === 'public' ? 'mobius_queue' : `${schema}_queue`;
  return {
    connectionString: url.toString(),
    schema,
    queueSchema,
    channel: `mobius_commit_${schema}`,
  };
}

/** A small pool for graphile-worker (its own connections; Mobius' Kysely pool is separate). */
export function queuePool(location: QueueLocation, max: number, logger: Logger): pg.Pool {
  const pool = new pg.Pool({ connectionString: location.connectionString, max });
  // An idle connection dropped by the server must not crash the process; the next
  // query opens a new one.
  pool.on('error', (error) => logger.warn({ err: error }, 'queue connection lost'));
  pool.on('connect', (client) =>
    client.on('error', (error) => logger.warn({ err: error }, 'queue connection failed')),
  );
  return pool;
}

/**
 * Installs or upgrades graphile-worker's schema. Safe from many processes at once
 * (graphile-worker takes an advisory lock); run by every worker and coordinator on start.
 */
export async function migrateQueue(
  pool: pg.Pool,
  location: QueueLocation,
  logger: Logger,
): Promise<void> {
  await runMigrations({ pgPool: pool, schema: location.queueSchema, logger: queueLogger(logger) });
}

/** graphile-worker's log lines, routed into Mobius' logger (debug and up). */
export function queueLogger(logger: Logger): QueueLogger {
  const factory: LogFunctionFactory = (scope) => (level, message) => {
    const entry = { queue: scope };
    const name: string = level;
    if (name === 'error') logger.error(entry, message);
    else if (name === 'warning') logger.warn(entry, message);
    else logger.debug(entry, message);
  };
  return new QueueLogger(factory);
}

/** The database's clock in epoch milliseconds: heartbeats compare times from many machines. */
export const dbNowMs = sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/** Announces that an attempt was committed, inside the committing transaction. */
export async function notifyCommit(
  trx: Kysely<Database>,
  location: QueueLocation,
  stepRunId: string,
  attempt: number,
): Promise<void> {
  await sql`select pg_notify(${location.channel}, ${`${stepRunId}:${attempt}`})`.execute(trx);
}

/** Throws unless `store` is PostgreSQL. */
export function requirePostgres(store: Store): void {
  if (store.dialect !== 'postgres')
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'distributed workers need a PostgreSQL store: the queue, heartbeats and commits live in it. Set MOBIUS_STORE=postgres://user@host:5432/db',
    );
}
