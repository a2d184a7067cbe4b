/**
 * Which database errors are transient, and the bounded retry around write transactions.
 * Only errors that guarantee the transaction rolled back are retried, so a retry can
 * never apply a write twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MobiusError } from '../core/index.js';

/** Attempts per write before giving up with UNAVAILABLE. */
export const MAX_WRITE_ATTEMPTS = 8;

/** SQLITE_BUSY* (lock not granted), PostgreSQL 40001 (serialization) and 40P01 (deadlock). */
export function isTransientConflict(error: unknown): boolean {
  const code = errorCode(error);
  return (
    code === '40001' ||
    code === '40P01' ||
    code === 'SQLITE_BUSY' ||
    code === 'SQLITE_BUSY_SNAPSHOT' ||
    code === 'SQLITE_LOCKED'
  );
}

/**
 * Kysely's migrator introspects the tables of every schema before it takes its lock; a
 * schema, table or column dropped concurrently by someone else (another Mobius schema
 * migrating, another app) can make that scan fail with 3F000 (no such schema), 42P01 (no
 * such table), or 42703 (no such column) raised inside `pg_get_serial_sequence`, which
 * the scan calls on every column it lists (seen in CI: a schema's migration 013 dropping
 * a column while another test's store started). Nothing was changed when that happens, so
 * the migration can simply run again. A 42703 from anywhere else is a real error.
 */
export function isCatalogRace(error: unknown): boolean {
  const code = errorCode(error);
  if (code === '3F000' || code === '42P01') return true;
  return code === '42703' && (error as { routine?: unknown }).routine === 'pg_get_serial_sequence';
}

/** The kind of constraint a write broke, on either backend; undefined for other errors. */
export function constraintViolation(
  error: unknown,
): 'unique' | 'foreign_key' | 'check' | 'not_null' | undefined {
  switch (errorCode(error)) {
    case '23505':
    case 'SQLITE_CONSTRAINT_UNIQUE':
    case 'SQLITE_CONSTRAINT_PRIMARYKEY':
      return 'unique';
    case '23503':
    case 'SQLITE_CONSTRAINT_FOREIGNKEY':
      return 'foreign_key';
    case '23514':
    case 'SQLITE_CONSTRAINT_CHECK':
      return 'check';
    case '23502':
    case 'SQLITE_CONSTRAINT_NOTNULL':
      return 'not_null';
    default:
      return undefined;
  }
}

function errorCode(error: unknown): string | undefined {
  const code: unknown = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Runs `attempt` until it succeeds, retrying transient conflicts (or what `isRetryable`
 * accepts) with jittered
 * exponential backoff (5 ms doubling, capped at 250 ms).
 */
export async function withConflictRetry<T>(
  attempt: () => Promise<T>,
  isRetryable: (error: unknown) => boolean = isTransientConflict,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isRetryable(error)) throw error;
      if (n >= MAX_WRITE_ATTEMPTS) {
        throw new MobiusError(
          'UNAVAILABLE',
          `the store stayed busy through ${MAX_WRITE_ATTEMPTS} attempts of one write; retry later`,
          { cause: error },
        );
      }
      const backoff = Math.min(250, 5 * 2 ** (n - 1));
      await sleep(backoff / 2 + Math.random() * backoff);
    }
  }
}
