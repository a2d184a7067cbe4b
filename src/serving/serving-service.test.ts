import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ModelRuntime } from './runtime.js';
import { ServingService } from './serving-service.js';

const IRIS = readFileSync(new URL('../../test/fixtures/serving/iris.onnx', import.meta.url));
const linear = (w: number) => ({
  json: {
    format: 'mobius-linear',
    task: 'regression',
    features: ['x'],
    coefficients: [w],
    intercept: 0,
  },
});
const request = (rows: number) => ({
  inputs: [
    { name: 'X', datatype: 'FP32', shape: [rows, 4], data: new Array<number>(rows * 4).fill(1) },
  ],
});

/** A runtime whose inference waits until released, recording what happened in order. */
function gatedRuntime(log: string[]): { runtime: ModelRuntime; release: () => void } {
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const runtime: ModelRuntime = {
    platform: 'test',
    signature: { inputs: [{ name: 'x', datatype: 'FP64', shape: [-1] }], outputs: [] },
    features: undefined,
    infer: async () => {
      log.push('infer started');
      await gate;
      log.push('infer finished');
      return [];
    },
    close: async () => {
      log.push('closed');
    },
  };
  return { runtime, release };
}

describe('ServingService', () => {
  it('closes a replaced model only after its in-flight requests finish', async () => {
    const log: string[] = [];
    const first = gatedRuntime(log);
    const runtimes = [first.runtime, gatedRuntime(log).runtime];
    // No warm-up: these runtimes answer only when the test releases them.
    const serving = new ServingService({ load: async () => runtimes.shift()!, warmUp: false });
    await serving.deploy('m', new Uint8Array(1));
    const body = { inputs: [{ name: 'x', datatype: 'FP64', shape: [1], data: [1] }] };
    const inFlight = serving.infer('m', body);
    const replaced = serving.deploy('m', new Uint8Array(1));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log).toEqual(['infer started']);
    first.release();
    await Promise.all([inFlight, replaced]);
    expect(log).toEqual(['infer started', 'infer finished', 'closed']);
  });

  it('redeploying under load: requests in flight finish on the old model, none fail', async () => {
    const serving = new ServingService();
    await serving.deploy('m', IRIS);
    const inFlight = Array.from({ length: 20 }, () => serving.infer('m', request(2000)));
    // Replaces (and releases) the first session while its runs are still going.
    await serving.deploy('m', IRIS);
    const results = await Promise.all(inFlight);
    expect(results.every((r) => r.outputs[0]!.shape[0] === 2000)).toBe(true);
    expect((await serving.infer('m', request(1))).outputs[0]!.shape).toEqual([1]);
    await serving.close();
  });

  it('a failed deploy leaves the previous model serving; undeploy removes it', async () => {
    const serving = new ServingService();
    await serving.deploy('lin', linear(2));
    await expect(serving.deploy('lin', Buffer.from('garbage'))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    const body = { inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 1], data: [3] }] };
    expect((await serving.infer('lin', body)).outputs[0]!.data).toEqual([6]);
    await serving.deploy('lin', linear(-1));
    expect((await serving.infer('lin', body)).outputs[0]!.data).toEqual([-3]);
    expect(await serving.undeploy('lin')).toBe(true);
    expect(await serving.undeploy('lin')).toBe(false);
    await expect(serving.infer('lin', body)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: "no deployment named 'lin' (nothing is deployed)",
    });
  });

  it('reads a JSON model from file bytes as well as an object', async () => {
    const serving = new ServingService();
    const meta = await serving.deploy('lin', Buffer.from(JSON.stringify(linear(2).json)));
    expect(meta).toMatchObject({ platform: 'mobius-json', features: ['x'] });
  });

  it('routes by a sticky input tensor or record field: one value, one version', async () => {
    const serving = new ServingService();
    const ask = {
      // The OIP input tensor named 'input' (its first value) is the key…
      input: (x: number) =>
        serving.serveInfer('by-input', {
          inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 1], data: [x] }],
        }),
      // …or the first record's field 'x'.
      x: (x: number) => serving.servePredict('by-field', { records: [{ x }] }),
    };
    for (const [sticky, name] of [
      ['input', 'by-input'],
      ['x', 'by-field'],
    ] as const) {
      await serving.apply(name, {
        routes: [
          { model: 'lin', version: 1, weight: 50, source: linear(1) },
          { model: 'lin', version: 2, weight: 50, source: linear(2) },
        ],
        sticky,
      });
      const versions = new Map<number, Set<number | undefined>>();
      for (let round = 0; round < 3; round++)
        for (let x = 1; x <= 40; x++)
          versions.set(x, (versions.get(x) ?? new Set()).add((await ask[sticky](x)).version));
      expect([...versions.values()].every((v) => v.size === 1)).toBe(true);
      const onTwo = [...versions.values()].filter((v) => v.has(2)).length;
      expect(onTwo).toBeGreaterThan(5);
      expect(onTwo).toBeLessThan(35);
    }
    await serving.close();
  });
});
