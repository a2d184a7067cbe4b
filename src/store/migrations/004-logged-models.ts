/**
 * MLflow 3 LoggedModels: a model as a first-class object of an experiment (its own
 * artifact directory, params, tags, status), optionally produced by a run. MLflow 3's
 * `log_model` creates one before uploading anything, so its client needs these.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('logged_model')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('experiment_id', 'text', (c) =>
      c.notNull().references('experiment.id').onDelete('cascade'),
    )
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('model_type', 'text')
    .addColumn('source_run_id', 'text', (c) => c.references('run.id').onDelete('set null'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_message', 'text')
    .addColumn('artifact_uri', 'text', (c) => c.notNull())
    .addColumn('creator_id', 'text')
    .addColumn('lifecycle_stage', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('logged_model_experiment')
    .on('logged_model')
    .columns(['experiment_id', 'created_at'])
    .execute();
  await db.schema
    .createIndex('logged_model_source_run')
    .on('logged_model')
    .column('source_run_id')
    .execute();

  for (const table of ['logged_model_tag', 'logged_model_param'] as const) {
    await db.schema
      .createTable(table)
      .addColumn('model_id', 'text', (c) =>
        c.notNull().references('logged_model.id').onDelete('cascade'),
      )
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint(`${table}_pk`, ['model_id', 'key'])
      .execute();
  }
}
