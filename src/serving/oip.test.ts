import { describe, expect, it } from 'vitest';
import { outputsToRecords, parseInferRequest, recordsToInputs } from './oip.js';
import type { ModelSignature } from './signature.js';

const signature: ModelSignature = {
  inputs: [
    { name: 'X', datatype: 'FP32', shape: [-1, 3] },
    { name: 'k', datatype: 'INT8', shape: [-1] },
  ],
  outputs: [
    { name: 'label', datatype: 'INT64', shape: [-1] },
    { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
  ],
};
const X = { name: 'X', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] };
const k = { name: 'k', datatype: 'INT8', shape: [2], data: [1, -1] };

function refusal(body: unknown): { message: string; field: unknown } {
  try {
    parseInferRequest(body, signature);
  } catch (error) {
    const e = error as { code: string; message: string; details?: { field?: unknown } };
    expect(e.code).toBe('INVALID_ARGUMENT');
    return { message: e.message, field: e.details?.field };
  }
  throw new Error('expected the request to be refused');
}

describe('parseInferRequest', () => {
  it('accepts flat and nested row-major data, orders inputs as the signature does', () => {
    const request = parseInferRequest(
      {
        id: 'r1',
        inputs: [
          k,
          {
            ...X,
            data: [
              [1, 2, 3],
              [4, 5, 6],
            ],
          },
        ],
        outputs: [{ name: 'label' }],
      },
      signature,
    );
    expect(request).toEqual({
      id: 'r1',
      inputs: [
        { name: 'X', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
        { name: 'k', datatype: 'INT8', shape: [2], data: [1, -1] },
      ],
      outputs: ['label'],
    });
  });

  it.each([
    ['not an object', [1], 'body', /JSON object/],
    ['unknown top-level field', { inputs: [X, k], input: 1 }, 'input', /unknown field/],
    ['no inputs', { inputs: [] }, 'inputs', /non-empty array; the model takes 'X', 'k'/],
    [
      'unknown input',
      { inputs: [X, k, { ...k, name: 'z' }] },
      'inputs[2].name',
      /no input 'z'; its inputs are 'X', 'k'/,
    ],
    ['input twice', { inputs: [X, X, k] }, 'inputs[1].name', /given twice/],
    ['missing input', { inputs: [X] }, 'inputs', /missing input 'k'/],
    [
      'wrong datatype',
      { inputs: [{ ...X, datatype: 'FP64' }, k] },
      'inputs[0].datatype',
      /'X' is FP32, not FP64/,
    ],
    [
      'not a datatype',
      { inputs: [{ ...X, datatype: 'float' }, k] },
      'inputs[0].datatype',
      /OIP datatypes/,
    ],
    [
      'wrong rank',
      { inputs: [{ ...X, shape: [6] }, k] },
      'inputs[0].shape',
      /\[6\] does not fit input 'X', which is \[-1,3\]/,
    ],
    [
      'wrong fixed dimension',
      { inputs: [{ ...X, shape: [3, 2] }, k] },
      'inputs[0].shape',
      /\[3,2\] does not fit/,
    ],
    [
      'negative dimension',
      { inputs: [{ ...X, shape: [-2, 3] }, k] },
      'inputs[0].shape',
      /non-negative integers/,
    ],
    [
      'data length ≠ shape',
      { inputs: [{ ...X, data: [1, 2, 3, 4, 5] }, k] },
      'inputs[0].data',
      /has 5 values but shape \[2,3\] holds 6/,
    ],
    [
      'string in numbers',
      { inputs: [{ ...X, data: [1, 2, '3', 4, 5, 6] }, k] },
      'inputs[0].data[2]',
      /"3" is not a number/,
    ],
    [
      'null (JSON NaN)',
      { inputs: [{ ...X, data: [1, 2, 3, null, 5, 6] }, k] },
      'inputs[0].data[3]',
      /null is not a number/,
    ],
    [
      'Infinity (1e999)',
      { inputs: [{ ...X, data: [1, 2, 3, 4, 5, JSON.parse('1e999')] }, k] },
      'inputs[0].data[5]',
      /Infinity is not a finite number/,
    ],
    [
      'NaN',
      { inputs: [{ ...X, data: [Number.NaN, 2, 3, 4, 5, 6] }, k] },
      'inputs[0].data[0]',
      /NaN is not a finite number/,
    ],
    [
      'int out of range',
      { inputs: [X, { ...k, data: [1, 300] }] },
      'inputs[1].data[1]',
      /outside INT8's range/,
    ],
    [
      'fraction for an int',
      { inputs: [X, { ...k, data: [1, 1.5] }] },
      'inputs[1].data[1]',
      /not an integer/,
    ],
    [
      'unknown output',
      { inputs: [X, k], outputs: [{ name: 'proba' }] },
      'outputs[0].name',
      /no output 'proba'/,
    ],
  ])('refuses %s, naming %s', (_what, body, field, message) => {
    const error = refusal(body);
    expect(error.field).toBe(field);
    expect(error.message.startsWith(`${field}: `)).toBe(true);
    expect(error.message).toMatch(message);
  });
});

describe('records', () => {
  const table: ModelSignature = {
    inputs: [{ name: 'X', datatype: 'FP64', shape: [-1, 2] }],
    outputs: [],
  };

  it('builds one [N, F] table in the features’ order', () => {
    const inputs = recordsToInputs(
      {
        records: [
          { b: 2, a: 1 },
          { a: 3, b: 4 },
        ],
      },
      table,
      ['a', 'b'],
    );
    expect(inputs).toEqual([{ name: 'X', datatype: 'FP64', shape: [2, 2], data: [1, 2, 3, 4] }]);
  });

  it('maps records to one-column inputs by name', () => {
    const inputs = recordsToInputs(
      { records: [{ k: 1, X: 0.5 }] },
      {
        inputs: [
          { name: 'X', datatype: 'FP32', shape: [-1, 1] },
          { name: 'k', datatype: 'INT64', shape: [-1] },
        ],
        outputs: [],
      },
      undefined,
    );
    expect(inputs).toEqual([
      { name: 'X', datatype: 'FP32', shape: [1, 1], data: [0.5] },
      { name: 'k', datatype: 'INT64', shape: [1], data: [1] },
    ]);
  });

  it.each([
    [{ rows: [] }, /records: send/],
    [{ records: [] }, /records: send/],
    [{ records: [{ a: 1 }] }, /records\[0\]\.b: missing feature/],
    [
      { records: [{ a: 1, b: 2, c: 3 }] },
      /records\[0\]\.c: unknown feature; the model's features are a, b/,
    ],
    [{ records: [{ a: 1, b: null }] }, /records\[0\]\.b: null is not a number/],
    [{ records: [{ a: 1, b: 2 }, 7] }, /records\[1\]: must be an object/],
  ])('refuses %j', (body, message) => {
    expect(() => recordsToInputs(body, table, ['a', 'b'])).toThrow(message);
  });

  it('asks for feature names when the model has one unnamed table input', () => {
    expect(() => recordsToInputs({ records: [{ a: 1 }] }, table, undefined)).toThrow(
      /names no features/,
    );
  });

  it('outputsToRecords splits outputs by row', () => {
    expect(
      outputsToRecords([
        { name: 'label', datatype: 'INT64', shape: [2], data: [0, 1] },
        { name: 'p', datatype: 'FP32', shape: [2, 2], data: [0.9, 0.1, 0.2, 0.8] },
      ]),
    ).toEqual([
      { label: 0, p: [0.9, 0.1] },
      { label: 1, p: [0.2, 0.8] },
    ]);
  });
});
