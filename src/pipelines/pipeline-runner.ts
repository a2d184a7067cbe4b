/**
 * Runs a pipeline on one machine: steps in topological order, in parallel up to a limit,
 * each with its cache key computed before it runs. A cache hit reuses the stored output
 * blobs; otherwise the step runs (with retries and backoff) through a `StepExecutor`.
 * A failed or killed step stops its dependents; independent branches finish. Every step
 * is a child tracking run of the pipeline's run, with consumed/produced lineage edges to
 * the blobs it read and wrote.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline as pipeStreams } from 'node:stream/promises';
import { MobiusError, limits, newId, type Clock, type Logger } from '../core/index.js';
import type { BlobStore } from '../blobs/index.js';
import type { Store } from '../store/index.js';
import { PARENT_RUN_TAG, runArtifactRoot, type TrackingService } from '../tracking/index.js';
import { computeCacheKey, explainChange, hashFile, type CacheParts } from './cache-key.js';
import {
  upstreamOf,
  type InputRef,
  type ParamValue,
  type PipelineDefinition,
  type StepDefinition,
} from './definition.js';
import { LocalExecutor, type StepExecutor, type StepOutcome } from './executor.js';
import type { PipelineListener, ResolvedInput, StepStartedEvent } from './listener.js';

/** A stored output: its blob. */
export interface OutputBlob {
  sha256: string;
  size: number;
}

/** Resolves an input the pipelines domain does not own (dataset versions, from src/data). */
export interface InputResolver {
  /** The content of `ref` as a blob. */
  resolve(ref: Extract<InputRef, { kind: 'dataset' }>): Promise<OutputBlob>;
}

export type StepStatus = 'succeeded' | 'cached' | 'failed' | 'killed' | 'skipped';

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
}

export interface PipelineServiceDeps {
  store: Store;
  blobs: BlobStore;
  tracking: TrackingService;
  clock: Clock;
  logger?: Logger;
  executor?: StepExecutor;
  /** The queue executor, opened on first use (PostgreSQL only); absent = `queue` refused. */
  queueExecutor?: (queue: string) => Promise<StepExecutor>;
  inputResolver?: InputResolver;
  /** Waits between retries; tests pass a fast one. */
  sleep?: (ms: number) => Promise<void>;
  /** Told when pipeline and step runs start and finish (OpenLineage, …); never fail a run. */
  listeners?: readonly PipelineListener[];
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

  constructor(deps: PipelineServiceDeps) {
    this.#deps = deps;
    this.#executor = deps.executor ?? new LocalExecutor();
    this.#sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
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
    const params = resolveParams(p, options.params);
    const executor = await this.#executorFor(options.executor ?? 'local', options.queue);
    const concurrency = options.concurrency ?? limits.DEFAULT_STEP_CONCURRENCY;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1)
      throw new MobiusError('INVALID_ARGUMENT', 'concurrency must be a whole number ≥ 1');
    const { store, tracking, clock } = this.#deps;
    const experimentId = await this.#experiment(p.name);
    const parent = await tracking.runs.create({
      experimentId,
      name: `${p.name}-${clock.now()}`,
      tags: { ...options.tags, [PIPELINE_TAG]: p.name },
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
      baseDir: resolve(options.baseDir ?? process.cwd()),
      workDir,
      env: options.env ?? {},
      trackingUri: options.trackingUri,
      force: options.force ?? false,
      signal: cancel.signal,
      dryRun: false,
      executor,
      pipelineFile:
        options.pipelineFile === undefined
          ? undefined
          : resolve(options.baseDir ?? process.cwd(), options.pipelineFile),
    };
    const reports: Record<string, StepReport> = {};
    let failure: unknown;
    try {
      await this.#schedule(ctx, concurrency, reports, cancel);
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
    return {
      id,
      trackingRunId: parent.info.id,
      status: ok ? 'succeeded' : 'failed',
      steps: reports,
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
    options: Omit<RunPipelineOptions, 'concurrency' | 'workDir' | 'signal' | 'trackingUri'> = {},
  ): Promise<StepExplanation[]> {
    const ctx: RunContext = {
      pipeline: p,
      pipelineRunId: '',
      parentRunId: '',
      experimentId: '',
      params: resolveParams(p, options.params),
      baseDir: resolve(options.baseDir ?? process.cwd()),
      workDir: '',
      env: options.env ?? {},
      trackingUri: undefined,
      force: options.force ?? false,
      signal: new AbortController().signal,
      dryRun: true,
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
    }));
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
        "executor 'queue' needs a PostgreSQL store: distributed workers share their queue through it (set MOBIUS_STORE=postgres://…)",
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

  /** Starts every step whose upstream succeeded, up to `concurrency` at once. */
  async #schedule(
    ctx: RunContext,
    concurrency: number,
    reports: Record<string, StepReport>,
    cancel: AbortController,
  ): Promise<void> {
    const pending = new Set(ctx.pipeline.steps.map((s) => s.name));
    const running = new Map<string, Promise<void>>();
    const done = (name: string): boolean =>
      reports[name]?.status === 'succeeded' || reports[name]?.status === 'cached';
    while (pending.size > 0 || running.size > 0) {
      for (const s of ctx.pipeline.steps) {
        if (!pending.has(s.name)) continue;
        if (ctx.signal.aborted) {
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
          pending.delete(s.name);
          reports[s.name] = await this.#recordNotRun(
            ctx,
            s,
            'skipped',
            `not run: upstream step '${blocked}' ${reports[blocked]!.status === 'skipped' ? 'was not run' : reports[blocked]!.status}`,
          );
          continue;
        }
        if (running.size >= concurrency || !ups.every(done)) continue;
        pending.delete(s.name);
        const task = this.#runStep(ctx, s, reports)
          .then((report) => {
            reports[s.name] = report;
          })
          .finally(() => running.delete(s.name));
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
      } else if (pending.size > 0)
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
        .values(stepRow(ctx, s, id, report, undefined, this.#deps.clock.now()))
        .execute(),
    );
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
    const { store, tracking, clock } = this.#deps;
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
    const run = await tracking.runs.create({
      experimentId: ctx.experimentId,
      name: s.name,
      startTime: started,
      tags: {
        [PARENT_RUN_TAG]: ctx.parentRunId,
        [PIPELINE_TAG]: ctx.pipeline.name,
        [PIPELINE_RUN_TAG]: ctx.pipelineRunId,
        [STEP_TAG]: s.name,
        ...(hit === undefined ? {} : { [CACHED_TAG]: 'true' }),
      },
    });
    const report = emptyReport(s.name, 'failed', explain);
    report.cacheKey = key;
    report.trackingRunId = run.info.id;
    await store.write((trx) =>
      trx
        .insertInto('step_run')
        .values({ ...stepRow(ctx, s, stepRunId, report, parts, started), status: 'RUNNING' })
        .execute(),
    );
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
    try {
      if (hit !== undefined) {
        report.status = 'cached';
        report.outputs = hit.outputs;
      } else {
        await this.#execute(ctx, s, stepRunId, run.info.id, run.info.artifactUri, inputs, report);
        if (report.status === 'succeeded' && s.cache)
          await store.write((trx) =>
            trx
              .insertInto('step_cache')
              .values({
                cache_key: key,
                pipeline: ctx.pipeline.name,
                step: s.name,
                step_run_id: stepRunId,
                outputs: JSON.stringify(report.outputs),
                created_at: clock.now(),
              })
              .onConflict((oc) =>
                oc.column('cache_key').doUpdateSet({
                  step_run_id: stepRunId,
                  outputs: JSON.stringify(report.outputs),
                  created_at: clock.now(),
                }),
              )
              .execute(),
          );
      }
    } catch (error) {
      // Platform failure (store, blobs): the step is failed, never left RUNNING.
      report.status = 'failed';
      report.exitReason = `Mobius could not run the step: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      await this.#finish(ctx, s, stepRunId, run.info.id, inputs, report);
      const status = report.status === 'skipped' ? 'failed' : report.status;
      await this.#emit('stepFinished', {
        ...startedEvent,
        at: clock.now(),
        status,
        outputs: status === 'succeeded' || status === 'cached' ? report.outputs : {},
        ...(report.exitReason === null ? {} : { error: report.exitReason }),
      });
    }
    return report;
  }

  /** Resolves the inputs, computes the cache key, looks it up and says why the step will run or not. */
  async #prepare(
    ctx: RunContext,
    s: StepDefinition,
    reports: Record<string, StepReport>,
  ): Promise<Prepared> {
    const inputs: Record<string, OutputBlob> = {};
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
      inputHashes: Object.fromEntries(Object.entries(inputs).map(([n, b]) => [n, b.sha256])),
      baseDir: ctx.baseDir,
    });
    const forced = ctx.force === true || (Array.isArray(ctx.force) && ctx.force.includes(s.name));
    const hit = forced || !s.cache ? undefined : await this.#cacheHit(key);
    const previous = await this.#previousParts(ctx, s);
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
  ): Promise<OutputBlob> {
    switch (ref.kind) {
      case 'step': {
        const blob = reports[ref.step]?.outputs[ref.output];
        if (blob === undefined)
          throw new MobiusError(
            'INTERNAL',
            `step '${s.name}': '${ref.step}.${ref.output}' was not produced`,
          );
        return blob;
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
        return { sha256, size: (await stat(path)).size };
      }
      case 'dataset': {
        if (this.#deps.inputResolver === undefined)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `step '${s.name}': dataset inputs need the data domain, which this Mobius does not have yet`,
          );
        return this.#deps.inputResolver.resolve(ref);
      }
    }
  }

  async #cacheHit(
    key: string,
  ): Promise<{ stepRunId: string; outputs: Record<string, OutputBlob> } | undefined> {
    const row = await this.#deps.store.db
      .selectFrom('step_cache')
      .selectAll()
      .where('cache_key', '=', key)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    const outputs = JSON.parse(row.outputs) as Record<string, OutputBlob>;
    for (const blob of Object.values(outputs))
      if (!(await this.#deps.blobs.exists(blob.sha256))) return undefined;
    return { stepRunId: row.step_run_id, outputs };
  }

  async #previousParts(ctx: RunContext, s: StepDefinition): Promise<CacheParts | undefined> {
    const row = await this.#deps.store.db
      .selectFrom('step_run')
      .select('cache_parts')
      .where('pipeline', '=', ctx.pipeline.name)
      .where('step', '=', s.name)
      .where('pipeline_run_id', '!=', ctx.pipelineRunId)
      .where('cache_parts', 'is not', null)
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
    inputs: Record<string, OutputBlob>,
    report: StepReport,
  ): Promise<void> {
    const { blobs, tracking } = this.#deps;
    const dir = join(ctx.workDir, s.name);
    await mkdir(join(dir, 'in'), { recursive: true });
    const inputPaths: Record<string, string> = {};
    for (const [name, blob] of Object.entries(inputs)) {
      inputPaths[name] = join(dir, 'in', name);
      await pipeStreams(await blobs.get(blob.sha256), createWriteStream(inputPaths[name]));
    }
    const contract: Record<string, string> = { MOBIUS_RUN_ID: runId };
    for (const [name, path] of Object.entries(inputPaths))
      contract[`MOBIUS_INPUT_${name.toUpperCase()}`] = path;
    for (const p of s.params) contract[`MOBIUS_PARAM_${p.toUpperCase()}`] = String(ctx.params[p]);
    if (ctx.trackingUri !== undefined) contract.MLFLOW_TRACKING_URI = ctx.trackingUri;
    const baseEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(ctx.env)) if (v !== undefined) baseEnv[k] = v;
    const logs = { stdout: join(dir, 'stdout.log'), stderr: join(dir, 'stderr.log') };
    let outcome: StepOutcome | undefined;
    for (let attempt = 1; attempt <= s.retries + 1; attempt++) {
      // Each attempt starts from an empty output dir, so a half-written file never survives.
      const outDir = join(dir, `out-${attempt}`);
      await mkdir(outDir, { recursive: true });
      const outputPaths = Object.fromEntries(s.outputs.map((o) => [o, join(outDir, o)]));
      for (const [name, path] of Object.entries(outputPaths))
        contract[`MOBIUS_OUTPUT_${name.toUpperCase()}`] = path;
      await writeFile(logs.stdout, '', { flag: 'a' });
      await writeFile(logs.stderr, '', { flag: 'a' });
      report.attempts = attempt;
      outcome = await ctx.executor.execute({
        runId,
        stepRunId,
        step: s,
        attempt,
        inputs: inputPaths,
        inputBlobs: inputs,
        outputs: outputPaths,
        params: Object.fromEntries(s.params.map((p) => [p, ctx.params[p]!])),
        env: { ...baseEnv, ...contract },
        cwd: s.run.kind === 'function' ? ctx.baseDir : resolve(ctx.baseDir, s.run.cwd ?? '.'),
        stdoutPath: logs.stdout,
        stderrPath: logs.stderr,
        signal: ctx.signal,
        ...(ctx.pipelineFile === undefined ? {} : { pipelineFile: ctx.pipelineFile }),
      });
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
    const o = outcome!;
    report.status = o.status;
    report.exitCode = o.exitCode;
    report.signal = o.signal;
    report.exitReason = o.exitReason;
    report.wallMs = o.wallMs;
    report.cpuMs = o.cpuMs;
    report.peakRssBytes = o.peakRssBytes;
    // Logs and outputs become the step run's artifacts (the blobs are already stored).
    const root = runArtifactRoot(artifactUri);
    for (const [name, path] of Object.entries(logs))
      await tracking.artifacts.put(`${root}/logs/${name}.log`, createReadStream(path));
    for (const [name, blob] of Object.entries(report.outputs))
      await tracking.artifacts.put(`${root}/outputs/${name}`, await blobs.get(blob.sha256));
  }

  /** Writes the step's final state, metrics, params and lineage edges. */
  async #finish(
    ctx: RunContext,
    s: StepDefinition,
    stepRunId: string,
    runId: string,
    inputs: Record<string, OutputBlob>,
    report: StepReport,
  ): Promise<void> {
    const { store, tracking, clock } = this.#deps;
    const now = clock.now();
    const metrics = (
      [
        ['wall_time_ms', report.wallMs],
        ['cpu_time_ms', report.cpuMs],
        ['peak_rss_bytes', report.peakRssBytes],
        ['attempts', report.attempts],
      ] as const
    ).flatMap(([key, value]) =>
      value === undefined ? [] : [{ key, value, timestamp: now, step: 0 }],
    );
    await tracking.runs.logBatch(runId, {
      metrics,
      params: s.params.map((p) => ({ key: p, value: String(ctx.params[p]) })),
      tags: [
        { key: 'mobius.explain', value: report.explain.slice(0, 5000) },
        ...(report.exitReason === null
          ? []
          : [{ key: 'mobius.exitReason', value: report.exitReason.slice(0, 5000) }]),
      ],
    });
    await store.write(async (trx) => {
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
        })
        .where('id', '=', stepRunId)
        .execute();
      const edges = [
        ...Object.values(inputs).map((b) => ({ to_id: b.sha256, relation: 'consumed' as const })),
        ...(report.status === 'succeeded' || report.status === 'cached'
          ? Object.values(report.outputs).map((b) => ({
              to_id: b.sha256,
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
              to_kind: 'blob',
              created_at: now,
              ...e,
            })),
          )
          .onConflict((oc) => oc.doNothing())
          .execute();
    });
    const status =
      report.status === 'killed' ? 'KILLED' : report.status === 'failed' ? 'FAILED' : 'FINISHED';
    await tracking.runs.update(runId, { status, endTime: now });
  }
}

interface Prepared {
  inputs: Record<string, OutputBlob>;
  key: string;
  parts: CacheParts;
  hit: { stepRunId: string; outputs: Record<string, OutputBlob> } | undefined;
  explain: string;
}

interface RunContext {
  pipeline: PipelineDefinition;
  pipelineRunId: string;
  parentRunId: string;
  experimentId: string;
  params: Record<string, ParamValue>;
  baseDir: string;
  workDir: string;
  env: Readonly<Record<string, string | undefined>>;
  trackingUri: string | undefined;
  force: boolean | readonly string[];
  signal: AbortSignal;
  /** `explain`: nothing is stored or run. */
  dryRun: boolean;
  executor: StepExecutor;
  pipelineFile: string | undefined;
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
  blobs: Record<string, OutputBlob>,
): ResolvedInput[] {
  return Object.entries(s.inputs).flatMap(([name, ref]) => {
    const blob = blobs[name];
    if (blob === undefined) return [];
    return [
      {
        name,
        ref,
        ...(ref.kind === 'file' ? { path: resolve(ctx.baseDir, ref.path) } : {}),
        blob,
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
