/**
 * Pipelines with the data domain, on each metadata backend: dataset inputs and outputs
 * (versions, row counts, lineage edges, caching by content hash), check steps through a
 * GateRunner, --resume, steps that modify their inputs or write relative paths, and the
 * startup reaper.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/core/index.js';
import { datasetIO, gateRunner } from '../src/context/index.js';
import {
  PipelineService,
  check,
  pipeline,
  step,
  type GateOutcome,
  type GateRunner,
  type StepFinishedEvent,
} from '../src/pipelines/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS, openTestStore } from './helpers/stores.js';
import { MIGRATIONS } from '../src/store/index.js';
import { ManualClock } from '../src/core/index.js';
import { TrackingService } from '../src/tracking/index.js';
import { dead } from './helpers/child.js';

const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

async function waitFor(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const backend of STORE_BACKENDS) {
  describe(`pipelines with datasets (${backend})`, () => {
    let t: TestContext;
    let dir: string;

    beforeAll(async () => {
      t = await openTestContext(backend);
      dir = mkdtempSync(join(tmpdir(), 'mobius-pipes-data-'));
    });
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    const edges = (runId: string) =>
      t.ctx.store.db
        .selectFrom('edge')
        .select(['relation', 'to_kind', 'to_id'])
        .where('from_kind', '=', 'run')
        .where('from_id', '=', runId)
        .orderBy('relation')
        .orderBy('to_kind')
        .execute();

    it('reads a dataset version as its Parquet copy and registers an output as a new version, with row counts and lineage', async () => {
      writeFileSync(join(dir, 'churn.csv'), 'id,score\n1,0.5\n2,0.9\n3,0.1\n');
      const v1 = (await t.ctx.data.add({ name: 'churn', source: 'churn.csv', cwd: dir })).version;
      let runs = 0;
      const p = pipeline('features', {
        steps: [
          step('featurise', {
            inputs: { rows: 'dataset:churn@latest' },
            outputs: [{ dataset: 'churn_features', as: 'features' }, 'note'],
            run: async (ctx) => {
              runs++;
              const bytes = await readFile(ctx.inputs.rows!);
              // The version's canonical copy: one Parquet file.
              const magic = bytes.subarray(0, 4).toString('latin1');
              await writeFile(ctx.outputs.note!, magic);
              await writeFile(ctx.outputs.features!, 'id,high\n1,false\n2,true\n');
            },
          }),
          step('count', {
            inputs: { features: 'featurise.features' },
            outputs: ['lines'],
            run: { shell: 'wc -l < "$MOBIUS_INPUT_FEATURES" > "$MOBIUS_OUTPUT_LINES"' },
          }),
        ],
      });
      const first = await t.ctx.pipelines.run(p, { baseDir: dir, env: ENV });
      expect(first.status, JSON.stringify(first.steps)).toBe('succeeded');
      const f = first.steps.featurise!;
      expect(await (await t.ctx.blobs.get(f.outputs.note!.sha256)).toArray().then(String)).toBe(
        'PAR1',
      );
      expect(f.datasets.in.rows).toMatchObject({
        dataset: 'churn',
        version: 1,
        rowCount: 3,
        versionId: v1.id,
      });
      const out = f.datasets.out.features!;
      expect(out).toMatchObject({ dataset: 'churn_features', version: 1, rowCount: 2 });
      const registered = await t.ctx.data.get('churn_features@latest');
      expect(registered.runId).toBe(f.trackingRunId);
      expect(registered.rowCount).toBe(2);
      // Lineage: the step consumed the churn version and produced the features version.
      const e = await edges(f.trackingRunId!);
      expect(e).toContainEqual({ relation: 'consumed', to_kind: 'dataset_version', to_id: v1.id });
      expect(e).toContainEqual({
        relation: 'produced',
        to_kind: 'dataset_version',
        to_id: registered.id,
      });
      // The downstream step read the registered output and reports its rows in.
      expect(first.steps.count!.datasets.in.features).toMatchObject({ rowCount: 2 });
      // Recorded for history, and as tracking metrics.
      const stored = await t.ctx.pipelines.steps(first.id);
      expect(stored.find((s) => s.name === 'featurise')!.datasets).toEqual(f.datasets);
      const run = await t.ctx.tracking.runs.get(f.trackingRunId!);
      expect(run.data.metrics.find((m) => m.key === 'rows_in')?.value).toBe(3);
      expect(run.data.metrics.find((m) => m.key === 'rows_out')?.value).toBe(2);

      // Nothing changed: cached, and the versions it registered are reused (no new version).
      const second = await t.ctx.pipelines.run(p, { baseDir: dir, env: ENV });
      expect(second.steps.featurise!.status).toBe('cached');
      expect(second.steps.featurise!.datasets.out.features).toEqual(out);
      expect(runs).toBe(1);
      expect((await t.ctx.data.get('churn_features@latest')).version).toBe(1);

      // A new version of the input with new content: the step reruns, saying why.
      writeFileSync(join(dir, 'churn.csv'), 'id,score\n1,0.5\n2,0.9\n3,0.1\n4,0.7\n');
      await t.ctx.data.add({ name: 'churn', source: 'churn.csv', cwd: dir });
      const explained = await t.ctx.pipelines.explain(p, { baseDir: dir, env: ENV });
      expect(explained[0]!.explain).toBe("would run: input 'rows' changed");
      const third = await t.ctx.pipelines.run(p, { baseDir: dir, env: ENV });
      expect(third.steps.featurise!.status).toBe('succeeded');
      expect(third.steps.featurise!.datasets.in.rows).toMatchObject({ version: 2, rowCount: 4 });
      expect(runs).toBe(2);
    });

    it('fails a step whose dataset input does not exist, or whose dataset output is not valid data', async () => {
      const p = pipeline('bad-data', {
        steps: [
          step('missing', { inputs: { rows: 'dataset:no_such_dataset@3' }, run: () => undefined }),
          step('garbage', {
            outputs: [{ dataset: 'garbage', format: 'parquet' }],
            run: { shell: 'echo "not parquet" > "$MOBIUS_OUTPUT_GARBAGE"' },
          }),
        ],
      });
      const result = await t.ctx.pipelines.run(p, { baseDir: dir, env: ENV });
      expect(result.steps.missing!.status).toBe('failed');
      expect(result.steps.missing!.exitReason).toMatch(
        /step 'missing': dataset input 'no_such_dataset@3': .*no_such_dataset/,
      );
      expect(result.steps.garbage!.status).toBe('failed');
      expect(result.steps.garbage!.exitReason).toMatch(
        /^output 'garbage' could not be added as a version of dataset 'garbage': /,
      );
      await expect(t.ctx.data.get('garbage')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('catches a step that modifies its input copy, and runs commands in a scratch dir', async () => {
      writeFileSync(join(dir, 'in.txt'), 'original\n');
      const p = pipeline('tamper', {
        steps: [
          step('polite', {
            inputs: { x: 'file:in.txt' },
            outputs: ['mode'],
            // The copy is read-only (root ignores the mode bits; the re-hash below does not).
            run: { shell: 'stat -c %a "$MOBIUS_INPUT_X" > "$MOBIUS_OUTPUT_MODE"' },
          }),
          step('rude', {
            inputs: { x: 'file:in.txt' },
            outputs: ['y'],
            run: {
              shell:
                'chmod u+w "$MOBIUS_INPUT_X" && echo more >> "$MOBIUS_INPUT_X" && cp "$MOBIUS_INPUT_X" "$MOBIUS_OUTPUT_Y"',
            },
          }),
          step('relative', {
            outputs: ['cwd'],
            run: { shell: 'echo leaked > leaked.txt && pwd > "$MOBIUS_OUTPUT_CWD"' },
          }),
        ],
      });
      const result = await t.ctx.pipelines.run(p, { baseDir: dir, env: ENV });
      expect(result.steps.polite!.status).toBe('succeeded');
      expect(
        String(await (await t.ctx.blobs.get(result.steps.polite!.outputs.mode!.sha256)).toArray()),
      ).toBe('444\n');
      expect(result.steps.rude!.status).toBe('failed');
      // Sandboxed (bubblewrap here), the write fails in the step; otherwise the re-hash
      // after the attempt finds the change. Either way the step fails saying so.
      expect(result.steps.rude!.exitReason).toMatch(
        /^step (modified|tried to write) its input 'x'; inputs are read-only copies: write results to an output instead/,
      );
      expect(readFileSync(join(dir, 'in.txt'), 'utf8')).toBe('original\n');
      expect(result.steps.relative!.status).toBe('succeeded');
      const cwd = String(
        await (await t.ctx.blobs.get(result.steps.relative!.outputs.cwd!.sha256)).toArray(),
      ).trim();
      expect(cwd).not.toBe(dir);
      expect(cwd).toMatch(/relative\/work$/);
      expect(existsSync(join(dir, 'leaked.txt'))).toBe(false);
    });

    it('check steps: a failing gate halts what comes after it and says why; a warning is recorded and the run goes on', async () => {
      writeFileSync(join(dir, 'orders.csv'), 'id,amount\n1,10\n2,-5\n');
      await t.ctx.data.add({ name: 'orders', source: 'orders.csv', cwd: dir });
      writeFileSync(join(dir, 'strict.yaml'), 'name: strict\n');
      writeFileSync(join(dir, 'lenient.yaml'), 'name: lenient\n');
      const seen: string[] = [];
      // A small in-test gate (the seam); the suite runner itself is the data domain's.
      const gates: GateRunner = {
        async gate(versionRef, suitePath, options): Promise<GateOutcome> {
          seen.push(`${versionRef} ${suitePath.slice(dir.length + 1)} ${options.runId.length > 0}`);
          const version = await t.ctx.data.get(versionRef);
          return suitePath.endsWith('strict.yaml')
            ? {
                status: 'fail',
                errors: [`between(amount, 0, 100): 1 of ${version.rowCount} rows unexpected`],
                warnings: [],
              }
            : { status: 'warn', errors: [], warnings: ['row_count_between(100, 1000): 2 rows'] };
        },
      };
      const service = new PipelineService({
        store: t.ctx.store,
        blobs: t.ctx.blobs,
        tracking: t.ctx.tracking,
        clock: t.ctx.clock,
        datasets: datasetIO(t.ctx.data),
        gates,
      });
      const p = pipeline('gated', {
        steps: [
          step('copy', {
            inputs: { rows: 'dataset:orders' },
            outputs: [{ dataset: 'orders_copy', as: 'copy', format: 'parquet' }],
            run: async (ctx) => writeFile(ctx.outputs.copy!, await readFile(ctx.inputs.rows!)),
          }),
          check('soft', { dataset: 'copy.copy', suite: 'lenient.yaml' }),
          check('hard', { dataset: 'dataset:orders@latest', suite: 'strict.yaml' }),
          step('after-soft', { after: ['soft'], run: () => undefined }),
          step('after-hard', { after: ['hard'], run: () => undefined }),
          step('later', { after: ['after-hard'], run: () => undefined }),
        ],
      });
      const result = await service.run(p, { baseDir: dir, env: ENV });
      expect(seen.sort()).toEqual(['orders@1 strict.yaml true', 'orders_copy@1 lenient.yaml true']);
      expect(result.steps.soft!.status).toBe('succeeded');
      expect(result.steps.soft!.warnings).toEqual([
        'quality gate warning: row_count_between(100, 1000): 2 rows',
      ]);
      expect(result.steps['after-soft']!.status).toBe('succeeded');
      expect(result.steps.hard!.status).toBe('failed');
      expect(result.steps.hard!.exitReason).toBe(
        'quality gate failed: 1 error expectation on orders@1: between(amount, 0, 100): 1 of 2 rows unexpected',
      );
      expect(result.steps['after-hard']!.status).toBe('skipped');
      expect(result.steps['after-hard']!.explain).toBe(
        "not run: upstream step 'hard' failed: quality gate failed: 1 error expectation on orders@1: between(amount, 0, 100): 1 of 2 rows unexpected",
      );
      expect(result.steps.later!.explain).toBe("not run: upstream step 'after-hard' was not run");
      const soft = await t.ctx.tracking.runs.get(result.steps.soft!.trackingRunId!);
      expect(soft.data.tags['mobius.warnings']).toMatch(/row_count_between/);
      expect(
        (await service.steps(result.id)).find((s) => s.name === 'soft')!.warnings,
      ).toHaveLength(1);
      // Without a gate runner, a check fails saying what is missing.
      const gateless = new PipelineService({
        store: t.ctx.store,
        blobs: t.ctx.blobs,
        tracking: t.ctx.tracking,
        clock: t.ctx.clock,
        datasets: datasetIO(t.ctx.data),
      });
      const bare = await gateless.run(
        pipeline('gate-less', {
          steps: [check('hard', { dataset: 'dataset:orders', suite: 'strict.yaml' })],
        }),
        { baseDir: dir, env: ENV },
      );
      expect(bare.steps.hard!.exitReason ?? '').toMatch(
        /quality gates need the data domain's checks/,
      );
    });

    it('check steps on the real suite runner: an error expectation failing halts downstream, a warning is recorded and the run goes on', async () => {
      writeFileSync(join(dir, 'payments.csv'), 'id,amount\n1,10\n2,-5\n3,7\n');
      await t.ctx.data.add({ name: 'payments', source: 'payments.csv', cwd: dir });
      writeFileSync(
        join(dir, 'payments-strict.yaml'),
        'name: strict\nexpectations:\n  - expect: not_null\n    column: id\n  - expect: between\n    column: amount\n    min: 0\n    max: 100\n',
      );
      writeFileSync(
        join(dir, 'payments-lenient.yaml'),
        'name: lenient\nexpectations:\n  - expect: row_count_between\n    min: 100\n    max: 1000\n    severity: warn\n',
      );
      const p = pipeline('real-gates', {
        steps: [
          step('copy', {
            inputs: { rows: 'dataset:payments' },
            outputs: [{ dataset: 'payments_copy', as: 'copy', format: 'parquet' }],
            run: async (ctx) => writeFile(ctx.outputs.copy!, await readFile(ctx.inputs.rows!)),
          }),
          check('soft', { dataset: 'copy.copy', suite: 'payments-lenient.yaml' }),
          check('hard', { dataset: 'dataset:payments@latest', suite: 'payments-strict.yaml' }),
          step('after-soft', { after: ['soft'], run: () => undefined }),
          step('after-hard', {
            inputs: { rows: 'copy.copy' },
            after: ['hard'],
            run: () => undefined,
          }),
        ],
      });
      const finished: StepFinishedEvent[] = [];
      const service = new PipelineService({
        store: t.ctx.store,
        blobs: t.ctx.blobs,
        tracking: t.ctx.tracking,
        clock: t.ctx.clock,
        datasets: datasetIO(t.ctx.data),
        gates: gateRunner(t.ctx.checks),
        listeners: [{ stepFinished: (e) => void finished.push(e) }],
      });
      const result = await service.run(p, { baseDir: dir, env: ENV });
      expect(result.status).toBe('failed');
      // Listeners (OpenLineage) get each expectation's verdict about the checked input.
      expect(finished.find((e) => e.step === 'hard')!.assertions).toEqual([
        {
          input: 'data',
          results: [
            expect.objectContaining({ assertion: 'not_null', column: 'id', success: true }),
            expect.objectContaining({
              assertion: 'between',
              column: 'amount',
              success: false,
              severity: 'error',
            }),
          ],
        },
      ]);
      const hard = result.steps.hard!;
      expect(hard.status).toBe('failed');
      expect(hard.exitReason).toBe(
        'quality gate failed: 1 error expectation on payments@1: #2 between(amount): 1 unexpected (33.33%)',
      );
      expect(hard.datasets.in.data).toMatchObject({ dataset: 'payments', version: 1, rowCount: 3 });
      expect(result.steps['after-hard']!.status).toBe('skipped');
      expect(result.steps['after-hard']!.explain).toBe(
        `not run: upstream step 'hard' failed: ${hard.exitReason}`,
      );
      const soft = result.steps.soft!;
      expect(soft.status).toBe('succeeded');
      expect(soft.warnings).toEqual(['quality gate warning: #1 row_count_between: observed 3']);
      // Ran (or was a cache hit: the same step in the previous test's pipeline).
      expect(['succeeded', 'cached']).toContain(result.steps['after-soft']!.status);
      // Each gate is a stored check run linked to its step's tracking run.
      const linked = await t.ctx.store.db
        .selectFrom('check_run')
        .select(['run_id', 'status'])
        .where('run_id', 'in', [hard.trackingRunId!, soft.trackingRunId!])
        .orderBy('status')
        .execute();
      expect(linked).toEqual([
        { run_id: hard.trackingRunId, status: 'fail' },
        { run_id: soft.trackingRunId, status: 'warn' },
      ]);
      // A suite that does not exist fails the gate saying so (no silent pass).
      const missing = await t.ctx.pipelines.run(
        pipeline('gate-typo', {
          steps: [check('hard', { dataset: 'dataset:payments', suite: 'nope.yaml', cache: false })],
        }),
        { baseDir: dir, env: ENV },
      );
      expect(missing.steps.hard!.status).toBe('failed');
      expect(missing.steps.hard!.exitReason).toMatch(
        /^step 'hard': cannot read its suite file 'nope\.yaml' \(.*nope\.yaml\): ENOENT/,
      );
    });

    it('--resume reuses what succeeded in the named run and reruns the rest', async () => {
      const flag = join(dir, 'fixed.flag');
      const calls = { a: 0 };
      const p = pipeline('resumable', {
        params: { n: 1 },
        steps: [
          step('a', {
            outputs: ['x'],
            params: ['n'],
            cache: false, // only --resume can skip it
            run: async (ctx) => {
              calls.a++;
              await writeFile(ctx.outputs.x!, `a${String(ctx.params.n)}`);
            },
          }),
          step('b', {
            inputs: { x: 'a.x' },
            outputs: ['y'],
            run: [
              'sh',
              '-c',
              `test -e ${JSON.stringify(flag)} && cp "$MOBIUS_INPUT_X" "$MOBIUS_OUTPUT_Y"`,
            ],
          }),
          step('c', {
            inputs: { y: 'b.y' },
            outputs: ['z'],
            run: { shell: 'cp "$MOBIUS_INPUT_Y" "$MOBIUS_OUTPUT_Z"' },
          }),
        ],
      });
      const failed = await t.ctx.pipelines.run(p, { baseDir: dir, env: ENV, params: { n: 5 } });
      expect(failed.status).toBe('failed');
      expect(failed.steps.b!.status).toBe('failed');
      expect(failed.steps.c!.status).toBe('skipped');
      writeFileSync(flag, '');
      const resumed = await t.ctx.pipelines.run(p, { baseDir: dir, env: ENV, resume: failed.id });
      expect(resumed.status).toBe('succeeded');
      expect(calls.a).toBe(1);
      expect(resumed.steps.a!.status).toBe('cached');
      expect(resumed.steps.a!.explain).toMatch(
        new RegExp(`^skipped: resumed from pipeline run ${failed.id} \\(step run `),
      );
      // The resumed run's params are the defaults: a ran with n=5, and b read its output.
      expect(
        String(await (await t.ctx.blobs.get(resumed.steps.c!.outputs.z!.sha256)).toArray()),
      ).toBe('a5');
      expect((await t.ctx.pipelines.getRun(resumed.id)).resumedFrom).toBe(failed.id);
      await expect(
        t.ctx.pipelines.run(p, { baseDir: dir, env: ENV, resume: 'nope' }),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' });
      const other = pipeline('other', { steps: [step('a', { run: () => undefined })] });
      await expect(
        t.ctx.pipelines.run(other, { baseDir: dir, env: ENV, resume: failed.id }),
      ).rejects.toThrow(/is of pipeline 'resumable', not 'other'/);
    });

    it('records the process group of a running command, and the reaper kills it and marks the step failed when its Mobius is dead', async () => {
      // A real running step, as its Mobius records it: the pid appears on the RUNNING row.
      const live = t.ctx.pipelines.run(
        pipeline('recorded', {
          steps: [step('sleepy', { run: ['sleep', '30'], timeoutMs: 20_000 })],
        }),
        { baseDir: dir, env: ENV, signal: AbortSignal.timeout(3000) },
      );
      let row: { pid: number | null; host: string | null; owner_pid: number | null } | undefined;
      await waitFor('the step pid', async () => {
        row = await t.ctx.store.db
          .selectFrom('step_run')
          .select(['pid', 'host', 'owner_pid'])
          .where('pipeline', '=', 'recorded')
          .where('status', '=', 'RUNNING')
          .executeTakeFirst();
        return row?.pid != null;
      });
      expect(row).toMatchObject({ host: hostname(), owner_pid: process.pid });
      expect(dead(row!.pid!)).toBe(false);
      // Our own process is alive: the reaper leaves its rows alone.
      expect((await t.ctx.pipelines.reap()).steps).toEqual([]);
      expect((await live).steps.sleepy!.status).toBe('killed');

      // A Mobius that died mid-step: its owner pid is gone, its step's group still runs.
      const gone = spawnSync('true');
      const deadOwner = gone.pid;
      const group = spawn('sh', ['-c', 'sleep 300 & sleep 300'], {
        detached: true,
        stdio: 'ignore',
      });
      const liveOwner = spawn('sleep', ['300'], { stdio: 'ignore' });
      try {
        const tracking = await t.ctx.tracking.runs.create({
          experimentId: '0',
          name: 'orphan',
        });
        const pipelineRunId = newId();
        const now = Date.now();
        await t.ctx.store.write(async (trx) => {
          await trx
            .insertInto('pipeline_run')
            .values({
              id: pipelineRunId,
              pipeline: 'orphaned',
              tracking_run_id: tracking.info.id,
              status: 'RUNNING',
              params: '{}',
              started_at: now,
              ended_at: null,
              host: hostname(),
              owner_pid: deadOwner,
            })
            .execute();
          for (const [step, owner, pid, trackingRunId] of [
            ['train', deadOwner, group.pid!, tracking.info.id],
            ['other-host', deadOwner, null, null],
            ['alive-owner', liveOwner.pid!, null, null],
          ] as const)
            await trx
              .insertInto('step_run')
              .values({
                id: newId(),
                pipeline_run_id: pipelineRunId,
                pipeline: 'orphaned',
                step,
                tracking_run_id: trackingRunId,
                status: 'RUNNING',
                attempts: 1,
                explain: 'ran: no earlier run of this step',
                started_at: now,
                host: step === 'other-host' ? 'another-machine' : hostname(),
                owner_pid: owner,
                pid,
              })
              .execute();
        });
        const reaped = await t.ctx.pipelines.reap();
        expect(reaped.steps).toEqual([
          expect.objectContaining({ step: 'train', pid: group.pid, killed: true, pipelineRunId }),
        ]);
        expect(reaped.pipelineRuns).toEqual([pipelineRunId]);
        await waitFor('the group to die', () => dead(group.pid!));
        const steps = await t.ctx.pipelines.steps(pipelineRunId);
        const train = steps.find((s) => s.name === 'train')!;
        expect(train.status).toBe('failed');
        expect(train.exitReason).toBe(
          `the Mobius process ${deadOwner} on ${hostname()} that ran this step died while it was running; its process group ${group.pid} was still running and was killed`,
        );
        expect(steps.find((s) => s.name === 'other-host')!.status).toBe('RUNNING');
        expect(steps.find((s) => s.name === 'alive-owner')!.status).toBe('RUNNING');
        expect((await t.ctx.pipelines.getRun(pipelineRunId)).status).toBe('FAILED');
        expect((await t.ctx.tracking.runs.get(tracking.info.id)).info.status).toBe('FAILED');
        // Idempotent: nothing left to reap.
        expect((await t.ctx.pipelines.reap()).steps).toEqual([]);
      } finally {
        for (const child of [group, liveOwner])
          try {
            process.kill(child === group ? -group.pid! : child.pid!, 'SIGKILL');
          } catch {
            // already gone
          }
      }
    });

    it('upgrades a store with pipeline runs from before migration 019: history reads, the reaper leaves owner-less rows', async () => {
      const names = Object.keys(MIGRATIONS);
      const before = names[names.indexOf('019-step-processes') - 1]!;
      const old = await openTestStore(backend, { migrate: false });
      try {
        await old.store.migrate({ to: before });
        await old.store.write(async (trx) => {
          await trx
            .insertInto('pipeline_run')
            .values({
              id: 'p1',
              pipeline: 'legacy',
              tracking_run_id: 'r0',
              status: 'RUNNING',
              params: '{"n":1}',
              started_at: 1,
              ended_at: null,
            })
            .execute();
          for (const [id, status] of [
            ['s1', 'succeeded'],
            ['s2', 'RUNNING'],
          ] as const)
            await trx
              .insertInto('step_run')
              .values({
                id,
                pipeline_run_id: 'p1',
                pipeline: 'legacy',
                step: id,
                tracking_run_id: null,
                status,
                attempts: 1,
                cache_key: null,
                cache_parts: null,
                explain: 'ran: no earlier run of this step',
                exit_code: null,
                signal: null,
                exit_reason: null,
                started_at: 1,
                ended_at: null,
                wall_ms: 5,
                cpu_ms: null,
                peak_rss_bytes: null,
                outputs: '{}',
              })
              .execute();
        });
        await old.store.migrate();
        const clock = new ManualClock(1_700_000_000_000);
        const service = new PipelineService({
          store: old.store,
          blobs: t.ctx.blobs,
          tracking: new TrackingService(old.store, t.ctx.blobs, clock),
          clock,
        });
        const steps = await service.steps('p1');
        expect(steps.map((s) => [s.name, s.status, s.datasets, s.warnings])).toEqual([
          ['s1', 'succeeded', { in: {}, out: {} }, []],
          ['s2', 'RUNNING', { in: {}, out: {} }, []],
        ]);
        expect(await service.getRun('p1')).toMatchObject({ status: 'RUNNING', resumedFrom: null });
        // No recorded owner: whether it is alive cannot be told, so nothing is touched.
        expect(await service.reap()).toEqual({ steps: [], pipelineRuns: [] });
      } finally {
        await old.cleanup();
      }
    });
  });
}
