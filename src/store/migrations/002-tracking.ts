/**
 * Tracking (issue 3): experiment tags, the latest value of every metric per run (what
 * MLflow's runs/get and search read, kept current on write instead of scanned), run
 * deletion time, and the indexes search filters use.
 */
import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('experiment_tag')
    .addColumn('experiment_id', 'text', (c) =>
      c.notNull().references('experiment.id').onDelete('cascade'),
    )
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('experiment_tag_pk', ['experiment_id', 'key'])
    .execute();

  // MLflow's "latest" metric: highest step, then newest timestamp, then largest value.
  await db.schema
    .createTable('latest_metric')
    .addColumn('run_id', 'text', (c) => c.notNull().references('run.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'double precision')
    .addColumn('is_nan', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('step', 'bigint', (c) => c.notNull())
    .addColumn('timestamp', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('latest_metric_pk', ['run_id', 'key'])
    .execute();

  await db.schema.alterTable('run').addColumn('deleted_time', 'bigint').execute();

  // Search filters are "runs having key K with a value compared to V".
  await db.schema
    .createIndex('latest_metric_key_value')
    .on('latest_metric')
    .columns(['key', 'value'])
    .execute();
  await db.schema.createIndex('param_key_value').on('param').columns(['key', 'value']).execute();
  await db.schema.createIndex('tag_key_value').on('tag').columns(['key', 'value']).execute();

  // MLflow clients log to experiment "0" when none is set; like MLflow, it always exists.
  await sql`insert into experiment (id, name, artifact_location, lifecycle_stage, created_at, updated_at)
            values ('0', 'Default', 'mlflow-artifacts:/0', 'active', 0, 0)`.execute(db);
}
