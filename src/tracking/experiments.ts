/** Experiments: named groups of runs, with tags, soft deletion and restore. */
import {
  MobiusError,
  checkDisplayName,
  checkKey,
  checkValueLength,
  limits,
  type Clock,
} from '../core/index.js';
import {
  constraintViolation,
  type Database,
  type Kysely,
  type Row,
  type Store,
} from '../store/index.js';
import {
  experimentFilterSql,
  experimentOrderSql,
  parseExperimentFilter,
  parseExperimentOrderBy,
} from './experiment-search.js';
import { newExperimentId } from './ids.js';
import type { Experiment, ViewType } from './types.js';

/** The experiment MLflow clients use when none is set. */
export const DEFAULT_EXPERIMENT_ID = '0';

/** Creates, reads, renames, tags, deletes and restores experiments. */
export class ExperimentService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Creates an experiment and returns its id; ALREADY_EXISTS if the name is taken (even by a deleted one). */
  async create(input: {
    name: string;
    artifactLocation?: string;
    tags?: Record<string, string>;
  }): Promise<string> {
    const name = checkDisplayName('experiment', input.name);
    const tags = Object.entries(input.tags ?? {}).map(([key, value]) => ({
      key: checkKey('tag', key),
      value: checkValueLength('tag', key, value, limits.MAX_TAG_VALUE_LENGTH),
    }));
    const now = this.clock.now();
    try {
      return await this.store.write(async (trx) => {
        const id = newExperimentId(now);
        await trx
          .insertInto('experiment')
          .values({
            id,
            name,
            artifact_location: input.artifactLocation ?? `mlflow-artifacts:/${id}`,
            lifecycle_stage: 'active',
            created_at: now,
            updated_at: now,
          })
          .execute();
        if (tags.length > 0) {
          await trx
            .insertInto('experiment_tag')
            .values(tags.map((t) => ({ experiment_id: id, ...t })))
            .execute();
        }
        return id;
      });
    } catch (error) {
      if (constraintViolation(error) === 'unique') {
        throw new MobiusError(
          'ALREADY_EXISTS',
          `an experiment named '${name}' already exists (it may be deleted: restore it or pick another name)`,
        );
      }
      throw error;
    }
  }

  /** The experiment with `id`; NOT_FOUND otherwise. */
  async get(id: string): Promise<Experiment> {
    const row = await this.store.db
      .selectFrom('experiment')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (row === undefined) throw new MobiusError('NOT_FOUND', `no experiment with id '${id}'`);
    return (await this.#withTags([row]))[0]!;
  }

  /** The experiment named `name`; NOT_FOUND otherwise. */
  async getByName(name: string): Promise<Experiment> {
    const row = await this.store.db
      .selectFrom('experiment')
      .selectAll()
      .where('name', '=', name.normalize('NFC'))
      .executeTakeFirst();
    if (row === undefined) throw new MobiusError('NOT_FOUND', `no experiment named '${name}'`);
    return (await this.#withTags([row]))[0]!;
  }

  /** Experiments by view type, newest first, paged by offset. */
  async list(
    options: { viewType?: ViewType; maxResults?: number; offset?: number } = {},
  ): Promise<Experiment[]> {
    let query = this.store.db.selectFrom('experiment').selectAll();
    if (options.viewType === 'ACTIVE_ONLY' || options.viewType === undefined)
      query = query.where('lifecycle_stage', '=', 'active');
    if (options.viewType === 'DELETED_ONLY') query = query.where('lifecycle_stage', '=', 'deleted');
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'asc')
      .limit(options.maxResults ?? 1000)
      .offset(options.offset ?? 0)
      .execute();
    return this.#withTags(rows);
  }

  /**
   * MLflow's search_experiments: a filter (name, experiment_id, creation_time,
   * last_update_time, tags; AND, OR, parentheses), order_by, view type and offset paging.
   * Returns up to `maxResults` experiments.
   *
   * @example
   * await experiments.search({ filter: "name LIKE 'churn%'", orderBy: ['name ASC'], maxResults: 10 });
   */
  async search(options: {
    filter?: string | undefined;
    orderBy?: readonly string[];
    viewType?: ViewType;
    maxResults?: number;
    offset?: number;
  }): Promise<Experiment[]> {
    const filter = parseExperimentFilter(options.filter);
    const order = parseExperimentOrderBy(options.orderBy ?? []);
    const maxResults = options.maxResults ?? limits.SEARCH_EXPERIMENTS_DEFAULT;
    let query = this.store.db.selectFrom('experiment').selectAll();
    if (options.viewType === 'ACTIVE_ONLY' || options.viewType === undefined)
      query = query.where('lifecycle_stage', '=', 'active');
    if (options.viewType === 'DELETED_ONLY') query = query.where('lifecycle_stage', '=', 'deleted');
    if (filter !== undefined) query = query.where(experimentFilterSql(filter));
    for (const clause of order)
      for (const expression of experimentOrderSql(this.store.dialect, clause))
        query = query.orderBy(expression, clause.direction);
    const rows = await query
      .limit(maxResults)
      .offset(options.offset ?? 0)
      .execute();
    return this.#withTags(rows);
  }

  /** Renames an experiment. */
  async rename(id: string, newName: string): Promise<void> {
    const name = checkDisplayName('experiment', newName);
    try {
      await this.store.write(async (trx) => {
        const result = await trx
          .updateTable('experiment')
          .set({ name, updated_at: this.clock.now() })
          .where('id', '=', id)
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n)
          throw new MobiusError('NOT_FOUND', `no experiment with id '${id}'`);
      });
    } catch (error) {
      if (constraintViolation(error) === 'unique')
        throw new MobiusError('ALREADY_EXISTS', `an experiment named '${name}' already exists`);
      throw error;
    }
  }

  /** Soft-deletes an experiment and its runs; restore brings both back. */
  async setLifecycle(id: string, stage: 'active' | 'deleted'): Promise<void> {
    if (id === DEFAULT_EXPERIMENT_ID && stage === 'deleted') {
      throw new MobiusError('INVALID_ARGUMENT', 'the default experiment (id 0) cannot be deleted');
    }
    const now = this.clock.now();
    await this.store.write(async (trx) => {
      const result = await trx
        .updateTable('experiment')
        .set({ lifecycle_stage: stage, updated_at: now })
        .where('id', '=', id)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n)
        throw new MobiusError('NOT_FOUND', `no experiment with id '${id}'`);
      await trx
        .updateTable('run')
        .set({ lifecycle_stage: stage, deleted_time: stage === 'deleted' ? now : null })
        .where('experiment_id', '=', id)
        .where('lifecycle_stage', '!=', stage)
        .execute();
    });
  }

  /** Sets (or overwrites) an experiment tag. */
  async setTag(id: string, key: string, value: string): Promise<void> {
    checkKey('tag', key);
    checkValueLength('tag', key, value, limits.MAX_TAG_VALUE_LENGTH);
    await this.store.write(async (trx) => {
      const row = await trx
        .selectFrom('experiment')
        .select('lifecycle_stage')
        .where('id', '=', id)
        .executeTakeFirst();
      if (row === undefined) throw new MobiusError('NOT_FOUND', `no experiment with id '${id}'`);
      if (row.lifecycle_stage !== 'active')
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `experiment '${id}' is deleted; restore it before tagging`,
        );
      await trx
        .insertInto('experiment_tag')
        .values({ experiment_id: id, key, value })
        .onConflict((oc) => oc.columns(['experiment_id', 'key']).doUpdateSet({ value }))
        .execute();
    });
  }

  /** Removes an experiment tag; NOT_FOUND if it is not set. */
  async deleteTag(id: string, key: string): Promise<void> {
    await this.store.write(async (trx) => {
      const result = await trx
        .deleteFrom('experiment_tag')
        .where('experiment_id', '=', id)
        .where('key', '=', key)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n)
        throw new MobiusError('NOT_FOUND', `No tag with name: ${key} in experiment with id ${id}`);
    });
  }

  async #withTags(rows: Row<'experiment'>[]): Promise<Experiment[]> {
    if (rows.length === 0) return [];
    const tags = await this.store.db
      .selectFrom('experiment_tag')
      .selectAll()
      .where(
        'experiment_id',
        'in',
        rows.map((r) => r.id),
      )
      .execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      artifactLocation: r.artifact_location ?? `mlflow-artifacts:/${r.id}`,
      lifecycleStage: r.lifecycle_stage,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      tags: Object.fromEntries(
        tags.filter((t) => t.experiment_id === r.id).map((t) => [t.key, t.value]),
      ),
    }));
  }
}

/**
 * Inside a write: the artifact root (no trailing slash) of an experiment that exists and
 * is active; NOT_FOUND or INVALID_ARGUMENT otherwise. What gets created in an experiment
 * (runs, logged models) lives below this root.
 */
export async function activeExperimentRoot(trx: Kysely<Database>, id: string): Promise<string> {
  const experiment = await trx
    .selectFrom('experiment')
    .select(['lifecycle_stage', 'artifact_location'])
    .where('id', '=', id)
    .executeTakeFirst();
  if (experiment === undefined) throw new MobiusError('NOT_FOUND', `no experiment with id '${id}'`);
  if (experiment.lifecycle_stage !== 'active') {
    throw new MobiusError('INVALID_ARGUMENT', `experiment '${id}' is deleted; restore it first`);
  }
  return (experiment.artifact_location ?? `mlflow-artifacts:/${id}`).replace(/\/+$/, '');
}
