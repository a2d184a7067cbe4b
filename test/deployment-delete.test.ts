/**
 * Deleting a registry-backed deployment on every store: `deployments.remove` and `DELETE
 * /api/v1/deployments/{name}`. The deployment stops serving at once in the process that
 * deleted it and, on its next sync, in another process following the store (a second
 * `mobius server`); OIP answers 404 naming it like any unknown deployment; the prediction
 * log and the event history stay (a `deleted` event with who and why), feedback still
 * reaches its predictions; deploying the name again works and continues the history.
 *
 * Versions of `lin` are Mobius JSON regressions `prediction = w·x` with w the version
 * number, so an answer says which version computed it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openMobius, type MobiusContext } from '../src/context/index.js';
import { resolveConfig } from '../src/core/index.js';
import { MIGRATIONS } from '../src/store/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS, openTestStore } from './helpers/stores.js';
import { registerLinearVersions } from './helpers/models.js';

const ADMIN = 'admin-token-0123456789abcdef';

const linBody = (x: number, id?: string) => ({
  ...(id === undefined ? {} : { id }),
  inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 1], data: [x] }],
});

for (const backend of STORE_BACKENDS) {
  describe(`deleting deployments: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    /** Another server process on the same store, following the deployments table. */
    let other: MobiusContext;
    let editor: string;
    let viewer: string;

    beforeAll(async () => {
      t = await openTestContext(backend, { token: ADMIN });
      app = await buildServer(t.ctx);
      editor = (await t.ctx.tokens.create({ name: 'alice', role: 'editor' }, 'test')).secret;
      viewer = (await t.ctx.tokens.create({ name: 'vic', role: 'viewer' }, 'test')).secret;
      await registerLinearVersions(t.ctx, 'lin', [1, 2]);
      other = await openMobius(t.ctx.config);
      await other.deployments.start(60_000);
    });
    afterAll(async () => {
      await other?.close();
      await app?.close();
      await t?.cleanup();
    });

    const call = async (
      method: 'GET' | 'POST' | 'DELETE',
      url: string,
      body?: unknown,
      token = editor,
    ) => {
      const res = await app.inject({
        method,
        url,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.json() };
    };
    /** The version `ctx` serves `name` with (from the answer's arithmetic). */
    const servedBy = async (ctx: MobiusContext, name: string) => {
      const answer = await ctx.serving.serveInfer(name, linBody(3));
      const w = (answer.body.outputs[0]!.data[0] as number) / 3;
      expect(answer.version).toBe(w);
      return w;
    };

    it('stops serving here and in a server following the store; history, log and feedback stay; the name can be deployed again', async () => {
      const { ctx } = t;
      await ctx.deployments.deploy({ name: 'gone', model: 'lin@1' }, 'alice');
      await ctx.deployments.deploy({ name: 'kept', model: 'lin@1' }, 'alice');
      await other.deployments.sync();
      expect(await servedBy(other, 'gone')).toBe(1);
      for (let i = 0; i < 3; i++) {
        const res = await call('POST', '/v2/models/gone/infer', linBody(i + 1, `gone-${i}`));
        expect(res.status).toBe(200);
      }

      const deleted = await ctx.deployments.remove('gone', 'alice', 'retired');
      expect(deleted).toMatchObject({
        name: 'gone',
        revision: 2,
        routes: [{ model: 'lin', version: 1, weight: 100 }],
      });
      expect(deleted.deletedAt).toBeGreaterThan(0);
      // Here: at once, and OIP answers as for any unknown deployment.
      expect(ctx.serving.has('gone')).toBe(false);
      const infer = await call('POST', '/v2/models/gone/infer', linBody(1));
      expect(infer.status).toBe(404);
      expect(infer.body.message).toMatch(/no deployment named 'gone'/);
      const meta = await call('GET', '/v2/models/gone');
      expect(meta.status).toBe(404);
      // The other server until its next sync still serves it; then not, and 'kept' stays.
      expect(await servedBy(other, 'gone')).toBe(1);
      await other.deployments.sync();
      expect(other.serving.has('gone')).toBe(false);
      await expect(other.serving.serveInfer('gone', linBody(1))).rejects.toMatchObject({
        code: 'NOT_FOUND',
        message: expect.stringMatching(/no deployment named 'gone'/),
      });
      expect(await servedBy(other, 'kept')).toBe(1);

      // Not listed, but shown with its history, the deletion last.
      expect((await ctx.deployments.list()).map((d) => d.name)).toEqual(['kept']);
      const list = await call('GET', '/api/v1/deployments');
      expect((list.body.deployments as { name: string }[]).map((d) => d.name)).toEqual(['kept']);
      const show = await call('GET', '/api/v1/deployments/gone');
      expect(show.status).toBe(200);
      expect(show.body).toMatchObject({ name: 'gone', deletedAt: deleted.deletedAt, live: null });
      const kinds = (show.body.events as { kind: string }[]).map((e) => e.kind);
      expect(kinds).toEqual(['deleted', 'deploy']);
      expect(show.body.events[0]).toMatchObject({ actor: 'alice', reason: 'retired', revision: 2 });

      // The prediction log keeps its rows, and ground truth can still be attached.
      // (The other server logged its own answers above too.)
      await Promise.all([ctx.deployments.flushPredictions(), other.deployments.flushPredictions()]);
      const rows = await ctx.store.db
        .selectFrom('prediction_log')
        .select('request_id')
        .where('deployment', '=', 'gone')
        .where('request_id', 'like', 'gone-%')
        .orderBy('seq')
        .execute();
      expect(rows.map((r) => r.request_id)).toEqual(['gone-0', 'gone-1', 'gone-2']);
      const feedback = await call('POST', '/api/v1/deployments/gone/feedback', {
        request_id: 'gone-1',
        ground_truth: 2.5,
      });
      expect(feedback).toMatchObject({ status: 200, body: { updated: 1 } });

      // A deleted deployment cannot be changed, only deployed afresh.
      await expect(ctx.deployments.promote('gone', 'alice')).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await expect(ctx.deployments.rollback('gone', 'alice')).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await expect(
        ctx.deployments.deploy({ name: 'gone', model: 'lin@2', canary: 10 }, 'alice'),
      ).rejects.toMatchObject({ message: expect.stringMatching(/to canary against/) });
      await expect(ctx.deployments.remove('gone', 'alice')).rejects.toMatchObject({
        code: 'NOT_FOUND',
        message: expect.stringMatching(/no deployment named 'gone'/),
      });

      const again = await ctx.deployments.deploy({ name: 'gone', model: 'lin@2' }, 'bob');
      expect(again).toMatchObject({ revision: 3, lastGood: { model: 'lin', version: 2 } });
      expect(await servedBy(ctx, 'gone')).toBe(2);
      await other.deployments.sync();
      expect(await servedBy(other, 'gone')).toBe(2);
      const history = await ctx.deployments.show('gone');
      expect(history.deletedAt).toBeNull();
      expect(history.events.map((e) => [e.revision, e.kind, e.actor])).toEqual([
        [3, 'deploy', 'bob'],
        [2, 'deleted', 'alice'],
        [1, 'deploy', 'alice'],
      ]);
      // A restarted server loads the re-deployed one and not a deleted one.
      await ctx.deployments.remove('kept', 'alice');
      const restarted = await openMobius(ctx.config);
      try {
        await restarted.deployments.start(60_000);
        expect(restarted.serving.list()).toEqual(['gone']);
      } finally {
        await restarted.close();
      }
    });

    it('DELETE /api/v1/deployments/{name}: reason in the query or body, 404 naming an unknown name, editor only', async () => {
      for (const name of ['h1', 'h2', 'h3'])
        expect((await call('POST', '/api/v1/deployments', { name, model: 'lin@1' })).status).toBe(
          201,
        );
      const byQuery = await call('DELETE', '/api/v1/deployments/h1?reason=moved%20to%20h2');
      expect(byQuery.status).toBe(200);
      expect(byQuery.body).toMatchObject({ name: 'h1', revision: 2 });
      expect(typeof byQuery.body.deletedAt).toBe('number');
      const byBody = await call('DELETE', '/api/v1/deployments/h2', { reason: 'done' });
      expect(byBody.status).toBe(200);
      const events = async (name: string) =>
        (await call('GET', `/api/v1/deployments/${name}`)).body.events as {
          kind: string;
          reason: string | null;
          actor: string;
        }[];
      expect((await events('h1'))[0]).toMatchObject({
        kind: 'deleted',
        reason: 'moved to h2',
        actor: 'alice',
      });
      expect((await events('h2'))[0]).toMatchObject({ kind: 'deleted', reason: 'done' });
      expect((await call('POST', '/v2/models/h1/infer', linBody(1))).status).toBe(404);
      expect(
        (await call('POST', '/api/v1/deployments/h2/predict', { records: [{ x: 1 }] })).status,
      ).toBe(404);

      const cases: [string, string, unknown, number, RegExp][] = [
        ['DELETE', '/api/v1/deployments/h1', undefined, 404, /no deployment named 'h1'/],
        ['DELETE', '/api/v1/deployments/nope', undefined, 404, /no deployment named 'nope'/],
        ['DELETE', '/api/v1/deployments/h3?reason=a', { reason: 'b' }, 400, /give it once/],
        ['DELETE', '/api/v1/deployments/h3', { why: 'x' }, 400, /why/],
        ['DELETE', '/api/v1/deployments/h3?reason=' + 'x'.repeat(5000), undefined, 400, /reason/],
      ];
      for (const [method, url, body, status, message] of cases) {
        const res = await call(method as 'DELETE', url, body);
        expect(res.status, `${method} ${url.slice(0, 60)}`).toBe(status);
        expect(res.body.message).toMatch(message);
      }
      const denied = await call('DELETE', '/api/v1/deployments/h3', undefined, viewer);
      expect(denied.status).toBe(403);
      // None of the refusals touched h3.
      expect((await call('POST', '/v2/models/h3/infer', linBody(2))).body.outputs[0].data).toEqual([
        2,
      ]);
      expect((await events('h3')).map((e) => e.kind)).toEqual(['deploy']);
    });

    it('requests racing a delete are answered by the model or get 404; none fail otherwise', async () => {
      await t.ctx.deployments.deploy({ name: 'busy', model: 'lin@1' }, 'alice');
      const send = () =>
        app.inject({
          method: 'POST',
          url: '/v2/models/busy/infer',
          headers: { authorization: `Bearer ${editor}`, 'content-type': 'application/json' },
          payload: JSON.stringify(linBody(2)),
        });
      const before = Array.from({ length: 100 }, send);
      // Delete once the first answer is back, with the rest of the hundred still going.
      await Promise.race(before);
      const removed = call('DELETE', '/api/v1/deployments/busy');
      const after = Array.from({ length: 100 }, send);
      const results = await Promise.all([...before, ...after]);
      expect((await removed).status).toBe(200);
      expect(results.filter((r) => r.statusCode !== 200 && r.statusCode !== 404)).toEqual([]);
      const answered = results.filter((r) => r.statusCode === 200);
      expect(answered.length).toBeGreaterThan(0);
      expect(answered.every((r) => r.json().outputs[0].data[0] === 2)).toBe(true);
      expect((await send()).statusCode).toBe(404);
    });

    it('upgrades a store with a deployment from before migration 023: it is listed and can be deleted', async () => {
      const names = Object.keys(MIGRATIONS);
      const before = names[names.indexOf('023-deployment-deletion') - 1]!;
      const old = await openTestStore(backend, { migrate: false });
      const home = mkdtempSync(join(tmpdir(), 'mobius-home-'));
      try {
        await old.store.migrate({ to: before });
        await old.store.write(async (trx) => {
          await trx
            .insertInto('deployment')
            .values({
              name: 'legacy',
              routes: JSON.stringify([
                { model: 'lin', version: 1, ref: '1', weight: 100, role: 'stable' },
              ]),
              mirror: null,
              sticky: null,
              last_good_model: 'lin',
              last_good_version: 1,
              analysis: null,
              candidate_since: null,
              revision: 1,
              created_at: 1,
              updated_at: 1,
            })
            .execute();
          await trx
            .insertInto('deployment_event')
            .values({
              deployment: 'legacy',
              revision: 1,
              at: 1,
              kind: 'deploy',
              actor: 'old',
              reason: null,
              detail: '{}',
            })
            .execute();
        });
        await old.store.close();
        const ctx = await openMobius(
          resolveConfig({ store: old.location, log: { level: 'silent' } }, home),
          { migrate: true },
        );
        try {
          expect((await ctx.deployments.list()).map((d) => d.name)).toEqual(['legacy']);
          await ctx.deployments.remove('legacy', 'alice', 'upgrade check');
          expect((await ctx.deployments.show('legacy')).events.map((e) => e.kind)).toEqual([
            'deleted',
            'deploy',
          ]);
        } finally {
          await ctx.close();
        }
      } finally {
        await old.cleanup().catch(() => {});
        rmSync(home, { recursive: true, force: true });
      }
    });
  });
}
