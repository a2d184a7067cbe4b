/** The first cut of the spine (ARCHITECTURE §4): tracking, data versions, lineage, audit, tokens. */
import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, { serialPk }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('experiment')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('artifact_location', 'text')
    .addColumn('lifecycle_stage', 'text', (c) =>
      c
        .notNull()
        .defaultTo('active')
        .check(sql`lifecycle_stage in ('active', 'deleted')`),
    )
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('run')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('experiment_id', 'text', (c) =>
      c.notNull().references('experiment.id').onDelete('cascade'),
    )
    .addColumn('name', 'text')
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED')`),
    )
    .addColumn('lifecycle_stage', 'text', (c) =>
      c
        .notNull()
        .defaultTo('active')
        .check(sql`lifecycle_stage in ('active', 'deleted')`),
    )
    .addColumn('user_id', 'text')
    .addColumn('start_time', 'bigint', (c) => c.notNull())
    .addColumn('end_time', 'bigint')
    .addColumn('artifact_uri', 'text')
    .addColumn('parent_run_id', 'text', (c) => c.references('run.id').onDelete('set null'))
    .execute();
  await db.schema
    .createIndex('run_experiment_start')
    .on('run')
    .columns(['experiment_id', 'start_time'])
    .execute();

  for (const table of ['param', 'tag'] as const) {
    await db.schema
      .createTable(table)
      .addColumn('run_id', 'text', (c) => c.notNull().references('run.id').onDelete('cascade'))
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint(`${table}_pk`, ['run_id', 'key'])
      .execute();
  }

  await db.schema
    .createTable('metric')
    .addColumn('seq', serialPk.type, serialPk.build)
    .addColumn('run_id', 'text', (c) => c.notNull().references('run.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'double precision')
    .addColumn('is_nan', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('step', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('timestamp', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('metric_run_key_step')
    .on('metric')
    .columns(['run_id', 'key', 'step'])
    .execute();

  await db.schema
    .createTable('artifact')
    // The path below the artifact root ("<experiment>/<run>/artifacts/model/MLmodel"), as
    // MLflow's artifact proxy addresses files; run_id links run artifacts to their run.
    .addColumn('path', 'text', (c) => c.primaryKey())
    .addColumn('run_id', 'text', (c) => c.references('run.id').onDelete('cascade'))
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('media_type', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('artifact_run').on('artifact').column('run_id').execute();
  // Blob garbage collection asks "is this sha256 still referenced?".
  await db.schema.createIndex('artifact_sha256').on('artifact').column('sha256').execute();

  await db.schema
    .createTable('dataset')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('dataset_version')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('dataset_id', 'text', (c) =>
      c.notNull().references('dataset.id').onDelete('cascade'),
    )
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('content_hash', 'text', (c) => c.notNull())
    .addColumn('manifest', 'text', (c) => c.notNull())
    .addColumn('schema', 'text', (c) => c.notNull())
    .addColumn('row_count', 'bigint', (c) => c.notNull())
    .addColumn('profile', 'text')
    .addColumn('source_uri', 'text')
    .addColumn('run_id', 'text', (c) => c.references('run.id').onDelete('set null'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('dataset_version_number', ['dataset_id', 'version'])
    .execute();
  await db.schema
    .createIndex('dataset_version_hash')
    .on('dataset_version')
    .columns(['dataset_id', 'content_hash'])
    .execute();

  await db.schema
    .createTable('edge')
    .addColumn('seq', serialPk.type, serialPk.build)
    .addColumn('from_kind', 'text', (c) => c.notNull())
    .addColumn('from_id', 'text', (c) => c.notNull())
    .addColumn('to_kind', 'text', (c) => c.notNull())
    .addColumn('to_id', 'text', (c) => c.notNull())
    .addColumn('relation', 'text', (c) =>
      c
        .notNull()
        .check(sql`relation in ('consumed', 'produced', 'derived', 'deployed', 'predicted')`),
    )
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('edge_unique', ['from_kind', 'from_id', 'to_kind', 'to_id', 'relation'])
    .execute();
  // Lineage walks go both ways: "what did X produce" and "what produced X".
  await db.schema.createIndex('edge_to').on('edge').columns(['to_kind', 'to_id']).execute();

  await db.schema
    .createTable('audit')
    .addColumn('seq', serialPk.type, serialPk.build)
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('object_kind', 'text', (c) => c.notNull())
    .addColumn('object_id', 'text')
    .addColumn('details', 'text')
    .execute();

  await db.schema
    .createTable('token')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('hash', 'text', (c) => c.notNull().unique())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('admin', 'editor', 'viewer')`))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute();
}
