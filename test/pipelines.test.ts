/**
 * Pipelines end to end on each metadata backend: a TypeScript, a Python and a shell step;
 * caching (nothing changed = no step work; one changed input = only its dependents);
 * timeouts, forked children, shell metacharacters, retries and huge stdout.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/core/index.js';
import { PipelineService, pipeline, step } from '../src/pipelines/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';
import { dead } from './helpers/child.js';

const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
}

for (const backend of STORE_BACKENDS) {
  describe(`pipelines (${backend})`, () => {
    let t: TestContext;
    let dir: string;
    let clock: ManualClock;
    let service: PipelineService;
    const sleeps: number[] = [];

    beforeAll(async () => {
      t = await openTestContext(backend);
      dir = mkdtempSync(join(tmpdir(), 'mobius-pipes-'));
      clock = new ManualClock(1_700_000_000_000);
      service = new PipelineService({
        store: t.ctx.store,
        blobs: t.ctx.blobs,
        tracking: t.ctx.tracking,
        clock,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
      });
    });
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('runs a TypeScript, a Python and a shell step, caches them, and reruns only what changed', async () => {
      writeFileSync(join(dir, 'words.txt'), 'alpha beta gamma\n');
      writeFileSync(join(dir, 'other.txt'), 'unrelated\n');
      const calls = { upper: 0, side: 0 };
      const ran = join(dir, 'python-ran.log');
      const p = pipeline('three-languages', {
        params: { suffix: '!' },
        steps: [
          step('upper', {
            inputs: { words: 'file:words.txt' },
            outputs: ['upper'],
            params: ['suffix'],
            run: async (ctx) => {
              calls.upper++;
              const words = await readFile(ctx.inputs.words!, 'utf8');
              await writeFile(
                ctx.outputs.upper!,
                words.trim().toUpperCase() + String(ctx.params.suffix),
              );
            },
          }),
          step('count', {
            inputs: { text: 'upper.upper' },
            outputs: ['count'],
            // It records each run in a file of the test's, outside its outputs: the opt-out.
            sandbox: false,
            run: [
              'python3',
              '-c',
              [
                'import os',
                `open(${JSON.stringify(ran)}, "a").write(os.environ["MOBIUS_RUN_ID"] + "\\n")`,
                'words = open(os.environ["MOBIUS_INPUT_TEXT"]).read().split()',
                'open(os.environ["MOBIUS_OUTPUT_COUNT"], "w").write(str(len(words)))',
                'print("counted", len(words))',
              ].join('\n'),
            ],
          }),
          step('report', {
            inputs: { count: 'count.count', text: 'upper.upper' },
            outputs: ['report'],
            run: {
              shell:
                'printf "%s words: %s" "$(cat "$MOBIUS_INPUT_COUNT")" "$(cat "$MOBIUS_INPUT_TEXT")" > "$MOBIUS_OUTPUT_REPORT"',
            },
          }),
          step('side', {
            inputs: { other: 'file:other.txt' },
            outputs: ['copy'],
            run: async (ctx) => {
              calls.side++;
              await writeFile(ctx.outputs.copy!, await readFile(ctx.inputs.other!));
            },
          }),
        ],
      });

      const first = await service.run(p, { baseDir: dir, env: ENV, concurrency: 2 });
      expect(first.status).toBe('succeeded');
      for (const s of Object.values(first.steps)) expect(s.status, s.name).toBe('succeeded');
      const report = first.steps.report!.outputs.report!;
      expect(await text(await t.ctx.blobs.get(report.sha256))).toBe('3 words: ALPHA BETA GAMMA!');
      expect(first.steps.count!.explain).toBe('ran: no earlier run of this step');
      expect(first.steps.count!.cpuMs).toBeTypeOf('number');
      expect(first.steps.count!.peakRssBytes).toBeGreaterThan(0);

      // Every step is a child tracking run of the pipeline's run, with its logs and lineage.
      const count = await t.ctx.tracking.runs.get(first.steps.count!.trackingRunId!);
      expect(count.info.parentRunId).toBe(first.trackingRunId);
      expect(count.info.status).toBe('FINISHED');
      expect(count.data.tags['mlflow.parentRunId']).toBe(first.trackingRunId);
      expect(readFileSync(ran, 'utf8').trim()).toBe(count.info.id);
      const root = count.info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
      const log = await t.ctx.tracking.artifacts.open(`${root}/logs/stdout.log`);
      expect(await text(log.stream)).toBe('counted 3\n');
      // It wrote nothing on stderr: an empty log is not stored.
      await expect(t.ctx.tracking.artifacts.open(`${root}/logs/stderr.log`)).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      // Its output is an artifact of its run, pointing at the blob the step stored.
      const countOut = await t.ctx.tracking.artifacts.open(`${root}/outputs/count`);
      expect(await text(countOut.stream)).toBe('3');
      const outRow = await t.ctx.store.db
        .selectFrom('artifact')
        .select(['sha256', 'run_id'])
        .where('path', '=', `${root}/outputs/count`)
        .executeTakeFirstOrThrow();
      expect(outRow).toEqual({
        sha256: first.steps.count!.outputs.count!.sha256,
        run_id: count.info.id,
      });
      const edges = await t.ctx.store.db
        .selectFrom('edge')
        .select(['to_id', 'relation'])
        .where('from_id', '=', count.info.id)
        .execute();
      expect(edges).toEqual(
        expect.arrayContaining([
          { to_id: first.steps.upper!.outputs.upper!.sha256, relation: 'consumed' },
          { to_id: first.steps.count!.outputs.count!.sha256, relation: 'produced' },
        ]),
      );
      const parent = await t.ctx.tracking.runs.get(first.trackingRunId);
      expect(parent.info.status).toBe('FINISHED');

      // Nothing changed: no step does any work; all are recorded as cached.
      clock.advance(1000);
      const second = await service.run(p, { baseDir: dir, env: ENV });
      expect(Object.values(second.steps).map((s) => s.status)).toEqual([
        'cached',
        'cached',
        'cached',
        'cached',
      ]);
      expect(calls).toEqual({ upper: 1, side: 1 });
      expect(readFileSync(ran, 'utf8').trim().split('\n')).toHaveLength(1);
      expect(second.steps.count!.explain).toMatch(/^skipped: cache hit/);
      expect(second.steps.report!.outputs).toEqual(first.steps.report!.outputs);
      const cached = await t.ctx.tracking.runs.get(second.steps.count!.trackingRunId!);
      expect(cached.data.tags['mobius.cached']).toBe('true');
      expect((await service.steps(second.id)).map((s) => s.status)).toEqual([
        'cached',
        'cached',
        'cached',
        'cached',
      ]);

      const unchanged = await service.explain(p, { baseDir: dir, env: ENV });
      expect(unchanged.map((e) => e.willRun)).toEqual([false, false, false, false]);
      expect(unchanged[1]!.cacheKey).toBe(second.steps.count!.cacheKey);

      // One input changes: its step and everything downstream rerun; the other branch does not.
      clock.advance(1000);
      writeFileSync(join(dir, 'words.txt'), 'alpha beta gamma delta\n');
      const third = await service.run(p, { baseDir: dir, env: ENV });
      expect(third.steps.upper!.status).toBe('succeeded');
      expect(third.steps.upper!.explain).toBe("ran: input 'words' changed");
      expect(third.steps.count!.status).toBe('succeeded');
      expect(third.steps.count!.explain).toBe("ran: input 'text' changed");
      expect(third.steps.report!.status).toBe('succeeded');
      expect(third.steps.side!.status).toBe('cached');
      expect(calls).toEqual({ upper: 2, side: 1 });
      const report3 = third.steps.report!.outputs.report!;
      expect(await text(await t.ctx.blobs.get(report3.sha256))).toBe(
        '4 words: ALPHA BETA GAMMA DELTA!',
      );

      // A param change reruns the steps that read it; force reruns a named step.
      const before = await service.explain(p, { baseDir: dir, env: ENV, params: { suffix: '?' } });
      expect(before.map((e) => [e.name, e.willRun, e.explain])).toEqual([
        ['upper', true, "would run: param 'suffix' changed"],
        ['count', true, "would run: upstream step 'upper' would run"],
        ['report', true, "would run: upstream step 'count' would run"],
        ['side', false, expect.stringMatching(/^would skip: cache hit/)],
      ]);
      expect(calls).toEqual({ upper: 2, side: 1 });
      clock.advance(1000);
      const fourth = await service.run(p, {
        baseDir: dir,
        env: ENV,
        params: { suffix: '?' },
        force: ['side'],
      });
      expect(fourth.steps.upper!.explain).toBe("ran: param 'suffix' changed");
      expect(fourth.steps.side!.explain).toBe('ran: forced');
      expect(calls).toEqual({ upper: 3, side: 2 });
      await expect(service.run(p, { params: { nope: 1 } })).rejects.toThrow(/has no param 'nope'/);
    });

    it('kills a step that never exits, reports it, stops its dependents and lets other branches finish', async () => {
      const p = pipeline('hangs', {
        steps: [
          step('hang', {
            outputs: ['out'],
            timeoutMs: 300,
            run: ['python3', '-c', 'import time\nwhile True: time.sleep(1)'],
          }),
          step('after', { inputs: { x: 'hang.out' }, run: () => undefined }),
          step('independent', {
            outputs: ['out'],
            run: ['sh', '-c', 'sleep 0.5; echo ok > "$MOBIUS_OUTPUT_OUT"'],
          }),
        ],
      });
      clock.advance(1000);
      const result = await service.run(p, { baseDir: dir, env: ENV, concurrency: 2 });
      expect(result.status).toBe('failed');
      const hang = result.steps.hang!;
      expect(hang.status).toBe('killed');
      expect(hang.signal).toBe('SIGTERM');
      expect(hang.exitReason).toMatch(/timed out after 300 ms/);
      expect(result.steps.after!.status).toBe('skipped');
      expect(result.steps.after!.explain).toBe("not run: upstream step 'hang' killed");
      expect(result.steps.independent!.status).toBe('succeeded');
      const run = await t.ctx.tracking.runs.get(hang.trackingRunId!);
      expect(run.info.status).toBe('KILLED');
      expect(run.info.endTime).not.toBeNull();
      const rows = await t.ctx.store.db
        .selectFrom('step_run')
        .select(['step', 'status', 'signal'])
        .where('pipeline_run_id', '=', result.id)
        .orderBy('step')
        .execute();
      expect(rows).toEqual([
        { step: 'after', status: 'skipped', signal: null },
        { step: 'hang', status: 'killed', signal: 'SIGTERM' },
        { step: 'independent', status: 'succeeded', signal: null },
      ]);
      expect((await t.ctx.tracking.runs.get(result.trackingRunId)).info.status).toBe('FAILED');
    });

    it('fails a step whose input file is missing, naming it, and runs the rest', async () => {
      const p = pipeline('missing-file', {
        steps: [
          step('reads', { inputs: { data: 'file:does-not-exist.csv' }, run: () => undefined }),
          step('fine', { run: () => undefined }),
        ],
      });
      clock.advance(1000);
      const result = await service.run(p, { baseDir: dir, env: ENV });
      expect(result.status).toBe('failed');
      expect(result.steps.reads!.status).toBe('failed');
      expect(result.steps.reads!.exitReason).toMatch(
        /step 'reads': cannot read input file '.*does-not-exist.csv'/,
      );
      expect(result.steps.fine!.status).toBe('succeeded');
    });

    it('fails a step that does not write a declared output, and a dataset input without the data domain', async () => {
      const p = pipeline('lazy', {
        steps: [
          step('lazy', { outputs: ['model'], run: ['true'] }),
          step('wants-data', {
            inputs: { rows: { kind: 'dataset', name: 'sales' } },
            run: () => undefined,
          }),
        ],
      });
      clock.advance(1000);
      const result = await service.run(p, { baseDir: dir, env: ENV });
      expect(result.steps.lazy!.status).toBe('failed');
      expect(result.steps.lazy!.exitReason).toBe("step did not write its output 'model'");
      expect((await t.ctx.tracking.runs.get(result.steps.lazy!.trackingRunId!)).info.status).toBe(
        'FAILED',
      );
      expect(result.steps['wants-data']!.status).toBe('failed');
      expect(result.steps['wants-data']!.exitReason).toMatch(
        /step 'wants-data': dataset inputs need the data domain/,
      );
    });

    it('leaves no orphan when a step forks a child and dies', async () => {
      // The child's pid goes to stderr (a sandboxed step writes nothing outside its scratch).
      const p = pipeline('forks', {
        steps: [step('fork', { run: { shell: 'sleep 300 & echo $! >&2; exit 3' } })],
      });
      clock.advance(1000);
      const result = await service.run(p, { baseDir: dir, env: ENV });
      expect(result.steps.fork!.status).toBe('failed');
      expect(result.steps.fork!.exitCode).toBe(3);
      expect(result.steps.fork!.exitReason).toBe('exit code 3');
      const forkRun = await t.ctx.tracking.runs.get(result.steps.fork!.trackingRunId!);
      const forkRoot = forkRun.info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
      const stderrLog = await t.ctx.tracking.artifacts.open(`${forkRoot}/logs/stderr.log`);
      const pid = Number((await text(stderrLog.stream)).trim());
      expect(pid).toBeGreaterThan(0);
      for (let i = 0; i < 50 && !dead(pid); i++) await new Promise((r) => setTimeout(r, 50));
      expect(dead(pid)).toBe(true);
    });

    it('passes a param with shell metacharacters as data, never as shell code', async () => {
      const evil = `$(touch pwned1); touch pwned2 && \`touch pwned3\` | "'; echo >pwned4`;
      const p = pipeline('no-injection', {
        params: { evil },
        steps: [
          step('echo', {
            params: ['evil'],
            outputs: ['out'],
            run: [
              'python3',
              '-c',
              'import os\nopen(os.environ["MOBIUS_OUTPUT_OUT"], "w").write(os.environ["MOBIUS_PARAM_EVIL"])',
            ],
          }),
          step('shell', {
            params: ['evil'],
            outputs: ['out'],
            run: { shell: 'printf "%s" "$MOBIUS_PARAM_EVIL" > "$MOBIUS_OUTPUT_OUT"' },
          }),
        ],
      });
      clock.advance(1000);
      const result = await service.run(p, { baseDir: dir, env: ENV });
      expect(result.status).toBe('succeeded');
      for (const name of ['echo', 'shell']) {
        const blob = result.steps[name]!.outputs.out!;
        expect(await text(await t.ctx.blobs.get(blob.sha256))).toBe(evil);
      }
      for (const f of ['pwned1', 'pwned2', 'pwned3', 'pwned4'])
        expect(existsSync(join(dir, f))).toBe(false);
    });

    it('retries a failing step with doubling backoff and records the attempts', async () => {
      let calls = 0;
      const p = pipeline('flaky', {
        steps: [
          step('flaky', {
            outputs: ['out'],
            retries: 3,
            retryDelayMs: 100,
            run: async (ctx) => {
              if (++calls < 3) throw new Error(`attempt ${calls} failed`);
              await writeFile(ctx.outputs.out!, 'ok');
            },
          }),
          step('broken', { retries: 1, retryDelayMs: 10, run: ['false'] }),
        ],
      });
      sleeps.length = 0;
      clock.advance(1000);
      const result = await service.run(p, { baseDir: dir, env: ENV, concurrency: 1 });
      expect(result.steps.flaky!.status).toBe('succeeded');
      expect(result.steps.flaky!.attempts).toBe(3);
      expect(result.steps.broken!.status).toBe('failed');
      expect(result.steps.broken!.attempts).toBe(2);
      expect(sleeps).toEqual([100, 200, 10]);
    });

    it('gives command steps the step contract and runs no more steps at once than the limit', async () => {
      let now = 0;
      let most = 0;
      const busy = async (): Promise<void> => {
        most = Math.max(most, ++now);
        await new Promise((r) => setTimeout(r, 50));
        now--;
      };
      const p = pipeline('contract', {
        params: { n: 7 },
        steps: [
          step('a', { run: busy }),
          step('b', { run: busy }),
          step('c', { run: busy }),
          step('d', { run: busy }),
          step('env', {
            params: ['n'],
            outputs: ['env'],
            env: ['MY_SETTING'],
            run: [
              'python3',
              '-c',
              'import json, os\nopen(os.environ["MOBIUS_OUTPUT_ENV"], "w").write(json.dumps({k: v for k, v in os.environ.items() if k.startswith(("MOBIUS_", "MLFLOW_", "MY_"))}))',
            ],
          }),
        ],
      });
      clock.advance(1000);
      const result = await service.run(p, {
        baseDir: dir,
        env: { ...ENV, MY_SETTING: 'on' },
        concurrency: 2,
        trackingUri: 'http://127.0.0.1:4600',
      });
      expect(result.status).toBe('succeeded');
      expect(most).toBe(2);
      const env = JSON.parse(
        await text(await t.ctx.blobs.get(result.steps.env!.outputs.env!.sha256)),
      );
      expect(env).toMatchObject({
        MOBIUS_RUN_ID: result.steps.env!.trackingRunId,
        MOBIUS_PARAM_N: '7',
        MLFLOW_TRACKING_URI: 'http://127.0.0.1:4600',
        MY_SETTING: 'on',
      });
      expect(env.MOBIUS_OUTPUT_ENV).toMatch(/env$/);

      // The allow-listed variable is part of the cache key: changing it reruns the step.
      clock.advance(1000);
      const again = await service.run(p, {
        baseDir: dir,
        env: { ...ENV, MY_SETTING: 'off' },
        trackingUri: 'http://127.0.0.1:4600',
      });
      expect(again.steps.env!.explain).toBe("ran: env 'MY_SETTING' changed");
      expect(again.steps.a!.status).toBe('cached');
    });

    it('reports a TypeScript step that outlives its timeout, and a command killed by a signal', async () => {
      const p = pipeline('ts-timeout', {
        steps: [
          step('forever', {
            timeoutMs: 100,
            run: (ctx) => new Promise((r) => ctx.signal.addEventListener('abort', r)),
          }),
          step('selfkill', { run: ['sh', '-c', 'kill -KILL $$'] }),
        ],
      });
      clock.advance(1000);
      const result = await service.run(p, { baseDir: dir, env: ENV });
      expect(result.steps.forever!.status).toBe('killed');
      expect(result.steps.forever!.exitReason).toBe('timed out after 100 ms');
      expect(result.steps.selfkill!.status).toBe('killed');
      expect(result.steps.selfkill!.signal).toBe('SIGKILL');
      expect(result.steps.selfkill!.exitReason).toBe('killed by SIGKILL');
      const run = await t.ctx.tracking.runs.get(result.steps.forever!.trackingRunId!);
      expect(run.info.status).toBe('KILLED');
    });

    it('stops a cancelled run: the running step is killed, the rest are not started', async () => {
      const p = pipeline('cancelled', {
        steps: [
          step('long', { outputs: ['out'], run: ['sleep', '30'] }),
          step('next', { inputs: { x: 'long.out' }, run: () => undefined }),
        ],
      });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      clock.advance(1000);
      const result = await service.run(p, { baseDir: dir, env: ENV, signal: controller.signal });
      expect(result.status).toBe('failed');
      expect(result.steps.long!.status).toBe('killed');
      expect(result.steps.long!.exitReason).toBe('cancelled');
      expect(result.steps.next!.status).toBe('skipped');
      const run = await t.ctx.tracking.runs.get(result.steps.long!.trackingRunId!);
      expect(run.info.status).toBe('KILLED');
    });

    it('measures the CPU time and peak RSS of a busy command step', async () => {
      const p = pipeline('busy', {
        steps: [
          step('busy', {
            run: [
              'python3',
              '-c',
              'b = bytearray(64 << 20)\nx = 0\nfor i in range(5 * 10**6): x += i',
            ],
          }),
        ],
      });
      clock.advance(1000);
      const result = await service.run(p, { baseDir: dir, env: ENV });
      const busy = result.steps.busy!;
      expect(busy.status).toBe('succeeded');
      expect(busy.cpuMs).toBeGreaterThan(50);
      expect(busy.peakRssBytes).toBeGreaterThan(64 * 1024 * 1024);
      expect(busy.wallMs).toBeGreaterThanOrEqual(busy.cpuMs! * 0.5);
      const run = await t.ctx.tracking.runs.get(busy.trackingRunId!);
      expect(run.data.metrics.map((m) => m.key).sort()).toEqual([
        'attempts',
        'cpu_time_ms',
        'peak_rss_bytes',
        'wall_time_ms',
      ]);
    });

    it('keeps a bounded log of huge stdout, from commands and TypeScript steps', async () => {
      const p = pipeline('loud', {
        steps: [
          step('loud', {
            run: [
              'python3',
              '-c',
              'import sys\nfor _ in range(24): sys.stdout.write("x" * (1 << 20))',
            ],
          }),
          step('chatty', {
            run: (ctx) => {
              for (let i = 0; i < 12; i++) ctx.log('y'.repeat(1 << 20));
            },
          }),
        ],
      });
      clock.advance(1000);
      const result = await service.run(p, { baseDir: dir, env: ENV });
      expect(result.steps.loud!.status).toBe('succeeded');
      const run = await t.ctx.tracking.runs.get(result.steps.loud!.trackingRunId!);
      const root = run.info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
      const log = await t.ctx.tracking.artifacts.open(`${root}/logs/stdout.log`);
      expect(log.size).toBeLessThan(8 * 1024 * 1024 + 200);
      expect(log.size).toBeGreaterThan(8 * 1024 * 1024);
      log.stream.resume();
      const chatty = await t.ctx.tracking.runs.get(result.steps.chatty!.trackingRunId!);
      const chattyRoot = chatty.info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
      const chattyLog = await t.ctx.tracking.artifacts.open(`${chattyRoot}/logs/stdout.log`);
      expect(chattyLog.size).toBeGreaterThan(7 * 1024 * 1024);
      expect(chattyLog.size).toBeLessThanOrEqual(8 * 1024 * 1024 + 100);
      chattyLog.stream.resume();
    });

    it('records an executed step with one commit at its start and one at its end', async () => {
      // Issue 5's overhead budget (≤ 5 ms a step): each commit is an fsync on SQLite.
      const chainOf = (n: number) =>
        pipeline('commit-count', {
          steps: Array.from({ length: n }, (_x, i) =>
            step(`c${i}`, {
              ...(i === 0 ? {} : { after: [`c${i - 1}`] }),
              outputs: ['out'],
              run: async (ctx) => writeFile(ctx.outputs.out!, String(i)),
            }),
          ),
        });
      const store = t.ctx.store;
      const write = store.write.bind(store);
      const commits = async (n: number): Promise<number> => {
        let count = 0;
        store.write = (fn, options) => {
          count++;
          return write(fn, options);
        };
        try {
          const r = await service.run(chainOf(n), { baseDir: dir, env: ENV, force: true });
          expect(r.status).toBe('succeeded');
          for (const rep of Object.values(r.steps)) expect(rep.status).toBe('succeeded');
        } finally {
          store.write = write;
        }
        return count;
      };
      await commits(1); // creates the experiment
      const one = await commits(1);
      const five = await commits(5);
      expect(five - one).toBe(4 * 2);
    });
  });
}
