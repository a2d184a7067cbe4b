/**
 * The serialisable form of one step attempt: what a `mobius worker` on another machine
 * needs, and nothing tied to the coordinator's disk. Inputs travel as blob hashes (the
 * worker reads them from the shared blob store); output and input paths are the worker's
 * own. Environment: only the step contract (MOBIUS_RUN_ID, MOBIUS_PARAM_*,
 * MLFLOW_TRACKING_URI) and the variables the step declares in `env` — never the
 * coordinator's whole environment, which would put its secrets into the queue table.
 */
import { MobiusError } from '../../core/index.js';
import type { ParamValue, StepDefinition } from '../definition.js';
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
    run: { kind: 'command'; argv: string[] } | { kind: 'shell'; script: string };
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
  if (run.kind === 'function')
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `step '${task.step.name}' is a TypeScript function, which cannot be sent to a queue worker yet: write it as a command step (run: ['node', 'step.js']) or run the pipeline with the local executor`,
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
      run:
        run.kind === 'command'
          ? { kind: 'command', argv: [...run.argv] }
          : { kind: 'shell', script: run.script },
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
    (p.step.run?.kind !== 'command' && p.step.run?.kind !== 'shell')
  )
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'queue job payload is not a Mobius step attempt (version 1); was it enqueued by a newer Mobius?',
    );
  return p as QueuedAttempt;
}

/** The step definition a worker's LocalExecutor runs: only what running needs. */
export function stepToRun(q: QueuedAttempt): StepDefinition {
  return {
    name: q.step.name,
    inputs: {},
    outputs: q.step.outputs,
    params: Object.keys(q.params),
    run: q.step.run,
    timeoutMs: q.step.timeoutMs ?? undefined,
    retries: 0,
    retryDelayMs: 0,
    env: [],
    codeFiles: [],
    cache: false,
  };
}
