/**
 * Metrics of LoggedModels (MLflow 3): a run's metric logged with a `model_id` (and
 * optionally the dataset it was measured on) also belongs to that model; MLflow's client
 * reads them back on the model and searches models by those datasets.
 *
 * Why a table of its own and not columns on `metric`: `metric` is the hot append-only
 * log of every run and is read by step ranges; model metrics are few (an evaluation per
 * model and dataset) and are read by model or by dataset, so they get their own indexes
 * without widening every metric row.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, { serialPk }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('logged_model_metric')
    .addColumn('seq', serialPk.type, serialPk.build)
    .addColumn('model_id', 'text', (c) =>
      c.notNull().references('logged_model.id').onDelete('cascade'),
    )
    .addColumn('run_id', 'text', (c) => c.notNull().references('run.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'double precision')
    .addColumn('is_nan', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('step', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('timestamp', 'bigint', (c) => c.notNull())
    .addColumn('dataset_name', 'text')
    .addColumn('dataset_digest', 'text')
    .execute();
  await db.schema
    .createIndex('logged_model_metric_model')
    .on('logged_model_metric')
    .column('model_id')
    .execute();
  await db.schema
    .createIndex('logged_model_metric_dataset')
    .on('logged_model_metric')
    .columns(['dataset_name', 'dataset_digest'])
    .execute();
}
