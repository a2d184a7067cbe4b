/**
 * `/api/v1/datasets…`: dataset versions over HTTP — list, log, show (with profile), file
 * and Parquet downloads, tags, diffs, PII scans and masking, and adding a version by
 * uploading one file (the body streamed to disk, never buffered). Same DataService as
 * `mobius data`.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { MobiusError, limits, safeRelativePath } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import {
  CSV_ENCODINGS,
  DATA_FORMATS,
  MASK_ACTIONS,
  type DatasetVersion,
  type DatasetVersionSummary,
} from '../../data/index.js';
import { requireRole } from '../auth.js';
import { strictBody } from './v1-strict-body.js';

const tags = ['data'];
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);

const SummarySchema = Type.Object({
  dataset: Type.String(),
  version: Type.Integer(),
  id: Type.String(),
  contentHash: Type.String(),
  format: Type.String(),
  rowCount: Type.Integer(),
  columnCount: Type.Integer(),
  fileCount: Type.Integer(),
  totalBytes: Type.Integer(),
  runId: Nullable(Type.String()),
  sourceUri: Nullable(Type.String()),
  createdAt: Type.Integer(),
  tags: Type.Array(Type.String()),
});
const VersionSchema = Type.Object({
  ...SummarySchema.properties,
  manifest: Type.Unknown({ description: '{format, options, files: [{path, sha256, size}]}' }),
  schema: Type.Array(Type.Object({ name: Type.String(), type: Type.String() })),
  parquet: Nullable(Type.Object({ sha256: Type.String(), size: Type.Integer() })),
  engine: Nullable(Type.String()),
  profile: Type.Unknown({ description: 'per-column statistics; see docs/data.md' }),
});
const DatasetSchema = Type.Object({
  name: Type.String(),
  description: Nullable(Type.String()),
  createdAt: Type.Integer(),
  updatedAt: Nullable(Type.Integer()),
  latestVersion: Type.Integer(),
  tags: Type.Record(Type.String(), Type.Integer()),
});

const Name = Type.String({ minLength: 1, maxLength: limits.MAX_DATASET_NAME_LENGTH_CHARS });
const Ref = Type.String({
  minLength: 1,
  maxLength: 300,
  description: 'a version number (3), a content hash or prefix (8+ hex), or a tag (latest)',
});
const NameParams = Type.Object({ name: Name });
const RefParams = Type.Object({ name: Name, ref: Ref });
const TagParams = Type.Object({ name: Name, tag: Type.String({ minLength: 1, maxLength: 255 }) });
const ShowQuery = Type.Object(
  { profile: Type.Optional(Type.Boolean({ description: 'include the profile (default true)' })) },
  { additionalProperties: false },
);
const LogQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })) },
  { additionalProperties: false },
);
const TagBody = Type.Object({ version: Ref }, { additionalProperties: false });
const DiffQuery = Type.Object(
  {
    from: Ref,
    to: Ref,
    key: Type.Optional(Type.String({ description: 'comma-separated key columns for a row diff' })),
  },
  { additionalProperties: false },
);
const PiiQuery = Type.Object(
  {
    threshold: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1,
        description:
          'fraction of non-null values a kind must reach to flag a column (default 0.01)',
      }),
    ),
  },
  { additionalProperties: false },
);
const MaskBody = Type.Object(
  {
    columns: Type.Record(Type.String({ minLength: 1 }), Type.Enum([...MASK_ACTIONS]), {
      description: 'column → "hash" (hex sha256 of salt + value) or "redact"',
    }),
    salt: Type.Optional(Type.String({ maxLength: limits.MAX_MASK_SALT_LENGTH })),
    to: Type.Optional(Name),
    runId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);
const UploadQuery = Type.Object(
  {
    filename: Type.String({
      minLength: 1,
      maxLength: 255,
      description:
        "the file's name in the version, e.g. sales.csv (its extension gives the format)",
    }),
    format: Type.Optional(Type.Enum([...DATA_FORMATS])),
    encoding: Type.Optional(Type.Enum([...CSV_ENCODINGS])),
    sampleAll: Type.Optional(Type.Boolean()),
    runId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);

/** `name@ref` for a ref given within dataset `name` (or already naming one). */
const refOf = (name: string, ref: string) => (ref.includes('@') ? ref : `${name}@${ref}`);

const summary = (v: DatasetVersion | DatasetVersionSummary): Static<typeof SummarySchema> => ({
  dataset: v.dataset,
  version: v.version,
  id: v.id,
  contentHash: v.contentHash,
  format: v.format,
  rowCount: v.rowCount,
  columnCount: v.columnCount,
  fileCount: v.fileCount,
  totalBytes: v.totalBytes,
  runId: v.runId,
  sourceUri: v.sourceUri,
  createdAt: v.createdAt,
  tags: v.tags,
});

/** The `/api/v1/datasets` plugin (JSON routes, and the upload in a raw-body scope). */
export function registerV1DatasetRoutes(ctx: MobiusContext): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    jsonRoutes(app, ctx);
    await app.register(uploadRoute(ctx));
  };
}

function jsonRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  const { data } = ctx;

  app.get(
    '/api/v1/datasets',
    {
      schema: {
        summary: 'List datasets with their newest version and tags',
        tags,
        response: { 200: Type.Object({ datasets: Type.Array(DatasetSchema) }) },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      return { datasets: await data.list() };
    },
  );

  app.get(
    '/api/v1/datasets/:name/versions',
    {
      schema: {
        summary: 'The versions of a dataset, newest first (no profiles)',
        tags,
        params: NameParams,
        querystring: LogQuery,
        response: { 200: Type.Object({ versions: Type.Array(SummarySchema) }) },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const { name } = request.params as Static<typeof NameParams>;
      const q = request.query as Static<typeof LogQuery>;
      const versions = await data.log(name, q.limit === undefined ? {} : { limit: q.limit });
      return { versions: versions.map(summary) };
    },
  );

  app.get(
    '/api/v1/datasets/:name/versions/:ref',
    {
      schema: {
        summary: 'One version: manifest, schema, Parquet copy and profile',
        tags,
        params: RefParams,
        querystring: ShowQuery,
        response: { 200: VersionSchema },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const { name, ref } = request.params as Static<typeof RefParams>;
      const q = request.query as Static<typeof ShowQuery>;
      const version = await data.get(`${name}@${ref}`);
      return q.profile === false ? { ...version, profile: null } : version;
    },
  );

  app.get(
    '/api/v1/datasets/:name/versions/:ref/parquet',
    {
      schema: {
        summary: "Download a version's canonical Parquet copy",
        tags,
        params: RefParams,
      },
    },
    async (request, reply) => {
      requireRole(request, 'viewer');
      const { name, ref } = request.params as Static<typeof RefParams>;
      const stream = await data.openFile(`${name}@${ref}`, { parquet: true });
      void reply.type('application/vnd.apache.parquet');
      void reply.header('content-disposition', `attachment; filename="${name}.parquet"`);
      return reply.send(stream);
    },
  );

  app.get(
    '/api/v1/datasets/:name/versions/:ref/files/*',
    {
      schema: {
        summary: 'Download one file of a version, by its path in the manifest',
        tags,
        params: Type.Object({ ...RefParams.properties, '*': Type.String() }),
      },
    },
    async (request, reply) => {
      requireRole(request, 'viewer');
      const { name, ref } = request.params as Static<typeof RefParams>;
      const stream = await data.openFile(`${name}@${ref}`, filePath(request));
      void reply.type('application/octet-stream');
      void reply.header('content-disposition', 'attachment');
      void reply.header('x-content-type-options', 'nosniff');
      return reply.send(stream);
    },
  );

  app.get(
    '/api/v1/datasets/:name/versions/:ref/pii',
    {
      schema: {
        summary:
          'Scan the string columns of a version for e-mails, phones, card numbers, IBANs and IP addresses (examples masked)',
        tags,
        params: RefParams,
        querystring: PiiQuery,
        response: { 200: Type.Unknown({ description: 'see docs/data.md' }) },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const { name, ref } = request.params as Static<typeof RefParams>;
      const q = request.query as Static<typeof PiiQuery>;
      return data.pii(
        `${name}@${ref}`,
        q.threshold === undefined ? {} : { threshold: q.threshold },
      );
    },
  );

  app.post(
    '/api/v1/datasets/:name/versions/:ref/mask',
    {
      preValidation: strictBody(MaskBody),
      schema: {
        summary:
          'Write a new version with columns hashed or redacted, linked to its source by a derived edge',
        tags,
        params: RefParams,
        body: MaskBody,
        response: {
          200: Type.Object({
            created: Type.Boolean(),
            version: VersionSchema,
            source: SummarySchema,
          }),
          201: Type.Object({
            created: Type.Boolean(),
            version: VersionSchema,
            source: SummarySchema,
          }),
        },
      },
    },
    async (request, reply) => {
      requireRole(request, 'editor');
      const { name, ref } = request.params as Static<typeof RefParams>;
      const body = request.body as Static<typeof MaskBody>;
      const result = await data.mask(`${name}@${ref}`, {
        columns: body.columns,
        ...(body.salt === undefined ? {} : { salt: body.salt }),
        ...(body.to === undefined ? {} : { to: body.to }),
        ...(body.runId === undefined ? {} : { runId: body.runId }),
      });
      return reply
        .status(result.created ? 201 : 200)
        .send({ ...result, source: summary(result.source) });
    },
  );

  app.put(
    '/api/v1/datasets/:name/tags/:tag',
    {
      preValidation: strictBody(TagBody),
      schema: {
        summary: 'Point a tag at a version (moving it if it exists)',
        tags,
        params: TagParams,
        body: TagBody,
        response: { 200: SummarySchema },
      },
    },
    async (request) => {
      requireRole(request, 'editor');
      const { name, tag } = request.params as Static<typeof TagParams>;
      const body = request.body as Static<typeof TagBody>;
      return summary(await data.tag(refOf(name, body.version), tag));
    },
  );

  app.delete(
    '/api/v1/datasets/:name/tags/:tag',
    { schema: { summary: 'Remove a tag', tags, params: TagParams } },
    async (request, reply) => {
      requireRole(request, 'editor');
      const { name, tag } = request.params as Static<typeof TagParams>;
      await data.untag(name, tag);
      return reply.status(204).send();
    },
  );

  app.get(
    '/api/v1/datasets/:name/diff',
    {
      schema: {
        summary:
          'Compare two versions: schema, row count, column statistics, and rows by key when `key` is given',
        tags,
        params: NameParams,
        querystring: DiffQuery,
        response: { 200: Type.Unknown() },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const { name } = request.params as Static<typeof NameParams>;
      const q = request.query as Static<typeof DiffQuery>;
      const key = q.key
        ?.split(',')
        .map((k) => k.trim())
        .filter((k) => k !== '');
      return data.diff(refOf(name, q.from), refOf(name, q.to), key === undefined ? {} : { key });
    },
  );
}

/** The upload route, in a scope that takes any body as a raw stream. */
function uploadRoute(ctx: MobiusContext): FastifyPluginAsync {
  return async (scope: FastifyInstance) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    scope.post(
      '/api/v1/datasets/:name/versions',
      {
        config: { contentTypes: ['*'] },
        schema: {
          summary:
            'Add a version from one uploaded file (the request body, streamed; CSV, Parquet or JSON)',
          tags,
          params: NameParams,
          querystring: UploadQuery,
          response: {
            200: Type.Object({ created: Type.Boolean(), version: VersionSchema }),
            201: Type.Object({ created: Type.Boolean(), version: VersionSchema }),
          },
        },
      },
      async (request, reply) => {
        requireRole(request, 'editor');
        const { name } = request.params as Static<typeof NameParams>;
        const q = request.query as Static<typeof UploadQuery>;
        const filename = safeRelativePath(q.filename);
        if (filename.includes('/'))
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `filename '${filename}' must be a plain file name`,
          );
        await mkdir(ctx.engine.tempDirectory, { recursive: true });
        const dir = await mkdtemp(join(ctx.engine.tempDirectory, 'upload-'));
        try {
          await pipeline(
            (request.body ?? request.raw) as Readable,
            capped(limits.MAX_DATASET_UPLOAD_BYTES),
            createWriteStream(join(dir, filename), { flags: 'wx' }),
          );
          const result = await ctx.data.add({
            name,
            source: filename,
            cwd: dir,
            sourceUri: `upload:${filename}`,
            ...(q.format === undefined ? {} : { format: q.format }),
            ...(q.encoding === undefined ? {} : { encoding: q.encoding }),
            ...(q.sampleAll === true ? { sampleAll: true } : {}),
            ...(q.runId === undefined ? {} : { runId: q.runId }),
          });
          return reply.status(result.created ? 201 : 200).send(result);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    );
  };
}

/** A pass-through that fails once more than `max` bytes went through. */
function capped(max: number) {
  let seen = 0;
  return async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      seen += chunk.length;
      if (seen > max)
        throw new MobiusError(
          'PAYLOAD_TOO_LARGE',
          `uploads are limited to ${max} bytes; add bigger files with 'mobius data add' next to them`,
        );
      yield chunk;
    }
  };
}

function filePath(request: FastifyRequest): string {
  const raw = request.url.split('?')[0]!;
  const marker = '/files/';
  // Decoded (until stable) and checked by safeRelativePath in the service.
  return raw.slice(raw.indexOf(marker) + marker.length);
}
