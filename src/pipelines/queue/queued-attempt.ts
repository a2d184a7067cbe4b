/**
 * The serialisable form of one step attempt: what a `mobius worker` on another machine
 * needs, and nothing tied to the coordinator's disk. Inputs travel as blob hashes (the
 * worker reads them from the shared blob store); output and input paths are the worker's
 * own. Environment: only the step contract (MOBIUS_RUN_ID, MOBIUS_PARAM_*,
 * MLFLOW_TRACKING_URI) and the variables the step declares in `env` — never the
 * coordinator's whole environment, which would put its secrets into the queue table.
 */
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { MobiusError } from '../../core/index.js';
import { loadPipeline } from '../loader.js';
import type { ParamValue, PipelineDefinition, StepDefinition } from '../definition.js';
import type { StepTask } from '../executor.js';

interface Blob {
  sha256: string;
  size: number;
}

/** One attempt as stored in the queue job's payload. */
export interface QueuedAttempt {
  v: 1;
  stepRunId: string;
  attempt: number;
  runId: string;
  step: {
    name: string;
    run:
      | { kind: 'command'; argv: string[] }
      | { kind: 'shell'; script: string }
      /**
       * A TypeScript step: the worker imports `module` (its default export is the
       * pipeline) and runs the step of the same name, if its source hashes the same.
       */
      | { kind: 'function'; module: string; sourceSha256: string };
    timeoutMs: number | null;
    outputs: string[];
  };
  inputs: Record<string, Blob>;
  params: Record<string, ParamValue>;
  env: Record<string, string>;
  /** Absolute working directory: workers need the project at the same path (or a shared mount). */
  cwd: string;
}

/**
 * The contract variables that travel. MOBIUS_INPUT_* / MOBIUS_OUTPUT_* are paths the
 * worker sets on its own disk; other MOBIUS_* (store URL, token) are configuration of the
 * coordinator and stay there.
 */
const SHIPPED_CONTRACT = /^MOBIUS_(RUN_ID$|PARAM_)/;

/** The queued form of `task`; a TypeScript function step is refused with what to do. */
export function toQueuedAttempt(task: StepTask): QueuedAttempt {
  const run = task.step.run;
  let queuedRun: QueuedAttempt['step']['run'];
  if (run.kind === 'command') queuedRun = { kind: 'command', argv: [...run.argv] };
  else if (run.kind === 'shell') queuedRun = { kind: 'shell', script: run.script };
  else if (run.kind === 'function') {
    if (task.pipelineFile === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `step '${task.step.name}' is a TypeScript function: a queue worker can run it only by importing the pipeline's file — pass { pipelineFile } to run() ('mobius run <file>' does), write it as a command step, or use the local executor`,
      );
    queuedRun = {
      kind: 'function',
      module: task.pipelineFile,
      sourceSha256: sourceHash(run.fn),
    };
  } else
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `step '${task.step.name}' (${(run as { kind: string }).kind}) cannot be sent to a queue worker`,
    );
  const env: Record<string, string> = {};
  const keep = new Set<string>([...task.step.env, 'MLFLOW_TRACKING_URI']);
  for (const [name, value] of Object.entries(task.env)) {
    if (SHIPPED_CONTRACT.test(name) || keep.has(name)) env[name] = value;
  }
  return {
    v: 1,
    stepRunId: task.stepRunId,
    attempt: task.attempt,
    runId: task.runId,
    step: {
      name: task.step.name,
      run: queuedRun,
      timeoutMs: task.step.timeoutMs ?? null,
      outputs: [...task.step.outputs],
    },
    inputs: { ...task.inputBlobs },
    params: { ...task.params },
    env,
    cwd: task.cwd,
  };
}

/** Reads a job payload back, refusing anything that is not a version-1 attempt. */
export function parseQueuedAttempt(payload: unknown): QueuedAttempt {
  const p = payload as Partial<QueuedAttempt> | null;
  if (
    p === null ||
    typeof p !== 'object' ||
    p.v !== 1 ||
    typeof p.stepRunId !== 'string' ||
    typeof p.attempt !== 'number' ||
    typeof p.runId !== 'string' ||
    typeof p.cwd !== 'string' ||
    typeof p.step?.name !== 'string' ||
    !Array.isArray(p.step.outputs) ||
    !['command', 'shell', 'function'].includes(p.step.run?.kind ?? '')
  )
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'queue job payload is not a Mobius step attempt (version 1); was it enqueued by a newer Mobius?',
    );
  return p as QueuedAttempt;
}

/** The hash a TypeScript step's source is checked by (the same text its cache key covers). */
function sourceHash(fn: (...args: never[]) => unknown): string {
  return createHash('sha256').update(fn.toString()).digest('hex');
}

/**
 * The step definition a worker's LocalExecutor runs: only what running needs. A
 * TypeScript step is imported from the pipeline's module (with jiti, as the config
 * loader does) and refused if its source differs from what the coordinator hashed — a
 * worker with an older checkout would otherwise run other code under the same cache key.
 */
export async function stepToRun(q: QueuedAttempt): Promise<StepDefinition> {
  const def: StepDefinition = {
    name: q.step.name,
    inputs: {},
    outputs: q.step.outputs,
    params: Object.keys(q.params),
    run: { kind: 'shell', script: '' },
    timeoutMs: q.step.timeoutMs ?? undefined,
    retries: 0,
    retryDelayMs: 0,
    env: [],
    codeFiles: [],
    cache: false,
  };
  const run = q.step.run;
  if (run.kind !== 'function') return { ...def, run };
  let loaded: unknown;
  try {
    // Through the loader `mobius run` used, so `import … from 'mobius'` resolves here too.
    loaded = await loadPipeline(run.module, { cwd: dirname(run.module) });
  } catch (cause) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `cannot import pipeline file '${run.module}' on this worker (${cause instanceof Error ? cause.message : String(cause)}): workers need the project at the same path`,
      { cause },
    );
  }
  const steps: unknown = (loaded as Partial<PipelineDefinition> | null)?.steps;
  const found = Array.isArray(steps)
    ? (steps as StepDefinition[]).find((s) => s.name === q.step.name)
    : undefined;
  if (found?.run.kind !== 'function')
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `'${run.module}' on this worker has no TypeScript step '${q.step.name}' in its default-exported pipeline`,
    );
  if (sourceHash(found.run.fn) !== run.sourceSha256)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `step '${q.step.name}' in '${run.module}' on this worker differs from the coordinator's: deploy the same code to every worker`,
    );
  return { ...def, run: found.run };
}
