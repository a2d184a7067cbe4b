/** `/api/v1/schedules…` over the Fastify server on every store: list, pause, resume, run, roles. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { ManualClock } from '../src/core/index.js';
import { TRIGGER_TAG, pipeline, step } from '../src/pipelines/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const ADMIN = 'admin-token-0123456789abcdef';
const T0 = Date.UTC(2026, 0, 1, 0, 0, 30);

for (const backend of STORE_BACKENDS) {
  describe(`api v1 schedules: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let viewer: string;
    let editor: string;
    const clock = new ManualClock(T0);

    beforeAll(async () => {
      t = await openTestContext(backend, { token: ADMIN }, { clock });
      app = await buildServer(t.ctx);
      viewer = (await t.ctx.tokens.create({ name: 'viewer', role: 'viewer' }, 'test')).secret;
      editor = (await t.ctx.tokens.create({ name: 'editor', role: 'editor' }, 'test')).secret;
      await t.ctx.scheduler.register(
        pipeline('nightly', {
          steps: [step('noop', { run: () => undefined })],
          schedule: { cron: '0 2 * * *' },
          trigger: { datasets: ['raw'], when: 'any' },
        }),
      );
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    const call = async (method: 'GET' | 'POST', url: string, token = ADMIN) => {
      const res = await app.inject({ method, url, headers: { authorization: `Bearer ${token}` } });
      return { status: res.statusCode, body: res.json() };
    };

    it('lists schedules with their next fire and trigger state (viewer)', async () => {
      const res = await call('GET', '/api/v1/schedules', viewer);
      expect(res.status).toBe(200);
      expect(res.body.schedules).toEqual([
        {
          pipeline: 'nightly',
          paused: false,
          pausedAt: null,
          schedules: [
            {
              cron: '0 2 * * *',
              catchup: 'latest',
              nextFireAt: Date.UTC(2026, 0, 1, 2),
              lastFiredAt: null,
            },
          ],
          trigger: {
            datasets: ['raw'],
            when: 'any',
            coalesceMs: 60_000,
            maxWaitMs: 600_000,
            state: [{ dataset: 'raw', consumedVersion: 0, newestVersion: null }],
          },
          lastFire: null,
          pendingFires: 0,
        },
      ]);
    });

    it('pauses and resumes (editor); a viewer may not', async () => {
      const denied = await call('POST', '/api/v1/schedules/nightly/pause', viewer);
      expect(denied.status).toBe(403);
      expect(denied.body.message).toContain('needs the editor role');
      const paused = await call('POST', '/api/v1/schedules/nightly/pause', editor);
      expect(paused.status).toBe(200);
      expect(paused.body).toMatchObject({ pipeline: 'nightly', paused: true, pausedAt: T0 });
      // Paused: the 02:00 boundary passes without a fire.
      expect(await t.ctx.scheduler.tick(Date.UTC(2026, 0, 1, 2))).toEqual([]);
      const resumed = await call('POST', '/api/v1/schedules/nightly/resume', editor);
      expect(resumed.body).toMatchObject({ paused: false, pausedAt: null });
    });

    it('starts a registered pipeline now, recorded as a manual fire', async () => {
      const res = await call('POST', '/api/v1/schedules/nightly/run', editor);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        pipeline: 'nightly',
        reason: { trigger: 'manual' },
        status: 'launched',
      });
      const read = () =>
        t.ctx.store.db
          .selectFrom('pipeline_run')
          .selectAll()
          .where('id', '=', res.body.pipelineRunId as string)
          .executeTakeFirstOrThrow();
      // The run goes on after the request answers; let it finish before the store closes.
      for (let i = 0; i < 500 && (await read()).status === 'RUNNING'; i++)
        await new Promise((r) => setTimeout(r, 20));
      const row = await read();
      expect(row.status).toBe('FINISHED');
      const run = await t.ctx.tracking.runs.get(row.tracking_run_id);
      expect(run.data.tags[TRIGGER_TAG]).toBe('manual');
    });

    it('says which pipelines exist when one is unknown', async () => {
      const res = await call('POST', '/api/v1/schedules/nope/pause');
      expect(res.status).toBe(404);
      expect(res.body.message).toBe(
        "no pipeline 'nope' has a schedule or trigger; known: 'nightly'",
      );
      const run = await call('POST', '/api/v1/schedules/nope/run');
      expect(run.status).toBe(404);
      expect(run.body.message).toContain("pipeline 'nope' is not registered with this scheduler");
    });
  });
}
