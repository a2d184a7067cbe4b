/** tracking: experiments, runs, params, metrics and tags (MLflow's model, Mobius' spine). */
export { TrackingService } from './tracking.js';
export { ExperimentService, DEFAULT_EXPERIMENT_ID } from './experiments.js';
export { parseExperimentFilter, parseExperimentOrderBy } from './experiment-search.js';
export type { ExperimentFilter, ExperimentOrder } from './experiment-search.js';
export { ArtifactService, artifactFilePath, runArtifactRoot } from './artifacts.js';
export type { ArtifactEntry, CompletedPart } from './artifacts.js';
export { LoggedModelService } from './logged-models.js';
export type { LoggedModel, LoggedModelStatus, CreateLoggedModelInput } from './logged-models.js';
export { RunInputService, DATASET_CONTEXT_TAG } from './run-inputs.js';
export type { DatasetInfo, DatasetInput, DatasetSummary, ModelLink, RunIo } from './run-inputs.js';
export {
  EvaluationDatasetService,
  MLFLOW_USER_TAG,
  RECORD_SOURCE_TYPES,
} from './evaluation-datasets.js';
export type {
  EvaluationDataset,
  EvaluationDatasetRecord,
  RecordSourceType,
  SearchEvaluationDatasetsOptions,
} from './evaluation-datasets.js';
export { pythonJsonDumps } from './python-json.js';
export { RunService, RUN_NAME_TAG, PARENT_RUN_TAG, USER_TAG } from './runs.js';
export type { CreateRunInput, InTransaction } from './runs.js';
export * from './metric-history.js';
export { compareRuns, compareRunData, MAX_COMPARE_RUNS } from './compare.js';
export type { RunComparison, ComparedValues, ComparedMetric, MetricRange } from './compare.js';
export { checkBatchId } from './metric-batches.js';
export type {
  Experiment,
  LifecycleStage,
  MetricPoint,
  Run,
  RunBatch,
  RunInfo,
  RunStatus,
  ViewType,
} from './types.js';
export {
  searchRuns,
  parseFilter,
  parseOrderBy,
  encodePageToken,
  decodePageToken,
} from './search/index.js';
export type {
  SearchRunsOptions,
  SearchRunsPage,
  SearchViewType,
  FilterNode,
  OrderByClause,
} from './search/index.js';
export {
  TraceService,
  TRACE_KEYS,
  TRACE_NAME_TAG,
  decodeExportRequest,
  encodeExportResponse,
  attributeValue,
  base64ToHex,
  hexToBase64,
  SPAN_ATTRIBUTES,
} from './traces/index.js';
export type {
  Trace,
  TraceInfo,
  StartTraceInput,
  SpanDict,
  SpanEvent,
  IncomingSpan,
} from './traces/index.js';
export { createPromptlabRun, PROMPTLAB_TAGS } from './promptlab.js';
export type { PromptlabRunInput, PromptlabParam } from './promptlab.js';
