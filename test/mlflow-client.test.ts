/**
 * The real MLflow Python client against a Mobius server, once per backend: every
 * `def test_…` in test/mlflow/*.py becomes one test here, passing only if pytest passed it.
 * Needs the packages in test/mlflow/requirements.txt (CI installs them); without them the
 * suite is skipped locally and fails under CI=true.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const DIR = fileURLToPath(new URL('./mlflow/', import.meta.url));
const FILES = readdirSync(DIR).filter((f) => /^test_.*\.py$/.test(f));
const hasMlflow = spawnSync('python3', ['-c', 'import mlflow, pytest']).status === 0;
if (!hasMlflow && process.env.CI === 'true') {
  throw new Error(
    'CI=true but the MLflow client is not installed: pip install -r test/mlflow/requirements.txt',
  );
}

/** `file::test` ids of every test function, read from the files at collection time. */
const TESTS = FILES.flatMap((file) =>
  [...readFileSync(join(DIR, file), 'utf8').matchAll(/^def (test_\w+)\(/gm)].map((m) => ({
    file,
    name: m[1]!,
  })),
);

interface Outcome {
  status: 'passed' | 'failed' | 'skipped';
  detail: string;
}

/** Runs pytest on every file and reads each test's outcome from its JUnit report. */
function runPytest(
  trackingUri: string,
): Promise<{ outcomes: Map<string, Outcome>; output: string }> {
  const report = join(mkdtempSync(join(tmpdir(), 'mobius-pytest-')), 'junit.xml');
  return new Promise((resolve, reject) => {
    const child = spawn(
      'python3',
      ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', `--junitxml=${report}`, ...FILES],
      {
        cwd: DIR,
        env: {
          ...process.env,
          MLFLOW_TRACKING_URI: trackingUri,
          MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
          PYTHONDONTWRITEBYTECODE: '1',
        },
      },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const outcomes = new Map<string, Outcome>();
      if (!existsSync(report)) {
        reject(new Error(`pytest wrote no report:\n${output}`));
        return;
      }
      const xml = readFileSync(report, 'utf8');
      for (const m of xml.matchAll(
        /<testcase [^>]*?\sname="([^"]+)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g,
      )) {
        const body = m[2] ?? '';
        const status = /<(failure|error)/.test(body)
          ? 'failed'
          : /<skipped/.test(body)
            ? 'skipped'
            : 'passed';
        outcomes.set(m[1]!, { status, detail: body.slice(0, 4000) });
      }
      resolve({ outcomes, output });
    });
  });
}

for (const backend of STORE_BACKENDS) {
  describe.skipIf(!hasMlflow)(`MLflow client (python mlflow) against mobius: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let results: { outcomes: Map<string, Outcome>; output: string };

    beforeAll(async () => {
      // Only 'production' is protected here: the unmodified client tests set 'champion' (the
      // MLflow docs' example) to check the protocol; the gate on this route has its own test
      // (test_protected_alias_needs_a_passing_evaluation, test/evaluation.test.ts).
      t = await openTestContext(backend, { registry: { protectedAliases: ['production'] } });
      app = await buildServer(t.ctx);
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      results = await runPytest(url);
    }, 300_000);
    afterAll(async () => {
      await app?.close();
      await t?.cleanup();
    });

    for (const test of TESTS) {
      it(`${test.file} ${test.name}`, () => {
        const outcome = results.outcomes.get(test.name);
        expect(
          outcome,
          `pytest did not report ${test.name}:\n${results.output.slice(-4000)}`,
        ).toBeDefined();
        expect(outcome!.status, outcome!.detail).toBe('passed');
      });
    }
  });
}
