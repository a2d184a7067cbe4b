/** registry: registered models, numbered versions, stages, tags and aliases (MLflow's model registry). */
export { RegistryService } from './registry.js';
export { RegisteredModelService, SEARCH_MODELS_DEFAULT, SEARCH_MODELS_MAX } from './models.js';
export type { SearchModelsOptions } from './models.js';
export {
  ModelVersionService,
  parseVersion,
  SEARCH_VERSIONS_DEFAULT,
  SEARCH_VERSIONS_MAX,
} from './versions.js';
export type { CreateVersionInput, SearchVersionsOptions } from './versions.js';
export {
  AliasService,
  checkAlias,
  DEFAULT_PROTECTED_ALIASES,
  MAX_ALIAS_LENGTH,
} from './aliases.js';
export type { SetAliasOptions } from './aliases.js';
export { evaluateModel } from './evaluate.js';
export type { EvaluateRequest, EvaluationDeps } from './evaluate.js';
export {
  classificationMetrics,
  regressionMetrics,
  rocAuc,
  CLASSIFICATION_METRICS,
  REGRESSION_METRICS,
} from './evaluation-metrics.js';
export type { ClassificationData, MetricSet, MetricValue } from './evaluation-metrics.js';
export { parsePolicy } from './evaluation-policy.js';
export type { EvaluationPolicy, EvaluationTask } from './evaluation-policy.js';
export { EvaluationRecords } from './evaluations.js';
export type {
  AliasEvent,
  EvaluationResult,
  ForceAlias,
  ModelEvaluation,
  SliceResult,
} from './evaluations.js';
export { parseStage } from './stages.js';
export type {
  ModelAlias,
  ModelStage,
  ModelVersion,
  RegisteredModel,
  RegistryPage,
} from './types.js';
