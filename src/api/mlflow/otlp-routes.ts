/**
 * OpenTelemetry's OTLP/HTTP trace endpoint, `POST /v1/traces`, as MLflow's server serves
 * it (mlflow/server/otel_api.py): an ExportTraceServiceRequest in protobuf or OTLP JSON,
 * optionally gzip/deflate-compressed, for the experiment named by the
 * `x-mlflow-experiment-id` header; `x-mlflow-run-id` links finished traces to a run.
 * MLflow's client sends every span here as it ends, after asking `GET /version`.
 */
import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { MobiusError, limits } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import { decodeExportRequest, encodeExportResponse } from '../../tracking/index.js';
import { requireRole } from '../auth.js';

/**
 * The MLflow release whose protocol Mobius serves (the client pinned in
 * test/mlflow/requirements.txt). MLflow's clients read `GET /version` to decide what a
 * server can do (log_spans needs ≥ 3.4); Mobius' own version is `/api/v1/version`.
 */
export const MLFLOW_PROTOCOL_VERSION = '3.17.2';

const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';

/** `/v1/traces` and `/version`. */
export function registerOtlpRoutes(ctx: MobiusContext): FastifyPluginAsync {
  return async (scope: FastifyInstance) => {
    scope.get('/version', { schema: { hide: true } }, async (_request, reply) =>
      reply.type('text/plain; charset=utf-8').send(MLFLOW_PROTOCOL_VERSION),
    );

    // This scope reads both encodings as raw bytes (JSON is decoded by the OTLP decoder,
    // which needs OTLP's hex ids, not protobuf JSON's base64), with OTLP's own size limit.
    scope.removeContentTypeParser(JSON_TYPE);
    scope.addContentTypeParser(
      [PROTOBUF, JSON_TYPE],
      { parseAs: 'buffer', bodyLimit: limits.MAX_OTLP_BODY_BYTES },
      (_request, body, done) => done(null, body),
    );
    scope.post(
      '/v1/traces',
      {
        config: { contentTypes: [PROTOBUF, JSON_TYPE] },
        bodyLimit: limits.MAX_OTLP_BODY_BYTES,
        schema: { hide: true },
      },
      async (request, reply) => {
        requireRole(request, 'editor');
        const experimentId = header(request.headers['x-mlflow-experiment-id']);
        if (experimentId === undefined)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            'the x-mlflow-experiment-id header is required: it names the experiment the spans belong to',
          );
        const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (!Buffer.isBuffer(request.body))
          throw new MobiusError('INVALID_ARGUMENT', 'Invalid OpenTelemetry format - empty body');
        const body = decompress(request.body, header(request.headers['content-encoding']));
        const spans = decodeExportRequest(body, type === JSON_TYPE);
        const traceIds = await ctx.tracking.traces.logSpans(experimentId, spans);
        // As on MLflow's server, a failed link is logged and the export still succeeds:
        // the spans are stored, and the client could not repair a link by resending them.
        const runId = header(request.headers['x-mlflow-run-id']);
        const finished = traceIds.filter((id) =>
          spans.some((s) => s.traceId === id && s.parentSpanId === null),
        );
        if (runId !== undefined && finished.length > 0) {
          try {
            await ctx.tracking.traces.linkToRun(finished, runId);
          } catch (err) {
            request.log.warn({ err, runId }, 'could not link OTLP traces to the run');
          }
        }
        return type === JSON_TYPE
          ? reply.type(JSON_TYPE).send({})
          : reply.type(PROTOBUF).send(Buffer.from(encodeExportResponse()));
      },
    );
  };
}

function header(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** The body without its Content-Encoding, never larger than OTLP's limit once inflated. */
function decompress(body: Buffer, encoding: string | undefined): Buffer {
  const options = { maxOutputLength: limits.MAX_OTLP_BODY_BYTES };
  const tooLarge = (cause: unknown) =>
    new MobiusError(
      'PAYLOAD_TOO_LARGE',
      `the decompressed OTLP body is larger than ${limits.MAX_OTLP_BODY_BYTES} bytes; export fewer spans per request`,
      { cause },
    );
  const isTooLarge = (err: unknown) => (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
  switch (encoding?.toLowerCase()) {
    case undefined:
    case 'identity':
      return body;
    case 'gzip':
      try {
        return gunzipSync(body, options);
      } catch (err) {
        if (isTooLarge(err)) throw tooLarge(err);
        throw new MobiusError('INVALID_ARGUMENT', 'Failed to decompress gzip payload', {
          cause: err,
        });
      }
    case 'deflate':
      try {
        return inflateSync(body, options);
      } catch (err) {
        if (isTooLarge(err)) throw tooLarge(err);
        try {
          // Some clients send a raw DEFLATE stream without the zlib header.
          return inflateRawSync(body, options);
        } catch (raw) {
          if (isTooLarge(raw)) throw tooLarge(raw);
          throw new MobiusError('INVALID_ARGUMENT', 'Failed to decompress deflate payload', {
            cause: raw,
          });
        }
      }
    default:
      throw new MobiusError('INVALID_ARGUMENT', `Unsupported Content-Encoding: ${encoding}`);
  }
}
