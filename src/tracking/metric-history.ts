/**
 * Downsampled metric history for charts (MLflow's GetMetricHistoryBulkInterval): a few
 * hundred evenly spaced steps out of a history that may hold 100,000.
 */
import { MobiusError, limits } from '../core/index.js';
import type { Database, Kysely } from '../store/index.js';
import { readSeries } from './metric-series.js';
import type { MetricPoint } from './types.js';

/** The history limits live with every other limit; re-exported for this module's callers. */
export const { DEFAULT_HISTORY_POINTS, MAX_HISTORY_POINTS, MAX_HISTORY_RUNS } = limits;

export interface MetricHistoryIntervalInput {
  runIds: readonly string[];
  key: string;
  /** First step of the range (inclusive); give both ends or neither. */
  startStep?: number | undefined;
  /** Last step of the range (inclusive). */
  endStep?: number | undefined;
  /** Steps to sample, 1…MAX_HISTORY_POINTS; DEFAULT_HISTORY_POINTS when not given. */
  maxResults?: number | undefined;
}

/** A metric point and the run that logged it. */
export interface RunMetricPoint extends MetricPoint {
  runId: string;
}

/**
 * The points of `key` in each run at evenly spaced steps: the distinct steps in range
 * (across all the runs, so their charts line up) are ranked and every
 * `count / maxResults`-th is kept, plus the last one and each run's first and last step
 * in range. Runs come back in the order given, each by step then timestamp. Each series is
 * read from its packed segments (only those overlapping the range) and sampled in place:
 * the points dropped never become objects.
 *
 * @example
 * const points = await metricHistoryInterval(store.db, { runIds: [id], key: 'loss', maxResults: 100 });
 */
export async function metricHistoryInterval(
  db: Kysely<Database>,
  input: MetricHistoryIntervalInput,
): Promise<RunMetricPoint[]> {
  const { key, startStep, endStep } = input;
  const runIds = [...new Set(input.runIds)];
  const max = input.maxResults ?? DEFAULT_HISTORY_POINTS;
  checkInput(runIds, max, startStep, endStep);
  const known = await db.selectFrom('run').select('id').where('id', 'in', runIds).execute();
  if (known.length !== runIds.length) {
    const found = new Set(known.map((r) => r.id));
    const missing = runIds.filter((id) => !found.has(id));
    throw new MobiusError('NOT_FOUND', `no run with id '${missing.join("', '")}'`);
  }
  const range =
    startStep === undefined || endStep === undefined
      ? undefined
      : { start: startStep, end: endStep };
  const series = await Promise.all(runIds.map((id) => readSeries(db, id, key, range)));

  // The distinct steps of all the runs, ascending, and each run's first and last.
  const steps = distinctSteps(series.map((s) => s.steps));
  const n = steps.length;
  if (n === 0) return [];
  // The steps kept, ascending (all of them when there are no more than `max`).
  let chosen = steps;
  if (n > max) {
    const picked = new Set<number>();
    for (let i = 0; i < n; i++) if (evenlySpaced(i, n, max)) picked.add(steps[i]!);
    for (const s of series)
      if (s.steps.length > 0) picked.add(s.steps[0]!).add(s.steps[s.steps.length - 1]!);
    chosen = Float64Array.from(picked).sort();
  }
  // Runs that log many values per step would still return them all: cap each run's rows
  // at max(maxResults, chosen steps), evenly again, first and last kept.
  const cap = Math.max(max, chosen.length);
  const points: RunMetricPoint[] = [];
  series.forEach(({ steps: st, timestamps, values }, r) => {
    // Both ascending: one walk finds the points at chosen steps.
    const kept: number[] = [];
    for (let i = 0, c = 0; i < st.length && c < chosen.length;) {
      if (st[i]! < chosen[c]!) i++;
      else if (st[i]! > chosen[c]!) c++;
      else kept.push(i++);
    }
    for (let rn = 0; rn < kept.length; rn++) {
      if (!evenlySpaced(rn, kept.length, cap)) continue;
      const i = kept[rn]!;
      points.push({
        runId: runIds[r]!,
        key,
        value: values[i]!,
        step: st[i]!,
        timestamp: timestamps[i]!,
      });
    }
  });
  return points;
}

/** The distinct values of several ascending step arrays, ascending. */
function distinctSteps(lists: readonly Float64Array[]): Float64Array {
  const all = new Float64Array(lists.reduce((n, l) => n + l.length, 0));
  let at = 0;
  for (const l of lists) all.set(l, (at += l.length) - l.length);
  if (lists.length > 1) all.sort();
  let n = 0;
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[n - 1]) all[n++] = all[i]!;
  return all.subarray(0, n);
}

/**
 * True for the ranks MLflow's sampler keeps out of `n` (0-based `rn`): all when n ≤ k,
 * else floor(i·n/k) for i in 0…k-1, and the last. Rank `rn` is one of those iff the
 * smallest i with i·n/k ≥ rn, ceil(rn·k/n), lands on it — integer arithmetic, so no float
 * rounding decides which step is shown.
 */
function evenlySpaced(rn: number, n: number, k: number): boolean {
  if (n <= k || rn === n - 1) return true;
  const i = Math.floor((rn * k + n - 1) / n);
  return Math.floor((i * n) / k) === rn;
}

function checkInput(
  runIds: readonly string[],
  max: number,
  startStep: number | undefined,
  endStep: number | undefined,
): void {
  if (runIds.length === 0)
    throw new MobiusError('INVALID_ARGUMENT', 'give at least one run id to read a history from');
  // MLflow's wording (its clients and tests match on it), with what was received.
  if (runIds.length > MAX_HISTORY_RUNS)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `GetMetricHistoryBulkInterval request must specify at most ${MAX_HISTORY_RUNS} run_ids. Received ${runIds.length} run_ids.`,
    );
  if (!Number.isSafeInteger(max) || max < 1 || max > MAX_HISTORY_POINTS)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `max_results must be between 1 and ${MAX_HISTORY_POINTS}. Received ${max}.`,
    );
  if ((startStep === undefined) !== (endStep === undefined))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'If either start step or end step are specified, both must be specified.',
    );
  if (startStep !== undefined && endStep !== undefined && startStep > endStep)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `end_step must be greater than start_step. Found start_step=${startStep} and end_step=${endStep}.`,
    );
}
