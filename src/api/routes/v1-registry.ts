/**
 * `/api/v1/` registry: registered models, their versions (created from a run's artifact
 * path) and aliases, as resource-style JSON. Same schemas validate and document.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { MobiusError, limits, safeRelativePath } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import {
  MAX_ALIAS_LENGTH,
  SEARCH_MODELS_MAX,
  evaluateModel,
  parsePolicy,
  type ModelVersion,
  type RegisteredModel,
} from '../../registry/index.js';
import { MODEL_STAGES } from '../../store/index.js';
import { runArtifactRoot } from '../../tracking/index.js';
import { requireRole } from '../auth.js';
import { strictBody } from './v1-strict-body.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);
const StringMap = Type.Record(Type.String(), Type.String());
const Stage = Type.Enum([...MODEL_STAGES]);

const VersionSchema = Type.Object({
  name: Type.String(),
  version: Type.Integer(),
  source: Type.String(),
  runId: Nullable(Type.String()),
  status: Type.String(),
  description: Nullable(Type.String()),
  currentStage: Stage,
  userId: Nullable(Type.String()),
  createdAt: Type.Integer(),
  updatedAt: Type.Integer(),
  tags: StringMap,
  aliases: Type.Array(Type.String()),
});
const ModelSchema = Type.Object({
  name: Type.String(),
  description: Nullable(Type.String()),
  createdAt: Type.Integer(),
  updatedAt: Type.Integer(),
  tags: StringMap,
  aliases: Type.Array(Type.Object({ alias: Type.String(), version: Type.Integer() })),
  latestVersions: Type.Array(VersionSchema),
});

function toWireVersion(v: ModelVersion): Static<typeof VersionSchema> {
  return {
    name: v.name,
    version: v.version,
    source: v.source,
    runId: v.runId,
    status: v.status,
    description: v.description,
    currentStage: v.currentStage,
    userId: v.userId,
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
    tags: v.tags,
    aliases: v.aliases,
  };
}

function toWireModel(m: RegisteredModel): Static<typeof ModelSchema> {
  return { ...m, latestVersions: m.latestVersions.map(toWireVersion) };
}

const NameParams = Type.Object({
  name: Type.String({ minLength: 1, maxLength: limits.MAX_NAME_LENGTH }),
});
const VersionParams = Type.Object({
  name: NameParams.properties.name,
  version: Type.Integer({ minimum: 1 }),
});
const AliasParams = Type.Object({
  name: NameParams.properties.name,
  alias: Type.String({ minLength: 1, maxLength: MAX_ALIAS_LENGTH }),
});
const CreateModelBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: limits.MAX_NAME_LENGTH }),
    description: Type.Optional(Type.String()),
    tags: Type.Optional(StringMap),
  },
  { additionalProperties: false },
);
const ListModelsQuery = Type.Object(
  {
    filter: Type.Optional(Type.String({ description: "e.g. name LIKE 'churn%'" })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: SEARCH_MODELS_MAX })),
    offset: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
const CreateVersionBody = Type.Object(
  {
    runId: Type.String({ minLength: 1, description: 'the run whose artifacts hold the model' }),
    artifactPath: Type.String({
      minLength: 1,
      description: "file or directory below the run's artifact root, e.g. 'model'",
    }),
    description: Type.Optional(Type.String()),
    tags: Type.Optional(StringMap),
  },
  { additionalProperties: false },
);
const ListVersionsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    offset: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
const SetAliasBody = Type.Object(
  {
    version: Type.Integer({ minimum: 1 }),
    force: Type.Optional(
      Type.Boolean({
        description:
          'set a protected alias (production, champion) on a version without a passing evaluation; needs reason, audited',
      }),
    ),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);
const EvaluateBody = Type.Object(
  {
    data: Type.String({ minLength: 1, description: 'dataset version, e.g. churn-test@3' }),
    label: Type.String({ minLength: 1, description: 'the column holding the true label' }),
    against: Type.Optional(
      Type.String({ minLength: 1, description: 'alias of the champion to compare with' }),
    ),
    policy: Type.Optional(
      Type.Unknown({
        description:
          'object or YAML text: {task?, min?, max?, max_regression?, max_slice_gap?} (docs/serving.md)',
      }),
    ),
    slices: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 20 })),
    features: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  { additionalProperties: false },
);

/** `/api/v1/models…`: registered models, versions and aliases. */
export function registerV1RegistryRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  const { models, versions, aliases } = ctx.registry;
  const tags = ['registry'];

  app.post(
    '/api/v1/models',
    {
      preValidation: strictBody(CreateModelBody),
      schema: {
        summary: 'Register a model name',
        tags,
        body: CreateModelBody,
        response: { 201: ModelSchema },
      },
    },
    async (request, reply) => {
      requireRole(request, 'editor');
      const body = request.body as Static<typeof CreateModelBody>;
      return reply.status(201).send(toWireModel(await models.create(body)));
    },
  );

  app.get(
    '/api/v1/models',
    {
      schema: {
        summary: 'List registered models by name (optionally filtered)',
        tags,
        querystring: ListModelsQuery,
        response: {
          200: Type.Object({
            models: Type.Array(ModelSchema),
            nextOffset: Type.Optional(Type.Integer()),
          }),
        },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const q = request.query as Static<typeof ListModelsQuery>;
      const page = await models.search({ filter: q.filter, maxResults: q.limit, offset: q.offset });
      return {
        models: page.items.map(toWireModel),
        ...(page.nextOffset === undefined ? {} : { nextOffset: page.nextOffset }),
      };
    },
  );

  app.get(
    '/api/v1/models/:name',
    {
      schema: {
        summary: 'Get a registered model',
        tags,
        params: NameParams,
        response: { 200: ModelSchema },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      return toWireModel(await models.get((request.params as Static<typeof NameParams>).name));
    },
  );

  app.post(
    '/api/v1/models/:name/versions',
    {
      preValidation: strictBody(CreateVersionBody),
      schema: {
        summary: "Create the next version of a model from a run's artifact path",
        tags,
        params: NameParams,
        body: CreateVersionBody,
        response: { 201: VersionSchema },
      },
    },
    async (request, reply) => {
      const principal = requireRole(request, 'editor');
      const { name } = request.params as Static<typeof NameParams>;
      const body = request.body as Static<typeof CreateVersionBody>;
      const path = safeRelativePath(body.artifactPath);
      const run = await ctx.tracking.runs.get(body.runId);
      const root = runArtifactRoot(run.info.artifactUri);
      // The source must exist now: a version pointing at nothing cannot be served later.
      const exists = await ctx.tracking.artifacts
        .open(`${root}/${path}`)
        .then(async (file) => {
          file.stream.destroy();
          return true;
        })
        .catch(async () => (await ctx.tracking.artifacts.list(`${root}/${path}`)).length > 0);
      if (!exists)
        throw new MobiusError(
          'NOT_FOUND',
          `run '${body.runId}' has no artifact file or directory at '${path}'; upload it first`,
        );
      const version = await versions.create({
        name,
        source: `${run.info.artifactUri.replace(/\/+$/, '')}/${path}`,
        runId: run.info.id,
        description: body.description,
        tags: body.tags,
        userId: principal.name,
      });
      return reply.status(201).send(toWireVersion(version));
    },
  );

  app.get(
    '/api/v1/models/:name/versions',
    {
      schema: {
        summary: 'List the versions of a model, newest first',
        tags,
        params: NameParams,
        querystring: ListVersionsQuery,
        response: {
          200: Type.Object({
            versions: Type.Array(VersionSchema),
            nextOffset: Type.Optional(Type.Integer()),
          }),
        },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const { name } = request.params as Static<typeof NameParams>;
      const q = request.query as Static<typeof ListVersionsQuery>;
      await models.get(name); // NOT_FOUND for an unknown model, not an empty list
      // Model names cannot contain quotes (limits' NAME_PATTERN), so quoting is safe.
      const page = await versions.search({
        filter: `name = '${name}'`,
        orderBy: ['version_number DESC'],
        maxResults: q.limit ?? 1000,
        offset: q.offset ?? 0,
      });
      return {
        versions: page.items.map(toWireVersion),
        ...(page.nextOffset === undefined ? {} : { nextOffset: page.nextOffset }),
      };
    },
  );

  app.get(
    '/api/v1/models/:name/versions/:version',
    {
      schema: {
        summary: 'Get one version of a model',
        tags,
        params: VersionParams,
        response: { 200: VersionSchema },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const { name, version } = request.params as Static<typeof VersionParams>;
      return toWireVersion(await versions.get(name, version));
    },
  );

  app.put(
    '/api/v1/models/:name/aliases/:alias',
    {
      preValidation: strictBody(SetAliasBody),
      schema: {
        summary: 'Point an alias at a version (moving it if it named another)',
        tags,
        params: AliasParams,
        body: SetAliasBody,
        response: { 200: VersionSchema },
      },
    },
    async (request) => {
      const principal = requireRole(request, 'editor');
      const { name, alias } = request.params as Static<typeof AliasParams>;
      const { version, force, reason } = request.body as Static<typeof SetAliasBody>;
      if (reason !== undefined && force !== true)
        throw new MobiusError('INVALID_ARGUMENT', 'a reason is given only with force: true');
      await aliases.set(name, alias, version, {
        user: principal.name,
        force: force === true ? { reason: reason ?? '', user: principal.name } : undefined,
      });
      return toWireVersion(await aliases.get(name, alias));
    },
  );

  app.get(
    '/api/v1/models/:name/versions/:version/evaluations',
    {
      schema: {
        summary:
          'Evaluations of a version (newest first) and the history of protected aliases set on it',
        tags,
        params: VersionParams,
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const { name, version } = request.params as Static<typeof VersionParams>;
      return {
        evaluations: await ctx.registry.evaluations.list(name, version),
        aliasHistory: await ctx.registry.evaluations.aliasEvents(name, version),
      };
    },
  );

  app.post(
    '/api/v1/models/:name/versions/:version/evaluate',
    {
      preValidation: strictBody(EvaluateBody),
      schema: {
        summary:
          'Evaluate a version on a dataset version (against a champion alias, under a policy) and store the result',
        tags,
        params: VersionParams,
        body: EvaluateBody,
      },
    },
    async (request, reply) => {
      const principal = requireRole(request, 'editor');
      const { name, version } = request.params as Static<typeof VersionParams>;
      const body = request.body as Static<typeof EvaluateBody>;
      const evaluation = await evaluateModel(ctx, {
        name,
        candidate: version,
        against: body.against,
        data: body.data,
        label: body.label,
        policy: body.policy === undefined ? undefined : parsePolicy(body.policy),
        slices: body.slices,
        features: body.features,
        user: principal.name,
      });
      return reply.status(201).send(evaluation);
    },
  );

  app.get(
    '/api/v1/models/:name/aliases/:alias',
    {
      schema: {
        summary: 'The version an alias names',
        tags,
        params: AliasParams,
        response: { 200: VersionSchema },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const { name, alias } = request.params as Static<typeof AliasParams>;
      return toWireVersion(await aliases.get(name, alias));
    },
  );

  app.delete(
    '/api/v1/models/:name/aliases/:alias',
    {
      schema: {
        summary: 'Remove an alias (removing one that is not set does nothing)',
        tags,
        params: AliasParams,
        response: { 200: Type.Object({ name: Type.String(), alias: Type.String() }) },
      },
    },
    async (request) => {
      requireRole(request, 'editor');
      const { name, alias } = request.params as Static<typeof AliasParams>;
      await aliases.delete(name, alias);
      return { name, alias };
    },
  );
}
