/**
 * Adaptive batching of concurrent requests, the way Triton's dynamic batcher and BentoML's
 * adaptive batching work, without a timer: a request that finds the model idle runs at
 * once, alone, so a lightly loaded deployment adds no waiting; requests that arrive while
 * a batch is running queue, and the next batch takes them together (up to
 * `maxBatchSize` rows). The latency cap is therefore one model run: nothing waits for a
 * batch to fill.
 *
 * Only models whose every input and output has a free first dimension (`[-1, …]`) are
 * batched, and only requests asking for the same outputs with the same trailing shapes go
 * together. Two safety nets keep one request from harming another: a batch that fails is
 * re-run request by request (so only the bad request fails), and a model whose outputs do
 * not come back one row per input row is never batched again.
 */
import type { ModelRuntime } from './runtime.js';
import { elementCount, type Tensor } from './signature.js';

export interface BatchingOptions {
  /** Most rows in one model run. */
  maxBatchSize: number;
  /** Model runs in flight at once; more requests queue for the next batch. */
  concurrency: number;
}

/** A request's answer and how it was served, for the stage metrics. */
export interface BatchedAnswer {
  outputs: Tensor[];
  /** Milliseconds spent queued before its batch started. */
  queueMs: number;
  /** Milliseconds stacking the batch's inputs and splitting its outputs (0 when alone). */
  batchMs: number;
  /** Milliseconds of the model run that answered it. */
  modelMs: number;
  /** Requests in that model run. */
  batchSize: number;
}

interface Pending {
  inputs: readonly Tensor[];
  outputs: readonly string[] | undefined;
  rows: number;
  key: string;
  queuedAt: number;
  resolve: (answer: BatchedAnswer) => void;
  reject: (error: unknown) => void;
}

export class Batcher {
  private readonly queue: Pending[] = [];
  private running = 0;
  private batchable: boolean;

  constructor(
    private readonly runtime: ModelRuntime,
    private readonly options: BatchingOptions,
  ) {
    const { inputs, outputs } = runtime.signature;
    this.batchable =
      options.maxBatchSize > 1 &&
      inputs.length > 0 &&
      [...inputs, ...outputs].every((spec) => spec.shape.length > 0 && spec.shape[0] === -1);
  }

  /** Runs `inputs` (already validated against the signature), alone or with others. */
  infer(inputs: readonly Tensor[], outputs?: readonly string[]): Promise<BatchedAnswer> {
    return new Promise((resolve, reject) => {
      const rows = inputs[0]?.shape[0] ?? 0;
      const sameRows = inputs.every((t) => t.shape[0] === rows);
      const key =
        this.batchable && sameRows && rows > 0
          ? JSON.stringify([outputs ?? null, inputs.map((t) => t.shape.slice(1))])
          : '';
      this.queue.push({ inputs, outputs, rows, key, queuedAt: performance.now(), resolve, reject });
      this.pump();
    });
  }

  /** Starts batches while there is room to run them. */
  private pump(): void {
    while (this.running < this.options.concurrency && this.queue.length > 0) {
      const batch = this.take();
      this.running++;
      void this.run(batch).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  /** The oldest request and, when it can be batched, the queued ones that fit with it. */
  private take(): Pending[] {
    const first = this.queue.shift()!;
    if (first.key === '' || !this.batchable) return [first];
    const batch = [first];
    let rows = first.rows;
    for (let i = 0; i < this.queue.length && rows < this.options.maxBatchSize;) {
      const next = this.queue[i]!;
      if (next.key === first.key && rows + next.rows <= this.options.maxBatchSize) {
        batch.push(next);
        rows += next.rows;
        this.queue.splice(i, 1);
      } else i++;
    }
    return batch;
  }

  private async run(batch: Pending[]): Promise<void> {
    const started = performance.now();
    if (batch.length === 1) {
      const [only] = batch;
      try {
        const outputs = await this.runtime.infer(only!.inputs, only!.outputs);
        only!.resolve(answer(outputs, only!, started, 1, performance.now() - started, 0));
      } catch (error) {
        only!.reject(error);
      }
      return;
    }
    let outputs: Tensor[];
    let stacking = 0;
    try {
      const inputs = concat(batch);
      stacking = performance.now() - started;
      outputs = await this.runtime.infer(inputs, batch[0]!.outputs);
    } catch {
      // One bad request must not fail the others: each runs alone and gets its own answer.
      return this.alone(batch);
    }
    const total = batch.reduce((n, p) => n + p.rows, 0);
    if (!outputs.every((t) => t.shape[0] === total)) {
      // Not one output row per input row: this model cannot be batched.
      this.batchable = false;
      return this.alone(batch);
    }
    const ran = performance.now();
    const parts: Tensor[][] = [];
    let offset = 0;
    for (const pending of batch) {
      parts.push(slice(outputs, offset, pending.rows));
      offset += pending.rows;
    }
    const batchMs = stacking + performance.now() - ran;
    batch.forEach((pending, i) =>
      pending.resolve(
        answer(parts[i]!, pending, started, batch.length, ran - started - stacking, batchMs),
      ),
    );
  }

  private async alone(batch: Pending[]): Promise<void> {
    await Promise.all(batch.map((p) => this.run([p])));
  }
}

function answer(
  outputs: Tensor[],
  p: Pending,
  started: number,
  batchSize: number,
  modelMs: number,
  batchMs: number,
): BatchedAnswer {
  return { outputs, queueMs: started - p.queuedAt, batchMs, modelMs, batchSize };
}

/** The batch's inputs stacked along the first dimension. */
function concat(batch: Pending[]): Tensor[] {
  const rows = batch.reduce((n, p) => n + p.rows, 0);
  return batch[0]!.inputs.map((first, i) => ({
    name: first.name,
    datatype: first.datatype,
    shape: [rows, ...first.shape.slice(1)],
    data: batch.flatMap((p) => p.inputs[i]!.data as unknown[]) as Tensor['data'],
  }));
}

/** Rows `offset`…`offset + rows` of every output. */
function slice(outputs: Tensor[], offset: number, rows: number): Tensor[] {
  return outputs.map((t) => {
    const width = elementCount(t.shape.slice(1));
    return {
      ...t,
      shape: [rows, ...t.shape.slice(1)],
      data: t.data.slice(offset * width, (offset + rows) * width),
    };
  });
}
