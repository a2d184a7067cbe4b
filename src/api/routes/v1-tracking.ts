/**
 * `/api/v1/` tracking: experiments, runs, what runs log, their artifacts, and run
 * comparison, as resource-style JSON (camelCase, numbers as numbers). JSON has no NaN or
 * ±Infinity, so metric values that are not finite travel as the strings "NaN",
 * "Infinity" and "-Infinity", both ways. Every route's TypeBox schema validates the
 * request and is what `/api/v1/openapi.json` shows.
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { MobiusError, limits, packColumns, safeRelativePath } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import {
  MAX_COMPARE_RUNS,
  runArtifactRoot,
  type Experiment,
  type MetricPoint,
  type Run,
  type RunComparison,
} from '../../tracking/index.js';
import { RUN_STATUSES } from '../../store/index.js';
import { requireRole } from '../auth.js';
import { strictBody } from './v1-strict-body.js';

// ---- shared shapes ----------------------------------------------------------------

/** A metric value on the wire: a JSON number, or "NaN" / "Infinity" / "-Infinity". */
export const MetricValue = Type.Union(
  [Type.Number(), Type.Literal('NaN'), Type.Literal('Infinity'), Type.Literal('-Infinity')],
  { description: 'a number; NaN and ±Infinity as the strings "NaN", "Infinity", "-Infinity"' },
);
type WireValue = Static<typeof MetricValue>;

/** A number as the wire carries it (JSON cannot hold NaN or ±Infinity). */
export function encodeValue(value: number): WireValue {
  if (Number.isFinite(value)) return value;
  return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
}

/** The number a wire value stands for. */
export function decodeValue(value: WireValue): number {
  return typeof value === 'number' ? value : Number(value);
}

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);
const StringMap = Type.Record(Type.String(), Type.String());
const Key = Type.String({ minLength: 1, maxLength: limits.MAX_KEY_LENGTH });
const Status = Type.Enum([...RUN_STATUSES]);
const Lifecycle = Type.Union([Type.Literal('active'), Type.Literal('deleted')]);

const ExperimentSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  artifactLocation: Type.String(),
  lifecycleStage: Lifecycle,
  createdAt: Type.Integer(),
  updatedAt: Type.Integer(),
  tags: StringMap,
});

const MetricSchema = Type.Object({
  key: Type.String(),
  value: MetricValue,
  step: Type.Integer(),
  timestamp: Type.Integer(),
});

const RunSchema = Type.Object({
  id: Type.String(),
  experimentId: Type.String(),
  name: Nullable(Type.String()),
  status: Status,
  userId: Nullable(Type.String()),
  startTime: Type.Integer(),
  endTime: Nullable(Type.Integer()),
  artifactUri: Type.String(),
  lifecycleStage: Lifecycle,
  parentRunId: Nullable(Type.String()),
  params: StringMap,
  tags: StringMap,
  /** The latest point of each metric. */
  metrics: Type.Array(MetricSchema),
});

const RunId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const ErrorBody = Type.Object({
  code: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
});

function toWireRun(run: Run): Static<typeof RunSchema> {
  return {
    ...run.info,
    params: run.data.params,
    tags: run.data.tags,
    metrics: run.data.metrics.map(toWireMetric),
  };
}

function toWireMetric(m: MetricPoint): Static<typeof MetricSchema> {
  return { key: m.key, value: encodeValue(m.value), step: m.step, timestamp: m.timestamp };
}

function toWireExperiment(e: Experiment): Static<typeof ExperimentSchema> {
  return e;
}

/** Ids given as `a,b` or as repeated query parameters. */
function idList(value: string | string[] | undefined): string[] {
  return [value ?? []]
    .flat()
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

// ---- request schemas -------------------------------------------------------------

const CreateExperimentBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: limits.MAX_NAME_LENGTH }),
    tags: Type.Optional(StringMap),
  },
  { additionalProperties: false },
);
const ListExperimentsQuery = Type.Object(
  {
    name: Type.Optional(Type.String({ description: 'only the experiment with this exact name' })),
    view: Type.Optional(
      Type.Union([Type.Literal('ACTIVE_ONLY'), Type.Literal('DELETED_ONLY'), Type.Literal('ALL')]),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    offset: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

const CreateRunBody = Type.Object(
  {
    experimentId: Type.String({ minLength: 1 }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: limits.MAX_NAME_LENGTH })),
    startTime: Type.Optional(Type.Integer({ minimum: 0 })),
    tags: Type.Optional(StringMap),
  },
  { additionalProperties: false },
);
const UpdateRunBody = Type.Object(
  {
    status: Type.Optional(Status),
    endTime: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: limits.MAX_NAME_LENGTH })),
  },
  { additionalProperties: false, minProperties: 1 },
);
const SearchRunsQuery = Type.Object(
  {
    experimentId: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'one or more experiment ids (repeat the parameter or separate with commas)',
    }),
    filter: Type.Optional(
      Type.String({
        description: "MLflow's filter grammar plus OR and parentheses, e.g. metrics.acc > 0.9",
      }),
    ),
    orderBy: Type.Optional(Type.Array(Type.String(), { description: "e.g. 'metrics.acc DESC'" })),
    view: Type.Optional(
      Type.Union([Type.Literal('ACTIVE_ONLY'), Type.Literal('DELETED_ONLY'), Type.Literal('ALL')]),
    ),
    maxResults: Type.Optional(Type.Integer({ minimum: 1, maximum: limits.SEARCH_MAX_RESULTS_CAP })),
    pageToken: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
const ParamsBody = Type.Object(
  { params: Type.Record(Type.String(), Type.String(), { minProperties: 1 }) },
  { additionalProperties: false },
);
const TagsBody = Type.Object(
  { tags: Type.Record(Type.String(), Type.String(), { minProperties: 1 }) },
  { additionalProperties: false },
);
const MetricsBody = Type.Object(
  {
    batchId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description:
          'client-chosen id of this batch (e.g. a UUID); sending the same batch again with it records nothing new. The Idempotency-Key header works too.',
      }),
    ),
    metrics: Type.Array(
      Type.Object(
        {
          key: Key,
          value: MetricValue,
          step: Type.Optional(Type.Integer({ default: 0 })),
          timestamp: Type.Integer({ minimum: 0, description: 'milliseconds since the epoch' }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: limits.MAX_BATCH_METRICS },
    ),
  },
  { additionalProperties: false },
);
const HistoryParams = Type.Object({ id: RunId.properties.id, key: Key });
const HistoryQuery = Type.Object(
  {
    offset: Type.Optional(Type.Integer({ minimum: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  },
  { additionalProperties: false },
);
const CompareQuery = Type.Object(
  {
    ids: Type.Array(Type.String(), {
      minItems: 1,
      description: `run ids, comma-separated or repeated; at most ${MAX_COMPARE_RUNS}`,
    }),
  },
  { additionalProperties: false },
);
const ComparedValues = Type.Object({
  key: Type.String(),
  values: Type.Array(Nullable(Type.String())),
  differs: Type.Boolean(),
});
const ComparisonSchema = Type.Object({
  runs: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Nullable(Type.String()),
      experimentId: Type.String(),
      status: Status,
      startTime: Type.Integer(),
      endTime: Nullable(Type.Integer()),
    }),
  ),
  params: Type.Array(ComparedValues),
  tags: Type.Array(ComparedValues),
  metrics: Type.Array(
    Type.Object({
      key: Type.String(),
      latest: Type.Array(Nullable(MetricValue)),
      min: Type.Array(Nullable(MetricValue)),
      max: Type.Array(Nullable(MetricValue)),
      differs: Type.Boolean(),
    }),
  ),
});

function toWireComparison(c: RunComparison): Static<typeof ComparisonSchema> {
  const enc = (vs: (number | null)[]) => vs.map((v) => (v === null ? null : encodeValue(v)));
  return {
    ...c,
    metrics: c.metrics.map((m) => ({
      ...m,
      latest: enc(m.latest),
      min: enc(m.min),
      max: enc(m.max),
    })),
  };
}

// ---- routes ------------------------------------------------------------------------

/**
 * The `/api/v1/` tracking plugin: the JSON routes, and the artifact routes in a child
 * scope of their own (raw streamed bodies there, JSON everywhere else).
 */
export function registerV1TrackingRoutes(ctx: MobiusContext): FastifyPluginAsync {
  return async (scope: FastifyInstance) => {
    registerJsonRoutes(scope, ctx);
    await scope.register(artifactRoutes(ctx));
  };
}

function registerJsonRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  const { experiments, runs } = ctx.tracking;
  const tags = ['tracking'];

  app.post(
    '/api/v1/experiments',
    {
      preValidation: strictBody(CreateExperimentBody),
      schema: {
        summary: 'Create an experiment',
        tags,
        body: CreateExperimentBody,
        response: { 201: ExperimentSchema, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      requireRole(request, 'editor');
      const body = request.body as Static<typeof CreateExperimentBody>;
      const id = await experiments.create({ name: body.name, tags: body.tags ?? {} });
      return reply.status(201).send(toWireExperiment(await experiments.get(id)));
    },
  );

  app.get(
    '/api/v1/experiments',
    {
      schema: {
        summary: 'List experiments, newest first (or find one by exact name)',
        tags,
        querystring: ListExperimentsQuery,
        response: { 200: Type.Object({ experiments: Type.Array(ExperimentSchema) }) },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const q = request.query as Static<typeof ListExperimentsQuery>;
      if (q.name !== undefined) {
        const found = await experiments.getByName(q.name).catch((error: unknown) => {
          if ((error as { code?: unknown }).code === 'NOT_FOUND') return undefined;
          throw error;
        });
        return { experiments: found === undefined ? [] : [toWireExperiment(found)] };
      }
      const list = await experiments.list({
        viewType: q.view ?? 'ACTIVE_ONLY',
        maxResults: q.limit ?? 1000,
        offset: q.offset ?? 0,
      });
      return { experiments: list.map(toWireExperiment) };
    },
  );

  app.get(
    '/api/v1/experiments/:id',
    {
      schema: {
        summary: 'Get an experiment by id',
        tags,
        params: RunId,
        response: { 200: ExperimentSchema },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      return toWireExperiment(await experiments.get((request.params as Static<typeof RunId>).id));
    },
  );

  app.post(
    '/api/v1/runs',
    {
      preValidation: strictBody(CreateRunBody),
      schema: {
        summary: 'Start a run in an experiment',
        tags,
        body: CreateRunBody,
        response: { 201: RunSchema },
      },
    },
    async (request, reply) => {
      const principal = requireRole(request, 'editor');
      const body = request.body as Static<typeof CreateRunBody>;
      const run = await runs.create({
        experimentId: body.experimentId,
        name: body.name,
        startTime: body.startTime,
        tags: body.tags,
        // With auth on, the token says who ran it; without, the client's mlflow.user tag may.
        userId: ctx.config.server.auth ? principal.name : undefined,
      });
      return reply.status(201).send(toWireRun(run));
    },
  );

  app.get(
    '/api/v1/runs',
    {
      schema: {
        summary: 'Search runs of one or more experiments (MLflow filter grammar)',
        tags,
        querystring: SearchRunsQuery,
        response: {
          200: Type.Object({
            runs: Type.Array(RunSchema),
            nextPageToken: Type.Optional(Type.String()),
          }),
        },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const q = request.query as Static<typeof SearchRunsQuery>;
      const page = await runs.search({
        experimentIds: idList(q.experimentId),
        filter: q.filter ?? null,
        orderBy: q.orderBy ?? null,
        viewType: q.view ?? 'ACTIVE_ONLY',
        maxResults: q.maxResults ?? limits.SEARCH_MAX_RESULTS_DEFAULT,
        pageToken: q.pageToken ?? null,
      });
      return {
        runs: page.runs.map(toWireRun),
        ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken }),
      };
    },
  );

  // Static segments win over `:id` in Fastify's router, so /runs/compare is not a run id.
  app.get(
    '/api/v1/runs/compare',
    {
      schema: {
        summary: 'Compare runs: params, tags and metrics (latest, min, max) side by side',
        tags,
        querystring: CompareQuery,
        response: { 200: ComparisonSchema },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const { ids } = request.query as Static<typeof CompareQuery>;
      return toWireComparison(await ctx.tracking.compareRuns(idList(ids)));
    },
  );

  app.get(
    '/api/v1/runs/:id',
    {
      schema: { summary: 'Get a run', tags, params: RunId, response: { 200: RunSchema } },
    },
    async (request) => {
      requireRole(request, 'viewer');
      return toWireRun(await runs.get((request.params as Static<typeof RunId>).id));
    },
  );

  app.patch(
    '/api/v1/runs/:id',
    {
      preValidation: strictBody(UpdateRunBody),
      schema: {
        summary: 'Change a run: status, end time (ending it) or name',
        tags,
        params: RunId,
        body: UpdateRunBody,
        response: { 200: RunSchema },
      },
    },
    async (request) => {
      requireRole(request, 'editor');
      const { id } = request.params as Static<typeof RunId>;
      const body = request.body as Static<typeof UpdateRunBody>;
      await runs.update(id, body);
      return toWireRun(await runs.get(id));
    },
  );

  app.delete(
    '/api/v1/runs/:id',
    {
      schema: {
        summary: 'Delete a run (soft: it can be restored through the MLflow API)',
        tags,
        params: RunId,
        response: { 200: Type.Object({ id: Type.String(), lifecycleStage: Lifecycle }) },
      },
    },
    async (request) => {
      requireRole(request, 'editor');
      const { id } = request.params as Static<typeof RunId>;
      await runs.setLifecycle(id, 'deleted');
      return { id, lifecycleStage: 'deleted' as const };
    },
  );

  app.post(
    '/api/v1/runs/:id/params',
    {
      preValidation: strictBody(ParamsBody),
      schema: {
        summary: 'Log params (immutable: the same value again is fine, a new value is CONFLICT)',
        tags,
        params: RunId,
        body: ParamsBody,
        response: { 200: Type.Object({ params: Type.Integer() }) },
      },
    },
    async (request) => {
      requireRole(request, 'editor');
      const { id } = request.params as Static<typeof RunId>;
      const { params } = request.body as Static<typeof ParamsBody>;
      const entries = Object.entries(params).map(([key, value]) => ({ key, value }));
      await runs.logBatch(id, { params: entries });
      return { params: entries.length };
    },
  );

  app.post(
    '/api/v1/runs/:id/tags',
    {
      preValidation: strictBody(TagsBody),
      schema: {
        summary: 'Set run tags (a tag set again is overwritten)',
        tags,
        params: RunId,
        body: TagsBody,
        response: { 200: Type.Object({ tags: Type.Integer() }) },
      },
    },
    async (request) => {
      requireRole(request, 'editor');
      const { id } = request.params as Static<typeof RunId>;
      const body = request.body as Static<typeof TagsBody>;
      const entries = Object.entries(body.tags).map(([key, value]) => ({ key, value }));
      await runs.logBatch(id, { tags: entries });
      return { tags: entries.length };
    },
  );

  app.post(
    '/api/v1/runs/:id/metrics',
    {
      preValidation: strictBody(MetricsBody),
      schema: {
        summary: 'Log a batch of metric points; with a batch id, a retried batch is recorded once',
        tags,
        params: RunId,
        body: MetricsBody,
        response: {
          200: Type.Object({
            points: Type.Integer(),
            recorded: Type.Boolean({
              description: 'false when this batch id was already recorded (nothing was added)',
            }),
          }),
        },
      },
    },
    async (request) => {
      requireRole(request, 'editor');
      const { id } = request.params as Static<typeof RunId>;
      const body = request.body as Static<typeof MetricsBody>;
      const batchId = idempotencyKey(request, body.batchId);
      const metrics = body.metrics.map((m) => ({
        key: m.key,
        value: decodeValue(m.value),
        step: m.step ?? 0,
        timestamp: m.timestamp,
      }));
      const { recorded } = await runs.logBatch(id, { metrics }, { batchId });
      return { points: metrics.length, recorded };
    },
  );

  app.get(
    '/api/v1/runs/:id/metrics/:key/history',
    {
      schema: {
        summary: 'Every point of one metric, by step then timestamp (paged by offset/limit)',
        description:
          'JSON by default. With `Accept: application/octet-stream` (and no paging), the ' +
          'whole history as packed little-endian float64 columns — every step, then every ' +
          'timestamp, then every value — with the point count in `x-mobius-points`: what a ' +
          'chart draws, with no per-point encoding on either side.',
        tags,
        params: HistoryParams,
        querystring: HistoryQuery,
        response: {
          200: Type.Object({
            key: Type.String(),
            points: Type.Array(
              Type.Object({ value: MetricValue, step: Type.Integer(), timestamp: Type.Integer() }),
            ),
          }),
        },
      },
    },
    async (request, reply) => {
      requireRole(request, 'viewer');
      const { id, key } = request.params as Static<typeof HistoryParams>;
      const q = request.query as Static<typeof HistoryQuery>;
      if (wantsPackedPoints(request)) {
        if (q.limit !== undefined || q.offset !== undefined)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            'packed history (Accept: application/octet-stream) is the whole series; drop offset/limit or ask for JSON',
          );
        const series = await runs.metricSeries(id, key);
        return reply
          .type('application/octet-stream')
          .header('x-mobius-points', String(series.steps.length))
          .send(packColumns(series));
      }
      const points = await runs.metricHistory(id, key, q.limit === undefined ? {} : q);
      return {
        key,
        points: points.map((p) => ({
          value: encodeValue(p.value),
          step: p.step,
          timestamp: p.timestamp,
        })),
      };
    },
  );
}

/** True when the client asked for packed points rather than JSON. */
function wantsPackedPoints(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return accept.split(',').some((t) => t.split(';')[0]!.trim() === 'application/octet-stream');
}

/** The batch id from the body or the Idempotency-Key header; both must agree when both are sent. */
function idempotencyKey(request: FastifyRequest, fromBody: string | undefined): string | undefined {
  const header = request.headers['idempotency-key'];
  const fromHeader = Array.isArray(header) ? header[0] : header;
  if (fromHeader !== undefined && fromBody !== undefined && fromHeader !== fromBody)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `the Idempotency-Key header ('${fromHeader}') and batchId ('${fromBody}') differ; send one of them`,
    );
  return fromBody ?? fromHeader;
}

// ---- artifacts ---------------------------------------------------------------------

const ArtifactParams = Type.Object({
  id: RunId.properties.id,
  '*': Type.String({ description: "path below the run's artifact root" }),
});
const ArtifactListQuery = Type.Object(
  { path: Type.Optional(Type.String({ description: 'directory to list; the root when absent' })) },
  { additionalProperties: false },
);
const ArtifactEntrySchema = Type.Object({
  path: Type.String(),
  isDir: Type.Boolean(),
  size: Type.Optional(Type.Integer()),
});

/** Media types served inline; everything else is sent as an attachment (no stored XSS). */
const INLINE = new Set([
  'text/plain',
  'text/csv',
  'application/json',
  'image/png',
  'image/jpeg',
  'image/gif',
]);

/**
 * The artifact routes, in their own plugin scope: uploads are streamed raw whatever their
 * Content-Type, so this scope swaps the JSON parser for a pass-through one.
 */
function artifactRoutes(ctx: MobiusContext): FastifyPluginAsync {
  const { artifacts, runs } = ctx.tracking;
  const tags = ['tracking'];

  /** The run's artifact root and the safe relative path below it ('' for the root). */
  const resolve = async (
    id: string,
    rawSub: string,
    options: { active?: boolean } = {},
  ): Promise<{ root: string; sub: string; full: string }> => {
    // The path is checked before the run is read, so a traversal attempt is refused as such.
    const sub = safeRelativePath(rawSub, { allowRoot: true });
    const run = await runs.get(id);
    if (options.active === true && run.info.lifecycleStage !== 'active')
      throw new MobiusError('INVALID_ARGUMENT', `run '${id}' is deleted; restore it to change it`);
    const root = runArtifactRoot(run.info.artifactUri);
    return { root, sub, full: sub === '' ? root : `${root}/${sub}` };
  };

  return async (scope: FastifyInstance) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    scope.put(
      '/api/v1/runs/:id/artifacts/*',
      {
        config: { contentTypes: ['*'] },
        schema: {
          summary: 'Upload one artifact file (the request body, streamed; any Content-Type)',
          tags,
          params: ArtifactParams,
          response: {
            201: Type.Object({ path: Type.String(), size: Type.Integer(), sha256: Type.String() }),
          },
        },
      },
      async (request, reply) => {
        requireRole(request, 'editor');
        const { id } = request.params as Static<typeof ArtifactParams>;
        const { root, sub, full } = await resolve(id, rawWildcard(request), { active: true });
        if (sub === '')
          throw new MobiusError('INVALID_ARGUMENT', 'give a file path after /artifacts/');
        const body = (request.body ?? request.raw) as Readable;
        const stored = await artifacts.put(full, body);
        return reply.status(201).send({
          path: stored.path.slice(root.length + 1),
          size: stored.size,
          sha256: stored.sha256,
        });
      },
    );

    scope.get(
      '/api/v1/runs/:id/artifacts/*',
      {
        schema: {
          summary: 'Download one artifact file',
          tags,
          params: ArtifactParams,
        },
      },
      async (request, reply) => {
        requireRole(request, 'viewer');
        const { id } = request.params as Static<typeof ArtifactParams>;
        const { full } = await resolve(id, rawWildcard(request));
        const file = await artifacts.open(full);
        void reply.header('content-length', file.size);
        void reply.header('x-content-type-options', 'nosniff');
        void reply.type(file.mediaType);
        if (!INLINE.has(file.mediaType)) void reply.header('content-disposition', 'attachment');
        return reply.send(file.stream);
      },
    );

    scope.get(
      '/api/v1/runs/:id/artifacts',
      {
        schema: {
          summary: "List a directory of a run's artifacts",
          tags,
          params: RunId,
          querystring: ArtifactListQuery,
          response: {
            200: Type.Object({ path: Type.String(), files: Type.Array(ArtifactEntrySchema) }),
          },
        },
      },
      async (request) => {
        requireRole(request, 'viewer');
        const { id } = request.params as Static<typeof RunId>;
        const q = request.query as Static<typeof ArtifactListQuery>;
        const { sub, full } = await resolve(id, q.path ?? '');
        const entries = await artifacts.list(full);
        return {
          path: sub,
          files: entries.map((e) => ({
            path: sub === '' ? e.name : `${sub}/${e.name}`,
            isDir: e.isDir,
            ...(e.size === undefined ? {} : { size: e.size }),
          })),
        };
      },
    );
  };
}

/** The wildcard part of the URL, still percent-encoded (safeRelativePath decodes it until stable). */
function rawWildcard(request: FastifyRequest): string {
  const raw = request.url.split('?')[0]!;
  const marker = '/artifacts/';
  return raw.slice(raw.indexOf(marker) + marker.length);
}
