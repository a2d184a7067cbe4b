/**
 * Serving over HTTP on every store: the Open Inference Protocol v2 routes and the records
 * endpoint, an ONNX graph (skl2onnx LogisticRegression, test/fixtures/serving/iris.onnx)
 * next to the same model in Mobius' JSON format (agreeing within 1e-5), and the bad
 * inputs the issue lists — each a clear 4xx, with the server still serving afterwards.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const ADMIN = 'admin-token-0123456789abcdef';
const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/serving/${name}`, import.meta.url));
const IRIS_ONNX = fixture('iris.onnx');
const IRIS_JSON: unknown = JSON.parse(fixture('iris.mobius.json').toString('utf8'));
const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

/** 40 deterministic flower-like rows spanning both classes. */
const ROWS = Array.from({ length: 40 }, (_, i) => [
  4.5 + ((i * 7) % 30) / 10,
  2.2 + ((i * 3) % 20) / 10,
  1 + ((i * 11) % 60) / 10,
  0.1 + ((i * 5) % 25) / 10,
]);

for (const backend of STORE_BACKENDS) {
  describe(`serving over HTTP: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let viewer: string;

    beforeAll(async () => {
      t = await openTestContext(backend, { token: ADMIN });
      app = await buildServer(t.ctx);
      viewer = (await t.ctx.tokens.create({ name: 'viewer', role: 'viewer' }, 'test')).secret;
      await t.ctx.serving.deploy('iris-onnx', IRIS_ONNX, { features: FEATURES });
      await t.ctx.serving.deploy('iris-json', { json: IRIS_JSON });
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    const call = async (method: 'GET' | 'POST', url: string, body?: unknown, token = viewer) => {
      const res = await app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined
          ? {}
          : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.json() };
    };
    const infer = (name: string, rows: number[][], datatype: string) =>
      call('POST', `/v2/models/${name}/infer`, {
        id: 'req-1',
        inputs: [
          {
            name: datatype === 'FP32' ? 'X' : 'input',
            datatype,
            shape: [rows.length, 4],
            data: rows.flat(),
          },
        ],
      });

    it('answers the OIP health, server and model metadata routes', async () => {
      expect(await call('GET', '/v2/health/live')).toEqual({ status: 200, body: { live: true } });
      expect(await call('GET', '/v2/health/ready')).toEqual({ status: 200, body: { ready: true } });
      expect((await call('GET', '/v2')).body).toMatchObject({ name: 'mobius', extensions: [] });
      expect(await call('GET', '/v2/models/iris-onnx')).toEqual({
        status: 200,
        body: {
          name: 'iris-onnx',
          versions: [],
          platform: 'onnx',
          inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, 4] }],
          outputs: [
            { name: 'label', datatype: 'INT64', shape: [-1] },
            { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
          ],
        },
      });
      expect((await call('GET', '/v2/models/iris-json')).body).toMatchObject({
        platform: 'mobius-json',
        inputs: [{ name: 'input', datatype: 'FP64', shape: [-1, 4] }],
      });
      expect(await call('GET', '/v2/models/iris-json/ready')).toEqual({
        status: 200,
        body: { name: 'iris-json', ready: true },
      });
      const list = await call('GET', '/api/v1/deployments');
      expect((list.body.deployments as { name: string }[]).map((d) => d.name)).toEqual([
        'iris-json',
        'iris-onnx',
      ]);
    });

    it('serves the ONNX graph and the JSON model with the same answers (within 1e-5)', async () => {
      const onnx = await infer('iris-onnx', ROWS, 'FP32');
      const json = await infer('iris-json', ROWS, 'FP64');
      expect(onnx.status).toBe(200);
      expect(json.status).toBe(200);
      expect(onnx.body).toMatchObject({ model_name: 'iris-onnx', id: 'req-1' });
      const out = (
        body: { outputs: { name: string; data: number[]; shape: number[] }[] },
        name: string,
      ) => body.outputs.find((o) => o.name === name)!;
      const p1 = out(onnx.body, 'probabilities');
      const p2 = out(json.body, 'probabilities');
      expect(p1.shape).toEqual([40, 2]);
      expect(p2.shape).toEqual([40, 2]);
      const diff = Math.max(...p1.data.map((v, i) => Math.abs(v - p2.data[i]!)));
      expect(diff).toBeLessThan(1e-5);
      const labels = out(onnx.body, 'label').data;
      expect(labels).toEqual(out(json.body, 'label').data);
      // Both classes occur, so agreement is not the trivial all-one-class kind.
      expect(new Set(labels)).toEqual(new Set([0, 1]));
    });

    it('predicts records by feature name on both runtimes', async () => {
      const records = ROWS.slice(0, 3).map((row) =>
        Object.fromEntries(FEATURES.map((f, i) => [f, row[i]])),
      );
      const onnx = await call('POST', '/api/v1/deployments/iris-onnx/predict', { records });
      const json = await call('POST', '/api/v1/deployments/iris-json/predict', { records });
      expect(onnx.status).toBe(200);
      expect(json.status).toBe(200);
      expect(onnx.body.predictions).toHaveLength(3);
      (onnx.body.predictions as { label: number; probabilities: number[] }[]).forEach((p, r) => {
        expect(p.label).toBe(json.body.predictions[r].label);
        expect(p.probabilities[1]).toBeCloseTo(json.body.predictions[r].probabilities[1], 5);
      });
    });

    it('refuses bad requests with 4xx naming the field, and keeps serving', async () => {
      const X = { name: 'X', datatype: 'FP32', shape: [1, 4], data: [5, 3, 1.5, 0.2] };
      const cases: [unknown, number, RegExp][] = [
        [
          { inputs: [{ ...X, shape: [1, 5] }] },
          400,
          /^inputs\[0\]\.shape: \[1,5\] does not fit input 'X'/,
        ],
        [
          { inputs: [{ ...X, shape: [2, 4] }] },
          400,
          /^inputs\[0\]\.data: has 4 values but shape \[2,4\] holds 8/,
        ],
        [
          { inputs: [{ ...X, datatype: 'INT64' }] },
          400,
          /^inputs\[0\]\.datatype: input 'X' is FP32, not INT64/,
        ],
        [{ inputs: [] }, 400, /^inputs: must be a non-empty array; the model takes 'X'/],
        [
          { inputs: [{ ...X, name: 'features' }] },
          400,
          /^inputs\[0\]\.name: the model has no input 'features'/,
        ],
        [
          { inputs: [{ ...X, data: [5, 3, null, 0.2] }] },
          400,
          /^inputs\[0\]\.data\[2\]: null is not a number/,
        ],
        [
          '{"inputs":[{"name":"X","datatype":"FP32","shape":[1,4],"data":[5,3,1e999,0.2]}]}',
          400,
          /^inputs\[0\]\.data\[2\]: Infinity is not a finite number/,
        ],
        ['{"inputs": [', 400, /not valid JSON/],
        // Python's json.dumps writes NaN for float('nan'); JSON has no such token.
        [
          '{"inputs":[{"name":"X","datatype":"FP32","shape":[1,4],"data":[5,3,NaN,0.2]}]}',
          400,
          /not valid JSON.*NaN/,
        ],
        [
          { id: 'a\u0000b', inputs: [X] },
          400,
          /^the request id must be printable text, without control characters/,
        ],
      ];
      for (const [body, status, message] of cases) {
        const res = await call('POST', '/v2/models/iris-onnx/infer', body);
        expect(res.status, JSON.stringify(body)).toBe(status);
        expect(res.body.code).toBe('INVALID_ARGUMENT');
        expect(res.body.message).toMatch(message);
        // OIP clients read {"error": …}.
        expect(res.body.error).toBe(res.body.message);
      }
      const records = await call('POST', '/api/v1/deployments/iris-json/predict', {
        records: [{ sepal_length: 5, sepal_width: 3, petal_length: 1.4 }],
      });
      expect(records.status).toBe(400);
      expect(records.body.message).toBe('records[0].petal_width: missing feature');
      const ok = await infer('iris-onnx', ROWS.slice(0, 1), 'FP32');
      expect(ok.status).toBe(200);
    });

    it('refuses a 10 MB body with 413 and keeps serving', async () => {
      const big = JSON.stringify({
        inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }],
        pad: 'x'.repeat(10 * 1024 * 1024),
      });
      const res = await call('POST', '/v2/models/iris-onnx/infer', big);
      expect(res.status).toBe(413);
      expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
      expect(res.body.message).toMatch(/larger than the \d+-byte limit/);
      expect((await infer('iris-onnx', ROWS.slice(0, 2), 'FP32')).status).toBe(200);
    });

    it('answers 404 naming an unknown deployment on every route', async () => {
      for (const [method, url] of [
        ['GET', '/v2/models/nope'],
        ['GET', '/v2/models/nope/ready'],
        ['POST', '/v2/models/nope/infer'],
        ['POST', '/api/v1/deployments/nope/predict'],
      ] as const) {
        const res = await call(method, url, method === 'POST' ? { inputs: [] } : undefined);
        expect(res.status, url).toBe(404);
        expect(res.body.message).toMatch(
          /no deployment named 'nope'; deployed: iris-json, iris-onnx/,
        );
      }
    });

    it('refuses a pickle, a non-ONNX file and a bad JSON model at deploy, leaving the deployment serving', async () => {
      const { serving } = t.ctx;
      const attempts: [Uint8Array | { json: unknown }, RegExp][] = [
        [Uint8Array.from([0x80, 0x04, 0x95, 0x10, 0, 0, 0]), /pickle.*never unpickles/],
        [Buffer.from('this is not an ONNX graph'), /not a valid ONNX graph/],
        [Buffer.from('{"format": "mobius-linear"'), /not valid JSON/],
        [
          { json: { format: 'mobius-linear', task: 'regression' } },
          /invalid Mobius JSON model: features/,
        ],
      ];
      for (const [source, message] of attempts) {
        await expect(serving.deploy('iris-onnx', source)).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
          message: expect.stringMatching(message),
        });
      }
      await expect(serving.deploy('bad/name', IRIS_ONNX)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      const meta = await call('GET', '/v2/models/iris-onnx');
      expect(meta.body.platform).toBe('onnx');
      expect((await infer('iris-onnx', ROWS.slice(0, 2), 'FP32')).status).toBe(200);
    });

    it('deploys a model stored in the blob store by sha256; refuses a stored pickle and a missing blob', async () => {
      const { serving, blobs } = t.ctx;
      const { sha256 } = await blobs.put(IRIS_ONNX);
      const meta = await serving.deploy('iris-blob', { blob: sha256 }, { features: FEATURES });
      expect(meta.platform).toBe('onnx');
      const res = await infer('iris-blob', ROWS.slice(0, 3), 'FP32');
      expect(res.status).toBe(200);
      const pickle = await blobs.put(Uint8Array.from([0x80, 0x05, 0x95, 0x20, 0, 0, 0, 0]));
      await expect(serving.deploy('iris-blob', { blob: pickle.sha256 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/pickle.*never unpickles/),
      });
      await expect(serving.deploy('x', { blob: 'a'.repeat(64) })).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      expect((await infer('iris-blob', ROWS.slice(0, 1), 'FP32')).status).toBe(200);
      expect(await serving.undeploy('iris-blob')).toBe(true);
    });

    it('needs a token: no token is 401 on /v2 as everywhere', async () => {
      const res = await app.inject({ method: 'GET', url: '/v2/models/iris-onnx' });
      expect(res.statusCode).toBe(401);
    });
  });
}
