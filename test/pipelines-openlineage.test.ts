/**
 * OpenLineage from real pipeline runs, on each metadata backend: a succeeding pipeline and
 * one with a failing step, reported through the file transport configured in the Mobius
 * config, and through the HTTP transport to a collector on loopback. Every emitted event
 * is validated against OpenLineage's published JSON schemas (core 2-0-2 and each facet
 * used) when the spec files are here (see test/helpers/openlineage-schemas.ts).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HttpTransport,
  OpenLineageEmitter,
  OpenLineageEvents,
  PipelineService,
  openLineageRunId,
  pipeline,
  step,
  type OpenLineageRunEvent,
} from '../src/pipelines/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { loadOpenLineageSchemas } from './helpers/openlineage-schemas.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
const schemas = loadOpenLineageSchemas();
if (schemas === undefined)
  console.warn(
    'OpenLineage spec files not found (set OPENLINEAGE_SPEC_DIR or put them in ../shared/openlineage-spec): schema validation skipped',
  );

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** prep (TypeScript) → count (shell); optionally a failing command and a step after it. */
function words(name: string, withFailure: boolean) {
  const steps = [
    step('prep', {
      inputs: { words: 'file:words.txt' },
      outputs: ['upper'],
      run: async (ctx) => {
        await writeFile(
          ctx.outputs.upper!,
          (await readFile(ctx.inputs.words!, 'utf8')).toUpperCase(),
        );
      },
    }),
    step('count', {
      inputs: { text: 'prep.upper' },
      outputs: ['count'],
      run: { shell: 'wc -w < "$MOBIUS_INPUT_TEXT" | tr -d " " > "$MOBIUS_OUTPUT_COUNT"' },
    }),
  ];
  if (withFailure)
    steps.push(
      step('broken', {
        inputs: { text: 'prep.upper' },
        outputs: ['nothing'],
        run: ['sh', '-c', 'echo boom >&2; exit 3'],
      }),
      step('after', { inputs: { n: 'broken.nothing' }, run: () => undefined }),
    );
  return pipeline(name, { steps });
}

const byJob = (events: OpenLineageRunEvent[], job: string) =>
  events.filter((e) => e.job.name === job).map((e) => e.eventType);

function expectValid(events: OpenLineageRunEvent[]): void {
  if (schemas === undefined) return;
  for (const e of events) expect(schemas.errors(e), `${e.job.name} ${e.eventType}`).toEqual([]);
}

for (const backend of STORE_BACKENDS) {
  describe(`pipelines → OpenLineage (${backend})`, () => {
    let t: TestContext;
    let dir: string;
    let lineage: string;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mobius-ol-'));
      lineage = join(dir, 'out', 'lineage.ndjson');
      // Configured like a user would: the `openlineage` section of the Mobius config.
      t = await openTestContext(backend, { openlineage: { path: lineage, namespace: 'test-ns' } });
      writeFileSync(join(dir, 'words.txt'), 'alpha beta gamma\n');
    });
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    const read = (): OpenLineageRunEvent[] =>
      readFileSync(lineage, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as OpenLineageRunEvent);

    it('reports a succeeding pipeline: START/COMPLETE per run, parent facets, content versions', async () => {
      const result = await t.ctx.pipelines.run(words('ol-ok', false), { baseDir: dir, env: ENV });
      expect(result.status).toBe('succeeded');
      const events = read();
      expect(events.map((e) => `${e.job.name} ${e.eventType}`)).toEqual([
        'ol-ok START',
        'ol-ok.prep START',
        'ol-ok.prep COMPLETE',
        'ol-ok.count START',
        'ol-ok.count COMPLETE',
        'ol-ok COMPLETE',
      ]);
      expectValid(events);

      const pipelineRun = openLineageRunId(result.id);
      expect(events[0]!.run.runId).toBe(pipelineRun);
      expect(events.at(-1)!.run.runId).toBe(pipelineRun);
      for (const e of events.filter((x) => x.job.name !== 'ol-ok')) {
        expect(e.job.namespace).toBe('test-ns');
        expect(e.run.facets.parent).toMatchObject({
          run: { runId: pipelineRun },
          job: { namespace: 'test-ns', name: 'ol-ok' },
        });
      }
      const prepStart = events[1]!;
      const prepDone = events[2]!;
      const countDone = events[4]!;
      expect(prepStart.run.runId).toBe(prepDone.run.runId);
      expect(prepStart.run.runId).not.toBe(countDone.run.runId);
      // The file input: OpenLineage's local-file naming, its content hash as version.
      expect(prepStart.inputs).toEqual([
        expect.objectContaining({
          namespace: 'file',
          name: join(dir, 'words.txt'),
          facets: {
            version: expect.objectContaining({ datasetVersion: sha256('alpha beta gamma\n') }),
          },
        }),
      ]);
      // prep's output is count's input: the same dataset, the same version.
      const upper = result.steps.prep!.outputs.upper!.sha256;
      expect(prepDone.outputs).toEqual([
        expect.objectContaining({
          namespace: 'test-ns',
          name: 'ol-ok.prep.upper',
          facets: { version: expect.objectContaining({ datasetVersion: upper }) },
        }),
      ]);
      expect(countDone.inputs[0]).toMatchObject({
        name: 'ol-ok.prep.upper',
        facets: { version: { datasetVersion: upper } },
      });
      expect(countDone.outputs[0]!.facets?.version?.datasetVersion).toBe(
        result.steps.count!.outputs.count!.sha256,
      );
    });

    it('reports a failing step as FAIL with its reason, skips the step after it, and FAILs the pipeline', async () => {
      rmSync(lineage, { force: true });
      const result = await t.ctx.pipelines.run(words('ol-bad', true), { baseDir: dir, env: ENV });
      expect(result.status).toBe('failed');
      expect(result.steps.after!.status).toBe('skipped');
      const events = read();
      expectValid(events);
      expect(byJob(events, 'ol-bad')).toEqual(['START', 'FAIL']);
      expect(byJob(events, 'ol-bad.prep')).toEqual(['START', 'COMPLETE']);
      expect(byJob(events, 'ol-bad.broken')).toEqual(['START', 'FAIL']);
      // A skipped step never ran: no run, no events.
      expect(byJob(events, 'ol-bad.after')).toEqual([]);
      expect(events[0]!.job.name).toBe('ol-bad');
      expect(events.at(-1)!.job.name).toBe('ol-bad');
      const fail = events.find((e) => e.job.name === 'ol-bad.broken' && e.eventType === 'FAIL')!;
      expect(fail.run.facets.errorMessage).toMatchObject({
        message: expect.stringMatching(/3/),
        programmingLanguage: 'sh',
      });
      // Nothing was produced: the output is named, without a version.
      expect(fail.outputs).toEqual([{ namespace: 'test-ns', name: 'ol-bad.broken.nothing' }]);
      expect(events.at(-1)!.run.facets.errorMessage?.message).toMatch(/step 'broken' failed/);
    });

    it('reports cached steps as runs that COMPLETE with the stored versions', async () => {
      rmSync(lineage, { force: true });
      const result = await t.ctx.pipelines.run(words('ol-ok', false), { baseDir: dir, env: ENV });
      expect(Object.values(result.steps).map((s) => s.status)).toEqual(['cached', 'cached']);
      const events = read();
      expectValid(events);
      expect(events.map((e) => e.eventType)).toEqual([
        'START',
        'START',
        'COMPLETE',
        'START',
        'COMPLETE',
        'COMPLETE',
      ]);
      expect(events[2]!.outputs[0]!.facets?.version?.datasetVersion).toBe(
        result.steps.prep!.outputs.upper!.sha256,
      );
    });

    it('logs a listener that throws and runs the pipeline to the end', async () => {
      const warnings: string[] = [];
      const seen: string[] = [];
      const service = new PipelineService({
        store: t.ctx.store,
        blobs: t.ctx.blobs,
        tracking: t.ctx.tracking,
        clock: t.ctx.clock,
        logger: { warn: ((_o: unknown, msg: string) => void warnings.push(msg)) as never } as never,
        listeners: [
          {
            stepStarted: () => {
              throw new Error('listener bug');
            },
          },
          { stepFinished: (e) => void seen.push(`${e.step} ${e.status}`) },
        ],
      });
      const result = await service.run(words('ol-listener', false), {
        baseDir: dir,
        env: ENV,
        force: true,
      });
      expect(result.status).toBe('succeeded');
      expect(seen).toEqual(['prep succeeded', 'count succeeded']);
      expect(warnings).toEqual([
        'pipeline listener failed on stepStarted; the run goes on',
        'pipeline listener failed on stepStarted; the run goes on',
      ]);
    });

    describe('HTTP transport', () => {
      let server: Server;
      let base: string;
      const received: { url: string; auth: string | undefined; event: OpenLineageRunEvent }[] = [];
      let status = 200;

      beforeAll(async () => {
        server = createServer((req, res) => {
          let body = '';
          req.on('data', (d: Buffer) => (body += d.toString()));
          req.on('end', () => {
            received.push({
              url: req.url ?? '',
              auth: req.headers.authorization,
              event: JSON.parse(body) as OpenLineageRunEvent,
            });
            res.writeHead(status).end();
          });
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      });
      afterAll(async () => {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      });

      const service = (emitter: OpenLineageEmitter) =>
        new PipelineService({
          store: t.ctx.store,
          blobs: t.ctx.blobs,
          tracking: t.ctx.tracking,
          clock: t.ctx.clock,
          listeners: [emitter],
        });

      it('POSTs every event, in order, to a collector on loopback', async () => {
        received.length = 0;
        status = 200;
        const emitter = new OpenLineageEmitter({
          namespace: 'http-ns',
          transport: new HttpTransport({ url: base, apiKey: 'test-api-key' }),
        });
        const result = await service(emitter).run(words('ol-http', true), {
          baseDir: dir,
          env: ENV,
          force: true,
          concurrency: 1,
        });
        expect(result.status).toBe('failed');
        // The run's return means every event was delivered: the pipeline's end waits for them.
        expect(emitter.counts).toEqual({ sent: 8, failed: 0, dropped: 0 });
        expect(received.every((r) => r.url === '/api/v1/lineage')).toBe(true);
        expect(received.every((r) => r.auth === 'Bearer test-api-key')).toBe(true);
        const events = received.map((r) => r.event);
        expectValid(events);
        expect(events.map((e) => `${e.job.name} ${e.eventType}`)).toEqual([
          'ol-http START',
          'ol-http.prep START',
          'ol-http.prep COMPLETE',
          'ol-http.count START',
          'ol-http.count COMPLETE',
          'ol-http.broken START',
          'ol-http.broken FAIL',
          'ol-http FAIL',
        ]);
      });

      it('never fails the pipeline when the collector refuses every event', async () => {
        received.length = 0;
        status = 500;
        const warnings: string[] = [];
        const emitter = new OpenLineageEmitter({
          namespace: 'http-ns',
          transport: new HttpTransport({ url: base, timeoutMs: 1000 }),
          logger: { warn: ((_o: unknown, msg: string) => void warnings.push(msg)) as never },
        });
        const result = await service(emitter).run(words('ol-http-down', false), {
          baseDir: dir,
          env: ENV,
        });
        expect(result.status).toBe('succeeded');
        // Three refusals in a row, then the rest are dropped unsent for a while.
        expect(emitter.counts).toEqual({ sent: 0, failed: 3, dropped: 3 });
        expect(received).toHaveLength(3);
        expect(warnings[0]).toMatch(/not delivered.*answered 500/);
      });
    });
  });
}

describe('OpenLineage schemas', () => {
  // Skipped only when OpenLineage's JSON schema files are absent: they are the OpenLineage
  // project's, not committed here (fetched content may not be), and are read from
  // OPENLINEAGE_SPEC_DIR or ../shared/openlineage-spec (test/helpers/openlineage-schemas.ts).
  it.skipIf(schemas === undefined)(
    'accept a check step event with dataQualityAssertions, and reject a broken event',
    () => {
      const events = new OpenLineageEvents('checks');
      const e = events.stepFinished({
        pipeline: 'quality',
        pipelineRunId: '01jd0h7x8k3m5n9p2q4r6s8t0v',
        step: 'gate',
        stepRunId: '01jd0h7x8k3m5n9p2q4r6s8t0w',
        at: Date.UTC(2026, 0, 1),
        run: { kind: 'function', fn: () => undefined },
        outputNames: [],
        inputs: [
          {
            name: 'orders',
            ref: { kind: 'dataset', name: 'orders', version: '3' },
            blob: { sha256: 'b'.repeat(64), size: 10 },
          },
        ],
        cached: false,
        status: 'failed',
        outputs: {},
        error: '1 of 2 expectations failed',
        assertions: [
          {
            input: 'orders',
            results: [
              { assertion: 'not_null', success: true, column: 'customer_id', severity: 'error' },
              {
                assertion: 'row_count_between',
                success: false,
                expected: '1000..2000',
                actual: '10',
              },
            ],
          },
        ],
      });
      expect(e.inputs[0]).toMatchObject({ namespace: 'checks', name: 'dataset:orders' });
      expect(schemas!.errors(e)).toEqual([]);
      // The validator is not vacuous: a run id that is no UUID, and an assertion without
      // `success`, are both caught.
      const broken = structuredClone(e) as unknown as {
        run: { runId: string };
        inputs: { inputFacets: { dataQualityAssertions: { assertions: object[] } } }[];
      };
      broken.run.runId = 'run-1';
      broken.inputs[0]!.inputFacets.dataQualityAssertions.assertions.push({ assertion: 'unique' });
      const errors = schemas!.errors(broken).join('\n');
      expect(errors).toMatch(/runId must match format "uuid"/);
      expect(errors).toMatch(/must have required property 'success'/);
    },
  );
});
