import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeExportRequest, encodeExportResponse } from './otlp.js';

// An independent encoder for test requests: protobufjs' reflection over the same field
// numbers, built here from a JSON descriptor (so a typo in the decoder's schema text
// would not be repeated on both sides).
const kv = { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } };
const root = protobuf.Root.fromJSON({
  nested: {
    AnyValue: {
      oneofs: { value: { oneof: ['s', 'b', 'i', 'd', 'a', 'kv'] } },
      fields: {
        s: { type: 'string', id: 1 },
        b: { type: 'bool', id: 2 },
        i: { type: 'int64', id: 3 },
        d: { type: 'double', id: 4 },
        a: { type: 'ArrayValue', id: 5 },
        kv: { type: 'KeyValueList', id: 6 },
      },
    },
    ArrayValue: { fields: { values: { rule: 'repeated', type: 'AnyValue', id: 1 } } },
    KeyValueList: { fields: { values: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
    KeyValue: kv,
    Status: { fields: { message: { type: 'string', id: 2 }, code: { type: 'int32', id: 3 } } },
    Span: {
      fields: {
        traceId: { type: 'bytes', id: 1 },
        spanId: { type: 'bytes', id: 2 },
        parentSpanId: { type: 'bytes', id: 4 },
        name: { type: 'string', id: 5 },
        start: { type: 'fixed64', id: 7 },
        end: { type: 'fixed64', id: 8 },
        attributes: { rule: 'repeated', type: 'KeyValue', id: 9 },
        status: { type: 'Status', id: 15 },
      },
    },
    ScopeSpans: { fields: { spans: { rule: 'repeated', type: 'Span', id: 2 } } },
    Resource: { fields: { attributes: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
    ResourceSpans: {
      fields: {
        resource: { type: 'Resource', id: 1 },
        scopeSpans: { rule: 'repeated', type: 'ScopeSpans', id: 2 },
      },
    },
    Request: { fields: { resourceSpans: { rule: 'repeated', type: 'ResourceSpans', id: 1 } } },
  },
});
const Request = root.lookupType('Request');

const TRACE = '0123456789abcdef0123456789abcdef';
const ROOT = '1111111111111111';
const CHILD = '2222222222222222';

/** Encodes one request with the given spans. */
function encode(spans: object[], resource: object[] = []): Uint8Array {
  return Request.encode(
    Request.fromObject({
      resourceSpans: [{ resource: { attributes: resource }, scopeSpans: [{ spans }] }],
    }),
  ).finish();
}

const span = (extra: object = {}) => ({
  traceId: Buffer.from(TRACE, 'hex'),
  spanId: Buffer.from(ROOT, 'hex'),
  name: 'predict',
  start: '1700000000123456789',
  end: '1700000001123456789',
  status: { code: 1 },
  ...extra,
});

describe('decodeExportRequest', () => {
  it('turns OTLP spans into MLflow span dicts, keeping nanoseconds exact', () => {
    const [s] = decodeExportRequest(
      encode([
        span({
          attributes: [
            { key: 'fruit', value: { s: 'apple' } },
            { key: 'n', value: { i: '9007199254740993' } },
            { key: 'x', value: { d: 1 } },
            { key: 'ok', value: { b: true } },
            { key: 'list', value: { a: { values: [{ s: 'a' }, { i: 2 }] } } },
            { key: 'obj', value: { kv: { values: [{ key: 'k', value: { d: 0.5 } }] } } },
          ],
        }),
      ]),
      false,
    );
    expect(s!.traceId).toBe(`tr-${TRACE}`);
    expect(s!.spanId).toBe(ROOT);
    expect(s!.parentSpanId).toBeNull();
    expect(s!.dict.start_time_unix_nano).toBe('1700000000123456789');
    expect(s!.dict.end_time_unix_nano).toBe('1700000001123456789');
    expect(s!.dict.status.code).toBe('STATUS_CODE_OK');
    expect(s!.dict.trace_id).toBe(Buffer.from(TRACE, 'hex').toString('base64'));
    // Values dumped as Python's json.dumps does, as MLflow stores them.
    expect(s!.dict.attributes).toEqual({
      fruit: '"apple"',
      n: '9007199254740993',
      x: '1.0',
      ok: 'true',
      list: '["a", 2]',
      obj: '{"k": 0.5}',
      'mlflow.traceRequestId': `"tr-${TRACE}"`,
    });
  });

  it('sets mlflow.traceRequestId from the trace id, not from what the client sent', () => {
    const [s] = decodeExportRequest(
      encode([
        span({ attributes: [{ key: 'mlflow.traceRequestId', value: { s: '"tr-other"' } }] }),
      ]),
      false,
    );
    expect(s!.dict.attributes['mlflow.traceRequestId']).toBe(`"tr-${TRACE}"`);
  });

  it('keeps parents and resource attributes', () => {
    const spans = decodeExportRequest(
      encode(
        [
          span(),
          span({ spanId: Buffer.from(CHILD, 'hex'), parentSpanId: Buffer.from(ROOT, 'hex') }),
        ],
        [{ key: 'service.name', value: { s: 'shop' } }],
      ),
      false,
    );
    expect(spans.map((s) => s.parentSpanId)).toEqual([null, ROOT]);
    expect(spans[1]!.resource).toEqual({ 'service.name': 'shop' });
  });

  it('reads OTLP JSON (camelCase names, hex ids)', () => {
    const body = JSON.stringify({
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: TRACE,
                  spanId: ROOT,
                  name: 'json-span',
                  startTimeUnixNano: '1700000000000000000',
                  attributes: [{ key: 'a', value: { stringValue: 'b' } }],
                },
              ],
            },
          ],
        },
      ],
    });
    const [s] = decodeExportRequest(body, true);
    expect(s!.traceId).toBe(`tr-${TRACE}`);
    expect(s!.dict.name).toBe('json-span');
    expect(s!.dict.end_time_unix_nano).toBeNull();
    expect(s!.dict.attributes.a).toBe('"b"');
  });

  it('refuses a body that is not an export request', () => {
    expect(() => decodeExportRequest(Buffer.from([0x0a, 0xff, 0xff, 0xff]), false)).toThrow(
      /Invalid OpenTelemetry format/,
    );
    expect(() => decodeExportRequest('{not json', true)).toThrow(/Invalid OpenTelemetry format/);
    expect(() => decodeExportRequest(gzipSync('x'), false)).toThrow(/Invalid OpenTelemetry/);
  });

  it('refuses an export without spans', () => {
    expect(() => decodeExportRequest(new Uint8Array(), false)).toThrow(/no spans found/);
  });

  it('refuses spans with missing or malformed ids', () => {
    expect(() => decodeExportRequest(encode([span({ traceId: Buffer.alloc(0) })]), false)).toThrow(
      /trace_id must be 16 bytes/,
    );
    expect(() =>
      decodeExportRequest(encode([span({ spanId: Buffer.from('abcd', 'hex') })]), false),
    ).toThrow(/span_id must be 8 bytes/);
    expect(() =>
      decodeExportRequest(encode([span({ parentSpanId: Buffer.from('ab', 'hex') })]), false),
    ).toThrow(/parent_span_id/);
  });

  it('answers with an empty ExportTraceServiceResponse', () => {
    expect(encodeExportResponse()).toHaveLength(0);
  });
});
