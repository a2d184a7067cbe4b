/**
 * Expectation suites and quality gates (issue 4) on every metadata backend: generated data
 * with known answers; a suite that passes, and one that fails for each data-quality
 * dimension with the exact unexpected counts; the same answers with the profile shortcut
 * off (every expectation measured on the data); history anomalies; stored results and
 * lineage; suggestions; and bad suites refused with the field to fix.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/core/index.js';
import type { CheckRun, ExpectationInput, SuiteInput } from '../src/data/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { refused } from './helpers/refused.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const N = 1000;
const DAY = 86_400_000;
/** 2026-11-20T00:00:00Z: created_at runs from here, one minute per row. */
const T0 = Date.UTC(2026, 10, 20);
const STATUSES = ['new', 'paid', 'shipped'];

/**
 * id 1..N; customer_id = id % 50 + 1, null when id % 100 = 0 (10 nulls); amount = id / 4;
 * status cycles new, paid, shipped; email u<id>@ex.com; day = 2026-01-01 + (id % 10) days;
 * day_text the same as text; created_at = T0 + id minutes; net = id, tax = id / 10,
 * gross = net + tax; country US or DE.
 */
function ordersCsv(rows = N, shift = 0): string {
  const lines = [
    'id,customer_id,amount,status,email,day,day_text,created_at,net,tax,gross,country',
  ];
  for (let id = 1; id <= rows; id++) {
    const day = `2026-01-${String(1 + (id % 10)).padStart(2, '0')}`;
    const created = new Date(T0 + id * 60_000).toISOString().replace('T', ' ').slice(0, 19);
    lines.push(
      [
        id,
        id % 100 === 0 ? '' : (id % 50) + 1,
        id / 4 + shift,
        STATUSES[id % 3],
        `u${id}@ex.com`,
        day,
        `day ${day}`,
        created,
        id,
        id / 10,
        id + id / 10,
        id % 2 === 0 ? 'US' : 'DE',
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

const customersCsv = (max: number) =>
  `id,name\n${Array.from({ length: max }, (_, i) => `${i + 1},c${i + 1}`).join('\n')}\n`;

const PASSING: ExpectationInput[] = [
  // completeness
  { expect: 'not_null', column: 'id' },
  { expect: 'not_null', column: 'customer_id', mostly: 0.99 },
  { expect: 'row_count_between', min: 1, max: 10_000 },
  { expect: 'partitions_not_empty', column: 'day', every: 'day' },
  // consistency
  {
    expect: 'schema',
    columns: [
      { name: 'id', type: 'BIGINT' },
      { name: 'status', type: 'varchar' },
    ],
    exact: false,
  },
  { expect: 'unique', column: 'id' },
  { expect: 'compound_unique', columns: ['id', 'status'] },
  { expect: 'references', column: 'customer_id', dataset: 'customers@1', refColumn: 'id' },
  { expect: 'column_pair', left: 'gross', op: '>=', right: 'net' },
  { expect: 'sum_equals', columns: ['net', 'tax'], total: 'gross', tolerance: 1e-9 },
  // validity
  { expect: 'between', column: 'amount', min: 0, max: 250 },
  { expect: 'in_set', column: 'status', values: STATUSES },
  { expect: 'regex', column: 'email', pattern: '^u[0-9]+@ex\\.com$' },
  { expect: 'length_between', column: 'country', min: 2, max: 2 },
  { expect: 'date_format', column: 'day_text', format: 'day %Y-%m-%d' },
  { expect: 'distribution', column: 'amount', reference: 'orders@1' },
  { expect: 'distribution', column: 'status', reference: 'orders@1' },
  // timeliness
  { expect: 'fresh', column: 'created_at', within: '24h' },
  { expect: 'version_age', within: '7d' },
];

for (const backend of STORE_BACKENDS) {
  describe(`data checks: ${backend}`, () => {
    let t: TestContext;
    let dir: string;
    const clock = new ManualClock(T0 + DAY);
    const add = (name: string, csv: string) => {
      const path = join(dir, `${name}-${Math.random().toString(36).slice(2)}.csv`);
      writeFileSync(path, csv);
      return t.ctx.data.add({ name, source: path, cwd: dir });
    };
    const gate = (expectations: ExpectationInput[], options: { fullScan?: boolean } = {}) =>
      t.ctx.checks.gate('orders@1', { name: 'orders-quality', expectations }, options);
    const only = async (e: ExpectationInput, options: { fullScan?: boolean } = {}) =>
      (await gate([e], options)).results[0]!;

    beforeAll(async () => {
      t = await openTestContext(backend, {}, { clock });
      dir = mkdtempSync(join(tmpdir(), 'mobius-checks-'));
      await add('orders', ordersCsv());
      await add('customers', customersCsv(50));
      await add('customers', customersCsv(40));
    });
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('a suite covering the four dimensions passes, from the profile where it can', async () => {
      for (const fullScan of [false, true]) {
        const run = await gate(PASSING, { fullScan });
        const failed = run.results.filter((r) => !r.success);
        expect(failed, JSON.stringify(failed, null, 1)).toEqual([]);
        expect(run.status).toBe('pass');
        expect(run.success).toBe(true);
        expect(run.statistics).toEqual({
          evaluatedExpectations: PASSING.length,
          successfulExpectations: PASSING.length,
          unsuccessfulExpectations: 0,
          successPercent: 100,
        });
        const byProfile = run.results.filter((r) => r.decidedBy === 'profile').length;
        if (fullScan)
          expect(byProfile).toBe(3); // row count, schema, version age
        else expect(byProfile).toBeGreaterThanOrEqual(8);
      }
      const run = await gate(PASSING);
      const customer = run.results[1]!.result;
      expect(customer).toMatchObject({ elementCount: N, missingCount: 0, unexpectedCount: 10 });
      const fresh = run.results.find((r) => r.expectation.expect === 'fresh')!;
      expect(fresh.result.observedValue).toBe(DAY - N * 60_000);
      const dist = run.results.find((r) => r.expectation.expect === 'distribution')!;
      expect(dist.result.observedValue).toEqual({ statistic: 0, pValue: 1 });
    });

    it('completeness failures: nulls, row count, empty partitions', async () => {
      for (const fullScan of [false, true]) {
        const nulls = await only({ expect: 'not_null', column: 'customer_id' }, { fullScan });
        expect(nulls.success).toBe(false);
        expect(nulls.result).toMatchObject({
          elementCount: N,
          unexpectedCount: 10,
          unexpectedPercent: 1,
        });
        expect(nulls.result.partialUnexpectedList).toEqual(Array(10).fill(null));
        expect(nulls.result.sampleRows![0]).toMatchObject({ customer_id: null, id: 100 });
        const rows = await only({ expect: 'row_count_between', min: 2000 }, { fullScan });
        expect(rows).toMatchObject({ success: false, result: { observedValue: N } });
        const parts = await only(
          {
            expect: 'partitions_not_empty',
            column: 'day',
            values: ['2026-01-01', '2026-01-11', '2026-02-01'],
          },
          { fullScan },
        );
        expect(parts.success).toBe(false);
        expect(parts.result.observedValue).toBe(2);
        expect(parts.result.details!.emptyPartitions).toEqual(['2026-01-11', '2026-02-01']);
      }
    });

    it('consistency failures: schema, unique, compound unique, references, pairs, sums', async () => {
      for (const fullScan of [false, true]) {
        const schema = await only(
          { expect: 'schema', columns: [{ name: 'id', type: 'VARCHAR' }, { name: 'Status' }] },
          { fullScan },
        );
        expect(schema.success).toBe(false);
        expect(schema.result.details).toMatchObject({
          missing: ['Status'],
          typeMismatches: [{ column: 'id', expected: 'VARCHAR', actual: 'BIGINT' }],
          hints: ["'Status' is spelled 'status' in the data"],
        });
        expect((schema.result.details!.unexpected as string[]).length).toBe(11);
        // every non-null customer_id repeats: 990 rows take part in duplicates
        const unique = await only({ expect: 'unique', column: 'customer_id' }, { fullScan });
        expect(unique.result).toMatchObject({ unexpectedCount: 990, missingCount: 10 });
        const compound = await only(
          { expect: 'compound_unique', columns: ['customer_id', 'status'] },
          { fullScan },
        );
        expect(compound.result).toMatchObject({ unexpectedCount: 990, missingCount: 10 });
        // customers@2 has ids 1..40: customer_id 41..50 ↔ id % 50 in 40..49 → 200 rows
        const refs = await only(
          { expect: 'references', column: 'customer_id', dataset: 'customers@2', refColumn: 'id' },
          { fullScan },
        );
        expect(refs.result).toMatchObject({ unexpectedCount: 200, missingCount: 10 });
        expect(refs.result.partialUnexpectedList!.every((v) => Number(v) > 40)).toBe(true);
        const pair = await only(
          { expect: 'column_pair', left: 'net', op: '>', right: 'gross' },
          { fullScan },
        );
        expect(pair.result).toMatchObject({ unexpectedCount: N });
        expect(pair.result.partialUnexpectedList![0]).toEqual({ net: 1, gross: 1.1 });
        const sum = await only(
          { expect: 'sum_equals', columns: ['tax'], total: 'gross' },
          { fullScan },
        );
        expect(sum.result).toMatchObject({ unexpectedCount: N });
      }
    });

    it('uniqueness by bitmap keys (times, dates, text, flags) agrees with hashing, including times finer than their key unit', async () => {
      // status and country have every value in the profile; day spans 10 dates; created_at
      // is whole minutes (one per id), so the profile-mode scan counts bits, not hashes.
      const cases: [string[], number][] = [
        [['created_at', 'status'], 0],
        [['day', 'status'], N], // 30 combinations over 1,000 rows
        [['day', 'country'], N],
        [['status', 'country'], N],
        [['id', 'day'], 0],
      ];
      for (const [columns, dup] of cases)
        for (const fullScan of [false, true]) {
          const r = await only({ expect: 'compound_unique', columns }, { fullScan });
          const one = await only({ expect: 'unique', column: columns[0]! }, { fullScan });
          expect(one.result.unexpectedCount).toBe(
            columns[0] === 'id' || columns[0] === 'created_at' ? 0 : N,
          );
          expect(r.result, `${columns.join(',')} fullScan=${fullScan}`).toMatchObject({
            unexpectedCount: dup,
            missingCount: 0,
          });
        }
      // Whole seconds at both ends, microseconds between: the millisecond key gives three
      // distinct times one bit, and the shortfall is recounted exactly.
      const path = join(dir, 'times.csv');
      writeFileSync(
        path,
        'ts,flag\n2026-01-01 00:00:00,true\n2026-01-01 00:00:00.000250,true\n2026-01-01 00:00:00.000250,true\n2026-01-01 00:00:00.000250,false\n2026-01-01 00:00:01,false\n',
      );
      await t.ctx.data.add({ name: 'times', source: path, cwd: dir });
      for (const fullScan of [false, true]) {
        const run = await t.ctx.checks.gate(
          'times@1',
          {
            expectations: [
              { expect: 'compound_unique', columns: ['ts', 'flag'] },
              { expect: 'unique', column: 'ts' },
              { expect: 'compound_unique', columns: ['flag', 'ts'] },
            ],
          },
          { fullScan },
        );
        expect(run.results.map((r) => r.result.unexpectedCount)).toEqual([2, 3, 2]);
      }
    });

    it('validity failures: between, in set, regex, length, date format, distribution', async () => {
      for (const fullScan of [false, true]) {
        // amount = id / 4 > 100 for id > 400
        const between = await only({ expect: 'between', column: 'amount', max: 100 }, { fullScan });
        expect(between.result).toMatchObject({ unexpectedCount: 600, unexpectedPercent: 60 });
        expect(between.result.partialUnexpectedList![0]).toBe(100.25);
        const mostly = await only(
          { expect: 'between', column: 'amount', max: 100, mostly: 0.4 },
          { fullScan },
        );
        expect(mostly.success).toBe(true);
        // status = STATUSES[id % 3]: 'shipped' when id % 3 = 2 → 333 rows
        const set = await only(
          { expect: 'in_set', column: 'status', values: ['new', 'paid'] },
          { fullScan },
        );
        expect(set.result).toMatchObject({ unexpectedCount: 333 });
        expect(new Set(set.result.partialUnexpectedList)).toEqual(new Set(['shipped']));
        const regex = await only(
          { expect: 'regex', column: 'email', pattern: '^u[0-9]{1,2}@' },
          { fullScan },
        );
        expect(regex.result).toMatchObject({ unexpectedCount: N - 99 });
        const length = await only(
          { expect: 'length_between', column: 'email', max: 10 },
          { fullScan },
        );
        // u1@ex.com … u9@ex.com (9) and u10@ex.com … u99@ex.com (10) fit; 100+ do not
        expect(length.result).toMatchObject({ unexpectedCount: N - 99 });
        const format = await only(
          { expect: 'date_format', column: 'day_text', format: '%d/%m/%Y' },
          { fullScan },
        );
        expect(format.result).toMatchObject({ unexpectedCount: N });
      }
      await add('orders', ordersCsv(N, 40)); // orders@2: amounts shifted by +40
      const run = await t.ctx.checks.gate('orders@2', {
        expectations: [
          { expect: 'distribution', column: 'amount', reference: 'orders@1' },
          {
            expect: 'distribution',
            column: 'amount',
            reference: 'orders@1',
            minPValue: 0,
            maxStatistic: 0.2,
          },
          { expect: 'distribution', column: 'status', reference: 'orders@1' },
        ],
      });
      const [ks, loose, chi2] = run.results;
      // D = 40 / 250 = 0.16 exactly: the shifted CDF lags by 160 of 1000 rows
      expect((ks!.result.observedValue as { statistic: number }).statistic).toBeCloseTo(0.16, 10);
      expect(ks!.success).toBe(false);
      expect(loose!.success).toBe(true);
      expect(chi2!.success).toBe(true);
    });

    it('timeliness failures: stale data and an old version, under the injected clock', async () => {
      clock.advance(10 * DAY);
      try {
        const fresh = await only({ expect: 'fresh', column: 'created_at', within: '24h' });
        expect(fresh.success).toBe(false);
        expect(fresh.result.details!.newest).toBe(new Date(T0 + N * 60_000).toISOString());
        const age = await only({ expect: 'version_age', within: '7d' });
        expect(age.success).toBe(false);
      } finally {
        clock.advance(-10 * DAY);
      }
    });

    it('the gate: error failures fail, warn failures warn, and results are stored with lineage', async () => {
      clock.advance(1000);
      const warn = await gate([
        { expect: 'not_null', column: 'id' },
        { expect: 'not_null', column: 'customer_id', severity: 'warn' },
      ]);
      expect(warn.status).toBe('warn');
      expect(warn.success).toBe(false);
      clock.advance(1000);
      const fail = await gate([
        { expect: 'not_null', column: 'customer_id', severity: 'warn' },
        { expect: 'unique', column: 'customer_id' },
      ]);
      expect(fail.status).toBe('fail');

      const stored = await t.ctx.checks.get(fail.id);
      expect(stored).toEqual(JSON.parse(JSON.stringify(fail)) as CheckRun);
      // newest first (the timeliness test checked at a later clock, so look for these two)
      const listed = (await t.ctx.checks.list({ dataset: 'orders', limit: 1000 })).map((r) => r.id);
      expect(listed.indexOf(fail.id)).toBe(listed.indexOf(warn.id) - 1);
      expect(await t.ctx.checks.list({ dataset: 'customers' })).toEqual([]);
      const edges = await t.ctx.store.db
        .selectFrom('edge')
        .selectAll()
        .where('from_id', '=', fail.id)
        .execute();
      expect(edges).toMatchObject([
        {
          from_kind: 'check_run',
          to_kind: 'dataset_version',
          to_id: fail.versionId,
          relation: 'consumed',
        },
      ]);
    });

    it('a check run of a tracking run is linked to it; an unknown run is refused', async () => {
      const exp = await t.ctx.tracking.experiments.create({ name: `checks-${backend}` });
      const tr = await t.ctx.tracking.runs.create({ experimentId: exp });
      const run = await t.ctx.checks.gate(
        'orders@1',
        { expectations: [{ expect: 'unique', column: 'id' }] },
        { runId: tr.info.id },
      );
      const edge = await t.ctx.store.db
        .selectFrom('edge')
        .selectAll()
        .where('to_id', '=', run.id)
        .executeTakeFirst();
      expect(edge).toMatchObject({ from_kind: 'run', from_id: tr.info.id, relation: 'produced' });
      const e = await refused(
        t.ctx.checks.gate(
          'orders@1',
          { expectations: [{ expect: 'unique', column: 'id' }] },
          { runId: 'nope' },
        ),
      );
      expect(e.message).toContain("run 'nope' does not exist");
    });

    it('history: a row count or null rate far from earlier versions is a warning with the history', async () => {
      const suite: SuiteInput = { expectations: [{ expect: 'row_count_between', min: 1 }] };
      const sizes = [500, 510, 495, 505, 500, 498];
      for (const n of sizes) {
        const { version } = await add('events', ordersCsv(n));
        const run = await t.ctx.checks.gate(`events@${version.version}`, suite);
        expect(run.anomalies).toEqual([]);
        expect(run.status).toBe('pass');
      }
      const { version } = await add('events', ordersCsv(100));
      const run = await t.ctx.checks.gate(`events@${version.version}`, suite);
      expect(run.status).toBe('warn');
      const rows = run.anomalies.find((a) => a.metric === 'row_count')!;
      expect(rows.value).toBe(100);
      expect(rows.mean).toBeCloseTo(501.33, 1);
      expect(rows.history.map((h) => h.value)).toEqual(sizes);
      expect(rows.message).toMatch(/row_count is 100, \d+\.\dσ from its mean/);
      // Null rate of customer_id is 1% on every version; mean of id moved too.
      expect(run.anomalies.map((a) => a.metric)).toContain('mean:id');
      const history = await t.ctx.checks.metricHistory('events', 'row_count');
      expect(history.map((h) => h.value)).toEqual([...sizes, 100]);
    });

    it('suggests a suite from the profile that the data then passes', async () => {
      const suite = await t.ctx.checks.suggest('orders@1');
      const kinds = suite.expectations.map((e) => `${e.expect}:${'column' in e ? e.column : ''}`);
      expect(kinds).toEqual(
        expect.arrayContaining([
          'schema:',
          'row_count_between:',
          'not_null:id',
          'unique:id',
          'in_set:status',
          'between:amount',
        ]),
      );
      expect(kinds).not.toContain('unique:customer_id');
      const customer = suite.expectations.find(
        (e) => e.expect === 'not_null' && e.column === 'customer_id',
      );
      // completeness 0.99 over 1000 rows: lower 95% bound 0.99 − 1.96·√(0.99·0.01/1000) = 0.98383
      expect(customer).toMatchObject({ mostly: 0.983 });
      const run = await t.ctx.checks.gate('orders@1', suite);
      expect(run.results.filter((r) => !r.success)).toEqual([]);
    });

    it('bad suites are refused before any work, naming the expectation and field', async () => {
      const cases: [SuiteInput | string, RegExp][] = [
        [
          { expectations: [{ expect: 'not_null', column: 'amout' }] },
          /expectation 1 \(not_null\): column 'amout' is not in orders@1 \(did you mean 'amount'\?\); its columns are id, customer_id/,
        ],
        [{ expectations: [{ expect: 'unique', column: 'ID' }] }, /did you mean 'id'\?/],
        [
          { expectations: [{ expect: 'nope' } as unknown as ExpectationInput] },
          /expectation 1 has an unknown kind "nope" for 'expect'; use one of not_null/,
        ],
        [
          { expectations: [{ expect: 'between', column: 'amount' }] },
          /expectation 1 \(between\): give 'min', 'max' or both/,
        ],
        [
          { expectations: [{ expect: 'between', column: 'amount', min: 'a' }] },
          /'amount' is DOUBLE; give a number/,
        ],
        [
          { expectations: [{ expect: 'between', column: 'created_at', min: 'yesterday' }] },
          /expectation 1 \(between\): .*yesterday/,
        ],
        [
          { expectations: [{ expect: 'regex', column: 'email', pattern: '([a-z' }] },
          /expectation 1 \(regex\): /,
        ],
        [
          { expectations: [{ expect: 'fresh', column: 'amount', within: '1h' }] },
          /'amount' is DOUBLE; freshness needs a DATE or TIMESTAMP/,
        ],
        [
          { expectations: [{ expect: 'fresh', column: 'created_at', within: 'soon' }] },
          /'within': a duration such as/,
        ],
        [
          { expectations: [{ expect: 'not_null', column: 'id', extra: 1 } as ExpectationInput] },
          /unknown key\(s\) extra/,
        ],
        [
          { expectations: [{ expect: 'references', column: 'customer_id', dataset: 'ghost@1' }] },
          /expectation 1 \(references\): dataset 'ghost' does not exist/,
        ],
        [
          {
            expectations: [
              {
                expect: 'references',
                column: 'customer_id',
                dataset: 'customers@1',
                refColumn: 'cid',
              },
            ],
          },
          /column 'cid' is not in customers@1/,
        ],
        [{ expectations: [] }, /'expectations'/],
        ['expectations: [ {', /not valid YAML/],
        [
          { expectations: [{ expect: 'date_format', column: 'day', format: '%Y' }] },
          /'day' is already DATE/,
        ],
      ];
      for (const [suite, message] of cases) {
        const e = await refused(t.ctx.checks.gate('orders@1', suite));
        expect(e.code, String(message)).toBe(
          /ghost/.test(String(message)) ? 'NOT_FOUND' : 'INVALID_ARGUMENT',
        );
        expect(e.message).toMatch(message);
      }
      const before = (await t.ctx.checks.list({ dataset: 'orders', limit: 1000 })).length;
      await refused(t.ctx.checks.gate('orders@1', cases[0]![0]));
      expect((await t.ctx.checks.list({ dataset: 'orders', limit: 1000 })).length).toBe(before);
      const unknown = await refused(
        t.ctx.checks.gate('orders@99', { expectations: [{ expect: 'unique', column: 'id' }] }),
      );
      expect(unknown.code).toBe('NOT_FOUND');
    });
  });
}
