/**
 * `mobius worker`: takes pipeline steps from the PostgreSQL queue and runs them on this
 * machine. Start as many as you like, on as many machines as share the store and the blob
 * store (docs/scaling.md). SIGTERM or SIGINT stops taking steps, lets running ones finish
 * for --grace-ms, then hands the rest back to the queue for another worker.
 */
import { Option, type Command } from 'commander';
import { join } from 'node:path';
import { MobiusError } from '../core/index.js';
import { openMobius } from '../context/index.js';
import { loadQueue } from '../pipelines/index.js';
import type { CommandDeps } from './run-commands.js';

/** The command deps plus the environment commands on this worker start from. */
export interface WorkerCommandDeps extends CommandDeps {
  env: Readonly<Record<string, string | undefined>>;
}

interface WorkerOptions {
  concurrency: number;
  queue: string;
  heartbeatMs: number;
  lostAfterMs: number;
  graceMs: number;
}

/** Adds `mobius worker` to `program`. */
export function registerWorkerCommands(program: Command, deps: WorkerCommandDeps): void {
  program
    .command('worker')
    .description(
      'run pipeline steps from the PostgreSQL queue on this machine (see docs/scaling.md)',
    )
    .addOption(
      new Option('--concurrency <n>', 'steps at once')
        .argParser(positive('--concurrency'))
        .default(1),
    )
    .option('--queue <name>', 'which queue to take steps from', 'default')
    .addOption(
      new Option('--heartbeat-ms <ms>', 'how often to heartbeat and look for lost workers')
        .argParser(positive('--heartbeat-ms'))
        .default(5000),
    )
    .addOption(
      new Option('--lost-after-ms <ms>', 'a worker silent this long is lost; its steps are retried')
        .argParser(positive('--lost-after-ms'))
        .default(30_000),
    )
    .addOption(
      new Option(
        '--grace-ms <ms>',
        'on SIGTERM, how long running steps may finish before they are handed back',
      )
        .argParser(positive('--grace-ms'))
        .default(30_000),
    )
    .action(async (options: WorkerOptions, command: Command) => {
      const cfg = await deps.config(command);
      if (cfg.url !== undefined)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `'mobius worker' talks to the database, not a server: unset MOBIUS_URL (${cfg.url}) and set MOBIUS_STORE=postgres://…`,
        );
      if (!/^postgres(ql)?:\/\//.test(cfg.store))
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `distributed workers need a PostgreSQL store: the queue, heartbeats and commits live in it, and '${cfg.store}' is not one. Set MOBIUS_STORE=postgres://user@host:5432/db and a blob store every worker reaches (MOBIUS_BLOBS=s3://bucket/prefix)`,
        );
      if (options.lostAfterMs < 2 * options.heartbeatMs)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `--lost-after-ms (${options.lostAfterMs}) must be at least twice --heartbeat-ms (${options.heartbeatMs}), or a worker that is merely busy is declared lost`,
        );
      const ctx = await openMobius(cfg, { migrate: true });
      const { StepWorker } = await loadQueue();
      const worker = new StepWorker({
        store: ctx.store,
        storeLocation: cfg.store,
        blobs: ctx.blobs,
        logger: ctx.logger,
        queue: options.queue,
        concurrency: options.concurrency,
        heartbeatMs: options.heartbeatMs,
        lostAfterMs: options.lostAfterMs,
        workDir: join(cfg.home, 'tmp', 'worker'),
        env: deps.env,
      });
      try {
        await worker.start();
      } catch (error) {
        await ctx.close();
        throw error;
      }
      const started = {
        worker: worker.id,
        host: worker.host,
        pid: process.pid,
        queue: options.queue,
        concurrency: options.concurrency,
      };
      process.stderr.write(
        `mobius worker ${worker.id} on ${worker.host} (pid ${process.pid}) taking steps from queue '${options.queue}', ${options.concurrency} at a time (blobs ${ctx.blobs.kind})\n`,
      );
      if (deps.json(command)) process.stdout.write(`${JSON.stringify(started)}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.stderr.write(
            `mobius worker ${worker.id}: stopping; ${worker.running} running step(s) get ${options.graceMs} ms to finish\n`,
          );
          void worker
            .stop(options.graceMs)
            .finally(() => ctx.close())
            .finally(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}

function positive(flag: string): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${flag} must be a whole number ≥ 1, not '${value}'`,
      );
    return Number(value);
  };
}
