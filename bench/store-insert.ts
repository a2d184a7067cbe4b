/**
 * Batched insert throughput: Mobius' store layer vs raw better-sqlite3 and raw `pg`,
 * measured in the same process on the same machine. Rows are metric points of a
 * LoggedModel (`logged_model_metric`, 8 columns — run metrics themselves are stored
 * packed, see src/store/metric-points.ts), written in transactions of BATCH rows.
 *
 * Raw baselines are the fastest idiom each driver offers for this job:
 * - better-sqlite3: one prepared single-row INSERT run per row inside db.transaction()
 *   (its documented fast path), and the same multi-row INSERT our layer sends;
 * - pg: one multi-row parameterised INSERT per batch inside BEGIN/COMMIT.
 * The ratio is ours / the faster raw variant (lower is better; 1.0 = no overhead).
 *
 * Usage: node --import tsx bench/store-insert.ts [--rows N] [--batch N] [--postgres URL]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { newId } from '../src/core/index.js';
import { openStore, type Store } from '../src/store/index.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '1000' },
    repeats: { type: 'string', default: '3' },
    postgres: { type: 'string', default: process.env.BENCH_POSTGRES_URL ?? '' },
  },
});
const ROWS = Number(args.rows);
const BATCH = Number(args.batch);
const REPEATS = Number(args.repeats);

interface MetricPoint {
  model_id: string;
  run_id: string;
  key: string;
  value: number;
  is_nan: 0;
  step: number;
  timestamp: number;
}

function makeRows({ runId, modelId }: Seeded): MetricPoint[] {
  return Array.from({ length: ROWS }, (_, i) => ({
    model_id: modelId,
    run_id: runId,
    key: `m${i % 10}`,
    value: Math.sin(i),
    is_nan: 0 as const,
    step: i,
    timestamp: 1_763_000_000_000 + i,
  }));
}

const COLUMNS = ['model_id', 'run_id', 'key', 'value', 'is_nan', 'step', 'timestamp'] as const;
const flat = (rows: MetricPoint[]) => rows.flatMap((r) => COLUMNS.map((c) => r[c]));
const placeholders = (n: number, dollar: boolean) =>
  Array.from(
    { length: n },
    (_, r) =>
      `(${COLUMNS.map((_c, j) => (dollar ? `$${r * COLUMNS.length + j + 1}` : '?')).join(', ')})`,
  ).join(', ');

interface Seeded {
  runId: string;
  modelId: string;
}

async function seed(store: Store): Promise<Seeded> {
  const experimentId = newId();
  const runId = newId();
  const modelId = `m-${newId()}`;
  await store.write(async (trx) => {
    await trx
      .insertInto('experiment')
      .values({
        id: experimentId,
        name: `bench-${experimentId}`,
        artifact_location: null,
        lifecycle_stage: 'active',
        created_at: 0,
        updated_at: 0,
      })
      .execute();
    await trx
      .insertInto('run')
      .values({
        id: runId,
        experiment_id: experimentId,
        name: 'bench',
        status: 'RUNNING',
        lifecycle_stage: 'active',
        user_id: null,
        start_time: 0,
        end_time: null,
        artifact_uri: null,
        parent_run_id: null,
      })
      .execute();
    await trx
      .insertInto('logged_model')
      .values({
        id: modelId,
        experiment_id: experimentId,
        name: 'bench',
        model_type: null,
        source_run_id: runId,
        status: 'LOGGED_MODEL_READY',
        status_message: null,
        artifact_uri: 'mlflow-artifacts:/bench',
        creator_id: null,
        lifecycle_stage: 'active',
        created_at: 0,
        updated_at: 0,
      })
      .execute();
  });
  return { runId, modelId };
}

interface Variant {
  name: string;
  /** Restores the same starting state (an empty metric table). */
  prepare: () => Promise<void>;
  run: () => Promise<void> | void;
}

/**
 * Best-of-REPEATS rows/second per variant. Variants run round-robin (A B C A B C …) so
 * none gains from running first on a fresh file or last on a warm cache.
 */
async function measure(variants: Variant[]): Promise<{ name: string; rowsPerSec: number }[]> {
  const best = variants.map(() => Infinity);
  for (let r = 0; r < REPEATS; r++) {
    for (const [i, v] of variants.entries()) {
      await v.prepare();
      const t0 = process.hrtime.bigint();
      await v.run();
      best[i] = Math.min(best[i]!, Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  return variants.map((v, i) => ({
    name: v.name,
    rowsPerSec: Math.round((ROWS / best[i]!) * 1000),
  }));
}

async function sqliteBench() {
  const dir = mkdtempSync(join(tmpdir(), 'mobius-bench-'));
  const path = join(dir, 'mobius.db');
  const store = await openStore(`sqlite:${path}`);
  await store.migrate();
  const rows = makeRows(await seed(store));

  // Raw better-sqlite3 on the same file with the same durability (WAL, synchronous=FULL).
  const raw = new BetterSqlite3(path);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = FULL');
  raw.pragma('busy_timeout = 30000');
  const clear = () => Promise.resolve(void raw.exec('delete from logged_model_metric'));
  const single = raw.prepare(
    `insert into logged_model_metric (${COLUMNS.join(', ')}) values (${COLUMNS.map(() => '?').join(', ')})`,
  );
  const perRow = raw.transaction((batch: MetricPoint[]) => {
    for (const r of batch)
      single.run(r.model_id, r.run_id, r.key, r.value, r.is_nan, r.step, r.timestamp);
  });
  const multi = raw.prepare(
    `insert into logged_model_metric (${COLUMNS.join(', ')}) values ${placeholders(BATCH, false)}`,
  );
  const multiTx = raw.transaction((batch: MetricPoint[]) => multi.run(flat(batch)));

  const [ours, ...raws] = await measure([
    {
      name: 'mobius store (sqlite)',
      prepare: clear,
      run: async () => {
        for (let i = 0; i < ROWS; i += BATCH) {
          const batch = rows.slice(i, i + BATCH);
          await store.write((trx) => store.insertMany(trx, 'logged_model_metric', batch));
        }
      },
    },
    {
      name: 'raw better-sqlite3, prepared row loop',
      prepare: clear,
      run: () => {
        for (let i = 0; i < ROWS; i += BATCH) perRow(rows.slice(i, i + BATCH));
      },
    },
    {
      name: 'raw better-sqlite3, prepared multi-row',
      prepare: clear,
      run: () => {
        for (let i = 0; i < ROWS; i += BATCH) multiTx(rows.slice(i, i + BATCH));
      },
    },
  ]);
  raw.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { ours: ours!, raws };
}

async function postgresBench(url: string) {
  const schema = `bench_${newId()}`;
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  const store = await openStore(u.toString());
  await store.migrate();
  const rows = makeRows(await seed(store));
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await client.connect();
  const clear = async () => void (await client.query('delete from logged_model_metric'));
  const text = `insert into logged_model_metric (${COLUMNS.join(', ')}) values ${placeholders(BATCH, true)}`;

  const [ours, ...raws] = await measure([
    {
      name: 'mobius store (postgres)',
      prepare: clear,
      run: async () => {
        for (let i = 0; i < ROWS; i += BATCH) {
          const batch = rows.slice(i, i + BATCH);
          await store.write((trx) => store.insertMany(trx, 'logged_model_metric', batch));
        }
      },
    },
    {
      name: 'raw pg, multi-row insert',
      prepare: clear,
      run: async () => {
        for (let i = 0; i < ROWS; i += BATCH) {
          await client.query('begin');
          await client.query(text, flat(rows.slice(i, i + BATCH)));
          await client.query('commit');
        }
      },
    },
  ]);
  await store.close();
  await client.query(`drop schema ${schema} cascade`);
  await client.end();
  return { ours: ours!, raws };
}

/** Runs the comparison and returns printable results. */
export async function storeInsertBench(postgresUrl: string) {
  const results = [await sqliteBench()];
  if (postgresUrl !== '') results.push(await postgresBench(postgresUrl));
  return results.map(({ ours, raws }) => {
    const fastest = raws.reduce((a, b) => (a.rowsPerSec >= b.rowsPerSec ? a : b));
    return { ours, raws, overhead: Number((fastest.rowsPerSec / ours.rowsPerSec).toFixed(2)) };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await storeInsertBench(args.postgres);
  console.log(`store batched insert: ${ROWS} rows in batches of ${BATCH}, best of ${REPEATS}`);
  for (const r of results) {
    for (const m of [r.ours, ...r.raws])
      console.log(
        `  ${m.name.padEnd(42)} ${m.rowsPerSec.toLocaleString('en-US').padStart(12)} rows/s`,
      );
    console.log(`  overhead (fastest raw / ours): ${r.overhead}x`);
  }
}
