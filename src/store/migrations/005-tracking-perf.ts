/**
 * Tracking read paths (issue 3): the metric history index also orders by timestamp, so
 * MLflow's history order (step, timestamp, then insertion) comes straight off the index
 * instead of a sort of every point. It replaces the (run_id, key, step) index rather than
 * joining it, so ingest still maintains one index on the metric table.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, { dialect }: MigrationContext): Promise<void> {
  await db.schema.dropIndex('metric_run_key_step').execute();
  // On SQLite `seq` is the rowid, which every index entry already ends with; PostgreSQL
  // needs it named to break ties between points logged at the same step and timestamp.
  await db.schema
    .createIndex('metric_history')
    .on('metric')
    .columns(
      dialect === 'sqlite'
        ? ['run_id', 'key', 'step', 'timestamp']
        : ['run_id', 'key', 'step', 'timestamp', 'seq'],
    )
    .execute();
}
