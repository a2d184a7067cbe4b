/**
 * `mobius models …`: the model registry from the terminal — list models, show one
 * with its versions, and point or remove aliases. Local store only, like `runs`.
 */
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { MobiusError } from '../core/index.js';
import {
  SEARCH_MODELS_MAX,
  SEARCH_VERSIONS_MAX,
  evaluateModel,
  parsePolicy,
  parseVersion,
  type AliasEvent,
  type MetricSet,
  type ModelEvaluation,
  type ModelVersion,
  type RegisteredModel,
} from '../registry/index.js';
import { ExitCode, emit, table } from './output.js';
import { formatTime, withLocalContext, type CommandDeps } from './run-commands.js';

/** Adds `mobius models ls|show|alias|evaluate` to `program`. */
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
          // Each version's newest evaluation and its protected-alias history (the gate's audit trail).
          const gate = await Promise.all(
            versions.map(async (v) => ({
              version: v.version,
              evaluation: (await ctx.registry.evaluations.list(v.name, v.version))[0] ?? null,
              aliasHistory: await ctx.registry.evaluations.aliasEvents(v.name, v.version),
            })),
          );
          return {
            model,
            versions: versions.map((v, i) => ({
              ...v,
              latestEvaluation: gate[i]!.evaluation,
              aliasHistory: gate[i]!.aliasHistory,
            })),
          };
        },
      );
      emit(deps.json(command), shown, () => modelDetails(shown.model, shown.versions));
    });

  models
    .command('alias <name> <alias> [version]')
    .description(
      'point an alias (e.g. champion) at a version, or remove it with --delete; protected aliases (production, champion) need a passing `models evaluate` or --force --reason',
    )
    .option('-d, --delete', 'remove the alias instead of setting it')
    .option('--force', 'set a protected alias without a passing evaluation (audited)')
    .option('--reason <why>', 'why the gate is overridden (required with --force)')
    .action(
      async (
        name: string,
        alias: string,
        version: string | undefined,
        options: { delete?: boolean; force?: boolean; reason?: string },
        command: Command,
      ) => {
        if (options.reason !== undefined && options.force !== true)
          throw new MobiusError('INVALID_ARGUMENT', '--reason goes with --force');
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
        const user = currentUser();
        await withLocalContext(cfg, 'models alias', (ctx) =>
          ctx.registry.aliases.set(name, alias, n, {
            user,
            force: options.force === true ? { reason: options.reason ?? '', user } : undefined,
          }),
        );
        emit(
          deps.json(command),
          { name, alias, version: n },
          () => `alias '${alias}' of '${name}' now names version ${n}`,
        );
      },
    );

  models
    .command('evaluate <model>')
    .description(
      'evaluate <name>@<version|alias> on a dataset version (against the champion alias, under a policy) and store the verdict on the version; exits 1 when it fails',
    )
    .requiredOption('--data <dataset@version>', 'the dataset version to evaluate on')
    .requiredOption('--label <column>', 'the column holding the true label')
    .option('--against <alias>', 'compare with the version this alias names (e.g. production)')
    .option('--policy <file>', 'YAML policy: min, max, max_regression, max_slice_gap, task')
    .option('--slices <columns>', 'comma-separated columns to compute metrics per value of')
    .option('--features <columns>', "comma-separated feature columns in the model's input order")
    .action(
      async (
        ref: string,
        options: {
          data: string;
          label: string;
          against?: string;
          policy?: string;
          slices?: string;
          features?: string;
        },
        command: Command,
      ) => {
        const at = ref.lastIndexOf('@');
        if (at <= 0 || at === ref.length - 1)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `name the candidate as <model>@<version> or <model>@<alias>, not '${ref}'`,
          );
        const policy =
          options.policy === undefined
            ? undefined
            : parsePolicy(
                await readFile(resolve(options.policy), 'utf8').catch((error: unknown) => {
                  throw new MobiusError(
                    'INVALID_ARGUMENT',
                    `cannot read the policy file '${options.policy}': ${(error as Error).message}`,
                  );
                }),
              );
        const list = (v: string | undefined) =>
          v
            ?.split(',')
            .map((c) => c.trim())
            .filter((c) => c !== '');
        const evaluation = await withLocalContext(
          await deps.config(command),
          'models evaluate',
          (ctx) =>
            evaluateModel(ctx, {
              name: ref.slice(0, at),
              candidate: ref.slice(at + 1),
              against: options.against,
              data: options.data,
              label: options.label,
              policy,
              slices: list(options.slices),
              features: list(options.features),
              user: currentUser(),
            }),
        );
        emit(deps.json(command), evaluation, () => evaluationReport(evaluation));
        if (evaluation.verdict !== 'pass') throw new ExitCode(1);
      },
    );
}

/** The OS user running the CLI, recorded with evaluations and alias moves (undefined if unknown). */
function currentUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined; // no passwd entry for this uid (some containers)
  }
}

function formatMetric(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : Number(value.toPrecision(6)).toString();
}

/** The verdict, metrics (with the champion's beside them), slices and reasons. */
function evaluationReport(e: ModelEvaluation): string {
  const lines = [
    `${e.verdict === 'pass' ? 'PASS' : 'FAIL'}  ${e.name}@${e.version} on ${e.dataset.name}@${e.dataset.version} (${e.task}, ${e.metrics.rows} rows${e.skippedRows > 0 ? `, ${e.skippedRows} without a label skipped` : ''})`,
    '',
  ];
  const champion = e.champion;
  const names = Object.keys(e.metrics.metrics);
  lines.push(
    table(
      champion === undefined
        ? ['METRIC', 'VALUE']
        : ['METRIC', 'VALUE', `${champion.alias.toUpperCase()} (v${champion.version})`],
      names.map((m) => [
        m,
        formatMetric(e.metrics.metrics[m]),
        ...(champion === undefined ? [] : [formatMetric(champion.metrics.metrics[m])]),
      ]),
    ),
  );
  const notes = Object.entries(e.metrics.notes);
  for (const [m, note] of notes) lines.push(`  ${m}: ${note}`);
  if (e.slices.length > 0) {
    lines.push('');
    lines.push(
      table(
        ['SLICE', 'ROWS', ...names.map((m) => m.toUpperCase())],
        [
          ...e.slices.map((s: MetricSet & { column: string; value: string }) => [
            `${s.column}=${s.value}`,
            String(s.rows),
            ...names.map((m) => formatMetric(s.metrics[m])),
          ]),
          ...Object.entries(e.gaps).map(([column, gaps]) => [
            `gap(${column})`,
            '',
            ...names.map((m) => formatMetric(gaps[m])),
          ]),
        ],
      ),
    );
  }
  if (e.reasons.length > 0) {
    lines.push('', 'fails because:');
    for (const r of e.reasons) lines.push(`  - ${r}`);
  }
  return lines.join('\n');
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

type ShownVersion = ModelVersion & {
  latestEvaluation: ModelEvaluation | null;
  aliasHistory: AliasEvent[];
};

function modelDetails(model: RegisteredModel, versions: ShownVersion[]): string {
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
          ['VERSION', 'STAGE', 'ALIASES', 'EVALUATION', 'STATUS', 'RUN', 'SOURCE'],
          versions.map((v) => [
            String(v.version),
            v.currentStage,
            v.aliases.join(', '),
            v.latestEvaluation === null
              ? ''
              : `${v.latestEvaluation.verdict} (${v.latestEvaluation.dataset.name}@${v.latestEvaluation.dataset.version})`,
            v.status,
            v.runId ?? '',
            v.source,
          ]),
        ),
  );
  const history = versions.flatMap((v) => v.aliasHistory);
  if (history.length > 0) {
    lines.push('', 'protected alias history:');
    for (const h of history.sort((a, b) => b.createdAt - a.createdAt))
      lines.push(
        `  ${formatTime(h.createdAt)}  ${h.alias} → v${h.version}${h.previousVersion === null ? '' : ` (was v${h.previousVersion})`}  ${h.gate === 'forced' ? `FORCED by ${h.userId ?? 'unknown'}: ${h.reason ?? ''}` : `gate passed${h.userId === null ? '' : ` (${h.userId})`}`}`,
      );
  }
  return lines.join('\n');
}
