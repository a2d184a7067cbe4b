/**
 * Every failure leaves the server as `{code, message, details?}` with the status from
 * core's one code→HTTP table. Fastify's own errors (body too large, bad JSON, schema
 * validation) are translated here so clients see one shape.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { MobiusError, isMobiusError, toMobiusError, type ErrorCode } from '../core/index.js';
import { isMlflowUrl, toMlflowError } from './mlflow/errors.js';

/** Fastify's error codes that mean "your request was wrong", and what we call them. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_ARGUMENT',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_ARGUMENT',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_ARGUMENT',
  FST_ERR_VALIDATION: 'INVALID_ARGUMENT',
};

/** Translates any thrown value into a MobiusError fit to send. */
export function toHttpError(error: unknown, bodyLimit: number): MobiusError {
  if (isMobiusError(error)) return error;
  const fastifyError = error as Partial<FastifyError> & { validation?: unknown };
  if (fastifyError.validation !== undefined) {
    return new MobiusError(
      'INVALID_ARGUMENT',
      `invalid request: ${fastifyError.message ?? 'does not match the schema'}`,
    );
  }
  const code = fastifyError.code === undefined ? undefined : FASTIFY_CODES[fastifyError.code];
  if (code === 'PAYLOAD_TOO_LARGE') {
    return new MobiusError(
      code,
      `request body is larger than the ${bodyLimit}-byte limit; send less per request (batch it) or upload files as artifacts`,
    );
  }
  if (code === 'UNSUPPORTED_MEDIA_TYPE') {
    return new MobiusError(
      code,
      'unsupported Content-Type: send JSON with Content-Type: application/json',
    );
  }
  if (code !== undefined) return new MobiusError(code, fastifyError.message ?? 'invalid request');
  // Errors thrown while parsing (e.g. a JSON SyntaxError) carry a 4xx statusCode.
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new MobiusError(
      status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INVALID_ARGUMENT',
      `invalid request: ${fastifyError.message ?? 'bad input'}`,
    );
  }
  return toMobiusError(error);
}

/** Whether `url` is an Open Inference Protocol route (`/v2/…`). */
function isOipUrl(url: string): boolean {
  return url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?');
}

/** Installs the error and not-found handlers. */
export function registerErrorHandlers(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((error, request, reply) => {
    const mobiusError = toHttpError(error, bodyLimit);
    if (mobiusError.code === 'INTERNAL') {
      request.log.error({ err: error }, 'request failed');
    }
    if (mobiusError.code === 'UNAUTHENTICATED') {
      void reply.header('www-authenticate', 'Bearer realm="mobius"');
    }
    if (isMlflowUrl(request.url)) {
      const { status, body } = toMlflowError(mobiusError);
      return reply.status(status).send(body);
    }
    if (isOipUrl(request.url)) {
      // The Open Inference Protocol's error body is {"error": "<message>"}; KServe and
      // Triton clients read that key. Mobius' code and message ride along.
      return reply
        .status(mobiusError.status)
        .send({ error: mobiusError.message, ...mobiusError.toBody() });
    }
    return reply.status(mobiusError.status).send(mobiusError.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    if (isMlflowUrl(request.url)) {
      return reply.status(404).send({
        error_code: 'ENDPOINT_NOT_FOUND',
        message: `Mobius does not implement ${request.method} ${path} of the MLflow protocol yet`,
      });
    }
    const error = new MobiusError(
      'NOT_FOUND',
      `no route ${request.method} ${path}; see /api/v1/openapi.json`,
    );
    return reply.status(error.status).send(error.toBody());
  });
}
