/**
 * Traces in MLflow's wire shapes (mlflow/protos/service.proto): TraceInfoV3 (with
 * protobuf-JSON Timestamp and Duration strings and map fields as objects), MLflow 2's
 * TraceInfo, and spans as OpenTelemetry's proto Span in protobuf JSON (what MLflow's
 * GetTrace answers with, `Trace.to_proto`).
 */
import { MobiusError } from '../../core/index.js';
import { attributeValue, type SpanDict, type TraceInfo } from '../../tracking/index.js';
import type { TraceState } from '../../store/index.js';
import { invalidValue, keyValues } from './wire.js';

/** A protobuf-JSON Timestamp (RFC 3339, UTC) of epoch milliseconds. */
export function timestampJson(ms: number): string {
  return new Date(ms).toISOString();
}

/** A protobuf-JSON Duration ("2s", "1.500s") of milliseconds. */
export function durationJson(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  const frac = abs % 1000;
  return `${sign}${Math.floor(abs / 1000)}${frac === 0 ? '' : `.${String(frac).padStart(3, '0')}`}s`;
}

const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

/** Epoch milliseconds of a protobuf-JSON Timestamp; INVALID_ARGUMENT naming the field otherwise. */
export function parseTimestamp(value: unknown, field: string): number {
  const m = typeof value === 'string' ? TIMESTAMP.exec(value) : null;
  const base = m === null ? NaN : Date.parse(`${m[1]}${m[3]}`);
  if (m === null || Number.isNaN(base))
    throw invalidValue(field, value, 'an RFC 3339 timestamp such as "2025-01-01T00:00:00.000Z"');
  return base + Math.floor(Number(`0.${m[2] ?? '0'}`) * 1000);
}

/** Milliseconds of a protobuf-JSON Duration ("2s", "0.250s"). */
export function parseDuration(value: unknown, field: string): number {
  const m = typeof value === 'string' ? /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(value) : null;
  if (m === null) throw invalidValue(field, value, 'a duration such as "1.5s"');
  const ms = Number(m[2]) * 1000 + Math.floor(Number(`0.${m[3] ?? '0'}`) * 1000);
  return m[1] === '-' ? -ms : ms;
}

const V3_STATES: Record<string, TraceState> = {
  STATE_UNSPECIFIED: 'STATE_UNSPECIFIED',
  OK: 'OK',
  ERROR: 'ERROR',
  IN_PROGRESS: 'IN_PROGRESS',
  '0': 'STATE_UNSPECIFIED',
  '1': 'OK',
  '2': 'ERROR',
  '3': 'IN_PROGRESS',
};
const V2_STATUSES: Record<string, TraceState> = {
  ...V3_STATES,
  TRACE_STATUS_UNSPECIFIED: 'STATE_UNSPECIFIED',
};

/** A TraceInfoV3.State (or MLflow 2 TraceStatus when `v2`) by name or number. */
export function parseTraceState(value: unknown, field: string, v2 = false): TraceState {
  if (value === undefined || value === null || value === '') return 'STATE_UNSPECIFIED';
  const state =
    typeof value === 'string' || typeof value === 'number'
      ? (v2 ? V2_STATUSES : V3_STATES)[String(value)]
      : undefined;
  if (state === undefined)
    throw invalidValue(field, value, v2 ? 'OK, ERROR or IN_PROGRESS' : 'OK, ERROR or IN_PROGRESS');
  return state;
}

/** A protobuf map field (object of strings) from a request. */
export function parseStringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw invalidValue(field, value, 'an object of string values');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw invalidValue(`${field}.${k}`, v, 'a string');
    out[k] = v;
  }
  return out;
}

/** A trace's info as MLflow's TraceInfoV3 message. */
export function traceInfoV3Json(info: TraceInfo) {
  return {
    trace_id: info.traceId,
    ...(info.clientRequestId === null ? {} : { client_request_id: info.clientRequestId }),
    trace_location: {
      type: 'MLFLOW_EXPERIMENT',
      mlflow_experiment: { experiment_id: info.experimentId },
    },
    ...(info.requestPreview === null ? {} : { request_preview: info.requestPreview }),
    ...(info.responsePreview === null ? {} : { response_preview: info.responsePreview }),
    request_time: timestampJson(info.requestTime),
    ...(info.executionDuration === null
      ? {}
      : { execution_duration: durationJson(info.executionDuration) }),
    state: info.state,
    trace_metadata: info.metadata,
    tags: info.tags,
    assessments: [],
  };
}

/** A trace's info as MLflow 2's TraceInfo message. */
export function traceInfoV2Json(info: TraceInfo) {
  return {
    request_id: info.traceId,
    experiment_id: info.experimentId,
    timestamp_ms: info.requestTime,
    ...(info.executionDuration === null ? {} : { execution_time_ms: info.executionDuration }),
    status: info.state === 'STATE_UNSPECIFIED' ? 'TRACE_STATUS_UNSPECIFIED' : info.state,
    request_metadata: keyValues(info.metadata),
    tags: keyValues(info.tags),
  };
}

/** A stored span as OpenTelemetry's proto Span in protobuf JSON. */
export function otelSpanJson(span: SpanDict) {
  return {
    trace_id: span.trace_id,
    span_id: span.span_id,
    ...(span.parent_span_id === null ? {} : { parent_span_id: span.parent_span_id }),
    name: span.name,
    start_time_unix_nano: span.start_time_unix_nano,
    ...(span.end_time_unix_nano === null ? {} : { end_time_unix_nano: span.end_time_unix_nano }),
    attributes: Object.entries(span.attributes).map(([key, text]) => ({
      key,
      value: anyValueJson(attributeValue(text), text),
    })),
    events: span.events.map((e) => ({
      time_unix_nano: e.time_unix_nano,
      name: e.name,
      attributes: Object.entries(e.attributes).map(([key, v]) => ({ key, value: anyValueJson(v) })),
    })),
    status: {
      code: span.status.code,
      ...(span.status.message === '' ? {} : { message: span.status.message }),
    },
  };
}

/**
 * A JSON value as an OTel AnyValue. A top-level number keeps the int/double distinction
 * its JSON text makes (`1` vs `1.0`); inside lists and objects integers read as ints.
 */
function anyValueJson(value: unknown, text?: string): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value === 'string') return { string_value: value };
  if (typeof value === 'boolean') return { bool_value: value };
  if (typeof value === 'number') {
    const isInt = text === undefined ? Number.isInteger(value) : /^-?\d+$/.test(text.trim());
    return isInt && Number.isSafeInteger(value)
      ? { int_value: String(value) }
      : { double_value: Number.isFinite(value) ? value : String(value) };
  }
  if (Array.isArray(value)) return { array_value: { values: value.map((v) => anyValueJson(v)) } };
  if (typeof value === 'object')
    return {
      kvlist_value: {
        values: Object.entries(value as Record<string, unknown>).map(([k, v]) => ({
          key: k,
          value: anyValueJson(v),
        })),
      },
    };
  throw new MobiusError('INTERNAL', `cannot write ${typeof value} as an OTel AnyValue`);
}
