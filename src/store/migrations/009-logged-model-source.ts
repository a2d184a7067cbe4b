/**
 * A LoggedModel's `source_run_id` becomes a plain reference, as in MLflow: its client may
 * name a run this server does not hold (a run of another server, or of a deleted store),
 * and MLflow stores the id as given. 004 declared it a foreign key to run.id; this drops it.
 *
 * PostgreSQL drops the constraint. SQLite cannot drop a constraint, and with foreign keys
 * on (they cannot be switched off inside the migration's transaction) renaming or dropping
 * `logged_model` would rewrite or cascade into the tables that reference it. So SQLite
 * rebuilds the family: new copies of `logged_model` and of every table that references it
 * (tags, params, run links), filled from the old ones; the old children are dropped first,
 * then the old parent (nothing references it by then, so nothing cascades); renaming the
 * new parent into place rewrites its children's references to the final name.
 */
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

/** The tables that reference logged_model (004, 006), with the columns to copy. */
const CHILDREN = {
  logged_model_tag: 'model_id, key, value',
  logged_model_param: 'model_id, key, value',
  run_model_link: 'run_id, model_id, direction, step, created_at',
} as const;
type Child = keyof typeof CHILDREN;

export async function up(db: Kysely<unknown>, context: MigrationContext): Promise<void> {
  if (context.dialect === 'postgres') {
    await sql`alter table logged_model drop constraint if exists logged_model_source_run_id_fkey`.execute(
      db,
    );
    return;
  }
  const parent = 'logged_model_009';
  await db.schema
    .createTable(parent)
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('experiment_id', 'text', (c) =>
      c.notNull().references('experiment.id').onDelete('cascade'),
    )
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('model_type', 'text')
    .addColumn('source_run_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_message', 'text')
    .addColumn('artifact_uri', 'text', (c) => c.notNull())
    .addColumn('creator_id', 'text')
    .addColumn('lifecycle_stage', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await copy(
    db,
    'logged_model',
    parent,
    'id, experiment_id, name, model_type, source_run_id, status, status_message, artifact_uri, creator_id, lifecycle_stage, created_at, updated_at',
  );
  for (const child of Object.keys(CHILDREN) as Child[]) {
    await childTable(db.schema.createTable(`${child}_009`), child, parent).execute();
    await copy(db, child, `${child}_009`, CHILDREN[child]);
  }
  for (const child of Object.keys(CHILDREN) as Child[]) await db.schema.dropTable(child).execute();
  // Its indexes go with it; they are created again on the new table below.
  await db.schema.dropTable('logged_model').execute();
  await sql`alter table ${sql.table(parent)} rename to logged_model`.execute(db);
  for (const child of Object.keys(CHILDREN) as Child[])
    await sql`alter table ${sql.table(`${child}_009`)} rename to ${sql.table(child)}`.execute(db);
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
}

/** `insert into to (columns) select columns from from`. */
async function copy(db: Kysely<unknown>, from: string, to: string, columns: string) {
  await sql`insert into ${sql.table(to)} (${sql.raw(columns)}) select ${sql.raw(columns)} from ${sql.table(from)}`.execute(
    db,
  );
}

/** A child table's definition as 004 and 006 made it, referencing `parent`. */
function childTable(
  builder: CreateTableBuilder<string, never>,
  child: Child,
  parent: string,
): CreateTableBuilder<string, never> {
  if (child === 'run_model_link')
    return builder
      .addColumn('run_id', 'text', (c) => c.notNull().references('run.id').onDelete('cascade'))
      .addColumn('model_id', 'text', (c) =>
        c.notNull().references(`${parent}.id`).onDelete('cascade'),
      )
      .addColumn('direction', 'text', (c) => c.notNull())
      .addColumn('step', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('run_model_link_pk', ['run_id', 'model_id', 'direction']);
  return builder
    .addColumn('model_id', 'text', (c) =>
      c.notNull().references(`${parent}.id`).onDelete('cascade'),
    )
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint(`${child}_pk`, ['model_id', 'key']);
}
