/** The registry's entities as the domain hands them out (MLflow's RegisteredModel and ModelVersion). */
import type { ModelStage } from '../store/index.js';

export type { ModelStage };

/** One numbered version of a registered model. */
export interface ModelVersion {
  name: string;
  version: number;
  source: string;
  runId: string | null;
  runLink: string | null;
  status: string;
  statusMessage: string | null;
  description: string | null;
  currentStage: ModelStage;
  userId: string | null;
  createdAt: number;
  updatedAt: number;
  tags: Record<string, string>;
  /** The aliases pointing at this version, sorted. */
  aliases: string[];
}

/** An alias of a registered model and the version it names. */
export interface ModelAlias {
  alias: string;
  version: number;
}

/** A registered model with its tags, aliases and the newest version in each stage. */
export interface RegisteredModel {
  name: string;
  description: string | null;
  createdAt: number;
  updatedAt: number;
  tags: Record<string, string>;
  aliases: ModelAlias[];
  /** The highest-numbered version in each stage that has one, ordered by stage. */
  latestVersions: ModelVersion[];
}

/** A page of search results; `nextOffset` is set when more results follow. */
export interface RegistryPage<T> {
  items: T[];
  nextOffset?: number;
}
