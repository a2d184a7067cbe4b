import { describe, expect, it } from 'vitest';
import { MAX_NAME_LENGTH, checkName } from './limits.js';

describe('checkName', () => {
  it('accepts MLflow-style names', () => {
    for (const name of ['churn', 'team/churn-model', 'v1.2_final', 'A b c', 'модель'])
      expect(checkName('model', name)).toBe(name);
  });

  it('normalises to NFC so look-alike spellings are one name', () => {
    expect(checkName('model', 'cafe\u0301')).toBe('café');
  });

  const bad: [string, string][] = [
    ['blocks path traversal', '../etc'],
    ['blocks traversal inside a name', 'a/../b'],
    ['blocks absolute paths', '/etc/passwd'],
    ['blocks empty segments', 'a//b'],
    ['blocks backslashes', 'a\\b'],
    ['blocks NUL bytes', 'a\u0000b'],
    ['blocks zero-width characters', 'model\u200b'],
    ['blocks markup (stored XSS)', '<script>alert(1)</script>'],
    ['blocks a leading space', ' x'],
    ['blocks empty names', ''],
  ];
  for (const [title, name] of bad) {
    it(title, () => {
      expect(() => checkName('model', name)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
      );
    });
  }

  it(`blocks names over ${MAX_NAME_LENGTH} characters, saying the limit`, () => {
    expect(() => checkName('model', 'x'.repeat(MAX_NAME_LENGTH + 1))).toThrow(/limit is 500/);
  });

  it('blocks non-strings', () => {
    expect(() => checkName('model', 42)).toThrow(/non-empty string/);
  });
});
