import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../core/index.js';
import { pythonJsonDumps } from './python-json.js';

// Expected texts were printed by Python 3.11's json.dumps for the same values.
const VALUE = {
  b: [1, 2.5, null, true, 'é\u007f\n😀'],
  a: { z: 0.00001, y: 1e-7, x: 123456.789 },
  '😀': 1,
  '\uffff': 2,
};

describe('pythonJsonDumps', () => {
  it("writes json.dumps' separators, ASCII escapes and float forms", () => {
    expect(pythonJsonDumps(VALUE)).toBe(
      '{"b": [1, 2.5, null, true, "\\u00e9\\u007f\\n\\ud83d\\ude00"], "a": {"z": 1e-05, "y": 1e-07, "x": 123456.789}, "\\ud83d\\ude00": 1, "\\uffff": 2}',
    );
  });

  it('sorts keys by code point, as sort_keys=True does', () => {
    expect(pythonJsonDumps(VALUE, { sortKeys: true })).toBe(
      '{"a": {"x": 123456.789, "y": 1e-07, "z": 1e-05}, "b": [1, 2.5, null, true, "\\u00e9\\u007f\\n\\ud83d\\ude00"], "\\uffff": 2, "\\ud83d\\ude00": 1}',
    );
  });

  it("hashes a record's inputs to MLflow's input_hash", () => {
    const text = pythonJsonDumps({ question: 'What is MLflow?' }, { sortKeys: true });
    expect(sha256Hex(text)).toBe(
      'b14c7c0772e6ae95adeb7fc54413aa515b6df757fddce87a4c4d9ff963e87509',
    );
  });
});
