/**
 * What a run consumed and produced, as MLflow records it: dataset inputs (log_inputs,
 * with their `mlflow.data.context` tag — what `datasets.` search filters read) and model
 * inputs/outputs (MLflow 3's LoggedModels, with the step an output was logged at).
 * Each link is also a lineage edge; these tables keep what the edge has no room for.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  // One row per (experiment, name, digest): logging the same dataset twice reuses it.
  await db.schema
    .createTable('run_dataset')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('experiment_id', 'text', (c) =>
      c.notNull().references('experiment.id').onDelete('cascade'),
    )
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('source_type', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('schema', 'text')
    .addColumn('profile', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('run_dataset_identity', ['experiment_id', 'name', 'digest'])
    .execute();

  await db.schema
    .createTable('run_dataset_input')
    .addColumn('run_id', 'text', (c) => c.notNull().references('run.id').onDelete('cascade'))
    .addColumn('dataset_id', 'text', (c) =>
      c.notNull().references('run_dataset.id').onDelete('cascade'),
    )
    // The input's `mlflow.data.context` tag ("training", "eval"…), a column for search.
    .addColumn('context', 'text')
    // Every input tag as a JSON array of {key, value}, in the order logged.
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('run_dataset_input_pk', ['run_id', 'dataset_id'])
    .execute();
  await db.schema
    .createIndex('run_dataset_input_dataset')
    .on('run_dataset_input')
    .column('dataset_id')
    .execute();

  await db.schema
    .createTable('run_model_link')
    .addColumn('run_id', 'text', (c) => c.notNull().references('run.id').onDelete('cascade'))
    .addColumn('model_id', 'text', (c) =>
      c.notNull().references('logged_model.id').onDelete('cascade'),
    )
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('step', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('run_model_link_pk', ['run_id', 'model_id', 'direction'])
    .execute();
}
