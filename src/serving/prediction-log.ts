/**
 * The prediction log's write path: a bounded in-memory buffer written to the store in
 * batches, on a timer or as soon as a batch is full. `record` is synchronous and never
 * touches the store, so inference never waits on it; when the buffer is full (the store
 * is slow or down) the record is dropped and counted per deployment — the counter is what
 * `deployments show` and the API report, so a gap in the log is never silent. Records a
 * failed batch write loses are counted the same way.
 *
 * `record` serialises the record at once into its batch's byte buffer, one line a record,
 * outside the JavaScript heap: nothing of the request survives it. Holding the requests'
 * objects until their batch was written had made every young-generation GC copy them —
 * at 1,000 requests/s the serving thread paused 3–25 ms a scavenge (bench/serving). A
 * full batch is handed to the SQLite writer thread by transferring its buffer (no copy).
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
  /** The request's inputs (OIP tensors or records), serialised by `record`. */
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
  bufferBytes?: number;
  batchSize?: number;
  batchBytes?: number;
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

/**
 * Records serialised into one byte buffer, a line each: `[request id, deployment, model,
 * version, route, latency, error, at]` as JSON, a tab, the inputs' JSON, a tab, the
 * outputs' JSON (empty when the request failed). JSON text has no raw tab or newline.
 */
interface Batch {
  /** Its own memory (not Node's shared pool), so it can be transferred to the writer. */
  bytes: Buffer;
  length: number;
  records: number;
  /** Records per deployment, to count them as dropped if the batch cannot be written. */
  deployments: Map<string, number>;
}

/** Buffers prediction records and writes them in batches. */
export class PredictionLog implements PredictionSink {
  private filling: Batch = newBatch();
  private readonly full: Batch[] = [];
  private records = 0;
  private bytes = 0;
  private readonly droppedBy = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private writer: SqliteWriter | undefined;
  readonly bufferSize: number;
  readonly bufferBytes: number;
  readonly batchSize: number;
  readonly batchBytes: number;
  readonly flushIntervalMs: number;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    options: PredictionLogOptions = {},
  ) {
    this.bufferSize = options.bufferSize ?? limits.PREDICTION_LOG_BUFFER;
    this.bufferBytes = options.bufferBytes ?? limits.PREDICTION_LOG_BUFFER_BYTES;
    this.batchSize = options.batchSize ?? limits.PREDICTION_LOG_BATCH;
    this.batchBytes = options.batchBytes ?? limits.PREDICTION_LOG_BATCH_BYTES;
    this.flushIntervalMs = options.flushIntervalMs ?? limits.PREDICTION_LOG_FLUSH_MS;
    for (const [key, value] of Object.entries({
      bufferSize: this.bufferSize,
      bufferBytes: this.bufferBytes,
      batchSize: this.batchSize,
      batchBytes: this.batchBytes,
      flushIntervalMs: this.flushIntervalMs,
    }))
      if (!Number.isSafeInteger(value) || value < 1)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `prediction log ${key} must be a positive integer`,
        );
    if (options.sqlitePath !== undefined && options.sqlitePath !== ':memory:')
      this.writer = new SqliteWriter(options.sqlitePath);
  }

  /** Queues a record; drops and counts it when the buffer is full (false). Never waits. */
  record(record: PredictionRecord): boolean {
    const line = this.closed || this.records >= this.bufferSize ? undefined : encode(record);
    // A UTF-16 code unit is at most 3 UTF-8 bytes: the bound is checked before encoding.
    if (line === undefined || this.bytes + line.length * 3 > this.bufferBytes) {
      this.drop(record.deployment, 1);
      return false;
    }
    const batch = this.filling;
    if (batch.bytes.length - batch.length < line.length * 3) grow(batch, line.length * 3);
    const written = batch.bytes.write(line, batch.length);
    batch.length += written;
    batch.records++;
    batch.deployments.set(record.deployment, (batch.deployments.get(record.deployment) ?? 0) + 1);
    this.records++;
    this.bytes += written;
    if (batch.records >= this.batchSize || batch.length >= this.batchBytes) {
      this.full.push(batch);
      this.filling = newBatch();
      this.schedule(0);
    } else this.schedule(this.flushIntervalMs);
    return true;
  }

  /** Records of `deployment` dropped since this process started. */
  dropped(deployment: string): number {
    return this.droppedBy.get(deployment) ?? 0;
  }

  /** Records waiting to be written. */
  get pending(): number {
    return this.records;
  }

  private drop(deployment: string, count: number): void {
    this.droppedBy.set(deployment, (this.droppedBy.get(deployment) ?? 0) + count);
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
        if (this.records > 0) this.schedule(this.flushIntervalMs);
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
    if (this.records === 0) return;
    this.flushing = this.drain(all);
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }

  private async drain(all: boolean): Promise<void> {
    if (all && this.filling.records > 0) {
      this.full.push(this.filling);
      this.filling = newBatch();
    }
    for (let batch = this.full.shift(); batch !== undefined; batch = this.full.shift()) {
      const { records, length } = batch;
      try {
        if (this.writer !== undefined) await this.writer.write(batch);
        else
          await this.store.write((trx) =>
            trx.insertInto('prediction_log').values(decode(batch.bytes, length)).execute(),
          );
      } catch (error) {
        for (const [deployment, count] of batch.deployments) this.drop(deployment, count);
        this.logger.error(
          { err: error, records },
          'prediction log: a batch could not be written; its records are counted as dropped',
        );
      } finally {
        this.records -= records;
        this.bytes -= length;
      }
    }
  }

  /**
   * Deletes the records created before `cutoff` (ms since the epoch), oldest first,
   * PREDICTION_LOG_PRUNE_CHUNK rows a statement; on SQLite on the writer thread's own
   * connection. Returns how many were deleted.
   */
  async prune(cutoff: number): Promise<number> {
    if (this.writer !== undefined) return this.writer.prune(cutoff);
    let deleted = 0;
    for (;;) {
      const result = await this.store.write((trx) =>
        trx
          .deleteFrom('prediction_log')
          .where('seq', 'in', (eb) =>
            eb
              .selectFrom('prediction_log')
              .select('seq')
              .where('created_at', '<', cutoff)
              .orderBy('seq')
              .limit(limits.PREDICTION_LOG_PRUNE_CHUNK),
          )
          .executeTakeFirst(),
      );
      const n = Number(result.numDeletedRows);
      deleted += n;
      if (n < limits.PREDICTION_LOG_PRUNE_CHUNK) return deleted;
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

function newBatch(): Batch {
  return {
    bytes: Buffer.allocUnsafeSlow(64 * 1024),
    length: 0,
    records: 0,
    deployments: new Map(),
  };
}

/** Makes room for `more` bytes (at least doubling, so appends stay linear). */
function grow(batch: Batch, more: number): void {
  const bytes = Buffer.allocUnsafeSlow(Math.max(batch.bytes.length * 2, batch.length + more));
  batch.bytes.copy(bytes, 0, 0, batch.length);
  batch.bytes = bytes;
}

/** One record as its line (see Batch). */
function encode(r: PredictionRecord): string {
  const head = JSON.stringify([
    r.requestId,
    r.deployment,
    r.model ?? null,
    r.version ?? null,
    r.route,
    r.latencyMs,
    // An error may quote the request; PostgreSQL text cannot hold NUL.
    r.error?.replaceAll('\u0000', '\ufffd') ?? null,
    r.at,
  ]);
  const outputs = r.outputs === undefined ? '' : JSON.stringify(r.outputs);
  return `${head}\t${JSON.stringify(r.inputs) ?? 'null'}\t${outputs}\n`;
}

/** A batch's lines as `prediction_log` rows (inputs and outputs stay JSON text). */
export function decode(bytes: Uint8Array, length: number) {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, length).toString('utf8');
  const rows = [];
  for (let start = 0; start < text.length;) {
    const end = text.indexOf('\n', start);
    const tab1 = text.indexOf('\t', start);
    const tab2 = text.indexOf('\t', tab1 + 1);
    const [requestId, deployment, model, version, route, latencyMs, error, at] = JSON.parse(
      text.slice(start, tab1),
    ) as [string, string, string | null, number | null, string, number, string | null, number];
    const outputs = text.slice(tab2 + 1, end);
    rows.push({
      request_id: requestId,
      deployment,
      model,
      version,
      route,
      inputs: text.slice(tab1 + 1, tab2),
      outputs: outputs === '' ? null : outputs,
      latency_ms: latencyMs,
      error,
      created_at: at,
    });
    start = end + 1;
  }
  return rows;
}

/**
 * A thread writing batches over its own SQLite connection. Started with the first batch;
 * from TypeScript sources (tests, tsx) the thread loads its module through tsx as well.
 */
class SqliteWriter {
  private worker: Worker | undefined;
  private next = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (reply: { deleted?: number }) => void; reject: (e: Error) => void }
  >();

  constructor(private readonly path: string) {}

  /** Hands the batch's bytes to the thread (transferred: the batch is spent). */
  async write(batch: Batch): Promise<void> {
    await this.ask({ bytes: batch.bytes, length: batch.length }, [
      batch.bytes.buffer as ArrayBuffer,
    ]);
  }

  /** Deletes records created before `cutoff` on the thread; how many. */
  async prune(cutoff: number): Promise<number> {
    return (await this.ask({ prune: cutoff })).deleted ?? 0;
  }

  private ask(message: object, transfer: ArrayBuffer[] = []): Promise<{ deleted?: number }> {
    const worker = this.start();
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, ...message }, transfer);
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
    worker.on('message', (m: { id: number; error?: string; deleted?: number }) => {
      const waiter = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error === undefined) waiter?.resolve(m);
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
