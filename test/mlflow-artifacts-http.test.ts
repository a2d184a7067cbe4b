/**
 * The MLflow artifact proxy over real HTTP, with raw request paths (no client-side URL
 * normalisation): uploads and downloads round-trip, and every path trick is refused with
 * a 4xx while nothing is written anywhere. Also multipart uploads (mpu/…) and the UI's
 * get-artifact download routes.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const PREFIX = '/api/2.0/mlflow-artifacts/artifacts';
const MPU = '/api/2.0/mlflow-artifacts/mpu';

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Sends `method rawPath` with an optional body and content type, exactly as given. */
function send(
  port: number,
  method: string,
  path: string,
  body?: string | Buffer,
  type = 'application/json',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: body === undefined ? {} : { 'content-type': type },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('latin1'),
            headers: res.headers,
          }),
        );
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** POSTs a JSON body. */
function post(port: number, path: string, body: unknown): Promise<Reply> {
  return send(port, 'POST', path, JSON.stringify(body));
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

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

    describe('multipart upload', () => {
      const dir = '7/0123456789abcdef0123456789abcdef/artifacts/big';
      const parts = [Buffer.alloc(1000, 'a'), Buffer.alloc(1000, 'b'), Buffer.from('tail')];

      /** Creates an upload of `n` parts to `<dir>/<file>`; returns its id and part URLs (paths). */
      async function create(file: string, n: number) {
        const res = await post(port, `${MPU}/create/${dir}`, {
          path: `/home/me/${file}`,
          num_parts: n,
        });
        expect(res.status, res.body).toBe(200);
        const body = JSON.parse(res.body);
        expect(body.upload_id).toMatch(/^[0-9a-f]{32}$/);
        expect(body.credentials).toHaveLength(n);
        const urls = (body.credentials as { url: string; part_number: number }[]).map((c, i) => {
          expect(c.part_number).toBe(i + 1);
          const url = new URL(c.url);
          expect(url.host).toBe(`127.0.0.1:${port}`);
          return url.pathname;
        });
        return { id: body.upload_id as string, urls };
      }

      it('assembles parts in order into the artifact and deletes the part blobs', async () => {
        const { id, urls } = await create('data.bin', 3);
        const etags: string[] = [];
        // Parts arrive out of order, as MLflow's client uploads them in parallel.
        for (const i of [2, 0, 1]) {
          const res = await send(port, 'PUT', urls[i]!, parts[i], 'application/octet-stream');
          expect(res.status, res.body).toBe(200);
          expect(res.headers.etag).toBe(`"${sha256(parts[i]!)}"`);
          etags[i] = res.headers.etag as string;
        }
        const done = await post(port, `${MPU}/complete/${dir}`, {
          path: '/home/me/data.bin',
          upload_id: id,
          parts: etags.map((etag, i) => ({ part_number: i + 1, etag })),
        });
        expect(done.status, done.body).toBe(200);
        const got = await send(port, 'GET', `${PREFIX}/${dir}/data.bin`);
        expect(got.status).toBe(200);
        expect(sha256(Buffer.from(got.body, 'latin1'))).toBe(sha256(Buffer.concat(parts)));
        for (const p of parts) expect(await t.ctx.blobs.exists(sha256(p))).toBe(false);
        // The upload is closed: completing it again finds nothing.
        const again = await post(port, `${MPU}/complete/${dir}`, {
          path: '/home/me/data.bin',
          upload_id: id,
          parts: [{ part_number: 1, etag: etags[0] }],
        });
        expect(again.status).toBe(404);
      });

      it('keeps a part blob that an artifact also uses (content addressing)', async () => {
        const shared = Buffer.from('shared bytes of a single-part upload');
        const { id, urls } = await create('one.bin', 1);
        const put = await send(port, 'PUT', urls[0]!, shared, 'application/octet-stream');
        const done = await post(port, `${MPU}/complete/${dir}`, {
          path: 'one.bin',
          upload_id: id,
          parts: [{ part_number: 1, etag: put.headers.etag }],
        });
        expect(done.status, done.body).toBe(200);
        expect(await t.ctx.blobs.exists(sha256(shared))).toBe(true);
        const got = await send(port, 'GET', `${PREFIX}/${dir}/one.bin`);
        expect(got.body).toBe(shared.toString('latin1'));
      });

      it('abort deletes the parts and writes nothing', async () => {
        const { id, urls } = await create('aborted.bin', 2);
        const part = Buffer.from('bytes of an aborted upload');
        expect((await send(port, 'PUT', urls[0]!, part, 'application/octet-stream')).status).toBe(
          200,
        );
        expect(await t.ctx.blobs.exists(sha256(part))).toBe(true);
        const res = await post(port, `${MPU}/abort/${dir}`, {
          path: 'aborted.bin',
          upload_id: id,
        });
        expect(res.status, res.body).toBe(200);
        expect(await t.ctx.blobs.exists(sha256(part))).toBe(false);
        expect((await send(port, 'GET', `${PREFIX}/${dir}/aborted.bin`)).status).toBe(404);
        expect((await send(port, 'PUT', urls[1]!, 'late', 'text/plain')).status).toBe(404);
      });

      it('refuses bad part numbers', async () => {
        const { id } = await create('numbers.bin', 2);
        for (const n of ['0', '3', '-1', 'abc', '1.5', '99999999']) {
          const res = await send(port, 'PUT', `${MPU}/part/${id}/${n}`, 'x', 'text/plain');
          expect(res.status, `part ${n}: ${res.body}`).toBe(400);
        }
        for (const n of [0, -2, 10_001, 'many']) {
          const res = await post(port, `${MPU}/create/${dir}`, { path: 'x.bin', num_parts: n });
          expect(res.status, `num_parts ${n}: ${res.body}`).toBe(400);
        }
      });

      it('refuses a complete whose parts are missing, repeated, out of order or wrongly tagged', async () => {
        const { id, urls } = await create('checked.bin', 2);
        const etags: string[] = [];
        for (const i of [0, 1]) {
          const r = await send(port, 'PUT', urls[i]!, parts[i], 'application/octet-stream');
          etags.push(r.headers.etag as string);
        }
        const complete = (list: unknown[]) =>
          post(port, `${MPU}/complete/${dir}`, { path: 'checked.bin', upload_id: id, parts: list });
        const p = (n: number, etag: string) => ({ part_number: n, etag });
        for (const list of [
          [],
          [p(2, etags[1]!), p(1, etags[0]!)],
          [p(1, etags[0]!), p(1, etags[0]!)],
          [p(1, etags[1]!), p(2, etags[1]!)],
          [p(1, etags[0]!), p(3, etags[1]!)],
        ]) {
          const res = await complete(list);
          expect(res.status, `${JSON.stringify(list)}: ${res.body}`).toBe(400);
        }
        // Another file name for the same upload is refused too.
        const other = await post(port, `${MPU}/complete/${dir}`, {
          path: 'other.bin',
          upload_id: id,
          parts: [p(1, etags[0]!), p(2, etags[1]!)],
        });
        expect(other.status).toBe(400);
        // Still open after refusals: the right list completes it.
        const ok = await complete([p(1, etags[0]!), p(2, etags[1]!)]);
        expect(ok.status, ok.body).toBe(200);
      });

      it('answers 404 for an unknown upload id', async () => {
        for (const id of ['0'.repeat(32), 'not-an-id', '..%2f..%2fetc']) {
          const put = await send(port, 'PUT', `${MPU}/part/${id}/1`, 'x', 'text/plain');
          expect(put.status, `PUT ${id}`).toBe(404);
          for (const action of ['complete', 'abort']) {
            const res = await post(port, `${MPU}/${action}/${dir}`, {
              path: 'x.bin',
              upload_id: id,
              parts: [{ part_number: 1, etag: '' }],
            });
            expect(res.status, `${action} ${id}: ${res.body}`).toBe(404);
          }
        }
      });

      for (const [title, path] of attacks) {
        it(`${title} on mpu create, complete and abort`, async () => {
          for (const action of ['create', 'complete', 'abort']) {
            const res = await post(port, `${MPU}/${action}/${path}`, {
              path: 'f.bin',
              upload_id: '0'.repeat(32),
              num_parts: 1,
              parts: [],
            });
            expect(res.status, `${action} ${path}: ${res.body}`).toBeGreaterThanOrEqual(400);
            expect(res.status, `${action} ${path}`).toBeLessThan(500);
          }
        });
      }

      it('blocks traversal through the file name in the body', async () => {
        for (const name of ['..', '.', '', '%2e%2e', 'a/..', 'C:\\..\\..']) {
          const res = await post(port, `${MPU}/create/${dir}`, { path: name, num_parts: 1 });
          expect(res.status, `${name}: ${res.body}`).toBe(400);
        }
        const stored = await t.ctx.store.db.selectFrom('artifact').select('path').execute();
        expect(
          stored.map((s) => s.path).filter((p) => !p.startsWith('1/') && !p.startsWith('7/')),
        ).toEqual([]);
      });
    });

    describe('get-artifact downloads', () => {
      let runId: string;
      beforeAll(async () => {
        const run = await t.ctx.tracking.runs.create({ experimentId: '0' });
        runId = run.info.id;
        const root = run.info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
        await t.ctx.tracking.artifacts.put(`${root}/model/MLmodel`, Buffer.from('flavors: {}'));
        await t.ctx.tracking.artifacts.put(`${root}/page.html`, Buffer.from('<script>1</script>'));
        await t.ctx.tracking.artifacts.put(`${root}/résumé.txt`, Buffer.from('cv'));
        await t.ctx.registry.models.create({ name: 'dl-model' });
        await t.ctx.registry.versions.create({
          name: 'dl-model',
          source: `${run.info.artifactUri}/model`,
          runId,
        });
        await t.ctx.registry.versions.create({
          name: 'dl-model',
          source: `runs:/${runId}/model`,
          runId,
        });
      });

      it('streams a run file as an attachment, by run_id or run_uuid, on both routes', async () => {
        for (const url of [
          `/get-artifact?run_id=${runId}&path=model/MLmodel`,
          `/get-artifact?run_uuid=${runId}&path=model%2FMLmodel`,
          `/ajax-api/2.0/mlflow/get-artifact?run_id=${runId}&path=model/MLmodel`,
        ]) {
          const res = await send(port, 'GET', url);
          expect(res.status, url).toBe(200);
          expect(res.body).toBe('flavors: {}');
          expect(res.headers['content-disposition']).toBe('attachment; filename="MLmodel"');
          expect(res.headers['content-type']).toBe('application/octet-stream');
          expect(res.headers['x-content-type-options']).toBe('nosniff');
        }
        const html = await send(port, 'GET', `/get-artifact?run_id=${runId}&path=page.html`);
        expect(html.headers['content-type']).not.toMatch(/html/);
        expect(html.headers['content-disposition']).toBe('attachment; filename="page.html"');
        const utf = await send(
          port,
          'GET',
          `/get-artifact?run_id=${runId}&path=r%C3%A9sum%C3%A9.txt`,
        );
        expect(utf.status).toBe(200);
        expect(utf.headers['content-type']).toMatch(/^text\/plain/);
        expect(utf.headers['content-disposition']).toBe(
          `attachment; filename="re_sume_.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt`,
        );
      });

      it('streams a model version file, whatever form its source takes', async () => {
        for (const version of ['1', '2']) {
          for (const prefix of ['', '/ajax-api/2.0/mlflow']) {
            const url = `${prefix}/model-versions/get-artifact?name=dl-model&version=${version}&path=MLmodel`;
            const res = await send(port, 'GET', url);
            expect(res.status, `${url}: ${res.body}`).toBe(200);
            expect(res.body).toBe('flavors: {}');
            expect(res.headers['content-disposition']).toBe('attachment; filename="MLmodel"');
          }
        }
      });

      it('answers 404 for a missing file, run, model or version', async () => {
        for (const url of [
          `/get-artifact?run_id=${runId}&path=nope.txt`,
          `/get-artifact?run_id=${'f'.repeat(32)}&path=model/MLmodel`,
          '/model-versions/get-artifact?name=dl-model&version=1&path=nope',
          '/model-versions/get-artifact?name=dl-model&version=9&path=MLmodel',
          '/model-versions/get-artifact?name=no-model&version=1&path=MLmodel',
        ]) {
          expect((await send(port, 'GET', url)).status, url).toBe(404);
        }
      });

      it("answers in MLflow's error shape on every spelling of the root routes, // included", async () => {
        for (const url of [
          `/get-artifact?run_id=${runId}&path=../path`,
          '//model-versions/get-artifact?name=model&version=1&path=../path',
          `/api/2.0/mlflow/artifacts/list?run_id=${runId}&path=../path`,
        ]) {
          const res = await send(port, 'GET', url);
          expect(res.status, url).toBe(400);
          const body = JSON.parse(res.body) as Record<string, unknown>;
          expect(Object.keys(body).sort(), url).toEqual(['error_code', 'message']);
          expect(body.error_code, url).toBe('INVALID_PARAMETER_VALUE');
        }
      });

      it('answers 400 for a missing parameter', async () => {
        for (const url of [
          `/get-artifact?run_id=${runId}`,
          '/get-artifact?path=model/MLmodel',
          '/model-versions/get-artifact?name=dl-model&path=MLmodel',
          '/model-versions/get-artifact?name=dl-model&version=1',
        ]) {
          expect((await send(port, 'GET', url)).status, url).toBe(400);
        }
      });

      for (const [title, path] of attacks) {
        it(`${title} on get-artifact and model-versions/get-artifact`, async () => {
          for (const url of [
            `/get-artifact?run_id=${runId}&path=${path}`,
            `/model-versions/get-artifact?name=dl-model&version=1&path=${path}`,
          ]) {
            const res = await send(port, 'GET', url);
            expect(res.status, `${url}: ${res.body}`).toBeGreaterThanOrEqual(400);
            expect(res.status, url).toBeLessThan(500);
          }
        });
      }
    });
  });

  describe(`multipart upload with auth on: ${backend}`, () => {
    const ADMIN = 'admin-token-0123456789abcdef';
    let t: TestContext;
    let app: FastifyInstance;
    let editor: string;
    let otherEditor: string;
    let viewer: string;

    beforeAll(async () => {
      t = await openTestContext(backend, { token: ADMIN });
      app = await buildServer(t.ctx);
      const make = async (name: string, role: 'editor' | 'viewer') =>
        (await t.ctx.tokens.create({ name, role }, 'test')).secret;
      editor = await make('uploader', 'editor');
      otherEditor = await make('someone-else', 'editor');
      viewer = await make('reader', 'viewer');
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

    it("hands the caller's Authorization back in each part credential, and only the creator may use the upload", async () => {
      const dir = '1/0123456789abcdef0123456789abcdef/artifacts';
      const created = await app.inject({
        method: 'POST',
        url: `${MPU}/create/${dir}`,
        headers: bearer(editor),
        payload: { path: 'w.bin', num_parts: 1 },
      });
      expect(created.statusCode, created.body).toBe(200);
      const { upload_id: id, credentials } = created.json<{
        upload_id: string;
        credentials: { url: string; headers: Record<string, string> }[];
      }>();
      expect(credentials[0]!.headers).toEqual({ Authorization: `Bearer ${editor}` });
      const partUrl = new URL(credentials[0]!.url).pathname;
      const put = (headers: Record<string, string>) =>
        app.inject({
          method: 'PUT',
          url: partUrl,
          headers: { ...headers, 'content-type': 'application/octet-stream' },
          payload: Buffer.from('part'),
        });
      expect((await put({})).statusCode).toBe(401);
      expect((await put(bearer(viewer))).statusCode).toBe(403);
      expect((await put(bearer(otherEditor))).statusCode).toBe(404);
      const ok = await put(credentials[0]!.headers);
      expect(ok.statusCode, ok.body).toBe(200);
      const complete = (secret: string) =>
        app.inject({
          method: 'POST',
          url: `${MPU}/complete/${dir}`,
          headers: bearer(secret),
          payload: {
            path: 'w.bin',
            upload_id: id,
            parts: [{ part_number: 1, etag: ok.headers.etag }],
          },
        });
      expect((await complete(otherEditor)).statusCode).toBe(404);
      const done = await complete(editor);
      expect(done.statusCode, done.body).toBe(200);
      const got = await app.inject({
        method: 'GET',
        url: `${PREFIX}/${dir}/w.bin`,
        headers: bearer(viewer),
      });
      expect(got.body).toBe('part');
    });
  });
}
