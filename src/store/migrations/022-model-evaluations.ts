/**
 * Evaluation gates (issue 6): what a model version scored, and who moved a protected alias.
 * - `model_evaluation`: one row per `mobius models evaluate` of a candidate version: the
 *   dataset version and label it was judged on, the champion it was compared with, the
 *   verdict (pass | fail), and the full result (metrics, slices, gaps, champion metrics,
 *   policy, reasons) as JSON. Indexed by version and time: the gate reads the newest one.
 * - `model_alias_event`: every move of a protected alias (production, champion, …): the
 *   version it came from, whether the gate passed or was forced, by whom, when and why.
 *   Both follow the version (cascade on rename and delete), like tags and aliases do.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('model_evaluation')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('dataset', 'text', (c) => c.notNull())
    .addColumn('dataset_version', 'integer', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('task', 'text', (c) => c.notNull())
    .addColumn('against', 'text')
    .addColumn('champion_version', 'integer')
    .addColumn('verdict', 'text', (c) => c.notNull())
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addForeignKeyConstraint(
      'model_evaluation_version_fk',
      ['name', 'version'],
      'model_version',
      ['name', 'version'],
      (fk) => fk.onDelete('cascade').onUpdate('cascade'),
    )
    .execute();
  await db.schema
    .createIndex('model_evaluation_by_version')
    .on('model_evaluation')
    .columns(['name', 'version', 'created_at'])
    .execute();

  await db.schema
    .createTable('model_alias_event')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('alias', 'text', (c) => c.notNull())
    .addColumn('previous_version', 'integer')
    .addColumn('gate', 'text', (c) => c.notNull())
    .addColumn('evaluation_id', 'text')
    .addColumn('reason', 'text')
    .addColumn('user_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addForeignKeyConstraint(
      'model_alias_event_version_fk',
      ['name', 'version'],
      'model_version',
      ['name', 'version'],
      (fk) => fk.onDelete('cascade').onUpdate('cascade'),
    )
    .execute();
  await db.schema
    .createIndex('model_alias_event_by_version')
    .on('model_alias_event')
    .columns(['name', 'version', 'created_at'])
    .execute();
}
