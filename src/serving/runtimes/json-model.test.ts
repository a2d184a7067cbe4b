import { describe, expect, it } from 'vitest';
import { JsonModelRuntime, parseJsonModel } from './json-model.js';

/** Runs `rows` through `model`; returns the outputs by name. */
async function predict(model: unknown, rows: number[][]) {
  const runtime = JsonModelRuntime.fromJson(model);
  const f = rows[0]!.length;
  const outputs = await runtime.infer([
    { name: 'input', datatype: 'FP64', shape: [rows.length, f], data: rows.flat() },
  ]);
  return Object.fromEntries(outputs.map((o) => [o.name, o.data]));
}

function refusal(model: unknown): string {
  try {
    parseJsonModel(model);
  } catch (error) {
    expect((error as { code: string }).code).toBe('INVALID_ARGUMENT');
    return (error as Error).message;
  }
  throw new Error('expected the model to be refused');
}

const features = ['a', 'b'];
const linear = { format: 'mobius-linear', features } as const;
const trees = { format: 'mobius-trees', features } as const;
const split = (feature: number, threshold: number, left = 1, right = 2) => ({
  feature,
  threshold,
  left,
  right,
});

describe('mobius-linear', () => {
  it('regression: x·w + b', async () => {
    const model = { ...linear, task: 'regression', coefficients: [2, -1], intercept: 0.5 };
    // 2·3 − 4 + 0.5 = 2.5; 0.5 at the origin.
    expect(
      await predict(model, [
        [3, 4],
        [0, 0],
      ]),
    ).toEqual({ prediction: [2.5, 0.5] });
    expect(JsonModelRuntime.fromJson(model).signature).toEqual({
      inputs: [{ name: 'input', datatype: 'FP64', shape: [-1, 2] }],
      outputs: [{ name: 'prediction', datatype: 'FP64', shape: [-1] }],
    });
  });

  it('binary classification: sigmoid gives P(classes[1]); ties go to the first class', async () => {
    const model = {
      ...linear,
      task: 'classification',
      coefficients: [1, 1],
      intercept: 0,
      classes: ['no', 'yes'],
    };
    // sigmoid(ln 3) = 3/4.
    const out = await predict(model, [
      [0, 0],
      [Math.log(3), 0],
    ]);
    expect(out.label).toEqual(['no', 'yes']);
    const p = out.probabilities as number[];
    [0.5, 0.5, 0.25, 0.75].forEach((want, i) => expect(p[i]).toBeCloseTo(want, 12));
  });

  it('K classes: softmax over one row of coefficients per class', async () => {
    const model = {
      ...linear,
      task: 'classification',
      coefficients: [
        [1, 0],
        [0, 1],
        [0, 0],
      ],
      intercept: [0, 0, 0],
      classes: [0, 1, 2],
    };
    // scores (ln 2, 0, 0) → e^s = (2, 1, 1) → (0.5, 0.25, 0.25).
    const out = await predict(model, [
      [Math.log(2), 0],
      [0, Math.log(6)],
    ]);
    expect(out.label).toEqual([0, 1]);
    const p = out.probabilities as number[];
    [0.5, 0.25, 0.25, 0.125, 0.75, 0.125].forEach((want, i) => expect(p[i]).toBeCloseTo(want, 12));
  });
});

describe('mobius-trees', () => {
  const twoTrees = [
    { nodes: [split(0, 1), { leaf: 10 }, { leaf: 20 }] },
    { nodes: [split(1, 0), { leaf: -1 }, { leaf: 1 }] },
  ];

  it('regression, sum: base score plus each tree’s leaf; x <= threshold goes left', async () => {
    const model = {
      ...trees,
      task: 'regression',
      trees: twoTrees,
      aggregation: 'sum',
      baseScore: 100,
    };
    // [1,5]: 1<=1 → 10, 5>0 → 1: 111.  [2,-3]: 20, -1: 119.  [1,0]: 10, -1 (0<=0): 109.
    expect(
      await predict(model, [
        [1, 5],
        [2, -3],
        [1, 0],
      ]),
    ).toEqual({ prediction: [111, 119, 109] });
  });

  it('regression, average: a forest’s mean leaf', async () => {
    const model = { ...trees, task: 'regression', trees: twoTrees, aggregation: 'average' };
    expect(await predict(model, [[1, 5]])).toEqual({ prediction: [5.5] });
  });

  it('binary classification: summed logits through the sigmoid', async () => {
    const model = {
      ...trees,
      task: 'classification',
      trees: [{ nodes: [split(0, 0), { leaf: Math.log(1 / 3) }, { leaf: Math.log(3) }] }],
      aggregation: 'sum',
      classes: [0, 1],
    };
    const out = await predict(model, [
      [-1, 0],
      [1, 0],
    ]);
    expect(out.label).toEqual([0, 1]);
    const p = out.probabilities as number[];
    [0.75, 0.25, 0.25, 0.75].forEach((want, i) => expect(p[i]).toBeCloseTo(want, 12));
  });

  it('forest of class probabilities: averaged leaf vectors, transform none', async () => {
    const model = {
      ...trees,
      task: 'classification',
      trees: [
        { nodes: [split(0, 0), { leaf: [1, 0] }, { leaf: [0, 1] }] },
        { nodes: [{ leaf: [0.5, 0.5] }] },
      ],
      aggregation: 'average',
      transform: 'none',
      classes: ['a', 'b'],
    };
    const out = await predict(model, [
      [-1, 0],
      [1, 0],
    ]);
    expect(out).toEqual({ label: ['a', 'b'], probabilities: [0.75, 0.25, 0.25, 0.75] });
  });

  it('multi-class boosting: per-class leaf vectors through the softmax', async () => {
    const model = {
      ...trees,
      task: 'classification',
      trees: [
        { nodes: [split(1, 0), { leaf: [Math.log(2), 0, 0] }, { leaf: [0, 0, Math.log(6)] }] },
      ],
      aggregation: 'sum',
      classes: [7, 8, 9],
    };
    const out = await predict(model, [
      [0, -1],
      [0, 1],
    ]);
    expect(out.label).toEqual([7, 9]);
    const p = out.probabilities as number[];
    [0.5, 0.25, 0.25, 0.125, 0.125, 0.75].forEach((want, i) => expect(p[i]).toBeCloseTo(want, 12));
  });
});

describe('parseJsonModel refuses bad models, naming the field', () => {
  const regression = { ...linear, task: 'regression', coefficients: [1, 2], intercept: 0 };
  const tree = (nodes: unknown[]) => ({
    ...trees,
    task: 'regression',
    aggregation: 'sum',
    trees: [{ nodes }],
  });

  it.each([
    [{ ...regression, format: 'pickle' }, /format/],
    [{ ...regression, extra: 1 }, /unknown key\(s\) extra/],
    [{ ...regression, coefficients: [1] }, /coefficients\.0: has 1 values for 2 features/],
    [{ ...regression, coefficients: [1, Number.NaN] }, /coefficients.*finite/],
    [{ ...regression, features: ['a', 'a'] }, /features: must be distinct/],
    [{ ...regression, classes: [0, 1] }, /classes: a regression model has no classes/],
    [
      { ...regression, task: 'classification' },
      /classes: a classification model lists its classes/,
    ],
    [
      { ...regression, task: 'classification', classes: [0, 1, 2] },
      /3 classes need 1 coefficient row/,
    ],
    [
      tree([split(0, 1, 0, 2), { leaf: 1 }, { leaf: 2 }]),
      /trees\.0\.nodes\.0\.left: must index a later node/,
    ],
    [
      tree([split(0, 1, 1, 5), { leaf: 1 }, { leaf: 2 }]),
      /nodes\.0\.right: must index a later node/,
    ],
    [
      tree([split(2, 1), { leaf: 1 }, { leaf: 2 }]),
      /nodes\.0\.feature: is 2 but the model has 2 features/,
    ],
    [tree([split(0, 1), { leaf: [1, 2] }, { leaf: 2 }]), /nodes\.1\.leaf: needs 1 value/],
  ])('%#: %j', (model, message) => {
    expect(refusal(model)).toMatch(message);
  });
});
