/** The server's own surface: health, version, OpenAPI, Prometheus metrics, 404s. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

for (const backend of STORE_BACKENDS) {
  describe(`server: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;

    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    it('/health says ok and names the backends', async () => {
      const res = await app.inject({ method: 'GET', url: '/health' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ status: 'ok', store: backend, blobs: 'file' });
    });

    it('/api/v1/version returns the package version', async () => {
      const res = await app.inject({ method: 'GET', url: '/api/v1/version' });
      expect(res.json()).toEqual({ version: expect.stringMatching(/^\d+\.\d+\.\d+/) as string });
    });

    it('/api/v1/openapi.json documents routes with the schemas that validate them', async () => {
      const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json<{
        openapi: string;
        paths: Record<
          string,
          Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>
        >;
      }>();
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining(['/health', '/api/v1/tokens', '/api/v1/tokens/{id}']),
      );
      const schema = doc.paths['/api/v1/tokens']!.post!.requestBody!.content['application/json']!
        .schema as {
        properties: { name: { minLength: number; maxLength: number } };
        additionalProperties: boolean;
      };
      expect(schema.additionalProperties).toBe(false);
      expect(schema.properties.name).toMatchObject({ minLength: 1, maxLength: 200 });
      // The documented constraint is the enforced one.
      const tooLong = await app.inject({
        method: 'POST',
        url: '/api/v1/tokens',
        payload: { name: 'x'.repeat(201) },
      });
      expect(tooLong.statusCode).toBe(400);
    });

    it('/metrics labels requests by route pattern, not raw URL', async () => {
      await app.inject({ method: 'DELETE', url: '/api/v1/tokens/does-not-exist' });
      await app.inject({ method: 'GET', url: '/random/path/123' });
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(text).toContain(
        'mobius_http_requests_total{method="DELETE",route="/api/v1/tokens/:id",status="404"} 1',
      );
      expect(text).toContain('route="<unmatched>"');
      expect(text).not.toContain('/random/path/123');
      expect(text).toContain('mobius_http_request_duration_seconds_bucket');
      expect(text).toContain('process_resident_memory_bytes');
    });

    it.runIf(hasPromtool || process.env.CI === 'true')(
      '/metrics passes promtool check metrics',
      async () => {
        await app.inject({ method: 'GET', url: '/health' });
        const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
        const file = join(mkdtempSync(join(tmpdir(), 'mobius-prom-')), 'metrics.txt');
        writeFileSync(file, text);
        // promtool reads the exposition on stdin and exits non-zero on any problem.
        const out = execFileSync('sh', [
          '-c',
          `promtool check metrics < ${file} 2>&1; echo "exit=$?"`,
        ]).toString();
        expect(out.trim().split('\n').at(-1), out).toBe('exit=0');
      },
    );
  });
}
