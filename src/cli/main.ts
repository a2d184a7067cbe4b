/**
 * The `mobius` command. Every command loads config the same way (file → env → flags),
 * opens the context through the composition root, and prints for people or, with
 * `--json`, for scripts.
 */
import { Command, CommanderError, Option } from 'commander';
import {
  MobiusError,
  VERSION,
  loadConfig,
  type ConfigInput,
  type MobiusConfig,
} from '../core/index.js';
import { openMobius } from '../context/index.js';
import { buildServer } from '../api/index.js';
import { TOKEN_ROLES, type MigrationReport } from '../store/index.js';
import { emit, reportError, table } from './output.js';
import { tokenCommands } from './token-commands.js';
import { registerRunCommands } from './run-commands.js';
import { registerModelCommands } from './model-commands.js';
import { registerDataCommands } from './data-commands.js';
import { registerPipelineCommands } from './pipeline-commands.js';
import { discoverPipelines, loadPipeline } from '../pipelines/index.js';
import { registerWorkerCommands } from './worker-commands.js';
import { registerDeployCommands } from './deploy-commands.js';
import { registerCheckCommands } from './check-commands.js';
import { registerScheduleCommands } from './schedule-commands.js';
import { registerLineageCommands } from './lineage-commands.js';

interface GlobalOptions {
  json?: boolean;
  config?: string;
  home?: string;
  store?: string;
  blobs?: string;
}

/** Builds the command tree; `env` is the process environment, passed in once here. */
export function buildCli(
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  setExitCode: (code: number) => void = () => undefined,
): Command {
  const program = new Command('mobius')
    .description(
      'Mobius: data versions, pipelines, experiment tracking, model registry and serving in one install.',
    )
    .version(VERSION, '-v, --version', 'print the Mobius version')
    .option('--json', 'print machine-readable JSON instead of text')
    .option('-c, --config <file>', 'config file (default: ./mobius.config.ts or ./mobius.yaml)')
    .option('--home <dir>', 'state directory for the embedded store and blobs (default: ./.mobius)')
    .option('--store <location>', 'metadata store: sqlite:<path> or postgres://user@host/db')
    .option('--blobs <location>', 'blob store: file:<path> or s3://bucket/prefix')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Start here:
  mobius server                      serve on http://127.0.0.1:4600 with state in ./.mobius
  mobius migrate --json              bring the metadata store's schema up to date
  MOBIUS_STORE=postgres://user@host/db MOBIUS_BLOBS=s3://bucket/mobius mobius server
                                     the same, on PostgreSQL and S3

Configuration comes from ./mobius.yaml (or mobius.config.ts), then MOBIUS_* environment
variables, then these flags. 'mobius <command> --help' explains each command.`,
    )
    .exitOverride();

  const config = (command: Command, flags: ConfigInput = {}): Promise<MobiusConfig> => {
    const g = command.optsWithGlobals<GlobalOptions>();
    const merged: ConfigInput = { ...flags };
    if (g.home !== undefined) merged.home = g.home;
    if (g.store !== undefined) merged.store = g.store;
    if (g.blobs !== undefined) merged.blobs = g.blobs;
    return loadConfig({
      cwd,
      env,
      flags: merged,
      ...(g.config === undefined ? {} : { configFile: g.config }),
    });
  };
  const json = (command: Command): boolean =>
    command.optsWithGlobals<GlobalOptions>().json === true;
  const tokens = async (command: Command) => tokenCommands(await config(command));

  program
    .command('server')
    .description('start the Mobius server (API, MLflow protocol, metrics) on 127.0.0.1:4600')
    .option(
      '--host <host>',
      'address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)',
    )
    .addOption(
      new Option('-p, --port <port>', 'port to listen on (default 4600)').argParser(parsePort),
    )
    .action(async (options: { host?: string; port?: number }, command: Command) => {
      const server: NonNullable<ConfigInput['server']> = {};
      if (options.host !== undefined) server.host = options.host;
      if (options.port !== undefined) server.port = options.port;
      const cfg = await config(command, { server });
      const ctx = await openMobius(cfg, {
        migrate: true,
        onMigrated: (report) => {
          for (const step of report.steps)
            note(`migration ${step.name} ${step.status} in ${step.ms ?? 0} ms`);
        },
      });
      // A Mobius that died mid-run left RUNNING pipeline rows and maybe process groups.
      const reaped = await ctx.pipelines.reap();
      if (reaped.steps.length > 0 || reaped.pipelineRuns.length > 0)
        note(
          `marked ${reaped.steps.length} step run(s) and ${reaped.pipelineRuns.length} pipeline run(s) of a dead Mobius process failed`,
        );
      const app = await buildServer(ctx);
      // The project's pipelines with schedules or a dataset trigger are registered with the
      // scheduler (again after a restart: its state is kept in the store). A pipeline file
      // that does not load is reported and the server starts without it.
      try {
        for (const found of await discoverPipelines(cwd)) {
          const definition = await loadPipeline(found.path, { cwd, pools: cfg.pipelines.pools });
          if ((definition.schedules ?? []).length === 0 && definition.trigger === undefined)
            continue;
          const registered = await ctx.scheduler.register(definition, {
            run: { baseDir: cwd, env, pipelineFile: found.path },
          });
          note(`registered pipeline '${definition.name}' from ${found.path}`);
          for (const w of registered.warnings) note(w);
        }
      } catch (error) {
        note(
          `mobius: pipelines not registered: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      ctx.scheduler.start();
      // Stored deployments load (and warm up) before the server listens, then are followed
      // for changes; one that fails to load is logged and the others are served.
      await ctx.deployments.start();
      const address = await app.listen({ host: cfg.server.host, port: cfg.server.port });
      const loopback = ['127.0.0.1', 'localhost', '::1'].includes(cfg.server.host);
      const auth = cfg.server.auth
        ? 'on'
        : loopback
          ? 'off (loopback only)'
          : 'OFF on a network address: anyone who can reach it has full access; set MOBIUS_TOKEN';
      process.stderr.write(
        `mobius ${VERSION} listening on ${address} (store ${ctx.store.dialect}, blobs ${ctx.blobs.kind}, auth ${auth})\n`,
      );
      if (json(command)) {
        const started = {
          url: address,
          version: VERSION,
          store: ctx.store.dialect,
          blobs: ctx.blobs.kind,
          auth: cfg.server.auth,
        };
        process.stdout.write(`${JSON.stringify(started)}\n`);
      }
      const stop = async () => {
        await ctx.scheduler.stop();
        await app.close();
        await ctx.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });

  program
    .command('serve <model>')
    .description(
      'serve one registered model version (name@version or name@alias) over the Open Inference Protocol, without the scheduler: a deployment named after the model (or --name)',
    )
    .option('--name <deployment>', 'the deployment name (default: the model name)')
    .option('--host <host>', 'address to bind (default 127.0.0.1)')
    .addOption(
      new Option('-p, --port <port>', 'port to listen on (default 4600)').argParser(parsePort),
    )
    .action(
      async (
        model: string,
        options: { name?: string; host?: string; port?: number },
        command: Command,
      ) => {
        const server: NonNullable<ConfigInput['server']> = {};
        if (options.host !== undefined) server.host = options.host;
        if (options.port !== undefined) server.port = options.port;
        const cfg = await config(command, { server });
        const ctx = await openMobius(cfg, { migrate: true });
        try {
          const at = model.lastIndexOf('@');
          const name = options.name ?? (at > 0 ? model.slice(0, at) : model);
          // Stored like any deployment (`mobius deployments show` lists it), loaded and
          // warmed up before the port opens.
          const state = await ctx.deployments.deploy(
            { name, model, reason: 'mobius serve' },
            'local',
          );
          const app = await buildServer(ctx);
          const address = await app.listen({ host: cfg.server.host, port: cfg.server.port });
          const route = state.routes[0]!;
          process.stderr.write(
            `mobius ${VERSION} serving ${route.model}@${route.version} as '${name}' on ${address}/v2/models/${name}/infer\n`,
          );
          if (json(command))
            process.stdout.write(
              `${JSON.stringify({ url: address, deployment: name, model: route.model, version: route.version })}\n`,
            );
          const stop = async () => {
            await app.close();
            await ctx.close();
            process.exit(0);
          };
          process.once('SIGINT', () => void stop());
          process.once('SIGTERM', () => void stop());
        } catch (error) {
          await ctx.close();
          throw error;
        }
      },
    );

  program
    .command('migrate')
    .description('apply pending schema migrations to the metadata store, reporting each one')
    .action(async (_options: unknown, command: Command) => {
      const cfg = await config(command);
      if (cfg.url !== undefined) {
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `migrate works on the store itself, not through a server; unset MOBIUS_URL (${cfg.url}) and point --store at the database`,
        );
      }
      const ctx = await openMobius(cfg);
      let report: MigrationReport;
      try {
        report = await ctx.store.migrate();
      } finally {
        await ctx.close();
      }
      emit(json(command), report, () =>
        report.steps.length === 0
          ? `up to date (${report.alreadyApplied} migrations applied earlier)`
          : report.steps.map((s) => `${s.status} ${s.name} (${s.ms ?? 0} ms)`).join('\n'),
      );
    });

  program
    .command('version')
    .description('print the Mobius version')
    .action((_options: unknown, command: Command) => {
      emit(json(command), { version: VERSION }, () => VERSION);
    });

  const token = program.command('token').description('manage API tokens (used when auth is on)');
  token
    .command('create <name>')
    .description('create a token and print its secret (shown only once)')
    .addOption(
      new Option('--role <role>', 'what the token may do').choices(TOKEN_ROLES).default('editor'),
    )
    .action(
      async (name: string, options: { role: (typeof TOKEN_ROLES)[number] }, command: Command) => {
        const created = await (await tokens(command)).create(name, options.role);
        emit(
          json(command),
          created,
          () =>
            `created token '${created.name}' (${created.role}): ${created.secret}\nstore it now; it cannot be shown again`,
        );
      },
    );
  token
    .command('ls')
    .description('list tokens (never their secrets)')
    .action(async (_options: unknown, command: Command) => {
      const list = await (await tokens(command)).list();
      emit(json(command), { tokens: list }, () =>
        table(
          ['ID', 'NAME', 'ROLE', 'CREATED', 'REVOKED'],
          list.map((t) => [
            t.id,
            t.name,
            t.role,
            new Date(t.createdAt).toISOString(),
            t.revokedAt === null ? '' : new Date(t.revokedAt).toISOString(),
          ]),
        ),
      );
    });
  token
    .command('revoke <idOrName>')
    .description('revoke a token by id or name')
    .action(async (idOrName: string, _options: unknown, command: Command) => {
      const revoked = await (await tokens(command)).revoke(idOrName);
      emit(json(command), revoked, () => `revoked token '${revoked.name}'`);
    });

  registerRunCommands(program, { config, json });
  registerModelCommands(program, { config, json });
  registerDataCommands(program, { config, json, cwd, env });
  registerCheckCommands(program, { config, json, cwd, env });
  registerPipelineCommands(program, {
    config,
    json,
    cwd,
    env,
    setExitCode,
    out: process.stdout,
  });
  registerScheduleCommands(program, { config, json });
  registerLineageCommands(program, { config, json });
  registerWorkerCommands(program, { config, json, env });
  registerDeployCommands(program, { config, json });

  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  return program;
}

function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `--port must be a number from 0 to 65535, not '${value}'`,
    );
  }
  return Number(value);
}

/** Runs the CLI with `argv` and resolves with the exit code. */
export async function runCli(
  argv: string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): Promise<number> {
  let exitCode = 0;
  const program = buildCli(env, cwd, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; usage errors were printed by commander.
      return error.exitCode === 0 ? 0 : 2;
    }
    return reportError(error, argv.includes('--json'));
  }
}
