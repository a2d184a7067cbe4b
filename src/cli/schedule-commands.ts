/**
 * `mobius schedules …`: list the pipelines `mobius server` schedules or triggers, and pause
 * or resume them. Pause and resume are state in the store, so they take effect on the
 * server's next tick whether they are sent to it (MOBIUS_URL) or written to its store.
 */
import type { Command } from 'commander';
import type { MobiusConfig } from '../core/index.js';
import type { ScheduleStatus } from '../pipelines/index.js';
import { emit, table } from './output.js';
import { callServer } from './remote.js';
import { formatTime, withLocalContext, type CommandDeps } from './run-commands.js';

/** Adds `mobius schedules ls|pause|resume` to `program`. */
export function registerScheduleCommands(program: Command, deps: CommandDeps): void {
  const schedules = program
    .command('schedules')
    .description('pipelines run on cron schedules and dataset triggers by mobius server');

  schedules
    .command('ls')
    .description('list scheduled and triggered pipelines: next fire, dataset versions, last fire')
    .action(async (_options: unknown, command: Command) => {
      const cfg = await deps.config(command);
      const list =
        cfg.url === undefined
          ? await withLocalContext(cfg, 'schedules ls', (ctx) => ctx.scheduler.list())
          : (await callServer<{ schedules: ScheduleStatus[] }>(cfg, 'GET', '/api/v1/schedules'))
              .schedules;
      emit(deps.json(command), { schedules: list }, () =>
        list.length === 0
          ? 'no scheduled or triggered pipelines (mobius server registers them)'
          : table(
              ['PIPELINE', 'STATE', 'SCHEDULE', 'NEXT', 'TRIGGER', 'LAST FIRE'],
              list.map((s) => [
                s.pipeline,
                s.paused ? 'paused' : 'active',
                s.schedules.map((c) => c.cron).join('; '),
                s.schedules.map((c) => formatTime(c.nextFireAt)).join('; '),
                triggerText(s),
                lastFireText(s),
              ]),
            ),
      );
    });

  for (const action of ['pause', 'resume'] as const) {
    schedules
      .command(`${action} <pipeline>`)
      .description(
        action === 'pause'
          ? 'stop firing a pipeline; what comes due meanwhile waits'
          : 'fire a paused pipeline again; what came due while paused runs once',
      )
      .action(async (name: string, _options: unknown, command: Command) => {
        const status = await change(await deps.config(command), action, name);
        emit(deps.json(command), status, () =>
          action === 'pause' ? `paused '${name}'` : `resumed '${name}'`,
        );
      });
  }
}

async function change(
  cfg: MobiusConfig,
  action: 'pause' | 'resume',
  name: string,
): Promise<ScheduleStatus> {
  if (cfg.url !== undefined)
    return callServer<ScheduleStatus>(
      cfg,
      'POST',
      `/api/v1/schedules/${encodeURIComponent(name)}/${action}`,
    );
  return withLocalContext(cfg, `schedules ${action}`, (ctx) =>
    action === 'pause' ? ctx.scheduler.pause(name) : ctx.scheduler.resume(name),
  );
}

function triggerText(s: ScheduleStatus): string {
  if (s.trigger === null) return '';
  // `churn@3` = the last triggered run consumed version 3; `(new @5)` = version 5 waits.
  const versions = s.trigger.state
    .map(
      (d) =>
        `${d.dataset}@${d.consumedVersion}${d.newestVersion !== null && d.newestVersion > d.consumedVersion ? ` (new @${d.newestVersion})` : ''}`,
    )
    .join(' ');
  return `${s.trigger.when}: ${versions}`;
}

function lastFireText(s: ScheduleStatus): string {
  const f = s.lastFire;
  if (f === null) return '';
  return `${f.trigger} ${formatTime(f.createdAt)} ${f.status}${s.pendingFires > 0 ? ` (+${s.pendingFires} pending)` : ''}`;
}
