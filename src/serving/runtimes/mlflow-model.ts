/**
 * Reading an MLflow model directory's `MLmodel` file: whether it has the
 * `python_function` flavor, and its signature in Mobius' vocabulary, so requests are
 * validated in Node before they reach the Python process.
 *
 * MLflow writes the signature as JSON strings inside the YAML (mlflow/models/signature.py):
 * - column-based: `[{"type": "double", "name": "age", "required": true}, …]` — each
 *   column becomes one `[-1]` input named after it (so the records endpoint takes
 *   `{"age": 41, …}` with no feature list);
 * - tensor-based: `[{"type": "tensor", "name"?: "x", "tensor-spec": {"dtype": "float64",
 *   "shape": [-1, 4]}}]` — each tensor keeps its shape; one unnamed tensor is called
 *   `input` (outputs: `predictions`, the key of MLflow's own scoring server).
 * Types with no OIP tensor form (array, object, map, any, datetime, binary) are refused
 * by name: better a clear deploy-time error than a request that can never be written.
 */
import { parse as parseYaml } from 'yaml';
import { MobiusError } from '../../core/index.js';
import {
  ELEMENT_TYPES,
  type Datatype,
  type ModelSignature,
  type TensorSpec,
} from '../signature.js';

/** What Mobius needs from an MLmodel file. */
export interface MlflowModelInfo {
  signature: ModelSignature;
  /** The pyfunc loader (e.g. `mlflow.sklearn`), for error messages and metadata. */
  loaderModule: string | undefined;
  /** Whether inputs are DataFrame columns (true) or tensors. */
  columnBased: boolean;
}

/** MLflow column types (mlflow.types.DataType) that map onto an OIP datatype. */
const COLUMN_TYPES: Record<string, Datatype> = {
  boolean: 'BOOL',
  integer: 'INT32',
  long: 'INT64',
  float: 'FP32',
  double: 'FP64',
  string: 'BYTES',
};

/** numpy dtype names (tensor-spec `dtype`) that map onto an OIP datatype. */
const NUMPY_DTYPES: Record<string, Datatype> = { ...ELEMENT_TYPES, str: 'BYTES', object: 'BYTES' };

function invalid(message: string): MobiusError {
  return new MobiusError('INVALID_ARGUMENT', `MLmodel: ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One side (inputs/outputs) of the signature, parsed from MLflow's JSON string. */
function parseSide(
  raw: unknown,
  side: 'inputs' | 'outputs',
): { specs: TensorSpec[]; columns: boolean } {
  let entries: unknown;
  try {
    entries = typeof raw === 'string' ? JSON.parse(raw) : raw;
  } catch (error) {
    throw invalid(`signature.${side} is not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(entries) || entries.length === 0)
    throw invalid(
      `signature.${side} is missing or empty; log the model with a signature (mlflow.models.infer_signature, or an input_example) so Mobius can validate requests`,
    );
  const tensors = entries.filter((e) => isObject(e) && e.type === 'tensor').length;
  if (tensors !== 0 && tensors !== entries.length)
    throw invalid(`signature.${side} mixes tensors and columns, which MLflow does not write`);
  const unnamed = entries.filter((e) => isObject(e) && typeof e.name !== 'string').length;
  const fallback = side === 'inputs' ? 'input' : 'predictions';
  if (unnamed > 0 && entries.length > 1)
    throw invalid(
      `signature.${side} has ${entries.length} entries, ${unnamed} without a name; Mobius needs names to tell them apart (log the model with a DataFrame or a dict of named arrays)`,
    );
  const specs = entries.map((entry: unknown, i): TensorSpec => {
    const field = `signature.${side}[${i}]`;
    if (!isObject(entry)) throw invalid(`${field} is not an object`);
    const name = typeof entry.name === 'string' ? entry.name : fallback;
    if (entry.type === 'tensor') {
      const spec = entry['tensor-spec'];
      if (!isObject(spec)) throw invalid(`${field} ('${name}') has no tensor-spec`);
      const dtype = String(spec.dtype);
      const datatype = NUMPY_DTYPES[dtype];
      if (datatype === undefined)
        throw invalid(
          `${field} ('${name}') has dtype ${dtype}, which has no Open Inference Protocol datatype; Mobius serves ${Object.keys(NUMPY_DTYPES).join(', ')}`,
        );
      const shape = spec.shape;
      if (
        !Array.isArray(shape) ||
        shape.length === 0 ||
        !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= -1)
      )
        throw invalid(
          `${field} ('${name}') has shape ${JSON.stringify(shape)}, not a list of sizes`,
        );
      return { name, datatype, shape: shape as number[] };
    }
    const type = String(entry.type);
    const datatype = COLUMN_TYPES[type];
    if (datatype === undefined)
      throw invalid(
        `${field} ('${name}') is a column of type ${type}, which Mobius cannot send as a tensor; it serves columns of type ${Object.keys(COLUMN_TYPES).join(', ')}`,
      );
    return { name, datatype, shape: [-1] };
  });
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.name)) throw invalid(`signature.${side} names '${spec.name}' twice`);
    seen.add(spec.name);
  }
  return { specs, columns: tensors === 0 };
}

/**
 * Parses an MLmodel file's text; throws INVALID_ARGUMENT naming what to fix when it has
 * no `python_function` flavor or no usable signature.
 *
 * @example
 * const { signature } = parseMlmodel(readFileSync(join(dir, 'MLmodel'), 'utf8'));
 */
export function parseMlmodel(text: string): MlflowModelInfo {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw invalid(`not valid YAML: ${(error as Error).message}`);
  }
  if (!isObject(doc)) throw invalid('not a YAML mapping');
  const flavors = doc.flavors;
  if (!isObject(flavors)) throw invalid('has no flavors; is this an MLflow model directory?');
  const pyfunc = flavors.python_function;
  if (!isObject(pyfunc))
    throw invalid(
      `has no python_function flavor (flavors: ${Object.keys(flavors).join(', ') || 'none'}); Mobius serves MLflow models through pyfunc`,
    );
  const signature = doc.signature;
  if (!isObject(signature))
    throw invalid(
      'has no signature; log the model with one (signature=mlflow.models.infer_signature(X, model.predict(X)), or input_example=X) so Mobius can validate requests before they reach Python',
    );
  const inputs = parseSide(signature.inputs, 'inputs');
  const outputs = parseSide(signature.outputs, 'outputs');
  return {
    signature: { inputs: inputs.specs, outputs: outputs.specs },
    loaderModule: typeof pyfunc.loader_module === 'string' ? pyfunc.loader_module : undefined,
    columnBased: inputs.columns,
  };
}
