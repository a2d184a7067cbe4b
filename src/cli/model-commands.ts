/**
 * `mobius models …`: the model registry from the terminal — list models, show one
 * with its versions, and point or remove aliases. Local store only, like `runs`.
 */
import { Option, type Command } from 'commander';
import { MobiusError } from '../core/index.js';
import {
  SEARCH_MODELS_MAX,
  SEARCH_VERSIONS_MAX,
  parseVersion,
  type ModelVersion,
  type RegisteredModel,
} from '../registry/index.js';
import { emit, table } from './output.js';
import { formatTime, withLocalContext, type CommandDeps } from './run-commands.js';

/** Adds `mobius models ls|show|alias` to `program`. */
export function registerModelCommands(program: Command, deps: CommandDeps): void {
  const models = program.command('models').description('list registered models and manage aliases');

  models
    .command('ls')
    .description('list registered models with their latest version per stage and aliases')
    .option('-f, --filter <filter>', 'registry filter, e.g. "name LIKE \'churn%\'"')
    .addOption(
      new Option('-n, --max <n>', `most models to show (default 100, at most ${SEARCH_MODELS_MAX})`)
        .argParser((value: string) => parseCount('--max', value, SEARCH_MODELS_MAX))
        .default(100),
    )
    .action(async (options: { filter?: string; max: number }, command: Command) => {
      const page = await withLocalContext(await deps.config(command), 'models ls', (ctx) =>
        ctx.registry.models.search({ filter: options.filter, maxResults: options.max }),
      );
      const result = {
        models: page.items,
        ...(page.nextOffset === undefined ? {} : { nextOffset: page.nextOffset }),
      };
      emit(deps.json(command), result, () => modelsTable(page.items, page.nextOffset));
    });

  models
    .command('show <name>')
    .description('show a registered model and all its versions (stage, aliases, source, run)')
    .action(async (name: string, _options: unknown, command: Command) => {
      const shown = await withLocalContext(
        await deps.config(command),
        'models show',
        async (ctx) => {
          const model = await ctx.registry.models.get(name);
          const versions: ModelVersion[] = [];
          // Page through: a long-lived model can have more versions than one page holds.
          for (let offset: number | undefined = 0; offset !== undefined;) {
            const page = await ctx.registry.versions.search({
              filter: `name = ${quote(model.name)}`,
              maxResults: SEARCH_VERSIONS_MAX,
              offset,
            });
            versions.push(...page.items);
            offset = page.nextOffset;
          }
          versions.sort((a, b) => b.version - a.version);
          return { model, versions };
        },
      );
      emit(deps.json(command), shown, () => modelDetails(shown.model, shown.versions));
    });

  models
    .command('alias <name> <alias> [version]')
    .description('point an alias (e.g. champion) at a version, or remove it with --delete')
    .option('-d, --delete', 'remove the alias instead of setting it')
    .action(
      async (
        name: string,
        alias: string,
        version: string | undefined,
        options: { delete?: boolean },
        command: Command,
      ) => {
        const cfg = await deps.config(command);
        if (options.delete === true) {
          if (version !== undefined)
            throw new MobiusError(
              'INVALID_ARGUMENT',
              'give no version with --delete: the alias is removed whatever it names',
            );
          await withLocalContext(cfg, 'models alias', (ctx) =>
            ctx.registry.aliases.delete(name, alias),
          );
          emit(
            deps.json(command),
            { name, alias, deleted: true },
            () => `removed alias '${alias}' of '${name}'`,
          );
          return;
        }
        if (version === undefined)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `say which version '${alias}' should name: mobius models alias ${name} ${alias} <version>`,
          );
        const n = parseVersion(version);
        await withLocalContext(cfg, 'models alias', (ctx) =>
          ctx.registry.aliases.set(name, alias, n),
        );
        emit(
          deps.json(command),
          { name, alias, version: n },
          () => `alias '${alias}' of '${name}' now names version ${n}`,
        );
      },
    );
}

/** A registry-filter string literal; the filter parser unescapes `\x` to `x`. */
function quote(value: string): string {
  return `'${value.replace(/[\\']/g, '\\$&')}'`;
}

function parseCount(flag: string, value: string, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${flag} must be a whole number from 1 to ${max}, not '${value}'`,
    );
  return n;
}

function modelsTable(models: RegisteredModel[], nextOffset: number | undefined): string {
  if (models.length === 0) return 'no registered models';
  const rows = models.map((m) => [
    m.name,
    m.latestVersions.map((v) => `${v.currentStage}:${v.version}`).join(', '),
    m.aliases.map((a) => `${a.alias}=${a.version}`).join(', '),
    formatTime(m.updatedAt),
  ]);
  const text = table(['NAME', 'LATEST', 'ALIASES', 'UPDATED'], rows);
  return nextOffset === undefined ? text : `${text}\n(more models match; raise --max to see them)`;
}

function modelDetails(model: RegisteredModel, versions: ModelVersion[]): string {
  const lines = [`name         ${model.name}`];
  if (model.description !== null && model.description !== '')
    lines.push(`description  ${model.description}`);
  lines.push(`updated      ${formatTime(model.updatedAt)}`);
  const tags = Object.entries(model.tags);
  if (tags.length > 0) lines.push(`tags         ${tags.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  lines.push('');
  lines.push(
    versions.length === 0
      ? 'no versions'
      : table(
          ['VERSION', 'STAGE', 'ALIASES', 'STATUS', 'RUN', 'SOURCE'],
          versions.map((v) => [
            String(v.version),
            v.currentStage,
            v.aliases.join(', '),
            v.status,
            v.runId ?? '',
            v.source,
          ]),
        ),
  );
  return lines.join('\n');
}
