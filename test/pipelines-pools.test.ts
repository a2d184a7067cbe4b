/**
 * Named pools, on each metadata backend: a step in a pool waits for a slot in it as well
 * as for the run's concurrency limit. Observed through the start and end times the runner
 * records on `step_run` (a clock that ticks on every reading orders them strictly), not
 * through sleeps. Unknown pool names are errors naming the step, at load and before a
 * run records anything.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../src/core/index.js';
import {
  PipelineService,
  loadPipeline,
  parsePipelineYaml,
  pipeline,
  step,
  type StepDefinition,
} from '../src/pipelines/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

/** Every reading is one millisecond later: times recorded in order are strictly ordered. */
function tickingClock(start = 1_700_000_000_000): Clock {
  let t = start;
  return { now: () => ++t };
}

/** Resolves once `n` callers are waiting in it at the same time; rejects after 10 s. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return async () => {
    if (++arrived === n) open();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      opened,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${arrived} of ${n} ran at once`)), 10_000);
      }),
    ]).finally(() => clearTimeout(timer));
  };
}

for (const backend of STORE_BACKENDS) {
  describe(`pipeline pools (${backend})`, () => {
    let t: TestContext;
    let service: PipelineService;

    beforeAll(async () => {
      t = await openTestContext(backend);
      service = new PipelineService({
        store: t.ctx.store,
        blobs: t.ctx.blobs,
        tracking: t.ctx.tracking,
        clock: tickingClock(),
        pools: { io: 2 },
      });
    });
    afterAll(async () => {
      await t.cleanup();
    });

    const intervals = async (pipelineRunId: string) =>
      (
        await t.ctx.store.db
          .selectFrom('step_run')
          .select(['step', 'started_at', 'ended_at'])
          .where('pipeline_run_id', '=', pipelineRunId)
          .execute()
      ).map((r) => ({ step: r.step, start: Number(r.started_at), end: Number(r.ended_at) }));
    const overlap = (a: { start: number; end: number }, b: { start: number; end: number }) =>
      a.start < b.end && b.start < a.end;

    it('never runs two steps of a pool of size 1 at once, while steps outside it run in parallel', async () => {
      let active = 0;
      let mostActive = 0;
      const gpu = (name: string): StepDefinition =>
        step(name, {
          pool: 'gpu',
          cache: false,
          run: async () => {
            mostActive = Math.max(mostActive, ++active);
            // Long enough that the other gpu steps would start meanwhile without the pool.
            await new Promise((r) => setTimeout(r, 20));
            active--;
          },
        });
      const together = barrier(3);
      const free = (name: string): StepDefinition =>
        step(name, { cache: false, run: () => together() });
      const p = pipeline('pools', {
        pools: { gpu: 1 },
        steps: [gpu('g1'), gpu('g2'), gpu('g3'), free('f1'), free('f2'), free('f3')],
      });
      const result = await service.run(p, { concurrency: 6 });
      expect(result.status).toBe('succeeded');
      const rows = await intervals(result.id);
      expect(rows).toHaveLength(6);
      for (const r of rows) expect(r.end).toBeGreaterThan(r.start);
      const g = rows.filter((r) => r.step.startsWith('g')).sort((a, b) => a.start - b.start);
      for (let i = 1; i < g.length; i++) expect(overlap(g[i - 1]!, g[i]!)).toBe(false);
      const f = rows.filter((r) => r.step.startsWith('f'));
      expect(overlap(f[0]!, f[1]!) && overlap(f[1]!, f[2]!) && overlap(f[0]!, f[2]!)).toBe(true);
      // A gpu step ran next to the free ones: the pool holds its own steps back, nothing else.
      expect(g.some((x) => f.some((y) => overlap(x, y)))).toBe(true);
      expect(mostActive).toBe(1);
    });

    it("takes pool sizes from the service (the config) over the pipeline's own, and still counts the run's limit", async () => {
      // The pipeline says io: 1; the service (config) says io: 2 and wins: two io steps meet.
      const together = barrier(2);
      const io = (name: string) => step(name, { pool: 'io', cache: false, run: () => together() });
      const p = pipeline('pools-config', { pools: { io: 1 }, steps: [io('a'), io('b')] });
      const result = await service.run(p, { concurrency: 4 });
      expect(result.status).toBe('succeeded');
      const [a, b] = await intervals(result.id);
      expect(overlap(a!, b!)).toBe(true);

      // A per-run override of 1 serialises them again (recorded times do not overlap).
      const serial = pipeline('pools-serial', {
        steps: ['a', 'b', 'c'].map((n) =>
          step(n, { pool: 'io', cache: false, run: () => new Promise((r) => setTimeout(r, 5)) }),
        ),
      });
      const one = await service.run(serial, { pools: { io: 1 } });
      const rows = (await intervals(one.id)).sort((x, y) => x.start - y.start);
      for (let i = 1; i < rows.length; i++) expect(overlap(rows[i - 1]!, rows[i]!)).toBe(false);
    });

    it('refuses a step naming a pool nobody defines, naming the step, before recording a run', async () => {
      const p = pipeline('pools-unknown', {
        steps: [step('train', { pool: 'tpu', run: () => undefined })],
      });
      await expect(service.run(p)).rejects.toThrow(
        /step 'train': pool 'tpu' is not defined; declare it in pipeline 'pools-unknown'.*io/,
      );
      await expect(service.explain(p)).rejects.toThrow(/step 'train': pool 'tpu'/);
      expect(await service.runs({ pipeline: 'pools-unknown' })).toHaveLength(0);
      expect(() =>
        pipeline('bad-size', { pools: { gpu: 0 }, steps: [step('a', { run: () => 1 })] }),
      ).toThrow(/pool 'gpu' has size 0; give a whole number ≥ 1/);
      expect(() => step('a', { pool: 'no spaces', run: () => 1 })).toThrow(
        /step 'a': pool name 'no spaces'/,
      );
    });
  });
}

describe('pools in YAML and at load', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mobius-pools-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads pool on steps and pools on the pipeline; an unknown pool fails the load naming the step', async () => {
    const yaml = [
      'name: yaml-pools',
      'pools: { gpu: 1 }',
      'steps:',
      '  - { name: a, run: [echo, a], pool: gpu }',
      '  - { name: b, run: [echo, b], pool: cpu }',
    ].join('\n');
    writeFileSync(join(dir, 'yaml-pools.pipeline.yaml'), yaml);
    const p = parsePipelineYaml(yaml);
    expect(p.pools).toEqual({ gpu: 1 });
    expect(p.steps.map((s) => s.pool)).toEqual(['gpu', 'cpu']);
    await expect(loadPipeline('yaml-pools', { cwd: dir, pools: {} })).rejects.toThrow(
      /step 'b': pool 'cpu' is not defined.*\(pipelines\.pools\), which define 'gpu'/,
    );
    // The config's pools complete it.
    const loaded = await loadPipeline('yaml-pools', { cwd: dir, pools: { cpu: 4 } });
    expect(loaded.name).toBe('yaml-pools');
    expect(() => parsePipelineYaml(yaml.replace('gpu: 1', 'gpu: two'))).toThrow(/pools/);
  });
});
