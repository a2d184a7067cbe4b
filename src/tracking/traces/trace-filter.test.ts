import { describe, expect, it } from 'vitest';
import { parseTraceFilter, parseTraceOrderBy } from './trace-filter.js';

describe('parseTraceFilter', () => {
  it('reads attributes, tags, metadata and spans joined by AND', () => {
    expect(
      parseTraceFilter(
        "attributes.timestamp_ms > 5 AND tags.env = 'prod' AND metadata.`mlflow.sourceRun` = 'r' AND span.name LIKE 'ret%' AND status IN ('OK', 'ERROR') AND name = 'n'",
      ),
    ).toEqual([
      { on: 'number', field: 'request_time', comparator: '>', value: 5 },
      { on: 'tag', key: 'env', comparator: '=', value: 'prod' },
      { on: 'metadata', key: 'mlflow.sourceRun', comparator: '=', value: 'r' },
      { on: 'span', field: 'name', comparator: 'LIKE', value: 'ret%' },
      { on: 'string', field: 'state', comparator: 'IN', value: ['OK', 'ERROR'] },
      { on: 'tag', key: 'mlflow.traceName', comparator: '=', value: 'n' },
    ]);
  });

  it('is empty for no filter', () => {
    expect(parseTraceFilter(undefined)).toEqual([]);
    expect(parseTraceFilter('  ')).toEqual([]);
  });

  it('refuses what it cannot read, naming the clause', () => {
    expect(() => parseTraceFilter("attributes.nope = 'x'")).toThrow(
      /unknown trace attribute 'nope'/,
    );
    expect(() => parseTraceFilter("foo.bar = 'x'")).toThrow(/unknown entity 'foo'/);
    expect(() => parseTraceFilter("timestamp_ms = 'x'")).toThrow(/compares with a number/);
    expect(() => parseTraceFilter("tags.a = 'x' OR tags.b = 'y'")).toThrow(/AND/);
    expect(() => parseTraceFilter('tags.a > 3')).toThrow(/not allowed/);
  });
});

describe('parseTraceOrderBy', () => {
  it("defaults to MLflow's order: newest first, then trace id", () => {
    expect(parseTraceOrderBy([])).toEqual([
      { column: 'request_time', descending: true },
      { column: 'trace_id', descending: false },
    ]);
    expect(parseTraceOrderBy(['attributes.execution_time_ms DESC'])[0]).toEqual({
      column: 'execution_duration',
      descending: true,
    });
    expect(() => parseTraceOrderBy(['nonsense'])).toThrow(/Invalid order_by/);
  });
});
