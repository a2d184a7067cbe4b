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
}

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

  /** Creates a PENDING model in an active experiment. */
  async create(input: CreateLoggedModelInput): Promise<LoggedModel> {
    const id = `m-${randomUUID().replaceAll('-', '')}`;
    const name = checkDisplayName('model', input.name ?? `model-${id.slice(2, 10)}`);
    const params = checkPairs('param', input.params ?? [], limits.MAX_PARAM_VALUE_LENGTH);
    const tags = checkPairs('tag', input.tags ?? [], limits.MAX_TAG_VALUE_LENGTH);
    const now = this.clock.now();
    await this.store.write(async (trx) => {
      const root = await activeExperimentRoot(trx, input.experimentId);
      if (input.sourceRunId !== undefined) {
        const run = await trx
          .selectFrom('run')
          .select('id')
          .where('id', '=', input.sourceRunId)
          .executeTakeFirst();
        if (run === undefined)
          throw new MobiusError('NOT_FOUND', `Run with id=${input.sourceRunId} not found`);
      }
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
      if (input.sourceRunId !== undefined) {
        await trx
          .insertInto('edge')
          .values({
            from_kind: 'run',
            from_id: input.sourceRunId,
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
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(options.maxResults ?? 100)
      .offset(options.offset ?? 0)
      .execute();
    return this.#load(rows.map((r) => r.id));
  }

  async #load(ids: string[]): Promise<LoggedModel[]> {
    if (ids.length === 0) return [];
    const db = this.store.db;
    const [rows, tags, params] = await Promise.all([
      db
        .selectFrom('logged_model')
        .selectAll()
        .where('id', 'in', ids)
        .where('lifecycle_stage', '=', 'active')
        .execute(),
      db.selectFrom('logged_model_tag').selectAll().where('model_id', 'in', ids).execute(),
      db.selectFrom('logged_model_param').selectAll().where('model_id', 'in', ids).execute(),
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
