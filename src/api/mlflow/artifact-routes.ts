/**
 * MLflow's artifact proxy (mlflow/protos/mlflow_artifacts.proto) and runs' artifacts/list:
 * uploads stream straight into the blob store, downloads stream out of it. Registered in
 * its own plugin scope so its catch-all body parser (any content type, not parsed) does
 * not touch JSON routes.
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { MobiusError } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import { runArtifactRoot } from '../../tracking/index.js';
import { requireRole } from '../auth.js';
import { mlflowRoute } from './tracking-routes.js';

const PROXY_PREFIXES = [
  '/api/2.0/mlflow-artifacts/artifacts',
  '/ajax-api/2.0/mlflow-artifacts/artifacts',
];

/** The artifact path of a proxy request: the raw URL after the prefix, still percent-encoded. */
function proxyPath(request: FastifyRequest, prefix: string): string {
  const raw = request.url.split('?')[0]!;
  return raw.slice(prefix.length + 1);
}

/** Media types served inline; everything else is sent as an attachment (no stored XSS). */
const INLINE = new Set([
  'text/plain',
  'text/csv',
  'application/json',
  'image/png',
  'image/jpeg',
  'image/gif',
]);

/** The plugin: proxy routes plus `GET …/mlflow/artifacts/list`. */
export function registerMlflowArtifactRoutes(ctx: MobiusContext): FastifyPluginAsync {
  const { artifacts, runs } = ctx.tracking;
  return async (scope: FastifyInstance) => {
    // Uploads are streamed as they arrive, whatever their Content-Type (MLflow's client
    // sends the file's guessed type); the handler reads the body stream itself.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    for (const prefix of PROXY_PREFIXES) {
      scope.put(
        `${prefix}/*`,
        { config: { contentTypes: ['*'] }, schema: { hide: true } },
        async (request) => {
          requireRole(request, 'editor');
          const body = (request.body ?? request.raw) as Readable;
          await artifacts.put(proxyPath(request, prefix), body);
          return {};
        },
      );
      scope.get(`${prefix}/*`, { schema: { hide: true } }, async (request, reply) => {
        requireRole(request, 'viewer');
        const file = await artifacts.open(proxyPath(request, prefix));
        void reply.header('content-length', file.size);
        void reply.header('x-content-type-options', 'nosniff');
        void reply.type(file.mediaType);
        if (!INLINE.has(file.mediaType)) void reply.header('content-disposition', 'attachment');
        return reply.send(file.stream);
      });
      scope.delete(`${prefix}/*`, { schema: { hide: true } }, async (request) => {
        requireRole(request, 'editor');
        await artifacts.delete(proxyPath(request, prefix));
        return {};
      });
      scope.get(prefix, { schema: { hide: true } }, async (request) => {
        requireRole(request, 'viewer');
        const { path } = request.query as { path?: string };
        const entries = await artifacts.list(path ?? '');
        return {
          files: entries.map((e) =>
            e.isDir
              ? { path: e.name, is_dir: true }
              : { path: e.name, is_dir: false, file_size: e.size },
          ),
        };
      });
    }

    mlflowRoute(scope, ['GET'], 'artifacts/list', async (f) => {
      const run = await runs.get(f.str('run_id', 'optional') ?? f.str('run_uuid'));
      const root = runArtifactRoot(run.info.artifactUri);
      const sub = f.str('path', 'optional') ?? '';
      if (sub.split('/').some((s) => s === '..' || s === '.')) {
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `path '${sub}' is not allowed: '.' and '..' segments are not paths`,
        );
      }
      const dir = sub === '' ? root : `${root}/${sub.replace(/\/+$/, '')}`;
      const entries = await artifacts.list(dir);
      return {
        root_uri: run.info.artifactUri,
        files: entries.map((e) => {
          const path = sub === '' ? e.name : `${sub.replace(/\/+$/, '')}/${e.name}`;
          return e.isDir ? { path, is_dir: true } : { path, is_dir: false, file_size: e.size };
        }),
      };
    });
  };
}
