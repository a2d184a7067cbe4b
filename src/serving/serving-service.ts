/**
 * Deployments: named, loaded models this process answers for. This slice registers them
 * in-process (`deploy(name, model)`); the seam for the registry-backed deployments of
 * issue 6 (model@alias, canaries, shadow traffic) is `deploy` — a registry watcher will
 * resolve an alias to a model version's artifact and call it with the bytes, and
 * `undeploy` on retirement. Loading happens before the name is bound, so a bad model
 * never replaces a good one and requests keep being served throughout.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobStore } from '../blobs/index.js';
import { MobiusError, limits } from '../core/index.js';
import { parseInferRequest, recordsToInputs, outputsToRecords, type InferResponse } from './oip.js';
import type { ModelRuntime } from './runtime.js';
import { JsonModelRuntime } from './runtimes/json-model.js';
import { OnnxRuntime } from './runtimes/onnx-runtime.js';
import { PythonRuntime } from './runtimes/python-runtime.js';
import { materialiseFiles, type ModelFile } from './model-files.js';
import type { TensorSpec } from './signature.js';

/**
 * What `deploy` accepts: model file bytes (ONNX or Mobius JSON), a Mobius JSON model
 * object, a blob in the blob store by sha256 (how registry model versions are stored),
 * an MLflow model directory on this machine, or an MLflow model directory's files as
 * stored blobs (a registry version's artifacts), copied to a scratch directory. MLflow
 * models are served out of process (runtimes/python-runtime.ts).
 */
export type ModelSource =
  | Uint8Array
  | { json: unknown }
  | { blob: string }
  | { directory: string }
  | { files: readonly ModelFile[] };

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

/** How models are loaded: DeployOptions plus the out-of-process runtime's settings. */
export interface LoadOptions extends DeployOptions {
  /** The Python for MLflow models (config `serving.python`; default `python3`). */
  python?: string;
  /** Start-up timeout of the Python runtime; default limits.PYTHON_RUNTIME_STARTUP_MS. */
  startupTimeoutMs?: number;
  /** The MLflow model directory is a scratch copy: delete it when the model closes. */
  removeOnClose?: boolean;
}

/**
 * Loads a model from bytes (ONNX, or a JSON model file), a JSON object, or an MLflow
 * model directory (MLmodel with the python_function flavor: out-of-process Python).
 */
export async function loadModel(
  source: Uint8Array | { json: unknown } | { directory: string },
  options: LoadOptions = {},
): Promise<ModelRuntime> {
  if ('directory' in source) return loadDirectory(source.directory, options);
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
  if (
    /^(flavors|artifact_path|signature|mlflow_version):/m.test(
      Buffer.from(source.subarray(0, 4096)).toString('latin1'),
    )
  )
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'the model file is an MLflow MLmodel file; deploy the whole MLflow model directory (it is served by the out-of-process Python runtime)',
    );
  return OnnxRuntime.load(source, options);
}

/** An MLflow model directory, served by its own Python process. */
async function loadDirectory(directory: string, options: LoadOptions): Promise<ModelRuntime> {
  let isDirectory = false;
  try {
    isDirectory = statSync(directory).isDirectory();
  } catch {
    // reported below
  }
  if (!isDirectory) {
    if (options.removeOnClose === true) rmSync(directory, { recursive: true, force: true });
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${directory} is not a directory holding an MLflow model`,
    );
  }
  return PythonRuntime.start(directory, options);
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
  private readonly python: string | undefined;
  private readonly scratch: string;

  /**
   * `load` turns bytes, a JSON model or an MLflow directory into a runtime (default: ONNX
   * or Mobius JSON by content, MLflow out of process); `blobs` lets `deploy` take
   * `{blob: sha256}` and `{files}`; `python` runs MLflow models (config `serving.python`);
   * `scratch` is where `{files}` are copied (default: the OS temp directory).
   */
  constructor(
    options: { load?: typeof loadModel; blobs?: BlobStore; python?: string; scratch?: string } = {},
  ) {
    this.load = options.load ?? loadModel;
    this.blobs = options.blobs;
    this.python = options.python;
    this.scratch = options.scratch ?? tmpdir();
  }

  /** Copies an MLflow model's stored files to a fresh scratch directory. */
  private async materialise(files: readonly ModelFile[]): Promise<string> {
    if (this.blobs === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        'this serving service has no blob store to read models from',
      );
    mkdirSync(this.scratch, { recursive: true });
    const directory = mkdtempSync(join(this.scratch, 'mlflow-model-'));
    try {
      await materialiseFiles(this.blobs, files, directory);
    } catch (error) {
      rmSync(directory, { recursive: true, force: true });
      throw error;
    }
    return directory;
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
    const runtime = await this.loadSource(source, options);
    const previous = this.deployments.get(name);
    this.deployments.set(name, new Loaded(runtime));
    await previous?.retire();
    return this.metadata(name);
  }

  /** Loads any ModelSource; MLflow models get the configured Python. */
  private async loadSource(source: ModelSource, options: DeployOptions): Promise<ModelRuntime> {
    const withPython: LoadOptions =
      this.python === undefined ? { ...options } : { ...options, python: this.python };
    if ('files' in source)
      return this.load(
        { directory: await this.materialise(source.files) },
        { ...withPython, removeOnClose: true },
      );
    if ('blob' in source) return this.load(await this.readBlob(source.blob), options);
    if ('directory' in source) return this.load(source, withPython);
    return this.load(source, options);
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
