/**
 * Spans as Mobius stores them: MLflow's span dict (`mlflow.entities.Span.to_dict`), the
 * shape of a trace's `traces.json` artifact and of MLflow's own span rows. Attribute
 * values are JSON text, as MLflow's tracer writes them (`"\"apple\""` for the string
 * apple), and nanosecond times are decimal strings: 2^53 ns is only 104 days, so a
 * JavaScript number cannot hold an epoch time in nanoseconds exactly.
 */

/** OpenTelemetry's span status codes by their proto names. */
export type SpanStatusCode = 'STATUS_CODE_UNSET' | 'STATUS_CODE_OK' | 'STATUS_CODE_ERROR';

/** One span event: attribute values are plain JSON values (MLflow does not dump these). */
export interface SpanEvent {
  name: string;
  time_unix_nano: string;
  attributes: Record<string, unknown>;
}

/** MLflow's span dict. Ids are base64 of their bytes, as MLflow's `to_dict` writes them. */
export interface SpanDict {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  start_time_unix_nano: string;
  end_time_unix_nano: string | null;
  events: SpanEvent[];
  status: { code: SpanStatusCode; message: string };
  attributes: Record<string, string>;
  links: unknown[];
}

/** Span attributes MLflow's tracer gives meaning to. */
export const SPAN_ATTRIBUTES = {
  requestId: 'mlflow.traceRequestId',
  spanType: 'mlflow.spanType',
  inputs: 'mlflow.spanInputs',
  outputs: 'mlflow.spanOutputs',
} as const;

/** An MLflow trace id from OpenTelemetry's 32-hex trace id: `tr-<hex>`. */
export function mlflowTraceId(otelTraceIdHex: string): string {
  return `tr-${otelTraceIdHex}`;
}

/** Hex of base64 bytes (span and trace ids). */
export function base64ToHex(b64: string): string {
  return Buffer.from(b64, 'base64').toString('hex');
}

/** Base64 of hex bytes. */
export function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

/** Milliseconds of a decimal nanosecond string (floor), exact for any epoch time. */
export function nanosToMillis(nanos: string): number {
  return Number(BigInt(nanos) / 1_000_000n);
}

/**
 * A span attribute's value as MLflow reads it: the JSON it holds, or the raw text when it
 * is not JSON (a span written by a tracer that does not dump its attributes).
 */
export function attributeValue(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Writes a value as Python's `json.dumps` does (", " and ": " separators, floats with a
 * fraction), the form MLflow's tracer stores attribute values in, so a span that went
 * through Mobius reads back byte-for-byte as MLflow's own server would return it.
 */
export function pyJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return pyFloat(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof PyInt) return value.text;
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  if (typeof value === 'object') {
    const items = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`,
    );
    return `{${items.join(', ')}}`;
  }
  return JSON.stringify(typeof value === 'symbol' ? value.toString() : 'unsupported value');
}

/** An integer as OTLP sent it (int64, exact as decimal text), so pyJson writes no fraction. */
export class PyInt {
  constructor(readonly text: string) {}
  /** A JavaScript number when exact, the decimal text otherwise. */
  toPlain(): number | string {
    const n = Number(this.text);
    return Number.isSafeInteger(n) ? n : this.text;
  }
}

/** A double as Python's repr writes it (1.0, not 1; NaN and Infinity as Python does). */
function pyFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return n.toFixed(1);
  return String(n);
}
