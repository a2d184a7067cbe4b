/** The tracking domain on every backend: experiments, runs, params, metrics, tags. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openBlobStore } from '../src/blobs/index.js';
import { resolveConfig, systemClock } from '../src/core/index.js';
import { TrackingService } from '../src/tracking/index.js';
import { STORE_BACKENDS, openTestStore, type TestStore } from './helpers/stores.js';

for (const backend of STORE_BACKENDS) {
  describe(`tracking: ${backend}`, () => {
    let t: TestStore;
    let tracking: TrackingService;
    beforeEach(async () => {
      t = await openTestStore(backend);
      const blobs = await openBlobStore(
        `file:${mkdtempSync(join(tmpdir(), 'mobius-blobs-'))}`,
        resolveConfig({}, tmpdir()).s3,
      );
      tracking = new TrackingService(t.store, blobs, systemClock);
    });
    afterEach(async () => {
      await t.cleanup();
    });

    const newRun = async () => {
      const experimentId = await tracking.experiments.create({ name: `e-${Math.random()}` });
      return tracking.runs.create({ experimentId });
    };

    it('writes a run, its batch, its status and an artifact row in an outer transaction: all of it or none', async () => {
      const experimentId = await tracking.experiments.create({ name: 'outer-trx' });
      const blob = await tracking.artifacts.put('loose/file.txt', Readable.from(['bytes']));
      const failing = t.store.write(async (trx) => {
        const run = await tracking.runs.create({ experimentId, name: 'rolled-back' }, { trx });
        await tracking.runs.logBatch(run.info.id, { params: [{ key: 'p', value: '1' }] }, { trx });
        throw new Error('after the writes');
      });
      await expect(failing).rejects.toThrow('after the writes');
      expect((await tracking.runs.search({ experimentIds: [experimentId] })).runs).toEqual([]);

      const created = await t.store.write(async (trx) => {
        const run = await tracking.runs.create(
          { experimentId, name: 'kept', tags: { a: 'b' } },
          { trx },
        );
        await tracking.runs.logBatch(
          run.info.id,
          {
            params: [{ key: 'p', value: '1' }],
            metrics: [{ key: 'm', value: 2, timestamp: 1, step: 0 }],
          },
          { trx },
        );
        const root = run.info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
        await tracking.artifacts.record(`${root}/out.txt`, blob, { trx });
        await tracking.runs.update(run.info.id, { status: 'FINISHED', endTime: 5 }, { trx });
        return run;
      });
      // What create returns inside a transaction is what a read gives (before the batch).
      expect(created.info.status).toBe('RUNNING');
      expect(created.data.tags).toEqual({ a: 'b', 'mlflow.runName': 'kept' });
      const read = await tracking.runs.get(created.info.id);
      expect(read.info).toEqual({ ...created.info, status: 'FINISHED', endTime: 5 });
      expect(read.data.params).toEqual({ p: '1' });
      expect(read.data.metrics.map((m) => [m.key, m.value])).toEqual([['m', 2]]);
      const root = read.info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
      const file = await tracking.artifacts.open(`${root}/out.txt`);
      expect(file.size).toBe(5);
      file.stream.resume();
    });

    it('has the default experiment 0, which cannot be deleted', async () => {
      expect((await tracking.experiments.get('0')).name).toBe('Default');
      await expect(tracking.experiments.setLifecycle('0', 'deleted')).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    });

    it('creates, renames, tags, deletes and restores an experiment (and its runs)', async () => {
      const id = await tracking.experiments.create({ name: 'churn', tags: { team: 'ml' } });
      expect(id).toMatch(/^\d+$/);
      const run = await tracking.runs.create({ experimentId: id });
      await tracking.experiments.rename(id, 'churn-v2');
      await tracking.experiments.setTag(id, 'owner', 'ana');
      expect(await tracking.experiments.getByName('churn-v2')).toMatchObject({
        id,
        tags: { team: 'ml', owner: 'ana' },
      });
      await tracking.experiments.setLifecycle(id, 'deleted');
      expect((await tracking.runs.get(run.info.id)).info.lifecycleStage).toBe('deleted');
      await tracking.experiments.setLifecycle(id, 'active');
      expect((await tracking.runs.get(run.info.id)).info.lifecycleStage).toBe('active');
    });

    it('refuses a duplicate experiment name, also when spelt with Unicode look-alikes (NFD vs NFC)', async () => {
      await tracking.experiments.create({ name: 'café' });
      await expect(tracking.experiments.create({ name: 'cafe\u0301' })).rejects.toMatchObject({
        code: 'ALREADY_EXISTS',
      });
    });

    it('refuses 100k-character names and invisible characters', async () => {
      await expect(tracking.experiments.create({ name: 'x'.repeat(100_000) })).rejects.toThrow(
        /limit is 500/,
      );
      await expect(tracking.experiments.create({ name: 'a\u200bb' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    });

    it('starts runs with a name, the runName tag, RUNNING status and an artifact URI', async () => {
      const run = await newRun();
      expect(run.info.status).toBe('RUNNING');
      expect(run.info.id).toMatch(/^[0-9a-f]{32}$/);
      expect(run.info.name).toMatch(/^[a-z]+-[a-z]+-\d+$/);
      expect(run.data.tags['mlflow.runName']).toBe(run.info.name);
      expect(run.info.artifactUri).toBe(
        `mlflow-artifacts:/${run.info.experimentId}/${run.info.id}/artifacts`,
      );
    });

    it('params are immutable: same value is a no-op, a different one is CONFLICT naming both', async () => {
      const { info } = await newRun();
      await tracking.runs.logBatch(info.id, { params: [{ key: 'lr', value: '0.1' }] });
      await tracking.runs.logBatch(info.id, { params: [{ key: 'lr', value: '0.1' }] });
      const error = await tracking.runs
        .logBatch(info.id, { params: [{ key: 'lr', value: '0.2' }] })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'CONFLICT' });
      expect((error as Error).message).toContain("'0.1'");
      expect((error as Error).message).toContain("'0.2'");
    });

    it('a batch is atomic: a conflicting param leaves nothing else of the batch behind', async () => {
      const { info } = await newRun();
      await tracking.runs.logBatch(info.id, { params: [{ key: 'lr', value: '0.1' }] });
      await tracking.runs
        .logBatch(info.id, {
          params: [{ key: 'lr', value: '0.3' }],
          tags: [{ key: 't', value: 'x' }],
          metrics: [{ key: 'm', value: 1, timestamp: 1, step: 0 }],
        })
        .catch(() => undefined);
      const run = await tracking.runs.get(info.id);
      expect(run.data.tags.t).toBeUndefined();
      expect(run.data.metrics).toEqual([]);
    });

    it('refuses the same param twice in one batch with different values', async () => {
      const { info } = await newRun();
      await expect(
        tracking.runs.logBatch(info.id, {
          params: [
            { key: 'a', value: '1' },
            { key: 'a', value: '2' },
          ],
        }),
      ).rejects.toThrow(/appears twice/);
    });

    it('NaN and ±Infinity metrics round-trip, in history and as latest values', async () => {
      const { info } = await newRun();
      const values = [NaN, Infinity, -Infinity, 1.5];
      await tracking.runs.logBatch(info.id, {
        metrics: values.map((value, step) => ({ key: 'x', value, timestamp: 10, step })),
      });
      expect((await tracking.runs.metricHistory(info.id, 'x')).map((m) => m.value)).toEqual(values);
      await tracking.runs.logBatch(info.id, {
        metrics: [{ key: 'n', value: NaN, timestamp: 1, step: 0 }],
      });
      const latest = Object.fromEntries(
        (await tracking.runs.get(info.id)).data.metrics.map((m) => [m.key, m.value]),
      );
      expect(latest).toEqual({ x: 1.5, n: NaN });
    });

    it('the latest metric is the highest step, and a late older point does not replace it', async () => {
      const { info } = await newRun();
      await tracking.runs.logBatch(info.id, {
        metrics: [{ key: 'acc', value: 0.9, timestamp: 100, step: 5 }],
      });
      await tracking.runs.logBatch(info.id, {
        metrics: [{ key: 'acc', value: 0.1, timestamp: 200, step: 1 }],
      });
      expect((await tracking.runs.get(info.id)).data.metrics).toEqual([
        { key: 'acc', value: 0.9, timestamp: 100, step: 5 },
      ]);
      await tracking.runs.logBatch(info.id, {
        metrics: [{ key: 'acc', value: 0.95, timestamp: 300, step: 5 }],
      });
      expect((await tracking.runs.get(info.id)).data.metrics[0]?.value).toBe(0.95);
    });

    it('tags overwrite; deleting a missing tag is NOT_FOUND', async () => {
      const { info } = await newRun();
      await tracking.runs.logBatch(info.id, { tags: [{ key: 'k', value: '1' }] });
      await tracking.runs.logBatch(info.id, { tags: [{ key: 'k', value: '2' }] });
      expect((await tracking.runs.get(info.id)).data.tags.k).toBe('2');
      await tracking.runs.deleteTag(info.id, 'k');
      await expect(tracking.runs.deleteTag(info.id, 'k')).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
    });

    it('refuses over-limit batches, 1 MB tag values and path-trick keys', async () => {
      const { info } = await newRun();
      const metrics = Array.from({ length: 1001 }, (_, i) => ({
        key: 'm',
        value: i,
        timestamp: 0,
        step: i,
      }));
      await expect(tracking.runs.logBatch(info.id, { metrics })).rejects.toThrow(
        /at most 1000 metrics/,
      );
      const params = Array.from({ length: 101 }, (_, i) => ({ key: `p${i}`, value: '1' }));
      await expect(tracking.runs.logBatch(info.id, { params })).rejects.toThrow(
        /at most 100 params/,
      );
      await expect(
        tracking.runs.logBatch(info.id, { tags: [{ key: 'big', value: 'x'.repeat(1024 * 1024) }] }),
      ).rejects.toThrow(/limit is 5000/);
      for (const key of ['../etc', 'a//b', '/abs', 'x\u0000y']) {
        await expect(
          tracking.runs.logBatch(info.id, { params: [{ key, value: '1' }] }),
          key,
        ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
    });

    it('8 writers logging to one run at once lose nothing and agree on the latest value', async () => {
      const { info } = await newRun();
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let b = 0; b < 5; b++) {
            const metrics = Array.from({ length: 100 }, (_, i) => ({
              key: 'loss',
              value: w * 1000 + b * 100 + i,
              timestamp: 1,
              step: w * 1000 + b * 100 + i,
            }));
            // A few points of 'acc' too: small appends merge into the series' last
            // segment, which the 8 writers race for.
            for (let j = 0; j < 5; j++)
              metrics.push({ key: 'acc', value: j, timestamp: 1, step: w * 100 + b * 5 + j });
            await tracking.runs.logBatch(info.id, {
              metrics,
              tags: [{ key: `w${w}`, value: String(b) }],
              params: [{ key: `p${w}`, value: 'x' }],
            });
          }
        }),
      );
      // Concurrent batches merge into the same packed segment: every point exactly once.
      const history = await tracking.runs.metricHistory(info.id, 'loss');
      const expected = Array.from({ length: 8 }, (_, w) =>
        Array.from({ length: 500 }, (_, i) => w * 1000 + i),
      ).flat();
      expect(history.map((p) => p.step)).toEqual(expected);
      expect(history.every((p) => p.value === p.step)).toBe(true);
      const acc = await tracking.runs.metricHistory(info.id, 'acc');
      expect(acc.map((p) => p.step)).toEqual(
        Array.from({ length: 8 }, (_, w) =>
          Array.from({ length: 25 }, (_, i) => w * 100 + i),
        ).flat(),
      );
      const run = await tracking.runs.get(info.id);
      expect(run.data.metrics).toEqual(
        expect.arrayContaining([
          { key: 'loss', value: 7499, timestamp: 1, step: 7499 },
          { key: 'acc', value: 4, timestamp: 1, step: 724 },
        ]),
      );
      expect(run.data.metrics).toHaveLength(2);
      expect(Object.keys(run.data.params)).toHaveLength(8);
    });

    it('racing FINISHED and KILLED updates end in exactly one final status', async () => {
      const { info } = await newRun();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          tracking.runs.update(info.id, {
            status: i % 2 === 0 ? 'FINISHED' : 'KILLED',
            endTime: 1000 + i,
          }),
        ),
      );
      const final = await tracking.runs.get(info.id);
      expect(['FINISHED', 'KILLED']).toContain(final.info.status);
      // The stored status and end time come from one and the same update.
      const winner = results.find((r) => r.endTime === final.info.endTime);
      expect(winner?.status).toBe(final.info.status);
    });

    it('prototype pollution: param and tag keys such as __proto__ stay plain keys of the run', async () => {
      const { info } = await newRun();
      await tracking.runs.logBatch(info.id, {
        params: [
          { key: '__proto__', value: 'p' },
          { key: 'constructor', value: 'c' },
        ],
        tags: [{ key: '__proto__', value: 't' }],
      });
      const [run] = await tracking.runs.getMany([info.id]);
      expect(Object.getPrototypeOf(run!.data.params)).toBe(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(run!.data.params, '__proto__')?.value).toBe('p');
      expect(Object.keys(run!.data.params).sort()).toEqual(['__proto__', 'constructor']);
      expect(Object.getOwnPropertyDescriptor(run!.data.tags, '__proto__')?.value).toBe('t');
      expect(({} as Record<string, unknown>).p).toBeUndefined();
    });

    it('a deleted run refuses new data until restored', async () => {
      const { info } = await newRun();
      await tracking.runs.setLifecycle(info.id, 'deleted');
      await expect(
        tracking.runs.logBatch(info.id, { tags: [{ key: 'k', value: 'v' }] }),
      ).rejects.toThrow(/deleted/);
      await tracking.runs.setLifecycle(info.id, 'active');
      await tracking.runs.logBatch(info.id, { tags: [{ key: 'k', value: 'v' }] });
    });

    const read = async (stream: NodeJS.ReadableStream) => {
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
      return Buffer.concat(chunks).toString();
    };

    it('artifacts: put, read, list a directory, overwrite, delete', async () => {
      const { info } = await newRun();
      const root = `${info.experimentId}/${info.id}/artifacts`;
      await tracking.artifacts.put(`${root}/model/MLmodel`, Readable.from(['flavors: {}']));
      await tracking.artifacts.put(`${root}/model/model.pkl`, Buffer.from('bytes'));
      await tracking.artifacts.put(`${root}/notes.txt`, Buffer.from('v1'));
      await tracking.artifacts.put(`${root}/notes.txt`, Buffer.from('v2'));
      expect(await read((await tracking.artifacts.open(`${root}/notes.txt`)).stream)).toBe('v2');
      expect(await tracking.artifacts.list(root)).toEqual([
        { name: 'model', isDir: true },
        { name: 'notes.txt', isDir: false, size: 2 },
      ]);
      expect((await tracking.artifacts.list(`${root}/model`)).map((e) => e.name)).toEqual([
        'MLmodel',
        'model.pkl',
      ]);
      const linked = await t.store.db
        .selectFrom('artifact')
        .select('run_id')
        .where('path', '=', `${root}/notes.txt`)
        .executeTakeFirstOrThrow();
      expect(linked.run_id).toBe(info.id);
      expect(await tracking.artifacts.delete(`${root}/model`)).toBe(2);
      await expect(tracking.artifacts.open(`${root}/model/MLmodel`)).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
    });

    it('artifacts: a top-level file (no parent directories) can be written', async () => {
      await tracking.artifacts.put('top.txt', Buffer.from('1'));
      expect(await tracking.artifacts.list('')).toEqual([
        { name: 'top.txt', isDir: false, size: 1 },
      ]);
    });

    it('artifacts: a file cannot shadow a directory or sit inside a file', async () => {
      await tracking.artifacts.put('x/dir/file.txt', Buffer.from('1'));
      await expect(tracking.artifacts.put('x/dir', Buffer.from('2'))).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      await expect(
        tracking.artifacts.put('x/dir/file.txt/inner', Buffer.from('3')),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
    });

    it("artifacts: LIKE wildcards in names ('%', '_') match only themselves", async () => {
      await tracking.artifacts.put('w/a_b/1.txt', Buffer.from('1'));
      await tracking.artifacts.put('w/axb/2.txt', Buffer.from('2'));
      await tracking.artifacts.put('w/100%/3.txt', Buffer.from('3'));
      await tracking.artifacts.put('w/100x/4.txt', Buffer.from('4'));
      expect((await tracking.artifacts.list('w/a_b')).map((e) => e.name)).toEqual(['1.txt']);
      expect((await tracking.artifacts.list('w/100%25')).map((e) => e.name)).toEqual(['3.txt']);
    });

    it('artifacts: traversal in any form is refused and nothing is written', async () => {
      for (const path of [
        '../x',
        'a/../../x',
        '..%2fx',
        '%252e%252e%252fx',
        'a\\..\\x',
        '/etc/passwd',
        'C:\\x',
        'a#b',
        'a?b',
        'a;b',
        'a%00b',
        'file:///etc/passwd',
      ]) {
        await expect(tracking.artifacts.put(path, Buffer.from('x')), path).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
        });
      }
      expect(await t.store.db.selectFrom('artifact').selectAll().execute()).toEqual([]);
    });

    it('logged models: created PENDING under the experiment, finalized READY, linked to their run', async () => {
      const run = await newRun();
      const model = await tracking.loggedModels.create({
        experimentId: run.info.experimentId,
        name: 'clf',
        sourceRunId: run.info.id,
        params: [{ key: 'C', value: '1.0' }],
        tags: [{ key: 't', value: 'x' }],
      });
      expect(model).toMatchObject({
        status: 'LOGGED_MODEL_PENDING',
        name: 'clf',
        params: { C: '1.0' },
        tags: { t: 'x' },
      });
      expect(model.id).toMatch(/^m-[0-9a-f]{32}$/);
      expect(model.artifactUri).toBe(
        `mlflow-artifacts:/${run.info.experimentId}/models/${model.id}/artifacts`,
      );
      expect((await tracking.loggedModels.finalize(model.id, 'LOGGED_MODEL_READY')).status).toBe(
        'LOGGED_MODEL_READY',
      );
      await expect(tracking.loggedModels.finalize(model.id, 'DONE')).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      const edges = await t.store.db
        .selectFrom('edge')
        .selectAll()
        .where('to_id', '=', model.id)
        .execute();
      expect(edges).toMatchObject([
        { from_kind: 'run', from_id: run.info.id, relation: 'produced' },
      ]);
    });

    it('logged models: params are immutable, tags overwrite, search filters by run and name', async () => {
      const run = await newRun();
      const experimentId = run.info.experimentId;
      const a = await tracking.loggedModels.create({
        experimentId,
        name: 'a',
        sourceRunId: run.info.id,
      });
      const b = await tracking.loggedModels.create({ experimentId, name: 'b' });
      await tracking.loggedModels.logParams(a.id, [{ key: 'p', value: '1' }]);
      await expect(
        tracking.loggedModels.logParams(a.id, [{ key: 'p', value: '2' }]),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
      await tracking.loggedModels.setTags(a.id, [{ key: 'k', value: '1' }]);
      await tracking.loggedModels.setTags(a.id, [{ key: 'k', value: '2' }]);
      expect((await tracking.loggedModels.get(a.id)).tags).toEqual({ k: '2' });
      const byRun = await tracking.loggedModels.search({
        experimentIds: [experimentId],
        filter: `source_run_id = '${run.info.id}'`,
      });
      expect(byRun.map((m) => m.id)).toEqual([a.id]);
      const byName = await tracking.loggedModels.search({
        experimentIds: [experimentId],
        filter: "name = 'b'",
      });
      expect(byName.map((m) => m.id)).toEqual([b.id]);
      await expect(
        tracking.loggedModels.search({ experimentIds: [experimentId], filter: 'metrics.x > 1' }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await tracking.loggedModels.delete(b.id);
      await expect(tracking.loggedModels.get(b.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('unknown runs and experiments are NOT_FOUND', async () => {
      await expect(tracking.runs.get('f'.repeat(32))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(tracking.runs.create({ experimentId: '999' })).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
    });
  });
}
