/**
 * The SQLite prediction log's writer thread. better-sqlite3 is synchronous and SQLite
 * commits fsync, so batch inserts on the serving thread stalled inference for 2–14 ms
 * (the long ones at WAL checkpoints); here they run on a connection of their own, off the
 * event loop. The log is already lossy by design (a full buffer drops and counts), so
 * this connection commits with synchronous=NORMAL: durable against a crash of Mobius,
 * not against power loss of the last batches.
 *
 * Messages: `{id, bytes, length}` in (a batch's lines, see prediction-log.ts) or
 * `{id, prune: cutoff}` (delete older records; `{id, deleted}` out), `{id}` or `{id, error}` out once committed.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteDatabase } from '../store/index.js';
import { limits } from '../core/index.js';
import { decode } from './prediction-log.js';

/** Nice steps below the process for the writer thread: a tenth of its CPU weight, not starved. */
const WRITER_NICE = 10;

// Background work yields to serving: on Linux a thread has a nice value of its own, and a
// runnable writer at the serving thread's priority cost it whole scheduler slices (6–8 ms
// stalls on 2 cores). Elsewhere the thread keeps the process's priority.
try {
  const thread = Number(readlinkSync('/proc/thread-self').split('/').pop());
  setPriority(thread, Math.min(19, getPriority(thread) + WRITER_NICE));
} catch {
  // not Linux
}

const db = openSqliteDatabase((workerData as { path: string }).path);
db.pragma('synchronous = NORMAL');
const insert = db.prepare(
  `INSERT INTO prediction_log (request_id, deployment, model, version, route, inputs, outputs, latency_ms, error, created_at)
   VALUES (@request_id, @deployment, @model, @version, @route, @inputs, @outputs, @latency_ms, @error, @created_at)`,
);
const pruneChunk = db.prepare(
  `DELETE FROM prediction_log WHERE seq IN
     (SELECT seq FROM prediction_log WHERE created_at < ? ORDER BY seq LIMIT ?)`,
);
const insertAll = db.transaction((rows: ReturnType<typeof decode>) => {
  for (const row of rows) insert.run(row);
});

parentPort!.on(
  'message',
  (message: { id: number; bytes: Uint8Array; length: number; prune?: number }) => {
    try {
      if (message.prune !== undefined) {
        let deleted = 0;
        for (;;) {
          const n = pruneChunk.run(message.prune, limits.PREDICTION_LOG_PRUNE_CHUNK).changes;
          deleted += n;
          if (n < limits.PREDICTION_LOG_PRUNE_CHUNK) break;
        }
        parentPort!.postMessage({ id: message.id, deleted });
        return;
      }
      insertAll.immediate(decode(message.bytes, message.length));
      parentPort!.postMessage({ id: message.id });
    } catch (error) {
      parentPort!.postMessage({
        id: message.id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  },
);
