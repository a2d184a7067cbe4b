/**
 * Prometheus instruments of serving, per deployment and model version: requests and
 * errors (primary and mirrored traffic apart), latency per stage — `queue` (waiting for a
 * model run), `batch` (stacking the batch's inputs and splitting its outputs), `model`
 * (the run), `total` (request parsed to answer ready) — and batch sizes. They live in serving's own registry, which the HTTP server's `/metrics` appends
 * to its own, so the serving folder needs no web framework and a context without a
 * server still counts.
 *
 * Labels are deployment names and version numbers only — both bounded by what operators
 * deploy, never by what clients send.
 */
import { Counter, Histogram, Registry } from 'prom-client';

/** One answered (or failed) inference, as the serving path saw it. */
export interface InferenceObservation {
  deployment: string;
  version: string;
  /** `primary` for traffic the client waits on, `shadow` for mirrored copies. */
  route: 'primary' | 'shadow';
  ok: boolean;
  queueMs?: number;
  batchMs?: number;
  modelMs?: number;
  totalMs: number;
  /** Requests in the model run that answered it. */
  batchSize?: number;
}

const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/** One deployment version's instruments with their labels bound (no label hashing per request). */
interface Series {
  requests: { inc(): void };
  errors: { inc(): void };
  stage: Record<'total' | 'queue' | 'batch' | 'model', { observe(value: number): void }>;
  batchSize: { observe(value: number): void };
}

export class ServingMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'deployment' | 'version' | 'route'>;
  private readonly errors: Counter<'deployment' | 'version' | 'route'>;
  private readonly stages: Histogram<'deployment' | 'version' | 'stage'>;
  private readonly batches: Histogram<'deployment' | 'version'>;
  private readonly drops: Counter<'deployment'>;
  private readonly series = new Map<string, Series>();

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'mobius_serving_requests_total',
      help: 'Inference requests answered, by deployment, model version and route (primary or shadow).',
      labelNames: ['deployment', 'version', 'route'],
      registers,
    });
    this.errors = new Counter({
      name: 'mobius_serving_errors_total',
      help: 'Inference requests that failed, by deployment, model version and route (primary or shadow).',
      labelNames: ['deployment', 'version', 'route'],
      registers,
    });
    this.stages = new Histogram({
      name: 'mobius_serving_stage_seconds',
      help: 'Primary-route inference latency by stage: queue (waiting for a model run), batch (stacking inputs, splitting outputs), model (the run), total (parsed request to answer).',
      labelNames: ['deployment', 'version', 'stage'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.batches = new Histogram({
      name: 'mobius_serving_batch_size',
      help: 'Requests per model run (adaptive batching), by deployment and model version.',
      labelNames: ['deployment', 'version'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.drops = new Counter({
      name: 'mobius_serving_predictions_dropped_total',
      help: 'Prediction log records dropped because its buffer was full (inference went on), by deployment.',
      labelNames: ['deployment'],
      registers,
    });
  }

  /** Counts one prediction record the log had no room for. */
  dropped(deployment: string): void {
    this.drops.inc({ deployment });
  }

  /** Counts one inference and, for the primary route, times its stages. */
  observe(o: InferenceObservation): void {
    const s = this.seriesOf(o.deployment, o.version, o.route);
    (o.ok ? s.requests : s.errors).inc();
    if (o.route !== 'primary') return;
    s.stage.total.observe(o.totalMs / 1000);
    if (o.queueMs !== undefined) s.stage.queue.observe(o.queueMs / 1000);
    if (o.batchMs !== undefined) s.stage.batch.observe(o.batchMs / 1000);
    if (o.modelMs !== undefined) s.stage.model.observe(o.modelMs / 1000);
    if (o.batchSize !== undefined) s.batchSize.observe(o.batchSize);
  }

  private seriesOf(deployment: string, version: string, route: 'primary' | 'shadow'): Series {
    const key = `${deployment}\n${version}\n${route}`;
    let s = this.series.get(key);
    if (s === undefined) {
      const at = { deployment, version };
      const stage = (name: string) => this.stages.labels({ ...at, stage: name });
      s = {
        requests: this.requests.labels({ ...at, route }),
        errors: this.errors.labels({ ...at, route }),
        stage: {
          total: stage('total'),
          queue: stage('queue'),
          batch: stage('batch'),
          model: stage('model'),
        },
        batchSize: this.batches.labels(at),
      };
      this.series.set(key, s);
    }
    return s;
  }
}
