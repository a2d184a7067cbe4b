/**
 * Lineage walks on each metadata backend, over edges written by the real services: a
 * pipeline reads `orders`, writes `features`, a training step reads those, and a model
 * version is registered from the training run. The walk from the model goes back to the
 * raw data and the code commit.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipeline, step } from '../src/pipelines/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';
import { refused } from './helpers/refused.js';
import { buildServer } from '../src/api/index.js';

const BIN = fileURLToPath(new URL('../bin/mobius.js', import.meta.url));

const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

for (const backend of STORE_BACKENDS) {
  describe(`lineage (${backend})`, () => {
    let t: TestContext;
    let dir: string;
    let trainRun: string;
    let prepRun: string;
    let ordersId: string;
    let featuresId: string;
    let commit: string;

    beforeAll(async () => {
      t = await openTestContext(backend);
      dir = mkdtempSync(join(tmpdir(), 'mobius-lineage-'));
      writeFileSync(join(dir, 'orders.csv'), 'id,amount\n1,5\n2,7\n3,9\n');
      // A git checkout: the pipeline tags its step runs with the commit, as MLflow clients do.
      const git = (...args: string[]) =>
        spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
          cwd: dir,
          encoding: 'utf8',
        }).stdout.trim();
      git('init', '-q');
      git('add', 'orders.csv');
      git('commit', '-qm', 'orders');
      commit = git('rev-parse', 'HEAD');
      expect(commit).toMatch(/^[0-9a-f]{40}$/);
      ordersId = (await t.ctx.data.add({ name: 'orders', source: 'orders.csv', cwd: dir })).version
        .id;
      const p = pipeline('churn', {
        steps: [
          step('prep', {
            inputs: { orders: 'dataset:orders@latest' },
            outputs: [{ dataset: 'features', as: 'features' }],
            run: async (ctx) => writeFile(ctx.outputs.features!, 'id,big\n1,false\n3,true\n'),
          }),
          step('train', {
            inputs: { features: 'prep.features' },
            outputs: ['model'],
            run: async (ctx) => writeFile(ctx.outputs.model!, '{}'),
          }),
        ],
      });
      const run = await t.ctx.pipelines.run(p, { baseDir: dir, env: ENV });
      expect(run.status, JSON.stringify(run.steps)).toBe('succeeded');
      prepRun = run.steps.prep!.trackingRunId!;
      trainRun = run.steps.train!.trackingRunId!;
      featuresId = run.steps.prep!.datasets.out.features!.versionId;
      await t.ctx.registry.models.create({ name: 'churn' });
      await t.ctx.registry.versions.create({
        name: 'churn',
        source: 'models:/churn/1',
        runId: trainRun,
      });
      await t.ctx.registry.aliases.set('churn', 'stable', 1);
    });
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('walks from a model version back to the raw data, with the code commit, in order', async () => {
      for (const ref of ['model:churn@1', 'model:churn@stable']) {
        const { start, upstream } = await t.ctx.lineage.upstream(ref);
        expect(start).toMatchObject({ kind: 'model_version', id: 'churn@1', depth: 0 });
        expect(
          upstream.map((n) => [n.depth, n.kind, n.id, n.downstream?.relation, n.label]),
        ).toEqual([
          [1, 'run', trainRun, 'produced', expect.stringMatching(/^run .*train.* \(FINISHED\)$/)],
          [2, 'dataset_version', featuresId, 'consumed', 'dataset features@1'],
          [3, 'run', prepRun, 'produced', expect.stringMatching(/prep/)],
          [4, 'dataset_version', ordersId, 'consumed', 'dataset orders@1'],
        ]);
        expect(upstream[0]!.details).toMatchObject({ gitCommit: commit });
        expect(upstream[2]!.details).toMatchObject({ gitCommit: commit });
        expect(upstream[1]!.details).toMatchObject({ rowCount: 2 });
        expect(upstream[1]!.downstream).toEqual({
          kind: 'run',
          id: trainRun,
          relation: 'consumed',
        });
      }
    });

    it('walks from a dataset version or a run; the raw data has nothing upstream', async () => {
      const features = await t.ctx.lineage.upstream('dataset:features@1');
      expect(features.start.label).toBe('dataset features@1');
      expect(features.upstream.map((n) => n.id)).toEqual([prepRun, ordersId]);
      expect((await t.ctx.lineage.upstream(`run:${prepRun}`)).upstream.map((n) => n.id)).toEqual([
        ordersId,
      ]);
      expect((await t.ctx.lineage.upstream('dataset:orders@1')).upstream).toEqual([]);
      // A depth limit stops the walk.
      const near = await t.ctx.lineage.upstream('model:churn@1', 2);
      expect(near.upstream.map((n) => n.depth)).toEqual([1, 2]);
    });

    it('answers over HTTP and prints a tree from the CLI', async () => {
      const app = await buildServer(t.ctx);
      try {
        const res = await app.inject({
          method: 'GET',
          url: `/api/v1/lineage?ref=${encodeURIComponent('model:churn@stable')}`,
        });
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json<{ upstream: { id: string }[] }>();
        expect(body.upstream.map((n) => n.id)).toEqual([trainRun, featuresId, prepRun, ordersId]);
        const bad = await app.inject({ method: 'GET', url: '/api/v1/lineage?ref=churn' });
        expect(bad.statusCode).toBe(400);
        expect(bad.body).toMatch(/not a lineage reference/);
      } finally {
        await app.close();
      }
      const cli = spawnSync(
        process.execPath,
        [
          BIN,
          '--store',
          t.ctx.config.store,
          '--home',
          t.ctx.config.home,
          'lineage',
          'model:churn@1',
        ],
        { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' },
      );
      expect(cli.status, cli.stderr).toBe(0);
      const lines = cli.stdout.trim().split('\n');
      expect(lines[0]).toBe('model churn@1  [source models:/churn/1, status READY]');
      expect(lines[1]).toMatch(
        new RegExp(`^└─ produced ← run .*train.* \\(FINISHED\\) .*gitCommit ${commit}`),
      );
      expect(lines[2]).toMatch(/^ {3}└─ consumed ← dataset features@1 /);
      expect(lines[3]).toMatch(/^ {6}└─ produced ← run .*prep/);
      expect(lines[4]).toMatch(/^ {9}└─ consumed ← dataset orders@1 /);
    });

    it('walks from a prediction through the model version that answered it to the data and the commit', async () => {
      // The training run logs a real Mobius JSON model; the registered version is deployed.
      const run = await t.ctx.tracking.runs.get(trainRun);
      const root = `${run.info.experimentId}/${trainRun}/artifacts/model`;
      const model = {
        format: 'mobius-linear',
        features: ['amount'],
        task: 'regression',
        coefficients: [2],
        intercept: 0,
      };
      await t.ctx.tracking.artifacts.put(
        `${root}/model.mobius.json`,
        Readable.from([Buffer.from(JSON.stringify(model))]),
      );
      await t.ctx.tracking.artifacts.put(`${root}/MLmodel`, Readable.from(['flavors: {}']));
      const v = await t.ctx.registry.versions.create({
        name: 'churn',
        source: `runs:/${trainRun}/model`,
        runId: trainRun,
      });
      await t.ctx.deployments.deploy({ name: 'churn-live', model: `churn@${v.version}` }, 'test');
      const answer = await t.ctx.serving.infer('churn-live', {
        id: 'req-42',
        inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 1], data: [3] }],
      });
      expect(answer.outputs[0]!.data).toEqual([6]);
      await t.ctx.deployments.flushPredictions();
      const { start, upstream } = await t.ctx.lineage.upstream('prediction:req-42');
      expect(start).toMatchObject({
        kind: 'prediction',
        id: 'req-42',
        details: { deployment: 'churn-live' },
      });
      expect(upstream.map((n) => [n.depth, n.kind, n.id, n.downstream?.relation])).toEqual([
        [1, 'model_version', `churn@${v.version}`, 'predicted'],
        [2, 'run', trainRun, 'produced'],
        [3, 'dataset_version', featuresId, 'consumed'],
        [4, 'run', prepRun, 'produced'],
        [5, 'dataset_version', ordersId, 'consumed'],
      ]);
      expect(upstream[1]!.details).toMatchObject({ gitCommit: commit });
    });

    it('refuses references it cannot read, saying what to write', async () => {
      expect((await refused(t.ctx.lineage.upstream('churn'))).message).toMatch(
        /not a lineage reference: give run:<id>, dataset:<name>@<version>/,
      );
      expect((await refused(t.ctx.lineage.upstream('dataset:orders'))).message).toMatch(
        /write dataset:<name>@<version>/,
      );
      expect((await refused(t.ctx.lineage.upstream('dataset:orders@latest'))).message).toMatch(
        /a dataset version is a number/,
      );
      expect((await refused(t.ctx.lineage.upstream('dataset:orders@9'))).message).toMatch(
        /no dataset version orders@9/,
      );
      expect((await refused(t.ctx.lineage.upstream('model:churn@staging'))).message).toMatch(
        /model 'churn' has no alias 'staging'/,
      );
      expect((await refused(t.ctx.lineage.upstream('run:nope'))).message).toMatch(/no run 'nope'/);
      expect((await refused(t.ctx.lineage.upstream('prediction:r-1'))).message).toMatch(
        /no logged prediction with request id 'r-1'/,
      );
    });
  });
}
