import { describe, expect, it } from 'vitest';
import { isMobiusError, limits } from '../../core/index.js';
import { parseFilter, type FilterNode } from './filter-parser.js';

/** The parsed filter, which must not be empty. */
function parse(filter: string): FilterNode {
  const node = parseFilter(filter);
  if (node === undefined) throw new Error(`'${filter}' parsed to no filter`);
  return node;
}

/** The INVALID_ARGUMENT message parsing `filter` throws. */
function errorOf(filter: string): string {
  try {
    parseFilter(filter);
  } catch (error) {
    if (isMobiusError(error) && error.code === 'INVALID_ARGUMENT') return error.message;
    throw error;
  }
  throw new Error(`'${filter}' parsed without error`);
}

/** A compact picture of the tree: comparisons as [entity, key, comparator, value]. */
function shape(node: FilterNode): unknown {
  if (node.kind !== 'comparison') return { [node.kind]: node.operands.map(shape) };
  const value = node.type === 'list' ? node.values : node.value;
  return [node.entity, node.key, node.comparator, value];
}

describe('parseFilter: no filter', () => {
  it.each([undefined, null, '', '   ', '\n\t'])('%j is no filter', (filter) => {
    expect(parseFilter(filter)).toBeUndefined();
  });
});

describe('parseFilter: comparators per entity', () => {
  it.each(['=', '!=', '>', '>=', '<', '<='])('metrics take %s', (op) => {
    expect(shape(parse(`metrics.acc ${op} 0.5`))).toEqual(['metric', 'acc', op, 0.5]);
  });

  it.each(['=', '!=', '>', '>=', '<', '<='])('start_time and end_time take %s', (op) => {
    expect(shape(parse(`attributes.start_time ${op} 1700000000000`))).toEqual([
      'attribute',
      'start_time',
      op,
      1700000000000,
    ]);
    expect(shape(parse(`end_time ${op} 5`))).toEqual(['attribute', 'end_time', op, 5]);
  });

  it.each(['=', '!=', 'LIKE', 'ILIKE'])('params and tags take %s', (op) => {
    expect(shape(parse(`params.lr ${op} '0.1'`))).toEqual(['param', 'lr', op, '0.1']);
    expect(shape(parse(`tags.team ${op} "ml"`))).toEqual(['tag', 'team', op, 'ml']);
  });

  it.each(['=', '!=', 'LIKE', 'ILIKE'])('string attributes take %s', (op) => {
    for (const key of ['run_id', 'run_name', 'status', 'user_id', 'artifact_uri']) {
      expect(shape(parse(`attributes.${key} ${op} 'x'`))).toEqual(['attribute', key, op, 'x']);
    }
  });

  it('string attributes take IN and NOT IN lists', () => {
    expect(shape(parse(`run_id IN ('a', 'b')`))).toEqual(['attribute', 'run_id', 'IN', ['a', 'b']]);
    expect(shape(parse(`status NOT IN ('FAILED')`))).toEqual([
      'attribute',
      'status',
      'NOT IN',
      ['FAILED'],
    ]);
    expect(shape(parse(`lifecycle_stage = 'active'`))).toEqual([
      'attribute',
      'lifecycle_stage',
      '=',
      'active',
    ]);
  });

  it('datasets take strings and lists on name, digest and context', () => {
    expect(shape(parse(`datasets.name = 'train'`))).toEqual(['dataset', 'name', '=', 'train']);
    expect(shape(parse(`dataset.digest IN ('ab12', 'cd34')`))).toEqual([
      'dataset',
      'digest',
      'IN',
      ['ab12', 'cd34'],
    ]);
    expect(shape(parse(`datasets.context ILIKE 'TRAIN%'`))).toEqual([
      'dataset',
      'context',
      'ILIKE',
      'TRAIN%',
    ]);
  });
});

describe('parseFilter: names', () => {
  it.each([
    ['metric.a = 1', 'metric'],
    ['params.a = "1"', 'param'],
    ['param.a = "1"', 'param'],
    ['parameter.a = "1"', 'param'],
    ['parameters.a = "1"', 'param'],
    ['tag.a = "1"', 'tag'],
    ['attr.status = "x"', 'attribute'],
    ['attribute.status = "x"', 'attribute'],
    ['run.status = "x"', 'attribute'],
  ])('prefix alias %s', (filter, entity) => {
    expect(parse(filter)).toMatchObject({ entity });
  });

  it('maps MLflow attribute aliases to their columns', () => {
    expect(parse('created > 5')).toMatchObject({ key: 'start_time' });
    expect(parse('attributes.Created > 5')).toMatchObject({ key: 'start_time' });
    expect(parse('attributes.`Run name` = "x"')).toMatchObject({ key: 'run_name' });
    expect(parse('"Run Name" = "x"')).toMatchObject({ key: 'run_name' });
  });

  it('quotes keys with backticks or double quotes', () => {
    expect(parse('metrics.`my metric` > 1')).toMatchObject({ key: 'my metric' });
    expect(parse('params."batch size" = "32"')).toMatchObject({ key: 'batch size' });
    expect(parse('tags.`a``b` = "x"')).toMatchObject({ key: 'a`b' });
    expect(parse('`metrics`.`acc` > 1')).toMatchObject({ entity: 'metric', key: 'acc' });
  });

  it('takes dots, slashes, dashes and colons in unquoted keys', () => {
    expect(parse('tags.mlflow.runName = "x"')).toMatchObject({
      entity: 'tag',
      key: 'mlflow.runName',
    });
    expect(parse('metrics.train/loss < 1')).toMatchObject({ key: 'train/loss' });
    expect(parse('metrics.top-1:val>0')).toMatchObject({ key: 'top-1:val', comparator: '>' });
  });
});

describe('parseFilter: values', () => {
  it.each([
    ['1', 1],
    ['-2', -2],
    ['+3', 3],
    ['0.25', 0.25],
    ['.5', 0.5],
    ['1e3', 1000],
    ['-1.5E-2', -0.015],
    ['1e999', Infinity],
  ])('number %s', (text, value) => {
    expect(parse(`metrics.x = ${text}`)).toMatchObject({ value });
  });

  it('takes single- or double-quoted strings, a doubled quote escaping itself', () => {
    expect(parse(`params.a = 'it''s'`)).toMatchObject({ value: "it's" });
    expect(parse(`params.a = "say ""hi"""`)).toMatchObject({ value: 'say "hi"' });
    expect(parse(`params.a = "it's"`)).toMatchObject({ value: "it's" });
    expect(parse(`params.a = ''`)).toMatchObject({ value: '' });
    expect(parse(`params.a LIKE '50\\%'`)).toMatchObject({ value: '50\\%' });
  });

  it('reads IN lists with any spacing and either quote', () => {
    expect(parse(`run_id IN('a',"b" ,  'c')`)).toMatchObject({ values: ['a', 'b', 'c'] });
    expect(parse(`run_id not in ( 'a' )`)).toMatchObject({ comparator: 'NOT IN', values: ['a'] });
  });

  it('needs no spaces around comparators', () => {
    expect(shape(parse(`metrics.acc>=0.9 AND params.a!='b'`))).toEqual({
      and: [
        ['metric', 'acc', '>=', 0.9],
        ['param', 'a', '!=', 'b'],
      ],
    });
  });
});

describe('parseFilter: AND, OR and parentheses', () => {
  const a = ['metric', 'a', '>', 1];
  const b = ['metric', 'b', '>', 2];
  const c = ['metric', 'c', '>', 3];
  const d = ['metric', 'd', '>', 4];

  it('binds AND tighter than OR', () => {
    expect(shape(parse('metrics.a > 1 OR metrics.b > 2 AND metrics.c > 3'))).toEqual({
      or: [a, { and: [b, c] }],
    });
    expect(shape(parse('metrics.a > 1 AND metrics.b > 2 OR metrics.c > 3'))).toEqual({
      or: [{ and: [a, b] }, c],
    });
  });

  it('groups with parentheses', () => {
    expect(shape(parse('(metrics.a > 1 OR metrics.b > 2) AND metrics.c > 3'))).toEqual({
      and: [{ or: [a, b] }, c],
    });
  });

  it('nests parentheses', () => {
    expect(
      shape(parse('metrics.a > 1 AND (metrics.b > 2 OR (metrics.c > 3 AND (metrics.d > 4)))')),
    ).toEqual({ and: [a, { or: [b, { and: [c, d] }] }] });
  });

  it('drops redundant parentheses and flattens same-kind groups', () => {
    expect(shape(parse('((metrics.a > 1))'))).toEqual(a);
    expect(shape(parse('metrics.a > 1 AND (metrics.b > 2 AND metrics.c > 3)'))).toEqual({
      and: [a, b, c],
    });
    expect(shape(parse('(metrics.a > 1 OR metrics.b > 2) OR metrics.c > 3'))).toEqual({
      or: [a, b, c],
    });
  });

  it('reads keywords in any case', () => {
    expect(
      shape(
        parse(`metrics.a > 1 and params.p like 'x' Or tags.t iLike 'y' AND run_id Not In ('r')`),
      ),
    ).toEqual({
      or: [
        { and: [a, ['param', 'p', 'LIKE', 'x']] },
        {
          and: [
            ['tag', 't', 'ILIKE', 'y'],
            ['attribute', 'run_id', 'NOT IN', ['r']],
          ],
        },
      ],
    });
  });

  it('keeps each clause as written, for later messages', () => {
    expect(parse(`  metrics.acc   >  1 `)).toMatchObject({ source: 'metrics.acc   >  1' });
  });
});

describe('parseFilter: semantic errors say what is allowed', () => {
  it.each([
    ['params.lr > 0.1', `params take =, !=, LIKE or ILIKE, not '>' (at 'params.lr > 0.1')`],
    ["tags.t IN ('a')", `tags take =, !=, LIKE or ILIKE, not 'IN'`],
    ["metrics.acc LIKE '1'", `metrics take =, !=, >, >=, < or <=, not 'LIKE'`],
    ["start_time ILIKE '1'", `start_time takes =, !=, >, >=, < or <=, not 'ILIKE'`],
    ["status >= 'x'", `status takes =, !=, LIKE, ILIKE, IN or NOT IN, not '>='`],
    ["datasets.name < 'x'", `datasets.name takes =, !=, LIKE, ILIKE, IN or NOT IN, not '<'`],
  ])('comparator: %s', (filter, message) => {
    expect(errorOf(filter)).toContain(message);
  });

  it.each([
    ["metrics.acc > '0.1'", `metrics compare to a number, not the string '0.1'`],
    ['params.lr = 0.1', `params compare to quoted strings: write '0.1' instead of 0.1`],
    ['tags.n = 3', `tags compare to quoted strings: write '3' instead of 3`],
    ["end_time < 'yesterday'", `end_time compares to a number, not the string 'yesterday'`],
    ['start_time > 1.5', `start_time is whole milliseconds since the epoch, not 1.5`],
    ["run_id IN 'a'", `IN takes a parenthesised list of quoted strings`],
    ["run_id = ('a')", `run_id compares to one string; a list only follows IN or NOT IN`],
    ["metrics.a = ('1')", `metrics compare to one number`],
  ])('value type: %s', (filter, message) => {
    expect(errorOf(filter)).toContain(message);
  });

  it.each([
    [
      'metricz.acc > 1',
      `unknown entity 'metricz': use metrics., params., tags., attributes. or datasets.`,
    ],
    ['Metrics.acc > 1', `unknown entity 'Metrics'`],
    ['acc > 1', `unknown attribute 'acc'`],
    ["attributes.foo = 'x'", `unknown attribute 'foo': attributes are run_id, run_name`],
    ["datasets.size = 'x'", `unknown dataset field 'size'`],
    ['metrics."" > 1', 'metrics need a non-empty key'],
  ])('names: %s', (filter, message) => {
    expect(errorOf(filter)).toContain(message);
  });

  it('hints at the prefix for a bare metric name', () => {
    expect(errorOf('acc > 1')).toContain(
      'a metric, param or tag needs its prefix, e.g. metrics.acc',
    );
  });

  it('quotes a clause that holds single quotes with double quotes', () => {
    expect(errorOf("metrics.acc > '0.1'")).toContain(`(at "metrics.acc > '0.1'")`);
  });
});

describe('parseFilter: syntax errors point at the column', () => {
  it.each([
    ["params.a = 'abc", `unterminated ' quote at column 12 of the filter`],
    ['metrics.`a > 1', 'unterminated ` quote at column 9'],
    ['metrics.acc 1', `expected a comparator after 'metrics.acc' at column 13`],
    [
      'metrics.acc == 1',
      `'==' is not a comparator at column 13 of the filter (near '== 1'); write '=' instead`,
    ],
    ['metrics.acc <> 1', `write '!=' instead`],
    ["status NOT 'x'", 'NOT is only allowed as NOT IN at column 8'],
    ['NOT metrics.a > 1', 'NOT is only allowed as NOT IN at column 1'],
    ['params.a = adam', `strings must be quoted: write 'adam'`],
    ['metrics.acc >', `expected a value after 'metrics.acc >' at the end of the filter`],
    ['metrics.acc > 1 foo', 'expected AND, OR or the end of the filter at column 17'],
    [
      'metrics.acc > 1 && metrics.b > 2',
      `expected AND, OR or the end of the filter at column 17 of the filter (near '&& metrics.b > 2')`,
    ],
    [
      '(metrics.acc > 1',
      `missing ')' at the end of the filter; the '(' at column 1 is never closed`,
    ],
    ['(metrics.acc > 1 metrics.b > 2)', `expected AND, OR or ')' at column 18`],
    ['metrics.acc > 1)', `unexpected ')' with no '(' to close at column 16`],
    ['()', `unexpected ')' at column 2`],
    ['metrics.acc > 1 AND', 'expected a comparison at the end of the filter'],
    ['metrics.a > 1 AND OR metrics.b > 2', 'expected a comparison, not OR at column 19'],
    ['metrics. > 1', `expected a key after 'metrics.' at column 9`],
    ['= 1', 'expected a comparison such as metrics.acc > 0.9 at column 1'],
    ['run_id IN ()', 'empty list at column 11'],
    ['run_id IN (1)', 'expected a quoted string in the list at column 12'],
    ["run_id IN ('a' 'b')", `expected ',' or ')' in the list at column 16`],
    ["run_id IN ('a',)", 'expected a quoted string in the list at column 16'],
    ["run_id IN ('a', 'b'", 'unclosed list at column 11'],
    ['metrics.a > 12abc', `expected a value after 'metrics.a >' at column 13`],
  ])('%s', (filter, message) => {
    expect(errorOf(filter)).toContain(message);
  });
});

describe('parseFilter: limits', () => {
  it(`refuses parentheses deeper than ${limits.MAX_FILTER_DEPTH}`, () => {
    const ok = `${'('.repeat(limits.MAX_FILTER_DEPTH)}metrics.a > 1${')'.repeat(limits.MAX_FILTER_DEPTH)}`;
    expect(parse(ok)).toMatchObject({ key: 'a' });
    const deep = `(${ok})`;
    expect(errorOf(deep)).toContain(
      `parentheses nest deeper than ${limits.MAX_FILTER_DEPTH} levels`,
    );
  });

  it('survives a hostile nesting depth without a stack overflow', () => {
    expect(errorOf('('.repeat(100_000))).toContain('parentheses nest deeper');
  });

  it(`refuses more than ${limits.MAX_FILTER_COMPARISONS} comparisons`, () => {
    const clauses = (n: number) =>
      Array.from({ length: n }, (_, i) => `metrics.m${i} > ${i}`).join(' OR ');
    expect(parse(clauses(limits.MAX_FILTER_COMPARISONS))).toMatchObject({ kind: 'or' });
    expect(errorOf(clauses(limits.MAX_FILTER_COMPARISONS + 1))).toContain(
      `more than ${limits.MAX_FILTER_COMPARISONS} comparisons`,
    );
  });
});
