/**
 * Metric ingest through MLflow's log-batch (1000 metrics per request, 4 concurrent
 * clients): Mobius vs `mlflow server` on SQLite, same machine, same run, same client
 * code (Node fetch sending MLflow's protobuf-JSON). Target (issue 3): ≥ 100,000 points/s
 * on SQLite and ≥ 30× MLflow.
 *
 * Usage: node --import tsx bench/tracking/ingest.ts [--batches N] [--clients N] [--skip-mlflow]
 */
import { parseArgs } from 'node:util';
import { withServer } from '../servers.js';

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '50' },
    clients: { type: 'string', default: '4' },
    'skip-mlflow': { type: 'boolean', default: false },
  },
});
const BATCHES = Number(args.batches);
const CLIENTS = Number(args.clients);
const PER_BATCH = 1000;

async function post(url: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/api/2.0/mlflow/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Points per second logged by CLIENTS concurrent clients, each sending BATCHES batches. */
async function ingest(url: string): Promise<number> {
  const { experiment_id } = (await post(url, 'experiments/create', {
    name: `ingest-${Date.now()}`,
  })) as { experiment_id: string };
  const runIds = await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const { run } = (await post(url, 'runs/create', {
        experiment_id,
        start_time: Date.now(),
      })) as { run: { info: { run_id: string } } };
      return run.info.run_id;
    }),
  );
  const started = performance.now();
  await Promise.all(
    runIds.map(async (runId) => {
      for (let b = 0; b < BATCHES; b++) {
        const metrics = Array.from({ length: PER_BATCH }, (_, i) => ({
          key: `m${i % 10}`,
          value: Math.random(),
          timestamp: Date.now(),
          step: b * PER_BATCH + i,
        }));
        await post(url, 'runs/log-batch', { run_id: runId, metrics });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return Math.round((CLIENTS * BATCHES * PER_BATCH) / seconds);
}

const mobius = await withServer('mobius-dist', ingest);
console.log(
  `mobius (sqlite): ${mobius} metric points/s  [${CLIENTS} clients × ${BATCHES} batches × ${PER_BATCH}]`,
);
if (!args['skip-mlflow']) {
  const mlflow = await withServer('mlflow', ingest);
  console.log(`mlflow server (sqlite): ${mlflow} metric points/s`);
  console.log(`ratio: ${(mobius / mlflow).toFixed(1)}x  [target ≥ 30x, and ≥ 100,000 points/s]`);
}
