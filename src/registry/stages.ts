/** Model version stages (MLflow's deprecated-but-supported stage workflow). */
import { MobiusError } from '../core/index.js';
import { MODEL_STAGES, type ModelStage } from '../store/index.js';

/** Stages whose existing versions `archive_existing_versions` may move to Archived. */
const ARCHIVABLE_FROM: readonly ModelStage[] = ['Staging', 'Production'];

/** The canonical stage for `value`, matched case-insensitively as MLflow does. */
export function parseStage(value: string): ModelStage {
  const stage = MODEL_STAGES.find((s) => s.toLowerCase() === value.trim().toLowerCase());
  if (stage === undefined)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `stage '${value}' is not one of ${MODEL_STAGES.join(', ')}`,
    );
  return stage;
}

/** True when moving a version to `stage` may archive the versions already there. */
export function canArchiveExisting(stage: ModelStage): boolean {
  return ARCHIVABLE_FROM.includes(stage);
}
