/**
 * MLflow's artifact proxy (mlflow/protos/mlflow_artifacts.proto) and runs' artifacts/list:
 * uploads stream straight into the blob store, downloads stream out of it. Registered in
 * its own plugin scope so its catch-all body parser (any content type, not parsed) does
 * not touch JSON routes.
 *
 * Multipart uploads (mpu/create, complete, abort) answer as MLflow's S3-backed proxy does,
 * except that each part's "presigned" URL is a Mobius URL (`…/mpu/part/<upload>/<n>`).
 * MLflow's client PUTs parts with plain `requests`, sending only the headers we hand out,
 * so the credential carries the caller's own Authorization header: auth stays on for every
 * route, and no second kind of secret exists.
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { MobiusError, limits, safeRelativePath } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import {
  artifactFilePath,
  runArtifactRoot,
  type ArtifactService,
  type CompletedPart,
} from '../../tracking/index.js';
import { requireRole } from '../auth.js';
import { jsonDepth } from '../json-body.js';
import { mlflowRoute } from './tracking-routes.js';

const PROXY_PREFIXES = [
  '/api/2.0/mlflow-artifacts/artifacts',
  '/ajax-api/2.0/mlflow-artifacts/artifacts',
];
const MPU_PREFIXES = ['/api/2.0/mlflow-artifacts/mpu', '/ajax-api/2.0/mlflow-artifacts/mpu'];

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

/**
 * `attachment; filename=…` for a download (RFC 6266), with an RFC 5987 `filename*` for
 * names that are not plain ASCII; quotes, backslashes and controls never reach the header.
 */
export function attachmentDisposition(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const ascii = name.normalize('NFKD').replace(/[^\x20-\x7e]|["\\]/g, '_');
  if (ascii === name) return `attachment; filename="${name}"`;
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** Streams the artifact file at `path` as a download (MLflow's get-artifact routes). */
export async function sendArtifactDownload(
  artifacts: ArtifactService,
  path: string,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const file = await artifacts.open(path);
  void reply.header('content-length', file.size);
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('content-disposition', attachmentDisposition(path));
  void reply.type(file.mediaType);
  return reply.send(file.stream);
}

/**
 * The artifact path of `relative` below an `mlflow-artifacts:` root, refusing anything
 * that is not a plain relative path (the same checks as the proxy).
 */
export function pathBelow(rootUri: string, relative: string): string {
  const sub = checkedPath(relative);
  const root = runArtifactRoot(rootUri);
  return root === '' ? sub : `${root}/${sub}`;
}

/** Who owns a multipart upload: the token (or local user) that created it. */
function uploader(request: FastifyRequest): string {
  const principal = requireRole(request, 'editor');
  return `${principal.name}\u0000${principal.tokenId ?? ''}`;
}

/** Reads a JSON object body from the raw stream (this scope does not parse bodies). */
async function jsonBody(request: FastifyRequest): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of (request.body ?? request.raw) as Readable) {
    size += (chunk as Buffer).length;
    if (size > limits.MAX_MULTIPART_REQUEST_BYTES)
      throw new MobiusError(
        'PAYLOAD_TOO_LARGE',
        `request body is larger than ${limits.MAX_MULTIPART_REQUEST_BYTES} bytes`,
      );
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (jsonDepth(text, limits.MAX_JSON_DEPTH) > limits.MAX_JSON_DEPTH)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `JSON body nests deeper than ${limits.MAX_JSON_DEPTH} levels`,
    );
  let value: unknown;
  try {
    value = text.trim() === '' ? {} : JSON.parse(text);
  } catch (error) {
    throw new MobiusError('INVALID_ARGUMENT', `request body is not valid JSON`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new MobiusError('INVALID_ARGUMENT', 'request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** The largest file the UI's upload-artifact accepts (MLflow's 10 MB; larger files go through the proxy). */
const MAX_UI_UPLOAD_BYTES = 10 * 1024 * 1024;

/** Reads a raw body of at most `max` bytes; MLflow's message when it is larger. */
async function rawBody(request: FastifyRequest, max: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  const tooLarge = () =>
    new MobiusError('INVALID_ARGUMENT', 'Artifact size is too large. Max size is 10MB.');
  if (declared > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of (request.body ?? request.raw) as Readable) {
    size += (chunk as Buffer).length;
    if (size > max) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * A relative artifact path from a request, or MLflow's exact "Invalid path" (its clients
 * and tests compare the whole message; the specific reason stays in the error's cause,
 * which the server log records).
 */
export function checkedPath(raw: string): string {
  try {
    return safeRelativePath(raw);
  } catch (error) {
    throw new MobiusError('INVALID_ARGUMENT', 'Invalid path', { cause: error });
  }
}

/** A required string field of an mpu request. */
function stringField(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (typeof v !== 'string' || v === '')
    throw new MobiusError('INVALID_ARGUMENT', `Missing value for required parameter '${name}'.`);
  return v;
}

/** An int64 field sent as a number or a decimal string (protobuf JSON). */
function intField(value: unknown, name: string): number {
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `Invalid value ${JSON.stringify(value)} for parameter '${name}': expected an integer.`,
    );
  return n;
}

/** The `parts` of a complete request. */
function completedParts(body: Record<string, unknown>): CompletedPart[] {
  const parts = body.parts;
  if (!Array.isArray(parts))
    throw new MobiusError('INVALID_ARGUMENT', `Missing value for required parameter 'parts'.`);
  return parts.map((item, i) => {
    const p = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const etag = p.etag ?? '';
    if (typeof etag !== 'string')
      throw new MobiusError('INVALID_ARGUMENT', `parts[${i}].etag must be a string`);
    return { partNumber: intField(p.part_number, `parts[${i}].part_number`), etag };
  });
}

/** The multipart upload routes under one prefix. */
function registerMultipartRoutes(scope: FastifyInstance, artifacts: ArtifactService, base: string) {
  const target = (request: FastifyRequest, action: string, body: Record<string, unknown>) =>
    artifactFilePath(proxyPath(request, `${base}/${action}`), stringField(body, 'path'));

  scope.post(`${base}/create/*`, { schema: { hide: true } }, async (request) => {
    const owner = uploader(request);
    const body = await jsonBody(request);
    const path = target(request, 'create', body);
    const numParts = intField(body.num_parts ?? 1, 'num_parts');
    const uploadId = artifacts.createMultipartUpload(path, numParts, owner);
    const origin = `${request.protocol}://${request.host}`;
    const auth = request.headers.authorization;
    return {
      upload_id: uploadId,
      credentials: Array.from({ length: numParts }, (_, i) => ({
        url: `${origin}${base}/part/${uploadId}/${i + 1}`,
        part_number: i + 1,
        headers: auth === undefined ? {} : { Authorization: auth },
      })),
    };
  });
  scope.put(
    `${base}/part/:uploadId/:partNumber`,
    { config: { contentTypes: ['*'] }, schema: { hide: true } },
    async (request, reply) => {
      const owner = uploader(request);
      const { uploadId, partNumber } = request.params as { uploadId: string; partNumber: string };
      if (!/^\d{1,6}$/.test(partNumber))
        throw new MobiusError('INVALID_ARGUMENT', `part number '${partNumber}' is not a number`);
      const body = (request.body ?? request.raw) as Readable;
      const part = await artifacts.putMultipartPart(uploadId, Number(partNumber), owner, body);
      void reply.header('etag', `"${part.sha256}"`);
      return {};
    },
  );
  scope.post(`${base}/complete/*`, { schema: { hide: true } }, async (request) => {
    const owner = uploader(request);
    const body = await jsonBody(request);
    const path = target(request, 'complete', body);
    await artifacts.completeMultipartUpload(
      stringField(body, 'upload_id'),
      path,
      completedParts(body),
      owner,
    );
    return {};
  });
  scope.post(`${base}/abort/*`, { schema: { hide: true } }, async (request) => {
    const owner = uploader(request);
    const body = await jsonBody(request);
    const path = target(request, 'abort', body);
    await artifacts.abortMultipartUpload(stringField(body, 'upload_id'), path, owner);
    return {};
  });
}

/**
 * The plugin: proxy routes, multipart uploads, `GET …/mlflow/artifacts/list`, `/get-artifact`,
 * the UI's `upload-artifact` and a LoggedModel's `artifacts/directories` and `artifacts/files`.
 */
export function registerMlflowArtifactRoutes(ctx: MobiusContext): FastifyPluginAsync {
  const { artifacts, runs, loggedModels } = ctx.tracking;
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
    for (const base of MPU_PREFIXES) registerMultipartRoutes(scope, artifacts, base);

    // The UI's download link for a run's file (mlflow/server/__init__.py serves it at the
    // root; the ajax-api spelling is answered too, with MLflow's error shape).
    for (const url of ['/get-artifact', '/ajax-api/2.0/mlflow/get-artifact']) {
      scope.get(url, { schema: { hide: true } }, async (request, reply) => {
        requireRole(request, 'viewer');
        const q = request.query as Record<string, unknown>;
        const id = typeof q.run_id === 'string' && q.run_id !== '' ? q.run_id : q.run_uuid;
        if (typeof id !== 'string' || id === '')
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `Missing value for required parameter 'run_id'.`,
          );
        if (typeof q.path !== 'string' || q.path === '')
          throw new MobiusError('INVALID_ARGUMENT', `Missing value for required parameter 'path'.`);
        checkedPath(q.path); // before the run is looked up, as MLflow checks it
        const run = await runs.get(id);
        return sendArtifactDownload(artifacts, pathBelow(run.info.artifactUri, q.path), reply);
      });
    }

    // The UI's small-file upload into a run (MLflow serves it under /ajax-api only): the raw
    // body is the file, run_uuid and path are query parameters.
    scope.post(
      '/ajax-api/2.0/mlflow/upload-artifact',
      { config: { contentTypes: ['*'] }, schema: { hide: true } },
      async (request) => {
        requireRole(request, 'editor');
        const q = request.query as Record<string, unknown>;
        const id = q.run_uuid;
        if (typeof id !== 'string' || id === '')
          throw new MobiusError('INVALID_ARGUMENT', 'Request must specify run_uuid.');
        if (typeof q.path !== 'string' || q.path === '')
          throw new MobiusError('INVALID_ARGUMENT', 'Request must specify path.');
        const relative = checkedPath(q.path);
        const data = await rawBody(request, MAX_UI_UPLOAD_BYTES);
        if (data.length === 0)
          throw new MobiusError('INVALID_ARGUMENT', 'Request must specify data.');
        const run = await runs.get(id);
        await artifacts.put(pathBelow(run.info.artifactUri, relative), data);
        return {};
      },
    );

    // A LoggedModel's files (MLflow 3): listing under both prefixes (ListLoggedModelArtifacts),
    // download under /ajax-api only, as MLflow serves them.
    mlflowRoute(scope, ['GET'], 'logged-models/:model_id/artifacts/directories', async (f) => {
      const model = await loggedModels.get(f.str('model_id'));
      const sub = f.str('artifact_directory_path', 'optional');
      const relative = sub === undefined ? '' : checkedPath(sub);
      const root = runArtifactRoot(model.artifactUri);
      const dir = relative === '' ? root : root === '' ? relative : `${root}/${relative}`;
      const entries = await artifacts.list(dir);
      return {
        root_uri: model.artifactUri,
        files: entries.map((e) => {
          const path = relative === '' ? e.name : `${relative}/${e.name}`;
          return e.isDir ? { path, is_dir: true } : { path, is_dir: false, file_size: e.size };
        }),
      };
    });
    scope.get(
      '/ajax-api/2.0/mlflow/logged-models/:model_id/artifacts/files',
      { schema: { hide: true } },
      async (request, reply) => {
        requireRole(request, 'viewer');
        const { model_id: modelId } = request.params as { model_id: string };
        const q = request.query as Record<string, unknown>;
        const file = q.artifact_file_path;
        if (typeof file !== 'string' || file === '')
          throw new MobiusError(
            'INVALID_ARGUMENT',
            'Request must include the "artifact_file_path" query parameter.',
          );
        const relative = checkedPath(file);
        const model = await loggedModels.get(modelId);
        return sendArtifactDownload(artifacts, pathBelow(model.artifactUri, relative), reply);
      },
    );

    mlflowRoute(scope, ['GET'], 'artifacts/list', async (f) => {
      const run = await runs.get(f.str('run_id', 'optional') ?? f.str('run_uuid'));
      const root = runArtifactRoot(run.info.artifactUri);
      const sub = f.str('path', 'optional') ?? '';
      if (sub.split('/').some((s) => s === '..' || s === '.'))
        throw new MobiusError('INVALID_ARGUMENT', 'Invalid path', {
          cause: new Error(`path '${sub}' has '.' or '..' segments`),
        });
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
