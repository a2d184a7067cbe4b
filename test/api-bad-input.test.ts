/**
 * Bad input, each test named after the attack or mistake it blocks. Runs against a
 * real listening server. None of these may answer 5xx, and none may reach a handler.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { rawRequest } from './helpers/http.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

for (const backend of STORE_BACKENDS) {
  describe(`bad input: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let base: string;
    const json = { 'content-type': 'application/json' };

    beforeAll(async () => {
      t = await openTestContext(backend, { server: { bodyLimit: 64 * 1024 } });
      app = await buildServer(t.ctx);
      base = await app.listen({ host: '127.0.0.1', port: 0 });
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    const tokenCount = async () => (await t.ctx.tokens.list()).length;
    const post = (body: string, headers: Record<string, string> = json) =>
      rawRequest(`${base}/api/v1/tokens`, { method: 'POST', headers, chunks: [body] });

    it('blocks oversized bodies with 413 before the handler runs', async () => {
      const big = JSON.stringify({ name: 'x'.repeat(100 * 1024) });
      const res = await post(big, { ...json, 'content-length': String(Buffer.byteLength(big)) });
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      expect(await tokenCount()).toBe(0);
    });

    it('blocks oversized chunked bodies (no content-length) with 413', async () => {
      const chunk = Buffer.alloc(16 * 1024, 'a');
      const res = await rawRequest(`${base}/api/v1/tokens`, {
        method: 'POST',
        headers: { ...json, 'transfer-encoding': 'chunked' },
        chunks: ['{"name":"', chunk, chunk, chunk, chunk, chunk, '"}'],
      });
      expect(res.status).toBe(413);
      expect(await tokenCount()).toBe(0);
    });

    it('blocks truncated JSON with 400', async () => {
      const res = await post('{"name": "abc", "role": "ad');
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('blocks empty JSON bodies with 400', async () => {
      const res = await rawRequest(`${base}/api/v1/tokens`, {
        method: 'POST',
        headers: { ...json, 'content-length': '0' },
      });
      expect(res.status).toBe(400);
    });

    it('blocks prototype pollution through "__proto__" keys', async () => {
      const res = await post('{"name":"p","__proto__":{"polluted":true}}');
      expect(res.status).toBe(400);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(await tokenCount()).toBe(0);
    });

    it('blocks prototype pollution through "constructor" keys', async () => {
      const res = await post('{"name":"p","constructor":{"prototype":{"polluted":true}}}');
      expect(res.status).toBe(400);
      expect(await tokenCount()).toBe(0);
    });

    it('blocks deeply nested JSON (parser stack exhaustion)', async () => {
      const res = await post(`{"name":"d","x":${'['.repeat(5000)}${']'.repeat(5000)}}`);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).message).toMatch(/nests deeper/);
    });

    it('blocks unknown body fields instead of silently dropping them', async () => {
      const res = await post('{"name":"u","rolee":"admin"}');
      expect(res.status).toBe(400);
      expect(await tokenCount()).toBe(0);
    });

    it('blocks cross-site text/plain POSTs (wrong content type → 415)', async () => {
      const res = await post('{"name":"csrf"}', { 'content-type': 'text/plain' });
      expect(res.status).toBe(415);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
      expect(await tokenCount()).toBe(0);
    });

    it('blocks form-encoded and type-less bodies on mutations', async () => {
      expect(
        (await post('name=x', { 'content-type': 'application/x-www-form-urlencoded' })).status,
      ).toBe(415);
      expect((await post('{"name":"x"}', {})).status).toBe(415);
      expect(await tokenCount()).toBe(0);
    });

    it('blocks a foreign Origin on a mutation', async () => {
      const res = await post('{"name":"o"}', { ...json, origin: 'https://evil.example' });
      expect(res.status).toBe(403);
      expect(await tokenCount()).toBe(0);
    });

    it("blocks the opaque 'null' Origin of sandboxed frames", async () => {
      expect((await post('{"name":"o"}', { ...json, origin: 'null' })).status).toBe(403);
    });

    it('treats HEAD, OPTIONS and DELETE like POST for foreign Origins', async () => {
      for (const method of ['HEAD', 'OPTIONS', 'DELETE']) {
        const res = await rawRequest(`${base}/api/v1/tokens/x`, {
          method,
          headers: { origin: 'https://evil.example' },
        });
        expect(res.status, method).toBe(403);
      }
    });

    it('allows the same origin', async () => {
      const origin = new URL(base).origin;
      const res = await post('{"name":"same-origin"}', { ...json, origin });
      expect(res.status).toBe(201);
    });

    it('blocks DNS rebinding: a Host header naming another site', async () => {
      const res = await rawRequest(`${base}/health`, {
        method: 'GET',
        headers: { host: 'attacker.example:4600' },
      });
      expect(res.status).toBe(403);
    });

    it('blocks schema-invalid values with a message naming the field', async () => {
      const res = await post('{"name":"r","role":"root"}');
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).message).toMatch(/role/);
    });

    it('blocks invalid names (path tricks) with 400', async () => {
      const res = await post('{"name":"../../etc"}');
      expect(res.status).toBe(400);
    });

    it('answers unknown routes with a 404 error body', async () => {
      const res = await rawRequest(`${base}/nope`, { method: 'GET' });
      expect(res.status).toBe(404);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'NOT_FOUND' });
    });

    it('answers MLflow endpoints it does not serve (2.0 and 3.0) in MLflow’s shape', async () => {
      for (const path of ['/api/2.0/mlflow/nope', '/api/3.0/mlflow/traces']) {
        const res = await rawRequest(`${base}${path}`, { method: 'GET' });
        expect(res.status).toBe(404);
        expect(JSON.parse(res.body)).toMatchObject({ error_code: 'ENDPOINT_NOT_FOUND' });
      }
    });
  });
}
