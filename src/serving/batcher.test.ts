import { describe, expect, it } from 'vitest';
import { Batcher } from './batcher.js';
import type { ModelRuntime } from './runtime.js';
import { JsonModelRuntime } from './runtimes/json-model.js';
import type { Tensor } from './signature.js';

/** y = 2a − b + 0.5, a real Mobius JSON model. */
const model = () =>
  JsonModelRuntime.fromJson({
    format: 'mobius-linear',
    features: ['a', 'b'],
    task: 'regression',
    coefficients: [2, -1],
    intercept: 0.5,
  });

/** Watches the model runs of `runtime` (the rows in each), changing nothing else. */
function watched(runtime: ModelRuntime, change?: (inputs: readonly Tensor[]) => void) {
  const runs: number[] = [];
  const wrapped: ModelRuntime = {
    platform: runtime.platform,
    signature: runtime.signature,
    features: runtime.features,
    infer: async (inputs, outputs) => {
      runs.push(inputs[0]!.shape[0]!);
      change?.(inputs);
      return runtime.infer(inputs, outputs);
    },
    close: () => runtime.close(),
  };
  return { runs, runtime: wrapped };
}

const request = (rows: number[][]): Tensor[] => [
  { name: 'input', datatype: 'FP64', shape: [rows.length, 2], data: rows.flat() },
];
/** 60 requests of 1–3 rows with distinct values. */
const requests = Array.from({ length: 60 }, (_, i) =>
  Array.from({ length: 1 + (i % 3) }, (_, j) => [i, j * 10 + i / 7]),
);
const expected = (rows: number[][]) => rows.map(([a, b]) => 2 * a! - b! + 0.5);

describe('Batcher', () => {
  it('runs a request that finds the model idle alone, batches the ones that queued, and gives each its own rows', async () => {
    const { runs, runtime } = watched(model());
    const batcher = new Batcher(runtime, { maxBatchSize: 32, concurrency: 1 });
    const answers = await Promise.all(requests.map((rows) => batcher.infer(request(rows))));
    answers.forEach((a, i) => {
      expect(a.outputs[0]!.data).toEqual(expected(requests[i]!));
      expect(a.outputs[0]!.shape).toEqual([requests[i]!.length]);
    });
    expect(runs[0]).toBe(1); // the first found the model idle
    expect(runs.length).toBeLessThan(requests.length / 4);
    expect(Math.max(...runs)).toBeLessThanOrEqual(32);
    expect(runs.reduce((n, r) => n + r, 0)).toBe(requests.reduce((n, r) => n + r.length, 0));
    expect(answers[0]!.batchSize).toBe(1);
    expect(Math.max(...answers.map((a) => a.batchSize))).toBeGreaterThan(1);
    // Stages: a request alone spends nothing on batching; batched ones spend some, apart
    // from the model run, and the members of one run report the same run time.
    expect(answers[0]!.batchMs).toBe(0);
    const batched = answers.filter((a) => a.batchSize > 1);
    expect(batched.every((a) => a.batchMs > 0 && a.modelMs > 0 && a.queueMs >= 0)).toBe(true);
    const byRun = new Map<number, Set<number>>();
    for (const a of batched)
      byRun.set(a.modelMs, (byRun.get(a.modelMs) ?? new Set()).add(a.batchSize));
    expect([...byRun.values()].every((sizes) => sizes.size === 1)).toBe(true);
  });

  it('a request the model refuses fails alone; the others in its batch are answered', async () => {
    const { runtime } = watched(model(), (inputs) => {
      if ((inputs[0]!.data as number[]).includes(-999)) throw new Error('refused: -999');
    });
    const batcher = new Batcher(runtime, { maxBatchSize: 64, concurrency: 1 });
    const bad = [[-999, 0]];
    const all = [requests[0]!, ...requests.slice(1, 20), bad, ...requests.slice(20, 40)];
    const settled = await Promise.allSettled(all.map((rows) => batcher.infer(request(rows))));
    settled.forEach((s, i) => {
      if (all[i] === bad) expect(s).toMatchObject({ status: 'rejected' });
      else {
        expect(s.status).toBe('fulfilled');
        if (s.status === 'fulfilled') expect(s.value.outputs[0]!.data).toEqual(expected(all[i]!));
      }
    });
  });

  it('a model that does not answer one row per input row is run request by request from then on', async () => {
    // Sums its rows into one value: right alone, wrong for a batch.
    const base = model();
    const runs: number[] = [];
    const summing: ModelRuntime = {
      ...base,
      platform: base.platform,
      signature: base.signature,
      features: base.features,
      infer: async (inputs, outputs) => {
        runs.push(inputs[0]!.shape[0]!);
        const [out] = await base.infer(inputs, outputs);
        const sum = (out!.data as number[]).reduce((s, v) => s + v, 0);
        return [{ ...out!, shape: [1], data: [sum] }];
      },
      close: () => base.close(),
    };
    const batcher = new Batcher(summing, { maxBatchSize: 64, concurrency: 1 });
    const single = requests.filter((r) => r.length === 1).slice(0, 12);
    const answers = await Promise.all(single.map((rows) => batcher.infer(request(rows))));
    answers.forEach((a, i) => expect(a.outputs[0]!.data).toEqual(expected(single[i]!)));
    const after = runs.length;
    await Promise.all(single.map((rows) => batcher.infer(request(rows))));
    expect(runs.slice(after).every((n) => n === 1)).toBe(true);
  });

  it('does not batch a model with a fixed first dimension', async () => {
    const base = model();
    const fixed: ModelRuntime = {
      platform: base.platform,
      features: base.features,
      signature: {
        inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 2] }],
        outputs: [{ name: 'prediction', datatype: 'FP64', shape: [1] }],
      },
      infer: (inputs, outputs) => base.infer(inputs, outputs),
      close: () => base.close(),
    };
    const { runs, runtime } = watched(fixed);
    const batcher = new Batcher(runtime, { maxBatchSize: 64, concurrency: 1 });
    const one = requests.filter((r) => r.length === 1).slice(0, 10);
    await Promise.all(one.map((rows) => batcher.infer(request(rows))));
    expect(runs).toEqual(Array(10).fill(1));
  });
});
