/**
 * The prediction log's write path: a bounded in-memory buffer written to the store in
 * batches, on a timer or as soon as a batch is full. `record` is synchronous and never
 * touches the store, so inference never waits on it; when the buffer is full (the store
 * is slow or down) the record is dropped and counted per deployment — the counter is what
 * `deployments show` and the API report, so a gap in the log is never silent. Records a
 * failed batch write loses are counted the same way.
 */
import { Worker } from 'node:worker_threads';
import { MobiusError, limits, type Logger } from '../core/index.js';
import type { Store } from '../store/index.js';

/** One prediction of one route. */
export interface PredictionRecord {
  requestId: string;
  deployment: string;
  model: string | undefined;
  version: number | undefined;
  route: 'primary' | 'shadow';
  /** The request's inputs (OIP tensors or records), serialised when the batch is written. */
  inputs: unknown;
  /** The answer, or undefined when the request failed. */
  outputs: unknown;
  latencyMs: number;
  error: string | undefined;
  at: number;
}

/** Buffer and batch sizes; defaults from core/limits.ts. Tests shrink them to force an overflow. */
export interface PredictionLogOptions {
  bufferSize?: number;
  batchSize?: number;
  flushIntervalMs?: number;
  /**
   * The SQLite file of the store: batches are then written by a thread of their own
   * (prediction-log-writer.ts) instead of blocking the serving thread.
   */
  sqlitePath?: string | undefined;
}

/** Where predictions go; `ServingService` calls `record` on every answered request. */
export interface PredictionSink {
  /** False when the record was dropped (the buffer was full). */
  record(record: PredictionRecord): boolean;
}

/** Buffers prediction records and writes them in batches. */
export class PredictionLog implements PredictionSink {
  private buffer: PredictionRecord[] = [];
  private readonly droppedBy = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private writer: SqliteWriter | undefined;
  readonly bufferSize: number;
  readonly batchSize: number;
  readonly flushIntervalMs: number;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    options: PredictionLogOptions = {},
  ) {
    this.bufferSize = options.bufferSize ?? limits.PREDICTION_LOG_BUFFER;
    this.batchSize = options.batchSize ?? limits.PREDICTION_LOG_BATCH;
    this.flushIntervalMs = options.flushIntervalMs ?? limits.PREDICTION_LOG_FLUSH_MS;
    if (options.sqlitePath !== undefined && options.sqlitePath !== ':memory:')
      this.writer = new SqliteWriter(options.sqlitePath);
    for (const [key, value] of Object.entries({
      bufferSize: this.bufferSize,
      batchSize: this.batchSize,
      flushIntervalMs: this.flushIntervalMs,
    }))
      if (!Number.isSafeInteger(value) || value < 1)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `prediction log ${key} must be a positive integer`,
        );
  }

  /** Queues a record; drops and counts it when the buffer is full (false). Never waits. */
  record(record: PredictionRecord): boolean {
    if (this.closed || this.buffer.length >= this.bufferSize) {
      this.droppedBy.set(record.deployment, (this.droppedBy.get(record.deployment) ?? 0) + 1);
      return false;
    }
    this.buffer.push(record);
    if (this.buffer.length >= this.batchSize) this.schedule(0);
    else this.schedule(this.flushIntervalMs);
    return true;
  }

  /** Records of `deployment` dropped since this process started. */
  dropped(deployment: string): number {
    return this.droppedBy.get(deployment) ?? 0;
  }

  /** Records waiting to be written. */
  get pending(): number {
    return this.buffer.length;
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A full batch writes full batches only (the rest waits for its timer); the timer writes all.
      void this.flush(ms > 0).then(() => {
        if (this.buffer.length > 0) this.schedule(this.flushIntervalMs);
      });
    }, ms);
    // A pending flush must not keep a CLI process alive; close() flushes what is left.
    this.timer.unref();
  }

  /**
   * Writes what is buffered, one batch per transaction: everything, or with `all` false
   * only full batches.
   */
  async flush(all = true): Promise<void> {
    // One writer at a time: a flush waits for the one in progress, then writes what is left.
    while (this.flushing !== undefined) await this.flushing;
    if (this.buffer.length === 0) return;
    this.flushing = this.drain(all ? 1 : this.batchSize);
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }

  private async drain(atLeast: number): Promise<void> {
    while (this.buffer.length >= atLeast && this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.batchSize);
      try {
        if (this.writer !== undefined) await this.writer.write(batch);
        else
          await this.store.write((trx) =>
            trx.insertInto('prediction_log').values(batch.map(toRow)).execute(),
          );
      } catch (error) {
        for (const r of batch)
          this.droppedBy.set(r.deployment, (this.droppedBy.get(r.deployment) ?? 0) + 1);
        this.logger.error(
          { err: error, records: batch.length },
          'prediction log: a batch could not be written; its records are counted as dropped',
        );
      }
    }
  }

  /** Writes what is buffered and stops accepting records. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    this.closed = true;
    await this.writer?.close();
  }
}

/** A record as a `prediction_log` row (inputs and outputs as JSON text). */
export function toRow(r: PredictionRecord) {
  return {
    request_id: r.requestId,
    deployment: r.deployment,
    model: r.model ?? null,
    version: r.version ?? null,
    route: r.route,
    inputs: JSON.stringify(r.inputs) ?? 'null',
    outputs: r.outputs === undefined ? null : JSON.stringify(r.outputs),
    latency_ms: r.latencyMs,
    error: r.error ?? null,
    created_at: r.at,
  };
}

/**
 * A thread writing batches over its own SQLite connection. Started with the first batch;
 * from TypeScript sources (tests, tsx) the thread loads its module through tsx as well.
 */
class SqliteWriter {
  private worker: Worker | undefined;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(private readonly path: string) {}

  write(records: PredictionRecord[]): Promise<void> {
    const worker = this.start();
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, records });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const fromSource = import.meta.url.endsWith('.ts');
    const entry = new URL(`./prediction-log-writer.${fromSource ? 'ts' : 'js'}`, import.meta.url);
    // From TypeScript sources the thread registers tsx's loader itself, then imports.
    const worker = fromSource
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`,
          { eval: true, workerData: { path: this.path } },
        )
      : new Worker(entry, { workerData: { path: this.path } });
    worker.unref();
    worker.on('message', (m: { id: number; error?: string }) => {
      const waiter = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error === undefined) waiter?.resolve();
      else waiter?.reject(new Error(m.error));
    });
    worker.on('error', (error) => {
      // A dead writer fails what it had; the next batch starts a new one.
      if (this.worker === worker) this.worker = undefined;
      for (const w of this.waiting.values()) w.reject(error);
      this.waiting.clear();
    });
    this.worker = worker;
    return worker;
  }
}
