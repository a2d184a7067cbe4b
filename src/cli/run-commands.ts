/**
 * `mobius runs …`: list, show and compare tracked runs from the terminal. These read
 * the store directly; remote mode (MOBIUS_URL) is refused until the server grows the
 * matching endpoints, rather than silently reading a different store than the user meant.
 */
import { Option, type Command } from 'commander';
import { MobiusError, isMobiusError, type MobiusConfig } from '../core/index.js';
import { openMobius, type MobiusContext } from '../context/index.js';
import type { MetricPoint, Run, RunComparison } from '../tracking/index.js';
import { emit, table } from './output.js';

/** What a command file needs from `main.ts`: the merged config and the `--json` flag. */
export interface CommandDeps {
  config(command: Command): Promise<MobiusConfig>;
  json(command: Command): boolean;
}

/** Runs per `runs ls` unless `--max` says otherwise: a screenful-ish, not the whole store. */
const DEFAULT_MAX_RUNS = 100;
/** The store's own ceiling for one search page (see tracking/search). */
const MAX_RUNS = 50_000;
/** Metric columns in the `runs ls` table; more would wrap on an 80–160 column terminal. */
const MAX_METRIC_COLUMNS = 4;

/**
 * Opens the local context for one command and closes it after; refuses MOBIUS_URL.
 *
 * @example
 * const run = await withLocalContext(cfg, 'runs show', (ctx) => ctx.tracking.runs.get(id));
 */
export async function withLocalContext<T>(
  config: MobiusConfig,
  what: string,
  fn: (ctx: MobiusContext) => Promise<T>,
): Promise<T> {
  if (config.url !== undefined) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `'mobius ${what}' does not support remote mode yet; unset MOBIUS_URL (${config.url}) and point --store at the database`,
    );
  }
  const ctx = await openMobius(config, { migrate: true });
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

/** Adds `mobius runs ls|show|compare` to `program`. */
export function registerRunCommands(program: Command, deps: CommandDeps): void {
  const runs = program.command('runs').description('list, inspect and compare tracked runs');

  runs
    .command('ls')
    .description('list runs, newest first, with their latest metrics')
    .option('-e, --experiment <nameOrId>', 'only runs of this experiment (default: all active)')
    .option(
      '-f, --filter <filter>',
      'MLflow search filter, e.g. "metrics.acc > 0.9 and params.opt = \'adam\'"',
    )
    .option(
      '-o, --order-by <clause>',
      "sort clause, e.g. 'metrics.acc DESC' (repeatable)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .addOption(
      new Option('-n, --max <n>', `most runs to show (default ${DEFAULT_MAX_RUNS})`).argParser(
        parseMax,
      ),
    )
    .action(
      async (
        options: { experiment?: string; filter?: string; orderBy?: string[]; max?: number },
        command: Command,
      ) => {
        const page = await withLocalContext(await deps.config(command), 'runs ls', async (ctx) => {
          const experimentIds =
            options.experiment === undefined
              ? (await ctx.tracking.experiments.list({ viewType: 'ACTIVE_ONLY' })).map((e) => e.id)
              : [(await resolveExperiment(ctx, options.experiment)).id];
          if (experimentIds.length === 0) return { runs: [] };
          return ctx.tracking.runs.search({
            experimentIds,
            filter: options.filter ?? null,
            orderBy: options.orderBy ?? null,
            maxResults: options.max ?? DEFAULT_MAX_RUNS,
          });
        });
        emit(deps.json(command), page, () => runsTable(page.runs, page.nextPageToken));
      },
    );

  runs
    .command('show <runId>')
    .description('show one run: info, params, tags and latest metrics')
    .option('-a, --all', "include MLflow's own tags (mlflow.*)")
    .action(async (runId: string, options: { all?: boolean }, command: Command) => {
      const run = await withLocalContext(await deps.config(command), 'runs show', (ctx) =>
        ctx.tracking.runs.get(runId),
      );
      const shown: Run = {
        info: run.info,
        data: {
          ...run.data,
          tags: options.all === true ? run.data.tags : userTags(run.data.tags),
        },
      };
      emit(deps.json(command), shown, () => runDetails(shown));
    });

  runs
    .command('compare <runIds...>')
    .description('compare params and latest metrics of two or more runs, marking differences')
    .action(async (runIds: string[], _options: unknown, command: Command) => {
      if (runIds.length < 2)
        throw new MobiusError('INVALID_ARGUMENT', 'compare needs at least two run ids');
      const comparison = await withLocalContext(await deps.config(command), 'runs compare', (ctx) =>
        ctx.tracking.compareRuns(runIds),
      );
      const shown = { runIds, rows: comparisonRows(comparison), ...comparison };
      emit(deps.json(command), shown, () => comparisonTable(runIds, shown.rows));
    });
}

/** An experiment by name, falling back to id (names win: ids are numbers users rarely type). */
async function resolveExperiment(ctx: MobiusContext, nameOrId: string) {
  try {
    return await ctx.tracking.experiments.getByName(nameOrId);
  } catch (error) {
    if (!isMobiusError(error) || error.code !== 'NOT_FOUND') throw error;
  }
  try {
    return await ctx.tracking.experiments.get(nameOrId);
  } catch (error) {
    if (isMobiusError(error) && error.code === 'NOT_FOUND')
      throw new MobiusError('NOT_FOUND', `no experiment named or numbered '${nameOrId}'`, {
        cause: error,
      });
    throw error;
  }
}

function parseMax(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_RUNS)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `--max must be a whole number from 1 to ${MAX_RUNS}, not '${value}'`,
    );
  return n;
}

/** Tags without MLflow's bookkeeping (`mlflow.runName`, `mlflow.user`, …). */
function userTags(tags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([key]) => !key.startsWith('mlflow.')));
}

function runsTable(runs: Run[], nextPageToken: string | undefined): string {
  if (runs.length === 0) return 'no runs';
  const metricKeys = [...new Set(runs.flatMap((r) => r.data.metrics.map((m) => m.key)))].sort();
  const shownKeys = metricKeys.slice(0, MAX_METRIC_COLUMNS);
  const rows = runs.map((r) => {
    const latest = new Map(r.data.metrics.map((m) => [m.key, m.value]));
    return [
      r.info.id,
      r.info.name ?? '',
      r.info.status,
      formatTime(r.info.startTime),
      formatDuration(r.info.startTime, r.info.endTime),
      ...shownKeys.map((k) => (latest.has(k) ? formatValue(latest.get(k)!) : '')),
    ];
  });
  const lines = [table(['RUN ID', 'NAME', 'STATUS', 'START', 'DURATION', ...shownKeys], rows)];
  const hidden = metricKeys.length - shownKeys.length;
  if (hidden > 0)
    lines.push(`(${hidden} more metrics not shown; see 'mobius runs show <run-id>' or --json)`);
  if (nextPageToken !== undefined) lines.push('(more runs match; raise --max to see them)');
  return lines.join('\n');
}

function runDetails(run: Run): string {
  const { info, data } = run;
  const section = (title: string, body: string) => `\n${title}\n${indent(body)}`;
  const pairs = (record: Record<string, string>) =>
    Object.keys(record).length === 0
      ? '(none)'
      : table(
          ['KEY', 'VALUE'],
          Object.entries(record)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => [k, v]),
        );
  const metrics =
    data.metrics.length === 0
      ? '(none)'
      : table(
          ['KEY', 'VALUE', 'STEP', 'TIME'],
          [...data.metrics]
            .sort((a, b) => a.key.localeCompare(b.key))
            .map((m: MetricPoint) => [
              m.key,
              formatValue(m.value),
              String(m.step),
              formatTime(m.timestamp),
            ]),
        );
  const infoRows: [string, string][] = [
    ['id', info.id],
    ['name', info.name ?? ''],
    ['experiment', info.experimentId],
    ['status', info.status],
    ['start', formatTime(info.startTime)],
    ['end', info.endTime === null ? '' : formatTime(info.endTime)],
    ['duration', formatDuration(info.startTime, info.endTime)],
    ['user', info.userId ?? ''],
    ['artifacts', info.artifactUri],
  ];
  if (info.parentRunId !== null) infoRows.push(['parent', info.parentRunId]);
  if (info.lifecycleStage !== 'active') infoRows.push(['lifecycle', info.lifecycleStage]);
  const width = Math.max(...infoRows.map(([k]) => k.length));
  return [
    infoRows.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join('\n'),
    section('params', pairs(data.params)),
    section('metrics', metrics),
    section('tags', pairs(data.tags)),
  ].join('\n');
}

/** One line of the comparison table: a run attribute, param or metric, a value per run. */
export interface ComparisonRow {
  key: string;
  /** One per run, in the order asked for; null where the run lacks the key. */
  values: (string | number | null)[];
  differs: boolean;
}

/** The domain's comparison flattened to table rows: name, status, params.*, metrics.* (latest). */
function comparisonRows(c: RunComparison): ComparisonRow[] {
  const attribute = (key: string, values: (string | null)[]): ComparisonRow => ({
    key,
    values,
    differs: new Set(values).size > 1,
  });
  return [
    attribute(
      'name',
      c.runs.map((r) => r.name),
    ),
    attribute(
      'status',
      c.runs.map((r) => r.status),
    ),
    ...c.params.map((p) => ({ key: `params.${p.key}`, values: p.values, differs: p.differs })),
    ...c.metrics.map((m) => ({ key: `metrics.${m.key}`, values: m.latest, differs: m.differs })),
  ];
}

function comparisonTable(runIds: string[], comparisonRows: ComparisonRow[]): string {
  // Run ids are 32 hex digits; eight tell runs apart in practice and keep columns narrow.
  const headers = ['', 'KEY', ...runIds.map((id) => id.slice(0, 8))];
  const rows = comparisonRows.map((row) => [
    row.differs ? '*' : '',
    row.key,
    ...row.values.map((v) => (v === null ? '-' : typeof v === 'number' ? formatValue(v) : v)),
  ]);
  return `${table(headers, rows)}\n(* marks values that differ; - means the run has none)`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

/** Times in UTC to the second: what `runs ls` needs to tell runs apart. */
export function formatTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

function formatDuration(start: number, end: number | null): string {
  if (end === null) return '';
  let seconds = Math.max(0, Math.round((end - start) / 1000));
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, '0')}m`;
  if (minutes > 0) return `${minutes}m${String(seconds).padStart(2, '0')}s`;
  return `${seconds}s`;
}

/** Six significant digits: enough to compare runs, short enough for a column. */
function formatValue(value: number): string {
  return Number.isFinite(value) && !Number.isInteger(value)
    ? String(Number(value.toPrecision(6)))
    : String(value);
}
