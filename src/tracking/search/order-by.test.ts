import { describe, expect, it } from 'vitest';
import { parseOrderBy } from './order-by.js';

function errorOf(clauses: string[]): string {
  try {
    parseOrderBy(clauses);
  } catch (error) {
    expect(error).toMatchObject({ name: 'MobiusError', code: 'INVALID_ARGUMENT' });
    return (error as Error).message;
  }
  throw new Error(`${JSON.stringify(clauses)} parsed without error`);
}

describe('parseOrderBy', () => {
  it('is empty for no clauses', () => {
    expect(parseOrderBy(undefined)).toEqual([]);
    expect(parseOrderBy(null)).toEqual([]);
    expect(parseOrderBy([])).toEqual([]);
  });

  it('reads entity, key and direction, ascending by default', () => {
    expect(
      parseOrderBy(['metrics.acc DESC', 'params.lr', 'tags.team asc', 'attributes.end_time Desc']),
    ).toEqual([
      { entity: 'metric', key: 'acc', ascending: false },
      { entity: 'param', key: 'lr', ascending: true },
      { entity: 'tag', key: 'team', ascending: true },
      { entity: 'attribute', key: 'end_time', ascending: false },
    ]);
  });

  it('takes bare attributes, aliases and quoted keys', () => {
    expect(parseOrderBy(['created DESC', 'metrics.`my acc` DESC', 'params."a b"'])).toEqual([
      { entity: 'attribute', key: 'start_time', ascending: false },
      { entity: 'metric', key: 'my acc', ascending: false },
      { entity: 'param', key: 'a b', ascending: true },
    ]);
    expect(parseOrderBy(['start_time'])).toEqual([
      { entity: 'attribute', key: 'start_time', ascending: true },
    ]);
    expect(parseOrderBy(['`Run name`'])).toEqual([
      { entity: 'attribute', key: 'run_name', ascending: true },
    ]);
  });

  it('refuses unknown attributes and entities, and datasets', () => {
    expect(errorOf(['foo'])).toContain(`unknown attribute 'foo'`);
    expect(errorOf(['metricz.acc'])).toContain(`unknown entity 'metricz'`);
    expect(errorOf(['datasets.name'])).toContain('runs cannot be sorted by dataset fields');
  });

  it('refuses bad directions, trailing text and empty clauses', () => {
    expect(errorOf(['metrics.acc UP'])).toContain(
      `expected ASC, DESC or the end at column 13 of the order_by clause 'metrics.acc UP'`,
    );
    expect(errorOf(['metrics.acc DESC ASC'])).toContain('expected ASC, DESC or the end');
    expect(errorOf(['  '])).toContain('an order_by clause is empty');
    expect(errorOf(['metrics.`acc'])).toContain('unterminated ` quote');
  });

  it('refuses the same field twice, aliases included', () => {
    expect(errorOf(['metrics.acc DESC', 'metrics.acc'])).toContain(
      `order_by names the same field twice ('metrics.acc')`,
    );
    expect(errorOf(['start_time', 'created DESC'])).toContain('the same field twice');
    expect(parseOrderBy(['metrics.x', 'params.x', 'tags.x'])).toHaveLength(3);
  });
});
