/**
 * A model's signature: the named, typed, shaped tensors it takes and returns, in the
 * Open Inference Protocol's vocabulary (datatypes `FP32`, `INT64`, …; `-1` for a
 * dimension of any size). Every runtime describes itself this way, so validation and
 * the `/v2/models/{name}` metadata are the same code for ONNX graphs and JSON models.
 */

/** The OIP v2 tensor datatypes (KServe's table). */
export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

/** One OIP datatype. */
export type Datatype = (typeof DATATYPES)[number];

/** One named tensor a model takes or returns; `-1` in `shape` means any size. */
export interface TensorSpec {
  name: string;
  datatype: Datatype;
  shape: number[];
}

/** What a model takes and returns. */
export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** A tensor's values, flat and row-major: numbers, strings (BYTES) or booleans (BOOL). */
export type TensorData = number[] | string[] | boolean[];

/** A tensor with values: what a request carries in and a runtime hands back. */
export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

/**
 * Element type names numpy and onnxruntime share, and their OIP datatypes (text is
 * `string` in onnxruntime, `str`/`object` in numpy: each runtime adds its own).
 */
export const ELEMENT_TYPES: Readonly<Record<string, Datatype>> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
};

/** Whether `value` is one of the OIP datatypes. */
export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && (DATATYPES as readonly string[]).includes(value);
}

/** Integer datatypes and their inclusive ranges (64-bit ones bounded by JSON's safe integers). */
export const INTEGER_RANGES: Partial<Record<Datatype, readonly [number, number]>> = {
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
  UINT64: [0, Number.MAX_SAFE_INTEGER],
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/** Number of elements a shape holds. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** `[-1,6]` as text, for error messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
