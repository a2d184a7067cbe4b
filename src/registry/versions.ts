/**
 * Model versions: numbered snapshots of a model's source (an artifact URI, usually a
 * run's), with stages, descriptions and tags.
 */
import { MobiusError, checkValueLength, limits, type Clock } from '../core/index.js';
import type { Store, Transaction, Database, Row } from '../store/index.js';
import { hydrateVersions, latestVersionRows } from './hydrate.js';
import { checkTags, modelKey } from './models.js';
import {
  comparisonSql,
  parseRegistryFilter,
  registryFilterSql,
  parseRegistryOrderBy,
  tagComparisonSql,
  orderExpression,
} from './search-filter.js';
import { checkModelSource } from './model-source.js';
import { canArchiveExisting, parseStage } from './stages.js';
import type { ModelVersion, RegistryPage } from './types.js';

export interface CreateVersionInput {
  name: string;
  /** Where the model's files are (e.g. `mlflow-artifacts:/1/<run>/artifacts/model`). */
  source: string;
  runId?: string | undefined;
  /** The MLflow 3 LoggedModel the version was made from, if any (its source is checked against it). */
  modelId?: string | undefined;
  runLink?: string | undefined;
  description?: string | undefined;
  tags?: Record<string, string> | undefined;
  userId?: string | undefined;
}

export interface SearchVersionsOptions {
  /** e.g. `name = 'churn'`, `run_id = 'abc…'`, `run_id IN ('a', 'b')`, joined by AND. */
  filter?: string | undefined;
  /** Default: last updated first, then name ascending, then version descending (MLflow's). */
  orderBy?: readonly string[] | undefined;
  maxResults?: number | undefined;
  offset?: number | undefined;
}

/** MLflow's default and ceiling for search_model_versions (reasons in core/limits.ts). */
export const { SEARCH_VERSIONS_DEFAULT, SEARCH_VERSIONS_MAX } = limits;

const FILTER_COLUMNS: Readonly<Record<string, string>> = {
  name: 'name',
  run_id: 'run_id',
  source_path: 'source',
  source: 'source',
  current_stage: 'current_stage',
  tags: 'tags',
};

const ORDER_KEYS = {
  name: 'name',
  version_number: 'version',
  creation_timestamp: 'created_at',
  last_updated_timestamp: 'updated_at',
  timestamp: 'updated_at',
} as const;

/** Most `models:/` references followed to find a copied version's files. */
const MAX_COPY_HOPS = 16;

/** A version number as the wire sends it (a decimal string); INVALID_ARGUMENT otherwise. */
export function parseVersion(value: string | number): number {
  const n = typeof value === 'number' ? value : /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
  // MLflow's message for a version that is not a number at all, which its clients match on.
  if (!Number.isInteger(n))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `Parameter 'version' must be an integer, got ${pythonRepr(value)}.`,
    );
  if (!Number.isSafeInteger(n) || n < 1)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `version ${JSON.stringify(value)} is not a positive integer`,
    );
  return n;
}

/** A value as Python's repr shows it in MLflow's messages: strings in single quotes. */
function pythonRepr(value: string | number): string {
  return typeof value === 'number' ? String(value) : `'${value.replaceAll("'", "\\'")}'`;
}

/** The version row `name`/`version` inside `trx`; NOT_FOUND otherwise. */
export async function requireVersion(
  trx: Transaction<Database>,
  name: string,
  version: number,
): Promise<Row<'model_version'>> {
  const row = await trx
    .selectFrom('model_version')
    .selectAll()
    .where('name', '=', name)
    .where('version', '=', version)
    .executeTakeFirst();
  if (row === undefined)
    throw new MobiusError(
      'NOT_FOUND',
      `Model Version (name=${name}, version=${version}) not found`,
    );
  return row;
}

/** Creates, reads, stages, tags, searches and deletes model versions. */
export class ModelVersionService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /**
   * Adds the next version of a model. The number comes from incrementing the model's
   * counter inside the same transaction, so concurrent creates get 1, 2, 3… without
   * gaps or duplicates, and a deleted version's number is never handed out again.
   */
  async create(input: CreateVersionInput): Promise<ModelVersion> {
    const name = modelKey(input.name);
    if (typeof input.source !== 'string' || input.source.trim() === '')
      throw new MobiusError('INVALID_ARGUMENT', 'a model version needs a non-empty source');
    checkValueLength('model version', 'source', input.source, limits.MAX_PARAM_VALUE_LENGTH);
    await this.#checkSource(input);
    const tags = checkTags(input.tags ?? {});
    const now = this.clock.now();
    const version = await this.store.write(async (trx) => {
      const counter = await trx
        .updateTable('registered_model')
        .set((eb) => ({ last_version: eb('last_version', '+', 1), updated_at: now }))
        .where('name', '=', name)
        .returning('last_version')
        .executeTakeFirst();
      if (counter === undefined)
        throw new MobiusError('NOT_FOUND', `Registered Model with name=${input.name} not found`);
      // The run is a reference, not a foreign key: like MLflow's registry (which may live
      // apart from the tracking server), a version may name a run this server never saw.
      await trx
        .insertInto('model_version')
        .values({
          name,
          version: counter.last_version,
          source: input.source,
          run_id: input.runId ?? null,
          run_link: input.runLink ?? null,
          description: input.description ?? null,
          status_message: null,
          user_id: input.userId ?? null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      if (tags.length > 0)
        await trx
          .insertInto('model_version_tag')
          .values(tags.map((t) => ({ name, version: counter.last_version, ...t })))
          .execute();
      return counter.last_version;
    });
    return this.get(name, version);
  }

  /** Refuses a source outside the artifacts of the run or logged model it claims (see model-source.ts). */
  async #checkSource(input: CreateVersionInput): Promise<void> {
    const db = this.store.db;
    const run =
      input.runId === undefined
        ? undefined
        : await db
            .selectFrom('run')
            .select('artifact_uri')
            .where('id', '=', input.runId)
            .executeTakeFirst();
    const model =
      input.modelId === undefined
        ? undefined
        : await db
            .selectFrom('logged_model')
            .select('artifact_uri')
            .where('id', '=', input.modelId)
            .executeTakeFirst();
    checkModelSource(input.source, {
      runId: input.runId,
      runRoot: run?.artifact_uri ?? undefined,
      modelId: input.modelId,
      modelRoot: model?.artifact_uri,
    });
  }

  /** Version `version` of model `name`; NOT_FOUND otherwise. */
  async get(name: string, version: number): Promise<ModelVersion> {
    const row = await this.store.db
      .selectFrom('model_version')
      .selectAll()
      .where('name', '=', modelKey(name))
      .where('version', '=', version)
      .executeTakeFirst();
    if (row === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `Model Version (name=${name}, version=${version}) not found`,
      );
    return (await hydrateVersions(this.store.db, [row]))[0]!;
  }

  /** Replaces a version's description. */
  async updateDescription(
    name: string,
    version: number,
    description: string,
  ): Promise<ModelVersion> {
    const key = modelKey(name);
    await this.store.write(async (trx) => {
      await requireVersion(trx, key, version);
      await trx
        .updateTable('model_version')
        .set({ description, updated_at: this.clock.now() })
        .where('name', '=', key)
        .where('version', '=', version)
        .execute();
    });
    return this.get(key, version);
  }

  /** Deletes a version with its tags and the aliases pointing at it. */
  async delete(name: string, version: number): Promise<void> {
    const key = modelKey(name);
    await this.store.write(async (trx) => {
      const result = await trx
        .deleteFrom('model_version')
        .where('name', '=', key)
        .where('version', '=', version)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n)
        throw new MobiusError(
          'NOT_FOUND',
          `Model Version (name=${name}, version=${version}) not found`,
        );
      await trx
        .updateTable('registered_model')
        .set({ updated_at: this.clock.now() })
        .where('name', '=', key)
        .execute();
    });
  }

  /** Versions matching `filter`, ordered, paged by offset. */
  async search(options: SearchVersionsOptions = {}): Promise<RegistryPage<ModelVersion>> {
    const maxResults = options.maxResults ?? SEARCH_VERSIONS_DEFAULT;
    if (!Number.isSafeInteger(maxResults) || maxResults < 1 || maxResults > SEARCH_VERSIONS_MAX)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `max_results must be between 1 and ${SEARCH_VERSIONS_MAX}, not ${maxResults}`,
      );
    const offset = options.offset ?? 0;
    const filter = parseRegistryFilter(options.filter, Object.keys(FILTER_COLUMNS));
    const order = parseRegistryOrderBy(options.orderBy ?? [], ORDER_KEYS);
    let query = this.store.db.selectFrom('model_version').selectAll();
    if (filter !== undefined)
      query = query.where(
        registryFilterSql(filter, (c) => {
          const values = c.attribute === 'name' ? c.values.map(modelKey) : c.values;
          return c.tagKey === undefined
            ? comparisonSql(`model_version.${FILTER_COLUMNS[c.attribute]!}`, { ...c, values })
            : tagComparisonSql(
                'model_version_tag',
                [
                  ['name', 'model_version.name'],
                  ['version', 'model_version.version'],
                ],
                c,
              );
        }),
      );
    // No order_by: most recently updated first, as MLflow's store (then name, then version).
    if (order.length === 0) query = query.orderBy('updated_at', 'desc');
    for (const o of order)
      query = query.orderBy(orderExpression(this.store.dialect, o.column), o.direction);
    if (!order.some((o) => o.column === 'name'))
      query = query.orderBy(orderExpression(this.store.dialect, 'name'), 'asc');
    if (!order.some((o) => o.column === 'version')) query = query.orderBy('version', 'desc');
    const rows = await query
      .limit(maxResults + 1)
      .offset(offset)
      .execute();
    const items = await hydrateVersions(this.store.db, rows.slice(0, maxResults));
    return rows.length > maxResults ? { items, nextOffset: offset + maxResults } : { items };
  }

  /** The newest version in each of `stages` (default: every stage); NOT_FOUND for an unknown model. */
  async latest(name: string, stages: readonly string[] = []): Promise<ModelVersion[]> {
    const key = modelKey(name);
    const wanted = stages.map(parseStage);
    const exists = await this.store.db
      .selectFrom('registered_model')
      .select('name')
      .where('name', '=', key)
      .executeTakeFirst();
    if (exists === undefined)
      throw new MobiusError('NOT_FOUND', `Registered Model with name=${name} not found`);
    const rows = await latestVersionRows(
      this.store.db,
      [key],
      wanted.length === 0 ? undefined : wanted,
    );
    return hydrateVersions(this.store.db, rows);
  }

  /**
   * Moves a version to `stage`. With `archiveExisting` and a Staging/Production target,
   * the model's other versions in that stage move to Archived in the same transaction.
   */
  async transitionStage(
    name: string,
    version: number,
    stage: string,
    archiveExisting = false,
  ): Promise<ModelVersion> {
    const to = parseStage(stage);
    if (archiveExisting && !canArchiveExisting(to))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `archive_existing_versions only applies to Staging and Production, not '${to}'`,
      );
    const key = modelKey(name);
    const now = this.clock.now();
    await this.store.write(async (trx) => {
      await requireVersion(trx, key, version);
      if (archiveExisting)
        await trx
          .updateTable('model_version')
          .set({ current_stage: 'Archived', updated_at: now })
          .where('name', '=', key)
          .where('current_stage', '=', to)
          .where('version', '!=', version)
          .execute();
      await trx
        .updateTable('model_version')
        .set({ current_stage: to, updated_at: now })
        .where('name', '=', key)
        .where('version', '=', version)
        .execute();
      await trx
        .updateTable('registered_model')
        .set({ updated_at: now })
        .where('name', '=', key)
        .execute();
    });
    return this.get(key, version);
  }

  /** Sets (or overwrites) a version tag. */
  async setTag(name: string, version: number, key: string, value: string): Promise<void> {
    const [tag] = checkTags({ [key]: value });
    const model = modelKey(name);
    await this.store.write(async (trx) => {
      await requireVersion(trx, model, version);
      await trx
        .insertInto('model_version_tag')
        .values({ name: model, version, ...tag! })
        .onConflict((oc) =>
          oc.columns(['name', 'version', 'key']).doUpdateSet({ value: tag!.value }),
        )
        .execute();
    });
  }

  /** Removes a version tag; NOT_FOUND when the version or the tag is missing. */
  async deleteTag(name: string, version: number, key: string): Promise<void> {
    const model = modelKey(name);
    await this.store.write(async (trx) => {
      await requireVersion(trx, model, version);
      const result = await trx
        .deleteFrom('model_version_tag')
        .where('name', '=', model)
        .where('version', '=', version)
        .where('key', '=', key)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n)
        throw new MobiusError(
          'NOT_FOUND',
          `version ${version} of registered model '${name}' has no tag '${key}'`,
        );
    });
  }

  /**
   * Where the version's files are: its source, or — for a copy, whose source is another
   * version (`models:/<name>/<version>`, what MLflow's copy_model_version writes) — that
   * version's files, followed as MLflow's storage location does. A copy whose original is
   * gone answers its own source.
   */
  async downloadUri(name: string, version: number): Promise<string> {
    let source = (await this.get(name, version)).source;
    // A bounded walk: a chain of copies is short, and renames cannot make a loop endless.
    for (let hop = 0; hop < MAX_COPY_HOPS; hop++) {
      const ref = /^models:\/([^/@]+)\/(\d+)$/.exec(source);
      if (ref === null) break;
      const row = await this.store.db
        .selectFrom('model_version')
        .select('source')
        .where('name', '=', modelKey(ref[1]!))
        .where('version', '=', Number(ref[2]))
        .executeTakeFirst();
      if (row === undefined) break;
      source = row.source;
    }
    return source;
  }
}
