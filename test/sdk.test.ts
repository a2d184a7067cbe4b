/**
 * The SDK against a real server listening on a loopback port, on every store: runs,
 * buffered metrics, retried batches, artifacts, registry, and the beforeExit flush of a
 * script that never calls end().
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { MobiusClient, isMobiusError } from '../src/sdk/index.js';
import { runTs } from './helpers/child.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

/** The URL a fetch was called with (the SDK passes strings). */
const urlOf = (input: Parameters<typeof fetch>[0]): string =>
  typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;

for (const backend of STORE_BACKENDS) {
  describe(`sdk: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let url: string;
    let work: string;

    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
      await app.listen({ host: '127.0.0.1', port: 0 });
      url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      work = mkdtempSync(join(tmpdir(), 'mobius-sdk-'));
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
      rmSync(work, { recursive: true, force: true });
    });

    const history = async (runId: string, key: string) =>
      t.ctx.tracking.runs.metricHistory(runId, key);

    it('starts a run with code identity, logs params/tags/metrics in batches, and ends it', async () => {
      const client = new MobiusClient({ url });
      const run = await client.startRun({
        experiment: 'sdk-exp',
        name: 'baseline',
        tags: { team: 'growth' },
        batchSize: 1000,
        flushIntervalMs: 0,
        cwd: fileURLToPath(new URL('..', import.meta.url)),
      });
      await run.logParams({ lr: 0.01, optimizer: 'adam', shuffle: true });
      await run.setTags({ stage: 'dev' });
      for (let step = 0; step < 2500; step++) run.logMetrics({ loss: 1 / (step + 1) }, { step });
      run.logMetrics({ weird: NaN }, { step: 0 });
      run.logMetrics({ weird: -Infinity }, { step: 1 });
      await run.end();

      const stored = await t.ctx.tracking.runs.get(run.id);
      expect(stored.info.status).toBe('FINISHED');
      expect(stored.info.endTime).not.toBeNull();
      expect(stored.data.params).toEqual({ lr: '0.01', optimizer: 'adam', shuffle: 'true' });
      expect(stored.data.tags).toMatchObject({ team: 'growth', stage: 'dev' });
      expect(stored.data.tags['mobius.env.node']).toBe(process.version);
      // The test runs inside this repository's checkout.
      expect(stored.data.tags['mlflow.source.git.commit']).toMatch(/^[0-9a-f]{40}$/);
      const loss = await history(run.id, 'loss');
      expect(loss).toHaveLength(2500);
      expect(loss.at(-1)).toMatchObject({ step: 2499 });
      expect((await history(run.id, 'weird')).map((p) => p.value)).toEqual([NaN, -Infinity]);
      // The same history read back through the client, packed: identical columns.
      const packed = await client.metricHistory(run.id, 'loss');
      expect(packed.steps).toHaveLength(2500);
      expect([...packed.steps]).toEqual(loss.map((p) => p.step));
      expect([...packed.values]).toEqual(loss.map((p) => p.value));
      expect([...packed.timestamps]).toEqual(loss.map((p) => p.timestamp));
      expect([...(await client.metricHistory(run.id, 'weird')).values]).toEqual([NaN, -Infinity]);
      await expect(client.metricHistory('f'.repeat(32), 'loss')).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      // 2500 loss points + 2 others in batches of at most 1000: three batches.
      const batches = await t.ctx.store.db
        .selectFrom('metric_batch')
        .select('points')
        .where('run_id', '=', run.id)
        .execute();
      expect(batches.map((b) => b.points).sort((a, b) => a - b)).toEqual([502, 1000, 1000]);
      const { runs } = await client.searchRuns({
        experimentIds: [run.experimentId],
        filter: "params.optimizer = 'adam'",
      });
      expect(runs.map((r) => r.id)).toEqual([run.id]);
      // Same experiment name again: the same experiment.
      const second = await client.startRun({ experiment: 'sdk-exp', codeIdentity: false });
      expect(second.experimentId).toBe(run.experimentId);
      await second.end('KILLED');
      expect((await client.getRun(second.id)).status).toBe('KILLED');
      const compared = await client.compareRuns([run.id, second.id]);
      expect(compared.metrics.find((m) => m.key === 'weird')).toEqual({
        key: 'weird',
        latest: ['-Infinity', null],
        min: ['-Infinity', null],
        max: ['-Infinity', null],
        differs: true,
      });
      expect(compared.params.find((p) => p.key === 'lr')).toEqual({
        key: 'lr',
        values: ['0.01', null],
        differs: true,
      });
    });

    it('a batch whose response was lost is retried with the same id and recorded once', async () => {
      const sent: string[] = [];
      let dropped = 0;
      // A real round trip to the real server; only the first /metrics response is lost
      // on the way back, as when a proxy or the network drops the connection.
      const lossyFetch: typeof fetch = async (input, init) => {
        const response = await fetch(input, init);
        if (urlOf(input).endsWith('/metrics')) {
          sent.push((JSON.parse(init?.body as string) as { batchId: string }).batchId);
          if (dropped === 0) {
            dropped++;
            await response.body?.cancel();
            throw new TypeError('fetch failed: socket hang up');
          }
        }
        return response;
      };
      const client = new MobiusClient({
        url,
        fetch: lossyFetch,
        retry: { baseDelayMs: 5, maxDelayMs: 20 },
      });
      const run = await client.startRun({
        experiment: 'sdk-retry',
        codeIdentity: false,
        flushIntervalMs: 0,
      });
      for (let step = 0; step < 10; step++) run.logMetrics({ acc: step / 10 }, { step });
      await run.end();
      expect(sent).toHaveLength(2);
      expect(sent[0]).toBe(sent[1]);
      expect(await history(run.id, 'acc')).toHaveLength(10);
    });

    it('gives up after its retries with UNAVAILABLE, keeps the batch, and sends it on the next flush', async () => {
      let down = true;
      const flaky: typeof fetch = async (input, init) => {
        if (down && urlOf(input).endsWith('/metrics')) throw new TypeError('connect ECONNREFUSED');
        return fetch(input, init);
      };
      const client = new MobiusClient({
        url,
        fetch: flaky,
        retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      });
      const run = await client.startRun({
        experiment: 'sdk-retry',
        codeIdentity: false,
        flushIntervalMs: 0,
      });
      run.logMetrics({ x: 1 }, { step: 0 });
      const error = await run.flush().catch((e: unknown) => e);
      expect(isMobiusError(error) && error.code).toBe('UNAVAILABLE');
      down = false;
      await run.end();
      expect(await history(run.id, 'x')).toHaveLength(1);
    });

    it('flushes on its interval without being asked', async () => {
      const client = new MobiusClient({ url });
      const run = await client.startRun({
        experiment: 'sdk-interval',
        codeIdentity: false,
        flushIntervalMs: 50,
      });
      run.logMetrics({ a: 1, b: 2 });
      const deadline = Date.now() + 5000;
      while ((await history(run.id, 'b')).length === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 25));
      expect(await history(run.id, 'a')).toHaveLength(1);
      await run.end();
    });

    it('surfaces server errors as MobiusErrors with the server code and message', async () => {
      const client = new MobiusClient({ url });
      const run = await client.startRun({ experiment: 'sdk-errors', codeIdentity: false });
      await run.logParams({ lr: 1 });
      const error = await run.logParams({ lr: 2 }).catch((e: unknown) => e);
      expect(isMobiusError(error) && error.code).toBe('CONFLICT');
      expect((error as Error).message).toContain('immutable');
      await run.end();
      const unreachable = new MobiusClient({ url: 'http://127.0.0.1:9', retry: { attempts: 1 } });
      const down = await unreachable.getRun(run.id).catch((e: unknown) => e);
      expect(isMobiusError(down) && down.code).toBe('UNAVAILABLE');
    });

    it('uploads artifacts (file and directory, streamed), registers a model and sets an alias', async () => {
      const client = new MobiusClient({ url });
      const run = await client.startRun({ experiment: 'sdk-models', codeIdentity: false });
      const modelDir = join(work, 'model');
      mkdirSync(join(modelDir, 'sub'), { recursive: true });
      writeFileSync(join(modelDir, 'model.json'), '{"w":[1,2,3]}');
      writeFileSync(join(modelDir, 'sub', 'vocab.txt'), 'a\nb\n');
      const big = Buffer.alloc(3 * 1024 * 1024, 7); // larger than the JSON body limit
      writeFileSync(join(work, 'weights.bin'), big);
      await run.logArtifact(modelDir);
      await run.logArtifact(join(work, 'weights.bin'), 'blobs/weights v1.bin');
      await run.end();

      const list = await app.inject({ url: `/api/v1/runs/${run.id}/artifacts?path=model` });
      expect(list.json().files).toEqual([
        { path: 'model/model.json', isDir: false, size: 13 },
        { path: 'model/sub', isDir: true },
      ]);
      const download = await fetch(`${url}/api/v1/runs/${run.id}/artifacts/blobs/weights%20v1.bin`);
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer()).equals(big)).toBe(true);

      const v1 = await client.registerModel('sdk-model', { runId: run.id, artifactPath: 'model' });
      expect(v1).toMatchObject({ name: 'sdk-model', version: 1, runId: run.id });
      const v2 = await client.registerModel('sdk-model', { runId: run.id, artifactPath: 'model' });
      expect(v2.version).toBe(2);
      // 'champion' is protected by default: no passing evaluation, so it takes force and a reason.
      const gated = await client.setAlias('sdk-model', 'champion', 1).catch((e: unknown) => e);
      expect(isMobiusError(gated) && gated.code).toBe('CONFLICT');
      const aliased = await client.setAlias('sdk-model', 'champion', 1, {
        force: true,
        reason: 'sdk test: no evaluation data',
      });
      expect(aliased).toMatchObject({ version: 1, aliases: ['champion'] });
      expect((await t.ctx.registry.aliases.get('sdk-model', 'champion')).version).toBe(1);
      await client.deleteAlias('sdk-model', 'champion');
      const gone = await client.setAlias('sdk-model', 'champion', 99).catch((e: unknown) => e);
      expect(isMobiusError(gone) && gone.code).toBe('NOT_FOUND');
    });

    it('a script that never calls end() still sends its buffered metrics before exiting', async () => {
      const script = join(work, 'no-end.mts');
      const sdk = fileURLToPath(new URL('../src/sdk/index.ts', import.meta.url));
      writeFileSync(
        script,
        [
          `import { MobiusClient } from ${JSON.stringify(sdk)};`,
          `const client = new MobiusClient({ url: process.argv[2]! });`,
          `const run = await client.startRun({ experiment: 'sdk-exit', codeIdentity: false, flushIntervalMs: 60000 });`,
          `for (let step = 0; step < 42; step++) run.logMetrics({ m: step }, { step });`,
          `process.stdout.write(run.id);`,
        ].join('\n'),
      );
      const runId = await runTs(script, [url]);
      expect(runId).toMatch(/^[0-9a-f]{32}$/);
      expect(await history(runId, 'm')).toHaveLength(42);
    });
  });
}
