/** `/api/v1/datasets…` over the Fastify server on every store: upload, read, tag, diff, roles. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const ADMIN = 'admin-token-0123456789abcdef';
const V1 = 'id,amount\n1,10\n2,20\n3,30\n';
const V2 = 'id,amount\n2,20\n3,35\n4,40\n';

for (const backend of STORE_BACKENDS) {
  describe(`api v1 datasets: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let viewer: string;

    beforeAll(async () => {
      t = await openTestContext(backend, { token: ADMIN });
      app = await buildServer(t.ctx);
      viewer = (await t.ctx.tokens.create({ name: 'viewer', role: 'viewer' }, 'test')).secret;
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    const call = async (
      method: string,
      url: string,
      options: { payload?: string | object; type?: string; token?: string } = {},
    ) => {
      const res = await app.inject({
        method: method as 'GET',
        url,
        headers: {
          authorization: `Bearer ${options.token ?? ADMIN}`,
          ...(options.type === undefined ? {} : { 'content-type': options.type }),
        },
        ...(options.payload === undefined ? {} : { payload: options.payload }),
      });
      const json = String(res.headers['content-type'] ?? '').startsWith('application/json');
      return { status: res.statusCode, body: json ? res.json() : undefined, raw: res.rawPayload };
    };
    const upload = (name: string, filename: string, body: string, token?: string) =>
      call('POST', `/api/v1/datasets/${name}/versions?filename=${filename}`, {
        payload: body,
        type: 'text/csv',
        ...(token === undefined ? {} : { token }),
      });

    it('adds versions by upload; the same content again is 200 and not a new version', async () => {
      const first = await upload('sales', 'sales.csv', V1);
      expect(first.status, JSON.stringify(first.body)).toBe(201);
      expect(first.body).toMatchObject({
        created: true,
        version: { dataset: 'sales', version: 1, rowCount: 3, sourceUri: 'upload:sales.csv' },
      });
      expect(first.body.version.profile.columns[1]).toMatchObject({ name: 'amount', mean: 20 });
      const again = await upload('sales', 'sales.csv', V1);
      expect(again.status).toBe(200);
      expect(again.body.created).toBe(false);
      expect((await upload('sales', 'sales.csv', V2)).body.version.version).toBe(2);
    });

    it('lists datasets and versions, shows one, and serves its file and Parquet copy', async () => {
      const list = await call('GET', '/api/v1/datasets');
      expect(list.body.datasets).toEqual([
        expect.objectContaining({ name: 'sales', latestVersion: 2, tags: { latest: 2 } }),
      ]);
      const log = await call('GET', '/api/v1/datasets/sales/versions', { token: viewer });
      expect(
        (log.body as { versions: { version: number }[] }).versions.map((v) => v.version),
      ).toEqual([2, 1]);
      const shown = await call('GET', '/api/v1/datasets/sales/versions/1?profile=false');
      expect(shown.body).toMatchObject({
        version: 1,
        profile: null,
        schema: [{ name: 'id' }, { name: 'amount' }],
      });
      const file = await call('GET', '/api/v1/datasets/sales/versions/1/files/sales.csv');
      expect(file.status).toBe(200);
      expect(file.raw.toString()).toBe(V1);
      const parquet = await call('GET', '/api/v1/datasets/sales/versions/latest/parquet');
      expect(parquet.raw.subarray(0, 4).toString()).toBe('PAR1');
      const traversal = await call(
        'GET',
        '/api/v1/datasets/sales/versions/1/files/..%2f..%2fetc%2fpasswd',
      );
      expect(traversal.status).toBe(400);
    });

    it('tags and diffs', async () => {
      const tagged = await call('PUT', '/api/v1/datasets/sales/tags/gold', {
        payload: { version: '1' },
      });
      expect(tagged.status).toBe(200);
      expect(tagged.body.tags).toEqual(['gold']);
      expect((await call('GET', '/api/v1/datasets/sales/versions/gold')).body.version).toBe(1);
      const diff = await call('GET', '/api/v1/datasets/sales/diff?from=gold&to=latest&key=id');
      expect(diff.body.rows).toMatchObject({ added: 1, removed: 1, changed: 1, unchanged: 1 });
      expect(diff.body.rowCount).toEqual({ from: 3, to: 3, change: 0 });
      expect((await call('DELETE', '/api/v1/datasets/sales/tags/gold')).status).toBe(204);
      expect((await call('DELETE', '/api/v1/datasets/sales/tags/gold')).status).toBe(404);
    });

    it('scans for PII and masks over HTTP (viewers scan, editors mask)', async () => {
      const csv = 'id,contact,note\n1,ann@example.com,fine\n2,bob@example.org,ok\n3,,meh\n';
      expect((await upload('contacts', 'contacts.csv', csv)).status).toBe(201);
      const pii = await call('GET', '/api/v1/datasets/contacts/versions/1/pii', { token: viewer });
      expect(pii.status, JSON.stringify(pii.body)).toBe(200);
      expect(pii.body.flagged).toEqual([
        { column: 'contact', kind: 'email', matches: 2, percent: 100 },
      ]);
      expect(JSON.stringify(pii.body)).not.toContain('@example');
      const strict = await call('GET', '/api/v1/datasets/contacts/versions/1/pii?threshold=1');
      expect(strict.body.threshold).toBe(1);
      expect(
        (await call('GET', '/api/v1/datasets/contacts/versions/1/pii?threshold=3')).status,
      ).toBe(400);

      const body = { columns: { contact: 'hash', note: 'redact' }, salt: 'k' };
      const denied = await call('POST', '/api/v1/datasets/contacts/versions/1/mask', {
        payload: body,
        token: viewer,
      });
      expect(denied.status).toBe(403);
      const masked = await call('POST', '/api/v1/datasets/contacts/versions/1/mask', {
        payload: body,
      });
      expect(masked.status, JSON.stringify(masked.body)).toBe(201);
      expect(masked.body).toMatchObject({
        created: true,
        version: { dataset: 'contacts', version: 2, rowCount: 3 },
        source: { dataset: 'contacts', version: 1 },
      });
      const rescan = await call('GET', '/api/v1/datasets/contacts/versions/2/pii');
      expect(rescan.body.flagged).toEqual([]);
      const again = await call('POST', '/api/v1/datasets/contacts/versions/1/mask', {
        payload: body,
      });
      expect(again.status).toBe(200);
      expect(again.body.created).toBe(false);

      const unknown = await call('POST', '/api/v1/datasets/contacts/versions/1/mask', {
        payload: { columns: { phone: 'hash' } },
      });
      expect(unknown.status).toBe(400);
      expect(unknown.body.message).toMatch(
        /column 'phone' is not in contacts@1; its columns are: id, contact, note/,
      );
      const badAction = await call('POST', '/api/v1/datasets/contacts/versions/1/mask', {
        payload: { columns: { contact: 'shred' } },
      });
      expect(badAction.status).toBe(400);
      const missing = await call('POST', '/api/v1/datasets/contacts/versions/7/mask', {
        payload: { columns: { contact: 'hash' } },
      });
      expect(missing.status).toBe(404);
    });

    it('bad input is 400 with what to fix; unknown versions 404; viewers cannot write', async () => {
      const bad = await upload('broken', 'broken.csv', 'a,b\n1,2\n3\n');
      expect(bad.status).toBe(400);
      expect(bad.body.message).toMatch(/broken\.csv line 3/);
      expect((await call('GET', '/api/v1/datasets/broken/versions')).status).toBe(404);
      expect((await upload('a..b', 'x.csv', V1)).status).toBe(400);
      expect((await upload('ok', '..%2fx.csv', V1)).status).toBe(400);
      expect((await call('GET', '/api/v1/datasets/sales/versions/9')).status).toBe(404);
      const denied = await upload('sales', 'sales.csv', V1, viewer);
      expect(denied.status).toBe(403);
      const tagDenied = await call('PUT', '/api/v1/datasets/sales/tags/x', {
        payload: { version: '1' },
        token: viewer,
      });
      expect(tagDenied.status).toBe(403);
    });
  });
}
