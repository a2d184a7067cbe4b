/**
 * `npm run bench`: every benchmark, in one run on this machine, printed as the rows
 * docs/benchmarks.md records. PostgreSQL figures need BENCH_POSTGRES_URL (or
 * TEST_POSTGRES_URL); `scripts/postgres.sh start` prints one.
 */
import { cpus, totalmem } from 'node:os';
import { serverStartBench } from './server-start.js';
import { storeInsertBench } from './store-insert.js';

const postgres = process.env.BENCH_POSTGRES_URL ?? process.env.TEST_POSTGRES_URL ?? '';

console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
);

const start = await serverStartBench(10, 2000);
console.log(
  `server cold start → first /health: median ${start.startMs.median} ms (min ${start.startMs.min}, max ${start.startMs.max}) over ${start.runs} runs [target < 1000 ms]`,
);
console.log(
  `server idle RSS after 2 s: median ${start.idleRssMb.median} MB (max ${start.idleRssMb.max}) [target < 120 MB]`,
);

for (const r of await storeInsertBench(postgres)) {
  for (const m of [r.ours, ...r.raws]) console.log(`insert ${m.name}: ${m.rowsPerSec} rows/s`);
  console.log(`insert overhead vs fastest raw (${r.ours.name}): ${r.overhead}x [target ≤ 1.3x]`);
}
if (postgres === '') console.log('postgres: skipped (set BENCH_POSTGRES_URL)');
