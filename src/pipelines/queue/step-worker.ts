/**
 * `mobius worker`: takes step attempts from the PostgreSQL queue (graphile-worker, woken
 * by LISTEN/NOTIFY), runs each with the same LocalExecutor a local pipeline uses, stores
 * the outputs as blobs and commits the attempt exactly once. Heartbeats into `worker`
 * and sweeps for lost workers on every beat.
 */
import { EventEmitter } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pipeline as pipeStreams } from 'node:stream/promises';
import type pg from 'pg';
import { run, type JobHelpers, type Runner, type WorkerEvents } from 'graphile-worker';
import { newId, type Logger } from '../../core/index.js';
import type { BlobStore } from '../../blobs/index.js';
import { sql, type Store } from '../../store/index.js';
import { LocalExecutor, type StepExecutor, type StepOutcome } from '../executor.js';
import { commitAttempt, settledAmong, type AttemptCommit } from './attempt-commit.js';
import {
  dbNowMs,
  migrateQueue,
  queueLocation,
  queueLogger,
  queuePool,
  requirePostgres,
  taskIdentifier,
  type QueueLocation,
} from './connection.js';
import { sweepLostWorkers } from './lost-workers.js';
import { parseQueuedAttempt, stepToRun, type QueuedAttempt } from './queued-attempt.js';

export interface StepWorkerOptions {
  store: Store;
  /** The store's location (`postgres://…`), for the queue's own connections. */
  storeLocation: string;
  /** Shared by every machine: S3, or a filesystem all workers mount. */
  blobs: BlobStore;
  logger: Logger;
  /** Which steps to take; default `default`. */
  queue?: string;
  /** Most attempts at once; default 1. */
  concurrency?: number;
  /** How often to heartbeat and sweep; default 5 s. */
  heartbeatMs?: number;
  /** A worker silent this long is lost; default 30 s (at least 3 heartbeats). */
  lostAfterMs?: number;
  /** Scratch space for inputs, outputs and logs of running attempts. */
  workDir: string;
  /** The environment commands start from (the step contract is added on top). */
  env: Readonly<Record<string, string | undefined>>;
  /** Runs attempts; default LocalExecutor. */
  executor?: StepExecutor;
}

interface Active {
  controller: AbortController;
  /** Why it was stopped early: settled elsewhere (no commit) or handed back on shutdown. */
  stop?: 'settled' | 'hand-back';
}

/** One worker process's share of the queue. */
export class StepWorker {
  readonly id = newId();
  readonly host = hostname();
  readonly #o: Required<Omit<StepWorkerOptions, 'executor'>> & { executor: StepExecutor };
  readonly #location: QueueLocation;
  readonly #active = new Map<string, Active>();
  readonly #slots = new Set<string>();
  #pool: pg.Pool | undefined;
  #runner: Runner | undefined;
  #beat: NodeJS.Timeout | undefined;
  #beating: Promise<void> = Promise.resolve();

  constructor(options: StepWorkerOptions) {
    requirePostgres(options.store);
    this.#location = queueLocation(options.storeLocation);
    this.#o = {
      queue: 'default',
      concurrency: 1,
      heartbeatMs: 5000,
      lostAfterMs: 30_000,
      executor: new LocalExecutor(),
      ...options,
    };
    taskIdentifier(this.#o.queue);
  }

  /** Attempts running now. */
  get running(): number {
    return this.#active.size;
  }

  /** Registers the worker, migrates the queue schema and starts taking attempts. */
  async start(): Promise<void> {
    const { store, concurrency, queue, logger } = this.#o;
    this.#pool = queuePool(this.#location, concurrency + 2, logger);
    await migrateQueue(this.#pool, this.#location, logger);
    await sql`insert into worker (id, host, pid, queue, concurrency, queue_worker_ids, state, started_at, last_heartbeat)
              values (${this.id}, ${this.host}, ${process.pid}, ${queue}, ${concurrency}, '[]', 'running', ${dbNowMs}, ${dbNowMs})`.execute(
      store.db,
    );
    const events: WorkerEvents = new EventEmitter();
    events.on('worker:create', ({ worker }: { worker: { workerId: string } }) => {
      this.#slots.add(worker.workerId);
    });
    this.#runner = await run({
      pgPool: this.#pool,
      schema: this.#location.queueSchema,
      concurrency,
      noHandleSignals: true,
      // New jobs arrive by LISTEN/NOTIFY; polling only catches what a notification missed.
      pollInterval: 1000,
      logger: queueLogger(logger),
      events,
      taskList: { [taskIdentifier(queue)]: (payload, helpers) => this.#take(payload, helpers) },
    });
    await this.#heartbeat();
    this.#beat = setInterval(() => {
      this.#beating = this.#beating.then(() => this.#heartbeat());
    }, this.#o.heartbeatMs);
  }

  /**
   * Stops taking attempts; waits up to `graceMs` for running ones to finish, then stops
   * them and hands them back to the queue (another worker takes them; no attempt is
   * used up). Marks the worker stopped.
   */
  async stop(graceMs = 30_000): Promise<void> {
    const runner = this.#runner;
    this.#runner = undefined;
    const timer = setTimeout(() => {
      for (const a of this.#active.values()) {
        a.stop ??= 'hand-back';
        a.controller.abort(new Error('worker shutting down'));
      }
    }, graceMs);
    try {
      await runner?.stop();
    } finally {
      clearTimeout(timer);
      clearInterval(this.#beat);
      await this.#beating;
      await sql`update worker set state = 'stopped', stopped_at = ${dbNowMs} where id = ${this.id}`
        .execute(this.#o.store.db)
        .catch((error: unknown) =>
          this.#o.logger.warn({ err: error }, 'could not mark worker stopped'),
        );
      await this.#pool?.end();
    }
  }

  async #heartbeat(): Promise<void> {
    const { store, logger, lostAfterMs } = this.#o;
    try {
      // Also rejoins after a sweeper declared this worker lost (it was only slow).
      await sql`update worker set last_heartbeat = ${dbNowMs}, state = 'running', stopped_at = null,
                queue_worker_ids = ${JSON.stringify([...this.#slots])} where id = ${this.id}`.execute(
        store.db,
      );
      if (this.#active.size > 0) {
        // An attempt settled by someone else (lost, cancelled) stops here: its commit would be refused.
        const settled = await settledAmong(store, [...this.#active.keys()]);
        for (const key of settled) {
          const a = this.#active.get(key);
          if (a === undefined) continue;
          a.stop ??= 'settled';
          a.controller.abort(new Error('attempt settled elsewhere'));
        }
      }
      await sweepLostWorkers(store, this.#location, lostAfterMs, logger);
    } catch (error) {
      logger.warn({ err: error }, 'worker heartbeat failed; retrying on the next beat');
    }
  }

  /** One queue job: claim the attempt, run it, commit it. */
  async #take(payload: unknown, helpers: JobHelpers): Promise<void> {
    const q = parseQueuedAttempt(payload);
    const key = `${q.stepRunId}:${q.attempt}`;
    const { store, logger } = this.#o;
    // One statement, so the claim costs one round trip: take the attempt unless it is
    // already settled (lost and retried, cancelled), and mark its step run RUNNING.
    const { rows } = await sql<{ claimed: number }>`
      with claimed as (
        update step_attempt set status = 'running', worker_id = ${this.id},
               queue_worker_id = ${helpers.job.locked_by}, deliveries = deliveries + 1,
               started_at = ${dbNowMs}
        where step_run_id = ${q.stepRunId} and attempt = ${q.attempt}
          and not exists (select 1 from step_commit
                          where step_run_id = ${q.stepRunId} and attempt = ${q.attempt})
        returning step_run_id),
      marked as (
        update step_run set status = 'RUNNING'
        where id in (select step_run_id from claimed) and status = 'QUEUED')
      select count(*)::int as claimed from claimed`.execute(store.db);
    const claimed = rows[0]?.claimed === 1;
    // Already settled (lost and retried, cancelled): the job is done, nothing to run.
    if (!claimed) return;
    const active: Active = { controller: new AbortController() };
    this.#active.set(key, active);
    let commit: AttemptCommit;
    try {
      commit = await this.#runAttempt(q, active.controller.signal);
    } catch (error) {
      // Mobius failed here (blob store, disk), not the step.
      const message = error instanceof Error ? error.message : String(error);
      commit = {
        status: 'failed',
        workerId: this.id,
        outcome: {
          status: 'failed',
          exitCode: null,
          signal: null,
          exitReason: `worker ${this.id} on ${this.host} could not run the step: ${message}`,
          wallMs: 0,
          cpuMs: undefined,
          peakRssBytes: undefined,
        },
        outputs: {},
        logs: {},
      };
    } finally {
      this.#active.delete(key);
    }
    if (active.stop === 'hand-back') {
      await sql`update step_attempt set status = 'queued', worker_id = null, queue_worker_id = null
                where step_run_id = ${q.stepRunId} and attempt = ${q.attempt} and status = 'running'`.execute(
        store.db,
      );
      // Failing the job returns it to the queue; graphile-worker retries it shortly.
      throw new Error(`handed back: worker ${this.id} is shutting down`);
    }
    if (active.stop === 'settled') return;
    if (!(await commitAttempt(store, this.#location, q.stepRunId, q.attempt, commit)))
      logger.warn(
        { stepRunId: q.stepRunId, attempt: q.attempt },
        `attempt ${q.attempt} of step '${q.step.name}' was already settled elsewhere; this completion is discarded`,
      );
  }

  async #runAttempt(q: QueuedAttempt, signal: AbortSignal): Promise<AttemptCommit> {
    const { blobs, env, workDir, executor } = this.#o;
    const dir = join(workDir, `${q.stepRunId}-${q.attempt}-${newId()}`);
    try {
      await mkdir(join(dir, 'in'), { recursive: true });
      await mkdir(join(dir, 'out'), { recursive: true });
      const inputs: Record<string, string> = {};
      for (const [name, blob] of Object.entries(q.inputs)) {
        inputs[name] = join(dir, 'in', name);
        await pipeStreams(await blobs.get(blob.sha256), createWriteStream(inputs[name]));
      }
      const outputs = Object.fromEntries(q.step.outputs.map((o) => [o, join(dir, 'out', o)]));
      const base: Record<string, string> = {};
      // The worker's own configuration (store URL, token) is not the step's business.
      for (const [k, v] of Object.entries(env))
        if (v !== undefined && !k.startsWith('MOBIUS_')) base[k] = v;
      const contract: Record<string, string> = { ...q.env };
      for (const [name, path] of Object.entries(inputs))
        contract[`MOBIUS_INPUT_${name.toUpperCase()}`] = path;
      for (const [name, path] of Object.entries(outputs))
        contract[`MOBIUS_OUTPUT_${name.toUpperCase()}`] = path;
      const logs = { stdout: join(dir, 'stdout.log'), stderr: join(dir, 'stderr.log') };
      await writeFile(logs.stdout, '');
      await writeFile(logs.stderr, '');
      let outcome: StepOutcome = await executor.execute({
        runId: q.runId,
        stepRunId: q.stepRunId,
        step: await stepToRun(q),
        attempt: q.attempt,
        inputs,
        inputBlobs: q.inputs,
        outputs,
        params: q.params,
        env: { ...base, ...contract },
        cwd: q.cwd,
        stdoutPath: logs.stdout,
        stderrPath: logs.stderr,
        signal,
      });
      // Content-addressed staging: each output is stored under its hash before the commit
      // names it, so a commit never points at bytes that are not there.
      const produced: Record<string, { sha256: string; size: number }> = {};
      if (outcome.status === 'succeeded')
        for (const name of q.step.outputs) {
          const isFile = await stat(outputs[name]!).then(
            (s) => s.isFile(),
            () => false,
          );
          if (!isFile) {
            outcome = {
              ...outcome,
              status: 'failed',
              exitReason: `step did not write its output '${name}'`,
            };
            break;
          }
          const { sha256, size } = await blobs.put(createReadStream(outputs[name]!));
          produced[name] = { sha256, size };
        }
      const stdout = await blobs.put(createReadStream(logs.stdout));
      const stderr = await blobs.put(createReadStream(logs.stderr));
      const rest = { ...outcome };
      delete rest.outputs;
      return {
        status: outcome.status,
        workerId: this.id,
        outcome: rest,
        outputs: outcome.status === 'succeeded' ? produced : {},
        logs: {
          stdout: { sha256: stdout.sha256, size: stdout.size },
          stderr: { sha256: stderr.sha256, size: stderr.size },
        },
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
