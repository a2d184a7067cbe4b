/** The tracking domain as one service: experiments and runs over the shared store. */
import type { Clock } from '../core/index.js';
import type { Store } from '../store/index.js';
import { ExperimentService } from './experiments.js';
import { RunService } from './runs.js';

/** Experiments and runs; what the API, the MLflow protocol, the SDK and the CLI all call. */
export class TrackingService {
  readonly experiments: ExperimentService;
  readonly runs: RunService;

  constructor(store: Store, clock: Clock) {
    this.experiments = new ExperimentService(store, clock);
    this.runs = new RunService(store, clock);
  }
}
