/**
 * Pipelines (issue 5), second slice:
 * - who runs a step: `host` and `owner_pid` (the Mobius process scheduling it) on
 *   `pipeline_run` and `step_run`, and `pid` (the command's process group leader; its
 *   pgid is the same number) on `step_run`. On start, Mobius marks RUNNING rows whose
 *   owner on this host is dead as failed, and kills their recorded process groups.
 * - `step_run.datasets`: JSON of the dataset versions a step read and registered, with
 *   their row counts (rows in and out), and `step_run.warnings`: JSON list of warnings
 *   (a quality gate's `warn` expectations).
 * - `pipeline_run.resumed_from`: the run `--resume` reused succeeded steps from.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.alterTable('pipeline_run').addColumn('host', 'text').execute();
  await db.schema.alterTable('pipeline_run').addColumn('owner_pid', 'integer').execute();
  await db.schema.alterTable('pipeline_run').addColumn('resumed_from', 'text').execute();
  await db.schema.alterTable('step_run').addColumn('host', 'text').execute();
  await db.schema.alterTable('step_run').addColumn('owner_pid', 'integer').execute();
  await db.schema.alterTable('step_run').addColumn('pid', 'integer').execute();
  await db.schema.alterTable('step_run').addColumn('datasets', 'text').execute();
  await db.schema.alterTable('step_run').addColumn('warnings', 'text').execute();
  // The reaper's question: "which rows are still RUNNING?" — a small set, found by index.
  await db.schema.createIndex('step_run_by_status').on('step_run').column('status').execute();
  await db.schema
    .createIndex('pipeline_run_by_status')
    .on('pipeline_run')
    .column('status')
    .execute();
}
