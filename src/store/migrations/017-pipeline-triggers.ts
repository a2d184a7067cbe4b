/**
 * Schedules and dataset triggers (issue 5). All of it is state, not events in memory, so
 * nothing is lost while the scheduler is down or a pipeline is paused:
 *   - `scheduled_pipeline`: each pipeline the scheduler knows, and whether it is paused;
 *   - `pipeline_schedule`: each cron of a pipeline and the next boundary it fires at;
 *   - `pipeline_trigger_state`: for each dataset a trigger waits on, the newest version
 *     the pipeline's last triggered run consumed (new versions are those above it);
 *   - `pipeline_fire`: every decision to start a run, unique per (pipeline, fire_key), and
 *     written in the same transaction that advances `next_fire_at` or the consumed
 *     versions, so a restart neither fires a boundary twice nor skips one.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('scheduled_pipeline')
    .addColumn('pipeline', 'text', (c) => c.primaryKey())
    // 0 or 1: an integer reads the same on both backends.
    .addColumn('paused', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('paused_at', 'bigint')
    // JSON: the dataset trigger as registered, or null.
    .addColumn('trigger', 'text')
    .addColumn('registered_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('pipeline_schedule')
    .addColumn('pipeline', 'text', (c) =>
      c.notNull().references('scheduled_pipeline.pipeline').onDelete('cascade'),
    )
    .addColumn('cron', 'text', (c) => c.notNull())
    .addColumn('catchup', 'text', (c) => c.notNull())
    .addColumn('next_fire_at', 'bigint', (c) => c.notNull())
    .addColumn('last_fired_at', 'bigint')
    .addPrimaryKeyConstraint('pipeline_schedule_pk', ['pipeline', 'cron'])
    .execute();

  await db.schema
    .createTable('pipeline_trigger_state')
    .addColumn('pipeline', 'text', (c) =>
      c.notNull().references('scheduled_pipeline.pipeline').onDelete('cascade'),
    )
    .addColumn('dataset', 'text', (c) => c.notNull())
    .addColumn('consumed_version', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('pipeline_trigger_state_pk', ['pipeline', 'dataset'])
    .execute();

  await db.schema
    .createTable('pipeline_fire')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('pipeline', 'text', (c) => c.notNull())
    // `schedule:<cron>@<ms>`, `dataset:<name>@<version>,…` or `manual:<id>`: one fire per key.
    .addColumn('fire_key', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('scheduled_for', 'bigint', (c) => c.notNull())
    // JSON: { cron } or { datasets: { name: version } }.
    .addColumn('detail', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    // pending → launching (claimed) → launched | failed.
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('claimed_at', 'bigint')
    .addColumn('pipeline_run_id', 'text')
    .addColumn('error', 'text')
    .addUniqueConstraint('pipeline_fire_once', ['pipeline', 'fire_key'])
    .execute();
  await db.schema
    .createIndex('pipeline_fire_by_status')
    .on('pipeline_fire')
    .columns(['status', 'created_at'])
    .execute();
  await db.schema
    .createIndex('pipeline_fire_history')
    .on('pipeline_fire')
    .columns(['pipeline', 'created_at'])
    .execute();
}
