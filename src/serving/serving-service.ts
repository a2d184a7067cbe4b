/**
 * Deployments: named sets of loaded models this process answers for. A deployment has one
 * or more weighted routes (a stable model and a canary, or two A/B arms), optionally a
 * mirror that gets a copy of some traffic (shadow), and a sticky key. `deploy(name, model)`
 * binds one in-process model; `apply(name, plan)` is what the registry-backed deployment
 * controller (deployment-service.ts) calls with model versions. Every model loads and
 * answers a warm-up inference before the name is rebound, so a bad model never replaces
 * a good one and requests keep being served throughout. Every answered or failed request
 * is handed to the prediction log (which never makes it wait).
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobStore } from '../blobs/index.js';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { MobiusError, limits, systemClock, type Clock } from '../core/index.js';
import { parseInferRequest, recordsToInputs, outputsToRecords, type InferResponse } from './oip.js';
import type { ModelRuntime } from './runtime.js';
import { JsonModelRuntime } from './runtimes/json-model.js';
import { OnnxRuntime } from './runtimes/onnx-runtime.js';
import { PythonRuntime } from './runtimes/python-runtime.js';
import { materialiseFiles, type ModelFile } from './model-files.js';
import type { PredictionSink } from './prediction-log.js';
import { elementCount, type Tensor, type TensorData, type TensorSpec } from './signature.js';
import { EvenSequence, pickWeighted, stickyPoint } from './traffic-router.js';
import { Batcher, type BatchedAnswer } from './batcher.js';
import { ServingMetrics } from './metrics.js';

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

  /** Concurrent requests for this model go through here (adaptive batching). */
  readonly batcher: Batcher;

  constructor(readonly runtime: ModelRuntime) {
    this.batcher = new Batcher(runtime, {
      maxBatchSize: limits.SERVING_MAX_BATCH_ROWS,
      concurrency: limits.SERVING_RUNS_IN_FLIGHT,
    });
  }

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

/** One route of a plan: a model version (or an in-process model), its share and its files. */
export interface RoutePlan {
  /** The registered model and version; undefined for an in-process `deploy`. */
  model?: string | undefined;
  version?: number | undefined;
  /** Share of the traffic, in percent (routes' weights sum to 100). */
  weight: number;
  source: ModelSource;
  options?: DeployOptions | undefined;
}

/** What `apply` binds to a name. */
export interface DeploymentPlan {
  routes: RoutePlan[];
  /** A route that receives a copy of `percent`% of the requests; its answers are discarded. */
  mirror?: (Omit<RoutePlan, 'weight'> & { percent: number }) | undefined;
  /** A request header, OIP parameter, input or record field whose value pins the route. */
  sticky?: string | undefined;
}

/** Per-route counters since the route went live (automatic canary analysis reads them). */
export interface RouteStats {
  requests: number;
  errors: number;
  /** Latencies in ms of the most recent requests (a bounded window). */
  latencies: number[];
  /**
   * The first value of the first output, per answered row, of the most recent requests
   * (a bounded window): what canary analysis compares between routes.
   */
  predictions: number[];
}

/** A live route as `routes(name)` describes it. */
export interface LiveRouteInfo {
  model: string | undefined;
  version: number | undefined;
  weight: number;
  stats: RouteStats;
}

/** Who is asking: the request id and headers from HTTP. */
export interface CallInfo {
  /** `x-request-id`, used when the OIP body has no `id`. */
  requestId?: string | undefined;
  headers?: Readonly<Record<string, string | string[] | undefined>> | undefined;
  /**
   * Called once the route is chosen, before it runs: HTTP names the version and request id
   * on the response even when the model then fails.
   */
  onRoute?: ((route: Omit<Served<unknown>, 'body'>) => void) | undefined;
}

/** An answer and which model version gave it. */
export interface Served<T> {
  body: T;
  requestId: string;
  model: string | undefined;
  version: number | undefined;
}

interface LiveRoute {
  model: string | undefined;
  version: number | undefined;
  weight: number;
  loaded: Loaded;
  stats: RouteStats;
}

interface Live {
  routes: LiveRoute[];
  mirror: { route: LiveRoute; percent: number } | undefined;
  sticky: string | undefined;
  sequence: EvenSequence;
  mirrorSequence: EvenSequence;
}

type Kind = 'infer' | 'records';

/** A zero of each datatype, for warm-up inputs. */
function zeros(spec: TensorSpec, count: number): TensorData {
  if (spec.datatype === 'BYTES') return new Array<string>(count).fill('');
  if (spec.datatype === 'BOOL') return new Array<boolean>(count).fill(false);
  return new Array<number>(count).fill(0);
}

/**
 * Runs one inference on all-zero inputs (one row where a dimension is free), so a model
 * that loads but cannot answer — a graph whose operators refuse the declared shapes, a
 * broken native session — fails its deploy instead of its first requests, and the first
 * real request does not pay for lazy initialisation.
 */
async function warmUp(runtime: ModelRuntime): Promise<void> {
  const inputs: Tensor[] = runtime.signature.inputs.map((spec) => {
    const shape = spec.shape.map((d) => (d < 0 ? 1 : d));
    return {
      name: spec.name,
      datatype: spec.datatype,
      shape,
      data: zeros(spec, elementCount(shape)),
    };
  });
  try {
    await runtime.infer(inputs);
  } catch (error) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `the model loaded but failed its warm-up inference on a zero input: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The request id: the OIP body's `id`, else `x-request-id`, else a new UUID. */
function requestIdOf(body: unknown, call: CallInfo): string {
  const fromBody = isObject(body) && typeof body.id === 'string' ? body.id : undefined;
  const id = fromBody ?? call.requestId;
  if (id === undefined || id === '') return randomUUID();
  if (id.length > limits.MAX_REQUEST_ID_LENGTH)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `the request id is ${id.length} characters; the limit is ${limits.MAX_REQUEST_ID_LENGTH}`,
    );
  // It is stored and printed: PostgreSQL text cannot hold NUL, terminals obey the rest.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(id))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'the request id must be printable text, without control characters',
    );
  return id;
}

/**
 * The sticky key's value: a request header of that name, else an OIP parameter, else the
 * first value of an input tensor of that name, else the field of the first record.
 */
function stickyValue(key: string, body: unknown, call: CallInfo): string | undefined {
  const header = call.headers?.[key.toLowerCase()];
  if (typeof header === 'string' && header !== '') return header;
  if (!isObject(body)) return undefined;
  const scalar = (v: unknown) =>
    typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
      ? String(v)
      : undefined;
  if (isObject(body.parameters) && body.parameters[key] !== undefined)
    return scalar(body.parameters[key]);
  if (Array.isArray(body.inputs)) {
    const input = (body.inputs as unknown[]).find((i) => isObject(i) && i.name === key);
    if (isObject(input) && Array.isArray(input.data)) return scalar(input.data.flat(Infinity)[0]);
  }
  if (Array.isArray(body.records) && isObject(body.records[0])) return scalar(body.records[0][key]);
  return undefined;
}

/** The deployments this process serves. */
export class ServingService {
  private readonly deployments = new Map<string, Live>();
  private readonly load: typeof loadModel;
  private readonly blobs: BlobStore | undefined;
  private readonly python: string | undefined;
  private readonly scratch: string;
  private readonly clock: Clock;
  private readonly warm: boolean;
  /** Where every request is recorded; set by the deployment controller. */
  log: PredictionSink | undefined;
  /** Prometheus instruments per deployment and version; `/metrics` shows them. */
  readonly metrics = new ServingMetrics();

  /**
   * `load` turns bytes, a JSON model or an MLflow directory into a runtime (default: ONNX
   * or Mobius JSON by content, MLflow out of process); `blobs` lets `deploy` take
   * `{blob: sha256}` and `{files}`; `python` runs MLflow models (config `serving.python`);
   * `scratch` is where `{files}` are copied (default: the OS temp directory); `warmUp:
   * false` skips the warm-up inference (for test runtimes that cannot answer on their own).
   */
  constructor(
    options: {
      load?: typeof loadModel;
      blobs?: BlobStore;
      python?: string;
      scratch?: string;
      clock?: Clock;
      log?: PredictionSink;
      warmUp?: boolean;
    } = {},
  ) {
    this.load = options.load ?? loadModel;
    this.blobs = options.blobs;
    this.python = options.python;
    this.scratch = options.scratch ?? tmpdir();
    this.clock = options.clock ?? systemClock;
    this.log = options.log;
    this.warm = options.warmUp ?? true;
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

  /** Loads and warms up one model. */
  private async loadRoute(source: ModelSource, options: DeployOptions = {}): Promise<Loaded> {
    const runtime = await this.loadSource(source, options);
    if (this.warm) {
      try {
        await warmUp(runtime);
      } catch (error) {
        await runtime.close();
        throw error;
      }
    }
    return new Loaded(runtime);
  }

  /**
   * Loads `source` and serves it as `name`, replacing any deployment of that name once the
   * new model has loaded and answered its warm-up inference.
   *
   * @example
   * await ctx.serving.deploy('churn', readFileSync('churn.onnx'), { features: ['age', 'plan'] });
   */
  async deploy(
    name: string,
    source: ModelSource,
    options: DeployOptions = {},
  ): Promise<DeploymentMetadata> {
    await this.apply(name, { routes: [{ weight: 100, source, options }] });
    return this.metadata(name);
  }

  /**
   * Binds `plan` to `name`. Models of the current deployment with the same model and
   * version are kept (not reloaded); new ones load and warm up first. `commit` runs after
   * every model loaded and before the name is rebound — the controller persists the change
   * there — and when it throws the new models are released and nothing changes.
   */
  async apply(name: string, plan: DeploymentPlan, commit?: () => Promise<void>): Promise<void> {
    if (!limits.DEPLOYMENT_NAME_PATTERN.test(name))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `deployment name '${name.slice(0, 200)}' is not allowed: use letters, digits, '_', '.', '-' (up to 128, starting with a letter or digit)`,
      );
    if (plan.routes.length === 0)
      throw new MobiusError('INVALID_ARGUMENT', 'a deployment needs at least one route');
    const current = this.deployments.get(name);
    const existing = new Map<string, Loaded>();
    for (const r of [
      ...(current?.routes ?? []),
      ...(current?.mirror ? [current.mirror.route] : []),
    ])
      if (r.model !== undefined) existing.set(`${r.model}@${r.version}`, r.loaded);
    const fresh: Loaded[] = [];
    const make = async (r: Omit<RoutePlan, 'weight'>, weight: number): Promise<LiveRoute> => {
      const key = r.model === undefined ? undefined : `${r.model}@${r.version}`;
      let loaded = key === undefined ? undefined : existing.get(key);
      if (loaded === undefined) {
        loaded = await this.loadRoute(r.source, r.options);
        fresh.push(loaded);
        if (key !== undefined) existing.set(key, loaded);
      }
      const stats: RouteStats = { requests: 0, errors: 0, latencies: [], predictions: [] };
      return { model: r.model, version: r.version, weight, loaded, stats };
    };
    let live: Live;
    try {
      const routes: LiveRoute[] = [];
      for (const r of plan.routes) routes.push(await make(r, r.weight));
      const mirror =
        plan.mirror === undefined
          ? undefined
          : { route: await make(plan.mirror, 0), percent: plan.mirror.percent };
      live = {
        routes,
        mirror,
        sticky: plan.sticky,
        sequence: new EvenSequence(),
        mirrorSequence: new EvenSequence(),
      };
      await commit?.();
    } catch (error) {
      await Promise.all(fresh.map((l) => l.retire()));
      throw error;
    }
    this.deployments.set(name, live);
    const kept = new Set(
      [...live.routes, ...(live.mirror ? [live.mirror.route] : [])].map((r) => r.loaded),
    );
    const old = [...(current?.routes ?? []), ...(current?.mirror ? [current.mirror.route] : [])];
    await Promise.all(old.filter((r) => !kept.has(r.loaded)).map((r) => r.loaded.retire()));
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
    const live = this.deployments.get(name);
    if (live === undefined) return false;
    this.deployments.delete(name);
    await retireAll(live);
    return true;
  }

  /** Names of the live deployments, sorted. */
  list(): string[] {
    return [...this.deployments.keys()].sort();
  }

  /** The runtime serving `name`'s first (stable) route; NOT_FOUND naming it otherwise. */
  get(name: string): ModelRuntime {
    return this.live(name).routes[0]!.loaded.runtime;
  }

  /** Whether `name` is being served. */
  has(name: string): boolean {
    return this.deployments.has(name);
  }

  /** `name`'s live routes and mirror with their counters. */
  routes(name: string): { routes: LiveRouteInfo[]; mirror?: LiveRouteInfo & { percent: number } } {
    const live = this.live(name);
    const info = (r: LiveRoute): LiveRouteInfo => ({
      model: r.model,
      version: r.version,
      weight: r.weight,
      stats: r.stats,
    });
    const out: ReturnType<ServingService['routes']> = { routes: live.routes.map(info) };
    if (live.mirror) out.mirror = { ...info(live.mirror.route), percent: live.mirror.percent };
    return out;
  }

  private live(name: string): Live {
    const live = this.deployments.get(name);
    if (live === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `no deployment named '${name.slice(0, 200)}'${this.deployments.size === 0 ? ' (nothing is deployed)' : `; deployed: ${this.list().slice(0, 20).join(', ')}`}`,
      );
    return live;
  }

  /** What `name` takes and returns (its stable route's model). */
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
  async infer(name: string, body: unknown, call: CallInfo = {}): Promise<InferResponse> {
    return (await this.serveInfer(name, body, call)).body;
  }

  /** Answers an OIP v2 request and says which model version answered. */
  async serveInfer(
    name: string,
    body: unknown,
    call: CallInfo = {},
  ): Promise<Served<InferResponse>> {
    const served = await this.serve(name, body, call, 'infer');
    const response: InferResponse = {
      model_name: name,
      id: served.requestId,
      outputs: served.body,
    };
    if (served.version !== undefined) response.model_version = String(served.version);
    return { ...served, body: response };
  }

  /** Answers `{records: [...]}` with one `{output: value}` object per record. */
  async predict(
    name: string,
    body: unknown,
    call: CallInfo = {},
  ): Promise<{ predictions: Record<string, unknown>[] }> {
    return (await this.servePredict(name, body, call)).body;
  }

  /** Answers records and says which model version answered. */
  async servePredict(
    name: string,
    body: unknown,
    call: CallInfo = {},
  ): Promise<Served<{ id: string; predictions: Record<string, unknown>[] }>> {
    const served = await this.serve(name, body, call, 'records');
    return {
      ...served,
      body: {
        id: served.requestId,
        predictions: outputsToRecords(served.body),
      },
    };
  }

  /** Picks the route, runs it, records the prediction and mirrors a share of the traffic. */
  private async serve(
    name: string,
    body: unknown,
    call: CallInfo,
    kind: Kind,
  ): Promise<Served<Tensor[]>> {
    const live = this.live(name);
    const requestId = requestIdOf(body, call);
    let route = live.routes[0]!;
    if (live.routes.length > 1) {
      const key = live.sticky === undefined ? undefined : stickyValue(live.sticky, body, call);
      const point = key === undefined ? live.sequence.next() : stickyPoint(name, key);
      route =
        live.routes[
          pickWeighted(
            live.routes.map((r) => r.weight),
            point,
          )
        ]!;
    }
    call.onRoute?.({ requestId, model: route.model, version: route.version });
    const outputs = await this.run(name, requestId, route, 'primary', body, kind);
    const mirror = live.mirror;
    if (mirror !== undefined && live.mirrorSequence.next() < mirror.percent / 100) {
      // After the primary answered, on a later turn of the event loop: the shadow neither
      // delays the client's answer nor can fail it (run() records and swallows its errors).
      setImmediate(() => {
        this.run(name, requestId, mirror.route, 'shadow', body, kind).catch(() => {});
      });
    }
    return { body: outputs, requestId, model: route.model, version: route.version };
  }

  /** Runs one route on `body`, records it in the stats and the prediction log. */
  private async run(
    deployment: string,
    requestId: string,
    route: LiveRoute,
    which: 'primary' | 'shadow',
    body: unknown,
    kind: Kind,
  ): Promise<Tensor[]> {
    const started = performance.now();
    let inputs: unknown = isObject(body) ? (kind === 'infer' ? body.inputs : body.records) : body;
    let outputs: Tensor[] | undefined;
    let failure: unknown;
    let served = undefined as BatchedAnswer | undefined;
    const { batcher } = route.loaded;
    try {
      outputs = await route.loaded.use(async (runtime) => {
        if (kind === 'records') {
          const tensors = recordsToInputs(body, runtime.signature, runtime.features);
          served = await batcher.infer(tensors);
          return served.outputs;
        }
        const request = parseInferRequest(body, runtime.signature);
        inputs = request.inputs;
        served = await batcher.infer(request.inputs, request.outputs);
        return served.outputs;
      });
      return outputs;
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      const latencyMs = performance.now() - started;
      const stats = route.stats;
      stats.requests++;
      if (failure !== undefined) stats.errors++;
      stats.latencies.push(latencyMs);
      if (stats.latencies.length > limits.ROUTE_LATENCY_WINDOW)
        stats.latencies.splice(0, limits.ROUTE_LATENCY_WINDOW / 2);
      if (outputs !== undefined) keepPredictions(stats.predictions, outputs[0]);
      this.metrics.observe({
        deployment,
        version: route.version === undefined ? 'in-process' : String(route.version),
        route: which,
        ok: failure === undefined,
        queueMs: served?.queueMs,
        batchMs: served?.batchMs,
        modelMs: served?.modelMs,
        totalMs: latencyMs,
        batchSize: served?.batchSize,
      });
      const kept = this.log?.record({
        requestId,
        deployment,
        model: route.model,
        version: route.version,
        route: which,
        inputs: inputs ?? null,
        outputs,
        latencyMs,
        error:
          failure === undefined
            ? undefined
            : failure instanceof Error
              ? failure.message
              : JSON.stringify(failure),
        at: this.clock.now(),
      });
      if (kept === false) this.metrics.dropped(deployment);
    }
  }

  /** Releases every loaded model. */
  async close(): Promise<void> {
    const live = [...this.deployments.values()];
    this.deployments.clear();
    await Promise.all(live.map(retireAll));
  }
}

async function retireAll(live: Live): Promise<void> {
  const all = new Set(
    [...live.routes, ...(live.mirror ? [live.mirror.route] : [])].map((r) => r.loaded),
  );
  await Promise.all([...all].map((l) => l.retire()));
}

/** Adds the first value of each row of `output` (up to 16 rows a request) to `window`. */
function keepPredictions(window: number[], output: Tensor | undefined): void {
  if (output === undefined || output.shape.length === 0) return;
  const width = elementCount(output.shape.slice(1));
  const rows = Math.min(output.shape[0]!, 16);
  for (let r = 0; r < rows; r++) {
    const v = output.data[r * width];
    if (typeof v === 'number' && Number.isFinite(v)) window.push(v);
  }
  if (window.length > limits.ROUTE_LATENCY_WINDOW)
    window.splice(0, limits.ROUTE_LATENCY_WINDOW / 2);
}
