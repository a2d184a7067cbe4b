/**
 * Run inputs and outputs (MLflow's log-inputs and runs/outputs) on every backend in
 * TEST_STORES: datasets stored once per (experiment, name, digest), repeats are no-ops,
 * limits named, `datasets.` search filters, and the wire form MLflow's client reads.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import type { DatasetInput } from '../src/tracking/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const dataset = (name: string, digest: string, context?: string): DatasetInput => ({
  dataset: { name, digest, sourceType: 'local', source: `{"uri": "/data/${name}.csv"}` },
  tags: context === undefined ? [] : [{ key: 'mlflow.data.context', value: context }],
});

for (const backend of STORE_BACKENDS) {
  describe(`run inputs: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let experimentId: string;

    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
      experimentId = await t.ctx.tracking.experiments.create({ name: 'inputs' });
    });
    afterAll(async () => {
      await app?.close();
      await t?.cleanup();
    });

    const newRun = async () => (await t.ctx.tracking.runs.create({ experimentId })).info.id;

    it('stores a dataset once per experiment, name and digest; repeats are no-ops', async () => {
      const { inputs } = t.ctx.tracking;
      const a = await newRun();
      const b = await newRun();
      await inputs.logInputs(a, [dataset('train', 'd1', 'training'), dataset('train', 'd1', 'x')]);
      await inputs.logInputs(a, [dataset('train', 'd1', 'eval')]);
      await inputs.logInputs(b, [dataset('train', 'd1', 'eval'), dataset('test', 'd2')]);
      const io = await inputs.ioOf([a, b]);
      expect(io.get(a)?.datasetInputs).toEqual([
        {
          dataset: {
            name: 'train',
            digest: 'd1',
            sourceType: 'local',
            source: '{"uri": "/data/train.csv"}',
            schema: null,
            profile: null,
          },
          tags: [{ key: 'mlflow.data.context', value: 'training' }],
        },
      ]);
      expect(
        io
          .get(b)
          ?.datasetInputs.map((i) => i.dataset.name)
          .sort(),
      ).toEqual(['test', 'train']);
      const rows = await t.ctx.store.db
        .selectFrom('run_dataset')
        .select('name')
        .where('experiment_id', '=', experimentId)
        .execute();
      expect(rows.map((r) => r.name).sort()).toEqual(['test', 'train']);
      const edges = await t.ctx.store.db
        .selectFrom('edge')
        .select(['from_id', 'relation'])
        .where('to_kind', '=', 'run_dataset')
        .where('from_id', '=', a)
        .execute();
      expect(edges).toEqual([{ from_id: a, relation: 'consumed' }]);
    });

    it('names the limit a dataset or input tag breaks, and stores nothing', async () => {
      const { inputs } = t.ctx.tracking;
      const run = await newRun();
      await expect(inputs.logInputs(run, [dataset('x', 'd'.repeat(37))])).rejects.toThrow(
        'dataset digest is 37 characters; the limit is 36',
      );
      const longTag = dataset('x', 'd');
      longTag.tags.push({ key: 'k', value: 'v'.repeat(501) });
      await expect(inputs.logInputs(run, [longTag])).rejects.toThrow(
        "input tag 'k' value is 501 characters; the limit is 500",
      );
      expect((await inputs.ioOfRun(run)).datasetInputs).toEqual([]);
      await expect(inputs.logInputs('no-such-run', [dataset('x', 'd')])).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
    });

    it('refuses inputs on a deleted run', async () => {
      const run = await newRun();
      await t.ctx.tracking.runs.setLifecycle(run, 'deleted');
      await expect(t.ctx.tracking.inputs.logInputs(run, [dataset('x', 'd')])).rejects.toThrow(
        'Current state is deleted',
      );
    });

    it('filters runs on datasets.name, digest and context, with OR, IN and LIKE', async () => {
      const exp = await t.ctx.tracking.experiments.create({ name: 'inputs-search' });
      const run = async (...inputs: DatasetInput[]) => {
        const id = (await t.ctx.tracking.runs.create({ experimentId: exp })).info.id;
        if (inputs.length > 0) await t.ctx.tracking.inputs.logInputs(id, inputs);
        return id;
      };
      const r1 = await run(dataset('iris', 'aaa', 'training'));
      const r2 = await run(dataset('iris', 'bbb', 'eval'), dataset('wine', 'ccc', 'training'));
      const r3 = await run();
      const ids = async (filter: string) =>
        (await t.ctx.tracking.runs.search({ experimentIds: [exp], filter })).runs
          .map((r) => r.info.id)
          .sort();
      expect(await ids("datasets.name = 'iris'")).toEqual([r1, r2].sort());
      expect(await ids("datasets.digest IN ('aaa', 'ccc')")).toEqual([r1, r2].sort());
      expect(await ids("datasets.context = 'eval'")).toEqual([r2]);
      expect(await ids("datasets.name = 'iris' and datasets.context = 'training'")).toEqual(
        [r1, r2].sort(),
      );
      expect(await ids("datasets.name LIKE 'w%' or datasets.digest = 'aaa'")).toEqual(
        [r1, r2].sort(),
      );
      expect(await ids("datasets.name != 'iris'")).toEqual([r2]);
      expect(await ids("datasets.digest NOT IN ('aaa')")).toEqual([r2]);
      expect(await ids("datasets.name ILIKE 'IRIS'")).toEqual([r1, r2].sort());
      expect(await ids("datasets.name = 'none'")).toEqual([]);
      expect(r3).toBeTypeOf('string');
    });

    it('lists an experiment’s datasets with their contexts (search-datasets)', async () => {
      const exp = await t.ctx.tracking.experiments.create({ name: 'inputs-summary' });
      const id = (await t.ctx.tracking.runs.create({ experimentId: exp })).info.id;
      await t.ctx.tracking.inputs.logInputs(id, [dataset('b', 'd2'), dataset('a', 'd1', 'eval')]);
      const res = await app.inject({
        method: 'POST',
        url: '/ajax-api/2.0/mlflow/experiments/search-datasets',
        payload: { experiment_ids: [exp] },
      });
      expect(res.json()).toEqual({
        dataset_summaries: [
          { experiment_id: exp, name: 'a', digest: 'd1', context: 'eval' },
          { experiment_id: exp, name: 'b', digest: 'd2' },
        ],
      });
      for (const [ids, message] of [
        [[], 'must specify at least one experiment_id'],
        [Array.from({ length: 21 }, (_, i) => `e${i}`), 'cannot specify more than 20'],
      ] as const) {
        const bad = await app.inject({
          method: 'POST',
          url: '/ajax-api/2.0/mlflow/experiments/search-datasets',
          payload: { experiment_ids: ids },
        });
        expect(bad.statusCode).toBe(400);
        expect(bad.json<{ message: string }>().message).toContain(message);
      }
    });

    it('speaks log-inputs and returns inputs and outputs on runs/get and runs/search', async () => {
      const run = await newRun();
      const post = (url: string, payload: unknown) =>
        app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> });
      const logged = await post('/api/2.0/mlflow/runs/log-inputs', {
        run_id: run,
        datasets: [
          {
            tags: [{ key: 'mlflow.data.context', value: 'training' }],
            dataset: {
              name: 'wire',
              digest: 'abc',
              source_type: 'http',
              source: '{"url": "https://x"}',
              schema: '{"mlflow_colspec": []}',
            },
          },
        ],
      });
      expect(logged.statusCode, logged.body).toBe(200);
      const model = await t.ctx.tracking.loggedModels.create({ experimentId, sourceRunId: run });
      const out = await post('/api/2.0/mlflow/runs/outputs', {
        run_id: run,
        models: [{ model_id: model.id, step: '3' }],
      });
      expect(out.statusCode, out.body).toBe(200);
      const got = await app.inject({ url: `/api/2.0/mlflow/runs/get?run_id=${run}` });
      const body = got.json<{ run: { inputs: unknown; outputs: unknown } }>();
      expect(body.run.inputs).toEqual({
        dataset_inputs: [
          {
            tags: [{ key: 'mlflow.data.context', value: 'training' }],
            dataset: {
              name: 'wire',
              digest: 'abc',
              source_type: 'http',
              source: '{"url": "https://x"}',
              schema: '{"mlflow_colspec": []}',
            },
          },
        ],
        model_inputs: [],
      });
      expect(body.run.outputs).toEqual({ model_outputs: [{ model_id: model.id, step: 3 }] });
      const searched = await post('/api/2.0/mlflow/runs/search', {
        experiment_ids: [experimentId],
        filter: "datasets.name = 'wire'",
      });
      const runs = searched.json<{ runs: { info: { run_id: string }; inputs: unknown }[] }>().runs;
      expect(runs.map((r) => r.info.run_id)).toEqual([run]);
      expect(runs[0]?.inputs).toEqual(body.run.inputs);

      const missing = await post('/api/2.0/mlflow/runs/log-inputs', {
        run_id: run,
        datasets: [{ dataset: { name: 'x', digest: 'y', source_type: 'z' } }],
      });
      expect(missing.statusCode).toBe(400);
      expect(missing.json()).toMatchObject({
        error_code: 'INVALID_PARAMETER_VALUE',
        message: expect.stringContaining("'datasets[0].dataset.source'") as unknown,
      });
    });
  });
}
