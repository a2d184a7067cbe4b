/**
 * Runs a pipeline on one machine: steps in topological order, in parallel up to a limit,
 * each with its cache key computed before it runs. A cache hit reuses the stored output
 * blobs; otherwise the step runs (with retries and backoff) through a `StepExecutor`.
 * A failed or killed step stops its dependents; independent branches finish. Every step
 * is a child tracking run of the pipeline's run, with consumed/produced lineage edges to
 * the blobs it read and wrote.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { pipeline as pipeStreams } from 'node:stream/promises';
import {
  MobiusError,
  limits,
  newId,
  type Clock,
  type ErrorCode,
  type Logger,
} from '../core/index.js';
import type { BlobStore } from '../blobs/index.js';
import { captureCodeIdentity } from '../sdk/index.js';
import type { Database, Store, Transaction } from '../store/index.js';
import {
  PARENT_RUN_TAG,
  runArtifactRoot,
  type Run,
  type TrackingService,
} from '../tracking/index.js';
import { computeCacheKey, explainChange, hashFile, type CacheParts } from './cache-key.js';
import {
  resolvePools,
  upstreamOf,
  type DatasetOutputFormat,
  type InputRef,
  type ParamValue,
  type PipelineDefinition,
  type StepDefinition,
} from './definition.js';
import { LocalExecutor, type StepExecutor, type StepOutcome } from './executor.js';
import { CommandSandbox, type SandboxPaths } from './sandbox.js';
import type {
  AssertionResult,
  PipelineListener,
  ResolvedInput,
  StepStartedEvent,
} from './listener.js';

/** A stored output: its blob. */
export interface OutputBlob {
  sha256: string;
  size: number;
}

/** A dataset version as a step report records it (rows in and out come from `rowCount`). */
export interface DatasetVersionInfo {
  dataset: string;
  version: number;
  /** The dataset_version row id (lineage edges point at it). */
  versionId: string;
  contentHash: string;
  rowCount: number;
  /** A sample run's input: the version it was sampled from (this one is in the sandbox). */
  sampleOf?: { dataset: string; version: number; rowCount: number };
}

/**
 * Dataset versions for pipelines, implemented over the data domain (src/data) by the
 * composition root: pipelines does not import src/data.
 */
export interface DatasetIO {
  /**
   * The version `ref` names and the blob a step reads it as: the version's canonical
   * Parquet copy, one file whatever the version was added from.
   */
  resolve(
    ref: Extract<InputRef, { kind: 'dataset' }>,
  ): Promise<{ version: DatasetVersionInfo; blob: OutputBlob }>;
  /**
   * Adds the file at `path` as a new version of `dataset`, produced by tracking run
   * `runId` (the data domain records the produced edge).
   */
  register(input: {
    dataset: string;
    path: string;
    format: DatasetOutputFormat;
    runId: string;
  }): Promise<DatasetVersionInfo>;
  /**
   * `--sample N`: a deterministic sample of `rows` rows of `version` (the same `seed`, the
   * same rows), stored as a version of the sandbox dataset `into`, and the blob a step
   * reads it as. Absent: sample runs of dataset inputs are refused.
   */
  sample?(input: {
    version: DatasetVersionInfo;
    rows: number;
    seed: number;
    into: string;
  }): Promise<{ version: DatasetVersionInfo; blob: OutputBlob }>;
}

/** Where a sample run's datasets go: `sample.<name>`, so the real datasets' `latest` never moves. */
export const SAMPLE_DATASET_PREFIX = 'sample.';

/** The sandbox dataset a sample run reads and writes instead of `name`. */
export function sampleDatasetName(name: string): string {
  return `${SAMPLE_DATASET_PREFIX}${name}`;
}

/** Tags on a sample run's pipeline tracking run: its size and seed. */
export const SAMPLE_TAG = 'mobius.sample';
export const SAMPLE_SEED_TAG = 'mobius.sample.seed';

/** What a sample run did (`mobius run --sample N`). */
export interface SampleSummary {
  rows: number;
  seed: number;
  /** Dataset inputs were sampled into, and dataset outputs added to, `sample.<name>`. */
  namespace: string;
  /** Inputs that are files, not datasets: read whole (`step.input (file:path)`). */
  unsampled: string[];
}

/** What a quality gate found (see GateRunner). */
export interface GateOutcome {
  status: 'pass' | 'warn' | 'fail';
  /** The check run the suite's results are stored under, when the gate records one. */
  checkRunId?: string;
  /** One line per failed error-severity expectation, e.g. `not_null(customer_id): 12 unexpected`. */
  errors: string[];
  /** One line per failed warn-severity expectation (and anomaly warnings). */
  warnings: string[];
  /** Every expectation's verdict, for listeners (OpenLineage's dataQualityAssertions). */
  assertions?: AssertionResult[];
}

/** Runs an expectation suite on a dataset version: the data domain's checks, injected. */
export interface GateRunner {
  gate(versionRef: string, suitePath: string, options: { runId: string }): Promise<GateOutcome>;
}

export type StepStatus = 'succeeded' | 'cached' | 'failed' | 'killed' | 'skipped';

/** Dataset versions a step read (by input name) and registered (by output name). */
export interface StepDatasets {
  in: Record<string, DatasetVersionInfo>;
  out: Record<string, DatasetVersionInfo>;
}

/** Progress, as `run` reports it to `onEvent` (the CLI's live view and ndjson). */
export type PipelineEvent =
  | {
      type: 'pipeline-started';
      pipelineRunId: string;
      pipeline: string;
      steps: string[];
      /** Set for a sample run (`--sample N`). */
      sample?: SampleSummary;
    }
  | { type: 'step-started'; pipelineRunId: string; step: string; explain: string }
  | { type: 'step-finished'; pipelineRunId: string; step: string; report: StepReport }
  | {
      type: 'pipeline-finished';
      pipelineRunId: string;
      status: 'succeeded' | 'failed';
    };

/** What `reap` found and did. */
export interface ReapReport {
  /** Step runs marked failed, with the process group each had (null: none recorded). */
  steps: {
    stepRunId: string;
    pipelineRunId: string;
    step: string;
    pid: number | null;
    killed: boolean;
  }[];
  /** Pipeline runs marked failed. */
  pipelineRuns: string[];
}

/** What happened to one step, as returned and as stored in `step_run`. */
export interface StepReport {
  name: string;
  status: StepStatus;
  /** Why it ran or was skipped. */
  explain: string;
  cacheKey: string | undefined;
  attempts: number;
  exitCode: number | null;
  signal: string | null;
  exitReason: string | null;
  wallMs: number | undefined;
  cpuMs: number | undefined;
  peakRssBytes: number | undefined;
  outputs: Record<string, OutputBlob>;
  trackingRunId: string | undefined;
  /** Dataset versions read and registered, with their row counts. */
  datasets: StepDatasets;
  /** Recorded warnings (a gate's `warn` expectations); the step still succeeded. */
  warnings: string[];
}

/** What `explain` predicts for one step. */
export interface StepExplanation {
  name: string;
  willRun: boolean;
  /** Known when every input is known (the step's upstream would all be cached). */
  cacheKey: string | undefined;
  explain: string;
}

export interface PipelineRunResult {
  id: string;
  trackingRunId: string;
  status: 'succeeded' | 'failed';
  steps: Record<string, StepReport>;
  /** Set for a sample run (`--sample N`): what was sampled and where results went. */
  sample?: SampleSummary;
}

export interface RunPipelineOptions {
  /** Param overrides; each must be declared by the pipeline. */
  params?: Record<string, ParamValue>;
  /** Most steps running at once. */
  concurrency?: number;
  /** Ignore the cache: `true` for every step, or the names of the steps to rerun. */
  force?: boolean | readonly string[];
  /** Where relative command cwds, code files and `file:` inputs resolve; default process.cwd(). */
  baseDir?: string;
  /** The environment commands start from (PATH, HOME, …); the step contract is added on top. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Set as MLFLOW_TRACKING_URI for command steps, when the server URL is known. */
  trackingUri?: string;
  /** Scratch space for inputs, outputs and logs; a temp dir (removed afterwards) when absent. */
  workDir?: string;
  signal?: AbortSignal;
  /**
   * A pipeline run id: its succeeded (or cached) steps are not run again, their recorded
   * outputs are reused; its params are the defaults (overridden by `params`).
   */
  resume?: string;
  /** Progress events, in order, as they happen. */
  onEvent?: (event: PipelineEvent) => void;
  /**
   * Where steps run: `local` (default: this process and its child processes) or `queue`
   * (`mobius worker` processes through the PostgreSQL queue; see docs/scaling.md).
   */
  executor?: 'local' | 'queue';
  /**
   * The module the pipeline was loaded from (`mobius run` knows it). Queue workers import
   * it to run TypeScript steps; without it only command steps can go to the queue.
   */
  pipelineFile?: string;
  /** With `executor: 'queue'`: which workers take the steps (`mobius worker --queue`); default `default`. */
  queue?: string;
  /** Extra tags on the pipeline run's tracking run (the scheduler records why it started). */
  tags?: Readonly<Record<string, string>>;
  /** Called once the run is recorded, before any step starts (the scheduler waits for this, not the end). */
  onStarted?: (run: { id: string; trackingRunId: string }) => void;
  /** Pool sizes for this run, on top of the service's `pools` and the pipeline's (these win). */
  pools?: Readonly<Record<string, number>>;
  /**
   * Dataset name → version number: inputs `dataset:<name>` / `dataset:<name>@latest` read
   * exactly that version, whatever lands meanwhile. A dataset trigger's fire passes the
   * versions that fired it (its `reason.datasets`); refs naming a tag, number or hash are
   * not changed.
   */
  pinnedDatasets?: Readonly<Record<string, number>>;
  /**
   * A sandbox run (`mobius run --sample N`): dataset inputs are sampled to `rows` rows
   * (deterministic for a `seed`, default 0) into `sample.<name>`, dataset outputs are added
   * to `sample.<name>`, and cache keys carry the sampling. File inputs are read whole.
   */
  sample?: { rows: number; seed?: number };
}

export interface PipelineServiceDeps {
  store: Store;
  blobs: BlobStore;
  tracking: TrackingService;
  clock: Clock;
  logger?: Logger;
  executor?: StepExecutor;
  /** Dataset inputs and outputs (the data domain); without it they fail saying so. */
  datasets?: DatasetIO;
  /** Quality gates (the data domain's checks); without it a check step fails saying so. */
  gates?: GateRunner;
  /** The queue executor, opened on first use (PostgreSQL only); absent = `queue` refused. */
  queueExecutor?: (queue: string) => Promise<StepExecutor>;
  /** Waits between retries; tests pass a fast one. */
  sleep?: (ms: number) => Promise<void>;
  /** This process, as recorded on the rows it runs (the reaper's "owner"): default os.hostname() and process.pid. */
  host?: string;
  pid?: number;
  /** Whether a pid on this host is alive; tests pass their own. Default: kill(pid, 0). */
  isAlive?: (pid: number) => boolean;
  /** Told when pipeline and step runs start and finish (OpenLineage, …); never fail a run. */
  listeners?: readonly PipelineListener[];
  /** Named pools every run has (the config's `pipelines.pools`); they win over a pipeline's own sizes. */
  pools?: Readonly<Record<string, number>>;
  /** The executor of a run that does not name one (the config's `pipelines.executor`); default `local`. */
  defaultExecutor?: 'local' | 'queue';
  /** Whether the default executor runs commands under bubblewrap; default `auto`. */
  sandbox?: CommandSandbox;
}

/** Tags on the tracking runs of pipelines and steps. */
export const PIPELINE_TAG = 'mobius.pipeline';
export const PIPELINE_RUN_TAG = 'mobius.pipelineRunId';
export const STEP_TAG = 'mobius.step';
export const CACHED_TAG = 'mobius.cached';

/** Runs pipelines and records them. */
export class PipelineService {
  readonly #deps: PipelineServiceDeps;
  readonly #executor: StepExecutor;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #host: string;
  readonly #pid: number;
  readonly #isAlive: (pid: number) => boolean;

  constructor(deps: PipelineServiceDeps) {
    this.#deps = deps;
    this.#executor =
      deps.executor ?? new LocalExecutor({ sandbox: deps.sandbox ?? new CommandSandbox('auto') });
    this.#sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.#host = deps.host ?? hostname();
    this.#pid = deps.pid ?? process.pid;
    this.#isAlive = deps.isAlive ?? processAlive;
  }

  /**
   * Runs `p` to the end and returns each step's report.
   *
   * @example
   * const result = await ctx.pipelines.run(myPipeline, { concurrency: 2, env: process.env });
   */
  async run(p: PipelineDefinition, options: RunPipelineOptions = {}): Promise<PipelineRunResult> {
    if (p.steps.length > limits.MAX_PIPELINE_STEPS)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `pipeline '${p.name}' has ${p.steps.length} steps; the limit is ${limits.MAX_PIPELINE_STEPS}`,
      );
    const sample = checkSample(p, options);
    const resumed =
      options.resume === undefined ? undefined : await this.#resumable(p, options.resume);
    const params = resolveParams(p, { ...resumed?.params, ...options.params });
    const pools = resolvePools(p, { ...this.#deps.pools, ...options.pools });
    const executor = await this.#executorFor(
      options.executor ?? this.#deps.defaultExecutor ?? 'local',
      options.queue,
    );
    const concurrency = options.concurrency ?? limits.DEFAULT_STEP_CONCURRENCY;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1)
      throw new MobiusError('INVALID_ARGUMENT', 'concurrency must be a whole number ≥ 1');
    const { store, tracking, clock } = this.#deps;
    const experimentId = await this.#experiment(p.name);
    // Which code ran (git commit, dirty-diff hash, lockfile), as MLflow clients tag their
    // runs: on the pipeline's run and every step's, so lineage reaches the commit.
    const baseDir = resolve(options.baseDir ?? process.cwd());
    const code = await captureCodeIdentity({
      cwd: baseDir,
      entryPoint:
        options.pipelineFile === undefined ? baseDir : resolve(baseDir, options.pipelineFile),
    });
    const parent = await tracking.runs.create({
      experimentId,
      name: `${p.name}-${clock.now()}`,
      tags: {
        ...code,
        ...options.tags,
        [PIPELINE_TAG]: p.name,
        ...(sample === undefined
          ? {}
          : { [SAMPLE_TAG]: String(sample.rows), [SAMPLE_SEED_TAG]: String(sample.seed) }),
      },
    });
    const id = newId();
    await store.write((trx) =>
      trx
        .insertInto('pipeline_run')
        .values({
          id,
          pipeline: p.name,
          tracking_run_id: parent.info.id,
          status: 'RUNNING',
          params: JSON.stringify(params),
          started_at: clock.now(),
          ended_at: null,
          host: this.#host,
          owner_pid: this.#pid,
          resumed_from: options.resume ?? null,
        })
        .execute(),
    );
    options.onStarted?.({ id, trackingRunId: parent.info.id });
    await this.#emit('pipelineStarted', {
      pipeline: p.name,
      pipelineRunId: id,
      at: clock.now(),
      params,
    });
    const emit = options.onEvent ?? (() => undefined);
    emit({
      type: 'pipeline-started',
      pipelineRunId: id,
      pipeline: p.name,
      steps: p.steps.map((s) => s.name),
      ...(sample === undefined ? {} : { sample }),
    });
    // Aborted by the caller's signal, or by the scheduler when Mobius itself fails mid-run.
    const cancel = new AbortController();
    const onAbort = (): void => cancel.abort(options.signal?.reason);
    if (options.signal?.aborted === true) cancel.abort(options.signal.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const ownWorkDir = options.workDir === undefined;
    const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'mobius-pipeline-')));
    const ctx: RunContext = {
      pipeline: p,
      pipelineRunId: id,
      parentRunId: parent.info.id,
      experimentId,
      params,
      baseDir,
      codeTags: code,
      workDir,
      env: options.env ?? {},
      trackingUri: options.trackingUri,
      force: options.force ?? false,
      signal: cancel.signal,
      dryRun: false,
      resumed: resumed?.steps,
      emit,
      pinnedDatasets: options.pinnedDatasets ?? {},
      sample,
      executor,
      pipelineFile:
        options.pipelineFile === undefined
          ? undefined
          : resolve(options.baseDir ?? process.cwd(), options.pipelineFile),
    };
    const reports: Record<string, StepReport> = {};
    let failure: unknown;
    try {
      await this.#schedule(ctx, concurrency, pools, reports, cancel);
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      const ok = Object.values(reports).every(
        (r) => r.status === 'succeeded' || r.status === 'cached',
      );
      const end = clock.now();
      await store.write((trx) =>
        trx
          .updateTable('pipeline_run')
          .set({ status: ok ? 'FINISHED' : 'FAILED', ended_at: end })
          .where('id', '=', id)
          .execute(),
      );
      await tracking.runs.update(parent.info.id, {
        status: ok ? 'FINISHED' : 'FAILED',
        endTime: end,
      });
      if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
      await this.#emit('pipelineFinished', {
        pipeline: p.name,
        pipelineRunId: id,
        at: end,
        status: ok && failure === undefined ? 'succeeded' : 'failed',
        ...(ok && failure === undefined ? {} : { error: failureSummary(reports, failure) }),
      });
    }
    const ok = Object.values(reports).every(
      (r) => r.status === 'succeeded' || r.status === 'cached',
    );
    emit({ type: 'pipeline-finished', pipelineRunId: id, status: ok ? 'succeeded' : 'failed' });
    return {
      id,
      trackingRunId: parent.info.id,
      status: ok ? 'succeeded' : 'failed',
      steps: reports,
      ...(sample === undefined ? {} : { sample }),
    };
  }

  /**
   * Says, for each step, whether `run` with the same options would run it or reuse its
   * cached outputs, and why — without running anything or recording a run. A step after
   * one that would run would run too (its inputs are not known yet).
   *
   * @example
   * for (const s of await ctx.pipelines.explain(p, { baseDir })) console.log(s.name, s.explain);
   */
  async explain(
    p: PipelineDefinition,
    options: Omit<
      RunPipelineOptions,
      'concurrency' | 'workDir' | 'signal' | 'trackingUri' | 'onEvent' | 'sample'
    > = {},
  ): Promise<StepExplanation[]> {
    resolvePools(p, { ...this.#deps.pools, ...options.pools });
    const resumed =
      options.resume === undefined ? undefined : await this.#resumable(p, options.resume);
    const ctx: RunContext = {
      pipeline: p,
      pipelineRunId: '',
      parentRunId: '',
      experimentId: '',
      params: resolveParams(p, { ...resumed?.params, ...options.params }),
      baseDir: resolve(options.baseDir ?? process.cwd()),
      codeTags: {},
      workDir: '',
      env: options.env ?? {},
      trackingUri: undefined,
      force: options.force ?? false,
      signal: new AbortController().signal,
      dryRun: true,
      resumed: resumed?.steps,
      emit: () => undefined,
      pinnedDatasets: options.pinnedDatasets ?? {},
      sample: undefined,
      executor: this.#executor,
      pipelineFile: undefined,
    };
    const reports: Record<string, StepReport> = {};
    const result: StepExplanation[] = [];
    for (const s of p.steps) {
      const runs = upstreamOf(s).find((u) => reports[u]?.status !== 'cached');
      if (runs !== undefined) {
        reports[s.name] = emptyReport(s.name, 'succeeded', '');
        result.push({
          name: s.name,
          willRun: true,
          cacheKey: undefined,
          explain: `would run: upstream step '${runs}' would run`,
        });
        continue;
      }
      try {
        const { key, hit, explain } = await this.#prepare(ctx, s, reports);
        const report = emptyReport(s.name, hit === undefined ? 'succeeded' : 'cached', explain);
        report.outputs = hit?.outputs ?? {};
        report.datasets.out = hit?.datasets ?? {};
        reports[s.name] = report;
        result.push({
          name: s.name,
          willRun: hit === undefined,
          cacheKey: key,
          explain: explain.replace(/^ran: /, 'would run: ').replace(/^skipped: /, 'would skip: '),
        });
      } catch (error) {
        reports[s.name] = emptyReport(s.name, 'failed', '');
        result.push({
          name: s.name,
          willRun: false,
          cacheKey: undefined,
          explain: `would fail: ${error instanceof Error ? error.message : String(error)}`,
        });
      }
    }
    return result;
  }

  /** The stored step reports of a pipeline run, in the order they started. */
  async steps(pipelineRunId: string): Promise<StepReport[]> {
    const rows = await this.#deps.store.db
      .selectFrom('step_run')
      .selectAll()
      .where('pipeline_run_id', '=', pipelineRunId)
      .orderBy('started_at')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      name: r.step,
      status: r.status as StepStatus,
      explain: r.explain,
      cacheKey: r.cache_key ?? undefined,
      attempts: r.attempts,
      exitCode: r.exit_code,
      signal: r.signal,
      exitReason: r.exit_reason,
      wallMs: r.wall_ms ?? undefined,
      cpuMs: r.cpu_ms ?? undefined,
      peakRssBytes: r.peak_rss_bytes === null ? undefined : Number(r.peak_rss_bytes),
      outputs: r.outputs === null ? {} : (JSON.parse(r.outputs) as Record<string, OutputBlob>),
      trackingRunId: r.tracking_run_id ?? undefined,
      datasets:
        r.datasets === null ? { in: {}, out: {} } : (JSON.parse(r.datasets) as StepDatasets),
      warnings: r.warnings === null ? [] : (JSON.parse(r.warnings) as string[]),
    }));
  }

  /** Recent pipeline runs, newest first (`mobius pipelines ls`). */
  async runs(options: { pipeline?: string; limit?: number } = {}): Promise<PipelineRunSummary[]> {
    let q = this.#deps.store.db
      .selectFrom('pipeline_run')
      .selectAll()
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(options.limit ?? 50);
    if (options.pipeline !== undefined) q = q.where('pipeline', '=', options.pipeline);
    const rows = await q.execute();
    return rows.map(runSummary);
  }

  /** One pipeline run; NOT_FOUND names the id. */
  async getRun(pipelineRunId: string): Promise<PipelineRunSummary> {
    const row = await this.#deps.store.db
      .selectFrom('pipeline_run')
      .selectAll()
      .where('id', '=', pipelineRunId)
      .executeTakeFirst();
    if (row === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `pipeline run '${pipelineRunId}' does not exist; 'mobius pipelines ls' lists runs`,
      );
    return runSummary(row);
  }

  /**
   * The startup reaper. A Mobius process that dies mid-run (killed, OOM, power loss)
   * leaves its pipeline and step rows RUNNING and its steps' process groups running.
   * For rows on this host whose owner process is gone: kill the recorded process group
   * (SIGKILL), mark the step failed (and its tracking run FAILED) with the reason, and
   * mark the pipeline run failed. Rows of a live owner, or of another host (whose
   * processes this one cannot see), are left alone.
   */
  async reap(): Promise<ReapReport> {
    const { store, tracking, clock } = this.#deps;
    const report: ReapReport = { steps: [], pipelineRuns: [] };
    const dead = (host: string | null, owner: number | null): boolean =>
      host === this.#host && owner !== null && owner !== this.#pid && !this.#isAlive(owner);
    const stale = (
      await store.db.selectFrom('step_run').selectAll().where('status', '=', 'RUNNING').execute()
    ).filter((r) => dead(r.host, r.owner_pid));
    for (const r of stale) {
      let killed = false;
      if (r.pid !== null && r.pid > 1) {
        try {
          process.kill(-r.pid, 'SIGKILL');
          killed = true;
        } catch {
          // ESRCH: the group ended with its owner.
        }
      }
      const now = clock.now();
      const reason =
        `the Mobius process ${r.owner_pid} on ${r.host} that ran this step died while it was running` +
        (r.pid === null
          ? ''
          : killed
            ? `; its process group ${r.pid} was still running and was killed`
            : `; its process group ${r.pid} had already ended`);
      const updated = await store.write((trx) =>
        trx
          .updateTable('step_run')
          .set({ status: 'failed', exit_reason: reason, ended_at: now })
          .where('id', '=', r.id)
          .where('status', '=', 'RUNNING')
          .executeTakeFirst(),
      );
      if (Number(updated.numUpdatedRows) === 0) continue;
      if (r.tracking_run_id !== null) {
        await tracking.runs
          .logBatch(r.tracking_run_id, {
            tags: [{ key: 'mobius.exitReason', value: reason.slice(0, 5000) }],
          })
          .catch(() => undefined);
        await tracking.runs
          .update(r.tracking_run_id, { status: 'FAILED', endTime: now })
          .catch(() => undefined);
      }
      report.steps.push({
        stepRunId: r.id,
        pipelineRunId: r.pipeline_run_id,
        step: r.step,
        pid: r.pid,
        killed,
      });
    }
    const runs = (
      await store.db
        .selectFrom('pipeline_run')
        .selectAll()
        .where('status', '=', 'RUNNING')
        .execute()
    ).filter((r) => dead(r.host, r.owner_pid));
    for (const r of runs) {
      const now = clock.now();
      await store.write((trx) =>
        trx
          .updateTable('pipeline_run')
          .set({ status: 'FAILED', ended_at: now })
          .where('id', '=', r.id)
          .where('status', '=', 'RUNNING')
          .execute(),
      );
      await tracking.runs
        .update(r.tracking_run_id, { status: 'FAILED', endTime: now })
        .catch(() => undefined);
      report.pipelineRuns.push(r.id);
    }
    return report;
  }

  /** The run `--resume` names: its params and its succeeded steps. */
  async #resumable(
    p: PipelineDefinition,
    pipelineRunId: string,
  ): Promise<{ params: Record<string, ParamValue>; steps: Map<string, ResumedStep> }> {
    const run = await this.getRun(pipelineRunId).catch((error: unknown) => {
      const e = error as MobiusError;
      throw e.code === 'NOT_FOUND'
        ? new MobiusError('NOT_FOUND', `cannot resume: ${e.message}`)
        : e;
    });
    if (run.pipeline !== p.name)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `cannot resume: pipeline run '${pipelineRunId}' is of pipeline '${run.pipeline}', not '${p.name}'`,
      );
    if (run.status === 'RUNNING')
      throw new MobiusError(
        'CONFLICT',
        `cannot resume: pipeline run '${pipelineRunId}' is still running; wait for it to end`,
      );
    const declared = new Set(Object.keys(p.params));
    const params = Object.fromEntries(Object.entries(run.params).filter(([k]) => declared.has(k)));
    const rows = await this.#deps.store.db
      .selectFrom('step_run')
      .selectAll()
      .where('pipeline_run_id', '=', pipelineRunId)
      .where('status', 'in', ['succeeded', 'cached'])
      .execute();
    const steps = new Map<string, ResumedStep>();
    for (const r of rows)
      steps.set(r.step, {
        stepRunId: r.id,
        pipelineRunId,
        cacheKey: r.cache_key,
        outputs: r.outputs === null ? {} : (JSON.parse(r.outputs) as Record<string, OutputBlob>),
        datasets: r.datasets === null ? {} : (JSON.parse(r.datasets) as StepDatasets).out,
      });
    return { params, steps };
  }

  async #executorFor(kind: 'local' | 'queue', queue: string | undefined): Promise<StepExecutor> {
    if (kind === 'local' && queue !== undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `queue '${queue}' is only used with executor 'queue'`,
      );
    if (kind === 'local') return this.#executor;
    if (kind !== 'queue')
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `executor must be 'local' or 'queue', not '${String(kind)}'`,
      );
    if (this.#deps.queueExecutor === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        "executor 'queue' needs a PostgreSQL store: `mobius worker` processes share their queue through it, and this store is SQLite. Set store: postgres://user@host/db in mobius.yaml (or MOBIUS_STORE, or --store), or run the steps here with --executor local (pipelines.executor: local in the config)",
      );
    return this.#deps.queueExecutor(queue ?? 'default');
  }

  async #experiment(name: string): Promise<string> {
    const { experiments } = this.#deps.tracking;
    try {
      return (await experiments.getByName(name)).id;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'NOT_FOUND') throw error;
    }
    try {
      return await experiments.create({ name });
    } catch (error) {
      // Another run of the same pipeline created it meanwhile.
      if ((error as { code?: unknown }).code !== 'ALREADY_EXISTS') throw error;
      return (await experiments.getByName(name)).id;
    }
  }

  /**
   * Starts every step whose upstream succeeded, up to `concurrency` at once and, for a
   * step in a named pool, up to the pool's size among its steps.
   */
  async #schedule(
    ctx: RunContext,
    concurrency: number,
    pools: Readonly<Record<string, number>>,
    reports: Record<string, StepReport>,
    cancel: AbortController,
  ): Promise<void> {
    const pending = new Set(ctx.pipeline.steps.map((s) => s.name));
    const running = new Map<string, Promise<void>>();
    const slots = new PoolSlots(pools);
    const done = (name: string): boolean =>
      reports[name]?.status === 'succeeded' || reports[name]?.status === 'cached';
    while (pending.size > 0 || running.size > 0) {
      // Recording a skipped step awaits the store, and running steps may finish meanwhile:
      // a pass that changed anything is followed by another before deciding nothing can start.
      let progressed = false;
      for (const s of ctx.pipeline.steps) {
        if (!pending.has(s.name)) continue;
        if (ctx.signal.aborted) {
          progressed = true;
          pending.delete(s.name);
          reports[s.name] = await this.#recordNotRun(
            ctx,
            s,
            'skipped',
            'not run: the pipeline run was cancelled',
          );
          continue;
        }
        const ups = upstreamOf(s);
        const blocked = ups.find((u) => reports[u] !== undefined && !done(u));
        if (blocked !== undefined) {
          progressed = true;
          pending.delete(s.name);
          reports[s.name] = await this.#recordNotRun(
            ctx,
            s,
            'skipped',
            notRunBecause(blocked, reports[blocked]!),
          );
          continue;
        }
        if (running.size >= concurrency || !ups.every(done) || !slots.free(s.pool)) continue;
        progressed = true;
        pending.delete(s.name);
        slots.take(s.pool);
        const task = this.#runStep(ctx, s, reports)
          .then((report) => {
            reports[s.name] = report;
          })
          .finally(() => {
            slots.release(s.pool);
            running.delete(s.name);
          });
        running.set(s.name, task);
      }
      if (running.size > 0) {
        try {
          await Promise.race(running.values());
        } catch (error) {
          // Mobius failed (not a step): stop the running steps and wait for them, so none
          // outlives the run or loses its scratch dir while still running.
          cancel.abort(error);
          await Promise.allSettled(running.values());
          throw error;
        }
      } else if (pending.size > 0 && !progressed)
        throw new MobiusError('INTERNAL', `pipeline '${ctx.pipeline.name}': no step can start`);
    }
  }

  async #recordNotRun(
    ctx: RunContext,
    s: StepDefinition,
    status: 'skipped' | 'failed',
    explain: string,
    exitReason: string | null = null,
    id: string = newId(),
  ): Promise<StepReport> {
    const report = emptyReport(s.name, status, explain);
    report.exitReason = exitReason;
    await this.#deps.store.write((trx) =>
      trx
        .insertInto('step_run')
        .values({
          ...stepRow(ctx, s, id, report, undefined, this.#deps.clock.now()),
          host: this.#host,
          owner_pid: this.#pid,
        })
        .execute(),
    );
    ctx.emit({ type: 'step-finished', pipelineRunId: ctx.pipelineRunId, step: s.name, report });
    return report;
  }

  /** Tells every listener; a listener that throws is logged, never fails the run. */
  async #emit<K extends keyof PipelineListener>(
    method: K,
    event: Parameters<NonNullable<PipelineListener[K]>>[0],
  ): Promise<void> {
    for (const listener of this.#deps.listeners ?? []) {
      const fn = listener[method] as ((e: typeof event) => void | Promise<void>) | undefined;
      if (fn === undefined) continue;
      try {
        await fn.call(listener, event);
      } catch (error) {
        this.#deps.logger?.warn(
          { err: error, event: method, pipeline: event.pipeline },
          `pipeline listener failed on ${method}; the run goes on`,
        );
      }
    }
  }

  /** One step: resolve inputs, key, cache lookup, run with retries, record. Never throws for the step's own failure. */
  async #runStep(
    ctx: RunContext,
    s: StepDefinition,
    reports: Record<string, StepReport>,
  ): Promise<StepReport> {
    const { clock } = this.#deps;
    const stepRunId = newId();
    const started = clock.now();
    let prepared: Prepared;
    try {
      prepared = await this.#prepare(ctx, s, reports);
    } catch (error) {
      // A step whose inputs cannot be read fails on its own; other branches go on.
      const message = error instanceof Error ? error.message : String(error);
      const report = await this.#recordNotRun(
        ctx,
        s,
        'failed',
        `not run: ${message}`,
        message,
        stepRunId,
      );
      const event: StepStartedEvent = {
        pipeline: ctx.pipeline.name,
        pipelineRunId: ctx.pipelineRunId,
        step: s.name,
        stepRunId,
        at: started,
        run: s.run,
        outputNames: s.outputs,
        inputs: [],
        cached: false,
      };
      await this.#emit('stepStarted', event);
      await this.#emit('stepFinished', {
        ...event,
        at: clock.now(),
        status: 'failed',
        outputs: {},
        error: message,
      });
      return report;
    }
    const { inputs, key, parts, hit, explain } = prepared;
    if (hit === undefined)
      ctx.emit({ type: 'step-started', pipelineRunId: ctx.pipelineRunId, step: s.name, explain });
    const report = emptyReport(s.name, 'failed', explain);
    report.cacheKey = key;
    report.datasets.in = datasetsIn(inputs);
    const run = await this.#recordStart(ctx, s, stepRunId, started, report, parts, hit);
    const startedEvent: StepStartedEvent = {
      pipeline: ctx.pipeline.name,
      pipelineRunId: ctx.pipelineRunId,
      step: s.name,
      stepRunId,
      at: started,
      run: s.run,
      outputNames: s.outputs,
      inputs: resolvedInputs(ctx, s, inputs),
      cached: hit !== undefined,
    };
    await this.#emit('stepStarted', startedEvent);
    const assertions: AssertionResult[] = [];
    // Logs and outputs, stored as blobs by #execute; recorded as artifacts by #finish.
    const artifacts: PendingArtifact[] = [];
    try {
      if (hit !== undefined) {
        report.status = 'cached';
        report.outputs = hit.outputs;
        report.datasets.out = hit.datasets;
      } else {
        await this.#execute(
          ctx,
          s,
          stepRunId,
          run.info.id,
          run.info.artifactUri,
          inputs,
          report,
          assertions,
          artifacts,
        );
      }
    } catch (error) {
      // Platform failure (store, blobs): the step is failed, never left RUNNING.
      report.status = 'failed';
      report.exitReason = `Mobius could not run the step: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      await this.#finish(ctx, s, stepRunId, run.info.id, inputs, report, {
        cacheKey: hit === undefined && s.cache ? key : undefined,
        artifacts,
      });
      const status = report.status === 'skipped' ? 'failed' : report.status;
      await this.#emit('stepFinished', {
        ...startedEvent,
        at: clock.now(),
        status,
        outputs: status === 'succeeded' || status === 'cached' ? report.outputs : {},
        ...(report.exitReason === null ? {} : { error: report.exitReason }),
        ...(assertions.length === 0
          ? {}
          : { assertions: [{ input: 'data', results: assertions }] }),
      });
    }
    ctx.emit({ type: 'step-finished', pipelineRunId: ctx.pipelineRunId, step: s.name, report });
    return report;
  }

  /** Resolves the inputs, computes the cache key, looks it up and says why the step will run or not. */
  async #prepare(
    ctx: RunContext,
    s: StepDefinition,
    reports: Record<string, StepReport>,
  ): Promise<Prepared> {
    const inputs: Record<string, PreparedInput> = {};
    for (const [name, ref] of Object.entries(s.inputs))
      inputs[name] = await this.#resolveInput(ctx, s, ref, reports);
    const env: Record<string, string> = {};
    for (const name of s.env) {
      const value = ctx.env[name];
      if (value !== undefined) env[name] = value;
    }
    const { key, parts } = await computeCacheKey({
      step: s,
      params: ctx.params,
      env,
      inputHashes: Object.fromEntries(Object.entries(inputs).map(([n, i]) => [n, i.hash])),
      baseDir: ctx.baseDir,
      ...(ctx.sample === undefined ? {} : { sample: ctx.sample }),
    });
    const forced = ctx.force === true || (Array.isArray(ctx.force) && ctx.force.includes(s.name));
    const previous = await this.#previousParts(ctx, s);
    // --resume: a step that succeeded in the named run is reused as it was, whatever its
    // key now (that is the point of resuming); the explain says when the key moved.
    const resumed = forced ? undefined : ctx.resumed?.get(s.name);
    if (resumed !== undefined && (await this.#blobsExist(resumed.outputs))) {
      const moved =
        resumed.cacheKey !== null && resumed.cacheKey !== key
          ? ` (its key changed since: ${explainChange(previous, parts)}; --force ${s.name} to rerun it)`
          : '';
      return {
        inputs,
        key,
        parts,
        hit: { stepRunId: resumed.stepRunId, outputs: resumed.outputs, datasets: resumed.datasets },
        explain: `skipped: resumed from pipeline run ${resumed.pipelineRunId} (step run ${resumed.stepRunId})${moved}`,
      };
    }
    const hit = forced || !s.cache ? undefined : await this.#cacheHit(key);
    const explain = forced
      ? 'ran: forced'
      : !s.cache
        ? 'ran: caching is off for this step'
        : hit !== undefined
          ? `skipped: cache hit (key ${key.slice(0, 12)}, from step run ${hit.stepRunId})`
          : `ran: ${explainChange(previous, parts)}`;
    return { inputs, key, parts, hit, explain };
  }

  async #resolveInput(
    ctx: RunContext,
    s: StepDefinition,
    ref: InputRef,
    reports: Record<string, StepReport>,
  ): Promise<PreparedInput> {
    switch (ref.kind) {
      case 'step': {
        const blob = reports[ref.step]?.outputs[ref.output];
        if (blob === undefined)
          throw new MobiusError(
            'INTERNAL',
            `step '${s.name}': '${ref.step}.${ref.output}' was not produced`,
          );
        const dataset = reports[ref.step]?.datasets.out[ref.output];
        return { blob, hash: blob.sha256, ...(dataset === undefined ? {} : { dataset }) };
      }
      case 'file': {
        const path = resolve(ctx.baseDir, ref.path);
        const sha256 = await hashFile(path).catch((error: unknown) => {
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `step '${s.name}': cannot read input file '${path}'`,
            {
              cause: error,
            },
          );
        });
        // Stored so the step reads a fixed copy and lineage points at the exact bytes.
        if (!ctx.dryRun && !(await this.#deps.blobs.exists(sha256))) {
          await this.#deps.blobs.put(createReadStream(path), { expectedSha256: sha256 });
        }
        return { blob: { sha256, size: (await stat(path)).size }, hash: sha256 };
      }
      case 'dataset': {
        if (this.#deps.datasets === undefined)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `step '${s.name}': dataset inputs need the data domain, which this pipeline service was not given`,
          );
        const pinned = pinnedRef(ctx, ref);
        const { version, blob } = await this.#deps.datasets
          .resolve(pinned)
          .catch((error: unknown) => {
            throw new MobiusError(
              (error as { code?: ErrorCode }).code ?? 'INVALID_ARGUMENT',
              `step '${s.name}': dataset input '${ref.name}@${ref.version ?? 'latest'}'${pinned === ref ? '' : ` (pinned to version ${pinned.version} by the trigger that started this run)`}: ${error instanceof Error ? error.message : String(error)}`,
              { cause: error },
            );
          });
        if (ctx.sample !== undefined) return this.#sampleInput(s, ref, version, ctx.sample);
        // The cache key holds the version's content hash: the same data under a new version
        // number is still a hit; the Parquet copy is only how the step reads it.
        return { blob, hash: version.contentHash, dataset: version };
      }
    }
  }

  /** A sample run's dataset input: the version's sample, a version of `sample.<name>`. */
  async #sampleInput(
    s: StepDefinition,
    ref: Extract<InputRef, { kind: 'dataset' }>,
    full: DatasetVersionInfo,
    sample: { rows: number; seed: number },
  ): Promise<PreparedInput> {
    const io = this.#deps.datasets!;
    if (io.sample === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `step '${s.name}': a sample run needs a data domain that can sample, which this pipeline service was not given`,
      );
    const { version, blob } = await io
      .sample({ version: full, ...sample, into: sampleDatasetName(full.dataset) })
      .catch((error: unknown) => {
        throw new MobiusError(
          (error as { code?: ErrorCode }).code ?? 'INVALID_ARGUMENT',
          `step '${s.name}': could not sample dataset input '${ref.name}' (${full.dataset}@${full.version}) to ${sample.rows} rows: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      });
    const dataset: DatasetVersionInfo = {
      ...version,
      sampleOf: { dataset: full.dataset, version: full.version, rowCount: full.rowCount },
    };
    return { blob, hash: version.contentHash, dataset };
  }

  async #blobsExist(outputs: Record<string, OutputBlob>): Promise<boolean> {
    for (const blob of Object.values(outputs))
      if (!(await this.#deps.blobs.exists(blob.sha256))) return false;
    return true;
  }

  async #cacheHit(key: string): Promise<CacheHit | undefined> {
    const row = await this.#deps.store.db
      .selectFrom('step_cache')
      .selectAll()
      .where('cache_key', '=', key)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    const outputs = JSON.parse(row.outputs) as Record<string, OutputBlob>;
    if (!(await this.#blobsExist(outputs))) return undefined;
    // The dataset versions the original run registered are reused, not registered again.
    const origin = await this.#deps.store.db
      .selectFrom('step_run')
      .select('datasets')
      .where('id', '=', row.step_run_id)
      .executeTakeFirst();
    const datasets =
      origin?.datasets == null ? {} : (JSON.parse(origin.datasets) as StepDatasets).out;
    return { stepRunId: row.step_run_id, outputs, datasets };
  }

  async #previousParts(ctx: RunContext, s: StepDefinition): Promise<CacheParts | undefined> {
    const row = await this.#deps.store.db
      .selectFrom('step_run')
      .select('cache_parts')
      .where('pipeline', '=', ctx.pipeline.name)
      .where('step', '=', s.name)
      .where('pipeline_run_id', '!=', ctx.pipelineRunId)
      .where('cache_parts', 'is not', null)
      // Compared with the last run that succeeded: a failed, killed or still RUNNING one
      // left no outputs, so "what changed since" is about the last usable result.
      .where('status', 'in', ['succeeded', 'cached'])
      // Ids are monotonic ULIDs: they order runs that started in the same millisecond.
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.cache_parts == null ? undefined : (JSON.parse(row.cache_parts) as CacheParts);
  }

  /** Runs the step's attempts in its own scratch dir and stores its outputs on success. */
  async #execute(
    ctx: RunContext,
    s: StepDefinition,
    stepRunId: string,
    runId: string,
    artifactUri: string,
    inputs: Record<string, PreparedInput>,
    report: StepReport,
    assertions: AssertionResult[],
    artifacts: PendingArtifact[],
  ): Promise<void> {
    if (s.run.kind === 'check')
      return this.#gate(ctx, s, s.run.suite, runId, inputs, report, assertions);
    const { blobs, store } = this.#deps;
    if (Object.keys(s.datasetOutputs ?? {}).length > 0 && this.#deps.datasets === undefined) {
      report.status = 'failed';
      report.exitReason = `step '${s.name}': dataset outputs need the data domain, which this pipeline service was not given`;
      return;
    }
    const dir = join(ctx.workDir, s.name);
    await mkdir(join(dir, 'in'), { recursive: true });
    const inputPaths: Record<string, string> = {};
    for (const [name, input] of Object.entries(inputs)) {
      inputPaths[name] = join(dir, 'in', name);
      await pipeStreams(await blobs.get(input.blob.sha256), createWriteStream(inputPaths[name]));
      // Read-only copies: an accidental write fails in the step; a deliberate one (chmod,
      // replace) is caught by the re-hash after each attempt.
      await chmod(inputPaths[name], 0o444);
    }
    // Commands run in a scratch working dir holding copies of their codeFiles, so a
    // relative write lands in scratch, not in the project; `cwd` opts out.
    const cwd = await this.#workingDir(ctx, s, dir);
    const contract: Record<string, string> = {
      MOBIUS_RUN_ID: runId,
      MOBIUS_PROJECT_DIR: ctx.baseDir,
    };
    for (const [name, path] of Object.entries(inputPaths))
      contract[`MOBIUS_INPUT_${name.toUpperCase()}`] = path;
    for (const p of s.params) contract[`MOBIUS_PARAM_${p.toUpperCase()}`] = String(ctx.params[p]);
    if (ctx.trackingUri !== undefined) contract.MLFLOW_TRACKING_URI = ctx.trackingUri;
    const baseEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(ctx.env)) if (v !== undefined) baseEnv[k] = v;
    const logs = { stdout: join(dir, 'stdout.log'), stderr: join(dir, 'stderr.log') };
    const pidWrites: Promise<unknown>[] = [];
    let outcome: StepOutcome | undefined;
    let outputPaths: Record<string, string> = {};
    for (let attempt = 1; attempt <= s.retries + 1; attempt++) {
      // Each attempt starts from an empty output dir, so a half-written file never survives.
      const outDir = join(dir, `out-${attempt}`);
      await mkdir(outDir, { recursive: true });
      outputPaths = Object.fromEntries(
        s.outputs.map((o) => {
          const asDataset = s.datasetOutputs?.[o];
          // A dataset output's file carries its format's extension (the data domain reads by it).
          return [o, join(outDir, asDataset === undefined ? o : `${o}.${asDataset.format}`)];
        }),
      );
      for (const [name, path] of Object.entries(outputPaths))
        contract[`MOBIUS_OUTPUT_${name.toUpperCase()}`] = path;
      const sandbox = await sandboxPaths(dir, outDir, cwd);
      await writeFile(logs.stdout, '', { flag: 'a' });
      await writeFile(logs.stderr, '', { flag: 'a' });
      report.attempts = attempt;
      outcome = await ctx.executor.execute({
        runId,
        stepRunId,
        step: s,
        attempt,
        inputs: inputPaths,
        inputBlobs: Object.fromEntries(Object.entries(inputs).map(([n, i]) => [n, i.blob])),
        outputs: outputPaths,
        params: Object.fromEntries(s.params.map((p) => [p, ctx.params[p]!])),
        env: { ...baseEnv, ...contract },
        cwd,
        stdoutPath: logs.stdout,
        stderrPath: logs.stderr,
        signal: ctx.signal,
        onProcessStarted: (pid) => {
          // Recorded for the startup reaper: if this process dies, the group is found and killed.
          pidWrites.push(
            store
              .write((trx) =>
                trx.updateTable('step_run').set({ pid }).where('id', '=', stepRunId).execute(),
              )
              .catch((error: unknown) =>
                this.#deps.logger?.warn({ err: error, step: s.name }, 'could not record step pid'),
              ),
          );
        },
        ...(ctx.pipelineFile === undefined ? {} : { pipelineFile: ctx.pipelineFile }),
        sandbox,
      });
      const modified = await modifiedInputs(inputPaths, inputs);
      if (modified.length > 0) {
        outcome = {
          ...outcome,
          status: 'failed',
          exitReason: `step modified its input${modified.length > 1 ? 's' : ''} ${modified.map((n) => `'${n}'`).join(', ')}; inputs are read-only copies: write results to an output instead`,
        };
        break; // the step misbehaves: retrying would not make it stop
      }
      if (outcome.status === 'succeeded' && outcome.outputs !== undefined)
        report.outputs = outcome.outputs;
      else if (outcome.status === 'succeeded') {
        const produced: Record<string, OutputBlob> = {};
        for (const name of s.outputs) {
          const path = outputPaths[name]!;
          const exists = await stat(path).then(
            (st) => st.isFile(),
            () => false,
          );
          if (!exists) {
            outcome = {
              ...outcome,
              status: 'failed',
              exitReason: `step did not write its output '${name}'`,
            };
            break;
          }
          const { sha256, size } = await blobs.put(createReadStream(path));
          produced[name] = { sha256, size };
        }
        if (outcome.status === 'succeeded') report.outputs = produced;
      }
      if (outcome.status === 'succeeded' || ctx.signal.aborted || attempt > s.retries) break;
      await this.#sleep(s.retryDelayMs * 2 ** (attempt - 1));
    }
    await Promise.all(pidWrites);
    let o = outcome!;
    if (o.status === 'succeeded') {
      // Dataset outputs become versions only once the whole step succeeded.
      for (const [name, { dataset, format }] of Object.entries(s.datasetOutputs ?? {})) {
        try {
          // A queue worker wrote the file on its machine: bring the stored copy here.
          const path = outputPaths[name]!;
          if (
            !(await stat(path).then(
              (st) => st.isFile(),
              () => false,
            ))
          )
            await pipeStreams(
              await blobs.get(report.outputs[name]!.sha256),
              createWriteStream(path),
            );
          report.datasets.out[name] = await this.#deps.datasets!.register({
            // A sample run's outputs go to the sandbox: the real dataset's latest never moves.
            dataset: ctx.sample === undefined ? dataset : sampleDatasetName(dataset),
            path: outputPaths[name]!,
            format,
            runId,
          });
        } catch (error) {
          o = {
            ...o,
            status: 'failed',
            exitReason: `output '${name}' could not be added as a version of dataset '${dataset}': ${error instanceof Error ? error.message : String(error)}`,
          };
          break;
        }
      }
    }
    report.status = o.status;
    report.exitCode = o.exitCode;
    report.signal = o.signal;
    report.exitReason = o.exitReason;
    report.wallMs = o.wallMs;
    report.cpuMs = o.cpuMs;
    report.peakRssBytes = o.peakRssBytes;
    // Logs and outputs become the step run's artifacts, recorded with the step's end
    // (#finish). Outputs are already blobs: only their rows are written. An empty log is
    // not stored: most steps print nothing on at least one of their two streams.
    const root = runArtifactRoot(artifactUri);
    for (const [name, path] of Object.entries(logs))
      if ((await stat(path)).size > 0)
        artifacts.push({
          path: `${root}/logs/${name}.log`,
          blob: await blobs.put(createReadStream(path)),
        });
    for (const [name, blob] of Object.entries(report.outputs))
      artifacts.push({ path: `${root}/outputs/${name}`, blob });
  }

  /**
   * Records a step's start in one transaction: its tracking run (a child of the pipeline's,
   * with its tags) and its RUNNING `step_run` row. One commit (one fsync on SQLite) per
   * step start: issue 5's per-step overhead budget is 5 ms.
   */
  async #recordStart(
    ctx: RunContext,
    s: StepDefinition,
    stepRunId: string,
    started: number,
    report: StepReport,
    parts: CacheParts,
    hit: CacheHit | undefined,
  ): Promise<Run> {
    return this.#deps.store.write(async (trx) => {
      const run = await this.#deps.tracking.runs.create(
        {
          experimentId: ctx.experimentId,
          name: s.name,
          startTime: started,
          tags: {
            ...ctx.codeTags,
            [PARENT_RUN_TAG]: ctx.parentRunId,
            [PIPELINE_TAG]: ctx.pipeline.name,
            [PIPELINE_RUN_TAG]: ctx.pipelineRunId,
            [STEP_TAG]: s.name,
            ...(hit === undefined ? {} : { [CACHED_TAG]: 'true' }),
          },
        },
        { trx },
      );
      report.trackingRunId = run.info.id;
      await trx
        .insertInto('step_run')
        .values({
          ...stepRow(ctx, s, stepRunId, report, parts, started),
          status: 'RUNNING',
          host: this.#host,
          owner_pid: this.#pid,
        })
        .execute();
      return run;
    });
  }

  /** The working dir of a command: its declared `cwd`, or a scratch dir with copies of its codeFiles. */
  async #workingDir(ctx: RunContext, s: StepDefinition, dir: string): Promise<string> {
    if (s.run.kind === 'function') return ctx.baseDir;
    if (s.run.kind !== 'check' && s.run.cwd !== undefined) return resolve(ctx.baseDir, s.run.cwd);
    const work = join(dir, 'work');
    await mkdir(work, { recursive: true });
    for (const file of s.codeFiles) {
      const from = resolve(ctx.baseDir, file);
      const rel = relative(ctx.baseDir, from);
      // A code file outside the project keeps its absolute path; there is nothing to copy.
      if (isAbsolute(file) || rel.startsWith('..')) continue;
      await mkdir(dirname(join(work, rel)), { recursive: true });
      await copyFile(from, join(work, rel));
    }
    return work;
  }

  /** A check step: the suite on the input's dataset version, through the injected GateRunner. */
  async #gate(
    ctx: RunContext,
    s: StepDefinition,
    suite: string,
    runId: string,
    inputs: Record<string, PreparedInput>,
    report: StepReport,
    assertions: AssertionResult[],
  ): Promise<void> {
    const started = performance.now();
    report.attempts = 1;
    const finish = (status: 'succeeded' | 'failed', reason: string | null): void => {
      report.status = status;
      report.exitReason = reason;
      report.wallMs = performance.now() - started;
    };
    const version = inputs.data?.dataset;
    if (version === undefined) {
      finish(
        'failed',
        `step '${s.name}': a check reads a dataset version, and its input is not one`,
      );
      return;
    }
    if (this.#deps.gates === undefined) {
      finish(
        'failed',
        `step '${s.name}': quality gates need the data domain's checks, which this pipeline service was not given`,
      );
      return;
    }
    let outcome: GateOutcome;
    try {
      outcome = await this.#deps.gates.gate(
        `${version.dataset}@${version.version}`,
        resolve(ctx.baseDir, suite),
        { runId },
      );
    } catch (error) {
      // A suite that cannot be read or run is the user's to fix, like a command that fails.
      finish(
        'failed',
        `quality gate could not run suite '${suite}' on ${version.dataset}@${version.version}: ${error instanceof Error ? error.message : String(error)}`,
      );
      return;
    }
    report.warnings = outcome.warnings.map((w) => `quality gate warning: ${w}`);
    assertions.push(...(outcome.assertions ?? []));
    if (outcome.status === 'fail')
      finish(
        'failed',
        `quality gate failed: ${outcome.errors.length} error expectation${outcome.errors.length === 1 ? '' : 's'} on ${version.dataset}@${version.version}: ${outcome.errors.join('; ')}`,
      );
    else finish('succeeded', null);
  }

  /**
   * Writes the step's end in one transaction (one commit, one fsync on SQLite): its
   * cache entry when it succeeded, its log and output artifacts, final state, metrics,
   * params, lineage edges and its tracking run's status. Should that transaction fail,
   * the step is still recorded as failed with the reason, never left RUNNING.
   */
  async #finish(
    ctx: RunContext,
    s: StepDefinition,
    stepRunId: string,
    runId: string,
    inputs: Record<string, PreparedInput>,
    report: StepReport,
    extra: { cacheKey: string | undefined; artifacts: readonly PendingArtifact[] } = {
      cacheKey: undefined,
      artifacts: [],
    },
  ): Promise<void> {
    const now = this.#deps.clock.now();
    try {
      await this.#deps.store.write((trx) =>
        this.#writeFinish(trx, ctx, s, stepRunId, runId, inputs, report, now, extra),
      );
    } catch (error) {
      report.status = 'failed';
      report.exitReason = `Mobius could not record the step's results: ${error instanceof Error ? error.message : String(error)}`;
      await this.#deps.store.write((trx) =>
        this.#writeFinish(trx, ctx, s, stepRunId, runId, inputs, report, now, {
          cacheKey: undefined,
          artifacts: [],
        }),
      );
    }
  }

  /** #finish's statements, in the transaction given. */
  async #writeFinish(
    trx: Transaction<Database>,
    ctx: RunContext,
    s: StepDefinition,
    stepRunId: string,
    runId: string,
    inputs: Record<string, PreparedInput>,
    report: StepReport,
    now: number,
    extra: { cacheKey: string | undefined; artifacts: readonly PendingArtifact[] },
  ): Promise<void> {
    const { tracking } = this.#deps;
    if (report.status === 'succeeded' && extra.cacheKey !== undefined)
      await trx
        .insertInto('step_cache')
        .values({
          cache_key: extra.cacheKey,
          pipeline: ctx.pipeline.name,
          step: s.name,
          step_run_id: stepRunId,
          outputs: JSON.stringify(report.outputs),
          created_at: now,
        })
        .onConflict((oc) =>
          oc.column('cache_key').doUpdateSet({
            step_run_id: stepRunId,
            outputs: JSON.stringify(report.outputs),
            created_at: now,
          }),
        )
        .execute();
    for (const a of extra.artifacts) await tracking.artifacts.record(a.path, a.blob, { trx });
    const rows = (d: Record<string, DatasetVersionInfo>): number | undefined =>
      Object.keys(d).length === 0
        ? undefined
        : Object.values(d).reduce((sum, v) => sum + v.rowCount, 0);
    const metrics = (
      [
        ['wall_time_ms', report.wallMs],
        ['cpu_time_ms', report.cpuMs],
        ['peak_rss_bytes', report.peakRssBytes],
        ['attempts', report.attempts],
        ['rows_in', rows(report.datasets.in)],
        ['rows_out', rows(report.datasets.out)],
      ] as const
    ).flatMap(([key, value]) =>
      value === undefined ? [] : [{ key, value, timestamp: now, step: 0 }],
    );
    await tracking.runs.logBatch(
      runId,
      {
        metrics,
        params: s.params.map((p) => ({ key: p, value: String(ctx.params[p]) })),
        tags: [
          { key: 'mobius.explain', value: report.explain.slice(0, 5000) },
          ...(report.exitReason === null
            ? []
            : [{ key: 'mobius.exitReason', value: report.exitReason.slice(0, 5000) }]),
          ...(report.warnings.length === 0
            ? []
            : [{ key: 'mobius.warnings', value: report.warnings.join('\n').slice(0, 5000) }]),
        ],
      },
      { trx },
    );
    await trx
      .updateTable('step_run')
      .set({
        status: report.status,
        attempts: report.attempts,
        exit_code: report.exitCode,
        signal: report.signal,
        exit_reason: report.exitReason,
        ended_at: now,
        wall_ms: report.wallMs ?? null,
        cpu_ms: report.cpuMs ?? null,
        peak_rss_bytes: report.peakRssBytes ?? null,
        outputs: JSON.stringify(report.outputs),
        datasets: JSON.stringify(report.datasets),
        warnings: report.warnings.length === 0 ? null : JSON.stringify(report.warnings),
      })
      .where('id', '=', stepRunId)
      .execute();
    const ok = report.status === 'succeeded' || report.status === 'cached';
    // A dataset input is consumed as its version; other inputs as the blob read. A
    // registered output's produced edge is written by the data domain in its add.
    const edges = [
      ...Object.values(inputs).map((i) =>
        i.dataset === undefined
          ? { to_kind: 'blob', to_id: i.blob.sha256, relation: 'consumed' as const }
          : {
              to_kind: 'dataset_version',
              to_id: i.dataset.versionId,
              relation: 'consumed' as const,
            },
      ),
      ...(ok
        ? Object.values(report.outputs).map((b) => ({
            to_kind: 'blob',
            to_id: b.sha256,
            relation: 'produced' as const,
          }))
        : []),
      // A cached step's dataset versions were registered by an earlier run: this run
      // produced them too (its outputs are those versions).
      ...(ok && report.status === 'cached'
        ? Object.values(report.datasets.out).map((v) => ({
            to_kind: 'dataset_version',
            to_id: v.versionId,
            relation: 'produced' as const,
          }))
        : []),
    ];
    if (edges.length > 0)
      await trx
        .insertInto('edge')
        .values(
          edges.map((e) => ({
            from_kind: 'run',
            from_id: runId,
            created_at: now,
            ...e,
          })),
        )
        .onConflict((oc) => oc.doNothing())
        .execute();
    const status =
      report.status === 'killed' ? 'KILLED' : report.status === 'failed' ? 'FAILED' : 'FINISHED';
    await tracking.runs.update(runId, { status, endTime: now }, { trx });
  }
}

/** A sample run's sampling, checked; and the inputs it reads whole (files). */
function checkSample(
  p: PipelineDefinition,
  options: RunPipelineOptions,
): SampleSummary | undefined {
  if (options.sample === undefined) return undefined;
  const { rows, seed = 0 } = options.sample;
  if (!Number.isSafeInteger(rows) || rows < 1)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `--sample must be a whole number of rows ≥ 1, not ${String(rows)}`,
    );
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 2 ** 31 - 1)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `--seed must be a whole number from 0 to ${2 ** 31 - 1}, not ${String(seed)}`,
    );
  // A resumed run's steps are reused as they are: a full run's outputs in a sample run
  // (or the other way round) would mix the namespaces.
  if (options.resume !== undefined)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      '--sample cannot be combined with --resume: start a new sample run (its unchanged steps are cache hits)',
    );
  return {
    rows,
    seed,
    namespace: SAMPLE_DATASET_PREFIX,
    unsampled: p.steps.flatMap((s) =>
      Object.entries(s.inputs).flatMap(([name, ref]) =>
        ref.kind === 'file' ? [`${s.name}.${name} (file:${ref.path})`] : [],
      ),
    ),
  };
}

/**
 * A `@latest` dataset ref with a pinned version (a trigger's fire) becomes `@<version>`:
 * the run reads what fired it, not what landed since. A version 0 pin (the dataset had no
 * version when the trigger fired, possible with `when: 'any'`) pins nothing.
 */
function pinnedRef(
  ctx: RunContext,
  ref: Extract<InputRef, { kind: 'dataset' }>,
): Extract<InputRef, { kind: 'dataset' }> {
  const pin = ctx.pinnedDatasets[ref.name];
  if (pin === undefined || pin < 1 || (ref.version !== undefined && ref.version !== 'latest'))
    return ref;
  return { ...ref, version: String(pin) };
}

/** Slots in use per named pool (a step without a pool takes none). */
class PoolSlots {
  readonly #sizes: Readonly<Record<string, number>>;
  readonly #used = new Map<string, number>();

  constructor(sizes: Readonly<Record<string, number>>) {
    this.#sizes = sizes;
  }

  free(pool: string | undefined): boolean {
    return pool === undefined || (this.#used.get(pool) ?? 0) < (this.#sizes[pool] ?? 0);
  }

  take(pool: string | undefined): void {
    if (pool !== undefined) this.#used.set(pool, (this.#used.get(pool) ?? 0) + 1);
  }

  release(pool: string | undefined): void {
    if (pool !== undefined) this.#used.set(pool, (this.#used.get(pool) ?? 1) - 1);
  }
}

/**
 * What a sandboxed command may write: this attempt's output dir, its working dir and a
 * temp dir in its scratch (TMPDIR; MLflow's client and most tools put temp files there).
 */
async function sandboxPaths(dir: string, outDir: string, cwd: string): Promise<SandboxPaths> {
  const tmpDir = join(dir, 'tmp');
  await mkdir(tmpDir, { recursive: true });
  return { writable: [outDir, cwd, tmpDir], tmpDir, outputDir: outDir };
}

/** A log or output already stored as a blob, to be recorded as a step run's artifact. */
interface PendingArtifact {
  path: string;
  blob: OutputBlob;
}

/** One resolved input: the blob the step reads, the hash its key uses, and its dataset version if any. */
interface PreparedInput {
  blob: OutputBlob;
  hash: string;
  dataset?: DatasetVersionInfo;
}

/** Reused outputs: a cache entry's or a resumed run's. */
interface CacheHit {
  stepRunId: string;
  outputs: Record<string, OutputBlob>;
  datasets: Record<string, DatasetVersionInfo>;
}

interface ResumedStep extends CacheHit {
  pipelineRunId: string;
  cacheKey: string | null;
}

/** A pipeline run as listed. */
export interface PipelineRunSummary {
  id: string;
  pipeline: string;
  status: string;
  trackingRunId: string;
  params: Record<string, ParamValue>;
  startedAt: number;
  endedAt: number | null;
  resumedFrom: string | null;
}

interface Prepared {
  inputs: Record<string, PreparedInput>;
  key: string;
  parts: CacheParts;
  hit: CacheHit | undefined;
  explain: string;
}

interface RunContext {
  pipeline: PipelineDefinition;
  pipelineRunId: string;
  parentRunId: string;
  experimentId: string;
  params: Record<string, ParamValue>;
  baseDir: string;
  /** The run's code identity tags (git commit, …), put on every step's run too. */
  codeTags: Readonly<Record<string, string>>;
  workDir: string;
  env: Readonly<Record<string, string | undefined>>;
  trackingUri: string | undefined;
  force: boolean | readonly string[];
  signal: AbortSignal;
  /** `explain`: nothing is stored or run. */
  dryRun: boolean;
  executor: StepExecutor;
  pipelineFile: string | undefined;
  /** `--resume`: the named run's succeeded steps. */
  resumed: ReadonlyMap<string, ResumedStep> | undefined;
  emit: (event: PipelineEvent) => void;
  /** Versions `@latest` dataset inputs read (a trigger's fire); see RunPipelineOptions. */
  pinnedDatasets: Readonly<Record<string, number>>;
  /** A sample run's sampling; undefined for a full run. */
  sample: { rows: number; seed: number } | undefined;
}

function runSummary(r: {
  id: string;
  pipeline: string;
  status: string;
  tracking_run_id: string;
  params: string;
  started_at: number;
  ended_at: number | null;
  resumed_from: string | null;
}): PipelineRunSummary {
  return {
    id: r.id,
    pipeline: r.pipeline,
    status: r.status,
    trackingRunId: r.tracking_run_id,
    params: JSON.parse(r.params) as Record<string, ParamValue>,
    startedAt: Number(r.started_at),
    endedAt: r.ended_at === null ? null : Number(r.ended_at),
    resumedFrom: r.resumed_from,
  };
}

/** Why a step is skipped: its upstream's status, and a gate's reason (the circuit breaker says why). */
function notRunBecause(blocked: string, upstream: StepReport): string {
  const base = `not run: upstream step '${blocked}' ${upstream.status === 'skipped' ? 'was not run' : upstream.status}`;
  return upstream.exitReason?.startsWith('quality gate') === true
    ? `${base}: ${upstream.exitReason}`
    : base;
}

function datasetsIn(inputs: Record<string, PreparedInput>): Record<string, DatasetVersionInfo> {
  const out: Record<string, DatasetVersionInfo> = {};
  for (const [name, i] of Object.entries(inputs))
    if (i.dataset !== undefined) out[name] = i.dataset;
  return out;
}

/** Input names whose copy no longer holds the bytes it was given (missing counts as modified). */
async function modifiedInputs(
  paths: Record<string, string>,
  inputs: Record<string, PreparedInput>,
): Promise<string[]> {
  const modified: string[] = [];
  for (const [name, path] of Object.entries(paths)) {
    const sha256 = await hashFile(path).catch(() => undefined);
    if (sha256 !== inputs[name]!.blob.sha256) modified.push(name);
  }
  return modified;
}

/** kill(pid, 0): alive unless ESRCH (EPERM = alive, another user's). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function resolveParams(
  p: PipelineDefinition,
  overrides: Record<string, ParamValue> | undefined,
): Record<string, ParamValue> {
  const params = { ...p.params };
  for (const [name, value] of Object.entries(overrides ?? {})) {
    if (!(name in p.params))
      throw new MobiusError('INVALID_ARGUMENT', `pipeline '${p.name}' has no param '${name}'`);
    params[name] = value;
  }
  return params;
}

/** A step's inputs as listeners see them: name, reference, absolute path of files, blob. */
function resolvedInputs(
  ctx: RunContext,
  s: StepDefinition,
  inputs: Record<string, PreparedInput>,
): ResolvedInput[] {
  return Object.entries(s.inputs).flatMap(([name, ref]) => {
    const input = inputs[name];
    if (input === undefined) return [];
    return [
      {
        name,
        ref,
        ...(ref.kind === 'file' ? { path: resolve(ctx.baseDir, ref.path) } : {}),
        blob: input.blob,
      },
    ];
  });
}

/** Why a pipeline run failed, in one line: the platform error, or the steps that failed. */
function failureSummary(reports: Record<string, StepReport>, failure: unknown): string {
  if (failure !== undefined)
    return `Mobius could not run the pipeline: ${failure instanceof Error ? failure.message : JSON.stringify(failure)}`;
  const bad = Object.values(reports).filter(
    (r) => r.status === 'failed' || r.status === 'killed' || r.status === 'skipped',
  );
  return bad
    .map((r) => `step '${r.name}' ${r.status}${r.exitReason === null ? '' : `: ${r.exitReason}`}`)
    .join('; ');
}

function emptyReport(name: string, status: StepStatus, explain: string): StepReport {
  return {
    name,
    status,
    explain,
    cacheKey: undefined,
    attempts: 0,
    exitCode: null,
    signal: null,
    exitReason: null,
    wallMs: undefined,
    cpuMs: undefined,
    peakRssBytes: undefined,
    outputs: {},
    trackingRunId: undefined,
    datasets: { in: {}, out: {} },
    warnings: [],
  };
}

function stepRow(
  ctx: RunContext,
  s: StepDefinition,
  id: string,
  report: StepReport,
  parts: CacheParts | undefined,
  startedAt: number,
) {
  return {
    id,
    pipeline_run_id: ctx.pipelineRunId,
    pipeline: ctx.pipeline.name,
    step: s.name,
    tracking_run_id: report.trackingRunId ?? null,
    status: report.status,
    attempts: report.attempts,
    cache_key: report.cacheKey ?? null,
    cache_parts: parts === undefined ? null : JSON.stringify(parts),
    explain: report.explain,
    exit_code: null,
    signal: null,
    exit_reason: null,
    started_at: startedAt,
    ended_at: null,
    wall_ms: null,
    cpu_ms: null,
    peak_rss_bytes: null,
    outputs: null,
  };
}
