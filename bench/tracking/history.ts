/**
 * Reading a long metric history: one run, 100,000 steps of one metric. Times (best of
 * REPS after a warm-up) the full history and the 1,000-point downsampled history
 * (get-history-bulk-interval), on Mobius' embedded SQLite store (RunService, no HTTP),
 * through `mobius server`, and through `mlflow server` on SQLite, all fed through
 * log-batch in batches of 1,000. Through `mobius server` the raw history is also read
 * packed (`/api/v1`, Accept: application/octet-stream: float64 columns, what the SDK's
 * metricHistory fetches). Targets: raw ≤ 50 ms, downsampled ≤ 10 ms.
 *
 * Usage: node --import tsx bench/tracking/history.ts [--steps N] [--reps N] [--skip-servers] [--skip-mlflow]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../../src/core/index.js';
import { openStore } from '../../src/store/index.js';
import { ExperimentService, RunService, type MetricPoint } from '../../src/tracking/index.js';
import { withServer } from '../servers.js';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '100000' },
    reps: { type: 'string', default: '10' },
    'skip-servers': { type: 'boolean', default: false },
    'skip-mlflow': { type: 'boolean', default: false },
  },
});
const STEPS = Number(args.steps);
const REPS = Number(args.reps);
const PER_BATCH = 1000;
const POINTS = 1000;

/** The points logged: step i, a decaying loss, one timestamp per batch. */
function batch(from: number): MetricPoint[] {
  const t = Date.now();
  return Array.from({ length: Math.min(PER_BATCH, STEPS - from) }, (_, i) => ({
    key: 'loss',
    value: 1 / (from + i + 1),
    timestamp: t,
    step: from + i,
  }));
}

/** Best wall time of `fn` in ms over REPS runs after one warm-up; checks the result size. */
async function best(fn: () => Promise<number>, expected: (n: number) => boolean): Promise<number> {
  const n = await fn();
  if (!expected(n)) throw new Error(`unexpected result size ${n}`);
  let min = Infinity;
  for (let i = 0; i < REPS; i++) {
    const started = performance.now();
    await fn();
    min = Math.min(min, performance.now() - started);
  }
  return min;
}

const sampled = (n: number) => n >= POINTS && n <= POINTS + 1;
const ms = (v: number) => `${v.toFixed(1)} ms`;

async function embedded(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mobius-history-'));
  const store = await openStore(`sqlite:${join(dir, 'mobius.db')}`);
  try {
    await store.migrate();
    const experiments = new ExperimentService(store, systemClock);
    const runs = new RunService(store, systemClock);
    const experimentId = await experiments.create({ name: 'history' });
    const { info } = await runs.create({ experimentId });
    for (let s = 0; s < STEPS; s += PER_BATCH) await runs.logBatch(info.id, { metrics: batch(s) });
    const raw = await best(
      async () => (await runs.metricHistory(info.id, 'loss')).length,
      (n) => n === STEPS,
    );
    const down = await best(
      async () =>
        (await runs.metricHistoryInterval({ runIds: [info.id], key: 'loss', maxResults: POINTS }))
          .length,
      sampled,
    );
    console.log(
      `mobius embedded (sqlite): raw ${ms(raw)} [≤ 50 ms ${raw <= 50 ? '✓' : '✗'}], ` +
        `downsampled ${ms(down)} [≤ 10 ms ${down <= 10 ? '✓' : '✗'}]`,
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function call(url: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/api/2.0/mlflow/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Logs the history through REST and times the reads; returns [raw, downsampled, packed?] ms. */
async function overHttp(url: string, packed = false): Promise<[number, number, number?]> {
  const { experiment_id } = (await call(url, 'experiments/create', {
    name: `history-${Date.now()}`,
  })) as { experiment_id: string };
  const { run } = (await call(url, 'runs/create', { experiment_id, start_time: Date.now() })) as {
    run: { info: { run_id: string } };
  };
  const runId = run.info.run_id;
  for (let s = 0; s < STEPS; s += PER_BATCH)
    await call(url, 'runs/log-batch', { run_id: runId, metrics: batch(s) });
  // A client reads the whole history page by page (MLflow pages it at 25,000).
  const raw = await best(
    async () => {
      let n = 0;
      let token: string | undefined;
      do {
        const page = (await call(
          url,
          `metrics/get-history?run_id=${runId}&metric_key=loss${token === undefined ? '' : `&page_token=${encodeURIComponent(token)}`}`,
        )) as { metrics?: unknown[]; next_page_token?: string };
        n += page.metrics?.length ?? 0;
        token = page.next_page_token || undefined;
      } while (token !== undefined);
      return n;
    },
    (n) => n === STEPS,
  );
  const down = await best(async () => {
    const res = (await call(
      url,
      `metrics/get-history-bulk-interval?run_ids=${runId}&metric_key=loss&max_results=${POINTS}`,
    )) as { metrics?: unknown[] };
    return res.metrics?.length ?? 0;
  }, sampled);
  if (!packed) return [raw, down];
  const columns = await best(
    async () => {
      const res = await fetch(`${url}/api/v1/runs/${runId}/metrics/loss/history`, {
        headers: { accept: 'application/octet-stream' },
      });
      if (!res.ok) throw new Error(`packed history: ${res.status} ${await res.text()}`);
      const points = new Float64Array(await res.arrayBuffer());
      return points.length / 3;
    },
    (n) => n === STEPS,
  );
  return [raw, down, columns];
}

console.log(`${STEPS} steps of one metric, best of ${REPS} after a warm-up`);
await embedded();
let mobiusServer: [number, number] | undefined;
if (!args['skip-servers']) {
  const [mRaw, mDown, mPacked = NaN] = await withServer('mobius-source', (url) =>
    overHttp(url, true),
  );
  console.log(
    `mobius server (sqlite, HTTP): raw MLflow JSON ${ms(mRaw)} [≤ 50 ms ${mRaw <= 50 ? '✓' : '✗'}], ` +
      `raw packed /api/v1 ${ms(mPacked)} [≤ 50 ms ${mPacked <= 50 ? '✓' : '✗'}], ` +
      `downsampled ${ms(mDown)} [≤ 10 ms ${mDown <= 10 ? '✓' : '✗'}]`,
  );
  mobiusServer = [mRaw, mDown];
}
if (mobiusServer !== undefined && !args['skip-mlflow']) {
  const [mRaw, mDown] = mobiusServer;
  const [fRaw, fDown] = await withServer('mlflow', overHttp);
  console.log(`mlflow server (sqlite, HTTP): raw ${ms(fRaw)}, downsampled ${ms(fDown)}`);
  console.log(
    `ratio: raw ${(fRaw / mRaw).toFixed(1)}x, downsampled ${(fDown / mDown).toFixed(1)}x`,
  );
}
