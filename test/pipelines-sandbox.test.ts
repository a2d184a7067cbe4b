/**
 * The command-step sandbox (issue 5, bad input: "a step writing outside its output dir")
 * on each metadata backend: a write outside fails the step with a message that says where
 * to write, and leaves nothing behind; `sandbox: false` opts a step out; `on` without a
 * working bubblewrap is a clear error; temp files and MLflow logging over HTTP still work.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { ManualClock } from '../src/core/index.js';
import {
  CommandSandbox,
  PipelineService,
  pipeline,
  step,
  type SandboxMode,
} from '../src/pipelines/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

const bwrapWorks =
  spawnSync('bwrap', ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', 'true']).status ===
  0;
if (!bwrapWorks && process.env.CI === 'true')
  throw new Error('CI=true but bubblewrap does not run here: apt-get install bubblewrap');
const hasMlflow = spawnSync('python3', ['-c', 'import mlflow']).status === 0;

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
}

for (const backend of STORE_BACKENDS) {
  describe(`pipeline sandbox (${backend})`, () => {
    let t: TestContext;
    let dir: string;
    let clock: ManualClock;
    const service = (mode: SandboxMode, bwrap?: string) =>
      new PipelineService({
        store: t.ctx.store,
        blobs: t.ctx.blobs,
        tracking: t.ctx.tracking,
        clock,
        sandbox: new CommandSandbox(mode, bwrap === undefined ? {} : { bwrap }),
      });

    beforeAll(async () => {
      t = await openTestContext(backend);
      dir = mkdtempSync(join(tmpdir(), 'mobius-sandbox-'));
      clock = new ManualClock(1_700_000_000_000);
    });
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it.skipIf(!bwrapWorks)(
      'fails a step that writes outside its output dir, saying where to write; nothing is left outside',
      async () => {
        const outside = join(dir, 'escaped.txt');
        const p = pipeline('escape', {
          steps: [
            step('escape', {
              outputs: ['result'],
              run: {
                shell: `echo ok > "$MOBIUS_OUTPUT_RESULT" && echo leaked > ${JSON.stringify(outside)}`,
              },
            }),
            step('scratch', {
              outputs: ['result'],
              // Its working dir and TMPDIR are writable; the project and /tmp are not.
              run: {
                shell:
                  'echo w > local.txt && t=$(mktemp) && echo t > "$t" && cat local.txt "$t" > "$MOBIUS_OUTPUT_RESULT"',
              },
            }),
          ],
        });
        clock.advance(1000);
        const result = await service('on').run(p, { baseDir: dir, env: ENV });
        const escape = result.steps.escape!;
        expect(escape.status).toBe('failed');
        expect(escape.exitReason).toMatch(
          /^the step wrote outside its output directory \/.+\/out-1 \(Read-only file system.*write outputs to \$MOBIUS_OUTPUT_RESULT, or set sandbox: false on the step.*\(exit code 2\)$/,
        );
        expect(existsSync(outside)).toBe(false);
        const scratch = result.steps.scratch!;
        expect(scratch.status, scratch.exitReason ?? '').toBe('succeeded');
        expect(await text(await t.ctx.blobs.get(scratch.outputs.result!.sha256))).toBe('w\nt\n');
        // Retried or not, the message is on the step's tracking run too.
        const run = await t.ctx.tracking.runs.get(escape.trackingRunId!);
        expect(run.data.tags['mobius.exitReason']).toBe(escape.exitReason);
      },
    );

    it.skipIf(!bwrapWorks)(
      'lets a step with sandbox: false write elsewhere, and reports a sandboxed step killed by a signal',
      async () => {
        const outside = join(dir, 'allowed.txt');
        const p = pipeline('opt-out', {
          steps: [
            step('writer', {
              sandbox: false,
              run: { shell: `echo allowed > ${JSON.stringify(outside)}` },
            }),
            step('selfkill', { run: ['sh', '-c', 'kill -KILL $$'] }),
          ],
        });
        clock.advance(1000);
        const result = await service('on').run(p, { baseDir: dir, env: ENV });
        expect(result.steps.writer!.status).toBe('succeeded');
        expect(existsSync(outside)).toBe(true);
        // bwrap passes the signal on as exit 137; the step still reads as killed by SIGKILL.
        expect(result.steps.selfkill!.status).toBe('killed');
        expect(result.steps.selfkill!.signal).toBe('SIGKILL');
        expect(result.steps.selfkill!.exitReason).toBe('killed by SIGKILL');
      },
    );

    it("says what to do when sandbox is 'on' and bubblewrap cannot run; 'auto' runs unsandboxed", async () => {
      const missing = join(dir, 'no-such-bwrap');
      const outside = join(dir, 'auto.txt');
      const p = pipeline('no-bwrap', {
        steps: [step('w', { run: { shell: `echo x > ${JSON.stringify(outside)}` } })],
      });
      clock.advance(1000);
      const on = await service('on', missing).run(p, { baseDir: dir, env: ENV, force: true });
      expect(on.steps.w!.status).toBe('failed');
      expect(on.steps.w!.exitReason).toContain(
        `pipelines.sandbox is 'on' but bubblewrap cannot run here: '${missing}' could not be started`,
      );
      expect(on.steps.w!.exitReason).toContain('apt-get install bubblewrap');
      expect(existsSync(outside)).toBe(false);
      const auto = await service('auto', missing).run(p, { baseDir: dir, env: ENV, force: true });
      expect(auto.steps.w!.status).toBe('succeeded');
      expect(existsSync(outside)).toBe(true);
      expect(() => new CommandSandbox('maybe' as SandboxMode)).toThrow(
        "pipelines.sandbox must be one of auto, on, off, not 'maybe'",
      );
    });

    describe.skipIf(!bwrapWorks || !hasMlflow)('with a Mobius server', () => {
      let app: FastifyInstance;
      let url: string;
      beforeAll(async () => {
        app = await buildServer(t.ctx);
        url = await app.listen({ host: '127.0.0.1', port: 0 });
      });
      afterAll(async () => {
        await app?.close();
      });

      it('a sandboxed Python step logs params, metrics and an artifact with the MLflow client', async () => {
        const script = [
          'import os, tempfile, mlflow',
          'with mlflow.start_run(run_id=os.environ["MOBIUS_RUN_ID"]):',
          '    mlflow.log_param("alpha", "0.5")',
          '    mlflow.log_metric("loss", 0.25)',
          '    mlflow.log_text("hello", "notes/hello.txt")',
          'assert tempfile.gettempdir() == os.environ["TMPDIR"], tempfile.gettempdir()',
          'open(os.environ["MOBIUS_OUTPUT_DONE"], "w").write(os.environ["TMPDIR"])',
        ].join('\n');
        const p = pipeline('mlflow-sandboxed', {
          steps: [step('train', { outputs: ['done'], run: ['python3', '-c', script] })],
        });
        clock.advance(1000);
        const result = await service('on').run(p, {
          baseDir: dir,
          env: { ...ENV, HOME: process.env.HOME ?? '/root' },
          trackingUri: url,
        });
        const train = result.steps.train!;
        expect(train.status, train.exitReason ?? '').toBe('succeeded');
        const tmp = await text(await t.ctx.blobs.get(train.outputs.done!.sha256));
        expect(tmp).toMatch(/\/train\/tmp$/);
        const run = await t.ctx.tracking.runs.get(train.trackingRunId!);
        expect(run.data.params.alpha).toBe('0.5');
        expect(run.data.metrics.find((m) => m.key === 'loss')?.value).toBe(0.25);
        const root = run.info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
        const note = await t.ctx.tracking.artifacts.open(`${root}/notes/hello.txt`);
        expect(await text(note.stream)).toBe('hello');
      }, 120_000);
    });
  });
}
