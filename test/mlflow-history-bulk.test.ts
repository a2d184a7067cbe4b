/**
 * MLflow's UI history endpoints over HTTP on every backend in TEST_STORES:
 * `ajax-api/…/metrics/get-history-bulk` (every point of several runs) and the argument
 * checks of `metrics/get-history-bulk-interval`, with MLflow's own messages.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const BULK = '/ajax-api/2.0/mlflow/metrics/get-history-bulk';
const INTERVAL = '/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval';

for (const backend of STORE_BACKENDS) {
  describe(`MLflow history bulk routes: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let runIds: string[];

    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
      const { experiments, runs } = t.ctx.tracking;
      const experimentId = await experiments.create({ name: 'bulk' });
      runIds = [];
      for (let i = 0; i < 2; i++) runIds.push((await runs.create({ experimentId })).info.id);
      for (const [i, id] of runIds.entries())
        // Logged out of order: the answer sorts by timestamp, then step, then value.
        await runs.logBatch(id, {
          metrics: [
            { key: 'acc', value: 3 + i, timestamp: 2, step: 3 },
            { key: 'acc', value: 2 + i, timestamp: 1, step: 3 },
            { key: 'acc', value: 1 + i, timestamp: 1, step: 3 },
            { key: 'acc', value: NaN, timestamp: 1, step: 2 },
            { key: 'loss', value: 9, timestamp: 1, step: 1 },
          ],
        });
    });
    afterAll(async () => {
      await app?.close();
      await t?.cleanup();
    });

    const get = async (url: string, query: Record<string, string | string[] | number>) => {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(query))
        for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item));
      const res = await app.inject({ method: 'GET', url: `${url}?${qs.toString()}` });
      return { status: res.statusCode, body: res.json<Record<string, unknown>>() };
    };

    it('returns every point of each run, runs by id, points by timestamp, step, value', async () => {
      const sorted = [...runIds].sort();
      const res = await get(BULK, { run_id: [...runIds].reverse(), metric_key: 'acc' });
      expect(res.status).toBe(200);
      expect(res.body.metrics).toEqual(
        sorted.flatMap((run_id) => {
          const i = runIds.indexOf(run_id);
          return [
            { key: 'acc', value: 'NaN', timestamp: 1, step: 2, run_id },
            { key: 'acc', value: 1 + i, timestamp: 1, step: 3, run_id },
            { key: 'acc', value: 2 + i, timestamp: 1, step: 3, run_id },
            { key: 'acc', value: 3 + i, timestamp: 2, step: 3, run_id },
          ];
        }),
      );
    });

    it('stops at max_results points in all', async () => {
      const sorted = [...runIds].sort();
      const res = await get(BULK, { run_id: runIds, metric_key: 'acc', max_results: 2 });
      expect(res.body.metrics).toEqual([
        { key: 'acc', value: 'NaN', timestamp: 1, step: 2, run_id: sorted[0] },
        expect.objectContaining({ step: 3, timestamp: 1, run_id: sorted[0] }),
      ]);
    });

    it('is served under /ajax-api only, as MLflow serves it', async () => {
      const res = await app.inject({
        method: 'GET',
        url: `/api/2.0/mlflow/metrics/get-history-bulk?run_id=${runIds[0]}&metric_key=acc`,
      });
      expect(res.statusCode).toBe(404);
    });

    it('refuses requests MLflow refuses, with its messages', async () => {
      const refused = async (
        url: string,
        query: Record<string, string | string[] | number>,
        message: string,
      ) => {
        const res = await get(url, query);
        expect(res.status).toBe(400);
        expect(res.body.error_code).toBe('INVALID_PARAMETER_VALUE');
        expect(res.body.message).toContain(message);
      };
      const many = Array.from({ length: 101 }, (_, i) => `id_${i}`);
      await refused(BULK, { metric_key: 'k' }, 'must specify at least one run_id');
      await refused(BULK, { run_id: many, metric_key: 'k' }, 'cannot specify more than 100');
      await refused(BULK, { run_id: 'x' }, 'must specify a metric_key');
      await refused(
        INTERVAL,
        { metric_key: 'k' },
        "Missing value for required parameter 'run_ids'.",
      );
      await refused(INTERVAL, { run_ids: many, metric_key: 'k' }, 'at most 100 run_ids');
      await refused(
        INTERVAL,
        { run_ids: 'x', metric_key: 'k', max_results: 2501 },
        'max_results must be between 1 and 2500',
      );
      await refused(
        INTERVAL,
        { run_ids: 'x', max_results: 5 },
        "Missing value for required parameter 'metric_key'",
      );
      await refused(
        INTERVAL,
        { run_ids: 'x', metric_key: 'k', start_step: 1, end_step: 0 },
        'end_step must be greater than start_step. ',
      );
      await refused(
        INTERVAL,
        { run_ids: 'x', metric_key: 'k', start_step: 1 },
        'If either start step or end step are specified, both must be specified.',
      );
    });

    it('answers NOT_FOUND for an unknown run', async () => {
      const res = await get(BULK, { run_id: ['0'.repeat(32)], metric_key: 'acc' });
      expect(res.status).toBe(404);
    });
  });
}
