/**
 * Downsampled metric history for charts (MLflow's GetMetricHistoryBulkInterval): a few
 * hundred evenly spaced steps out of a history that may hold 100,000, chosen in SQL so
 * the rows that would be dropped never leave the database.
 */
import { MobiusError, limits } from '../core/index.js';
import { sql, type Database, type Kysely } from '../store/index.js';
import { fromStored } from './metric-value.js';
import type { MetricPoint } from './types.js';

/** The history limits live with every other limit; re-exported for this module's callers. */
export const { DEFAULT_HISTORY_POINTS, MAX_HISTORY_POINTS, MAX_HISTORY_RUNS } = limits;

/** A piece of SQL (Kysely's RawBuilder, which the store's door does not re-export). */
type Fragment = ReturnType<typeof sql.raw<unknown>>;

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
 * in range. Runs come back in the order given, each by step then timestamp.
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
  const range =
    startStep === undefined || endStep === undefined
      ? sql``
      : sql` and m.step >= ${startStep} and m.step <= ${endStep}`;
  // Each run's first and last step in range: two index seeks per run, no scan.
  const ends = await sql<{ id: string; first: number | null; last: number | null }>`
    select r.id,
      (select min(m.step) from metric m where m.run_id = r.id and m.key = ${key}${range}) as first,
      (select max(m.step) from metric m where m.run_id = r.id and m.key = ${key}${range}) as last
    from run r where r.id in (${sql.join(runIds)})
  `.execute(db);
  if (ends.rows.length !== runIds.length) {
    const known = new Set(ends.rows.map((r) => r.id));
    const missing = runIds.filter((id) => !known.has(id));
    throw new MobiusError('NOT_FOUND', `no run with id '${missing.join("', '")}'`);
  }
  const edges = ends.rows.flatMap((r) => [r.first, r.last]).filter((v) => v !== null);
  if (edges.length === 0) return [];

  const where = sql`m.run_id in (${sql.join(runIds)}) and m.key = ${key}${range}`;
  const [stats] = (
    await sql<{
      n: number;
    }>`select count(distinct m.step) as n from metric m where ${where}`.execute(db)
  ).rows;
  const n = Number(stats?.n ?? 0);
  const lo = Math.min(...edges);
  const hi = Math.max(...edges);
  let steps: number[] | undefined;
  if (n > max && n === hi - lo + 1) {
    // Every step in [lo, hi] was logged (the usual epoch/iteration counter): a step's rank
    // is step - lo, so the sampled steps are arithmetic and need no ranking query.
    steps = Array.from({ length: max }, (_, i) => lo + Math.floor((i * n) / max));
    steps.push(hi);
  } else if (n > max) {
    // Gaps between steps: rank the distinct steps once (row_number) and keep the ranks
    // the sampler picks, by integer arithmetic on the rank.
    const k = sql`cast(${max} as bigint)`;
    const ranked = await sql<{ step: number }>`
      select step from (
        select step, row_number() over (order by step) - 1 as rn, count(*) over () as n
        from (select distinct m.step from metric m where ${where}) d
      ) r
      where ${evenlySpaced(sql`rn`, sql`n`, k)}
    `.execute(db);
    steps = ranked.rows.map((r) => r.step);
  }
  const chosen = steps === undefined ? undefined : [...new Set([...steps, ...edges])];
  // Runs that log many values per step would still return them all: cap each run's rows
  // at max(maxResults, chosen steps), evenly again, first and last kept.
  const cap = sql`cast(${Math.max(max, chosen?.length ?? n)} as bigint)`;
  const { rows } = await sql<{
    run_id: string;
    step: number;
    timestamp: number;
    value: number | null;
    is_nan: number;
  }>`
    select run_id, step, timestamp, value, is_nan from (
      select m.run_id, m.step, m.timestamp, m.value, m.is_nan,
        row_number() over (partition by m.run_id order by m.step, m.timestamp, m.seq) - 1 as rn,
        count(*) over (partition by m.run_id) as n
      from metric m
      where ${where}${chosen === undefined ? sql`` : sql` and m.step in (${sql.join(chosen)})`}
    ) p
    where ${evenlySpaced(sql`rn`, sql`n`, cap)}
    order by run_id, rn
  `.execute(db);

  const order = new Map(runIds.map((id, i) => [id, i]));
  return rows
    .map((r) => ({
      runId: r.run_id,
      key,
      value: fromStored(r),
      step: r.step,
      timestamp: r.timestamp,
    }))
    .sort((a, b) => (order.get(a.runId) ?? 0) - (order.get(b.runId) ?? 0));
}

/**
 * True for the ranks MLflow's sampler keeps out of `n` (0-based `rn`): all when n ≤ k,
 * else floor(i·n/k) for i in 0…k-1, and the last. Rank `rn` is one of those iff the
 * smallest i with i·n/k ≥ rn, ceil(rn·k/n), lands on it; integer division on both
 * backends, so no float rounding decides which step is shown.
 */
function evenlySpaced(rn: Fragment, n: Fragment, k: Fragment): Fragment {
  return sql`(${n} <= ${k} or ${rn} = ${n} - 1 or ((${rn} * ${k} + ${n} - 1) / ${n}) * ${n} / ${k} = ${rn})`;
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
