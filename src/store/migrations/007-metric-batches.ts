/**
 * Idempotent metric batches (issue 3): a client names each batch it sends with an id of
 * its own; the id is recorded in the same transaction as the batch's points, so a retry
 * after a lost response (timeout, 5xx, dropped connection) finds the id and adds nothing.
 *
 * Why a table and not uniqueness on (run, key, step, timestamp, value): the metric table
 * is an append-only log with no such constraint, and MLflow allows the same point twice
 * (two identical log_metric calls are two points), so deduplicating by content would
 * change what an MLflow client sees. One small row per batch (up to 1000 points) is cheap.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('metric_batch')
    .addColumn('run_id', 'text', (c) => c.notNull().references('run.id').onDelete('cascade'))
    .addColumn('batch_id', 'text', (c) => c.notNull())
    // sha256 of the batch's points: the same id with different points is a client bug
    // (CONFLICT), not a retry to acknowledge silently.
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('points', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('metric_batch_pk', ['run_id', 'batch_id'])
    .execute();
}
