/** Schedules and dataset triggers: when pipelines run by themselves. */
export { parseCron, nextCronTime, previousCronTime, cronMatches } from './cron.js';
export type { CronExpression } from './cron.js';
export {
  CATCHUP_POLICIES,
  TRIGGER_WHEN,
  DEFAULT_COALESCE_MS,
  checkSchedules,
  checkTrigger,
} from './trigger-spec.js';
export type {
  CatchupPolicy,
  CronSchedule,
  DatasetTrigger,
  ScheduleOptions,
  TriggerOptions,
  TriggerWhen,
} from './trigger-spec.js';
export {
  Scheduler,
  tagsFor,
  TRIGGER_TAG,
  TRIGGER_FIRE_TAG,
  TRIGGER_CRON_TAG,
  TRIGGER_DATASETS_TAG,
  TRIGGER_SCHEDULED_FOR_TAG,
} from './scheduler.js';
export type {
  Fire,
  FireReason,
  Launch,
  LaunchRequest,
  LaunchRunOptions,
  Registration,
  ScheduleStatus,
  SchedulerDeps,
} from './scheduler.js';
export { pipelineLauncher } from './launcher.js';
