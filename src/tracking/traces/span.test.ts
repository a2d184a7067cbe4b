import { describe, expect, it } from 'vitest';
import { PyInt, attributeValue, nanosToMillis, pyJson } from './span.js';

describe('pyJson', () => {
  it("writes JSON as Python's json.dumps does", () => {
    expect(pyJson({ a: [1.5, 2, 'x'], b: null, c: true })).toBe(
      '{"a": [1.5, 2.0, "x"], "b": null, "c": true}',
    );
    expect(pyJson(new PyInt('12345678901234567890'))).toBe('12345678901234567890');
    expect(pyJson(NaN)).toBe('NaN');
    expect(pyJson('ünïcode "q"')).toBe('"ünïcode \\"q\\""');
  });
});

describe('nanosToMillis', () => {
  it('is exact beyond 2^53 nanoseconds', () => {
    expect(nanosToMillis('1700000000123999999')).toBe(1700000000123);
  });
});

describe('attributeValue', () => {
  it('reads JSON text, and keeps text that is not JSON', () => {
    expect(attributeValue('"apple"')).toBe('apple');
    expect(attributeValue('not json')).toBe('not json');
  });
});
