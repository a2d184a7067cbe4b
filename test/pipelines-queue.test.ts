/**
 * Distributed pipelines (issue 5) on PostgreSQL: two real `mobius worker` processes (the
 * built CLI), one SIGKILLed while it runs a step; the pipeline still completes, the step
 * is retried on the other worker, and every output is committed exactly once. Plus the
 * commit rule on its own: a second completion of the same attempt is refused.
 * PostgreSQL only — workers share the queue through it; SQLite refuses `executor: 'queue'`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { systemClock } from '../src/core/index.js';
import {
  PipelineService,
  loadQueue,
  pipeline,
  step,
  type PipelineDefinition,
} from '../src/pipelines/index.js';
import { sql } from '../src/store/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const BIN = fileURLToPath(new URL('../bin/mobius.js', import.meta.url));
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

describe.skipIf(!STORE_BACKENDS.includes('postgres'))(
  'queue executor and mobius worker (postgres; skipped unless TEST_STORES includes postgres: workers need a PostgreSQL store)',
  () => {
    let t: TestContext;
    let dir: string;
    const workers: ChildProcess[] = [];

    /** Starts `mobius worker` on the test's store and blob dir; resolves with its worker id. */
    function startWorker(...extra: string[]): Promise<{ child: ChildProcess; id: string }> {
      const child = spawn(
        process.execPath,
        [
          BIN,
          'worker',
          '--json',
          '--heartbeat-ms',
          '200',
          '--lost-after-ms',
          '1500',
          '--grace-ms',
          '2000',
          ...extra,
        ],
        {
          env: {
            ...ENV,
            MOBIUS_STORE: t.ctx.config.store,
            MOBIUS_BLOBS: t.ctx.config.blobs,
            MOBIUS_HOME: join(dir, `home-${workers.length}`),
            MOBIUS_LOG_LEVEL: 'warn',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      workers.push(child);
      let err = '';
      child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      return new Promise((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          const line = out.split('\n')[0];
          if (out.includes('\n') && line !== undefined)
            resolve({ child, id: (JSON.parse(line) as { worker: string }).worker });
        });
        child.on('exit', (code) => reject(new Error(`worker exited ${code}: ${err}`)));
      });
    }

    async function waitFor<T>(
      what: string,
      fn: () => Promise<T | undefined>,
      ms = 20_000,
    ): Promise<T> {
      const until = Date.now() + ms;
      for (;;) {
        const value = await fn();
        if (value !== undefined) return value;
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    beforeAll(async () => {
      t = await openTestContext('postgres');
      dir = mkdtempSync(join(tmpdir(), 'mobius-queue-'));
    });

    afterAll(async () => {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
      // The queue library's schema sits beside the test store's; the store cleanup drops only its own.
      const { queueLocation } = await loadQueue();
      const { queueSchema } = queueLocation(t.ctx.config.store);
      await sql`drop schema if exists ${sql.id(queueSchema)} cascade`.execute(t.ctx.store.db);
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('a second completion of the same (step run, attempt) is refused', async () => {
      const { commitAttempt, queueLocation, readCommit } = await loadQueue();
      const p = pipeline('commit-once', {
        steps: [
          step('only', { outputs: ['out'], run: ['sh', '-c', 'echo x > "$MOBIUS_OUTPUT_OUT"'] }),
        ],
      });
      // A local run gives a real step_run row to commit against.
      const result = await t.ctx.pipelines.run(p, { env: ENV });
      const [row] = await t.ctx.pipelines
        .steps(result.id)
        .then(async () =>
          t.ctx.store.db
            .selectFrom('step_run')
            .select('id')
            .where('pipeline_run_id', '=', result.id)
            .execute(),
        );
      const location = queueLocation(t.ctx.config.store);
      const outcome = {
        status: 'succeeded' as const,
        exitCode: 0,
        signal: null,
        exitReason: null,
        wallMs: 1,
        cpuMs: undefined,
        peakRssBytes: undefined,
      };
      const first = await commitAttempt(t.ctx.store, location, row!.id, 7, {
        status: 'succeeded',
        workerId: 'w1',
        outcome,
        outputs: { out: { sha256: 'a'.repeat(64), size: 2 } },
        logs: {},
      });
      const second = await commitAttempt(t.ctx.store, location, row!.id, 7, {
        status: 'succeeded',
        workerId: 'w2',
        outcome,
        outputs: { out: { sha256: 'b'.repeat(64), size: 2 } },
        logs: {},
      });
      expect([first, second]).toEqual([true, false]);
      const stored = await readCommit(t.ctx.store, row!.id, 7);
      expect(stored?.workerId).toBe('w1');
      expect(stored?.outputs.out?.sha256).toBe('a'.repeat(64));
    });

    it('two workers, one SIGKILLed mid-step: the pipeline completes, each output committed once', async () => {
      const a = await startWorker();
      const b = await startWorker();
      const byId = new Map([
        [a.id, a.child],
        [b.id, b.child],
      ]);
      const marker = join(dir, 'slow-started');
      const p = pipeline('queued', {
        steps: [
          step('prep', {
            outputs: ['words'],
            run: ['sh', '-c', 'printf "alpha\\nbeta\\n" > "$MOBIUS_OUTPUT_WORDS"'],
          }),
          step('slow', {
            inputs: { words: 'prep.words' },
            outputs: ['counted'],
            // Long enough to be killed in the middle; the marker says it started.
            run: [
              'sh',
              '-c',
              `touch ${marker}; sleep 3; wc -l < "$MOBIUS_INPUT_WORDS" > "$MOBIUS_OUTPUT_COUNTED"`,
            ],
            retries: 1,
            retryDelayMs: 10,
          }),
          step('report', {
            inputs: { counted: 'slow.counted' },
            outputs: ['summary'],
            run: [
              'sh',
              '-c',
              'echo "lines: $(cat "$MOBIUS_INPUT_COUNTED")" > "$MOBIUS_OUTPUT_SUMMARY"',
            ],
          }),
        ],
      });
      const running = t.ctx.pipelines.run(p, { env: ENV, executor: 'queue' });
      // Kill whichever worker holds the slow step, once the step is really running.
      const holder = await waitFor('the slow step to start on a worker', async () => {
        if (!existsSync(marker)) return undefined;
        const { rows } = await sql<{ worker_id: string | null }>`
          select a.worker_id from step_attempt a join step_run s on s.id = a.step_run_id
          where s.step = 'slow' and a.attempt = 1 and a.status = 'running'`.execute(t.ctx.store.db);
        return rows[0]?.worker_id ?? undefined;
      });
      byId.get(holder)!.kill('SIGKILL');
      const survivor = holder === a.id ? b.id : a.id;

      const result = await running;
      expect(result.status).toBe('succeeded');
      const slow = result.steps.slow!;
      expect(slow.status).toBe('succeeded');
      expect(slow.attempts).toBe(2);
      const summary = result.steps.report!.outputs.summary!;
      let text = '';
      for await (const chunk of await t.ctx.blobs.get(summary.sha256)) text += String(chunk);
      expect(text.trim()).toBe('lines: 2');

      // Attempt 1 was settled as lost by a sweeper; attempt 2 ran on the survivor.
      const commits = await sql<{
        step: string;
        attempt: number;
        status: string;
        worker_id: string | null;
        outcome: string;
      }>`
        select s.step, c.attempt, c.status, c.worker_id, c.outcome from step_commit c
        join step_run s on s.id = c.step_run_id where s.pipeline_run_id = ${result.id}
        order by s.step, c.attempt`.execute(t.ctx.store.db);
      const slowCommits = commits.rows.filter((r) => r.step === 'slow');
      expect(slowCommits.map((r) => [r.attempt, r.status])).toEqual([
        [1, 'lost'],
        [2, 'succeeded'],
      ]);
      expect(slowCommits[1]!.worker_id).toBe(survivor);
      expect(JSON.parse(slowCommits[0]!.outcome).exitReason).toMatch(/^worker lost: worker /);
      // Exactly one succeeded commit per step, and one 'produced' edge per output.
      const succeeded = commits.rows.filter((r) => r.status === 'succeeded');
      expect(succeeded.map((r) => r.step).sort()).toEqual(['prep', 'report', 'slow']);
      const produced = await sql<{ n: number }>`
        select count(*)::int as n from edge e join step_run s on s.tracking_run_id = e.from_id
        where s.pipeline_run_id = ${result.id} and e.relation = 'produced'`.execute(t.ctx.store.db);
      expect(produced.rows[0]!.n).toBe(3);
      const lost = await sql<{
        state: string;
      }>`select state from worker where id = ${holder}`.execute(t.ctx.store.db);
      expect(lost.rows[0]!.state).toBe('lost');

      // SIGTERM: the survivor stops cleanly and says so in the worker table.
      const survivorChild = byId.get(survivor)!;
      const exited = new Promise<number | null>((r) => survivorChild.on('exit', (code) => r(code)));
      survivorChild.kill('SIGTERM');
      expect(await exited).toBe(0);
      const stopped = await sql<{
        state: string;
      }>`select state from worker where id = ${survivor}`.execute(t.ctx.store.db);
      expect(stopped.rows[0]!.state).toBe('stopped');
    }, 60_000);

    it('a worker whose heartbeat expired has its attempt settled as lost; its late completion is refused', async () => {
      const { QueueExecutor, commitAttempt, queueLocation, readCommit, sweepLostWorkers } =
        await loadQueue();
      // Starting an executor installs the queue schema the sweeper unlocks jobs in.
      const executor = new QueueExecutor({
        store: t.ctx.store,
        storeLocation: t.ctx.config.store,
        blobs: t.ctx.blobs,
        logger: t.ctx.logger,
      });
      await executor.start();
      await executor.close();
      const result = await t.ctx.pipelines.run(
        pipeline('sweep', { steps: [step('s', { run: ['true'] })] }),
        { env: ENV },
      );
      const [row] = await t.ctx.store.db
        .selectFrom('step_run')
        .select('id')
        .where('pipeline_run_id', '=', result.id)
        .execute();
      const db = t.ctx.store.db;
      const now = sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;
      await sql`insert into worker (id, host, pid, queue, concurrency, queue_worker_ids, state, started_at, last_heartbeat)
                values ('silent', 'elsewhere', 4242, 'default', 1, '["gw-silent"]', 'running', ${now} - 60000, ${now} - 10000)`.execute(
        db,
      );
      await sql`insert into worker (id, host, pid, queue, concurrency, queue_worker_ids, state, started_at, last_heartbeat)
                values ('alive', 'here', 4343, 'default', 1, '[]', 'running', ${now} - 60000, ${now})`.execute(
        db,
      );
      await sql`insert into step_attempt (step_run_id, attempt, queue, status, worker_id, deliveries, enqueued_at, started_at)
                values (${row!.id}, 1, 'default', 'running', 'silent', 1, ${now} - 20000, ${now} - 19000)`.execute(
        db,
      );
      await sql`insert into step_attempt (step_run_id, attempt, queue, status, worker_id, deliveries, enqueued_at, started_at)
                values (${row!.id}, 2, 'default', 'running', 'alive', 1, ${now} - 20000, ${now} - 19000)`.execute(
        db,
      );
      const location = queueLocation(t.ctx.config.store);
      expect(await sweepLostWorkers(t.ctx.store, location, 5000, t.ctx.logger)).toBe(1);
      const lost = await readCommit(t.ctx.store, row!.id, 1);
      expect(lost?.status).toBe('lost');
      expect(lost?.outcome.exitReason).toMatch(
        /^worker lost: worker silent on elsewhere \(pid 4242\)/,
      );
      // The live worker's attempt is untouched; a second sweep finds nothing new.
      expect(await readCommit(t.ctx.store, row!.id, 2)).toBeUndefined();
      expect(await sweepLostWorkers(t.ctx.store, location, 5000, t.ctx.logger)).toBe(0);
      const states = await sql<{
        id: string;
        state: string;
      }>`select id, state from worker where id in ('silent', 'alive') order by id`.execute(db);
      expect(states.rows).toEqual([
        { id: 'alive', state: 'running' },
        { id: 'silent', state: 'lost' },
      ]);
      // The "dead" worker was only slow: its completion arrives and is discarded.
      const late = await commitAttempt(t.ctx.store, location, row!.id, 1, {
        status: 'succeeded',
        workerId: 'silent',
        outcome: {
          status: 'succeeded',
          exitCode: 0,
          signal: null,
          exitReason: null,
          wallMs: 1,
          cpuMs: undefined,
          peakRssBytes: undefined,
        },
        outputs: { out: { sha256: 'c'.repeat(64), size: 1 } },
        logs: {},
      });
      expect(late).toBe(false);
      expect((await readCommit(t.ctx.store, row!.id, 1))?.status).toBe('lost');
    });

    it('SIGTERM hands a running step back; a worker on the same --queue finishes it without using a retry', async () => {
      const first = await startWorker('--queue', 'slowq', '--grace-ms', '300');
      const marker = join(dir, 'handback-started');
      const p = pipeline('handback', {
        steps: [
          step('long', {
            outputs: ['done'],
            run: ['sh', '-c', `touch ${marker}; sleep 2; echo ok > "$MOBIUS_OUTPUT_DONE"`],
          }),
        ],
      });
      const running = t.ctx.pipelines.run(p, { env: ENV, executor: 'queue', queue: 'slowq' });
      await waitFor('the step to start', async () => (existsSync(marker) ? true : undefined));
      const exited = new Promise<number | null>((r) => first.child.on('exit', (code) => r(code)));
      first.child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const handedBack = await sql<{ status: string; worker_id: string | null }>`
        select a.status, a.worker_id from step_attempt a join step_run s on s.id = a.step_run_id
        where s.pipeline = 'handback'`.execute(t.ctx.store.db);
      expect(handedBack.rows).toEqual([{ status: 'queued', worker_id: null }]);
      const second = await startWorker('--queue', 'slowq');
      const result = await running;
      expect(result.status).toBe('succeeded');
      expect(result.steps.long!.attempts).toBe(1);
      const attempts = await sql<{ deliveries: number; worker_id: string }>`
        select a.deliveries, a.worker_id from step_attempt a join step_run s on s.id = a.step_run_id
        where s.pipeline = 'handback'`.execute(t.ctx.store.db);
      expect(attempts.rows).toEqual([{ deliveries: 2, worker_id: second.id }]);
      second.child.kill('SIGTERM');
    }, 60_000);

    it('cancelling a run stops the step on its worker, which is then free for the next step', async () => {
      const w = await startWorker('--queue', 'cancelq');
      const marker = join(dir, 'cancel-started');
      const controller = new AbortController();
      const p = pipeline('cancelled', {
        steps: [step('forever', { run: ['sh', '-c', `touch ${marker}; sleep 30`] })],
      });
      const running = t.ctx.pipelines.run(p, {
        env: ENV,
        executor: 'queue',
        queue: 'cancelq',
        signal: controller.signal,
      });
      await waitFor('the step to start', async () => (existsSync(marker) ? true : undefined));
      controller.abort(new Error('stop'));
      const result = await running;
      expect(result.steps.forever!.status).toBe('killed');
      expect(result.steps.forever!.exitReason).toBe('cancelled');
      // The worker (concurrency 1) dropped the 30 s step: a new one starts within seconds.
      const started = Date.now();
      const next = await t.ctx.pipelines.run(
        pipeline('after-cancel', { steps: [step('quick', { run: ['true'] })] }),
        { env: ENV, executor: 'queue', queue: 'cancelq' },
      );
      expect(next.status).toBe('succeeded');
      expect(Date.now() - started).toBeLessThan(10_000);
      const commit = await sql<{ status: string; worker_id: string | null }>`
        select c.status, c.worker_id from step_commit c join step_run s on s.id = c.step_run_id
        where s.pipeline = 'cancelled'`.execute(t.ctx.store.db);
      expect(commit.rows).toEqual([{ status: 'killed', worker_id: null }]);
      w.child.kill('SIGTERM');
    }, 60_000);

    it('a TypeScript step runs on a worker that imports the pipeline file, and is refused if the file differs', async () => {
      const w = await startWorker('--queue', 'tsq');
      const file = join(dir, 'shout.pipeline.ts');
      const source = (body: string): string => `
import { readFileSync, writeFileSync } from 'node:fs';
import { pipeline, step } from ${JSON.stringify(fileURLToPath(new URL('../dist/pipelines/index.js', import.meta.url)))};
export default pipeline('ts-queued', {
  params: { suffix: '!' },
  steps: [
    step('make', { outputs: ['words'], run: ['sh', '-c', 'echo hello > "$MOBIUS_OUTPUT_WORDS"'] }),
    step('shout', {
      inputs: { words: 'make.words' },
      outputs: ['loud'],
      params: ['suffix'],
      run: (ctx) => {
        ctx.log('shouting on ' + process.pid);
        ${body}
      },
    }),
  ],
});
`;
      writeFileSync(
        file,
        source(
          "writeFileSync(ctx.outputs.loud!, readFileSync(ctx.inputs.words!, 'utf8').trim().toUpperCase() + String(ctx.params.suffix));",
        ),
      );
      const { createJiti } = await import('jiti');
      const p = await createJiti(import.meta.url, {
        moduleCache: false,
      }).import<PipelineDefinition>(file, { default: true });
      const result = await t.ctx.pipelines.run(p, {
        env: ENV,
        executor: 'queue',
        queue: 'tsq',
        pipelineFile: file,
      });
      expect(result.status).toBe('succeeded');
      let loud = '';
      for await (const chunk of await t.ctx.blobs.get(result.steps.shout!.outputs.loud!.sha256))
        loud += String(chunk);
      expect(loud).toBe('HELLO!');
      const ran = await sql<{ worker_id: string }>`
        select a.worker_id from step_attempt a join step_run s on s.id = a.step_run_id
        where s.pipeline_run_id = ${result.id} and s.step = 'shout'`.execute(t.ctx.store.db);
      expect(ran.rows).toEqual([{ worker_id: w.id }]);

      // The worker's copy changes under the coordinator: refused, not run as other code.
      writeFileSync(file, source("writeFileSync(ctx.outputs.loud!, 'something else');"));
      const stale = await t.ctx.pipelines.run(p, {
        env: ENV,
        executor: 'queue',
        queue: 'tsq',
        pipelineFile: file,
        force: ['shout'],
      });
      expect(stale.steps.shout!.status).toBe('failed');
      expect(stale.steps.shout!.exitReason).toMatch(/differs from the coordinator's/);
      // Without the file, a TypeScript step cannot go to the queue, and says what to do.
      const noFile = await t.ctx.pipelines.run(p, {
        env: ENV,
        executor: 'queue',
        queue: 'tsq',
        force: true,
      });
      expect(noFile.steps.shout!.exitReason).toMatch(/pass \{ pipelineFile \}/);
      w.child.kill('SIGTERM');
    }, 60_000);

    it('a step no worker can take is reported in the log, and cancelling it settles it', async () => {
      const { QueueExecutor } = await loadQueue();
      const lines: string[] = [];
      const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
      const executor = new QueueExecutor({
        store: t.ctx.store,
        storeLocation: t.ctx.config.store,
        blobs: t.ctx.blobs,
        logger,
        pollMs: 100,
        unattendedWarnMs: 300,
      });
      const service = new PipelineService({
        store: t.ctx.store,
        blobs: t.ctx.blobs,
        tracking: t.ctx.tracking,
        clock: systemClock,
        executor: executor.forQueue('nobody'),
      });
      const controller = new AbortController();
      try {
        const running = service.run(
          pipeline('unattended', { steps: [step('waits', { run: ['true'] })] }),
          { env: ENV, signal: controller.signal },
        );
        await waitFor('the warning', async () =>
          lines.some((l) => l.includes("no live worker takes queue 'nobody'")) ? true : undefined,
        );
        expect(lines.filter((l) => l.includes("queue 'nobody'"))).toHaveLength(1);
        controller.abort(new Error('give up'));
        const result = await running;
        expect(result.steps.waits!.status).toBe('killed');
        expect(result.steps.waits!.exitReason).toBe('cancelled');
      } finally {
        await executor.close();
      }
    });
  },
);

describe('the queue on SQLite', () => {
  it("a SQLite store refuses executor 'queue' with what to do", async () => {
    const lite = await openTestContext('sqlite');
    try {
      const p = pipeline('lite', { steps: [step('s', { run: ['true'] })] });
      await expect(lite.ctx.pipelines.run(p, { executor: 'queue' })).rejects.toThrow(
        /needs a PostgreSQL store/,
      );
    } finally {
      await lite.cleanup();
    }
  });

  it('refuses with what to set', () => {
    const home = mkdtempSync(join(tmpdir(), 'mobius-worker-lite-'));
    try {
      const res = spawnSync(process.execPath, [BIN, 'worker'], {
        env: { ...ENV, MOBIUS_HOME: home },
        encoding: 'utf8',
      });
      expect(res.status).not.toBe(0);
      expect(res.stderr).toMatch(/distributed workers need a PostgreSQL store/);
      expect(res.stderr).toMatch(/MOBIUS_STORE=postgres:\/\//);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
