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
export { AliasService, checkAlias, MAX_ALIAS_LENGTH } from './aliases.js';
export { parseStage } from './stages.js';
export type {
  ModelAlias,
  ModelStage,
  ModelVersion,
  RegisteredModel,
  RegistryPage,
} from './types.js';
