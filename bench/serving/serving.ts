/**
 * The serving benchmark (issue 6): one small scikit-learn model (logistic regression, 10
 * features) served by Mobius as ONNX and by `mlflow models serve` as the same fitted
 * model, in the same run on the same machine, loaded by a separate process on loopback
 * (loadgen/, or load.ts without Go). Targets: added latency over a direct
 * onnxruntime-node call in the same process p50 ≤ 0.5 ms and p99 ≤ 2 ms at 1,000
 * requests/s; ≥ 5,000 requests/s; ≥ 10× MLflow's throughput.
 *
 * Phases, each after a warm-up:
 *   1. direct: onnxruntime-node's session.run on one row, in this process (the baseline);
 *      then a bare node:http server with a fixed answer under the same open loop (what the
 *      harness itself costs, printed for reference: the target is over the direct call);
 *   2. Mobius (in this process: context, HTTP server, the model deployed) over the Open
 *      Inference Protocol, open loop at 1,000 requests/s, then closed loop with
 *      --connections requests in flight;
 *   3. `mlflow models serve` (--workers 2, local env) on /invocations, the same two loads.
 * Each server's answers are checked against scikit-learn's before it is timed.
 *
 * Usage: node --import tsx bench/serving/serving.ts [--dir .cache/bench-serving] [--seconds 10]
 *          [--connections 32] [--python <venv>/bin/python]   (bench/serving/setup.sh makes the venv)
 *          [--load-cpu N]   (run the load generator on CPU N only)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveConfig } from '../../src/core/index.js';
import { openMobius } from '../../src/context/index.js';
import { buildServer } from '../../src/api/index.js';
import { freePort, stopServer } from '../servers.js';

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string', default: '.cache/bench-serving' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    python: { type: 'string' },
    'load-cpu': { type: 'string' },
  },
});
const here = fileURLToPath(new URL('.', import.meta.url));
const dir = resolve(args.dir);
const run = (cmd: string, argv: string[]) => {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status})`);
  return r.stdout.trim().split('\n').at(-1)!;
};
const python = args.python ?? run('bash', [join(here, 'setup.sh'), dir]);
if (!existsSync(join(dir, 'model.onnx'))) run(python, [join(here, 'make_model.py'), dir]);
const onnx = readFileSync(join(dir, 'model.onnx'));
const sample = JSON.parse(readFileSync(join(dir, 'sample.json'), 'utf8')) as {
  features: string[];
  rows: number[][];
  proba: number[][];
};
const row = sample.rows[0]!;
interface LoadResult {
  ok: number;
  failed: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
}
/**
 * The load generator: loadgen/ (Go) when Go is installed — load.ts, in Node, has ~2 ms of
 * p99 jitter of its own at 1,000 requests/s against a bare Node HTTP server, the size of
 * the target; the Go one 0.5 ms — else load.ts. Both take the same flags and print the
 * same line.
 */
const generator = (() => {
  const built = join(dir, 'loadgen');
  const go = spawnSync('go', ['build', '-o', built, '.'], {
    cwd: join(here, 'loadgen'),
    encoding: 'utf8',
  });
  if (go.status === 0) return [built];
  console.log(
    `load generator: load.ts (Node), since the Go one did not build: ${go.error?.message ?? go.stderr.trim()}`,
  );
  return [process.execPath, '--import', 'tsx', join(here, 'load.ts')];
})();

/** Runs the load generator in a process of its own; async, since the Mobius server shares this loop. */
async function load(url: string, body: object, mode: string[]): Promise<LoadResult> {
  const file = join(dir, 'body.json');
  writeFileSync(file, JSON.stringify(body));
  const node = [...generator, '--url', url, '--body', file, '--seconds', args.seconds, ...mode];
  // --load-cpu N: the generator runs on that CPU only (taskset), so it can never take more
  // than one core from the server under test, as a client on another machine would not.
  const pinned =
    args['load-cpu'] === undefined ? node : ['taskset', '-c', args['load-cpu'], ...node];
  const child = spawn(pinned[0]!, pinned.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  if (code !== 0) throw new Error(`load generator failed (${code})`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
}
const fmt = (r: LoadResult) =>
  `${r.rps.toFixed(0)} req/s ok, ${r.failed} failed; p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, max ${r.max.toFixed(1)} ms`;
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5;

// 1. The baseline: onnxruntime-node called directly, one row at a time.
const ort = await import('onnxruntime-node');
const session = await ort.InferenceSession.create(onnx);
const feeds = {
  [session.inputNames[0]!]: new ort.Tensor('float32', Float32Array.from(row), [1, 10]),
};
const direct: number[] = [];
for (let i = 0; i < 22_000; i++) {
  const t = process.hrtime.bigint();
  await session.run(feeds);
  if (i >= 2_000) direct.push(Number(process.hrtime.bigint() - t) / 1e6);
}
direct.sort((a, b) => a - b);
const directP50 = direct[Math.floor(direct.length * 0.5)]!;
const directP99 = direct[Math.floor(direct.length * 0.99)]!;
console.log(
  `direct onnxruntime-node session.run, 1 row: p50 ${directP50.toFixed(3)} ms, p99 ${directP99.toFixed(3)} ms (20,000 calls)`,
);
await session.release();

// 1b. The harness's floor: a bare Node HTTP server answering a fixed body of Mobius's
// answer's size, under the same open loop — what any Node server and this generator cost.
const bare = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': BARE.length });
    res.end(BARE);
  });
});
const BARE = Buffer.from(
  JSON.stringify({
    model_name: 'bench',
    id: '00000000-0000-0000-0000-000000000000',
    outputs: [
      { name: 'label', datatype: 'INT64', shape: [1], data: [1] },
      { name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0.123456789, 0.87654321] },
    ],
  }),
);
await new Promise<void>((done) => bare.listen(0, '127.0.0.1', done));
const floor = await load(
  `http://127.0.0.1:${(bare.address() as { port: number }).port}/`,
  { inputs: [] },
  ['--rate', '1000'],
);
await new Promise((done) => bare.close(done));
console.log(`bare node:http server (the harness's floor), open loop 1,000 req/s: ${fmt(floor)}`);

// 2. Mobius.
const oip = {
  inputs: [{ name: session.inputNames[0], shape: [1, 10], datatype: 'FP32', data: row }],
};
const home = mkdtempSync(join(dir, 'home-'));
const ctx = await openMobius(resolveConfig({ log: { level: 'silent' } }, home), { migrate: true });
let mobius: { rate: LoadResult; closed: LoadResult };
try {
  await ctx.serving.deploy('bench', onnx, { features: sample.features });
  const app = await buildServer(ctx);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const url = `http://127.0.0.1:${port}/v2/models/bench/infer`;
  const check = (await (
    await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          {
            name: oip.inputs[0]!.name,
            shape: [64, 10],
            datatype: 'FP32',
            data: sample.rows.flat(),
          },
        ],
      }),
    })
  ).json()) as { outputs: { name: string; data: number[] }[] };
  const proba = check.outputs.find((o) => o.name === 'probabilities')!.data;
  if (!sample.proba.flat().every((p, i) => close(p, proba[i]!)))
    throw new Error('Mobius answers differ from scikit-learn predict_proba by more than 1e-5');
  /** Requests and model runs so far (the batch-size histogram's sum and count). */
  const batching = async () => {
    const metric = await ctx.serving.metrics.registry
      .getSingleMetric('mobius_serving_batch_size')
      ?.get();
    const pick = (suffix: string) =>
      (metric?.values ?? [])
        .filter(
          (v) =>
            (v as { metricName?: string }).metricName === `mobius_serving_batch_size_${suffix}`,
        )
        .reduce((n, v) => n + v.value, 0);
    return { requests: pick('sum'), runs: pick('count') };
  };
  const rate = await load(url, oip, ['--rate', '1000']);
  const before = await batching();
  const closed = await load(url, oip, ['--connections', args.connections]);
  const after = await batching();
  mobius = { rate, closed };
  // Every answered request is logged; a full buffer would drop (and count) records.
  const dropped =
    (
      await ctx.serving.metrics.registry
        .getSingleMetric('mobius_serving_predictions_dropped_total')
        ?.get()
    )?.values.reduce((n, v) => n + v.value, 0) ?? 0;
  console.log(`mobius prediction log: ${dropped} records dropped`);
  console.log(
    `mobius adaptive batching, closed loop: ${((after.requests - before.requests) / (after.runs - before.runs)).toFixed(2)} requests per model run on average`,
  );
  await app.close();
} finally {
  await ctx.close();
  rmSync(home, { recursive: true, force: true });
}
console.log(`mobius OIP, open loop 1,000 req/s: ${fmt(mobius.rate)}`);
console.log(`mobius OIP, closed loop ${args.connections} in flight: ${fmt(mobius.closed)}`);

// 3. mlflow models serve of the same fitted model.
const port = await freePort();
const mlflow = spawn(
  python,
  [
    '-m',
    'mlflow',
    'models',
    'serve',
    '-m',
    join(dir, 'mlflow-model'),
    '--env-manager',
    'local',
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '--workers',
    '2',
  ],
  { stdio: 'ignore', detached: true },
);
let peer: { rate: LoadResult; closed: LoadResult };
try {
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (mlflow.exitCode !== null)
      throw new Error(`mlflow models serve exited with ${mlflow.exitCode}`);
    if (Date.now() > deadline) throw new Error('mlflow models serve: not up after 120 s');
    try {
      if ((await fetch(`${base}/ping`)).ok) break;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  const split = (rows: number[][]) => ({
    dataframe_split: { columns: sample.features, data: rows },
  });
  const answer = (await (
    await fetch(`${base}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(split(sample.rows)),
    })
  ).json()) as { predictions: number[] };
  const labels = sample.proba.map((p) => (p[1]! > p[0]! ? 1 : 0));
  if (answer.predictions.length !== 64 || !answer.predictions.every((v, i) => v === labels[i]))
    throw new Error(
      `mlflow answers differ from scikit-learn: ${JSON.stringify(answer).slice(0, 300)}`,
    );
  peer = {
    rate: await load(`${base}/invocations`, split([row]), ['--rate', '1000']),
    closed: await load(`${base}/invocations`, split([row]), ['--connections', args.connections]),
  };
} finally {
  stopServer(mlflow);
}
console.log(`mlflow models serve (2 workers), open loop 1,000 req/s: ${fmt(peer.rate)}`);
console.log(
  `mlflow models serve (2 workers), closed loop ${args.connections} in flight: ${fmt(peer.closed)}`,
);

console.log(
  `added latency over the direct call at 1,000 req/s: p50 ${(mobius.rate.p50 - directP50).toFixed(3)} ms [target ≤ 0.5], p99 ${(mobius.rate.p99 - directP99).toFixed(3)} ms [target ≤ 2]`,
);
console.log(
  `throughput: Mobius ${mobius.closed.rps.toFixed(0)} req/s [target ≥ 5,000] = ${(mobius.closed.rps / peer.closed.rps).toFixed(1)}× mlflow models serve [target ≥ 10×]; p50 latency at 1,000 req/s ${(peer.rate.p50 / mobius.rate.p50).toFixed(1)}× lower than mlflow's`,
);
