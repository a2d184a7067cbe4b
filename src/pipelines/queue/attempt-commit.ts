/**
 * The exactly-once commit of a step attempt. Outputs are already in the blob store
 * (content-addressed: a worker that dies halfway leaves at most an unreferenced blob,
 * never a wrong one); what makes them *the* outputs of an attempt is one row in
 * `step_commit`, whose primary key is (step_run_id, attempt). Whoever inserts it first —
 * the worker that ran the attempt, a sweeper declaring its worker lost, the coordinator
 * cancelling — settles the attempt; every later completion is refused and discarded.
 */
import type { Store } from '../../store/index.js';
import { sql } from '../../store/index.js';
import type { StepOutcome } from '../executor.js';
import { dbNowMs, notifyCommit, type QueueLocation } from './connection.js';

interface Blob {
  sha256: string;
  size: number;
}

/** The final status of an attempt; `lost` = its worker stopped heartbeating. */
export type CommitStatus = 'succeeded' | 'failed' | 'killed' | 'lost';

/** What an attempt's commit records. */
export interface AttemptCommit {
  status: CommitStatus;
  /** The worker that ran it, or null when settled by a sweeper or the coordinator. */
  workerId: string | null;
  outcome: Omit<StepOutcome, 'outputs'>;
  outputs: Record<string, Blob>;
  logs: { stdout?: Blob; stderr?: Blob };
}

/** A stored commit, as the coordinator reads it back. */
export interface StoredCommit extends AttemptCommit {
  committedAt: number;
}

/**
 * Commits `commit` for (stepRunId, attempt) and announces it; false when the attempt
 * was already settled (the commit is then discarded, nothing is written).
 */
export async function commitAttempt(
  store: Store,
  location: QueueLocation,
  stepRunId: string,
  attempt: number,
  commit: AttemptCommit,
): Promise<boolean> {
  return store.write(async (trx) => {
    const inserted = await sql<{ step_run_id: string }>`
      insert into step_commit (step_run_id, attempt, worker_id, status, outcome, outputs, logs, committed_at)
      values (${stepRunId}, ${attempt}, ${commit.workerId}, ${commit.status},
              ${JSON.stringify(commit.outcome)}, ${JSON.stringify(commit.outputs)},
              ${JSON.stringify(commit.logs)}, ${dbNowMs})
      on conflict (step_run_id, attempt) do nothing
      returning step_run_id`.execute(trx);
    if (inserted.rows.length === 0) return false;
    await sql`
      update step_attempt set status = ${commit.status}, ended_at = ${dbNowMs}
      where step_run_id = ${stepRunId} and attempt = ${attempt}`.execute(trx);
    await notifyCommit(trx, location, stepRunId, attempt);
    return true;
  });
}

/**
 * Which of `keys` (`<step run id>:<attempt>`) have a commit: one indexed lookup by the
 * primary key for the whole batch.
 */
export async function settledAmong(store: Store, keys: readonly string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  const ids = keys.map((k) => k.slice(0, k.lastIndexOf(':')));
  const attempts = keys.map((k) => Number(k.slice(k.lastIndexOf(':') + 1)));
  const { rows } = await sql<{ step_run_id: string; attempt: number }>`
    select c.step_run_id, c.attempt
    from unnest(${ids}::text[], ${attempts}::int[]) as k(step_run_id, attempt)
    join step_commit c on c.step_run_id = k.step_run_id and c.attempt = k.attempt`.execute(
    store.db,
  );
  return rows.map((r) => `${r.step_run_id}:${r.attempt}`);
}

/** The commit of (stepRunId, attempt), if there is one. */
export async function readCommit(
  store: Store,
  stepRunId: string,
  attempt: number,
): Promise<StoredCommit | undefined> {
  const { rows } = await sql<{
    worker_id: string | null;
    status: CommitStatus;
    outcome: string;
    outputs: string;
    logs: string;
    committed_at: number;
  }>`select worker_id, status, outcome, outputs, logs, committed_at from step_commit
     where step_run_id = ${stepRunId} and attempt = ${attempt}`.execute(store.db);
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    status: row.status,
    workerId: row.worker_id,
    outcome: JSON.parse(row.outcome) as AttemptCommit['outcome'],
    outputs: JSON.parse(row.outputs) as Record<string, Blob>,
    logs: JSON.parse(row.logs) as AttemptCommit['logs'],
    committedAt: Number(row.committed_at),
  };
}
