/**
 * The GraphQL root fields over Mobius' tracking and registry services, answering as
 * MLflow's handlers (get_experiment_impl, get_run_impl, search_runs_impl, …) do. Sources
 * are shaped like the GraphQL objects and, like the protobuf messages MLflow resolves
 * from, carry proto defaults for unset scalars ('' and 0) and empty lists for repeated
 * fields, so `endTime` of a running run reads "0" and a directory's `fileSize` "0".
 */
import { MobiusError, limits } from '../../../core/index.js';
import type { MobiusContext } from '../../../context/index.js';
import type { ModelVersion } from '../../../registry/index.js';
import {
  decodePageToken as decodeOffset,
  encodePageToken as encodeOffset,
  runArtifactRoot,
  type Experiment,
  type MetricPoint,
  type Run,
  type RunIo,
  type ViewType,
} from '../../../tracking/index.js';

/** What every resolver of one request sees. */
export interface GraphqlContext {
  ctx: MobiusContext;
  /** Experiments already read in this request (runs of one search share theirs). */
  experiments: Map<string, Promise<Experiment>>;
  versionsByRun: VersionsByRun;
}

/** Builds the per-request context. */
export function graphqlContext(ctx: MobiusContext): GraphqlContext {
  return { ctx, experiments: new Map(), versionsByRun: new VersionsByRun(ctx) };
}

/** Run ids per `run_id IN (…)` search: well under the registry filter's list limit. */
const RUN_IDS_PER_SEARCH = 1000;

/**
 * The model versions made from runs, read in one registry search per batch: the UI's
 * run search asks for every run's `modelVersions`, and GraphQL resolves those fields
 * one run at a time. Runs asked for in the same turn of the event loop share a search.
 */
export class VersionsByRun {
  #pending: string[] = [];
  #batch: Promise<Map<string, ModelVersion[]>> | undefined;
  readonly #known = new Map<string, Promise<ModelVersion[]>>();

  constructor(private readonly ctx: MobiusContext) {}

  /** The versions whose run is `runId`, in the registry's default order. */
  get(runId: string): Promise<ModelVersion[]> {
    const known = this.#known.get(runId);
    if (known !== undefined) return known;
    this.#pending.push(runId);
    this.#batch ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#load());
    const result = this.#batch.then((byRun) => byRun.get(runId) ?? []);
    this.#known.set(runId, result);
    return result;
  }

  async #load(): Promise<Map<string, ModelVersion[]>> {
    const ids = this.#pending;
    this.#pending = [];
    this.#batch = undefined;
    const byRun = new Map<string, ModelVersion[]>();
    for (let i = 0; i < ids.length; i += RUN_IDS_PER_SEARCH) {
      const list = ids
        .slice(i, i + RUN_IDS_PER_SEARCH)
        .map((id) => `'${id}'`)
        .join(', ');
      let offset: number | undefined = 0;
      while (offset !== undefined) {
        const page = await this.ctx.registry.versions.search({
          filter: `run_id IN (${list})`,
          maxResults: limits.SEARCH_VERSIONS_MAX,
          offset,
        });
        for (const v of page.items) {
          if (v.runId === null) continue;
          const of = byRun.get(v.runId);
          if (of === undefined) byRun.set(v.runId, [v]);
          else of.push(v);
        }
        offset = page.nextOffset;
      }
    }
    return byRun;
  }
}

type Input = Record<string, unknown>;

/** A string input field, or undefined when absent, null or empty (a proto default). */
function text(input: Input, name: string): string | undefined {
  const v = input[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function int(input: Input, name: string): number | undefined {
  const v = input[name];
  return typeof v === 'number' ? v : undefined;
}

/** A repeated string input field; null items are refused as MLflow's parse_dict does. */
function strings(input: Input, name: string): string[] {
  const v = input[name];
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? (v as unknown[]) : [v];
  return list.map((item, i) => {
    if (typeof item !== 'string')
      throw new MobiusError('INVALID_ARGUMENT', `${name}[${i}] must be a string, not null`);
    return item;
  });
}

function required(value: string | undefined, name: string): string {
  if (value === undefined)
    throw new MobiusError('INVALID_ARGUMENT', `Missing value for required parameter '${name}'.`);
  return value;
}

const keyValues = (record: Record<string, string>) =>
  Object.entries(record).map(([key, value]) => ({ key, value }));

function experimentSource(e: Experiment) {
  return {
    experimentId: e.id,
    name: e.name,
    artifactLocation: e.artifactLocation,
    lifecycleStage: e.lifecycleStage,
    lastUpdateTime: e.updatedAt,
    creationTime: e.createdAt,
    tags: keyValues(e.tags),
    effectiveTraceArchivalRetention: '',
    // MLflow without workspaces files every experiment under "default".
    workspace: 'default',
  };
}

/** A run's latest metric value; MLflow leaves `runId` (and the dataset/model ids) empty here. */
function metricSource(m: MetricPoint) {
  return {
    key: m.key,
    value: m.value,
    timestamp: m.timestamp,
    step: m.step,
    datasetName: '',
    datasetDigest: '',
    modelId: '',
    runId: '',
  };
}

/** A run as MLflow's Run message; `experiment` and `modelVersions` resolve on demand. */
function runSource(r: Run, io: RunIo | undefined) {
  const i = r.info;
  return {
    info: {
      runId: i.id,
      runUuid: i.id,
      runName: i.name ?? '',
      experimentId: i.experimentId,
      userId: i.userId ?? '',
      status: i.status,
      startTime: i.startTime,
      endTime: i.endTime ?? 0,
      artifactUri: i.artifactUri,
      lifecycleStage: i.lifecycleStage,
    },
    data: {
      metrics: r.data.metrics.map(metricSource),
      params: keyValues(r.data.params),
      tags: keyValues(r.data.tags),
    },
    inputs: {
      datasetInputs: (io?.datasetInputs ?? []).map((d) => ({
        tags: d.tags,
        dataset: {
          name: d.dataset.name,
          digest: d.dataset.digest,
          sourceType: d.dataset.sourceType,
          source: d.dataset.source,
          schema: d.dataset.schema ?? '',
          profile: d.dataset.profile ?? '',
        },
      })),
      modelInputs: (io?.modelInputs ?? []).map((m) => ({ modelId: m.modelId })),
    },
    outputs: {
      modelOutputs: (io?.modelOutputs ?? []).map((m) => ({ modelId: m.modelId, step: m.step })),
    },
  };
}
type RunSource = ReturnType<typeof runSource>;

function modelVersionSource(v: ModelVersion) {
  return {
    name: v.name,
    version: String(v.version),
    creationTimestamp: v.createdAt,
    lastUpdatedTimestamp: v.updatedAt,
    userId: v.userId ?? '',
    currentStage: v.currentStage,
    description: v.description ?? '',
    source: v.source,
    runId: v.runId ?? '',
    status: v.status,
    statusMessage: v.statusMessage ?? '',
    tags: keyValues(v.tags),
    runLink: v.runLink ?? '',
    aliases: v.aliases,
    modelId: '',
    modelParams: [],
    modelMetrics: [],
    // An unset message reads as an empty one in MLflow (its enums as null).
    deploymentJobState: {
      jobId: '',
      runId: '',
      jobState: null,
      runState: null,
      currentTaskName: '',
    },
  };
}

function experiment(context: GraphqlContext, id: string): Promise<Experiment> {
  let found = context.experiments.get(id);
  if (found === undefined) {
    found = context.ctx.tracking.experiments.get(id);
    context.experiments.set(id, found);
  }
  return found;
}

/** The resolvers schema.ts wires to its fields. */
export const resolvers = {
  getExperiment: async (input: Input, context: GraphqlContext) => {
    const id = required(text(input, 'experimentId'), 'experiment_id');
    return { experiment: experimentSource(await experiment(context, id)), apiError: null };
  },

  getRun: async (input: Input, { ctx }: GraphqlContext) => {
    const id = required(text(input, 'runId') ?? text(input, 'runUuid'), 'run_id');
    const [run, io] = await Promise.all([
      ctx.tracking.runs.get(id),
      ctx.tracking.inputs.ioOfRun(id),
    ]);
    return { run: runSource(run, io), apiError: null };
  },

  searchRuns: async (input: Input, { ctx }: GraphqlContext) => {
    const page = await ctx.tracking.runs.search({
      experimentIds: strings(input, 'experimentIds'),
      filter: text(input, 'filter'),
      orderBy: strings(input, 'orderBy'),
      maxResults: int(input, 'maxResults'),
      pageToken: text(input, 'pageToken'),
      viewType: (input.runViewType as ViewType | null | undefined) ?? 'ACTIVE_ONLY',
    });
    const io = await ctx.tracking.inputs.ioOf(page.runs.map((r) => r.info.id));
    return {
      runs: page.runs.map((r) => runSource(r, io.get(r.info.id))),
      nextPageToken: page.nextPageToken ?? '',
      apiError: null,
    };
  },

  getMetricHistoryBulkInterval: async (input: Input, { ctx }: GraphqlContext) => {
    const points = await ctx.tracking.runs.metricHistoryInterval({
      runIds: strings(input, 'runIds'),
      key: required(text(input, 'metricKey'), 'metric_key'),
      startStep: int(input, 'startStep'),
      endStep: int(input, 'endStep'),
      maxResults: int(input, 'maxResults'),
    });
    return {
      metrics: points.map((p) => ({
        key: p.key,
        value: p.value,
        timestamp: p.timestamp,
        step: p.step,
        runId: p.runId,
      })),
      apiError: null,
    };
  },

  /** One directory level of a run's artifacts, as MLflow's ListArtifacts (no paging). */
  listArtifacts: async (input: Input, { ctx }: GraphqlContext) => {
    const { runs, artifacts } = ctx.tracking;
    const run = await runs.get(required(text(input, 'runId') ?? text(input, 'runUuid'), 'run_id'));
    const sub = (text(input, 'path') ?? '').replace(/\/+$/, '');
    if (sub.split('/').some((s) => s === '..' || s === '.'))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `path '${sub}' is not allowed: '.' and '..' segments are not paths`,
      );
    const root = runArtifactRoot(run.info.artifactUri);
    const entries = await artifacts.list(sub === '' ? root : `${root}/${sub}`);
    return {
      rootUri: run.info.artifactUri,
      files: entries.map((e) => ({
        path: sub === '' ? e.name : `${sub}/${e.name}`,
        isDir: e.isDir,
        fileSize: e.isDir ? 0 : (e.size ?? 0),
      })),
      nextPageToken: '',
      apiError: null,
    };
  },

  searchModelVersions: async (input: Input, { ctx }: GraphqlContext) => {
    const page = await ctx.registry.versions.search({
      filter: text(input, 'filter'),
      orderBy: strings(input, 'orderBy'),
      maxResults: int(input, 'maxResults'),
      offset: decodeOffset(text(input, 'pageToken')),
    });
    return {
      modelVersions: page.items.map(modelVersionSource),
      nextPageToken: page.nextOffset === undefined ? '' : encodeOffset(page.nextOffset),
      apiError: null,
    };
  },

  /**
   * The distinct (experiment, dataset name, digest, context) of the inputs logged in
   * these experiments, as MLflow's SQL store's _search_datasets (first 1000).
   */
  searchDatasets: async (input: Input, { ctx }: GraphqlContext) => {
    const summaries = await ctx.tracking.inputs.searchDatasets(strings(input, 'experimentIds'));
    return {
      datasetSummaries: summaries.map((d) => ({ ...d, context: d.context ?? '' })),
      apiError: null,
    };
  },

  /** A run's experiment (MlflowRunExtension.experiment). */
  runExperiment: async (source: unknown, _args: unknown, context: GraphqlContext) => {
    const run = source as RunSource;
    return experimentSource(await experiment(context, run.info.experimentId));
  },

  /** The registered versions made from a run (MlflowRunExtension.modelVersions). */
  runModelVersions: async (source: unknown, _args: unknown, context: GraphqlContext) => {
    const run = source as RunSource;
    return (await context.versionsByRun.get(run.info.runId)).map(modelVersionSource);
  },

  /** MlflowMetricExtension.value: NaN reads as null (GraphQL's Float cannot carry it). */
  metricValue: (source: unknown) => {
    const { value } = source as { value: number };
    return Number.isNaN(value) ? null : value;
  },
};
