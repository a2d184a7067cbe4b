/** tracking/traces: MLflow 3's GenAI traces — infos, tags, metadata and spans (OTLP in). */
export {
  TraceService,
  TRACE_KEYS,
  TRACE_NAME_TAG,
  traceArtifactLocation,
} from './trace-service.js';
export type {
  Trace,
  TraceInfo,
  StartTraceInput,
  SearchTracesInput,
  DeleteTracesInput,
} from './trace-service.js';
export { decodeExportRequest, encodeExportResponse } from './otlp.js';
export type { IncomingSpan } from './otlp.js';
export { attributeValue, base64ToHex, hexToBase64, SPAN_ATTRIBUTES } from './span.js';
export type { SpanDict, SpanEvent, SpanStatusCode } from './span.js';
export { parseTraceFilter, parseTraceOrderBy } from './trace-filter.js';
