/**
 * Aliases: mutable names (`champion`, `prod`) for one version of a model, resolved by
 * `models:/<name>@<alias>` URIs. The name rules are MLflow's (mlflow/utils/validation.py),
 * so an alias valid here is valid there and the other way round.
 */
import { MobiusError, limits } from '../core/index.js';
import type { Store } from '../store/index.js';
import { hydrateVersions } from './hydrate.js';
import { modelKey, requireModel } from './models.js';
import { requireVersion } from './versions.js';
import type { ModelVersion } from './types.js';

/** Longest alias MLflow accepts (the rules and their reasons live in core/limits.ts). */
export const { MAX_ALIAS_LENGTH } = limits;

/** Checks an alias against MLflow's rules; returns it unchanged. */
export function checkAlias(alias: unknown): string {
  if (typeof alias !== 'string' || alias === '')
    throw new MobiusError('INVALID_ARGUMENT', 'an alias must be a non-empty string');
  if (alias.length > MAX_ALIAS_LENGTH)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `alias is ${alias.length} characters; the limit is ${MAX_ALIAS_LENGTH}`,
    );
  if (!limits.ALIAS_PATTERN.test(alias))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `alias '${alias}' may contain only letters, digits, '_' and '-'`,
    );
  if (limits.RESERVED_ALIASES.some((r) => r.test(alias)))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `alias '${alias}' is reserved ('latest' and 'v<number>' name versions in models:/ URIs)`,
    );
  return alias;
}

/** Points aliases at versions, removes them, and resolves them. */
export class AliasService {
  constructor(private readonly store: Store) {}

  /** Points `alias` at `version`, moving it if it named another version. */
  async set(name: string, alias: string, version: number): Promise<void> {
    checkAlias(alias);
    const model = modelKey(name);
    await this.store.write(async (trx) => {
      await requireVersion(trx, model, version);
      await trx
        .insertInto('registered_model_alias')
        .values({ name: model, alias, version })
        .onConflict((oc) => oc.columns(['name', 'alias']).doUpdateSet({ version }))
        .execute();
    });
  }

  /** Removes `alias`; like MLflow, removing an alias that is not set does nothing. */
  async delete(name: string, alias: string): Promise<void> {
    const model = modelKey(name);
    await this.store.write(async (trx) => {
      await requireModel(trx, model);
      await trx
        .deleteFrom('registered_model_alias')
        .where('name', '=', model)
        .where('alias', '=', alias)
        .execute();
    });
  }

  /** The version `alias` names; NOT_FOUND when the model or the alias is missing. */
  async get(name: string, alias: string): Promise<ModelVersion> {
    const model = modelKey(name);
    const row = await this.store.db
      .selectFrom('registered_model_alias as a')
      .innerJoin('model_version as v', (j) =>
        j.onRef('v.name', '=', 'a.name').onRef('v.version', '=', 'a.version'),
      )
      .selectAll('v')
      .where('a.name', '=', model)
      .where('a.alias', '=', alias)
      .executeTakeFirst();
    if (row === undefined) {
      const exists = await this.store.db
        .selectFrom('registered_model')
        .select('name')
        .where('name', '=', model)
        .executeTakeFirst();
      throw new MobiusError(
        'NOT_FOUND',
        exists === undefined
          ? `Registered Model with name=${name} not found`
          : `registered model '${name}' has no alias '${alias}'`,
      );
    }
    return (await hydrateVersions(this.store.db, [row]))[0]!;
  }
}
