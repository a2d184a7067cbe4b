/**
 * Data checks (issue 4): every run of an expectation suite on a dataset version, and the
 * metrics it recorded for history anomalies.
 * - `check_run`: the verdict (pass | warn | fail), GE-style statistics, the suite as run
 *   (its JSON and sha256, so a result always says which definition it judged), the
 *   per-expectation results and anomalies as JSON, and the tracking run it belongs to.
 * - `check_metric`: one row per metric (row_count, null_rate:<col>, mean:<col>) of a check
 *   run, indexed by dataset, metric and version so "this metric on the last 30 checked
 *   versions" is one range read.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('check_run')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('dataset_id', 'text', (c) =>
      c.notNull().references('dataset.id').onDelete('cascade'),
    )
    .addColumn('version_id', 'text', (c) =>
      c.notNull().references('dataset_version.id').onDelete('cascade'),
    )
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('suite_name', 'text', (c) => c.notNull())
    .addColumn('suite_hash', 'text', (c) => c.notNull())
    .addColumn('suite', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('success', 'integer', (c) => c.notNull())
    .addColumn('statistics', 'text', (c) => c.notNull())
    .addColumn('results', 'text', (c) => c.notNull())
    .addColumn('anomalies', 'text', (c) => c.notNull())
    .addColumn('scans', 'integer', (c) => c.notNull())
    .addColumn('run_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('duration_ms', 'double precision', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('check_run_by_dataset')
    .on('check_run')
    .columns(['dataset_id', 'created_at'])
    .execute();
  await db.schema
    .createIndex('check_run_by_version')
    .on('check_run')
    .column('version_id')
    .execute();

  await db.schema
    .createTable('check_metric')
    .addColumn('check_run_id', 'text', (c) =>
      c.notNull().references('check_run.id').onDelete('cascade'),
    )
    .addColumn('dataset_id', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'double precision', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('check_metric_pk', ['check_run_id', 'key'])
    .execute();
  await db.schema
    .createIndex('check_metric_history')
    .on('check_metric')
    .columns(['dataset_id', 'key', 'version'])
    .execute();
}
