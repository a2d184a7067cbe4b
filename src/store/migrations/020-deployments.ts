/**
 * Registry-backed deployments (issue 6). A deployment is state, not a process: the rows
 * say which model versions take what share of the traffic, so `mobius server` serves the
 * same thing after a restart and a CLI writing to the store is picked up by the server.
 *   - `deployment`: one row per name — weighted routes to model versions (JSON), an
 *     optional mirror (shadow) with its percent, the sticky key, and the last-good version
 *     (the last one fully rolled out, where `rollback` goes). `revision` increments on
 *     every change: servers reload a deployment whose revision moved, and a change is
 *     written only over the revision it was computed from (no lost updates).
 *   - `deployment_event`: every change with who and why, and the routes it set.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, { serialPk }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('deployment')
    .addColumn('name', 'text', (c) => c.primaryKey())
    // JSON: [{model, version, ref, weight, role}], weights summing to 100.
    .addColumn('routes', 'text', (c) => c.notNull())
    // JSON: {model, version, ref, percent} or null.
    .addColumn('mirror', 'text')
    .addColumn('sticky', 'text')
    .addColumn('last_good_model', 'text')
    .addColumn('last_good_version', 'integer')
    // JSON: automatic canary analysis settings ({minRequests, windowMs, …}) or null.
    .addColumn('analysis', 'text')
    // When the current candidate (canary or A/B arm) started taking traffic.
    .addColumn('candidate_since', 'bigint')
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('deployment_event')
    .addColumn('seq', serialPk.type, serialPk.build)
    .addColumn('deployment', 'text', (c) =>
      c.notNull().references('deployment.name').onDelete('cascade'),
    )
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    // deploy | canary | shadow | ab | promote | rollback | auto-promote | auto-rollback
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    // JSON: the routes, mirror and last-good the change set.
    .addColumn('detail', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('deployment_event_history')
    .on('deployment_event')
    .columns(['deployment', 'seq'])
    .execute();
}
