/**
 * The MLflow artifact proxy over real HTTP, with raw request paths (no client-side URL
 * normalisation): uploads and downloads round-trip, and every path trick is refused with
 * a 4xx while nothing is written anywhere.
 */
import { request } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const PREFIX = '/api/2.0/mlflow-artifacts/artifacts';

/** Sends `method rawPath` exactly as given (Node does not normalise a raw `path` option). */
function raw(
  port: number,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: body === undefined ? {} : { 'content-type': 'text/plain' },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

for (const backend of STORE_BACKENDS) {
  describe(`MLflow artifact proxy over HTTP: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let port: number;

    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
      await app.listen({ host: '127.0.0.1', port: 0 });
      port = (app.server.address() as { port: number }).port;
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    it('uploads, lists, downloads and deletes', async () => {
      expect(
        (await raw(port, 'PUT', `${PREFIX}/1/abc/artifacts/dir/file.txt`, 'hello')).status,
      ).toBe(200);
      const listed = await raw(port, 'GET', `${PREFIX}?path=1/abc/artifacts/dir`);
      expect(JSON.parse(listed.body)).toEqual({
        files: [{ path: 'file.txt', is_dir: false, file_size: 5 }],
      });
      const got = await raw(port, 'GET', `${PREFIX}/1/abc/artifacts/dir/file.txt`);
      expect(got).toEqual({ status: 200, body: 'hello' });
      expect((await raw(port, 'DELETE', `${PREFIX}/1/abc/artifacts/dir`)).status).toBe(200);
      expect((await raw(port, 'GET', `${PREFIX}/1/abc/artifacts/dir/file.txt`)).status).toBe(404);
    });

    it('serves active content (HTML) as an attachment, never inline', async () => {
      await raw(port, 'PUT', `${PREFIX}/1/x/page.html`, '<script>alert(1)</script>');
      const res = await new Promise<{ type?: string; disposition?: string }>((resolve) => {
        request({ host: '127.0.0.1', port, path: `${PREFIX}/1/x/page.html` }, (r) => {
          r.resume();
          resolve({
            type: r.headers['content-type'],
            disposition: r.headers['content-disposition'],
          });
        }).end();
      });
      expect(res.type).not.toMatch(/html/);
      expect(res.disposition).toBe('attachment');
    });

    const attacks: [string, string][] = [
      ['blocks ../ traversal', '../../etc/passwd'],
      ['blocks ..%2f traversal', '..%2f..%2fetc%2fpasswd'],
      ['blocks double-encoded %252e%252e%252f traversal', '%252e%252e%252fetc%252fpasswd'],
      ['blocks backslash traversal', '..%5c..%5cwindows'],
      ['blocks absolute paths', '%2fetc%2fpasswd'],
      ['blocks Windows drive paths', 'C:%5cWindows'],
      ['blocks UNC paths', '%5c%5chost%5cshare'],
      ['blocks encoded fragments', 'a%23b'],
      ['blocks encoded query strings', 'a%3fb'],
      ['blocks semicolons', 'a;b'],
      ['blocks NUL bytes', 'a%00b'],
      ['blocks empty segments //', 'a//b'],
      ['blocks file:// sources', 'file:%2f%2f%2fetc%2fpasswd'],
    ];
    for (const [title, path] of attacks) {
      it(`${title} on PUT, GET and DELETE`, async () => {
        for (const method of ['PUT', 'GET', 'DELETE']) {
          const res = await raw(
            port,
            method,
            `${PREFIX}/${path}`,
            method === 'PUT' ? 'x' : undefined,
          );
          expect(res.status, `${method} ${path}: ${res.body}`).toBeGreaterThanOrEqual(400);
          expect(res.status, `${method} ${path}`).toBeLessThan(500);
        }
        const stored = await t.ctx.store.db.selectFrom('artifact').select('path').execute();
        expect(stored.map((s) => s.path).filter((p) => !p.startsWith('1/'))).toEqual([]);
      });
    }

    it('blocks traversal in the list path', async () => {
      const res = await raw(port, 'GET', `${PREFIX}?path=..%2f..%2f`);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE' });
    });
  });
}
