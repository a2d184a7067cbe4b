/**
 * `mobius init`, `mobius run` and `mobius pipelines …` through bin/mobius.js over the
 * built CLI, on every metadata backend: a TypeScript pipeline file with TypeScript, Python
 * and shell steps; progress lines, the step table, caching, --explain, --param, --force,
 * --json events, a failure resumed with --resume, and a killed Mobius reaped by the next.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/index.js';
import { STORE_BACKENDS, freshLocation } from './helpers/stores.js';
import { dead } from './helpers/child.js';

const BIN = fileURLToPath(new URL('../bin/mobius.js', import.meta.url));

const PIPELINE = `import { readFile, writeFile } from 'node:fs/promises';
import { pipeline, step } from 'mobius';

export default pipeline('words', {
  params: { n: 2, suffix: '!' },
  steps: [
    step('upper', {
      inputs: { words: 'file:words.txt' },
      outputs: ['upper'],
      params: ['suffix'],
      run: async (ctx) => {
        const text = await readFile(ctx.inputs.words!, 'utf8');
        await writeFile(ctx.outputs.upper!, text.trim().toUpperCase() + String(ctx.params.suffix));
      },
    }),
    step('count', {
      inputs: { text: 'upper.upper' },
      outputs: ['count'],
      params: ['n'],
      run: ['python3', 'count.py'],
      codeFiles: ['count.py'],
    }),
    step('report', {
      inputs: { count: 'count.count', text: 'upper.upper' },
      outputs: ['report'],
      run: { shell: 'printf "%s: %s" "$(cat "$MOBIUS_INPUT_COUNT")" "$(cat "$MOBIUS_INPUT_TEXT")" > "$MOBIUS_OUTPUT_REPORT"' },
    }),
  ],
});
`;

const COUNT_PY = `import os
words = open(os.environ["MOBIUS_INPUT_TEXT"]).read().split()
n = int(os.environ["MOBIUS_PARAM_N"])
open(os.environ["MOBIUS_OUTPUT_COUNT"], "w").write(str(len(words) * n))
print("counted", len(words))
`;

for (const backend of STORE_BACKENDS) {
  describe(`mobius run: ${backend}`, () => {
    let dir: string;
    let location: string;
    let remove: () => Promise<void>;
    const args = (...rest: string[]) => [
      BIN,
      '--store',
      location,
      '--home',
      join(dir, '.mobius'),
      ...rest,
    ];
    const mobius = (...rest: string[]) => {
      const res = spawnSync(process.execPath, args(...rest), {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '' },
        encoding: 'utf8',
      });
      return { code: res.status, stdout: res.stdout, stderr: res.stderr };
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- asserting the shape is the test
    const ndjson = (out: string): any[] =>
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown);

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'mobius-cli-run-'));
      ({ location, remove } = freshLocation(backend));
      writeFileSync(join(dir, 'words.pipeline.ts'), PIPELINE);
      writeFileSync(join(dir, 'count.py'), COUNT_PY);
      writeFileSync(join(dir, 'words.txt'), 'alpha beta gamma\n');
    });
    afterAll(async () => {
      await remove();
      rmSync(dir, { recursive: true, force: true });
    }, 180_000);

    it('runs a TypeScript pipeline file of TypeScript, Python and shell steps, then caches it', () => {
      const first = mobius('run', 'words');
      expect(first.code, first.stderr + first.stdout).toBe(0);
      // Not a terminal: one plain line per event, then the table.
      expect(first.stdout).toMatch(/^pipeline words: run \w+, 3 steps$/m);
      expect(first.stdout).toMatch(/^upper: running \(ran: no earlier run of this step\)$/m);
      expect(first.stdout).toMatch(/^count: ✓ succeeded \(\d+ms/m);
      expect(first.stdout).toMatch(
        /^STEP\s+STATUS\s+CACHED\s+WALL\s+CPU\s+PEAK RSS\s+ROWS IN\s+ROWS OUT\s+EXPLAIN$/m,
      );
      expect(first.stdout).toMatch(
        /^count\s+succeeded\s+no\s+\d+ms\s+\d+ms\s+[\d.]+ (KiB|MiB)\s+-\s+-/m,
      );
      expect(first.stdout).toMatch(/^pipeline run \w+ succeeded/m);
      const runId = /^pipeline run (\w+) succeeded/m.exec(first.stdout)![1]!;

      const shown = JSON.parse(mobius('--json', 'pipelines', 'show', runId).stdout) as {
        run: unknown;
        steps: { name: string }[];
      };
      expect(shown.run).toMatchObject({ id: runId, pipeline: 'words', status: 'FINISHED' });
      expect(shown.steps.map((s) => s.name).sort()).toEqual(['count', 'report', 'upper']);
      const list = JSON.parse(mobius('--json', 'pipelines', 'ls').stdout);
      expect(list.runs[0].id).toBe(runId);
      expect(JSON.parse(mobius('--json', 'pipelines', 'discover').stdout).pipelines).toEqual([
        { name: 'words', path: join(dir, 'words.pipeline.ts') },
      ]);

      const again = mobius('run', 'words.pipeline.ts');
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/^count: ↺ cached: skipped: cache hit/m);
      expect(again.stdout).not.toMatch(/running/);

      // --explain runs nothing and says why; a typed --param changes the key of its steps only.
      const explained = JSON.parse(
        mobius('--json', 'run', 'words', '--explain', '--param', 'n=3').stdout,
      );
      expect(explained.steps).toEqual([
        expect.objectContaining({ name: 'upper', willRun: false }),
        expect.objectContaining({
          name: 'count',
          willRun: true,
          explain: "would run: param 'n' changed",
        }),
        expect.objectContaining({
          name: 'report',
          willRun: true,
          explain: "would run: upstream step 'count' would run",
        }),
      ]);
      // "2" given on the command line is the number 2: the same key as the default.
      const same = JSON.parse(
        mobius('--json', 'run', 'words', '--explain', '--param', 'n=2').stdout,
      );
      expect((same.steps as { willRun: boolean }[]).every((s) => !s.willRun)).toBe(true);
      expect(mobius('run', 'words', '--param', 'n=many').stderr).toMatch(
        /--param n must be a number, not 'many'/,
      );
      expect(mobius('run', 'words', '--param', 'nope=1').stderr).toMatch(
        /pipeline 'words' has no param 'nope'/,
      );

      // --json: one event per line, the result last; --force reruns the named step.
      const forced = mobius('--json', 'run', 'words', '--force', 'upper');
      expect(forced.code).toBe(0);
      const events = ndjson(forced.stdout);
      expect(events[0]).toMatchObject({ type: 'pipeline-started', pipeline: 'words' });
      expect(events.filter((e) => e.type === 'step-started').map((e) => e.step as string)).toEqual([
        'upper',
      ]);
      expect(events.at(-2)).toMatchObject({ type: 'pipeline-finished', status: 'succeeded' });
      const result = events.at(-1);
      expect(result.type).toBe('result');
      expect(result.steps.upper.explain).toBe('ran: forced');
      // Same output as before: its dependents are cache hits.
      expect(result.steps.count.status).toBe('cached');
      expect(mobius('run', 'words', '--force', 'nosuch').stderr).toMatch(
        /--force: pipeline 'words' has no step 'nosuch'/,
      );
      expect(mobius('run', 'missing-pipeline').stderr).toMatch(
        /no pipeline 'missing-pipeline' in words\.pipeline\.ts/,
      );
    }, 180_000);

    it('exits 1 on a failed step and --resume reruns only what did not succeed', () => {
      mkdirSync(join(dir, 'flaky'), { recursive: true });
      const flag = join(dir, 'flaky', 'ok.flag');
      writeFileSync(
        join(dir, 'flaky', 'flaky.pipeline.yaml'),
        [
          'name: flaky',
          'steps:',
          '  - name: first',
          '    outputs: [x]',
          '    cache: false',
          '    shell: date +%s%N > "$MOBIUS_OUTPUT_X"',
          '  - name: second',
          '    inputs: { x: first.x }',
          '    outputs: [y]',
          `    run: [sh, -c, 'test -e ${flag} && cp "$MOBIUS_INPUT_X" "$MOBIUS_OUTPUT_Y"']`,
          '',
        ].join('\n'),
      );
      const failed = mobius('run', 'flaky/flaky.pipeline.yaml');
      expect(failed.code).toBe(1);
      expect(failed.stdout).toMatch(/^second: ✗ failed .*exit code 1$/m);
      const resumeLine =
        /^rerun only what failed: mobius run flaky\/flaky\.pipeline\.yaml --resume (\w+)$/m.exec(
          failed.stdout,
        );
      expect(resumeLine).not.toBeNull();
      writeFileSync(flag, '');
      const resumed = mobius(
        '--json',
        'run',
        'flaky/flaky.pipeline.yaml',
        '--resume',
        resumeLine![1]!,
      );
      expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
      const result = ndjson(resumed.stdout).at(-1);
      expect(result.steps.first.status).toBe('cached');
      expect(result.steps.first.explain).toMatch(/^skipped: resumed from pipeline run /);
      expect(result.steps.second.status).toBe('succeeded');
    }, 180_000);

    it('a killed mobius run leaves its step running; the next mobius run kills its group and marks it failed', async () => {
      // Not sandboxed: bubblewrap's --die-with-parent ends a sandboxed step with its
      // Mobius; this one outlives it, as any step does where bubblewrap is not installed.
      writeFileSync(
        join(dir, 'hang.pipeline.yaml'),
        'name: hang\nsteps:\n  - name: sleepy\n    sandbox: false\n    run: [sleep, "300"]\n',
      );
      const child = spawn(process.execPath, args('--json', 'run', 'hang'), {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const store = await openStore(location);
      try {
        let pid: number | null = null;
        let pipelineRunId = '';
        for (let i = 0; i < 200 && pid === null; i++) {
          await new Promise((r) => setTimeout(r, 100));
          const row = await store.db
            .selectFrom('step_run')
            .select(['pid', 'pipeline_run_id'])
            .where('pipeline', '=', 'hang')
            .where('status', '=', 'RUNNING')
            .executeTakeFirst();
          pid = row?.pid ?? null;
          pipelineRunId = row?.pipeline_run_id ?? '';
        }
        expect(pid, out).not.toBeNull();
        // Mobius dies (OOM killer, kill -9): its step's process group lives on.
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        expect(dead(pid!)).toBe(false);

        const next = mobius('run', 'words');
        expect(next.code).toBe(0);
        expect(next.stderr).toMatch(
          /marked 1 step run\(s\) of a dead Mobius process failed \(1 process group\(s\) killed\)/,
        );
        for (let i = 0; i < 50 && !dead(pid!); i++) await new Promise((r) => setTimeout(r, 50));
        expect(dead(pid!)).toBe(true);
        const shown = JSON.parse(mobius('--json', 'pipelines', 'show', pipelineRunId).stdout);
        expect(shown.run.status).toBe('FAILED');
        expect(shown.steps[0]).toMatchObject({ name: 'sleepy', status: 'failed' });
        expect(shown.steps[0].exitReason).toMatch(
          new RegExp(
            `^the Mobius process ${child.pid} on .+ that ran this step died while it was running; its process group ${pid} was still running and was killed$`,
          ),
        );
      } finally {
        await store.close();
        try {
          process.kill(child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }, 180_000);
  });

  describe(`mobius init: ${backend}`, () => {
    let dir: string;
    let location: string;
    let remove: () => Promise<void>;
    const mobius = (cwd: string, ...rest: string[]) => {
      const res = spawnSync(
        process.execPath,
        [BIN, '--store', location, '--home', join(cwd, '.mobius'), ...rest],
        { cwd, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' },
      );
      return { code: res.status, stdout: res.stdout, stderr: res.stderr };
    };
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'mobius-cli-init-'));
      ({ location, remove } = freshLocation(backend));
    });
    afterAll(async () => {
      await remove();
      rmSync(dir, { recursive: true, force: true });
    }, 180_000);

    it('scaffolds a project whose example pipeline runs, and refuses to overwrite it', () => {
      const made = mobius(dir, 'init', 'project');
      expect(made.code, made.stderr).toBe(0);
      expect(made.stdout).toMatch(
        /^created pipeline\.ts, steps\/train\.py, suites\/customers\.yaml, data\/customers\.csv, \.gitignore in /,
      );
      const project = join(dir, 'project');
      const again = mobius(dir, 'init', 'project');
      expect(again.code).toBe(4);
      expect(again.stderr).toMatch(
        /already has pipeline\.ts, .*mobius init never overwrites files/,
      );

      const run = mobius(project, 'run', 'example');
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^prep\s+succeeded\s+no\s.*4 \(customers_clean@1\)/m);
      expect(run.stdout).toMatch(/^gate\s+succeeded/m);
      expect(run.stdout).toMatch(/^train\s+succeeded/m);
      expect(run.stdout).toMatch(/^report\s+succeeded/m);
      const cached = mobius(project, '--json', 'run', 'example');
      const result = JSON.parse(cached.stdout.trim().split('\n').at(-1)!);
      expect(Object.values(result.steps).map((s) => (s as { status: string }).status)).toEqual([
        'cached',
        'cached',
        'cached',
        'cached',
      ]);
    }, 180_000);
  });
}
