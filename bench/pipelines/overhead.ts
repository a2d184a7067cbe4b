/**
 * Per-step overhead of the local pipeline runner (issue 5 targets: ≤ 5 ms per no-op
 * TypeScript step, ≤ 30 ms per no-op command step), with Prefect as the peer in the same run.
 *
 * The steps do nothing, so a run's wall time is all overhead: the pipeline and step rows,
 * a tracking run per step (tags, metrics, status), the cache key and lookup, the explain
 * (the step's previous run), scratch dirs, log files stored as artifacts, lineage edges.
 * Per-step overhead = the `ctx.pipelines.run` wall time / the number of steps. "executor
 * median" is the median of the steps' own recorded wall time (the function call, or spawn →
 * exit of the command): what is left of the per-step figure is Mobius' bookkeeping.
 *
 * Cases, each on the same fresh embedded context (a temp MOBIUS_HOME, SQLite, file blobs):
 *   chain    N no-op TypeScript steps, each `after:` the previous one (order without data:
 *            no outputs, no inputs to copy), at the default concurrency.
 *   cached   the same chain again: every step a cache hit (key, lookup, records; no run).
 *   fan-out  one no-op root step and N no-op steps `after:` it, at the default concurrency
 *            (DEFAULT_STEP_CONCURRENCY); N + 1 steps.
 *   commands M command steps `['true']` (argv, no shell), each `after:` the previous one.
 * With BENCH_POSTGRES_URL set, the cases run again on PostgreSQL (a fresh schema, dropped
 * afterwards). Then, when the Prefect venv exists (bench/pipelines/setup-prefect.sh), the
 * equivalent Prefect 3 flows run (prefect_flow.py: chain and fan-out of no-op tasks with the
 * default local runner) and the ratio of per-step overheads is printed.
 *
 * Usage: nice node --import tsx bench/pipelines/overhead.ts [--steps 1000] [--commands 200]
 *          [--prefect-tasks 100] [--prefect-python <venv>/bin/python] [--only chain,fanout,…]
 * Profile: nice node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx
 *          bench/pipelines/overhead.ts --only chain --no-prefect
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { limits, newId, resolveConfig } from '../../src/core/index.js';
import { openMobius, type MobiusContext } from '../../src/context/index.js';
import {
  pipeline,
  step,
  type PipelineDefinition,
  type RunPipelineOptions,
} from '../../src/pipelines/index.js';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '1000' },
    commands: { type: 'string', default: '200' },
    'prefect-tasks': { type: 'string', default: '100' },
    'prefect-python': {
      type: 'string',
      default: '/work/.cache/bench-pipelines/prefect-venv/bin/python',
    },
    'no-prefect': { type: 'boolean', default: false },
    only: { type: 'string', default: 'chain,cached,fanout,commands' },
  },
});
const N = Number(args.steps);
const M = Number(args.commands);
const only = new Set(args.only.split(','));
const here = fileURLToPath(new URL('.', import.meta.url));
const TS_TARGET_MS = 5;
const COMMAND_TARGET_MS = 30;

/** The TypeScript chain: s0 → s1 → … each a no-op run after the previous one. */
function chain(n: number): PipelineDefinition {
  return pipeline('bench-chain', {
    steps: Array.from({ length: n }, (_x, i) =>
      step(`s${i}`, { ...(i === 0 ? {} : { after: [`s${i - 1}`] }), run: () => undefined }),
    ),
  });
}

/** One no-op root, n no-op leaves after it. */
function fanout(n: number): PipelineDefinition {
  return pipeline('bench-fanout', {
    steps: [
      step('root', { run: () => undefined }),
      ...Array.from({ length: n }, (_x, i) =>
        step(`leaf${i}`, { after: ['root'], run: () => undefined }),
      ),
    ],
  });
}

/** A chain of m `true` commands. */
function commands(m: number): PipelineDefinition {
  return pipeline('bench-commands', {
    steps: Array.from({ length: m }, (_x, i) =>
      step(`c${i}`, { ...(i === 0 ? {} : { after: [`c${i - 1}`] }), run: ['true'] }),
    ),
  });
}

interface Figure {
  label: string;
  steps: number;
  wallMs: number;
  perStepMs: number;
}

/** Runs `p` once, checks every step ended as `expect`, and returns its wall time per step. */
async function measure(
  ctx: MobiusContext,
  label: string,
  p: PipelineDefinition,
  expect: 'succeeded' | 'cached',
  options: RunPipelineOptions,
  target: number,
): Promise<Figure> {
  const t0 = performance.now();
  const result = await ctx.pipelines.run(p, options);
  const wallMs = performance.now() - t0;
  const bad = Object.values(result.steps).filter((s) => s.status !== expect);
  if (result.status !== 'succeeded' || bad.length > 0)
    throw new Error(
      `${label}: ${bad.length} steps not ${expect} (first: ${bad[0]?.name} ${bad[0]?.status} ${bad[0]?.exitReason ?? ''})`,
    );
  const steps = p.steps.length;
  const perStepMs = wallMs / steps;
  // The executor's own wall time per step (function call, or spawn → exit of the command),
  // as recorded in step_run.wall_ms: the part of the overhead that is not bookkeeping.
  const inside = Object.values(result.steps)
    .map((s) => s.wallMs)
    .filter((ms): ms is number => ms !== undefined)
    .sort((a, b) => a - b);
  const insideMedian = inside.length === 0 ? undefined : inside[Math.floor(inside.length / 2)]!;
  console.log(
    `  ${label.padEnd(44)} ${String(steps).padStart(5)} steps  wall ${(wallMs / 1000).toFixed(2).padStart(7)} s  per step ${perStepMs.toFixed(2).padStart(6)} ms [target ≤ ${target} ms]${insideMedian === undefined ? '' : `  (executor median ${insideMedian.toFixed(1)} ms of it)`}`,
  );
  return { label, steps, wallMs, perStepMs };
}

/** Every selected case on one store; the figures by case name. */
async function runCases(store: string | undefined, name: string): Promise<Map<string, Figure>> {
  const home = mkdtempSync(join(tmpdir(), 'mobius-bench-overhead-'));
  const config = resolveConfig(
    { ...(store === undefined ? {} : { store }), log: { level: 'silent' } },
    home,
  );
  const figures = new Map<string, Figure>();
  console.log(
    `${name} (store ${store === undefined ? 'sqlite, file blobs' : 'postgres'}, home ${home}):`,
  );
  const ctx = await openMobius(config, { migrate: true });
  try {
    const base = { baseDir: home, env: { PATH: process.env.PATH } };
    if (only.has('chain') || only.has('cached')) {
      const p = chain(N);
      figures.set(
        'chain',
        await measure(
          ctx,
          `TS chain (each step after the previous)`,
          p,
          'succeeded',
          base,
          TS_TARGET_MS,
        ),
      );
      if (only.has('cached'))
        figures.set(
          'cached',
          await measure(
            ctx,
            `TS chain again, every step a cache hit`,
            p,
            'cached',
            base,
            TS_TARGET_MS,
          ),
        );
    }
    if (only.has('fanout'))
      figures.set(
        'fanout',
        await measure(
          ctx,
          `TS fan-out (1 root + ${N}, concurrency ${limits.DEFAULT_STEP_CONCURRENCY})`,
          fanout(N),
          'succeeded',
          base,
          TS_TARGET_MS,
        ),
      );
    if (only.has('commands'))
      figures.set(
        'commands',
        await measure(
          ctx,
          `command ['true'] chain (each after the previous)`,
          commands(M),
          'succeeded',
          base,
          COMMAND_TARGET_MS,
        ),
      );
  } finally {
    await ctx.close();
    rmSync(home, { recursive: true, force: true });
  }
  return figures;
}

interface PrefectFigure {
  shape: string;
  tasks: number;
  seconds_total: number;
  seconds_startup: number;
  seconds_flow: number;
  per_task_ms: number;
  prefect: string;
}

/** Runs prefect_flow.py with its own temp PREFECT_HOME; its JSON lines by shape. */
function runPrefect(python: string): Map<string, PrefectFigure> {
  const prefectHome = mkdtempSync(join(tmpdir(), 'bench-prefect-home-'));
  try {
    const t0 = performance.now();
    const r = spawnSync(
      python,
      [join(here, 'prefect_flow.py'), '--tasks', args['prefect-tasks'], '--shape', 'chain,fanout'],
      {
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH,
          HOME: prefectHome,
          PREFECT_HOME: prefectHome,
          PREFECT_LOGGING_LEVEL: 'WARNING',
          // Its telemetry write races the first flow run for the SQLite lock ("database is locked").
          PREFECT_SERVER_ANALYTICS_ENABLED: 'false',
        },
        maxBuffer: 64 * 2 ** 20,
      },
    );
    const wall = (performance.now() - t0) / 1000;
    if (r.status !== 0)
      throw new Error(`prefect_flow.py exited ${r.status}: ${r.stderr.slice(-2000)}`);
    const out = new Map<string, PrefectFigure>();
    for (const line of r.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      const f = JSON.parse(line) as PrefectFigure;
      out.set(f.shape, f);
    }
    console.log(`  (the Prefect process took ${wall.toFixed(1)} s in all, from spawn to exit)`);
    return out;
  } finally {
    rmSync(prefectHome, { recursive: true, force: true });
  }
}

console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const sqlite = await runCases(undefined, 'Mobius');
const postgresUrl = process.env.BENCH_POSTGRES_URL;
if (postgresUrl !== undefined && postgresUrl !== '') {
  const schema = `bench_${newId().toLowerCase()}`;
  const url = new URL(postgresUrl);
  url.searchParams.set('schema', schema);
  try {
    await runCases(url.toString(), 'Mobius');
  } finally {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  }
} else console.log('postgres: skipped (set BENCH_POSTGRES_URL)');

const python = args['prefect-python'];
if (args['no-prefect']) console.log('prefect: skipped (--no-prefect)');
else if (!existsSync(python))
  console.log(`prefect: skipped (no ${python}; bash bench/pipelines/setup-prefect.sh makes it)`);
else {
  const prefect = runPrefect(python);
  const first = [...prefect.values()][0];
  console.log(
    `Prefect ${first?.prefect ?? '?'} (default local runner, ephemeral API; startup = import + temporary server + one empty flow run: ${first?.seconds_startup.toFixed(1) ?? '?'} s, not counted per task):`,
  );
  for (const [shape, mobiusCase] of [
    ['chain', 'chain'],
    ['fanout', 'fanout'],
  ] as const) {
    const f = prefect.get(shape);
    const m = sqlite.get(mobiusCase);
    if (f === undefined) continue;
    console.log(
      `  ${`${shape} of no-op tasks`.padEnd(44)} ${String(f.tasks).padStart(5)} tasks  flow ${f.seconds_flow.toFixed(2).padStart(7)} s  per task ${f.per_task_ms.toFixed(2).padStart(6)} ms`,
    );
    if (m !== undefined)
      console.log(
        `  ratio ${shape}: Prefect per task / Mobius (SQLite) per step = ${(f.per_task_ms / m.perStepMs).toFixed(1)}× (> 1: Mobius has less overhead)`,
      );
  }
}
