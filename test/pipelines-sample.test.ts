/**
 * Sample runs (`mobius run --sample N`) on each metadata backend, with the real data
 * domain: dataset inputs are sampled to N rows (the same rows for the same seed) into
 * `sample.<name>`, dataset outputs land in `sample.<name>`, the real datasets do not move,
 * file inputs are read whole and listed, and cache entries never cross between a sample
 * run and a full run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SAMPLE_TAG,
  pipeline,
  sampleDatasetName,
  step,
  type PipelineDefinition,
} from '../src/pipelines/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

for (const backend of STORE_BACKENDS) {
  describe(`sample runs (${backend})`, () => {
    let t: TestContext;
    let dir: string;

    beforeAll(async () => {
      t = await openTestContext(backend);
      dir = mkdtempSync(join(tmpdir(), 'mobius-sample-'));
      const lines = ['id,value'];
      for (let i = 1; i <= 500; i++) lines.push(`${i},${(i * 7) % 13}`);
      writeFileSync(join(dir, 'orders.csv'), `${lines.join('\n')}\n`);
      writeFileSync(join(dir, 'notes.txt'), 'read whole\n');
      await t.ctx.data.add({ name: 'orders', source: 'orders.csv', cwd: dir });
    });
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    /** `prep` copies its dataset input (Parquet) to a dataset output; `gate`-free. */
    function copying(name: string, seen: { notes: string[] }): PipelineDefinition {
      return pipeline(name, {
        steps: [
          step('prep', {
            inputs: { orders: 'dataset:orders', notes: 'file:notes.txt' },
            outputs: [{ dataset: `${name}_clean`, as: 'clean', format: 'parquet' }],
            run: async (c) => {
              seen.notes.push(await readFile(c.inputs.notes!, 'utf8'));
              await copyFile(c.inputs.orders!, c.outputs.clean!);
            },
          }),
        ],
      });
    }

    it('samples dataset inputs to N rows into the sandbox and adds outputs there; the real datasets do not move', async () => {
      const seen = { notes: [] as string[] };
      const p = copying('sampled', seen);
      const ordersBefore = await t.ctx.data.get('orders@latest');
      const result = await t.ctx.pipelines.run(p, { sample: { rows: 25, seed: 7 }, baseDir: dir });
      expect(result.status).toBe('succeeded');
      expect(result.sample).toEqual({
        rows: 25,
        seed: 7,
        namespace: 'sample.',
        unsampled: ['prep.notes (file:notes.txt)'],
      });
      expect(seen.notes).toEqual(['read whole\n']); // the file input is passed as it is
      const prep = result.steps.prep!;
      expect(prep.datasets.in.orders).toMatchObject({
        dataset: 'sample.orders',
        rowCount: 25,
        sampleOf: { dataset: 'orders', version: ordersBefore.version, rowCount: 500 },
      });
      expect(prep.datasets.out.clean).toMatchObject({
        dataset: 'sample.sampled_clean',
        rowCount: 25,
      });
      expect(sampleDatasetName('sampled_clean')).toBe('sample.sampled_clean');
      // The real datasets: orders unchanged, the output dataset never created.
      expect((await t.ctx.data.get('orders@latest')).id).toBe(ordersBefore.id);
      await expect(t.ctx.data.get('sampled_clean@latest')).rejects.toThrow(/sampled_clean/);
      const run = await t.ctx.tracking.runs.get(result.trackingRunId);
      expect(run.data.tags[SAMPLE_TAG]).toBe('25');
      expect(run.data.tags['mobius.sample.seed']).toBe('7');
      expect(prep.explain).toMatch(/^ran: /);

      // Same N and seed: the same rows (the same content), so the step is a cache hit.
      const again = await t.ctx.pipelines.run(p, { sample: { rows: 25, seed: 7 }, baseDir: dir });
      expect(again.steps.prep!.status).toBe('cached');
      expect(again.steps.prep!.datasets.in.orders!.contentHash).toBe(
        prep.datasets.in.orders!.contentHash,
      );
      // Another seed: other rows, so it runs.
      const other = await t.ctx.pipelines.run(p, { sample: { rows: 25, seed: 8 }, baseDir: dir });
      expect(other.steps.prep!.status).toBe('succeeded');
      expect(other.steps.prep!.datasets.in.orders!.contentHash).not.toBe(
        prep.datasets.in.orders!.contentHash,
      );

      // A later full run does not reuse a sample's cache: it runs on all 500 rows and adds
      // the real dataset's first version.
      const full = await t.ctx.pipelines.run(p, { baseDir: dir });
      expect(full.sample).toBeUndefined();
      expect(full.steps.prep!.status).toBe('succeeded');
      expect(full.steps.prep!.explain).toMatch(/sample removed/);
      expect(full.steps.prep!.datasets.in.orders).toMatchObject({
        dataset: 'orders',
        rowCount: 500,
      });
      expect(full.steps.prep!.datasets.out.clean).toMatchObject({
        dataset: 'sampled_clean',
        version: 1,
        rowCount: 500,
      });
      // And a sample run after it does not reuse the full run's result either.
      const after = await t.ctx.pipelines.run(p, { sample: { rows: 10 }, baseDir: dir });
      expect(after.steps.prep!.status).toBe('succeeded');
      expect(after.steps.prep!.datasets.out.clean).toMatchObject({
        dataset: 'sample.sampled_clean',
        rowCount: 10,
      });
      expect((await t.ctx.data.get('sampled_clean@latest')).version).toBe(1);
    });

    it('refuses a bad size or seed, and --resume with --sample', async () => {
      const p = copying('sample-bad', { notes: [] });
      await expect(t.ctx.pipelines.run(p, { sample: { rows: 0 } })).rejects.toThrow(
        /--sample must be a whole number of rows ≥ 1, not 0/,
      );
      await expect(t.ctx.pipelines.run(p, { sample: { rows: 5, seed: -1 } })).rejects.toThrow(
        /--seed must be a whole number/,
      );
      await expect(
        t.ctx.pipelines.run(p, { sample: { rows: 5 }, resume: 'whatever' }),
      ).rejects.toThrow(/--sample cannot be combined with --resume/);
      expect(await t.ctx.pipelines.runs({ pipeline: 'sample-bad' })).toHaveLength(0);
    });
  });
}
