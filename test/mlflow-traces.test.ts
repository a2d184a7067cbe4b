/**
 * MLflow's trace surface over HTTP on every backend in TEST_STORES: OTLP `/v1/traces`
 * (protobuf, JSON, gzip) merged with StartTraceV3, get/search/delete/tags, MLflow 2's
 * start/end, the UI's get-trace-artifact, `/version`, prompt-lab runs and the gateway
 * proxy's checks. Bad input — malformed protobuf, unknown experiments, oversize bodies —
 * gets a clear 4xx and leaves nothing stored.
 */
import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { limits } from '../src/core/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const V2 = '/api/2.0/mlflow';
const V3 = '/api/3.0/mlflow';
const AJAX = '/ajax-api/2.0/mlflow';

// A test-side encoder for ExportTraceServiceRequest (field numbers of opentelemetry-proto).
const root = protobuf.Root.fromJSON({
  nested: {
    AnyValue: { fields: { s: { type: 'string', id: 1 }, i: { type: 'int64', id: 3 } } },
    KeyValue: { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } },
    Status: { fields: { code: { type: 'int32', id: 3 } } },
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
    ResourceSpans: { fields: { scopeSpans: { rule: 'repeated', type: 'ScopeSpans', id: 2 } } },
    Request: { fields: { resourceSpans: { rule: 'repeated', type: 'ResourceSpans', id: 1 } } },
  },
});
const Request = root.lookupType('Request');

const hex = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');

/** An export of spans: [spanId, parentId | null, name, startMs, endMs | null]. */
function otlp(traceHex: string, spans: [number, number | null, string, number, number | null][]) {
  return Buffer.from(
    Request.encode(
      Request.fromObject({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: spans.map(([id, parent, name, start, end]) => ({
                  traceId: Buffer.from(traceHex, 'hex'),
                  spanId: Buffer.from(hex(id, 8), 'hex'),
                  ...(parent === null ? {} : { parentSpanId: Buffer.from(hex(parent, 8), 'hex') }),
                  name,
                  start: `${start}000000`,
                  ...(end === null ? {} : { end: `${end}000000` }),
                  status: { code: 1 },
                  attributes: [
                    { key: 'mlflow.spanType', value: { s: 'LLM' } },
                    { key: 'mlflow.spanInputs', value: { s: `{"q": "${name}?"}` } },
                    { key: 'tokens', value: { i: 42 } },
                  ],
                })),
              },
            ],
          },
        ],
      }),
    ).finish(),
  );
}

interface Json {
  [key: string]: unknown;
}

for (const backend of STORE_BACKENDS) {
  describe(`MLflow traces: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let exp: string;

    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
      exp = await t.ctx.tracking.experiments.create({ name: 'traces' });
    });
    afterAll(async () => {
      await app?.close();
      await t?.cleanup();
    });

    const call = async (
      method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
      url: string,
      body?: object,
    ) => {
      const res = await app.inject({
        method,
        url,
        ...(body === undefined ? {} : { payload: body }),
      });
      return { status: res.statusCode, body: res.json<Json>() };
    };
    const exportSpans = (body: Buffer, headers: Record<string, string> = {}) =>
      app.inject({
        method: 'POST',
        url: '/v1/traces',
        payload: body,
        headers: {
          'content-type': 'application/x-protobuf',
          'x-mlflow-experiment-id': exp,
          ...headers,
        },
      });
    const spanCount = async () =>
      Number(
        (
          await t.ctx.store.db
            .selectFrom('trace_span')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const traceCount = async () =>
      Number(
        (
          await t.ctx.store.db
            .selectFrom('trace_info')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    it('answers GET /version with the MLflow protocol version', async () => {
      const res = await app.inject({ method: 'GET', url: '/version' });
      expect(res.statusCode).toBe(200);
      expect(res.body).toMatch(/^3\.\d+\.\d+$/);
    });

    it('stores OTLP spans as they end and merges the finished trace into them', async () => {
      const trace = 'aa'.repeat(16);
      // The child ends first, then the root; the client registers the trace last.
      const child = await exportSpans(otlp(trace, [[2, 1, 'retrieve', 1_000_100, 1_000_400]]));
      expect(child.statusCode).toBe(200);
      expect(child.headers['content-type']).toBe('application/x-protobuf');
      const partial = await call(
        'GET',
        `${V3}/traces/get?trace_id=tr-${trace}&allow_partial=false`,
      );
      expect(partial.status).toBe(404);
      expect(partial.body.message).toMatch(/not fully exported/);
      expect(
        (await exportSpans(otlp(trace, [[1, null, 'agent', 1_000_000, 1_000_900]]))).statusCode,
      ).toBe(200);
      const started = await call('POST', `${V3}/traces`, {
        trace: {
          trace_info: {
            trace_id: `tr-${trace}`,
            trace_location: {
              type: 'MLFLOW_EXPERIMENT',
              mlflow_experiment: { experiment_id: exp },
            },
            request_time: '1970-01-01T00:16:40Z',
            execution_duration: '0.900s',
            state: 'OK',
            trace_metadata: { 'mlflow.trace.sizeStats': '{"num_spans": 2}' },
            tags: { 'mlflow.traceName': 'agent', team: 'search' },
          },
        },
      });
      expect(started.status).toBe(200);
      const info = (started.body.trace as { trace_info: Json }).trace_info;
      expect(info).toMatchObject({
        trace_id: `tr-${trace}`,
        request_time: '1970-01-01T00:16:40.000Z',
        execution_duration: '0.900s',
        state: 'OK',
        tags: {
          team: 'search',
          'mlflow.trace.spansLocation': 'TRACKING_STORE',
          'mlflow.artifactLocation': `mlflow-artifacts:/${exp}/traces/tr-${trace}/artifacts`,
        },
      });
      expect(info.request_preview).toBe('{"q": "agent?"}');

      const got = await call('GET', `${V3}/traces/get?trace_id=tr-${trace}`);
      expect(got.status).toBe(200);
      const spans = (got.body.trace as { spans: Json[] }).spans;
      expect(spans.map((s) => s.name)).toEqual(['agent', 'retrieve']);
      expect(spans[1]).toMatchObject({
        span_id: Buffer.from(hex(2, 8), 'hex').toString('base64'),
        parent_span_id: Buffer.from(hex(1, 8), 'hex').toString('base64'),
        start_time_unix_nano: '1000100000000',
        status: { code: 'STATUS_CODE_OK' },
      });
      expect(spans[1]!.attributes).toContainEqual({ key: 'tokens', value: { int_value: '42' } });
      expect(spans[1]!.attributes).toContainEqual({
        key: 'mlflow.spanType',
        value: { string_value: 'LLM' },
      });

      // The UI's download: MLflow's traces.json.
      const artifact = await app.inject({
        method: 'GET',
        url: `${AJAX}/get-trace-artifact?request_id=tr-${trace}`,
      });
      expect(artifact.statusCode).toBe(200);
      const data = JSON.parse(artifact.body) as { spans: Json[] };
      expect(data.spans).toHaveLength(2);
      expect((data.spans[0]!.attributes as Json)['mlflow.traceRequestId']).toBe(`"tr-${trace}"`);
    });

    it('searches traces by attributes, tags and spans, and pages them', async () => {
      for (let i = 0; i < 3; i++)
        await exportSpans(
          otlp(hex(0x100 + i, 16), [[1, null, `s${i}`, 2_000_000 + i, 2_000_010 + i]]),
        );
      const search = (body: object) =>
        call('POST', `${V3}/traces/search`, {
          locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: exp } }],
          ...body,
        });
      const page1 = await search({ filter: "span.name LIKE 's%'", max_results: 2 });
      expect(page1.status).toBe(200);
      const ids1 = (page1.body.traces as Json[]).map((x) => x.trace_id);
      expect(ids1).toEqual([`tr-${hex(0x102, 16)}`, `tr-${hex(0x101, 16)}`]);
      const page2 = await search({
        filter: "span.name LIKE 's%'",
        max_results: 2,
        page_token: page1.body.next_page_token,
      });
      expect((page2.body.traces as Json[]).map((x) => x.trace_id)).toEqual([
        `tr-${hex(0x100, 16)}`,
      ]);
      expect(page2.body.next_page_token).toBeUndefined();
      const byTag = await search({ filter: "tags.team = 'search' AND attributes.status = 'OK'" });
      expect((byTag.body.traces as Json[]).map((x) => x.trace_id)).toEqual([
        `tr-${'aa'.repeat(16)}`,
      ]);
      const bad = await search({ filter: "attributes.color = 'red'" });
      expect(bad.status).toBe(400);
      expect(bad.body.error_code).toBe('INVALID_PARAMETER_VALUE');
      const tooMany = await search({ max_results: limits.SEARCH_TRACES_MAX + 1 });
      expect(tooMany.status).toBe(400);
    });

    it("runs MLflow 2's start/end trace and its tag endpoints", async () => {
      const start = await call('POST', `${V2}/traces`, {
        experiment_id: exp,
        timestamp_ms: 1000,
        request_metadata: [{ key: 'm1', value: 'a' }],
        tags: [{ key: 't1', value: 'x' }],
      });
      expect(start.status).toBe(200);
      const v2 = start.body.trace_info as Json;
      expect(v2).toMatchObject({ experiment_id: exp, timestamp_ms: 1000, status: 'IN_PROGRESS' });
      expect(v2.execution_time_ms).toBeUndefined();
      const id = v2.request_id as string;
      const end = await call('PATCH', `${V2}/traces/${id}`, {
        timestamp_ms: 3000,
        status: 'OK',
        request_metadata: [{ key: 'm2', value: 'b' }],
        tags: [{ key: 't1', value: 'y' }],
      });
      expect(end.body.trace_info).toMatchObject({ execution_time_ms: 2000, status: 'OK' });
      expect((end.body.trace_info as Json).request_metadata).toEqual(
        expect.arrayContaining([
          { key: 'm1', value: 'a' },
          { key: 'm2', value: 'b' },
        ]),
      );
      expect(
        (await call('PATCH', `${V3}/traces/${id}/tags`, { key: 'k', value: 'v' })).status,
      ).toBe(200);
      const info = await call('GET', `${V3}/traces/${id}`);
      expect((info.body.trace as { trace_info: { tags: Json } }).trace_info.tags.k).toBe('v');
      expect((await call('DELETE', `${V2}/traces/${id}/tags`, { key: 'k' })).status).toBe(200);
      const again = await call('DELETE', `${V2}/traces/${id}/tags`, { key: 'k' });
      expect(again.status).toBe(404);
      const immutable = await call('PATCH', `${V3}/traces/${id}/tags`, {
        key: 'mlflow.artifactLocation',
        value: 'file:///etc',
      });
      expect(immutable.status).toBe(400);
      const missing = await call('GET', `${V2}/traces/tr-nope/info`);
      expect(missing.status).toBe(404);
      expect(missing.body).toEqual({
        error_code: 'RESOURCE_DOES_NOT_EXIST',
        message: "Trace with ID 'tr-nope' not found.",
      });
    });

    it('deletes traces by id and by age, with their spans', async () => {
      const before = await traceCount();
      const ids = [`tr-${hex(0x101, 16)}`];
      const byId = await call('POST', `${V3}/traces/delete-traces`, {
        experiment_id: exp,
        request_ids: ids,
      });
      expect(byId.body).toEqual({ traces_deleted: 1 });
      const byAge = await call('POST', `${V2}/traces/delete-traces`, {
        experiment_id: exp,
        max_timestamp_millis: 2_000_001,
        max_traces: 5,
      });
      // The MLflow 2 trace (1 s), the merged one (1,000 s) and s0 (2,000 s); not s2.
      expect(byAge.body).toEqual({ traces_deleted: 3 });
      expect(await traceCount()).toBe(before - 4);
      const both = await call('POST', `${V3}/traces/delete-traces`, { experiment_id: exp });
      expect(both.status).toBe(400);
    });

    it('links finished OTLP traces to the run named by x-mlflow-run-id', async () => {
      const run = await t.ctx.tracking.runs.create({ experimentId: exp });
      const trace = 'cc'.repeat(16);
      const res = await exportSpans(otlp(trace, [[1, null, 'in-run', 5_000_000, 5_000_001]]), {
        'x-mlflow-run-id': run.info.id,
      });
      expect(res.statusCode).toBe(200);
      expect(await t.ctx.tracking.traces.linkedRuns(`tr-${trace}`)).toEqual([run.info.id]);
      const found = await call('POST', `${V3}/traces/search`, {
        locations: [{ mlflow_experiment: { experiment_id: exp } }],
        filter: `attributes.run_id = '${run.info.id}'`,
      });
      expect((found.body.traces as Json[]).map((x) => x.trace_id)).toEqual([`tr-${trace}`]);
    });

    it('merges spans and the registration that race each other into one trace', async () => {
      const trace = '5a'.repeat(16);
      const results = await Promise.all([
        exportSpans(otlp(trace, [[2, 1, 'child', 8_000_100, 8_000_200]])),
        exportSpans(otlp(trace, [[3, 1, 'other', 8_000_050, 8_000_300]])),
        exportSpans(otlp(trace, [[1, null, 'root', 8_000_000, 8_000_900]])),
        call('POST', `${V3}/traces`, {
          trace: {
            trace_info: {
              trace_id: `tr-${trace}`,
              trace_location: { mlflow_experiment: { experiment_id: exp } },
              request_time: '1970-01-01T02:13:20Z',
              execution_duration: '0.900s',
              state: 'OK',
            },
          },
        }),
      ]);
      expect(results.map((r) => ('statusCode' in r ? r.statusCode : r.status))).toEqual([
        200, 200, 200, 200,
      ]);
      const got = await t.ctx.tracking.traces.get(`tr-${trace}`);
      expect(got.spans.map((s) => s.name)).toEqual(['root', 'other', 'child']);
      expect(got.info).toMatchObject({
        requestTime: 8_000_000,
        executionDuration: 900,
        state: 'OK',
      });
    });

    it('accepts gzip and OTLP JSON bodies', async () => {
      const gz = await exportSpans(
        gzipSync(otlp('dd'.repeat(16), [[1, null, 'gz', 6_000_000, 6_000_001]])),
        {
          'content-encoding': 'gzip',
        },
      );
      expect(gz.statusCode).toBe(200);
      const json = await app.inject({
        method: 'POST',
        url: '/v1/traces',
        headers: { 'content-type': 'application/json', 'x-mlflow-experiment-id': exp },
        payload: {
          resourceSpans: [
            {
              scopeSpans: [
                {
                  spans: [
                    {
                      traceId: 'ee'.repeat(16),
                      spanId: 'ee'.repeat(8),
                      name: 'json',
                      startTimeUnixNano: '7000000000000',
                      endTimeUnixNano: '7000001000000',
                    },
                  ],
                },
              ],
            },
          ],
        },
      });
      expect(json.statusCode).toBe(200);
      expect((await t.ctx.tracking.traces.get(`tr-${'ee'.repeat(16)}`)).spans).toHaveLength(1);
    });

    describe('bad OTLP input leaves nothing stored', () => {
      it('refuses malformed protobuf with 400', async () => {
        const [spans, traces] = [await spanCount(), await traceCount()];
        const res = await exportSpans(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]));
        expect(res.statusCode).toBe(400);
        expect(res.json<Json>().message).toMatch(/Invalid OpenTelemetry format/);
        expect([await spanCount(), await traceCount()]).toEqual([spans, traces]);
      });

      it('refuses an unknown experiment with 404, and a missing header with 400', async () => {
        const [spans, traces] = [await spanCount(), await traceCount()];
        const body = otlp('ff'.repeat(16), [[1, null, 'lost', 1, 2]]);
        const unknown = await exportSpans(body, { 'x-mlflow-experiment-id': '987654321' });
        expect(unknown.statusCode).toBe(404);
        expect(unknown.json<Json>().error_code).toBe('RESOURCE_DOES_NOT_EXIST');
        const noHeader = await app.inject({
          method: 'POST',
          url: '/v1/traces',
          headers: { 'content-type': 'application/x-protobuf' },
          payload: body,
        });
        expect(noHeader.statusCode).toBe(400);
        expect(noHeader.json<Json>().message).toMatch(/x-mlflow-experiment-id/);
        expect([await spanCount(), await traceCount()]).toEqual([spans, traces]);
      });

      it('refuses an oversize body with 413, raw or once inflated', async () => {
        const big = Buffer.alloc(limits.MAX_OTLP_BODY_BYTES + 1);
        const raw = await exportSpans(big);
        expect(raw.statusCode).toBe(413);
        const bomb = await exportSpans(gzipSync(big), { 'content-encoding': 'gzip' });
        expect(bomb.statusCode).toBe(413);
      });

      it('refuses other content types with 415', async () => {
        const res = await exportSpans(Buffer.from('x'), { 'content-type': 'text/plain' });
        expect(res.statusCode).toBe(415);
      });

      it('stores none of an export whose later span is invalid', async () => {
        const [spans, traces] = [await spanCount(), await traceCount()];
        const body = Buffer.concat([
          otlp('ab'.repeat(16), [[1, null, 'good', 1, 2]]),
          // A second ResourceSpans whose span has a 3-byte span id.
          Buffer.from(
            Request.encode(
              Request.fromObject({
                resourceSpans: [
                  {
                    scopeSpans: [
                      {
                        spans: [
                          { traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(3, 1), name: 'bad' },
                        ],
                      },
                    ],
                  },
                ],
              }),
            ).finish(),
          ),
        ]);
        const res = await exportSpans(body);
        expect(res.statusCode).toBe(400);
        expect(res.json<Json>().message).toMatch(/span_id must be 8 bytes/);
        expect([await spanCount(), await traceCount()]).toEqual([spans, traces]);
      });
    });

    it('creates prompt-lab runs with their params, tags and artifacts', async () => {
      const missing = await call('POST', `${AJAX}/runs/create-promptlab-run`, {
        experiment_id: exp,
      });
      expect(missing.status).toBe(400);
      expect(missing.body.message).toBe('CreatePromptlabRun request must specify prompt_template.');
      const res = await call('POST', `${AJAX}/runs/create-promptlab-run`, {
        experiment_id: exp,
        run_name: 'lab',
        prompt_template: 'Say {{ word }}',
        prompt_parameters: [{ key: 'word', value: 'hi' }],
        model_route: 'chat',
        model_parameters: [{ key: 'temperature', value: 0.1 }],
        model_input: 'Say hi',
        model_output: 'hi',
        model_output_parameters: [{ key: 'latency', value: 100 }],
        mlflow_version: '3.17.2',
        user_id: 'ann',
        start_time: 456,
      });
      expect(res.status).toBe(200);
      const run = res.body.run as { info: Json; data: { params: Json[]; tags: Json[] } };
      expect(run.info).toMatchObject({
        run_name: 'lab',
        status: 'FINISHED',
        start_time: 456,
        user_id: 'ann',
      });
      expect(run.data.params).toEqual(
        expect.arrayContaining([
          { key: 'temperature', value: '0.1' },
          { key: 'model_route', value: 'chat' },
        ]),
      );
      expect(run.data.tags).toContainEqual({
        key: 'mlflow.runSourceType',
        value: 'PROMPT_ENGINEERING',
      });
      const table = await app.inject({
        method: 'GET',
        url: `/get-artifact?run_id=${run.info.run_id as string}&path=eval_results_table.json`,
      });
      expect(JSON.parse(table.body)).toEqual({
        columns: ['word', 'prompt', 'output', 'latency'],
        data: [['hi', 'Say hi', 'hi', '100']],
      });
      const mlmodel = await app.inject({
        method: 'GET',
        url: `/get-artifact?run_id=${run.info.run_id as string}&path=model/MLmodel`,
      });
      expect(mlmodel.body).toContain('loader_module: mlflow.prompt.promptlab_model');
    });

    it('checks gateway-proxy requests as MLflow does, and says there is no gateway', async () => {
      const none = await call('POST', `${AJAX}/gateway-proxy`, {});
      expect(none.body.message).toBe('Deployments proxy request must specify a gateway_path.');
      const bad = await call('POST', `${AJAX}/gateway-proxy`, { gateway_path: 'foo/bar' });
      expect(bad).toMatchObject({
        status: 400,
        body: { message: 'Invalid gateway_path: foo/bar for method: POST' },
      });
      const list = await call('GET', `${AJAX}/gateway-proxy?gateway_path=api/2.0/endpoints`);
      expect(list.body).toEqual({ endpoints: [] });
      const invoke = await call('POST', `${AJAX}/gateway-proxy`, {
        gateway_path: 'gateway/chat/invocations',
      });
      expect(invoke.status).toBe(503);
      expect(invoke.body.message).toMatch(/No AI gateway is configured/);
      expect(
        (await app.inject({ method: 'DELETE', url: `${AJAX}/gateway-proxy` })).statusCode,
      ).toBe(405);
    });
  });
}
