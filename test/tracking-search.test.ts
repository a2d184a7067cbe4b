/**
 * Run search conformance: MLflow's filter grammar (plus OR and parentheses), order_by,
 * paging and view types, asserted as exact run ids in exact order on every backend in
 * TEST_STORES. The same seed and the same expectations run on SQLite and PostgreSQL, so
 * a backend difference (LIKE case, collation, NaN, ±Infinity) fails here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../src/store/index.js';
import { searchRuns, type SearchRunsOptions } from '../src/tracking/index.js';
import { STORE_BACKENDS, openTestStore, type TestStore } from './helpers/stores.js';

interface SeedRun {
  id: string;
  experiment?: 'e1' | 'e2';
  status: 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
  deleted?: boolean;
  user?: string | null;
  start: number;
  end?: number | null;
  name?: string | null;
  metrics?: Record<string, number>;
  params?: Record<string, string>;
  tags?: Record<string, string>;
}

// Sixteen active runs in e1, two deleted ones, and two runs in e2. Ids are short so the
// expectations read as a table; r13 and r14 share a start_time to exercise the id
// tiebreaker. acc covers ties (r02, r08), NaN (r05), ±Infinity (r06, r07), 0 and
// negatives, and is missing on r09 and r11.
const RUNS: SeedRun[] = [
  {
    id: 'r01',
    status: 'FINISHED',
    user: 'alice',
    start: 1000,
    end: 1500,
    name: 'baseline',
    metrics: { acc: 0.9, loss: 0.3 },
    params: { lr: '0.1', opt: 'adam' },
    tags: { team: 'Vision', note: '50% off' },
  },
  {
    id: 'r02',
    status: 'FINISHED',
    user: 'bob',
    start: 2000,
    end: 2600,
    name: 'Baseline-2',
    metrics: { acc: 0.8 },
    params: { lr: '0.01', opt: 'sgd' },
    tags: { team: 'vision' },
  },
  {
    id: 'r03',
    status: 'FAILED',
    user: 'alice',
    start: 3000,
    end: 3100,
    name: 'wide',
    metrics: { acc: 0.95, loss: 0.1 },
    params: { lr: '0.001', opt: 'Adam' },
    tags: { team: 'VISION' },
  },
  {
    id: 'r04',
    status: 'RUNNING',
    user: 'carol',
    start: 4000,
    end: null,
    name: 'deep',
    metrics: { acc: 0.5 },
    params: { lr: '0.1' },
    tags: { team: 'nlp' },
  },
  {
    id: 'r05',
    status: 'FINISHED',
    user: 'bob',
    start: 5000,
    end: 5200,
    metrics: { acc: NaN, loss: NaN },
    params: { opt: 'adam' },
    tags: { team: 'nlp', note: 'nan run' },
  },
  {
    id: 'r06',
    status: 'FINISHED',
    user: 'alice',
    start: 6000,
    end: 6900,
    metrics: { acc: Infinity },
    params: { lr: '1' },
  },
  {
    id: 'r07',
    status: 'KILLED',
    user: 'dave',
    start: 7000,
    end: 7100,
    metrics: { acc: -Infinity, loss: 5 },
    params: { opt: 'rmsprop' },
    tags: { team: 'Speech' },
  },
  {
    id: 'r08',
    status: 'FINISHED',
    user: 'bob',
    start: 8000,
    end: 8800,
    metrics: { acc: 0.8, loss: 0.2 },
    params: { lr: '0.01', 'batch size': '32' },
    tags: { 'my tag': 'x y' },
  },
  {
    id: 'r09',
    status: 'SCHEDULED',
    user: null,
    start: 9000,
    end: null,
    name: null,
    params: { lr: '0.5' },
  },
  {
    id: 'r10',
    status: 'FINISHED',
    user: 'carol',
    start: 10000,
    end: 10500,
    metrics: { acc: 0.1, 'train/loss': 2 },
    params: { opt: 'sgd' },
    tags: { team: 'nlp', 'mlflow.note': 'ok' },
  },
  {
    id: 'r11',
    status: 'FAILED',
    user: 'dave',
    start: 11000,
    end: 11050,
    metrics: { loss: 1 },
    tags: { team: 'ml_ops' },
  },
  {
    id: 'r12',
    status: 'FINISHED',
    user: 'alice',
    start: 12000,
    end: 12100,
    metrics: { acc: 0.7, loss: 0.4 },
    params: { lr: '0.1', opt: 'adam' },
    tags: { team: 'mlxops' },
  },
  {
    id: 'r13',
    status: 'FINISHED',
    user: 'erin',
    start: 13000,
    end: 13300,
    metrics: { acc: 0 },
    params: { lr: '0.2' },
  },
  {
    id: 'r14',
    status: 'FINISHED',
    user: 'erin',
    start: 13000,
    end: 13400,
    metrics: { acc: -1 },
    params: { lr: '0.2' },
  },
  {
    id: 'r15',
    status: 'RUNNING',
    user: 'frank',
    start: 15000,
    end: null,
    metrics: { acc: 0.6 },
    tags: { team: 'Vision' },
  },
  {
    id: 'r16',
    status: 'FINISHED',
    user: 'frank',
    start: 16000,
    end: 16500,
    metrics: { acc: 0.99, loss: 0.05 },
    params: { lr: '0.05', opt: 'adamw' },
  },
  {
    id: 'd17',
    status: 'FINISHED',
    deleted: true,
    user: 'alice',
    start: 17000,
    metrics: { acc: 0.97 },
  },
  { id: 'd18', status: 'FAILED', deleted: true, user: 'bob', start: 18000, metrics: { acc: 0.2 } },
  { id: 'x19', experiment: 'e2', status: 'FINISHED', start: 19000, metrics: { acc: 0.91 } },
  { id: 'x20', experiment: 'e2', status: 'FINISHED', deleted: true, start: 20000 },
];

/** `ids` in MLflow's default order: start_time DESC, then run id ASC. */
function inDefaultOrder(...ids: string[]): string[] {
  const start = (id: string) => RUNS.find((r) => r.id === id)?.start ?? NaN;
  return [...ids].sort((a, b) => start(b) - start(a) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Run ids written as one line: 'r01 r02 r03'. */
const order = (ids: string): string[] => ids.split(' ');

const ACTIVE_E1 = RUNS.filter((r) => (r.experiment ?? 'e1') === 'e1' && r.deleted !== true).map(
  (r) => r.id,
);

async function seed(store: Store): Promise<void> {
  await store.write(async (trx) => {
    await trx
      .insertInto('experiment')
      .values(
        ['e1', 'e2'].map((id) => ({
          id,
          name: `search-${id}`,
          artifact_location: null,
          lifecycle_stage: 'active' as const,
          created_at: 1,
          updated_at: 1,
        })),
      )
      .execute();
    await trx
      .insertInto('run')
      .values(
        RUNS.map((r) => ({
          id: r.id,
          experiment_id: r.experiment ?? 'e1',
          name: r.name === undefined ? `run ${r.id}` : r.name,
          status: r.status,
          lifecycle_stage: r.deleted === true ? ('deleted' as const) : ('active' as const),
          user_id: r.user === undefined ? 'someone' : r.user,
          start_time: r.start,
          end_time: r.end ?? null,
          artifact_uri: `s3://bucket/${r.id}`,
          parent_run_id: null,
          deleted_time: r.deleted === true ? r.start + 1 : null,
        })),
      )
      .execute();
    const entries = <T>(f: (r: SeedRun) => Record<string, T> | undefined) =>
      RUNS.flatMap((r) =>
        Object.entries(f(r) ?? {}).map(([key, value]) => ({ run: r.id, key, value })),
      );
    await trx
      .insertInto('param')
      .values(entries((r) => r.params).map((e) => ({ run_id: e.run, key: e.key, value: e.value })))
      .execute();
    await trx
      .insertInto('tag')
      .values(entries((r) => r.tags).map((e) => ({ run_id: e.run, key: e.key, value: e.value })))
      .execute();
    await trx
      .insertInto('latest_metric')
      .values(
        entries((r) => r.metrics).map((e) => ({
          run_id: e.run,
          key: e.key,
          // NaN is stored as NULL + is_nan (SQLite cannot hold NaN); ±Infinity as is.
          value: Number.isNaN(e.value) ? null : e.value,
          is_nan: Number.isNaN(e.value) ? (1 as const) : (0 as const),
          step: 0,
          timestamp: 1,
        })),
      )
      .execute();
  });
}

for (const backend of STORE_BACKENDS) {
  describe(`run search on ${backend}`, () => {
    let t: TestStore;
    beforeAll(async () => {
      t = await openTestStore(backend);
      await seed(t.store);
    });
    afterAll(async () => {
      await t.cleanup();
    });

    const search = (options: Partial<SearchRunsOptions>) =>
      searchRuns(t.store.db, t.store.dialect, { experimentIds: ['e1'], ...options });
    const ids = async (filter: string, orderBy?: string[]) =>
      (await search({ filter, orderBy })).runIds;
    const rejects = (options: Partial<SearchRunsOptions>, message: string) =>
      expect(search(options)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining(message),
      });

    describe('metrics', () => {
      it.each([
        ['metrics.acc > 0.8', ['r01', 'r03', 'r06', 'r16']],
        ['metrics.acc >= 0.8', ['r01', 'r02', 'r03', 'r06', 'r08', 'r16']],
        ['metrics.acc = 0.8', ['r02', 'r08']],
        ['metrics.acc < 0', ['r07', 'r14']],
        ['metrics.acc <= 0', ['r07', 'r13', 'r14']],
        ['metrics.acc = 0', ['r13']],
        ['metrics.acc = -1', ['r14']],
        ['metrics.acc > 1e308', ['r06']],
        ['metrics.acc < -1e308', ['r07']],
        ['metrics.acc = 1e999', ['r06']],
        ['metrics.acc > 0.5 AND metrics.loss < 0.35', ['r01', 'r03', 'r08', 'r16']],
        ['metrics.`train/loss` = 2', ['r10']],
        ['metrics.train/loss >= 2', ['r10']],
        ['metrics.nope > 0', []],
      ])('%s', async (filter, expected) => {
        expect(await ids(filter)).toEqual(inDefaultOrder(...expected));
      });

      it('NaN fails every comparison but != (IEEE 754, MLflow file store)', async () => {
        expect(await ids('metrics.loss >= 0')).not.toContain('r05');
        expect(await ids('metrics.loss < 1e308')).not.toContain('r05');
        expect(await ids('metrics.loss = 0')).not.toContain('r05');
        expect(await ids('metrics.acc != 0.8')).toEqual(
          inDefaultOrder(
            'r01',
            'r03',
            'r04',
            'r05',
            'r06',
            'r07',
            'r10',
            'r12',
            'r13',
            'r14',
            'r15',
            'r16',
          ),
        );
      });

      it('a run without the metric matches no comparison on it, not even !=', async () => {
        const notEqual = await ids('metrics.acc != 12345');
        expect(notEqual).not.toContain('r09');
        expect(notEqual).not.toContain('r11');
      });
    });

    describe('params and tags', () => {
      it.each([
        [`params.lr = '0.1'`, ['r01', 'r04', 'r12']],
        [`params.lr != '0.1'`, ['r02', 'r03', 'r06', 'r08', 'r09', 'r13', 'r14', 'r16']],
        [`params.opt LIKE 'adam%'`, ['r01', 'r05', 'r12', 'r16']],
        [`params.opt ILIKE 'adam%'`, ['r01', 'r03', 'r05', 'r12', 'r16']],
        [`params.opt ILIKE 'ADAM'`, ['r01', 'r03', 'r05', 'r12']],
        [`params.opt LIKE 'ADAM'`, []],
        [`params.\`batch size\` = '32'`, ['r08']],
        [`params."batch size" LIKE '3_'`, ['r08']],
        [`tags.team = 'vision'`, ['r02']],
        [`tags.team LIKE 'vision'`, ['r02']],
        [`tags.team ILIKE 'vision'`, ['r01', 'r02', 'r03', 'r15']],
        [`tags.team ILIKE '%SIO%'`, ['r01', 'r02', 'r03', 'r15']],
        [`tags.team != 'nlp'`, ['r01', 'r02', 'r03', 'r07', 'r11', 'r12', 'r15']],
        [`tags.\`my tag\` = 'x y'`, ['r08']],
        [`tags.mlflow.note = 'ok'`, ['r10']],
      ])('%s', async (filter, expected) => {
        expect(await ids(filter)).toEqual(inDefaultOrder(...expected));
      });

      it('LIKE wildcards and the backslash escape behave the same on every backend', async () => {
        expect(await ids(`tags.team LIKE 'ml_ops'`)).toEqual(inDefaultOrder('r11', 'r12'));
        expect(await ids(`tags.team LIKE 'ml\\_ops'`)).toEqual(['r11']);
        expect(await ids(`tags.note LIKE '%\\%%'`)).toEqual(['r01']);
        expect(await ids(`tags.note LIKE '%%'`)).toEqual(inDefaultOrder('r01', 'r05'));
      });
    });

    describe('attributes', () => {
      it.each([
        [`attributes.status = 'FAILED'`, ['r03', 'r11']],
        [`status = 'failed'`, []],
        [`status ILIKE 'failed'`, ['r03', 'r11']],
        [`status IN ('RUNNING', 'SCHEDULED')`, ['r04', 'r09', 'r15']],
        [`status NOT IN ('FINISHED')`, ['r03', 'r04', 'r07', 'r09', 'r11', 'r15']],
        [`run_id IN ('r01', 'r05', 'nope')`, ['r01', 'r05']],
        [`attributes.run_id = 'r07'`, ['r07']],
        [`user_id = 'alice'`, ['r01', 'r03', 'r06', 'r12']],
        [`run_name LIKE 'Base%'`, ['r02']],
        [`run_name ILIKE 'base%'`, ['r01', 'r02']],
        [`attributes.\`Run name\` = 'deep'`, ['r04']],
        [`artifact_uri = 's3://bucket/r04'`, ['r04']],
        ['start_time >= 13000', ['r13', 'r14', 'r15', 'r16']],
        ['created < 3000', ['r01', 'r02']],
        ['attributes.start_time = 13000', ['r13', 'r14']],
        ['end_time > 10000', ['r10', 'r11', 'r12', 'r13', 'r14', 'r16']],
      ])('%s', async (filter, expected) => {
        expect(await ids(filter)).toEqual(inDefaultOrder(...expected));
      });

      it('a NULL attribute matches neither = nor != nor NOT IN', async () => {
        expect(await ids(`user_id != 'alice'`)).not.toContain('r09');
        expect(await ids(`user_id NOT IN ('alice')`)).not.toContain('r09');
        expect(await ids('end_time < 99999999')).not.toContain('r04');
      });
    });

    describe('OR and parentheses', () => {
      it.each([
        [`metrics.acc > 0.9 OR tags.team = 'nlp'`, ['r03', 'r04', 'r05', 'r06', 'r10', 'r16']],
        [
          `params.opt = 'adam' OR params.opt = 'sgd' AND metrics.acc > 0.5`,
          ['r01', 'r02', 'r05', 'r12'],
        ],
        [
          `(params.opt = 'adam' OR params.opt = 'sgd') AND metrics.acc > 0.5`,
          ['r01', 'r02', 'r12'],
        ],
        [
          `status = 'FINISHED' AND (tags.team ILIKE 'vision' OR (metrics.acc < 0.2 AND params.opt = 'sgd'))`,
          ['r01', 'r02', 'r10'],
        ],
        [`run_id = 'r01' or run_id = 'r02' OR run_id = 'r03'`, ['r01', 'r02', 'r03']],
      ])('%s', async (filter, expected) => {
        expect(await ids(filter)).toEqual(inDefaultOrder(...expected));
      });
    });

    describe('order_by', () => {
      it('defaults to start_time DESC, then run id ASC', async () => {
        expect((await search({})).runIds).toEqual(
          order('r16 r15 r13 r14 r12 r11 r10 r09 r08 r07 r06 r05 r04 r03 r02 r01'),
        );
      });

      it('sorts a metric DESC: values, then NaN, then runs without it', async () => {
        expect(await ids('', ['metrics.acc DESC'])).toEqual(
          // +Inf first; r08 and r02 tie on 0.8 and fall back to start_time DESC; -Inf, NaN, missing.
          order('r06 r16 r03 r01 r08 r02 r12 r15 r04 r10 r13 r14 r07 r05 r11 r09'),
        );
      });

      it('sorts a metric ASC: values, then NaN, then runs without it', async () => {
        expect(await ids('', ['metrics.acc ASC'])).toEqual(
          order('r07 r14 r13 r10 r04 r15 r12 r08 r02 r01 r03 r16 r06 r05 r11 r09'),
        );
      });

      it('sorts params as text, missing last both ways', async () => {
        expect(await ids('', ['params.lr'])).toEqual(
          order('r03 r08 r02 r16 r12 r04 r01 r13 r14 r09 r06 r15 r11 r10 r07 r05'),
        );
        expect(await ids('', ['params.lr DESC'])).toEqual(
          order('r06 r09 r13 r14 r12 r04 r01 r16 r08 r02 r03 r15 r11 r10 r07 r05'),
        );
      });

      it('sorts tags by code point on every backend (upper case first)', async () => {
        expect(await ids('', ['tags.team ASC'])).toEqual(
          order('r07 r03 r15 r01 r11 r12 r10 r05 r04 r02 r16 r13 r14 r09 r08 r06'),
        );
        expect(await ids(`run_name LIKE '%aseline%'`, ['run_name'])).toEqual(['r02', 'r01']);
      });

      it('sorts nullable attributes with NULLs last both ways', async () => {
        expect(await ids('', ['attributes.end_time DESC'])).toEqual(
          order('r16 r14 r13 r12 r11 r10 r08 r07 r06 r05 r03 r02 r01 r15 r09 r04'),
        );
        expect(await ids('', ['end_time'])).toEqual(
          order('r01 r02 r03 r05 r06 r07 r08 r10 r11 r12 r13 r14 r16 r15 r09 r04'),
        );
      });

      it('applies several clauses in order, then the default tiebreakers', async () => {
        expect(await ids('', ['attributes.status ASC', 'metrics.acc DESC'])).toEqual(
          // FAILED | FINISHED by acc DESC, NaN last | KILLED | RUNNING | SCHEDULED
          order('r03 r11 r06 r16 r01 r08 r02 r12 r10 r13 r14 r05 r07 r15 r04 r09'),
        );
        expect(await ids('', ['start_time ASC'])).toEqual(
          order('r01 r02 r03 r04 r05 r06 r07 r08 r09 r10 r11 r12 r13 r14 r15 r16'),
        );
      });

      it('filters and sorts together', async () => {
        expect(await ids(`tags.team ILIKE 'vision'`, ['metrics.acc ASC'])).toEqual(
          order('r15 r02 r01 r03'),
        );
      });
    });

    describe('paging', () => {
      async function allPages(options: Partial<SearchRunsOptions>): Promise<string[][]> {
        const pages: string[][] = [];
        let pageToken: string | undefined;
        do {
          const page = await search({ ...options, pageToken });
          pages.push(page.runIds);
          pageToken = page.nextPageToken;
        } while (pageToken !== undefined && pages.length < 100);
        return pages;
      }

      it('covers every run exactly once, in order, with no empty last page', async () => {
        const full = (await search({})).runIds;
        const pages = await allPages({ maxResults: 5 });
        expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 1]);
        expect(pages.flat()).toEqual(full);

        const even = await allPages({ maxResults: 4 });
        expect(even.map((p) => p.length)).toEqual([4, 4, 4, 4]);
        expect(even.flat()).toEqual(full);
      });

      it('pages a sorted, filtered search consistently', async () => {
        const options = { filter: 'metrics.acc != 0.5', orderBy: ['metrics.acc DESC'] };
        const full = (await search(options)).runIds;
        expect(full).toHaveLength(13);
        const pages = await allPages({ ...options, maxResults: 3 });
        expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 3, 1]);
        expect(pages.flat()).toEqual(full);
        expect(new Set(pages.flat()).size).toBe(13);
      });

      it('one page holds everything when max_results is large', async () => {
        const page = await search({ maxResults: 50_000 });
        expect(page.runIds).toHaveLength(ACTIVE_E1.length);
        expect(page.nextPageToken).toBeUndefined();
      });

      it('refuses max_results outside 1..50000 and foreign page tokens', async () => {
        await rejects({ maxResults: 0 }, 'max_results must be a positive whole number');
        await rejects({ maxResults: 2.5 }, 'max_results must be a positive whole number');
        await rejects({ maxResults: 50_001 }, 'the most one page can hold is 50000');
        await rejects({ pageToken: 'garbage!' }, 'page_token is not one this server issued');
      });

      it('a token past the end is an empty last page', async () => {
        const token = Buffer.from(JSON.stringify({ offset: 1000 })).toString('base64url');
        expect(await search({ pageToken: token })).toEqual({ runIds: [] });
      });
    });

    describe('view types and experiments', () => {
      it('ACTIVE_ONLY is the default; DELETED_ONLY and ALL widen or flip it', async () => {
        expect((await search({ viewType: 'ACTIVE_ONLY' })).runIds).toEqual(
          (await search({})).runIds,
        );
        expect((await search({ viewType: 'DELETED_ONLY' })).runIds).toEqual(['d18', 'd17']);
        expect((await search({ viewType: 'ALL' })).runIds).toEqual(
          inDefaultOrder(...ACTIVE_E1, 'd17', 'd18'),
        );
        expect(
          (await search({ viewType: 'ALL', filter: `lifecycle_stage = 'deleted'` })).runIds,
        ).toEqual(['d18', 'd17']);
      });

      it('searches several experiments at once', async () => {
        expect(
          (await search({ experimentIds: ['e1', 'e2'], filter: 'metrics.acc > 0.905' })).runIds,
        ).toEqual(['x19', 'r16', 'r06', 'r03']);
      });

      it('unknown or no experiment ids find nothing', async () => {
        expect(await search({ experimentIds: ['nope'] })).toEqual({ runIds: [] });
        expect(await search({ experimentIds: [] })).toEqual({ runIds: [] });
        expect(await search({ experimentIds: ['e2'], viewType: 'ALL' })).toEqual({
          runIds: ['x20', 'x19'],
        });
      });
    });

    describe('bad input', () => {
      it('reports filter and order_by errors as INVALID_ARGUMENT', async () => {
        await rejects({ filter: 'params.lr > 0.1' }, `params take =, !=, LIKE or ILIKE, not '>'`);
        await rejects({ orderBy: ['metrics.acc sideways'] }, 'expected ASC, DESC or the end');
        await rejects({ filter: `datasets.size = 'train'` }, "unknown dataset field 'size'");
      });

      it('a quote in a value or key cannot inject SQL', async () => {
        expect(await ids(`params.opt = '''; drop table run; --'`)).toEqual([]);
        expect(await ids("params.`x\"; drop table run; --` = 'a'")).toEqual([]);
        expect(await ids(`tags.team = 'x'' OR ''1''=''1'`)).toEqual([]);
        expect((await search({})).runIds).toHaveLength(ACTIVE_E1.length);
      });
    });
  });
}
