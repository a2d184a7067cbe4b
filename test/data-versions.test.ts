/**
 * Dataset versions (issue 4, phase 1) through DataService on every metadata backend:
 * generated data with known answers, refs and tags, get, diff, lineage, and bad input —
 * each refused with a message saying what to fix and nothing half-created.
 */
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FsBlobStore } from '../src/blobs/index.js';
import { sqlString } from '../src/engine/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { refused } from './helpers/refused.js';
import { STORE_BACKENDS, openTestStore } from './helpers/stores.js';

const N = 1000;

/** id 1..N; x = id % 10 (null when id % 5 = 0); grp cycles a,b,c,d; score = id / 4. */
function knownCsv(rows = N, extra?: (id: number) => string): string {
  const lines = [`id,x,grp,score${extra === undefined ? '' : ',extra'}`];
  for (let id = 1; id <= rows; id++) {
    const x = id % 5 === 0 ? '' : String(id % 10);
    const grp = 'abcd'[id % 4]!;
    lines.push(`${id},${x},${grp},${id / 4}${extra === undefined ? '' : `,${extra(id)}`}`);
  }
  return `${lines.join('\n')}\n`;
}

const sha = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex');

for (const backend of STORE_BACKENDS) {
  describe(`dataset versions: ${backend}`, () => {
    let t: TestContext;
    let dir: string;
    const file = (path: string, content: string | Buffer) => {
      const full = join(dir, path);
      mkdirSync(join(full, '..'), { recursive: true });
      writeFileSync(full, content);
      return full;
    };
    const add = (name: string, source: string, extra: object = {}) =>
      t.ctx.data.add({ name, source, cwd: dir, ...extra });
    const datasetCount = async () =>
      (await t.ctx.store.db.selectFrom('dataset').select('id').execute()).length;

    beforeAll(async () => {
      t = await openTestContext(backend);
      dir = mkdtempSync(join(tmpdir(), 'mobius-data-'));
    });
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('adds a CSV as version 1 with schema, row count and a profile of known answers', async () => {
      const csv = knownCsv();
      file('known.csv', csv);
      const { version, created } = await add('known', 'known.csv');
      expect(created).toBe(true);
      expect(version).toMatchObject({
        dataset: 'known',
        version: 1,
        format: 'csv',
        rowCount: N,
        columnCount: 4,
        fileCount: 1,
        totalBytes: Buffer.byteLength(csv),
        tags: ['latest'],
      });
      expect(version.manifest.files).toEqual([
        { path: 'known.csv', sha256: sha(csv), size: Buffer.byteLength(csv) },
      ]);
      expect(version.schema).toEqual([
        { name: 'id', type: 'BIGINT' },
        { name: 'x', type: 'BIGINT' },
        { name: 'grp', type: 'VARCHAR' },
        { name: 'score', type: 'DOUBLE' },
      ]);
      expect(await t.ctx.blobs.exists(sha(csv))).toBe(true);
      expect(await t.ctx.blobs.exists(version.parquet!.sha256)).toBe(true);

      const [id, x, grp, score] = version.profile!.columns;
      expect(id).toMatchObject({
        kind: 'integer',
        count: N,
        nullCount: 0,
        approxDistinct: N,
        distinctExact: true,
        min: 1,
        max: N,
        mean: (N + 1) / 2,
      });
      // Sample standard deviation of 1..N.
      expect(id!.stddev).toBeCloseTo(Math.sqrt((N * (N + 1)) / 12), 6);
      expect(id!.histogram!.map((b) => b.count)).toEqual(Array(20).fill(N / 20));
      expect(id!.quantiles!['0.5']).toBeCloseTo(500.5, 0);

      // x: ids not divisible by 5 → id % 10 ∈ {1,2,3,4,6,7,8,9}, each N/10 times.
      expect(x).toMatchObject({ count: 800, nullCount: 200, approxDistinct: 8, min: 1, max: 9 });
      expect(x!.mean).toBeCloseTo(5, 10);
      expect(x!.topValues).toHaveLength(8);
      expect(x!.topValues!.every((v) => v.count === 100)).toBe(true);
      expect(x!.histogram!.reduce((s, b) => s + b.count, 0)).toBe(800);

      expect(grp).toMatchObject({
        kind: 'string',
        approxDistinct: 4,
        min: 'a',
        max: 'd',
        minLength: 1,
        maxLength: 1,
        topValues: [
          { value: 'a', count: 250 },
          { value: 'b', count: 250 },
          { value: 'c', count: 250 },
          { value: 'd', count: 250 },
        ],
      });
      expect(score).toMatchObject({ kind: 'float', min: 0.25, max: 250, nanCount: 0 });
    });

    it('returns the same version when the same content is added again, and numbers new content', async () => {
      const again = await add('known', 'known.csv');
      expect(again.created).toBe(false);
      expect(again.version.version).toBe(1);
      file('known-v2.csv', knownCsv(N + 10));
      const v2 = await add('known', 'known-v2.csv');
      expect(v2.created).toBe(true);
      expect(v2.version).toMatchObject({ version: 2, rowCount: N + 10, tags: ['latest'] });
      const log = await t.ctx.data.log('known');
      expect(log.map((v) => [v.version, v.tags])).toEqual([
        [2, ['latest']],
        [1, []],
      ]);
    });

    it('addresses versions by number, content hash (prefix), latest and user tags', async () => {
      const v1 = await t.ctx.data.get('known@1');
      expect((await t.ctx.data.get('known@v1')).id).toBe(v1.id);
      expect((await t.ctx.data.get(`known@${v1.contentHash}`)).version).toBe(1);
      expect((await t.ctx.data.get(`known@${v1.contentHash.slice(0, 10)}`)).version).toBe(1);
      expect((await t.ctx.data.get('known')).version).toBe(2);
      expect((await t.ctx.data.get('known@latest')).version).toBe(2);

      await t.ctx.data.tag('known@1', 'prod');
      expect((await t.ctx.data.get('known@prod')).version).toBe(1);
      await t.ctx.data.tag('known@2', 'prod');
      expect((await t.ctx.data.get('known@prod')).tags).toEqual(['latest', 'prod']);
      await t.ctx.data.untag('known', 'prod');
      expect((await refused(t.ctx.data.get('known@prod'))).code).toBe('NOT_FOUND');

      expect((await refused(t.ctx.data.tag('known@1', 'latest'))).message).toMatch(
        /moved by 'data add'/,
      );
      expect((await refused(t.ctx.data.tag('known@1', 'v7'))).code).toBe('INVALID_ARGUMENT');
      expect((await refused(t.ctx.data.tag('known@1', 'deadbeef'))).code).toBe('INVALID_ARGUMENT');
      const datasets = await t.ctx.data.list();
      expect(datasets.find((d) => d.name === 'known')).toMatchObject({
        latestVersion: 2,
        tags: { latest: 2 },
      });
    });

    it('unknown version refs: NOT_FOUND naming the ref; malformed refs: INVALID_ARGUMENT', async () => {
      for (const ref of ['known@99', 'known@nosuchtag', 'known@abcdef0123', 'nosuch@1', 'nosuch']) {
        const e = await refused(t.ctx.data.get(ref));
        expect(e.code, ref).toBe('NOT_FOUND');
        expect(e.message).toContain(ref.startsWith('nosuch') ? "dataset 'nosuch'" : ref);
      }
      for (const ref of ['known@', 'known@0', 'known@a b', 'known@12ab', '../x@1']) {
        expect((await refused(t.ctx.data.get(ref))).code, ref).toBe('INVALID_ARGUMENT');
      }
    });

    it('adds a directory (nested, skipping . and _ files), a glob, Parquet, NDJSON and JSON arrays', async () => {
      file('parts/2024/01.csv', 'a,b\n1,x\n2,y\n');
      file('parts/2024/02.csv', 'a,b\n3,z\n');
      file('parts/_SUCCESS', '');
      file('parts/.hidden.csv', 'junk');
      const whole = await add('parts', 'parts');
      expect(whole.version.rowCount).toBe(3);
      expect(whole.version.manifest.files.map((f) => f.path)).toEqual([
        '2024/01.csv',
        '2024/02.csv',
      ]);

      const globbed = await add('globbed', 'parts/2024/0*.csv');
      expect(globbed.version.manifest.files.map((f) => f.path)).toEqual(['01.csv', '02.csv']);
      // Same bytes, same paths, same format: the same content hash under another name.
      expect(globbed.version.contentHash).not.toBe(whole.version.contentHash);

      const parquet = join(dir, 'p.parquet');
      await t.ctx.engine.withSession({ directories: [dir] }, (s) =>
        s.run(
          `copy (select range as n, range * 0.5 as half from range(100)) to ${sqlString(parquet)} (format parquet)`,
        ),
      );
      const pq = await add('pq', 'p.parquet');
      expect(pq.version).toMatchObject({ format: 'parquet', rowCount: 100 });
      expect(pq.version.profile!.columns[1]).toMatchObject({ min: 0, max: 49.5, mean: 24.75 });

      file('events.ndjson', '{"k":1,"v":"a"}\n{"k":2,"v":null}\n{"k":3}\n');
      const nd = await add('events', 'events.ndjson');
      expect(nd.version).toMatchObject({ format: 'json', rowCount: 3 });
      expect(nd.version.profile!.columns.find((c) => c.name === 'v')!.nullCount).toBe(2);
      file('array.json', '[{"k":1},{"k":2}]');
      expect((await add('arr', 'array.json')).version.rowCount).toBe(2);
    });

    it('reads quoted fields with delimiters, quotes and newlines inside, and semicolon files', async () => {
      file('quoted.csv', 'name,"note, with comma"\n"Doe, J","said ""hi""\nthen left"\nRoe,plain\n');
      const { version } = await add('quoted', 'quoted.csv');
      expect(version.schema.map((c) => c.name)).toEqual(['name', 'note, with comma']);
      expect(version.rowCount).toBe(2);
      expect(version.profile!.columns[1]!.topValues!.map((v) => v.value).sort()).toEqual([
        'plain',
        'said "hi"\nthen left',
      ]);
      file('packed.csv.gz', gzipSync('a,b\n1,x\n2,y\n'));
      expect((await add('packed', 'packed.csv.gz')).version.rowCount).toBe(2);
      file('semi.csv', 'a;b\n1;2\n3;4\n');
      expect((await add('semi', 'semi.csv')).version.schema.map((c) => c.name)).toEqual(['a', 'b']);
    });

    it('get writes the original bytes (or the Parquet copy) and never overwrites', async () => {
      const out = join(dir, 'out');
      const got = await t.ctx.data.download('parts@1', out);
      expect(got.files.map((f) => f.path)).toEqual(['2024/01.csv', '2024/02.csv']);
      expect(readFileSync(join(out, '2024/01.csv'), 'utf8')).toBe('a,b\n1,x\n2,y\n');
      const e = await refused(t.ctx.data.download('parts@1', out));
      expect(e.code).toBe('ALREADY_EXISTS');
      await t.ctx.data.download('parts@1', out, { parquet: true });
      const rows = await t.ctx.engine.withSession({ directories: [out] }, (s) =>
        s.rows(`select count(*) as n from read_parquet(${sqlString(join(out, 'parts.parquet'))})`),
      );
      expect(rows).toEqual([{ n: '3' }]);
    });

    it('diffs schema, row count, statistics and rows by key', async () => {
      // v1: id 1..1000. v2: drops ids 1–10, adds 1001–1020, changes x of ids 11–15,
      // drops column score, adds column extra.
      const lines = knownCsv(1020, (id) => String(id * 2))
        .trim()
        .split('\n');
      const header = 'id,x,grp,extra';
      const body = lines.slice(11).map((line) => {
        const [id, x, grp, , extra] = line.split(',');
        const changed = Number(id) <= 15 ? '42' : x;
        return [id, changed, grp, extra].join(',');
      });
      file('diff-a.csv', knownCsv());
      file('diff-b.csv', `${[header, ...body].join('\n')}\n`);
      await add('d', 'diff-a.csv');
      await add('d', 'diff-b.csv');
      const diff = await t.ctx.data.diff('d@1', 'd@2', { key: ['id'] });
      expect(diff.sameContent).toBe(false);
      expect(diff.schema).toEqual({
        added: [{ name: 'extra', type: 'BIGINT' }],
        removed: [{ name: 'score', type: 'DOUBLE' }],
        typeChanged: [],
        reordered: false,
      });
      expect(diff.rowCount).toEqual({ from: 1000, to: 1010, change: 10 });
      expect(diff.columns.find((c) => c.name === 'id')!.changes).toContainEqual({
        stat: 'max',
        from: 1000,
        to: 1020,
        change: 20,
      });
      expect(diff.rows).toMatchObject({
        key: ['id'],
        added: 20,
        removed: 10,
        changed: 5,
        unchanged: 985,
        changedByColumn: { x: 5 },
      });
      expect(diff.rows!.samples.added[0]).toMatchObject({ id: '1001' });
      expect(diff.rows!.samples.removed.map((r) => r.id)).toEqual([
        '1',
        '2',
        '3',
        '4',
        '5',
        '6',
        '7',
        '8',
        '9',
        '10',
      ]);
      expect(diff.rows!.samples.changed[0]).toEqual({
        key: { id: '11' },
        changes: [{ column: 'x', from: '1', to: '42' }],
      });

      expect((await t.ctx.data.diff('d@1', 'd@1')).sameContent).toBe(true);
      const missing = await refused(t.ctx.data.diff('d@1', 'd@2', { key: ['score'] }));
      expect(missing.message).toMatch(/key column 'score' is not in d@2/);
      const notUnique = await refused(t.ctx.data.diff('d@1', 'd@2', { key: ['grp'] }));
      expect(notUnique.message).toMatch(/does not identify rows of d@1: 996 rows repeat a key/);
    });

    it('records the producing run on the version and as a lineage edge', async () => {
      const experiment = await t.ctx.tracking.experiments.create({ name: 'lineage' });
      const run = await t.ctx.tracking.runs.create({ experimentId: experiment });
      file('produced.csv', 'a\n1\n');
      const { version } = await add('produced', 'produced.csv', { runId: run.info.id });
      expect(version.runId).toBe(run.info.id);
      const edges = await t.ctx.store.db
        .selectFrom('edge')
        .select(['from_kind', 'from_id', 'to_kind', 'to_id', 'relation'])
        .where('to_id', '=', version.id)
        .execute();
      expect(edges).toEqual([
        {
          from_kind: 'run',
          from_id: run.info.id,
          to_kind: 'dataset_version',
          to_id: version.id,
          relation: 'produced',
        },
      ]);
      const before = await datasetCount();
      file('orphan.csv', 'a\n2\n');
      const e = await refused(add('orphan', 'orphan.csv', { runId: 'no-such-run' }));
      expect(e.code).toBe('NOT_FOUND');
      expect(e.message).toMatch(/run 'no-such-run' does not exist/);
      expect(await datasetCount()).toBe(before);
    });

    it('numbers concurrent adds to one dataset 1, 2, 3 without gaps or duplicates', async () => {
      for (const n of [1, 2, 3]) file(`race-${n}.csv`, `n\n${n}\n`);
      const results = await Promise.all([1, 2, 3].map((n) => add('race', `race-${n}.csv`)));
      expect(results.map((r) => r.version.version).sort()).toEqual([1, 2, 3]);
      expect((await t.ctx.data.get('race')).version).toBe(3);
    });

    it('upgrades a store with versions from before migration 014: numbering continues, latest is set', async () => {
      const old = await openTestStore(backend, { migrate: false });
      try {
        await old.store.migrate({ to: '013-metric-segments' });
        await old.store.write(async (trx) => {
          await trx
            .insertInto('dataset')
            .values({ id: 'd1', name: 'legacy', description: null, created_at: 1 })
            .execute();
          for (const version of [1, 2])
            await trx
              .insertInto('dataset_version')
              .values({
                id: `v${version}`,
                dataset_id: 'd1',
                version,
                content_hash: `${version}`.repeat(64),
                manifest: JSON.stringify({ format: 'csv', options: {}, files: [] }),
                schema: '[]',
                row_count: 0,
                profile: null,
                source_uri: null,
                run_id: null,
                created_at: version,
              })
              .execute();
        });
        await old.store.migrate();
        const row = await old.store.db
          .selectFrom('dataset')
          .select('last_version')
          .executeTakeFirstOrThrow();
        expect(Number(row.last_version)).toBe(2);
        const tags = await old.store.db.selectFrom('dataset_tag').selectAll().execute();
        expect(tags.map((r) => [r.tag, Number(r.version)])).toEqual([['latest', 2]]);
      } finally {
        await old.cleanup();
      }
    });

    describe('bad input', () => {
      it('malformed CSV rows: refused with file and line numbers, nothing stored', async () => {
        const csv = 'a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n13,14,15\n';
        file('malformed.csv', csv);
        const before = await datasetCount();
        const e = await refused(add('malformed', 'malformed.csv'));
        expect(e.code).toBe('INVALID_ARGUMENT');
        expect(e.message).toMatch(/2 malformed CSV rows; nothing was stored/);
        expect(e.message).toMatch(/malformed\.csv line 3 .*Expected Number of Columns: 3 Found: 2/);
        expect(e.message).toMatch(/malformed\.csv line 5: .*Found: 4/);
        expect(await datasetCount()).toBe(before);
        expect(await t.ctx.blobs.exists(sha(csv))).toBe(false);
        // The file was staged in the blob store while DuckDB read it; the staged copy is gone.
        expect(readdirSync(join((t.ctx.blobs as FsBlobStore).root, 'tmp'))).toEqual([]);
      });

      it('a file that changes while it is added: refused (409), nothing stored', async () => {
        const csv = 'a,b\n1,2\n3,4\n';
        const path = file('moving.csv', csv);
        const before = await datasetCount();
        const e = await refused(
          add('moving', 'moving.csv', {
            // Called once DuckDB has read the file, before its staged copy is checked.
            onStage: (stage: string) => {
              if (stage === 'profiling') appendFileSync(path, '5,6\n');
            },
          }),
        );
        expect(e.code).toBe('CONFLICT');
        expect(e.message).toMatch(/'moving\.csv' changed while it was being added/);
        expect(await datasetCount()).toBe(before);
        expect(await t.ctx.blobs.exists(sha(csv))).toBe(false);
        expect(await t.ctx.blobs.exists(sha(`${csv}5,6\n`))).toBe(false);
        expect(readdirSync(join((t.ctx.blobs as FsBlobStore).root, 'tmp'))).toEqual([]);
        const ok = await add('moving', 'moving.csv');
        expect(ok.version.rowCount).toBe(3);
      });

      it('wrong encoding: a Latin-1 file is refused with the --encoding fix, and read with it', async () => {
        const latin = Buffer.concat([
          Buffer.from('name,city\n1,'),
          Buffer.from([0x4d, 0xfc, 0x6e, 0x63, 0x68, 0x65, 0x6e]), // "München" in Latin-1
          Buffer.from('\n'),
        ]);
        file('latin.csv', latin);
        const e = await refused(add('latin', 'latin.csv'));
        expect(e.code).toBe('INVALID_ARGUMENT');
        expect(e.message).toMatch(/not valid UTF-8.*--encoding latin-1/s);
        expect(await refused(t.ctx.data.get('latin'))).toMatchObject({ code: 'NOT_FOUND' });
        const ok = await add('latin', 'latin.csv', { encoding: 'latin-1' });
        expect(ok.version.profile!.columns[1]!.min).toBe('München');
        expect(ok.version.manifest.options).toEqual({ encoding: 'latin-1' });
      });

      it('empty files: refused by name; a header-only CSV is a version of 0 rows', async () => {
        file('empty/a.csv', 'x\n1\n');
        file('empty/b.csv', '');
        const e = await refused(add('empty', 'empty'));
        expect(e.message).toMatch(/file 'b\.csv' is empty \(0 bytes\)/);
        file('header-only.csv', 'x,y\n');
        const { version } = await add('header-only', 'header-only.csv');
        expect(version.rowCount).toBe(0);
        expect(version.profile!.columns[0]).toMatchObject({ count: 0, nullCount: 0, min: null });
      });

      it('5,000-column files are profiled in full; more columns than the limit are refused', async () => {
        const width = 5000;
        const header = Array.from({ length: width }, (_x, i) => `c${i}`).join(',');
        const row = (r: number) =>
          Array.from({ length: width }, (_x, i) => String(i + r)).join(',');
        file('wide.csv', `${header}\n${row(0)}\n${row(1)}\n${row(2)}\n`);
        const { version } = await add('wide', 'wide.csv');
        expect(version.schema).toHaveLength(width);
        expect(version.profile!.columns).toHaveLength(width);
        expect(version.profile!.columns[4999]).toMatchObject({ min: 4999, max: 5001, mean: 5000 });

        const tooWide = 10_001;
        file('too-wide.csv', `${Array.from({ length: tooWide }, (_x, i) => `c${i}`).join(',')}\n`);
        const e = await refused(add('too-wide', 'too-wide.csv'));
        expect(e.message).toMatch(/has 10001 columns; a version takes at most 10000/);
      }, 120_000);

      it('duplicate column names: refused naming them (case-insensitive, as DuckDB compares)', async () => {
        file('dup.csv', 'id,Amount,x,amount\n1,2,3,4\n');
        const e = await refused(add('dup', 'dup.csv'));
        expect(e.message).toMatch(/duplicate column names: 'amount' \(columns 2 and 4\)/);
        file('hdr/a.csv', 'a,b\n1,2\n');
        file('hdr/b.csv', 'a,c\n1,2\n');
        const mismatch = await refused(add('hdr', 'hdr'));
        expect(mismatch.message).toMatch(
          /'b\.csv' has header \("a", "c"\) but 'a\.csv' has \("a", "b"\)/,
        );
      });

      it('dataset names with path separators or .. are refused', async () => {
        for (const name of ['a/b', 'a\\b', '..', '../etc', 'a..b', 'x@1', ' lead', '']) {
          const e = await refused(add(name, 'known.csv'));
          expect(e.code, name).toBe('INVALID_ARGUMENT');
          expect(e.message).toMatch(/dataset name/);
        }
      });

      it('symlinks pointing out of the given directory are refused, naming the link', async () => {
        const outside = mkdtempSync(join(tmpdir(), 'mobius-outside-'));
        try {
          writeFileSync(join(outside, 'secret.csv'), 'a\n1\n');
          file('linked/ok.csv', 'a\n2\n');
          symlinkSync(join(outside, 'secret.csv'), join(dir, 'linked/escape.csv'));
          const e = await refused(add('linked', 'linked'));
          expect(e.message).toMatch(/'escape\.csv' is a symlink that points outside the directory/);
          const g = await refused(add('linked', 'linked/*.csv'));
          expect(g.message).toMatch(/escape\.csv.*outside the directory/);
          expect(await refused(t.ctx.data.get('linked'))).toMatchObject({ code: 'NOT_FOUND' });
          // A symlink that stays inside is fine.
          rmSync(join(dir, 'linked/escape.csv'));
          symlinkSync(join(dir, 'linked/ok.csv'), join(dir, 'linked/alias.csv'));
          const { version } = await add('linked', 'linked');
          expect(version.manifest.files.map((f) => f.path)).toEqual(['alias.csv', 'ok.csv']);
        } finally {
          rmSync(outside, { recursive: true, force: true });
        }
      });

      it('files that are not what their extension says, and unknown extensions', async () => {
        file('fake.parquet', 'this is not parquet');
        expect((await refused(add('fake', 'fake.parquet'))).message).toMatch(
          /cannot read the data: .*fake\.parquet/,
        );
        file('broken.ndjson', '{"a":1}\n{"a":\n');
        expect((await refused(add('broken', 'broken.ndjson'))).message).toMatch(/Malformed JSON/);
        file('notes.txt', 'hello');
        expect((await refused(add('notes', 'notes.txt'))).message).toMatch(/pass --format/);
        file('mixed/a.csv', 'a\n1\n');
        file('mixed/b.json', '{"a":1}');
        expect((await refused(add('mixed', 'mixed'))).message).toMatch(/mixes formats/);
        expect((await refused(add('none', 'nope/*.csv'))).message).toMatch(/does not exist/);
        expect((await refused(add('none', 'missing.csv'))).message).toMatch(/does not exist/);
      });
    });
  });
}
