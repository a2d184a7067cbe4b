import { describe, expect, it } from 'vitest';
import { limits } from '../core/index.js';
import { checkRecords, checkTags, datasetDigest, mergeSchema } from './evaluation-datasets.js';

describe('datasetDigest', () => {
  it("is MLflow's: sha256 of name:last_update_time, 8 hex digits", () => {
    // hashlib.sha256(b'qa:1700000000000').hexdigest()[:8]
    expect(datasetDigest('qa', 1_700_000_000_000)).toBe('796db64c');
  });
});

describe('checkRecords', () => {
  it("keeps MLflow's record fields in stored form, with MLflow's input_hash", () => {
    const [r] = checkRecords([
      {
        inputs: { question: 'What is MLflow?' },
        expectations: { answer: 'a platform' },
        tags: { 'mlflow.user': 'ana', level: 'easy' },
        source: { source_type: 'trace', source_data: { trace_id: 'tr-1' } },
        dataset_record_id: 'ignored, as MLflow ignores it',
      },
    ]);
    expect(r).toMatchObject({
      // sha256(json.dumps({"question": "What is MLflow?"}, sort_keys=True))
      inputHash: 'b14c7c0772e6ae95adeb7fc54413aa515b6df757fddce87a4c4d9ff963e87509',
      inputs: '{"question": "What is MLflow?"}',
      outputs: undefined,
      source: '{"source_type": "TRACE", "source_data": {"trace_id": "tr-1"}}',
      sourceId: 'tr-1',
      sourceType: 'TRACE',
      user: 'ana',
    });
  });

  it('reads a missing inputs as {} and an empty source as none, as MLflow does', () => {
    const [r] = checkRecords([{ source: {}, outputs: null }]);
    expect(r).toMatchObject({ inputs: '{}', source: null, outputs: null, sourceType: null });
  });

  it.each([
    ['{}', /records must be a JSON list/],
    [[1], /records\[0\] must be a JSON object/],
    [[{ inputs: ['q'] }], /records\[0\]\.inputs must be a JSON object/],
    [[{ inputs: {}, expectations: 'yes' }], /records\[0\]\.expectations must be a JSON object/],
    [[{ inputs: {}, tags: [] }], /records\[0\]\.tags must be a JSON object/],
    [[{ inputs: {}, source: 'trace' }], /records\[0\]\.source must be a JSON object/],
    [[{ inputs: {}, source: { source_type: 'robot' } }], /source_type "robot" is not one of/],
    [[{ inputs: {}, source: { source_type: 'CODE', x: 1 } }], /unknown field\(s\) x/],
    [
      [{ inputs: {}, source: { source_type: 'CODE', source_data: 'x' } }],
      /source_data must be a JSON object/,
    ],
  ])('refuses %j', (records, message) => {
    expect(() => checkRecords(records)).toThrow(message);
  });

  it('refuses more records than the limit, and a record over the size limit', () => {
    const many = Array.from(
      { length: limits.MAX_EVAL_DATASET_RECORDS_PER_REQUEST + 1 },
      () => ({}),
    );
    expect(() => checkRecords(many)).toThrow(/10001 records in one request; the limit is 10000/);
    const big = { inputs: { q: 'x'.repeat(limits.MAX_EVAL_DATASET_RECORD_BYTES) } };
    expect(() => checkRecords([{}, big])).toThrow(/records\[1\] is \d+ bytes as JSON; the limit/);
  });
});

describe('checkTags', () => {
  it("stores values as MLflow's str() does and skips nulls", () => {
    expect(checkTags({ a: 'x', n: 3, f: 0.5, b: true, gone: null })).toEqual({
      a: 'x',
      n: '3',
      f: '0.5',
      b: 'True',
    });
  });

  it('refuses non-objects, nested values, empty or long keys, long values and too many tags', () => {
    expect(() => checkTags('a=b')).toThrow(/tags must be a JSON object/);
    expect(() => checkTags({ a: { b: 1 } })).toThrow(/tag 'a' has a object value/);
    expect(() => checkTags({ '': 'x' })).toThrow(/tag key '' must be 1 to 255/);
    expect(() => checkTags({ ['k'.repeat(256)]: 'x' })).toThrow(/must be 1 to 255/);
    expect(() => checkTags({ a: 'v'.repeat(5001) })).toThrow(/5001 characters; the limit is 5000/);
    const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, 'v']));
    expect(() => checkTags(many)).toThrow(/101 tags in one request; the limit is 100/);
  });
});

describe('mergeSchema', () => {
  it("records each field's type the first time it is seen, as MLflow's schema does", () => {
    const first = mergeSchema(null, [
      { inputs: { q: 'x', n: 1 }, expectations: { ok: true } },
      { inputs: { q: 'y', f: 0.5 }, outputs: { text: 'a', parts: [1] } },
    ]);
    expect(first).toEqual({
      inputs: { q: 'string', n: 'integer', f: 'float' },
      outputs: { text: 'string', parts: 'array' },
      expectations: { ok: 'boolean' },
      version: '1.0',
    });
    const next = mergeSchema(JSON.stringify(first), [{ inputs: { q: 3, extra: null } }]);
    expect(next).toMatchObject({
      inputs: { q: 'string', n: 'integer', f: 'float', extra: 'null' },
    });
  });

  it('types outputs that are not an object as a whole, and is null with nothing to describe', () => {
    expect(mergeSchema(null, [{ inputs: {}, outputs: 'an answer' }])).toMatchObject({
      outputs: 'string',
    });
    expect(mergeSchema(null, [])).toBeNull();
  });
});
