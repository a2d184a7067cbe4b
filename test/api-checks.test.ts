/** `/api/v1/checks…` over the Fastify server on every store: gate, list, show, history, suggest, roles. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const ADMIN = 'admin-token-0123456789abcdef';
const CSV = `id,amount\n${Array.from({ length: 100 }, (_, i) => `${i + 1},${i}`).join('\n')}\n`;

for (const backend of STORE_BACKENDS) {
  describe(`api v1 checks: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let viewer: string;

    beforeAll(async () => {
      t = await openTestContext(backend, { token: ADMIN });
      app = await buildServer(t.ctx);
      viewer = (await t.ctx.tokens.create({ name: 'viewer', role: 'viewer' }, 'test')).secret;
      const up = await app.inject({
        method: 'POST',
        url: '/api/v1/datasets/nums/versions?filename=nums.csv',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'text/csv' },
        payload: CSV,
      });
      expect(up.statusCode).toBe(201);
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    const call = async (method: 'GET' | 'POST', url: string, payload?: object, token = ADMIN) => {
      const res = await app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token}` },
        ...(payload === undefined ? {} : { payload }),
      });
      return { status: res.statusCode, body: res.json<Record<string, unknown>>(), text: res.body };
    };

    it('runs a suite given as JSON or YAML, stores it, and lists and shows it', async () => {
      const json = await call('POST', '/api/v1/checks', {
        dataset: 'nums@1',
        suite: { name: 'nums', expectations: [{ expect: 'between', column: 'amount', max: 89 }] },
      });
      expect(json.status, json.text).toBe(201);
      expect(json.body).toMatchObject({
        status: 'fail',
        dataset: 'nums',
        version: 1,
        results: [
          {
            success: false,
            result: {
              unexpectedCount: 10,
              partialUnexpectedList: [90, 91, 92, 93, 94, 95, 96, 97, 98, 99],
            },
          },
        ],
      });
      const yaml = await call('POST', '/api/v1/checks', {
        dataset: 'nums',
        suite: 'expectations:\n  - { expect: unique, column: id }\n',
      });
      expect(yaml.body).toMatchObject({ status: 'pass', scans: 0 });

      const list = await call('GET', '/api/v1/checks?dataset=nums', undefined, viewer);
      expect((list.body.checks as { id: string }[]).map((c) => c.id)).toEqual(
        expect.arrayContaining([json.body.id, yaml.body.id]),
      );
      const shown = await call('GET', `/api/v1/checks/${String(json.body.id)}`, undefined, viewer);
      expect(shown.body).toEqual(json.body);
      const history = await call(
        'GET',
        '/api/v1/checks/history?dataset=nums&metric=row_count',
        undefined,
        viewer,
      );
      expect(history.body).toMatchObject({ points: [{ version: 1, value: 100 }] });
    });

    it('suggests a suite as JSON or YAML', async () => {
      const suite = await call('GET', '/api/v1/checks/suggest?dataset=nums@1', undefined, viewer);
      expect(suite.status).toBe(200);
      expect((suite.body.expectations as { expect: string }[]).map((e) => e.expect)).toContain(
        'unique',
      );
      const yaml = await app.inject({
        method: 'GET',
        url: '/api/v1/checks/suggest?dataset=nums@1&format=yaml',
        headers: { authorization: `Bearer ${viewer}` },
      });
      expect(yaml.headers['content-type']).toContain('application/yaml');
      expect(yaml.body).toContain('expect: unique');
    });

    it('refuses bad suites (400 naming the column), unknown data (404) and viewers running gates (403)', async () => {
      const typo = await call('POST', '/api/v1/checks', {
        dataset: 'nums@1',
        suite: { expectations: [{ expect: 'not_null', column: 'amont' }] },
      });
      expect(typo.status).toBe(400);
      expect(typo.body).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(String(typo.body.message)).toContain("column 'amont' is not in nums@1");
      const bad = await call('POST', '/api/v1/checks', { dataset: 'nums@1', suite: 7 });
      expect(bad.status).toBe(400);
      expect(
        (
          await call('POST', '/api/v1/checks', {
            dataset: 'ghost',
            suite: 'expectations: [{expect: unique, column: id}]',
          })
        ).status,
      ).toBe(404);
      expect((await call('GET', '/api/v1/checks/nope')).status).toBe(404);
      const denied = await call(
        'POST',
        '/api/v1/checks',
        { dataset: 'nums@1', suite: 'expectations: [{expect: unique, column: id}]' },
        viewer,
      );
      expect(denied.status).toBe(403);
    });
  });
}
