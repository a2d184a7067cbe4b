/**
 * Deleting a deployment (issue 6): `mobius deployments rm` marks the row deleted instead of
 * removing it. Its `deployment_event` history (which cascades on a real delete) and its
 * prediction log stay — feedback can still arrive for predictions it made, and lineage
 * from a prediction still reaches the deployment's history. A server following the table
 * sees the revision move and stops serving the name; deploying the name again reuses the
 * row, so its revisions and history continue.
 *   - `deployment.deleted_at`: when it was deleted, null while it exists.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.alterTable('deployment').addColumn('deleted_at', 'bigint').execute();
}
