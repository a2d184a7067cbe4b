/**
 * The model registry (MLflow's model_registry.proto): registered models, their numbered
 * versions, tags on both, and aliases naming a version.
 *
 * Children reference their parent with ON UPDATE CASCADE, so renaming a model is one
 * UPDATE of `registered_model.name` that carries its tags, versions, version tags and
 * aliases along (both SQLite, with foreign_keys on, and PostgreSQL follow the chain).
 * Deleting a model or a version removes what hangs off it the same way.
 */
import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('registered_model')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('description', 'text')
    // The highest version number ever handed out. Versions are numbered by incrementing
    // this in the creating transaction (a row lock on PostgreSQL, the write lock on
    // SQLite), so concurrent creates get distinct numbers, and a deleted version's
    // number is never reused — as in MLflow.
    .addColumn('last_version', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('registered_model_tag')
    .addColumn('name', 'text', (c) =>
      c.notNull().references('registered_model.name').onDelete('cascade').onUpdate('cascade'),
    )
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('registered_model_tag_pk', ['name', 'key'])
    .execute();

  await db.schema
    .createTable('model_version')
    .addColumn('name', 'text', (c) =>
      c.notNull().references('registered_model.name').onDelete('cascade').onUpdate('cascade'),
    )
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('READY'))
    .addColumn('status_message', 'text')
    .addColumn('description', 'text')
    .addColumn('current_stage', 'text', (c) =>
      c
        .notNull()
        .defaultTo('None')
        .check(sql`current_stage in ('None', 'Staging', 'Production', 'Archived')`),
    )
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('run_link', 'text')
    .addPrimaryKeyConstraint('model_version_pk', ['name', 'version'])
    .execute();
  // search_model_versions("run_id = '…'"): which versions a run produced.
  await db.schema.createIndex('model_version_run').on('model_version').column('run_id').execute();

  await db.schema
    .createTable('model_version_tag')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('model_version_tag_pk', ['name', 'version', 'key'])
    .addForeignKeyConstraint(
      'model_version_tag_version_fk',
      ['name', 'version'],
      'model_version',
      ['name', 'version'],
      (fk) => fk.onDelete('cascade').onUpdate('cascade'),
    )
    .execute();

  // An alias points at one version; deleting the version deletes its aliases (MLflow).
  await db.schema
    .createTable('registered_model_alias')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('alias', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('registered_model_alias_pk', ['name', 'alias'])
    .addForeignKeyConstraint(
      'registered_model_alias_version_fk',
      ['name', 'version'],
      'model_version',
      ['name', 'version'],
      (fk) => fk.onDelete('cascade').onUpdate('cascade'),
    )
    .execute();
}
