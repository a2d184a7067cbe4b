/**
 * Queue dispatch through PostgreSQL (issue 5 target: p50 ≤ 20 ms with 2 workers).
 * Runs one pipeline of N independent no-op command steps (`true`) with the queue
 * executor and two `mobius worker` processes (the built CLI, concurrency 1 each), the
 * scheduler keeping two steps in flight so a worker is always idle when a step is queued.
 *
 * Dispatch latency of a step = the worker's claim of the attempt (`step_attempt.started_at`)
 * − its enqueue (`enqueued_at`, stamped inside the enqueuing transaction): commit, NOTIFY,
 * graphile-worker's fetch and lock, and the worker's claim transaction. Both stamps come
 * from the database's clock. Round trip = commit seen by the coordinator − enqueue, as
 * `committed_at − enqueued_at` (includes running `true` and storing its logs as blobs).
 *
 * Usage: npm run build && node --import tsx bench/pipelines/queue-dispatch.ts [--steps 200]
 * PostgreSQL from BENCH_POSTGRES_URL or TEST_POSTGRES_URL (scripts/postgres.sh start).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { newId, resolveConfig } from '../../src/core/index.js';
import { openMobius } from '../../src/context/index.js';
import { pipeline, step } from '../../src/pipelines/index.js';
import { sql } from '../../src/store/index.js';

const { values: args } = parseArgs({ options: { steps: { type: 'string', default: '200' } } });
const steps = Number(args.steps);
const base =
  process.env.BENCH_POSTGRES_URL ??
  process.env.TEST_POSTGRES_URL ??
  'postgres://postgres@127.0.0.1:54329/postgres';
const BIN = fileURLToPath(new URL('../../bin/mobius.js', import.meta.url));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const schema = `bench_${newId().toLowerCase()}`;
const url = new URL(base);
url.searchParams.set('schema', schema);
const home = mkdtempSync(join(tmpdir(), 'mobius-bench-queue-'));
const config = resolveConfig({ store: url.toString(), log: { level: 'silent' } }, home);
const ctx = await openMobius(config, { migrate: true });
const workers: ChildProcess[] = [];
try {
  for (let i = 0; i < 2; i++) {
    const child = spawn(process.execPath, [BIN, 'worker', '--json'], {
      env: {
        PATH: process.env.PATH,
        MOBIUS_STORE: config.store,
        MOBIUS_BLOBS: config.blobs,
        MOBIUS_HOME: join(home, `worker-${i}`),
        MOBIUS_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    workers.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`worker exited ${code}`)));
    });
  }
  const p = pipeline('queue-dispatch', {
    steps: Array.from({ length: steps }, (_x, i) =>
      step(`noop_${i}`, { run: ['true'], cache: false }),
    ),
  });
  const t0 = performance.now();
  const result = await ctx.pipelines.run(p, {
    executor: 'queue',
    concurrency: 2,
    env: { PATH: process.env.PATH },
  });
  const wallMs = performance.now() - t0;
  if (result.status !== 'succeeded') throw new Error(`pipeline ${result.status}`);
  const { rows } = await sql<{ dispatch: number; round: number; worker_id: string }>`
    select a.started_at - a.enqueued_at as dispatch, c.committed_at - a.enqueued_at as round,
           a.worker_id
    from step_attempt a join step_commit c using (step_run_id, attempt)
    join step_run s on s.id = a.step_run_id where s.pipeline_run_id = ${result.id}`.execute(
    ctx.store.db,
  );
  const dispatch = rows.map((r) => Number(r.dispatch)).sort((a, b) => a - b);
  const round = rows.map((r) => Number(r.round)).sort((a, b) => a - b);
  const perWorker = new Map<string, number>();
  for (const r of rows) perWorker.set(r.worker_id, (perWorker.get(r.worker_id) ?? 0) + 1);
  console.log(
    `queue dispatch (PostgreSQL, 2 workers, ${rows.length} no-op steps): p50 ${percentile(dispatch, 50)} ms, p95 ${percentile(dispatch, 95)} ms, max ${dispatch.at(-1)} ms [target p50 ≤ 20 ms]`,
  );
  console.log(
    `round trip enqueue → commit: p50 ${percentile(round, 50)} ms, p95 ${percentile(round, 95)} ms; pipeline wall ${Math.round(wallMs)} ms; steps per worker ${[...perWorker.values()].join(' / ')}`,
  );
} finally {
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(
    workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))),
  );
  await ctx.close();
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  await client.query(`drop schema if exists "${schema}" cascade`);
  await client.query(`drop schema if exists "${schema}_queue" cascade`);
  await client.end();
  rmSync(home, { recursive: true, force: true });
}
