/**
 * Token auth fails closed on every route. The route list comes from the server
 * itself, so a route added without auth fails this suite.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, listRoutes } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const ADMIN = 'admin-token-0123456789abcdef';

for (const backend of STORE_BACKENDS) {
  describe(`auth: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let viewerSecret: string;
    let revokedSecret: string;

    beforeAll(async () => {
      t = await openTestContext(backend, { token: ADMIN });
      app = await buildServer(t.ctx);
      viewerSecret = (await t.ctx.tokens.create({ name: 'viewer', role: 'viewer' }, 'test')).secret;
      const revoked = await t.ctx.tokens.create({ name: 'old', role: 'admin' }, 'test');
      await t.ctx.tokens.revoke(revoked.id, 'test');
      revokedSecret = revoked.secret;
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    /** Every registered route, OPTIONS on each path, and a path no route has. */
    const targets = () => {
      const routes = listRoutes(app).map((r) => ({
        method: r.method,
        url: r.url.replace(/:[^/]+/g, 'x').replace('*', 'x'),
      }));
      const paths = [...new Set(routes.map((r) => r.url))];
      return [
        ...routes,
        ...paths.map((url) => ({ method: 'OPTIONS', url })),
        { method: 'GET', url: '/no/such/route' },
        { method: 'DELETE', url: '/no/such/route' },
      ];
    };

    it('enumerates the routes (sanity: the list is not empty)', () => {
      const methods = new Set(listRoutes(app).map((r) => r.method));
      expect(listRoutes(app).length).toBeGreaterThanOrEqual(6);
      for (const m of ['GET', 'HEAD', 'POST', 'DELETE']) expect(methods).toContain(m);
    });

    const cases: [string, Record<string, string>][] = [
      ['a missing token', {}],
      ['an empty Authorization header', { authorization: '' }],
      ['a malformed Authorization header', { authorization: 'Token abc' }],
      ['a Bearer with no token', { authorization: 'Bearer' }],
      [
        'a wrong token',
        { authorization: 'Bearer mbx_wrongwrongwrongwrongwrongwrongwrongwrongwro' },
      ],
      [
        'a token one character off the admin token',
        { authorization: `Bearer ${ADMIN.slice(0, -1)}x` },
      ],
      ['the admin token with a suffix', { authorization: `Bearer ${ADMIN}x` }],
      [
        'malformed Basic credentials',
        { authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` },
      ],
    ];
    for (const [name, headers] of cases) {
      it(`blocks ${name} on every route and method`, async () => {
        for (const target of targets()) {
          const res = await app.inject({
            method: target.method as 'GET',
            url: target.url,
            headers,
          });
          expect(res.statusCode, `${target.method} ${target.url}`).toBe(401);
          expect(res.headers['www-authenticate']).toBe('Bearer realm="mobius"');
        }
      });
    }

    it('blocks a revoked token on every route', async () => {
      for (const target of targets()) {
        const res = await app.inject({
          method: target.method as 'GET',
          url: target.url,
          headers: { authorization: `Bearer ${revokedSecret}` },
        });
        expect(res.statusCode, `${target.method} ${target.url}`).toBe(401);
      }
    });

    it('lets the admin token through every route (no 401, no 5xx)', async () => {
      for (const target of targets()) {
        const res = await app.inject({
          method: target.method as 'GET',
          url: target.url,
          headers: { authorization: `Bearer ${ADMIN}` },
        });
        expect(res.statusCode, `${target.method} ${target.url}`).not.toBe(401);
        expect(res.statusCode, `${target.method} ${target.url}`).toBeLessThan(500);
      }
    });

    it('accepts a stored token, and its role limits what it can do', async () => {
      const headers = { authorization: `Bearer ${viewerSecret}` };
      expect((await app.inject({ method: 'GET', url: '/health', headers })).statusCode).toBe(200);
      const create = await app.inject({
        method: 'POST',
        url: '/api/v1/tokens',
        headers,
        payload: { name: 'nope' },
      });
      expect(create.statusCode).toBe(403);
      expect(create.json()).toMatchObject({ code: 'PERMISSION_DENIED' });
    });

    it("accepts the token as the password of Basic auth (MLflow's client sends this)", async () => {
      const basic = Buffer.from(`anyone:${ADMIN}`).toString('base64');
      const res = await app.inject({
        method: 'GET',
        url: '/api/v1/tokens',
        headers: { authorization: `Basic ${basic}` },
      });
      expect(res.statusCode).toBe(200);
    });

    it('creates and revokes a token over HTTP, and the revoked secret stops working', async () => {
      const admin = { authorization: `Bearer ${ADMIN}` };
      const created = await app.inject({
        method: 'POST',
        url: '/api/v1/tokens',
        headers: admin,
        payload: { name: 'ci', role: 'editor' },
      });
      expect(created.statusCode).toBe(201);
      const { id, secret } = created.json<{ id: string; secret: string }>();
      expect(
        (
          await app.inject({
            method: 'GET',
            url: '/health',
            headers: { authorization: `Bearer ${secret}` },
          })
        ).statusCode,
      ).toBe(200);
      expect(
        (await app.inject({ method: 'DELETE', url: `/api/v1/tokens/${id}`, headers: admin }))
          .statusCode,
      ).toBe(200);
      expect(
        (
          await app.inject({
            method: 'GET',
            url: '/health',
            headers: { authorization: `Bearer ${secret}` },
          })
        ).statusCode,
      ).toBe(401);
      const audit = await t.ctx.store.db
        .selectFrom('audit')
        .select('action')
        .where('object_id', '=', id)
        .orderBy('seq')
        .execute();
      expect(audit.map((a) => a.action)).toEqual(['token.create', 'token.revoke']);
    });

    it('never lists secrets', async () => {
      const res = await app.inject({
        method: 'GET',
        url: '/api/v1/tokens',
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(res.body).not.toContain('mbx_');
      expect(res.body).not.toContain('hash');
    });
  });
}
