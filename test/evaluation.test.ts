/**
 * The evaluation gate end to end on every store backend: model versions whose files are
 * run artifacts, a dataset version read from its Parquet copy, metrics overall and per
 * slice checked against scikit-learn (test/data/check_evaluation.py computes the same
 * models' probabilities with numpy and the metrics with sklearn.metrics; within 1e-9),
 * the result stored on the version, and protected aliases refused without a passing
 * evaluation, or forced with an audited reason.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import {
  RegistryService,
  evaluateModel,
  parsePolicy,
  type MetricSet,
} from '../src/registry/index.js';
import { JsonModelRuntime } from '../src/serving/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { MIGRATIONS } from '../src/store/index.js';
import { STORE_BACKENDS, openTestStore } from './helpers/stores.js';

const SCRIPT = fileURLToPath(new URL('./data/check_evaluation.py', import.meta.url));
const hasSklearn = spawnSync('python3', ['-c', 'import sklearn, pandas, numpy']).status === 0;
if (!hasSklearn && process.env.CI === 'true')
  throw new Error(
    'CI=true but python3 lacks scikit-learn/pandas: pip install -r test/mlflow/requirements.txt',
  );

/** mulberry32: the same data every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 20,000 rows (three evaluation batches): x1 and x2 small integers, so many rows share a
 * score and AUC's tie handling matters; a region to slice by; a binary, a three-class and
 * a numeric label.
 */
function generate(rows: number): string {
  const r = random(7);
  const lines = ['x1,x2,x3,region,y,kind,target'];
  for (let i = 0; i < rows; i++) {
    const x1 = Math.floor(r() * 10);
    const x2 = Math.floor(r() * 5);
    const x3 = Math.round(r() * 20) / 10;
    const region = ['north', 'south', 'west'][Math.floor(r() * 3)]!;
    const z = 0.35 * x1 - 0.5 * x2 + 0.9 * x3 - 1 + (region === 'west' ? 0.8 : 0);
    const y = r() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    const s = [x1 / 3 + r() * 2, x2 + r() * 2, x3 * 2 + r() * 2];
    const kind = ['lo', 'mid', 'hi'][s.indexOf(Math.max(...s))]!;
    const target = 2 * x1 - x2 + 3 * x3 + (r() - 0.5) * 4;
    lines.push(`${x1},${x2},${x3},${region},${y},${kind},${target.toFixed(4)}`);
  }
  return `${lines.join('\n')}\n`;
}

const MODELS = {
  champion: {
    format: 'mobius-linear',
    task: 'classification',
    features: ['x1', 'x2', 'x3'],
    coefficients: [0.2, -0.3, 0.5],
    intercept: -0.4,
    classes: [0, 1],
  },
  candidate: {
    format: 'mobius-linear',
    task: 'classification',
    features: ['x1', 'x2', 'x3'],
    coefficients: [0.35, -0.5, 0.9],
    intercept: -0.8,
    classes: [0, 1],
  },
  multi: {
    format: 'mobius-linear',
    task: 'classification',
    features: ['x1', 'x2', 'x3'],
    coefficients: [
      [0, 0, 1.2],
      [0.1, 0, 0],
      [0, 0.6, 0],
    ],
    intercept: [0, 0.2, 0],
    classes: ['hi', 'lo', 'mid'],
  },
  regression: {
    format: 'mobius-linear',
    task: 'regression',
    features: ['x1', 'x2', 'x3'],
    coefficients: [1.9, -1, 3.1],
    intercept: 0.2,
  },
} as const;

type Expected = Record<
  string,
  { overall: Record<string, number | null>; slices: Record<string, Record<string, number | null>> }
>;

function expectClose(
  actual: MetricSet,
  expected: Record<string, number | null>,
  what: string,
): void {
  for (const [metric, value] of Object.entries(expected)) {
    const got = actual.metrics[metric];
    if (value === null) expect(got, `${what} ${metric}`).toBeNull();
    else
      expect(
        Math.abs((got as number) - value),
        `${what} ${metric}: ${got} vs sklearn ${value}`,
      ).toBeLessThanOrEqual(1e-9);
  }
}

for (const backend of STORE_BACKENDS) {
  describe(`evaluation gate: ${backend}`, () => {
    let t: TestContext;
    let dir: string;
    let expected: Expected;
    const versions: Record<string, number> = {};

    beforeAll(async () => {
      t = await openTestContext(backend);
      dir = mkdtempSync(join(tmpdir(), 'mobius-eval-'));
      const csv = generate(20_000);
      writeFileSync(join(dir, 'data.csv'), csv);
      const features = csv
        .trim()
        .split('\n')
        .slice(1)
        .flatMap((line) => line.split(',').slice(0, 3).map(Number));
      for (const [name, model] of Object.entries(MODELS)) {
        writeFileSync(join(dir, `${name}.json`), JSON.stringify(model));
        // What the runtime predicts for every row, for the Python side to score.
        const runtime = JsonModelRuntime.fromJson(model);
        const out = await runtime.infer([
          { name: 'input', datatype: 'FP64', shape: [features.length / 3, 3], data: features },
        ]);
        const scores = out.find((o) => o.name !== 'label')!;
        writeFileSync(join(dir, `${name}.pred.json`), JSON.stringify(scores.data));
      }
      await t.ctx.data.add({ name: 'scored', source: 'data.csv', cwd: dir });
      const run = await t.ctx.tracking.runs.create({ experimentId: '0' });
      const root = run.info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
      await t.ctx.registry.models.create({ name: 'churn' });
      for (const name of Object.keys(MODELS)) {
        await t.ctx.tracking.artifacts.put(
          `${root}/${name}/model.json`,
          Buffer.from(JSON.stringify(MODELS[name as keyof typeof MODELS])),
        );
        const v = await t.ctx.registry.versions.create({
          name: 'churn',
          source: `${run.info.artifactUri}/${name}`,
          runId: run.info.id,
        });
        versions[name] = v.version;
      }
      if (hasSklearn) {
        const check = spawnSync(
          'python3',
          [
            SCRIPT,
            dir,
            JSON.stringify({ champion: 'y', candidate: 'y', multi: 'kind', regression: 'target' }),
          ],
          { encoding: 'utf8' },
        );
        if (check.status !== 0) throw new Error(`check_evaluation.py failed: ${check.stderr}`);
        expected = JSON.parse(check.stdout) as Expected;
      }
    }, 120_000);
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('refuses a protected alias on a version never evaluated, and forces it with an audited reason', async () => {
      const refused = await t.ctx.registry.aliases
        .set('churn', 'production', versions.champion!)
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'CONFLICT' });
      expect((refused as Error).message).toMatch(
        /alias 'production' is protected: version 1 of 'churn' has no evaluation\. Run `mobius models evaluate churn@1 --against production/,
      );
      expect((refused as Error).message).toMatch(/--force --reason/);
      await expect(
        t.ctx.registry.aliases.set('churn', 'production', versions.champion!, {
          force: { reason: '  ' },
        }),
      ).rejects.toThrow(/needs a reason/);
      await t.ctx.registry.aliases.set('churn', 'production', versions.champion!, {
        force: { reason: 'first model, nothing to compare with', user: 'ana' },
      });
      expect((await t.ctx.registry.aliases.get('churn', 'production')).version).toBe(
        versions.champion,
      );
      const events = await t.ctx.registry.evaluations.aliasEvents('churn', versions.champion!);
      expect(events).toEqual([
        expect.objectContaining({
          alias: 'production',
          gate: 'forced',
          reason: 'first model, nothing to compare with',
          userId: 'ana',
          previousVersion: null,
        }),
      ]);
      // Unprotected aliases are not gated.
      await t.ctx.registry.aliases.set('churn', 'candidate', versions.candidate!);
    });

    it.skipIf(!hasSklearn)(
      'matches scikit-learn within 1e-9 overall and per slice, with the champion compared',
      async () => {
        const ev = await evaluateModel(t.ctx, {
          name: 'churn',
          candidate: versions.candidate!,
          against: 'production',
          data: 'scored@1',
          label: 'y',
          slices: ['region'],
          policy: parsePolicy(
            'min: {auc: 0.99}\nmax_regression: {auc: 0.01}\nmax_slice_gap: {accuracy: 0.5}',
          ),
          user: 'ana',
        });
        expect(ev.task).toBe('classification');
        expect(ev.metrics.rows).toBe(20_000);
        expectClose(ev.metrics, expected.candidate!.overall, 'candidate');
        expectClose(ev.champion!.metrics, expected.champion!.overall, 'champion');
        expect(ev.slices.map((s) => s.value)).toEqual(
          expect.arrayContaining(['north', 'south', 'west']),
        );
        for (const slice of ev.slices)
          expectClose(slice, expected.candidate!.slices[slice.value]!, slice.value);
        const accuracies = ev.slices.map((s) => s.metrics.accuracy as number);
        expect(ev.gaps.region!.accuracy).toBeCloseTo(
          Math.max(...accuracies) - Math.min(...accuracies),
          12,
        );
        expect(ev.verdict).toBe('fail');
        expect(ev.reasons).toEqual([
          expect.stringMatching(/^auc 0\.\d+ is below the minimum 0\.99$/),
        ]);
        expect(ev.champion).toMatchObject({ alias: 'production', version: versions.champion });

        for (const [name, label] of [
          ['multi', 'kind'],
          ['regression', 'target'],
        ] as const) {
          const other = await evaluateModel(t.ctx, {
            name: 'churn',
            candidate: versions[name]!,
            data: 'scored@1',
            label,
            slices: ['region'],
          });
          expect(other.task).toBe(name === 'multi' ? 'classification' : 'regression');
          expectClose(other.metrics, expected[name]!.overall, name);
          for (const slice of other.slices)
            expectClose(slice, expected[name]!.slices[slice.value]!, `${name} ${slice.value}`);
          expect(other.verdict).toBe('pass');
        }
      },
      60_000,
    );

    it('a failing evaluation keeps the gate shut; a passing one opens it and is recorded', async () => {
      await evaluateModel(t.ctx, {
        name: 'churn',
        candidate: 'candidate',
        against: 'production',
        data: 'scored@1',
        label: 'y',
        policy: parsePolicy({ min: { auc: 0.999 } }),
      });
      const refused = await t.ctx.registry.aliases
        .set('churn', 'production', versions.candidate!)
        .catch((e: unknown) => e);
      expect((refused as Error).message).toMatch(
        /version 2 of 'churn' failed its newest evaluation \(auc 0\.\d+ is below the minimum 0\.999\)/,
      );
      const passing = await evaluateModel(t.ctx, {
        name: 'churn',
        candidate: versions.candidate!,
        against: 'production',
        data: 'scored@1',
        label: 'y',
        policy: parsePolicy({ min: { auc: 0.6 }, max_regression: { auc: 0.05, log_loss: 0.1 } }),
      });
      expect(passing.verdict).toBe('pass');
      expect(passing.reasons).toEqual([]);
      await t.ctx.registry.aliases.set('churn', 'production', versions.candidate!, { user: 'ben' });
      const events = await t.ctx.registry.evaluations.aliasEvents('churn', versions.candidate!);
      expect(events[0]).toMatchObject({
        alias: 'production',
        gate: 'passed',
        evaluationId: passing.id,
        previousVersion: versions.champion,
        userId: 'ben',
      });
      const stored = await t.ctx.registry.evaluations.list('churn', versions.candidate!);
      expect(stored[0]).toMatchObject({
        id: passing.id,
        verdict: 'pass',
        dataset: { name: 'scored', version: 1 },
      });
      expect(stored[0]!.metrics).toEqual(passing.metrics);
      expect(stored.map((e) => e.verdict)).toContain('fail');
    });

    it('over HTTP: POST …/evaluate stores, GET …/evaluations lists, the MLflow alias route is gated with X-Mobius-Force to override', async () => {
      const app = await buildServer(t.ctx);
      try {
        const call = async (method: string, url: string, payload?: unknown, headers = {}) => {
          const res = await app.inject({
            method: method as 'GET',
            url,
            headers,
            ...(payload === undefined ? {} : { payload: payload as object }),
          });
          return { status: res.statusCode, body: res.body === '' ? undefined : res.json() };
        };
        const evaluated = await call(
          'POST',
          `/api/v1/models/churn/versions/${versions.multi}/evaluate`,
          {
            data: 'scored@1',
            label: 'kind',
            slices: ['region'],
            policy: 'min: {accuracy: 0.2}\nmax_slice_gap: {accuracy: 0.9}',
          },
        );
        expect(evaluated.status, JSON.stringify(evaluated.body)).toBe(201);
        expect(evaluated.body).toMatchObject({
          verdict: 'pass',
          task: 'classification',
          classes: ['hi', 'lo', 'mid'],
        });
        const bad = await call('POST', `/api/v1/models/churn/versions/${versions.multi}/evaluate`, {
          data: 'scored@1',
          label: 'kind',
          policy: { minimum: { auc: 1 } },
        });
        expect(bad.status).toBe(400);
        expect(bad.body.message).toMatch(/unknown key 'minimum'/);
        const listed = await call(
          'GET',
          `/api/v1/models/churn/versions/${versions.multi}/evaluations`,
        );
        expect(listed.body.evaluations).toHaveLength(2);
        expect(listed.body.evaluations[0]).toMatchObject({
          id: evaluated.body.id,
          verdict: 'pass',
        });

        // MLflow protocol: a protected alias on an unevaluated version is an MLflow error …
        const mlflow = '/api/2.0/mlflow/registered-models/alias';
        const body = { name: 'churn', alias: 'champion', version: String(versions.champion) };
        const refused = await call('POST', mlflow, body);
        expect(refused.status).toBe(400);
        expect(refused.body).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE' });
        expect(refused.body.message).toMatch(/X-Mobius-Force/);
        // … a passing evaluation opens it, and the header forces it (audited) otherwise.
        expect(
          (await call('POST', mlflow, { ...body, version: String(versions.multi) })).status,
        ).toBe(200);
        expect(
          (await call('POST', mlflow, body, { 'x-mobius-force': 'rollback drill' })).status,
        ).toBe(200);
        const history = await call(
          'GET',
          `/api/v1/models/churn/versions/${versions.champion}/evaluations`,
        );
        expect(history.body.aliasHistory[0]).toMatchObject({
          alias: 'champion',
          gate: 'forced',
          reason: 'rollback drill',
          previousVersion: versions.multi,
        });
        // Unprotected aliases behave exactly as in MLflow.
        expect((await call('POST', mlflow, { ...body, alias: 'staging' })).status).toBe(200);
      } finally {
        await app.close();
      }
    });

    it('upgrades a store with models and aliases from before migration 022: aliases still resolve, no evaluations yet', async () => {
      const names = Object.keys(MIGRATIONS);
      const before = names[names.indexOf('022-model-evaluations') - 1]!;
      const old = await openTestStore(backend, { migrate: false });
      try {
        await old.store.migrate({ to: before });
        await old.store.write(async (trx) => {
          await trx
            .insertInto('registered_model')
            .values({
              name: 'legacy',
              description: null,
              created_at: 1,
              updated_at: 1,
              last_version: 1,
            })
            .execute();
          await trx
            .insertInto('model_version')
            .values({
              name: 'legacy',
              version: 1,
              source: 'mlflow-artifacts:/0/r/artifacts/m',
              run_id: null,
              status_message: null,
              description: null,
              created_at: 1,
              updated_at: 1,
              user_id: null,
              run_link: null,
            })
            .execute();
          await trx
            .insertInto('registered_model_alias')
            .values({ name: 'legacy', alias: 'production', version: 1 })
            .execute();
        });
        await old.store.migrate();
        const registry = new RegistryService(
          old.store,
          { now: () => 2 },
          { protectedAliases: ['production'] },
        );
        expect((await registry.aliases.get('legacy', 'production')).version).toBe(1);
        expect(await registry.evaluations.list('legacy', 1)).toEqual([]);
        // Re-pointing the alias at the version it already names is not a move: not gated.
        await registry.aliases.set('legacy', 'production', 1);
      } finally {
        await old.cleanup();
      }
    });

    it.each([
      [{ label: 'nope' }, /has no label column 'nope'; its columns: x1, x2/],
      [{ slices: ['nope'] }, /has no slice column 'nope'/],
      [
        { label: 'kind' },
        /label "(lo|mid|hi)" in 'kind' is not one of the model's classes \(0, 1\)/,
      ],
      [
        { against: 'missing' },
        /'churn' has no alias 'missing' to compare with; for a first model, leave out --against/,
      ],
      [{ policy: parsePolicy({ min: { rmse: 1 } }) }, /'min\.rmse' is not a classification metric/],
      [{ data: 'scored@9' }, /./],
    ])('refuses %j with a clear error', async (override, message) => {
      await expect(
        evaluateModel(t.ctx, {
          name: 'churn',
          candidate: 2,
          data: 'scored@1',
          label: 'y',
          ...override,
        }),
      ).rejects.toThrow(message);
    });
  });
}
