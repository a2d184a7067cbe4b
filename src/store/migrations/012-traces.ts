/**
 * Traces (MLflow 3's GenAI tracing): one row per trace, its tags and metadata, and its
 * spans.
 *
 * Why spans are rows with a JSON `content` column and not blobs: a trace is read whole
 * (get-trace, the UI's trace view) or filtered by a few span fields (name, type, status),
 * and spans arrive one at a time over OTLP while the trace runs. Rows let each span be
 * upserted on its own, let search filter on the indexed columns without opening any
 * payload, and behave the same on SQLite and PostgreSQL; the payload (MLflow's span
 * dict) stays opaque text, so its schema can grow without migrations.
 *
 * Span times are kept as milliseconds in the columns (a JavaScript number holds them
 * exactly; nanoseconds since 1970 do not) and exactly, as decimal strings, in `content`.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration.js';

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('trace_info')
    .addColumn('trace_id', 'text', (c) => c.primaryKey())
    .addColumn('experiment_id', 'text', (c) =>
      c.notNull().references('experiment.id').onDelete('cascade'),
    )
    .addColumn('client_request_id', 'text')
    // Milliseconds since the epoch when the trace started, and how long it ran (null
    // while unknown: a trace whose root span has not ended).
    .addColumn('request_time', 'bigint', (c) => c.notNull())
    .addColumn('execution_duration', 'bigint')
    // OK | ERROR | IN_PROGRESS | STATE_UNSPECIFIED (MLflow's TraceInfoV3.State).
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('request_preview', 'text')
    .addColumn('response_preview', 'text')
    .execute();
  // Search lists an experiment's traces newest first.
  await db.schema
    .createIndex('trace_info_experiment_time')
    .on('trace_info')
    .columns(['experiment_id', 'request_time'])
    .execute();

  for (const table of ['trace_tag', 'trace_metadata']) {
    await db.schema
      .createTable(table)
      .addColumn('trace_id', 'text', (c) =>
        c.notNull().references('trace_info.trace_id').onDelete('cascade'),
      )
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint(`${table}_pk`, ['trace_id', 'key'])
      .execute();
  }

  await db.schema
    .createTable('trace_span')
    .addColumn('trace_id', 'text', (c) =>
      c.notNull().references('trace_info.trace_id').onDelete('cascade'),
    )
    // 16 lowercase hex characters (OpenTelemetry's 8-byte span id).
    .addColumn('span_id', 'text', (c) => c.notNull())
    .addColumn('parent_span_id', 'text')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('span_type', 'text')
    // OK | ERROR | UNSET
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('start_time_ms', 'bigint', (c) => c.notNull())
    .addColumn('end_time_ms', 'bigint')
    .addColumn('content', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('trace_span_pk', ['trace_id', 'span_id'])
    .execute();

  // MLflow's link-traces-to-run: a trace recorded while (or for) a run. A reference to
  // the run, as registry run ids are, so a run from another server is no error.
  await db.schema
    .createTable('trace_run_link')
    .addColumn('trace_id', 'text', (c) =>
      c.notNull().references('trace_info.trace_id').onDelete('cascade'),
    )
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('trace_run_link_pk', ['trace_id', 'run_id'])
    .execute();
  await db.schema.createIndex('trace_run_link_run').on('trace_run_link').column('run_id').execute();
}
