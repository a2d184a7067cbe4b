/**
 * Registry-backed deployments over HTTP on every store: model versions registered with
 * their model files logged to a run, deployed by version or alias, split by canary, A/B
 * and sticky keys, mirrored (shadow), promoted and rolled back; the prediction log's
 * batches, drop counter and feedback; a candidate that fails being rolled back by the
 * automatic canary analysis; bad input refused with clear 4xx.
 *
 * Versions of the model `lin` are Mobius JSON regressions `prediction = w·x` with w equal
 * to the version number, so every answer says by itself which version computed it — the
 * test checks the `model_version` field and the header against the arithmetic, not
 * against each other. Version 4 takes two features: requests with one fail on it.
 */
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openMobius } from '../src/context/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';
import { linearModel, registerLinearVersions } from './helpers/models.js';
import { readFileSync } from 'node:fs';

const ADMIN = 'admin-token-0123456789abcdef';
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
const IRIS_ONNX = readFileSync(new URL('./fixtures/serving/iris.onnx', import.meta.url));
const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

/** An OIP request for `lin` with x = `x`. */
const linBody = (x: number, extra: Record<string, unknown> = {}) => ({
  ...extra,
  inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 1], data: [x] }],
});

/** The data of the first output tensor of a logged prediction. */
const firstOutput = (outputs: string | null): number[] =>
  (JSON.parse(outputs!) as { data: number[] }[])[0]!.data;

for (const backend of STORE_BACKENDS) {
  describe(`deployments over HTTP: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let editor: string;

    /** Logs `bytes` as `<run>/artifacts/model/<file>` and registers it as the next version of `model`. */
    const register = async (model: string, file: string, bytes: Uint8Array | string) => {
      const { tracking, registry } = t.ctx;
      const run = await tracking.runs.create({ experimentId: '0' });
      const root = `0/${run.info.id}/artifacts`;
      await tracking.artifacts.put(`${root}/model/${file}`, Readable.from([Buffer.from(bytes)]));
      await tracking.artifacts.put(`${root}/model/MLmodel`, Readable.from(['flavors: {}']));
      const v = await registry.versions.create({
        name: model,
        source: `runs:/${run.info.id}/model`,
        runId: run.info.id,
      });
      return v.version;
    };

    beforeAll(async () => {
      // Batches of 50, and a timer long enough that only a full batch (or a flush) writes.
      t = await openTestContext(
        backend,
        { token: ADMIN },
        { predictionLog: { batchSize: 50, flushIntervalMs: 60_000 } },
      );
      app = await buildServer(t.ctx);
      editor = (await t.ctx.tokens.create({ name: 'alice', role: 'editor' }, 'test')).secret;
      await t.ctx.registry.models.create({ name: 'lin' });
      for (let w = 1; w <= 3; w++) await register('lin', 'model.mobius.json', linearModel(w));
      await register('lin', 'model.mobius.json', linearModel(4, ['x', 'y']));
      await t.ctx.registry.aliases.set('lin', 'stable', 1);
      await t.ctx.registry.models.create({ name: 'iris' });
      const iris = await register('iris', 'model.onnx', IRIS_ONNX);
      await t.ctx.registry.versions.setTag(
        'iris',
        iris,
        'mobius.features',
        JSON.stringify(FEATURES),
      );
      await t.ctx.registry.models.create({ name: 'broken' });
      await register('broken', 'model.onnx', 'this is not an ONNX graph');
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    const call = async (
      method: 'GET' | 'POST',
      url: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ) => {
      const res = await app.inject({
        method,
        url,
        headers: {
          authorization: `Bearer ${editor}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return {
        status: res.statusCode,
        body: res.json(),
        version: res.headers['x-mobius-model-version'] as string | undefined,
        requestId: res.headers['x-request-id'] as string | undefined,
      };
    };
    const deploy = (body: Record<string, unknown>) => call('POST', '/api/v1/deployments', body);
    const auth = () => ({ authorization: `Bearer ${editor}` });
    /** `/metrics` as series → value. */
    const scrape = async () => {
      const text = (await app.inject({ method: 'GET', url: '/metrics', headers: auth() })).body;
      return new Map(
        text
          .split('\n')
          .filter((l) => l.startsWith('mobius_serving_'))
          .map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]),
      );
    };
    /** Infers x on `name`; returns the version the arithmetic says answered. */
    const infer = async (name: string, x: number, headers: Record<string, string> = {}) => {
      const res = await call('POST', `/v2/models/${name}/infer`, linBody(x), headers);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const y = (res.body as { outputs: { data: number[] }[] }).outputs[0]!.data[0]!;
      const w = y / x;
      expect(res.body.model_version).toBe(String(w));
      expect(res.version).toBe(`lin@${w}`);
      return w;
    };
    const logRows = async (deployment: string) =>
      t.ctx.store.db
        .selectFrom('prediction_log')
        .selectAll()
        .where('deployment', '=', deployment)
        .orderBy('seq')
        .execute();

    it('deploys a model version by alias, serves it with its version named, and survives a restart', async () => {
      const res = await deploy({ name: 'd', model: 'lin@stable', reason: 'first' });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        name: 'd',
        routes: [{ model: 'lin', version: 1, ref: 'stable', weight: 100, role: 'stable' }],
        lastGood: { model: 'lin', version: 1 },
        revision: 1,
      });
      expect(await infer('d', 3)).toBe(1);
      const records = await call('POST', '/api/v1/deployments/d/predict', {
        records: [{ x: 2 }],
      });
      expect(records.body).toMatchObject({ predictions: [{ prediction: 2 }] });
      expect(records.version).toBe('lin@1');
      // An ONNX model version, with its feature order from the version tag.
      expect((await deploy({ name: 'iris', model: 'iris@1' })).status).toBe(201);
      const iris = await call('POST', '/api/v1/deployments/iris/predict', {
        records: [{ sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 }],
      });
      expect(iris.status).toBe(200);
      expect(iris.body.predictions[0].label).toBe(0);
      // A second process on the same store (a restarted `mobius server`) loads it.
      const other = await openMobius(t.ctx.config);
      try {
        await other.deployments.start(60_000);
        expect(other.serving.list()).toEqual(['d', 'iris']);
        const answer = await other.serving.serveInfer('d', linBody(5));
        expect(answer.version).toBe(1);
        expect(answer.body.outputs[0]!.data).toEqual([5]);
      } finally {
        await other.close();
      }
    });

    it('a 10% canary gets 10 ± 2% of 5,000 requests; the rest go to the stable version', async () => {
      const res = await deploy({ name: 'd', model: 'lin@2', canary: 10 });
      expect(res.status).toBe(200);
      expect(res.body.routes).toEqual([
        { model: 'lin', version: 1, ref: 'stable', weight: 90, role: 'stable' },
        { model: 'lin', version: 2, ref: '2', weight: 10, role: 'candidate' },
      ]);
      const before = await scrape();
      const counts = new Map<number, number>();
      for (let i = 0; i < 5000; i++) {
        const w = await infer('d', 1 + (i % 7));
        counts.set(w, (counts.get(w) ?? 0) + 1);
      }
      expect([...counts.keys()].sort()).toEqual([1, 2]);
      const share = counts.get(2)! / 5000;
      expect(share).toBeGreaterThanOrEqual(0.08);
      expect(share).toBeLessThanOrEqual(0.12);
      // Prometheus counts the same requests per version, and times each one's stages.
      const after = await scrape();
      for (const [w, n] of counts) {
        const at = `deployment="d",version="${w}"`;
        const grew = (series: string) => (after.get(series) ?? 0) - (before.get(series) ?? 0);
        expect(grew(`mobius_serving_requests_total{${at},route="primary"}`)).toBe(n);
        for (const stage of ['queue', 'batch', 'model', 'total'])
          expect(grew(`mobius_serving_stage_seconds_count{${at},stage="${stage}"}`)).toBe(n);
        expect(grew(`mobius_serving_batch_size_count{${at}}`)).toBe(n);
        expect(grew(`mobius_serving_errors_total{${at},route="primary"}`)).toBe(0);
      }
      if (hasPromtool || process.env.CI === 'true') {
        const text = (await app.inject({ method: 'GET', url: '/metrics', headers: auth() })).body;
        const out = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
        expect(out.status, out.stdout + out.stderr).toBe(0);
      }
      // 5,000 HTTP round trips: seconds alone, longer on a shared CI machine.
    }, 120_000);

    it('sticky keys always reach the same version, and both versions get keys', async () => {
      await deploy({ name: 's', model: 'lin@1' });
      const res = await deploy({ name: 's', model: 'lin@2', canary: 30, sticky: 'x-user' });
      expect(res.body.sticky).toBe('x-user');
      const byUser = new Map<string, Set<number>>();
      for (let round = 0; round < 4; round++)
        for (let u = 0; u < 60; u++) {
          const w = await infer('s', 2, { 'x-user': `user-${u}` });
          byUser.set(`user-${u}`, (byUser.get(`user-${u}`) ?? new Set()).add(w));
        }
      expect([...byUser.values()].every((set) => set.size === 1)).toBe(true);
      const onCanary = [...byUser.values()].filter((set) => set.has(2)).length;
      expect(onCanary).toBeGreaterThan(5);
      expect(onCanary).toBeLessThan(40);
      // The key may also be an OIP parameter.
      const viaParam = new Set<string>();
      for (let i = 0; i < 10; i++) {
        const r = await call(
          'POST',
          '/v2/models/s/infer',
          linBody(1, { parameters: { 'x-user': 'p-7' } }),
        );
        viaParam.add(r.version!);
      }
      expect(viaParam.size).toBe(1);
    });

    it('a shadow logs both versions’ predictions and answers the client once, from the primary', async () => {
      await deploy({ name: 'sh', model: 'lin@1' });
      const res = await deploy({ name: 'sh', model: 'lin@3', shadow: 100 });
      expect(res.body).toMatchObject({
        routes: [{ version: 1, weight: 100 }],
        mirror: { model: 'lin', version: 3, percent: 100 },
      });
      const answer = await call('POST', '/v2/models/sh/infer', linBody(2, { id: 'shadow-1' }));
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ id: 'shadow-1', model_version: '1' });
      expect(answer.body.outputs[0].data).toEqual([2]);
      let rows: Awaited<ReturnType<typeof logRows>> = [];
      for (let i = 0; i < 100 && rows.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 10));
        await t.ctx.deployments.flushPredictions();
        rows = await logRows('sh');
      }
      expect(rows.map((r) => [r.request_id, r.route, r.version, firstOutput(r.outputs)])).toEqual([
        ['shadow-1', 'primary', 1, [2]],
        ['shadow-1', 'shadow', 3, [6]],
      ]);
      expect(JSON.parse(rows[0]!.inputs)).toEqual(linBody(2).inputs);
      expect(rows[0]!.latency_ms).toBeGreaterThan(0);
      // A shadow that fails every request (version 4 takes two features) fails no client.
      await deploy({ name: 'sh', model: 'lin@4', shadow: 100 });
      for (let i = 0; i < 10; i++) {
        const r = await call('POST', '/v2/models/sh/infer', linBody(3, { id: `bad-shadow-${i}` }));
        expect(r.status).toBe(200);
        expect(r.body.outputs[0].data).toEqual([3]);
      }
      let failed: Awaited<ReturnType<typeof logRows>> = [];
      for (let i = 0; i < 100 && failed.length < 10; i++) {
        await new Promise((r) => setTimeout(r, 10));
        await t.ctx.deployments.flushPredictions();
        failed = (await logRows('sh')).filter((r) => r.route === 'shadow' && r.version === 4);
      }
      expect(failed).toHaveLength(10);
      expect(failed.every((r) => r.outputs === null && /input/.test(r.error ?? ''))).toBe(true);
    });

    it('promote and rollback move the traffic and record who and why', async () => {
      const promoted = await call('POST', '/api/v1/deployments/d/promote', {
        reason: 'canary looked fine',
      });
      expect(promoted.status).toBe(200);
      expect(promoted.body).toMatchObject({
        routes: [{ version: 2, weight: 100 }],
        lastGood: { model: 'lin', version: 2 },
      });
      for (let i = 0; i < 20; i++) expect(await infer('d', 1 + i)).toBe(2);
      await deploy({ name: 'd', model: 'lin@3', canary: 50 });
      const seen = new Set<number>();
      for (let i = 0; i < 20; i++) seen.add(await infer('d', 1 + i));
      expect(seen).toEqual(new Set([2, 3]));
      const rolled = await call('POST', '/api/v1/deployments/d/rollback', { reason: 'p95 up' });
      expect(rolled.body).toMatchObject({ routes: [{ version: 2, weight: 100 }], mirror: null });
      for (let i = 0; i < 20; i++) expect(await infer('d', 1 + i)).toBe(2);
      const show = await call('GET', '/api/v1/deployments/d');
      expect(show.status).toBe(200);
      expect((show.body.events as { kind: string }[]).map((e) => e.kind)).toEqual([
        'rollback',
        'canary',
        'promote',
        'canary',
        'deploy',
      ]);
      expect(show.body.events[0]).toMatchObject({ actor: 'alice', reason: 'p95 up' });
      expect(show.body.events[2]).toMatchObject({ reason: 'canary looked fine' });
      expect(show.body.events[4]).toMatchObject({ reason: 'first' });
      expect(show.body.live.routes).toHaveLength(1);
      expect(show.body.droppedPredictions).toBe(0);
    });

    it('promote and rollback under concurrent traffic fail no request', async () => {
      await deploy({ name: 'swap', model: 'lin@1' });
      await deploy({ name: 'swap', model: 'lin@2', canary: 50 });
      const send = (i: number) =>
        app.inject({
          method: 'POST',
          url: '/v2/models/swap/infer',
          headers: { authorization: `Bearer ${editor}`, 'content-type': 'application/json' },
          payload: JSON.stringify(linBody(1 + (i % 5))),
        });
      const first = Array.from({ length: 150 }, (_, i) => send(i));
      const promoted = call('POST', '/api/v1/deployments/swap/promote');
      const second = Array.from({ length: 150 }, (_, i) => send(i));
      const rolled = promoted.then(() => call('POST', '/api/v1/deployments/swap/rollback'));
      const third = Array.from({ length: 150 }, (_, i) => send(i));
      const results = await Promise.all([...first, ...second, ...third]);
      expect((await promoted).status).toBe(200);
      expect((await rolled).status).toBe(200);
      expect(results.filter((r) => r.statusCode !== 200)).toEqual([]);
      // Rolled back to last good, which the promote made version 2.
      expect(await infer('swap', 3)).toBe(2);
    });

    it('A/B splits between two named versions', async () => {
      const res = await deploy({ name: 'ab', model: 'lin@1', ab: { model: 'lin@3', percent: 50 } });
      expect(res.status).toBe(201);
      const counts = new Map<number, number>();
      for (let i = 0; i < 200; i++) {
        const w = await infer('ab', 1);
        counts.set(w, (counts.get(w) ?? 0) + 1);
      }
      // The even sequence splits any run within a request or two of the weights.
      expect(Math.abs(counts.get(1)! - 100)).toBeLessThanOrEqual(2);
      expect(counts.get(1)! + counts.get(3)!).toBe(200);
      expect((await call('POST', '/api/v1/deployments/ab/promote')).body.routes).toEqual([
        { model: 'lin', version: 3, ref: '3', weight: 100, role: 'stable' },
      ]);
    });

    it('writes the prediction log in batches, not per request', async () => {
      await deploy({ name: 'batch', model: 'lin@1' });
      // Start from an empty buffer: batches mix deployments, and earlier tests left records.
      await t.ctx.deployments.flushPredictions();
      for (let i = 0; i < 120; i++) await infer('batch', 1);
      // Two full batches of 50 are written at once; the last 20 wait for the (60 s) timer.
      let rows = await logRows('batch');
      for (let i = 0; i < 200 && rows.length < 100; i++) {
        await new Promise((r) => setTimeout(r, 10));
        rows = await logRows('batch');
      }
      await new Promise((r) => setTimeout(r, 100));
      expect((await logRows('batch')).length).toBe(100);
      await t.ctx.deployments.flushPredictions();
      rows = await logRows('batch');
      expect(rows.length).toBe(120);
      expect(new Set(rows.map((r) => r.request_id)).size).toBe(120);
      expect(rows.every((r) => r.route === 'primary' && r.version === 1 && r.error === null)).toBe(
        true,
      );
    });

    it('takes the request id from the body, then x-request-id, else makes one, and returns it', async () => {
      const fromBody = await call('POST', '/v2/models/batch/infer', linBody(1, { id: 'body-1' }), {
        'x-request-id': 'hdr-0',
      });
      expect(fromBody.body.id).toBe('body-1');
      expect(fromBody.requestId).toBe('body-1');
      const fromHeader = await call('POST', '/v2/models/batch/infer', linBody(1), {
        'x-request-id': 'hdr-1',
      });
      expect(fromHeader.body.id).toBe('hdr-1');
      const made = await call('POST', '/v2/models/batch/infer', linBody(1));
      expect(made.body.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(made.requestId).toBe(made.body.id);
      const records = await call(
        'POST',
        '/api/v1/deployments/batch/predict',
        { records: [{ x: 1 }] },
        {
          'x-request-id': 'rec-1',
        },
      );
      expect(records.body.id).toBe('rec-1');
    });

    it('attaches feedback by request id; unknown ids and deployments are 404', async () => {
      await call('POST', '/v2/models/batch/infer', linBody(4, { id: 'fb-1' }));
      const res = await call('POST', '/api/v1/deployments/batch/feedback', {
        request_id: 'fb-1',
        ground_truth: 4.5,
      });
      expect(res).toMatchObject({ status: 200, body: { request_id: 'fb-1', updated: 1 } });
      const row = (await logRows('batch')).find((r) => r.request_id === 'fb-1')!;
      expect(JSON.parse(row.ground_truth!)).toBe(4.5);
      expect(row.feedback_at).not.toBeNull();
      const unknown = await call('POST', '/api/v1/deployments/batch/feedback', {
        request_id: 'never-sent',
        ground_truth: 1,
      });
      expect(unknown.status).toBe(404);
      expect(unknown.body.message).toMatch(/no logged prediction with request id 'never-sent'/);
      const nodep = await call('POST', '/api/v1/deployments/nope/feedback', {
        request_id: 'fb-1',
        ground_truth: 1,
      });
      expect(nodep.status).toBe(404);
      expect(nodep.body.message).toMatch(/no deployment named 'nope'/);
      const missing = await call('POST', '/api/v1/deployments/batch/feedback', {
        request_id: 'fb-1',
      });
      expect(missing.status).toBe(400);
    });

    it('refuses bad input with clear 4xx and keeps serving', async () => {
      const cases: [Record<string, unknown>, number, RegExp][] = [
        [{ name: 'd', model: 'lin@99' }, 404, /Model Version \(name=lin, version=99\) not found/],
        [{ name: 'd', model: 'lin@nosuchalias' }, 404, /has no alias 'nosuchalias'/],
        [{ name: 'd', model: 'nomodel@1' }, 404, /not found/],
        [{ name: 'd', model: 'lin' }, 400, /must be <model>@<version> or <model>@<alias>/],
        [
          { name: 'd', model: 'lin@3', canary: 150 },
          400,
          /canary must be a percent greater than 0/,
        ],
        [{ name: 'd', model: 'lin@3', canary: 0 }, 400, /canary must be a percent/],
        [{ name: 'd', model: 'lin@3', shadow: -5 }, 400, /shadow must be a percent/],
        [{ name: 'd', model: 'lin@3', ab: { model: 'lin@1', percent: 100 } }, 400, /ab percent/],
        [{ name: 'd', model: 'lin@3', canary: 10, shadow: 10 }, 400, /at most one of/],
        [
          { name: 'new', model: 'lin@3', canary: 10 },
          404,
          /no deployment named 'new' to canary against/,
        ],
        [{ name: 'd', model: 'lin@2', canary: 10 }, 400, /already the stable version/],
        [{ name: 'bad/name', model: 'lin@1' }, 400, /deployment name 'bad\/name' is not allowed/],
        [{ name: 'd', model: 'broken@1' }, 400, /not a valid ONNX graph/],
        [{ name: 'd', model: 'lin@1', canary: '10' }, 400, /canary/],
      ];
      for (const [body, status, message] of cases) {
        const res = await deploy(body);
        expect(res.status, JSON.stringify(body)).toBe(status);
        expect(res.body.message).toMatch(message);
      }
      expect((await call('POST', '/v2/models/nope/infer', linBody(1))).status).toBe(404);
      expect((await call('GET', '/api/v1/deployments/nope')).status).toBe(404);
      expect((await call('POST', '/api/v1/deployments/nope/rollback')).status).toBe(404);
      const promote = await call('POST', '/api/v1/deployments/d/promote');
      expect(promote.status).toBe(409);
      expect(promote.body.message).toMatch(/no canary, A\/B arm or shadow to promote/);
      const viewer = (await t.ctx.tokens.create({ name: 'v', role: 'viewer' }, 'test')).secret;
      const denied = await call(
        'POST',
        '/api/v1/deployments',
        { name: 'd', model: 'lin@1' },
        {
          authorization: `Bearer ${viewer}`,
        },
      );
      expect(denied.status).toBe(403);
      // Nothing above changed 'd': it still serves version 2 only, at the same revision.
      const show = await call('GET', '/api/v1/deployments/d');
      expect(show.body.routes).toEqual([
        { model: 'lin', version: 2, ref: '2', weight: 100, role: 'stable' },
      ]);
      expect(show.body.events).toHaveLength(5);
      expect(await infer('d', 2)).toBe(2);
    });

    it('lists stored deployments with their routes and live state', async () => {
      const list = await call('GET', '/api/v1/deployments');
      const d = (list.body.deployments as { name: string }[]).find((x) => x.name === 'd');
      expect(d).toMatchObject({
        live: true,
        platform: 'mobius-json',
        routes: [{ version: 2 }],
        lastGood: { model: 'lin', version: 2 },
        droppedPredictions: 0,
      });
    });

    it('automatic canary analysis rolls back a failing candidate; stable clients see no failure', async () => {
      await deploy({ name: 'auto', model: 'lin@1' });
      const res = await deploy({
        name: 'auto',
        model: 'lin@4',
        canary: 20,
        analysis: { minRequests: 10 },
      });
      expect(res.status).toBe(200);
      const failures = new Map<string, number>();
      const served = new Map<string, number>();
      for (let i = 0; i < 100; i++) {
        const r = await call('POST', '/v2/models/auto/infer', linBody(1));
        served.set(r.version!, (served.get(r.version!) ?? 0) + 1);
        if (r.status !== 200) failures.set(r.version!, (failures.get(r.version!) ?? 0) + 1);
      }
      // Version 4 takes two features, so every request it gets fails; version 1's never do.
      expect(failures.get('lin@1')).toBeUndefined();
      expect(failures.get('lin@4')).toBe(served.get('lin@4'));
      expect(served.get('lin@4')).toBeGreaterThanOrEqual(10);
      expect(await t.ctx.deployments.analyze('auto')).toBe('rollback');
      const show = await call('GET', '/api/v1/deployments/auto');
      expect(show.body.routes).toEqual([
        { model: 'lin', version: 1, ref: '1', weight: 100, role: 'stable' },
      ]);
      expect(show.body.events[0]).toMatchObject({
        kind: 'auto-rollback',
        actor: 'canary-analysis',
      });
      expect(show.body.events[0].reason).toMatch(
        /automatic rollback: error rate exceeds stable's.*candidate lin@4: \d+ requests, error rate 100\.00%/,
      );
      for (let i = 0; i < 20; i++) expect(await infer('auto', 1)).toBe(1);
      // A healthy candidate is promoted by the same analysis.
      // A generous latency ratio: sub-millisecond p95s of a tiny model are noise on a shared machine.
      await deploy({
        name: 'auto',
        model: 'lin@2',
        canary: 50,
        analysis: { minRequests: 10, maxLatencyRatio: 50 },
      });
      expect(await t.ctx.deployments.analyze('auto')).toBe('wait');
      for (let i = 0; i < 40; i++) await infer('auto', 1);
      expect(await t.ctx.deployments.analyze('auto')).toBe('promote');
      const after = await call('GET', '/api/v1/deployments/auto');
      expect(after.body).toMatchObject({
        routes: [{ version: 2, weight: 100 }],
        lastGood: { version: 2 },
      });
      expect(after.body.events[0]).toMatchObject({
        kind: 'auto-promote',
        actor: 'canary-analysis',
      });
      expect(after.body.events[0].reason).toMatch(
        /^automatic promotion: within limits \(candidate lin@2: \d+ requests, error rate 0\.00%/,
      );
      // A candidate that answers without errors but predicts differently (3x against 2x) is
      // rolled back once a prediction-shift limit is set.
      await deploy({
        name: 'auto',
        model: 'lin@3',
        canary: 50,
        analysis: { minRequests: 20, maxLatencyRatio: 50, maxPredictionShift: 0.2 },
      });
      for (let i = 0; i < 60; i++) await infer('auto', 1 + (i % 7));
      expect(await t.ctx.deployments.analyze('auto')).toBe('rollback');
      const shifted = await call('GET', '/api/v1/deployments/auto');
      expect(shifted.body.routes).toEqual([
        { model: 'lin', version: 2, ref: '2', weight: 100, role: 'stable' },
      ]);
      expect(shifted.body.events[0].reason).toMatch(
        /predictions shifted from stable's by more than KS D 0\.2 .*prediction shift KS D 0\.[3-9]\d\d\)$/,
      );
      const bad = await deploy({
        name: 'auto',
        model: 'lin@3',
        canary: 50,
        analysis: { maxPredictionShift: 2 },
      });
      expect(bad.status).toBe(400);
      expect(JSON.stringify(bad.body)).toMatch(/maxPredictionShift must be a Kolmogorov/);
    });
  });

  describe(`prediction log overflow: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;

    beforeAll(async () => {
      // A 5-record buffer that is written only on flush: the 6th record onwards is dropped.
      t = await openTestContext(
        backend,
        {},
        { predictionLog: { bufferSize: 5, batchSize: 1000, flushIntervalMs: 60_000 } },
      );
      app = await buildServer(t.ctx);
      await registerLinearVersions(t.ctx, 'lin', [1]);
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    it('counts the records dropped when the buffer is full, and inference never fails for it', async () => {
      await t.ctx.deployments.deploy({ name: 'o', model: 'lin@1' }, 'test');
      for (let i = 0; i < 8; i++) {
        const res = await app.inject({
          method: 'POST',
          url: '/v2/models/o/infer',
          payload: linBody(i + 1),
        });
        expect(res.statusCode).toBe(200);
      }
      const show = await app.inject({ method: 'GET', url: '/api/v1/deployments/o' });
      expect(show.json().droppedPredictions).toBe(3);
      const list = await app.inject({ method: 'GET', url: '/api/v1/deployments' });
      expect(list.json().deployments[0]).toMatchObject({ name: 'o', droppedPredictions: 3 });
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toContain('mobius_serving_predictions_dropped_total{deployment="o"} 3');
      await t.ctx.deployments.flushPredictions();
      const rows = await t.ctx.store.db
        .selectFrom('prediction_log')
        .select('outputs')
        .where('deployment', '=', 'o')
        .orderBy('seq')
        .execute();
      // The first five were kept, in order.
      expect(rows.map((r) => firstOutput(r.outputs)[0])).toEqual([1, 2, 3, 4, 5]);
    });
  });
}
