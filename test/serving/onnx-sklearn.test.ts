/**
 * ONNX serving checked against scikit-learn itself: test/serving/make_sklearn_onnx.py
 * trains GradientBoostingClassifier (3 classes), LogisticRegression (3 classes and
 * binary) and GradientBoostingRegressor, exports them with skl2onnx (zipmap=False) and
 * writes scikit-learn's predict_proba / predict on 200 held-out rows. Here Mobius loads
 * the .onnx files (ai.onnx.ml TreeEnsemble*, LinearClassifier, Normalizer) and must agree
 * within 1e-5; the same for XGBoost and LightGBM exports (onnxmltools) below. Python comes
 * from MOBIUS_TEST_PYTHON (default python3) with the packages in
 * test/serving/requirements.txt: skipped without them, failed under CI=true.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServingService } from '../../src/serving/index.js';

const PYTHON = process.env.MOBIUS_TEST_PYTHON ?? 'python3';
const SCRIPT = fileURLToPath(new URL('./make_sklearn_onnx.py', import.meta.url));
const probe = spawnSync(PYTHON, ['-c', 'import sklearn, skl2onnx, onnx, numpy']);
const hasSklearn = probe.status === 0;
if (!hasSklearn) {
  const why = `${PYTHON} cannot import sklearn/skl2onnx/onnx/numpy (set MOBIUS_TEST_PYTHON to a venv with test/serving/requirements.txt)`;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${why}`);
  console.warn(`skipping ONNX-vs-scikit-learn tests: ${why}`);
}

const TOLERANCE = 1e-5;

interface Expected {
  x: number[][];
  classes?: number[];
  proba?: number[][];
  label?: number[];
  prediction?: number[];
}

describe.skipIf(!hasSklearn)('ONNX models exported by skl2onnx match scikit-learn', () => {
  let dir: string;
  const serving = new ServingService();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mobius-skl-'));
    const run = spawnSync(PYTHON, [SCRIPT, dir], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`make_sklearn_onnx.py failed: ${run.stderr}`);
  }, 120_000);
  afterAll(async () => {
    await serving.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const load = (name: string) => ({
    bytes: readFileSync(join(dir, `${name}.onnx`)),
    expected: JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8')) as Expected,
  });

  const maxDiff = (a: number[], b: number[]) => {
    expect(a).toHaveLength(b.length);
    return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
  };

  for (const name of ['gbc', 'logreg', 'logreg_binary']) {
    it(`${name}: probabilities within ${TOLERANCE} of predict_proba, labels equal to predict`, async () => {
      const { bytes, expected } = load(name);
      const meta = await serving.deploy(name, bytes);
      const f = expected.x[0]!.length;
      const k = expected.classes!.length;
      expect(meta.platform).toBe('onnx');
      expect(meta.inputs).toEqual([{ name: 'X', datatype: 'FP32', shape: [-1, f] }]);
      expect(meta.outputs).toEqual([
        { name: 'label', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, k] },
      ]);
      const n = expected.x.length;
      expect(n).toBe(200);
      const response = await serving.infer(name, {
        inputs: [{ name: 'X', datatype: 'FP32', shape: [n, f], data: expected.x }],
      });
      const byName = Object.fromEntries(response.outputs.map((o) => [o.name, o]));
      expect(byName.probabilities!.shape).toEqual([n, k]);
      expect(maxDiff(byName.probabilities!.data as number[], expected.proba!.flat())).toBeLessThan(
        TOLERANCE,
      );
      expect(byName.label!.data).toEqual(expected.label);
    });
  }

  it(`gbr: TreeEnsembleRegressor predictions match predict (relative ${TOLERANCE})`, async () => {
    const { bytes, expected } = load('gbr');
    await serving.deploy('gbr', bytes);
    const n = expected.x.length;
    const response = await serving.infer('gbr', {
      inputs: [{ name: 'X', datatype: 'FP32', shape: [n, 4], data: expected.x.flat() }],
    });
    const got = response.outputs[0]!.data as number[];
    // Targets are in the hundreds and onnxruntime sums trees in float32: compare relative to scale.
    const scale = Math.max(...expected.prediction!.map(Math.abs));
    expect(maxDiff(got, expected.prediction!) / scale).toBeLessThan(TOLERANCE);
  });

  it('refuses the default skl2onnx export (ZipMap output, not a tensor) with the fix', async () => {
    await expect(
      serving.deploy('zipmap', readFileSync(join(dir, 'logreg_zipmap.onnx'))),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/output 'output_probability' is not a tensor.*zipmap=False/),
    });
  });

  it('the records endpoint feeds named features in the deployment’s column order', async () => {
    const { bytes, expected } = load('logreg');
    const features = ['a', 'b', 'c', 'd', 'e', 'f'];
    await serving.deploy('logreg-records', bytes, { features });
    const rows = expected.x.slice(0, 5);
    // Keys in reverse order: the deployment's feature list, not key order, decides columns.
    const records = rows.map((row) =>
      Object.fromEntries(features.map((f, i) => [f, row[i]] as const).reverse()),
    );
    const { predictions } = await serving.predict('logreg-records', { records });
    expect(predictions).toHaveLength(5);
    predictions.forEach((p, r) => {
      expect(p.label).toBe(expected.label![r]);
      expect(maxDiff(p.probabilities as number[], expected.proba![r]!)).toBeLessThan(TOLERANCE);
    });
  });
});

/**
 * The same check for the tree ensembles XGBoost and LightGBM export through onnxmltools
 * (test/serving/make_boosters_onnx.py): the ai.onnx.ml operators those libraries' models
 * become, served by Mobius, against the libraries' own predict_proba / predict.
 */
const BOOSTERS = fileURLToPath(new URL('./make_boosters_onnx.py', import.meta.url));
const hasBoosters =
  hasSklearn && spawnSync(PYTHON, ['-c', 'import xgboost, lightgbm, onnxmltools']).status === 0;
if (hasSklearn && !hasBoosters) {
  const why = `${PYTHON} cannot import xgboost/lightgbm/onnxmltools (test/serving/requirements.txt)`;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${why}`);
  console.warn(`skipping ONNX-vs-XGBoost/LightGBM tests: ${why}`);
}

describe.skipIf(!hasBoosters)('ONNX models exported from XGBoost and LightGBM match them', () => {
  let dir: string;
  const serving = new ServingService();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mobius-boost-'));
    const run = spawnSync(PYTHON, [BOOSTERS, dir], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`make_boosters_onnx.py failed: ${run.stderr}`);
  }, 120_000);
  afterAll(async () => {
    await serving.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const infer = async (name: string) => {
    const expected = JSON.parse(
      readFileSync(join(dir, `${name}.expected.json`), 'utf8'),
    ) as Expected;
    await serving.deploy(name, readFileSync(join(dir, `${name}.onnx`)));
    const n = expected.x.length;
    const f = expected.x[0]!.length;
    const response = await serving.infer(name, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [n, f], data: expected.x.flat() }],
    });
    return { expected, n, byName: Object.fromEntries(response.outputs.map((o) => [o.name, o])) };
  };
  const worst = (got: number[], want: number[]) => {
    expect(got).toHaveLength(want.length);
    // Relative to the value's scale where it exceeds 1: the trees are summed in float32.
    return Math.max(...got.map((v, i) => Math.abs(v - want[i]!) / Math.max(1, Math.abs(want[i]!))));
  };

  for (const [name, k] of [
    ['xgb_clf', 3],
    ['lgbm_clf', 2],
  ] as const)
    it(`${name}: probabilities within ${TOLERANCE} of predict_proba`, async () => {
      const { expected, n, byName } = await infer(name);
      expect(n).toBe(200);
      expect(byName.probabilities!.shape).toEqual([n, k]);
      expect(worst(byName.probabilities!.data as number[], expected.proba!.flat())).toBeLessThan(
        TOLERANCE,
      );
    });

  for (const name of ['xgb_reg', 'lgbm_reg'])
    it(`${name}: predictions within ${TOLERANCE} (relative) of predict`, async () => {
      const { expected, n, byName } = await infer(name);
      expect(byName.variable!.shape).toEqual([n, 1]);
      expect(worst(byName.variable!.data as number[], expected.prediction!)).toBeLessThan(
        TOLERANCE,
      );
    });
});
