/** pipelines: DAGs of TypeScript or any-language steps, content-keyed caching, local execution. */
export {
  pipeline,
  step,
  check,
  validatePipeline,
  parseInputRef,
  upstreamOf,
  resolvePools,
  DATASET_OUTPUT_FORMATS,
} from './definition.js';
export type {
  CheckOptions,
  DatasetOutput,
  DatasetOutputFormat,
  InputRef,
  ParamValue,
  PipelineDefinition,
  PipelineOptions,
  StepContext,
  StepDefinition,
  StepOptions,
  StepRun,
} from './definition.js';
export { LocalExecutor } from './executor.js';
export { CommandSandbox, SANDBOX_MODES, sandboxArgv } from './sandbox.js';
export type { SandboxMode, SandboxPaths } from './sandbox.js';
export type { StepExecutor, StepOutcome, StepTask } from './executor.js';
export { computeCacheKey, explainChange } from './cache-key.js';
export type { CacheParts } from './cache-key.js';
export {
  PipelineService,
  PIPELINE_TAG,
  PIPELINE_RUN_TAG,
  STEP_TAG,
  CACHED_TAG,
  SAMPLE_DATASET_PREFIX,
  SAMPLE_SEED_TAG,
  SAMPLE_TAG,
  sampleDatasetName,
} from './pipeline-runner.js';
export type {
  DatasetIO,
  DatasetVersionInfo,
  GateOutcome,
  GateRunner,
  OutputBlob,
  PipelineEvent,
  PipelineRunSummary,
  ReapReport,
  SampleSummary,
  StepDatasets,
  PipelineRunResult,
  PipelineServiceDeps,
  RunPipelineOptions,
  StepExplanation,
  StepReport,
  StepStatus,
} from './pipeline-runner.js';
export { parsePipelineYaml } from './yaml-definition.js';
export { loadPipeline, loadPipelineFile, discoverPipelines } from './loader.js';
export type { DiscoveredPipeline, LoadPipelineOptions } from './loader.js';
export { scaffoldProject, SCAFFOLD_FILES } from './scaffold.js';
export type {
  AssertionResult,
  BlobRef,
  InputAssertions,
  PipelineFinishedEvent,
  PipelineListener,
  PipelineStartedEvent,
  ResolvedInput,
  StepFinishedEvent,
  StepStartedEvent,
} from './listener.js';
export {
  FileTransport,
  HttpTransport,
  OpenLineageEmitter,
  OpenLineageEvents,
  OPENLINEAGE_PRODUCER,
  OPENLINEAGE_RUN_EVENT_SCHEMA,
  dataQualityAssertionsFacet,
  openLineageListener,
  openLineageRunId,
} from './openlineage.js';
export type {
  DataQualityAssertionsFacet,
  HttpTransportOptions,
  OpenLineageDataset,
  OpenLineageEmitterOptions,
  OpenLineageRunEvent,
  OpenLineageTransport,
} from './openlineage.js';
export * from './triggers/index.js';

import type * as QueueModule from './queue/index.js';

export type {
  QueueExecutor,
  QueueExecutorOptions,
  StepWorker,
  StepWorkerOptions,
} from './queue/index.js';

/**
 * The queue module (graphile-worker over PostgreSQL), imported on first use so local
 * pipelines and every other command never load it.
 *
 * @example
 * const { StepWorker } = await loadQueue();
 */
export function loadQueue(): Promise<typeof QueueModule> {
  return import('./queue/index.js');
}
