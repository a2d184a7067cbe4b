/** The model registry as one service: registered models, their versions and aliases. */
import type { Clock } from '../core/index.js';
import type { Store } from '../store/index.js';
import { AliasService } from './aliases.js';
import { EvaluationRecords } from './evaluations.js';
import { RegisteredModelService } from './models.js';
import { ModelVersionService } from './versions.js';

/** Registered models, versions and aliases; what MLflow's registry protocol calls. */
export class RegistryService {
  readonly models: RegisteredModelService;
  readonly versions: ModelVersionService;
  readonly aliases: AliasService;
  /** Stored evaluations of versions and the history of protected aliases. */
  readonly evaluations: EvaluationRecords;

  /** `protectedAliases`: aliases that need a passing evaluation (none unless given; the config's default is production, champion). */
  constructor(store: Store, clock: Clock, options: { protectedAliases?: readonly string[] } = {}) {
    this.models = new RegisteredModelService(store, clock);
    this.versions = new ModelVersionService(store, clock);
    this.aliases = new AliasService(store, clock, options.protectedAliases ?? []);
    this.evaluations = new EvaluationRecords(store, clock);
  }
}
