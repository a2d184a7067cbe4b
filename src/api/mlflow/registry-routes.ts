/**
 * MLflow's model registry (mlflow/protos/model_registry.proto) over Mobius' registry
 * domain, under the same prefixes as tracking. Methods follow the proto's endpoints;
 * handlers only translate the wire format, every rule lives in src/registry.
 */
import type { FastifyInstance } from 'fastify';
import { MobiusError } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import { parseVersion, type ModelVersion, type RegisteredModel } from '../../registry/index.js';
import { decodePageToken, encodePageToken } from '../../tracking/index.js';
import { requireRole } from '../auth.js';
import { checkedPath, pathBelow, sendArtifactDownload } from './artifact-routes.js';
import { mlflowRoute } from './tracking-routes.js';
import { keyValues, parseKeyValues, type Fields } from './wire.js';

/** A model version as MLflow's `ModelVersion` message (the version number is a string). */
export function modelVersionJson(v: ModelVersion) {
  return {
    name: v.name,
    version: String(v.version),
    creation_timestamp: v.createdAt,
    last_updated_timestamp: v.updatedAt,
    current_stage: v.currentStage,
    source: v.source,
    status: v.status,
    // MLflow's store keeps the request's empty description, so its clients read "" here.
    description: v.description ?? '',
    ...(v.userId === null ? {} : { user_id: v.userId }),
    ...(v.runId === null ? {} : { run_id: v.runId }),
    ...(v.statusMessage === null ? {} : { status_message: v.statusMessage }),
    ...(v.runLink === null ? {} : { run_link: v.runLink }),
    tags: keyValues(v.tags),
    aliases: v.aliases,
  };
}

/** A registered model as MLflow's `RegisteredModel` message. */
export function registeredModelJson(m: RegisteredModel) {
  return {
    name: m.name,
    creation_timestamp: m.createdAt,
    last_updated_timestamp: m.updatedAt,
    ...(m.description === null ? {} : { description: m.description }),
    latest_versions: m.latestVersions.map(modelVersionJson),
    tags: keyValues(m.tags),
    aliases: m.aliases.map((a) => ({ alias: a.alias, version: String(a.version) })),
  };
}

/** The `version` field: MLflow's clients send a decimal string; a JSON number is accepted too. */
function versionField(f: Fields): number {
  const raw = f.raw('version');
  return parseVersion(typeof raw === 'number' ? raw : f.str('version'));
}

/** A repeated string field (`order_by`, `stages`). */
function stringList(f: Fields, name: string): string[] {
  return f.list(name).map((item, i) => {
    if (typeof item !== 'string')
      throw new MobiusError('INVALID_ARGUMENT', `${name}[${i}] must be a string`);
    return item;
  });
}

/** `tags` of a create request as a record. */
function tagRecord(f: Fields): Record<string, string> {
  return Object.fromEntries(parseKeyValues(f.list('tags'), 'tags').map((t) => [t.key, t.value]));
}

/** A boolean field sent as JSON true/false or as the strings 'true'/'false'. */
function boolField(f: Fields, name: string): boolean {
  const raw = f.raw(name);
  if (raw === undefined || raw === null || raw === false || raw === 'false') return false;
  if (raw === true || raw === 'true') return true;
  throw new MobiusError('INVALID_ARGUMENT', `${name} must be true or false`);
}

/** All model registry endpoints. */
export function registerMlflowRegistryRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  const { models, versions, aliases } = ctx.registry;

  // registered-models/…
  mlflowRoute(app, ['POST'], 'registered-models/create', async (f) => ({
    registered_model: registeredModelJson(
      await models.create({
        name: f.str('name'),
        description: f.str('description', 'optional'),
        tags: tagRecord(f),
      }),
    ),
  }));
  mlflowRoute(app, ['GET'], 'registered-models/get', async (f) => ({
    registered_model: registeredModelJson(await models.get(f.str('name'))),
  }));
  mlflowRoute(app, ['POST'], 'registered-models/rename', async (f) => ({
    registered_model: registeredModelJson(await models.rename(f.str('name'), f.str('new_name'))),
  }));
  mlflowRoute(app, ['PATCH'], 'registered-models/update', async (f) => ({
    registered_model: registeredModelJson(
      await models.updateDescription(f.str('name'), f.str('description', 'optional') ?? ''),
    ),
  }));
  mlflowRoute(app, ['DELETE'], 'registered-models/delete', async (f) => {
    await models.delete(f.str('name'));
  });
  mlflowRoute(app, ['GET'], 'registered-models/search', async (f) => {
    const offset = decodePageToken(f.str('page_token', 'optional'));
    const page = await models.search({
      filter: f.str('filter', 'optional'),
      orderBy: stringList(f, 'order_by'),
      maxResults: f.int('max_results'),
      offset,
    });
    return {
      registered_models: page.items.map(registeredModelJson),
      ...(page.nextOffset === undefined
        ? {}
        : { next_page_token: encodePageToken(page.nextOffset) }),
    };
  });
  mlflowRoute(
    app,
    ['POST'],
    'registered-models/set-tag',
    async (f) =>
      void (await models.setTag(f.str('name'), f.str('key'), f.str('value', 'optional') ?? '')),
  );
  mlflowRoute(app, ['DELETE'], 'registered-models/delete-tag', async (f) => {
    await models.deleteTag(f.str('name'), f.str('key'));
  });
  mlflowRoute(app, ['GET', 'POST'], 'registered-models/get-latest-versions', async (f) => ({
    model_versions: (await versions.latest(f.str('name'), stringList(f, 'stages'))).map(
      modelVersionJson,
    ),
  }));
  mlflowRoute(
    app,
    ['POST'],
    'registered-models/alias',
    // The evaluation gate applies here too: a protected alias (production, champion) needs
    // a passing evaluation; MLflow clients override it with `X-Mobius-Force: <reason>`,
    // which is audited like the CLI's --force (docs/mlflow-compat.md).
    async (f, request) => {
      const forced = request.headers['x-mobius-force'];
      const reason = Array.isArray(forced) ? forced[0] : forced;
      const user = request.principal?.name;
      await aliases.set(f.str('name'), f.str('alias'), versionField(f), {
        user,
        force: reason === undefined ? undefined : { reason, user },
      });
    },
  );
  mlflowRoute(app, ['DELETE'], 'registered-models/alias', async (f) => {
    await aliases.delete(f.str('name'), f.str('alias'));
  });
  mlflowRoute(app, ['GET'], 'registered-models/alias', async (f) => ({
    model_version: modelVersionJson(await aliases.get(f.str('name'), f.str('alias'))),
  }));

  // model-versions/…
  mlflowRoute(app, ['POST'], 'model-versions/create', async (f) => {
    // MLflow 3: a version made from a LoggedModel is listed on that model afterwards
    // (its `mlflow.modelVersions` tag), as MLflow's handler does in a second write.
    const modelId = f.str('model_id', 'optional');
    if (modelId !== undefined) await ctx.tracking.loggedModels.get(modelId);
    const version = await versions.create({
      name: f.str('name'),
      source: f.str('source'),
      runId: f.str('run_id', 'optional'),
      modelId,
      runLink: f.str('run_link', 'optional'),
      description: f.str('description', 'optional'),
      tags: tagRecord(f),
    });
    if (modelId !== undefined)
      await ctx.tracking.loggedModels.addModelVersion(modelId, version.name, version.version);
    return { model_version: modelVersionJson(version) };
  });
  mlflowRoute(app, ['GET'], 'model-versions/get', async (f) => ({
    model_version: modelVersionJson(await versions.get(f.str('name'), versionField(f))),
  }));
  mlflowRoute(app, ['PATCH'], 'model-versions/update', async (f) => ({
    model_version: modelVersionJson(
      await versions.updateDescription(
        f.str('name'),
        versionField(f),
        f.str('description', 'optional') ?? '',
      ),
    ),
  }));
  mlflowRoute(app, ['DELETE'], 'model-versions/delete', async (f) => {
    await versions.delete(f.str('name'), versionField(f));
  });
  mlflowRoute(app, ['GET'], 'model-versions/search', async (f) => {
    const offset = decodePageToken(f.str('page_token', 'optional'));
    const page = await versions.search({
      filter: f.str('filter', 'optional'),
      orderBy: stringList(f, 'order_by'),
      maxResults: f.int('max_results'),
      offset,
    });
    return {
      model_versions: page.items.map(modelVersionJson),
      ...(page.nextOffset === undefined
        ? {}
        : { next_page_token: encodePageToken(page.nextOffset) }),
    };
  });
  mlflowRoute(app, ['POST'], 'model-versions/transition-stage', async (f) => ({
    model_version: modelVersionJson(
      await versions.transitionStage(
        f.str('name'),
        versionField(f),
        f.str('stage'),
        boolField(f, 'archive_existing_versions'),
      ),
    ),
  }));
  mlflowRoute(
    app,
    ['POST'],
    'model-versions/set-tag',
    async (f) =>
      void (await versions.setTag(
        f.str('name'),
        versionField(f),
        f.str('key'),
        f.str('value', 'optional') ?? '',
      )),
  );
  mlflowRoute(app, ['DELETE'], 'model-versions/delete-tag', async (f) => {
    await versions.deleteTag(f.str('name'), versionField(f), f.str('key'));
  });
  mlflowRoute(app, ['GET'], 'model-versions/get-download-uri', async (f) => ({
    artifact_uri: await versions.downloadUri(f.str('name'), versionField(f)),
  }));

  // The UI's download link for a file of a model version (mlflow/server/__init__.py serves
  // it at the root; the ajax-api spelling is answered too, with MLflow's error shape).
  const { runs, loggedModels, artifacts } = ctx.tracking;
  /** The `mlflow-artifacts:` root a version's source points at, following runs:/ and models:/. */
  const sourceRoot = async (source: string): Promise<string> => {
    const model = /^models:\/(m-[\w-]+)\/?$/.exec(source);
    if (model !== null) return (await loggedModels.get(model[1]!)).artifactUri;
    const run = /^runs:\/([0-9a-f]{32})(?:\/(.*))?$/.exec(source);
    if (run !== null) {
      const uri = (await runs.get(run[1]!)).info.artifactUri.replace(/\/+$/, '');
      return run[2] === undefined || run[2] === '' ? uri : `${uri}/${run[2]}`;
    }
    return source;
  };
  for (const url of [
    '/model-versions/get-artifact',
    '/ajax-api/2.0/mlflow/model-versions/get-artifact',
  ]) {
    app.get(url, { schema: { hide: true } }, async (request, reply) => {
      requireRole(request, 'viewer');
      const q = request.query as Record<string, unknown>;
      for (const name of ['name', 'version', 'path'])
        if (typeof q[name] !== 'string' || q[name] === '')
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `Missing value for required parameter '${name}'.`,
          );
      const { name, version, path } = q as Record<'name' | 'version' | 'path', string>;
      checkedPath(path); // before the version is looked up, as MLflow checks it
      const source = await versions.downloadUri(name, parseVersion(version));
      const root = await sourceRoot(source);
      if (!root.startsWith('mlflow-artifacts:'))
        throw new MobiusError(
          'NOT_FOUND',
          `model version ${name}/${version} has its files at '${source}', which this server does not store`,
        );
      return sendArtifactDownload(artifacts, pathBelow(root, path), reply);
    });
  }
}
