/**
 * Distributed step execution (issue 5): `mobius worker` processes, the step attempts they
 * were handed through the PostgreSQL queue, and the one commit each attempt may have.
 * Created on SQLite too (harmless, empty): only a PostgreSQL store can run workers.
 * The queue library (graphile-worker) keeps its jobs in its own schema, which the queue
 * module migrates itself (see docs/scaling.md).
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('worker')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('queue', 'text', (c) => c.notNull())
    .addColumn('concurrency', 'integer', (c) => c.notNull())
    // JSON array: the queue library's ids of this process' worker slots (unlocked when lost).
    .addColumn('queue_worker_ids', 'text', (c) => c.notNull())
    // 'running', 'stopped' (left cleanly) or 'lost' (a sweeper saw its heartbeat expire).
    .addColumn('state', 'text', (c) => c.notNull())
    // Milliseconds since the epoch on the database's clock, so machines need not agree.
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('last_heartbeat', 'bigint', (c) => c.notNull())
    .addColumn('stopped_at', 'bigint')
    .execute();

  await db.schema
    .createTable('step_attempt')
    .addColumn('step_run_id', 'text', (c) =>
      c.notNull().references('step_run.id').onDelete('cascade'),
    )
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('queue', 'text', (c) => c.notNull())
    // 'queued', 'running', or the final status once committed (succeeded, failed, killed, lost).
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('worker_id', 'text')
    // The queue library's id of the worker slot that holds the job (to unlock it when lost).
    .addColumn('queue_worker_id', 'text')
    // How many times a worker took this attempt (> 1 when one handed it back on shutdown).
    .addColumn('deliveries', 'integer', (c) => c.notNull())
    .addColumn('enqueued_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('ended_at', 'bigint')
    .addPrimaryKeyConstraint('step_attempt_pk', ['step_run_id', 'attempt'])
    .execute();
  await db.schema
    .createIndex('step_attempt_by_status')
    .on('step_attempt')
    .columns(['status', 'worker_id'])
    .execute();

  // One row per attempt, ever: the primary key is what makes a commit exactly-once. A
  // second completion of the same attempt (a worker declared lost that was only slow, a
  // job delivered twice) fails to insert and is discarded.
  await db.schema
    .createTable('step_commit')
    .addColumn('step_run_id', 'text', (c) =>
      c.notNull().references('step_run.id').onDelete('cascade'),
    )
    .addColumn('attempt', 'integer', (c) => c.notNull())
    // The worker that committed, or null when a sweeper or the coordinator settled it.
    .addColumn('worker_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    // JSON: the StepOutcome (without outputs).
    .addColumn('outcome', 'text', (c) => c.notNull())
    // JSON: output name → { sha256, size }, already stored as blobs.
    .addColumn('outputs', 'text', (c) => c.notNull())
    // JSON: { stdout?: blob, stderr?: blob } — the attempt's logs as blobs.
    .addColumn('logs', 'text', (c) => c.notNull())
    .addColumn('committed_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('step_commit_once', ['step_run_id', 'attempt'])
    .execute();
}
