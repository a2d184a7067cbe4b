/**
 * `mobius run --sample N` and `mobius run --executor local|queue` (and the config's
 * `pipelines.executor` and `pipelines.pools`) through bin/mobius.js over the built CLI.
 * Sample runs on every metadata backend; the queue on PostgreSQL with a real `mobius
 * worker` process, and its refusal on SQLite saying what to configure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQueue } from '../src/pipelines/index.js';
import { openStore, sql } from '../src/store/index.js';
import { STORE_BACKENDS, freshLocation } from './helpers/stores.js';

const BIN = fileURLToPath(new URL('../bin/mobius.js', import.meta.url));
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

/** A dataset step (copies the sampled or whole Parquet input to a dataset output) and a command step. */
const PIPELINE = `import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { pipeline, step } from 'mobius';

export default pipeline('orders', {
  steps: [
    step('prep', {
      inputs: { orders: 'dataset:orders', notes: 'file:notes.txt' },
      outputs: [{ dataset: 'orders_clean', as: 'clean', format: 'parquet' }],
      run: async (ctx) => {
        await readFile(ctx.inputs.notes!, 'utf8');
        await copyFile(ctx.inputs.orders!, ctx.outputs.clean!);
      },
    }),
    step('who', {
      outputs: ['pid'],
      after: ['prep'],
      run: ['sh', '-c', 'echo "$PPID" > "$MOBIUS_OUTPUT_PID"'],
    }),
  ],
});
`;

for (const backend of STORE_BACKENDS) {
  describe(`mobius run --sample / --executor: ${backend}`, () => {
    let dir: string;
    let location: string;
    let remove: () => Promise<void>;
    const workers: ChildProcess[] = [];
    const home = () => join(dir, '.mobius');
    const mobius = (...rest: string[]) => {
      const res = spawnSync(
        process.execPath,
        [BIN, '--store', location, '--home', home(), ...rest],
        { cwd: dir, env: ENV, encoding: 'utf8' },
      );
      return { code: res.status, stdout: res.stdout, stderr: res.stderr };
    };
    const result = (stdout: string) =>
      JSON.parse(stdout.trim().split('\n').at(-1)!) as {
        type: string;
        status: string;
        sample?: { rows: number; seed: number; unsampled: string[] };
        steps: Record<
          string,
          {
            status: string;
            outputs: Record<string, { sha256: string }>;
            datasets: {
              in: Record<string, { dataset: string; rowCount: number }>;
              out: Record<string, { dataset: string; version: number; rowCount: number }>;
            };
          }
        >;
      };

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'mobius-cli-options-'));
      ({ location, remove } = freshLocation(backend));
      writeFileSync(join(dir, 'orders.pipeline.ts'), PIPELINE);
      writeFileSync(join(dir, 'notes.txt'), 'whole\n');
      const lines = ['id,value'];
      for (let i = 1; i <= 200; i++) lines.push(`${i},${i % 7}`);
      writeFileSync(join(dir, 'orders.csv'), `${lines.join('\n')}\n`);
    });
    afterAll(async () => {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
      if (backend === 'postgres') {
        const { queueLocation } = await loadQueue();
        const { queueSchema } = queueLocation(location);
        const store = await openStore(location);
        await sql`drop schema if exists ${sql.id(queueSchema)} cascade`.execute(store.db);
        await store.close();
      }
      await remove();
      rmSync(dir, { recursive: true, force: true });
    }, 120_000);

    it('--sample N runs on N-row samples into sample.<name>, says so, and leaves the real datasets alone', () => {
      const added = mobius('data', 'add', 'orders', 'orders.csv');
      expect(added.code).toBe(0);
      const sample = mobius('run', 'orders', '--sample', '12', '--seed', '3');
      expect(sample.stderr).toBe('');
      expect(sample.code).toBe(0);
      expect(sample.stdout).toContain(
        'SAMPLE RUN: dataset inputs sampled to 12 rows (seed 3) into sample.<name>; dataset outputs added to sample.<name>, the real datasets are unchanged',
      );
      expect(sample.stdout).toContain(
        'not sampled (files, passed as they are): prep.notes (file:notes.txt)',
      );
      expect(sample.stdout).toMatch(
        /prep\s.*12 \(sample\.orders@1\)\s+12 \(sample\.orders_clean@1\)/,
      );
      // The real output dataset was never created.
      const show = mobius('data', 'show', 'orders_clean');
      expect(show.code).not.toBe(0);
      expect(show.stderr).toMatch(/orders_clean/);

      // A full run after it reuses nothing of the sample's: it runs on all 200 rows.
      const full = mobius('run', 'orders', '--json');
      expect(full.code).toBe(0);
      const r = result(full.stdout);
      expect(r.sample).toBeUndefined();
      expect(r.steps.prep!.status).toBe('succeeded');
      expect(r.steps.prep!.datasets.out.clean).toMatchObject({
        dataset: 'orders_clean',
        version: 1,
        rowCount: 200,
      });
      // Flags are checked.
      const bad = mobius('run', 'orders', '--sample', '0');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--sample must be a whole number ≥ 1, not '0'/);
      expect(mobius('run', 'orders', '--seed', '1').stderr).toMatch(/--seed is for sample runs/);
    });

    it('the config names pools; a step in an undefined pool fails the load naming the step', () => {
      writeFileSync(
        join(dir, 'pooled.pipeline.yaml'),
        'name: pooled\nsteps:\n  - { name: train, run: [echo, hi], pool: gpu }\n',
      );
      const missing = mobius('run', 'pooled');
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/step 'train': pool 'gpu' is not defined/);
      writeFileSync(join(dir, 'mobius.yaml'), 'pipelines:\n  pools: { gpu: 1 }\n');
      try {
        const ok = mobius('run', 'pooled');
        expect(ok.stderr).toBe('');
        expect(ok.code).toBe(0);
      } finally {
        rmSync(join(dir, 'mobius.yaml'));
      }
    });

    if (backend === 'sqlite')
      it('--executor queue (or pipelines.executor: queue) on SQLite says what to configure', () => {
        const flag = mobius('run', 'orders', '--executor', 'queue');
        expect(flag.code).toBe(2);
        expect(flag.stderr).toMatch(
          /executor 'queue' needs a PostgreSQL store.*store: postgres:\/\/.*--executor local/,
        );
        writeFileSync(join(dir, 'mobius.yaml'), 'pipelines:\n  executor: queue\n');
        try {
          const config = mobius('run', 'orders');
          expect(config.code).toBe(2);
          expect(config.stderr).toMatch(/pipelines\.executor: local/);
          // The flag wins over the config.
          expect(mobius('run', 'orders', '--executor', 'local').code).toBe(0);
        } finally {
          rmSync(join(dir, 'mobius.yaml'));
        }
        expect(mobius('run', 'orders', '--executor', 'k8s').stderr).toMatch(
          /Allowed choices are local, queue/,
        );
      });

    if (backend === 'postgres')
      it('--executor queue and pipelines.executor: queue send the steps to a real mobius worker', async () => {
        expect(mobius('data', 'add', 'orders', 'orders.csv').code).toBe(0); // migrates, too
        const child = spawn(process.execPath, [BIN, 'worker', '--json', '--heartbeat-ms', '200'], {
          env: {
            ...ENV,
            MOBIUS_STORE: location,
            MOBIUS_BLOBS: `file:${join(home(), 'blobs')}`,
            MOBIUS_HOME: join(dir, 'worker-home'),
            MOBIUS_LOG_LEVEL: 'warn',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        workers.push(child);
        const workerId = await new Promise<string>((resolve, reject) => {
          let out = '';
          let err = '';
          child.stderr.on('data', (d: Buffer) => (err += d.toString()));
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('\n'))
              resolve((JSON.parse(out.split('\n')[0]!) as { worker: string }).worker);
          });
          child.on('exit', (code) => reject(new Error(`worker exited ${code}: ${err}`)));
        });
        const ranOn = async (pipelineRunId: string) => {
          const store = await openStore(location);
          try {
            const rows = await sql<{ step: string; worker_id: string | null }>`
              select s.step, a.worker_id from step_attempt a join step_run s on s.id = a.step_run_id
              where s.pipeline_run_id = ${pipelineRunId} order by s.step`.execute(store.db);
            return rows.rows;
          } finally {
            await store.close();
          }
        };

        // Run through the flag (forced, so nothing is a cache hit of the local runs above).
        const viaFlag = spawnSync(
          process.execPath,
          [
            BIN,
            '--store',
            location,
            '--home',
            home(),
            'run',
            'orders',
            '--executor',
            'queue',
            '--force',
            '--json',
          ],
          { cwd: dir, env: ENV, encoding: 'utf8', timeout: 120_000 },
        );
        expect(viaFlag.stderr).toBe('');
        expect(viaFlag.status, viaFlag.stdout.split('\n').at(-2)).toBe(0);
        const flagged = result(viaFlag.stdout);
        expect(flagged.status).toBe('succeeded');
        // The dataset step's output was added on the coordinator as usual.
        expect(flagged.steps.prep!.datasets.out.clean).toMatchObject({ dataset: 'orders_clean' });
        const viaFlagRun = (JSON.parse(viaFlag.stdout.trim().split('\n').at(-1)!) as { id: string })
          .id;
        expect(await ranOn(viaFlagRun)).toEqual([
          { step: 'prep', worker_id: workerId },
          { step: 'who', worker_id: workerId },
        ]);

        // The same through the config, with no flag.
        writeFileSync(join(dir, 'mobius.yaml'), 'pipelines:\n  executor: queue\n');
        try {
          const viaConfig = spawnSync(
            process.execPath,
            [
              BIN,
              '--store',
              location,
              '--home',
              home(),
              'run',
              'orders',
              '--force',
              'who',
              '--json',
            ],
            { cwd: dir, env: ENV, encoding: 'utf8', timeout: 120_000 },
          );
          expect(viaConfig.stderr).toBe('');
          expect(viaConfig.status).toBe(0);
          const id = (JSON.parse(viaConfig.stdout.trim().split('\n').at(-1)!) as { id: string }).id;
          // prep is a cache hit (not enqueued); who ran on the worker.
          expect(await ranOn(id)).toEqual([{ step: 'who', worker_id: workerId }]);
        } finally {
          rmSync(join(dir, 'mobius.yaml'));
        }
      }, 180_000);
  });
}
