/**
 * The coordinator's side of the queue: `execute` enqueues one step attempt — in the same
 * transaction that marks its step run QUEUED — and waits for the attempt's commit,
 * announced by NOTIFY (and polled, in case a notification is missed). The scheduler in
 * pipeline-runner.ts is unchanged: it sees an executor whose outcome carries outputs
 * already stored as blobs.
 */
import { createWriteStream } from 'node:fs';
import { pipeline as pipeStreams } from 'node:stream/promises';
import pg from 'pg';
import type { Logger } from '../../core/index.js';
import type { BlobStore } from '../../blobs/index.js';
import { sql, type Store } from '../../store/index.js';
import type { StepExecutor, StepOutcome, StepTask } from '../executor.js';
import { commitAttempt, readCommit, settledAmong, type StoredCommit } from './attempt-commit.js';
import {
  dbNowMs,
  migrateQueue,
  queueLocation,
  queuePool,
  requirePostgres,
  taskIdentifier,
  type QueueLocation,
} from './connection.js';
import { sweepLostWorkers } from './lost-workers.js';
import { toQueuedAttempt } from './queued-attempt.js';

export interface QueueExecutorOptions {
  store: Store;
  /** The store's location (`postgres://…`), for the LISTEN connection. */
  storeLocation: string;
  blobs: BlobStore;
  logger: Logger;
  /** Which workers take the steps (`mobius worker --queue`); default `default`. */
  queue?: string;
  /** How often to look for commits a notification missed, and sweep; default 1 s. */
  pollMs?: number;
  /** A worker silent this long is lost; default 30 s. */
  lostAfterMs?: number;
  /** Warn (once per attempt) when one has waited this long with no live worker on its queue; default 10 s. */
  unattendedWarnMs?: number;
}

/**
 * graphile-worker's own retries only re-deliver a job whose worker handed it back on
 * shutdown; a step's failures are retried by the scheduler, one job per attempt.
 */
const JOB_MAX_ATTEMPTS = 25;

/** Runs step attempts on `mobius worker` processes through the PostgreSQL queue. */
export class QueueExecutor implements StepExecutor {
  readonly #o: Required<QueueExecutorOptions>;
  readonly #location: QueueLocation;
  readonly #waiters = new Map<string, () => void>();
  #listener: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #started: Promise<void> | undefined;
  #sweeping = false;
  readonly #warned = new Set<string>();

  constructor(options: QueueExecutorOptions) {
    requirePostgres(options.store);
    this.#location = queueLocation(options.storeLocation);
    this.#o = {
      queue: 'default',
      pollMs: 1000,
      lostAfterMs: 30_000,
      unattendedWarnMs: 10_000,
      ...options,
    };
    taskIdentifier(this.#o.queue);
  }

  /** Migrates the queue schema and starts listening for commits (once). */
  start(): Promise<void> {
    this.#started ??= (async () => {
      const pool = queuePool(this.#location, 1, this.#o.logger);
      try {
        await migrateQueue(pool, this.#location, this.#o.logger);
      } finally {
        await pool.end();
      }
      const listener = new pg.Client({ connectionString: this.#location.connectionString });
      await listener.connect();
      listener.on('notification', (n) => {
        if (n.payload !== undefined) this.#waiters.get(n.payload)?.();
      });
      listener.on('error', (error) =>
        this.#o.logger.warn({ err: error }, 'queue listener failed; polling'),
      );
      await listener.query(`listen "${this.#location.channel}"`);
      this.#listener = listener;
      this.#timer = setInterval(() => void this.#poll(), this.#o.pollMs);
    })();
    return this.#started;
  }

  /** Runs `task` on a worker of the executor's queue. */
  execute(task: StepTask): Promise<StepOutcome> {
    return this.#execute(task, this.#o.queue);
  }

  /** The same executor sending steps to `queue` (one LISTEN connection for all queues). */
  forQueue(queue: string): StepExecutor {
    taskIdentifier(queue);
    return { execute: (task) => this.#execute(task, queue) };
  }

  async #execute(task: StepTask, queue: string): Promise<StepOutcome> {
    const queued = toQueuedAttempt(task);
    await this.start();
    const { store } = this.#o;
    const key = `${task.stepRunId}:${task.attempt}`;
    // Resolved by the NOTIFY of this attempt's commit, or by the poll that finds it.
    const nextWake = (): Promise<void> =>
      new Promise<void>((resolve) => this.#waiters.set(key, resolve));
    let woken = nextWake();
    const wake = (): void => this.#waiters.get(key)?.();
    try {
      await store.write(async (trx) => {
        await sql`update step_run set status = 'QUEUED' where id = ${task.stepRunId}`.execute(trx);
        await sql`insert into step_attempt (step_run_id, attempt, queue, status, deliveries, enqueued_at)
                  values (${task.stepRunId}, ${task.attempt}, ${queue}, 'queued', 0, ${dbNowMs})`.execute(
          trx,
        );
        // graphile-worker's add_job in *our* transaction: the job exists iff the state
        // change committed, and its NOTIFY wakes a worker when we commit.
        await sql`select ${sql.id(this.#location.queueSchema)}.add_job(
                    ${taskIdentifier(queue)}, ${JSON.stringify(queued)}::json,
                    max_attempts => ${JOB_MAX_ATTEMPTS})`.execute(trx);
      });
      const onAbort = (): void => {
        // Cancelling settles the attempt; the worker running it sees that on its next beat and stops.
        void commitAttempt(store, this.#location, task.stepRunId, task.attempt, {
          status: 'killed',
          workerId: null,
          outcome: {
            status: 'killed',
            exitCode: null,
            signal: null,
            exitReason: 'cancelled',
            wallMs: 0,
            cpuMs: undefined,
            peakRssBytes: undefined,
          },
          outputs: {},
          logs: {},
        }).then(wake, wake);
      };
      if (task.signal.aborted) onAbort();
      else task.signal.addEventListener('abort', onAbort, { once: true });
      let commit: StoredCommit | undefined;
      try {
        commit = await readCommit(store, task.stepRunId, task.attempt);
        while (commit === undefined) {
          await woken;
          woken = nextWake();
          commit = await readCommit(store, task.stepRunId, task.attempt);
        }
      } finally {
        task.signal.removeEventListener('abort', onAbort);
      }
      await this.#copyLogs(commit, task);
      return {
        ...commit.outcome,
        ...(commit.status === 'succeeded' ? { outputs: commit.outputs } : {}),
      };
    } finally {
      this.#waiters.delete(key);
      this.#warned.delete(key);
    }
  }

  /** Stops listening and polling. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#listener?.end().catch(() => undefined);
    this.#listener = undefined;
  }

  /** The attempt's logs, from blobs into the paths the scheduler stores as artifacts. */
  async #copyLogs(commit: StoredCommit, task: StepTask): Promise<void> {
    for (const [name, path] of [
      ['stdout', task.stdoutPath],
      ['stderr', task.stderrPath],
    ] as const) {
      const blob = commit.logs[name];
      if (blob === undefined) continue;
      await pipeStreams(
        await this.#o.blobs.get(blob.sha256),
        createWriteStream(path, { flags: 'a' }),
      );
    }
  }

  /**
   * A queued attempt nobody can take waits forever; say so (once per attempt) in the log
   * instead of hanging silently.
   */
  async #warnUnattended(): Promise<void> {
    const keys = [...this.#waiters.keys()].filter((k) => !this.#warned.has(k));
    if (keys.length === 0) return;
    const ids = keys.map((k) => k.slice(0, k.lastIndexOf(':')));
    const attempts = keys.map((k) => Number(k.slice(k.lastIndexOf(':') + 1)));
    const { unattendedWarnMs, lostAfterMs } = this.#o;
    const { rows } = await sql<{
      step_run_id: string;
      attempt: number;
      queue: string;
      waited_ms: number;
    }>`
      select a.step_run_id, a.attempt, a.queue, ${dbNowMs} - a.enqueued_at as waited_ms
      from unnest(${ids}::text[], ${attempts}::int[]) as k(step_run_id, attempt)
      join step_attempt a on a.step_run_id = k.step_run_id and a.attempt = k.attempt
      where a.status = 'queued' and a.enqueued_at < ${dbNowMs} - ${unattendedWarnMs}
        and not exists (select 1 from worker w where w.queue = a.queue and w.state = 'running'
                        and w.last_heartbeat >= ${dbNowMs} - ${lostAfterMs})`.execute(
      this.#o.store.db,
    );
    for (const r of rows) {
      this.#warned.add(`${r.step_run_id}:${r.attempt}`);
      this.#o.logger.warn(
        { stepRunId: r.step_run_id, attempt: r.attempt, queue: r.queue },
        `a step has waited ${Math.round(Number(r.waited_ms) / 1000)} s and no live worker takes queue '${r.queue}': start one with 'mobius worker --queue ${r.queue}' on the same store (docs/scaling.md)`,
      );
    }
  }

  /** Wakes waiters whose commit a notification missed, and sweeps for lost workers. */
  async #poll(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      if (this.#waiters.size > 0) {
        await sweepLostWorkers(this.#o.store, this.#location, this.#o.lostAfterMs, this.#o.logger);
        const settled = await settledAmong(this.#o.store, [...this.#waiters.keys()]);
        for (const key of settled) this.#waiters.get(key)?.();
        await this.#warnUnattended();
      }
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'queue poll failed; retrying');
    } finally {
      this.#sweeping = false;
    }
  }
}
