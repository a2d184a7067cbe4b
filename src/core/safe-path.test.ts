import { describe, expect, it } from 'vitest';
import { decodeUntilStable, safeRelativePath } from './safe-path.js';

describe('safeRelativePath', () => {
  it('keeps ordinary relative paths', () => {
    expect(safeRelativePath('model/MLmodel')).toBe('model/MLmodel');
    expect(safeRelativePath('plots/roc curve.png')).toBe('plots/roc curve.png');
    expect(safeRelativePath('dir/')).toBe('dir');
    expect(safeRelativePath('a%20b')).toBe('a b');
  });

  it('allows the root only when asked', () => {
    expect(safeRelativePath('', { allowRoot: true })).toBe('');
    expect(() => safeRelativePath('')).toThrow(/empty/);
  });

  const attacks: [string, string][] = [
    ['blocks ../ traversal', '../secret'],
    ['blocks traversal in the middle', 'a/../../b'],
    ['blocks encoded traversal ..%2f', '..%2fetc%2fpasswd'],
    ['blocks double-encoded traversal %252e%252e%252f', '%252e%252e%252fetc'],
    ['blocks triple-encoded traversal', '%25252e%25252e%25252f'],
    ['blocks backslash traversal', '..\\windows'],
    ['blocks Windows drive paths', 'C:\\Windows\\win.ini'],
    ['blocks UNC paths', '\\\\host\\share'],
    ['blocks absolute paths', '/etc/passwd'],
    ['blocks encoded absolute paths', '%2fetc%2fpasswd'],
    ['blocks file:// sources', 'file:///etc/passwd'],
    ['blocks fragments', 'a#b'],
    ['blocks query strings', 'a?b=c'],
    ['blocks semicolons', 'a;b'],
    ['blocks NUL bytes', 'a%00b'],
    ['blocks raw NUL bytes', 'a\u0000b'],
    ['blocks empty segments //', 'a//b'],
    ['blocks dot segments', './a'],
  ];
  for (const [title, path] of attacks) {
    it(title, () => {
      expect(() => safeRelativePath(path)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
      );
    });
  }

  it('decodes until stable', () => {
    expect(decodeUntilStable('%252e')).toBe('.');
    expect(decodeUntilStable('caf%C3%A9')).toBe('café');
  });

  it("keeps a '%' that starts no escape, as Python's unquote does", () => {
    expect(safeRelativePath('100%.txt')).toBe('100%.txt');
  });

  it('blocks traversal hidden behind mixed-case escapes', () => {
    expect(() => safeRelativePath('%2E%2E/x')).toThrow(/'\.' and '\.\.'/);
  });
});
