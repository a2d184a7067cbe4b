/**
 * ONNX graphs served in-process through onnxruntime-node, including the `ai.onnx.ml`
 * operators (TreeEnsembleClassifier/Regressor, LinearClassifier/Regressor, Normalizer,
 * ZipMap) that skl2onnx and onnxmltools (XGBoost, LightGBM) export — verified against
 * scikit-learn, XGBoost and LightGBM themselves in test/serving/onnx-sklearn.test.ts.
 *
 * The native library is imported on first use, so commands that never serve a model do
 * not pay for loading it. Bytes are sniffed before onnxruntime sees them: a pickle is
 * refused by name, because Mobius never unpickles in-process (unpickling runs arbitrary
 * code); pickled models are served by the out-of-process Python runtime.
 */
import type * as OrtModule from 'onnxruntime-node';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { MobiusError } from '../../core/index.js';
import type { ModelRuntime } from '../runtime.js';
import {
  ELEMENT_TYPES,
  type Datatype,
  type ModelSignature,
  type Tensor,
  type TensorData,
  type TensorSpec,
} from '../signature.js';

/**
 * The parts of onnxruntime-node Mobius uses: its CJS exports, which Node's ESM loader puts
 * under `default` while tsx (benchmarks, scripts) gives them as named exports.
 */
type Ort = Pick<typeof OrtModule, 'Tensor' | 'InferenceSession'>;
let ortModule: Promise<Ort> | undefined;

/** onnxruntime-node, loaded once on first use. */
function loadOrt(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => (m as { default?: Ort }).default ?? (m as Ort),
  );
  return ortModule;
}

/** onnxruntime's tensor element types ↔ OIP datatypes. */
const FROM_ORT: Record<string, Datatype> = { ...ELEMENT_TYPES, string: 'BYTES' };

const PICKLE_REFUSAL =
  'Mobius never unpickles a model in-process (unpickling runs arbitrary code); export it to ONNX (skl2onnx, onnxmltools), or save it as an MLflow model (mlflow.sklearn.save_model/log_model) and deploy that directory, which is served by a separate Python process';

/**
 * Refuses bytes that are plainly not an ONNX graph before onnxruntime parses them:
 * pickles (protocol 2–5 start with 0x80 0x02–0x05), zip archives (PyTorch and some
 * joblib files hold a pickle inside), and empty files.
 */
export function sniffModelBytes(bytes: Uint8Array): void {
  if (bytes.length === 0) throw new MobiusError('INVALID_ARGUMENT', 'the model file is empty');
  if (bytes[0] === 0x80 && bytes[1] !== undefined && bytes[1] >= 2 && bytes[1] <= 5)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `the model file is a Python pickle: ${PICKLE_REFUSAL}`,
    );
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    // Entry names sit in the central directory as plain text; a '.pkl' among them is a pickle archive.
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    if (/\.pkl|\.pickle|data\.pkl/.test(text))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `the model file is a zip archive holding a pickle: ${PICKLE_REFUSAL}`,
      );
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'the model file is a zip archive, not an ONNX graph; upload the .onnx file itself',
    );
  }
}

function specOf(meta: InferenceSession.ValueMetadata, role: string): TensorSpec {
  if (!meta.isTensor)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `ONNX ${role} '${meta.name}' is not a tensor (a sequence or map, e.g. ZipMap's output); export with zipmap=False so every ${role} is a tensor`,
    );
  const datatype = FROM_ORT[meta.type];
  if (datatype === undefined)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `ONNX ${role} '${meta.name}' has element type ${meta.type}, which Mobius cannot serve`,
    );
  // Symbolic dimensions ('N', '' ) are any size: -1, as OIP writes it.
  const shape = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: meta.name, datatype, shape };
}

function toOrtTensor(ort: Ort, tensor: Tensor): OrtTensor {
  const { data, shape } = tensor;
  switch (tensor.datatype) {
    case 'FP32':
      return new ort.Tensor('float32', Float32Array.from(data as number[]), shape);
    case 'FP64':
      return new ort.Tensor('float64', Float64Array.from(data as number[]), shape);
    case 'FP16':
      return new ort.Tensor('float16', Uint16Array.from(data as number[], toHalfBits), shape);
    case 'INT8':
      return new ort.Tensor('int8', Int8Array.from(data as number[]), shape);
    case 'INT16':
      return new ort.Tensor('int16', Int16Array.from(data as number[]), shape);
    case 'INT32':
      return new ort.Tensor('int32', Int32Array.from(data as number[]), shape);
    case 'INT64':
      return new ort.Tensor(
        'int64',
        BigInt64Array.from(data as number[], (v) => BigInt(v)),
        shape,
      );
    case 'UINT8':
      return new ort.Tensor('uint8', Uint8Array.from(data as number[]), shape);
    case 'UINT16':
      return new ort.Tensor('uint16', Uint16Array.from(data as number[]), shape);
    case 'UINT32':
      return new ort.Tensor('uint32', Uint32Array.from(data as number[]), shape);
    case 'UINT64':
      return new ort.Tensor(
        'uint64',
        BigUint64Array.from(data as number[], (v) => BigInt(v)),
        shape,
      );
    case 'BOOL':
      return new ort.Tensor(
        'bool',
        Uint8Array.from(data as boolean[], (v) => (v ? 1 : 0)),
        shape,
      );
    case 'BYTES':
      return new ort.Tensor('string', data as string[], shape);
  }
}

/** IEEE half-precision bits of `value` (round toward zero; FP16 inputs are rare in tabular models). */
function toHalfBits(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = ((bits >>> 23) & 0xff) - 127 + 15;
  const mant = bits & 0x7fffff;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | (mant >>> 13);
}

function fromOrtTensor(name: string, value: OrtTensor): Tensor {
  const datatype = FROM_ORT[value.type];
  if (datatype === undefined)
    throw new MobiusError(
      'INTERNAL',
      `ONNX output '${name}' has element type ${value.type}, which Mobius cannot return`,
    );
  let data: TensorData;
  if (value.type === 'string') data = [...(value.data as string[])];
  else if (value.type === 'bool') data = Array.from(value.data as Uint8Array, (v) => v !== 0);
  // 64-bit integers (labels, ids) become JSON numbers; values past 2^53 lose precision, as in any JSON client.
  else if (value.type === 'int64' || value.type === 'uint64')
    data = Array.from(value.data as BigInt64Array, Number);
  else data = Array.from(value.data as Float32Array);
  return { name, datatype, shape: [...value.dims], data };
}

/** An ONNX graph loaded into onnxruntime. */
export class OnnxRuntime implements ModelRuntime {
  readonly platform = 'onnx';

  private constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
    readonly signature: ModelSignature,
    readonly features: readonly string[] | undefined,
  ) {}

  /**
   * Loads an ONNX graph from its bytes; refuses pickles and anything onnxruntime cannot load.
   *
   * @example
   * const runtime = await OnnxRuntime.load(readFileSync('model.onnx'));
   */
  static async load(
    bytes: Uint8Array,
    options: { features?: readonly string[] } = {},
  ): Promise<OnnxRuntime> {
    sniffModelBytes(bytes);
    const ort = await loadOrt();
    let session: InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `the model file is not a valid ONNX graph: ${detail}`,
        { cause: error },
      );
    }
    try {
      const signature = {
        inputs: session.inputMetadata.map((m) => specOf(m, 'input')),
        outputs: session.outputMetadata.map((m) => specOf(m, 'output')),
      };
      return new OnnxRuntime(ort, session, signature, options.features);
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  /** Runs the graph on validated inputs. */
  async infer(inputs: readonly Tensor[], outputs?: readonly string[]): Promise<Tensor[]> {
    const feeds: Record<string, OrtTensor> = {};
    for (const input of inputs) feeds[input.name] = toOrtTensor(this.ort, input);
    const wanted = outputs ?? this.signature.outputs.map((o) => o.name);
    let results: InferenceSession.ReturnType;
    try {
      results = await this.session.run(feeds, [...wanted]);
    } catch (error) {
      // Inputs passed the signature check, so what is left is the graph refusing the values
      // (e.g. a dimension the metadata leaves symbolic but an operator fixes).
      const detail = error instanceof Error ? error.message : String(error);
      throw new MobiusError('INVALID_ARGUMENT', `the model refused the input: ${detail}`, {
        cause: error,
      });
    }
    return wanted.map((name) => fromOrtTensor(name, results[name] as OrtTensor));
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
