/**
 * The metadata spine's tables as TypeScript types (Kysely's `Database` shape).
 * Columns hold the same JavaScript types on SQLite and PostgreSQL: text ids, numbers
 * for timestamps (ms since epoch) and counts, 0/1 integers for flags, JSON as text.
 */
import type { Generated, Insertable, Selectable } from 'kysely';

export interface ExperimentTable {
  id: string;
  name: string;
  artifact_location: string | null;
  lifecycle_stage: 'active' | 'deleted';
  created_at: number;
  updated_at: number;
}

export const RUN_STATUSES = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface RunTable {
  id: string;
  experiment_id: string;
  name: string | null;
  status: RunStatus;
  lifecycle_stage: 'active' | 'deleted';
  user_id: string | null;
  start_time: number;
  end_time: number | null;
  artifact_uri: string | null;
  parent_run_id: string | null;
  /** When the run was soft-deleted (lifecycle_stage 'deleted'); null otherwise. */
  deleted_time: number | null;
}

export interface ParamTable {
  run_id: string;
  key: string;
  value: string;
}

/**
 * Points of one metric of a run, packed (format: ../store/metric-points.ts). A series is
 * its segments in `seq` order; `min_step`/`max_step` let step-range reads skip segments
 * and `min_value`/`max_value` (NaN left out) answer run comparison without unpacking.
 */
export interface MetricSegmentTable {
  seq: Generated<number>;
  run_id: string;
  key: string;
  count: number;
  min_step: number;
  max_step: number;
  min_value: number | null;
  max_value: number | null;
  points: Buffer;
}

/** The latest point of each metric of a run (highest step, then timestamp, then value). */
export interface LatestMetricTable {
  run_id: string;
  key: string;
  value: number | null;
  is_nan: 0 | 1;
  step: number;
  timestamp: number;
}

/** A metric batch a client named with its own id, so a retried batch is recorded once. */
export interface MetricBatchTable {
  run_id: string;
  batch_id: string;
  /** sha256 of the batch's points, to tell a retry from a different batch reusing the id. */
  digest: string;
  points: number;
  created_at: number;
}

export interface ExperimentTagTable {
  experiment_id: string;
  key: string;
  value: string;
}

export interface TagTable {
  run_id: string;
  key: string;
  value: string;
}

export interface ArtifactTable {
  /** Path below the artifact root; unique. */
  path: string;
  /** The run the file belongs to, when its path lies under a run's artifact directory. */
  run_id: string | null;
  sha256: string;
  size: number;
  media_type: string | null;
  created_at: number;
}

export interface DatasetTable {
  id: string;
  name: string;
  description: string | null;
  created_at: number;
  /** The highest version number handed out (migration 014); new versions take the next. */
  last_version: Generated<number>;
  updated_at: number | null;
}

export interface DatasetVersionTable {
  id: string;
  dataset_id: string;
  version: number;
  /** sha256 of the canonical manifest: the version's content address. */
  content_hash: string;
  manifest: string;
  schema: string;
  row_count: number;
  profile: string | null;
  source_uri: string | null;
  run_id: string | null;
  created_at: number;
  /** Migration 014: null only on rows written before it. */
  format: string | null;
  file_count: number | null;
  total_bytes: number | null;
  /** The canonical Parquet copy every check and diff reads (a blob). */
  parquet_sha256: string | null;
  parquet_size: number | null;
  /** The engine that read and profiled the files, e.g. 'DuckDB v1.5.5'. */
  engine: string | null;
}

/** A movable name for a dataset version: `latest` (moved by each add) or a user tag. */
export interface DatasetTagTable {
  dataset_id: string;
  tag: string;
  version: number;
  updated_at: number;
}

/** One file of a dataset version's manifest, indexed by sha256 for blob garbage collection. */
export interface DatasetFileTable {
  version_id: string;
  path: string;
  sha256: string;
  size: number;
}

export const EDGE_RELATIONS = ['consumed', 'produced', 'derived', 'deployed', 'predicted'] as const;
export type EdgeRelation = (typeof EDGE_RELATIONS)[number];

export interface EdgeTable {
  seq: Generated<number>;
  from_kind: string;
  from_id: string;
  to_kind: string;
  to_id: string;
  relation: EdgeRelation;
  created_at: number;
}

export interface AuditTable {
  seq: Generated<number>;
  at: number;
  actor: string;
  action: string;
  object_kind: string;
  object_id: string | null;
  details: string | null;
}

export const LOGGED_MODEL_STATUSES = [
  'LOGGED_MODEL_PENDING',
  'LOGGED_MODEL_READY',
  'LOGGED_MODEL_UPLOAD_FAILED',
] as const;
export type LoggedModelStatus = (typeof LOGGED_MODEL_STATUSES)[number];

export interface LoggedModelTable {
  /** `m-` + 32 hex characters, as MLflow makes them. */
  id: string;
  experiment_id: string;
  name: string;
  model_type: string | null;
  source_run_id: string | null;
  status: LoggedModelStatus;
  status_message: string | null;
  artifact_uri: string;
  creator_id: string | null;
  lifecycle_stage: 'active' | 'deleted';
  created_at: number;
  updated_at: number;
}

export interface LoggedModelKeyValueTable {
  model_id: string;
  key: string;
  value: string;
}

/** A run's metric point logged for a LoggedModel (MLflow 3's model_id on a metric). */
export interface LoggedModelMetricTable {
  seq: Generated<number>;
  model_id: string;
  run_id: string;
  key: string;
  /** NULL when `is_nan` is 1, as in `latest_metric`. */
  value: number | null;
  is_nan: 0 | 1;
  step: number;
  timestamp: number;
  dataset_name: string | null;
  dataset_digest: string | null;
}

export const TOKEN_ROLES = ['admin', 'editor', 'viewer'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

export interface TokenTable {
  id: string;
  name: string;
  /** sha256 of the secret; the secret itself is never stored. */
  hash: string;
  role: TokenRole;
  created_at: number;
  revoked_at: number | null;
}

export const MODEL_STAGES = ['None', 'Staging', 'Production', 'Archived'] as const;
export type ModelStage = (typeof MODEL_STAGES)[number];

export interface RegisteredModelTable {
  /** NFC-normalised display name; the key children reference (ON UPDATE CASCADE). */
  name: string;
  description: string | null;
  /** Highest version number handed out so far; never decreases, so numbers are not reused. */
  last_version: Generated<number>;
  created_at: number;
  updated_at: number;
}

export interface RegisteredModelTagTable {
  name: string;
  key: string;
  value: string;
}

export interface ModelVersionTable {
  name: string;
  version: number;
  source: string;
  run_id: string | null;
  status: Generated<string>;
  status_message: string | null;
  description: string | null;
  current_stage: Generated<ModelStage>;
  created_at: number;
  updated_at: number;
  user_id: string | null;
  run_link: string | null;
}

export interface ModelVersionTagTable {
  name: string;
  version: number;
  key: string;
  value: string;
}

export interface RegisteredModelAliasTable {
  name: string;
  alias: string;
  version: number;
}

/** One evaluation of a model version (migration 022); `result` is the JSON result. */
export interface ModelEvaluationTable {
  id: string;
  name: string;
  version: number;
  dataset: string;
  dataset_version: number;
  label: string;
  task: string;
  against: string | null;
  champion_version: number | null;
  verdict: string;
  result: string;
  user_id: string | null;
  created_at: number;
}

/** A move of a protected alias: gate passed or forced, by whom and why (migration 022). */
export interface ModelAliasEventTable {
  id: string;
  name: string;
  version: number;
  alias: string;
  previous_version: number | null;
  gate: string;
  evaluation_id: string | null;
  reason: string | null;
  user_id: string | null;
  created_at: number;
}

/** An MLflow dataset a run consumed (log_inputs), one per (experiment, name, digest). */
export interface RunDatasetTable {
  id: string;
  experiment_id: string;
  name: string;
  digest: string;
  source_type: string;
  source: string;
  schema: string | null;
  profile: string | null;
  created_at: number;
}

export interface RunDatasetInputTable {
  run_id: string;
  dataset_id: string;
  /** The input's `mlflow.data.context` tag, kept as a column for `datasets.context` search. */
  context: string | null;
  /** JSON array of the input's `{key, value}` tags. */
  tags: string;
  created_at: number;
}

export const MODEL_LINK_DIRECTIONS = ['input', 'output'] as const;
export type ModelLinkDirection = (typeof MODEL_LINK_DIRECTIONS)[number];

/** A LoggedModel a run consumed or produced (MLflow 3's run inputs/outputs). */
export interface RunModelLinkTable {
  run_id: string;
  model_id: string;
  direction: ModelLinkDirection;
  step: number;
  created_at: number;
}

/** An MLflow 3 evaluation dataset: records for GenAI evaluation, shared by experiments. */
export interface EvaluationDatasetTable {
  /** `d-` + 32 hex characters, as MLflow makes them. */
  id: string;
  name: string;
  digest: string;
  /** JSON text, or null until records are added. */
  schema: string | null;
  profile: string | null;
  created_by: string | null;
  last_updated_by: string | null;
  created_at: number;
  updated_at: number;
}

export interface EvaluationDatasetTagTable {
  dataset_id: string;
  key: string;
  value: string;
}

/** An experiment an evaluation dataset belongs to. */
export interface EvaluationDatasetExperimentTable {
  dataset_id: string;
  experiment_id: string;
  created_at: number;
}

/** One record of an evaluation dataset; the JSON fields are JSON text. */
export interface EvaluationDatasetRecordTable {
  /** `dr-` + 32 hex characters, as MLflow makes them. */
  id: string;
  dataset_id: string;
  /** sha256 of the inputs as canonical JSON: a record's identity within its dataset. */
  input_hash: string;
  inputs: string;
  outputs: string | null;
  expectations: string | null;
  tags: string;
  source: string | null;
  source_id: string | null;
  source_type: string | null;
  created_by: string | null;
  last_updated_by: string | null;
  created_at: number;
  updated_at: number;
}

/** MLflow's TraceInfoV3.State. */
export type TraceState = 'OK' | 'ERROR' | 'IN_PROGRESS' | 'STATE_UNSPECIFIED';

/** One trace (MLflow 3 GenAI tracing); times in ms since the epoch. */
export interface TraceInfoTable {
  trace_id: string;
  experiment_id: string;
  client_request_id: string | null;
  request_time: number;
  execution_duration: number | null;
  state: TraceState;
  request_preview: string | null;
  response_preview: string | null;
}

/** A trace's tags or its (immutable-by-convention) metadata. */
export interface TraceKeyValueTable {
  trace_id: string;
  key: string;
  value: string;
}

/** One span of a trace: search columns plus MLflow's span dict as JSON `content`. */
export interface TraceSpanTable {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  span_type: string | null;
  status: 'OK' | 'ERROR' | 'UNSET';
  start_time_ms: number;
  end_time_ms: number | null;
  content: string;
}

/** A trace linked to a run (MLflow's link-traces-to-run). */
export interface TraceRunLinkTable {
  trace_id: string;
  run_id: string;
}

/** Every table of the spine. */
export interface Database {
  experiment: ExperimentTable;
  experiment_tag: ExperimentTagTable;
  run: RunTable;
  param: ParamTable;
  metric_segment: MetricSegmentTable;
  latest_metric: LatestMetricTable;
  metric_batch: MetricBatchTable;
  tag: TagTable;
  artifact: ArtifactTable;
  dataset: DatasetTable;
  dataset_version: DatasetVersionTable;
  dataset_tag: DatasetTagTable;
  dataset_file: DatasetFileTable;
  edge: EdgeTable;
  audit: AuditTable;
  token: TokenTable;
  logged_model: LoggedModelTable;
  logged_model_tag: LoggedModelKeyValueTable;
  logged_model_param: LoggedModelKeyValueTable;
  logged_model_metric: LoggedModelMetricTable;
  registered_model: RegisteredModelTable;
  registered_model_tag: RegisteredModelTagTable;
  model_version: ModelVersionTable;
  model_version_tag: ModelVersionTagTable;
  registered_model_alias: RegisteredModelAliasTable;
  model_evaluation: ModelEvaluationTable;
  model_alias_event: ModelAliasEventTable;
  run_dataset: RunDatasetTable;
  run_dataset_input: RunDatasetInputTable;
  run_model_link: RunModelLinkTable;
  evaluation_dataset: EvaluationDatasetTable;
  evaluation_dataset_tag: EvaluationDatasetTagTable;
  evaluation_dataset_experiment: EvaluationDatasetExperimentTable;
  evaluation_dataset_record: EvaluationDatasetRecordTable;
  trace_info: TraceInfoTable;
  trace_tag: TraceKeyValueTable;
  trace_metadata: TraceKeyValueTable;
  trace_span: TraceSpanTable;
  trace_run_link: TraceRunLinkTable;
  pipeline_run: PipelineRunTable;
  step_run: StepRunTable;
  step_cache: StepCacheTable;
  check_run: CheckRunTable;
  check_metric: CheckMetricTable;
  scheduled_pipeline: ScheduledPipelineTable;
  pipeline_schedule: PipelineScheduleTable;
  pipeline_trigger_state: PipelineTriggerStateTable;
  pipeline_fire: PipelineFireTable;
  deployment: DeploymentTable;
  deployment_event: DeploymentEventTable;
  prediction_log: PredictionLogTable;
}

/** One run of a pipeline; its tracking run is the parent of its steps' runs. */
export interface PipelineRunTable {
  id: string;
  pipeline: string;
  tracking_run_id: string;
  status: string;
  /** JSON: the params the run used. */
  params: string;
  started_at: number;
  ended_at: number | null;
  /** The host and pid of the Mobius process that ran it (019; null before). */
  host: string | null;
  owner_pid: number | null;
  /** The pipeline run `--resume` reused succeeded steps from. */
  resumed_from: string | null;
}

/** One step of a pipeline run: status, cache key and its parts, why it ran, what it cost. */
export interface StepRunTable {
  id: string;
  pipeline_run_id: string;
  pipeline: string;
  step: string;
  tracking_run_id: string | null;
  status: string;
  attempts: number;
  cache_key: string | null;
  cache_parts: string | null;
  explain: string;
  exit_code: number | null;
  signal: string | null;
  exit_reason: string | null;
  started_at: number | null;
  ended_at: number | null;
  wall_ms: number | null;
  cpu_ms: number | null;
  peak_rss_bytes: number | null;
  outputs: string | null;
  /** The host and pid of the Mobius process scheduling the step (019). */
  host: string | null;
  owner_pid: number | null;
  /** The command's process group leader (pgid = pid), while it runs (019). */
  pid: number | null;
  /** JSON: dataset versions read and registered, with row counts (019). */
  datasets: string | null;
  /** JSON: warnings, e.g. a gate's `warn` expectations (019). */
  warnings: string | null;
}

/** A step result reusable by any later run whose step has the same cache key. */
export interface StepCacheTable {
  cache_key: string;
  pipeline: string;
  step: string;
  step_run_id: string;
  /** JSON: output name → { sha256, size }. */
  outputs: string;
  created_at: number;
}

/** A pipeline the scheduler knows (migration 017), and whether it is paused. */
export interface ScheduledPipelineTable {
  pipeline: string;
  /** 0 or 1. */
  paused: Generated<number>;
  paused_at: number | null;
  /** JSON: the dataset trigger as registered, or null. */
  trigger: string | null;
  registered_at: number;
  updated_at: number;
}

/** One cron schedule of a pipeline and the next boundary it fires at. */
export interface PipelineScheduleTable {
  pipeline: string;
  cron: string;
  catchup: string;
  next_fire_at: number;
  last_fired_at: number | null;
}

/** The newest version of a dataset that a pipeline's last triggered run consumed. */
export interface PipelineTriggerStateTable {
  pipeline: string;
  dataset: string;
  consumed_version: number;
}

/** One decision to start a pipeline run: why, for when, and what became of it. */
export interface PipelineFireTable {
  id: string;
  pipeline: string;
  fire_key: string;
  trigger: string;
  scheduled_for: number;
  /** JSON: { cron } or { datasets: { name: version } }. */
  detail: string;
  created_at: number;
  /** pending | launching | launched | failed */
  status: string;
  claimed_at: number | null;
  pipeline_run_id: string | null;
  error: string | null;
}

export type Row<T extends keyof Database> = Selectable<Database[T]>;
export type NewRow<T extends keyof Database> = Insertable<Database[T]>;

/** One run of an expectation suite on a dataset version (migration 016). */
export interface CheckRunTable {
  id: string;
  dataset_id: string;
  version_id: string;
  version: number;
  suite_name: string;
  suite_hash: string;
  /** JSON: the suite as validated. */
  suite: string;
  status: string;
  success: number;
  /** JSON: GE-style statistics. */
  statistics: string;
  /** JSON: per-expectation results. */
  results: string;
  /** JSON: history anomalies. */
  anomalies: string;
  scans: number;
  run_id: string | null;
  created_at: number;
  duration_ms: number;
}

/** A metric a check run recorded, for history anomalies (migration 016). */
export interface CheckMetricTable {
  check_run_id: string;
  dataset_id: string;
  version: number;
  key: string;
  value: number;
  created_at: number;
}

/** A registry-backed deployment: weighted routes, a mirror, a last-good version (migration 020). */
export interface DeploymentTable {
  name: string;
  /** JSON: [{model, version, ref, weight, role}]. */
  routes: string;
  /** JSON: {model, version, ref, percent} or null. */
  mirror: string | null;
  sticky: string | null;
  last_good_model: string | null;
  last_good_version: number | null;
  /** JSON: automatic canary analysis settings, or null. */
  analysis: string | null;
  candidate_since: number | null;
  revision: number;
  created_at: number;
  updated_at: number;
  /** When `deployments rm` deleted it; null while it exists (migration 023). */
  deleted_at: number | null;
}

/** One change to a deployment, with who and why (migration 020). */
export interface DeploymentEventTable {
  seq: Generated<number>;
  deployment: string;
  revision: number;
  at: number;
  kind: string;
  actor: string;
  reason: string | null;
  /** JSON: the routes, mirror and last-good the change set. */
  detail: string;
}

/** One prediction (or failed request) of one route (migration 021). */
export interface PredictionLogTable {
  seq: Generated<number>;
  request_id: string;
  deployment: string;
  model: string | null;
  version: number | null;
  /** primary | shadow */
  route: string;
  inputs: string;
  outputs: string | null;
  latency_ms: number;
  error: string | null;
  created_at: number;
  ground_truth: string | null;
  feedback_at: number | null;
}
