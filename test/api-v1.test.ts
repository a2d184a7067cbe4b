/** The native `/api/v1/` tracking and registry routes, over a real server on every store. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

/** One field of each object in a JSON array. */
const pluck = (list: unknown, key: string): unknown[] =>
  (list as Record<string, unknown>[]).map((o) => o[key]);

for (const backend of STORE_BACKENDS) {
  describe(`api v1: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;

    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    const call = async (method: string, url: string, payload?: unknown, headers = {}) => {
      const res = await app.inject({
        method: method as 'GET',
        url,
        headers,
        ...(payload === undefined ? {} : { payload: payload as object }),
      });
      return { status: res.statusCode, body: res.body === '' ? undefined : res.json() };
    };

    let experimentId: string;
    const newRun = async (name: string) => {
      const r = await call('POST', '/api/v1/runs', { experimentId, name });
      expect(r.status).toBe(201);
      return r.body.id as string;
    };

    it('creates, gets and lists experiments; a taken name is ALREADY_EXISTS', async () => {
      const created = await call('POST', '/api/v1/experiments', {
        name: 'churn',
        tags: { team: 'growth' },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name: 'churn', tags: { team: 'growth' } });
      experimentId = created.body.id;
      expect((await call('GET', `/api/v1/experiments/${experimentId}`)).body.name).toBe('churn');
      const byName = await call('GET', '/api/v1/experiments?name=churn');
      expect(pluck(byName.body.experiments, 'id')).toEqual([experimentId]);
      expect((await call('GET', '/api/v1/experiments?name=nope')).body.experiments).toEqual([]);
      const dup = await call('POST', '/api/v1/experiments', { name: 'churn' });
      expect(dup.status).toBe(409);
      expect(dup.body.code).toBe('ALREADY_EXISTS');
    });

    it('runs: create, log params/tags/metrics (NaN and ±Infinity as strings), end, search, delete', async () => {
      const id = await newRun('first');
      expect(
        (await call('POST', `/api/v1/runs/${id}/params`, { params: { lr: '0.1', opt: 'adam' } }))
          .status,
      ).toBe(200);
      expect(
        (await call('POST', `/api/v1/runs/${id}/tags`, { tags: { stage: 'dev' } })).status,
      ).toBe(200);
      const logged = await call('POST', `/api/v1/runs/${id}/metrics`, {
        metrics: [
          { key: 'loss', value: 1.5, step: 0, timestamp: 1000 },
          { key: 'loss', value: 'NaN', step: 1, timestamp: 1001 },
          { key: 'loss', value: 'Infinity', step: 2, timestamp: 1002 },
          { key: 'loss', value: '-Infinity', step: 3, timestamp: 1003 },
          { key: 'acc', value: 0.5, timestamp: 1000 },
        ],
      });
      expect(logged).toEqual({ status: 200, body: { points: 5, recorded: true } });
      const history = await call('GET', `/api/v1/runs/${id}/metrics/loss/history`);
      expect(pluck(history.body.points, 'value')).toEqual([1.5, 'NaN', 'Infinity', '-Infinity']);
      // Packed: the same four points as float64 columns (steps, timestamps, values).
      const packed = await app.inject({
        method: 'GET',
        url: `/api/v1/runs/${id}/metrics/loss/history`,
        headers: { accept: 'application/octet-stream' },
      });
      expect(packed.statusCode).toBe(200);
      expect(packed.headers['content-type']).toBe('application/octet-stream');
      expect(packed.headers['x-mobius-points']).toBe('4');
      const columns = new Float64Array(new Uint8Array(packed.rawPayload).buffer);
      expect([...columns]).toEqual([
        0,
        1,
        2,
        3,
        1000,
        1001,
        1002,
        1003,
        1.5,
        NaN,
        Infinity,
        -Infinity,
      ]);
      const paged = await app.inject({
        method: 'GET',
        url: `/api/v1/runs/${id}/metrics/loss/history?limit=2`,
        headers: { accept: 'application/octet-stream' },
      });
      expect(paged.statusCode).toBe(400);
      expect(paged.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });
      const ended = await call('PATCH', `/api/v1/runs/${id}`, {
        status: 'FINISHED',
        endTime: 5000,
      });
      expect(ended.body).toMatchObject({
        status: 'FINISHED',
        endTime: 5000,
        params: { lr: '0.1', opt: 'adam' },
        tags: { stage: 'dev' },
      });
      expect(ended.body.metrics).toContainEqual({
        key: 'loss',
        value: '-Infinity',
        step: 3,
        timestamp: 1003,
      });

      await newRun('second');
      const found = await call(
        'GET',
        `/api/v1/runs?experimentId=${experimentId}&filter=${encodeURIComponent("params.opt = 'adam'")}`,
      );
      expect(pluck(found.body.runs, 'id')).toEqual([id]);
      const badFilter = await call(
        'GET',
        `/api/v1/runs?experimentId=${experimentId}&filter=${encodeURIComponent('params.opt ~ 1')}`,
      );
      expect(badFilter.status).toBe(400);
      expect(badFilter.body.code).toBe('INVALID_ARGUMENT');

      expect((await call('DELETE', `/api/v1/runs/${id}`)).status).toBe(200);
      expect((await call('GET', `/api/v1/runs/${id}`)).body.lifecycleStage).toBe('deleted');
      const after = await call('GET', `/api/v1/runs?experimentId=${experimentId}`);
      expect(pluck(after.body.runs, 'id')).not.toContain(id);
    });

    it('the same metric batch sent twice is one set of points; a reused id with other points is CONFLICT', async () => {
      const id = await newRun('retried');
      const batch = {
        batchId: 'b-0001',
        metrics: [
          { key: 'loss', value: 0.9, step: 0, timestamp: 1 },
          { key: 'loss', value: 0.8, step: 1, timestamp: 2 },
        ],
      };
      expect((await call('POST', `/api/v1/runs/${id}/metrics`, batch)).body.recorded).toBe(true);
      expect((await call('POST', `/api/v1/runs/${id}/metrics`, batch)).body).toEqual({
        points: 2,
        recorded: false,
      });
      const history = await call('GET', `/api/v1/runs/${id}/metrics/loss/history`);
      expect(history.body.points).toHaveLength(2);

      const reused = await call('POST', `/api/v1/runs/${id}/metrics`, {
        batchId: 'b-0001',
        metrics: [{ key: 'loss', value: 0.1, step: 2, timestamp: 3 }],
      });
      expect(reused.status).toBe(409);
      expect(reused.body.message).toContain('use a new batch id');

      // The Idempotency-Key header works the same way.
      const viaHeader = { metrics: [{ key: 'acc', value: 1, timestamp: 4 }] };
      const headers = { 'idempotency-key': 'h-1' };
      await call('POST', `/api/v1/runs/${id}/metrics`, viaHeader, headers);
      await call('POST', `/api/v1/runs/${id}/metrics`, viaHeader, headers);
      expect(
        (await call('GET', `/api/v1/runs/${id}/metrics/acc/history`)).body.points,
      ).toHaveLength(1);
      // Without an id, sending twice appends twice (MLflow's semantics for repeated points).
      await call('POST', `/api/v1/runs/${id}/metrics`, viaHeader);
      expect(
        (await call('GET', `/api/v1/runs/${id}/metrics/acc/history`)).body.points,
      ).toHaveLength(2);
    });

    it('bad input is INVALID_ARGUMENT saying what to fix', async () => {
      const id = await newRun('bad');
      const cases: [string, string, unknown, RegExp][] = [
        [
          'POST',
          `/api/v1/runs/${id}/metrics`,
          { metrics: [{ key: 'x', value: 'abc', timestamp: 1 }] },
          /value/,
        ],
        ['POST', `/api/v1/runs/${id}/metrics`, { metrics: [{ key: 'x', value: 1 }] }, /timestamp/],
        ['POST', `/api/v1/runs/${id}/metrics`, { metrics: [] }, /metrics/],
        [
          'POST',
          `/api/v1/runs/${id}/metrics`,
          { batchId: 'has space', metrics: [{ key: 'x', value: 1, timestamp: 1 }] },
          /batch id/,
        ],
        [
          'POST',
          `/api/v1/runs/${id}/params`,
          { params: { lr: '1' }, extra: 1 },
          /extra|additional/,
        ],
        ['PATCH', `/api/v1/runs/${id}`, { status: 'DONE' }, /status/],
        // Not coerced: null is not 0, true is not 1, null is not "".
        [
          'POST',
          `/api/v1/runs/${id}/metrics`,
          { metrics: [{ key: 'x', value: null, timestamp: 1 }] },
          /metrics\/0\/value must be a number or "NaN" or "Infinity" or "-Infinity"/,
        ],
        [
          'POST',
          `/api/v1/runs/${id}/metrics`,
          { metrics: [{ key: 'x', value: true, timestamp: 1 }] },
          /value/,
        ],
        [
          'POST',
          `/api/v1/runs/${id}/metrics`,
          { metrics: [{ key: 'x', value: 1, timestamp: null }] },
          /timestamp must be an integer/,
        ],
        ['POST', `/api/v1/runs/${id}/params`, { params: { lr: null } }, /params\/lr/],
        ['POST', '/api/v1/runs', { name: 'no experiment' }, /experimentId/],
        ['GET', '/api/v1/runs', undefined, /experimentId/],
        ['GET', '/api/v1/runs/compare', undefined, /ids/],
        ['PUT', '/api/v1/models/m/aliases/champion', { version: 'one' }, /version/],
      ];
      for (const [method, url, payload, message] of cases) {
        const res = await call(method, url, payload);
        expect(res.status, `${method} ${url}`).toBe(400);
        expect(res.body.code, `${method} ${url}`).toBe('INVALID_ARGUMENT');
        expect(res.body.message, `${method} ${url}`).toMatch(message);
      }
      // A param changed after it was logged is a CONFLICT that names both values.
      await call('POST', `/api/v1/runs/${id}/params`, { params: { lr: '1' } });
      const changed = await call('POST', `/api/v1/runs/${id}/params`, { params: { lr: '2' } });
      expect(changed.status).toBe(409);
      expect(changed.body.message).toMatch(/'1'.*'2'/);
      expect((await call('GET', '/api/v1/runs/ffffffffffffffffffffffffffffffff')).status).toBe(404);
    });

    it('artifacts: streamed upload, download, list; traversal is refused', async () => {
      const id = await newRun('artifacts');
      const put = await app.inject({
        method: 'PUT',
        url: `/api/v1/runs/${id}/artifacts/model/weights.bin`,
        headers: { 'content-type': 'application/octet-stream' },
        payload: Buffer.from('0123456789'),
      });
      expect(put.statusCode).toBe(201);
      expect(put.json()).toMatchObject({ path: 'model/weights.bin', size: 10 });
      const got = await app.inject({
        method: 'GET',
        url: `/api/v1/runs/${id}/artifacts/model/weights.bin`,
      });
      expect(got.statusCode).toBe(200);
      expect(got.body).toBe('0123456789');
      expect(got.headers['content-disposition']).toBe('attachment');
      const root = await call('GET', `/api/v1/runs/${id}/artifacts`);
      expect(root.body).toEqual({ path: '', files: [{ path: 'model', isDir: true }] });
      const dir = await call('GET', `/api/v1/runs/${id}/artifacts?path=model`);
      expect(dir.body.files).toEqual([{ path: 'model/weights.bin', isDir: false, size: 10 }]);

      const other = await newRun('victim');
      for (const evil of [
        '..%2F' + other + '%2Fartifacts%2Fx',
        '%252e%252e/x',
        'a%2F..%2F..%2Fx',
      ]) {
        const res = await app.inject({
          method: 'PUT',
          url: `/api/v1/runs/${id}/artifacts/${evil}`,
          headers: { 'content-type': 'text/plain' },
          payload: 'pwned',
        });
        expect(res.statusCode, evil).toBe(400);
        expect(res.json().code).toBe('INVALID_ARGUMENT');
      }
      expect((await call('GET', `/api/v1/runs/${other}/artifacts`)).body.files).toEqual([]);
      const missingRun = await app.inject({
        method: 'PUT',
        url: '/api/v1/runs/ffffffffffffffffffffffffffffffff/artifacts/x.txt',
        headers: { 'content-type': 'text/plain' },
        payload: 'x',
      });
      expect(missingRun.statusCode).toBe(404);
    });

    it('compares runs: params that differ, latest/min/max metrics', async () => {
      const a = await newRun('cmp-a');
      const b = await newRun('cmp-b');
      await call('POST', `/api/v1/runs/${a}/params`, { params: { lr: '0.1', opt: 'adam' } });
      await call('POST', `/api/v1/runs/${b}/params`, { params: { lr: '0.01', opt: 'adam' } });
      await call('POST', `/api/v1/runs/${a}/metrics`, {
        metrics: [
          { key: 'acc', value: 0.2, step: 0, timestamp: 1 },
          { key: 'acc', value: 0.9, step: 1, timestamp: 2 },
          { key: 'acc', value: 0.7, step: 2, timestamp: 3 },
        ],
      });
      await call('POST', `/api/v1/runs/${b}/metrics`, {
        metrics: [{ key: 'acc', value: 'Infinity', step: 0, timestamp: 1 }],
      });
      const res = await call('GET', `/api/v1/runs/compare?ids=${a},${b}`);
      expect(res.status).toBe(200);
      expect(pluck(res.body.runs, 'id')).toEqual([a, b]);
      expect(res.body.params).toEqual([
        { key: 'lr', values: ['0.1', '0.01'], differs: true },
        { key: 'opt', values: ['adam', 'adam'], differs: false },
      ]);
      expect(res.body.metrics).toEqual([
        {
          key: 'acc',
          latest: [0.7, 'Infinity'],
          min: [0.2, 'Infinity'],
          max: [0.9, 'Infinity'],
          differs: true,
        },
      ]);
      const missing = await call('GET', `/api/v1/runs/compare?ids=${a}&ids=${'f'.repeat(32)}`);
      expect(missing.status).toBe(404);
      expect(missing.body.message).toContain('f'.repeat(32));
    });

    it('registry: models, versions from a run artifact path, aliases', async () => {
      const run = await newRun('trainer');
      await app.inject({
        method: 'PUT',
        url: `/api/v1/runs/${run}/artifacts/model/model.json`,
        headers: { 'content-type': 'application/json' },
        payload: '{"w":[1,2]}',
      });
      expect((await call('POST', '/api/v1/models', { name: 'churn-model' })).status).toBe(201);
      const noFile = await call('POST', '/api/v1/models/churn-model/versions', {
        runId: run,
        artifactPath: 'nothing-here',
      });
      expect(noFile.status).toBe(404);
      expect(noFile.body.message).toContain('upload it first');
      const traversal = await call('POST', '/api/v1/models/churn-model/versions', {
        runId: run,
        artifactPath: '../x',
      });
      expect(traversal.status).toBe(400);
      const v1 = await call('POST', '/api/v1/models/churn-model/versions', {
        runId: run,
        artifactPath: 'model',
      });
      expect(v1.status).toBe(201);
      expect(v1.body).toMatchObject({ name: 'churn-model', version: 1, runId: run });
      expect(v1.body.source).toMatch(new RegExp(`/${run}/artifacts/model$`));
      const v2 = await call('POST', '/api/v1/models/churn-model/versions', {
        runId: run,
        artifactPath: 'model/model.json',
      });
      expect(v2.body.version).toBe(2);
      const list = await call('GET', '/api/v1/models/churn-model/versions');
      expect(pluck(list.body.versions, 'version')).toEqual([2, 1]);
      expect((await call('GET', '/api/v1/models/churn-model/versions/1')).body.version).toBe(1);
      expect((await call('GET', '/api/v1/models/nope/versions')).status).toBe(404);

      // 'champion' is protected by default: without a passing evaluation it is refused (409,
      // saying how to evaluate) and set only with force and a reason, which is recorded.
      const gated = await call('PUT', '/api/v1/models/churn-model/aliases/champion', {
        version: 1,
      });
      expect(gated.status).toBe(409);
      expect(gated.body.message).toMatch(/mobius models evaluate churn-model@1/);
      const force = { force: true, reason: 'api test' };
      const set = await call('PUT', '/api/v1/models/churn-model/aliases/champion', {
        version: 1,
        ...force,
      });
      expect(set.body).toMatchObject({ version: 1, aliases: ['champion'] });
      await call('PUT', '/api/v1/models/churn-model/aliases/champion', { version: 2, ...force });
      const history = await call('GET', '/api/v1/models/churn-model/versions/2/evaluations');
      expect(history.body).toMatchObject({
        evaluations: [],
        aliasHistory: [
          { alias: 'champion', gate: 'forced', reason: 'api test', previousVersion: 1 },
        ],
      });
      expect((await call('GET', '/api/v1/models/churn-model/aliases/champion')).body.version).toBe(
        2,
      );
      const model = await call('GET', '/api/v1/models/churn-model');
      expect(model.body.aliases).toEqual([{ alias: 'champion', version: 2 }]);
      expect(pluck((await call('GET', '/api/v1/models')).body.models, 'name')).toContain(
        'churn-model',
      );
      expect((await call('DELETE', '/api/v1/models/churn-model/aliases/champion')).status).toBe(
        200,
      );
      expect((await call('GET', '/api/v1/models/churn-model/aliases/champion')).status).toBe(404);
      const reserved = await call('PUT', '/api/v1/models/churn-model/aliases/latest', {
        version: 1,
      });
      expect(reserved.status).toBe(400);
      expect(reserved.body.message).toContain('reserved');
    });

    it('every /api/v1 tracking and registry route is in openapi.json', async () => {
      const doc = (await call('GET', '/api/v1/openapi.json')).body;
      const paths = Object.keys(doc.paths);
      for (const p of [
        '/api/v1/experiments',
        '/api/v1/experiments/{id}',
        '/api/v1/runs',
        '/api/v1/runs/{id}',
        '/api/v1/runs/compare',
        '/api/v1/runs/{id}/params',
        '/api/v1/runs/{id}/metrics',
        '/api/v1/runs/{id}/tags',
        '/api/v1/runs/{id}/metrics/{key}/history',
        '/api/v1/runs/{id}/artifacts',
        '/api/v1/runs/{id}/artifacts/{*}',
        '/api/v1/models',
        '/api/v1/models/{name}',
        '/api/v1/models/{name}/versions',
        '/api/v1/models/{name}/versions/{version}',
        '/api/v1/models/{name}/aliases/{alias}',
      ])
        expect(paths, p).toContain(p);
      const metrics = doc.paths['/api/v1/runs/{id}/metrics'].post;
      expect(JSON.stringify(metrics.requestBody)).toContain('batchId');
    });
  });
}
