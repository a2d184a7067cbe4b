/**
 * MLflow `pyfunc` models (scikit-learn and anything else MLflow can load) served by a
 * Python process of their own that speaks the Open Inference Protocol v2 over loopback
 * HTTP (src/serving/python/oip_server.py). The API process never unpickles anything:
 * it reads only the MLmodel file (YAML) for the signature, validates each request
 * against it, and forwards the tensors.
 *
 * Process lifecycle:
 * - spawned detached, so it leads its own process group; close() signals the whole group
 *   (SIGTERM, then SIGKILL after PYTHON_RUNTIME_STOP_GRACE_MS), reaching anything the
 *   model started. When the API process exits, an `exit` hook SIGKILLs every live group,
 *   and the Python side ends itself when its stdin closes — which also covers the API
 *   process being SIGKILLed.
 * - a crash (the process exits while serving) fails in-flight requests and the next one
 *   with UNAVAILABLE naming the exit and the last lines of stderr; that next request
 *   starts a new process, and requests after it wait for the restart.
 * - start-up waits for the port line on stdout, then polls `/v2/health/ready`; an exit
 *   before ready (e.g. `No module named 'mlflow'`) or PYTHON_RUNTIME_STARTUP_MS passing
 *   fails with the stderr tail.
 * Each process gets a random bearer token on stdin, so other local users cannot call it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MobiusError, limits } from '../../core/index.js';
import type { ModelRuntime } from '../runtime.js';
import type { ModelSignature, Tensor, TensorData, TensorSpec } from '../signature.js';
import { parseMlmodel, type MlflowModelInfo } from './mlflow-model.js';

/** The server script, shipped beside the compiled runtimes (the build copies src/serving/python). */
export const OIP_SERVER_SCRIPT = fileURLToPath(new URL('../python/oip_server.py', import.meta.url));

/** The name the Python side serves the model under (one model per process). */
const MODEL_NAME = 'model';

export interface PythonRuntimeOptions {
  /** The Python interpreter (config `serving.python`); it needs mlflow and the model's requirements. */
  python?: string;
  /** Column order for a model with one `[-1, F]` tensor input, for the records endpoint. */
  features?: readonly string[];
  /** Defaults to limits.PYTHON_RUNTIME_STARTUP_MS. */
  startupTimeoutMs?: number;
  /** Defaults to limits.PYTHON_RUNTIME_INFER_TIMEOUT_MS. */
  inferTimeoutMs?: number;
  /** Delete the model directory on close: it is a scratch copy made for this runtime. */
  removeOnClose?: boolean;
}

/** Process groups alive right now, SIGKILLed if the API process exits without closing them. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const group of liveGroups) killGroup(group, 'SIGKILL');
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** The last lines a process wrote, for error messages. */
class Tail {
  private lines: string[] = [];
  private partial = '';

  push(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts.filter((l) => l.trim() !== ''));
    if (this.lines.length > limits.PYTHON_RUNTIME_STDERR_LINES)
      this.lines = this.lines.slice(-limits.PYTHON_RUNTIME_STDERR_LINES);
  }

  toString(): string {
    const all = this.partial.trim() === '' ? this.lines : [...this.lines, this.partial];
    return all.length === 0 ? '(nothing)' : all.map((l) => `  ${l.slice(0, 500)}`).join('\n');
  }
}

/** One running Python process. */
interface Worker {
  child: ChildProcessWithoutNullStreams;
  port: number;
  token: string;
  stderr: Tail;
  /** Set when the process has exited: why, in words. */
  exited: string | undefined;
  /** Settles when the process exits. */
  done: Promise<void>;
}

interface HttpAnswer {
  status: number;
  body: unknown;
}

/** An MLflow model served by its own Python process. */
export class PythonRuntime implements ModelRuntime {
  readonly platform = 'mlflow_pyfunc';
  private worker: Worker | undefined;
  private starting: Promise<Worker> | undefined;
  private crashed: string | undefined;
  private closed = false;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });

  private constructor(
    readonly modelDir: string,
    readonly signature: ModelSignature,
    readonly features: readonly string[] | undefined,
    private readonly options: PythonRuntimeOptions,
  ) {}

  /**
   * Starts a Python process serving the MLflow model in `modelDir` and waits until it is
   * ready. Throws INVALID_ARGUMENT for an MLmodel Mobius cannot serve, UNAVAILABLE when
   * the process fails to start (with its stderr).
   *
   * @example
   * const runtime = await PythonRuntime.start('/models/churn', { python: '/opt/venv/bin/python' });
   */
  static async start(modelDir: string, options: PythonRuntimeOptions = {}): Promise<PythonRuntime> {
    const discard = (): void => {
      if (options.removeOnClose === true) rmSync(modelDir, { recursive: true, force: true });
    };
    let info: MlflowModelInfo;
    try {
      let text: string;
      try {
        text = readFileSync(join(modelDir, 'MLmodel'), 'utf8');
      } catch (error) {
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `${modelDir} has no readable MLmodel file: Mobius serves a directory only as an MLflow model (mlflow.sklearn.save_model, mlflow.pyfunc.log_model)`,
          { cause: error },
        );
      }
      info = parseMlmodel(text);
    } catch (error) {
      discard();
      throw error;
    }
    const runtime = new PythonRuntime(modelDir, info.signature, options.features, options);
    try {
      runtime.worker = await runtime.launch();
    } catch (error) {
      runtime.closed = true;
      runtime.agent.destroy();
      discard();
      throw error;
    }
    return runtime;
  }

  /** The Python process id (also its process group id), when one is running. */
  get pid(): number | undefined {
    return this.worker?.exited === undefined ? this.worker?.child.pid : undefined;
  }

  /** The loopback port the Python process listens on, when one is running. */
  get port(): number | undefined {
    return this.pid === undefined ? undefined : this.worker?.port;
  }

  private get python(): string {
    return this.options.python ?? 'python3';
  }

  /** Spawns the server and resolves once `/v2/health/ready` answers 200. */
  private async launch(): Promise<Worker> {
    const token = randomBytes(24).toString('hex');
    const child = spawn(
      this.python,
      // -u: unbuffered, so a traceback reaches us even if the process is then killed.
      ['-u', OIP_SERVER_SCRIPT, '--model-dir', this.modelDir, '--model-name', MODEL_NAME],
      // The environment is inherited as it is: the model may need its variables.
      { detached: true, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const stderr = new Tail();
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const worker: Worker = {
      child,
      port: 0,
      token,
      stderr,
      exited: undefined,
      done: Promise.resolve(),
    };
    let spawnError: Error | undefined;
    worker.done = new Promise<void>((resolve) => {
      child.once('error', (error) => {
        spawnError = error;
        worker.exited = `could not be started: ${error.message}`;
        resolve();
      });
      child.once('exit', (code, signal) => {
        worker.exited = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
        if (child.pid !== undefined) liveGroups.delete(child.pid);
        resolve();
      });
    });
    void worker.done.then(() => this.onExit(worker));
    if (child.pid !== undefined) trackGroup(child.pid);
    child.stdin.on('error', () => undefined); // EPIPE when the process is gone; the exit says why
    child.stdin.write(`${token}\n`);

    const timeoutMs = this.options.startupTimeoutMs ?? limits.PYTHON_RUNTIME_STARTUP_MS;
    const deadline = Date.now() + timeoutMs;
    const fail = (why: string): MobiusError => {
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      const hint =
        spawnError !== undefined
          ? `; set serving.python (MOBIUS_SERVING_PYTHON) to a Python 3 interpreter with mlflow installed`
          : `; serving.python must name a Python with mlflow and the model's requirements installed`;
      return new MobiusError(
        'UNAVAILABLE',
        `the Python runtime (${this.python}) for the MLflow model in ${this.modelDir} ${why}${hint}. Last lines of its stderr:\n${stderr.toString()}`,
      );
    };

    try {
      worker.port = await this.readPort(worker, deadline);
      for (;;) {
        if (worker.exited !== undefined) throw fail(`${worker.exited} before it was ready`);
        if (Date.now() > deadline)
          throw fail(`was not ready within ${Math.round(timeoutMs / 1000)} s`);
        const answer = await this.call(worker, 'GET', '/v2/health/ready', undefined, 2_000).catch(
          () => undefined,
        );
        if (answer?.status === 200) break;
        await sleep(50);
      }
    } catch (error) {
      if (error instanceof MobiusError) throw error;
      // An exit (or a failed spawn) may be what ended the wait: give it a moment to say so.
      await Promise.race([worker.done, sleep(100)]);
      if (worker.exited !== undefined) throw fail(`${worker.exited} before it was ready`);
      throw fail(`failed to start: ${(error as Error).message}`);
    }
    return worker;
  }

  /** The port from the server's first stdout line `{"mobius_oip_port": N}`. */
  private readPort(worker: Worker, deadline: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let buffered = '';
      const stdout = worker.child.stdout;
      const timer = setTimeout(
        () => reject(new Error('it wrote no port line in time')),
        Math.max(0, deadline - Date.now()),
      );
      const onData = (chunk: Buffer): void => {
        buffered += chunk.toString('utf8');
        for (const line of buffered.split('\n').slice(0, -1)) {
          const match = /^\{"mobius_oip_port": (\d+)\}$/.exec(line.trim());
          if (match !== null) {
            cleanup();
            // Keep draining stdout (a model may print), or the pipe fills and Python blocks.
            stdout.resume();
            resolve(Number(match[1]));
            return;
          }
        }
        buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
      };
      const onExit = (): void => {
        cleanup();
        reject(new Error(`it ${worker.exited ?? 'exited'} before it was ready`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        stdout.off('data', onData);
      };
      stdout.on('data', onData);
      void worker.done.then(onExit);
    });
  }

  /** Records a crash; the next request restarts the process. */
  private onExit(worker: Worker): void {
    if (this.worker !== worker || this.closed) return;
    this.worker = undefined;
    this.crashed = `${worker.exited ?? 'exited'}; last lines of its stderr:\n${worker.stderr.toString()}`;
  }

  /** The running worker, restarting a crashed one (the request that finds the crash fails). */
  private async ready(): Promise<Worker> {
    if (this.closed)
      throw new MobiusError(
        'UNAVAILABLE',
        'this model has been undeployed; its Python runtime is stopped',
      );
    if (this.worker !== undefined && this.worker.exited === undefined) return this.worker;
    if (this.worker !== undefined) this.onExit(this.worker);
    if (this.starting !== undefined) {
      try {
        return await this.starting;
      } catch (error) {
        throw error instanceof MobiusError
          ? error
          : new MobiusError('UNAVAILABLE', String(error), { cause: error });
      }
    }
    const why = this.crashed ?? 'is not running';
    this.crashed = undefined;
    const starting = this.launch();
    this.starting = starting;
    starting.then(
      (worker) => {
        this.starting = undefined;
        if (this.closed) killGroup(worker.child.pid!, 'SIGKILL');
        else this.worker = worker;
      },
      (error: unknown) => {
        this.starting = undefined;
        // Kept for the next request, which starts another attempt.
        this.crashed = `failed to restart: ${error instanceof Error ? error.message : String(error)}`;
      },
    );
    throw new MobiusError(
      'UNAVAILABLE',
      `the Python runtime for the MLflow model in ${this.modelDir} ${why}\nIt is being restarted; retry the request.`,
    );
  }

  /** Sends validated inputs to the Python process as an OIP request. */
  async infer(inputs: readonly Tensor[], outputs?: readonly string[]): Promise<Tensor[]> {
    const worker = await this.ready();
    const body = JSON.stringify({
      inputs: inputs.map((t) => ({
        name: t.name,
        datatype: t.datatype,
        shape: t.shape,
        data: t.data,
      })),
    });
    let answer: HttpAnswer;
    try {
      answer = await this.call(
        worker,
        'POST',
        `/v2/models/${MODEL_NAME}/infer`,
        body,
        this.options.inferTimeoutMs ?? limits.PYTHON_RUNTIME_INFER_TIMEOUT_MS,
      );
    } catch (error) {
      // The process may have died under the request: wait a moment for its exit to say why.
      await Promise.race([worker.done, sleep(200)]);
      const why =
        worker.exited !== undefined
          ? `${worker.exited} during the request; last lines of its stderr:\n${worker.stderr.toString()}\nThe next request restarts it.`
          : `did not answer: ${(error as Error).message}`;
      throw new MobiusError(
        'UNAVAILABLE',
        `the Python runtime for the MLflow model in ${this.modelDir} ${why}`,
        {
          cause: error,
        },
      );
    }
    const message =
      isObject(answer.body) && typeof answer.body.error === 'string'
        ? answer.body.error
        : undefined;
    if (answer.status === 400)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `the model refused the input: ${message ?? 'no reason given'}`,
      );
    if (answer.status !== 200)
      throw new MobiusError(
        answer.status === 503 ? 'UNAVAILABLE' : 'INTERNAL',
        `the MLflow model failed (its Python runtime answered ${answer.status}): ${message ?? 'no reason given'}`,
      );
    const tensors = this.mapOutputs(answer.body);
    return outputs === undefined
      ? tensors
      : outputs.map((name) => tensors.find((t) => t.name === name)!);
  }

  /**
   * The Python answer's tensors, named and typed by the signature: a single unnamed
   * prediction takes the one output's name; several are matched by name.
   */
  private mapOutputs(body: unknown): Tensor[] {
    const raw = isObject(body) && Array.isArray(body.outputs) ? (body.outputs as unknown[]) : [];
    const specs = this.signature.outputs;
    const got = raw.filter(isObject);
    const pick = (spec: TensorSpec): Record<string, unknown> | undefined =>
      specs.length === 1 && got.length === 1 ? got[0] : got.find((t) => t.name === spec.name);
    return specs.map((spec) => {
      const tensor = pick(spec);
      if (tensor === undefined)
        throw new MobiusError(
          'INTERNAL',
          `the MLflow model returned ${got.map((t) => `'${String(t.name)}'`).join(', ') || 'nothing'}, not its signature's output '${spec.name}'`,
        );
      const shape = tensor.shape as number[];
      const data = tensor.data as TensorData;
      const kind = (v: unknown): string => (typeof v === 'number' ? 'number' : typeof v);
      const expected =
        spec.datatype === 'BYTES' ? 'string' : spec.datatype === 'BOOL' ? 'boolean' : 'number';
      if (data.length > 0 && kind(data[0]) !== expected)
        throw new MobiusError(
          'INTERNAL',
          `the MLflow model's output '${spec.name}' holds ${kind(data[0])}s (${String(tensor.datatype)}), but its signature says ${spec.datatype}`,
        );
      if (
        shape.length !== spec.shape.length &&
        !(spec.shape.length === 1 && shape.length === 2 && shape[1] === 1)
      )
        throw new MobiusError(
          'INTERNAL',
          `the MLflow model's output '${spec.name}' has shape [${shape.join(',')}], but its signature says [${spec.shape.join(',')}]`,
        );
      return { name: spec.name, datatype: spec.datatype, shape, data };
    });
  }

  /** One HTTP request to a worker. */
  private call(
    worker: Worker,
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<HttpAnswer> {
    return new Promise<HttpAnswer>((resolve, reject) => {
      const headers: Record<string, string | number> = { authorization: `Bearer ${worker.token}` };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: worker.port,
          method,
          path,
          headers,
          agent: this.agent,
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = { error: text.slice(0, 500) };
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)),
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Stops the process group (SIGTERM, then SIGKILL) and removes a scratch model directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const starting = this.starting;
    const workers = [this.worker, await starting?.catch(() => undefined)].filter(
      (w): w is Worker => w !== undefined,
    );
    this.worker = undefined;
    await Promise.all(
      workers.map(async (worker) => {
        const pid = worker.child.pid;
        if (pid === undefined || worker.exited !== undefined) return;
        killGroup(pid, 'SIGTERM');
        const stopped = await Promise.race([
          worker.done.then(() => true),
          sleep(limits.PYTHON_RUNTIME_STOP_GRACE_MS).then(() => false),
        ]);
        // The leader may have exited while something it started lingers: the group goes too.
        killGroup(pid, 'SIGKILL');
        if (!stopped) await worker.done;
        liveGroups.delete(pid);
      }),
    );
    this.agent.destroy();
    if (this.options.removeOnClose === true)
      rmSync(this.modelDir, { recursive: true, force: true });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
