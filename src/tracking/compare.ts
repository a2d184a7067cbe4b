/**
 * Run comparison: N runs side by side — params, tags and metrics per key, which of them
 * differ, and for metrics the latest value plus the min and max over the whole history.
 * What `mobius runs compare` prints and `GET /api/v1/runs/compare` returns.
 */
import { MobiusError } from '../core/index.js';
import type { Database, Kysely } from '../store/index.js';
import type { RunService } from './runs.js';
import type { Run, RunStatus } from './types.js';

/** Most runs in one comparison: a side-by-side table wider than this is not read. */
export const MAX_COMPARE_RUNS = 100;

/** One param or tag key across the runs. */
export interface ComparedValues {
  key: string;
  /** One per run, in the order asked for; null where the run lacks the key. */
  values: (string | null)[];
  /** True when not every run has the same value (a missing key counts as a value). */
  differs: boolean;
}

/** One metric key across the runs. NaN and ±Infinity are numbers here; wire forms encode them. */
export interface ComparedMetric {
  key: string;
  /** The latest point's value (highest step, then timestamp), or null if not logged. */
  latest: (number | null)[];
  /** Smallest and largest value ever logged (NaN points ignored; null if none). */
  min: (number | null)[];
  max: (number | null)[];
  /** True when the latest values are not all the same. */
  differs: boolean;
}

/** A comparison of runs; every array is in the order the run ids were given. */
export interface RunComparison {
  runs: {
    id: string;
    name: string | null;
    experimentId: string;
    status: RunStatus;
    startTime: number;
    endTime: number | null;
  }[];
  params: ComparedValues[];
  metrics: ComparedMetric[];
  tags: ComparedValues[];
}

/** Min and max per (run, metric key), from the full history. */
export type MetricRange = Map<string, { min: number | null; max: number | null }>;

/** The key of a (run, metric) pair in a MetricRange. */
export function rangeKey(runId: string, key: string): string {
  return `${runId}\u0000${key}`;
}

/**
 * Builds the comparison from loaded runs and their metric ranges (pure: no store).
 *
 * @example
 * const c = compareRunData([a, b], new Map());
 * c.params.filter((p) => p.differs).map((p) => p.key); // ['lr']
 */
export function compareRunData(runs: readonly Run[], ranges: MetricRange): RunComparison {
  const keysOf = (pick: (r: Run) => string[]) => [...new Set(runs.flatMap(pick))].sort();
  const side = (record: (r: Run) => Record<string, string>, keys: string[]): ComparedValues[] =>
    keys.map((key) => {
      const values = runs.map((r) => record(r)[key] ?? null);
      return { key, values, differs: new Set(values).size > 1 };
    });
  const metricKeys = keysOf((r) => r.data.metrics.map((m) => m.key));
  return {
    runs: runs.map((r) => ({
      id: r.info.id,
      name: r.info.name,
      experimentId: r.info.experimentId,
      status: r.info.status,
      startTime: r.info.startTime,
      endTime: r.info.endTime,
    })),
    params: side(
      (r) => r.data.params,
      keysOf((r) => Object.keys(r.data.params)),
    ),
    tags: side(
      (r) => r.data.tags,
      keysOf((r) => Object.keys(r.data.tags)),
    ),
    metrics: metricKeys.map((key) => {
      const latest = runs.map((r) => r.data.metrics.find((m) => m.key === key)?.value ?? null);
      const range = runs.map((r) => ranges.get(rangeKey(r.info.id, key)));
      // NaN !== NaN, so "differs" compares printed forms.
      const distinct = new Set(latest.map((v) => (v === null ? '\0none' : String(v))));
      return {
        key,
        latest,
        min: range.map((x) => x?.min ?? null),
        max: range.map((x) => x?.max ?? null),
        differs: distinct.size > 1,
      };
    }),
  };
}

/**
 * Compares runs by id: NOT_FOUND names every unknown id; duplicates are refused.
 *
 * @example
 * const c = await compareRuns(ctx.store.db, ctx.tracking.runs, [idA, idB]);
 */
export async function compareRuns(
  db: Kysely<Database>,
  runService: RunService,
  runIds: readonly string[],
): Promise<RunComparison> {
  if (runIds.length === 0)
    throw new MobiusError('INVALID_ARGUMENT', 'give at least one run id to compare');
  if (runIds.length > MAX_COMPARE_RUNS)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `compare at most ${MAX_COMPARE_RUNS} runs at once, not ${runIds.length}`,
    );
  const dup = runIds.find((id, i) => runIds.indexOf(id) !== i);
  if (dup !== undefined)
    throw new MobiusError('INVALID_ARGUMENT', `run id '${dup}' is listed twice; list each once`);
  const runs = await runService.getMany(runIds);
  if (runs.length !== runIds.length) {
    const found = new Set(runs.map((r) => r.info.id));
    const missing = runIds.filter((id) => !found.has(id));
    throw new MobiusError(
      'NOT_FOUND',
      `no run with id ${missing.map((id) => `'${id}'`).join(', ')}`,
    );
  }
  // Each segment keeps the min and max of its values (NaN left out), so the ranges come
  // from a grouped read of those two columns, no points unpacked.
  const rows = await db
    .selectFrom('metric_segment')
    .select((eb) => [
      'run_id',
      'key',
      eb.fn.min('min_value').as('min'),
      eb.fn.max('max_value').as('max'),
    ])
    .where('run_id', 'in', runIds)
    .groupBy(['run_id', 'key'])
    .execute();
  const ranges: MetricRange = new Map(
    rows.map((r) => [
      rangeKey(r.run_id, r.key),
      { min: r.min === null ? null : Number(r.min), max: r.max === null ? null : Number(r.max) },
    ]),
  );
  return compareRunData(runs, ranges);
}
