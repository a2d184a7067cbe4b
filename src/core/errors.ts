/**
 * One error root for all of Mobius, with a closed set of string codes.
 *
 * Codes follow gRPC's canonical set (as tRPC and Temporal do); HTTP statuses come from
 * the single table below, never from ad-hoc numbers at the throw site. Two transport
 * codes (PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE) exist because HTTP clients and
 * proxies act on 413/415 specifically, and folding them into INVALID_ARGUMENT would
 * lose that.
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'CONFLICT',
  'PERMISSION_DENIED',
  'UNAUTHENTICATED',
  'RESOURCE_EXHAUSTED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

/** One of the closed set of error codes. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The one table from error code to HTTP status. */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RESOURCE_EXHAUSTED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

/** The JSON body every error is sent as. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * The error every Mobius layer throws. `message` is written for the person who reads it:
 * it says what was wrong and, where possible, what to do instead.
 *
 * @example
 * throw new MobiusError('NOT_FOUND', `experiment '${name}' does not exist`);
 */
export class MobiusError extends Error {
  override readonly name = 'MobiusError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /** The HTTP status this error is sent with. */
  get status(): number {
    return HTTP_STATUS[this.code];
  }

  /** The `{code, message, details?}` body. */
  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/**
 * True for a MobiusError, also one from another copy of this module: checks shape, not
 * `instanceof`, which breaks across duplicated packages.
 */
export function isMobiusError(value: unknown): value is MobiusError {
  if (!(value instanceof Error) || value.name !== 'MobiusError') return false;
  const code: unknown = (value as { code?: unknown }).code;
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);
}

/** Any thrown value as a MobiusError; unknown throws become INTERNAL with the cause kept. */
export function toMobiusError(value: unknown): MobiusError {
  if (isMobiusError(value)) return value;
  return new MobiusError('INTERNAL', 'internal error: the server failed unexpectedly', {
    cause: value,
  });
}
