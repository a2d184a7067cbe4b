/**
 * The prediction log's write path on both backends (on SQLite through its writer thread):
 * what `record` takes is what the store holds — text with tabs, newlines and any Unicode,
 * failed requests without outputs — and both buffer bounds (records and bytes) drop and
 * count instead of growing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, createLogger, limits, loadConfig } from '../src/core/index.js';
import { PredictionLog, type PredictionRecord } from '../src/serving/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';
import { linearModel } from './helpers/models.js';

const record = (i: number, extra: Partial<PredictionRecord> = {}): PredictionRecord => ({
  requestId: `r${i}`,
  deployment: 'd',
  model: 'm',
  version: 2,
  route: 'primary',
  inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [i, 0.5] }],
  outputs: [{ name: 'y', shape: [1], datatype: 'FP32', data: [i * 2] }],
  latencyMs: 0.25,
  error: undefined,
  at: 1_700_000_000_000 + i,
  ...extra,
});

for (const backend of STORE_BACKENDS) {
  describe(`prediction log: ${backend}`, () => {
    let t: TestContext;
    let log: PredictionLog | undefined;
    afterEach(async () => {
      await log?.close();
      log = undefined;
      await t.cleanup();
    });
    const open = async (options: ConstructorParameters<typeof PredictionLog>[2] = {}) => {
      t = await openTestContext(backend);
      const store = t.ctx.config.store;
      log = new PredictionLog(t.ctx.store, createLogger('silent'), {
        ...(store.startsWith('sqlite:') ? { sqlitePath: store.slice('sqlite:'.length) } : {}),
        flushIntervalMs: 60_000,
        ...options,
      });
      return log;
    };
    const rows = () =>
      t.ctx.store.db.selectFrom('prediction_log').selectAll().orderBy('request_id').execute();

    it('stores each record as given: text with tabs, newlines and any Unicode; failures without outputs', async () => {
      const log = await open({ batchSize: 2 });
      const odd = 'tab\there\nnewline "quote" \\ é 漢字 🧪 \u2028 \u0000';
      expect(log.record(record(1))).toBe(true);
      expect(log.record(record(2, { inputs: [{ name: odd, data: [odd] }], route: 'shadow' }))).toBe(
        true,
      );
      expect(
        log.record(
          record(3, {
            outputs: undefined,
            error: `bad input: ${odd}`,
            model: undefined,
            version: undefined,
          }),
        ),
      ).toBe(true);
      await log.flush();
      expect(log.pending).toBe(0);
      const stored = await rows();
      expect(stored.map((r) => r.request_id)).toEqual(['r1', 'r2', 'r3']);
      expect(JSON.parse(stored[0]!.inputs)).toEqual(record(1).inputs);
      expect(JSON.parse(stored[0]!.outputs!)).toEqual(record(1).outputs);
      expect(stored[0]).toMatchObject({
        deployment: 'd',
        model: 'm',
        version: 2,
        route: 'primary',
      });
      expect(Number(stored[0]!.latency_ms)).toBe(0.25);
      expect(Number(stored[0]!.created_at)).toBe(1_700_000_000_001);
      expect(JSON.parse(stored[1]!.inputs)).toEqual([{ name: odd, data: [odd] }]);
      expect(stored[1]!.route).toBe('shadow');
      expect(stored[2]).toMatchObject({
        outputs: null,
        // PostgreSQL text cannot hold NUL: it is stored as U+FFFD on both backends.
        error: `bad input: ${odd.replace('\u0000', '\ufffd')}`,
        model: null,
        version: null,
      });
      expect(log.dropped('d')).toBe(0);
    });

    it('writes a batch once it holds batchBytes, whatever its record count', async () => {
      const log = await open({ batchSize: 1_000, batchBytes: 2_000 });
      const big = { name: 'x', data: 'x'.repeat(900) };
      for (let i = 0; i < 5; i++) log.record(record(i, { inputs: big }));
      // Full batches are written without waiting for the timer: two of ~1 KB records each.
      await expect.poll(async () => (await rows()).length, { timeout: 5_000 }).toBe(4);
      expect(log.pending).toBe(1);
      await log.flush();
      expect((await rows()).length).toBe(5);
    });

    it('drops and counts past its byte bound as past its record bound; the rest is stored', async () => {
      const log = await open({ bufferSize: 3, bufferBytes: 30_000, batchSize: 1_000 });
      const heavy = { name: 'x', data: 'y'.repeat(8_000) };
      const kept = [
        log.record(record(1, { inputs: heavy })),
        log.record(record(2, { inputs: heavy })), // ~8 KB stored + ~8 KB × 3 (the UTF-8 bound) > 30 KB
        log.record(record(3)),
        log.record(record(4)),
        log.record(record(5)), // past 3 records
      ];
      expect(kept).toEqual([true, false, true, true, false]);
      expect(log.dropped('d')).toBe(2);
      await log.flush();
      expect((await rows()).map((r) => r.request_id)).toEqual(['r1', 'r3', 'r4']);
      // Written records free their room.
      expect(log.record(record(6, { inputs: heavy }))).toBe(true);
    });

    it('prune deletes the records created before the cutoff, in chunks, and keeps the rest', async () => {
      const log = await open({ batchSize: 1_000 });
      // 12,000 old records (more than two delete chunks) and 3 recent ones, interleaved in
      // insertion order as clocks allow.
      const old = 2 * limits.PREDICTION_LOG_PRUNE_CHUNK + 2_000;
      for (let i = 0; i < old; i++) {
        log.record(record(i, { requestId: `old-${i}`, at: 1_000 + i }));
        if (i % 1_000 === 999) await log.flush();
      }
      for (let i = 0; i < 3; i++) log.record(record(i, { requestId: `new-${i}`, at: 50_000 + i }));
      await log.flush();
      expect(await log.prune(50_000)).toBe(old);
      expect((await rows()).map((r) => r.request_id)).toEqual(['new-0', 'new-1', 'new-2']);
      expect(await log.prune(50_000)).toBe(0);
    }, 60_000);

    it('mobius server prunes by serving.predictionRetentionDays when it starts (unset: never)', async () => {
      const day = 86_400_000;
      const clock = new ManualClock(60 * day);
      t = await openTestContext(backend, { serving: { predictionRetentionDays: 30 } }, { clock });
      const { ctx } = t;
      await ctx.serving.deploy('d', Buffer.from(linearModel(2)));
      await ctx.serving.serveInfer('d', { id: 'sixty-days-ago', inputs: LIN });
      clock.advance(20 * day);
      await ctx.serving.serveInfer('d', { id: 'twenty-days-ago', inputs: LIN });
      clock.advance(20 * day);
      await ctx.deployments.flushPredictions();
      // What `mobius server` does: start syncing (and pruning), later stop (after the prune).
      await ctx.deployments.start(60_000);
      await ctx.deployments.stop();
      expect((await rows()).map((r) => r.request_id)).toEqual(['twenty-days-ago']);
      // The setting, from the environment as from a file: days ≥ 1, or unset.
      const env = (days: string) => ({ MOBIUS_PREDICTION_RETENTION_DAYS: days });
      const cwd = t.ctx.config.home;
      expect((await loadConfig({ cwd, env: env('30') })).serving.predictionRetentionDays).toBe(30);
      await expect(loadConfig({ cwd, env: env('0') })).rejects.toThrow(
        /serving\.predictionRetentionDays/,
      );
      expect((await loadConfig({ cwd, env: {} })).serving.predictionRetentionDays).toBeUndefined();
    });
  });
}

const LIN = [{ name: 'input', datatype: 'FP64', shape: [1, 1], data: [3] }];
