/**
 * `data add` of a big CSV against DuckDB's own `COPY … TO parquet` of the same file, in
 * the same run. Target (issue 4): a 2 GB CSV added with peak RSS ≤ 600 MB, in at most 2×
 * the time of the COPY. Each side runs in a child process of its own, so each peak RSS
 * (getrusage ru_maxrss) is that side's alone; the COPY runs first, so both read the CSV
 * from a warm page cache.
 *
 * The CSV is generated once per size and kept under --dir: id, timestamp, a 20-value
 * category, a normal amount with 2% nulls, a small integer, a boolean and free text
 * (~100 bytes a row, deterministic).
 *
 * Usage: node --import tsx bench/data/add.ts [--size-mb 2048] [--dir .cache/bench-data]
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '2048' },
    dir: { type: 'string', default: '.cache/bench-data' },
    child: { type: 'string' },
    csv: { type: 'string' },
    work: { type: 'string' },
  },
});

/** Writes ~`mb` MB of CSV to `path`, a few MB at a time. */
async function generate(path: string, mb: number): Promise<number> {
  const out = createWriteStream(path);
  const target = mb * 1024 * 1024;
  let seed = 1;
  const r = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const categories = Array.from({ length: 20 }, (_x, i) => `category_${i}`);
  const t0 = Date.UTC(2024, 0, 1);
  let written = 0;
  let id = 0;
  out.write('id,ts,category,amount,qty,flag,note\n');
  while (written < target) {
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++, id++) {
      const amount = r() < 0.02 ? '' : (100 + 15 * (r() + r() + r() - 1.5) * 2).toFixed(2);
      const ts = new Date(t0 + id * 1000).toISOString().slice(0, 19).replace('T', ' ');
      lines.push(
        `${id},${ts},${categories[Math.floor(r() * r() * 20)]},${amount},${Math.floor(r() * 100)},${r() < 0.5},note ${Math.floor(r() * 1e6).toString(36)} ${'x'.repeat(Math.floor(r() * 20))}`,
      );
    }
    const chunk = `${lines.join('\n')}\n`;
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await new Promise<void>((done) => out.once('drain', () => done()));
  }
  await new Promise<void>((done, fail) => out.end((e?: Error | null) => (e ? fail(e) : done())));
  return id;
}

/** Peak RSS of this process so far, in MB. */
const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function childCopy(csv: string, work: string): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const started = performance.now();
  await connection.run(
    `copy (select * from read_csv('${csv}')) to '${join(work, 'copy.parquet')}' (format parquet)`,
  );
  const ms = performance.now() - started;
  instance.closeSync();
  process.stdout.write(JSON.stringify({ ms, peakRssMb: peakRssMb() }));
}

async function childAdd(csv: string, work: string): Promise<void> {
  const { resolveConfig } = await import('../../src/core/index.js');
  const { openMobius } = await import('../../src/context/index.js');
  const home = join(work, 'home');
  const ctx = await openMobius(resolveConfig({ log: { level: 'silent' } }, home), {
    migrate: true,
  });
  const stages: Record<string, number> = {};
  // Peak RSS so far as each stage ends: the stage where it grows is the one that peaked.
  const peakByStage: Record<string, number> = {};
  let last = performance.now();
  let current = '';
  const started = performance.now();
  const { version } = await ctx.data.add({
    name: 'bench',
    source: csv,
    cwd: work,
    onStage: (stage) => {
      const now = performance.now();
      if (current !== '') {
        stages[current] = Math.round(now - last);
        peakByStage[current] = peakRssMb();
      }
      current = stage;
      last = now;
    },
  });
  const ms = performance.now() - started;
  stages[current] = Math.round(performance.now() - last);
  peakByStage[current] = peakRssMb();
  await ctx.close();
  process.stdout.write(
    JSON.stringify({
      ms,
      peakRssMb: peakRssMb(),
      rows: version.rowCount,
      parquetMb: Math.round((version.parquet?.size ?? 0) / 1e6),
      stages,
      peakByStage,
    }),
  );
}

function runChild(mode: string, csv: string, work: string): Record<string, unknown> {
  const res = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      mode,
      '--csv',
      csv,
      '--work',
      work,
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (res.status !== 0) throw new Error(`${mode} failed:\n${res.stderr}`);
  return JSON.parse(res.stdout) as Record<string, unknown>;
}

if (args.child === 'copy') await childCopy(args.csv!, args.work!);
else if (args.child === 'add') await childAdd(args.csv!, args.work!);
else {
  const mb = Number(args['size-mb']);
  const dir = resolve(args.dir);
  mkdirSync(dir, { recursive: true });
  const csv = join(dir, `bench-${mb}mb.csv`);
  if (!existsSync(csv)) {
    const started = performance.now();
    const rows = await generate(csv, mb);
    console.log(
      `generated ${csv}: ${rows} rows in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  const bytes = statSync(csv).size;
  const work = mkdtempSync(join(dir, 'run-'));
  try {
    const copy = runChild('copy', csv, work);
    const add = runChild('add', csv, work);
    const ratio = (add.ms as number) / (copy.ms as number);
    console.log(`CSV: ${(bytes / 1e6).toFixed(0)} MB, ${add.rows as number} rows`);
    console.log(
      `DuckDB COPY to Parquet: ${((copy.ms as number) / 1000).toFixed(1)} s, peak RSS ${copy.peakRssMb as number} MB`,
    );
    console.log(
      `mobius data add:        ${((add.ms as number) / 1000).toFixed(1)} s, peak RSS ${add.peakRssMb as number} MB (stages ms: ${JSON.stringify(add.stages)}; peak RSS MB by the end of each: ${JSON.stringify(add.peakByStage)}; Parquet copy ${add.parquetMb as number} MB)`,
    );
    console.log(
      `add / COPY: ${ratio.toFixed(2)}× (target ≤ 2×); add peak RSS ${add.peakRssMb as number} MB (target ≤ 600 MB)`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
