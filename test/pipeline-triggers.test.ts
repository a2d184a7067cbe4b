/**
 * Schedules and dataset triggers on each metadata backend, under an injected clock (no
 * test waits for a boundary): cron boundaries fire exactly once each and never early;
 * a new Scheduler on the same store (a restart) neither repeats nor loses a fire; dataset
 * triggers follow all/any, coalesce bursts, and lose nothing while the scheduler is down
 * or the pipeline paused. Dataset versions are made by the real DataService.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/core/index.js';
import {
  Scheduler,
  TRIGGER_TAG,
  TRIGGER_SCHEDULED_FOR_TAG,
  TRIGGER_DATASETS_TAG,
  parsePipelineYaml,
  pipeline,
  step,
  type LaunchRequest,
  type PipelineDefinition,
  type ScheduleOptions,
  type TriggerOptions,
} from '../src/pipelines/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 2, 1); // 2026-03-01T00:00Z

const noop = step('noop', { run: () => undefined });

function def(
  name: string,
  extra: { schedule?: ScheduleOptions | ScheduleOptions[]; trigger?: TriggerOptions },
): PipelineDefinition {
  return pipeline(name, { steps: [noop], ...extra });
}

/** A launch that records what it was asked to start and answers with a made-up run id. */
function recorder() {
  const calls: LaunchRequest[] = [];
  return {
    calls,
    launch: (request: LaunchRequest) => {
      calls.push(request);
      return Promise.resolve(`run-${calls.length}`);
    },
  };
}

for (const backend of STORE_BACKENDS) {
  describe(`schedules and triggers (${backend})`, () => {
    let t: TestContext;
    let clock: ManualClock;
    let dir: string;
    let counter = 0;

    beforeAll(async () => {
      clock = new ManualClock(T0);
      t = await openTestContext(backend, {}, { clock });
      dir = mkdtempSync(join(tmpdir(), 'mobius-triggers-'));
    });
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    const scheduler = (launch: (r: LaunchRequest) => Promise<string>) =>
      new Scheduler({ store: t.ctx.store, clock, launch });

    /** Adds a new version of `name` at the clock's time (new content each time). */
    async function addVersion(name: string): Promise<number> {
      const file = join(dir, `${name}-${++counter}.csv`);
      writeFileSync(file, `id,value\n${counter},${counter * 2}\n`);
      const { version, created } = await t.ctx.data.add({ name, source: file, cwd: dir });
      expect(created).toBe(true);
      return version.version;
    }

    it('a 15-minute cron fires 96 times over a simulated day, each exactly at its boundary', async () => {
      // 2026-03-29 is the EU's daylight-saving day: in UTC it is 24 hours like any other.
      const start = Date.UTC(2026, 2, 29);
      clock.advance(start - 30_000 - clock.now()); // registered 30 s before midnight
      const rec = recorder();
      const s = scheduler(rec.launch);
      await s.register(def('quarterly', { schedule: { cron: '*/15 * * * *' } }));
      const fired: number[] = [];
      for (let i = 0; i < 96; i++) {
        const boundary = start + i * 15 * MIN;
        // One millisecond early: nothing.
        expect(await s.tick(boundary - 1)).toEqual([]);
        const fires = await s.tick(boundary);
        expect(fires).toHaveLength(1);
        expect(fires[0]!.reason).toEqual({
          trigger: 'schedule',
          cron: '*/15 * * * *',
          scheduledFor: boundary,
        });
        expect(fires[0]!.status).toBe('launched');
        fired.push(boundary);
        // Ticking again inside the same quarter hour: nothing more.
        expect(await s.tick(boundary + 7 * MIN)).toEqual([]);
      }
      expect(fired).toHaveLength(96);
      expect(new Set(fired).size).toBe(96);
      expect(rec.calls).toHaveLength(96);
      expect(rec.calls[0]!.tags[TRIGGER_TAG]).toBe('schedule');
      expect(rec.calls[0]!.tags[TRIGGER_SCHEDULED_FOR_TAG]).toBe('2026-03-29T00:00:00.000Z');
      const [status] = (await s.list()).filter((p) => p.pipeline === 'quarterly');
      expect(status!.schedules[0]!.nextFireAt).toBe(start + 24 * HOUR);
      expect(status!.lastFire!.scheduledFor).toBe(start + 24 * HOUR - 15 * MIN);
      expect(status!.pendingFires).toBe(0);
    });

    it('after a restart, a new scheduler on the same store neither repeats nor loses a fire', async () => {
      const base = Date.UTC(2026, 4, 1);
      clock.advance(base + 10 * MIN - clock.now());
      const hourly = def('hourly', { schedule: { cron: '0 * * * *' } });
      const everyOne = def('hourly-all', { schedule: { cron: '0 * * * *', catchup: 'all' } });
      const a = recorder();
      const first = scheduler(a.launch);
      await first.register(hourly);
      await first.register(everyOne);
      expect((await first.tick(base + HOUR)).map((f) => f.pipeline).sort()).toEqual([
        'hourly',
        'hourly-all',
      ]);
      // The first scheduler goes away; 02:00, 03:00 and 04:00 pass while none runs.
      clock.advance(base + 4 * HOUR + 30 * MIN - clock.now());
      const b = recorder();
      const second = scheduler(b.launch);
      await second.register(hourly);
      await second.register(everyOne);
      const fires = await second.tick();
      const byPipeline = (name: string) =>
        fires
          .filter((f) => f.pipeline === name)
          .map((f) => (f.reason as { scheduledFor: number }).scheduledFor);
      // catchup 'latest' (the default): the most recent missed boundary, once.
      expect(byPipeline('hourly')).toEqual([base + 4 * HOUR]);
      // catchup 'all': each missed boundary, oldest first; 01:00 is not repeated.
      expect(byPipeline('hourly-all')).toEqual([base + 2 * HOUR, base + 3 * HOUR, base + 4 * HOUR]);
      expect(await second.tick()).toEqual([]);
      // The first scheduler coming back at the same time decides nothing new.
      expect(await first.tick()).toEqual([]);
      expect(a.calls).toHaveLength(2);
      expect(b.calls).toHaveLength(4);
      // The next boundary fires once, whichever scheduler ticks.
      const both = [
        ...(await second.tick(base + 5 * HOUR)),
        ...(await first.tick(base + 5 * HOUR)),
      ];
      expect(both).toHaveLength(2);
    });

    it("catchup 'all' after a long outage runs the newest 100 missed boundaries, not every one", async () => {
      const base = Date.UTC(2026, 4, 10);
      clock.advance(base - 30_000 - clock.now());
      const rec = recorder();
      const s = scheduler(rec.launch);
      await s.register(def('minutely-all', { schedule: { cron: '* * * * *', catchup: 'all' } }));
      // Down for three hours: 181 boundaries from 00:00 to 03:00.
      const fires = await s.tick(base + 3 * HOUR);
      const times = fires.map((f) => (f.reason as { scheduledFor: number }).scheduledFor);
      expect(times).toHaveLength(100);
      expect(times[0]).toBe(base + 3 * HOUR - 99 * MIN);
      expect(times.at(-1)).toBe(base + 3 * HOUR);
      expect(await s.tick(base + 3 * HOUR + 30_000)).toEqual([]);
    });

    it('two schedulers ticking at once record and launch each boundary once', async () => {
      const base = Date.UTC(2026, 5, 1);
      clock.advance(base - MIN - clock.now());
      const p = def('raced', { schedule: { cron: '* * * * *' } });
      const a = recorder();
      const b = recorder();
      const sa = scheduler(a.launch);
      const sb = scheduler(b.launch);
      await sa.register(p);
      await sb.register(p);
      for (let i = 0; i < 5; i++) {
        const at = base + i * MIN;
        await Promise.all([sa.tick(at), sb.tick(at)]);
      }
      const scheduled = [...a.calls, ...b.calls].map(
        (c) => (c.reason as { scheduledFor: number }).scheduledFor,
      );
      expect(scheduled.sort()).toEqual([0, 1, 2, 3, 4].map((i) => base + i * MIN));
    });

    it('a fire whose scheduler died before launching it is launched once, after the lease', async () => {
      const base = Date.UTC(2026, 6, 1);
      clock.advance(base - MIN - clock.now());
      const p = def('orphaned', { schedule: { cron: '0 0 * * *' } });
      let hung = 0;
      // The first process claims the fire, then "dies": its launch never answers.
      const dying = scheduler(() => {
        hung++;
        return new Promise<string>(() => {});
      });
      await dying.register(p);
      void dying.tick(base);
      await waitFor(
        async () =>
          (
            await t.ctx.store.db
              .selectFrom('pipeline_fire')
              .select('status')
              .where('pipeline', '=', 'orphaned')
              .executeTakeFirst()
          )?.status === 'launching',
      );
      expect(hung).toBe(1);
      const rec = recorder();
      const restarted = scheduler(rec.launch);
      await restarted.register(p);
      // Within the lease it might still be starting: left alone.
      expect(await restarted.tick(base + 60_000)).toEqual([]);
      const fires = await restarted.tick(base + 5 * MIN + 1);
      expect(fires).toHaveLength(1);
      expect(fires[0]!.reason).toEqual({
        trigger: 'schedule',
        cron: '0 0 * * *',
        scheduledFor: base,
      });
      expect(await restarted.tick(base + 10 * MIN)).toEqual([]);
      expect(rec.calls).toHaveLength(1);
    });

    it("dataset triggers: 'all' waits for every dataset, 'any' for one", async () => {
      clock.advance(Date.UTC(2026, 7, 1) - clock.now());
      const rec = recorder();
      const s = scheduler(rec.launch);
      const trigger = { datasets: ['churn', 'events'], coalesceMs: 0 };
      const all = await s.register(def('on-all', { trigger: { ...trigger, when: 'all' } }));
      await s.register(def('on-any', { trigger: { ...trigger, when: 'any' } }));
      // Neither dataset exists yet: a warning, not an error (the producer has not run).
      expect(all.warnings).toHaveLength(2);
      expect(all.warnings[0]).toContain("trigger dataset 'churn' has no versions yet");
      expect(await s.tick()).toEqual([]);

      clock.advance(MIN);
      await addVersion('churn');
      let fires = await s.tick();
      expect(fires.map((f) => [f.pipeline, f.reason])).toEqual([
        ['on-any', { trigger: 'dataset', datasets: { churn: 1, events: 0 } }],
      ]);
      expect(rec.calls[0]!.tags[TRIGGER_DATASETS_TAG]).toBe('churn@1,events@0');

      clock.advance(MIN);
      await addVersion('events');
      fires = await s.tick();
      expect(fires.map((f) => [f.pipeline, f.reason]).sort()).toEqual([
        ['on-all', { trigger: 'dataset', datasets: { churn: 1, events: 1 } }],
        ['on-any', { trigger: 'dataset', datasets: { churn: 1, events: 1 } }],
      ]);
      expect(await s.tick()).toEqual([]);

      // 'all' needs both again: churn alone moves only 'any'.
      clock.advance(MIN);
      await addVersion('churn');
      fires = await s.tick();
      expect(fires.map((f) => f.pipeline)).toEqual(['on-any']);
      clock.advance(MIN);
      await addVersion('events');
      fires = await s.tick();
      expect(fires.map((f) => [f.pipeline, f.reason]).sort()).toEqual([
        ['on-all', { trigger: 'dataset', datasets: { churn: 2, events: 2 } }],
        ['on-any', { trigger: 'dataset', datasets: { churn: 2, events: 2 } }],
      ]);
    });

    it('a burst of five versions becomes one run on the newest, once the burst has settled', async () => {
      clock.advance(Date.UTC(2026, 8, 1) - clock.now());
      const rec = recorder();
      const s = scheduler(rec.launch);
      await addVersion('bursty'); // exists before registration: not a reason to run
      await s.register(def('on-burst', { trigger: { datasets: ['bursty'], coalesceMs: MIN } }));
      expect(await s.tick()).toEqual([]);
      let last = 0;
      for (let i = 0; i < 5; i++) {
        clock.advance(10_000);
        last = clock.now();
        await addVersion('bursty');
        expect(await s.tick()).toEqual([]); // still inside the coalescing window
      }
      expect(await s.tick(last + MIN - 1)).toEqual([]);
      const fires = await s.tick(last + MIN);
      expect(fires.map((f) => f.reason)).toEqual([{ trigger: 'dataset', datasets: { bursty: 6 } }]);
      expect(await s.tick(last + 10 * MIN)).toEqual([]);
      expect(rec.calls).toHaveLength(1);
    });

    it('a dataset that never stops changing still runs, maxWaitMs after its first new version', async () => {
      const start = Date.UTC(2026, 8, 15);
      clock.advance(start - clock.now());
      const rec = recorder();
      const s = scheduler(rec.launch);
      await s.register(
        def('on-stream', {
          trigger: { datasets: ['stream'], coalesceMs: MIN, maxWaitMs: 5 * MIN },
        }),
      );
      // A version every 30 s for 12 minutes: never quiet for the 60 s coalescing window.
      const fired: { at: number; version: number }[] = [];
      for (let i = 1; i <= 24; i++) {
        clock.advance(30_000);
        await addVersion('stream');
        for (const f of await s.tick())
          fired.push({
            at: clock.now(),
            version: (f.reason as { datasets: Record<string, number> }).datasets.stream!,
          });
      }
      // Version 1 came at 00:00:30, so the first run is due at 00:05:30, on the newest then (11);
      // version 12 came at 00:06:00, so the next is due at 00:11:00, on version 22.
      expect(fired).toEqual([
        { at: start + 5 * MIN + 30_000, version: 11 },
        { at: start + 11 * MIN, version: 22 },
      ]);
    });

    it('versions added while the scheduler is down start the pipeline when it is back', async () => {
      clock.advance(Date.UTC(2026, 9, 1) - clock.now());
      const p = def('on-down', { trigger: { datasets: ['downtime'], coalesceMs: 0 } });
      await addVersion('downtime');
      const before = scheduler(recorder().launch);
      await before.register(p);
      expect(await before.tick()).toEqual([]);
      // No scheduler runs now.
      clock.advance(HOUR);
      await addVersion('downtime');
      await addVersion('downtime');
      clock.advance(HOUR);
      const rec = recorder();
      const after = scheduler(rec.launch);
      await after.register(p);
      const fires = await after.tick();
      expect(fires.map((f) => f.reason)).toEqual([
        { trigger: 'dataset', datasets: { downtime: 3 } },
      ]);
      expect(await after.tick()).toEqual([]);
    });

    it('a paused pipeline gets exactly one coalesced run per kind of trigger on resume', async () => {
      const base = Date.UTC(2026, 10, 1);
      clock.advance(base + MIN - clock.now());
      const rec = recorder();
      const s = scheduler(rec.launch);
      const both = def('paused-both', {
        schedule: [{ cron: '0 * * * *', catchup: 'all' }],
        trigger: { datasets: ['paused-data'], when: 'any', coalesceMs: 0 },
      });
      await s.register(both);
      const paused = await s.pause('paused-both');
      expect(paused.paused).toBe(true);
      for (let h = 1; h <= 5; h++) {
        clock.advance(base + h * HOUR - clock.now());
        await addVersion('paused-data');
        expect(await s.tick()).toEqual([]);
      }
      clock.advance(20 * MIN); // 05:20
      const resumed = await s.resume('paused-both');
      expect(resumed.paused).toBe(false);
      const fires = await s.tick();
      const reasons = fires.map((f) => f.reason).sort((x, y) => x.trigger.localeCompare(y.trigger));
      expect(reasons).toEqual([
        { trigger: 'dataset', datasets: { 'paused-data': 5 } },
        // catchup 'all' covers downtime, not a pause: 01:00–05:00 are one run, at 05:00.
        { trigger: 'schedule', cron: '0 * * * *', scheduledFor: base + 5 * HOUR },
      ]);
      expect(await s.tick()).toEqual([]);
      expect((await s.tick(base + 6 * HOUR)).map((f) => f.reason.trigger)).toEqual(['schedule']);
    });

    it('pause and resume are state: a pause made elsewhere stops this scheduler', async () => {
      const base = Date.UTC(2026, 11, 1);
      clock.advance(base - MIN - clock.now());
      const rec = recorder();
      const server = scheduler(rec.launch);
      const cli = scheduler(() => Promise.reject(new Error('the CLI never launches')));
      await server.register(def('remote-paused', { schedule: { cron: '*/5 * * * *' } }));
      await cli.pause('remote-paused');
      expect(await server.tick(base)).toEqual([]);
      expect(await server.tick(base + 5 * MIN)).toEqual([]);
      await cli.resume('remote-paused');
      expect((await server.tick(base + 6 * MIN)).map((f) => f.reason)).toEqual([
        { trigger: 'schedule', cron: '*/5 * * * *', scheduledFor: base + 5 * MIN },
      ]);
      await expect(cli.pause('no-such-pipeline')).rejects.toThrow(
        "no pipeline 'no-such-pipeline' has a schedule or trigger",
      );
    });

    it('a launch that fails is recorded as failed with its reason and not retried', async () => {
      const base = Date.UTC(2027, 0, 1);
      clock.advance(base - MIN - clock.now());
      const s = scheduler(() => Promise.reject(new Error("pipeline 'x' has no param 'y'")));
      await s.register(def('launch-fails', { schedule: { cron: '0 0 * * *' } }));
      const fires = await s.tick(base);
      expect(fires).toMatchObject([{ status: 'failed', error: "pipeline 'x' has no param 'y'" }]);
      expect(await s.tick(base + HOUR)).toEqual([]);
      const [status] = (await s.list()).filter((p) => p.pipeline === 'launch-fails');
      expect(status!.lastFire).toMatchObject({
        status: 'failed',
        error: "pipeline 'x' has no param 'y'",
      });
    });

    it('start() ticks on a timer until stop(), which waits for the tick in progress', async () => {
      const base = Date.UTC(2027, 2, 1);
      clock.advance(base - MIN - clock.now());
      const rec = recorder();
      const s = scheduler(rec.launch);
      await s.register(def('timed', { schedule: { cron: '* * * * *' } }));
      s.start(5);
      clock.advance(MIN); // the injected clock decides what is due; the timer only ticks
      await waitFor(() => Promise.resolve(rec.calls.length === 1));
      await s.stop();
      clock.advance(MIN);
      await new Promise((r) => setTimeout(r, 50));
      expect(rec.calls).toHaveLength(1); // stopped: the next minute did not fire
      expect((rec.calls[0]!.reason as { scheduledFor: number }).scheduledFor).toBe(base);
    });

    it('through PipelineService: the run starts, finishes and says why it started', async () => {
      const base = Date.UTC(2027, 1, 1);
      clock.advance(base - MIN - clock.now());
      const p = pipeline('real-run', {
        steps: [
          step('write', {
            outputs: ['out'],
            run: async (c) => {
              const { writeFile } = await import('node:fs/promises');
              await writeFile(c.outputs.out!, 'done');
            },
          }),
        ],
        schedule: { cron: '0 0 * * *' },
      });
      await t.ctx.scheduler.register(p);
      const [fire] = await t.ctx.scheduler.tick(base);
      expect(fire).toMatchObject({ status: 'launched', pipeline: 'real-run' });
      const runId = fire!.pipelineRunId!;
      await waitFor(async () => {
        const row = await t.ctx.store.db
          .selectFrom('pipeline_run')
          .selectAll()
          .where('id', '=', runId)
          .executeTakeFirst();
        return row?.status === 'FINISHED';
      });
      const row = await t.ctx.store.db
        .selectFrom('pipeline_run')
        .selectAll()
        .where('id', '=', runId)
        .executeTakeFirstOrThrow();
      const run = await t.ctx.tracking.runs.get(row.tracking_run_id);
      const tags = run.data.tags;
      expect(tags[TRIGGER_TAG]).toBe('schedule');
      expect(tags[TRIGGER_SCHEDULED_FOR_TAG]).toBe(new Date(base).toISOString());
      expect(tags['mobius.trigger.fireId']).toBe(fire!.id);
      const stored = await t.ctx.store.db
        .selectFrom('pipeline_fire')
        .selectAll()
        .where('id', '=', fire!.id)
        .executeTakeFirstOrThrow();
      expect(stored).toMatchObject({ status: 'launched', pipeline_run_id: runId });
    });
  });
}

describe('schedule and trigger definitions', () => {
  it('reject a bad cron naming the pipeline, field and value', () => {
    expect(() => def('bad', { schedule: { cron: '61 * * * *' } })).toThrow(
      "pipeline 'bad': schedule: cron '61 * * * *': minute field '61' has 61, out of range 0-59",
    );
    expect(() =>
      def('bad', { schedule: [{ cron: '0 * * * *' }, { cron: '0 * * * * *' }] }),
    ).toThrow('expected 5 fields');
    expect(() => def('bad', { schedule: { cron: '0 * * * *', timezone: 'Europe/Paris' } })).toThrow(
      "timezone 'Europe/Paris'; only 'UTC' is supported",
    );
    expect(() => def('bad', { schedule: [{ cron: '0 * * * *' }, { cron: '0 * * * *' }] })).toThrow(
      "schedule '0 * * * *' is given twice",
    );
  });

  it('reject bad triggers', () => {
    expect(() => def('bad', { trigger: { datasets: [] } })).toThrow(
      "pipeline 'bad': trigger: datasets must list at least one dataset name",
    );
    expect(() => def('bad', { trigger: { datasets: ['a', 'a'] } })).toThrow('listed twice');
    expect(() => def('bad', { trigger: { datasets: ['a'], when: 'most' as 'all' } })).toThrow(
      "when is 'most'",
    );
    expect(() => def('bad', { trigger: { datasets: ['a'], coalesceMs: -1 } })).toThrow(
      'coalesceMs must be a whole number of milliseconds ≥ 0, not -1',
    );
    expect(() => def('bad', { trigger: { datasets: ['../x'] } })).toThrow(
      "pipeline 'bad': trigger:",
    );
  });

  it('allow a schedule and a trigger together, in TypeScript and YAML', () => {
    const ts = def('both', {
      schedule: { cron: '@daily' },
      trigger: { datasets: ['churn', 'events'], when: 'any' },
    });
    expect(ts.schedules).toEqual([{ cron: '@daily', timezone: 'UTC', catchup: 'latest' }]);
    expect(ts.trigger).toEqual({
      datasets: ['churn', 'events'],
      when: 'any',
      coalesceMs: 60_000,
      maxWaitMs: 600_000,
    });
    const yaml = parsePipelineYaml(`
name: both
schedule:
  - { cron: '0 * * * *' }
  - { cron: '30 6 * * mon-fri', catchup: all }
trigger: { datasets: [churn], coalesceMs: 0 }
steps:
  - { name: s, run: [echo, hi] }
`);
    expect(yaml.schedules).toEqual([
      { cron: '0 * * * *', timezone: 'UTC', catchup: 'latest' },
      { cron: '30 6 * * mon-fri', timezone: 'UTC', catchup: 'all' },
    ]);
    expect(yaml.trigger).toEqual({ datasets: ['churn'], when: 'all', coalesceMs: 0, maxWaitMs: 0 });
    expect(() =>
      parsePipelineYaml(`
name: y
schedule: { cron: '0 25 * * *' }
steps: [{ name: s, run: [echo] }]
`),
    ).toThrow("hour field '25' has 25, out of range 0-23");
    expect(() =>
      parsePipelineYaml(`
name: y
trigger: { datasets: [a], when: sometimes }
steps: [{ name: s, run: [echo] }]
`),
    ).toThrow('trigger.when');
  });
});

/** Polls `check` (real time) until it holds; for work that runs in the background. */
async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
