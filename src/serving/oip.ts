/**
 * The Open Inference Protocol v2 (KServe/Triton's "V2" REST protocol) request and
 * response, and the plain records form, validated against a model's signature.
 *
 * Every refusal is INVALID_ARGUMENT naming the field (`inputs[0].shape: …`,
 * `records[3].age: …`) and saying what the model takes instead. Non-finite numbers
 * (JSON's `1e999` parses to Infinity) are refused: none of Mobius' runtimes has a
 * defined answer for them, and a tree walked with NaN silently takes one branch —
 * a wrong prediction is worse than a 400. Missing values are a feature a model must
 * declare; no runtime declares it yet.
 */
import { MobiusError } from '../core/index.js';
import {
  INTEGER_RANGES,
  elementCount,
  formatShape,
  isDatatype,
  type ModelSignature,
  type Tensor,
  type TensorData,
  type TensorSpec,
} from './signature.js';

/** A validated OIP inference request. */
export interface InferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  /** One tensor per model input, in the signature's order. */
  inputs: Tensor[];
  /** Output names asked for; all outputs when absent. */
  outputs?: string[];
}

/** The OIP inference response body. */
export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  outputs: Tensor[];
}

const REQUEST_KEYS = new Set(['id', 'parameters', 'inputs', 'outputs']);
const INPUT_KEYS = new Set(['name', 'shape', 'datatype', 'parameters', 'data']);

function bad(field: string, message: string): MobiusError {
  return new MobiusError('INVALID_ARGUMENT', `${field}: ${message}`, { details: { field } });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function names(specs: readonly TensorSpec[]): string {
  return specs.map((s) => `'${s.name}'`).join(', ');
}

/** Checks one value against a datatype; returns why it does not fit, or undefined. */
function misfit(value: unknown, spec: TensorSpec): string | undefined {
  switch (spec.datatype) {
    case 'BOOL':
      return typeof value === 'boolean' ? undefined : `${describe(value)} is not a boolean`;
    case 'BYTES':
      return typeof value === 'string' ? undefined : `${describe(value)} is not a string`;
    case 'FP16':
    case 'FP32':
    case 'FP64':
      if (typeof value !== 'number') return `${describe(value)} is not a number`;
      return Number.isFinite(value)
        ? undefined
        : `${String(value)} is not a finite number (NaN and infinities are refused)`;
    default: {
      if (typeof value !== 'number') return `${describe(value)} is not a number`;
      const [lo, hi] = INTEGER_RANGES[spec.datatype] ?? [0, 0];
      if (!Number.isInteger(value)) return `${value} is not an integer (${spec.datatype})`;
      return value < lo || value > hi ? `${value} is outside ${spec.datatype}'s range` : undefined;
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** Checks every element of `data` (already flat) against `spec`; names the first bad one. */
function checkData(data: unknown[], spec: TensorSpec, field: string): TensorData {
  for (let i = 0; i < data.length; i++) {
    const why = misfit(data[i], spec);
    if (why !== undefined)
      throw bad(`${field}[${i}]`, `${why}; '${spec.name}' is ${spec.datatype}`);
  }
  return data as TensorData;
}

/** Whether `shape` fits the signature's (same rank, fixed dimensions equal). */
function shapeFits(shape: readonly number[], expected: readonly number[]): boolean {
  return (
    shape.length === expected.length && shape.every((d, i) => expected[i]! < 0 || expected[i] === d)
  );
}

/**
 * Validates an OIP v2 request body against `signature`.
 *
 * @example
 * const request = parseInferRequest(body, runtime.signature);
 * const outputs = await runtime.infer(request.inputs, request.outputs);
 */
export function parseInferRequest(body: unknown, signature: ModelSignature): InferRequest {
  if (!isObject(body)) throw bad('body', 'send a JSON object with an "inputs" array');
  for (const key of Object.keys(body)) {
    if (!REQUEST_KEYS.has(key))
      throw bad(key, 'unknown field; a request has id, parameters, inputs and outputs');
  }
  const { id, parameters, inputs, outputs } = body;
  if (id !== undefined && typeof id !== 'string') throw bad('id', 'must be a string');
  if (parameters !== undefined && !isObject(parameters))
    throw bad('parameters', 'must be an object');
  if (!Array.isArray(inputs) || inputs.length === 0)
    throw bad('inputs', `must be a non-empty array; the model takes ${names(signature.inputs)}`);
  const byName = new Map<string, Tensor>();
  inputs.forEach((input: unknown, i) => {
    const field = `inputs[${i}]`;
    if (!isObject(input)) throw bad(field, 'must be an object with name, shape, datatype, data');
    for (const key of Object.keys(input)) {
      if (!INPUT_KEYS.has(key))
        throw bad(
          `${field}.${key}`,
          'unknown field; an input has name, shape, datatype, parameters, data',
        );
    }
    const { name, shape, datatype, data } = input;
    if (typeof name !== 'string') throw bad(`${field}.name`, 'must be a string');
    const spec = signature.inputs.find((s) => s.name === name);
    if (spec === undefined)
      throw bad(
        `${field}.name`,
        `the model has no input '${name}'; its inputs are ${names(signature.inputs)}`,
      );
    if (byName.has(name)) throw bad(`${field}.name`, `input '${name}' is given twice`);
    if (!isDatatype(datatype))
      throw bad(`${field}.datatype`, `must be one of the OIP datatypes (e.g. ${spec.datatype})`);
    if (datatype !== spec.datatype)
      throw bad(`${field}.datatype`, `input '${name}' is ${spec.datatype}, not ${datatype}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
      throw bad(`${field}.shape`, 'must be an array of non-negative integers');
    const dims = shape as number[];
    if (!shapeFits(dims, spec.shape))
      throw bad(
        `${field}.shape`,
        `${formatShape(dims)} does not fit input '${name}', which is ${formatShape(spec.shape)} (-1: any size)`,
      );
    if (!Array.isArray(data))
      throw bad(`${field}.data`, 'must be an array (flat or nested, row-major)');
    // Nested row-major data is allowed by the protocol; its nesting is bounded by the JSON depth limit.
    const flat = (data as unknown[]).flat(Infinity);
    if (flat.length !== elementCount(dims))
      throw bad(
        `${field}.data`,
        `has ${flat.length} values but shape ${formatShape(dims)} holds ${elementCount(dims)}`,
      );
    byName.set(name, { name, datatype, shape: dims, data: checkData(flat, spec, `${field}.data`) });
  });
  const missing = signature.inputs.filter((s) => !byName.has(s.name));
  if (missing.length > 0)
    throw bad(
      'inputs',
      `missing input ${names(missing)}; the model takes ${names(signature.inputs)}`,
    );
  const request: InferRequest = { inputs: signature.inputs.map((s) => byName.get(s.name)!) };
  if (id !== undefined) request.id = id;
  if (parameters !== undefined) request.parameters = parameters;
  if (outputs !== undefined) request.outputs = parseRequestedOutputs(outputs, signature);
  return request;
}

function parseRequestedOutputs(outputs: unknown, signature: ModelSignature): string[] {
  if (!Array.isArray(outputs)) throw bad('outputs', 'must be an array of {name}');
  return outputs.map((output: unknown, i) => {
    const name = isObject(output) ? output.name : undefined;
    if (typeof name !== 'string') throw bad(`outputs[${i}].name`, 'must be a string');
    if (!signature.outputs.some((s) => s.name === name))
      throw bad(
        `outputs[${i}].name`,
        `the model has no output '${name}'; its outputs are ${names(signature.outputs)}`,
      );
    return name;
  });
}

/**
 * Turns `{records: [{feature: value}]}` into the model's inputs. A model with one 2-D
 * input `[-1, F]` needs `features` (its column order); a model whose inputs are all
 * one column each (`[-1]` or `[-1,1]`) takes records keyed by input name.
 */
export function recordsToInputs(
  body: unknown,
  signature: ModelSignature,
  features: readonly string[] | undefined,
): Tensor[] {
  if (!isObject(body) || !Array.isArray(body.records) || body.records.length === 0)
    throw bad('records', 'send {"records": [{"<feature>": value, …}, …]} with at least one record');
  for (const key of Object.keys(body)) {
    if (key !== 'records') throw bad(key, 'unknown field; the body has only "records"');
  }
  const records = body.records as unknown[];
  const columns = recordColumns(signature, features);
  const data = columns.map(() => [] as unknown[]);
  const known = new Set(columns.map((c) => c.feature));
  records.forEach((record, r) => {
    if (!isObject(record)) throw bad(`records[${r}]`, 'must be an object of feature: value');
    for (const key of Object.keys(record)) {
      if (!known.has(key))
        throw bad(
          `records[${r}].${key}`,
          `unknown feature; the model's features are ${[...known].join(', ')}`,
        );
    }
    columns.forEach((column, c) => {
      const field = `records[${r}].${column.feature}`;
      if (!Object.hasOwn(record, column.feature)) throw bad(field, 'missing feature');
      const value = record[column.feature];
      const why = misfit(value, column.spec);
      if (why !== undefined) throw bad(field, `${why}; it must be ${column.spec.datatype}`);
      data[c]!.push(value);
    });
  });
  const n = records.length;
  return signature.inputs.map((spec) => {
    const mine = columns.map((c, i) => ({ c, i })).filter(({ c }) => c.spec === spec);
    if (mine.length === 1 && spec.shape.length !== 2) {
      return {
        name: spec.name,
        datatype: spec.datatype,
        shape: spec.shape.length === 1 ? [n] : [n, 1],
        data: data[mine[0]!.i] as TensorData,
      };
    }
    const flat: unknown[] = [];
    for (let r = 0; r < n; r++) for (const { i } of mine) flat.push(data[i]![r]);
    return {
      name: spec.name,
      datatype: spec.datatype,
      shape: [n, mine.length],
      data: flat as TensorData,
    };
  });
}

interface RecordColumn {
  feature: string;
  spec: TensorSpec;
}

function recordColumns(
  signature: ModelSignature,
  features: readonly string[] | undefined,
): RecordColumn[] {
  const [first] = signature.inputs;
  if (
    signature.inputs.length === 1 &&
    first !== undefined &&
    first.shape.length === 2 &&
    // A `[-1, 1]` input is one column: keyed by the model's one feature when it names it
    // (a one-feature JSON model), else by the input's name (skl2onnx's one input per column).
    (first.shape[1] !== 1 || features !== undefined)
  ) {
    if (features === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `the model takes one ${formatShape(first.shape)} tensor '${first.name}' and the deployment names no features; deploy it with features (column order) or call the /v2 infer endpoint`,
      );
    if (first.shape[1]! >= 0 && first.shape[1] !== features.length)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `the deployment names ${features.length} features but input '${first.name}' has ${first.shape[1]} columns`,
      );
    return features.map((feature) => ({ feature, spec: first }));
  }
  return signature.inputs.map((spec) => {
    const oneColumn = spec.shape.length === 1 || (spec.shape.length === 2 && spec.shape[1] === 1);
    if (!oneColumn)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `input '${spec.name}' is ${formatShape(spec.shape)}, not one column; call the /v2 infer endpoint for this model`,
      );
    return { feature: spec.name, spec };
  });
}

/** Splits output tensors into one `{output: value}` object per row (first dimension). */
export function outputsToRecords(outputs: readonly Tensor[]): Record<string, unknown>[] {
  const rows = outputs[0]?.shape[0] ?? 0;
  const result: Record<string, unknown>[] = [];
  for (let r = 0; r < rows; r++) {
    const row: Record<string, unknown> = {};
    for (const output of outputs) {
      const width = output.shape.length <= 1 ? 1 : elementCount(output.shape.slice(1));
      const slice = output.data.slice(r * width, (r + 1) * width);
      row[output.name] = output.shape.length <= 1 ? slice[0] : slice;
    }
    result.push(row);
  }
  return result;
}
