/** Registered models: named, described, tagged containers of numbered versions. */
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
  type Store,
  type Transaction,
  type Database,
} from '../store/index.js';
import { hydrateModels } from './hydrate.js';
import {
  comparisonSql,
  parseRegistryFilter,
  registryFilterSql,
  parseRegistryOrderBy,
  tagComparisonSql,
  orderExpression,
} from './search-filter.js';
import type { RegisteredModel, RegistryPage } from './types.js';

/** What a registered-model search accepts. */
export interface SearchModelsOptions {
  /** e.g. `name = 'churn'`, `name LIKE 'churn%'`, `name ILIKE '%CHURN%'`. */
  filter?: string | undefined;
  /** e.g. `['last_updated_timestamp DESC']`; name ascending breaks ties and is the default. */
  orderBy?: readonly string[] | undefined;
  maxResults?: number | undefined;
  offset?: number | undefined;
}

/** MLflow's default and ceiling for search_registered_models (reasons in core/limits.ts). */
export const { SEARCH_MODELS_DEFAULT, SEARCH_MODELS_MAX } = limits;

const ORDER_KEYS = {
  name: 'name',
  last_updated_timestamp: 'updated_at',
  timestamp: 'updated_at',
  creation_timestamp: 'created_at',
} as const;

/** Model names compare after NFC normalisation, so look-alike spellings are one model. */
export function modelKey(name: string): string {
  return name.normalize('NFC');
}

/** Throws NOT_FOUND unless registered model `name` exists (inside `trx`). */
export async function requireModel(trx: Transaction<Database>, name: string): Promise<void> {
  const row = await trx
    .selectFrom('registered_model')
    .select('name')
    .where('name', '=', name)
    .executeTakeFirst();
  if (row === undefined)
    throw new MobiusError('NOT_FOUND', `Registered Model with name=${name} not found`);
}

/** Creates, reads, renames, describes, tags, searches and deletes registered models. */
export class RegisteredModelService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Creates a model; ALREADY_EXISTS when the name (after NFC) is taken. */
  async create(input: {
    name: string;
    description?: string | undefined;
    tags?: Record<string, string> | undefined;
  }): Promise<RegisteredModel> {
    const name = checkDisplayName('registered model', input.name);
    const tags = checkTags(input.tags ?? {});
    const now = this.clock.now();
    try {
      await this.store.write(async (trx) => {
        await trx
          .insertInto('registered_model')
          .values({
            name,
            description: input.description ?? null,
            created_at: now,
            updated_at: now,
          })
          .execute();
        if (tags.length > 0)
          await trx
            .insertInto('registered_model_tag')
            .values(tags.map((t) => ({ name, ...t })))
            .execute();
      });
    } catch (error) {
      if (constraintViolation(error) === 'unique')
        throw new MobiusError('ALREADY_EXISTS', `Registered Model (name=${name}) already exists`);
      throw error;
    }
    return this.get(name);
  }

  /** The model named `name`; NOT_FOUND otherwise. */
  async get(name: string): Promise<RegisteredModel> {
    const row = await this.store.db
      .selectFrom('registered_model')
      .selectAll()
      .where('name', '=', modelKey(name))
      .executeTakeFirst();
    if (row === undefined)
      throw new MobiusError('NOT_FOUND', `Registered Model with name=${name} not found`);
    return (await hydrateModels(this.store.db, [row]))[0]!;
  }

  /**
   * Renames a model. One UPDATE in one transaction: its tags, versions, version tags and
   * aliases follow through ON UPDATE CASCADE.
   */
  async rename(name: string, newName: string): Promise<RegisteredModel> {
    const to = checkDisplayName('registered model', newName);
    const from = modelKey(name);
    try {
      await this.store.write(async (trx) => {
        const result = await trx
          .updateTable('registered_model')
          .set({ name: to, updated_at: this.clock.now() })
          .where('name', '=', from)
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n)
          throw new MobiusError('NOT_FOUND', `Registered Model with name=${name} not found`);
      });
    } catch (error) {
      if (constraintViolation(error) === 'unique')
        throw new MobiusError('ALREADY_EXISTS', `Registered Model (name=${to}) already exists`);
      throw error;
    }
    return this.get(to);
  }

  /** Replaces a model's description ('' clears it). */
  async updateDescription(name: string, description: string): Promise<RegisteredModel> {
    const key = modelKey(name);
    await this.store.write(async (trx) => {
      const result = await trx
        .updateTable('registered_model')
        .set({ description, updated_at: this.clock.now() })
        .where('name', '=', key)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n)
        throw new MobiusError('NOT_FOUND', `Registered Model with name=${name} not found`);
    });
    return this.get(key);
  }

  /** Deletes a model with all its versions, tags and aliases. */
  async delete(name: string): Promise<void> {
    await this.store.write(async (trx) => {
      const result = await trx
        .deleteFrom('registered_model')
        .where('name', '=', modelKey(name))
        .executeTakeFirst();
      if (result.numDeletedRows === 0n)
        throw new MobiusError('NOT_FOUND', `Registered Model with name=${name} not found`);
    });
  }

  /** Models matching `filter`, ordered, paged by offset. */
  async search(options: SearchModelsOptions = {}): Promise<RegistryPage<RegisteredModel>> {
    const maxResults = options.maxResults ?? SEARCH_MODELS_DEFAULT;
    if (!Number.isSafeInteger(maxResults) || maxResults < 1 || maxResults > SEARCH_MODELS_MAX)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `max_results must be between 1 and ${SEARCH_MODELS_MAX}, not ${maxResults}`,
      );
    const offset = options.offset ?? 0;
    const filter = parseRegistryFilter(options.filter, ['name', 'tags']);
    const order = parseRegistryOrderBy(options.orderBy ?? [], ORDER_KEYS);
    let query = this.store.db.selectFrom('registered_model').selectAll();
    if (filter !== undefined)
      query = query.where(
        registryFilterSql(filter, (c) =>
          c.tagKey === undefined
            ? comparisonSql('registered_model.name', { ...c, values: c.values.map(modelKey) })
            : tagComparisonSql('registered_model_tag', [['name', 'registered_model.name']], c),
        ),
      );
    for (const o of order)
      query = query.orderBy(orderExpression(this.store.dialect, o.column), o.direction);
    if (!order.some((o) => o.column === 'name'))
      query = query.orderBy(orderExpression(this.store.dialect, 'name'), 'asc');
    const rows = await query
      .limit(maxResults + 1)
      .offset(offset)
      .execute();
    const items = await hydrateModels(this.store.db, rows.slice(0, maxResults));
    return rows.length > maxResults ? { items, nextOffset: offset + maxResults } : { items };
  }

  /** Sets (or overwrites) a model tag. */
  async setTag(name: string, key: string, value: string): Promise<void> {
    const [tag] = checkTags({ [key]: value });
    const model = modelKey(name);
    await this.store.write(async (trx) => {
      await requireModel(trx, model);
      await trx
        .insertInto('registered_model_tag')
        .values({ name: model, ...tag! })
        .onConflict((oc) => oc.columns(['name', 'key']).doUpdateSet({ value: tag!.value }))
        .execute();
    });
  }

  /** Removes a model tag; NOT_FOUND when the model or the tag is missing. */
  async deleteTag(name: string, key: string): Promise<void> {
    const model = modelKey(name);
    await this.store.write(async (trx) => {
      await requireModel(trx, model);
      const result = await trx
        .deleteFrom('registered_model_tag')
        .where('name', '=', model)
        .where('key', '=', key)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n)
        throw new MobiusError('NOT_FOUND', `registered model '${name}' has no tag '${key}'`);
    });
  }
}

/** Validates tag keys and values; returns them as rows. */
export function checkTags(tags: Record<string, string>): { key: string; value: string }[] {
  return Object.entries(tags).map(([key, value]) => ({
    key: checkKey('tag', key),
    value: checkValueLength('tag', key, value, limits.MAX_TAG_VALUE_LENGTH),
  }));
}
