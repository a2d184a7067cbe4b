/**
 * Deployments: named, loaded models this process answers for. This slice registers them
 * in-process (`deploy(name, model)`); the seam for the registry-backed deployments of
 * issue 6 (model@alias, canaries, shadow traffic) is `deploy` — a registry watcher will
 * resolve an alias to a model version's artifact and call it with the bytes, and
 * `undeploy` on retirement. Loading happens before the name is bound, so a bad model
 * never replaces a good one and requests keep being served throughout.
 */
import type { BlobStore } from '../blobs/index.js';
import { MobiusError, limits } from '../core/index.js';
import { parseInferRequest, recordsToInputs, outputsToRecords, type InferResponse } from './oip.js';
import type { ModelRuntime } from './runtime.js';
import { JsonModelRuntime } from './runtimes/json-model.js';
import { OnnxRuntime } from './runtimes/onnx-runtime.js';
import type { TensorSpec } from './signature.js';

/**
 * What `deploy` accepts: model file bytes (ONNX or Mobius JSON), a Mobius JSON model
 * object, or a blob in the blob store by sha256 (how registry model versions are stored).
 */
export type ModelSource = Uint8Array | { json: unknown } | { blob: string };

export interface DeployOptions {
  /** Column order for an ONNX model with one `[-1, F]` input, for the records endpoint. */
  features?: readonly string[];
}

/** A live deployment's description: what `/v2/models/{name}` shows. */
export interface DeploymentMetadata {
  name: string;
  platform: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  features?: readonly string[];
}

/** Loads a model from bytes (ONNX, or a JSON model file) or a JSON object. */
export async function loadModel(
  source: Uint8Array | { json: unknown },
  options: DeployOptions = {},
): Promise<ModelRuntime> {
  if (!(source instanceof Uint8Array)) return JsonModelRuntime.fromJson(source.json);
  if (source.byteLength > limits.MAX_INPROCESS_MODEL_BYTES)
    throw new MobiusError(
      'PAYLOAD_TOO_LARGE',
      `the model file is ${source.byteLength} bytes; in-process serving takes up to ${limits.MAX_INPROCESS_MODEL_BYTES}`,
    );
  // A file starting with '{' is a Mobius JSON model; ONNX protobufs start with a field tag (0x08).
  if (source[0] === 0x7b) {
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(source).toString('utf8'));
    } catch (error) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        'the model file starts like JSON but is not valid JSON',
        { cause: error },
      );
    }
    return JsonModelRuntime.fromJson(json);
  }
  return OnnxRuntime.load(source, options);
}

/**
 * A loaded model and the requests using it. A replaced or undeployed model is closed only
 * once its in-flight requests finish: releasing an onnxruntime session under a running
 * inference would free memory the native run still reads.
 */
class Loaded {
  private active = 0;
  private retired = false;
  private drained: (() => void) | undefined;

  constructor(readonly runtime: ModelRuntime) {}

  /** Runs `work` with the model kept open until it settles. */
  async use<T>(work: (runtime: ModelRuntime) => Promise<T>): Promise<T> {
    this.active++;
    try {
      return await work(this.runtime);
    } finally {
      if (--this.active === 0) this.drained?.();
    }
  }

  /** Closes the model after the last in-flight request. */
  async retire(): Promise<void> {
    if (this.retired) return;
    this.retired = true;
    if (this.active > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    await this.runtime.close();
  }
}

/** The deployments this process serves. */
export class ServingService {
  private readonly deployments = new Map<string, Loaded>();
  private readonly load: typeof loadModel;
  private readonly blobs: BlobStore | undefined;

  /**
   * `load` turns bytes or a JSON model into a runtime (default: ONNX or Mobius JSON by
   * content); `blobs` lets `deploy` take `{blob: sha256}`.
   */
  constructor(options: { load?: typeof loadModel; blobs?: BlobStore } = {}) {
    this.load = options.load ?? loadModel;
    this.blobs = options.blobs;
  }

  /** The bytes of a stored blob, refused before reading when too big to serve in-process. */
  private async readBlob(sha256: string): Promise<Uint8Array> {
    if (this.blobs === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        'this serving service has no blob store to read models from',
      );
    const info = await this.blobs.stat(sha256);
    if (info === undefined)
      throw new MobiusError('NOT_FOUND', `no stored blob ${sha256} to deploy`);
    if (info.size > limits.MAX_INPROCESS_MODEL_BYTES)
      throw new MobiusError(
        'PAYLOAD_TOO_LARGE',
        `the model file is ${info.size} bytes; in-process serving takes up to ${limits.MAX_INPROCESS_MODEL_BYTES}`,
      );
    const chunks: Buffer[] = [];
    for await (const chunk of await this.blobs.get(sha256)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * Loads `source` and serves it as `name`, replacing any deployment of that name once the
   * new model has loaded.
   *
   * @example
   * await ctx.serving.deploy('churn', readFileSync('churn.onnx'), { features: ['age', 'plan'] });
   */
  async deploy(
    name: string,
    source: ModelSource,
    options: DeployOptions = {},
  ): Promise<DeploymentMetadata> {
    if (!limits.DEPLOYMENT_NAME_PATTERN.test(name))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `deployment name '${name.slice(0, 200)}' is not allowed: use letters, digits, '_', '.', '-' (up to 128, starting with a letter or digit)`,
      );
    const bytesOrJson = 'blob' in source ? await this.readBlob(source.blob) : source;
    const runtime = await this.load(bytesOrJson, options);
    const previous = this.deployments.get(name);
    this.deployments.set(name, new Loaded(runtime));
    await previous?.retire();
    return this.metadata(name);
  }

  /** Stops serving `name`; false when there was no such deployment. */
  async undeploy(name: string): Promise<boolean> {
    const loaded = this.deployments.get(name);
    if (loaded === undefined) return false;
    this.deployments.delete(name);
    await loaded.retire();
    return true;
  }

  /** Names of the live deployments, sorted. */
  list(): string[] {
    return [...this.deployments.keys()].sort();
  }

  /** The runtime serving `name`; NOT_FOUND naming it otherwise. */
  get(name: string): ModelRuntime {
    return this.loaded(name).runtime;
  }

  private loaded(name: string): Loaded {
    const loaded = this.deployments.get(name);
    if (loaded === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `no deployment named '${name.slice(0, 200)}'${this.deployments.size === 0 ? ' (nothing is deployed)' : `; deployed: ${this.list().slice(0, 20).join(', ')}`}`,
      );
    return loaded;
  }

  /** What `name` takes and returns. */
  metadata(name: string): DeploymentMetadata {
    const runtime = this.get(name);
    const meta: DeploymentMetadata = {
      name,
      platform: runtime.platform,
      inputs: runtime.signature.inputs,
      outputs: runtime.signature.outputs,
    };
    if (runtime.features !== undefined) meta.features = runtime.features;
    return meta;
  }

  /** Answers an OIP v2 inference request body. */
  async infer(name: string, body: unknown): Promise<InferResponse> {
    const { request, outputs } = await this.loaded(name).use(async (runtime) => {
      const request = parseInferRequest(body, runtime.signature);
      return { request, outputs: await runtime.infer(request.inputs, request.outputs) };
    });
    const response: InferResponse = { model_name: name, outputs };
    if (request.id !== undefined) response.id = request.id;
    return response;
  }

  /** Answers `{records: [...]}` with one `{output: value}` object per record. */
  async predict(name: string, body: unknown): Promise<{ predictions: Record<string, unknown>[] }> {
    return this.loaded(name).use(async (runtime) => {
      const inputs = recordsToInputs(body, runtime.signature, runtime.features);
      return { predictions: outputsToRecords(await runtime.infer(inputs)) };
    });
  }

  /** Releases every loaded model. */
  async close(): Promise<void> {
    const loaded = [...this.deployments.values()];
    this.deployments.clear();
    await Promise.all(loaded.map((l) => l.retire()));
  }
}
