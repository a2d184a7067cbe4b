/** Downsampled metric history (MLflow's get-history-bulk-interval) on every backend. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/api/index.js';
import { openBlobStore } from '../src/blobs/index.js';
import { resolveConfig, systemClock } from '../src/core/index.js';
import { sql } from '../src/store/index.js';
import { TrackingService, type MetricHistoryIntervalInput } from '../src/tracking/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS, openTestStore, type TestStore } from './helpers/stores.js';

for (const backend of STORE_BACKENDS) {
  describe(`metric history interval: ${backend}`, () => {
    let t: TestStore;
    let tracking: TrackingService;
    beforeEach(async () => {
      t = await openTestStore(backend);
      const blobs = await openBlobStore(
        `file:${mkdtempSync(join(tmpdir(), 'mobius-blobs-'))}`,
        resolveConfig({}, tmpdir()).s3,
      );
      tracking = new TrackingService(t.store, blobs, systemClock);
    });
    afterEach(async () => {
      await t.cleanup();
    });

    /** A new run with `loss` logged once at each of `steps` (value = step / 10). */
    const runWithSteps = async (steps: number[]) => {
      const experimentId = await tracking.experiments.create({ name: `e-${Math.random()}` });
      const run = await tracking.runs.create({ experimentId });
      const metrics = steps.map((step) => ({ key: 'loss', value: step / 10, timestamp: 1, step }));
      for (let i = 0; i < metrics.length; i += 1000)
        await tracking.runs.logBatch(run.info.id, { metrics: metrics.slice(i, i + 1000) });
      return run.info.id;
    };
    const range = (from: number, to: number, by = 1) =>
      Array.from({ length: Math.floor((to - from) / by) + 1 }, (_, i) => from + i * by);
    const steps = async (input: Omit<MetricHistoryIntervalInput, 'key'>) =>
      (await tracking.runs.metricHistoryInterval({ key: 'loss', ...input })).map((p) => p.step);

    it('packs a series into ~1,000-point segments however it is logged', async () => {
      const experimentId = await tracking.experiments.create({ name: 'packing' });
      const { info } = await tracking.runs.create({ experimentId });
      // One point per call (MLflow's log_metric), 1,100 times: merged into the last segment.
      for (let step = 0; step < 1100; step++)
        await tracking.runs.logBatch(info.id, {
          metrics: [{ key: 'one', value: step, timestamp: 1, step }],
        });
      // 1,000 points of one key per batch (MLflow's most): a segment each.
      const batch = (key: string, from: number, n: number) =>
        Array.from({ length: n }, (_, i) => ({
          key,
          value: from + i,
          timestamp: 1,
          step: from + i,
        }));
      await tracking.runs.logBatch(info.id, { metrics: batch('big', 0, 1000) });
      await tracking.runs.logBatch(info.id, { metrics: batch('big', 1000, 1000) });
      const counts = async (key: string) =>
        (
          await t.store.db
            .selectFrom('metric_segment')
            .select('count')
            .where('key', '=', key)
            .orderBy('seq')
            .execute()
        ).map((s) => s.count);
      expect(await counts('one')).toEqual([1024, 76]);
      expect(await counts('big')).toEqual([1000, 1000]);
      for (const [key, n] of [
        ['one', 1100],
        ['big', 2000],
      ] as const) {
        const history = await tracking.runs.metricHistory(info.id, key);
        expect(
          history.map((p) => p.value),
          key,
        ).toEqual(Array.from({ length: n }, (_, i) => i));
      }
      // Run comparison reads each series' range from the segments, NaN left out.
      await tracking.runs.logBatch(info.id, {
        metrics: [{ key: 'one', value: NaN, timestamp: 2, step: 5 }],
      });
      const compared = await tracking.compareRuns([info.id]);
      expect(compared.metrics.find((m) => m.key === 'one')).toMatchObject({
        min: [0],
        max: [1099],
      });
    });

    it('keeps every floor(i·n/k)-th step and the last one', async () => {
      const id = await runWithSteps(range(0, 9));
      expect(await steps({ runIds: [id], maxResults: 3 })).toEqual([0, 3, 6, 9]);
      expect(await steps({ runIds: [id], maxResults: 1 })).toEqual([0, 9]);
      expect(await steps({ runIds: [id], maxResults: 10 })).toEqual(range(0, 9));
      const big = await runWithSteps(range(0, 99));
      expect(await steps({ runIds: [big], maxResults: 10 })).toEqual([...range(0, 90, 10), 99]);
      const gaps = await runWithSteps(range(0, 18, 2)); // ranks 0, 3, 6 and the last
      expect(await steps({ runIds: [gaps], maxResults: 3 })).toEqual([0, 6, 12, 18]);
    });

    it('returns the whole point (value, timestamp, run id), 320 steps by default', async () => {
      const id = await runWithSteps(range(0, 999));
      const points = await tracking.runs.metricHistoryInterval({ runIds: [id], key: 'loss' });
      expect(points).toHaveLength(321);
      expect(points[0]).toEqual({ runId: id, key: 'loss', value: 0, timestamp: 1, step: 0 });
      expect(points.at(-1)).toEqual({
        runId: id,
        key: 'loss',
        value: 99.9,
        timestamp: 1,
        step: 999,
      });
    });

    it('samples within [start_step, end_step], first and last of the range included', async () => {
      const id = await runWithSteps(range(0, 99));
      expect(await steps({ runIds: [id], startStep: 10, endStep: 19, maxResults: 5 })).toEqual([
        10, 12, 14, 16, 18, 19,
      ]);
      expect(await steps({ runIds: [id], startStep: 95, endStep: 500 })).toEqual(range(95, 99));
      expect(await steps({ runIds: [id], startStep: 200, endStep: 300 })).toEqual([]);
    });

    it('samples the steps of all runs together, plus each run’s first and last', async () => {
      const a = await runWithSteps(range(0, 9));
      const b = await runWithSteps(range(0, 50, 5));
      // Distinct steps: 0…10, 15…50 (19); ranks 0, 4, 9, 14 → steps 0, 4, 9, 30; last 50.
      const points = await tracking.runs.metricHistoryInterval({
        runIds: [b, a],
        key: 'loss',
        maxResults: 4,
      });
      expect(points.map((p) => [p.runId, p.step])).toEqual([
        [b, 0],
        [b, 30],
        [b, 50],
        [a, 0],
        [a, 4],
        [a, 9],
      ]);
    });

    it('keeps NaN and ±Infinity', async () => {
      const experimentId = await tracking.experiments.create({ name: 'nan' });
      const { info } = await tracking.runs.create({ experimentId });
      const values = [NaN, Infinity, -Infinity, 1.5];
      await tracking.runs.logBatch(info.id, {
        metrics: values.map((value, step) => ({ key: 'loss', value, timestamp: 1, step })),
      });
      const points = await tracking.runs.metricHistoryInterval({ runIds: [info.id], key: 'loss' });
      expect(points.map((p) => p.value)).toEqual(values);
    });

    it('caps the rows of a step logged many times, evenly, first and last kept', async () => {
      const experimentId = await tracking.experiments.create({ name: 'same-step' });
      const { info } = await tracking.runs.create({ experimentId });
      await tracking.runs.logBatch(info.id, {
        metrics: range(0, 49).map((i) => ({ key: 'loss', value: i, timestamp: i, step: 0 })),
      });
      const points = await tracking.runs.metricHistoryInterval({
        runIds: [info.id],
        key: 'loss',
        maxResults: 10,
      });
      expect(points.map((p) => p.value)).toEqual([...range(0, 45, 5), 49]);
    });

    it('refuses bad arguments and unknown runs', async () => {
      const id = await runWithSteps([0, 1]);
      const bad = { code: 'INVALID_ARGUMENT' };
      await expect(steps({ runIds: [id], maxResults: 0 })).rejects.toMatchObject(bad);
      await expect(steps({ runIds: [id], maxResults: 2501 })).rejects.toMatchObject(bad);
      await expect(steps({ runIds: [] })).rejects.toMatchObject(bad);
      const many = Array.from({ length: 101 }, (_, i) => `r${i}`);
      await expect(steps({ runIds: many })).rejects.toMatchObject(bad);
      await expect(steps({ runIds: [id], startStep: 1 })).rejects.toMatchObject(bad);
      await expect(steps({ runIds: [id], startStep: 2, endStep: 1 })).rejects.toMatchObject(bad);
      await expect(steps({ runIds: [id, 'nope'] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await steps({ runIds: [id], maxResults: 2500 })).toEqual([0, 1]);
    });
  });
}

for (const backend of STORE_BACKENDS) {
  describe(`raw metric history across migration 013 (packed segments): ${backend}`, () => {
    it('moves every point, keeps history order (step, timestamp, then logging order), and appends after', async () => {
      const t = await openTestStore(backend, { migrate: false });
      try {
        await t.store.migrate({ to: '010-logged-model-metrics' });
        const blobs = await openBlobStore(
          `file:${mkdtempSync(join(tmpdir(), 'mobius-blobs-'))}`,
          resolveConfig({}, tmpdir()).s3,
        );
        const tracking = new TrackingService(t.store, blobs, systemClock);
        const experimentId = await tracking.experiments.create({ name: 'upgrade' });
        const { info } = await tracking.runs.create({ experimentId });
        const other = await tracking.runs.create({ experimentId });
        // Rows of the old `metric` table, written as the code before 013 did: out of
        // order, with ties on (step, timestamp) that only logging order breaks, NaN as a
        // flag, and a long series of another run interleaved (it spans three segments).
        const old = [
          { step: 2, timestamp: 5, value: 20 },
          { step: 1, timestamp: 9, value: 11 },
          { step: 1, timestamp: 3, value: 10 },
          { step: 2, timestamp: 5, value: 21 },
          { step: 0, timestamp: 7, value: NaN },
          { step: 2, timestamp: 5, value: 22 },
        ];
        const long = 2500;
        await t.store.write(async (trx) => {
          for (let i = 0; i < long; i++) {
            const m = old[i];
            if (m !== undefined)
              await sql`insert into metric (run_id, key, value, is_nan, step, timestamp)
                values (${info.id}, 'loss', ${Number.isNaN(m.value) ? null : m.value},
                  ${Number.isNaN(m.value) ? 1 : 0}, ${m.step}, ${m.timestamp})`.execute(trx);
            await sql`insert into metric (run_id, key, value, is_nan, step, timestamp)
              values (${other.info.id}, 'acc', ${i / long}, 0, ${i}, ${1000 + i})`.execute(trx);
          }
        });
        await t.store.migrate();
        // Appended after the move: joins the migrated series, last in its tie.
        await tracking.runs.logBatch(info.id, {
          metrics: [{ key: 'loss', step: 2, timestamp: 5, value: 23 }],
        });

        const values = async () =>
          (await tracking.runs.metricHistory(info.id, 'loss')).map((p) => p.value);
        expect(await values()).toEqual([NaN, 10, 11, 20, 21, 22, 23]);
        const page = await tracking.runs.metricHistory(info.id, 'loss', { offset: 2, limit: 3 });
        expect(page.map((p) => [p.step, p.timestamp, p.value])).toEqual([
          [1, 9, 11],
          [2, 5, 20],
          [2, 5, 21],
        ]);
        const acc = await tracking.runs.metricHistory(other.info.id, 'acc');
        expect(acc.map((p) => p.step)).toEqual(Array.from({ length: long }, (_, i) => i));
        expect(acc.every((p, i) => p.value === i / long && p.timestamp === 1000 + i)).toBe(true);
        const segments = await t.store.db
          .selectFrom('metric_segment')
          .select(['key', 'count'])
          .orderBy('seq')
          .execute();
        expect(segments.filter((s) => s.key === 'acc').map((s) => s.count)).toEqual([
          1024, 1024, 452,
        ]);
        await expect(tracking.runs.metricHistory('no-such-run', 'loss')).rejects.toMatchObject({
          code: 'NOT_FOUND',
        });
      } finally {
        await t.cleanup();
      }
    });
  });
}

for (const backend of STORE_BACKENDS) {
  describe(`GET metrics/get-history-bulk-interval: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    it('answers in the shape of MLflow, NaN and Infinity as strings, with run_id', async () => {
      const { runs, experiments } = t.ctx.tracking;
      const experimentId = await experiments.create({ name: 'http' });
      const ids = [(await runs.create({ experimentId })).info.id];
      ids.push((await runs.create({ experimentId })).info.id);
      for (const id of ids)
        await runs.logBatch(id, {
          metrics: [0, 1, 2, 3].map((step) => ({
            key: 'acc',
            value: [NaN, Infinity, 0.5, 1][step] ?? 0,
            timestamp: 7,
            step,
          })),
        });
      const url = `/api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids=${ids[0]}&run_ids=${ids[1]}&metric_key=acc`;
      const res = await app.inject({
        method: 'GET',
        url: `${url}&start_step=1&end_step=3&max_results=1`,
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        metrics: ids.flatMap((run_id) => [
          { key: 'acc', value: 'Infinity', timestamp: 7, step: 1, run_id },
          { key: 'acc', value: 1, timestamp: 7, step: 3, run_id },
        ]),
      });
      const nan = await app.inject({ method: 'GET', url: `${url}&max_results=1` });
      expect(nan.json<{ metrics: { value: unknown }[] }>().metrics[0]?.value).toBe('NaN');
      const bad = await app.inject({ method: 'GET', url: `${url}&max_results=5000` });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE' });
    });

    it('GET metrics/get-history: every point in order, NaN and ±Infinity as strings, paged', async () => {
      const { runs, experiments } = t.ctx.tracking;
      const experimentId = await experiments.create({ name: 'http-raw' });
      const { info } = await runs.create({ experimentId });
      const values = [0.5, NaN, Infinity, -Infinity, 2];
      await runs.logBatch(info.id, {
        metrics: values.map((value, step) => ({ key: 'loss', value, timestamp: 9, step })),
      });
      const url = `/api/2.0/mlflow/metrics/get-history?run_id=${info.id}&metric_key=loss`;
      const all = await app.inject({ method: 'GET', url });
      expect(all.statusCode).toBe(200);
      const wire = [0.5, 'NaN', 'Infinity', '-Infinity', 2].map((value, step) => ({
        key: 'loss',
        value,
        timestamp: 9,
        step,
      }));
      expect(all.json()).toEqual({ metrics: wire });
      const first = await app.inject({ method: 'GET', url: `${url}&max_results=3` });
      const page = first.json<{ metrics: unknown[]; next_page_token: string }>();
      expect(page.metrics).toEqual(wire.slice(0, 3));
      const rest = await app.inject({
        method: 'GET',
        url: `${url}&max_results=3&page_token=${encodeURIComponent(page.next_page_token)}`,
      });
      expect(rest.json()).toEqual({ metrics: wire.slice(3) });
    });
  });
}
