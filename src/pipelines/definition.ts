/**
 * Pipeline definitions: `pipeline()` and `step()` build a plain, serialisable-enough
 * description of a DAG; `validatePipeline` checks it at load (names, unknown params,
 * missing inputs, cycles including self-reference) and returns the steps in a
 * topological order. Every error names the step it is about.
 */
import { MobiusError, checkDatasetName, checkName } from '../core/index.js';
import {
  checkSchedules,
  checkTrigger,
  type CronSchedule,
  type DatasetTrigger,
  type ScheduleOptions,
  type TriggerOptions,
} from './triggers/trigger-spec.js';

/** Where a step input comes from. */
export type InputRef =
  /** An output of another step of the same pipeline. */
  | { kind: 'step'; step: string; output: string }
  /** A file on the machine that runs the pipeline (hashed by content for the cache). */
  | { kind: 'file'; path: string }
  /**
   * A dataset version from the data domain (src/data), written `dataset:<name>@<ref>`
   * (`@latest` when no ref). The runner asks an injected `DatasetIO` for it; the step gets
   * the version's canonical Parquet copy as one file.
   */
  | { kind: 'dataset'; name: string; version?: string };

/** File formats a dataset output may be written in (what `DataService.add` reads). */
export const DATASET_OUTPUT_FORMATS = ['csv', 'parquet', 'json'] as const;
export type DatasetOutputFormat = (typeof DATASET_OUTPUT_FORMATS)[number];

/**
 * An output registered as a new version of a dataset once the step succeeds. The step
 * writes one file in `format` at its output path (which ends in `.<format>`).
 */
export interface DatasetOutput {
  /** The dataset to add a version to. */
  dataset: string;
  /** The output's name (MOBIUS_OUTPUT_<AS>, `step.<as>`); default: the dataset name. */
  as?: string;
  /** Default `csv`. */
  format?: DatasetOutputFormat;
}

/** A param value as given; commands receive it as a string (MOBIUS_PARAM_<NAME>). */
export type ParamValue = string | number | boolean;

/** What a TypeScript step receives. */
export interface StepContext {
  runId: string;
  /** Absolute paths of the step's inputs, by input name. */
  inputs: Readonly<Record<string, string>>;
  /** Absolute paths the step must write its outputs to, by output name. */
  outputs: Readonly<Record<string, string>>;
  params: Readonly<Record<string, ParamValue>>;
  /** Aborted when the step times out or the pipeline is cancelled. */
  signal: AbortSignal;
  /** Appends a line to the step's log. */
  log: (line: string) => void;
}

/** A step's work: a TypeScript function, an argv command, or (only when asked) a shell string. */
export type StepRun =
  | { kind: 'function'; fn: (ctx: StepContext) => unknown }
  | { kind: 'command'; argv: readonly string[]; cwd?: string }
  | { kind: 'shell'; script: string; cwd?: string }
  /**
   * A quality gate: runs the expectation suite at `suite` (a YAML file, relative to the
   * project) on the dataset version of the step's only input, `data`. Never given to an
   * executor: the runner calls its `GateRunner`.
   */
  | { kind: 'check'; suite: string };

export interface StepOptions {
  /** Input name → where it comes from. Strings `step.output` and `file:path` are accepted too. */
  inputs?: Record<string, InputRef | string>;
  /** Names of the files this step writes; `{ dataset }` ones become dataset versions. */
  outputs?: readonly (string | DatasetOutput)[];
  /** Names of the pipeline params this step reads. */
  params?: readonly string[];
  /**
   * Steps that must succeed first although this one reads none of their outputs — e.g. a
   * `check` gate guarding it: a failed gate then skips this step.
   */
  after?: readonly string[];
  /** What to run: a function, an argv array, or `{ shell: '…' }` for an explicit shell. */
  run: ((ctx: StepContext) => unknown) | readonly string[] | { shell: string; cwd?: string };
  cwd?: string;
  /** Kill the step after this many ms (the whole process group for commands). */
  timeoutMs?: number;
  /** Extra attempts after a failed or killed (timed-out) attempt; a cancelled run is not retried. */
  retries?: number;
  /** First backoff delay in ms, doubled per attempt. */
  retryDelayMs?: number;
  /** Environment variables (names) whose values are part of the cache key and passed in. */
  env?: readonly string[];
  /** Files a command names (scripts), hashed into the cache key. */
  codeFiles?: readonly string[];
  /** Never reuse a cached result for this step. */
  cache?: boolean;
  /**
   * A named pool (`gpu`): the step waits for a free slot in it as well as for the run's
   * concurrency limit. Pools and their sizes come from the pipeline's `pools` and the
   * config's `pipelines.pools`.
   */
  pool?: string;
  /**
   * `false`: run this command outside the sandbox, for a step that must write somewhere
   * other than its outputs, working dir and TMPDIR (docs/pipelines.md, "Sandbox").
   */
  sandbox?: boolean;
}

/** One step as validated. */
export interface StepDefinition {
  name: string;
  inputs: Readonly<Record<string, InputRef>>;
  outputs: readonly string[];
  /**
   * Output name → the dataset it is registered as (only outputs declared `{ dataset }`).
   * Optional so hand-built definitions (queue workers' stand-ins) need not name it.
   */
  datasetOutputs?: Readonly<Record<string, { dataset: string; format: DatasetOutputFormat }>>;
  params: readonly string[];
  /** Ordering-only upstream steps (not part of the cache key: nothing is read from them). */
  after?: readonly string[];
  run: StepRun;
  timeoutMs: number | undefined;
  retries: number;
  retryDelayMs: number;
  env: readonly string[];
  codeFiles: readonly string[];
  cache: boolean;
  /** The named pool whose slots the step takes (absent: none; scheduling only, not in the cache key). */
  pool?: string;
  /** `false`: this command runs outside the sandbox. Optional: absent = sandboxed. */
  sandbox?: boolean;
}

export interface PipelineOptions {
  /** Param name → default value. */
  params?: Record<string, ParamValue>;
  steps: readonly StepDefinition[];
  /** Pool name → how many of its steps may run at once (the config's `pipelines.pools` wins on a clash). */
  pools?: Record<string, number>;
  /** Cron schedules `mobius server` runs the pipeline on (UTC). */
  schedule?: ScheduleOptions | readonly ScheduleOptions[];
  /** Run when declared datasets get new versions. */
  trigger?: TriggerOptions;
}

export interface PipelineDefinition {
  name: string;
  params: Readonly<Record<string, ParamValue>>;
  /** Steps in a topological order (every step after the steps it reads from). */
  steps: readonly StepDefinition[];
  /** Validated cron schedules (absent or empty: none). */
  schedules?: readonly CronSchedule[];
  /** Validated dataset trigger (absent: none). */
  trigger?: DatasetTrigger;
  /** Pools the pipeline declares (size by name); absent: none. */
  pools?: Readonly<Record<string, number>>;
}

/** Parses `producer.output`, `file:path` or `dataset:name@ref` into an InputRef. */
export function parseInputRef(stepName: string, input: string, ref: InputRef | string): InputRef {
  if (typeof ref !== 'string') {
    if (ref.kind === 'dataset') checkInputDataset(stepName, input, ref.name);
    return ref;
  }
  if (ref.startsWith('file:')) return { kind: 'file', path: ref.slice('file:'.length) };
  if (ref.startsWith('dataset:')) {
    const text = ref.slice('dataset:'.length);
    const at = text.indexOf('@');
    const name = at < 0 ? text : text.slice(0, at);
    const version = at < 0 ? undefined : text.slice(at + 1);
    checkInputDataset(stepName, input, name);
    if (version === '')
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `step '${stepName}': input '${input}' = '${ref}' has an empty version after '@' (give latest, a tag or a number)`,
      );
    return { kind: 'dataset', name, ...(version === undefined ? {} : { version }) };
  }
  const dot = ref.lastIndexOf('.');
  if (dot <= 0 || dot === ref.length - 1)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `step '${stepName}': input '${input}' = '${ref}' is neither 'step.output', 'file:path' nor 'dataset:name@version'`,
    );
  return { kind: 'step', step: ref.slice(0, dot), output: ref.slice(dot + 1) };
}

/**
 * Declares a step.
 *
 * @example
 * step('train', { inputs: { data: 'prep.rows' }, outputs: ['model'], run: ['python3', 'train.py'] })
 */
export function step(name: string, options: StepOptions): StepDefinition {
  const where = `step '${name}'`;
  checkStepName(name);
  const inputs: Record<string, InputRef> = {};
  for (const [input, ref] of Object.entries(options.inputs ?? {})) {
    checkIoName(where, 'input', input);
    inputs[input] = parseInputRef(name, input, ref);
  }
  const outputs: string[] = [];
  const datasetOutputs: Record<string, { dataset: string; format: DatasetOutputFormat }> = {};
  for (const o of options.outputs ?? []) {
    if (typeof o === 'string') {
      checkIoName(where, 'output', o);
      outputs.push(o);
      continue;
    }
    const { dataset, as, format = 'csv' } = o;
    try {
      checkDatasetName(dataset);
    } catch (error) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${where}: dataset output: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const outputName = as ?? dataset;
    if (as === undefined && !IO_NAME.test(dataset))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${where}: dataset output '${dataset}' needs an output name: add as: '<name>' (letters, digits and '_')`,
      );
    checkIoName(where, 'output', outputName);
    if (!(DATASET_OUTPUT_FORMATS as readonly string[]).includes(format))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${where}: dataset output '${dataset}' format '${String(format)}' is not one of ${DATASET_OUTPUT_FORMATS.join(', ')}`,
      );
    outputs.push(outputName);
    datasetOutputs[outputName] = { dataset, format };
  }
  if (new Set(outputs).size !== outputs.length)
    throw new MobiusError('INVALID_ARGUMENT', `${where}: an output name is repeated`);
  const run = toStepRun(where, options);
  const retries = options.retries ?? 0;
  if (!Number.isSafeInteger(retries) || retries < 0)
    throw new MobiusError('INVALID_ARGUMENT', `${where}: retries must be a whole number ≥ 0`);
  if (options.timeoutMs !== undefined && !(options.timeoutMs > 0))
    throw new MobiusError('INVALID_ARGUMENT', `${where}: timeoutMs must be > 0`);
  if (options.pool !== undefined && !POOL_NAME.test(options.pool))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${where}: pool name '${String(options.pool)}' must start with a letter and hold only letters, digits, '-' and '_' (≤ 100)`,
    );
  return {
    name,
    inputs,
    outputs,
    datasetOutputs,
    params: [...(options.params ?? [])],
    after: [...(options.after ?? [])],
    run,
    timeoutMs: options.timeoutMs,
    retries,
    retryDelayMs: options.retryDelayMs ?? 1000,
    env: [...(options.env ?? [])],
    codeFiles: [...(options.codeFiles ?? [])],
    cache: options.cache ?? true,
    ...(options.pool === undefined ? {} : { pool: options.pool }),
    // Only when turned off: a definition without it is sandboxed (and compares equal).
    ...(options.sandbox === false ? { sandbox: false } : {}),
  };
}

/** What a `check` step takes. */
export interface CheckOptions {
  /** The dataset to check: `dataset:name@ref`, or `step.output` of a `{ dataset }` output. */
  dataset: string | InputRef;
  /** The expectation suite: a YAML file, relative to the project (hashed into the cache key). */
  suite: string;
  /** Never reuse a cached result (rerun the gate every time). */
  cache?: boolean;
  /** Steps that must succeed before the gate runs. */
  after?: readonly string[];
  /** A named pool the gate takes a slot of (see StepOptions.pool). */
  pool?: string;
}

/**
 * Declares a quality gate: runs an expectation suite on a dataset version. Error
 * failures fail the step (its dependents are skipped, saying why); warnings are recorded
 * and the pipeline goes on.
 *
 * @example
 * check('gate', { dataset: 'prep.features', suite: 'suites/features.yaml' })
 */
export function check(name: string, options: CheckOptions): StepDefinition {
  if (typeof options.suite !== 'string' || options.suite === '')
    throw new MobiusError('INVALID_ARGUMENT', `step '${name}': a check needs suite: '<file.yaml>'`);
  const base = step(name, {
    inputs: { data: options.dataset },
    run: () => undefined,
    codeFiles: [options.suite],
    ...(options.cache === undefined ? {} : { cache: options.cache }),
    ...(options.after === undefined ? {} : { after: options.after }),
    ...(options.pool === undefined ? {} : { pool: options.pool }),
  });
  return { ...base, run: { kind: 'check', suite: options.suite } };
}

/**
 * Declares and validates a pipeline: unknown params, missing inputs and cycles are
 * INVALID_ARGUMENT errors naming the step.
 *
 * @example
 * const p = pipeline('etl', { params: { rows: 10 }, steps: [extract, load] });
 */
export function pipeline(name: string, options: PipelineOptions): PipelineDefinition {
  checkName('pipeline', name);
  const schedules = checkSchedules(name, options.schedule);
  const trigger = checkTrigger(name, options.trigger);
  const pools =
    options.pools === undefined
      ? undefined
      : checkPoolSizes(`pipeline '${name}': pools`, options.pools);
  return validatePipeline({
    name,
    params: { ...(options.params ?? {}) },
    steps: options.steps,
    ...(pools === undefined ? {} : { pools }),
    ...(schedules.length === 0 ? {} : { schedules }),
    ...(trigger === undefined ? {} : { trigger }),
  });
}

/** Checks a pipeline and returns it with its steps in topological order. */
export function validatePipeline(p: PipelineDefinition): PipelineDefinition {
  const byName = new Map<string, StepDefinition>();
  for (const s of p.steps) {
    if (byName.has(s.name))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `pipeline '${p.name}': step '${s.name}' is defined twice`,
      );
    byName.set(s.name, s);
  }
  for (const s of p.steps) {
    for (const up of s.after ?? []) {
      if (up === s.name)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `step '${s.name}': after: names the step itself (a step cannot wait for itself)`,
        );
      if (!byName.has(up))
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `step '${s.name}': after: '${up}' is not a step of pipeline '${p.name}'`,
        );
    }
    for (const param of s.params)
      if (!(param in p.params))
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `step '${s.name}': unknown param '${param}' (pipeline '${p.name}' declares ${listOrNone(Object.keys(p.params))})`,
        );
    for (const [input, ref] of Object.entries(s.inputs)) {
      if (ref.kind !== 'step') continue;
      if (ref.step === s.name)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `step '${s.name}': input '${input}' reads the step's own output '${ref.output}' (a step cannot depend on itself)`,
        );
      const producer = byName.get(ref.step);
      if (producer === undefined)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `step '${s.name}': input '${input}' comes from step '${ref.step}', which pipeline '${p.name}' does not define`,
        );
      if (!producer.outputs.includes(ref.output))
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `step '${s.name}': input '${input}' reads '${ref.step}.${ref.output}', but step '${ref.step}' outputs ${listOrNone(producer.outputs)}`,
        );
      if (s.run.kind === 'check' && producer.datasetOutputs?.[ref.output] === undefined)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `step '${s.name}': a check reads a dataset, but '${ref.step}.${ref.output}' is a plain file; declare it in step '${ref.step}' as outputs: [{ dataset: '<name>', as: '${ref.output}' }]`,
        );
    }
  }
  return { ...p, steps: topologicalOrder(p.name, p.steps, byName) };
}

/**
 * The pools a run of `p` has: the pipeline's own, then `configured` (the config's
 * `pipelines.pools`, which wins: it says what the machine has). A step naming a pool in
 * neither is INVALID_ARGUMENT naming the step — checked at load by `mobius run` and before
 * a run records anything.
 *
 * @example
 * const pools = resolvePools(p, { gpu: 1 }); // { gpu: 1, ... }
 */
export function resolvePools(
  p: PipelineDefinition,
  configured: Readonly<Record<string, number>> = {},
): Record<string, number> {
  const pools = { ...p.pools, ...checkPoolSizes('pipelines.pools', configured) };
  for (const s of p.steps)
    if (s.pool !== undefined && pools[s.pool] === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `step '${s.name}': pool '${s.pool}' is not defined; declare it in pipeline '${p.name}' (pools: { ${s.pool}: 1 }) or in the config (pipelines.pools), which define ${listOrNone(Object.keys(pools))}`,
      );
  return pools;
}

/** Pool names are like step names; sizes whole numbers ≥ 1. */
function checkPoolSizes(
  where: string,
  pools: Readonly<Record<string, number>>,
): Record<string, number> {
  for (const [name, size] of Object.entries(pools)) {
    if (!POOL_NAME.test(name))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${where}: pool name '${name}' must start with a letter and hold only letters, digits, '-' and '_' (≤ 100)`,
      );
    if (!Number.isSafeInteger(size) || size < 1)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${where}: pool '${name}' has size ${String(size)}; give a whole number ≥ 1`,
      );
  }
  return { ...pools };
}

/** The names of the steps `s` reads from. */
export function upstreamOf(s: StepDefinition): string[] {
  const names = new Set<string>();
  for (const ref of Object.values(s.inputs)) if (ref.kind === 'step') names.add(ref.step);
  for (const name of s.after ?? []) names.add(name);
  return [...names];
}

/** Depth-first order; a back edge is a cycle, reported with its path. */
function topologicalOrder(
  pipelineName: string,
  steps: readonly StepDefinition[],
  byName: ReadonlyMap<string, StepDefinition>,
): StepDefinition[] {
  const state = new Map<string, 'visiting' | 'done'>();
  const order: StepDefinition[] = [];
  const visit = (s: StepDefinition, path: string[]): void => {
    const seen = state.get(s.name);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      const cycle = [...path.slice(path.indexOf(s.name)), s.name];
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `step '${s.name}': pipeline '${pipelineName}' has a cycle: ${cycle.join(' → ')}`,
      );
    }
    state.set(s.name, 'visiting');
    for (const up of upstreamOf(s)) visit(byName.get(up)!, [...path, s.name]);
    state.set(s.name, 'done');
    order.push(s);
  };
  for (const s of steps) visit(s, []);
  return order;
}

function toStepRun(where: string, options: StepOptions): StepRun {
  const run = options.run;
  if (typeof run === 'function') return { kind: 'function', fn: run };
  if (Array.isArray(run)) {
    const argv = run as readonly string[];
    if (argv.length === 0 || argv.some((a) => typeof a !== 'string'))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${where}: a command is a non-empty array of strings`,
      );
    return {
      kind: 'command',
      argv: [...argv],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    };
  }
  const shell = run as { shell: string; cwd?: string };
  if (typeof shell.shell !== 'string' || shell.shell === '')
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${where}: run must be a function, an argv array or { shell }`,
    );
  const cwd = shell.cwd ?? options.cwd;
  return { kind: 'shell', script: shell.shell, ...(cwd === undefined ? {} : { cwd }) };
}

/** Step names become tracking run names and env-var-free ids: letters, digits, - and _. */
const STEP_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,99}$/;
/** Pool names: like step names. */
const POOL_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,99}$/;
/** Input, output and param names become MOBIUS_INPUT_<NAME> variables: identifier-like. */
const IO_NAME = /^[A-Za-z][A-Za-z0-9_]{0,99}$/;

function checkStepName(name: string): void {
  if (!STEP_NAME.test(name))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `step name '${name}' must start with a letter and hold only letters, digits, '-' and '_' (≤ 100)`,
    );
}

function checkInputDataset(stepName: string, input: string, name: string): void {
  try {
    checkDatasetName(name);
  } catch (error) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `step '${stepName}': input '${input}': ${(error as Error).message}`,
      { cause: error },
    );
  }
}

function checkIoName(where: string, what: string, name: string): void {
  if (!IO_NAME.test(name))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${where}: ${what} name '${name}' must start with a letter and hold only letters, digits and '_' (≤ 100)`,
    );
}

function listOrNone(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.map((n) => `'${n}'`).join(', ');
}
