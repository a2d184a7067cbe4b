/** The model registry as one service: registered models, their versions and aliases. */
import type { Clock } from '../core/index.js';
import type { Store } from '../store/index.js';
import { AliasService } from './aliases.js';
import { RegisteredModelService } from './models.js';
import { ModelVersionService } from './versions.js';

/** Registered models, versions and aliases; what MLflow's registry protocol calls. */
export class RegistryService {
  readonly models: RegisteredModelService;
  readonly versions: ModelVersionService;
  readonly aliases: AliasService;

  constructor(store: Store, clock: Clock) {
    this.models = new RegisteredModelService(store, clock);
    this.versions = new ModelVersionService(store, clock);
    this.aliases = new AliasService(store);
  }
}
