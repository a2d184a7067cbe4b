/**
 * MLflow 3's evaluation datasets: named sets of records (inputs, expectations, outputs)
 * for GenAI evaluation, tagged, shared by any number of experiments.
 *
 * Records are deduplicated by their inputs: `input_hash` (sha256 of the inputs as
 * canonical JSON) is unique per dataset, so an upsert finds the record it updates by
 * index. Record fields are JSON kept as text, as every JSON column of the spine is: the
 * text comes back byte for byte on both backends (PostgreSQL's jsonb would reorder keys
 * and drop duplicates, SQLite has no JSON type).
 *
 * Datasets belong to experiments through a link table with foreign keys on both sides,
 * where MLflow keeps an untyped entity_associations row: a dataset cannot name an
 * experiment that does not exist, and deleting either side removes the link.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('evaluation_dataset')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    // sha256(name:updated_at)[:8], as MLflow computes it; changes when records do.
    .addColumn('digest', 'text', (c) => c.notNull())
    // JSON: the field types seen in records' inputs/outputs/expectations, and the count.
    .addColumn('schema', 'text')
    .addColumn('profile', 'text')
    .addColumn('created_by', 'text')
    .addColumn('last_updated_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  // The default search order is newest first.
  await db.schema
    .createIndex('evaluation_dataset_created')
    .on('evaluation_dataset')
    .columns(['created_at', 'id'])
    .execute();
  await db.schema
    .createIndex('evaluation_dataset_name')
    .on('evaluation_dataset')
    .column('name')
    .execute();

  await db.schema
    .createTable('evaluation_dataset_tag')
    .addColumn('dataset_id', 'text', (c) =>
      c.notNull().references('evaluation_dataset.id').onDelete('cascade'),
    )
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('evaluation_dataset_tag_pk', ['dataset_id', 'key'])
    .execute();

  await db.schema
    .createTable('evaluation_dataset_experiment')
    .addColumn('dataset_id', 'text', (c) =>
      c.notNull().references('evaluation_dataset.id').onDelete('cascade'),
    )
    .addColumn('experiment_id', 'text', (c) =>
      c.notNull().references('experiment.id').onDelete('cascade'),
    )
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('evaluation_dataset_experiment_pk', ['dataset_id', 'experiment_id'])
    .execute();
  // Search by experiment reads the link from the experiment's side.
  await db.schema
    .createIndex('evaluation_dataset_experiment_by_experiment')
    .on('evaluation_dataset_experiment')
    .columns(['experiment_id', 'dataset_id'])
    .execute();

  await db.schema
    .createTable('evaluation_dataset_record')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('dataset_id', 'text', (c) =>
      c.notNull().references('evaluation_dataset.id').onDelete('cascade'),
    )
    .addColumn('input_hash', 'text', (c) => c.notNull())
    .addColumn('inputs', 'text', (c) => c.notNull())
    .addColumn('outputs', 'text')
    .addColumn('expectations', 'text')
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('source', 'text')
    .addColumn('source_id', 'text')
    .addColumn('source_type', 'text')
    .addColumn('created_by', 'text')
    .addColumn('last_updated_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('evaluation_dataset_record_inputs', ['dataset_id', 'input_hash'])
    .execute();
  // Records are read in (created_at, id) order, a page after a cursor.
  await db.schema
    .createIndex('evaluation_dataset_record_page')
    .on('evaluation_dataset_record')
    .columns(['dataset_id', 'created_at', 'id'])
    .execute();
}
