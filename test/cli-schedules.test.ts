/** `mobius schedules …` through bin/mobius.js over the built CLI, on every metadata backend. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/core/index.js';
import { Scheduler, pipeline, step } from '../src/pipelines/index.js';
import { openStore, type Store } from '../src/store/index.js';
import { buildServer } from '../src/api/index.js';
import { openTestContext } from './helpers/context.js';
import { STORE_BACKENDS, freshLocation } from './helpers/stores.js';
import { runCli, runCliAsync } from './helpers/cli.js';

/** Runs the CLI without blocking this process (the server it talks to lives here). */
const mobiusAsync = (args: string[], env: Record<string, string>) => runCliAsync(args, { env });

for (const backend of STORE_BACKENDS) {
  describe(`mobius schedules: ${backend}`, () => {
    let dir: string;
    let location: string;
    let remove: () => Promise<void>;
    let store: Store;
    const mobius = (...args: string[]) =>
      runCli(['--store', location, '--home', join(dir, '.mobius'), ...args], { cwd: dir });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- asserting the shape is the test
    const json = (...args: string[]): any => {
      const res = mobius('--json', ...args);
      expect(res.code, res.stderr + res.stdout).toBe(0);
      return JSON.parse(res.stdout);
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mobius-cli-schedules-'));
      ({ location, remove } = freshLocation(backend));
      store = await openStore(location);
      await store.migrate();
      // What `mobius server` does when it loads a pipeline: register it on the store.
      const scheduler = new Scheduler({
        store,
        clock: new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 30)),
        launch: () => Promise.reject(new Error('not in this test')),
      });
      await scheduler.register(
        pipeline('hourly', {
          steps: [step('noop', { run: () => undefined })],
          schedule: { cron: '0 * * * *' },
          trigger: { datasets: ['raw', 'events'] },
        }),
      );
    });
    afterAll(async () => {
      await store.close();
      await remove();
      rmSync(dir, { recursive: true, force: true });
    });

    it('lists, pauses and resumes', () => {
      const listed = json('schedules', 'ls');
      expect(listed.schedules).toMatchObject([
        {
          pipeline: 'hourly',
          paused: false,
          schedules: [{ cron: '0 * * * *', nextFireAt: Date.UTC(2026, 0, 1, 1) }],
          trigger: { datasets: ['raw', 'events'], when: 'all' },
        },
      ]);
      const human = mobius('schedules', 'ls');
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/^PIPELINE +STATE +SCHEDULE +NEXT +TRIGGER +LAST FIRE\n/);
      expect(human.stdout).toContain('hourly');
      expect(human.stdout).toContain('2026-01-01 01:00:00Z');
      expect(human.stdout).toContain('all: raw@0 events@0');

      expect(mobius('schedules', 'pause', 'hourly').stdout).toBe("paused 'hourly'\n");
      expect(json('schedules', 'ls').schedules[0].paused).toBe(true);
      expect(mobius('schedules', 'ls').stdout).toMatch(/hourly +paused/);
      expect(json('schedules', 'resume', 'hourly')).toMatchObject({ paused: false });
    });

    it('says which pipelines exist when the name is wrong (exit 3)', () => {
      const res = mobius('schedules', 'pause', 'hourlyy');
      expect(res.code).toBe(3);
      expect(res.stderr).toContain(
        "no pipeline 'hourlyy' has a schedule or trigger; known: 'hourly'",
      );
    });

    it('with MOBIUS_URL, lists and pauses through the server (editor token)', async () => {
      const admin = 'remote-admin-token-0123456789';
      const t = await openTestContext(backend, { token: admin });
      const app = await buildServer(t.ctx);
      try {
        await t.ctx.scheduler.register(
          pipeline('remote', {
            steps: [step('noop', { run: () => undefined })],
            schedule: { cron: '@daily' },
          }),
        );
        const url = await app.listen({ host: '127.0.0.1', port: 0 });
        const env = { MOBIUS_URL: url, MOBIUS_TOKEN: admin };
        const ls = await mobiusAsync(['--json', 'schedules', 'ls'], env);
        expect(ls.code, ls.stderr).toBe(0);
        expect(JSON.parse(ls.stdout).schedules).toMatchObject([
          { pipeline: 'remote', paused: false },
        ]);
        const paused = await mobiusAsync(['schedules', 'pause', 'remote'], env);
        expect(paused.stdout).toBe("paused 'remote'\n");
        expect((await t.ctx.scheduler.list())[0]!.paused).toBe(true);
        const viewer = (await t.ctx.tokens.create({ name: 'v', role: 'viewer' }, 'test')).secret;
        const denied = await mobiusAsync(['schedules', 'resume', 'remote'], {
          MOBIUS_URL: url,
          MOBIUS_TOKEN: viewer,
        });
        expect(denied.code).toBe(5);
        expect(denied.stderr).toContain('needs the editor role');
      } finally {
        await app.close();
        await t.cleanup();
      }
    });
  });
}
