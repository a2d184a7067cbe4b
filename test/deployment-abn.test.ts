/**
 * A/B/n: a deployment with more than two weighted routes, over HTTP on every store. Arm A
 * takes what the B arms leave; the even sequence splits any run of requests within a
 * request or two of the weights; sticky keys pin each user to one arm; promote needs `to`
 * to pick one of several B arms; automatic analysis (one candidate against stable) is
 * refused for several; bad arms are refused naming what to fix.
 *
 * Versions of `lin` are Mobius JSON regressions `prediction = w·x` with w the version
 * number, so each answer says by its arithmetic which arm computed it.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';
import { registerLinearVersions } from './helpers/models.js';

const linBody = (x: number) => ({
  inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 1], data: [x] }],
});

for (const backend of STORE_BACKENDS) {
  describe(`A/B/n deployments: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;

    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
      await registerLinearVersions(t.ctx, 'lin', [1, 2, 3, 4]);
    });
    afterAll(async () => {
      await app?.close();
      await t?.cleanup();
    });

    const call = async (method: 'GET' | 'POST', url: string, body?: unknown, headers = {}) => {
      const res = await app.inject({
        method,
        url,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.json() };
    };
    /** Infers on `name`; returns the version the arithmetic says answered. */
    const infer = async (name: string, headers: Record<string, string> = {}) => {
      const res = await call('POST', `/v2/models/${name}/infer`, linBody(3), headers);
      expect(res.status).toBe(200);
      const w = (res.body.outputs[0].data[0] as number) / 3;
      expect(res.body.model_version).toBe(String(w));
      return w;
    };

    it('splits 1,000 requests 50/30/20 across three versions and promotes the arm named by to', async () => {
      const res = await call('POST', '/api/v1/deployments', {
        name: 'abn',
        model: 'lin@1',
        ab: [
          { model: 'lin@2', percent: 30 },
          { model: 'lin@3', percent: 20 },
        ],
        reason: 'three-way test',
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.routes).toEqual([
        { model: 'lin', version: 1, ref: '1', weight: 50, role: 'stable' },
        { model: 'lin', version: 2, ref: '2', weight: 30, role: 'candidate' },
        { model: 'lin', version: 3, ref: '3', weight: 20, role: 'candidate' },
      ]);
      const counts = new Map<number, number>();
      for (let i = 0; i < 1000; i++) {
        const w = await infer('abn');
        counts.set(w, (counts.get(w) ?? 0) + 1);
      }
      expect([...counts.keys()].sort()).toEqual([1, 2, 3]);
      expect(Math.abs(counts.get(1)! - 500)).toBeLessThanOrEqual(2);
      expect(Math.abs(counts.get(2)! - 300)).toBeLessThanOrEqual(2);
      expect(Math.abs(counts.get(3)! - 200)).toBeLessThanOrEqual(2);
      const show = await call('GET', '/api/v1/deployments/abn');
      const live = show.body.live as { routes: { stats: { requests: number } }[] };
      expect(live.routes.map((r) => r.stats.requests)).toEqual([
        counts.get(1),
        counts.get(2),
        counts.get(3),
      ]);

      const ambiguous = await call('POST', '/api/v1/deployments/abn/promote');
      expect(ambiguous.status).toBe(409);
      expect(ambiguous.body.message).toMatch(
        /'abn' has 2 B arms \(lin@2, lin@3\); say which to promote with --to <model>@<version>/,
      );
      const notArm = await call('POST', '/api/v1/deployments/abn/promote', { to: 'lin@4' });
      expect(notArm.status).toBe(409);
      expect(notArm.body.message).toMatch(
        /lin@4 is not a candidate of 'abn'; its candidates are lin@2, lin@3/,
      );
      const promoted = await call('POST', '/api/v1/deployments/abn/promote', {
        to: 'lin@3',
        reason: 'arm C won',
      });
      expect(promoted.status).toBe(200);
      expect(promoted.body).toMatchObject({
        routes: [{ model: 'lin', version: 3, weight: 100, role: 'stable' }],
        lastGood: { model: 'lin', version: 3 },
      });
      for (let i = 0; i < 10; i++) expect(await infer('abn')).toBe(3);
    });

    it('sticky keys pin each user to one of the arms, and every arm gets users', async () => {
      await call('POST', '/api/v1/deployments', {
        name: 'sticky',
        model: 'lin@1',
        ab: [
          { model: 'lin@2', percent: 25 },
          { model: 'lin@3', percent: 25 },
          { model: 'lin@4', percent: 25 },
        ],
        sticky: 'x-user',
      });
      const byUser = new Map<string, Set<number>>();
      for (let round = 0; round < 3; round++)
        for (let u = 0; u < 80; u++) {
          const w = await infer('sticky', { 'x-user': `user-${u}` });
          byUser.set(`user-${u}`, (byUser.get(`user-${u}`) ?? new Set()).add(w));
        }
      expect([...byUser.values()].every((set) => set.size === 1)).toBe(true);
      const perArm = new Map<number, number>();
      for (const set of byUser.values())
        for (const w of set) perArm.set(w, (perArm.get(w) ?? 0) + 1);
      expect([...perArm.keys()].sort()).toEqual([1, 2, 3, 4]);
      // 80 users in four 25% arms: each gets some (a binomial(80, 1/4) below 5 is ~1e-5).
      expect(Math.min(...perArm.values())).toBeGreaterThanOrEqual(5);
    });

    it('refuses bad arms, saying what to fix, and changes nothing', async () => {
      const arms = (...list: [number, number][]) =>
        list.map(([v, percent]) => ({ model: `lin@${v}`, percent }));
      const cases: [unknown, RegExp][] = [
        [arms([2, 60], [3, 40]), /B arms take 100% together; leave arm A some traffic/],
        [arms([2, 30], [2, 20]), /two B arms are both lin@2/],
        [arms([2, 30], [1, 20]), /A and B are both lin@1/],
        [arms([2, 30], [3, 0]), /ab\[1\] percent must be a percent greater than 0/],
        [[{ model: 'lin', percent: 10 }], /ab: 'lin' must be <model>@<version> or <model>@<alias>/],
        [[], /ab/],
        [arms(...Array.from({ length: 10 }, (_, i): [number, number] => [2, 1 + i])), /ab/],
      ];
      for (const [ab, message] of cases) {
        const res = await call('POST', '/api/v1/deployments', { name: 'bad', model: 'lin@1', ab });
        expect(res.status, JSON.stringify(ab)).toBe(400);
        expect(res.body.message, JSON.stringify(ab)).toMatch(message);
      }
      const analysed = await call('POST', '/api/v1/deployments', {
        name: 'bad',
        model: 'lin@1',
        ab: arms([2, 30], [3, 20]),
        analysis: { minRequests: 10 },
      });
      expect(analysed.status).toBe(400);
      expect(analysed.body.message).toMatch(
        /automatic analysis judges one candidate against stable, and this A\/B has 2 B arms/,
      );
      expect((await call('GET', '/api/v1/deployments/bad')).status).toBe(404);
      // The service itself says how many routes a deployment takes.
      await expect(
        t.ctx.deployments.deploy(
          {
            name: 'bad',
            model: 'lin@1',
            ab: Array.from({ length: 10 }, () => ({ model: 'lin@2', percent: 1 })),
          },
          'test',
        ),
      ).rejects.toMatchObject({
        message: expect.stringMatching(/ab: 10 B arms; a deployment takes up to 10 routes/),
      });
    });
  });
}
