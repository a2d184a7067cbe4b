/**
 * runs/search over a large experiment: 10,000 runs × 20 metrics × 20 params, seeded the
 * same way into `mobius server` and `mlflow server` (SQLite) through MLflow's REST API
 * (runs/create + one runs/log-batch per run), then the same search sent to both:
 * filter on a metric and a param, order by a metric, 100 results. Reports p50/p95 wall
 * time (Node fetch, response parsed) over QUERIES queries after WARMUP, and checks both
 * servers return the same runs in the same order (compared by run name, since ids differ).
 * Targets (issue 3): Mobius p50 ≤ 20 ms and ≥ 20× faster than MLflow.
 *
 * Usage: node --import tsx bench/tracking/search.ts [--runs N] [--queries N] [--skip-mlflow]
 */
import { parseArgs } from 'node:util';
import { withServer } from '../servers.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    queries: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5' },
    clients: { type: 'string', default: '4' },
    'skip-mlflow': { type: 'boolean', default: false },
  },
});
const RUNS = Number(args.runs);
const QUERIES = Number(args.queries);
const WARMUP = Number(args.warmup);
const CLIENTS = Number(args.clients);
const KEYS = 20;

const SEARCH = {
  filter: "metrics.m0 > 0.5 and params.p0 = 'v3'",
  order_by: ['metrics.m1 DESC'],
  max_results: 100,
};

/** A small deterministic PRNG (mulberry32), so both servers get identical data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Run i's metrics (m0…m19 uniform in [0, 1)) and params (p0…p19 one of v0…v9). */
function runData(i: number) {
  const rand = prng(i + 1);
  const metrics = Array.from({ length: KEYS }, (_, k) => ({
    key: `m${k}`,
    value: rand(),
    timestamp: 1_763_000_000_000 + i,
    step: 0,
  }));
  const params = Array.from({ length: KEYS }, (_, k) => ({
    key: `p${k}`,
    value: `v${Math.floor(rand() * 10)}`,
  }));
  return { metrics, params };
}

async function call(url: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/api/2.0/mlflow/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Creates RUNS runs with their metrics and params, CLIENTS requests at a time. */
async function seed(url: string): Promise<{ experimentId: string; seconds: number }> {
  const started = performance.now();
  const { experiment_id } = (await call(url, 'experiments/create', {
    name: `search-${Date.now()}`,
  })) as { experiment_id: string };
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let i = next++; i < RUNS; i = next++) {
        const { run } = (await call(url, 'runs/create', {
          experiment_id,
          run_name: `run-${i}`,
          start_time: 1_763_000_000_000 + i,
        })) as { run: { info: { run_id: string } } };
        await call(url, 'runs/log-batch', { run_id: run.info.run_id, ...runData(i) });
      }
    }),
  );
  return { experimentId: experiment_id, seconds: (performance.now() - started) / 1000 };
}

interface SearchTimes {
  p50: number;
  p95: number;
  names: string[];
  seedSeconds: number;
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

/** Seeds, then times the search; returns p50/p95 ms and the run names found, in order. */
async function searchTimes(url: string): Promise<SearchTimes> {
  const { experimentId, seconds } = await seed(url);
  const body = { experiment_ids: [experimentId], ...SEARCH };
  const once = async () => {
    const res = (await call(url, 'runs/search', body)) as {
      runs?: { info: { run_name: string } }[];
    };
    return (res.runs ?? []).map((r) => r.info.run_name);
  };
  const names = await once();
  for (let i = 1; i < WARMUP; i++) await once();
  const times: number[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const started = performance.now();
    const got = await once();
    times.push(performance.now() - started);
    if (got.join() !== names.join()) throw new Error(`${url}: search results changed`);
  }
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p95: quantile(times, 0.95), names, seedSeconds: seconds };
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const describeTimes = (t: SearchTimes) =>
  `p50 ${ms(t.p50)}, p95 ${ms(t.p95)} (${t.names.length} runs; seeded in ${t.seedSeconds.toFixed(0)} s)`;

console.log(
  `${RUNS} runs × ${KEYS} metrics × ${KEYS} params; ${JSON.stringify(SEARCH)}; ` +
    `${QUERIES} queries after ${WARMUP} warm-up`,
);
const mobius = await withServer('mobius-source', searchTimes);
console.log(
  `mobius server (sqlite): ${describeTimes(mobius)} [p50 ≤ 20 ms ${mobius.p50 <= 20 ? '✓' : '✗'}]`,
);
if (!args['skip-mlflow']) {
  const mlflow = await withServer('mlflow', searchTimes);
  console.log(`mlflow server (sqlite): ${describeTimes(mlflow)}`);
  const same = mlflow.names.join() === mobius.names.join();
  console.log(`same runs in the same order: ${same ? 'yes' : 'NO'}`);
  const ratio = mlflow.p50 / mobius.p50;
  console.log(`ratio (p50): ${ratio.toFixed(1)}x [target ≥ 20x ${ratio >= 20 ? '✓' : '✗'}]`);
  if (!same) process.exitCode = 1;
}
