/**
 * Dataset versions on DuckDB (issue 4): what the spine's first-cut `dataset` and
 * `dataset_version` tables lacked.
 * - `dataset.last_version`: the counter new version numbers come from, incremented in the
 *   version's own transaction (as registered_model.last_version does), so concurrent adds
 *   get 1, 2, 3… without gaps or duplicates on both backends.
 * - `dataset_version`: the input format, file count and bytes, the canonical Parquet copy
 *   (blob sha256 and size) that checks and diffs read, and the engine that profiled it.
 * - `dataset_tag`: movable names for versions (`latest`, user tags), one row per tag.
 * - `dataset_file`: the manifest's files as rows, so blob garbage collection can ask "is
 *   this sha256 still referenced?" through an index, as it does of `artifact`.
 * Versions already in the table keep their numbers: the counter starts after them and
 * `latest` points at the newest.
 */
import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .alterTable('dataset')
    .addColumn('last_version', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('dataset').addColumn('updated_at', 'bigint').execute();

  for (const [column, type] of [
    ['format', 'text'],
    ['file_count', 'integer'],
    ['total_bytes', 'bigint'],
    ['parquet_sha256', 'text'],
    ['parquet_size', 'bigint'],
    ['engine', 'text'],
  ] as const) {
    await db.schema.alterTable('dataset_version').addColumn(column, type).execute();
  }
  await db.schema
    .createIndex('dataset_version_parquet')
    .on('dataset_version')
    .column('parquet_sha256')
    .execute();

  await db.schema
    .createTable('dataset_tag')
    .addColumn('dataset_id', 'text', (c) =>
      c.notNull().references('dataset.id').onDelete('cascade'),
    )
    .addColumn('tag', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('dataset_tag_pk', ['dataset_id', 'tag'])
    .addForeignKeyConstraint(
      'dataset_tag_version',
      ['dataset_id', 'version'],
      'dataset_version',
      ['dataset_id', 'version'],
      (fk) => fk.onDelete('cascade'),
    )
    .execute();

  await db.schema
    .createTable('dataset_file')
    .addColumn('version_id', 'text', (c) =>
      c.notNull().references('dataset_version.id').onDelete('cascade'),
    )
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('dataset_file_pk', ['version_id', 'path'])
    .execute();
  await db.schema.createIndex('dataset_file_sha256').on('dataset_file').column('sha256').execute();

  // Versions written before this migration: the counter continues after them, and
  // `latest` names the newest, as if they had been added by `data add`.
  await sql`
    update dataset set last_version = coalesce(
      (select max(v.version) from dataset_version v where v.dataset_id = dataset.id), 0)
  `.execute(db);
  await sql`
    insert into dataset_tag (dataset_id, tag, version, updated_at)
    select dataset_id, 'latest', max(version), max(created_at) from dataset_version
    group by dataset_id
  `.execute(db);
}
