/**
 * MLflow models served out of process, checked against scikit-learn itself:
 * test/serving/make_mlflow_sklearn.py saves a LogisticRegression (column-based signature,
 * pyfunc = predict_proba), a GradientBoostingClassifier (tensor signature, labels) and a
 * GradientBoostingRegressor (a cloudpickle) with mlflow.sklearn.save_model, and records
 * scikit-learn's own answers from the same Python. Mobius serves the directories through
 * its Python runtime (src/serving/python/oip_server.py) and must agree within 1e-9.
 * Also: bad inputs refused in Node with the field named, a SIGKILLed Python restarted,
 * the process group gone after undeploy and after the API process dies, start-up
 * failures carrying Python's stderr, and pickles/MLmodel files refused in-process.
 *
 * The Python needs mlflow and scikit-learn: the first of MOBIUS_TEST_PYTHON and python3
 * that imports both (in CI that is the system python3, where test/mlflow/requirements.txt
 * is installed; the serving venv of MOBIUS_TEST_PYTHON has no mlflow). Skipped without
 * one, failed under CI=true.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blobs/index.js';
import { MobiusError } from '../../src/core/index.js';
import { PythonRuntime, ServingService } from '../../src/serving/index.js';

const CANDIDATES = [process.env.MOBIUS_TEST_PYTHON, 'python3'].filter(
  (p): p is string => p !== undefined && p !== '',
);
const PYTHON = CANDIDATES.find(
  (p) => spawnSync(p, ['-c', 'import mlflow, sklearn, pandas']).status === 0,
);
if (PYTHON === undefined) {
  const why = `none of ${CANDIDATES.join(', ')} can import mlflow, sklearn and pandas (pip install -r test/mlflow/requirements.txt)`;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${why}`);
  console.warn(`skipping the out-of-process Python runtime tests: ${why}`);
}
const SCRIPT = fileURLToPath(new URL('./make_mlflow_sklearn.py', import.meta.url));
/** Deploys a model in a second Node process (the "API process" the last test SIGKILLs). */
const SERVE_FIXTURE = fileURLToPath(new URL('../fixtures/serve-mlflow.ts', import.meta.url));
const TOLERANCE = 1e-9;

interface Expected {
  columns: string[];
  x: number[][];
  proba: number[][];
  label: number[];
  xr: number[][];
  regression: number[];
}

/** Whether a process (or, with a negative id, a process group) exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

const maxDiff = (a: number[], b: number[]) => {
  expect(a).toHaveLength(b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
};

describe.skipIf(PYTHON === undefined)(
  'MLflow models through the out-of-process Python runtime',
  () => {
    let dir: string;
    let expected: Expected;
    const serving = new ServingService({ python: PYTHON! });

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mobius-mlflow-'));
      const run = spawnSync(PYTHON!, [SCRIPT, dir], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`make_mlflow_sklearn.py failed: ${run.stderr}`);
      expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
      // Started together: each Python process imports mlflow (seconds) on its own.
      await Promise.all([
        serving.deploy('logreg', { directory: join(dir, 'logreg_proba') }),
        serving.deploy('gbc', { directory: join(dir, 'gbc_predict') }),
        serving.deploy('gbr', { directory: join(dir, 'gbr') }),
      ]);
    }, 180_000);
    afterAll(async () => {
      await serving.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('reads the signature from MLmodel: one [-1] input per column, tensors keep their shape', () => {
      expect(serving.metadata('logreg')).toEqual({
        name: 'logreg',
        platform: 'mlflow_pyfunc',
        inputs: expected.columns.map((name) => ({ name, datatype: 'FP64', shape: [-1] })),
        outputs: [{ name: 'predictions', datatype: 'FP64', shape: [-1, 3] }],
      });
      expect(serving.metadata('gbc')).toMatchObject({
        inputs: [{ name: 'input', datatype: 'FP64', shape: [-1, 5] }],
        outputs: [{ name: 'predictions', datatype: 'INT64', shape: [-1] }],
      });
    });

    it(`predict_proba of a column-based LogisticRegression equals scikit-learn's within ${TOLERANCE}`, async () => {
      const n = expected.x.length;
      const response = await serving.infer('logreg', {
        id: 'r1',
        inputs: expected.columns.map((name, c) => ({
          name,
          datatype: 'FP64',
          shape: [n],
          data: expected.x.map((row) => row[c]),
        })),
      });
      expect(response.id).toBe('r1');
      const [out] = response.outputs;
      expect(out!.shape).toEqual([n, 3]);
      expect(maxDiff(out!.data as number[], expected.proba.flat())).toBeLessThanOrEqual(TOLERANCE);
    });

    it('the records endpoint takes the columns by name', async () => {
      const records = expected.x
        .slice(0, 5)
        .map((row) => Object.fromEntries(expected.columns.map((c, i) => [c, row[i]])));
      const { predictions } = await serving.predict('logreg', { records });
      expect(predictions).toHaveLength(5);
      predictions.forEach((p, r) =>
        expect(maxDiff(p.predictions as number[], expected.proba[r]!)).toBeLessThanOrEqual(
          TOLERANCE,
        ),
      );
    });

    it('labels of a tensor-signature GradientBoostingClassifier equal predict', async () => {
      const n = expected.x.length;
      const response = await serving.infer('gbc', {
        inputs: [{ name: 'input', datatype: 'FP64', shape: [n, 5], data: expected.x }],
      });
      expect(response.outputs[0]).toMatchObject({ datatype: 'INT64', shape: [n] });
      expect(response.outputs[0]!.data).toEqual(expected.label);
    });

    it(`a cloudpickled GradientBoostingRegressor serves (pickles load only in Python) within ${TOLERANCE}`, async () => {
      const n = expected.xr.length;
      const response = await serving.infer('gbr', {
        inputs: [{ name: 'input', datatype: 'FP64', shape: [n, 4], data: expected.xr }],
      });
      expect(
        maxDiff(response.outputs[0]!.data as number[], expected.regression),
      ).toBeLessThanOrEqual(TOLERANCE);
    });

    it('bad inputs are refused in Node, naming the field; the model keeps serving', async () => {
      const column = (name: string, data: unknown[]) => ({
        name,
        datatype: 'FP64',
        shape: [data.length],
        data,
      });
      const full = expected.columns.map((c) => column(c, [1, 2]));
      const cases: [unknown, RegExp][] = [
        [
          { inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 4], data: [1, 2, 3, 4] }] },
          /inputs\[0\]\.shape: \[1,4\] does not fit input 'input', which is \[-1,5\]/,
        ],
        [{ inputs: full.slice(1) }, /inputs: missing input 'age'/],
        [
          { inputs: [column('age', [1, Number.NaN]), ...full.slice(1)] },
          /inputs\[0\]\.data\[1\]: NaN is not a finite number/,
        ],
        [
          { inputs: [column('age', [1, 'x']), ...full.slice(1)] },
          /inputs\[0\]\.data\[1\]: "x" is not a number; 'age' is FP64/,
        ],
        [
          { inputs: [column('age', [1, 2]), column('nope', [1, 2])] },
          /the model has no input 'nope'/,
        ],
      ];
      for (const [body, message] of cases) {
        const model = JSON.stringify(body).includes('"input"') ? 'gbc' : 'logreg';
        const error = await serving.infer(model, body).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, JSON.stringify(body).slice(0, 120)).toBeInstanceOf(MobiusError);
        expect((error as MobiusError).code).toBe('INVALID_ARGUMENT');
        expect((error as MobiusError).message).toMatch(message);
      }
      await expect(
        serving.predict('logreg', { records: [{ age: 1, income: 2, tenure: 3, visits: 4 }] }),
      ).rejects.toThrow(/records\[0\]\.score: missing feature/);
      const ok = await serving.infer('logreg', { inputs: full });
      expect(ok.outputs[0]!.shape).toEqual([2, 3]);
    });

    it('another local user cannot call the Python process: no or a wrong bearer token is 401', async () => {
      const port = (serving.get('logreg') as PythonRuntime).port!;
      const url = `http://127.0.0.1:${port}/v2/models/model/infer`;
      const body = JSON.stringify({
        inputs: expected.columns.map((name) => ({ name, datatype: 'FP64', shape: [1], data: [0] })),
      });
      const none = await fetch(url, { method: 'POST', body });
      expect(none.status).toBe(401);
      const wrong = await fetch(url, {
        method: 'POST',
        body,
        headers: { authorization: 'Bearer 0123456789abcdef0123456789abcdef0123456789abcdef' },
      });
      expect(wrong.status).toBe(401);
      const ready = await fetch(`http://127.0.0.1:${port}/v2/health/ready`);
      expect(ready.status).toBe(401);
    });

    it('a SIGKILLed Python process fails the next request with UNAVAILABLE, then is restarted', async () => {
      const runtime = serving.get('gbc') as PythonRuntime;
      const pid = runtime.pid!;
      expect(alive(pid)).toBe(true);
      process.kill(pid, 'SIGKILL');
      expect(await until(() => runtime.pid === undefined, 5_000)).toBe(true);
      const body = {
        inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 5], data: expected.x[0] }],
      };
      const error = await serving.infer('gbc', body).then(
        () => undefined,
        (e: unknown) => e as MobiusError,
      );
      expect(error?.code).toBe('UNAVAILABLE');
      expect(error?.status).toBe(503);
      expect(error?.message).toMatch(/was killed by SIGKILL[\s\S]*being restarted; retry/);
      // The next request waits for the restart and is answered by a new process.
      const again = await serving.infer('gbc', body);
      expect(again.outputs[0]!.data).toEqual([expected.label[0]]);
      expect(runtime.pid).toBeDefined();
      expect(runtime.pid).not.toBe(pid);
    }, 120_000);

    it('a restart that fails answers 503 with the reason and is tried again on the next request', async () => {
      const copy = join(dir, 'gbr-copy');
      cpSync(join(dir, 'gbr'), copy, { recursive: true });
      await serving.deploy('gbr-restart', { directory: copy });
      const runtime = serving.get('gbr-restart') as PythonRuntime;
      const body = {
        inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 4], data: expected.xr[0] }],
      };
      const failure = (promise: Promise<unknown>) =>
        promise.then(
          () => undefined,
          (e: unknown) => e as MobiusError,
        );
      // The model file disappears, then the process dies: the restart cannot load it.
      const pickle = readdirSync(copy).find((f) => f.startsWith('model.'))!;
      renameSync(join(copy, pickle), join(dir, 'gbr-moved'));
      process.kill(runtime.pid!, 'SIGKILL');
      expect(await until(() => runtime.pid === undefined, 5_000)).toBe(true);
      expect((await failure(serving.infer('gbr-restart', body)))?.message).toMatch(/SIGKILL/);
      const restart = await failure(serving.infer('gbr-restart', body));
      expect(restart?.code).toBe('UNAVAILABLE');
      expect(restart?.message).toMatch(/exited with code 3 before it was ready/);
      expect(restart?.message).toMatch(
        /No such file or directory|FileNotFoundError|does not exist/,
      );
      // Put it back: the next request reports the failed restart and tries again; then it serves.
      renameSync(join(dir, 'gbr-moved'), join(copy, pickle));
      expect((await failure(serving.infer('gbr-restart', body)))?.message).toMatch(
        /failed to restart[\s\S]*retry the request/,
      );
      const served = await serving.infer('gbr-restart', body);
      expect(served.outputs[0]!.data[0]).toBeCloseTo(expected.regression[0]!, 9);
      await serving.undeploy('gbr-restart');
    }, 120_000);

    it('undeploy stops the whole process group', async () => {
      const meta = await serving.deploy('gbr-2', { directory: join(dir, 'gbr') });
      expect(meta.platform).toBe('mlflow_pyfunc');
      const pid = (serving.get('gbr-2') as PythonRuntime).pid!;
      expect(alive(-pid)).toBe(true);
      await serving.undeploy('gbr-2');
      expect(alive(-pid)).toBe(false);
    }, 120_000);

    it('the Python process does not outlive a SIGKILLed API process', async () => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', SERVE_FIXTURE, join(dir, 'gbr'), PYTHON!],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      expect(await until(() => out.includes('\n'), 90_000), err).toBe(true);
      const { pid } = JSON.parse(out) as { pid: number };
      expect(alive(pid)).toBe(true);
      child.kill('SIGKILL');
      // Its stdin closes with the parent; it exits on that.
      expect(await until(() => !alive(pid), 10_000)).toBe(true);
    }, 120_000);

    it('deploys an MLflow model directory stored as blobs (a registry version), in a scratch copy', async () => {
      const blobs = await FsBlobStore.open(join(dir, 'blobs'));
      const model = join(dir, 'gbc_predict');
      const names = ['MLmodel', 'model.skops', 'requirements.txt', 'python_env.yaml', 'conda.yaml'];
      const files = [];
      for (const path of names.filter((n) => existsSync(join(model, n)))) {
        const { sha256 } = await blobs.put(readFileSync(join(model, path)));
        files.push({ path, blob: sha256 });
      }
      const scratch = join(dir, 'scratch');
      const withBlobs = new ServingService({ python: PYTHON!, blobs, scratch });
      try {
        await expect(
          withBlobs.deploy('bad', {
            files: [...files, { path: '../escape', blob: files[0]!.blob }],
          }),
        ).rejects.toThrow(/'\.\.\/escape' is not allowed/);
        await expect(withBlobs.deploy('bad', { files: files.slice(1) })).rejects.toThrow(
          /no MLmodel at their root/,
        );
        const noSignature = await blobs.put(readFileSync(join(dir, 'no_signature', 'MLmodel')));
        await expect(
          withBlobs.deploy('bad', { files: [{ path: 'MLmodel', blob: noSignature.sha256 }] }),
        ).rejects.toThrow(/has no signature/);
        // Every refused deploy removed its scratch copy.
        expect(readdirSync(scratch)).toEqual([]);
        await withBlobs.deploy('gbc', { files });
        const runtime = withBlobs.get('gbc') as PythonRuntime;
        expect(runtime.modelDir.startsWith(scratch)).toBe(true);
        const response = await withBlobs.infer('gbc', {
          inputs: [
            { name: 'input', datatype: 'FP64', shape: [3, 5], data: expected.x.slice(0, 3) },
          ],
        });
        expect(response.outputs[0]!.data).toEqual(expected.label.slice(0, 3));
        await withBlobs.undeploy('gbc');
        expect(existsSync(runtime.modelDir)).toBe(false);
      } finally {
        await withBlobs.close();
      }
    }, 120_000);

    it('refuses, in-process, a raw pickle and an MLmodel file given as a model file', async () => {
      await expect(
        serving.deploy('p', readFileSync(join(dir, 'logreg.pkl'))),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/Python pickle.*never unpickles/),
      });
      await expect(
        serving.deploy('p', readFileSync(join(dir, 'gbr', 'MLmodel'))),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(
          /MLflow MLmodel file; deploy the whole MLflow model directory/,
        ),
      });
      expect(serving.list()).toEqual(['gbc', 'gbr', 'logreg']);
    });

    it('refuses a model directory without a signature, before starting Python', async () => {
      await expect(
        serving.deploy('nosig', { directory: join(dir, 'no_signature') }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/has no signature; log the model with one/),
      });
      await expect(serving.deploy('nodir', { directory: join(dir, 'missing') })).rejects.toThrow(
        /is not a directory holding an MLflow model/,
      );
    });

    it('a Python without mlflow fails deploy with its stderr; the old deployment keeps serving', async () => {
      const bin = mkdtempSync(join(tmpdir(), 'mobius-py-'));
      try {
        // -S: no site-packages, so `import mlflow` fails as in an environment without it.
        const noMlflow = join(bin, 'python-no-mlflow');
        writeFileSync(noMlflow, `#!/bin/sh\nexec '${PYTHON!}' -S "$@"\n`);
        chmodSync(noMlflow, 0o755);
        const bare = new ServingService({ python: noMlflow });
        const error = await bare.deploy('gbr', { directory: join(dir, 'gbr') }).then(
          () => undefined,
          (e: unknown) => e as MobiusError,
        );
        expect(error?.code).toBe('UNAVAILABLE');
        expect(error?.message).toMatch(/exited with code 3 before it was ready/);
        expect(error?.message).toMatch(/No module named 'mlflow'/);
        await bare.close();

        // A Python that never gets ready: the start-up timeout kills it and shows its stderr.
        const stuck = join(bin, 'python-stuck');
        const pidFile = join(bin, 'pid');
        writeFileSync(
          stuck,
          `#!/bin/sh\necho $$ > '${pidFile}'\necho 'importing a very slow library' >&2\nexec sleep 60\n`,
        );
        chmodSync(stuck, 0o755);
        const slow = new ServingService({
          load: (source, options) =>
            PythonRuntime.start((source as { directory: string }).directory, {
              ...options,
              startupTimeoutMs: 1_500,
            }),
          python: stuck,
        });
        const timeout = await slow.deploy('gbr', { directory: join(dir, 'gbr') }).then(
          () => undefined,
          (e: unknown) => e as MobiusError,
        );
        expect(timeout?.code).toBe('UNAVAILABLE');
        expect(timeout?.message).toMatch(/wrote no port line in time/);
        expect(timeout?.message).toMatch(/importing a very slow library/);
        const stuckPid = Number(readFileSync(pidFile, 'utf8'));
        expect(await until(() => !alive(stuckPid), 5_000)).toBe(true);
        await slow.close();

        const missing = new ServingService({ python: join(bin, 'no-such-python') });
        await expect(missing.deploy('gbr', { directory: join(dir, 'gbr') })).rejects.toThrow(
          /could not be started: spawn .*ENOENT.*set serving\.python/,
        );
        expect(
          (
            await serving.infer('gbr', {
              inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 4], data: expected.xr[0] }],
            })
          ).outputs[0]!.data,
        ).toHaveLength(1);
      } finally {
        rmSync(bin, { recursive: true, force: true });
      }
    }, 60_000);
  },
);
