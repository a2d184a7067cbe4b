/**
 * What the pipeline runner tells the outside while it runs: a pipeline run or a step run
 * started or finished. Listeners (OpenLineage today; progress printers, webhooks later)
 * observe the run without the runner knowing what they do with it.
 *
 * The runner awaits each call, in order, so a listener sees a step's start before its
 * finish and the pipeline's finish last. A listener that throws is logged and ignored: an
 * observer never fails the pipeline. A slow listener slows the run, so a listener that
 * talks to the network queues its work and returns (see OpenLineageEmitter).
 */
import type { InputRef, ParamValue, StepRun } from './definition.js';

/** A stored blob: content address and size. */
export interface BlobRef {
  sha256: string;
  size: number;
}

/** One input of a step as the runner resolved it. */
export interface ResolvedInput {
  /** The step's name for the input. */
  name: string;
  ref: InputRef;
  /** The absolute path of a `file:` input. */
  path?: string;
  blob: BlobRef;
}

/**
 * The outcome of one data-quality assertion a step made about one of its inputs, in
 * OpenLineage's DataQualityAssertions terms (`assertion` is the check's kind:
 * `not_null`, `unique`, `row_count_between`, …).
 */
export interface AssertionResult {
  assertion: string;
  success: boolean;
  column?: string;
  severity?: 'error' | 'warn';
  /** A name for this check, when the suite gives one. */
  name?: string;
  expected?: string;
  actual?: string;
}

/** Assertions a check step made about one of its inputs (by input name). */
export interface InputAssertions {
  input: string;
  results: readonly AssertionResult[];
}

export interface PipelineStartedEvent {
  pipeline: string;
  pipelineRunId: string;
  /** Epoch ms, from the runner's clock. */
  at: number;
  params: Readonly<Record<string, ParamValue>>;
}

export interface PipelineFinishedEvent {
  pipeline: string;
  pipelineRunId: string;
  at: number;
  status: 'succeeded' | 'failed';
  /** Why it failed: the steps that failed, or the platform error that stopped the run. */
  error?: string;
}

export interface StepStartedEvent {
  pipeline: string;
  pipelineRunId: string;
  step: string;
  stepRunId: string;
  at: number;
  run: StepRun;
  /** The outputs the step declares. */
  outputNames: readonly string[];
  /** Empty when the inputs could not be resolved (the step then fails at once). */
  inputs: readonly ResolvedInput[];
  /** A cache hit: the step's stored outputs are reused and nothing runs. */
  cached: boolean;
}

export interface StepFinishedEvent extends StepStartedEvent {
  status: 'succeeded' | 'cached' | 'failed' | 'killed';
  /** The step's outputs (empty unless it succeeded or was cached). */
  outputs: Readonly<Record<string, BlobRef>>;
  /** Why it failed or was killed. */
  error?: string;
  /**
   * Data-quality assertions the step made (a check step). The seam for quality gates: the
   * runner does not fill it yet; when gates land, the gate step's results go here and
   * OpenLineage carries them as a `dataQualityAssertions` input facet.
   */
  assertions?: readonly InputAssertions[];
}

/** Receives a pipeline run's events; every method is optional. */
export interface PipelineListener {
  pipelineStarted?(event: PipelineStartedEvent): void | Promise<void>;
  pipelineFinished?(event: PipelineFinishedEvent): void | Promise<void>;
  stepStarted?(event: StepStartedEvent): void | Promise<void>;
  stepFinished?(event: StepFinishedEvent): void | Promise<void>;
}
