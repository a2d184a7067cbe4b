/**
 * The prediction log (issue 6): one row per answered (or failed) request per route that
 * ran it — the primary, and the shadow when the request was mirrored — written in batches
 * from a bounded in-memory buffer, so inference never waits on the store. Ground truth
 * arrives later (`POST /api/v1/deployments/{name}/feedback`) and is attached by request id.
 * No foreign key to `deployment`: the log outlives a deployment's rows and in-process
 * deployments log too.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, { serialPk }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('prediction_log')
    .addColumn('seq', serialPk.type, serialPk.build)
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('deployment', 'text', (c) => c.notNull())
    // The model and version that answered (null for an in-process deploy of bytes).
    .addColumn('model', 'text')
    .addColumn('version', 'integer')
    // primary | shadow
    .addColumn('route', 'text', (c) => c.notNull())
    // JSON: the request's inputs (OIP tensors or records) and the outputs, or null on error.
    .addColumn('inputs', 'text', (c) => c.notNull())
    .addColumn('outputs', 'text')
    .addColumn('latency_ms', 'double precision', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    // JSON: the ground truth attached by feedback.
    .addColumn('ground_truth', 'text')
    .addColumn('feedback_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('prediction_log_by_request')
    .on('prediction_log')
    .columns(['deployment', 'request_id'])
    .execute();
  await db.schema
    .createIndex('prediction_log_by_time')
    .on('prediction_log')
    .columns(['deployment', 'created_at'])
    .execute();
}
