/**
 * MLflow 3 LoggedModels over MLflow's protocol on every backend in TEST_STORES: a source
 * run this server does not hold, metrics logged with a model_id (log-metric, log-batch),
 * search by dataset and order_by, the `mlflow.modelVersions` tag of registry versions,
 * a model's artifacts/directories and artifacts/files, and the UI's upload-artifact.
 * Plus migration 009 on a database frozen at 007: rows (and their children) are kept.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { newId } from '../src/core/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS, openTestStore } from './helpers/stores.js';

const API = '/api/2.0/mlflow';
const AJAX = '/ajax-api/2.0/mlflow';

/** The parts of MLflow's responses these tests read. */
interface ModelJson {
  info: { model_id: string; name: string; artifact_uri: string; source_run_id?: string };
  data: { metrics: unknown[] };
}
interface Body {
  model: ModelJson;
  models: ModelJson[];
  message: string;
  files: unknown[];
}

for (const backend of STORE_BACKENDS) {
  describe(`MLflow LoggedModels: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let experimentId: string;

    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
      experimentId = await t.ctx.tracking.experiments.create({ name: 'logged-models' });
    });
    afterAll(async () => {
      await app?.close();
      await t?.cleanup();
    });

    const call = async (
      method: 'GET' | 'POST' | 'DELETE' | 'PATCH',
      url: string,
      body?: object,
    ) => {
      const res = await app.inject({
        method,
        url,
        ...(body === undefined ? {} : { payload: body }),
      });
      return { status: res.statusCode, body: res.json<Body>(), raw: res };
    };
    const newModel = async (extra: object = {}) =>
      (await call('POST', `${API}/logged-models`, { experiment_id: experimentId, ...extra })).body
        .model;
    const newRun = async () => (await t.ctx.tracking.runs.create({ experimentId })).info.id;

    it('stores a source_run_id of a run it does not hold, as MLflow does', async () => {
      const model = await newModel({ source_run_id: '123' });
      const got = await call('GET', `${API}/logged-models/${model.info.model_id}`);
      expect(got.body.model.info.source_run_id).toBe('123');
    });

    it('keeps metrics logged with a model_id on the model, and on the run', async () => {
      const model = await newModel();
      const id = model.info.model_id;
      const run = await newRun();
      const logged = await call('POST', `${API}/runs/log-metric`, {
        run_id: run,
        key: 'acc',
        value: 0.5,
        timestamp: 123456789,
        step: 1,
        model_id: id,
        dataset_name: 'eval',
        dataset_digest: 'd1',
      });
      expect(logged.status).toBe(200);
      await call('POST', `${API}/runs/log-batch`, {
        run_id: run,
        metrics: [
          { key: 'loss', value: 'NaN', timestamp: 5, step: 2, model_id: id },
          { key: 'other', value: 1, timestamp: 5 },
        ],
      });
      const got = await call('GET', `${API}/logged-models/${id}`);
      expect(got.body.model.data.metrics).toEqual([
        {
          key: 'acc',
          value: 0.5,
          timestamp: 123456789,
          step: 1,
          model_id: id,
          run_id: run,
          dataset_name: 'eval',
          dataset_digest: 'd1',
        },
        { key: 'loss', value: 'NaN', timestamp: 5, step: 2, model_id: id, run_id: run },
      ]);
      const runMetrics = (await t.ctx.tracking.runs.get(run)).data.metrics.map((m) => m.key);
      expect(runMetrics.sort()).toEqual(['acc', 'loss', 'other']);
    });

    it('refuses a metric for an unknown model before writing anything', async () => {
      const run = await newRun();
      const res = await call('POST', `${API}/runs/log-metric`, {
        run_id: run,
        key: 'acc',
        value: 1,
        timestamp: 1,
        model_id: 'm-nope',
      });
      expect(res.status).toBe(404);
      expect((await t.ctx.tracking.runs.get(run)).data.metrics).toEqual([]);
    });

    it('searches models by the datasets their metrics were measured on, and orders them', async () => {
      const exp = await t.ctx.tracking.experiments.create({ name: 'search-datasets' });
      const mk = async () =>
        (await call('POST', `${API}/logged-models`, { experiment_id: exp })).body.model.info
          .model_id;
      const a = await mk();
      await new Promise((r) => setTimeout(r, 5));
      const b = await mk();
      const run = (await t.ctx.tracking.runs.create({ experimentId: exp })).info.id;
      await call('POST', `${API}/runs/log-metric`, {
        run_id: run,
        key: 'acc',
        value: 1,
        timestamp: 1,
        model_id: a,
        dataset_name: 'ds',
        dataset_digest: '123',
      });
      const search = async (body: object) =>
        (
          (await call('POST', `${API}/logged-models/search`, { experiment_ids: [exp], ...body }))
            .body.models as { info: { model_id: string } }[]
        ).map((m) => m.info.model_id);
      expect(await search({ datasets: [{ dataset_name: 'ds', dataset_digest: '123' }] })).toEqual([
        a,
      ]);
      expect(await search({ datasets: [{ dataset_name: 'ds' }] })).toEqual([a]);
      expect(await search({ datasets: [{ dataset_name: 'ds', dataset_digest: 'x' }] })).toEqual([]);
      expect(await search({})).toEqual([b, a]);
      expect(
        await search({ order_by: [{ field_name: 'creation_timestamp', ascending: true }] }),
      ).toEqual([a, b]);
      const bad = await call('POST', `${API}/logged-models/search`, {
        experiment_ids: [exp],
        order_by: [{ field_name: 'nope' }],
      });
      expect(bad.status).toBe(400);
    });

    it('lists the registry versions made from a model in its mlflow.modelVersions tag', async () => {
      const model = await newModel();
      const id = model.info.model_id;
      await call('POST', `${API}/registered-models/create`, { name: 'from-model' });
      for (let i = 0; i < 2; i++) {
        const res = await call('POST', `${API}/model-versions/create`, {
          name: 'from-model',
          source: model.info.artifact_uri,
          model_id: id,
        });
        expect(res.status).toBe(200);
      }
      const { tags } = await t.ctx.tracking.loggedModels.get(id);
      expect(tags['mlflow.modelVersions']).toBe(
        '[{"name": "from-model", "version": 1}, {"name": "from-model", "version": 2}]',
      );
      const unknown = await call('POST', `${API}/model-versions/create`, {
        name: 'from-model',
        source: 's3://x',
        model_id: 'm-nope',
      });
      expect(unknown.status).toBe(404);
      expect((await t.ctx.registry.models.get('from-model')).latestVersions[0]?.version).toBe(2);
    });

    it("lists and serves a model's files", async () => {
      const model = await newModel();
      const root = model.info.artifact_uri.replace(/^mlflow-artifacts:\/*/, '');
      await t.ctx.tracking.artifacts.put(
        `${root}/MLmodel`,
        Buffer.from(`model_id: ${model.info.model_id}`),
      );
      await t.ctx.tracking.artifacts.put(`${root}/data/w.bin`, Buffer.from('w'));
      for (const prefix of [API, AJAX]) {
        const dirs = await call(
          'GET',
          `${prefix}/logged-models/${model.info.model_id}/artifacts/directories`,
        );
        expect(dirs.status).toBe(200);
        expect(dirs.body).toEqual({
          root_uri: model.info.artifact_uri,
          files: expect.arrayContaining([
            {
              path: 'MLmodel',
              is_dir: false,
              file_size: Buffer.byteLength(`model_id: ${model.info.model_id}`),
            },
            { path: 'data', is_dir: true },
          ]),
        });
      }
      const sub = await call(
        'GET',
        `${API}/logged-models/${model.info.model_id}/artifacts/directories?artifact_directory_path=data`,
      );
      expect(sub.body.files).toEqual([{ path: 'data/w.bin', is_dir: false, file_size: 1 }]);
      const file = await app.inject({
        method: 'GET',
        url: `${AJAX}/logged-models/${model.info.model_id}/artifacts/files?artifact_file_path=MLmodel`,
      });
      expect(file.statusCode).toBe(200);
      expect(file.body).toBe(`model_id: ${model.info.model_id}`);
      const escape = await call(
        'GET',
        `${AJAX}/logged-models/${model.info.model_id}/artifacts/files?artifact_file_path=../x`,
      );
      expect(escape.status).toBe(400);
      const missing = await call(
        'GET',
        `${AJAX}/logged-models/${model.info.model_id}/artifacts/files`,
      );
      expect(missing.body.message).toContain('artifact_file_path');
    });

    it("uploads a UI file into a run's artifacts (upload-artifact)", async () => {
      const run = await newRun();
      const upload = (query: string, payload?: string) =>
        app.inject({
          method: 'POST',
          url: `${AJAX}/upload-artifact?${query}`,
          headers: { 'content-type': 'text/plain' },
          ...(payload === undefined ? {} : { payload }),
        });
      const ok = await upload(`run_uuid=${run}&path=notes/a.txt`, 'hello world');
      expect(ok.statusCode).toBe(200);
      const got = await app.inject({
        method: 'GET',
        url: `/get-artifact?run_uuid=${run}&path=notes/a.txt`,
      });
      expect(got.body).toBe('hello world');
      const refused = async (query: string, message: string, payload?: string) => {
        const res = await upload(query, payload);
        expect(res.statusCode).toBe(400);
        expect(res.json<{ message: string }>().message).toContain(message);
      };
      await refused('', 'Request must specify run_uuid.');
      await refused(`run_uuid=${run}`, 'Request must specify path.');
      await refused(`run_uuid=${run}&path=../x.txt`, 'Invalid path', 'x');
      await refused(`run_uuid=${run}&path=x.txt`, 'Request must specify data.');
      // The root download routes answer in MLflow's error shape, with its exact message.
      for (const url of [
        `/get-artifact?run_id=${run}&path=../x`,
        `/model-versions/get-artifact?name=none&version=1&path=../x`,
      ]) {
        const bad = await app.inject({ method: 'GET', url });
        expect(bad.statusCode).toBe(400);
        expect(bad.json()).toEqual({
          error_code: 'INVALID_PARAMETER_VALUE',
          message: 'Invalid path',
        });
      }
      const noRun = await call('POST', `${API}/runs/log-metric`, { key: 'k', value: 1 });
      expect(noRun.body.message).toBe("Missing value for required parameter 'run_id'.");
      const big = await upload(`run_uuid=${run}&path=big.bin`, 'x'.repeat(10 * 1024 * 1024 + 1));
      expect(big.json<{ message: string }>().message).toContain('too large');
    });
  });

  describe(`migration 009 on a store frozen at 007: ${backend}`, () => {
    it('keeps models, tags, params and run links, and then accepts any source run id', async () => {
      const s = await openTestStore(backend, { migrate: false });
      try {
        await s.store.migrate({ to: '007-metric-batches' });
        const exp = newId();
        const run = newId();
        await s.store.write(async (trx) => {
          await trx
            .insertInto('experiment')
            .values({
              id: exp,
              name: 'frozen',
              artifact_location: null,
              lifecycle_stage: 'active',
              created_at: 1,
              updated_at: 1,
            })
            .execute();
          await trx
            .insertInto('run')
            .values({
              id: run,
              experiment_id: exp,
              name: 'r',
              status: 'RUNNING',
              user_id: null,
              start_time: 1,
              end_time: null,
              artifact_uri: null,
              lifecycle_stage: 'active',
              parent_run_id: null,
              deleted_time: null,
            })
            .execute();
          await trx
            .insertInto('logged_model')
            .values({
              id: 'm-1',
              experiment_id: exp,
              name: 'kept',
              model_type: null,
              source_run_id: run,
              status: 'LOGGED_MODEL_READY',
              status_message: null,
              artifact_uri: 'mlflow-artifacts:/x',
              creator_id: null,
              lifecycle_stage: 'active',
              created_at: 1,
              updated_at: 1,
            })
            .execute();
          await trx
            .insertInto('logged_model_tag')
            .values({ model_id: 'm-1', key: 't', value: '1' })
            .execute();
          await trx
            .insertInto('logged_model_param')
            .values({ model_id: 'm-1', key: 'p', value: '2' })
            .execute();
          await trx
            .insertInto('run_model_link')
            .values({ run_id: run, model_id: 'm-1', direction: 'output', step: 3, created_at: 1 })
            .execute();
        });
        const report = await s.store.migrate();
        expect(report.steps.map((step) => step.name)).toContain('009-logged-model-source');
        const db = s.store.db;
        expect(
          await db.selectFrom('logged_model').select(['id', 'source_run_id']).execute(),
        ).toEqual([{ id: 'm-1', source_run_id: run }]);
        expect(await db.selectFrom('logged_model_tag').selectAll().execute()).toEqual([
          { model_id: 'm-1', key: 't', value: '1' },
        ]);
        expect(await db.selectFrom('logged_model_param').selectAll().execute()).toHaveLength(1);
        expect(await db.selectFrom('run_model_link').select('step').execute()).toEqual([
          { step: 3 },
        ]);
        await s.store.write((trx) =>
          trx
            .insertInto('logged_model')
            .values({
              id: 'm-2',
              experiment_id: exp,
              name: 'elsewhere',
              model_type: null,
              source_run_id: 'not-a-run-here',
              status: 'LOGGED_MODEL_READY',
              status_message: null,
              artifact_uri: 'mlflow-artifacts:/y',
              creator_id: null,
              lifecycle_stage: 'active',
              created_at: 1,
              updated_at: 1,
            })
            .execute(),
        );
        // The children still cascade from the rebuilt parent.
        await s.store.write((trx) =>
          trx.deleteFrom('logged_model').where('id', '=', 'm-1').execute(),
        );
        expect(await db.selectFrom('logged_model_tag').selectAll().execute()).toEqual([]);
        expect(await db.selectFrom('run_model_link').selectAll().execute()).toEqual([]);
      } finally {
        await s.cleanup();
      }
    });
  });
}
