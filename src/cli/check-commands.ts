/**
 * `mobius check …`: run an expectation suite on a dataset version as a quality gate
 * (exit 0 on pass or warn, 1 on fail), suggest a suite, and read stored check runs.
 * Like `data …` these open the store directly.
 */
import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { MobiusError } from '../core/index.js';
import type { CheckRun, ExpectationResult } from '../data/index.js';
import { ExitCode, emit, table } from './output.js';
import { formatTime, withLocalContext } from './run-commands.js';
import type { DataCommandDeps } from './data-commands.js';

/** Adds `mobius check <suite> <ref>` and `check suggest|history|show` to `program`. */
export function registerCheckCommands(program: Command, deps: DataCommandDeps): void {
  const check = program
    .command('check')
    .description(
      'run an expectation suite on a dataset version: exit 0 on pass or warn, 1 on fail (a quality gate)',
    )
    .argument('[suite]', 'the suite file (YAML)')
    .argument('[ref]', 'the dataset version, e.g. orders@3 or orders@prod')
    .option('--full-scan', 'measure every expectation on the data instead of the stored profile')
    .option('--run <runId>', 'the tracking run this check belongs to (recorded as lineage)')
    .option('--strict', 'exit 1 on warn too')
    .action(
      async (
        suitePath: string | undefined,
        ref: string | undefined,
        options: { fullScan?: boolean; run?: string; strict?: boolean },
        command: Command,
      ) => {
        if (suitePath === undefined || ref === undefined)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            "give a suite file and a dataset version: 'mobius check suite.yaml orders@3' ('mobius check suggest orders@3' writes a first suite)",
          );
        const run = await withLocalContext(await deps.config(command), 'check', async (ctx) =>
          ctx.checks.gate(ref, await ctx.checks.loadSuite(resolve(deps.cwd, suitePath)), {
            ...(options.fullScan === true ? { fullScan: true } : {}),
            ...(options.run === undefined ? {} : { runId: options.run }),
          }),
        );
        emit(deps.json(command), run, () => runText(run));
        if (run.status === 'fail' || (options.strict === true && run.status === 'warn'))
          throw new ExitCode(1);
      },
    );

  check
    .command('suggest <ref>')
    .description("write a starting suite from a version's profile (Deequ's rules)")
    .option('-o, --out <file>', 'write the suite here (must not exist) instead of stdout')
    .action(async (ref: string, options: { out?: string }, command: Command) => {
      const suite = await withLocalContext(await deps.config(command), 'check suggest', (ctx) =>
        ctx.checks.suggest(ref),
      );
      const yaml = toYaml(suite);
      if (options.out !== undefined) {
        const path = resolve(deps.cwd, options.out);
        await writeFile(path, yaml, { flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
          throw new MobiusError(
            'INVALID_ARGUMENT',
            error.code === 'EEXIST'
              ? `'${options.out}' already exists; pick another --out or remove it`
              : `cannot write '${options.out}': ${error.message}`,
          );
        });
      }
      emit(deps.json(command), suite, () =>
        options.out === undefined
          ? yaml.trimEnd()
          : `wrote ${suite.expectations.length} expectations to ${options.out}`,
      );
    });

  check
    .command('history [dataset]')
    .description('stored check runs, newest first (of one dataset, or all)')
    .option('-n, --limit <n>', 'how many', '20')
    .action(async (dataset: string | undefined, options: { limit: string }, command: Command) => {
      const runs = await withLocalContext(await deps.config(command), 'check history', (ctx) =>
        ctx.checks.list({
          ...(dataset === undefined ? {} : { dataset }),
          limit: Number(options.limit),
        }),
      );
      emit(deps.json(command), { checks: runs }, () =>
        table(
          ['ID', 'DATASET', 'SUITE', 'STATUS', 'PASSED', 'ANOMALIES', 'WHEN'],
          runs.map((r) => [
            r.id,
            `${r.dataset}@${r.version}`,
            r.suite.name,
            r.status,
            `${r.statistics.successfulExpectations}/${r.statistics.evaluatedExpectations}`,
            String(r.anomalyCount),
            formatTime(r.createdAt),
          ]),
        ),
      );
    });

  check
    .command('show <id>')
    .description('one stored check run with every expectation result')
    .action(async (id: string, _options: unknown, command: Command) => {
      const run = await withLocalContext(await deps.config(command), 'check show', (ctx) =>
        ctx.checks.get(id),
      );
      emit(deps.json(command), run, () => runText(run));
    });
}

function runText(run: CheckRun): string {
  const s = run.statistics;
  const lines = [
    `${run.status.toUpperCase()}: ${run.suite.name} on ${run.dataset}@${run.version} — ${s.successfulExpectations}/${s.evaluatedExpectations} expectations met, ${run.scans} scan${run.scans === 1 ? '' : 's'}, ${run.durationMs.toFixed(0)} ms (check ${run.id})`,
    table(
      ['#', 'EXPECTATION', 'SEVERITY', 'RESULT', 'OBSERVED', 'UNEXPECTED'],
      run.results.map((r) => [
        String(r.index),
        describe(r),
        r.severity,
        r.success ? 'ok' : 'FAILED',
        observed(r.result.observedValue),
        r.result.unexpectedCount === undefined
          ? ''
          : `${r.result.unexpectedCount} (${(r.result.unexpectedPercent ?? 0).toFixed(2)}%)`,
      ]),
    ),
  ];
  for (const r of run.results.filter((x) => !x.success && x.result.partialUnexpectedList))
    lines.push(
      `  #${r.index} failing values: ${JSON.stringify(r.result.partialUnexpectedList!.slice(0, 5))}`,
    );
  for (const a of run.anomalies) lines.push(`  anomaly: ${a.message}`);
  return lines.join('\n');
}

function describe(r: ExpectationResult): string {
  const e = r.expectation as { expect: string; column?: string; columns?: unknown };
  const on = e.column ?? (Array.isArray(e.columns) ? e.columns.join('+') : undefined);
  return on === undefined ? e.expect : `${e.expect}(${on})`;
}

function observed(value: unknown): string {
  if (typeof value === 'number')
    return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  if (value === null || value === undefined) return '';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}…` : text;
}
