/**
 * Runs: lifecycle, status, and what they log — params (immutable), metrics (appended,
 * with the latest point per key kept current) and tags (overwritten).
 */
import {
  MobiusError,
  type PackedPoints,
  checkDisplayName,
  checkKey,
  checkValueLength,
  limits,
  type Clock,
} from '../core/index.js';
import {
  RUN_STATUSES,
  sql,
  type Kysely,
  type Database,
  type Row,
  type Store,
  type Transaction,
} from '../store/index.js';
import { activeExperimentRoot } from './experiments.js';
import { newRunId } from './ids.js';
import {
  metricHistoryInterval,
  type MetricHistoryIntervalInput,
  type RunMetricPoint,
} from './metric-history.js';
import { checkBatchId, claimMetricBatch } from './metric-batches.js';
import { appendMetrics, readSeries } from './metric-series.js';
import { fromStored, isNewer, toStored } from './metric-value.js';
import { randomRunName } from './run-names.js';
import { searchRuns, type SearchRunsOptions } from './search/index.js';
import type { LifecycleStage, MetricPoint, Run, RunBatch, RunInfo, RunStatus } from './types.js';

/** Tags MLflow's clients read and write with special meaning. */
export const RUN_NAME_TAG = 'mlflow.runName';
export const PARENT_RUN_TAG = 'mlflow.parentRunId';
export const USER_TAG = 'mlflow.user';

export interface CreateRunInput {
  experimentId: string;
  userId?: string | undefined;
  name?: string | undefined;
  startTime?: number | undefined;
  tags?: Record<string, string> | undefined;
}

/**
 * An outer transaction to write in. The pipeline runner records a step's tracking run,
 * tags and metrics together with its own rows, so a step costs one commit (one fsync on
 * SQLite) at its start and one at its end instead of six (issue 5's per-step overhead).
 * Without it, each call commits on its own. Inside an outer transaction nothing may read
 * through `store.db`: SQLite has one connection, held by that transaction.
 */
export interface InTransaction {
  trx?: Transaction<Database> | undefined;
}

/** Creates runs, reads them, changes their status, and records what they log. */
export class RunService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** `fn` in the caller's transaction when given, else in a write transaction of its own. */
  #write<T>(options: InTransaction, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return options.trx === undefined ? this.store.write(fn) : fn(options.trx);
  }

  /**
   * Starts a run in an active experiment. Name and parent come from the MLflow tags when
   * given there. In an outer transaction (`options.trx`) the run is returned as written
   * (tags, no params or metrics) instead of read back.
   */
  async create(input: CreateRunInput, options: InTransaction = {}): Promise<Run> {
    const tags = { ...(input.tags ?? {}) };
    for (const [key, value] of Object.entries(tags)) {
      checkKey('tag', key);
      checkValueLength('tag', key, value, limits.MAX_TAG_VALUE_LENGTH);
    }
    const name = checkDisplayName('run', input.name ?? tags[RUN_NAME_TAG] ?? randomRunName());
    tags[RUN_NAME_TAG] = name;
    const id = newRunId();
    const userId = input.userId ?? tags[USER_TAG] ?? null;
    const row = await this.#write(options, async (trx) => {
      const artifactRoot = await activeExperimentRoot(trx, input.experimentId);
      // MLflow stores the parent tag as given; only a parent this server knows becomes
      // the parent_run_id link (a foreign key), so a run from elsewhere is no error.
      const parentTag = tags[PARENT_RUN_TAG];
      const parent =
        parentTag === undefined
          ? undefined
          : (
              await trx
                .selectFrom('run')
                .select('id')
                .where('id', '=', parentTag)
                .executeTakeFirst()
            )?.id;
      const row = {
        id,
        experiment_id: input.experimentId,
        name,
        status: 'RUNNING' as const,
        lifecycle_stage: 'active' as const,
        user_id: userId,
        start_time: input.startTime ?? this.clock.now(),
        end_time: null,
        artifact_uri: `${artifactRoot}/${id}/artifacts`,
        parent_run_id: parent ?? null,
      };
      await trx.insertInto('run').values(row).execute();
      await trx
        .insertInto('tag')
        .values(Object.entries(tags).map(([key, value]) => ({ run_id: id, key, value })))
        .execute();
      return row;
    });
    if (options.trx === undefined) return this.get(id);
    return {
      info: toRunInfo({ ...row, deleted_time: null }),
      data: { metrics: [], params: {}, tags },
    };
  }

  /** The run with its params, tags and latest metrics; NOT_FOUND otherwise. */
  async get(id: string): Promise<Run> {
    const [run] = await this.getMany([id]);
    if (run === undefined) throw new MobiusError('NOT_FOUND', `Run with id=${id} not found`);
    return run;
  }

  /** Runs by id, in the order given; unknown ids are left out. */
  async getMany(ids: readonly string[]): Promise<Run[]> {
    if (ids.length === 0) return [];
    const db = this.store.db;
    // Params, tags and latest metrics come one JSON document per run, aggregated in SQL:
    // a page of 100 runs is ~300 rows to materialise instead of ~4,000. One query after
    // the other: on SQLite's single connection, Promise.all only queued them behind a
    // lock and took ~7 ms where these take ~4 ms (10,000-run search benchmark).
    const rows = await db.selectFrom('run').selectAll().where('id', 'in', ids).execute();
    const params = await keyValuesOf(this.store, 'param', ids);
    const tags = await keyValuesOf(this.store, 'tag', ids);
    const metrics = await latestMetricsOf(this.store, ids);
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.flatMap((id) => {
      const r = byId.get(id);
      if (r === undefined) return [];
      const data = {
        metrics: metrics.get(id) ?? [],
        params: params.get(id) ?? {},
        tags: tags.get(id) ?? {},
      };
      return [{ info: toRunInfo(r), data }];
    });
  }

  /** Changes status, end time or name of an active run. */
  async update(
    id: string,
    change: { status?: RunStatus; endTime?: number | null; name?: string },
    options: InTransaction = {},
  ): Promise<RunInfo> {
    if (
      change.status !== undefined &&
      !(RUN_STATUSES as readonly string[]).includes(change.status)
    ) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `status '${String(change.status)}' is not one of ${RUN_STATUSES.join(', ')}`,
      );
    }
    const name = change.name === undefined ? undefined : checkDisplayName('run', change.name);
    return this.#write(options, async (trx) => {
      await activeRun(trx, id);
      await trx
        .updateTable('run')
        .set({
          ...(change.status === undefined ? {} : { status: change.status }),
          ...(change.endTime === undefined ? {} : { end_time: change.endTime }),
          ...(name === undefined ? {} : { name }),
        })
        .where('id', '=', id)
        .execute();
      if (name !== undefined) await upsertTags(trx, id, [{ key: RUN_NAME_TAG, value: name }]);
      const row = await trx
        .selectFrom('run')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      return toRunInfo(row);
    });
  }

  /** Soft-deletes or restores a run. */
  async setLifecycle(id: string, stage: LifecycleStage): Promise<void> {
    await this.store.write(async (trx) => {
      const result = await trx
        .updateTable('run')
        .set({
          lifecycle_stage: stage,
          deleted_time: stage === 'deleted' ? this.clock.now() : null,
        })
        .where('id', '=', id)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n)
        throw new MobiusError('NOT_FOUND', `Run with id=${id} not found`);
    });
  }

  /**
   * Records a batch atomically: all of it or none. Params are immutable — the same value
   * again is a no-op, a different one is CONFLICT naming both. Metrics append; tags overwrite.
   * With `batchId`, a batch already recorded under that id is not written again (a client's
   * retry); the result says whether this call wrote it.
   */
  async logBatch(
    id: string,
    batch: RunBatch,
    options: { batchId?: string | undefined } & InTransaction = {},
  ): Promise<{ recorded: boolean }> {
    const metrics = batch.metrics ?? [];
    const params = dedupeParams(batch.params ?? []);
    const tags = lastWins(batch.tags ?? []);
    checkBatchLimits(metrics.length, params.length, tags.length);
    for (const m of metrics) checkMetric(m);
    for (const p of params)
      checkValueLength('param', checkKey('param', p.key), p.value, limits.MAX_PARAM_VALUE_LENGTH);
    for (const t of tags)
      checkValueLength('tag', checkKey('tag', t.key), t.value, limits.MAX_TAG_VALUE_LENGTH);
    if (options.batchId !== undefined) checkBatchId(options.batchId);
    if (metrics.length + params.length + tags.length === 0) return { recorded: false };

    return this.#write(options, async (trx) => {
      await activeRun(trx, id);
      if (
        options.batchId !== undefined &&
        !(await claimMetricBatch(trx, id, options.batchId, metrics, this.clock.now()))
      )
        return { recorded: false };
      if (params.length > 0) await insertParams(trx, id, params);
      if (tags.length > 0) {
        await upsertTags(trx, id, tags);
        const renamed = tags.find((t) => t.key === RUN_NAME_TAG);
        if (renamed !== undefined)
          await trx.updateTable('run').set({ name: renamed.value }).where('id', '=', id).execute();
      }
      if (metrics.length > 0) {
        await appendMetrics(this.store, trx, id, metrics);
        await upsertLatest(trx, id, metrics);
      }
      return { recorded: true };
    });
  }

  /** Removes a run tag; NOT_FOUND if it is not set. */
  async deleteTag(id: string, key: string): Promise<void> {
    await this.store.write(async (trx) => {
      await activeRun(trx, id);
      const result = await trx
        .deleteFrom('tag')
        .where('run_id', '=', id)
        .where('key', '=', key)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n)
        throw new MobiusError('NOT_FOUND', `No tag with name: ${key} in run with id ${id}`);
    });
  }

  /** Runs matching an MLflow filter (plus OR and parentheses), ordered and paged. */
  async search(options: SearchRunsOptions): Promise<{ runs: Run[]; nextPageToken?: string }> {
    const page = await searchRuns(this.store.db, this.store.dialect, options);
    const runs = await this.getMany(page.runIds);
    return page.nextPageToken === undefined
      ? { runs }
      : { runs, nextPageToken: page.nextPageToken };
  }

  /** Every logged point of one metric, by step then timestamp; paged by offset. */
  async metricHistory(
    id: string,
    key: string,
    page: { offset?: number; limit?: number } = {},
  ): Promise<MetricPoint[]> {
    const { steps, timestamps, values } = await this.metricSeries(id, key);
    const from = Math.min(page.offset ?? 0, steps.length);
    const to = page.limit === undefined ? steps.length : Math.min(steps.length, from + page.limit);
    // A plain loop into a presized array: this maps every point of the history.
    const points = new Array<MetricPoint>(to - from);
    for (let i = from; i < to; i++)
      points[i - from] = { key, value: values[i]!, step: steps[i]!, timestamp: timestamps[i]! };
    return points;
  }

  /**
   * Every point of one metric as packed columns, in history order: what a chart draws,
   * with no object per point (`/api/v1` sends these bytes to clients that ask for them).
   */
  async metricSeries(id: string, key: string): Promise<PackedPoints> {
    const db = this.store.db;
    const run = await db.selectFrom('run').select('id').where('id', '=', id).executeTakeFirst();
    if (run === undefined) throw new MobiusError('NOT_FOUND', `no run with id '${id}'`);
    return readSeries(db, id, key);
  }

  /** A metric's history in several runs, downsampled to evenly spaced steps (for charts). */
  metricHistoryInterval(input: MetricHistoryIntervalInput): Promise<RunMetricPoint[]> {
    return metricHistoryInterval(this.store.db, input);
  }
}

function toRunInfo(r: Row<'run'>): RunInfo {
  return {
    id: r.id,
    experimentId: r.experiment_id,
    name: r.name,
    status: r.status,
    userId: r.user_id,
    startTime: r.start_time,
    endTime: r.end_time,
    artifactUri: r.artifact_uri ?? '',
    lifecycleStage: r.lifecycle_stage,
    parentRunId: r.parent_run_id,
  };
}

/** The run's row, if it exists and is active; otherwise NOT_FOUND or INVALID_ARGUMENT. */
async function activeRun(trx: Kysely<Database>, id: string): Promise<void> {
  const row = await trx
    .selectFrom('run')
    .select('lifecycle_stage')
    .where('id', '=', id)
    .executeTakeFirst();
  if (row === undefined) throw new MobiusError('NOT_FOUND', `Run with id=${id} not found`);
  if (row.lifecycle_stage !== 'active')
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `The run ${id} must be in the 'active' state. Current state is deleted; restore it to change it.`,
    );
}

function checkBatchLimits(metrics: number, params: number, tags: number): void {
  const over = (what: string, n: number, max: number) => {
    if (n > max)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `a batch may hold at most ${max} ${what}; this one has ${n}: split it`,
      );
  };
  over('metrics', metrics, limits.MAX_BATCH_METRICS);
  over('params', params, limits.MAX_BATCH_PARAMS);
  over('tags', tags, limits.MAX_BATCH_TAGS);
  over('metrics, params and tags together', metrics + params + tags, limits.MAX_BATCH_ENTITIES);
}

function checkMetric(m: MetricPoint): void {
  checkKey('metric', m.key);
  if (typeof m.value !== 'number')
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `metric '${m.key}' value must be a number (NaN and ±Infinity allowed)`,
    );
  if (!Number.isSafeInteger(m.timestamp))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `metric '${m.key}' timestamp must be an integer (milliseconds since the epoch)`,
    );
  if (!Number.isSafeInteger(m.step))
    throw new MobiusError('INVALID_ARGUMENT', `metric '${m.key}' step must be an integer`);
}

/** Params in a batch: exact duplicates collapse; the same key with two values is refused. */
function dedupeParams(params: { key: string; value: string }[]): { key: string; value: string }[] {
  const seen = new Map<string, string>();
  for (const p of params) {
    const prior = seen.get(p.key);
    if (prior !== undefined && prior !== p.value) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `param '${p.key}' appears twice in one batch with different values ('${prior}' and '${p.value}')`,
      );
    }
    seen.set(p.key, p.value);
  }
  return [...seen].map(([key, value]) => ({ key, value }));
}

function lastWins(tags: { key: string; value: string }[]): { key: string; value: string }[] {
  return [...new Map(tags.map((t) => [t.key, t.value]))].map(([key, value]) => ({ key, value }));
}

/** Inserts params, then checks none of them contradicts a value logged before (by anyone). */
async function insertParams(
  trx: Kysely<Database>,
  runId: string,
  params: { key: string; value: string }[],
): Promise<void> {
  await trx
    .insertInto('param')
    .values(params.map((p) => ({ run_id: runId, ...p })))
    .onConflict((oc) => oc.columns(['run_id', 'key']).doNothing())
    .execute();
  const stored = await trx
    .selectFrom('param')
    .select(['key', 'value'])
    .where('run_id', '=', runId)
    .where(
      'key',
      'in',
      params.map((p) => p.key),
    )
    .execute();
  const storedByKey = new Map(stored.map((s) => [s.key, s.value]));
  for (const p of params) {
    const existing = storedByKey.get(p.key);
    if (existing !== undefined && existing !== p.value) {
      throw new MobiusError(
        'CONFLICT',
        `param '${p.key}' was already logged as '${existing}' and cannot change to '${p.value}': params are immutable (log a new run, or use a tag)`,
      );
    }
  }
}

async function upsertTags(
  trx: Kysely<Database>,
  runId: string,
  tags: { key: string; value: string }[],
): Promise<void> {
  await trx
    .insertInto('tag')
    .values(tags.map((t) => ({ run_id: runId, ...t })))
    .onConflict((oc) =>
      oc.columns(['run_id', 'key']).doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })),
    )
    .execute();
}

/**
 * Keeps latest_metric current in one statement that is safe under concurrent writers:
 * the upsert's WHERE compares (step, timestamp, not-NaN, value) of the new point with the
 * stored one, so an older point arriving late never replaces a newer one.
 */
async function upsertLatest(
  trx: Kysely<Database>,
  runId: string,
  metrics: MetricPoint[],
): Promise<void> {
  const newest = new Map<string, MetricPoint>();
  for (const m of metrics) {
    const prior = newest.get(m.key);
    if (prior === undefined || isNewer(m, prior)) newest.set(m.key, m);
  }
  await trx
    .insertInto('latest_metric')
    .values(
      [...newest.values()].map((m) => ({
        run_id: runId,
        key: m.key,
        ...toStored(m.value),
        step: m.step,
        timestamp: m.timestamp,
      })),
    )
    .onConflict((oc) =>
      oc
        .columns(['run_id', 'key'])
        .doUpdateSet((eb) => ({
          value: eb.ref('excluded.value'),
          is_nan: eb.ref('excluded.is_nan'),
          step: eb.ref('excluded.step'),
          timestamp: eb.ref('excluded.timestamp'),
        }))
        .where(
          sql<boolean>`(excluded.step, excluded.timestamp, 1 - excluded.is_nan, coalesce(excluded.value, 0)) > (latest_metric.step, latest_metric.timestamp, 1 - latest_metric.is_nan, coalesce(latest_metric.value, 0))`,
        ),
    )
    .execute();
}

/** Each run's keys and values of `table` (params or tags), as one JSON object per run. */
async function keyValuesOf(
  store: Store,
  table: 'param' | 'tag',
  ids: readonly string[],
): Promise<Map<string, Record<string, string>>> {
  const agg =
    store.dialect === 'sqlite'
      ? sql<string>`json_group_object(key, value)`
      : sql<string>`json_object_agg(key, value)::text`;
  const { rows } = await sql<{ run_id: string; kv: string }>`
    select run_id, ${agg} as kv from ${sql.table(table)}
    where run_id in (${sql.join(ids)}) group by run_id
  `.execute(store.db);
  // JSON.parse makes own properties, so a key such as "__proto__" stays a plain key.
  return new Map(rows.map((r) => [r.run_id, JSON.parse(r.kv) as Record<string, string>]));
}

/** Each run's latest metric points, as one JSON array per run. */
async function latestMetricsOf(
  store: Store,
  ids: readonly string[],
): Promise<Map<string, MetricPoint[]>> {
  // [key, value, is_nan, step, timestamp]; PostgreSQL writes ±Infinity as strings, SQLite
  // as ±9.0e+999 (which JSON.parse reads as ±Infinity); both write doubles exactly.
  const agg =
    store.dialect === 'sqlite'
      ? sql<string>`json_group_array(json_array(key, value, is_nan, step, timestamp))`
      : sql<string>`json_agg(json_build_array(key, value, is_nan, step, timestamp))::text`;
  const { rows } = await sql<{ run_id: string; points: string }>`
    select run_id, ${agg} as points from latest_metric
    where run_id in (${sql.join(ids)}) group by run_id
  `.execute(store.db);
  return new Map(
    rows.map((r) => [
      r.run_id,
      (JSON.parse(r.points) as [string, number | string | null, number, number, number][]).map(
        ([key, value, isNan, step, timestamp]) => ({
          key,
          value: fromStored({ value: value === null ? null : Number(value), is_nan: isNan }),
          step,
          timestamp,
        }),
      ),
    ]),
  );
}
