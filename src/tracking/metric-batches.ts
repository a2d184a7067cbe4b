/**
 * Client-named metric batches: the claim that makes a retried batch one effect.
 * See migration 007 for why a batch id rather than point uniqueness.
 */
import { MobiusError, sha256Hex } from '../core/index.js';
import type { Database, Transaction } from '../store/index.js';
import type { MetricPoint } from './types.js';

/** Letters, digits, '-', '_', '.', ':' up to 128: room for a UUID or ULID with a prefix. */
const BATCH_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Checks a client's batch id; returns it unchanged. */
export function checkBatchId(batchId: string): string {
  if (!BATCH_ID.test(batchId))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `batch id '${batchId.slice(0, 40)}' must be 1-128 letters, digits, '.', '_', ':' or '-' (a UUID works)`,
    );
  return batchId;
}

/** sha256 of the points, with NaN and ±Infinity spelled out (JSON would turn them into null). */
export function batchDigest(metrics: readonly MetricPoint[]): string {
  return sha256Hex(
    JSON.stringify(
      metrics.map((m) => [
        m.key,
        Number.isFinite(m.value) ? m.value : String(m.value),
        m.step,
        m.timestamp,
      ]),
    ),
  );
}

/**
 * Records `batchId` for `runId` inside the batch's own transaction. True when this is the
 * first time (write the points); false when the same batch was already recorded (a retry:
 * write nothing). The same id with different points is CONFLICT.
 */
export async function claimMetricBatch(
  trx: Transaction<Database>,
  runId: string,
  batchId: string,
  metrics: readonly MetricPoint[],
  now: number,
): Promise<boolean> {
  const digest = batchDigest(metrics);
  const inserted = await trx
    .insertInto('metric_batch')
    .values({ run_id: runId, batch_id: batchId, digest, points: metrics.length, created_at: now })
    .onConflict((oc) => oc.columns(['run_id', 'batch_id']).doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0) return true;
  const prior = await trx
    .selectFrom('metric_batch')
    .select('digest')
    .where('run_id', '=', runId)
    .where('batch_id', '=', batchId)
    .executeTakeFirstOrThrow();
  if (prior.digest !== digest)
    throw new MobiusError(
      'CONFLICT',
      `batch '${batchId}' was already recorded for run '${runId}' with different points: use a new batch id for new points`,
    );
  return false;
}
