/**
 * Issue 6: a version swap during a load test has zero failed requests. A separate process
 * (the serving benchmark's load generator, bench/serving/load.ts) sends 600 requests a
 * second over loopback for 5 s to a real HTTP server while the deployment is moved
 * through canary, promote, rollback and plain replacement every 250 ms.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';
import { linearModel } from './helpers/models.js';

const LOAD = fileURLToPath(new URL('../bench/serving/load.ts', import.meta.url));

for (const backend of STORE_BACKENDS) {
  describe(`a deployment moved under load: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let dir: string;

    beforeAll(async () => {
      t = await openTestContext(backend);
      dir = mkdtempSync(join(tmpdir(), 'mobius-swap-'));
      const { tracking, registry } = t.ctx;
      await registry.models.create({ name: 'lin' });
      for (const w of [1, 2, 3]) {
        const run = await tracking.runs.create({ experimentId: '0' });
        const root = `0/${run.info.id}/artifacts/model`;
        await tracking.artifacts.put(`${root}/model.mobius.json`, Readable.from([linearModel(w)]));
        await tracking.artifacts.put(`${root}/MLmodel`, Readable.from(['flavors: {}']));
        await registry.versions.create({
          name: 'lin',
          source: `runs:/${run.info.id}/model`,
          runId: run.info.id,
        });
      }
      await t.ctx.deployments.deploy({ name: 'live', model: 'lin@1' }, 'test');
      app = await buildServer(t.ctx);
      await app.listen({ host: '127.0.0.1', port: 0 });
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('600 requests a second from another process see no failure while versions change', async () => {
      const { port } = app.server.address() as { port: number };
      const body = join(dir, 'body.json');
      writeFileSync(
        body,
        JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 1], data: [2] }] }),
      );
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          LOAD,
          '--url',
          `http://127.0.0.1:${port}/v2/models/live/infer`,
          '--body',
          body,
          '--rate',
          '600',
          '--seconds',
          '5',
          '--warmup',
          '0.5',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const done = new Promise<number | null>((resolve) => child.on('close', resolve));

      // Move the deployment while the load runs: canary and rollback, canary and promote,
      // and a plain replacement back to the first version.
      const { deployments } = t.ctx;
      const moves: (() => Promise<unknown>)[] = [
        () => deployments.deploy({ name: 'live', model: 'lin@2', canary: 50 }, 'test'),
        () => deployments.rollback('live', 'test'),
        () => deployments.deploy({ name: 'live', model: 'lin@3', canary: 50 }, 'test'),
        () => deployments.promote('live', 'test'),
        () => deployments.deploy({ name: 'live', model: 'lin@1' }, 'test'),
      ];
      let changes = 0;
      const moving = (async () => {
        await new Promise((r) => setTimeout(r, 700));
        while (child.exitCode === null && changes < 14) {
          await moves[changes % moves.length]!();
          changes++;
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      const code = await done;
      await moving;
      expect(code, err).toBe(0);
      const result = JSON.parse(out.trim().split('\n').at(-1)!) as { ok: number; failed: number };
      expect(result.failed).toBe(0);
      expect(result.ok).toBe(3000);
      // At least one whole cycle of the five moves happened under load (on a busy CI
      // machine a move, with its model's warm-up, can take most of a second).
      expect(changes).toBeGreaterThanOrEqual(moves.length);
      // Every version answered some of it.
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      for (const v of [1, 2, 3])
        expect(metrics).toMatch(
          new RegExp(
            `mobius_serving_requests_total\\{deployment="live",version="${v}",route="primary"\\} [1-9]`,
          ),
        );
    }, 60_000);
  });
}
