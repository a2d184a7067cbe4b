/**
 * The "an MLflow-logged scikit-learn model serves through the out-of-process
 * runtime", end to end on every backend in TEST_STORES: the real MLflow client
 * (test/serving/log_mlflow_sklearn.py) logs and registers a LogisticRegression against a
 * Mobius server; here the registry version is resolved to its logged model's artifact
 * files (path → blob), deployed as `{files}` on the context's ServingService (Python
 * from config `serving.python`), and its answers must equal scikit-learn's predict_proba
 * within 1e-9.
 *
 * Needs a Python with mlflow and scikit-learn: the first of MOBIUS_TEST_PYTHON and
 * python3 that imports both (CI: the system python3). Skipped without one, failed under
 * CI=true.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import type { PythonRuntime } from '../src/serving/index.js';
import { runArtifactRoot } from '../src/tracking/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const CANDIDATES = [process.env.MOBIUS_TEST_PYTHON, 'python3'].filter(
  (p): p is string => p !== undefined && p !== '',
);
const PYTHON = CANDIDATES.find(
  (p) => spawnSync(p, ['-c', 'import mlflow, sklearn, pandas']).status === 0,
);
if (PYTHON === undefined) {
  const why = `none of ${CANDIDATES.join(', ')} can import mlflow, sklearn and pandas (pip install -r test/mlflow/requirements.txt)`;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${why}`);
  console.warn(`skipping the MLflow registry → Python runtime test: ${why}`);
}
const SCRIPT = fileURLToPath(new URL('./serving/log_mlflow_sklearn.py', import.meta.url));

interface Logged {
  model_id: string;
  columns: string[];
  x: number[][];
  proba: number[][];
}

for (const backend of STORE_BACKENDS) {
  describe.skipIf(PYTHON === undefined)(
    `an MLflow-logged scikit-learn model serves out of process: ${backend}`,
    () => {
      let t: TestContext;
      let app: FastifyInstance;
      let dir: string;
      let logged: Logged;

      beforeAll(async () => {
        t = await openTestContext(backend, { serving: { python: PYTHON! } });
        app = await buildServer(t.ctx);
        const url = await app.listen({ host: '127.0.0.1', port: 0 });
        dir = mkdtempSync(join(tmpdir(), 'mobius-mlflow-log-'));
        const out = join(dir, 'logged.json');
        // Asynchronously: the server answering the client runs on this event loop.
        const child = spawn(PYTHON!, [SCRIPT, url, out], {
          env: { ...process.env, MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0' },
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
        if (code !== 0) throw new Error(`log_mlflow_sklearn.py failed: ${stderr.slice(-4000)}`);
        logged = JSON.parse(readFileSync(out, 'utf8')) as Logged;
      }, 180_000);
      afterAll(async () => {
        await app?.close();
        await t?.cleanup();
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
      });

      it(`churn v1 → its logged model's files → predictions equal predict_proba within 1e-9`, async () => {
        const { ctx } = t;
        const source = await ctx.registry.versions.downloadUri('churn', 1);
        expect(source).toBe(`models:/${logged.model_id}`);
        const model = await ctx.tracking.loggedModels.get(logged.model_id);
        const root = runArtifactRoot(model.artifactUri);
        // The artifact table maps each path to its blob; the files below the model's root
        // are the MLflow model directory.
        const rows = await ctx.store.db
          .selectFrom('artifact')
          .select(['path', 'sha256'])
          .where('path', 'like', `${root}/%`)
          .execute();
        const files = rows.map((r) => ({ path: r.path.slice(root.length + 1), blob: r.sha256 }));
        expect(files.map((f) => f.path)).toContain('MLmodel');

        const meta = await ctx.serving.deploy('churn', { files });
        expect(meta.platform).toBe('mlflow_pyfunc');
        expect(meta.inputs.map((i) => i.name)).toEqual(logged.columns);
        const runtime = ctx.serving.get('churn') as PythonRuntime;
        expect(runtime.modelDir.startsWith(join(ctx.config.home, 'tmp', 'serving'))).toBe(true);

        const n = logged.x.length;
        const response = await ctx.serving.infer('churn', {
          inputs: logged.columns.map((name, c) => ({
            name,
            datatype: 'FP64',
            shape: [n],
            data: logged.x.map((row) => row[c]),
          })),
        });
        const got = response.outputs[0]!.data as number[];
        const want = logged.proba.flat();
        expect(response.outputs[0]!.shape).toEqual([n, 2]);
        expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThanOrEqual(1e-9);

        // Over HTTP too, through the deployment routes the server already has.
        const res = await app.inject({
          method: 'POST',
          url: '/v2/models/churn/infer',
          payload: {
            inputs: logged.columns.map((name, c) => ({
              name,
              datatype: 'FP64',
              shape: [1],
              data: [logged.x[0]![c]],
            })),
          },
        });
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json<{ outputs: { data: number[] }[] }>();
        expect(body.outputs[0]!.data[1]).toBeCloseTo(logged.proba[0]![1]!, 9);
      }, 120_000);
    },
  );
}
