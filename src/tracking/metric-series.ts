/**
 * A run's metric series, stored as packed segments (`metric_segment`, format in
 * core/metric-points.ts): appending a batch and reading a history back in MLflow's
 * order (step, then timestamp, then the order logged).
 */
import { unpackPoints, type PackedPoints } from '../core/index.js';
import {
  segmentRow,
  SEGMENT_POINTS,
  type Database,
  type Kysely,
  type SegmentRow,
  type Store,
} from '../store/index.js';
import type { MetricPoint } from './types.js';

/**
 * Appends of fewer points than this are merged into the series' last segment; larger ones
 * are a segment of their own. Merging keeps one-point appends (MLflow's log_metric) from
 * leaving a row per point, and rewriting the last segment for every larger batch too cost
 * ingest a third of its throughput (1,000-metric batches over 10 keys: ~150–300k vs
 * ~340–400k points/s). A history logged in batches of at least this many is at most
 * N / 64 rows.
 */
const MERGE_BELOW_POINTS = 64;

/**
 * Appends `metrics` (any mix of keys, in the order logged) to run `runId`'s series, inside
 * the caller's transaction. Per key, a small append joins the series' last segment when
 * both fit in SEGMENT_POINTS (the last segment is replaced by the merged one, locked first
 * on PostgreSQL so a concurrent append waits, then starts a segment of its own); anything
 * else starts new segments. Three statements however many keys the batch holds.
 */
export async function appendMetrics(
  store: Store,
  trx: Kysely<Database>,
  runId: string,
  metrics: readonly MetricPoint[],
): Promise<void> {
  const byKey = new Map<string, MetricPoint[]>();
  for (const m of metrics) {
    const points = byKey.get(m.key);
    if (points === undefined) byKey.set(m.key, [m]);
    else points.push(m);
  }
  const keys = [...byKey.keys()];
  const small = keys.filter((k) => byKey.get(k)!.length < MERGE_BELOW_POINTS);
  let lasts: { seq: number; key: string; count: number; points: Buffer }[] = [];
  if (small.length > 0) {
    let query = trx
      .selectFrom('metric_segment as s')
      .select(['s.seq', 's.key', 's.count', 's.points'])
      .where('s.run_id', '=', runId)
      .where('s.key', 'in', small)
      .where('s.count', '<', SEGMENT_POINTS)
      .where((eb) =>
        eb(
          's.seq',
          '=',
          eb
            .selectFrom('metric_segment as t')
            .select((e) => e.fn.max('t.seq').as('seq'))
            .whereRef('t.run_id', '=', 's.run_id')
            .whereRef('t.key', '=', 's.key'),
        ),
      );
    if (store.dialect === 'postgres') query = query.forUpdate();
    lasts = await query.execute();
  }
  const lastOf = new Map(lasts.map((s) => [s.key, s]));
  const replaced: number[] = [];
  const rows: SegmentRow[] = [];
  for (const [key, points] of byKey) {
    const last = lastOf.get(key);
    if (
      last !== undefined &&
      points.length < MERGE_BELOW_POINTS &&
      last.count + points.length <= SEGMENT_POINTS
    ) {
      const old = unpackPoints(last.points);
      const n = last.count;
      replaced.push(last.seq);
      rows.push(
        segmentRow(runId, key, n + points.length, (i) =>
          i < n
            ? { step: old.steps[i]!, timestamp: old.timestamps[i]!, value: old.values[i]! }
            : points[i - n]!,
        ),
      );
      continue;
    }
    for (let from = 0; from < points.length; from += SEGMENT_POINTS) {
      const chunk = points.slice(from, from + SEGMENT_POINTS);
      rows.push(segmentRow(runId, key, chunk.length, (i) => chunk[i]!));
    }
  }
  if (replaced.length > 0)
    await trx.deleteFrom('metric_segment').where('seq', 'in', replaced).execute();
  await store.insertMany(trx, 'metric_segment', rows);
}

/** Steps to keep (inclusive); a read without one takes the whole series. */
export interface StepRange {
  start: number;
  end: number;
}

/**
 * The points of `key` in run `runId` in MLflow's history order: by step, then timestamp,
 * then the order they were logged. With `range`, only segments overlapping it are read and
 * only its points kept.
 */
export async function readSeries(
  db: Kysely<Database>,
  runId: string,
  key: string,
  range?: StepRange,
): Promise<PackedPoints> {
  let query = db
    .selectFrom('metric_segment')
    .select('points')
    .where('run_id', '=', runId)
    .where('key', '=', key);
  if (range !== undefined)
    query = query.where('max_step', '>=', range.start).where('min_step', '<=', range.end);
  const segments = (await query.orderBy('seq').execute()).map((s) => unpackPoints(s.points));
  const series = concat(segments, range);
  return inHistoryOrder(series);
}

function concat(segments: readonly PackedPoints[], range: StepRange | undefined): PackedPoints {
  let total = 0;
  for (const s of segments) total += s.steps.length;
  if (segments.length === 1 && range === undefined) return segments[0]!;
  const out = {
    steps: new Float64Array(total),
    timestamps: new Float64Array(total),
    values: new Float64Array(total),
  };
  let n = 0;
  for (const s of segments) {
    if (range === undefined) {
      out.steps.set(s.steps, n);
      out.timestamps.set(s.timestamps, n);
      out.values.set(s.values, n);
      n += s.steps.length;
      continue;
    }
    for (let i = 0; i < s.steps.length; i++) {
      const step = s.steps[i]!;
      if (step < range.start || step > range.end) continue;
      out.steps[n] = step;
      out.timestamps[n] = s.timestamps[i]!;
      out.values[n] = s.values[i]!;
      n++;
    }
  }
  return n === total
    ? out
    : {
        steps: out.steps.subarray(0, n),
        timestamps: out.timestamps.subarray(0, n),
        values: out.values.subarray(0, n),
      };
}

/** Sorted by (step, timestamp), ties kept in logged order; as given when already so. */
function inHistoryOrder(p: PackedPoints): PackedPoints {
  const { steps, timestamps, values } = p;
  const n = steps.length;
  let sorted = true;
  for (let i = 1; i < n && sorted; i++)
    sorted =
      steps[i - 1]! < steps[i]! ||
      (steps[i - 1] === steps[i] && timestamps[i - 1]! <= timestamps[i]!);
  if (sorted) return p;
  // Array.prototype.sort is stable, so equal (step, timestamp) keep their logged order.
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => steps[a]! - steps[b]! || timestamps[a]! - timestamps[b]!,
  );
  const out = {
    steps: new Float64Array(n),
    timestamps: new Float64Array(n),
    values: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const j = order[i]!;
    out.steps[i] = steps[j]!;
    out.timestamps[i] = timestamps[j]!;
    out.values[i] = values[j]!;
  }
  return out;
}
