/**
 * MLflow's tracking service (mlflow/protos/service.proto) over Mobius' tracking domain,
 * mounted under /api/2.0/mlflow and /ajax-api/2.0/mlflow. Handlers only translate the
 * wire format; every rule lives in src/tracking.
 */
import { isAbsolute, resolve } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MobiusError, limits } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import {
  decodePageToken,
  encodePageToken,
  type MetricPoint,
  type RunStatus,
  type ViewType,
} from '../../tracking/index.js';
import { requireRole } from '../auth.js';
import { MLFLOW_PREFIXES } from './errors.js';
import {
  Fields,
  experimentJson,
  loggedModelJson,
  invalidValue,
  metricJson,
  missingValue,
  parseMetricModelLinks,
  parseKeyValues,
  parseMetrics,
  parseDatasetInputs,
  runInfoJson,
  runJson,
} from './wire.js';

/** The `model_id` of a ModelInput / ModelOutput message. */
function modelId(m: unknown, at: string): string {
  const id = (m as { model_id?: unknown } | null)?.model_id;
  if (typeof id !== 'string' || id === '')
    throw new MobiusError('INVALID_ARGUMENT', `${at}.model_id must be a model id string`);
  return id;
}

/** MLflow's get-history-bulk limits (server/handlers.py): runs per request, points in all. */
const MAX_HISTORY_BULK_RUNS = 100;
const MAX_HISTORY_BULK_POINTS = 25_000;

type Handler = (fields: Fields, request: FastifyRequest) => Promise<unknown>;

const VIEW_TYPES: Record<string, ViewType> = {
  ACTIVE_ONLY: 'ACTIVE_ONLY',
  DELETED_ONLY: 'DELETED_ONLY',
  ALL: 'ALL',
  '1': 'ACTIVE_ONLY',
  '2': 'DELETED_ONLY',
  '3': 'ALL',
};

/** Reads MLflow's ViewType (by name or enum number). */
export function viewType(value: unknown): ViewType {
  if (value === undefined || value === null || value === '') return 'ACTIVE_ONLY';
  const v =
    typeof value === 'string' || typeof value === 'number' ? VIEW_TYPES[String(value)] : undefined;
  if (v === undefined)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `view type ${JSON.stringify(value)} is not one of ACTIVE_ONLY, DELETED_ONLY, ALL`,
    );
  return v;
}

/**
 * Registers `handler` for `method path` under both MLflow prefixes, or only under
 * `prefixes` (the UI-only endpoints MLflow serves under /ajax-api alone).
 */
export function mlflowRoute(
  app: FastifyInstance,
  methods: ('GET' | 'POST' | 'PATCH' | 'DELETE')[],
  path: string,
  handler: Handler,
  role: 'viewer' | 'editor' = methods.includes('GET') ? 'viewer' : 'editor',
  prefixes: readonly string[] = MLFLOW_PREFIXES,
): void {
  for (const prefix of prefixes) {
    app.route({
      method: methods,
      url: `${prefix}${path}`,
      schema: { hide: true },
      handler: async (request) => {
        requireRole(request, role);
        return (await handler(new Fields(request), request)) ?? {};
      },
    });
  }
}

/** All tracking endpoints. */
export function registerMlflowTrackingRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  const { experiments, runs, loggedModels, inputs } = ctx.tracking;
  // MLflow's clients send run_id (older ones run_uuid); a request with neither is told
  // about run_id, the name its messages use.
  const runId = (f: Fields) =>
    f.str('run_id', 'optional') ?? f.str('run_uuid', 'optional') ?? f.str('run_id');

  mlflowRoute(app, ['POST'], 'experiments/create', async (f) => {
    const tags = Object.fromEntries(
      parseKeyValues(f.list('tags'), 'tags').map((t) => [t.key, t.value]),
    );
    const location = f.str('artifact_location', 'optional');
    // MLflow's server makes a relative local path absolute against its working directory
    // (resolve_uri_if_local), so clients on the same machine agree on where it is.
    const artifactLocation =
      location === undefined || /^[a-z][a-z0-9+.-]*:/i.test(location) || isAbsolute(location)
        ? location
        : resolve(location);
    const id = await experiments.create({
      name: f.str('name'),
      tags,
      ...(artifactLocation === undefined ? {} : { artifactLocation }),
    });
    return { experiment_id: id };
  });
  mlflowRoute(app, ['GET'], 'experiments/get', async (f) => ({
    experiment: experimentJson(await experiments.get(f.str('experiment_id'))),
  }));
  mlflowRoute(app, ['GET'], 'experiments/get-by-name', async (f) => ({
    experiment: experimentJson(await experiments.getByName(f.str('experiment_name'))),
  }));
  mlflowRoute(app, ['GET', 'POST'], 'experiments/search', async (f) => {
    const maxResults = f.int('max_results') ?? limits.SEARCH_EXPERIMENTS_DEFAULT;
    if (maxResults < 1 || maxResults > limits.SEARCH_EXPERIMENTS_MAX)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `max_results must be between 1 and ${limits.SEARCH_EXPERIMENTS_MAX}, not ${maxResults}`,
      );
    const offset = decodePageToken(f.str('page_token', 'optional'));
    const page = await experiments.search({
      filter: f.str('filter', 'optional'),
      orderBy: f.list('order_by').map(String),
      viewType: viewType(f.raw('view_type')),
      maxResults: maxResults + 1,
      offset,
    });
    const more = page.length > maxResults;
    return {
      experiments: page.slice(0, maxResults).map(experimentJson),
      ...(more ? { next_page_token: encodePageToken(offset + maxResults) } : {}),
    };
  });
  mlflowRoute(
    app,
    ['POST'],
    'experiments/update',
    async (f) => void (await experiments.rename(f.str('experiment_id'), f.str('new_name'))),
  );
  mlflowRoute(
    app,
    ['POST'],
    'experiments/delete',
    async (f) => void (await experiments.setLifecycle(f.str('experiment_id'), 'deleted')),
  );
  mlflowRoute(
    app,
    ['POST'],
    'experiments/restore',
    async (f) => void (await experiments.setLifecycle(f.str('experiment_id'), 'active')),
  );
  mlflowRoute(
    app,
    ['POST'],
    'experiments/set-experiment-tag',
    async (f) =>
      void (await experiments.setTag(
        f.str('experiment_id'),
        f.str('key'),
        f.str('value', 'optional') ?? '',
      )),
  );
  mlflowRoute(
    app,
    ['POST'],
    'experiments/delete-experiment-tag',
    async (f) => void (await experiments.deleteTag(f.str('experiment_id'), f.str('key'))),
  );

  mlflowRoute(app, ['POST'], 'runs/create', async (f) => {
    const tags = Object.fromEntries(
      parseKeyValues(f.list('tags'), 'tags').map((t) => [t.key, t.value]),
    );
    const run = await runs.create({
      experimentId: f.str('experiment_id', 'optional') ?? '0',
      userId: f.str('user_id', 'optional'),
      name: f.str('run_name', 'optional'),
      startTime: f.int('start_time'),
      tags,
    });
    return { run: runJson(run) };
  });
  mlflowRoute(app, ['GET'], 'runs/get', async (f) => {
    const id = runId(f);
    const [run, io] = await Promise.all([runs.get(id), inputs.ioOfRun(id)]);
    return { run: runJson(run, io) };
  });
  mlflowRoute(app, ['POST'], 'runs/update', async (f) => {
    const status = f.str('status', 'optional') as RunStatus | undefined;
    const endTime = f.int('end_time');
    const name = f.str('run_name', 'optional');
    const info = await runs.update(runId(f), {
      ...(status === undefined ? {} : { status }),
      ...(endTime === undefined ? {} : { endTime }),
      ...(name === undefined ? {} : { name }),
    });
    return { run_info: runInfoJson(info) };
  });
  mlflowRoute(
    app,
    ['POST'],
    'runs/delete',
    async (f) => void (await runs.setLifecycle(runId(f), 'deleted')),
  );
  mlflowRoute(
    app,
    ['POST'],
    'runs/restore',
    async (f) => void (await runs.setLifecycle(runId(f), 'active')),
  );
  mlflowRoute(app, ['POST'], 'runs/log-metric', async (f) => {
    const id = runId(f);
    const metric = {
      key: f.str('key'),
      value: f.num('value'),
      timestamp: f.int('timestamp') ?? ctx.clock.now(),
      step: f.int('step') ?? 0,
    };
    const [link] = parseMetricModelLinks([f.all()], () => '');
    if (link !== undefined) await loggedModels.get(link.modelId);
    await runs.logBatch(id, { metrics: [metric] });
    if (link !== undefined) await loggedModels.logMetrics(id, [{ ...metric, ...link }]);
  });
  mlflowRoute(app, ['POST'], 'runs/log-parameter', async (f) => {
    await runs.logBatch(runId(f), {
      params: [{ key: f.str('key'), value: f.str('value', 'optional') ?? '' }],
    });
  });
  mlflowRoute(app, ['POST'], 'runs/set-tag', async (f) => {
    await runs.logBatch(runId(f), {
      tags: [{ key: f.str('key'), value: f.str('value', 'optional') ?? '' }],
    });
  });
  mlflowRoute(
    app,
    ['POST'],
    'runs/delete-tag',
    async (f) => void (await runs.deleteTag(runId(f), f.str('key'))),
  );
  mlflowRoute(app, ['POST'], 'runs/log-batch', async (f) => {
    const id = runId(f);
    const items = f.list('metrics');
    const metrics = parseMetrics(items);
    const links = parseMetricModelLinks(items, (i) => `metrics[${i}].`);
    const forModels = metrics.flatMap((m, i) => {
      const link = links[i];
      return link === undefined ? [] : [{ ...m, ...link }];
    });
    for (const modelId of new Set(forModels.map((m) => m.modelId))) await loggedModels.get(modelId);
    await runs.logBatch(id, {
      metrics,
      params: parseKeyValues(f.list('params'), 'params'),
      tags: parseKeyValues(f.list('tags'), 'tags'),
    });
    // A second write: the run's points are committed first (they are the record); the
    // models were checked above, so this only fails if one is deleted in between.
    await loggedModels.logMetrics(id, forModels);
  });

  mlflowRoute(app, ['POST'], 'runs/search', async (f) => {
    const page = await runs.search({
      experimentIds: f.list('experiment_ids').map(String),
      filter: f.str('filter', 'optional'),
      orderBy: f.list('order_by').map(String),
      maxResults: f.int('max_results'),
      pageToken: f.str('page_token', 'optional'),
      viewType: viewType(f.raw('run_view_type')),
    });
    const io = await inputs.ioOf(page.runs.map((r) => r.info.id));
    return {
      runs: page.runs.map((r) => runJson(r, io.get(r.info.id))),
      ...(page.nextPageToken === undefined ? {} : { next_page_token: page.nextPageToken }),
    };
  });
  mlflowRoute(app, ['POST'], 'logged-models', async (f) => {
    const sourceRunId = f.str('source_run_id', 'optional');
    const model = await loggedModels.create({
      experimentId: f.str('experiment_id'),
      name: f.str('name', 'optional'),
      modelType: f.str('model_type', 'optional'),
      ...(sourceRunId === undefined ? {} : { sourceRunId }),
      params: parseKeyValues(f.list('params'), 'params'),
      tags: parseKeyValues(f.list('tags'), 'tags'),
    });
    return { model: loggedModelJson(model) };
  });
  mlflowRoute(app, ['GET'], 'logged-models/:model_id', async (f) => ({
    model: loggedModelJson(await loggedModels.get(f.str('model_id'))),
  }));
  mlflowRoute(
    app,
    ['PATCH'],
    'logged-models/:model_id',
    async (f) => ({
      model: loggedModelJson(await loggedModels.finalize(f.str('model_id'), f.str('status'))),
    }),
    'editor',
  );
  mlflowRoute(
    app,
    ['DELETE'],
    'logged-models/:model_id',
    async (f) => void (await loggedModels.delete(f.str('model_id'))),
    'editor',
  );
  mlflowRoute(
    app,
    ['PATCH'],
    'logged-models/:model_id/tags',
    async (f) =>
      void (await loggedModels.setTags(f.str('model_id'), parseKeyValues(f.list('tags'), 'tags'))),
    'editor',
  );
  mlflowRoute(
    app,
    ['DELETE'],
    'logged-models/:model_id/tags/:tag_key',
    async (f) => void (await loggedModels.deleteTag(f.str('model_id'), f.str('tag_key'))),
    'editor',
  );
  mlflowRoute(
    app,
    ['POST'],
    'logged-models/:model_id/params',
    async (f) =>
      void (await loggedModels.logParams(
        f.str('model_id'),
        parseKeyValues(f.list('params'), 'params'),
      )),
  );
  mlflowRoute(
    app,
    ['POST'],
    'logged-models/search',
    async (f) => {
      const maxResults = f.int('max_results') ?? 100;
      if (maxResults < 1 || maxResults > 50_000)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `max_results must be between 1 and 50000, not ${maxResults}`,
        );
      const offset = decodePageToken(f.str('page_token', 'optional'));
      const page = await loggedModels.search({
        experimentIds: f.list('experiment_ids').map(String),
        filter: f.str('filter', 'optional'),
        datasets: f.list('datasets').map((d, i) => {
          const { dataset_name: name, dataset_digest: digest } = (d ?? {}) as Record<
            string,
            unknown
          >;
          if (typeof name !== 'string' || name === '')
            throw missingValue(`datasets[${i}].dataset_name`);
          if (digest !== undefined && digest !== null && typeof digest !== 'string')
            throw invalidValue(`datasets[${i}].dataset_digest`, digest, 'a string');
          return {
            datasetName: name,
            datasetDigest: digest === '' ? undefined : (digest ?? undefined),
          };
        }),
        orderBy: f.list('order_by').map((o, i) => {
          const { field_name: field, ascending } = (o ?? {}) as Record<string, unknown>;
          if (typeof field !== 'string' || field === '')
            throw missingValue(`order_by[${i}].field_name`);
          if (ascending !== undefined && ascending !== null && typeof ascending !== 'boolean')
            throw invalidValue(`order_by[${i}].ascending`, ascending, 'a boolean');
          return { field, ascending: ascending ?? true };
        }),
        maxResults: maxResults + 1,
        offset,
      });
      const more = page.length > maxResults;
      return {
        models: page.slice(0, maxResults).map(loggedModelJson),
        ...(more ? { next_page_token: encodePageToken(offset + maxResults) } : {}),
      };
    },
    'viewer',
  );
  mlflowRoute(app, ['POST'], 'runs/log-inputs', async (f) => {
    const models = f.list('models').map((m, i) => modelId(m, `models[${i}]`));
    await inputs.logInputs(runId(f), parseDatasetInputs(f.list('datasets')), models);
  });
  mlflowRoute(app, ['POST'], 'experiments/search-datasets', async (f) => {
    const ids = f.list('experiment_ids').map((v) => String(v));
    const summaries = await inputs.searchDatasets(ids);
    return {
      dataset_summaries: summaries.map((d) => ({
        experiment_id: d.experimentId,
        name: d.name,
        digest: d.digest,
        ...(d.context === null ? {} : { context: d.context }),
      })),
    };
  });
  // MLflow 3 links a run to the models it produced, with the step they were logged at.
  mlflowRoute(app, ['POST'], 'runs/outputs', async (f) => {
    const models = f.list('models').map((m, i) => {
      const step = (m as { step?: unknown }).step;
      const n = typeof step === 'string' && /^-?\d+$/.test(step) ? Number(step) : (step ?? 0);
      if (typeof n !== 'number' || !Number.isSafeInteger(n))
        throw new MobiusError('INVALID_ARGUMENT', `models[${i}].step must be an integer`);
      return { modelId: modelId(m, `models[${i}]`), step: n };
    });
    await inputs.logOutputs(runId(f), models);
  });

  mlflowRoute(app, ['GET'], 'metrics/get-history', async (f) => {
    const maxResults = f.int('max_results');
    const offset = decodePageToken(f.str('page_token', 'optional'));
    const id = runId(f);
    const key = f.str('metric_key');
    // A history can hold 100,000 points: a finite point already has the wire shape, so
    // only NaN and ±Infinity are copied (metricJson writes them as strings).
    const wire = (points: MetricPoint[]) =>
      points.map((p) => (Number.isFinite(p.value) ? p : metricJson(p)));
    if (maxResults === undefined) return { metrics: wire(await runs.metricHistory(id, key)) };
    const page = await runs.metricHistory(id, key, { offset, limit: maxResults + 1 });
    const more = page.length > maxResults;
    return {
      metrics: wire(page.slice(0, maxResults)),
      ...(more ? { next_page_token: encodePageToken(offset + maxResults) } : {}),
    };
  });
  // The UI's multi-run history (MLflow serves it under /ajax-api only): every point of one
  // metric in each run, runs in id order, each run's points by timestamp, step, value.
  mlflowRoute(
    app,
    ['GET'],
    'metrics/get-history-bulk',
    async (f) => {
      const ids = f.list('run_id').map(String);
      if (ids.length === 0)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          'GetMetricHistoryBulk request must specify at least one run_id.',
        );
      if (ids.length > MAX_HISTORY_BULK_RUNS)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `GetMetricHistoryBulk request cannot specify more than ${MAX_HISTORY_BULK_RUNS} run_ids. Received ${ids.length} run_ids.`,
        );
      const key = f.raw('metric_key');
      if (typeof key !== 'string')
        throw new MobiusError(
          'INVALID_ARGUMENT',
          'GetMetricHistoryBulk request must specify a metric_key.',
        );
      const max = Math.min(
        f.int('max_results') ?? MAX_HISTORY_BULK_POINTS,
        MAX_HISTORY_BULK_POINTS,
      );
      if (max < 1)
        throw new MobiusError('INVALID_ARGUMENT', `max_results must be at least 1, not ${max}`);
      const metrics: unknown[] = [];
      for (const id of [...new Set(ids)].sort()) {
        if (metrics.length >= max) break;
        const points = await runs.metricHistory(id, key, { limit: max });
        points.sort((a, b) => a.timestamp - b.timestamp || a.step - b.step || a.value - b.value);
        metrics.push(...points.map((p) => ({ ...metricJson(p), run_id: id })));
      }
      return { metrics: metrics.slice(0, max) };
    },
    'viewer',
    ['/ajax-api/2.0/mlflow/'],
  );
  mlflowRoute(app, ['GET'], 'metrics/get-history-bulk-interval', async (f) => {
    // MLflow's own checks and messages first; the service keeps its own limits.
    const runIds = f.list('run_ids').map((v) => {
      if (typeof v !== 'string' || v === '')
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `run_ids must be run ids, not ${JSON.stringify(v)}`,
        );
      return v;
    });
    // The wire's own checks; the limits and step rules are the domain's (metric-history.ts).
    if (runIds.length === 0) throw missingValue('run_ids');
    const points = await runs.metricHistoryInterval({
      runIds,
      key: f.str('metric_key'),
      startStep: f.int('start_step'),
      endStep: f.int('end_step'),
      maxResults: f.int('max_results'),
    });
    return { metrics: points.map((p) => ({ ...metricJson(p), run_id: p.runId })) };
  });
}
