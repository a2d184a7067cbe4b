/**
 * Aliases: mutable names (`champion`, `prod`) for one version of a model, resolved by
 * `models:/<name>@<alias>` URIs. The name rules are MLflow's (mlflow/utils/validation.py),
 * so an alias valid here is valid there and the other way round.
 */
import { MobiusError, limits, newId, systemClock, type Clock } from '../core/index.js';
import type { Store } from '../store/index.js';
import { checkForce, latestVerdict, type ForceAlias } from './evaluations.js';
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

/** Aliases that need a passing evaluation unless the config says otherwise. */
export const DEFAULT_PROTECTED_ALIASES: readonly string[] = ['production', 'champion'];

/** How an alias is set: who sets it, and an audited override of the evaluation gate. */
export interface SetAliasOptions {
  /** Recorded in a protected alias's history. */
  user?: string | undefined;
  /** Sets a protected alias on a version without a passing evaluation, recording why. */
  force?: ForceAlias | undefined;
}

/** Points aliases at versions, removes them, and resolves them. */
export class AliasService {
  /**
   * `protectedAliases` (default none) may only be pointed at a version whose newest
   * evaluation passed, or with `force` and a reason; each move of one is recorded.
   */
  constructor(
    private readonly store: Store,
    private readonly clock: Clock = systemClock,
    readonly protectedAliases: readonly string[] = [],
  ) {}

  /**
   * Points `alias` at `version`, moving it if it named another version. A protected alias
   * (production, champion) needs the version's newest evaluation to have passed, or
   * `force` with a reason; CONFLICT otherwise, saying how to evaluate.
   *
   * @example
   * await aliases.set('churn', 'production', 3, { user: 'ana', force: { reason: 'hotfix' } });
   */
  async set(
    name: string,
    alias: string,
    version: number,
    options: SetAliasOptions = {},
  ): Promise<void> {
    checkAlias(alias);
    const model = modelKey(name);
    const force = options.force === undefined ? undefined : checkForce(options.force);
    const guarded = this.protectedAliases.includes(alias);
    await this.store.write(async (trx) => {
      await requireVersion(trx, model, version);
      const previous = await trx
        .selectFrom('registered_model_alias')
        .select('version')
        .where('name', '=', model)
        .where('alias', '=', alias)
        .executeTakeFirst();
      if (guarded && previous?.version !== version) {
        // The verdict is read in the move's own transaction: the gate judges the newest
        // evaluation committed when the alias moves, and the audit row commits with the move.
        const latest = await latestVerdict(trx, model, version);
        const passed = latest?.verdict === 'pass';
        if (!passed && force === undefined)
          throw new MobiusError(
            'CONFLICT',
            `alias '${alias}' is protected: version ${version} of '${name}' ${
              latest === undefined
                ? 'has no evaluation'
                : `failed its newest evaluation (${latest.reasons.slice(0, 3).join('; ')})`
            }. Run \`mobius models evaluate ${name}@${version} --against ${alias} --data <dataset>@<version> --label <column>\` until it passes, or override (audited) with --force --reason "<why>" (CLI), {"force": true, "reason": "<why>"} (API) or the header X-Mobius-Force: <why> (MLflow REST)`,
            { details: { alias, version, gate: latest?.verdict ?? 'none' } },
          );
        await trx
          .insertInto('model_alias_event')
          .values({
            id: newId(),
            name: model,
            version,
            alias,
            previous_version: previous?.version ?? null,
            gate: passed ? 'passed' : 'forced',
            evaluation_id: latest?.id ?? null,
            reason: passed ? (force?.reason ?? null) : force!.reason,
            user_id: force?.user ?? options.user ?? null,
            created_at: this.clock.now(),
          })
          .execute();
      }
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
