/**
 * The sweeper: finds step attempts held by workers whose heartbeat is older than
 * `lostAfterMs` (by the database's clock), settles each as `lost` (an attempt that died:
 * the coordinator reports it killed with "worker lost", and the scheduler retries it on
 * any live worker if the step has retries left), and unlocks the dead worker's queue
 * jobs at once instead of after graphile-worker's four-hour lock timeout. Run by every
 * worker on each heartbeat and by the coordinator while it waits; several sweepers at
 * once are safe because the commit is exactly-once.
 */
import type { Logger } from '../../core/index.js';
import { sql, type Store } from '../../store/index.js';
import { commitAttempt } from './attempt-commit.js';
import { dbNowMs, type QueueLocation } from './connection.js';

/** Settles the attempts of lost workers; returns how many it settled. */
export async function sweepLostWorkers(
  store: Store,
  location: QueueLocation,
  lostAfterMs: number,
  logger: Logger,
): Promise<number> {
  const { rows } = await sql<{
    step_run_id: string;
    attempt: number;
    worker_id: string;
    queue_worker_id: string | null;
    host: string;
    pid: number;
    silent_ms: number;
  }>`select a.step_run_id, a.attempt, a.worker_id, a.queue_worker_id, w.host, w.pid,
            ${dbNowMs} - w.last_heartbeat as silent_ms
     from step_attempt a join worker w on w.id = a.worker_id
     where a.status = 'running' and w.last_heartbeat < ${dbNowMs} - ${lostAfterMs}`.execute(
    store.db,
  );
  let settled = 0;
  for (const r of rows) {
    const reason = `worker lost: worker ${r.worker_id} on ${r.host} (pid ${r.pid}) stopped heartbeating ${(Number(r.silent_ms) / 1000).toFixed(1)} s ago`;
    const won = await commitAttempt(store, location, r.step_run_id, r.attempt, {
      status: 'lost',
      workerId: null,
      outcome: {
        status: 'killed',
        exitCode: null,
        signal: null,
        exitReason: reason,
        wallMs: 0,
        cpuMs: undefined,
        peakRssBytes: undefined,
      },
      outputs: {},
      logs: {},
    });
    if (won) {
      settled++;
      logger.warn({ stepRunId: r.step_run_id, attempt: r.attempt }, reason);
    }
  }
  const lost = await sql<{ id: string; queue_worker_ids: string }>`
    update worker set state = 'lost', stopped_at = ${dbNowMs}
    where state = 'running' and last_heartbeat < ${dbNowMs} - ${lostAfterMs}
    returning id, queue_worker_ids`.execute(store.db);
  const slots = new Set(
    rows.flatMap((r) => (r.queue_worker_id === null ? [] : [r.queue_worker_id])),
  );
  for (const w of lost.rows)
    for (const id of JSON.parse(w.queue_worker_ids) as string[]) slots.add(id);
  if (slots.size > 0)
    // Their jobs run again at once on a live worker (instead of after graphile-worker's
    // four-hour lock timeout): a settled attempt finishes as a no-op, an unclaimed one runs.
    await sql`select ${sql.id(location.queueSchema)}.force_unlock_workers(${[...slots]}::text[])`.execute(
      store.db,
    );
  if (lost.rows.length > 0)
    logger.warn({ workers: lost.rows.map((w) => w.id) }, 'workers lost (heartbeat expired)');
  return settled;
}
