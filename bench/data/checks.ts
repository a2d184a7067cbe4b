/**
 * The expectation-suite benchmark (issue 4): the 16 expectations of checks-suite.yaml over
 * the 10 M-row × 10-column Parquet of checks-data.ts, run by Mobius and by Great
 * Expectations (pandas engine, ge_suite.py) in the same run on the same file. Targets:
 * ≥ 20 M rows/s on 2 cores, and ≥ 20× GE.
 *
 * The file is added once as a dataset version (its profile is computed then, as every
 * `data add` does; that time is printed apart). Then the suite is run `--runs` times in
 * each of two modes:
 *   - default: expectations the version's exact profile settles need no scan; the rest
 *     share one bundled scan (plus their own queries);
 *   - full scan: every expectation is measured on the data (the profile is not used).
 * Times are the whole `ctx.checks.gate` call: engine session, scans, storing the result.
 * GE's time is printed both end to end (Python start, import, load, validate) and for
 * validation alone.
 *
 * Usage: node --import tsx bench/data/checks.ts [--rows 10000000] [--dir .cache/bench-data]
 *          [--runs 5] [--ge-python <venv>/bin/python]   (bench/data/setup-ge.sh makes the venv)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveConfig } from '../../src/core/index.js';
import { openMobius } from '../../src/context/index.js';
import type { CheckRun } from '../../src/data/index.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000000' },
    dir: { type: 'string', default: '.cache/bench-data' },
    runs: { type: 'string', default: '5' },
    'ge-python': { type: 'string' },
  },
});

const here = fileURLToPath(new URL('.', import.meta.url));
const dir = resolve(args.dir);
const parquet = join(dir, `checks-${args.rows}.parquet`);
if (!existsSync(parquet)) {
  const made = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(here, 'checks-data.ts'), '--rows', args.rows, '--dir', dir],
    { stdio: 'inherit' },
  );
  if (made.status !== 0) process.exit(made.status ?? 1);
}
const suite = readFileSync(join(here, 'checks-suite.yaml'), 'utf8');
const rows = Number(args.rows);
const runs = Number(args.runs);

/** Median seconds of each Mobius mode, for the ratios against GE. */
const medians = new Map<string, number>();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const home = mkdtempSync(join(dir, 'checks-home-'));
try {
  const ctx = await openMobius(resolveConfig({ log: { level: 'silent' } }, home), {
    migrate: true,
  });
  try {
    let t = performance.now();
    const { version } = await ctx.data.add({ name: 'bench-orders', source: parquet, cwd: dir });
    console.log(
      `data add of ${rows} rows (${version.totalBytes} bytes Parquet): ${((performance.now() - t) / 1000).toFixed(2)} s (read, profile, store; once per version)`,
    );
    const ref = `bench-orders@${version.version}`;
    for (const fullScan of [false, true]) {
      const times: number[] = [];
      let last: CheckRun | undefined;
      for (let i = 0; i < runs; i++) {
        t = performance.now();
        last = await ctx.checks.gate(ref, suite, { fullScan });
        times.push(performance.now() - t);
      }
      if (last === undefined) throw new Error('--runs must be at least 1');
      const failed = last.results.filter((r) => !r.success).map((r) => r.index);
      const by = (kind: string) => last.results.filter((r) => r.decidedBy === kind).length;
      const m = median(times) / 1000;
      console.log(
        `mobius ${fullScan ? 'full scan' : 'default  '}: median ${m.toFixed(3)} s over ${runs} runs (min ${(Math.min(...times) / 1000).toFixed(3)}, max ${(Math.max(...times) / 1000).toFixed(3)}) = ${(rows / m / 1e6).toFixed(1)} M rows/s; status ${last.status}, failed ${JSON.stringify(failed)}, ${last.scans} scans; decided by profile ${by('profile')}, scan ${by('scan')}, query ${by('query')} [target ≥ 20 M rows/s]`,
      );
      medians.set(fullScan ? 'full scan' : 'default', m);
    }
  } finally {
    await ctx.close();
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}

const python = args['ge-python'] ?? join(dir, 'ge-venv', 'bin', 'python');
if (!existsSync(python)) {
  console.log(`great expectations: skipped (${python} missing; run bench/data/setup-ge.sh ${dir})`);
} else {
  const ge = spawnSync(python, [join(here, 'ge_suite.py'), parquet], { encoding: 'utf8' });
  if (ge.status !== 0) {
    console.log(`great expectations failed: ${ge.stderr.slice(-2000)}`);
    process.exit(1);
  }
  const r = JSON.parse(ge.stdout.trim().split('\n').at(-1)!) as {
    seconds_total: number;
    seconds_validate: number;
    success: boolean;
    version?: string;
  };
  console.log(
    `great expectations ${r.version ?? ''} (pandas): ${r.seconds_total.toFixed(2)} s end to end, ${r.seconds_validate.toFixed(2)} s validating = ${(rows / r.seconds_validate / 1e6).toFixed(2)} M rows/s; success ${r.success}`,
  );
  for (const [name, m] of medians)
    console.log(
      `ratio (${name}): ${(r.seconds_total / m).toFixed(1)}× GE end to end, ${(r.seconds_validate / m).toFixed(1)}× GE's validation alone [target ≥ 20×]`,
    );
}
