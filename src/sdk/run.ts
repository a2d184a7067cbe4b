/**
 * A run handle: what a training script holds while it logs. Metrics are buffered in
 * memory and sent in batches — when the buffer reaches `batchSize`, every
 * `flushIntervalMs`, on `flush()`/`end()`, and when the process is about to exit
 * (`beforeExit`). Each batch gets its id when it is cut from the buffer and keeps it
 * through retries, so a batch whose response was lost is recorded once (the server
 * remembers batch ids per run; see store migration 007).
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, posix, sep } from 'node:path';
import { Readable } from 'node:stream';
import { MobiusError, isMobiusError } from '../core/index.js';
import type { MobiusClient } from './client.js';
import { encodeValue, type RunData } from './types.js';

/** The server's per-request ceiling for metric points (core limits' MAX_BATCH_METRICS). */
export const MAX_BATCH_POINTS = 1000;

export interface RunHandleOptions {
  /** Points per batch; default and maximum 1000. */
  batchSize?: number;
  /** Send buffered points at least this often; default 5000 ms. 0 turns the timer off. */
  flushIntervalMs?: number;
}

type EndStatus = 'FINISHED' | 'FAILED' | 'KILLED';

/**
 * Runs not yet ended. One `beforeExit` listener serves them all (one per run would trip
 * Node's max-listeners warning with a dozen runs). beforeExit fires when the event loop
 * runs dry: the last chance to send what is buffered; the sends keep the loop alive.
 */
const openRuns = new Set<RunHandle>();
function flushOpenRuns(): void {
  for (const run of openRuns) run.flushBeforeExit();
}

interface Batch {
  id: string;
  points: { key: string; value: number; step: number; timestamp: number }[];
}

/**
 * One run being logged to.
 *
 * @example
 * const run = await client.startRun({ experiment: 'churn' });
 * await run.logParams({ lr: 0.01, optimizer: 'adam' });
 * for (let step = 0; step < 100; step++) run.logMetrics({ loss: 1 / (step + 1) }, { step });
 * await run.logArtifact('out/model.json', 'model/model.json');
 * await run.end();
 */
export class RunHandle {
  readonly id: string;
  readonly experimentId: string;
  readonly #client: MobiusClient;
  readonly #batchSize: number;
  #buffer: Batch['points'] = [];
  /** Batches cut from the buffer and not yet acknowledged, oldest first. */
  readonly #pending: Batch[] = [];
  #sending: Promise<void> = Promise.resolve();
  /** A background flush's failure, reported by the next flush() or end(). */
  #error: Error | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ended = false;
  /** Sends what is buffered without waiting (the process is about to exit). */
  readonly flushBeforeExit = () => {
    if (this.#buffer.length > 0 || this.#pending.length > 0) this.#flushInBackground();
  };

  constructor(client: MobiusClient, run: RunData, options: RunHandleOptions = {}) {
    this.#client = client;
    this.id = run.id;
    this.experimentId = run.experimentId;
    const size = options.batchSize ?? MAX_BATCH_POINTS;
    if (!Number.isSafeInteger(size) || size < 1 || size > MAX_BATCH_POINTS)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `batchSize must be between 1 and ${MAX_BATCH_POINTS}, not ${size}`,
      );
    this.#batchSize = size;
    const interval = options.flushIntervalMs ?? 5000;
    if (interval > 0) {
      this.#timer = setInterval(() => {
        if (this.#buffer.length > 0) this.#flushInBackground();
      }, interval);
      this.#timer.unref(); // the timer alone must not keep a finished script alive
    }
    openRuns.add(this);
    if (openRuns.size === 1) process.on('beforeExit', flushOpenRuns);
  }

  /** Logs params (immutable: the same value again is fine, a different one is CONFLICT). */
  async logParams(params: Record<string, string | number | boolean>): Promise<void> {
    const values = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)]));
    if (Object.keys(values).length === 0) return;
    // Safe to retry: logging the same value twice is a no-op on the server.
    await this.#client.request('POST', this.#path('/params'), { params: values }, { retry: true });
  }

  /** Sets tags (overwriting earlier values). */
  async setTags(tags: Record<string, string>): Promise<void> {
    if (Object.keys(tags).length === 0) return;
    await this.#client.request('POST', this.#path('/tags'), { tags }, { retry: true });
  }

  /**
   * Buffers metric points (NaN and ±Infinity allowed); they are sent in batches. Errors
   * from sending surface at the next `flush()` or `end()`.
   *
   * @example
   * run.logMetrics({ loss: 0.3, acc: 0.91 }, { step: 10 });
   */
  logMetrics(
    metrics: Record<string, number>,
    at: { step?: number; timestamp?: number } = {},
  ): void {
    if (this.#ended)
      throw new MobiusError('INVALID_ARGUMENT', `run ${this.id} has ended; start a new run to log`);
    const timestamp = at.timestamp ?? Date.now();
    const step = at.step ?? 0;
    for (const [key, value] of Object.entries(metrics)) {
      if (typeof value !== 'number')
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `metric '${key}' must be a number, not ${typeof value}`,
        );
      this.#buffer.push({ key, value, step, timestamp });
    }
    if (this.#buffer.length >= this.#batchSize) this.#flushInBackground();
  }

  /** Sends every buffered point now; throws if this or an earlier background send failed. */
  async flush(): Promise<void> {
    this.#cut();
    await this.#drain();
    await this.#sending;
    if (this.#error !== undefined) {
      const error = this.#error;
      this.#error = undefined;
      throw error;
    }
  }

  /**
   * Uploads a file (streamed) or a directory (each file under it) as run artifacts.
   * `artifactPath` defaults to the file's or directory's name.
   */
  async logArtifact(localPath: string, artifactPath?: string): Promise<void> {
    const target = (artifactPath ?? basename(localPath)).replace(/^\/+|\/+$/g, '');
    const info = await stat(localPath);
    if (info.isDirectory()) {
      const entries = await readdir(localPath, { recursive: true, withFileTypes: true });
      for (const entry of entries) {
        if (!entry.isFile()) continue;
        const full = join(entry.parentPath, entry.name);
        const rel = full.slice(localPath.length).split(sep).filter(Boolean).join('/');
        await this.#upload(full, target === '' ? rel : posix.join(target, rel));
      }
      return;
    }
    if (target === '')
      throw new MobiusError(
        'INVALID_ARGUMENT',
        'give an artifact path for the file, e.g. model.json',
      );
    await this.#upload(localPath, target);
  }

  /** Flushes, then marks the run ended with `status` (default FINISHED). Idempotent. */
  async end(status: EndStatus = 'FINISHED'): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    openRuns.delete(this);
    if (openRuns.size === 0) process.off('beforeExit', flushOpenRuns);
    try {
      await this.flush();
    } finally {
      if (!this.#ended) {
        this.#ended = true;
        await this.#client.request(
          'PATCH',
          this.#path(''),
          { status, endTime: Date.now() },
          { retry: true },
        );
      }
    }
  }

  #path(rest: string): string {
    return `/api/v1/runs/${encodeURIComponent(this.id)}${rest}`;
  }

  async #upload(file: string, artifactPath: string): Promise<void> {
    const { size } = await stat(file);
    const encoded = artifactPath.split('/').map(encodeURIComponent).join('/');
    // A fresh stream per attempt: a retried upload re-reads the file (PUT overwrites).
    await this.#client.request(
      'PUT',
      this.#path(`/artifacts/${encoded}`),
      () => ({
        body: Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(size),
        },
      }),
      { retry: true },
    );
  }

  /** Moves the buffer into batches of at most batchSize, each with its own id. */
  #cut(): void {
    while (this.#buffer.length > 0) {
      this.#pending.push({ id: randomUUID(), points: this.#buffer.splice(0, this.#batchSize) });
    }
  }

  #flushInBackground(): void {
    this.#cut();
    void this.#drain().catch((error: unknown) => {
      this.#error ??= error instanceof Error ? error : new Error(String(error));
    });
  }

  /** Sends pending batches one after another (so a run's points arrive in order). */
  #drain(): Promise<void> {
    const next = this.#sending.then(async () => {
      while (this.#pending.length > 0) {
        const batch = this.#pending[0]!;
        try {
          await this.#client.request(
            'POST',
            this.#path('/metrics'),
            {
              batchId: batch.id,
              metrics: batch.points.map((p) => ({ ...p, value: encodeValue(p.value) })),
            },
            { retry: true },
          );
        } catch (error) {
          // Out of retries on an outage: keep the batch (same id) for the next flush.
          // Refused by the server (bad input, deleted run): drop it and report.
          if (!isMobiusError(error) || error.code !== 'UNAVAILABLE') this.#pending.shift();
          throw error;
        }
        this.#pending.shift();
      }
    });
    // The chain continues after a failure; the failure is reported to this caller only.
    this.#sending = next.catch(() => undefined);
    return next;
  }
}
