/**
 * Metric points packed into segments (issue 3's history and ingest targets): a run's
 * points of one metric are stored a batch at a time in `metric_segment.points` (format in
 * ../metric-points.ts) instead of a row per point. Small appends (MLflow's one-point
 * log_metric) are merged into the series' last segment up to SEGMENT_POINTS, so a series
 * of N points is about N / 1,000 rows however it was logged. The `metric` table's rows
 * are moved over in the order they were logged, and the table is dropped.
 */
import { sql, type Kysely } from 'kysely';
import { segmentRow, SEGMENT_POINTS } from '../metric-points.js';
import type { MigrationContext } from './migration.js';

/** Rows of the old table read per query while moving them. */
const PAGE = 50_000;

interface OldPoint {
  seq: number;
  run_id: string;
  key: string;
  value: number | null;
  is_nan: number;
  step: number;
  timestamp: number;
}

type Point = { step: number; timestamp: number; value: number };

export async function up(
  db: Kysely<unknown>,
  { dialect, serialPk }: MigrationContext,
): Promise<void> {
  await db.schema
    .createTable('metric_segment')
    .addColumn('seq', serialPk.type, serialPk.build)
    .addColumn('run_id', 'text', (c) => c.notNull().references('run.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addColumn('min_step', 'bigint', (c) => c.notNull())
    .addColumn('max_step', 'bigint', (c) => c.notNull())
    .addColumn('min_value', 'double precision')
    .addColumn('max_value', 'double precision')
    .addColumn('points', dialect === 'sqlite' ? 'blob' : 'bytea', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('metric_segment_series')
    .on('metric_segment')
    .columns(['run_id', 'key', 'seq'])
    .execute();

  // Move the points, page by page in the order they were logged; each series is written
  // in full segments as it fills and its remainder at the end.
  const pending = new Map<string, { runId: string; key: string; points: Point[] }>();
  const write = async (runId: string, key: string, points: Point[]): Promise<void> => {
    await db
      .insertInto('metric_segment' as never)
      .values(segmentRow(runId, key, points.length, (i) => points[i]!))
      .execute();
  };
  let after = -1;
  for (;;) {
    const { rows } = await sql<OldPoint>`
      select seq, run_id, key, value, is_nan, step, timestamp from metric
      where seq > ${after} order by seq limit ${PAGE}
    `.execute(db);
    if (rows.length === 0) break;
    for (const r of rows) {
      const id = JSON.stringify([r.run_id, r.key]);
      let series = pending.get(id);
      if (series === undefined)
        pending.set(id, (series = { runId: r.run_id, key: r.key, points: [] }));
      series.points.push({
        step: Number(r.step),
        timestamp: Number(r.timestamp),
        value: r.is_nan === 1 || r.value === null ? NaN : Number(r.value),
      });
      if (series.points.length === SEGMENT_POINTS) {
        await write(series.runId, series.key, series.points);
        series.points = [];
      }
    }
    after = Number(rows[rows.length - 1]!.seq);
  }
  for (const series of pending.values())
    if (series.points.length > 0) await write(series.runId, series.key, series.points);

  await db.schema.dropTable('metric').execute();
}
