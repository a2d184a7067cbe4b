/**
 * MLflow 3 evaluation datasets over MLflow's protocol (/api/3.0/mlflow/datasets/…) on
 * every backend in TEST_STORES: create/get with tags and experiments, upsert semantics
 * (inserted vs updated, merging, the dataset's digest, schema, profile and authors),
 * record pages, search filters, order and pages, tags, experiment links, delete — and
 * bad input: unknown ids, malformed records and over-limit sizes are clear 4xx answers
 * that store nothing.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { limits } from '../src/core/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const API = '/api/3.0/mlflow/datasets';

/** The parts of MLflow's responses these tests read. */
interface DatasetJson {
  dataset_id: string;
  name: string;
  tags: string;
  digest: string;
  schema?: string;
  profile?: string;
  created_time: number;
  last_update_time: number;
  created_by?: string;
  last_updated_by?: string;
  experiment_ids: string[];
}
interface Body {
  dataset: DatasetJson;
  datasets: DatasetJson[];
  next_page_token?: string;
  inserted_count: number;
  updated_count: number;
  deleted_count: number;
  records: string;
  experiment_ids: string[];
  error_code: string;
  message: string;
}
interface RecordJson {
  dataset_record_id: string;
  inputs: Record<string, unknown>;
  outputs?: unknown;
  expectations?: Record<string, unknown>;
  tags: Record<string, unknown>;
  source?: { source_type: string; source_data: Record<string, unknown> };
  source_id?: string;
  source_type?: string;
  created_by?: string;
  last_updated_by?: string;
  created_time: number;
}

const digestOf = (name: string, time: number) =>
  createHash('sha256').update(`${name}:${time}`).digest('hex').slice(0, 8);

for (const backend of STORE_BACKENDS) {
  describe(`MLflow evaluation datasets: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let exp1: string;
    let exp2: string;

    beforeAll(async () => {
      // Room for a body holding one record at the record size limit.
      t = await openTestContext(backend, { server: { bodyLimit: 4 * 1024 * 1024 } });
      app = await buildServer(t.ctx);
      exp1 = await t.ctx.tracking.experiments.create({ name: 'eval-1' });
      exp2 = await t.ctx.tracking.experiments.create({ name: 'eval-2' });
    });
    afterAll(async () => {
      await app?.close();
      await t?.cleanup();
    });

    const call = async (
      method: 'GET' | 'POST' | 'DELETE' | 'PATCH',
      url: string,
      body?: object,
    ) => {
      const res = await app.inject({
        method,
        url,
        ...(body === undefined ? {} : { payload: body }),
      });
      return { status: res.statusCode, body: res.json<Body>() };
    };
    const create = async (name: string, extra: object = {}) => {
      const res = await call('POST', `${API}/create`, { name, ...extra });
      expect(res.status, res.body.message).toBe(200);
      return res.body.dataset;
    };
    const upsert = (id: string, records: unknown) =>
      call('POST', `${API}/${id}/records`, {
        records: typeof records === 'string' ? records : JSON.stringify(records),
      });
    const records = async (id: string, query = '') => {
      const res = await call('GET', `${API}/${id}/records${query}`);
      expect(res.status, res.body.message).toBe(200);
      return {
        records: JSON.parse(res.body.records) as RecordJson[],
        next: res.body.next_page_token,
      };
    };
    const countRows = async (id: string) =>
      (
        await t.ctx.store.db
          .selectFrom('evaluation_dataset_record')
          .select('id')
          .where('dataset_id', '=', id)
          .execute()
      ).length;

    it('creates with tags and experiments; the creator is the mlflow.user tag', async () => {
      const d = await create('qa', {
        experiment_ids: [exp1, exp2, exp1],
        tags: JSON.stringify({ env: 'test', 'mlflow.user': 'ana' }),
      });
      expect(d.dataset_id).toMatch(/^d-[0-9a-f]{32}$/);
      expect(JSON.parse(d.tags)).toEqual({ env: 'test', 'mlflow.user': 'ana' });
      expect(d).toMatchObject({ name: 'qa', created_by: 'ana', last_updated_by: 'ana' });
      expect(d.experiment_ids).toEqual([exp1, exp2].sort((a, b) => a.localeCompare(b)));
      expect(d.digest).toBe(digestOf('qa', d.created_time));
      expect(d.schema).toBeUndefined();
      expect(d.profile).toBeUndefined();
      const got = await call('GET', `${API}/${d.dataset_id}`);
      expect(got.body.dataset).toEqual(d);
      const ajax = await call('GET', `/ajax-api/3.0/mlflow/datasets/${d.dataset_id}`);
      expect(ajax.status).toBe(200);
      expect((await call('GET', `${API}/${d.dataset_id}/experiment-ids`)).body).toEqual({
        experiment_ids: d.experiment_ids,
      });
    });

    it('upserts: new inputs insert, known inputs merge, and the dataset is stamped', async () => {
      const d = await create('upsert');
      const first = await upsert(d.dataset_id, [
        {
          inputs: { q: 'What is MLflow?' },
          expectations: { answer: 'a platform' },
          tags: { level: 'easy', 'mlflow.user': 'ana' },
        },
        { inputs: { q: 'What is Python?' }, outputs: 'a language' },
        // The same inputs again in one request: the second merges into the first.
        { inputs: { q: 'What is Python?' }, expectations: { answer: 'a language' } },
      ]);
      expect(first.body).toEqual({ inserted_count: 2, updated_count: 1 });
      const second = await upsert(d.dataset_id, [
        {
          inputs: { q: 'What is MLflow?' },
          expectations: { source: 'docs' },
          outputs: { text: 'MLflow is…' },
          tags: { level: 'medium', 'mlflow.user': 'bo' },
        },
        { inputs: { q: 'What is Docker?' }, source: { source_type: 'human' } },
      ]);
      expect(second.body).toEqual({ inserted_count: 1, updated_count: 1 });

      const { records: all } = await records(d.dataset_id);
      expect(all).toHaveLength(3);
      const byQ = new Map(all.map((r) => [r.inputs.q, r]));
      expect(byQ.get('What is MLflow?')).toMatchObject({
        expectations: { answer: 'a platform', source: 'docs' },
        outputs: { text: 'MLflow is…' },
        tags: { level: 'medium', 'mlflow.user': 'bo' },
        created_by: 'ana',
        last_updated_by: 'bo',
      });
      expect(byQ.get('What is Python?')).toMatchObject({
        outputs: 'a language',
        expectations: { answer: 'a language' },
        tags: {},
      });
      expect(byQ.get('What is Docker?')).toMatchObject({
        outputs: {},
        source: { source_type: 'HUMAN', source_data: {} },
        source_type: 'HUMAN',
      });
      expect(byQ.get('What is Docker?')?.expectations).toBeUndefined();

      const after = (await call('GET', `${API}/${d.dataset_id}`)).body.dataset;
      expect(after.last_updated_by).toBe('bo');
      expect(after.digest).toBe(digestOf('upsert', after.last_update_time));
      expect(JSON.parse(after.profile!)).toEqual({ num_records: 3 });
      expect(JSON.parse(after.schema!)).toEqual({
        inputs: { q: 'string' },
        // The first outputs seen were a string, which types the section as a whole (MLflow
        // then fails on object outputs; Mobius keeps the type it has).
        outputs: 'string',
        expectations: { answer: 'string', source: 'string' },
        version: '1.0',
      });
    });

    it('pages records by cursor and deletes them by id', async () => {
      const d = await create('pages');
      await upsert(
        d.dataset_id,
        Array.from({ length: 5 }, (_, i) => ({ inputs: { i } })),
      );
      const seen: number[] = [];
      let query = '?max_results=2';
      for (let pages = 1; ; pages++) {
        const page = await records(d.dataset_id, query);
        seen.push(...page.records.map((r) => r.inputs.i as number));
        if (page.next === undefined) {
          expect(pages).toBe(3);
          break;
        }
        query = `?max_results=2&page_token=${page.next}`;
      }
      expect(seen.sort()).toEqual([0, 1, 2, 3, 4]);

      const { records: all } = await records(d.dataset_id);
      const ids = all.slice(0, 2).map((r) => r.dataset_record_id);
      const res = await call('DELETE', `${API}/${d.dataset_id}/records`, {
        dataset_record_ids: [...ids, 'dr-unknown'],
      });
      expect(res.body).toEqual({ deleted_count: 2 });
      const after = (await call('GET', `${API}/${d.dataset_id}`)).body.dataset;
      expect(JSON.parse(after.profile!)).toEqual({ num_records: 3 });
      expect(after.digest).toBe(digestOf('pages', after.last_update_time));
    });

    it('ends a page early once it holds the page byte budget', async () => {
      const d = await create('big');
      const text = 'x'.repeat(1_048_000);
      for (let i = 0; i < 10; i++)
        await t.ctx.tracking.evaluationDatasets.upsertRecords(d.dataset_id, [
          { inputs: { i, text } },
        ]);
      const first = await records(d.dataset_id);
      expect(first.records.length).toBe(
        Math.ceil(limits.EVAL_DATASET_RECORDS_PAGE_BYTES / (text.length + 20)),
      );
      expect(first.next).toBeDefined();
      const second = await records(d.dataset_id, `?page_token=${first.next}`);
      expect(first.records.length + second.records.length).toBe(10);
      expect(second.next).toBeUndefined();
    });

    it('queues concurrent upserts of the same new inputs: one insert, one update', async () => {
      const d = await create('race');
      const results = await Promise.all(
        [1, 2].map(() => upsert(d.dataset_id, [{ inputs: { q: 'same' } }])),
      );
      expect(results.map((r) => r.body.inserted_count).sort()).toEqual([0, 1]);
      expect(results.map((r) => r.body.updated_count).sort()).toEqual([0, 1]);
      expect(await countRows(d.dataset_id)).toBe(1);
    });

    it('searches by experiment, filter and order, a page at a time', async () => {
      const a = await create('search-a', {
        experiment_ids: [exp1],
        tags: JSON.stringify({ team: 'ml' }),
      });
      const b = await create('search-b', {
        experiment_ids: [exp1, exp2],
        tags: JSON.stringify({ team: 'data' }),
      });
      const c = await create('search-c', {
        experiment_ids: [exp2],
        tags: JSON.stringify({ team: 'ml' }),
      });
      const names = async (body: object) => {
        const res = await call('POST', `${API}/search`, body);
        expect(res.status, res.body.message).toBe(200);
        return res.body.datasets.map((x) => x.name);
      };
      expect(
        await names({ experiment_ids: [exp1], filter_string: "name LIKE 'search-%'" }),
      ).toEqual(['search-b', 'search-a']);
      expect(
        await names({
          filter_string: "tags.team = 'ml' AND name LIKE 'search-%'",
          order_by: ['name ASC'],
        }),
      ).toEqual(['search-a', 'search-c']);
      expect(
        await names({
          filter_string: "name IN ('search-a', 'search-c') OR tags.team = 'data'",
          order_by: ['name DESC'],
        }),
      ).toEqual(['search-c', 'search-b', 'search-a']);
      expect(
        await names({
          filter_string: `created_time >= ${b.created_time} AND name LIKE 'search-%'`,
          order_by: ['name'],
        }),
      ).toEqual(
        [a, b, c]
          .filter((x) => x.created_time >= b.created_time)
          .map((x) => x.name)
          .sort(),
      );

      const seen: string[] = [];
      let token: string | undefined;
      do {
        const res = await call(
          'GET',
          `${API}/search?filter_string=name%20LIKE%20'search-%25'&max_results=2&order_by=name${token === undefined ? '' : `&page_token=${token}`}`,
        );
        expect(res.status, res.body.message).toBe(200);
        seen.push(...res.body.datasets.map((x) => x.name));
        token = res.body.next_page_token;
      } while (token !== undefined);
      expect(seen).toEqual(['search-a', 'search-b', 'search-c']);

      // MLflow 3.17's client sends search_datasets(experiment_ids="<id>") one character
      // at a time; the characters of an existing id are read as that id.
      expect(
        await names({
          experiment_ids: [...exp2],
          filter_string: "name LIKE 'search-%'",
          order_by: ['name'],
        }),
      ).toEqual(['search-b', 'search-c']);
    });

    it('sets and deletes tags, keeping the others', async () => {
      const d = await create('tags', { tags: JSON.stringify({ keep: 'x', env: 'dev' }) });
      const set = await call('PATCH', `${API}/${d.dataset_id}/tags`, {
        tags: JSON.stringify({ env: 'prod', n: 2, gone: null }),
      });
      expect(set.status, set.body.message).toBe(200);
      await call('DELETE', `${API}/${d.dataset_id}/tags/keep`);
      await call('DELETE', `${API}/${d.dataset_id}/tags/never-set`);
      const got = (await call('GET', `${API}/${d.dataset_id}`)).body.dataset;
      expect(JSON.parse(got.tags)).toEqual({ env: 'prod', n: '2' });
    });

    it('links experiments idempotently, and unlinks them', async () => {
      const d = await create('links', { experiment_ids: [exp1] });
      const added = await call('POST', `${API}/${d.dataset_id}/add-experiments`, {
        experiment_ids: [exp1, exp2],
      });
      expect(added.body.dataset.experiment_ids.sort()).toEqual([exp1, exp2].sort());
      const removed = await call('POST', `${API}/${d.dataset_id}/remove-experiments`, {
        experiment_ids: [exp1, 'not-linked'],
      });
      expect(removed.body.dataset.experiment_ids).toEqual([exp2]);
    });

    it('deletes a dataset with its records, tags and links; deleting again is a no-op', async () => {
      const d = await create('gone', { experiment_ids: [exp1], tags: JSON.stringify({ a: 'b' }) });
      await upsert(d.dataset_id, [{ inputs: { q: 1 } }]);
      expect((await call('DELETE', `${API}/${d.dataset_id}`)).status).toBe(200);
      expect((await call('GET', `${API}/${d.dataset_id}`)).status).toBe(404);
      expect(await countRows(d.dataset_id)).toBe(0);
      const tags = await t.ctx.store.db
        .selectFrom('evaluation_dataset_tag')
        .select('key')
        .where('dataset_id', '=', d.dataset_id)
        .execute();
      expect(tags).toEqual([]);
      expect((await call('DELETE', `${API}/${d.dataset_id}`)).status).toBe(200);
    });

    describe('bad input', () => {
      it('answers an unknown dataset id with RESOURCE_DOES_NOT_EXIST', async () => {
        const id = 'd-00000000000000000000000000000000';
        const attempts = [
          call('GET', `${API}/${id}`),
          upsert(id, [{ inputs: { q: 1 } }]),
          call('GET', `${API}/${id}/records`),
          call('DELETE', `${API}/${id}/records`, { dataset_record_ids: ['dr-1'] }),
          call('PATCH', `${API}/${id}/tags`, { tags: '{"a": "b"}' }),
          call('DELETE', `${API}/${id}/tags/a`),
          call('GET', `${API}/${id}/experiment-ids`),
          call('POST', `${API}/${id}/add-experiments`, { experiment_ids: [exp1] }),
          call('POST', `${API}/${id}/remove-experiments`, { experiment_ids: [exp1] }),
        ];
        for (const res of await Promise.all(attempts)) {
          expect(res.status).toBe(404);
          expect(res.body).toEqual({
            error_code: 'RESOURCE_DOES_NOT_EXIST',
            message: `Evaluation dataset with id '${id}' not found`,
          });
        }
        const rows = await t.ctx.store.db
          .selectFrom('evaluation_dataset_record')
          .select('id')
          .where('dataset_id', '=', id)
          .execute();
        expect(rows).toEqual([]);
      });

      it('refuses malformed records and stores none of the request', async () => {
        const d = await create('malformed');
        const before = (await call('GET', `${API}/${d.dataset_id}`)).body.dataset;
        const cases: [unknown, RegExp][] = [
          ['[{"inputs": {', /records is not valid JSON/],
          ['{"inputs": {}}', /records must be a JSON list/],
          [[{ inputs: { q: 1 } }, 'text'], /records\[1\] must be a JSON object/],
          [[{ inputs: { q: 1 } }, { inputs: [1] }], /records\[1\]\.inputs must be a JSON object/],
          [[{ inputs: {}, expectations: 3 }], /records\[0\]\.expectations must be a JSON object/],
          [[{ inputs: {}, source: { source_type: 'robot' } }], /source_type "robot" is not one of/],
          ['['.repeat(100) + ']'.repeat(100), /records nests deeper than 64 levels/],
        ];
        for (const [records, message] of cases) {
          const res = await upsert(d.dataset_id, records);
          expect(res.status).toBe(400);
          expect(res.body.error_code).toBe('INVALID_PARAMETER_VALUE');
          expect(res.body.message).toMatch(message);
        }
        expect((await call('POST', `${API}/${d.dataset_id}/records`, {})).body.message).toBe(
          "Missing value for required parameter 'records'.",
        );
        expect(await countRows(d.dataset_id)).toBe(0);
        const after = (await call('GET', `${API}/${d.dataset_id}`)).body.dataset;
        expect(after).toEqual(before);
      });

      it('refuses over-limit sizes with the limit named', async () => {
        const d = await create('limits');
        const big = [{ inputs: { q: 'x'.repeat(limits.MAX_EVAL_DATASET_RECORD_BYTES) } }];
        const tooBig = await upsert(d.dataset_id, big);
        expect(tooBig.status).toBe(400);
        expect(tooBig.body.message).toMatch(
          /records\[0\] is \d+ bytes as JSON; the limit is 1048576/,
        );
        const many = Array.from(
          { length: limits.MAX_EVAL_DATASET_RECORDS_PER_REQUEST + 1 },
          (_, i) => ({ inputs: { i } }),
        );
        const tooMany = await upsert(d.dataset_id, many);
        expect(tooMany.status).toBe(400);
        expect(tooMany.body.message).toMatch(/10001 records in one request; the limit is 10000/);
        expect(await countRows(d.dataset_id)).toBe(0);

        const longName = await call('POST', `${API}/create`, { name: 'n'.repeat(256) });
        expect(longName.status).toBe(400);
        expect(longName.body.message).toMatch(/256 characters; the limit is 255/);
        const longTag = await call('PATCH', `${API}/${d.dataset_id}/tags`, {
          tags: JSON.stringify({ a: 'v'.repeat(5001) }),
        });
        expect(longTag.status).toBe(400);
        for (const max of [-1, 50_001]) {
          const res = await call('GET', `${API}/${d.dataset_id}/records?max_results=${max}`);
          expect(res.status).toBe(400);
          expect(res.body.message).toMatch(/parameter 'max_results'/);
        }
        const search = await call('POST', `${API}/search`, { max_results: 50_001 });
        expect(search.status).toBe(400);
      });

      it('refuses a dataset in an experiment that does not exist, creating nothing', async () => {
        const res = await call('POST', `${API}/create`, {
          name: 'orphan',
          experiment_ids: [exp1, '404404'],
        });
        expect(res.status).toBe(404);
        expect(res.body.message).toBe('No Experiment with id=404404 exists');
        const found = await call('POST', `${API}/search`, { filter_string: "name = 'orphan'" });
        expect(found.body.datasets).toEqual([]);

        const d = await create('partial', { experiment_ids: [exp1] });
        const add = await call('POST', `${API}/${d.dataset_id}/add-experiments`, {
          experiment_ids: [exp2, '404404'],
        });
        expect(add.status).toBe(404);
        expect((await call('GET', `${API}/${d.dataset_id}`)).body.dataset.experiment_ids).toEqual([
          exp1,
        ]);
      });

      it('refuses bad names, tags, filters and page tokens', async () => {
        const cases: [Promise<{ status: number; body: Body }>, RegExp][] = [
          [call('POST', `${API}/create`, {}), /Missing value for required parameter 'name'/],
          [call('POST', `${API}/create`, { name: 'x', tags: '{"a": ' }), /tags is not valid JSON/],
          [call('POST', `${API}/create`, { name: 'x', tags: { a: 'b' } }), /parameter 'tags'/],
          [
            call('POST', `${API}/create`, { name: 'x', tags: '["a"]' }),
            /tags must be a JSON object/,
          ],
          [
            call('POST', `${API}/create`, { name: 'x', experiment_ids: [{}] }),
            /experiment_ids\[0\]/,
          ],
          [
            call('POST', `${API}/search`, { filter_string: 'digest = 1' }),
            /invalid attribute 'digest'/,
          ],
          [call('POST', `${API}/search`, { order_by: ['tags.a'] }), /invalid order_by/],
          [call('POST', `${API}/search`, { page_token: 'nope!' }), /page_token is not one/],
          [call('GET', `${API}/d-x/records?page_token=bad`), /page_token is not one/],
        ];
        for (const [pending, message] of cases) {
          const res = await pending;
          expect(res.status).toBe(400);
          expect(res.body.message).toMatch(message);
        }
      });
    });
  });
}
