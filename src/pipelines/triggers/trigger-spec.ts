/**
 * What a pipeline definition says about when it runs by itself: cron schedules and a
 * dataset trigger. Checked when the pipeline is declared, so a bad cron or trigger fails
 * at load with the pipeline's name, not hours later in the scheduler.
 */
import { MobiusError, checkDatasetName, limits } from '../../core/index.js';
import { parseCron } from './cron.js';

/** What a scheduler does with boundaries it missed while it was not running. */
export const CATCHUP_POLICIES = ['latest', 'all'] as const;
export type CatchupPolicy = (typeof CATCHUP_POLICIES)[number];

/** Readiness rule of a dataset trigger. */
export const TRIGGER_WHEN = ['all', 'any'] as const;
export type TriggerWhen = (typeof TRIGGER_WHEN)[number];

/** A cron schedule as written on a pipeline. */
export interface ScheduleOptions {
  /** Five fields (minute hour day-of-month month day-of-week) or a macro (`@hourly`). */
  cron: string;
  /** Only 'UTC' for now (no daylight-saving jumps to get wrong). */
  timezone?: string;
  /**
   * Boundaries missed while the scheduler was down: `latest` (default) runs the most
   * recent one once, `all` runs each (up to `MAX_SCHEDULE_CATCHUP_FIRES`, newest kept).
   */
  catchup?: CatchupPolicy;
}

/** A dataset trigger as written on a pipeline. */
export interface TriggerOptions {
  /** Dataset names whose new versions start the pipeline. */
  datasets: readonly string[];
  /** `all`: every dataset has a version newer than the last triggered run's; `any`: at least one. Default `all`. */
  when?: TriggerWhen;
  /** Wait this long after the newest new version before starting, so a burst is one run. Default 60 000. */
  coalesceMs?: number;
  /**
   * But never wait longer than this after the first new version (a dataset that changes
   * more often than `coalesceMs` would otherwise never run). Default 10 × coalesceMs.
   */
  maxWaitMs?: number;
}

/** A validated schedule. */
export interface CronSchedule {
  cron: string;
  timezone: 'UTC';
  catchup: CatchupPolicy;
}

/** A validated dataset trigger. */
export interface DatasetTrigger {
  datasets: readonly string[];
  when: TriggerWhen;
  coalesceMs: number;
  maxWaitMs: number;
}

/** Default wait after the newest new version (one minute: a `data add` loop finishes well within it). */
export const DEFAULT_COALESCE_MS = 60_000;

/** Checks `schedule:` (one or a list); INVALID_ARGUMENT naming the pipeline, field and value. */
export function checkSchedules(
  pipelineName: string,
  input: ScheduleOptions | readonly ScheduleOptions[] | undefined,
): CronSchedule[] {
  if (input === undefined) return [];
  const list = Array.isArray(input)
    ? (input as readonly ScheduleOptions[])
    : [input as ScheduleOptions];
  const where = `pipeline '${pipelineName}'`;
  const out: CronSchedule[] = [];
  for (const s of list) {
    if (typeof s !== 'object' || s === null || typeof s.cron !== 'string')
      throw new MobiusError('INVALID_ARGUMENT', `${where}: schedule needs { cron: '…' }`);
    try {
      parseCron(s.cron);
    } catch (error) {
      throw new MobiusError('INVALID_ARGUMENT', `${where}: schedule: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const timezone = s.timezone ?? 'UTC';
    if (timezone !== 'UTC')
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${where}: schedule '${s.cron}' has timezone '${timezone}'; only 'UTC' is supported for now (write the cron in UTC)`,
      );
    const catchup = s.catchup ?? 'latest';
    if (!(CATCHUP_POLICIES as readonly string[]).includes(catchup))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${where}: schedule '${s.cron}' has catchup '${String(catchup)}'; use 'latest' or 'all'`,
      );
    const cron = s.cron.trim();
    if (out.some((o) => o.cron === cron))
      throw new MobiusError('INVALID_ARGUMENT', `${where}: schedule '${cron}' is given twice`);
    out.push({ cron, timezone: 'UTC', catchup });
  }
  if (out.length > limits.MAX_PIPELINE_SCHEDULES)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${where}: ${out.length} schedules; the limit is ${limits.MAX_PIPELINE_SCHEDULES}`,
    );
  return out;
}

/** Checks `trigger:`; INVALID_ARGUMENT naming the pipeline and field. */
export function checkTrigger(
  pipelineName: string,
  input: TriggerOptions | undefined,
): DatasetTrigger | undefined {
  if (input === undefined) return undefined;
  const where = `pipeline '${pipelineName}': trigger`;
  if (!Array.isArray(input.datasets) || input.datasets.length === 0)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${where}: datasets must list at least one dataset name`,
    );
  const datasets = input.datasets.map((d: unknown) => {
    try {
      return checkDatasetName(d);
    } catch (error) {
      throw new MobiusError('INVALID_ARGUMENT', `${where}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  });
  if (new Set(datasets).size !== datasets.length)
    throw new MobiusError('INVALID_ARGUMENT', `${where}: a dataset is listed twice`);
  if (datasets.length > limits.MAX_TRIGGER_DATASETS)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${where}: ${datasets.length} datasets; the limit is ${limits.MAX_TRIGGER_DATASETS}`,
    );
  const when = input.when ?? 'all';
  if (!(TRIGGER_WHEN as readonly string[]).includes(when))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${where}: when is '${String(when)}'; use 'all' (every dataset has a new version) or 'any'`,
    );
  const coalesceMs = input.coalesceMs ?? DEFAULT_COALESCE_MS;
  if (!Number.isSafeInteger(coalesceMs) || coalesceMs < 0)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${where}: coalesceMs must be a whole number of milliseconds ≥ 0, not ${String(coalesceMs)}`,
    );
  const maxWaitMs = input.maxWaitMs ?? coalesceMs * 10;
  if (!Number.isSafeInteger(maxWaitMs) || maxWaitMs < coalesceMs)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${where}: maxWaitMs must be a whole number of milliseconds ≥ coalesceMs (${coalesceMs}), not ${String(maxWaitMs)}`,
    );
  return { datasets, when, coalesceMs, maxWaitMs };
}
