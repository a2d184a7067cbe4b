/** The tracking domain as one service: experiments, runs and artifacts over the shared store and blobs. */
import type { Clock } from '../core/index.js';
import type { BlobStore } from '../blobs/index.js';
import type { Store } from '../store/index.js';
import { ArtifactService } from './artifacts.js';
import { compareRuns, type RunComparison } from './compare.js';
import { EvaluationDatasetService } from './evaluation-datasets.js';
import { ExperimentService } from './experiments.js';
import { LoggedModelService } from './logged-models.js';
import { RunInputService } from './run-inputs.js';
import { RunService } from './runs.js';
import { TraceService } from './traces/index.js';

/** Experiments, runs and artifacts; what the API, the MLflow protocol, the SDK and the CLI all call. */
export class TrackingService {
  readonly experiments: ExperimentService;
  readonly runs: RunService;
  readonly artifacts: ArtifactService;
  readonly loggedModels: LoggedModelService;
  /** Datasets and models each run consumed and produced. */
  readonly inputs: RunInputService;
  /** MLflow 3's evaluation datasets: records for GenAI evaluation, shared by experiments. */
  readonly evaluationDatasets: EvaluationDatasetService;
  /** MLflow 3's GenAI traces and their spans. */
  readonly traces: TraceService;
  readonly #store: Store;

  constructor(store: Store, blobs: BlobStore, clock: Clock) {
    this.#store = store;
    this.experiments = new ExperimentService(store, clock);
    this.runs = new RunService(store, clock);
    this.artifacts = new ArtifactService(store, blobs, clock);
    this.loggedModels = new LoggedModelService(store, clock);
    this.inputs = new RunInputService(store, clock);
    this.evaluationDatasets = new EvaluationDatasetService(store, clock);
    this.traces = new TraceService(store, this.artifacts);
  }

  /** Runs side by side: params, tags, latest/min/max metrics, and what differs. */
  compareRuns(runIds: readonly string[]): Promise<RunComparison> {
    return compareRuns(this.#store.db, this.runs, runIds);
  }
}
