/**
 * Profiles checked against an independent computation: test/data/check_profile.py
 * recomputes every statistic with pandas/numpy from the same CSV and lists what
 * disagrees, with the tolerances stated there (exact for counts, min/max, histograms and
 * top-value counts; 1e-9 for mean and stddev; ±0.01 in rank for t-digest quantiles; 2%
 * for hash-sampled distinct counts). Needs python3 with pandas and numpy (in
 * test/mlflow/requirements.txt, which CI installs): skipped without them, failed under CI=true.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const SCRIPT = fileURLToPath(new URL('./data/check_profile.py', import.meta.url));
const hasPandas = spawnSync('python3', ['-c', 'import pandas, numpy']).status === 0;
if (!hasPandas && process.env.CI === 'true')
  throw new Error(
    'CI=true but pandas/numpy are missing: pip install -r test/mlflow/requirements.txt',
  );

/** A deterministic generator (mulberry32), so the data and its answers never change. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 200,000 rows: a unique id (distinct past the exact-count threshold, so hash-sampled), a
 * normal float with nulls, NaN and ±inf, a skewed integer, a Zipf-like category, free text.
 */
function generate(rows: number): string {
  const r = random(42);
  const normal = () => Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());
  const lines = ['id,x,k,city,note'];
  for (let i = 0; i < rows; i++) {
    const u = r();
    const x =
      u < 0.05
        ? ''
        : u < 0.06
          ? 'nan'
          : u < 0.065
            ? 'inf'
            : u < 0.07
              ? '-inf'
              : (10 + 3 * normal()).toFixed(6);
    const k = String(Math.floor(Math.exp(r() * 6)));
    const city = `c${Math.floor(1 / (r() + 0.01))}`;
    const note = r() < 0.1 ? '' : 'w'.repeat(1 + Math.floor(r() * 30));
    lines.push(`${i * 7 + 3},${x},${k},${city},${note}`);
  }
  return `${lines.join('\n')}\n`;
}

for (const backend of STORE_BACKENDS) {
  describe.skipIf(!hasPandas)(`profiles against pandas/numpy: ${backend}`, () => {
    let t: TestContext;
    let dir: string;
    beforeAll(async () => {
      t = await openTestContext(backend);
      dir = mkdtempSync(join(tmpdir(), 'mobius-pandas-'));
      writeFileSync(join(dir, 'gen.csv'), generate(200_000));
    });
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('every statistic agrees within its stated tolerance', async () => {
      const { version } = await t.ctx.data.add({ name: 'gen', source: 'gen.csv', cwd: dir });
      expect(version.schema.map((c) => c.type)).toEqual([
        'BIGINT',
        'DOUBLE',
        'BIGINT',
        'VARCHAR',
        'VARCHAR',
      ]);
      const id = version.profile!.columns[0]!;
      expect(id.distinctExact).toBe(false);
      writeFileSync(join(dir, 'profile.json'), JSON.stringify(version.profile));
      const res = spawnSync('python3', [SCRIPT, join(dir, 'gen.csv'), join(dir, 'profile.json')], {
        encoding: 'utf8',
      });
      expect(res.status, res.stderr).toBe(0);
      expect(JSON.parse(res.stdout)).toEqual([]);
    }, 120_000);
  });
}
