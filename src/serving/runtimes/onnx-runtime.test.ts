import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OnnxRuntime, sniffModelBytes } from './onnx-runtime.js';

const IRIS = readFileSync(new URL('../../../test/fixtures/serving/iris.onnx', import.meta.url));

async function refusal(bytes: Uint8Array): Promise<{ code: string; message: string }> {
  try {
    await OnnxRuntime.load(bytes);
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('expected the model to be refused');
}

describe('OnnxRuntime', () => {
  it('reads the signature of an skl2onnx LogisticRegression (ai.onnx.ml LinearClassifier)', async () => {
    const runtime = await OnnxRuntime.load(IRIS);
    expect(runtime.signature).toEqual({
      inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
      ],
    });
    const [label, proba] = await runtime.infer([
      {
        name: 'X',
        datatype: 'FP32',
        shape: [2, 4],
        data: [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3],
      },
    ]);
    expect(label).toEqual({ name: 'label', datatype: 'INT64', shape: [2], data: [0, 1] });
    const p = proba!.data as number[];
    expect(p[0]! + p[1]!).toBeCloseTo(1, 6);
    expect(p[3]!).toBeGreaterThan(0.5);
    const only = await runtime.infer(
      [{ name: 'X', datatype: 'FP32', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }],
      ['label'],
    );
    expect(only.map((t) => t.name)).toEqual(['label']);
    await runtime.close();
  });

  it('refuses a pickle (protocol 2–5 header) without parsing it: Mobius never unpickles in-process', async () => {
    for (const protocol of [2, 3, 4, 5]) {
      const error = await refusal(Uint8Array.from([0x80, protocol, 0x95, 0x00, 0x63]));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toMatch(/Python pickle.*never unpickles/);
    }
  });

  it('refuses a zip archive holding a pickle (PyTorch/joblib style) and any other zip', async () => {
    const zipWith = (name: string) =>
      Buffer.concat([
        Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0]),
        Buffer.from(`archive/${name}`),
      ]);
    expect((await refusal(zipWith('data.pkl'))).message).toMatch(
      /zip archive holding a pickle.*never unpickles/,
    );
    expect((await refusal(zipWith('model.onnx'))).message).toMatch(
      /zip archive, not an ONNX graph/,
    );
  });

  it('refuses bytes that are not an ONNX graph with INVALID_ARGUMENT', async () => {
    const error = await refusal(Buffer.from('definitely not a protobuf graph'));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/not a valid ONNX graph/);
    expect((await refusal(new Uint8Array(0))).message).toMatch(/empty/);
    // A truncated real model: parseable prefix, broken graph.
    expect((await refusal(IRIS.subarray(0, 200))).message).toMatch(/not a valid ONNX graph/);
  });

  it('sniffModelBytes lets an ONNX protobuf through', () => {
    expect(() => sniffModelBytes(IRIS)).not.toThrow();
  });
});
