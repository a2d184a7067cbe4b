/**
 * The "an MLflow-logged scikit-learn model serves through the out-of-process
 * runtime", end to end on every backend in TEST_STORES: the real MLflow client
 * (test/serving/log_mlflow_sklearn.py) logs and registers a LogisticRegression against a
 * Mobius server; here the registry version is resolved to its logged model's artifact
 * files (path → blob), deployed as `{files}` on the context's ServingService (Python
 * from config `serving.python`), and its answers must equal scikit-learn's predict_proba
 * within 1e-9.
 *
 * Then the same versions as registry-backed deployments (DeploymentService: what `mobius
 * deploy`, `mobius server` and `mobius serve` use): a stored deployment of churn@1, a canary
 * to churn@2 where every answer must equal the predict_proba of the version that gave it,
 * promote and rollback, and a second context on the same store (a restarted `mobius
 * server`) serving it, and deleting it stopping its Python process; `mobius serve churn@1`
 * through the built CLI; a version with a model.onnx beside its MLmodel still serves
 * in-process, and one with neither is refused.
 *
 * Needs a Python with mlflow and scikit-learn: the first of MOBIUS_TEST_PYTHON and
 * python3 that imports both (CI: the system python3). Skipped without one, failed under
 * CI=true.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openMobius } from '../src/context/index.js';
import type { InferResponse, PythonRuntime } from '../src/serving/index.js';
import { runArtifactRoot } from '../src/tracking/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';
import { startServeCli } from './helpers/cli.js';

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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

interface Logged {
  model_id: string;
  columns: string[];
  x: number[][];
  proba: number[][];
  versions: { version: number; model_id: string; proba: number[][] }[];
}

const IRIS_ONNX = readFileSync(new URL('./fixtures/serving/iris.onnx', import.meta.url));

/** The largest absolute difference between two equally long lists. */
const maxDiff = (a: readonly number[], b: readonly number[]) => {
  expect(a).toHaveLength(b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
};

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

      /** An OIP request for rows `rows` of the held-out data. */
      const request = (rows: number[]) => ({
        inputs: logged.columns.map((name, c) => ({
          name,
          datatype: 'FP64',
          shape: [rows.length],
          data: rows.map((r) => logged.x[r]![c]),
        })),
      });
      /** The predict_proba rows `rows` of `version`, flattened. */
      const want = (version: number, rows: number[]) =>
        rows.flatMap((r) => logged.versions.find((v) => v.version === version)!.proba[r]!);

      it('a stored deployment of a registered MLflow version serves through the Python runtime; a canary between two versions answers each from its own', async () => {
        const { ctx } = t;
        const first = await ctx.deployments.deploy({ name: 'churn-d', model: 'churn@1' }, 'alice');
        expect(first.routes).toEqual([
          { model: 'churn', version: 1, ref: '1', weight: 100, role: 'stable' },
        ]);
        expect(ctx.serving.metadata('churn-d').platform).toBe('mlflow_pyfunc');
        const rows = logged.x.map((_, i) => i);
        const all = await ctx.serving.serveInfer('churn-d', request(rows));
        expect(all.version).toBe(1);
        expect(maxDiff(all.body.outputs[0]!.data as number[], want(1, rows))).toBeLessThanOrEqual(
          1e-9,
        );
        // The two versions' answers differ by far more than the tolerance, so the canary
        // check below tells them apart.
        expect(maxDiff(want(1, rows), want(2, rows))).toBeGreaterThan(1e-3);

        await ctx.deployments.deploy({ name: 'churn-d', model: 'churn@2', canary: 50 }, 'alice');
        const seen = new Set<string>();
        for (let i = 0; i < 20; i++) {
          const row = [i % logged.x.length];
          const res = await app.inject({
            method: 'POST',
            url: '/v2/models/churn-d/infer',
            payload: request(row),
          });
          expect(res.statusCode, res.body).toBe(200);
          const body = res.json<InferResponse>();
          const version = Number(body.model_version);
          expect(res.headers['x-mobius-model-version']).toBe(`churn@${version}`);
          seen.add(body.model_version!);
          expect(
            maxDiff(body.outputs[0]!.data as number[], want(version, row)),
          ).toBeLessThanOrEqual(1e-9);
        }
        expect(seen).toEqual(new Set(['1', '2']));

        // Rollback keeps version 1's process (same model and version: not reloaded).
        const stable = ctx.serving.get('churn-d') as PythonRuntime;
        await ctx.deployments.rollback('churn-d', 'alice', 'compare later');
        expect(ctx.serving.get('churn-d')).toBe(stable);
        await ctx.deployments.deploy({ name: 'churn-d', model: 'churn@2', canary: 10 }, 'alice');
        const promoted = await ctx.deployments.promote('churn-d', 'alice');
        expect(promoted.lastGood).toEqual({ model: 'churn', version: 2 });
        const after = await ctx.serving.serveInfer('churn-d', request(rows));
        expect(after.version).toBe(2);
        expect(maxDiff(after.body.outputs[0]!.data as number[], want(2, rows))).toBeLessThanOrEqual(
          1e-9,
        );

        // A second process on the same store (a restarted `mobius server`) loads it too.
        const other = await openMobius(ctx.config);
        try {
          await other.deployments.start(60_000);
          expect(other.serving.list()).toContain('churn-d');
          const answer = await other.serving.serveInfer('churn-d', request([0, 1]));
          expect(answer.version).toBe(2);
          expect(
            maxDiff(answer.body.outputs[0]!.data as number[], want(2, [0, 1])),
          ).toBeLessThanOrEqual(1e-9);
        } finally {
          await other.close();
        }

        // Deleting it stops its Python process and removes its scratch copy.
        const runtime = ctx.serving.get('churn-d') as PythonRuntime;
        const pid = runtime.pid!;
        expect(alive(pid)).toBe(true);
        await ctx.deployments.remove('churn-d', 'alice', 'done');
        expect(ctx.serving.has('churn-d')).toBe(false);
        expect(await until(() => !alive(pid), 10_000)).toBe(true);
        expect(existsSync(runtime.modelDir)).toBe(false);
      }, 180_000);

      it('mobius serve churn@1 (the built CLI) serves the MLflow version on its own port', async () => {
        const { config } = t.ctx;
        const started = await startServeCli(
          [
            '--store',
            config.store,
            '--home',
            config.home,
            'serve',
            'churn@1',
            '--name',
            'solo',
            '--port',
            '0',
          ],
          { env: { MOBIUS_SERVING_PYTHON: PYTHON! } },
        );
        try {
          expect(started).toMatchObject({ version: 1 });
          const res = await fetch(`${started.url}/v2/models/solo/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(request([0, 1, 2])),
          });
          expect(res.status).toBe(200);
          expect(res.headers.get('x-mobius-model-version')).toBe('churn@1');
          const body = (await res.json()) as InferResponse;
          expect(
            maxDiff(body.outputs[0]!.data as number[], want(1, [0, 1, 2])),
          ).toBeLessThanOrEqual(1e-9);
        } finally {
          await started.stop();
        }
      }, 120_000);

      it('prefers a model.onnx beside the MLmodel; refuses a version with neither, without loading it', async () => {
        const { ctx } = t;
        const mlmodel = await ctx.store.db
          .selectFrom('artifact')
          .select(['path', 'sha256'])
          .where('path', 'like', '%/MLmodel')
          .executeTakeFirstOrThrow();
        const chunks: Buffer[] = [];
        for await (const c of await ctx.blobs.get(mlmodel.sha256)) chunks.push(c as Buffer);
        const register = async (files: Record<string, Uint8Array | string>) => {
          const run = await ctx.tracking.runs.create({ experimentId: '0' });
          for (const [file, bytes] of Object.entries(files))
            await ctx.tracking.artifacts.put(
              `0/${run.info.id}/artifacts/model/${file}`,
              Readable.from([Buffer.from(bytes)]),
            );
          return (
            await ctx.registry.versions.create({
              name: 'churn',
              source: `runs:/${run.info.id}/model`,
              runId: run.info.id,
            })
          ).version;
        };
        const onnx = await register({ MLmodel: Buffer.concat(chunks), 'model.onnx': IRIS_ONNX });
        await ctx.deployments.deploy({ name: 'both', model: `churn@${onnx}` }, 'alice');
        expect(ctx.serving.metadata('both').platform).toBe('onnx');

        // A pickle without an MLmodel is not a model Mobius can serve, and is never loaded.
        const pickle = await register({ 'model.pkl': 'not really a pickle', 'conda.yaml': 'x' });
        await expect(
          ctx.deployments.deploy({ name: 'neither', model: `churn@${pickle}` }, 'alice'),
        ).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
          message: expect.stringMatching(
            new RegExp(
              `churn@${pickle} has no model at 'runs:/[0-9a-f]+/model': no \\.onnx or \\.mobius\\.json file and no MLflow model \\(an MLmodel file\\) \\(found conda\\.yaml, model\\.pkl\\)`,
            ),
          ),
        });
        expect(ctx.serving.has('neither')).toBe(false);
        expect(await ctx.deployments.get('neither')).toBeUndefined();
      }, 120_000);
    },
  );
}
