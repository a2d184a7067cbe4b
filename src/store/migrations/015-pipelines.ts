/**
 * Pipelines (issue 5): a pipeline run, its step runs (each also a tracking run), and the
 * step cache. A cache entry maps a key computed before a step runs (definition, code,
 * params, allowed env, input content hashes) to the blobs the step produced.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('pipeline_run')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('pipeline', 'text', (c) => c.notNull())
    .addColumn('tracking_run_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('params', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('ended_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('pipeline_run_by_pipeline')
    .on('pipeline_run')
    .columns(['pipeline', 'started_at'])
    .execute();

  await db.schema
    .createTable('step_run')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('pipeline_run_id', 'text', (c) =>
      c.notNull().references('pipeline_run.id').onDelete('cascade'),
    )
    .addColumn('pipeline', 'text', (c) => c.notNull())
    .addColumn('step', 'text', (c) => c.notNull())
    .addColumn('tracking_run_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('cache_key', 'text')
    // JSON: the hash of each part of the cache key, so a later run can say what changed.
    .addColumn('cache_parts', 'text')
    .addColumn('explain', 'text', (c) => c.notNull())
    .addColumn('exit_code', 'integer')
    .addColumn('signal', 'text')
    .addColumn('exit_reason', 'text')
    .addColumn('started_at', 'bigint')
    .addColumn('ended_at', 'bigint')
    .addColumn('wall_ms', 'double precision')
    .addColumn('cpu_ms', 'double precision')
    .addColumn('peak_rss_bytes', 'bigint')
    // JSON: output name → { sha256, size }.
    .addColumn('outputs', 'text')
    .addUniqueConstraint('step_run_once', ['pipeline_run_id', 'step'])
    .execute();
  await db.schema
    .createIndex('step_run_history')
    .on('step_run')
    .columns(['pipeline', 'step', 'started_at'])
    .execute();

  await db.schema
    .createTable('step_cache')
    .addColumn('cache_key', 'text', (c) => c.primaryKey())
    .addColumn('pipeline', 'text', (c) => c.notNull())
    .addColumn('step', 'text', (c) => c.notNull())
    .addColumn('step_run_id', 'text', (c) => c.notNull())
    .addColumn('outputs', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}
