/**
 * A dataset-triggered run reads exactly the versions that fired it, on each metadata
 * backend, under an injected clock: a version added between the fire and the run's start,
 * or while the run is going (by one of its own steps, before the next one reads the
 * dataset), is not read by it. A manual run of the same pipeline reads the newest.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/core/index.js';
import {
  Scheduler,
  pipeline,
  pipelineLauncher,
  step,
  type LaunchRequest,
  type PipelineDefinition,
} from '../src/pipelines/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const T0 = Date.UTC(2026, 5, 1);

for (const backend of STORE_BACKENDS) {
  describe(`dataset-triggered runs read the versions that fired them (${backend})`, () => {
    let t: TestContext;
    let clock: ManualClock;
    let dir: string;
    let counter = 0;

    beforeAll(async () => {
      clock = new ManualClock(T0);
      t = await openTestContext(backend, {}, { clock });
      dir = mkdtempSync(join(tmpdir(), 'mobius-pinning-'));
    });
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    /** A new version of `name` (new content each time); its number. */
    async function addVersion(name: string): Promise<number> {
      const file = join(dir, `${name}-${++counter}.csv`);
      writeFileSync(file, `id,value\n${counter},${counter * 2}\n`);
      const { version } = await t.ctx.data.add({ name, source: file, cwd: dir });
      return version.version;
    }

    async function finished(pipelineRunId: string) {
      for (let i = 0; i < 200; i++) {
        const run = await t.ctx.pipelines.getRun(pipelineRunId);
        if (run.status !== 'RUNNING') return run;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`pipeline run ${pipelineRunId} did not finish`);
    }

    /** Versions each step read, by step and input. */
    async function versionsRead(pipelineRunId: string): Promise<Record<string, number>> {
      const out: Record<string, number> = {};
      for (const s of await t.ctx.pipelines.steps(pipelineRunId))
        for (const [input, v] of Object.entries(s.datasets.in))
          out[`${s.name}.${input}`] = v.version;
      return out;
    }

    /**
     * `first` reads `name`, then adds a new version of it mid-run; `second`, after it,
     * reads `name@latest` and `dataset:name` (no ref) again.
     */
    function twoReaders(pipelineName: string, name: string): PipelineDefinition {
      return pipeline(pipelineName, {
        trigger: { datasets: [name], coalesceMs: 0 },
        steps: [
          step('first', {
            inputs: { data: `dataset:${name}` },
            cache: false,
            run: async () => {
              await addVersion(name);
            },
          }),
          step('second', {
            inputs: { latest: `dataset:${name}@latest`, plain: `dataset:${name}` },
            after: ['first'],
            cache: false,
            run: () => undefined,
          }),
        ],
      });
    }

    it('a version added while the run goes is not read by its later steps', async () => {
      const p = twoReaders('pinned-midrun', 'orders');
      await addVersion('orders'); // v1, before registration: the trigger starts above it
      await t.ctx.scheduler.register(p);
      const fired = await addVersion('orders'); // v2 fires it
      clock.advance(1000);
      const [fire] = await t.ctx.scheduler.tick(clock.now());
      expect(fire).toMatchObject({ status: 'launched', reason: { datasets: { orders: fired } } });
      expect((await finished(fire!.pipelineRunId!)).status).toBe('FINISHED');
      // `first` added v3 before `second` started; the run still read v2 throughout.
      expect(await versionsRead(fire!.pipelineRunId!)).toEqual({
        'first.data': fired,
        'second.latest': fired,
        'second.plain': fired,
      });
      const newest = (await t.ctx.data.get('orders@latest')).version;
      expect(newest).toBe(fired + 1);

      // A manual run is not pinned: its second step reads what the first just added.
      const manual = await t.ctx.pipelines.run(p);
      expect(await versionsRead(manual.id)).toEqual({
        'first.data': newest,
        'second.latest': newest + 1,
        'second.plain': newest + 1,
      });
    });

    it('a version added between the fire and the start of the run is not read', async () => {
      const p = pipeline('pinned-late-start', {
        trigger: { datasets: ['events', 'users'], when: 'any', coalesceMs: 0 },
        steps: [
          step('read', {
            inputs: {
              events: 'dataset:events',
              users: 'dataset:users@latest',
              first: 'dataset:users@1', // an explicit version is never changed
            },
            cache: false,
            run: () => undefined,
          }),
        ],
      });
      await addVersion('users'); // users v1 exists at registration
      // The launch the server uses, started late: a version of each lands first.
      const launches: Promise<string>[] = [];
      const late = new Scheduler({
        store: t.ctx.store,
        clock,
        launch: async (request: LaunchRequest) => {
          await addVersion('events');
          await addVersion('users');
          const started = pipelineLauncher(t.ctx.pipelines)(request);
          launches.push(started);
          return started;
        },
      });
      await late.register(p);
      const firedEvents = await addVersion('events'); // events v1 fires it ('any')
      clock.advance(1000);
      const [fire] = await late.tick(clock.now());
      expect(fire).toMatchObject({
        status: 'launched',
        reason: { trigger: 'dataset', datasets: { events: firedEvents, users: 1 } },
      });
      expect((await finished(fire!.pipelineRunId!)).status).toBe('FINISHED');
      expect(await versionsRead(fire!.pipelineRunId!)).toEqual({
        'read.events': firedEvents,
        'read.users': 1,
        'read.first': 1,
      });
      // The versions that landed late exist: the run chose not to read them.
      expect((await t.ctx.data.get('events@latest')).version).toBe(firedEvents + 1);
      expect((await t.ctx.data.get('users@latest')).version).toBe(2);
    });

    it('a pin to a version that is gone fails the step saying it was pinned by the trigger', async () => {
      const p = pipeline('pinned-missing', {
        steps: [step('read', { inputs: { d: 'dataset:ghost' }, run: () => undefined })],
      });
      await addVersion('ghost');
      const result = await t.ctx.pipelines.run(p, { pinnedDatasets: { ghost: 7 } });
      expect(result.status).toBe('failed');
      expect(result.steps.read!.exitReason).toMatch(
        /dataset input 'ghost@latest' \(pinned to version 7 by the trigger that started this run\)/,
      );
    });
  });
}
