import { describe, expect, it } from 'vitest';
import { parseDatasetFilter, parseDatasetOrderBy } from './evaluation-dataset-search.js';

describe('parseDatasetFilter', () => {
  it("reads MLflow's attributes, tags and name IN", () => {
    expect(
      parseDatasetFilter(
        "name LIKE 'qa%' AND tags.team = 'ml' AND created_time >= 10 AND created_by = 'ana'",
      ),
    ).toEqual({
      kind: 'and',
      operands: [
        { kind: 'text', column: 'name', op: 'LIKE', value: 'qa%' },
        { kind: 'tag', key: 'team', op: '=', value: 'ml' },
        { kind: 'time', column: 'created_at', op: '>=', value: 10 },
        { kind: 'text', column: 'created_by', op: '=', value: 'ana' },
      ],
    });
    expect(parseDatasetFilter("name IN ('a', 'b')")).toEqual({ kind: 'names', values: ['a', 'b'] });
    expect(parseDatasetFilter('tags.`a b` ILIKE "X%"')).toEqual({
      kind: 'tag',
      key: 'a b',
      op: 'ILIKE',
      value: 'X%',
    });
  });

  it('adds OR and parentheses, as the other searches do', () => {
    expect(parseDatasetFilter("(name = 'a' OR name = 'b') AND last_update_time < 5")).toEqual({
      kind: 'and',
      operands: [
        {
          kind: 'or',
          operands: [
            { kind: 'text', column: 'name', op: '=', value: 'a' },
            { kind: 'text', column: 'name', op: '=', value: 'b' },
          ],
        },
        { kind: 'time', column: 'updated_at', op: '<', value: 5 },
      ],
    });
  });

  it('is blank for no filter', () => {
    expect(parseDatasetFilter(undefined)).toBeUndefined();
    expect(parseDatasetFilter('  ')).toBeUndefined();
  });

  it.each([
    ["digest = 'x'", /invalid attribute 'digest'/],
    ["created_by IN ('a')", /IN applies to name only/],
    ["created_time = 'soon'", /compares with an integer/],
    ['created_time > 1.5', /compares with an integer/],
    ["tags.team < 'a'", /compares with =, !=, LIKE or ILIKE/],
    ['name = 3', /quoted string/],
    ["params.x = 'a'", /invalid identifier 'params.x'/],
    ["name = 'a' name = 'b'", /expected AND, OR or the end/],
    ["(name = 'a'", /expected '\)'/],
    ['('.repeat(40) + "name = 'a'" + ')'.repeat(40), /nest deeper than 32/],
  ])('refuses %s', (filter, message) => {
    expect(() => parseDatasetFilter(filter)).toThrow(message);
  });
});

describe('parseDatasetOrderBy', () => {
  it("defaults to newest first, and always ends with the id (MLflow's tie-breaker)", () => {
    expect(parseDatasetOrderBy([])).toEqual([
      { column: 'created_at', direction: 'desc' },
      { column: 'id', direction: 'desc' },
    ]);
    expect(parseDatasetOrderBy(['name ASC', 'last_update_time desc'])).toEqual([
      { column: 'name', direction: 'asc' },
      { column: 'updated_at', direction: 'desc' },
      { column: 'id', direction: 'desc' },
    ]);
  });

  it('refuses other keys', () => {
    expect(() => parseDatasetOrderBy(['digest'])).toThrow(/invalid order_by 'digest'/);
    expect(() => parseDatasetOrderBy(['name UP'])).toThrow(/invalid order_by/);
  });
});
