/**
 * Mobius' own JSON model format, so a model trained in TypeScript serves without
 * Python or ONNX. Two kinds:
 *
 * - `mobius-linear`: `y = x·w + b`. Regression returns `prediction`; classification
 *   with two classes and one coefficient row applies the sigmoid (probability of
 *   `classes[1]`), with K rows the softmax.
 * - `mobius-trees`: binary decision trees; a row goes left when `x[feature] <= threshold`
 *   (scikit-learn's rule). Leaf values are summed (boosting) or averaged (forests), added
 *   to `baseScore`, then `transform` (sigmoid / softmax / none) turns scores into
 *   probabilities. Trees are stored as node arrays whose children come after their
 *   parent, so a tree cannot loop.
 *
 * Both take one FP64 input `input` of shape `[-1, features.length]`; the records endpoint
 * uses `features` as column names.
 */
import { z } from 'zod';
import { MobiusError } from '../../core/index.js';
import type { ModelRuntime } from '../runtime.js';
import type { ModelSignature, Tensor, TensorSpec } from '../signature.js';

const finite = z
  .number({ error: 'must be a finite number' })
  .refine(Number.isFinite, 'must be a finite number');
const classLabel = z.union([z.string().min(1), z.number().int()]);
const features = z.array(z.string().min(1)).min(1);

const linearSchema = z
  .object({
    format: z.literal('mobius-linear'),
    task: z.enum(['regression', 'classification']),
    features,
    /** One row per output: regression and binary classification have one, K-class softmax K. */
    coefficients: z.union([z.array(finite), z.array(z.array(finite)).min(1)]),
    intercept: z.union([finite, z.array(finite)]),
    classes: z.array(classLabel).min(2).optional(),
  })
  .strict();

const leaf = z.object({ leaf: z.union([finite, z.array(finite).min(1)]) }).strict();
const split = z
  .object({
    feature: z.number().int().nonnegative(),
    threshold: finite,
    left: z.number().int().nonnegative(),
    right: z.number().int().nonnegative(),
  })
  .strict();

const treesSchema = z
  .object({
    format: z.literal('mobius-trees'),
    task: z.enum(['regression', 'classification']),
    features,
    trees: z.array(z.object({ nodes: z.array(z.union([split, leaf])).min(1) }).strict()).min(1),
    aggregation: z.enum(['sum', 'average']),
    baseScore: z.union([finite, z.array(finite)]).optional(),
    transform: z.enum(['none', 'sigmoid', 'softmax']).optional(),
    classes: z.array(classLabel).min(2).optional(),
  })
  .strict();

const jsonModelSchema = z.discriminatedUnion('format', [linearSchema, treesSchema]);

/** A Mobius JSON model, as validated. */
export type JsonModel = z.infer<typeof jsonModelSchema>;

function invalid(path: string, message: string): MobiusError {
  return new MobiusError(
    'INVALID_ARGUMENT',
    `invalid Mobius JSON model: ${path === '' ? '' : `${path}: `}${message}`,
  );
}

/** How many scores a model computes per row, and how they become outputs. */
interface Head {
  width: number;
  transform: 'none' | 'sigmoid' | 'softmax';
}

function headOf(model: JsonModel): Head {
  const classes = model.classes;
  if (model.task === 'regression') {
    if (classes !== undefined) throw invalid('classes', 'a regression model has no classes');
    return { width: 1, transform: 'none' };
  }
  if (classes === undefined) throw invalid('classes', 'a classification model lists its classes');
  if (new Set(classes).size !== classes.length) throw invalid('classes', 'must be distinct');
  const k = classes.length;
  if (model.format === 'mobius-linear') {
    const rows = Array.isArray(model.coefficients[0]) ? model.coefficients.length : 1;
    if (rows === 1 && k === 2) return { width: 1, transform: 'sigmoid' };
    if (rows === k) return { width: k, transform: 'softmax' };
    throw invalid(
      'coefficients',
      `${k} classes need 1 coefficient row (binary) or ${k} rows, not ${rows}`,
    );
  }
  const transform = model.transform ?? (k === 2 ? 'sigmoid' : 'softmax');
  if (transform === 'sigmoid') {
    if (k !== 2) throw invalid('transform', `sigmoid gives two classes; this model has ${k}`);
    return { width: 1, transform };
  }
  return { width: k, transform };
}

/**
 * The most specific issue under a union's "Invalid input": the branch that got furthest
 * (longest path), so `coefficients.1: must be a finite number` rather than `coefficients: Invalid input`.
 */
function deepest(
  issue: z.core.$ZodIssue,
  prefix: PropertyKey[],
): { issue: z.core.$ZodIssue; path: PropertyKey[] } {
  const path = [...prefix, ...issue.path];
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return { issue, path };
  let best: { issue: z.core.$ZodIssue; path: PropertyKey[] } | undefined;
  for (const branch of issue.errors) {
    const first = branch[0];
    if (first === undefined) continue;
    const candidate = deepest(first, path);
    if (best === undefined || candidate.path.length > best.path.length) best = candidate;
  }
  return best ?? { issue, path };
}

/**
 * Parses and checks a Mobius JSON model: schema (zod), then the cross-field rules (row
 * widths, class counts, tree node indexes).
 */
export function parseJsonModel(value: unknown): JsonModel {
  const parsed = jsonModelSchema.safeParse(value);
  if (!parsed.success) {
    const { issue, path } = deepest(parsed.error.issues[0]!, []);
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown key(s) ${issue.keys.join(', ')}`
        : issue.message;
    throw invalid(path.map(String).join('.'), message);
  }
  const model = parsed.data;
  const f = model.features.length;
  if (new Set(model.features).size !== f) throw invalid('features', 'must be distinct');
  const head = headOf(model);
  const widthOf = (v: number | number[]) => (Array.isArray(v) ? v.length : 1);
  if (model.format === 'mobius-linear') {
    const rows = Array.isArray(model.coefficients[0])
      ? (model.coefficients as number[][])
      : [model.coefficients as number[]];
    rows.forEach((row, i) => {
      if (row.length !== f)
        throw invalid(`coefficients.${i}`, `has ${row.length} values for ${f} features`);
    });
    if (widthOf(model.intercept) !== head.width)
      throw invalid('intercept', `needs ${head.width} value(s)`);
    return model;
  }
  if (model.baseScore !== undefined && widthOf(model.baseScore) !== head.width)
    throw invalid('baseScore', `needs ${head.width} value(s)`);
  model.trees.forEach((tree, t) => {
    tree.nodes.forEach((node, n) => {
      const at = `trees.${t}.nodes.${n}`;
      if ('leaf' in node) {
        if (widthOf(node.leaf) !== head.width)
          throw invalid(`${at}.leaf`, `needs ${head.width} value(s)`);
        return;
      }
      if (node.feature >= f)
        throw invalid(
          `${at}.feature`,
          `is ${node.feature} but the model has ${f} features (0-based)`,
        );
      for (const side of ['left', 'right'] as const) {
        // Children after their parent: no cycles, and every walk ends at a leaf.
        if (node[side] <= n || node[side] >= tree.nodes.length)
          throw invalid(
            `${at}.${side}`,
            `must index a later node (${n + 1}..${tree.nodes.length - 1})`,
          );
      }
    });
  });
  return model;
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

function softmax(scores: number[]): number[] {
  const max = Math.max(...scores);
  const exps = scores.map((s) => Math.exp(s - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

/** A Mobius JSON model, predicting in plain TypeScript. */
export class JsonModelRuntime implements ModelRuntime {
  readonly platform = 'mobius-json';
  readonly signature: ModelSignature;
  readonly features: readonly string[];
  private readonly head: Head;

  constructor(readonly model: JsonModel) {
    this.head = headOf(model);
    this.features = model.features;
    const input: TensorSpec = {
      name: 'input',
      datatype: 'FP64',
      shape: [-1, model.features.length],
    };
    const outputs: TensorSpec[] =
      model.task === 'regression'
        ? [{ name: 'prediction', datatype: 'FP64', shape: [-1] }]
        : [
            {
              name: 'label',
              datatype: typeof model.classes![0] === 'string' ? 'BYTES' : 'INT64',
              shape: [-1],
            },
            { name: 'probabilities', datatype: 'FP64', shape: [-1, model.classes!.length] },
          ];
    this.signature = { inputs: [input], outputs };
  }

  /**
   * Validates `value` and wraps it.
   *
   * @example
   * const runtime = JsonModelRuntime.fromJson({ format: 'mobius-linear', task: 'regression', … });
   */
  static fromJson(value: unknown): JsonModelRuntime {
    return new JsonModelRuntime(parseJsonModel(value));
  }

  /** Raw scores of one row (before sigmoid/softmax). */
  private scores(row: ArrayLike<number>): number[] {
    const { model, head } = this;
    const vector = (v: number | number[] | undefined) =>
      v === undefined ? new Array<number>(head.width).fill(0) : Array.isArray(v) ? [...v] : [v];
    if (model.format === 'mobius-linear') {
      const rows = Array.isArray(model.coefficients[0])
        ? (model.coefficients as number[][])
        : [model.coefficients as number[]];
      const out = vector(model.intercept);
      rows.forEach((w, k) => {
        for (let j = 0; j < w.length; j++) out[k]! += w[j]! * row[j]!;
      });
      return out;
    }
    const sum = new Array<number>(head.width).fill(0);
    for (const tree of model.trees) {
      let node = tree.nodes[0]!;
      while (!('leaf' in node))
        node = tree.nodes[row[node.feature]! <= node.threshold ? node.left : node.right]!;
      const value = Array.isArray(node.leaf) ? node.leaf : [node.leaf];
      for (let k = 0; k < head.width; k++) sum[k]! += value[k]!;
    }
    const base = vector(model.baseScore);
    const scale = model.aggregation === 'average' ? 1 / model.trees.length : 1;
    return sum.map((s, k) => base[k]! + s * scale);
  }

  /** Predicts a batch: `inputs[0]` is the validated `[N, F]` FP64 table. */
  async infer(inputs: readonly Tensor[], outputs?: readonly string[]): Promise<Tensor[]> {
    const input = inputs[0]!;
    const f = this.features.length;
    const n = input.shape[0]!;
    const data = input.data as number[];
    const { model, head } = this;
    let result: Tensor[];
    if (model.task === 'regression') {
      const prediction: number[] = [];
      for (let r = 0; r < n; r++) prediction.push(this.scores(data.slice(r * f, (r + 1) * f))[0]!);
      result = [{ name: 'prediction', datatype: 'FP64', shape: [n], data: prediction }];
    } else {
      const classes = model.classes!;
      const labels: (string | number)[] = [];
      const probabilities: number[] = [];
      for (let r = 0; r < n; r++) {
        const scores = this.scores(data.slice(r * f, (r + 1) * f));
        let p: number[];
        if (head.transform === 'sigmoid') {
          const p1 = sigmoid(scores[0]!);
          p = [1 - p1, p1];
        } else if (head.transform === 'softmax') p = softmax(scores);
        else p = scores;
        // First class with the highest probability, as numpy's argmax picks.
        let best = 0;
        for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
        labels.push(classes[best]!);
        probabilities.push(...p);
      }
      result = [
        {
          name: 'label',
          datatype: this.signature.outputs[0]!.datatype,
          shape: [n],
          data: labels as number[] | string[],
        },
        {
          name: 'probabilities',
          datatype: 'FP64',
          shape: [n, classes.length],
          data: probabilities,
        },
      ];
    }
    return outputs === undefined ? result : result.filter((t) => outputs.includes(t.name));
  }

  async close(): Promise<void> {}
}
