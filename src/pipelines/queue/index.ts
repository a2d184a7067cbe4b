/**
 * pipelines/queue: distributed step execution through PostgreSQL (graphile-worker).
 * Loaded only when used (`executor: 'queue'`, `mobius worker`): it pulls in pg and the
 * queue library, which a local pipeline never needs.
 */
export { QueueExecutor } from './queue-executor.js';
export type { QueueExecutorOptions } from './queue-executor.js';
export { StepWorker } from './step-worker.js';
export type { StepWorkerOptions } from './step-worker.js';
export { commitAttempt, readCommit } from './attempt-commit.js';
export type { AttemptCommit, CommitStatus, StoredCommit } from './attempt-commit.js';
export { sweepLostWorkers } from './lost-workers.js';
export { checkQueueName, queueLocation } from './connection.js';
export type { QueueLocation } from './connection.js';
export { toQueuedAttempt, parseQueuedAttempt } from './queued-attempt.js';
export type { QueuedAttempt } from './queued-attempt.js';
