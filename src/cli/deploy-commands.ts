/**
 * `mobius deploy|promote|rollback` and `mobius deployments ls|show|rm`: registry-backed
 * deployments from the terminal. With MOBIUS_URL they are sent to the server; otherwise
 * they are written to the store (after loading and warming up the model here, so a model
 * that cannot serve is refused before anything changes) and `mobius server` serves the
 * change within DEPLOYMENT_SYNC_MS.
 */
import type { Command } from 'commander';
import { MobiusError, type MobiusConfig } from '../core/index.js';
import type {
  AbArm,
  AnalysisSpec,
  DeletedDeployment,
  DeployInput,
  DeploymentState,
  DeploymentView,
} from '../serving/index.js';
import { emit, table } from './output.js';
import { callServer } from './remote.js';
import { formatTime, withLocalContext, type CommandDeps } from './run-commands.js';

/** Who a local CLI change is recorded as (the server records the token's name). */
const LOCAL_ACTOR = 'local';

function percent(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new MobiusError('INVALID_ARGUMENT', `--${flag} must be a percent, not '${value}'`);
    return n;
  };
}

function positive(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `--${flag} must be a positive number, not '${value}'`,
      );
    return n;
  };
}

/** `model@v=pct` → a B arm, added to those of earlier `--ab` flags. */
function parseAb(value: string, previous: AbArm[] | undefined): AbArm[] {
  const eq = value.lastIndexOf('=');
  if (eq <= 0)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `--ab must be <model>@<version|alias>=<percent> (e.g. churn@4=50), not '${value}'`,
    );
  return [
    ...(previous ?? []),
    { model: value.slice(0, eq), percent: percent('ab')(value.slice(eq + 1)) },
  ];
}

const routeText = (d: Pick<DeploymentState, 'routes' | 'mirror'>) =>
  [
    ...d.routes.map(
      (r) => `${r.model}@${r.version} ${r.weight}%${r.role === 'candidate' ? ' (candidate)' : ''}`,
    ),
    ...(d.mirror === null
      ? []
      : [`shadow ${d.mirror.model}@${d.mirror.version} ${d.mirror.percent}%`]),
  ].join(', ');

async function local<T>(
  cfg: MobiusConfig,
  what: string,
  fn: Parameters<typeof withLocalContext<T>>[2],
) {
  return withLocalContext(cfg, what, fn);
}

/** Adds `mobius deploy`, `promote`, `rollback` and `deployments ls|show|rm` to `program`. */
export function registerDeployCommands(program: Command, deps: CommandDeps): void {
  program
    .command('deploy <name> <model>')
    .description(
      'serve <model>@<version|alias> as deployment <name>: replace it, or add a canary, shadow or A/B arm',
    )
    .option(
      '--canary <pct>',
      'the new version takes this percent; the stable one the rest',
      percent('canary'),
    )
    .option(
      '--shadow <pct>',
      'mirror this percent of requests to the new version; its answers are logged, not returned',
      percent('shadow'),
    )
    .option(
      '--ab <model=pct>',
      'A/B: <model> is arm A (the rest), this (<model>@<v>=<pct>) is arm B; repeat for more arms (A/B/n)',
      parseAb,
    )
    .option(
      '--sticky <key>',
      'a request header, OIP parameter, input or record field: the same value always gets the same version',
    )
    .option(
      '--analyze-after <requests>',
      'judge the canary automatically after this many of its requests',
      positive('analyze-after'),
    )
    .option('--analyze-window <minutes>', 'or after this many minutes', positive('analyze-window'))
    .option(
      '--max-prediction-shift <D>',
      'and roll back when its predictions differ from stable by more than this KS distance (0-1)',
      (v: string) => Number(v),
    )
    .option('--reason <text>', 'why, for the deployment history')
    .action(
      async (
        name: string,
        model: string,
        options: {
          canary?: number;
          shadow?: number;
          ab?: AbArm[];
          sticky?: string;
          analyzeAfter?: number;
          analyzeWindow?: number;
          maxPredictionShift?: number;
          reason?: string;
        },
        command: Command,
      ) => {
        const input: DeployInput = { name, model };
        if (options.canary !== undefined) input.canary = options.canary;
        if (options.shadow !== undefined) input.shadow = options.shadow;
        // One arm is sent as an object, as before A/B/n, so an older server understands it.
        if (options.ab !== undefined)
          input.ab = options.ab.length === 1 ? options.ab[0]! : options.ab;
        if (options.sticky !== undefined) input.sticky = options.sticky;
        if (options.reason !== undefined) input.reason = options.reason;
        if (
          options.analyzeAfter !== undefined ||
          options.analyzeWindow !== undefined ||
          options.maxPredictionShift !== undefined
        ) {
          const analysis: Partial<AnalysisSpec> = {};
          if (options.maxPredictionShift !== undefined)
            analysis.maxPredictionShift = options.maxPredictionShift;
          if (options.analyzeAfter !== undefined) analysis.minRequests = options.analyzeAfter;
          if (options.analyzeWindow !== undefined)
            analysis.windowMs = options.analyzeWindow * 60_000;
          input.analysis = analysis;
        }
        const cfg = await deps.config(command);
        const state =
          cfg.url === undefined
            ? await local(cfg, 'deploy', (ctx) => ctx.deployments.deploy(input, LOCAL_ACTOR))
            : await callServer<DeploymentState>(cfg, 'POST', '/api/v1/deployments', input);
        emit(deps.json(command), state, () => `deployed '${name}': ${routeText(state)}`);
      },
    );

  for (const action of ['promote', 'rollback'] as const) {
    const sub = program
      .command(`${action} <deployment>`)
      .description(
        action === 'promote'
          ? 'make the canary, A/B arm or shadow the only version and the last good one'
          : 'send all traffic back to the last fully rolled-out version',
      )
      .option('--reason <text>', 'why, for the deployment history');
    if (action === 'promote')
      sub.option(
        '--to <model@version>',
        'which candidate to promote, when an A/B has several B arms',
      );
    sub.action(
      async (name: string, options: { reason?: string; to?: string }, command: Command) => {
        const cfg = await deps.config(command);
        const body: { reason?: string; to?: string } = {};
        if (options.reason !== undefined) body.reason = options.reason;
        if (options.to !== undefined) body.to = options.to;
        const state =
          cfg.url === undefined
            ? await local(cfg, action, (ctx) =>
                action === 'promote'
                  ? ctx.deployments.promote(name, LOCAL_ACTOR, options.reason, options.to)
                  : ctx.deployments.rollback(name, LOCAL_ACTOR, options.reason),
              )
            : await callServer<DeploymentState>(
                cfg,
                'POST',
                `/api/v1/deployments/${encodeURIComponent(name)}/${action}`,
                body,
              );
        emit(
          deps.json(command),
          state,
          () =>
            `${action === 'promote' ? 'promoted' : 'rolled back'} '${name}': ${routeText(state)}`,
        );
      },
    );
  }

  const deployments = program.command('deployments').description('list and inspect deployments');
  deployments
    .command('ls')
    .description('list stored deployments: routes, mirror, last good version')
    .action(async (_options: unknown, command: Command) => {
      const cfg = await deps.config(command);
      const list =
        cfg.url === undefined
          ? await local(cfg, 'deployments ls', (ctx) => ctx.deployments.list())
          : (
              await callServer<{ deployments: (Partial<DeploymentState> & { name: string })[] }>(
                cfg,
                'GET',
                '/api/v1/deployments',
              )
            ).deployments.filter((d): d is DeploymentState => d.routes !== undefined);
      emit(deps.json(command), { deployments: list }, () =>
        list.length === 0
          ? "no deployments ('mobius deploy <name> <model>@<version>' makes one)"
          : table(
              ['NAME', 'ROUTES', 'LAST GOOD', 'STICKY', 'UPDATED'],
              list.map((d) => [
                d.name,
                routeText(d),
                d.lastGood === null ? '' : `${d.lastGood.model}@${d.lastGood.version}`,
                d.sticky ?? '',
                formatTime(d.updatedAt),
              ]),
            ),
      );
    });

  deployments
    .command('show <name>')
    .description('a deployment: routes, mirror, last good, dropped predictions, recent events')
    .action(async (name: string, _options: unknown, command: Command) => {
      const cfg = await deps.config(command);
      const view =
        cfg.url === undefined
          ? await local(cfg, 'deployments show', (ctx) => ctx.deployments.show(name))
          : await callServer<DeploymentView>(
              cfg,
              'GET',
              `/api/v1/deployments/${encodeURIComponent(name)}`,
            );
      emit(deps.json(command), view, () =>
        [
          `deployment ${view.name} (revision ${view.revision})${view.deletedAt === null ? '' : ` DELETED ${formatTime(view.deletedAt)}; what it served:`}`,
          `routes:     ${view.routes.map((r) => `${r.model}@${r.version} ${r.weight}% ${r.role}`).join(', ')}`,
          `mirror:     ${view.mirror === null ? 'none' : `${view.mirror.model}@${view.mirror.version} ${view.mirror.percent}%`}`,
          `last good:  ${view.lastGood === null ? 'none' : `${view.lastGood.model}@${view.lastGood.version}`}`,
          `sticky:     ${view.sticky ?? 'none'}`,
          `dropped predictions: ${view.droppedPredictions}${cfg.url === undefined ? ' (counted by the server process; use MOBIUS_URL to see its count)' : ''}`,
          '',
          table(
            ['WHEN', 'REV', 'EVENT', 'BY', 'REASON'],
            view.events.map((e) => [
              formatTime(e.at),
              String(e.revision),
              e.kind,
              e.actor,
              e.reason ?? '',
            ]),
          ),
        ].join('\n'),
      );
    });

  deployments
    .command('rm <name>')
    .description(
      'delete a deployment: it stops serving (here and on servers following the store); its history and prediction log are kept',
    )
    .option('--reason <text>', 'why, for the deployment history')
    .action(async (name: string, options: { reason?: string }, command: Command) => {
      const cfg = await deps.config(command);
      const deleted =
        cfg.url === undefined
          ? await local(cfg, 'deployments rm', (ctx) =>
              ctx.deployments.remove(name, LOCAL_ACTOR, options.reason),
            )
          : await callServer<DeletedDeployment>(
              cfg,
              'DELETE',
              `/api/v1/deployments/${encodeURIComponent(name)}`,
              options.reason === undefined ? undefined : { reason: options.reason },
            );
      emit(
        deps.json(command),
        deleted,
        () =>
          `deleted '${name}' (it served ${routeText(deleted)}); 'mobius deployments show ${name}' keeps its history`,
      );
    });
}
