/**
 * `mobius models evaluate` and the gate on `mobius models alias`, through bin/mobius.js
 * over the built CLI, on every metadata backend. The candidate is an ONNX graph exported
 * by skl2onnx (test/data/make_eval_onnx.py, which also writes scikit-learn's metrics);
 * the champion is a Mobius JSON model. Python comes from MOBIUS_TEST_PYTHON (the serving
 * venv, test/serving/requirements.txt): skipped without it, failed under CI=true.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMobius } from '../src/context/index.js';
import { resolveConfig } from '../src/core/index.js';
import { STORE_BACKENDS, freshLocation } from './helpers/stores.js';
import { runCli } from './helpers/cli.js';

const SCRIPT = fileURLToPath(new URL('./data/make_eval_onnx.py', import.meta.url));
const PYTHON = process.env.MOBIUS_TEST_PYTHON ?? 'python3';
const hasSkl2onnx = spawnSync(PYTHON, ['-c', 'import sklearn, skl2onnx']).status === 0;
if (!hasSkl2onnx && process.env.CI === 'true')
  throw new Error(
    `CI=true but ${PYTHON} lacks scikit-learn/skl2onnx (test/serving/requirements.txt)`,
  );

/** 3,000 rows with integer-valued features (ties) and three regions. */
function generate(rows: number): string {
  let a = 11;
  const r = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const lines = ['x1,x2,x3,region,y'];
  for (let i = 0; i < rows; i++) {
    const x1 = Math.floor(r() * 10);
    const x2 = Math.floor(r() * 5);
    const x3 = Math.round(r() * 20) / 10;
    const region = ['north', 'south', 'west'][Math.floor(r() * 3)]!;
    const z = 0.35 * x1 - 0.5 * x2 + 0.9 * x3 - 1;
    lines.push(`${x1},${x2},${x3},${region},${r() < 1 / (1 + Math.exp(-z)) ? 1 : 0}`);
  }
  return `${lines.join('\n')}\n`;
}

for (const backend of STORE_BACKENDS) {
  describe.skipIf(!hasSkl2onnx)(`mobius models evaluate: ${backend}`, () => {
    let dir: string;
    let location: string;
    let remove: () => Promise<void>;
    const mobius = (...args: string[]) =>
      runCli(['--store', location, '--home', join(dir, '.mobius'), ...args], { cwd: dir });

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mobius-cli-eval-'));
      ({ location, remove } = freshLocation(backend));
      writeFileSync(join(dir, 'data.csv'), generate(3000));
      const made = spawnSync(PYTHON, [SCRIPT, dir], { encoding: 'utf8' });
      if (made.status !== 0) throw new Error(`make_eval_onnx.py failed: ${made.stderr}`);
      expect(mobius('data', 'add', 'scored', 'data.csv').code).toBe(0);
      // Runs, artifacts and versions have no CLI yet (MLflow clients make them): seed directly.
      const ctx = await openMobius(
        resolveConfig(
          { store: location, home: join(dir, '.mobius'), log: { level: 'silent' } },
          dir,
        ),
        { migrate: true },
      );
      try {
        const run = await ctx.tracking.runs.create({ experimentId: '0' });
        const root = run.info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
        const champion = {
          format: 'mobius-linear',
          task: 'classification',
          features: ['x1', 'x2', 'x3'],
          coefficients: [0.1, -0.1, 0.3],
          intercept: 0,
          classes: [0, 1],
        };
        await ctx.tracking.artifacts.put(
          `${root}/json/model.json`,
          Buffer.from(JSON.stringify(champion)),
        );
        await ctx.tracking.artifacts.put(
          `${root}/onnx/model.onnx`,
          readFileSync(join(dir, 'model.onnx')),
        );
        await ctx.registry.models.create({ name: 'churn' });
        for (const path of ['json', 'onnx'])
          await ctx.registry.versions.create({
            name: 'churn',
            source: `${run.info.artifactUri}/${path}`,
            runId: run.info.id,
          });
      } finally {
        await ctx.close();
      }
      writeFileSync(join(dir, 'strict.yaml'), 'min:\n  auc: 0.99\n');
      writeFileSync(
        join(dir, 'policy.yaml'),
        'min: {auc: 0.6}\nmax_regression: {auc: 0.05, log_loss: 0.05}\nmax_slice_gap: {accuracy: 0.3}\n',
      );
      writeFileSync(join(dir, 'bad.yaml'), 'min: {auc: 0.6}\nmax_regresion: {auc: 0.01}\n');
    }, 120_000);
    afterAll(async () => {
      await remove();
      rmSync(dir, { recursive: true, force: true });
    });

    it('gates production: forced bootstrap, failing and passing evaluations, audited history', () => {
      const refused = mobius('models', 'alias', 'churn', 'production', '1');
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(/has no evaluation\. Run `mobius models evaluate churn@1/);
      expect(mobius('models', 'alias', 'churn', 'production', '1', '--force').code).toBe(2);
      const forced = mobius(
        'models',
        'alias',
        'churn',
        'production',
        '1',
        '--force',
        '--reason',
        'first model',
      );
      expect(forced.code, forced.stderr).toBe(0);

      const failing = mobius(
        'models',
        'evaluate',
        'churn@2',
        '--against',
        'production',
        '--data',
        'scored@1',
        '--label',
        'y',
        '--policy',
        'strict.yaml',
      );
      expect(failing.code, failing.stderr).toBe(1);
      expect(failing.stdout).toMatch(/^FAIL {2}churn@2 on scored@1 \(classification, 3000 rows\)/);
      expect(failing.stdout).toMatch(/METRIC\s+VALUE\s+PRODUCTION \(v1\)/);
      expect(failing.stdout).toMatch(/fails because:\n {2}- auc 0\.\d+ is below the minimum 0\.99/);
      expect(mobius('models', 'alias', 'churn', 'production', '2').stderr).toMatch(
        /failed its newest evaluation/,
      );

      const passing = mobius(
        '--json',
        'models',
        'evaluate',
        'churn@2',
        '--against',
        'production',
        '--data',
        'scored@1',
        '--label',
        'y',
        '--slices',
        'region',
        '--features',
        'x1,x2,x3',
        '--policy',
        'policy.yaml',
      );
      expect(passing.code, passing.stderr + passing.stdout).toBe(0);
      const result = JSON.parse(passing.stdout) as {
        metrics: { metrics: Record<string, number> };
        slices: { value: string }[];
      };
      expect(result).toMatchObject({
        verdict: 'pass',
        task: 'classification',
        classes: ['0', '1'],
        features: ['x1', 'x2', 'x3'],
      });
      // ONNX runs in float32; scikit-learn's figures are float64 predict_proba.
      const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<
        string,
        number
      >;
      for (const [metric, value] of Object.entries(expected))
        expect(Math.abs(result.metrics.metrics[metric]! - value), metric).toBeLessThan(1e-4);
      expect(result.slices.map((s) => s.value).sort()).toEqual(['north', 'south', 'west']);

      expect(mobius('models', 'alias', 'churn', 'production', '2').code).toBe(0);
      const shown = mobius('models', 'show', 'churn');
      expect(shown.stdout).toMatch(/2\s+None\s+production\s+pass \(scored@1\)/);
      expect(shown.stdout).toMatch(/production → v2 \(was v1\)\s+gate passed/);
      expect(shown.stdout).toMatch(/production → v1\s+FORCED by \S+: first model/);
    });

    it('refuses a policy with a misspelt key and a candidate without a version', () => {
      const bad = mobius(
        'models',
        'evaluate',
        'churn@2',
        '--data',
        'scored@1',
        '--label',
        'y',
        '--policy',
        'bad.yaml',
      );
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/unknown key 'max_regresion'/);
      expect(
        mobius('models', 'evaluate', 'churn', '--data', 'scored@1', '--label', 'y').stderr,
      ).toMatch(/name the candidate as <model>@<version>/);
    });
  });
}
