/**
 * `mobius init`, `mobius run` and `mobius pipelines …`: scaffold a project, run a
 * pipeline with live per-step progress, and look at past pipeline runs. Like `runs …`
 * these open the store directly (remote mode is refused).
 *
 * Progress: on a terminal, one line per step redrawn in place; otherwise (a pipe, CI) one
 * plain line per event; with `--json`, one JSON object per event (ndjson) and the result
 * as the last line.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { MobiusError, type MobiusConfig } from '../core/index.js';
import {
  loadPipelineFile,
  discoverPipelines,
  scaffoldProject,
  type ParamValue,
  type PipelineDefinition,
  type PipelineEvent,
  type PipelineRunResult,
  type SampleSummary,
  type StepReport,
} from '../pipelines/index.js';
import { emit, table } from './output.js';
import { formatTime, withLocalContext } from './run-commands.js';

/** What the pipeline commands need from `main.ts`. */
export interface PipelineCommandDeps {
  config(command: Command): Promise<MobiusConfig>;
  json(command: Command): boolean;
  cwd: string;
  /** The environment steps start from (PATH, HOME, …). */
  env: Readonly<Record<string, string | undefined>>;
  /** Sets the process exit code without throwing (a failed pipeline is not a usage error). */
  setExitCode(code: number): void;
  /** Where progress goes; a terminal gets the live view. */
  out: NodeJS.WriteStream;
}

interface RunOptions {
  param?: string[];
  force?: true | string;
  explain?: boolean;
  resume?: string;
  concurrency?: number;
  trackingUri?: string;
  sample?: number;
  seed?: number;
  executor?: 'local' | 'queue';
  queue?: string;
}

/** Adds `mobius init`, `mobius run` and `mobius pipelines ls|show|discover` to `program`. */
export function registerPipelineCommands(program: Command, deps: PipelineCommandDeps): void {
  program
    .command('init [dir]')
    .description(
      'create an example project: a pipeline with TypeScript, Python and shell steps and a quality gate',
    )
    .action(async (dir: string | undefined, _options: unknown, command: Command) => {
      const made = await scaffoldProject(join(deps.cwd, dir ?? '.'));
      emit(
        deps.json(command),
        made,
        () =>
          `created ${made.files.join(', ')} in ${made.dir}\nnext: ${dir === undefined ? '' : `cd ${dir} && `}mobius run example`,
      );
    });

  program
    .command('run <pipeline>')
    .description(
      'run a pipeline (a file, or a name from pipeline.ts / *.pipeline.{ts,yaml}) with live progress',
    )
    .option(
      '-p, --param <name=value>',
      'set a pipeline param (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--force [steps]', 'rerun without the cache: every step, or these (comma-separated)')
    .option(
      '--explain',
      'say for each step whether it would run or be skipped, and why; run nothing',
    )
    .option('--resume <pipelineRunId>', 'reuse the steps that succeeded in this earlier run')
    .addOption(
      new Option('--concurrency <n>', 'most steps running at once').argParser(parseConcurrency),
    )
    .option(
      '--tracking-uri <url>',
      'MLFLOW_TRACKING_URI for command steps (a running `mobius server` on the same store)',
    )
    .addOption(
      new Option(
        '--executor <kind>',
        'where steps run: local (this process) or queue (`mobius worker` processes; PostgreSQL store); default: pipelines.executor in the config',
      ).choices(['local', 'queue']),
    )
    .option(
      '--queue <name>',
      'with --executor queue: which workers take the steps (mobius worker --queue)',
    )
    .addOption(
      new Option(
        '--sample <rows>',
        'sandbox run: dataset inputs sampled to this many rows, dataset outputs added to sample.<name>',
      ).argParser((v) => parseWhole('--sample', v, 1)),
    )
    .addOption(
      new Option(
        '--seed <n>',
        'with --sample: which rows (the same seed, the same rows; default 0)',
      ).argParser((v) => parseWhole('--seed', v, 0)),
    )
    .action(async (name: string, options: RunOptions, command: Command) => {
      const json = deps.json(command);
      const cfg = await deps.config(command);
      // The config's pools are known here: a step naming an undefined pool fails the load.
      const { pipeline: p, path: pipelineFile } = await loadPipelineFile(name, {
        cwd: deps.cwd,
        pools: cfg.pipelines.pools,
      });
      const params = parseParams(p, options.param ?? []);
      const force =
        options.force === undefined
          ? undefined
          : options.force === true
            ? true
            : parseForce(p, options.force);
      const common = {
        baseDir: deps.cwd,
        env: deps.env,
        params,
        ...(force === undefined ? {} : { force }),
        ...(options.resume === undefined ? {} : { resume: options.resume }),
      };
      if (options.seed !== undefined && options.sample === undefined)
        throw new MobiusError('INVALID_ARGUMENT', '--seed is for sample runs: add --sample <rows>');
      if (options.sample !== undefined && options.explain === true)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          '--explain cannot be combined with --sample (sampling adds sandbox versions; --explain stores nothing)',
        );
      await withLocalContext(cfg, 'run', async (ctx) => {
        if (options.explain === true) {
          const explained = await ctx.pipelines.explain(p, common);
          emit(json, { pipeline: p.name, steps: explained }, () =>
            table(
              ['STEP', 'WOULD', 'WHY'],
              explained.map((e) => [e.name, e.willRun ? 'run' : 'skip', e.explain]),
            ),
          );
          return;
        }
        // A Mobius that died mid-run left RUNNING rows and maybe running process groups.
        const reaped = await ctx.pipelines.reap();
        if (reaped.steps.length > 0 && !json)
          process.stderr.write(
            `mobius: marked ${reaped.steps.length} step run(s) of a dead Mobius process failed (${reaped.steps.filter((s) => s.killed).length} process group(s) killed)\n`,
          );
        const view = json
          ? ndjsonView()
          : deps.out.isTTY === true
            ? liveView(deps.out, p)
            : plainView(deps.out);
        await mkdir(join(cfg.home, 'tmp'), { recursive: true });
        // Scratch on local disk under home (like the data domain's), not a RAM-backed /tmp.
        const workDir = await mkdtemp(join(cfg.home, 'tmp', 'pipeline-'));
        let result: PipelineRunResult;
        try {
          result = await ctx.pipelines.run(p, {
            ...common,
            workDir,
            pipelineFile,
            onEvent: view.event,
            ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
            ...(options.trackingUri === undefined ? {} : { trackingUri: options.trackingUri }),
            ...(options.sample === undefined
              ? {}
              : { sample: { rows: options.sample, seed: options.seed ?? 0 } }),
            ...(options.executor === undefined ? {} : { executor: options.executor }),
            ...(options.queue === undefined ? {} : { queue: options.queue }),
          });
        } finally {
          view.stop();
          await rm(workDir, { recursive: true, force: true });
        }
        if (json) {
          process.stdout.write(`${JSON.stringify({ type: 'result', ...result })}\n`);
        } else {
          process.stdout.write(
            `${stepTable(Object.values(result.steps), p)}\n\npipeline run ${result.id} ${result.status}` +
              ` (tracking run ${result.trackingRunId})\n`,
          );
          if (result.sample !== undefined) process.stdout.write(`${sampleNote(result.sample)}\n`);
          if (result.status === 'failed')
            process.stdout.write(
              `rerun only what failed: mobius run ${name} --resume ${result.id}\n`,
            );
        }
        if (result.status === 'failed') deps.setExitCode(1);
      });
    });

  const pipelines = program
    .command('pipelines')
    .description('pipeline runs and the pipelines of this project');
  pipelines
    .command('ls')
    .description('recent pipeline runs, newest first')
    .option('--pipeline <name>', 'only runs of this pipeline')
    .addOption(new Option('-n, --max <n>', 'most runs to list (default 20)').argParser(parseMax))
    .action(async (options: { pipeline?: string; max?: number }, command: Command) => {
      const runs = await withLocalContext(await deps.config(command), 'pipelines ls', (ctx) =>
        ctx.pipelines.runs({
          limit: options.max ?? 20,
          ...(options.pipeline === undefined ? {} : { pipeline: options.pipeline }),
        }),
      );
      emit(deps.json(command), { runs }, () =>
        table(
          ['ID', 'PIPELINE', 'STATUS', 'STARTED', 'DURATION', 'RESUMED FROM'],
          runs.map((r) => [
            r.id,
            r.pipeline,
            r.status,
            formatTime(r.startedAt),
            r.endedAt === null ? '' : ms(r.endedAt - r.startedAt),
            r.resumedFrom ?? '',
          ]),
        ),
      );
    });
  pipelines
    .command('show <pipelineRunId>')
    .description("a pipeline run's steps: status, why they ran, what they cost, rows in and out")
    .action(async (id: string, _options: unknown, command: Command) => {
      const shown = await withLocalContext(
        await deps.config(command),
        'pipelines show',
        async (ctx) => ({
          run: await ctx.pipelines.getRun(id),
          steps: await ctx.pipelines.steps(id),
        }),
      );
      emit(deps.json(command), shown, () => {
        const r = shown.run;
        const head = `pipeline run ${r.id} of '${r.pipeline}': ${r.status}, started ${formatTime(r.startedAt)}${r.resumedFrom === null ? '' : `, resumed from ${r.resumedFrom}`}`;
        const reasons = shown.steps
          .filter((s) => s.exitReason !== null || s.warnings.length > 0)
          .map((s) =>
            [s.exitReason, ...s.warnings]
              .filter((x) => x !== null)
              .map((x) => `  ${s.name}: ${x}`)
              .join('\n'),
          );
        return [
          head,
          '',
          stepTable(shown.steps),
          ...(reasons.length > 0 ? ['', ...reasons] : []),
        ].join('\n');
      });
    });
  pipelines
    .command('discover')
    .description('the pipelines of this project (pipeline.ts, *.pipeline.{ts,yaml}, pipelines/)')
    .action(async (_options: unknown, command: Command) => {
      const found = await discoverPipelines(deps.cwd);
      emit(deps.json(command), { pipelines: found }, () =>
        found.length === 0
          ? "no pipeline files here; 'mobius init' creates an example"
          : table(
              ['NAME', 'FILE'],
              found.map((f) => [f.name, f.path]),
            ),
      );
    });
}

/** The final table: one row per step. */
function stepTable(steps: readonly StepReport[], p?: PipelineDefinition): string {
  const order =
    p === undefined ? steps : p.steps.flatMap((s) => steps.filter((r) => r.name === s.name));
  return table(
    ['STEP', 'STATUS', 'CACHED', 'WALL', 'CPU', 'PEAK RSS', 'ROWS IN', 'ROWS OUT', 'EXPLAIN'],
    order.map((r) => [
      r.name,
      r.status,
      r.status === 'cached' ? 'yes' : 'no',
      r.wallMs === undefined ? '-' : ms(r.wallMs),
      r.cpuMs === undefined ? '-' : ms(r.cpuMs),
      r.peakRssBytes === undefined ? '-' : bytes(r.peakRssBytes),
      rows(r.datasets.in),
      rows(r.datasets.out),
      [
        r.explain,
        ...(r.exitReason === null || r.explain.includes(r.exitReason) ? [] : [r.exitReason]),
        ...r.warnings,
      ].join('; '),
    ]),
  );
}

function rows(d: Record<string, { dataset: string; version: number; rowCount: number }>): string {
  const entries = Object.values(d);
  return entries.length === 0
    ? '-'
    : entries.map((v) => `${v.rowCount} (${v.dataset}@${v.version})`).join(', ');
}

interface View {
  event: (e: PipelineEvent) => void;
  stop: () => void;
}

function ndjsonView(): View {
  return {
    event: (e) => process.stdout.write(`${JSON.stringify({ ...e, at: Date.now() })}\n`),
    stop: () => undefined,
  };
}

/** Not a terminal: one line per event, nothing redrawn (logs, CI). */
function plainView(out: NodeJS.WriteStream): View {
  return {
    event: (e) => {
      if (e.type === 'pipeline-started') {
        out.write(`pipeline ${e.pipeline}: run ${e.pipelineRunId}, ${e.steps.length} steps\n`);
        if (e.sample !== undefined) out.write(`${sampleNote(e.sample)}\n`);
      } else if (e.type === 'step-started') out.write(`${e.step}: running (${e.explain})\n`);
      else if (e.type === 'step-finished') out.write(`${e.step}: ${summary(e.report)}\n`);
    },
    stop: () => undefined,
  };
}

/** A terminal: one line per step, redrawn in place as steps start and end. */
function liveView(out: NodeJS.WriteStream, p: PipelineDefinition): View {
  const state = new Map<string, { text: string; started?: number }>(
    p.steps.map((s) => [s.name, { text: 'waiting' }]),
  );
  const width = Math.max(...p.steps.map((s) => s.name.length));
  let drawn = 0;
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let frame = 0;
  const draw = (): void => {
    if (drawn > 0) out.write(`\x1b[${drawn}A`);
    const columns = out.columns ?? 120;
    for (const s of p.steps) {
      const st = state.get(s.name)!;
      const text =
        st.started === undefined
          ? st.text
          : `${frames[frame % frames.length]} ${st.text} ${ms(Date.now() - st.started)}`;
      out.write(`\x1b[2K${`${s.name.padEnd(width)}  ${text}`.slice(0, columns - 1)}\n`);
    }
    drawn = p.steps.length;
  };
  const timer = setInterval(() => {
    frame++;
    draw();
  }, 100);
  timer.unref();
  draw();
  return {
    event: (e) => {
      if (e.type === 'step-started') state.set(e.step, { text: 'running', started: Date.now() });
      else if (e.type === 'step-finished') state.set(e.step, { text: summary(e.report) });
      draw();
    },
    stop: () => {
      clearInterval(timer);
      draw();
      out.write('\n');
    },
  };
}

/** What a sample run did, in a few lines: where its data came from and went, what was not sampled. */
function sampleNote(sample: SampleSummary): string {
  return [
    `SAMPLE RUN: dataset inputs sampled to ${sample.rows} rows (seed ${sample.seed}) into ${sample.namespace}<name>; dataset outputs added to ${sample.namespace}<name>, the real datasets are unchanged`,
    ...(sample.unsampled.length === 0
      ? []
      : [`not sampled (files, passed as they are): ${sample.unsampled.join(', ')}`]),
  ].join('\n');
}

function summary(r: StepReport): string {
  const mark = { succeeded: '✓', cached: '↺', failed: '✗', killed: '✗', skipped: '-' }[r.status];
  const cost = [
    r.wallMs === undefined ? undefined : ms(r.wallMs),
    r.peakRssBytes === undefined ? undefined : `${bytes(r.peakRssBytes)} peak`,
  ].filter((x) => x !== undefined);
  const why =
    r.status === 'failed' || r.status === 'killed' ? (r.exitReason ?? r.explain) : r.explain;
  return `${mark} ${r.status}${cost.length > 0 ? ` (${cost.join(', ')})` : ''}: ${why}${r.warnings.length > 0 ? ` [${r.warnings.length} warning(s)]` : ''}`;
}

function ms(value: number): string {
  return value < 1000 ? `${Math.round(value)}ms` : `${(value / 1000).toFixed(1)}s`;
}

function bytes(value: number): string {
  return value < 1024 * 1024
    ? `${Math.round(value / 1024)} KiB`
    : `${(value / 1024 / 1024).toFixed(1)} MiB`;
}

/** `name=value` pairs, typed like the param's default (so 7 and "7" are one cache key). */
function parseParams(p: PipelineDefinition, pairs: readonly string[]): Record<string, ParamValue> {
  const params: Record<string, ParamValue> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new MobiusError('INVALID_ARGUMENT', `--param '${pair}' is not name=value`);
    const name = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    const declared = p.params[name];
    if (declared === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `pipeline '${p.name}' has no param '${name}' (it declares ${Object.keys(p.params).join(', ') || 'none'})`,
      );
    if (typeof declared === 'number') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n))
        throw new MobiusError('INVALID_ARGUMENT', `--param ${name} must be a number, not '${raw}'`);
      params[name] = n;
    } else if (typeof declared === 'boolean') {
      if (raw !== 'true' && raw !== 'false')
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `--param ${name} must be true or false, not '${raw}'`,
        );
      params[name] = raw === 'true';
    } else params[name] = raw;
  }
  return params;
}

function parseWhole(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${flag} must be a whole number ≥ ${min}, not '${value}'`,
    );
  return n;
}

function parseForce(p: PipelineDefinition, list: string): string[] {
  const names = list
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  for (const n of names)
    if (!p.steps.some((s) => s.name === n))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `--force: pipeline '${p.name}' has no step '${n}' (its steps: ${p.steps.map((s) => s.name).join(', ')})`,
      );
  return names;
}

function parseConcurrency(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `--concurrency must be a whole number ≥ 1, not '${value}'`,
    );
  return Number(value);
}

function parseMax(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new MobiusError('INVALID_ARGUMENT', `--max must be a whole number ≥ 1, not '${value}'`);
  return Number(value);
}
