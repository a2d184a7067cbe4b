/**
 * Decodes OTLP/HTTP trace exports (`ExportTraceServiceRequest`, protobuf or OTLP JSON)
 * into MLflow span dicts, with protobufjs over the message definitions of
 * opentelemetry-proto (github.com/open-telemetry/opentelemetry-proto, Apache-2.0,
 * `collector/trace/v1`, `trace/v1`, `common/v1`, `resource/v1`): only the messages a
 * trace export carries, field numbers as published.
 *
 * What MLflow's server does on ingest is kept: attribute values are stored as JSON text,
 * and `mlflow.traceRequestId` is set from the OTLP trace id rather than trusted from the
 * client (mlflow/entities/span.py `from_otel_proto`).
 */
import protobuf from 'protobufjs';
import { MobiusError, limits } from '../../core/index.js';
import {
  PyInt,
  SPAN_ATTRIBUTES,
  hexToBase64,
  mlflowTraceId,
  pyJson,
  type SpanDict,
  type SpanEvent,
  type SpanStatusCode,
} from './span.js';

const OTLP_TRACE_PROTO = `
syntax = "proto3";
package opentelemetry.proto;
message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message Status { string message = 2; int32 code = 3; }
message Event {
  fixed64 time_unix_nano = 1;
  string name = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}
message Link {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  repeated KeyValue attributes = 4;
  uint32 dropped_attributes_count = 5;
  fixed32 flags = 6;
}
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  fixed32 flags = 16;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10;
  repeated Event events = 11;
  uint32 dropped_events_count = 12;
  repeated Link links = 13;
  uint32 dropped_links_count = 14;
  Status status = 15;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
`;

const root = protobuf.parse(OTLP_TRACE_PROTO, { keepCase: true }).root;
const ExportRequest = root.lookupType('opentelemetry.proto.ExportTraceServiceRequest');
const ExportResponse = root.lookupType('opentelemetry.proto.ExportTraceServiceResponse');

/** The plain object protobufjs gives for an AnyValue (longs as strings, bytes as base64). */
interface AnyValueObject {
  value?: string;
  string_value?: string;
  bool_value?: boolean;
  int_value?: string;
  double_value?: number;
  array_value?: { values?: AnyValueObject[] };
  kvlist_value?: { values?: KeyValueObject[] };
  bytes_value?: string;
}
interface KeyValueObject {
  key?: string;
  value?: AnyValueObject;
}
interface SpanObject {
  trace_id?: string;
  span_id?: string;
  parent_span_id?: string;
  name?: string;
  start_time_unix_nano?: string;
  end_time_unix_nano?: string;
  attributes?: KeyValueObject[];
  events?: { time_unix_nano?: string; name?: string; attributes?: KeyValueObject[] }[];
  status?: { message?: string; code?: number };
}
interface RequestObject {
  resource_spans?: {
    resource?: { attributes?: KeyValueObject[] };
    scope_spans?: { spans?: SpanObject[] }[];
  }[];
}

/** A decoded span, ready to store: its MLflow trace id, hex ids and MLflow span dict. */
export interface IncomingSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  dict: SpanDict;
  /** Attributes of the resource that sent it (service.name, …), as plain values. */
  resource: Record<string, unknown>;
}

/** The body of a successful export answer (an empty ExportTraceServiceResponse). */
export function encodeExportResponse(): Uint8Array {
  return ExportResponse.encode(ExportResponse.create({})).finish();
}

/**
 * Decodes an OTLP trace export. `json` is OTLP's JSON encoding (camelCase names, hex
 * ids); anything else is the protobuf encoding. INVALID_ARGUMENT for a body that is not
 * an export request, for spans without valid ids, or for more spans than one request
 * may carry — nothing is decoded half-way.
 */
export function decodeExportRequest(body: Uint8Array | string, json: boolean): IncomingSpan[] {
  let request: RequestObject;
  try {
    const message = json
      ? ExportRequest.fromObject(fromOtlpJson(JSON.parse(String(body))) as Record<string, unknown>)
      : ExportRequest.decode(body instanceof Uint8Array ? body : Buffer.from(body));
    request = ExportRequest.toObject(message, {
      longs: String,
      bytes: String,
      enums: Number,
      oneofs: true,
    });
  } catch (cause) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `Invalid OpenTelemetry format: the body is not an OTLP ExportTraceServiceRequest (${(cause as Error).message})`,
      { cause },
    );
  }
  const spans: IncomingSpan[] = [];
  for (const rs of request.resource_spans ?? []) {
    const resource = Object.fromEntries(
      (rs.resource?.attributes ?? []).map((kv) => [kv.key ?? '', plainValue(kv.value)]),
    );
    for (const ss of rs.scope_spans ?? []) {
      for (const span of ss.spans ?? []) {
        if (spans.length >= limits.MAX_SPANS_PER_EXPORT)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `an OTLP export may carry at most ${limits.MAX_SPANS_PER_EXPORT} spans; send them in smaller batches`,
          );
        spans.push(toIncoming(span, spans.length, resource));
      }
    }
  }
  if (spans.length === 0)
    throw new MobiusError('INVALID_ARGUMENT', 'Invalid OpenTelemetry format - no spans found');
  return spans;
}

const STATUS_CODES: Record<number, SpanStatusCode> = {
  0: 'STATUS_CODE_UNSET',
  1: 'STATUS_CODE_OK',
  2: 'STATUS_CODE_ERROR',
};

function toIncoming(span: SpanObject, index: number, resource: Record<string, unknown>) {
  const bad = (problem: string) =>
    new MobiusError('INVALID_ARGUMENT', `span ${index} (${span.name ?? 'unnamed'}): ${problem}`);
  const traceHex = idHex(span.trace_id, 16);
  const spanHex = idHex(span.span_id, 8);
  if (traceHex === undefined) throw bad('trace_id must be 16 bytes');
  if (spanHex === undefined) throw bad('span_id must be 8 bytes');
  const parentHex =
    span.parent_span_id === undefined || span.parent_span_id === ''
      ? null
      : idHex(span.parent_span_id, 8);
  if (parentHex === undefined) throw bad('parent_span_id must be 8 bytes or empty');
  const name = span.name ?? '';
  if (name.length > limits.MAX_SPAN_NAME_LENGTH)
    throw bad(`name is longer than ${limits.MAX_SPAN_NAME_LENGTH} characters`);
  const start = span.start_time_unix_nano ?? '0';
  const end = span.end_time_unix_nano;
  const traceId = mlflowTraceId(traceHex);
  const attributes: Record<string, string> = {};
  for (const kv of span.attributes ?? []) attributes[kv.key ?? ''] = pyJson(pyValue(kv.value));
  attributes[SPAN_ATTRIBUTES.requestId] = pyJson(traceId);
  const events: SpanEvent[] = (span.events ?? []).map((e) => ({
    name: e.name ?? '',
    time_unix_nano: e.time_unix_nano ?? '0',
    attributes: Object.fromEntries(
      (e.attributes ?? []).map((kv) => [kv.key ?? '', plainValue(kv.value)]),
    ),
  }));
  const dict: SpanDict = {
    trace_id: span.trace_id!,
    span_id: span.span_id!,
    parent_span_id: parentHex === null ? null : hexToBase64(parentHex),
    name,
    start_time_unix_nano: start,
    end_time_unix_nano: end === undefined || end === '0' ? null : end,
    events,
    status: {
      code: STATUS_CODES[span.status?.code ?? 0] ?? 'STATUS_CODE_UNSET',
      message: span.status?.message ?? '',
    },
    attributes,
    // Links are not kept yet (MLflow's tracer does not emit them); see docs/mlflow-compat.md.
    links: [],
  };
  return { traceId, spanId: spanHex, parentSpanId: parentHex, dict, resource };
}

/** Hex of a base64 id of exactly `bytes` bytes; undefined when it is not that. */
function idHex(b64: string | undefined, bytes: number): string | undefined {
  if (b64 === undefined) return undefined;
  const buf = Buffer.from(b64, 'base64');
  if (buf.length !== bytes || buf.every((b) => b === 0)) return undefined;
  return buf.toString('hex');
}

/** An AnyValue as pyJson should write it (int64 kept exact). */
function pyValue(v: AnyValueObject | undefined): unknown {
  switch (v?.value) {
    case undefined:
      return null;
    case 'string_value':
      return v.string_value ?? '';
    case 'bool_value':
      return v.bool_value ?? false;
    case 'int_value':
      return new PyInt(v.int_value ?? '0');
    case 'double_value':
      return v.double_value ?? 0;
    case 'array_value':
      return (v.array_value?.values ?? []).map(pyValue);
    case 'kvlist_value':
      return Object.fromEntries(
        (v.kvlist_value?.values ?? []).map((kv) => [kv.key ?? '', pyValue(kv.value)]),
      );
    case 'bytes_value':
      return v.bytes_value ?? '';
    default:
      return null;
  }
}

/** An AnyValue as a plain JSON value (event and resource attributes). */
function plainValue(v: AnyValueObject | undefined): unknown {
  const value = pyValue(v);
  return toPlain(value);
}

function toPlain(value: unknown): unknown {
  if (value instanceof PyInt) return value.toPlain();
  if (Array.isArray(value)) return value.map(toPlain);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlain(v)]));
  return value;
}

/**
 * OTLP JSON → the object protobufjs reads: camelCase names to the proto's snake_case, and
 * hex trace/span ids to base64 (protobuf's JSON mapping for bytes), as the OTLP spec's
 * JSON encoding differs from protobuf's there.
 */
function fromOtlpJson(value: unknown, key?: string): unknown {
  if (Array.isArray(value)) return value.map((v) => fromOtlpJson(v, key));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => {
        const snake = k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
        return [snake, fromOtlpJson(v, snake)];
      }),
    );
  }
  if (
    typeof value === 'string' &&
    (key === 'trace_id' || key === 'span_id' || key === 'parent_span_id')
  ) {
    if (!/^([0-9a-fA-F]{2})*$/.test(value))
      throw new Error(`${key} '${value.slice(0, 40)}' is not hex`);
    return hexToBase64(value);
  }
  return value;
}
