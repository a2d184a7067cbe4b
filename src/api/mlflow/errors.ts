/**
 * MLflow's error shape: `{error_code, message}` with the status codes its clients act on
 * (mlflow/protos/databricks.proto and server/handlers.py). Its Python client retries
 * 429 and 5xx, and maps RESOURCE_DOES_NOT_EXIST to its own "not found" exceptions.
 */
import type { ErrorCode, MobiusError } from '../../core/index.js';

const MLFLOW_CODES: Record<ErrorCode, [string, number]> = {
  INVALID_ARGUMENT: ['INVALID_PARAMETER_VALUE', 400],
  CONFLICT: ['INVALID_PARAMETER_VALUE', 400],
  NOT_FOUND: ['RESOURCE_DOES_NOT_EXIST', 404],
  ALREADY_EXISTS: ['RESOURCE_ALREADY_EXISTS', 400],
  PERMISSION_DENIED: ['PERMISSION_DENIED', 403],
  UNAUTHENTICATED: ['UNAUTHENTICATED', 401],
  RESOURCE_EXHAUSTED: ['REQUEST_LIMIT_EXCEEDED', 429],
  PAYLOAD_TOO_LARGE: ['BAD_REQUEST', 413],
  UNSUPPORTED_MEDIA_TYPE: ['BAD_REQUEST', 415],
  UNAVAILABLE: ['TEMPORARILY_UNAVAILABLE', 503],
  INTERNAL: ['INTERNAL_ERROR', 500],
};

/** URL prefixes answered in MLflow's protocol (and so with MLflow's error shape). */
export const MLFLOW_PREFIXES = ['/api/2.0/mlflow/', '/ajax-api/2.0/mlflow/'] as const;

/** Prefixes of MLflow 3's own endpoints (evaluation datasets), which MLflow serves only there. */
export const MLFLOW_V3_PREFIXES = ['/api/3.0/mlflow/', '/ajax-api/3.0/mlflow/'] as const;

/**
 * True when `url` belongs to the MLflow protocol (tracking, registry or artifact proxy,
 * and MLflow 3's `/api/3.0/mlflow/…` routes, so a client asking for one Mobius does not
 * serve hears ENDPOINT_NOT_FOUND in MLflow's shape), including the UI's download routes
 * MLflow serves at the root (`/get-artifact`, `/model-versions/get-artifact`).
 */
export function isMlflowUrl(raw: string): boolean {
  // Routes are matched with repeated slashes collapsed (MLflow's UI and tests send
  // `//model-versions/get-artifact`), so the error shape must follow the same URL.
  const url = raw.replace(/^\/{2,}/, '/');
  return (
    /^\/(ajax-)?api\/[23]\.0\/mlflow(-artifacts)?\//.test(url) ||
    /^\/v1\/traces(\?|$)/.test(url) ||
    /^\/(model-versions\/)?get-artifact(\?|$)/.test(url)
  );
}

/** The status and `{error_code, message}` body MLflow would send for this error. */
export function toMlflowError(error: MobiusError): {
  status: number;
  body: { error_code: string; message: string };
} {
  const [code, status] = MLFLOW_CODES[error.code];
  return { status, body: { error_code: code, message: error.message } };
}
