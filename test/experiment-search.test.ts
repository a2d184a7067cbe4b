/**
 * Experiment search (MLflow's search_experiments) on every backend: the filter grammar,
 * order_by with MLflow's default and tie-breakers, paging, and the HTTP route.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { ManualClock } from '../src/core/index.js';
import { ExperimentService, parseExperimentFilter } from '../src/tracking/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const T0 = 1_700_000_000_000;

for (const backend of STORE_BACKENDS) {
  describe(`experiment search: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let experiments: ExperimentService;
    const ids: Record<string, string> = {};

    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
      const clock = new ManualClock(T0);
      experiments = new ExperimentService(t.ctx.store, clock);
      // Created a second apart: alpha (oldest) … Delta (newest); beta and gamma share a time.
      const make = async (name: string, tags: Record<string, string>, advance = 1000) => {
        clock.advance(advance);
        ids[name] = await experiments.create({ name: `xs-${name}`, tags });
      };
      await make('alpha', { team: 'risk', 'stage.env': 'prod' });
      await make('beta', { team: 'growth' });
      await make('gamma', { team: 'Risk-ops' }, 0);
      await make('Delta', {});
      await make('gone', { team: 'risk' });
      await experiments.setLifecycle(ids.gone!, 'deleted');
      // Renaming alpha moves its last_update_time past everyone else's.
      clock.advance(1000);
      await experiments.rename(ids.alpha!, 'xs-alpha');
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    /** Names (without the `xs-` prefix) of the experiments a search returns. */
    const names = async (filter: string, orderBy: string[] = [], viewType?: 'ALL') =>
      (
        await experiments.search({
          filter: `name LIKE 'xs-%' AND (${filter})`,
          orderBy,
          ...(viewType === undefined ? {} : { viewType }),
        })
      ).map((e) => e.name.slice(3));

    it('filters on name with =, !=, LIKE (case-sensitive) and ILIKE', async () => {
      expect(await names("name = 'xs-beta'")).toEqual(['beta']);
      expect(await names("attribute.name != 'xs-beta'", ['name'])).toEqual([
        'Delta',
        'alpha',
        'gamma',
      ]);
      expect(await names("name LIKE 'xs-d%'")).toEqual([]);
      expect(await names("name ILIKE 'XS-D%'")).toEqual(['Delta']);
    });

    it('filters on creation_time and last_update_time with numeric comparators', async () => {
      expect(await names(`creation_time <= ${T0 + 1000}`)).toEqual(['alpha']);
      expect(await names(`creation_time = ${T0 + 2000}`, ['name'])).toEqual(['beta', 'gamma']);
      expect(await names(`attribute.creation_time > ${T0 + 2000}`)).toEqual(['Delta']);
      expect(await names(`last_update_time >= ${T0 + 5000}`)).toEqual(['alpha']);
      expect(await names(`creation_time != ${T0 + 2000}`, ['name'])).toEqual(['Delta', 'alpha']);
    });

    it('filters on tags with =, !=, LIKE, ILIKE, quoted keys and IS NULL', async () => {
      expect(await names("tags.team = 'risk'")).toEqual(['alpha']);
      expect(await names("tags.team ILIKE 'risk%'", ['name'])).toEqual(['alpha', 'gamma']);
      expect(await names("tags.team LIKE 'risk%'")).toEqual(['alpha']);
      // Like MLflow's SQL store, != needs the tag to be there.
      expect(await names("tags.team != 'risk'", ['name'])).toEqual(['beta', 'gamma']);
      expect(await names("tags.`stage.env` = 'prod'")).toEqual(['alpha']);
      expect(await names('tags."stage.env" = \'prod\'')).toEqual(['alpha']);
      expect(await names('tags.team IS NULL')).toEqual(['Delta']);
    });

    it('combines with AND, OR and parentheses, AND binding tighter', async () => {
      expect(
        await names("tags.team = 'growth' OR name = 'xs-Delta' AND creation_time > 0", ['name']),
      ).toEqual(['Delta', 'beta']);
      expect(
        await names("(tags.team = 'growth' OR name = 'xs-Delta') AND creation_time < 0"),
      ).toEqual([]);
      expect(await names(`experiment_id IN ('${ids.beta}', '${ids.gamma}')`, ['name'])).toEqual([
        'beta',
        'gamma',
      ]);
    });

    it('honours the view type', async () => {
      expect(await names("tags.team = 'risk'", ['name'], 'ALL')).toEqual(['alpha', 'gone']);
      const deleted = await experiments.search({
        filter: "name LIKE 'xs-%'",
        viewType: 'DELETED_ONLY',
      });
      expect(deleted.map((e) => e.name)).toEqual(['xs-gone']);
    });

    it("orders by creation_time DESC, experiment_id ASC by default (MLflow's default)", async () => {
      const tied = [ids.beta!, ids.gamma!].sort((a, b) => a.length - b.length || (a < b ? -1 : 1));
      const byId = (id: string) => Object.keys(ids).find((k) => ids[k] === id);
      expect(await names('creation_time > 0')).toEqual(['Delta', ...tied.map(byId), 'alpha']);
    });

    it('orders by each key, ASC or DESC, breaking ties by experiment_id DESC', async () => {
      expect(await names('creation_time > 0', ['name DESC'])).toEqual([
        'gamma',
        'beta',
        'alpha',
        'Delta',
      ]);
      expect((await names('creation_time > 0', ['last_update_time DESC']))[0]).toBe('alpha');
      const tied = [ids.beta!, ids.gamma!].sort((a, b) => b.length - a.length || (a < b ? 1 : -1));
      const byId = (id: string) => Object.keys(ids).find((k) => ids[k] === id);
      expect(await names('creation_time > 0', ['creation_time'])).toEqual([
        'alpha',
        ...tied.map(byId),
        'Delta',
      ]);
      const asc = await names('creation_time > 0', ['experiment_id ASC']);
      expect(asc).toHaveLength(4);
      expect(await names('creation_time > 0', ['experiment_id DESC'])).toEqual([...asc].reverse());
    });

    it('sorts experiment ids as numbers, not strings', async () => {
      const all = await experiments.search({ orderBy: ['experiment_id'], maxResults: 100 });
      expect(all[0]!.id).toBe('0');
      const numeric = all.map((e) => BigInt(e.id));
      expect(numeric).toEqual([...numeric].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    });

    it('refuses what MLflow refuses, naming the problem', () => {
      for (const [filter, message] of [
        ["status = 'x'", /invalid attribute 'status'/],
        ["params.a = 'b'", /invalid entity 'params'/],
        ['name > 3', /compares with =, !=, LIKE or ILIKE/],
        ["creation_time LIKE '1%'", /compares with =, !=, <, <=, > or >=/],
        ["creation_time > 'soon'", /integer/],
        ['name = xs', /quoted string/],
        ["name IN ('a')", /IN applies to experiment_id only/],
        ["(name = 'a'", /expected '\)'/],
        ["name = 'a' name = 'b'", /expected AND, OR or the end/],
        ["name = 'a' AND", /expected a comparison/],
        ['name IS NULL', /IS NULL applies to tags only/],
        ['name = $', /cannot read the filter/],
      ] as const) {
        expect(() => parseExperimentFilter(filter), filter).toThrow(message);
      }
      expect(parseExperimentFilter('  ')).toBeUndefined();
      const deep = `${'('.repeat(40)}name = 'a'${')'.repeat(40)}`;
      expect(() => parseExperimentFilter(deep)).toThrow(/nest deeper/);
    });

    it('refuses an unknown order_by key', async () => {
      await expect(experiments.search({ orderBy: ['tags.team'] })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    });

    it('answers over HTTP with filters, order_by and paging, GET and POST', async () => {
      const post = await app.inject({
        method: 'POST',
        url: '/api/2.0/mlflow/experiments/search',
        payload: {
          filter: "name LIKE 'xs-%' AND tags.team ILIKE 'risk%'",
          order_by: ['name ASC'],
          max_results: 1,
        },
      });
      expect(post.statusCode, post.body).toBe(200);
      const first = post.json<{ experiments: { name: string }[]; next_page_token?: string }>();
      expect(first.experiments.map((e) => e.name)).toEqual(['xs-alpha']);
      const token = first.next_page_token!;
      expect(token).toBeTypeOf('string');
      const next = await app.inject({
        method: 'GET',
        url: `/ajax-api/2.0/mlflow/experiments/search?filter=${encodeURIComponent(
          "name LIKE 'xs-%' AND tags.team ILIKE 'risk%'",
        )}&order_by=name%20ASC&max_results=1&page_token=${encodeURIComponent(token)}`,
      });
      expect(next.statusCode, next.body).toBe(200);
      const second = next.json<{ experiments: { name: string }[]; next_page_token?: string }>();
      expect(second.experiments.map((e) => e.name)).toEqual(['xs-gamma']);
      expect(second.next_page_token).toBeUndefined();
      const bad = await app.inject({
        method: 'POST',
        url: '/api/2.0/mlflow/experiments/search',
        payload: { filter: 'metrics.acc > 1' },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE' });
    });
  });
}
