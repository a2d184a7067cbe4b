import { describe, expect, it } from 'vitest';
import { parseMlmodel } from './mlflow-model.js';

/** An MLmodel file as MLflow 3 writes it (signature sides are JSON strings in YAML). */
function mlmodel(
  inputs: unknown,
  outputs: unknown,
  flavors = 'python_function:\n    loader_module: mlflow.sklearn\n',
): string {
  const side = (v: unknown) => (v === undefined ? '' : `  ${JSON.stringify(JSON.stringify(v))}`);
  return [
    'flavors:',
    `  ${flavors}`,
    'mlflow_version: 3.17.2',
    'signature:',
    `  inputs:${side(inputs)}`,
    `  outputs:${side(outputs)}`,
    '  params: null',
  ].join('\n');
}

describe('parseMlmodel', () => {
  it('maps a column-based signature to one [-1] input per column', () => {
    const info = parseMlmodel(
      mlmodel(
        [
          { type: 'double', name: 'age', required: true },
          { type: 'long', name: 'visits', required: true },
          { type: 'string', name: 'plan', required: true },
          { type: 'boolean', name: 'active', required: true },
        ],
        [{ type: 'tensor', 'tensor-spec': { dtype: 'float64', shape: [-1, 3] } }],
      ),
    );
    expect(info.columnBased).toBe(true);
    expect(info.loaderModule).toBe('mlflow.sklearn');
    expect(info.signature).toEqual({
      inputs: [
        { name: 'age', datatype: 'FP64', shape: [-1] },
        { name: 'visits', datatype: 'INT64', shape: [-1] },
        { name: 'plan', datatype: 'BYTES', shape: [-1] },
        { name: 'active', datatype: 'BOOL', shape: [-1] },
      ],
      outputs: [{ name: 'predictions', datatype: 'FP64', shape: [-1, 3] }],
    });
  });

  it('keeps tensor shapes; one unnamed tensor is input/predictions, named ones keep their names', () => {
    const one = parseMlmodel(
      mlmodel(
        [{ type: 'tensor', 'tensor-spec': { dtype: 'float32', shape: [-1, 4] } }],
        [{ type: 'long', required: true }],
      ),
    );
    expect(one.columnBased).toBe(false);
    expect(one.signature.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 4] }]);
    expect(one.signature.outputs).toEqual([
      { name: 'predictions', datatype: 'INT64', shape: [-1] },
    ]);
    const named = parseMlmodel(
      mlmodel(
        [
          { type: 'tensor', name: 'a', 'tensor-spec': { dtype: 'int32', shape: [-1, 2] } },
          { type: 'tensor', name: 'b', 'tensor-spec': { dtype: 'float64', shape: [-1] } },
        ],
        [{ type: 'tensor', name: 'y', 'tensor-spec': { dtype: 'float64', shape: [-1] } }],
      ),
    );
    expect(named.signature.inputs.map((s) => s.name)).toEqual(['a', 'b']);
    expect(named.signature.outputs[0]!.name).toBe('y');
  });

  it('refuses what it cannot serve, saying what to do', () => {
    const col = [{ type: 'double', name: 'x' }];
    expect(() => parseMlmodel(mlmodel(col, col, 'sklearn:\n    pickled_model: m.pkl\n'))).toThrow(
      /no python_function flavor \(flavors: sklearn\)/,
    );
    expect(() => parseMlmodel('flavors:\n  python_function: {}\n')).toThrow(
      /has no signature; log the model with one/,
    );
    expect(() => parseMlmodel(mlmodel(undefined, col))).toThrow(
      /signature\.inputs is missing or empty/,
    );
    expect(() => parseMlmodel(mlmodel([{ type: 'datetime', name: 'when' }], col))).toThrow(
      /signature\.inputs\[0\] \('when'\) is a column of type datetime/,
    );
    expect(() =>
      parseMlmodel(
        mlmodel([{ type: 'tensor', 'tensor-spec': { dtype: 'complex128', shape: [-1] } }], col),
      ),
    ).toThrow(/dtype complex128/);
    expect(() => parseMlmodel(mlmodel([{ type: 'double' }, { type: 'double' }], col))).toThrow(
      /2 without a name/,
    );
    expect(() =>
      parseMlmodel(
        mlmodel(
          [
            { type: 'double', name: 'x' },
            { type: 'long', name: 'x' },
          ],
          col,
        ),
      ),
    ).toThrow(/names 'x' twice/);
    expect(() => parseMlmodel('flavors: [')).toThrow(/not valid YAML/);
    expect(() => parseMlmodel('just: text')).toThrow(/has no flavors/);
  });
});
