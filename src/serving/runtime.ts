/** The one interface every model runtime (ONNX, Mobius JSON, out-of-process Python for MLflow) implements. */
import type { ModelSignature, Tensor } from './signature.js';

/** A loaded model, ready to answer validated inputs. */
export interface ModelRuntime {
  /** `onnx`, `mobius-json` or `mlflow_pyfunc`: what `/v2/models/{name}` reports as the platform. */
  readonly platform: string;
  readonly signature: ModelSignature;
  /** Column names for a model whose one input is a `[-1, F]` table (the records endpoint's keys). */
  readonly features: readonly string[] | undefined;
  /**
   * Runs a batch. `inputs` are already validated against `signature` (one per input, in
   * order); `outputs` narrows the answer to those names.
   */
  infer(inputs: readonly Tensor[], outputs?: readonly string[]): Promise<Tensor[]>;
  /** Frees native resources. */
  close(): Promise<void>;
}
