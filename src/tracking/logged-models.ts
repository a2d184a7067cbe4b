/**
 * LoggedModels (MLflow 3): models as objects of an experiment, each with its own
 * artifact directory, params and tags, created PENDING and finalized READY once their
 * files are uploaded. A model produced by a run is linked to it in the lineage graph.
 */
import { randomUUID } from 'node:crypto';
import {
  MobiusError,
  checkDisplayName,
  checkKey,
  checkValueLength,
  limits,
  type Clock,
} from '../core/index.js';
import {
  LOGGED_MODEL_STATUSES,
  type Database,
  type LoggedModelStatus,
  type Row,
  type Store,
  type Transaction,
} from '../store/index.js';
import { activeExperimentRoot } from './experiments.js';
import { fromStored, toStored } from './metric-value.js';
import type { MetricPoint } from './types.js';

export type { LoggedModelStatus };

export interface LoggedModel {
  id: string;
  experimentId: string;
  name: string;
  modelType: string | null;
  sourceRunId: string | null;
  status: LoggedModelStatus;
  statusMessage: string | null;
  artifactUri: string;
  creatorId: string | null;
  createdAt: number;
  updatedAt: number;
  tags: Record<string, string>;
  params: Record<string, string>;
  /** Run metrics logged for this model, in the order they were logged. */
  metrics: LoggedModelMetric[];
}

/** A run's metric point logged for a model, with the dataset it was measured on, if any. */
export interface LoggedModelMetric extends MetricPoint {
  modelId: string;
  runId: string;
  datasetName: string | null;
  datasetDigest: string | null;
}

/** A metric point to record for a model: `runId` logged it (see `logMetrics`). */
export type LoggedModelMetricInput = MetricPoint & {
  modelId: string;
  datasetName?: string | undefined;
  datasetDigest?: string | undefined;
};

/** A dataset to search models by: models with a metric measured on it. */
export interface DatasetFilter {
  datasetName: string;
  datasetDigest?: string | undefined;
}

/** An order of model search: an attribute, ascending or descending. */
export interface LoggedModelOrder {
  field: string;
  ascending: boolean;
}

/** Attributes models can be ordered by, and their columns. */
const ORDER_COLUMNS = {
  creation_timestamp: 'created_at',
  creation_time: 'created_at',
  last_updated_timestamp: 'updated_at',
  name: 'name',
  model_id: 'id',
  model_type: 'model_type',
  status: 'status',
} as const;

export interface CreateLoggedModelInput {
  experimentId: string;
  name?: string | undefined;
  modelType?: string | undefined;
  sourceRunId?: string | undefined;
  params?: { key: string; value: string }[];
  tags?: { key: string; value: string }[];
}

/** Creates, finalizes, tags, searches and deletes LoggedModels. */
export class LoggedModelService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Creates a PENDING model in an active experiment; `sourceRunId` need not be a run held here. */
  async create(input: CreateLoggedModelInput): Promise<LoggedModel> {
    const id = `m-${randomUUID().replaceAll('-', '')}`;
    const name = checkDisplayName('model', input.name ?? `model-${id.slice(2, 10)}`);
    const params = checkPairs('param', input.params ?? [], limits.MAX_PARAM_VALUE_LENGTH);
    const tags = checkPairs('tag', input.tags ?? [], limits.MAX_TAG_VALUE_LENGTH);
    const now = this.clock.now();
    await this.store.write(async (trx) => {
      const root = await activeExperimentRoot(trx, input.experimentId);
      // MLflow stores source_run_id as given, even for a run it does not hold (one of
      // another server); only a run held here joins the lineage graph.
      const sourceRun =
        input.sourceRunId === undefined
          ? undefined
          : await trx
              .selectFrom('run')
              .select('id')
              .where('id', '=', input.sourceRunId)
              .executeTakeFirst();
      await trx
        .insertInto('logged_model')
        .values({
          id,
          experiment_id: input.experimentId,
          name,
          model_type: input.modelType ?? null,
          source_run_id: input.sourceRunId ?? null,
          status: 'LOGGED_MODEL_PENDING',
          status_message: null,
          artifact_uri: `${root}/models/${id}/artifacts`,
          creator_id: null,
          lifecycle_stage: 'active',
          created_at: now,
          updated_at: now,
        })
        .execute();
      if (params.length > 0)
        await trx
          .insertInto('logged_model_param')
          .values(params.map((p) => ({ model_id: id, ...p })))
          .execute();
      if (tags.length > 0)
        await trx
          .insertInto('logged_model_tag')
          .values(tags.map((t) => ({ model_id: id, ...t })))
          .execute();
      if (sourceRun !== undefined) {
        await trx
          .insertInto('edge')
          .values({
            from_kind: 'run',
            from_id: sourceRun.id,
            to_kind: 'logged_model',
            to_id: id,
            relation: 'produced',
            created_at: now,
          })
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
    });
    return this.get(id);
  }

  /** The model with `id`; NOT_FOUND otherwise (also when deleted). */
  async get(id: string): Promise<LoggedModel> {
    const [model] = await this.#load([id]);
    if (model === undefined)
      throw new MobiusError('NOT_FOUND', `Logged model with ID '${id}' not found`);
    return model;
  }

  /** Sets the final status (READY or UPLOAD_FAILED). */
  async finalize(id: string, status: string): Promise<LoggedModel> {
    if (
      !(LOGGED_MODEL_STATUSES as readonly string[]).includes(status) ||
      status === 'LOGGED_MODEL_PENDING'
    ) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `status '${status}' is not LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED`,
      );
    }
    await this.#update(id, { status: status as LoggedModelStatus });
    return this.get(id);
  }

  /** Soft-deletes a model; it then reads as NOT_FOUND. */
  async delete(id: string): Promise<void> {
    await this.#update(id, { lifecycle_stage: 'deleted' });
  }

  /** Sets (overwrites) tags. */
  async setTags(id: string, pairs: { key: string; value: string }[]): Promise<void> {
    const tags = checkPairs('tag', pairs, limits.MAX_TAG_VALUE_LENGTH);
    await this.store.write(async (trx) => {
      await this.#mustExist(trx, id);
      for (const t of tags) {
        await trx
          .insertInto('logged_model_tag')
          .values({ model_id: id, ...t })
          .onConflict((oc) => oc.columns(['model_id', 'key']).doUpdateSet({ value: t.value }))
          .execute();
      }
    });
  }

  /**
   * Records that registry version `name`/`version` was made from this model: MLflow keeps
   * the list in the model's `mlflow.modelVersions` tag, as Python's json.dumps writes it
   * (its UI and client parse it), each version once, in the order they were created.
   */
  async addModelVersion(id: string, name: string, version: number): Promise<void> {
    await this.store.write(async (trx) => {
      await this.#mustExist(trx, id);
      const row = await trx
        .selectFrom('logged_model_tag')
        .select('value')
        .where('model_id', '=', id)
        .where('key', '=', MODEL_VERSIONS_TAG)
        .executeTakeFirst();
      const versions = row === undefined ? [] : parseModelVersions(row.value);
      if (versions.some((v) => v.name === name && v.version === version)) return;
      versions.push({ name, version });
      const value = pythonJson(versions);
      await trx
        .insertInto('logged_model_tag')
        .values({ model_id: id, key: MODEL_VERSIONS_TAG, value })
        .onConflict((oc) => oc.columns(['model_id', 'key']).doUpdateSet({ value }))
        .execute();
    });
  }

  /** Removes a tag; NOT_FOUND if it is not set. */
  async deleteTag(id: string, key: string): Promise<void> {
    await this.store.write(async (trx) => {
      await this.#mustExist(trx, id);
      const result = await trx
        .deleteFrom('logged_model_tag')
        .where('model_id', '=', id)
        .where('key', '=', key)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n)
        throw new MobiusError(
          'NOT_FOUND',
          `No tag with key '${key}' found for model with ID '${id}'`,
        );
    });
  }

  /**
   * Records metric points run `runId` logged for models (MLflow's metric `model_id`).
   * The run's own copy of each point is written by RunService.logBatch; this adds the
   * model's. NOT_FOUND when a model does not exist or is deleted.
   */
  async logMetrics(runId: string, points: readonly LoggedModelMetricInput[]): Promise<void> {
    if (points.length === 0) return;
    await this.store.write(async (trx) => {
      for (const id of new Set(points.map((p) => p.modelId))) await this.#mustExist(trx, id);
      await trx
        .insertInto('logged_model_metric')
        .values(
          points.map((p) => ({
            model_id: p.modelId,
            run_id: runId,
            key: p.key,
            ...toStored(p.value),
            step: p.step,
            timestamp: p.timestamp,
            dataset_name: p.datasetName ?? null,
            dataset_digest: p.datasetDigest ?? null,
          })),
        )
        .execute();
    });
  }

  /** Logs params; like a run's, they cannot change once set. */
  async logParams(id: string, pairs: { key: string; value: string }[]): Promise<void> {
    const params = checkPairs('param', pairs, limits.MAX_PARAM_VALUE_LENGTH);
    await this.store.write(async (trx) => {
      await this.#mustExist(trx, id);
      for (const p of params) {
        await trx
          .insertInto('logged_model_param')
          .values({ model_id: id, ...p })
          .onConflict((oc) => oc.doNothing())
          .execute();
        const stored = await trx
          .selectFrom('logged_model_param')
          .select('value')
          .where('model_id', '=', id)
          .where('key', '=', p.key)
          .executeTakeFirstOrThrow();
        if (stored.value !== p.value) {
          throw new MobiusError(
            'CONFLICT',
            `param '${p.key}' of logged model '${id}' is '${stored.value}' and cannot change to '${p.value}'`,
          );
        }
      }
    });
  }

  /**
   * Models in the given experiments, newest first. Filters: none, or the
   * `source_run_id = '…'` and `name = '…'` clauses MLflow's client itself sends.
   */
  async search(options: {
    experimentIds: string[];
    filter?: string | undefined;
    /** Only models with a metric measured on one of these datasets. */
    datasets?: readonly DatasetFilter[] | undefined;
    /** Default: newest first. */
    orderBy?: readonly LoggedModelOrder[] | undefined;
    maxResults?: number;
    offset?: number;
  }): Promise<LoggedModel[]> {
    if (options.experimentIds.length === 0)
      throw new MobiusError('INVALID_ARGUMENT', 'experiment_ids must name at least one experiment');
    let query = this.store.db
      .selectFrom('logged_model')
      .select('id')
      .where('experiment_id', 'in', options.experimentIds)
      .where('lifecycle_stage', '=', 'active');
    for (const clause of parseSimpleFilter(options.filter)) {
      query = query.where(clause.column, '=', clause.value);
    }
    const datasets = options.datasets ?? [];
    if (datasets.length > 0)
      query = query.where((eb) =>
        eb.exists(
          eb
            .selectFrom('logged_model_metric as mm')
            .select('mm.model_id')
            .whereRef('mm.model_id', '=', 'logged_model.id')
            .where((inner) =>
              inner.or(
                datasets.map((d) =>
                  d.datasetDigest === undefined
                    ? inner('mm.dataset_name', '=', d.datasetName)
                    : inner.and([
                        inner('mm.dataset_name', '=', d.datasetName),
                        inner('mm.dataset_digest', '=', d.datasetDigest),
                      ]),
                ),
              ),
            ),
        ),
      );
    const orders = options.orderBy ?? [];
    for (const o of orders) {
      const column = (
        ORDER_COLUMNS as Record<string, (typeof ORDER_COLUMNS)[keyof typeof ORDER_COLUMNS]>
      )[o.field];
      if (column === undefined)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `cannot order logged models by '${o.field}': use one of ${Object.keys(ORDER_COLUMNS).join(', ')}`,
        );
      query = query.orderBy(column, o.ascending ? 'asc' : 'desc');
    }
    if (orders.length === 0) query = query.orderBy('created_at', 'desc');
    const rows = await query
      .orderBy('id')
      .limit(options.maxResults ?? 100)
      .offset(options.offset ?? 0)
      .execute();
    return this.#load(rows.map((r) => r.id));
  }

  async #load(ids: string[]): Promise<LoggedModel[]> {
    if (ids.length === 0) return [];
    const db = this.store.db;
    const [rows, tags, params, metrics] = await Promise.all([
      db
        .selectFrom('logged_model')
        .selectAll()
        .where('id', 'in', ids)
        .where('lifecycle_stage', '=', 'active')
        .execute(),
      db.selectFrom('logged_model_tag').selectAll().where('model_id', 'in', ids).execute(),
      db.selectFrom('logged_model_param').selectAll().where('model_id', 'in', ids).execute(),
      db
        .selectFrom('logged_model_metric')
        .selectAll()
        .where('model_id', 'in', ids)
        .orderBy('seq')
        .execute(),
    ]);
    const byId = new Map(rows.map((r) => [r.id, toModel(r)]));
    for (const t of tags) {
      const m = byId.get(t.model_id);
      if (m !== undefined) m.tags[t.key] = t.value;
    }
    for (const p of params) {
      const m = byId.get(p.model_id);
      if (m !== undefined) m.params[p.key] = p.value;
    }
    for (const r of metrics) {
      byId.get(r.model_id)?.metrics.push({
        modelId: r.model_id,
        runId: r.run_id,
        key: r.key,
        value: fromStored(r),
        step: r.step,
        timestamp: r.timestamp,
        datasetName: r.dataset_name,
        datasetDigest: r.dataset_digest,
      });
    }
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async #update(
    id: string,
    change: { status?: LoggedModelStatus; lifecycle_stage?: 'deleted' },
  ): Promise<void> {
    await this.store.write(async (trx) => {
      await this.#mustExist(trx, id);
      await trx
        .updateTable('logged_model')
        .set({ ...change, updated_at: this.clock.now() })
        .where('id', '=', id)
        .execute();
    });
  }

  async #mustExist(trx: Transaction<Database>, id: string): Promise<void> {
    const row = await trx
      .selectFrom('logged_model')
      .select('lifecycle_stage')
      .where('id', '=', id)
      .executeTakeFirst();
    if (row === undefined || row.lifecycle_stage !== 'active')
      throw new MobiusError('NOT_FOUND', `Logged model with ID '${id}' not found`);
  }
}

/** The tag listing the registry versions made from a model (MLflow's MLFLOW_MODEL_VERSIONS). */
export const MODEL_VERSIONS_TAG = 'mlflow.modelVersions';

/** The `{name, version}` entries of an `mlflow.modelVersions` tag; entries of other shapes are dropped. */
function parseModelVersions(value: string): { name: string; version: number }[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return []; // a user overwrote the tag with something else: start the list again
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.flatMap((v: unknown) => {
    const { name, version } = (v ?? {}) as { name?: unknown; version?: unknown };
    const n = typeof version === 'string' ? Number(version) : version;
    return typeof name === 'string' && typeof n === 'number' && Number.isSafeInteger(n)
      ? [{ name, version: n }]
      : [];
  });
}

/** `[{"name": "m", "version": 1}]` spaced and escaped as Python's json.dumps does by default. */
function pythonJson(versions: { name: string; version: number }[]): string {
  const str = (s: string) =>
    JSON.stringify(s).replace(
      /[\u0080-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  return `[${versions.map((v) => `{"name": ${str(v.name)}, "version": ${v.version}}`).join(', ')}]`;
}

function toModel(r: Row<'logged_model'>): LoggedModel {
  return {
    id: r.id,
    experimentId: r.experiment_id,
    name: r.name,
    modelType: r.model_type,
    sourceRunId: r.source_run_id,
    status: r.status,
    statusMessage: r.status_message,
    artifactUri: r.artifact_uri,
    creatorId: r.creator_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    tags: {},
    params: {},
    metrics: [],
  };
}

function checkPairs(
  kind: 'param' | 'tag',
  pairs: { key: string; value: string }[],
  max: number,
): { key: string; value: string }[] {
  return pairs.map((p) => ({
    key: checkKey(kind, p.key),
    value: checkValueLength(kind, p.key, p.value, max),
  }));
}

/** `source_run_id = 'x' AND name = "y"`: the only LoggedModel filters supported so far. */
function parseSimpleFilter(
  filter: string | undefined,
): { column: 'source_run_id' | 'name'; value: string }[] {
  if (filter === undefined || filter.trim() === '') return [];
  return filter.split(/\s+and\s+/i).map((clause) => {
    const match = /^\s*(?:attributes\.)?(source_run_id|name)\s*=\s*(['"])(.*)\2\s*$/.exec(clause);
    if (match === null) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `logged model filter '${clause.trim()}' is not supported yet: use source_run_id = '…' or name = '…', joined by AND`,
      );
    }
    return { column: match[1] as 'source_run_id' | 'name', value: match[3]! };
  });
}
