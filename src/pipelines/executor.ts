/**
 * Executors run one prepared step attempt. The scheduler (pipeline-runner.ts) decides what
 * runs when and records everything; an executor only runs. `LocalExecutor` runs functions
 * in this process and commands as child processes; a queue-backed executor (PostgreSQL,
 * `mobius worker`) implements the same interface by enqueueing the task and awaiting the
 * worker's outcome.
 */
import { appendFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { ParamValue, StepContext, StepDefinition } from './definition.js';
import { MobiusError, limits } from '../core/index.js';
import { runCommand } from './command-runner.js';
import {
  outsideWriteReason,
  sandboxArgv,
  type CommandSandbox,
  type SandboxPaths,
} from './sandbox.js';

/** Everything one attempt of a step needs, already resolved to paths and strings. */
export interface StepTask {
  /** The step's tracking run id (MOBIUS_RUN_ID). */
  runId: string;
  /** The `step_run` row this attempt belongs to. */
  stepRunId: string;
  step: StepDefinition;
  attempt: number;
  /** Input name → absolute path of its materialised content. */
  inputs: Readonly<Record<string, string>>;
  /** Input name → its blob (what a remote executor hands a worker instead of a path). */
  inputBlobs: Readonly<Record<string, { sha256: string; size: number }>>;
  /** Output name → absolute path the step writes. */
  outputs: Readonly<Record<string, string>>;
  params: Readonly<Record<string, ParamValue>>;
  /** The whole environment of a command step, step contract included. */
  env: Readonly<Record<string, string>>;
  cwd: string;
  stdoutPath: string;
  stderrPath: string;
  signal: AbortSignal;
  /**
   * Called with the pid of a command's process group leader (pgid = pid) once it runs,
   * so the scheduler can record it for the startup reaper.
   */
  onProcessStarted?: (pid: number) => void;
  /** The file the pipeline was loaded from, when known: lets a queue worker load a TypeScript step. */
  pipelineFile?: string;
  /** What a command may write when it runs sandboxed (absent: the executor cannot sandbox it). */
  sandbox?: SandboxPaths;
}

/** How an attempt ended. `killed` = timed out, cancelled or ended by a signal. */
export interface StepOutcome {
  status: 'succeeded' | 'failed' | 'killed';
  exitCode: number | null;
  signal: string | null;
  /** A sentence for the user: why it failed or was killed. */
  exitReason: string | null;
  wallMs: number;
  cpuMs: number | undefined;
  peakRssBytes: number | undefined;
  /**
   * Set by executors that run elsewhere (the queue): the outputs, already stored as blobs,
   * so the scheduler takes them instead of reading `StepTask.outputs` paths.
   */
  outputs?: Record<string, { sha256: string; size: number }>;
}

/** Runs step attempts. */
export interface StepExecutor {
  execute(task: StepTask): Promise<StepOutcome>;
}

/**
 * Functions in-process, commands as process groups on this machine — under bubblewrap
 * when `sandbox` says so (docs/pipelines.md, "Sandbox").
 */
export class LocalExecutor implements StepExecutor {
  readonly #sandbox: CommandSandbox | undefined;

  constructor(options: { sandbox?: CommandSandbox } = {}) {
    this.#sandbox = options.sandbox;
  }

  async execute(task: StepTask): Promise<StepOutcome> {
    const run = task.step.run;
    if (run.kind === 'function') return runFunction(task, run.fn);
    if (run.kind === 'check')
      throw new MobiusError(
        'INTERNAL',
        `step '${task.step.name}' is a check: the runner runs it through its GateRunner, not an executor`,
      );
    const argv = run.kind === 'command' ? run.argv : ['/bin/sh', '-c', run.script];
    const paths =
      task.sandbox !== undefined &&
      task.step.sandbox !== false &&
      this.#sandbox !== undefined &&
      (await this.#sandbox.enabled())
        ? task.sandbox
        : undefined;
    const r = await runCommand({
      argv: paths === undefined ? argv : sandboxArgv(this.#sandbox!.bwrap, paths, argv),
      wrapped: paths !== undefined,
      cwd: task.cwd,
      env: paths === undefined ? task.env : { ...task.env, TMPDIR: paths.tmpDir },
      timeoutMs: task.step.timeoutMs,
      stdoutPath: task.stdoutPath,
      stderrPath: task.stderrPath,
      signal: task.signal,
      ...(task.onProcessStarted === undefined ? {} : { onSpawn: task.onProcessStarted }),
    });
    const base = {
      exitCode: r.exitCode,
      signal: r.signal,
      wallMs: r.wallMs,
      cpuMs: r.cpuMs,
      peakRssBytes: r.peakRssBytes,
    };
    if (r.spawnError !== undefined)
      return {
        ...base,
        status: 'failed',
        exitReason: `could not start '${argv[0]}': ${r.spawnError}`,
      };
    if (r.timedOut)
      return {
        ...base,
        status: 'killed',
        exitReason: `timed out after ${task.step.timeoutMs} ms; process group ended (${r.signal ?? `exit ${r.exitCode}`})`,
      };
    if (r.aborted) return { ...base, status: 'killed', exitReason: 'cancelled' };
    if (r.signal !== null)
      return { ...base, status: 'killed', exitReason: `killed by ${r.signal}` };
    const outside =
      paths === undefined
        ? undefined
        : outsideWriteReason(
            paths.outputDir,
            task.step.outputs,
            task.inputs,
            await tail(task.stderrPath),
          );
    if (outside !== undefined && r.exitCode !== 0)
      return { ...base, status: 'failed', exitReason: `${outside} (exit code ${r.exitCode})` };
    if (r.exitCode !== 0)
      return {
        ...base,
        status: r.exitCode === 137 ? 'killed' : 'failed',
        exitReason:
          r.exitCode === 137
            ? 'exit 137 (SIGKILL, often the out-of-memory killer)'
            : `exit code ${r.exitCode}`,
      };
    return { ...base, status: 'succeeded', exitReason: null };
  }
}

/**
 * Runs a TypeScript step. A function cannot be killed from outside: on timeout its
 * signal is aborted and the attempt is reported killed; a function that ignores the
 * signal keeps running in the background until it returns.
 */
async function runFunction(
  task: StepTask,
  fn: (ctx: StepContext) => unknown,
): Promise<StepOutcome> {
  const started = performance.now();
  // Process-wide: counts whatever else this process did meanwhile (see docs/pipelines.md).
  const cpuBefore = process.cpuUsage();
  const controller = new AbortController();
  let logged = 0;
  const onAbort = (): void => controller.abort(task.signal.reason);
  task.signal.addEventListener('abort', onAbort, { once: true });
  // Cancelled while the step was being prepared (a listener added now would never fire).
  if (task.signal.aborted) controller.abort(task.signal.reason);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    if (task.step.timeoutMs !== undefined)
      timer = setTimeout(() => resolve('timeout'), task.step.timeoutMs);
  });
  const aborted = new Promise<'aborted'>((resolve) => {
    if (controller.signal.aborted) resolve('aborted');
    else controller.signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  const done = (async () => {
    await fn({
      runId: task.runId,
      inputs: task.inputs,
      outputs: task.outputs,
      params: task.params,
      signal: controller.signal,
      log: (line) => {
        // The same bound as a command's stdout (MAX_STEP_LOG_BYTES), then one note.
        const bytes = Buffer.byteLength(line) + 1;
        if (logged + bytes <= limits.MAX_STEP_LOG_BYTES)
          appendFileSync(task.stdoutPath, `${line}\n`);
        else if (logged <= limits.MAX_STEP_LOG_BYTES)
          appendFileSync(task.stdoutPath, '[mobius: log limit reached; later lines not kept]\n');
        logged += bytes;
      },
    });
    return 'done' as const;
  })();
  try {
    const result = await Promise.race([done, timeout, aborted]);
    const measured = {
      wallMs: performance.now() - started,
      cpuMs: cpuMillis(process.cpuUsage(cpuBefore)),
      peakRssBytes: undefined,
      exitCode: null,
      signal: null,
    };
    if (result === 'timeout') {
      controller.abort(new Error('timeout'));
      done.catch(() => undefined);
      return {
        ...measured,
        status: 'killed',
        exitReason: `timed out after ${task.step.timeoutMs} ms`,
      };
    }
    if (result === 'aborted') {
      done.catch(() => undefined);
      return { ...measured, status: 'killed', exitReason: 'cancelled' };
    }
    return { ...measured, status: 'succeeded', exitReason: null };
  } catch (error) {
    appendFileSync(
      task.stderrPath,
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return {
      wallMs: performance.now() - started,
      cpuMs: cpuMillis(process.cpuUsage(cpuBefore)),
      peakRssBytes: undefined,
      exitCode: null,
      signal: null,
      status: 'failed',
      exitReason: `step '${task.step.name}' threw: ${error instanceof Error ? error.message : String(error)}`,
    };
  } finally {
    clearTimeout(timer);
    task.signal.removeEventListener('abort', onAbort);
  }
}

/** The last 64 KiB of a log: where a failing command's error message is. */
async function tail(path: string): Promise<string> {
  const bytes = 64 * 1024;
  const file = await open(path, 'r').catch(() => undefined);
  if (file === undefined) return '';
  try {
    const { size } = await file.stat();
    const start = Math.max(0, size - bytes);
    const buffer = Buffer.alloc(size - start);
    await file.read(buffer, 0, buffer.length, start);
    return buffer.toString('utf8');
  } finally {
    await file.close();
  }
}

function cpuMillis(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}
