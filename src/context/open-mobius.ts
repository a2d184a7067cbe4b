/**
 * The composition root: builds the one context every service and shell receives.
 * Nothing else in Mobius opens a store or a blob store on its own.
 */
import { join } from 'node:path';
import {
  systemClock,
  createLogger,
  type Clock,
  type Logger,
  type MobiusConfig,
} from '../core/index.js';
import { openBlobStore, type BlobStore } from '../blobs/index.js';
import { TokenService } from '../governance/index.js';
import { openStore, type MigrationReport, type Store } from '../store/index.js';
import { TrackingService } from '../tracking/index.js';
import { RegistryService } from '../registry/index.js';
import { Engine } from '../engine/index.js';
import { CheckService, DataService } from '../data/index.js';
import {
  CommandSandbox,
  PipelineService,
  Scheduler,
  loadQueue,
  openLineageListener,
  pipelineLauncher,
  type QueueExecutor,
} from '../pipelines/index.js';
import {
  DeploymentService,
  PredictionLog,
  ServingService,
  type PredictionLogOptions,
} from '../serving/index.js';
import { LineageService } from '../lineage/index.js';
import { datasetIO, gateRunner } from './pipeline-adapters.js';
import { modelResolver } from './serving-adapters.js';

/** Everything a Mobius process shares: config, platform adapters, services. */
export interface MobiusContext {
  config: MobiusConfig;
  store: Store;
  blobs: BlobStore;
  clock: Clock;
  logger: Logger;
  tokens: TokenService;
  tracking: TrackingService;
  registry: RegistryService;
  /** DuckDB, for tabular work (dataset versions, profiles, diffs). */
  engine: Engine;
  data: DataService;
  /** Expectation suites and quality gates on dataset versions. */
  checks: CheckService;
  /**
   * Runs pipelines and records them: on this machine (LocalExecutor) or, with
   * `{ executor: 'queue' }` on a PostgreSQL store, on `mobius worker` processes.
   */
  pipelines: PipelineService;
  /**
   * Schedules and dataset triggers over `pipelines`. Any process can list, pause and
   * resume (state in the store); only `mobius server` registers pipelines and ticks it.
   */
  scheduler: Scheduler;
  /**
   * The models this process serves (`/v2/models/…`, `/api/v1/deployments/…`): bound
   * in-process with `deploy(name, model)`, or by `deployments` from the registry.
   */
  serving: ServingService;
  /** Walks over the lineage graph: what produced a prediction, a model, a dataset version. */
  lineage: LineageService;
  /**
   * Registry-backed deployments (model@version routes, canary, shadow, A/B, rollback) and
   * their prediction log; `mobius server` calls `start()` to load and follow them.
   */
  deployments: DeploymentService;
  /** Closes the store and blob store. */
  close(): Promise<void>;
}

export interface OpenMobiusOptions {
  clock?: Clock;
  logger?: Logger;
  /** Apply pending migrations on open (the server does; `mobius migrate` reports them itself). */
  migrate?: boolean;
  /** Called with the migration report when `migrate` is on. */
  onMigrated?: (report: MigrationReport) => void;
  /** Prediction log buffer and batch sizes (defaults in core/limits.ts). */
  predictionLog?: PredictionLogOptions;
}

/**
 * Opens Mobius on `config`.
 *
 * @example
 * const ctx = await openMobius(await loadConfig({ cwd, env }), { migrate: true });
 */
export async function openMobius(
  config: MobiusConfig,
  options: OpenMobiusOptions = {},
): Promise<MobiusContext> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.log.level);
  const store = await openStore(config.store);
  try {
    if (options.migrate === true) {
      const report = await store.migrate();
      options.onMigrated?.(report);
    }
    const blobs = await openBlobStore(config.blobs, config.s3);
    // Scratch space (Parquet copies being written, DuckDB spills) on local disk under home,
    // not the OS temp dir, which may be a RAM-backed tmpfs.
    const engine = new Engine({ tempDirectory: join(config.home, 'tmp', 'engine') });
    const tracking = new TrackingService(store, blobs, clock);
    const data = new DataService(store, blobs, engine, clock);
    const checks = new CheckService(store, data, blobs, engine, clock);
    // Opened on the first `executor: 'queue'` run: it holds a LISTEN connection.
    let queue: Promise<QueueExecutor> | undefined;
    const queueExecutor =
      store.dialect === 'postgres'
        ? async (name: string) => {
            queue ??= loadQueue().then(
              ({ QueueExecutor }) =>
                new QueueExecutor({ store, storeLocation: config.store, blobs, logger }),
            );
            return (await queue).forQueue(name);
          }
        : undefined;
    const pipelines = new PipelineService({
      store,
      blobs,
      tracking,
      clock,
      logger,
      queueExecutor,
      datasets: datasetIO(data, { engine, blobs }),
      gates: gateRunner(checks),
      listeners: [openLineageListener(config.openlineage, logger)].filter((l) => l !== undefined),
      pools: config.pipelines.pools,
      defaultExecutor: config.pipelines.executor,
      sandbox: new CommandSandbox(config.pipelines.sandbox),
    });
    const scheduler = new Scheduler({
      store,
      clock,
      logger,
      launch: pipelineLauncher(pipelines, logger),
    });
    const predictionLog = new PredictionLog(store, logger, {
      ...(config.store.startsWith('sqlite:')
        ? { sqlitePath: config.store.slice('sqlite:'.length) }
        : {}),
      ...options.predictionLog,
    });
    // MLflow models run in their own Python process; their stored files are copied under home.
    const serving = new ServingService({
      blobs,
      clock,
      log: predictionLog,
      python: config.serving.python,
      scratch: join(config.home, 'tmp', 'serving'),
    });
    const registry = new RegistryService(store, clock, {
      protectedAliases: config.registry.protectedAliases,
    });
    const deployments = new DeploymentService({
      store,
      clock,
      logger,
      serving,
      resolve: modelResolver(registry, tracking, store),
      log: predictionLog,
      predictionRetentionDays: config.serving.predictionRetentionDays,
    });
    return {
      config,
      store,
      blobs,
      clock,
      logger,
      tokens: new TokenService(store, clock),
      tracking,
      registry,
      engine,
      data,
      checks,
      pipelines,
      scheduler,
      serving,
      lineage: new LineageService(store.db),
      deployments,
      close: async () => {
        await scheduler.stop();
        await deployments.stop();
        await serving.close();
        if (queue !== undefined) await (await queue).close();
        await blobs.close();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
